/* Comet frames, API bodies, Events, claims and DumpSession: see comet_proto.h. */
#include "comet_proto.h"
#include "jsonutil.h"
#include "topic.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *const type_names[] = { "HB", "AUTH", "JOIN", "PUSH" };

const char *comet_type_name(enum comet_type t)
{
	return (unsigned)t < 4 ? type_names[t] : "?";
}

/* "" or a valid topic level. */
static bool rid_ok(const char *rid)
{
	return !*rid || topic_channel_valid(rid);
}

/* Reads "t" (or "type"). Returns NULL or an error code. */
static const char *read_type(json_t *root, enum comet_type *t, const char **msg)
{
	json_t *v = json_object_get(root, "t");

	if(!v || json_is_null(v)) v = json_object_get(root, "type");
	if(!v || json_is_null(v)){
		*t = COMET_HB;   /* proto3 JSON omits the default value */
		return NULL;
	}
	if(json_is_integer(v)){
		json_int_t n = json_integer_value(v);
		if(n < 0 || n > 3){
			*msg = "t must be 0 (HB), 1 (AUTH) or 2 (JOIN)";
			return COMET_E_UNKNOWN_TYPE;
		}
		*t = (enum comet_type)n;
		return NULL;
	}
	if(json_is_string(v)){
		for(int i = 0; i < 4; i++){
			if(!strcasecmp(json_string_value(v), type_names[i])){
				*t = (enum comet_type)i;
				return NULL;
			}
		}
		*msg = "t must be HB, AUTH or JOIN";
		return COMET_E_UNKNOWN_TYPE;
	}
	*msg = "t must be a MsgType number or name";
	return COMET_E_BAD_MESSAGE;
}

/* Reads "join" into out. Returns NULL or an error code. */
static const char *read_join(json_t *root, struct comet_uplink *out, bool required, const char **msg)
{
	json_t *join = json_object_get(root, "join"), *rid;

	if(!join || json_is_null(join)){
		out->has_join = required;   /* JOIN without join = JoinRoom{} = leave */
		out->rid = "";
		return NULL;
	}
	if(!json_is_object(join)){
		*msg = "join must be an object {\"rid\": string}";
		return COMET_E_BAD_MESSAGE;
	}
	rid = json_object_get(join, "rid");
	out->has_join = true;
	if(!rid || json_is_null(rid)){
		out->rid = "";
		return NULL;
	}
	if(!json_is_string(rid)){
		*msg = "join.rid must be a string";
		return COMET_E_BAD_MESSAGE;
	}
	out->rid = json_string_value(rid);
	if(strlen(out->rid) != json_string_length(rid) || !rid_ok(out->rid)){
		*msg = "join.rid must be empty or 1 to 128 bytes without '/', '+', '#', control characters or a leading '$'";
		return COMET_E_BAD_ROOM;
	}
	return NULL;
}

const char *comet_parse_uplink(const char *buf, size_t len, struct comet_uplink *out,
		const char **msg)
{
	json_t *root;
	const char *err;

	memset(out, 0, sizeof(*out));
	root = jsonutil_parse_msg(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, msg);
	if(!root) return COMET_E_BAD_JSON;
	if(!json_is_object(root)){
		*msg = "frame must be a JSON object";
		err = COMET_E_BAD_MESSAGE;
		goto bad;
	}
	err = read_type(root, &out->t, msg);
	if(err) goto bad;
	switch(out->t){
	case COMET_HB:
		break;
	case COMET_AUTH: {
		json_t *auth = json_object_get(root, "auth"), *token;
		if(auth && !json_is_null(auth) && !json_is_object(auth)){
			*msg = "auth must be an object {\"token\": string}";
			err = COMET_E_BAD_MESSAGE;
			goto bad;
		}
		token = json_object_get(auth, "token");
		if(token && !json_is_null(token) && !json_is_string(token)){
			*msg = "auth.token must be a string";
			err = COMET_E_BAD_MESSAGE;
			goto bad;
		}
		out->token = json_string_value(token);
		err = read_join(root, out, false, msg);
		if(err) goto bad;
		break;
	}
	case COMET_JOIN:
		err = read_join(root, out, true, msg);
		if(err) goto bad;
		break;
	case COMET_PUSH:
		*msg = "PUSH is sent by the server only; clients send HB, AUTH and JOIN";
		err = COMET_E_UNKNOWN_TYPE;
		goto bad;
	}
	out->root = root;
	return NULL;

bad:
	json_decref(root);
	memset(out, 0, sizeof(*out));
	return err;
}

void comet_uplink_clear(struct comet_uplink *u)
{
	json_decref(u->root);
	memset(u, 0, sizeof(*u));
}

char *comet_hb_frame(void)
{
	return strdup("{\"t\":\"HB\",\"hb\":{}}");
}

char *comet_push_frame(const char *evt, size_t evt_len)
{
	static const char head[] = "{\"t\":\"PUSH\",\"push\":{\"evt\":";
	size_t hlen = sizeof(head) - 1;
	char *out = malloc(hlen + evt_len + 3);

	if(!out) return NULL;
	memcpy(out, head, hlen);
	memcpy(out + hlen, evt, evt_len);
	memcpy(out + hlen + evt_len, "}}", 3);
	return out;
}

char *comet_error_frame(const char *code, const char *reason, const char *message)
{
	json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message ? message : code);
	json_t *o;
	char *text;

	if(e && reason) json_object_set_new(e, "reason", json_string(reason));
	o = e ? json_pack("{s:o}", "error", e) : NULL;
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

bool comet_json_valid(const char *buf, size_t len)
{
	/* INT_AS_REAL: an integer too large for 64 bits is still JSON. */
	json_t *v = jsonutil_parse(buf, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, NULL, 0);
	json_decref(v);
	return v != NULL;
}

/* ---- raw member spans of validated JSON text ---- */

static size_t skip_ws(const char *b, size_t n, size_t i)
{
	while(i < n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r')) i++;
	return i;
}

static size_t skip_string(const char *b, size_t n, size_t i)
{
	for(i++; i < n && b[i] != '"'; i++){
		if(b[i] == '\\') i++;
	}
	return i < n ? i + 1 : n;
}

static size_t skip_value(const char *b, size_t n, size_t i)
{
	int depth = 0;

	if(i >= n) return n;
	if(b[i] == '"') return skip_string(b, n, i);
	if(b[i] == '{' || b[i] == '['){
		while(i < n){
			char ch = b[i];
			if(ch == '"'){
				i = skip_string(b, n, i);
				continue;
			}
			if(ch == '{' || ch == '[') depth++;
			else if((ch == '}' || ch == ']') && --depth == 0) return i + 1;
			i++;
		}
		return n;
	}
	while(i < n && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t'
			&& b[i] != '\n' && b[i] != '\r'){
		i++;
	}
	return i;
}

static bool key_is(const char *b, size_t ks, size_t ke, const char *key)
{
	size_t klen = strlen(key);
	json_t *s;
	bool eq;

	if(ke - ks < 2) return false;
	if(!memchr(b + ks, '\\', ke - ks)) return ke - ks - 2 == klen && !memcmp(b + ks + 1, key, klen);
	s = jsonutil_parse(b + ks, ke - ks, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL, 0);
	eq = json_is_string(s) && json_string_length(s) == klen && !memcmp(json_string_value(s), key, klen);
	json_decref(s);
	return eq;
}

bool comet_json_member(const char *b, size_t n, const char *key, size_t *off, size_t *vlen)
{
	size_t i = skip_ws(b, n, 0);

	/* The scan below trusts jansson's validation of the same bytes, which a
	 * raw NUL would break (jansson skips one after a literal). */
	if(memchr(b, 0, n)) return false;
	if(i >= n || b[i] != '{') return false;
	i++;
	for(;;){
		size_t ks, ke, vs;
		i = skip_ws(b, n, i);
		if(i >= n || b[i] != '"') return false;
		ks = i;
		i = ke = skip_string(b, n, i);
		i = skip_ws(b, n, i);
		if(i >= n || b[i] != ':') return false;
		i = skip_ws(b, n, i + 1);
		vs = i;
		i = skip_value(b, n, i);
		if(key_is(b, ks, ke, key)){
			*off = vs;
			*vlen = i - vs;
			return true;
		}
		i = skip_ws(b, n, i);
		if(i >= n || b[i] != ',') return false;
		i++;
	}
}

char *comet_evt_from_payload(const void *payload, size_t len, size_t *outlen)
{
	char *text;

	if(len && comet_json_valid(payload, len)){
		text = malloc(len + 1);
		if(!text) return NULL;
		memcpy(text, payload, len);
		text[len] = '\0';
		*outlen = len;
		return text;
	}
	if(!jsonutil_utf8_valid(payload, len)) return NULL;
	{
		json_t *s = json_stringn_nocheck(len ? payload : "", len);
		text = s ? json_dumps(s, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		json_decref(s);
	}
	if(text) *outlen = strlen(text);
	return text;
}

/* ---- routes and API bodies ---- */

enum comet_route comet_route(const char *subpath)
{
	static const struct { const char *path; enum comet_route r; } routes[] = {
		{ "Comet/Subscribe", COMET_ROUTE_SUBSCRIBE }, { "subscribe", COMET_ROUTE_SUBSCRIBE },
		{ "Comet/Publish", COMET_ROUTE_PUBLISH }, { "publish", COMET_ROUTE_PUBLISH },
		{ "Comet/Broadcast", COMET_ROUTE_BROADCAST }, { "broadcast", COMET_ROUTE_BROADCAST },
		{ "Comet/DumpSession", COMET_ROUTE_DUMP }, { "dumpsession", COMET_ROUTE_DUMP },
	};
	size_t len;

	while(*subpath == '/') subpath++;
	len = strlen(subpath);
	if(len && subpath[len-1] == '/') len--;
	for(size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++){
		if(strlen(routes[i].path) == len && !strncmp(subpath, routes[i].path, len)) return routes[i].r;
	}
	return COMET_ROUTE_NONE;
}

void comet_req_clear(struct comet_req *r)
{
	free(r->uid);
	free(r->rid);
	free(r->evt);
	memset(r, 0, sizeof(*r));
}

/* A string member: missing or null gives "", *ok false when it is not a string
 * or holds a NUL. */
static char *string_member(json_t *o, const char *key, bool *ok)
{
	json_t *v = json_object_get(o, key);
	*ok = true;
	if(!v || json_is_null(v)) return strdup("");
	if(!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)){
		*ok = false;
		return NULL;
	}
	return strdup(json_string_value(v));
}

static int take_evt(const char *buf, size_t len, struct comet_req *out)
{
	size_t off, vlen;
	if(!comet_json_member(buf, len, "evt", &off, &vlen) || vlen == 0 || off + vlen > len) return -1;
	/* Exactly vlen bytes, whatever they hold: evt_len is what is copied. */
	out->evt = malloc(vlen + 1);
	if(!out->evt) return -1;
	memcpy(out->evt, buf + off, vlen);
	out->evt[vlen] = '\0';
	out->evt_len = vlen;
	return 0;
}

/* Parses {uid?, rid?, evt} (Publish, Broadcast, Event). Returns NULL or an
 * error code with *msg. */
static const char *parse_target(const char *buf, size_t len, bool want_uid, bool want_rid,
		struct comet_req *out, const char **msg)
{
	json_t *root = jsonutil_parse_msg(buf, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, msg);
	const char *err = NULL;
	bool ok;

	memset(out, 0, sizeof(*out));
	if(!root) return COMET_E_BAD_JSON;
	if(!json_is_object(root)){
		*msg = "the body must be a JSON object";
		err = COMET_E_BAD_JSON;
		goto out;
	}
	if(want_uid){
		out->uid = string_member(root, "uid", &ok);
		if(!ok || !out->uid || (*out->uid && !topic_channel_valid(out->uid))){
			*msg = "uid must be a string of 1 to 128 bytes without '/', '+', '#', control characters or a leading '$'";
			err = COMET_E_BAD_UID;
			goto out;
		}
	}
	if(want_rid){
		out->rid = string_member(root, "rid", &ok);
		if(!ok || !out->rid || !rid_ok(out->rid)){
			*msg = "rid must be empty (the world) or 1 to 128 bytes without '/', '+', '#', control characters or a leading '$'";
			err = COMET_E_BAD_ROOM;
			goto out;
		}
	}
	if(!json_object_get(root, "evt") || take_evt(buf, len, out)){
		*msg = "evt is required (any JSON value; it reaches the client as written)";
		err = COMET_E_NO_EVT;
		goto out;
	}
out:
	json_decref(root);
	if(err) comet_req_clear(out);
	return err;
}

int comet_parse_request(enum comet_route r, const char *body, size_t len, struct comet_req *out,
		const char **code, const char **msg)
{
	memset(out, 0, sizeof(*out));
	switch(r){
	case COMET_ROUTE_PUBLISH:
		*code = parse_target(body ? body : "", len, true, false, out, msg);
		if(!*code && !*out->uid){
			comet_req_clear(out);
			*code = COMET_E_BAD_UID;
			*msg = "uid is required";
		}
		return *code ? 400 : 0;
	case COMET_ROUTE_BROADCAST:
		*code = parse_target(body ? body : "", len, false, true, out, msg);
		return *code ? 400 : 0;
	case COMET_ROUTE_DUMP: {
		json_t *root, *cluster;
		size_t i = skip_ws(body ? body : "", len, 0);
		if(i >= len) return 0;   /* "Request is empty" */
		root = jsonutil_parse_msg(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, msg);
		if(!json_is_object(root)){
			if(root) *msg = "the body must be empty or a JSON object";
			json_decref(root);
			*code = COMET_E_BAD_JSON;
			return 400;
		}
		cluster = json_object_get(root, "cluster");
		if(cluster && !json_is_boolean(cluster) && !json_is_null(cluster)){
			json_decref(root);
			*code = COMET_E_BAD_PARAMETER;
			*msg = "cluster must be true or false";
			return 400;
		}
		out->cluster = json_is_true(cluster);
		json_decref(root);
		return 0;
	}
	default:
		*code = COMET_E_BAD_PARAMETER;
		*msg = "not an API method";
		return 400;
	}
}

int comet_parse_event(const void *payload, size_t len, struct comet_req *out, const char **msg)
{
	if(!len){
		memset(out, 0, sizeof(*out));
		*msg = "empty Event";
		return -1;
	}
	return parse_target(payload, len, true, true, out, msg) ? -1 : 0;
}

/* ---- service authentication ---- */

char *comet_bearer(char *header)
{
	char *p = header, *end;

	while(*p == ' ' || *p == '\t') p++;
	if(strncasecmp(p, "Bearer", 6) || (p[6] != ' ' && p[6] != '\t')) return NULL;
	p += 6;
	while(*p == ' ' || *p == '\t') p++;
	end = p + strlen(p);
	while(end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n')) end--;
	*end = '\0';
	return *p ? p : NULL;
}

bool comet_secret_equal(const char *a, const char *b)
{
	unsigned char ha[SHA256_DIGEST_LENGTH], hb[SHA256_DIGEST_LENGTH];

	/* Digests first: the comparison then takes the same time whatever the
	 * lengths and wherever the first difference is. */
	SHA256((const unsigned char *)a, strlen(a), ha);
	SHA256((const unsigned char *)b, strlen(b), hb);
	return CRYPTO_memcmp(ha, hb, sizeof(ha)) == 0;
}

bool comet_jwt_is_service(const char *token)
{
	const char *p1 = strchr(token, '.'), *p2;
	unsigned char *raw;
	size_t rawlen;
	json_t *claims, *scopes, *v;
	size_t i;
	bool yes = false;

	if(!p1 || !(p2 = strchr(p1 + 1, '.'))) return false;
	raw = jsonutil_b64url_decode(p1 + 1, (size_t)(p2 - p1 - 1), &rawlen);
	if(!raw) return false;
	claims = jsonutil_parse(raw, rawlen, JSON_REJECT_DUPLICATES, NULL, 0);
	free(raw);
	v = json_object_get(claims, "type");
	if(json_is_string(v) && !strcmp(json_string_value(v), "service")) yes = true;
	scopes = json_object_get(claims, "scopes");
	json_array_foreach(scopes, i, v){
		if(json_is_string(v) && !strcmp(json_string_value(v), "service")) yes = true;
	}
	json_decref(claims);
	return yes;
}

/* ---- sessions ---- */

void comet_birth(int64_t wall_ms, char out[COMET_BIRTH_SIZE])
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	char date[24];

	if(!gmtime_r(&secs, &tm) || !strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm)){
		snprintf(out, COMET_BIRTH_SIZE, "1970-01-01T00:00:00.000Z");
		return;
	}
	snprintf(out, COMET_BIRTH_SIZE, "%s.%03dZ", date, (int)(wall_ms % 1000));
}

char *comet_presence(const char *uid, const char *rid, const char *birth, const char *gateway,
		const char *boot, int64_t since_ms)
{
	json_t *o = json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:s,s:I}", "clientID", uid,
			"presence", "uid", uid, "rid", rid, "birth", birth,
			"gateway", gateway, "boot", boot, "since", (json_int_t)since_ms);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

char *comet_claim_build(const char *uid, const char *gateway, const char *boot,
		int64_t birth_ms, const char *nonce)
{
	json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:s}", "uid", uid, "gateway", gateway, "boot", boot,
			"birth", (json_int_t)birth_ms, "nonce", nonce);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

void comet_claim_clear(struct comet_claim *c)
{
	free(c->uid);
	free(c->gateway);
	free(c->boot);
	free(c->nonce);
	memset(c, 0, sizeof(*c));
}

int comet_claim_parse(const void *payload, size_t len, struct comet_claim *out)
{
	json_t *root = len ? jsonutil_parse(payload, len, JSON_REJECT_DUPLICATES, NULL, 0) : NULL;
	const char *uid, *gw, *boot, *nonce;
	json_t *birth;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	uid = json_string_value(json_object_get(root, "uid"));
	gw = json_string_value(json_object_get(root, "gateway"));
	boot = json_string_value(json_object_get(root, "boot"));
	nonce = json_string_value(json_object_get(root, "nonce"));
	birth = json_object_get(root, "birth");
	if(uid && gw && boot && nonce && json_is_integer(birth)){
		out->uid = strdup(uid);
		out->gateway = strdup(gw);
		out->boot = strdup(boot);
		out->nonce = strdup(nonce);
		out->birth_ms = (int64_t)json_integer_value(birth);
		rc = out->uid && out->gateway && out->boot && out->nonce ? 0 : -1;
		if(rc) comet_claim_clear(out);
	}
	json_decref(root);
	return rc;
}

int comet_session_cmp(int64_t a_birth, const char *a_nonce, int64_t b_birth, const char *b_nonce)
{
	if(a_birth != b_birth) return a_birth < b_birth ? -1 : 1;
	return strcmp(a_nonce, b_nonce);
}

/* ---- DumpSession ---- */

static int sess_newest_first(const void *a, const void *b)
{
	const struct comet_sess *x = a, *y = b;
	int c = strcmp(y->birth, x->birth);
	return c ? c : strcmp(x->uid, y->uid);
}

static int sess_by_room(const void *a, const void *b)
{
	const struct comet_sess *x = a, *y = b;
	int c = strcmp(x->rid, y->rid);
	return c ? c : sess_newest_first(a, b);
}

static json_t *sess_json(const struct comet_sess *s, bool with_gateway)
{
	json_t *o = json_pack("{s:s,s:s,s:s}", "uid", s->uid, "rid", s->rid, "birth", s->birth);
	if(o && with_gateway) json_object_set_new(o, "gateway", s->gateway ? json_string(s->gateway) : json_null());
	return o;
}

char *comet_dump(struct comet_sess *v, size_t n, bool with_gateway)
{
	json_t *world = json_array(), *rooms = json_array(), *room = NULL, *o;
	const char *cur = NULL;
	char *text = NULL;

	if(!world || !rooms) goto out;
	if(n) qsort(v, n, sizeof(*v), sess_newest_first);
	for(size_t i = 0; i < n; i++) json_array_append_new(world, sess_json(&v[i], with_gateway));
	if(n) qsort(v, n, sizeof(*v), sess_by_room);
	for(size_t i = 0; i < n; i++){
		if(!*v[i].rid) continue;
		if(!cur || strcmp(cur, v[i].rid)){
			json_t *r;
			cur = v[i].rid;
			room = json_array();
			r = room ? json_pack("{s:s,s:O}", "rid", cur, "room", room) : NULL;
			json_decref(room);   /* r holds it */
			if(!r || json_array_append_new(rooms, r)) goto out;
		}
		json_array_append_new(room, sess_json(&v[i], with_gateway));
	}
	o = json_pack("{s:O,s:O}", "world", world, "rooms", rooms);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
out:
	json_decref(world);
	json_decref(rooms);
	return text;
}

/* ---- options ---- */

#define O(f) offsetof(struct comet_config, f)

/* Keep in step with the option table in README.md. */
static const struct wsgw_option comet_options[] = {
	{"root",          WSGW_OPT_PREFIX, O(root),          0, 0, "comet"},
	{"username",      WSGW_OPT_LEVEL,  O(username),      0, 0, "comet"},
	{"service_token", WSGW_OPT_STRING, O(service_token), 0, 0, NULL},
	{"hb_idle",       WSGW_OPT_DOUBLE, O(hb_idle),       0.1, 86400, "60"},
	{"hb_drop",       WSGW_OPT_DOUBLE, O(hb_drop),       0.2, 86400, "180"},
};

static int comet_check(void *conf, char *err, size_t errlen)
{
	const struct comet_config *c = conf;

	if(c->hb_drop <= c->hb_idle){
		snprintf(err, errlen, "plugin_opt_comet_hb_drop (%g s) must be longer than plugin_opt_comet_hb_idle "
				"(%g s): a client that answers every heartbeat would be dropped", c->hb_drop, c->hb_idle);
		return -1;
	}
	return 0;
}

/* Claims (<topic_prefix>/<root>/claim/...) are made by gateways only; so are
 * the entries on gateways' slots below <presence_prefix>/<root>. */
static const struct wsgw_guard comet_guards[] = {
	{WSGW_GUARD_ALL,  false, "claim/#"},
	{WSGW_GUARD_SLOT, true,  "#"},
	{.tail = NULL},
};

const struct wsgw_dialect_conf comet_conf = {
	.name = "comet",
	.mount = "/comet",
	.enable = true,
	.options = comet_options,
	.noptions = sizeof(comet_options) / sizeof(comet_options[0]),
	.size = sizeof(struct comet_config),
	.check = comet_check,
	.root = O(root),
	.guards = comet_guards,
};
