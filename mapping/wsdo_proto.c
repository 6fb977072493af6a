/* websockets.do frames, routes and emit requests: see wsdo_proto.h. */
#include "wsdo_proto.h"
#include "jsonutil.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *wsdo_parse_client(const char *buf, size_t len, struct wsdo_cframe *out,
		const char **msg)
{
	json_t *root, *payload;
	const char *type;

	memset(out, 0, sizeof(*out));
	root = jsonutil_parse_msg(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, msg);
	if(!root) return WSDO_E_BAD_JSON;
	if(!json_is_object(root)){
		*msg = "frame must be a JSON object";
		goto bad;
	}
	type = json_string_value(json_object_get(root, "type"));
	if(!type){
		*msg = "\"type\" must be a string";
		goto bad;
	}
	payload = json_object_get(root, "payload");
	out->root = root;
	if(!strcmp(type, "PONG")){
		out->type = WSDO_C_PONG;
		return NULL;
	}
	if(!strcmp(type, "ACK")){
		out->type = WSDO_C_ACK;
		out->event_id = json_string_value(json_object_get(payload, "eventID"));
		if(!json_is_object(payload) || !out->event_id){
			*msg = "ACK needs payload.eventID as a string";
			goto bad_owned;
		}
		return NULL;
	}
	if(!strcmp(type, "PRESENCE")){
		char *text;
		size_t tlen;
		out->type = WSDO_C_PRESENCE;
		if(!json_is_object(payload)){
			*msg = "PRESENCE needs an object payload";
			goto bad_owned;
		}
		text = jsonutil_dump(payload);
		tlen = text ? strlen(text) : 0;
		free(text);
		if(tlen == 0 || tlen > WSDO_PRESENCE_MAX){
			*msg = "presence is larger than 4096 bytes";
			goto bad_owned;
		}
		out->presence = payload;
		return NULL;
	}
	*msg = "clients may send PONG, ACK and PRESENCE";
	json_decref(root);
	out->root = NULL;
	return WSDO_E_UNKNOWN_TYPE;

bad_owned:
	out->root = NULL;
bad:
	json_decref(root);
	return WSDO_E_BAD_MESSAGE;
}

void wsdo_cframe_clear(struct wsdo_cframe *f)
{
	json_decref(f->root);
	memset(f, 0, sizeof(*f));
}

/* The object every server frame starts with, in this key order; takes payload. */
static json_t *frame_object(const char *type, json_t *payload, const char *event_id,
		const char *client_id)
{
	json_t *o = json_object();

	if(!payload) payload = json_object();
	if(o && payload && !json_object_set_new(o, "type", json_string(type))
			&& !json_object_set(o, "payload", payload)
			&& !json_object_set_new(o, "eventID", json_string(event_id))
			&& !json_object_set_new(o, "clientID", json_string(client_id))){
		json_decref(payload);
		return o;
	}
	json_decref(payload);
	json_decref(o);
	return NULL;
}

char *wsdo_frame(const char *type, json_t *payload, const char *event_id,
		const char *client_id, int64_t latency_ms, int requires_ack)
{
	json_t *o = frame_object(type, payload, event_id, client_id);
	char *text = NULL;

	if(!o || json_object_set_new(o, "latency", json_integer(latency_ms))) goto out;
	if(requires_ack >= 0 && json_object_set_new(o, "requires_ack", json_boolean(requires_ack))){
		goto out;
	}
	text = json_dumps(o, JSON_COMPACT);
out:
	json_decref(o);
	return text;
}

char *wsdo_frame_head(const char *type, json_t *payload, const char *event_id, size_t *head_len)
{
	json_t *o = frame_object(type, payload, event_id, "");
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t len = text ? strlen(text) : 0;

	json_decref(o);
	/* ...,"clientID":""}  ->  ...,"clientID":"  */
	if(len < 2 || strcmp(text + len - 2, "\"}")){
		free(text);
		return NULL;
	}
	text[len - 2] = '\0';
	*head_len = len - 2;
	return text;
}

char *wsdo_frame_finish(const char *head, size_t head_len, const char *client_id,
		int64_t latency_ms, int requires_ack)
{
	size_t idlen = strlen(client_id), cap;
	char *text;
	int n;

	for(const char *c = client_id; *c; c++){
		if(*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f) return NULL;
	}
	cap = head_len + idlen + 64;
	text = malloc(cap);
	if(!text) return NULL;
	memcpy(text, head, head_len);
	memcpy(text + head_len, client_id, idlen);
	n = snprintf(text + head_len + idlen, cap - head_len - idlen, "\",\"latency\":%lld%s}",
			(long long)latency_ms, requires_ack < 0 ? "" : requires_ack ? ",\"requires_ack\":true" : ",\"requires_ack\":false");
	if(n < 0 || (size_t)n >= cap - head_len - idlen){
		free(text);
		return NULL;
	}
	return text;
}

char *wsdo_error_frame(const char *code, const char *message, const char *event_id,
		const char *client_id, int64_t latency_ms)
{
	json_t *p = json_pack("{s:s,s:s}", "code", code, "message", message ? message : code);
	if(!p) return NULL;
	return wsdo_frame("ERROR", p, event_id, client_id, latency_ms, -1);
}

enum wsdo_route wsdo_route(const char *subpath, char **channel)
{
	const char *slash, *action;
	size_t len, alen;
	enum wsdo_route r;

	*channel = NULL;
	while(*subpath == '/') subpath++;
	len = strlen(subpath);
	if(len && subpath[len-1] == '/') len--;    /* one trailing '/' is tolerated */
	/* The action is the last segment; the channel is everything before it, so
	 * "a/b/emit" (the client encoded a '/' in the name) is an invalid channel,
	 * not an unknown route. */
	slash = memrchr(subpath, '/', len);
	if(!slash || slash == subpath) return WSDO_ROUTE_NONE;
	action = slash + 1;
	alen = len - (size_t)(action - subpath);
	if(alen == 6 && !strncmp(action, "listen", 6)) r = WSDO_ROUTE_LISTEN;
	else if(alen == 4 && !strncmp(action, "emit", 4)) r = WSDO_ROUTE_EMIT;
	else return WSDO_ROUTE_NONE;

	*channel = strndup(subpath, (size_t)(slash - subpath));
	if(*channel && !topic_channel_valid(*channel)){
		free(*channel);
		*channel = NULL;
	}
	return r;
}

static int parse_clients(const char *v, struct wsdo_emit *e, const char **msg)
{
	char *end, *copy, *tok, *rest;
	unsigned long n;

	if(v[0] >= '0' && v[0] <= '9'){
		errno = 0;
		n = strtoul(v, &end, 10);
		if(errno || *end || n == 0 || n > WSDO_CLIENTS_MAX){
			*msg = "clients must be a number from 1 to 10000 or a list of client IDs";
			return -1;
		}
		e->clients_n = (unsigned)n;
		return 0;
	}
	copy = strdup(v);
	if(!copy) return -1;
	/* strsep, not strtok: "a,,b" and "a," hold an empty ID, which is an error. */
	for(rest = copy; (tok = strsep(&rest, ",")) != NULL; ){
		char **grown;
		if(!topic_level_valid(tok) || e->nids >= WSDO_CLIENTS_MAX){
			*msg = "clients holds an empty or invalid client ID";
			free(copy);
			return -1;
		}
		grown = realloc(e->ids, (e->nids + 1) * sizeof(*grown));
		if(!grown || !(grown[e->nids] = strdup(tok))){
			if(grown) e->ids = grown;
			free(copy);
			return -1;
		}
		e->ids = grown;
		e->nids++;
	}
	free(copy);
	if(e->nids == 0){
		*msg = "clients is empty";
		return -1;
	}
	return 0;
}

int wsdo_emit_parse(const struct wsdo_kv *query, size_t nquery, bool is_post,
		const char *body, size_t body_len, struct wsdo_emit *out,
		const char **code, const char **msg)
{
	json_t *params = NULL;

	memset(out, 0, sizeof(*out));
	*code = WSDO_E_BAD_PARAMETER;
	if(!is_post) params = json_object();
	for(size_t i = 0; i < nquery; i++){
		const char *k = query[i].key, *v = query[i].value ? query[i].value : "";
		if(!strcmp(k, "clients")){
			if(out->clients_n || out->nids){
				*msg = "clients given twice";
				goto fail;
			}
			if(parse_clients(v, out, msg)) goto fail;
		}else if(!strcmp(k, "require-ack")){
			if(!strcmp(v, "true")) out->require_ack = true;
			else if(!strcmp(v, "false")) out->require_ack = false;
			else{
				*msg = "require-ack must be true or false";
				goto fail;
			}
		}else if(params){
			if(!jsonutil_utf8_valid(v, strlen(v)) || json_object_set_new(params, k, json_string(v))){
				*msg = "query parameters must be UTF-8";
				goto fail;
			}
		}
	}
	if(is_post){
		if(body_len == 0){
			*code = WSDO_E_NO_PAYLOAD;
			*msg = "POST needs a JSON body";
			goto fail;
		}
		out->payload = jsonutil_parse_msg(body, body_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, msg);
		if(!out->payload){
			*code = WSDO_E_BAD_JSON;
			goto fail;
		}
	}else{
		if(json_object_size(params) == 0){
			*code = WSDO_E_NO_PAYLOAD;
			*msg = "GET needs at least one query parameter besides clients and require-ack";
			goto fail;
		}
		out->payload = params;
		params = NULL;
	}
	return 0;

fail:
	json_decref(params);
	wsdo_emit_clear(out);
	return 400;
}

void wsdo_emit_clear(struct wsdo_emit *e)
{
	json_decref(e->payload);
	for(size_t i = 0; i < e->nids; i++) free(e->ids[i]);
	free(e->ids);
	memset(e, 0, sizeof(*e));
}

void wsdo_make_id(char *out, size_t outlen, const char *prefix, const unsigned char rnd[WSDO_ID_LEN])
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t plen = strlen(prefix);

	if(outlen < plen + WSDO_ID_LEN + 1){
		if(outlen) out[0] = '\0';
		return;
	}
	memcpy(out, prefix, plen);
	for(size_t i = 0; i < WSDO_ID_LEN; i++){
		/* 256 % 62 != 0: the bias (< 1 in 62) does not matter for identifiers. */
		out[plen + i] = alphabet[rnd[i] % 62];
	}
	out[plen + WSDO_ID_LEN] = '\0';
}

void wsdo_pick(size_t n, size_t k, size_t *idx, uint32_t (*rnd)(void *), void *ud)
{
	for(size_t i = 0; i < n; i++) idx[i] = i;
	for(size_t i = 0; i < k && i < n; i++){
		size_t span = n - i;
		/* Rejection sampling keeps the choice uniform. */
		uint32_t limit = UINT32_MAX - (uint32_t)(((uint64_t)UINT32_MAX + 1) % span);
		uint32_t r;
		size_t j, t;
		do{ r = rnd(ud); }while(r > limit);
		j = i + r % span;
		t = idx[i]; idx[i] = idx[j]; idx[j] = t;
	}
}

/* ---- options ---- */

#define O(f) offsetof(struct wsdo_config, f)

/* Keep in step with the option table in README.md. */
static const struct wsgw_option wsdo_options[] = {
	{"root",            WSGW_OPT_PREFIX, O(root),            0, 0, "wsdo"},
	{"username",        WSGW_OPT_LEVEL,  O(username),        0, 0, "wsdo"},
	{"shared_sessions", WSGW_OPT_INT,    O(shared_sessions), 0, 64, "8"},
	{"ping_interval",   WSGW_OPT_DOUBLE, O(ping_interval),   0.1, 3600, "20"},
	{"ping_timeout",    WSGW_OPT_DOUBLE, O(ping_timeout),    0.1, 3600, "10"},
	{"ack_timeout",     WSGW_OPT_DOUBLE, O(ack_timeout),     0.1, 3600, "5"},
};

static bool wsdo_shares_sessions(const void *conf)
{
	return ((const struct wsdo_config *)conf)->shared_sessions > 0;
}

/* Presence entries are <presence_prefix>/<root>/<channel>/<member or slot>;
 * acks are <topic_prefix>/<root>/<channel>/ack/<event>. */
static const struct wsgw_guard wsdo_guards[] = {
	{WSGW_GUARD_MEMBER, true,  "+/+"},
	{WSGW_GUARD_ACK,    false, "+/ack/+"},
	{.tail = NULL},
};

const struct wsgw_dialect_conf wsdo_conf = {
	.name = "wsdo",
	.mount = "/",
	.enable = true,
	.options = wsdo_options,
	.noptions = sizeof(wsdo_options) / sizeof(wsdo_options[0]),
	.size = sizeof(struct wsdo_config),
	.shares_sessions = wsdo_shares_sessions,
	.member_prefix = WSDO_MEMBER_PREFIX,
	.root = O(root),
	.guards = wsdo_guards,
};
