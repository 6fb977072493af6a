/* The "op" pub/sub dialect: see op_proto.h. */
#include "op_proto.h"
#include "jsonutil.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool topics_valid(json_t *topics, const char **msg)
{
	size_t i;
	json_t *t;

	if(!json_is_array(topics) || json_array_size(topics) == 0){
		*msg = "\"topics\" must be a non-empty array of topic names";
		return false;
	}
	if(json_array_size(topics) > OP_TOPICS_MAX){
		*msg = "at most 100 topics in one request";
		return false;
	}
	json_array_foreach(topics, i, t){
		bool presence;
		char *path = json_is_string(t) ? op_topic_path(json_string_value(t), "x", &presence) : NULL;
		if(!path){
			*msg = "invalid topic name (dot-separated segments, optional /suffix levels; no '+', '#', '$' first)";
			return false;
		}
		free(path);
	}
	return true;
}

int op_parse(const char *buf, size_t len, struct op_request *r, const char **msg)
{
	json_t *root, *id, *auth;
	const char *op, *type;

	memset(r, 0, sizeof(*r));
	root = jsonutil_parse_msg(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, msg);
	if(!json_is_object(root)){
		if(root) *msg = "the frame must be a JSON object";
		json_decref(root);
		return OP_E_BAD_REQUEST;
	}
	r->root = root;
	id = json_object_get(root, "id");
	if(json_is_string(id) || json_is_integer(id)) r->id = id;
	op = json_string_value(json_object_get(root, "op"));
	r->op_name = op;
	if(!op){
		*msg = "\"op\" must be a string";
		return OP_E_BAD_REQUEST;
	}
	if(id && !r->id){
		*msg = "\"id\" must be a string or an integer";
		return OP_E_BAD_REQUEST;
	}
	type = json_string_value(json_object_get(root, "type"));
	if(json_object_get(root, "type") && !type){
		*msg = "\"type\" must be a string";
		return OP_E_BAD_REQUEST;
	}
	if(type && strcmp(type, "request")){
		*msg = "clients send \"type\": \"request\"";
		return OP_E_BAD_REQUEST;
	}
	if(!strcmp(op, "connect")){
		r->op = OP_CONNECT;
		auth = json_object_get(root, "auth");
		r->provider = json_string_value(json_object_get(auth, "provider"));
		r->access_token = json_string_value(json_object_get(auth, "access_token"));
		r->username = json_string_value(json_object_get(auth, "username"));
		if(!json_is_object(auth) || !r->provider){
			*msg = "connect needs auth.provider";
			return OP_E_BAD_REQUEST;
		}
		if((json_object_get(auth, "access_token") && !r->access_token)
				|| (json_object_get(auth, "username") && !r->username)){
			*msg = "auth.access_token and auth.username are strings";
			return OP_E_BAD_REQUEST;
		}
		return 0;
	}
	if(!strcmp(op, "resume")){
		r->op = OP_RESUME;
		r->session = json_string_value(json_object_get(root, "session"));
		if(!r->session){
			*msg = "resume needs \"session\" as a string";
			return OP_E_BAD_REQUEST;
		}
		return 0;
	}
	if(!strcmp(op, "sub")) r->op = OP_SUB;
	else if(!strcmp(op, "unsub")) r->op = OP_UNSUB;
	else if(!strcmp(op, "pub")) r->op = OP_PUB;
	else{
		*msg = "unknown op (connect, sub, unsub, pub, resume)";
		return OP_E_BAD_REQUEST;
	}
	r->topics = json_object_get(root, "topics");
	if(!topics_valid(r->topics, msg)) return OP_E_BAD_REQUEST;
	if(r->op == OP_PUB){
		r->data = json_object_get(root, "data");
		if(!r->data){
			*msg = "pub needs \"data\"";
			return OP_E_BAD_REQUEST;
		}
	}
	return 0;
}

void op_request_clear(struct op_request *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

static bool segment_ok(const char *s, size_t n, bool first)
{
	if(n == 0) return false;
	if(first && s[0] == '$') return false;
	for(size_t i = 0; i < n; i++){
		unsigned char c = (unsigned char)s[i];
		if(c < 0x20 || c == 0x7F || c == '+' || c == '#' || c == '/') return false;
	}
	return true;
}

char *op_topic_path(const char *name, const char *user_id, bool *presence)
{
	size_t len, nlen, cap;
	const char *slash, *p;
	char *out, *w;

	*presence = false;
	if(!name || !(len = strlen(name)) || len > OP_TOPIC_NAME_MAX || !jsonutil_topic_text_ok(name, len)){
		return NULL;
	}
	slash = strchr(name, '/');
	nlen = slash ? (size_t)(slash - name) : len;
	if(nlen == 0) return NULL;   /* "/x": no name before the suffix */
	if(slash && len >= 9 && !strcmp(name + len - 9, "/presence")){
		*presence = true;
		len -= 9;
	}
	cap = len + 1 + (len / 2 + 1) * strlen(user_id);   /* every "me" may grow */
	out = malloc(cap + 1);
	if(!out) return NULL;
	w = out;
	/* the name: segments between dots */
	for(p = name; p < name + nlen; ){
		const char *dot = memchr(p, '.', (size_t)(name + nlen - p));
		size_t n = dot ? (size_t)(dot - p) : (size_t)(name + nlen - p);
		if(!segment_ok(p, n, p == name) || memchr(p, '.', n)) goto bad;
		if(w != out) *w++ = '/';
		memcpy(w, p, n);
		w += n;
		p += n + (dot ? 1 : 0);
		if(dot && p == name + nlen) goto bad;   /* trailing dot */
	}
	/* suffix levels */
	for(p = name + nlen; p < name + len; ){
		const char *next;
		size_t n;
		p++;   /* the '/' */
		next = memchr(p, '/', (size_t)(name + len - p));
		n = next ? (size_t)(next - p) : (size_t)(name + len - p);
		if(!segment_ok(p, n, false)) goto bad;
		*w++ = '/';
		if(n == 2 && !memcmp(p, "me", 2)){
			size_t ulen = strlen(user_id);
			/* A token's sub may hold a control character, which Mosquitto
			 * refuses in a SUBSCRIBE by dropping the session. */
			if(!segment_ok(user_id, ulen, false) || !jsonutil_topic_text_ok(user_id, ulen)) goto bad;
			if((size_t)(w - out) + ulen > cap) goto bad;
			memcpy(w, user_id, ulen);
			w += ulen;
		}else{
			memcpy(w, p, n);
			w += n;
		}
		p += n;
	}
	*w = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static json_t *base(const char *op, const char *type, const json_t *id)
{
	json_t *o = json_pack("{s:s,s:s}", "op", op, "type", type);
	if(o && id) json_object_set(o, "id", (json_t *)id);
	return o;
}

char *op_success(const char *op, const json_t *id, json_t *extra)
{
	json_t *o = base(op, "success", id);
	if(o && extra) json_object_update_missing(o, extra);   /* op, type and id stay */
	json_decref(extra);
	return jsonutil_dump_take(o);
}

char *op_error(const char *op, const json_t *id, int code, const char *message)
{
	json_t *o = base(op ? op : "error", "error", id);
	if(o){
		json_object_set_new(o, "code", json_integer(code));
		json_object_set_new(o, "message", json_string(message));
	}
	return jsonutil_dump_take(o);
}

char *op_mesg(const char *id, const char *topic, json_t *data, json_t *sender)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:[s],s:o,s:o}", "op", "mesg", "type", "push", "id", id,
			"topics", topic, "data", data ? data : json_null(), "sender", sender ? sender : json_null());
	return jsonutil_dump_take(o);
}

char *op_pres(const char *type, const char *id, const char *topic, json_t *sender)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:[s],s:o}", "op", "pres", "type", type, "id", id,
			"topics", topic, "sender", sender ? sender : json_null());
	return jsonutil_dump_take(o);
}

/* ---- options ---- */

#define O(f) offsetof(struct op_config, f)

/* Keep in step with the option table in README.md. */
static const struct wsgw_option op_options[] = {
	{"root",      WSGW_OPT_PREFIX, O(root),      0, 0, "op"},
	{"username",  WSGW_OPT_LEVEL,  O(username),  0, 0, "op"},
	{"anonymous", WSGW_OPT_BOOL,   O(anonymous), 0, 0, "false"},
};

/* op_provider_<name> <none|jwt|mqtt>: a named identity provider bound to one
 * of the built-in verifiers; naming it again rebinds it. */
static int op_set_extra(void *conf, const char *key, const char *kind, char *err, size_t errlen)
{
	struct op_config *c = conf;
	const char *name = key + 9;
	size_t n = 0;
	char **names, **kinds, *k;

	if(strncmp(key, "provider_", 9)) return -ENOENT;
	if(!topic_level_valid(name) || strlen(name) > 64){
		snprintf(err, errlen, "plugin_opt_op_provider_%s: bad provider name", name);
		return -1;
	}
	if(strcmp(kind, "none") && strcmp(kind, "jwt") && strcmp(kind, "mqtt")){
		snprintf(err, errlen, "plugin_opt_op_provider_%s: \"%s\" is not none, jwt or mqtt", name, kind);
		return -1;
	}
	if(!(k = strdup(kind))) goto oom;
	for(; c->provider_names && c->provider_names[n]; n++){
		if(!strcmp(c->provider_names[n], name)){
			free(c->provider_kinds[n]);
			c->provider_kinds[n] = k;
			return 0;
		}
	}
	names = realloc(c->provider_names, (n + 2) * sizeof(char *));
	if(names){
		c->provider_names = names;
		names[n] = NULL;
	}
	kinds = names ? realloc(c->provider_kinds, (n + 2) * sizeof(char *)) : NULL;
	if(kinds) c->provider_kinds = kinds;
	if(!kinds || !(names[n] = strdup(name))){
		free(k);
		goto oom;
	}
	kinds[n] = k;
	names[n+1] = kinds[n+1] = NULL;
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void op_free_extra(void *conf)
{
	struct op_config *c = conf;

	for(size_t i = 0; c->provider_names && c->provider_names[i]; i++){
		free(c->provider_names[i]);
		free(c->provider_kinds[i]);
	}
	free(c->provider_names);
	free(c->provider_kinds);
}

/* Presence entries are <presence_prefix>/<root>/<topic...>/<member>. */
static const struct wsgw_guard op_guards[] = {
	{WSGW_GUARD_MEMBER, true,  "#"},
	{.tail = NULL},
};

const struct wsgw_dialect_conf op_conf = {
	.name = "op",
	.mount = "/pubsub",
	.enable = true,
	.options = op_options,
	.noptions = sizeof(op_options) / sizeof(op_options[0]),
	.size = sizeof(struct op_config),
	.set_extra = op_set_extra,
	.free_extra = op_free_extra,
	.member_prefix = OP_MEMBER_PREFIX,
	.root = O(root),
	.guards = op_guards,
};
