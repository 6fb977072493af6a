/* The "op" pub/sub dialect (seed 000): connect with pluggable identity
 * providers, sub/unsub/pub with request ids, server pushes (mesg, pres), and
 * resume of a persistent broker session. Contract: docs/protocols/op-pubsub.md.
 * Parsing and topic names are in mapping/op_proto.c; this file binds them to
 * the core. */
#define LOG_TAG "op"
#include "wsgw.h"
#include "jsonutil.h"
#include "op_proto.h"
#include "stoken.h"
#include "topic.h"

#include <math.h>
#include <mosquitto_broker.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define OP_ID_LEN 16
#define CLIENT_ID_SIZE (sizeof(OP_MEMBER_PREFIX) + OP_ID_LEN)   /* prefix + id + NUL */
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
	char *key;              /* presence key: op_root/path */
	char *member_topic;     /* this session's presence entry (plain subscriptions): */
	int slot;               /* on this gateway's slot `slot` of key, or -1 */
	struct wsgw_gw *gw;
	struct op_state *st;
	bool presence;          /* "<topic>/presence": pres events, no MQTT subscription */
	bool watching;          /* presence: the snapshot went out, pres events follow */
};

/* What outlives the socket for resume: from connect until session_expiry
 * after the socket went. */
struct op_state {
	UT_hash_handle hh;
	char client_id[CLIENT_ID_SIZE];
	char *user_id, *user_name;
	char *username, *password;   /* MQTT credentials; password only for the "mqtt" provider */
	struct op_sub *subs;
	struct op_client *attached;
	int64_t expires_ms;
	int64_t since_ms;
};

/* A request waiting for the broker (SUBACK, PUBACK). */
struct op_pending {
	struct op_pending *next;
	enum op_kind op;
	json_t *id;
	json_t *topics;
	int *mids;
	size_t nmids;
	char *denied;           /* first topic the broker refused */
	int64_t deadline_ms;
};

struct op_client {
	struct wsgw_session *s;
	struct op_state *st;     /* set by connect/resume */
	bool ready;              /* CONNACK received */
	bool resuming;
	bool recovered;          /* resume found the state */
	json_t *hello_id;        /* id of the pending connect/resume */
	/* The link of a connect/resume the broker refused (CONNACK with an error):
	 * it cannot be closed inside its own callback, and its `lost` must not be
	 * taken for the link of a retry. Closed by the next connect/resume, by
	 * its `lost`, or with the socket. s->link is NULL while this is set. */
	struct wsgw_link *refused_link;
	struct op_pending *pending;
	int64_t connect_deadline_ms;
	int64_t next_refresh_ms;
};

struct op_gw {
	struct op_state *states;  /* by client id */
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
	if(sub->key) core_slot_release(sub->gw, sub->key, sub->slot,
			sub->st->attached ? CORE_SLOT_CLEARING : CORE_SLOT_CLEARED);
	free(sub->name);
	free(sub->mqtt);
	free(sub->key);
	free(sub->member_topic);
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
	struct op_client *c = sub->st->attached;
	if(c && c->ready && link_is_up(c->s->link)) publish_member(c, sub);
}

static struct op_sub *sub_new(struct wsgw_gw *gw, struct op_state *st, const char *name)
{
	struct op_sub *sub = calloc(1, sizeof(*sub));
	char slot[CORE_SLOT_SIZE];
	char *path;

	if(!sub) return NULL;
	sub->gw = gw;
	sub->st = st;
	sub->slot = -1;
	path = op_topic_path(name, st->user_id, &sub->presence);
	sub->name = strdup(name);
	if(path){
		sub->key = topic_join(OP_CFG(gw->cfg)->root, path, (char *)NULL);
		sub->mqtt = topic_join(gw->cfg->topic_prefix, OP_CFG(gw->cfg)->root, path, (char *)NULL);
		/* Only plain subscriptions make this session a member. */
		if(sub->key && !sub->presence && (sub->slot = core_slot_take(gw, sub->key, slot, op_heal, sub)) >= 0){
			sub->member_topic = topic_join(gw->cfg->presence_prefix, sub->key, slot, (char *)NULL);
		}else if(sub->presence){
			sub->member_topic = strdup("");
		}
	}
	free(path);
	if(!sub->name || !sub->key || !sub->mqtt || !sub->member_topic){
		op_sub_free(sub);
		return NULL;
	}
	return sub;
}

/* The retained entry that makes this session a member of sub's topic. */
static void publish_member(struct op_client *c, struct op_sub *sub)
{
	struct wsgw_gw *gw = c->s->gw;
	struct mqttw_prop expiry = { .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = (uint32_t)ceil(gw->cfg->presence_ttl) };
	json_t *o = json_pack("{s:s,s:o,s:s,s:s,s:I}", "clientID", c->st->client_id, "presence", user_json(c->st),
			"gateway", gw->cfg->gateway_id, "boot", gw->boot_id, "since", (json_int_t)c->st->since_ms);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if(!text || !c->s->link) goto out;
	link_publish(c->s->link, NULL, sub->member_topic, text, strlen(text), 1, true, &expiry, 1);
out:
	free(text);
}

static void clear_member(struct op_client *c, struct op_sub *sub)
{
	if(c->s->link) link_publish(c->s->link, NULL, sub->member_topic, NULL, 0, 0, true, NULL, 0);
}

/* Tells the client who is in sub's topic now (the seed defines only join and
 * leave: current members come as joins). */
static void send_members(struct op_client *c, struct op_sub *sub)
{
	struct mirror_channel *ch = mirror_channel_find(&c->s->gw->mirror, sub->key);
	struct mirror_member *m, *tmp;
	const char *topic = sub->name;
	size_t tlen = strlen(topic) - strlen("/presence");
	char *plain = strndup(topic, tlen);

	if(!ch || !plain){
		free(plain);
		return;
	}
	HASH_ITER(hh, ch->members, m, tmp){
		char id[32];
		if(!strcmp(m->id, c->st->client_id)) continue;
		gw_random_id(id, sizeof(id), "pres-", OP_ID_LEN);
		reply(c, op_pres("join", id, plain, json_loads(m->presence, 0, NULL)));
	}
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
		session_watch(c->s, sub->key);
		send_members(c, sub);
	}
}

/* ---- pending requests ---- */

static void op_pending_free(struct op_pending *p)
{
	json_decref(p->id);
	json_decref(p->topics);
	free(p->mids);
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

static void op_pending_unlink(struct op_client *c, struct op_pending *p)
{
	for(struct op_pending **pp = &c->pending; *pp; pp = &(*pp)->next){
		if(*pp == p){
			*pp = p->next;
			return;
		}
	}
}

static struct op_pending *pending_new(struct op_client *c, const struct op_request *r)
{
	struct op_pending *p = calloc(1, sizeof(*p));
	if(!p) return NULL;
	p->op = r->op;
	p->id = r->id ? json_incref(r->id) : NULL;
	p->topics = json_incref(r->topics);
	p->mids = calloc(json_array_size(r->topics) + 1, sizeof(int));
	if(!p->mids){
		op_pending_free(p);
		return NULL;
	}
	p->deadline_ms = gw_now_ms() + REQUEST_TIMEOUT_MS;
	p->next = c->pending;
	c->pending = p;
	return p;
}

/* Answers p if nothing is outstanding any more. */
static void op_pending_settle(struct op_client *c, struct op_pending *p)
{
	if(p->nmids) return;
	op_pending_unlink(c, p);
	pending_answer(c, p, false);
	op_pending_free(p);
}

/* A broker answer for mid: the index of the topic it was for. */
static struct op_pending *pending_for_mid(struct op_client *c, int mid, size_t *topic_index)
{
	for(struct op_pending *p = c->pending; p; p = p->next){
		for(size_t i = 0; i < json_array_size(p->topics); i++){
			if(p->mids[i] == mid){
				*topic_index = i;
				return p;
			}
		}
	}
	return NULL;
}

static void pending_done_mid(struct op_client *c, struct op_pending *p, size_t i, bool refused)
{
	p->mids[i] = 0;
	p->nmids--;
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

static void op_state_free(struct op_state *st)
{
	struct op_sub *sub, *next;
	for(sub = st->subs; sub; sub = next){
		next = sub->next;
		op_sub_free(sub);
	}
	free(st->user_id);
	free(st->user_name);
	free(st->username);
	if(st->password){
		OPENSSL_cleanse(st->password, strlen(st->password));
		free(st->password);
	}
	free(st);
}

static void op_state_drop(struct wsgw_gw *gw, struct op_state *st)
{
	HASH_DEL(state_of(gw)->states, st);
	op_state_free(st);
}

static char *make_token(struct wsgw_gw *gw, const struct op_state *st)
{
	int64_t exp = gw_wall_ms() / 1000 + (int64_t)gw->cfg->session_expiry;
	return stoken_make(gw->session_secret, st->client_id, exp, NULL);
}

/* ---- link callbacks ---- */

static void op_hello_failed(struct op_client *c, int code, const char *message)
{
	reply_error(c, c->resuming ? "resume" : "connect", c->hello_id, code, message);
	json_decref(c->hello_id);
	c->hello_id = NULL;
	if(c->st){
		c->st->attached = NULL;
		if(!c->resuming) op_state_drop(c->s->gw, c->st);
		else c->st->expires_ms = gw_now_ms() + (int64_t)(c->s->gw->cfg->session_expiry * 1000);
		c->st = NULL;
	}
	c->resuming = false;
}

static void op_resubscribe(struct op_client *c)
{
	for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
		if(!sub->presence) link_subscribe(c->s->link, NULL, sub->mqtt, 1);
	}
}

static void op_on_connected(void *ud, int rc, bool session_present)
{
	struct op_client *c = ud;
	struct wsgw_gw *gw = c->s->gw;
	json_t *extra;
	char *token;

	if(!c->st) return;
	if(rc){
		/* This link is over; a retry on the socket opens another one. */
		c->refused_link = c->s->link;
		c->s->link = NULL;
		op_hello_failed(c, rc == MQTTW_RC_NOT_AUTHORIZED || rc == MQTTW_RC_BAD_USERNAME_OR_PASSWORD
				? OP_E_UNAUTHORIZED : OP_E_UNAVAILABLE,
				rc == MQTTW_RC_NOT_AUTHORIZED || rc == MQTTW_RC_BAD_USERNAME_OR_PASSWORD
				? "Unauthorized" : mqttw_reason_string((uint8_t)rc));
		return;
	}
	c->ready = true;
	token = make_token(gw, c->st);
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
				session_watch(c->s, sub->key);
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
	c->next_refresh_ms = gw_now_ms() + (int64_t)(gw->cfg->presence_ttl * 1000 / 3);
}

static void op_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct op_client *c = ud;
	size_t i;
	struct op_pending *p = pending_for_mid(c, mid, &i);
	if(p) pending_done_mid(c, p, i, count < 1 || granted[0] >= 0x80);
}

static void op_on_published(void *ud, int mid, int reason)
{
	struct op_client *c = ud;
	size_t i;
	struct op_pending *p = pending_for_mid(c, mid, &i);
	if(p) pending_done_mid(c, p, i, reason >= 0x80);
}

static json_t *sender_of(const struct mqttw_props *props, char id_out[64])
{
	static const char *const names[] = { "sender_id", "sender_name" };
	const uint8_t *value;
	size_t len;
	json_t *sender = NULL;

	id_out[0] = '\0';
	for(size_t i = 0; i < 2; i++){
		if(!mqttw_props_user(props, names[i], &value, &len)) continue;
		if(!sender) sender = json_object();
		json_object_set_new(sender, names[i] + 7, json_stringn((const char *)value, len));
	}
	if(mqttw_props_user(props, "id", &value, &len) && len < 64){
		memcpy(id_out, value, len);
		id_out[len] = '\0';
	}
	return sender;
}

static void op_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct op_client *c = ud;
	char id[64];
	json_t *data, *sender;

	if(!c->st) return;
	for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
		if(sub->presence || strcmp(sub->mqtt, msg->topic)) continue;
		data = jsonutil_from_payload(msg->payload, (size_t)msg->payloadlen);
		if(!data){
			LOG_N("dropped a non-UTF-8 payload on %s", msg->topic);
			return;
		}
		sender = sender_of(&msg->props, id);
		if(!id[0]) gw_random_id(id, sizeof(id), "mesg-", OP_ID_LEN);
		reply(c, op_mesg(id, sub->name, data, sender));
		return;
	}
}

static void op_on_lost(void *ud, int rc)
{
	struct op_client *c = ud;
	if(c->refused_link){
		/* the refused link (s->link is NULL): nothing else to do */
		link_close(c->refused_link, false);
		c->refused_link = NULL;
		return;
	}
	if(c->st && c->ready && !c->hello_id && !c->s->closing){
		/* "session" 503 (op_ws_error) after the core's grace, or SHUTDOWN if the
		 * broker is stopping: it drops every session just before that. */
		session_link_lost(c->s, rc);
		return;
	}
	link_close(c->s->link, false);
	c->s->link = NULL;
	if(c->hello_id){
		/* The broker closed before answering the CONNECT. */
		op_hello_failed(c, OP_E_UNAVAILABLE, "the broker closed the session");
		return;
	}
	/* After a refused connect there is nothing to lose: the client may retry. */
	(void)rc;
}

static const struct wsgw_link_ops client_ops = {
	.connected = op_on_connected,
	.message = op_on_message,
	.subscribed = op_on_subscribed,
	.published = op_on_published,
	.lost = op_on_lost,
};

static int op_open_link(struct op_client *c, bool clean)
{
	struct wsgw_link_params p;
	if(c->refused_link){
		link_close(c->refused_link, false);
		c->refused_link = NULL;
	}
	memset(&p, 0, sizeof(p));
	p.client_id = c->st->client_id;
	p.username = c->st->username;
	p.password = c->st->password;
	p.clean_start = clean;
	p.session_expiry = (uint32_t)c->s->gw->cfg->session_expiry;
	c->s->link = link_open(c->s->gw, &p, &client_ops, c);
	return c->s->link ? 0 : -1;
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
	struct wsgw_gw *gw = c->s->gw;
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
	gw_random_id(st->client_id, sizeof(st->client_id), OP_MEMBER_PREFIX, OP_ID_LEN);
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
		st->username = strdup(OP_CFG(gw->cfg)->username);
	}else if(!strcmp(kind, "jwt")){
		if(gw_jwt_verify(gw, r->access_token, &id, &why)) goto refused;
		st->user_id = id.sub;
		st->user_name = id.name;
		st->username = strdup(id.sub);
		id.sub = id.name = NULL;
	}else{   /* mqtt: the broker's own auth decides */
		if(!r->username || !topic_level_valid(r->username) || !r->access_token){
			why = "the mqtt provider needs auth.username and auth.access_token";
			goto refused;
		}
		st->user_id = strdup(r->username);
		st->user_name = strdup(r->username);
		st->username = strdup(r->username);
		st->password = strdup(r->access_token);
		if(!st->password) goto refused;
	}
	if(!st->user_id || !st->user_name || !st->username){
		why = "out of memory";
		goto refused;
	}
	if(!strcmp(st->username, gw->cfg->core_username)){
		why = "that user name is reserved";
		goto refused;
	}
	HASH_ADD_STR(state_of(gw)->states, client_id, st);
	st->attached = c;
	c->st = st;
	c->resuming = false;
	c->hello_id = r->id ? json_incref(r->id) : NULL;
	if(op_open_link(c, false)) op_hello_failed(c, OP_E_UNAVAILABLE, "cannot reach the broker");
	return;

refused:
	LOG_N("op connect refused (%s): %s", r->provider, why ? why : "");
	jwtauth_identity_clear(&id);
	op_state_free(st);
	reply_error(c, "connect", r->id, OP_E_UNAUTHORIZED, "Unauthorized");
}

static void do_resume(struct op_client *c, const struct op_request *r)
{
	struct wsgw_gw *gw = c->s->gw;
	char *client_id = NULL;
	const char *err = stoken_check(gw->session_secret, r->session, gw_wall_ms() / 1000, NULL, &client_id);
	struct op_state *st = NULL;

	if(err){
		reply_error(c, "resume", r->id, !strcmp(err, "EXPIRED") ? OP_E_GONE : OP_E_UNAUTHORIZED,
				!strcmp(err, "EXPIRED") ? "the session has expired; connect again" : "invalid session");
		return;
	}
	HASH_FIND_STR(state_of(gw)->states, client_id, st);
	free(client_id);
	if(!st){
		reply_error(c, "resume", r->id, OP_E_GONE,
				"this gateway no longer holds the session (expired or restarted); connect again");
		return;
	}
	if(st->attached){
		/* Resumed from another socket: that one is over. Its broker session
		 * is handed over, not ended, and its presence stays for the new one. */
		struct op_client *old = st->attached;
		reply_error(old, "session", NULL, OP_E_CONFLICT, "the session was resumed elsewhere");
		if(old->s->link){
			link_close(old->s->link, false);
			old->s->link = NULL;
		}
		old->st = NULL;
		session_close(old->s, CLOSE_RESUMED, "RESUMED_ELSEWHERE");
	}
	st->attached = c;
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
	struct wsgw_gw *gw = c->s->gw;
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
		if(!sub) continue;   /* validated by op_parse; only out of memory */
		sub->next = c->st->subs;
		c->st->subs = sub;
		if(sub->presence) continue;   /* watched after the reply: start_watching */
		if(link_subscribe(c->s->link, &p->mids[i], sub->mqtt, 1) == 0){
			p->nmids++;
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
				other = other || (o != sub && o->presence && o->watching && !strcmp(o->key, sub->key));
			}
			if(!other) session_unwatch(c->s, sub->key);
		}else{
			link_unsubscribe(c->s->link, sub->mqtt);
			clear_member(c, sub);
		}
		sub_remove(c->st, sub);
	}
	reply(c, op_success("unsub", r->id, json_pack("{s:O}", "topics", r->topics)));
}

static void do_pub(struct op_client *c, const struct op_request *r)
{
	struct wsgw_gw *gw = c->s->gw;
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
			op_pending_unlink(c, p);
			op_pending_free(p);
		}
		goto out;
	}
	json_array_foreach(r->topics, i, t){
		bool presence;
		char *path = op_topic_path(json_string_value(t), c->st->user_id, &presence);
		char *topic = path ? topic_join(gw->cfg->topic_prefix, OP_CFG(gw->cfg)->root, path, (char *)NULL) : NULL;
		if(topic && link_publish(c->s->link, &p->mids[i], topic, text, strlen(text), 1, false, props, 3) == 0){
			p->nmids++;
		}else if(!p->denied){
			p->denied = strdup(json_string_value(t));
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
	struct op_client *c = calloc(1, sizeof(*c));
	(void)route;
	if(!c) return -1;
	c->s = s;
	c->connect_deadline_ms = gw_now_ms() + (int64_t)(s->gw->cfg->handshake_timeout * 1000);
	s->priv = c;
	return 0;
}

static void op_ws_text(struct wsgw_session *s, const char *buf, size_t len)
{
	struct op_client *c = s->priv;
	struct op_request r;
	const char *msg = NULL;
	int code;

	if(!c) return;
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
	}else if(!c->s->link){
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
	struct op_client *c = s->priv;
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
	struct op_client *c = s->priv;
	struct op_pending *p, *next;

	if(!c) return;
	if(!c->st && now >= c->connect_deadline_ms){
		reply_error(c, "connect", NULL, OP_E_UNAUTHORIZED, "no connect in time");
		session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "NO_CONNECT");
		return;
	}
	for(p = c->pending; p; p = next){
		next = p->next;
		if(now >= p->deadline_ms){
			op_pending_unlink(c, p);
			pending_answer(c, p, true);
			op_pending_free(p);
		}
	}
	if(c->ready && c->st && now >= c->next_refresh_ms && link_is_up(s->link)){
		for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
			if(!sub->presence) publish_member(c, sub);
		}
		c->next_refresh_ms = now + (int64_t)(s->gw->cfg->presence_ttl * 1000 / 3);
	}
}

static void op_ws_close(struct wsgw_session *s)
{
	struct op_client *c = s->priv;
	struct op_pending *p, *next;

	if(!c) return;
	for(p = c->pending; p; p = next){
		next = p->next;
		op_pending_free(p);
	}
	if(c->st){
		/* Leaving: the member entries go now; the broker session stays for
		 * resume (normal DISCONNECT), and so does the state here. */
		if(link_is_up(s->link)){
			for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
				if(!sub->presence) clear_member(c, sub);
			}
		}
		c->st->attached = NULL;
		c->st->expires_ms = gw_now_ms() + (int64_t)(s->gw->cfg->session_expiry * 1000);
		if(!c->ready && !c->resuming) op_state_drop(s->gw, c->st);
	}
	json_decref(c->hello_id);
	link_close(c->refused_link, false);
	free(c);
	s->priv = NULL;
}

static void op_on_presence(struct wsgw_session *s, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct op_client *c = s->priv;
	char id[32];

	if(!c || !c->st || !c->ready || ev == WSGW_PRESENCE_UPDATED || !strcmp(m->id, c->st->client_id)) return;
	for(struct op_sub *sub = c->st->subs; sub; sub = sub->next){
		if(sub->presence && sub->watching && !strcmp(sub->key, key)){
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
	struct op_state *st, *tmp;
	HASH_ITER(hh, state_of(gw)->states, st, tmp){
		if(!st->attached && st->expires_ms && now >= st->expires_ms) op_state_drop(gw, st);
	}
}

static int op_gw_init(struct wsgw_gw *gw)
{
	struct op_gw *og = calloc(1, sizeof(*og));
	if(!og) return -1;
	gw_dialect_set_state(gw, &wsgw_dialect_op, og);
	return 0;
}

static void op_gw_free(struct wsgw_gw *gw)
{
	struct op_gw *og = state_of(gw);
	struct op_state *st, *tmp;
	if(!og) return;
	HASH_ITER(hh, og->states, st, tmp){
		HASH_DEL(og->states, st);
		op_state_free(st);
	}
	free(og);
	gw_dialect_set_state(gw, &wsgw_dialect_op, NULL);
}

const struct wsgw_dialect wsgw_dialect_op = {
	.conf = &op_conf,
	.name = "op",
	.ws_filter = gw_filter_mount_root,
	.ws_open = op_ws_open,
	.ws_text = op_ws_text,
	.ws_error = op_ws_error,
	.ws_tick = op_ws_tick,
	.ws_close = op_ws_close,
	.presence = op_on_presence,
	.gw_tick = op_gw_tick,
	.gw_init = op_gw_init,
	.gw_free = op_gw_free,
};
