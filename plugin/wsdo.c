/* The websockets.do dialect: listeners (WebSocket), emits (HTTP), presence and
 * acks, on the MQTT topics of docs/protocols/websockets-do.md. Frame and
 * request parsing is in mapping/wsdo_proto.c; this file binds it to the core. */
#define LOG_TAG "wsdo"
#include "kit.h"
#include "jsonutil.h"
#include "topic.h"
#include "wsdo_proto.h"

#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACK_RING 256             /* eventIDs a client may still ACK */
#define QUERY_MAX 64
#define QUERY_BUF 8192
#define CLOSE_PING_TIMEOUT 4000

/* This dialect's options (mapping/wsdo_proto.h) and its registry entry (at
 * the end of this file). */
#define WSDO_CFG(cfg) ((const struct wsdo_config *)config_dialect((cfg), &wsdo_conf)->opts)
extern const struct wsgw_dialect wsgw_dialect_wsdo;

/* ---- per listener ---- */

struct wsdo_client {
	struct wsgw_session *s;        /* first (kit_client_new) */
	char id[WSDO_CLIENT_ID_SIZE];
	char *topic;             /* channel messages */
	char *direct_topic;      /* messages for this client only */
	struct kit_presence pres;   /* key: wsdo_root/channel */
	char *presence;          /* compact JSON object */
	int64_t since_ms;        /* wall clock */
	int subs_pending;
	bool ready;              /* CONNECTED sent */
	int64_t latency_ms;
	int64_t next_ping_ms, ping_sent_ms, pong_deadline_ms;
	char acks[ACK_RING][WSDO_EVENT_ID_SIZE];
	unsigned ack_next;
};

/* ---- per emit waiting for PUBACKs or ACKs ---- */

struct wsdo_target {
	char *id;
	bool acked;
};

struct wsdo_pending {
	struct kit_http_wait w;  /* first: h->priv */
	struct pending_req pr;   /* PUBACKs awaited (core_pending), and the ack deadline */
	struct wsgw_gw *gw;
	struct wsdo_pending *next;
	char event_id[WSDO_EVENT_ID_SIZE];
	bool broadcast;
	bool require_ack;
	bool forbidden;
	struct wsdo_target *targets;
	size_t ntargets;
	json_t *unknown;         /* array of ids */
};

/* The DATA frame of the message being delivered, up to the recipient's part:
 * built once for all the listeners a shared session hands it to. */
struct wsdo_data_cache {
	uint64_t seq;            /* msg->seq it was built for; 0 = none */
	char *head;
	size_t head_len;
	char event_id[WSDO_EVENT_ID_SIZE];
	bool requires_ack;
};

/* The same for a presence event: a channel of n listeners that one member
 * joins sends n-1 JOINED frames (n^2/2 for n joining), which differ only in
 * the recipient's part. One eventID per event (only DATA's means something). */
struct wsdo_pres_cache {
	uint64_t seq;            /* gw->presence_seq it was built for; 0 = none */
	char *head;
	size_t head_len;
};

struct wsdo_gw {
	char *base;              /* topic_prefix/wsdo_root */
	struct wsdo_pending *pending;
	struct wsdo_data_cache data;
	struct wsdo_pres_cache pres;
};

static struct wsdo_gw *wsdo_state(struct wsgw_gw *gw)
{
	return gw_dialect_state(gw, &wsgw_dialect_wsdo);
}

static char *presence_key(struct wsgw_gw *gw, const char *channel)
{
	return topic_join(WSDO_CFG(gw->cfg)->root, channel, (char *)NULL);
}

static void new_event_id(char out[WSDO_EVENT_ID_SIZE])
{
	unsigned char rnd[WSDO_ID_LEN];
	gw_random(rnd, sizeof(rnd));
	wsdo_make_id(out, WSDO_EVENT_ID_SIZE, "evt_", rnd);
}

static void send_frame(struct wsdo_client *c, const char *type, json_t *payload, const char *event_id,
		int requires_ack)
{
	char eid[WSDO_EVENT_ID_SIZE];
	if(!event_id){
		new_event_id(eid);
		event_id = eid;
	}
	session_send(c->s, wsdo_frame(type, payload, event_id, c->id, c->latency_ms, requires_ack));
}

static void wsdo_send_error(struct wsdo_client *c, const char *code, const char *message)
{
	char eid[WSDO_EVENT_ID_SIZE];
	new_event_id(eid);
	session_send(c->s, wsdo_error_frame(code, message, eid, c->id, c->latency_ms));
}

static void wsdo_client_fail(struct wsdo_client *c, const char *code, const char *message, int close_code)
{
	wsdo_send_error(c, code, message);
	session_close(c->s, close_code, code);
}

static json_t *member_json(const struct mirror_member *m, bool with_presence)
{
	json_t *o = json_object();
	json_object_set_new(o, "clientID", json_string(m->id));
	if(with_presence){
		json_t *p = json_loads(m->presence, 0, NULL);
		json_object_set_new(o, "presence", p ? p : json_object());
	}
	return o;
}

/* Publishes this client's retained presence entry (join, update, refresh). */
static void wsdo_publish_presence(struct wsdo_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	char *text = kit_presence_entry(gw, c->id, json_loads(c->presence, 0, NULL), c->since_ms);

	if(text && kit_presence_publish(gw, &c->pres, session_link(c->s), text)){
		LOG_W("presence publish for %s failed", c->id);
	}
	free(text);
}

/* The entry was cleared under us (a late will of the slot's last holder). */
static void wsdo_heal(void *owner)
{
	struct wsdo_client *c = owner;
	if(link_is_up(session_link(c->s))) wsdo_publish_presence(c);
}

/* ---- link callbacks ---- */

static void wsdo_on_connected(void *ud, int rc, bool session_present)
{
	struct wsdo_client *c = ud;
	int mid;

	(void)session_present;   /* clean sessions */
	if(rc){
		struct kit_refusal o;
		kit_refusal(rc, &o);
		/* websockets.do has closed a refused user name or password with 1011
		 * from the start (its clients see that code): kept */
		wsdo_client_fail(c, o.r.code, o.message, o.r.bad_credentials ? LWS_CLOSE_STATUS_UNEXPECTED_CONDITION : o.r.close_code);
		return;
	}
	c->subs_pending = 2;
	if(link_subscribe(session_link(c->s), &mid, c->topic, 1) || link_subscribe(session_link(c->s), &mid, c->direct_topic, 1)){
		wsdo_client_fail(c, "BROKER_UNAVAILABLE", "cannot subscribe", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	wsdo_publish_presence(c);
}

static void send_connected(struct wsdo_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	json_t *members = json_array();
	const struct mirror_member **all;
	size_t n;

	if(!kit_members(gw, c->pres.key, &all, &n)){
		for(size_t i = 0; i < n; i++){
			if(strcmp(all[i]->id, c->id)) json_array_append_new(members, member_json(all[i], true));
		}
		free(all);
	}
	send_frame(c, "CONNECTED", json_pack("{s:o}", "members", members), NULL, -1);
	c->ready = true;
	c->next_ping_ms = gw_now_ms() + (int64_t)(WSDO_CFG(gw->cfg)->ping_interval * 1000);
}

static void wsdo_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct wsdo_client *c = ud;
	(void)mid;
	for(int i = 0; i < count; i++){
		if(granted[i] >= 0x80){
			wsdo_client_fail(c, "FORBIDDEN", "the broker refused the subscription to this channel", LWS_CLOSE_STATUS_POLICY_VIOLATION);
			return;
		}
	}
	if(--c->subs_pending == 0 && !c->ready) send_connected(c);
}

static void wsdo_on_published(void *ud, int mid, int reason)
{
	struct wsdo_client *c = ud;
	if(reason >= 0x80 && mid == c->pres.mid){
		wsdo_client_fail(c, "FORBIDDEN", "the broker refused this client's presence", LWS_CLOSE_STATUS_POLICY_VIOLATION);
	}
}

struct meta {
	char *event_id;
	bool requires_ack;
};

static void meta_prop(void *ud, const char *name, const char *value)
{
	struct meta *m = ud;
	if(!strcmp(name, "eventID") && strlen(value) < WSDO_EVENT_ID_SIZE && topic_level_valid(value)){
		strcpy(m->event_id, value);
	}else if(!strcmp(name, "requires_ack")){
		m->requires_ack = !strcmp(value, "true");
	}
}

/* Reads the user properties the gateway puts on channel messages. */
static void read_meta(const struct mqttw_props *props, char event_id[WSDO_EVENT_ID_SIZE], bool *requires_ack)
{
	struct meta m = {event_id, false};
	event_id[0] = '\0';
	kit_user_props(props, meta_prop, &m);
	*requires_ack = m.requires_ack;
}

/* Parses the message once per delivery (see struct wsdo_data_cache). */
static struct wsdo_data_cache *data_frame(struct wsgw_gw *gw, const struct wsgw_msg *msg)
{
	struct wsdo_data_cache *dc = &wsdo_state(gw)->data;
	json_t *payload;

	if(dc->seq == msg->seq) return dc->head ? dc : NULL;   /* built, or refused, already */
	free(dc->head);
	dc->head = NULL;
	dc->seq = msg->seq;
	payload = kit_payload_json(msg, "");
	if(!payload) return NULL;
	read_meta(&msg->props, dc->event_id, &dc->requires_ack);
	if(!dc->event_id[0]) new_event_id(dc->event_id);
	dc->head = wsdo_frame_head("DATA", payload, dc->event_id, &dc->head_len);
	return dc->head ? dc : NULL;
}

static void wsdo_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct wsdo_client *c = ud;
	struct wsdo_data_cache *dc;
	char *text;

	if(strcmp(msg->topic, c->topic) && strcmp(msg->topic, c->direct_topic)) return;
	dc = data_frame(session_gw(c->s), msg);
	if(!dc) return;
	if(dc->requires_ack){
		strcpy(c->acks[c->ack_next % ACK_RING], dc->event_id);
		c->ack_next++;
	}
	text = wsdo_frame_finish(dc->head, dc->head_len, c->id, c->latency_ms, dc->requires_ack);
	if(!text) LOG_W("cannot build a DATA frame for %s", c->id);
	session_send(c->s, text);
}

static const struct wsgw_link_ops client_ops = {
	.connected = wsdo_on_connected, .message = wsdo_on_message,
	.subscribed = wsdo_on_subscribed, .published = wsdo_on_published,
};

/* ---- WebSocket side ---- */

static int wsdo_ws_filter(struct wsgw_gw *gw, const char *subpath, char **route)
{
	char *channel = NULL;
	(void)gw;
	switch(wsdo_route(subpath, &channel)){
	case WSDO_ROUTE_LISTEN:
		if(!channel) return 400;
		*route = channel;
		return 0;
	case WSDO_ROUTE_EMIT:
		free(channel);
		return 405;
	default:
		return 404;
	}
}

static void wsdo_client_free(struct wsdo_client *c)
{
	kit_presence_release(session_gw(c->s), &c->pres,
			session_link_was_lost(c->s) ? CORE_SLOT_LOST : CORE_SLOT_CLEARING);   /* the will clears it */
	free(c->topic);
	free(c->direct_topic);
	free(c->presence);
	free(c);
}

static int wsdo_ws_open(struct wsgw_session *s, const char *channel)
{
	struct wsgw_gw *gw = session_gw(s);
	struct wsdo_client *c = kit_client_new(s, sizeof(*c));
	unsigned char rnd[WSDO_ID_LEN];
	struct wsgw_link_params p;
	char *key;

	if(!c) return -1;
	c->pres.slot = -1;
	gw_random(rnd, sizeof(rnd));
	wsdo_make_id(c->id, sizeof(c->id), WSDO_MEMBER_PREFIX, rnd);
	c->since_ms = gw_wall_ms();
	c->presence = strdup("{}");
	c->topic = topic_join(gw->cfg->topic_prefix, WSDO_CFG(gw->cfg)->root, channel, (char *)NULL);
	c->direct_topic = topic_join(c->topic ? c->topic : "", "to", c->id, (char *)NULL);
	key = presence_key(gw, channel);
	if(!key || kit_presence_take(gw, &c->pres, key, wsdo_heal, c)){
		free(key);
		return -1;
	}
	free(key);
	if(!c->presence || !c->topic || !c->direct_topic || session_watch(s, c->pres.key)) return -1;

	memset(&p, 0, sizeof(p));
	p.client_id = c->id;
	p.username = WSDO_CFG(gw->cfg)->username;
	p.clean_start = true;
	p.will_topic = c->pres.topic;   /* clears the entry if the session dies */
	if(WSDO_CFG(gw->cfg)->shared_sessions > 0){
		/* A channel's listeners share one of the N sessions: one broker
		 * delivery per message, and N broker queues for the load. */
		uint32_t h = 2166136261u;
		for(const char *q = channel; *q; q++) h = (h ^ (unsigned char)*q) * 16777619u;
		p.shared = true;
		p.shard = h % (uint32_t)WSDO_CFG(gw->cfg)->shared_sessions;
	}
	return kit_link_open(s, &p, &client_ops, c);
}

static void wsdo_ws_error(struct wsgw_session *s, const char *code, const char *message)
{
	if(session_priv(s)) wsdo_send_error(session_priv(s), code, message);
}

static bool take_ack(struct wsdo_client *c, const char *event_id)
{
	for(unsigned i = 0; i < ACK_RING; i++){
		if(c->acks[i][0] && !strcmp(c->acks[i], event_id)){
			c->acks[i][0] = '\0';
			return true;
		}
	}
	return false;
}

static void wsdo_ws_text(struct wsgw_session *s, const char *buf, size_t len)
{
	struct wsdo_client *c = session_priv(s);
	struct wsdo_cframe f;
	const char *msg = NULL, *err;

	err = wsdo_parse_client(buf, len, &f, &msg);
	if(err){
		wsdo_send_error(c, err, msg);
		return;
	}
	switch(f.type){
	case WSDO_C_PONG:
		if(c->pong_deadline_ms){
			c->latency_ms = gw_now_ms() - c->ping_sent_ms;
			c->pong_deadline_ms = 0;
		}
		break;
	case WSDO_C_ACK:
		if(!take_ack(c, f.event_id)){
			wsdo_send_error(c, WSDO_E_UNKNOWN_EVENT, "no DATA with this eventID awaits your ACK");
			break;
		}
		{
			char *topic = topic_join(c->topic, "ack", f.event_id, (char *)NULL);
			json_t *o = json_pack("{s:s,s:s}", "clientID", c->id, "eventID", f.event_id);
			char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
			if(!topic || !text || !session_link(s) || link_publish(session_link(s), NULL, topic, text, strlen(text), 1, false, NULL, 0)){
				wsdo_send_error(c, "BROKER_UNAVAILABLE", "the ACK could not be forwarded");
			}
			json_decref(o);
			free(text);
			free(topic);
		}
		break;
	case WSDO_C_PRESENCE: {
		char *text = json_dumps(f.presence, JSON_COMPACT | JSON_SORT_KEYS);
		if(text){
			free(c->presence);
			c->presence = text;
			if(link_is_up(session_link(s))) wsdo_publish_presence(c);
		}
		break;
	}
	}
	wsdo_cframe_clear(&f);
}

static void wsdo_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct wsdo_client *c = session_priv(s);
	const struct wsgw_config *cfg = session_gw(s)->cfg;

	if(!c) return;
	if(!c->ready) return;
	if(c->pong_deadline_ms && now >= c->pong_deadline_ms){
		wsdo_client_fail(c, "PING_TIMEOUT", "Client did not respond to PING event", CLOSE_PING_TIMEOUT);
		return;
	}
	if(!c->pong_deadline_ms && now >= c->next_ping_ms){
		send_frame(c, "PING", json_object(), NULL, -1);
		c->ping_sent_ms = now;
		c->pong_deadline_ms = now + (int64_t)(WSDO_CFG(cfg)->ping_timeout * 1000);
		c->next_ping_ms = now + (int64_t)(WSDO_CFG(cfg)->ping_interval * 1000);
		if(c->pong_deadline_ms == 0) c->pong_deadline_ms = 1;
	}
	if(kit_presence_due(&c->pres, now) && link_is_up(session_link(s))) wsdo_publish_presence(c);
}

static void wsdo_ws_close(struct wsgw_session *s)
{
	struct wsdo_client *c = session_priv(s);
	if(!c) return;
	/* Leaving: the session's will (an empty retained message on the presence
	 * topic) clears the entry; the core asks the broker to send it. */
	kit_link_will(s);
	wsdo_client_free(c);
	session_set_priv(s, NULL);
}

/* Builds the event's frame once per dispatch (see struct wsdo_pres_cache). */
static struct wsdo_pres_cache *pres_frame(struct wsgw_gw *gw, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct wsdo_pres_cache *pc = &wsdo_state(gw)->pres;
	char eid[WSDO_EVENT_ID_SIZE];
	const char *type = ev == WSGW_PRESENCE_JOINED ? "PRESENCE:JOINED"
		: ev == WSGW_PRESENCE_UPDATED ? "PRESENCE:UPDATED" : "PRESENCE:LEFT";

	if(pc->seq == gw->presence_seq) return pc->head ? pc : NULL;
	free(pc->head);
	pc->seq = gw->presence_seq;
	new_event_id(eid);
	pc->head = wsdo_frame_head(type, member_json(m, ev != WSGW_PRESENCE_LEFT), eid, &pc->head_len);
	return pc->head ? pc : NULL;
}

static void wsdo_on_presence(struct wsgw_session *s, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct wsdo_client *c = session_priv(s);
	struct wsdo_pres_cache *pc;

	(void)key;   /* a listener watches its one channel */
	if(!c || !c->ready) return;
	/* JOINED and LEFT are not sent about yourself; UPDATED confirms yours */
	if(ev != WSGW_PRESENCE_UPDATED && !strcmp(m->id, c->id)) return;
	if(!(pc = pres_frame(session_gw(s), ev, m))) return;
	session_send(s, wsdo_frame_finish(pc->head, pc->head_len, c->id, c->latency_ms, -1));
}

/* ---- HTTP emit ---- */

static void wsdo_pending_free(struct wsdo_pending *p)
{
	for(size_t i = 0; i < p->ntargets; i++) free(p->targets[i].id);
	free(p->targets);
	json_decref(p->unknown);
	free(p);
}

static void wsdo_pending_unlink(struct wsgw_gw *gw, struct wsdo_pending *p)
{
	struct wsdo_pending **pp;
	for(pp = &wsdo_state(gw)->pending; *pp; pp = &(*pp)->next){
		if(*pp == p){
			*pp = p->next;
			break;
		}
	}
	pendtab_remove(core_pending(gw), &p->pr);
}

static json_t *target_ids(const struct wsdo_pending *p, int acked)
{
	json_t *a = json_array();
	for(size_t i = 0; i < p->ntargets; i++){
		if(acked < 0 || p->targets[i].acked == (acked > 0)) json_array_append_new(a, json_string(p->targets[i].id));
	}
	return a;
}

/* Replies if the emit is settled; frees it once replied. */
static void wsdo_pending_settle(struct wsgw_gw *gw, struct wsdo_pending *p, bool timed_out)
{
	struct wsgw_http *h;
	json_t *o;
	int status;

	if(!timed_out){
		if(p->pr.nmids) return;
		if(!p->forbidden && p->require_ack){
			for(size_t i = 0; i < p->ntargets; i++) if(!p->targets[i].acked) return;
		}
	}
	if(timed_out && p->pr.nmids){
		status = 503;
		o = json_pack("{s:s,s:s}", "error", "BROKER_UNAVAILABLE", "message", "the broker did not confirm the publish");
	}else if(p->forbidden){
		status = 403;
		o = json_pack("{s:s,s:s}", "error", "FORBIDDEN", "message", "the broker refused the publish (ACL)");
	}else if(timed_out){
		status = 408;
		o = json_pack("{s:s,s:s,s:o,s:o}", "error", "ACK_TIMEOUT", "eventID", p->event_id,
				"acked", target_ids(p, 1), "missing", target_ids(p, 0));
	}else{
		status = 200;
		o = json_pack("{s:s,s:o,s:O}", "eventID", p->event_id,
				"clients", p->broadcast ? json_null() : target_ids(p, -1), "unknown", p->unknown);
		if(o && p->require_ack) json_object_set_new(o, "acked", target_ids(p, 1));
	}
	h = kit_http_take(&p->w);
	if(h) http_reply(h, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
	json_decref(o);
	wsdo_pending_unlink(gw, p);
	wsdo_pending_free(p);
}

static int add_target(struct wsdo_pending *p, const char *id)
{
	p->targets[p->ntargets].id = strdup(id);
	if(!p->targets[p->ntargets].id) return -1;
	p->ntargets++;
	return 0;
}

/* Chooses the recipients from the presence mirror. Returns 0, or an HTTP status. */
static int choose_targets(struct wsgw_gw *gw, const char *key, const struct wsdo_emit *e, struct wsdo_pending *p)
{
	const struct mirror_member **all;
	size_t n, cap, *idx, k;
	int rc = 0;

	p->broadcast = !e->clients_n && !e->nids;
	if(p->broadcast && !e->require_ack) return 0;
	if(kit_members(gw, key, &all, &n)) return 503;
	cap = e->nids > n ? e->nids : n;
	p->targets = calloc(cap ? cap : 1, sizeof(*p->targets));
	if(!p->targets) rc = 503;
	else if(e->nids){
		for(size_t i = 0; i < e->nids && !rc; i++){
			bool dup = false;
			for(size_t j = 0; j < p->ntargets; j++) dup = dup || !strcmp(p->targets[j].id, e->ids[i]);
			if(dup) continue;
			if(kit_member(gw, key, e->ids[i])) rc = add_target(p, e->ids[i]) ? 503 : 0;
			else json_array_append_new(p->unknown, json_string(e->ids[i]));
		}
		if(!rc && !p->ntargets) rc = 404;
	}else if(n){
		k = e->clients_n ? (e->clients_n < n ? e->clients_n : n) : n;
		idx = calloc(n, sizeof(*idx));
		if(!idx) rc = 503;
		else{
			wsdo_pick(n, k, idx, gw_random32, NULL);
			for(size_t i = 0; i < k && !rc; i++) rc = add_target(p, all[idx[i]]->id) ? 503 : 0;
		}
		free(idx);
	}
	free(all);
	return rc;
}

/* A PUBACK of the emit's publishes. */
static void emit_answered(struct pending_req *r, size_t index, int reason)
{
	struct wsdo_pending *p = lws_container_of(r, struct wsdo_pending, pr);
	(void)index;
	if(reason >= 0x80) p->forbidden = true;
	wsdo_pending_settle(p->gw, p, false);
}

static void emit_expired(struct pending_req *r)
{
	struct wsdo_pending *p = lws_container_of(r, struct wsdo_pending, pr);
	wsdo_pending_settle(p->gw, p, true);
}

static int emit_publish(struct wsgw_gw *gw, struct wsdo_pending *p, const char *topic, const char *text)
{
	static const char *const names[] = {"eventID", "requires_ack"};
	const char *values[] = {p->event_id, "true"};
	struct mqttw_prop props[2];
	size_t nprops = p->require_ack ? 2 : 1;
	size_t count = p->broadcast ? 1 : p->ntargets;
	int rc = 0;

	kit_user_props_add(props, names, values, nprops);
	for(size_t i = 0; i < count && !rc; i++){
		char *t = p->broadcast ? strdup(topic) : topic_join(topic, "to", p->targets[i].id, (char *)NULL);
		rc = t ? core_request(gw, &p->pr, i, t, text, strlen(text), props, nprops) : -1;
		free(t);
	}
	return rc;
}

static void emit(struct wsgw_http *h, const char *channel)
{
	struct wsgw_gw *gw = h->gw;
	char qbuf[QUERY_BUF];
	const char *keys[QUERY_MAX], *values[QUERY_MAX];
	struct wsdo_kv kv[QUERY_MAX];
	size_t nq = http_query(h, qbuf, sizeof(qbuf), keys, values, QUERY_MAX);
	struct wsdo_emit e;
	struct wsdo_pending *p = NULL;
	const char *code, *msg;
	char *key = NULL, *topic = NULL, *text = NULL;
	int status;

	for(size_t i = 0; i < nq; i++){
		kv[i].key = keys[i];
		kv[i].value = values[i];
	}
	status = wsdo_emit_parse(kv, nq, h->is_post, h->body, h->body_len, &e, &code, &msg);
	if(status){
		http_reply_error(h, status, code, msg);
		return;
	}
	if(!core_is_up(gw)){
		http_reply_error(h, 503, "BROKER_UNAVAILABLE", "the gateway's broker session is down");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	key = presence_key(gw, channel);
	topic = topic_join(gw->cfg->topic_prefix, WSDO_CFG(gw->cfg)->root, channel, (char *)NULL);
	text = jsonutil_dump(e.payload);
	if(!p || !key || !topic || !text || !(p->unknown = json_array())){
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		goto out;
	}
	new_event_id(p->event_id);
	p->gw = gw;
	p->require_ack = e.require_ack;
	status = choose_targets(gw, key, &e, p);
	if(status){
		if(status == 404) http_reply_error(h, 404, "NO_SUCH_CLIENT", "none of the clients is a member of the channel");
		else http_reply_error(h, status, "OUT_OF_MEMORY", NULL);
		goto out;
	}
	pendtab_add(core_pending(gw), &p->pr, gw_now_ms() + (int64_t)(WSDO_CFG(gw->cfg)->ack_timeout * 1000),
			emit_answered, emit_expired);
	if(emit_publish(gw, p, topic, text)){
		pendtab_remove(core_pending(gw), &p->pr);
		http_reply_error(h, 503, "BROKER_UNAVAILABLE", "the publish failed");
		goto out;
	}
	kit_http_wait(&p->w, h);
	p->next = wsdo_state(gw)->pending;
	wsdo_state(gw)->pending = p;
	/* Nothing to wait for (clients=N on an empty channel: no target, no
	 * publish): answer now, not at the ack deadline. */
	wsdo_pending_settle(gw, p, false);
	p = NULL;
out:
	if(p) wsdo_pending_free(p);
	free(key);
	free(topic);
	free(text);
	wsdo_emit_clear(&e);
}

static void wsdo_http(struct wsgw_http *h, const char *subpath)
{
	char *channel = NULL;
	enum wsdo_route r = wsdo_route(subpath, &channel);

	switch(r){
	case WSDO_ROUTE_LISTEN:
		http_reply_ws_only(h, "listen");
		break;
	case WSDO_ROUTE_EMIT:
		if(h->is_other_method){
			h->allow = "GET, POST";
			http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "emit takes GET or POST");
		}else if(!channel){
			http_reply_error(h, 400, "BAD_CHANNEL", "invalid channel name");
		}else{
			emit(h, channel);
		}
		break;
	default:
		http_reply_error(h, 404, "NOT_FOUND", NULL);
		break;
	}
	free(channel);
}

/* ---- gateway-wide ---- */

static void wsdo_core_up(struct wsgw_gw *gw)
{
	char *filter = topic_join(wsdo_state(gw)->base, "+", "ack", "+", (char *)NULL);
	if(!filter || core_subscribe(gw, filter)) LOG_E("cannot subscribe the websockets.do ack topics");
	free(filter);
}

static bool wsdo_core_message(struct wsgw_gw *gw, const struct wsgw_msg *msg)
{
	struct wsdo_gw *st = wsdo_state(gw);
	size_t blen = strlen(st->base);
	const char *rest, *event_id;
	json_t *root;
	const char *client;

	if(blen && (strncmp(msg->topic, st->base, blen) || msg->topic[blen] != '/')) return false;
	rest = blen ? msg->topic + blen + 1 : msg->topic;
	/* rest = "<channel>/ack/<eventID>" */
	event_id = strrchr(rest, '/');
	if(!event_id || event_id - rest < 4 || strncmp(event_id - 4, "/ack", 4)) return false;
	event_id++;
	root = jsonutil_parse(msg->payload, (size_t)msg->payloadlen, JSON_REJECT_DUPLICATES, NULL, 0);
	client = json_string_value(json_object_get(root, "clientID"));
	for(struct wsdo_pending *p = st->pending; p && client; p = p->next){
		if(strcmp(p->event_id, event_id)) continue;
		for(size_t i = 0; i < p->ntargets; i++){
			if(!strcmp(p->targets[i].id, client)) p->targets[i].acked = true;
		}
		wsdo_pending_settle(gw, p, false);
		break;
	}
	json_decref(root);
	return true;
}

static int wsdo_gw_init(struct wsgw_gw *gw)
{
	struct wsdo_gw *st = calloc(1, sizeof(*st));
	if(!st) return -1;
	st->base = topic_join(gw->cfg->topic_prefix, WSDO_CFG(gw->cfg)->root, (char *)NULL);
	if(!st->base){
		free(st);
		return -1;
	}
	gw_dialect_set_state(gw, &wsgw_dialect_wsdo, st);
	return 0;
}

static void wsdo_gw_free(struct wsgw_gw *gw)
{
	struct wsdo_gw *st = wsdo_state(gw);
	struct wsdo_pending *p, *next;
	if(!st) return;
	for(p = st->pending; p; p = next){
		next = p->next;
		pendtab_remove(core_pending(gw), &p->pr);
		kit_http_take(&p->w);
		wsdo_pending_free(p);
	}
	free(st->data.head);
	free(st->pres.head);
	free(st->base);
	free(st);
}

/* The registry's entry (plugin/dialects.c); the protocol is docs/protocols/websockets-do.md. */
const struct wsgw_dialect wsgw_dialect_wsdo = {
	.conf = &wsdo_conf, .name = "websockets.do", .ws_filter = wsdo_ws_filter, .ws_open = wsdo_ws_open,
	.ws_text = wsdo_ws_text, .ws_error = wsdo_ws_error, .ws_tick = wsdo_ws_tick, .ws_close = wsdo_ws_close,
	.presence = wsdo_on_presence, .http = wsdo_http, .http_gone = kit_http_gone, .core_up = wsdo_core_up,
	.core_message = wsdo_core_message, .gw_init = wsdo_gw_init, .gw_free = wsdo_gw_free,
};
