/* The "op" pub/sub dialect (seed 000): connect with pluggable identity
 * providers, sub/unsub/pub with request ids, server pushes (mesg, pres), and
 * resume of a persistent broker session. Contract: docs/protocols/op-pubsub.md.
 * Parsing and topic names are in mapping/op_proto.c; this file binds them to
 * the core. */
#define LOG_TAG "op"
#include "kit.h"
#include "jsonutil.h"
#include "op_proto.h"
#include "topic.h"

#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OP_ID_LEN 16
#define REQUEST_TIMEOUT_MS 10000
#define CLOSE_RESUMED 4001

/* This dialect's options (mapping/op_proto.h) and its registry entry (at
 * the end of this file). */
#define OP_CFG(cfg) ((const struct op_config *)config_dialect((cfg), &op_conf)->opts)
extern const struct wsgw_dialect wsgw_dialect_op;

/* One subscription of a session, as the client named it. */
struct op_sub {
	struct op_sub *next;
	char *name;
	char *mqtt;             /* MQTT topic (plain subscriptions) */
	/* key: op_root/path; plain subscriptions: this session's presence
	 * entry there, on a slot of this gateway's */
	struct kit_presence pres;
	struct wsgw_gw *gw;
	struct op_state *st;
	bool presence;          /* "<topic>/presence": pres events, no MQTT subscription */
	bool watching;          /* presence: the snapshot went out, pres events follow */
};

/* What outlives the socket for resume: from connect until session_expiry
 * after the socket went. */
struct op_state {
	struct kit_resumable r;  /* first; attached: the op_client; password only for the "mqtt" provider */
	char *user_id, *user_name;
	struct op_sub *subs;
	int64_t since_ms;
};

/* A request waiting for the broker (SUBACK, PUBACK). */
struct op_pending {
	struct pending_req pr;   /* index: the topic's */
	struct op_client *c;
	enum op_kind op;
	json_t *id;
	json_t *topics;
	char *denied;           /* first topic the broker refused */
};

struct op_client {
	struct wsgw_session *s;        /* first (kit_client_new) */
	struct op_state *st;     /* set by connect/resume */
	bool ready;              /* CONNACK received */
	bool resuming;
	bool recovered;          /* resume found the state */
	json_t *hello_id;        /* id of the pending connect/resume */
	struct pending requests; /* waiting for SUBACKs, PUBACKs */
	int64_t connect_deadline_ms;
};

struct op_gw {
	struct kit_store store;   /* struct op_state */
};

static struct op_gw *state_of(struct wsgw_gw *gw)
{
	return gw_dialect_state(gw, &wsgw_dialect_op);
}

static void reply(struct op_client *c, char *text)
{
	session_send(c->s, text);
}

static void reply_error(struct op_client *c, const char *op, const json_t *id, int code, const char *message)
{
	reply(c, op_error(op, id, code, message));
}

static json_t *user_json(const struct op_state *st)
{
	return json_pack("{s:s,s:s}", "id", st->user_id, "name", st->user_name);
}

/* ---- subscriptions and presence entries ---- */

static void op_sub_free(struct op_sub *sub)
{
	/* Held while the session is (detached too: resume republishes it). An
	 * attached session has just sent the clear (unsub); a detached one sent
	 * it when its socket went, session_expiry (>= 1 s) ago. */
	kit_presence_release(sub->gw, &sub->pres, sub->st->r.attached ? CORE_SLOT_CLEARING : CORE_SLOT_CLEARED);
	free(sub->name);
	free(sub->mqtt);
	free(sub);
}

static struct op_sub *op_sub_find(struct op_state *st, const char *name)
{
	for(struct op_sub *sub = st->subs; sub; sub = sub->next){
		if(!strcmp(sub->name, name)) return sub;
	}
	return NULL;
}

static void sub_remove(struct op_state *st, struct op_sub *sub)
{
	for(struct op_sub **pp = &st->subs; *pp; pp = &(*pp)->next){
		if(*pp == sub){
			*pp = sub->next;
			op_sub_free(sub);
			return;
		}
	}
}

static void publish_member(struct op_client *c, struct op_sub *sub);

/* The entry was cleared under us (a late clear of the slot's last holder). */
static void op_heal(void *owner)
{
	struct op_sub *sub = owner;
	struct op_client *c = sub->st->r.attached;
	if(c && c->ready && link_is_up(session_link(c->s))) publish_member(c, sub);
}

static struct op_sub *sub_new(struct wsgw_gw *gw, struct op_state *st, const char *name)
{
	struct op_sub *sub = calloc(1, sizeof(*sub));
	char *path, *key = NULL;
	int rc = -1;

	if(!sub) return NULL;
	sub->gw = gw;
	sub->st = st;
	sub->pres.slot = -1;
	path = op_topic_path(name, st->user_id, &sub->presence);
	sub->name = strdup(name);
	if(path){
		key = topic_join(OP_CFG(gw->cfg)->root, path, (char *)NULL);
		sub->mqtt = topic_join(gw->cfg->topic_prefix, OP_CFG(gw->cfg)->root, path, (char *)NULL);
		/* Only plain subscriptions make this session a member. */
		if(key && !sub->presence) rc = kit_presence_take(gw, &sub->pres, key, op_heal, sub);
		else if(key) rc = (sub->pres.key = strdup(key)) ? 0 : -1;
	}
	free(path);
	free(key);
	if(rc || !sub->name || !sub->mqtt){
		op_sub_free(sub);
		return NULL;
	}
	return sub;
}

/* The retained entry that makes this session a member of sub's topic. */
static void publish_member(struct op_client *c, struct op_sub *sub)
{
	struct wsgw_gw *gw = session_gw(c->s);
	char *text = kit_presence_entry(gw, c->st->r.client_id, user_json(c->st), c->st->since_ms);

	kit_presence_publish(gw, &sub->pres, session_link(c->s), text);
	free(text);
}

static void clear_member(struct op_client *c, struct op_sub *sub)
{
	kit_presence_clear(&sub->pres, session_link(c->s));
}

/* Tells the client who is in sub's topic now (the seed defines only join and
 * leave: current members come as joins). */
static void send_members(struct op_client *c, struct op_sub *sub)
{
	const struct mirror_member **all;
	size_t n;
	char *plain = strndup(sub->name, strlen(sub->name) - strlen("/presence"));

	if(!plain || kit_members(session_gw(c->s), sub->pres.key, &all, &n)){
		free(plain);
		return;
	}
	for(size_t i = 0; i < n; i++){
		char id[32];
		if(!strcmp(all[i]->id, c->st->r.client_id)) continue;
		gw_random_id(id, sizeof(id), "pres-", OP_ID_LEN);
		reply(c, op_pres("join", id, plain, json_loads(all[i]->presence, 0, NULL)));
	}
	free(all);
	free(plain);
}

/* After the reply to a sub: its new presence topics get the current members
 * (from the mirror as it is now), then live pres events. */
static void start_watching(struct op_client *c, const struct op_pending *p)
{
	size_t i;
	json_t *t;

	if(!c->st) return;
	json_array_foreach(p->topics, i, t){
		struct op_sub *sub = op_sub_find(c->st, json_string_value(t));
		if(!sub || !sub->presence || sub->watching) continue;
		sub->watching = true;
		session_watch(c->s, sub->pres.key);
		send_members(c, sub);
	}
}

/* ---- pending requests ---- */

static void op_pending_free(struct op_pending *p)
{
	json_decref(p->id);
	json_decref(p->topics);
	free(p->denied);
	free(p);
}

static void pending_answer(struct op_client *c, struct op_pending *p, bool timed_out)
{
	const char *op = p->op == OP_SUB ? "sub" : p->op == OP_UNSUB ? "unsub" : "pub";

	if(timed_out){
		reply_error(c, op, p->id, OP_E_UNAVAILABLE, "the broker did not answer in time");
	}else if(p->denied){
		char msg[OP_TOPIC_NAME_MAX + 64];
		snprintf(msg, sizeof(msg), "the broker refused topic %s (ACL)", p->denied);
		reply_error(c, op, p->id, OP_E_FORBIDDEN, msg);
	}else if(p->op == OP_SUB){
		reply(c, op_success(op, p->id, json_pack("{s:O,s:o}", "topics", p->topics, "user", user_json(c->st))));
	}else if(p->op == OP_UNSUB){
		reply(c, op_success(op, p->id, json_pack("{s:O}", "topics", p->topics)));
	}else{
		reply(c, op_success(op, p->id, NULL));
	}
	if(p->op == OP_SUB) start_watching(c, p);
}

static void pending_done(struct pending_req *r, size_t index, int reason);

static void pending_expired(struct pending_req *r)
{
	struct op_pending *p = lws_container_of(r, struct op_pending, pr);
	pending_answer(p->c, p, true);
	op_pending_free(p);
}

static void op_pending_drop(struct pending_req *r)
{
	op_pending_free(lws_container_of(r, struct op_pending, pr));
}

static struct op_pending *pending_new(struct op_client *c, const struct op_request *r)
{
	struct op_pending *p = calloc(1, sizeof(*p));
	if(!p) return NULL;
	p->c = c;
	p->op = r->op;
	p->id = r->id ? json_incref(r->id) : NULL;
	p->topics = json_incref(r->topics);
	pendtab_add(&c->requests, &p->pr, gw_now_ms() + REQUEST_TIMEOUT_MS, pending_done, pending_expired);
	return p;
}

/* Answers p if nothing is outstanding any more. */
static void op_pending_settle(struct op_client *c, struct op_pending *p)
{
	if(p->pr.nmids) return;
	pendtab_remove(&c->requests, &p->pr);
	pending_answer(c, p, false);
	op_pending_free(p);
}

/* The broker's answer for topic i of the request. */
static void pending_done(struct pending_req *r, size_t i, int reason)
{
	struct op_pending *p = lws_container_of(r, struct op_pending, pr);
	struct op_client *c = p->c;
	bool refused = reason >= 0x80;

	if(refused && !p->denied) p->denied = strdup(json_string_value(json_array_get(p->topics, i)));
	if(refused && p->op == OP_SUB && c->st){
		struct op_sub *sub = op_sub_find(c->st, json_string_value(json_array_get(p->topics, i)));
		if(sub){
			clear_member(c, sub);
			sub_remove(c->st, sub);
		}
	}
	op_pending_settle(c, p);
}

/* ---- session state ---- */

/* The store's free: what kit_resumable does not hold. */
static void op_state_free(struct kit_resumable *r)
{
	struct op_state *st = (struct op_state *)r;
	while(st->subs) sub_remove(st, st->subs);
	free(st->user_id);
	free(st->user_name);
	free(st);
}

/* ---- link callbacks ---- */

static void op_hello_failed(struct op_client *c, int code, const char *message)
{
	reply_error(c, c->resuming ? "resume" : "connect", c->hello_id, code, message);
	json_decref(c->hello_id);
	c->hello_id = NULL;
	if(c->st){
		kit_store_detach(session_gw(c->s), &state_of(session_gw(c->s))->store, &c->st->r, c->resuming);
		c->st = NULL;
	}
	c->resuming = false;
}

static void op_resubscribe(struct op_client *c)
{
	for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
		if(!sub->presence) link_subscribe(session_link(c->s), NULL, sub->mqtt, 1);
	}
}

static void op_on_connected(void *ud, int rc, bool session_present)
{
	struct op_client *c = ud;
	struct wsgw_gw *gw = session_gw(c->s);
	json_t *extra;
	char *token;

	if(!c->st) return;
	if(rc){
		/* This link is over (the kit keeps it apart); a retry on the socket
		 * opens another one. */
		struct kit_refusal o;
		kit_refusal(rc, &o);
		op_hello_failed(c, o.r.denied ? OP_E_UNAUTHORIZED : OP_E_UNAVAILABLE, o.r.denied ? "Unauthorized" : o.message);
		return;
	}
	c->ready = true;
	token = kit_store_token(gw, &c->st->r, NULL);
	if(!token){
		op_hello_failed(c, OP_E_UNAVAILABLE, "out of memory");
		return;
	}
	if(c->resuming){
		json_t *topics = json_array();
		bool complete = c->recovered && session_present;
		/* The broker lost the session (expired, or restarted without
		 * persistence): subscriptions come back, messages in between do not. */
		if(!session_present) op_resubscribe(c);
		for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
			json_array_append_new(topics, json_string(sub->name));
			if(sub->presence){
				sub->watching = true;
				session_watch(c->s, sub->pres.key);
			}else{
				publish_member(c, sub);
			}
		}
		extra = json_pack("{s:s,s:o,s:o,s:b}", "session", token, "user", user_json(c->st),
				"topics", topics, "recovered", complete);
		reply(c, op_success("resume", c->hello_id, extra));
	}else{
		extra = json_pack("{s:s,s:o}", "session", token, "user", user_json(c->st));
		reply(c, op_success("connect", c->hello_id, extra));
	}
	free(token);
	json_decref(c->hello_id);
	c->hello_id = NULL;
}

static void op_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct op_client *c = ud;
	pendtab_answer(&c->requests, mid, count < 1 ? 0x80 : granted[0]);
}

static void op_on_published(void *ud, int mid, int reason)
{
	struct op_client *c = ud;
	pendtab_answer(&c->requests, mid, reason);
}

struct sender {
	json_t *sender;
	char *id;
};

static void sender_prop(void *ud, const char *name, const char *value)
{
	struct sender *x = ud;
	if(!strcmp(name, "sender_id") || !strcmp(name, "sender_name")){
		if(!x->sender) x->sender = json_object();
		json_object_set_new(x->sender, name + 7, json_string(value));
	}else if(!strcmp(name, "id") && strlen(value) < 64){
		strcpy(x->id, value);
	}
}

static json_t *sender_of(const struct mqttw_props *props, char id_out[64])
{
	struct sender x = {NULL, id_out};
	id_out[0] = '\0';
	kit_user_props(props, sender_prop, &x);
	return x.sender;
}

static void op_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct op_client *c = ud;
	char id[64];
	json_t *data, *sender;

	if(!c->st) return;
	for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
		if(sub->presence || strcmp(sub->mqtt, msg->topic)) continue;
		data = kit_payload_json(msg, "");
		if(!data) return;
		sender = sender_of(&msg->props, id);
		if(!id[0]) gw_random_id(id, sizeof(id), "mesg-", OP_ID_LEN);
		reply(c, op_mesg(id, sub->name, data, sender));
		return;
	}
}

/* The broker session ended before its CONNACK (after it, the kit reports
 * it: "session" 503 after the core's grace, or SHUTDOWN if the broker is
 * stopping). */
static void op_on_hello_lost(void *ud, int rc)
{
	struct op_client *c = ud;
	struct kit_refusal o;

	(void)rc;
	kit_refusal(REFUSAL_LOST, &o);
	if(c->hello_id) op_hello_failed(c, OP_E_UNAVAILABLE, o.message);
}

static const struct wsgw_link_ops client_ops = {
	.connected = op_on_connected, .message = op_on_message, .subscribed = op_on_subscribed,
	.published = op_on_published, .lost = op_on_hello_lost,
};

static int op_open_link(struct op_client *c, bool clean)
{
	return kit_store_open_link(c->s, &c->st->r, clean, &client_ops, c);
}

/* ---- requests ---- */

/* The verifier a provider name is bound to: "none", "jwt", "mqtt" or NULL. */
static const char *provider_kind(const struct wsgw_config *cfg, const char *name)
{
	for(size_t i = 0; OP_CFG(cfg)->provider_names && OP_CFG(cfg)->provider_names[i]; i++){
		if(!strcmp(OP_CFG(cfg)->provider_names[i], name)) return OP_CFG(cfg)->provider_kinds[i];
	}
	if(!strcmp(name, "jwt") || !strcmp(name, "mqtt") || !strcmp(name, "none")) return name;
	return NULL;
}

static void op_do_connect(struct op_client *c, const struct op_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	const char *kind = provider_kind(gw->cfg, r->provider);
	struct op_state *st;
	struct jwtauth_identity id = {0};
	const char *why = NULL;

	if(!kind){
		reply_error(c, "connect", r->id, OP_E_UNAUTHORIZED, "unknown provider");
		return;
	}
	st = calloc(1, sizeof(*st));
	if(!st){
		reply_error(c, "connect", r->id, OP_E_UNAVAILABLE, "out of memory");
		return;
	}
	st->since_ms = gw_wall_ms();
	if(!strcmp(kind, "none")){
		char anon[32];
		if(!OP_CFG(gw->cfg)->anonymous){
			why = "anonymous access is off (plugin_opt_op_anonymous)";
			goto refused;
		}
		gw_random_id(anon, sizeof(anon), "anon-", 8);
		st->user_id = strdup(anon);
		st->user_name = strdup("anonymous");
		st->r.username = strdup(OP_CFG(gw->cfg)->username);
	}else if(!strcmp(kind, "jwt")){
		if(gw_jwt_verify(gw, r->access_token, &id, &why)) goto refused;
		st->user_id = id.sub;
		st->user_name = id.name;
		st->r.username = strdup(id.sub);
		id.sub = id.name = NULL;
	}else{   /* mqtt: the broker's own auth decides */
		if(!r->username || !topic_level_valid(r->username) || !r->access_token){
			why = "the mqtt provider needs auth.username and auth.access_token";
			goto refused;
		}
		st->user_id = strdup(r->username);
		st->user_name = strdup(r->username);
		st->r.username = strdup(r->username);
		st->r.password = strdup(r->access_token);
		if(!st->r.password) goto refused;
	}
	if(!st->user_id || !st->user_name || !st->r.username){
		why = "out of memory";
		goto refused;
	}
	if(!strcmp(st->r.username, gw->cfg->core_username)){
		why = "that user name is reserved";
		goto refused;
	}
	kit_store_add(&state_of(gw)->store, &st->r, OP_MEMBER_PREFIX, c);
	c->st = st;
	c->resuming = false;
	c->hello_id = r->id ? json_incref(r->id) : NULL;
	if(op_open_link(c, false)) op_hello_failed(c, OP_E_UNAVAILABLE, "cannot reach the broker");
	return;

refused:
	LOG_N("op connect refused (%s): %s", r->provider, why ? why : "");
	jwtauth_identity_clear(&id);
	kit_resumable_free(&state_of(gw)->store, &st->r);
	reply_error(c, "connect", r->id, OP_E_UNAUTHORIZED, "Unauthorized");
}

static void do_resume(struct op_client *c, const struct op_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	const char *err;
	struct op_state *st = (struct op_state *)kit_store_resolve(gw, &state_of(gw)->store, r->session, NULL, &err);
	struct op_client *old;

	if(!st){
		reply_error(c, "resume", r->id, !strcmp(err, "EXPIRED") || !strcmp(err, "GONE") ? OP_E_GONE : OP_E_UNAUTHORIZED,
				!strcmp(err, "EXPIRED") ? "the session has expired; connect again"
				: !strcmp(err, "GONE") ? "this gateway no longer holds the session (expired or restarted); connect again"
				: "invalid session");
		return;
	}
	old = kit_store_attach(&st->r, c);
	if(old){
		/* Resumed from another socket: that one is over. Its broker session
		 * is handed over, not ended, and its presence stays for the new one. */
		reply_error(old, "session", NULL, OP_E_CONFLICT, "the session was resumed elsewhere");
		kit_link_end(old->s, false);
		old->st = NULL;
		session_close(old->s, CLOSE_RESUMED, "RESUMED_ELSEWHERE");
	}
	c->st = st;
	c->resuming = true;
	c->recovered = true;
	c->hello_id = r->id ? json_incref(r->id) : NULL;
	if(op_open_link(c, false)) op_hello_failed(c, OP_E_UNAVAILABLE, "cannot reach the broker");
}

/* Subscriptions the session would hold after subscribing to r's topics. */
static size_t subs_after(const struct op_state *st, const struct op_request *r)
{
	size_t n = 0, i, k;
	json_t *t;

	for(const struct op_sub *sub = st->subs; sub; sub = sub->next) n++;
	json_array_foreach(r->topics, i, t){
		const char *name = json_string_value(t);
		bool seen = op_sub_find((struct op_state *)st, name) != NULL;
		for(k = 0; k < i && !seen; k++) seen = !strcmp(json_string_value(json_array_get(r->topics, k)), name);
		n += !seen;
	}
	return n;
}

static void do_sub(struct op_client *c, const struct op_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct op_pending *p;
	size_t i;
	json_t *t;

	/* Each topic costs the broker a retain-tree node for good (the presence
	 * entry's level): a session holds at most max_subscriptions. */
	if(subs_after(c->st, r) > (size_t)gw->cfg->max_subscriptions){
		char msg[128];
		snprintf(msg, sizeof(msg), "a session holds at most %d subscriptions (max_subscriptions); unsubscribe first",
				gw->cfg->max_subscriptions);
		reply_error(c, "sub", r->id, OP_E_TOO_MANY, msg);
		return;
	}
	p = pending_new(c, r);
	if(!p){
		reply_error(c, "sub", r->id, OP_E_UNAVAILABLE, "out of memory");
		return;
	}
	json_array_foreach(r->topics, i, t){
		const char *name = json_string_value(t);
		struct op_sub *sub = op_sub_find(c->st, name);
		if(sub) continue;   /* already subscribed: a no-op */
		sub = sub_new(gw, c->st, name);
		if(!sub){
			/* out of memory, or a "me" the user id cannot stand for
			 * (op_topic_path): refused, as a pub to it is */
			if(!p->denied) p->denied = strdup(name);
			continue;
		}
		sub->next = c->st->subs;
		c->st->subs = sub;
		if(sub->presence) continue;   /* watched after the reply: start_watching */
		int mid = 0;
		if(link_subscribe(session_link(c->s), &mid, sub->mqtt, 1) == 0
				&& !pendtab_await(&c->requests, &p->pr, mid, i)){
			publish_member(c, sub);
		}else if(!p->denied){
			p->denied = strdup(name);
		}
	}
	op_pending_settle(c, p);
}

static void do_unsub(struct op_client *c, const struct op_request *r)
{
	size_t i;
	json_t *t;

	json_array_foreach(r->topics, i, t){
		struct op_sub *sub = op_sub_find(c->st, json_string_value(t));
		if(!sub) continue;
		if(sub->presence){
			bool other = false;
			for(struct op_sub *o = c->st->subs; o; o = o->next){
				other = other || (o != sub && o->presence && o->watching && !strcmp(o->pres.key, sub->pres.key));
			}
			if(!other) session_unwatch(c->s, sub->pres.key);
		}else{
			link_unsubscribe(session_link(c->s), sub->mqtt);
			clear_member(c, sub);
		}
		sub_remove(c->st, sub);
	}
	reply(c, op_success("unsub", r->id, json_pack("{s:O}", "topics", r->topics)));
}

static void do_pub(struct op_client *c, const struct op_request *r)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct op_pending *p;
	struct mqttw_prop props[3];
	char *text, id[32];
	size_t i;
	json_t *t;

	json_array_foreach(r->topics, i, t){
		bool presence;
		char *path = op_topic_path(json_string_value(t), c->st->user_id, &presence);
		free(path);
		if(presence){
			reply_error(c, "pub", r->id, OP_E_BAD_REQUEST, "presence topics cannot be published to");
			return;
		}
	}
	text = jsonutil_dump(r->data);
	p = text ? pending_new(c, r) : NULL;
	gw_random_id(id, sizeof(id), "mesg-", OP_ID_LEN);
	/* The sender is stamped from the authenticated user: clients cannot set it.
	 * Mosquitto drops a session whose user property has a control character
	 * (a token's name may): such a pub is refused instead. */
	props[0] = mqttw_prop_user("id", id);
	props[1] = mqttw_prop_user("sender_id", c->st->user_id);
	props[2] = mqttw_prop_user("sender_name", c->st->user_name);
	if(!p || !jsonutil_topic_text_ok(c->st->user_id, props[1].data_len)
			|| !jsonutil_topic_text_ok(c->st->user_name, props[2].data_len)){
		reply_error(c, "pub", r->id, OP_E_UNAVAILABLE, p ? "the user's id or name cannot go to the broker "
				"(control characters)" : "out of memory");
		if(p){
			pendtab_remove(&c->requests, &p->pr);
			op_pending_free(p);
		}
		goto out;
	}
	json_array_foreach(r->topics, i, t){
		bool presence;
		char *path = op_topic_path(json_string_value(t), c->st->user_id, &presence);
		char *topic = path ? topic_join(gw->cfg->topic_prefix, OP_CFG(gw->cfg)->root, path, (char *)NULL) : NULL;
		int mid = 0;
		if(!topic || link_publish(session_link(c->s), &mid, topic, text, strlen(text), 1, false, props, 3) != 0
				|| pendtab_await(&c->requests, &p->pr, mid, i)){
			if(!p->denied) p->denied = strdup(json_string_value(t));
		}
		free(topic);
		free(path);
	}
	op_pending_settle(c, p);
out:
	free(text);
}

/* ---- dialect ops ---- */

static int op_ws_open(struct wsgw_session *s, const char *route)
{
	struct op_client *c = kit_client_new(s, sizeof(*c));
	(void)route;
	if(!c) return -1;
	c->connect_deadline_ms = gw_now_ms() + (int64_t)(session_gw(s)->cfg->handshake_timeout * 1000);
	return 0;
}

static void op_ws_text(struct wsgw_session *s, const char *buf, size_t len)
{
	struct op_client *c = session_priv(s);
	struct op_request r;
	const char *msg = NULL;
	int code;

	code = op_parse(buf, len, &r, &msg);
	if(code){
		reply_error(c, r.op_name, r.id, code, msg);
		op_request_clear(&r);
		return;
	}
	if(r.op == OP_CONNECT || r.op == OP_RESUME){
		if(c->st) reply_error(c, r.op_name, r.id, OP_E_CONFLICT, "already connected");
		else if(r.op == OP_CONNECT) op_do_connect(c, &r);
		else do_resume(c, &r);
	}else if(!c->st || !c->ready){
		reply_error(c, r.op_name, r.id, OP_E_UNAUTHORIZED, "connect (and wait for its success) first");
	}else if(!session_link(c->s)){
		reply_error(c, r.op_name, r.id, OP_E_UNAVAILABLE, "the broker session was lost");
	}else if(r.op == OP_SUB){
		do_sub(c, &r);
	}else if(r.op == OP_UNSUB){
		do_unsub(c, &r);
	}else{
		do_pub(c, &r);
	}
	op_request_clear(&r);
}

static void op_ws_error(struct wsgw_session *s, const char *code, const char *message)
{
	struct op_client *c = session_priv(s);
	int status = !strcmp(code, "RATE_LIMITED") ? OP_E_TOO_MANY
		: !strcmp(code, "FRAME_TOO_LARGE") ? 413
		: !strcmp(code, "SHUTDOWN") || !strcmp(code, "IDLE_TIMEOUT") ? OP_E_UNAVAILABLE : OP_E_BAD_REQUEST;
	char msg[160];
	if(!c) return;
	if(!strcmp(code, "BROKER_UNAVAILABLE")){
		reply_error(c, "session", NULL, OP_E_UNAVAILABLE, "the broker session was lost");
		return;
	}
	snprintf(msg, sizeof(msg), "%s: %s", code, message);
	reply_error(c, "error", NULL, status, msg);
}

static void op_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct op_client *c = session_priv(s);

	if(!c) return;
	if(!c->st && now >= c->connect_deadline_ms){
		reply_error(c, "connect", NULL, OP_E_UNAUTHORIZED, "no connect in time");
		session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "NO_CONNECT");
		return;
	}
	pendtab_sweep(&c->requests, now);
	if(c->ready && c->st && link_is_up(session_link(s))){
		for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
			if(!sub->presence && kit_presence_due(&sub->pres, now)) publish_member(c, sub);
		}
	}
}

static void op_ws_close(struct wsgw_session *s)
{
	struct op_client *c = session_priv(s);

	if(!c) return;
	pendtab_clear(&c->requests, NULL, op_pending_drop);
	if(c->st){
		/* Leaving: the member entries go now; the broker session stays for
		 * resume (normal DISCONNECT), and so does the state here. */
		if(link_is_up(session_link(s))){
			for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
				if(!sub->presence) clear_member(c, sub);
			}
		}
		kit_store_detach(session_gw(s), &state_of(session_gw(s))->store, &c->st->r, c->ready || c->resuming);
	}
	json_decref(c->hello_id);
	free(c);
	session_set_priv(s, NULL);
}

static void op_on_presence(struct wsgw_session *s, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct op_client *c = session_priv(s);
	char id[32];

	if(!c || !c->st || !c->ready || ev == WSGW_PRESENCE_UPDATED || !strcmp(m->id, c->st->r.client_id)) return;
	for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
		if(sub->presence && sub->watching && !strcmp(sub->pres.key, key)){
			size_t tlen = strlen(sub->name) - strlen("/presence");
			char *plain = strndup(sub->name, tlen);
			gw_random_id(id, sizeof(id), "pres-", OP_ID_LEN);
			if(plain) reply(c, op_pres(ev == WSGW_PRESENCE_JOINED ? "join" : "leave", id, plain,
					json_loads(m->presence, 0, NULL)));
			free(plain);
			return;
		}
	}
}

static void op_gw_tick(struct wsgw_gw *gw, int64_t now)
{
	kit_store_expire(&state_of(gw)->store, now);
}

static int op_gw_init(struct wsgw_gw *gw)
{
	struct op_gw *og = calloc(1, sizeof(*og));
	if(!og) return -1;
	og->store.free = op_state_free;
	gw_dialect_set_state(gw, &wsgw_dialect_op, og);
	return 0;
}

static void op_gw_free(struct wsgw_gw *gw)
{
	struct op_gw *og = state_of(gw);
	if(!og) return;
	kit_store_free(&og->store);
	free(og);
}

/* The registry's entry (plugin/dialects.c); the protocol is docs/protocols/op-pubsub.md. */
const struct wsgw_dialect wsgw_dialect_op = {
	.conf = &op_conf, .name = "op", .ws_filter = gw_filter_mount_root, .ws_open = op_ws_open,
	.ws_text = op_ws_text, .ws_error = op_ws_error, .ws_tick = op_ws_tick, .ws_close = op_ws_close,
	.presence = op_on_presence, .gw_tick = op_gw_tick, .gw_init = op_gw_init, .gw_free = op_gw_free,
};
