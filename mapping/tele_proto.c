/* Telegraphy: see tele_proto.h. */
#include "tele_proto.h"
#include "jsonutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *tele_parse(const char *buf, size_t len, struct tele_request *r, const char **msg)
{
	json_t *root, *id, *args;
	const char *m;

	memset(r, 0, sizeof(*r));
	root = jsonutil_parse_msg(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, msg);
	if(!json_is_object(root)){
		if(root) *msg = "a management message is a JSON object {message, id, args}";
		json_decref(root);
		return TELE_S_BAD_MESSAGE;
	}
	r->root = root;
	id = json_object_get(root, "id");
	if(json_is_integer(id) && json_integer_value(id) >= 0){
		r->has_id = true;
		r->id = json_integer_value(id);
	}else{
		*msg = "\"id\" must be a non-negative integer";
		return TELE_S_BAD_MESSAGE;
	}
	m = json_string_value(json_object_get(root, "message"));
	args = json_object_get(root, "args");
	if(!m){
		*msg = "\"message\" must be a string";
		return TELE_S_BAD_MESSAGE;
	}
	if(args && !json_is_object(args)){
		*msg = "\"args\" must be an object";
		return TELE_S_BAD_MESSAGE;
	}
	if(!strcmp(m, "CONNECT")){
		r->kind = TELE_CONNECT;
		r->auth_token = json_string_value(json_object_get(args, "auth_token"));
		if(!r->auth_token){
			*msg = "CONNECT needs args.auth_token (a string, empty when user authentication is off)";
			return TELE_S_BAD_MESSAGE;
		}
		return NULL;
	}
	if(!strcmp(m, "RECONNECT")){
		r->kind = TELE_RECONNECT;
		r->session_token = json_string_value(json_object_get(args, "session_token"));
		if(!r->session_token) r->session_token = json_string_value(json_object_get(root, "session_token"));
		if(!r->session_token){
			*msg = "RECONNECT needs session_token (in args, or at the top level)";
			return TELE_S_BAD_MESSAGE;
		}
		return NULL;
	}
	if(!strcmp(m, "SUBSCRIBE")) r->kind = TELE_SUBSCRIBE;
	else if(!strcmp(m, "UNSUBSCRIBE")) r->kind = TELE_UNSUBSCRIBE;
	else{
		*msg = "message must be CONNECT, RECONNECT, SUBSCRIBE or UNSUBSCRIBE";
		return TELE_S_UNKNOWN_MESSAGE;
	}
	r->event = json_string_value(json_object_get(args, "event_name"));
	r->filters = json_object_get(args, "filters");
	if(json_is_null(r->filters)) r->filters = NULL;
	if(!r->event){
		*msg = "args.event_name must be a string";
		return TELE_S_BAD_MESSAGE;
	}
	if(r->filters && !tele_filters_valid(r->filters)){
		*msg = "args.filters must be an object of field paths to values";
		return TELE_S_BAD_MESSAGE;
	}
	if(r->kind == TELE_SUBSCRIBE){
		json_t *p = json_object_get(args, "permanent"), *l = json_object_get(args, "lazy");
		if((p && !json_is_boolean(p)) || (l && !json_is_boolean(l))){
			*msg = "args.permanent and args.lazy are booleans";
			return TELE_S_BAD_MESSAGE;
		}
		r->permanent = json_is_true(p);
		r->lazy = json_is_true(l);
	}
	return NULL;
}

void tele_request_clear(struct tele_request *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

char *tele_response(bool success, const char *status, bool has_id, long long id, json_t *data)
{
	json_t *o = json_pack("{s:b,s:s,s:o}", "success", success, "status", status, "data", data ? data : json_object());
	if(o && has_id) json_object_set_new(o, "id", json_integer(id));
	return jsonutil_dump_take(o);
}

char *tele_event(const char *name, json_t *data)
{
	return jsonutil_dump_take(json_pack("{s:s,s:o}", "event", name, "data", data ? data : json_null()));
}

char *tele_event_path(const char *name, bool *wildcard)
{
	size_t len = name ? strlen(name) : 0;
	char *out, *w;
	const char *p;

	*wildcard = false;
	if(!len || len > TELE_EVENT_NAME_MAX || name[0] == '$' || !jsonutil_topic_text_ok(name, len)) return NULL;
	out = malloc(len + 1);
	if(!out) return NULL;
	w = out;
	for(p = name; ; ){
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if(n == 0) goto bad;
		if(n == 2 && !strncmp(p, "**", 2)){
			if(dot) goto bad;            /* only last */
			*w++ = '#';
			*wildcard = true;
		}else if(n == 1 && *p == '*'){
			*w++ = '+';
			*wildcard = true;
		}else{
			for(size_t i = 0; i < n; i++){
				unsigned char c = (unsigned char)p[i];
				if(c < 0x20 || c == 0x7F || c == '/' || c == '+' || c == '#' || c == '*') goto bad;
			}
			memcpy(w, p, n);
			w += n;
		}
		if(!dot) break;
		*w++ = '/';
		p = dot + 1;
	}
	*w = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

char *tele_event_name(const char *path)
{
	char *name = strdup(path);
	if(!name) return NULL;
	for(char *c = name; *c; c++) if(*c == '/') *c = '.';
	return name;
}

bool tele_filters_valid(const json_t *filters)
{
	const char *key;
	json_t *v;
	if(!json_is_object(filters)) return false;
	json_object_foreach((json_t *)filters, key, v){
		if(!key[0] || key[0] == '.' || key[strlen(key)-1] == '.' || strstr(key, "..")) return false;
		(void)v;
	}
	return true;
}

/* data at a dotted path, or NULL. */
static const json_t *lookup(const json_t *data, const char *path)
{
	const json_t *cur = data;

	while(cur && *path){
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		cur = json_is_object(cur) ? json_object_getn((json_t *)cur, path, n) : NULL;
		path += n + (dot ? 1 : 0);
	}
	return cur;
}

bool tele_filters_match(const json_t *filters, const json_t *data)
{
	const char *key;
	json_t *want;
	if(!filters) return true;
	json_object_foreach((json_t *)filters, key, want){
		const json_t *have = lookup(data, key);
		if(!have || !json_equal((json_t *)have, want)) return false;
	}
	return true;
}

bool tele_filters_equal(const json_t *a, const json_t *b)
{
	bool a_empty = !a || json_object_size(a) == 0, b_empty = !b || json_object_size(b) == 0;
	if(a_empty || b_empty) return a_empty && b_empty;
	return json_equal((json_t *)a, (json_t *)b);
}

/* ---- options ---- */

#define O(f) offsetof(struct tele_config, f)

/* Keep in step with the option table in README.md. */
static const struct wsgw_option tele_options[] = {
	{"root",              WSGW_OPT_PREFIX, O(root),              0, 0, "telegraphy"},
	{"username",          WSGW_OPT_LEVEL,  O(username),          0, 0, "telegraphy"},
	{"auth",              WSGW_OPT_BOOL,   O(auth),              0, 0, "true"},
	{"token_secret",      WSGW_OPT_STRING, O(token_secret),      0, 0, NULL},
	{"token_secret_file", WSGW_OPT_STRING, O(token_secret_file), 0, 0, NULL},
	{"token_ttl",         WSGW_OPT_DOUBLE, O(token_ttl),         1, 86400, "60"},
	{"connect_timeout",   WSGW_OPT_DOUBLE, O(connect_timeout),   0.1, 3600, "10"},
	{"events",            WSGW_OPT_LIST,   O(events),            0, 0, NULL},
};

static int tele_check(void *conf, char *err, size_t errlen)
{
	const struct tele_config *c = conf;

	if(c->token_secret && c->token_secret_file){
		snprintf(err, errlen, "plugin_opt_telegraphy_token_secret and plugin_opt_telegraphy_token_secret_file are exclusive: set one");
		return -1;
	}
	return 0;
}

const struct wsgw_dialect_conf tele_conf = {
	.name = "telegraphy",
	.mount = "/telegraphy",
	.enable = true,
	.options = tele_options,
	.noptions = sizeof(tele_options) / sizeof(tele_options[0]),
	.size = sizeof(struct tele_config),
	.check = tele_check,
};
