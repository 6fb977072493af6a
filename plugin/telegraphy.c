/* The Telegraphy dialect (seed 003): management messages with sequential ids,
 * single-use auth tokens (issued by the gateway's token endpoint or signed by
 * the web application), RECONNECT to a persistent broker session from the
 * same host, SUBSCRIBE/UNSUBSCRIBE with filters, permanent and lazy
 * subscriptions, a runtime event registry, and EVENT pushes.
 * Contract: docs/protocols/telegraphy.md. Parsing: mapping/tele_proto.c. */
#define LOG_TAG "tele"
#include "kit.h"
#include "jsonutil.h"
#include "tele_proto.h"
#include "topic.h"

#include <mosquitto_broker.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <uthash.h>

#define TOKENS_MAX 100000                      /* issued or seen tokens kept at once */
#define SIGNED_TTL_MAX (24 * 3600)             /* a signed token may live a day at most */
#define TOKEN_BYTES 18                         /* 24 base64url characters */
#define CLOSE_AUTH 4003
#define REQUEST_TIMEOUT_MS 10000
#define SID_MAX 268435455u                     /* largest MQTT variable byte integer */

/* This dialect's options (mapping/tele_proto.h) and its registry entry (at
 * the end of this file). */
#define TELE_CFG(cfg) ((const struct tele_config *)config_dialect((cfg), &tele_conf)->opts)
extern const struct wsgw_dialect wsgw_dialect_telegraphy;

struct tg_sub {
	struct tg_sub *next;
	char *event;             /* as the client named it */
	char *filter;            /* MQTT topic filter */
	json_t *filters;         /* field filters, or NULL */
	bool permanent;
	/* MQTT subscription identifier of filter (the same for every sub of one
	 * filter); identifiers grow, so an older filter has a smaller one. */
	uint32_t sid;
};

/* What outlives the socket for RECONNECT. */
struct tg_state {
	struct kit_resumable r;  /* first; attached: the tg_client */
	char *user;              /* NULL: anonymous */
	char *host;              /* the client host the session is bound to */
	struct tg_sub *subs;
	uint32_t last_sid;       /* the newest subscription identifier given out */
};

/* A token the gateway issued (endpoint) or saw (signed, by jti): single use. */
struct tg_token {
	UT_hash_handle hh;
	char *key;
	char *user;              /* issued tokens: the user named at issue */
	int64_t expires_s;
	bool used;
};

struct tg_registered {
	UT_hash_handle hh;
	char *name;
	bool configured;         /* from telegraphy_events: stays */
};

/* A SUBSCRIBE waiting for its SUBACK. */
struct tg_pending {
	struct pending_req pr;
	struct tg_client *c;
	long long id;
	struct tg_sub *sub;      /* owned by the state */
};

struct tg_client {
	struct wsgw_session *s;        /* first (kit_client_new) */
	struct tg_state *st;
	bool ready;
	bool reconnecting;
	bool have_seq;
	long long next_id;       /* the id the next management message must carry */
	long long hello_id;
	struct pending requests;  /* SUBSCRIBEs waiting for their SUBACKs */
	int64_t connect_deadline_ms;
};

struct tg_gw {
	char *base;              /* topic_prefix/telegraphy_root */
	char *registry;          /* topic_prefix/registry/telegraphy_root */
	unsigned char *secret;
	size_t secret_len;
	struct jwtauth_keys keys;
	struct kit_store store;   /* struct tg_state */
	struct tg_token *tokens;
	unsigned ntokens;
	struct tg_registered *events;
};

static struct tg_gw *tg_of(struct wsgw_gw *gw)
{
	return gw_dialect_state(gw, &wsgw_dialect_telegraphy);
}

static void respond(struct tg_client *c, bool ok, const char *status, bool has_id, long long id, json_t *data)
{
	session_send(c->s, tele_response(ok, status, has_id, id, data));
}

static void tele_refuse(struct tg_client *c, const char *status, bool has_id, long long id, const char *message)
{
	respond(c, false, status, has_id, id, json_pack("{s:s}", "message", message));
}

/* ---- subscriptions ---- */

static void tele_sub_free(struct tg_sub *sub)
{
	free(sub->event);
	free(sub->filter);
	json_decref(sub->filters);
	free(sub);
}

static unsigned filter_users(const struct tg_state *st, const char *filter)
{
	unsigned n = 0;
	for(const struct tg_sub *sub = st->subs; sub; sub = sub->next) n += !strcmp(sub->filter, filter);
	return n;
}

/* The identifier filter is subscribed with, or 0 if no subscription uses it. */
static uint32_t filter_sid(const struct tg_state *st, const char *filter)
{
	for(const struct tg_sub *sub = st->subs; sub; sub = sub->next){
		if(!strcmp(sub->filter, filter)) return sub->sid;
	}
	return 0;
}

/* Subscribes every distinct filter again, oldest identifier first: while the
 * broker works through them, the filters it has are always the oldest ones,
 * which on_message relies on. */
static void tele_resubscribe(struct tg_client *c)
{
	uint32_t last = 0;
	for(;;){
		const struct tg_sub *next = NULL;
		for(const struct tg_sub *sub = c->st->subs; sub; sub = sub->next){
			if(sub->sid > last && (!next || sub->sid < next->sid)) next = sub;
		}
		if(!next) break;
		link_subscribe_id(session_link(c->s), NULL, next->filter, 1, next->sid);
		last = next->sid;
	}
}

static bool filter_sid_known(const struct tg_state *st, uint32_t sid)
{
	for(const struct tg_sub *sub = st->subs; sub; sub = sub->next){
		if(sub->sid == sid) return true;
	}
	return false;
}

static struct tg_sub *tele_sub_find(struct tg_state *st, const char *event, const json_t *filters)
{
	for(struct tg_sub *sub = st->subs; sub; sub = sub->next){
		if(!strcmp(sub->event, event) && tele_filters_equal(sub->filters, filters)) return sub;
	}
	return NULL;
}

/* Unlinks sub, MQTT-unsubscribing its filter when nothing else uses it. */
static void sub_drop(struct tg_client *c, struct tg_state *st, struct tg_sub *sub)
{
	for(struct tg_sub **pp = &st->subs; *pp; pp = &(*pp)->next){
		if(*pp == sub){
			*pp = sub->next;
			break;
		}
	}
	if(c && session_link(c->s) && !filter_users(st, sub->filter)) link_unsubscribe(session_link(c->s), sub->filter);
	for(struct pending_req *r = c ? c->requests.head : NULL; r; r = r->next){
		struct tg_pending *p = lws_container_of(r, struct tg_pending, pr);
		if(p->sub == sub) p->sub = NULL;
	}
	tele_sub_free(sub);
}

static json_t *sub_json(const struct tg_sub *sub)
{
	return json_pack("{s:s,s:o,s:b}", "event_name", sub->event,
			"filters", sub->filters ? json_incref(sub->filters) : json_object(), "permanent", sub->permanent);
}

static json_t *subs_json(const struct tg_state *st)
{
	json_t *a = json_array();
	for(const struct tg_sub *sub = st->subs; sub; sub = sub->next) json_array_append_new(a, sub_json(sub));
	return a;
}

/* ---- state ---- */

/* The store's free: what kit_resumable does not hold. */
static void tele_state_free(struct kit_resumable *r)
{
	struct tg_state *st = (struct tg_state *)r;
	struct tg_sub *sub, *next;
	for(sub = st->subs; sub; sub = next){
		next = sub->next;
		tele_sub_free(sub);
	}
	free(st->user);
	free(st->host);
	free(st);
}

/* ---- tokens ---- */

static void token_put(struct tg_gw *tg, struct tg_token *t)
{
	HASH_ADD_KEYPTR(hh, tg->tokens, t->key, strlen(t->key), t);
	tg->ntokens++;
}

static void token_free(struct tg_gw *tg, struct tg_token *t)
{
	HASH_DEL(tg->tokens, t);
	tg->ntokens--;
	free(t->key);
	free(t->user);
	free(t);
}

/* Checks an auth token and uses it up. Returns 0 and *user (new, or NULL for
 * anonymous), or -1 with *why. */
static int token_consume(struct wsgw_gw *gw, const char *token, char **user, const char **why)
{
	struct tg_gw *tg = tg_of(gw);
	struct tg_token *t = NULL;
	int64_t now = gw_wall_ms() / 1000;

	*user = NULL;
	if(!token[0]){
		if(TELE_CFG(gw->cfg)->auth){
			*why = "an auth token is required";
			return -1;
		}
		return 0;
	}
	if(!tg->secret){
		*why = "no token secret is configured (plugin_opt_telegraphy_token_secret)";
		return -1;
	}
	HASH_FIND_STR(tg->tokens, token, t);
	if(t && !strchr(token, '.')){
		/* issued by the endpoint */
		if(t->used || now >= t->expires_s){
			*why = t->used ? "the token was used already" : "the token has expired";
			return -1;
		}
		t->used = true;
		*user = t->user ? strdup(t->user) : NULL;
		return 0;
	}
	if(strchr(token, '.')){
		/* signed by the web application: a JWT with jti, used once */
		struct jwtauth_identity id;
		const char *jti;
		json_t *claims = NULL;
		char *dot2;
		const char *err = jwtauth_verify(&tg->keys, token, (time_t)now, &id, why);
		if(err) return -1;
		if(id.exp > now + SIGNED_TTL_MAX){
			jwtauth_identity_clear(&id);
			*why = "signed tokens may live a day at most";
			return -1;
		}
		/* jti: from the (verified) payload */
		dot2 = strchr(strchr(token, '.') + 1, '.');
		{
			const char *p1 = strchr(token, '.') + 1;
			size_t n;
			unsigned char *raw = jsonutil_b64url_decode(p1, (size_t)(dot2 - p1), &n);
			claims = raw ? jsonutil_parse(raw, n, JSON_REJECT_DUPLICATES, NULL, 0) : NULL;
			free(raw);
		}
		jti = json_string_value(json_object_get(claims, "jti"));
		if(!jti || !jti[0] || strlen(jti) > 128){
			json_decref(claims);
			jwtauth_identity_clear(&id);
			*why = "signed tokens need a jti (a unique id) of at most 128 characters";
			return -1;
		}
		HASH_FIND_STR(tg->tokens, jti, t);
		if(t || tg->ntokens >= TOKENS_MAX){
			json_decref(claims);
			jwtauth_identity_clear(&id);
			*why = t ? "the token was used already" : "too many tokens outstanding";
			return -1;
		}
		t = calloc(1, sizeof(*t));
		if(t && (t->key = strdup(jti))){
			t->used = true;
			t->expires_s = id.exp;
			token_put(tg, t);
		}else{
			free(t);
		}
		json_decref(claims);
		*user = id.sub;
		id.sub = NULL;
		jwtauth_identity_clear(&id);
		return 0;
	}
	*why = "unknown token";
	return -1;
}

/* ---- link callbacks ---- */

static void tele_hello_failed(struct tg_client *c, const char *status, const char *message)
{
	tele_refuse(c, status, true, c->hello_id, message);
	if(c->st){
		kit_store_detach(session_gw(c->s), &tg_of(session_gw(c->s))->store, &c->st->r, c->reconnecting);
		c->st = NULL;
	}
	session_close(c->s, LWS_CLOSE_STATUS_POLICY_VIOLATION, status);
}

static void tele_on_connected(void *ud, int rc, bool session_present)
{
	struct tg_client *c = ud;
	struct wsgw_gw *gw = session_gw(c->s);
	char *token;
	json_t *data;

	if(!c->st || c->ready) return;
	if(rc){
		struct kit_refusal o;
		kit_refusal(rc, &o);
		tele_hello_failed(c, o.r.denied ? TELE_S_INVALID_TOKEN : TELE_S_UNAVAILABLE, o.message);
		return;
	}
	c->ready = true;
	token = kit_store_token(gw, &c->st->r, c->st->host);
	if(!token){
		tele_hello_failed(c, TELE_S_UNAVAILABLE, "out of memory");
		return;
	}
	if(!c->reconnecting){
		respond(c, true, "CONNECTED", true, c->hello_id, json_pack("{s:s}", "session_token", token));
	}else{
		json_t *subs = subs_json(c->st);
		char *text;
		/* The broker lost the session: subscribe again (events in between are gone). */
		if(!session_present) tele_resubscribe(c);
		data = json_pack("{s:O,s:s,s:b}", "subscriptions", subs, "session_token", token,
				"recovered", session_present);
		/* Both shapes of the seed: the response object, plus the example's
		 * top-level message and subscriptions. */
		{
			json_t *o = json_pack("{s:b,s:s,s:I,s:o,s:s,s:o}", "success", 1, "status", "CONNECTED",
					"id", (json_int_t)c->hello_id, "data", data, "message", "CONNECTED", "subscriptions", subs);
			text = o ? json_dumps(o, JSON_COMPACT) : NULL;
			json_decref(o);
		}
		session_send(c->s, text);
	}
	free(token);
}

static void tele_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct tg_client *c = ud;
	pendtab_answer(&c->requests, mid, count < 1 ? 0x80 : granted[0]);
}

/* The SUBACK of a SUBSCRIBE. */
static void subscribe_answered(struct pending_req *r, size_t index, int reason)
{
	struct tg_pending *p = lws_container_of(r, struct tg_pending, pr);
	struct tg_client *c = p->c;

	(void)index;
	pendtab_remove(&c->requests, r);
	if(reason >= 0x80){
		tele_refuse(c, TELE_S_FORBIDDEN, true, p->id, "the broker refused the subscription (ACL)");
		if(p->sub && c->st) sub_drop(c, c->st, p->sub);
	}else if(p->sub){
		respond(c, true, "SUBSCRIBED", true, p->id, sub_json(p->sub));
	}
	free(p);
}

static void subscribe_expired(struct pending_req *r)
{
	struct tg_pending *p = lws_container_of(r, struct tg_pending, pr);
	tele_refuse(p->c, TELE_S_UNAVAILABLE, true, p->id, "the broker did not answer in time");
	free(p);
}

static void tele_pending_drop(struct pending_req *r)
{
	free(lws_container_of(r, struct tg_pending, pr));
}

/* Mosquitto sends a client one copy of a message per matching subscription,
 * each with that subscription's identifier. A connection gets one EVENT per
 * message: of the copies of a live message, only the one carrying the oldest
 * (smallest) identifier among this connection's filters that match the topic
 * is delivered, and it is delivered if any matching subscription's field
 * filters pass. The broker holds at least the oldest of those filters
 * (identifiers are given out in order, SUBSCRIBEs are sent in that order, and
 * a refusal arrives before any message of a later filter), so exactly one copy
 * qualifies. This needs no memory of past packets: two identical publishes
 * still make two EVENTs. A retained copy is the broker's answer to one
 * SUBSCRIBE and carries its identifier alone: it goes through the field
 * filters of that subscription. Copies without an identifier (a session
 * subscribed by an older gateway) are delivered as they come. */
static void tele_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct tg_client *c = ud;
	struct tg_gw *tg = tg_of(session_gw(c->s));
	size_t blen = strlen(tg->base);
	struct mqttw_props it = msg->props;
	uint32_t sid, oldest = 0;
	bool has_sid = false, mine = false, pass = false;
	json_t *data;
	char *name;

	if(!c->st || strncmp(msg->topic, tg->base, blen) || msg->topic[blen] != '/') return;
	if(!msg->retain){
		for(struct tg_sub *sub = c->st->subs; sub; sub = sub->next){
			if(sub->sid && (!oldest || sub->sid < oldest) && mqttw_topic_matches(sub->filter, msg->topic)){
				oldest = sub->sid;
			}
		}
	}
	while(mqttw_props_next_sid(&it, &sid)){
		has_sid = true;
		if(msg->retain){
			if(!oldest && filter_sid_known(c->st, sid)) oldest = sid;
		}
		mine = mine || (oldest && sid == oldest);
	}
	if(has_sid && !mine) return;   /* another copy of the message is the one */
	data = kit_payload_json(msg, "");
	if(!data) return;
	for(struct tg_sub *sub = c->st->subs; sub && !pass; sub = sub->next){
		if(has_sid && msg->retain && sub->sid != oldest) continue;
		pass = mqttw_topic_matches(sub->filter, msg->topic) && tele_filters_match(sub->filters, data);
	}
	if(pass){
		name = tele_event_name(msg->topic + blen + 1);
		if(name) session_send(c->s, tele_event(name, json_incref(data)));
		free(name);
	}
	json_decref(data);
}

/* The broker session ended before its CONNACK (after it, the kit reports
 * it: UNAVAILABLE after the core's grace, or SHUTDOWN if the broker is
 * stopping). */
static void tele_on_hello_lost(void *ud, int rc)
{
	struct tg_client *c = ud;
	struct kit_refusal o;

	if(session_closing(c->s)) return;
	kit_refusal(REFUSAL_LOST, &o);
	LOG_N("telegraphy session lost: %s", mqttw_reason_string((uint8_t)rc));
	if(c->st) tele_hello_failed(c, TELE_S_UNAVAILABLE, o.message);
	else session_close(c->s, o.r.close_code, o.r.code);
}

static const struct wsgw_link_ops client_ops = {
	.connected = tele_on_connected, .message = tele_on_message,
	.subscribed = tele_on_subscribed, .lost = tele_on_hello_lost,
};

static int tele_open_link(struct tg_client *c)
{
	return kit_store_open_link(c->s, &c->st->r, false, &client_ops, c);
}

/* ---- management messages ---- */

static void tele_do_connect(struct tg_client *c, const struct tele_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct tg_state *st;
	char *user = NULL;
	const char *why = NULL;

	if(token_consume(gw, r->auth_token, &user, &why)){
		LOG_N("telegraphy CONNECT from %s refused: %s", session_peer(c->s), why);
		tele_refuse(c, TELE_S_INVALID_TOKEN, true, r->id, why);
		session_close(c->s, CLOSE_AUTH, TELE_S_INVALID_TOKEN);
		return;
	}
	st = calloc(1, sizeof(*st));
	if(!st){
		free(user);
		tele_refuse(c, TELE_S_UNAVAILABLE, true, r->id, "out of memory");
		return;
	}
	st->user = user;
	st->r.username = strdup(user ? user : TELE_CFG(gw->cfg)->username);
	st->host = strdup(session_peer(c->s));
	if(!st->r.username || !st->host || !strcmp(st->r.username, gw->cfg->core_username)){
		kit_resumable_free(&tg_of(gw)->store, &st->r);
		tele_refuse(c, TELE_S_INVALID_TOKEN, true, r->id, "that user name is reserved");
		session_close(c->s, CLOSE_AUTH, TELE_S_INVALID_TOKEN);
		/* cppcheck-suppress memleak ; kit_resumable_free freed st through the store's free hook */
		return;
	}
	kit_store_add(&tg_of(gw)->store, &st->r, "tg-", c);
	c->st = st;
	c->hello_id = r->id;
	if(tele_open_link(c)) tele_hello_failed(c, TELE_S_UNAVAILABLE, "cannot reach the broker");
}

static void do_reconnect(struct tg_client *c, const struct tele_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	const char *err;
	struct tg_state *st = (struct tg_state *)kit_store_resolve(gw, &tg_of(gw)->store, r->session_token,
			session_peer(c->s), &err);
	struct tg_client *old;
	struct tg_sub *sub, *next;

	if(!st){
		tele_refuse(c, TELE_S_INVALID_SESSION, true, r->id,
				!strcmp(err, "BINDING") ? "the session belongs to another client host"
				: !strcmp(err, "EXPIRED") || !strcmp(err, "GONE") ? "the session has expired" : "invalid session token");
		session_close(c->s, CLOSE_AUTH, TELE_S_INVALID_SESSION);
		return;
	}
	old = kit_store_attach(&st->r, c);
	if(old){
		tele_refuse(old, TELE_S_INVALID_SESSION, false, 0, "the session was reconnected elsewhere");
		kit_link_end(old->s, false);
		old->st = NULL;
		session_close(old->s, CLOSE_AUTH, "RECONNECTED_ELSEWHERE");
	}
	/* Only permanent subscriptions outlive a connection. */
	for(sub = st->subs; sub; sub = next){
		next = sub->next;
		if(!sub->permanent) sub_drop(NULL, st, sub);
	}
	c->st = st;
	c->reconnecting = true;
	c->hello_id = r->id;
	if(tele_open_link(c)) tele_hello_failed(c, TELE_S_UNAVAILABLE, "cannot reach the broker");
}

static bool registered(struct tg_gw *tg, const char *event, bool wildcard)
{
	struct tg_registered *e = NULL, *tmp;
	char *filter;
	bool found = false;

	if(!wildcard){
		HASH_FIND_STR(tg->events, event, e);
		return e != NULL;
	}
	filter = tele_event_path(event, &wildcard);
	HASH_ITER(hh, tg->events, e, tmp){
		char *path;
		bool w;
		if(found || !filter) break;
		path = tele_event_path(e->name, &w);
		found = path && !w && mqttw_topic_matches(filter, path);
		free(path);
	}
	free(filter);
	return found;
}

static void do_subscribe(struct tg_client *c, const struct tele_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct tg_gw *tg = tg_of(gw);
	bool wildcard;
	char *path = tele_event_path(r->event, &wildcard);
	struct tg_sub *sub;
	struct tg_pending *p;
	int mid = 0;
	bool first;

	if(!path){
		tele_refuse(c, TELE_S_INVALID_EVENT, true, r->id, "invalid event name (dot-separated; '*' one segment, a final '**' any)");
		return;
	}
	if(!r->lazy && !registered(tg, r->event, wildcard)){
		free(path);
		tele_refuse(c, TELE_S_UNKNOWN_EVENT, true, r->id, "no such event is registered (subscribe with lazy: true to wait for it)");
		return;
	}
	sub = tele_sub_find(c->st, r->event, r->filters);
	if(sub){
		sub->permanent = r->permanent;
		free(path);
		respond(c, true, "SUBSCRIBED", true, r->id, sub_json(sub));
		return;
	}
	{
		int n = 0;
		for(const struct tg_sub *o = c->st->subs; o; o = o->next) n++;
		if(n >= gw->cfg->max_subscriptions){
			char msg[128];
			free(path);
			snprintf(msg, sizeof(msg), "a session holds at most %d subscriptions (max_subscriptions); unsubscribe first",
					gw->cfg->max_subscriptions);
			tele_refuse(c, TELE_S_TOO_MANY_SUBSCRIPTIONS, true, r->id, msg);
			return;
		}
	}
	sub = calloc(1, sizeof(*sub));
	if(!sub || !(sub->event = strdup(r->event)) || !(sub->filter = topic_join(tg->base, path, (char *)NULL))){
		if(sub) tele_sub_free(sub);
		free(path);
		tele_refuse(c, TELE_S_UNAVAILABLE, true, r->id, "out of memory");
		return;
	}
	free(path);
	sub->filters = r->filters && json_object_size(r->filters) ? json_deep_copy(r->filters) : NULL;
	sub->permanent = r->permanent;
	sub->sid = filter_sid(c->st, sub->filter);
	first = !sub->sid;
	if(first){
		/* a new filter: the next identifier (after SID_MAX, none: such copies
		 * are delivered as they come) */
		sub->sid = c->st->last_sid < SID_MAX ? ++c->st->last_sid : 0;
	}
	sub->next = c->st->subs;
	c->st->subs = sub;
	if(!first){
		respond(c, true, "SUBSCRIBED", true, r->id, sub_json(sub));
		return;
	}
	p = calloc(1, sizeof(*p));
	if(p) pendtab_add(&c->requests, &p->pr, gw_now_ms() + REQUEST_TIMEOUT_MS, subscribe_answered, subscribe_expired);
	if(!p || link_subscribe_id(session_link(c->s), &mid, sub->filter, 1, sub->sid)
			|| pendtab_await(&c->requests, &p->pr, mid, 0)){
		if(p) pendtab_remove(&c->requests, &p->pr);
		free(p);
		sub_drop(c, c->st, sub);
		tele_refuse(c, TELE_S_UNAVAILABLE, true, r->id, "the broker is not reachable");
		return;
	}
	p->c = c;
	p->id = r->id;
	p->sub = sub;
}

static void do_unsubscribe(struct tg_client *c, const struct tele_request *r)
{
	struct tg_sub *sub = tele_sub_find(c->st, r->event, r->filters);
	if(!sub){
		tele_refuse(c, TELE_S_NOT_SUBSCRIBED, true, r->id, "no subscription with this event name and filters");
		return;
	}
	respond(c, true, "UNSUBSCRIBED", true, r->id, sub_json(sub));
	sub_drop(c, c->st, sub);
}

/* ---- dialect ops ---- */

static int tele_ws_open(struct wsgw_session *s, const char *route)
{
	struct tg_client *c = kit_client_new(s, sizeof(*c));
	(void)route;
	if(!c) return -1;
	c->connect_deadline_ms = gw_now_ms() + (int64_t)(TELE_CFG(session_gw(s)->cfg)->connect_timeout * 1000);
	return 0;
}

static void tele_ws_text(struct wsgw_session *s, const char *buf, size_t len)
{
	struct tg_client *c = session_priv(s);
	struct tele_request r;
	const char *msg = NULL, *status;

	status = tele_parse(buf, len, &r, &msg);
	/* Ids: CONNECT starts at 0, RECONNECT continues the client's numbering;
	 * each next message carries the previous id + 1. A message with a usable
	 * id takes its place in the sequence even when its content is refused. */
	if(!c->have_seq){
		if(status){
			tele_refuse(c, status, r.has_id, r.id, msg);
			goto out;
		}
		if(r.kind == TELE_CONNECT && r.id != 0){
			tele_refuse(c, TELE_S_INVALID_ID, true, r.id, "CONNECT on a new connection has id 0");
			goto out;
		}
		if(r.kind != TELE_CONNECT && r.kind != TELE_RECONNECT){
			tele_refuse(c, TELE_S_NOT_CONNECTED, true, r.id, "send CONNECT (or RECONNECT) first");
			goto out;
		}
		c->have_seq = true;
	}else if(r.has_id && r.id != c->next_id){
		char why[96];
		snprintf(why, sizeof(why), "expected id %lld: ids increase by one, without repeats", c->next_id);
		tele_refuse(c, TELE_S_INVALID_ID, true, r.id, why);
		goto out;
	}else if(status){
		if(r.has_id) c->next_id = r.id + 1;
		tele_refuse(c, status, r.has_id, r.id, msg);
		goto out;
	}
	c->next_id = r.id + 1;
	switch(r.kind){
	case TELE_CONNECT:
	case TELE_RECONNECT:
		if(c->st) tele_refuse(c, TELE_S_ALREADY_CONNECTED, true, r.id, "this connection is connected already");
		else if(r.kind == TELE_CONNECT) tele_do_connect(c, &r);
		else do_reconnect(c, &r);
		break;
	case TELE_SUBSCRIBE:
	case TELE_UNSUBSCRIBE:
		if(!c->st || !c->ready) tele_refuse(c, TELE_S_NOT_CONNECTED, true, r.id, "wait for CONNECTED first");
		else if(!session_link(c->s)) tele_refuse(c, TELE_S_UNAVAILABLE, true, r.id, "the broker session was lost");
		else if(r.kind == TELE_SUBSCRIBE) do_subscribe(c, &r);
		else do_unsubscribe(c, &r);
		break;
	}
out:
	tele_request_clear(&r);
}

static void tele_ws_error(struct wsgw_session *s, const char *code, const char *message)
{
	struct tg_client *c = session_priv(s);
	char msg[160];
	if(!c) return;
	if(!strcmp(code, "BROKER_UNAVAILABLE")){
		tele_refuse(c, TELE_S_UNAVAILABLE, false, 0, "the broker session was lost");
		return;
	}
	snprintf(msg, sizeof(msg), "%s: %s", code, message);
	respond(c, false, code, false, 0, json_pack("{s:s}", "message", msg));
}

static void tele_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct tg_client *c = session_priv(s);

	if(!c) return;
	if(!c->st && now >= c->connect_deadline_ms){
		tele_refuse(c, TELE_S_NOT_CONNECTED, false, 0, "no CONNECT in time");
		session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, TELE_S_NOT_CONNECTED);
		return;
	}
	pendtab_sweep(&c->requests, now);
}

static void tele_ws_close(struct wsgw_session *s)
{
	struct tg_client *c = session_priv(s);
	struct tg_sub *sub, *snext;

	if(!c) return;
	pendtab_clear(&c->requests, NULL, tele_pending_drop);
	if(c->st){
		/* Subscriptions that are not permanent end with the connection, so the
		 * broker stops keeping their events. */
		for(sub = c->st->subs; sub; sub = snext){
			snext = sub->next;
			if(!sub->permanent) sub_drop(link_is_up(session_link(s)) ? c : NULL, c->st, sub);
		}
		kit_store_detach(session_gw(s), &tg_of(session_gw(s))->store, &c->st->r, c->ready || c->reconnecting);
	}
	free(c);
	session_set_priv(s, NULL);
}

/* ---- HTTP: the token endpoint ---- */

static bool bearer_ok(struct wsgw_http *h, const struct tg_gw *tg)
{
	char hdr[512];
	size_t n;
	if(!tg->secret || http_header(h, "authorization", hdr, sizeof(hdr)) < 7) return false;
	if(strncasecmp(hdr, "Bearer ", 7)) return false;
	n = strlen(hdr + 7);
	return n == tg->secret_len && CRYPTO_memcmp(hdr + 7, tg->secret, n) == 0;
}

static void tele_http(struct wsgw_http *h, const char *subpath)
{
	struct wsgw_gw *gw = h->gw;
	struct tg_gw *tg = tg_of(gw);
	json_t *body = NULL;
	const char *user = NULL;
	double ttl = TELE_CFG(gw->cfg)->token_ttl;
	struct tg_token *t;
	char token[64];

	if(strcmp(subpath, "/tokens")){
		http_reply_error(h, !subpath[0] || !strcmp(subpath, "/") ? 426 : 404,
				!subpath[0] || !strcmp(subpath, "/") ? "UPGRADE_REQUIRED" : "NOT_FOUND", NULL);
		return;
	}
	if(!h->is_post){
		h->allow = "POST";
		http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "POST a token request");
		return;
	}
	if(!tg->secret){
		http_reply_error(h, 503, "NOT_CONFIGURED", "plugin_opt_telegraphy_token_secret is not set");
		return;
	}
	if(!bearer_ok(h, tg)){
		http_reply_error(h, 401, "UNAUTHORIZED", "Authorization: Bearer <telegraphy_token_secret> required");
		return;
	}
	if(h->body_len){
		char jerr[JSONUTIL_ERR_SIZE];
		body = jsonutil_parse(h->body, h->body_len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, jerr, sizeof(jerr));
		if(!body){
			http_reply_error(h, 400, "BAD_REQUEST", jerr);
			return;
		}
		user = json_string_value(json_object_get(body, "user"));
		if(!json_is_object(body) || (json_object_get(body, "user") && (!user || !topic_level_valid(user)))
				|| (json_object_get(body, "ttl") && (!json_is_number(json_object_get(body, "ttl"))
					|| json_number_value(json_object_get(body, "ttl")) <= 0
					|| json_number_value(json_object_get(body, "ttl")) > TELE_CFG(gw->cfg)->token_ttl))){
			json_decref(body);
			http_reply_error(h, 400, "BAD_REQUEST", "body: {\"user\": a name without '/', '+', '#', \"ttl\": seconds up to telegraphy_token_ttl}");
			return;
		}
		if(json_object_get(body, "ttl")) ttl = json_number_value(json_object_get(body, "ttl"));
	}
	if(tg->ntokens >= TOKENS_MAX){
		json_decref(body);
		http_reply_error(h, 503, "TOO_MANY_TOKENS", "too many tokens outstanding");
		return;
	}
	gw_random_id(token, sizeof(token), "", 24);
	t = calloc(1, sizeof(*t));
	if(!t || !(t->key = strdup(token)) || (user && !(t->user = strdup(user)))){
		if(t){
			free(t->key);
			free(t);
		}
		json_decref(body);
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return;
	}
	t->expires_s = gw_wall_ms() / 1000 + (int64_t)(ttl + 0.999);
	token_put(tg, t);
	json_decref(body);
	{
		json_t *o = json_pack("{s:s,s:I}", "auth_token", token, "expires_in", (json_int_t)(ttl + 0.999));
		http_reply(h, 200, o ? json_dumps(o, JSON_COMPACT) : NULL);
		json_decref(o);
	}
}

/* ---- gateway-wide: the registry ---- */

static void register_event(struct tg_gw *tg, const char *name, bool configured)
{
	struct tg_registered *e = NULL;
	HASH_FIND_STR(tg->events, name, e);
	if(e){
		e->configured = e->configured || configured;
		return;
	}
	e = calloc(1, sizeof(*e));
	if(!e || !(e->name = strdup(name))){
		free(e);
		return;
	}
	e->configured = configured;
	HASH_ADD_KEYPTR(hh, tg->events, e->name, strlen(e->name), e);
}

static void tele_core_up(struct wsgw_gw *gw)
{
	char *filter = topic_join(tg_of(gw)->registry, "#", (char *)NULL);
	if(!filter || core_subscribe(gw, filter)) LOG_E("cannot subscribe the Telegraphy event registry");
	free(filter);
}

static bool tele_core_message(struct wsgw_gw *gw, const struct wsgw_msg *msg)
{
	struct tg_gw *tg = tg_of(gw);
	size_t rlen = strlen(tg->registry);
	struct tg_registered *e = NULL;
	char *name;

	if(strncmp(msg->topic, tg->registry, rlen) || msg->topic[rlen] != '/') return false;
	name = tele_event_name(msg->topic + rlen + 1);
	if(!name) return true;
	if(msg->payloadlen > 0){
		register_event(tg, name, false);
	}else{
		HASH_FIND_STR(tg->events, name, e);
		if(e && !e->configured){
			HASH_DEL(tg->events, e);
			free(e->name);
			free(e);
		}
	}
	free(name);
	return true;
}

static void tele_gw_tick(struct wsgw_gw *gw, int64_t now)
{
	struct tg_gw *tg = tg_of(gw);
	struct tg_token *t, *ttmp;
	int64_t now_s = gw_wall_ms() / 1000;

	kit_store_expire(&tg->store, now);
	HASH_ITER(hh, tg->tokens, t, ttmp){
		if(now_s >= t->expires_s) token_free(tg, t);
	}
}

static int tele_gw_init(struct wsgw_gw *gw)
{
	const struct wsgw_config *cfg = gw->cfg;
	struct tg_gw *tg = calloc(1, sizeof(*tg));

	if(!tg) return -1;
	tg->store.free = tele_state_free;
	gw_dialect_set_state(gw, &wsgw_dialect_telegraphy, tg);
	tg->base = topic_join(cfg->topic_prefix, TELE_CFG(cfg)->root, (char *)NULL);
	tg->registry = topic_join(cfg->topic_prefix, "registry", TELE_CFG(cfg)->root, (char *)NULL);
	if(!tg->base || !tg->registry) return -1;
	if(TELE_CFG(cfg)->token_secret){
		tg->secret = (unsigned char *)strdup(TELE_CFG(cfg)->token_secret);
		tg->secret_len = strlen(TELE_CFG(cfg)->token_secret);
	}else if(TELE_CFG(cfg)->token_secret_file){
		tg->secret = gw_read_file(TELE_CFG(cfg)->token_secret_file, &tg->secret_len);
		while(tg->secret && tg->secret_len && (tg->secret[tg->secret_len-1] == '\n' || tg->secret[tg->secret_len-1] == '\r')){
			tg->secret[--tg->secret_len] = '\0';
		}
		if(!tg->secret || !tg->secret_len){
			LOG_E("plugin_opt_telegraphy_token_secret_file: cannot read %s",
					TELE_CFG(cfg)->token_secret_file);
			return -1;
		}
	}else if(TELE_CFG(cfg)->auth){
		LOG_W("Telegraphy has user authentication on but no "
				"plugin_opt_telegraphy_token_secret: every CONNECT will be refused");
	}
	tg->keys.hs256_secret = tg->secret;
	tg->keys.hs256_len = tg->secret_len;
	tg->keys.require_exp = true;
	tg->keys.leeway_s = (long)cfg->jwt_leeway;
	for(char **e = TELE_CFG(cfg)->events; e && *e; e++){
		bool w;
		char *path = tele_event_path(*e, &w);
		if(!path || w){
			free(path);
			LOG_E("plugin_opt_telegraphy_events: \"%s\" is not an event name", *e);
			return -1;
		}
		free(path);
		register_event(tg, *e, true);
	}
	return 0;
}

static void tele_gw_free(struct wsgw_gw *gw)
{
	struct tg_gw *tg = tg_of(gw);
	struct tg_token *t, *ttmp;
	struct tg_registered *e, *etmp;

	if(!tg) return;
	kit_store_free(&tg->store);
	HASH_ITER(hh, tg->tokens, t, ttmp) token_free(tg, t);
	HASH_ITER(hh, tg->events, e, etmp){
		HASH_DEL(tg->events, e);
		free(e->name);
		free(e);
	}
	if(tg->secret){
		OPENSSL_cleanse(tg->secret, tg->secret_len);
		free(tg->secret);
	}
	free(tg->base);
	free(tg->registry);
	free(tg);
}

/* The registry's entry (plugin/dialects.c); the protocol is docs/protocols/telegraphy.md. */
const struct wsgw_dialect wsgw_dialect_telegraphy = {
	.conf = &tele_conf, .name = "Telegraphy", .ws_filter = gw_filter_mount_root, .ws_open = tele_ws_open,
	.ws_text = tele_ws_text, .ws_error = tele_ws_error, .ws_tick = tele_ws_tick, .ws_close = tele_ws_close,
	.http = tele_http, .core_up = tele_core_up, .core_message = tele_core_message, .gw_tick = tele_gw_tick,
	.gw_init = tele_gw_init, .gw_free = tele_gw_free,
};
