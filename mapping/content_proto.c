/* The content sync dialect: see content_proto.h. */
#include "content_proto.h"
#include "jsonutil.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- error codes ---- */

static const struct {
	int code;
	const char *msg;
} content_errors[] = {
	{CONTENT_E_JSON,        "Invalid JSON"},
	{CONTENT_E_SHAPE,       "Bad Request"},
	{CONTENT_E_CLS,         "Unknown Class"},
	{CONTENT_E_KEY,         "Bad Key"},
	{CONTENT_E_PATCH,       "Bad Patch"},
	{CONTENT_E_LOGIN,       "Login Required"},
	{CONTENT_E_CREDENTIAL,  "Invalid Credential"},
	{CONTENT_E_SESSION,     "Unknown Session"},
	{CONTENT_E_REFUSED,     "Refused"},
	{CONTENT_E_NOT_FOUND,   "Document Not Found"},
	{CONTENT_E_CONFLICT,    "Version Conflict"},
	{CONTENT_E_TEST,        "Test Failed"},
	{CONTENT_E_TOO_LARGE,   "Too Large"},
	{CONTENT_E_UNAVAILABLE, "Unavailable"},
};

int content_error_status(int code)
{
	return code / 10000;
}

const char *content_error_msg(int code)
{
	for(size_t i = 0; i < sizeof(content_errors) / sizeof(content_errors[0]); i++){
		if(content_errors[i].code == code) return content_errors[i].msg;
	}
	return NULL;
}

int content_patch_code(const struct jsonpatch_error *err)
{
	switch(err->code){
	case JSONPATCH_E_TEST: return CONTENT_E_TEST;
	case JSONPATCH_E_LIMIT: return CONTENT_E_TOO_LARGE;
	case JSONPATCH_E_NOMEM: return CONTENT_E_UNAVAILABLE;
	default: return CONTENT_E_PATCH;
	}
}

/* ---- keys ---- */

static bool type_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
			|| c == '_' || c == '.' || c == '-';
}

static bool id_char(unsigned char c)
{
	return type_char(c) || c == ':' || c == '@';
}

static bool type_valid(const char *s, size_t n)
{
	if(n == 0 || n > CONTENT_TYPE_MAX) return false;
	for(size_t i = 0; i < n; i++) if(!type_char((unsigned char)s[i])) return false;
	return true;
}

static bool id_str_valid(const char *s, size_t n)
{
	if(n == 0 || n > CONTENT_ID_STR_MAX) return false;
	for(size_t i = 0; i < n; i++) if(!id_char((unsigned char)s[i])) return false;
	return true;
}

/* True if s[0..n) is the canonical decimal of an integer 0 .. 2^53 - 1 (no
 * sign, no leading zero): the level an integer id maps to; *v its value. */
static bool id_int_text(const char *s, size_t n, long long *v)
{
	long long x = 0;

	if(n == 0 || n > 16 || (n > 1 && s[0] == '0')) return false;
	for(size_t i = 0; i < n; i++){
		if(s[i] < '0' || s[i] > '9') return false;
		x = x * 10 + (s[i] - '0');
	}
	if(x > CONTENT_ID_INT_MAX) return false;
	if(v) *v = x;
	return true;
}

/* Appends one id part (an integer or a string) to the level at *w. 0 or -1
 * with *why. */
static int id_part(const json_t *p, char **w, const char **why)
{
	if(json_is_integer(p)){
		json_int_t x = json_integer_value(p);
		if(x < 0 || x > CONTENT_ID_INT_MAX){
			*why = "an integer id must be from 0 to 2^53 - 1";
			return -1;
		}
		*w += sprintf(*w, "%lld", (long long)x);
		return 0;
	}
	if(json_is_string(p)){
		const char *s = json_string_value(p);
		size_t n = json_string_length(p);
		if(!id_str_valid(s, n)){
			*why = "a string id must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ -";
			return -1;
		}
		memcpy(*w, s, n);
		*w += n;
		**w = '\0';
		return 0;
	}
	*why = "an id must be an integer, a string or an array of 1 to 4 of them";
	return -1;
}

int content_key_parse(const json_t *v, struct content_key *k, const char **why)
{
	const json_t *type, *id;
	char *w;

	memset(k, 0, sizeof(*k));
	if(!json_is_object(v)){
		*why = "a key must be an object {\"type\", \"id\"}";
		return -1;
	}
	type = json_object_get(v, "type");
	id = json_object_get(v, "id");
	if(!json_is_string(type) || !type_valid(json_string_value(type), json_string_length(type))){
		*why = "a key's type must be 1 to 64 characters of A-Z a-z 0-9 _ . -";
		return -1;
	}
	if(!id){
		*why = "a key needs an id";
		return -1;
	}
	w = k->id;
	if(json_is_array(id)){
		size_t i, n = json_array_size(id);
		json_t *p;
		if(n == 0 || n > CONTENT_ID_PARTS_MAX){
			*why = "an array id must have 1 to 4 parts";
			return -1;
		}
		json_array_foreach(id, i, p){
			if(i) *w++ = ',';
			if(id_part(p, &w, why)) return -1;
		}
	}else if(id_part(id, &w, why)){
		return -1;
	}
	memcpy(k->type, json_string_value(type), json_string_length(type) + 1);
	return 0;
}

int content_key_from_levels(const char *type, const char *id, struct content_key *k)
{
	size_t tn = strlen(type), n = strlen(id), parts = 1;
	const char *p = id;

	memset(k, 0, sizeof(*k));
	if(!type_valid(type, tn) || n >= sizeof(k->id)) return -1;
	for(;;){
		const char *comma = strchr(p, ',');
		size_t pn = comma ? (size_t)(comma - p) : strlen(p);
		if(!id_str_valid(p, pn)) return -1;
		if(!comma) break;
		if(++parts > CONTENT_ID_PARTS_MAX) return -1;
		p = comma + 1;
	}
	memcpy(k->type, type, tn + 1);
	memcpy(k->id, id, n + 1);
	return 0;
}

static json_t *id_part_json(const char *s, size_t n)
{
	long long v;
	return id_int_text(s, n, &v) ? json_integer(v) : json_stringn(s, n);
}

json_t *content_key_json(const struct content_key *k)
{
	const char *comma = strchr(k->id, ',');
	json_t *id;

	if(!comma){
		id = id_part_json(k->id, strlen(k->id));
	}else{
		const char *p = k->id;
		id = json_array();
		while(id){
			size_t n;
			comma = strchr(p, ',');
			n = comma ? (size_t)(comma - p) : strlen(p);
			if(json_array_append_new(id, id_part_json(p, n))){
				json_decref(id);
				return NULL;
			}
			if(!comma) break;
			p = comma + 1;
		}
	}
	return id ? json_pack("{s:s,s:o}", "type", k->type, "id", id) : NULL;
}

bool content_key_equal(const struct content_key *a, const struct content_key *b)
{
	return !strcmp(a->type, b->type) && !strcmp(a->id, b->id);
}

int content_template_key(const char *tmpl, const char *username, struct content_key *k)
{
	static const char var[] = "{username}";
	const size_t vn = sizeof(var) - 1, un = strlen(username);
	const char *colon = strchr(tmpl, ':'), *p;
	char type[CONTENT_TYPE_MAX + 1], id[CONTENT_ID_LEVEL_SIZE];
	size_t w = 0;

	memset(k, 0, sizeof(*k));
	if(!colon || (size_t)(colon - tmpl) > CONTENT_TYPE_MAX) return -1;
	memcpy(type, tmpl, (size_t)(colon - tmpl));
	type[colon - tmpl] = '\0';
	for(p = colon + 1; *p; ){
		if(!strncmp(p, var, vn)){
			if(w + un >= sizeof(id)) return -1;
			memcpy(id + w, username, un);
			w += un;
			p += vn;
		}else{
			if(w + 1 >= sizeof(id)) return -1;
			id[w++] = *p++;
		}
	}
	id[w] = '\0';
	return content_key_from_levels(type, id, k);
}

/* ---- options ---- */

#define O(f) offsetof(struct content_config, f)

/* Keep in step with the option table in README.md. The login templates are
 * WSGW_OPT_PREFIX because that type takes the empty value (which leaves the
 * key out of the reply) and refuses wildcards and '/'; content_check
 * validates them as keys. */
static const struct wsgw_option content_options[] = {
	{"root",           WSGW_OPT_PREFIX, O(root),           0, 0, "content"},
	{"session_expiry", WSGW_OPT_DOUBLE, O(session_expiry), 1, 86400, "60"},
	{"history",        WSGW_OPT_INT,    O(history),        0, 4096, "16"},
	{"page_size",      WSGW_OPT_INT,    O(page_size),      1, 1000, "20"},
	{"max_children",   WSGW_OPT_INT,    O(max_children),   1, 1000000, "10000"},
	{"max_frame",      WSGW_OPT_LONG,   O(max_frame),      256, 16777216, "65536"},
	{"max_doc",        WSGW_OPT_LONG,   O(max_doc),        256, 16777216, "262144"},
	{"sort_field",     WSGW_OPT_STRING, O(sort_field),     0, 0, "display_name"},
	{"user_type",      WSGW_OPT_STRING, O(user_type),      0, 0, "user"},
	{"self",           WSGW_OPT_PREFIX, O(self),           0, 0, "user:{username}"},
	{"rooms",          WSGW_OPT_PREFIX, O(rooms),          0, 0, "rooms:{username}"},
	{"fav",            WSGW_OPT_PREFIX, O(fav),            0, 0, "fav:{username}"},
	{"root_key",       WSGW_OPT_PREFIX, O(root_key),       0, 0, "index:root"},
	{"home",           WSGW_OPT_PREFIX, O(home),           0, 0, "unit:{username}"},
	{"config",         WSGW_OPT_STRING, O(config),         0, 0, "{}"},
};

static int content_check(void *conf, char *err, size_t errlen)
{
	const struct content_config *c = conf;
	const struct {
		const char *name, *value;
	} tmpl[] = {
		{"self", c->self}, {"rooms", c->rooms}, {"fav", c->fav}, {"root_key", c->root_key}, {"home", c->home},
	};
	struct content_key k;
	json_t *j;

	if(!c->root || !c->root[0]){
		snprintf(err, errlen, "plugin_opt_content_root must not be empty: documents would share the topic_prefix with everything else");
		return -1;
	}
	if(content_key_from_levels(c->user_type, "x", &k)){
		snprintf(err, errlen, "plugin_opt_content_user_type \"%s\" is not a key type (1..64 of A-Z a-z 0-9 _ . -)",
				c->user_type);
		return -1;
	}
	for(size_t i = 0; i < sizeof(tmpl) / sizeof(tmpl[0]); i++){
		/* "u" stands for any username a key can hold */
		if(tmpl[i].value && tmpl[i].value[0] && content_template_key(tmpl[i].value, "u", &k)){
			snprintf(err, errlen, "plugin_opt_content_%s \"%s\" is not \"<type>:<id>\" (with {username} "
					"for the user's name), or empty", tmpl[i].name, tmpl[i].value);
			return -1;
		}
	}
	j = jsonutil_parse(c->config, strlen(c->config), 0, NULL, 0);
	if(!json_is_object(j)){
		json_decref(j);
		snprintf(err, errlen, "plugin_opt_content_config must be a JSON object");
		return -1;
	}
	json_decref(j);
	return 0;
}

const struct wsgw_dialect_conf content_conf = {
	.name = "content",
	.mount = "/content",
	.enable = true,
	.options = content_options,
	.noptions = sizeof(content_options) / sizeof(content_options[0]),
	.size = sizeof(struct content_config),
	.check = content_check,
	.root = O(root),
};
