/* The websockets.do dialect: listeners (WebSocket), emits (HTTP), presence and
 * acks, on the MQTT topics of docs/protocols/websockets-do.md. Frame and
 * request parsing is in mapping/wsdo_proto.c; this file binds it to the core. */
#define LOG_TAG "wsdo"
#include "wsgw.h"
#include "jsonutil.h"
#include "topic.h"
#include "wsdo_proto.h"

#include <math.h>
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
	struct wsgw_session *s;
	char id[WSDO_CLIENT_ID_SIZE];
	char *topic;             /* channel messages */
	char *direct_topic;      /* messages for this client only */
	char *presence_topic;    /* on this gateway's slot `slot` of the channel */
	int slot;
	char *key;               /* presence key: wsdo_root/channel */
	char *presence;          /* compact JSON object */
	int64_t since_ms;        /* wall clock */
	int subs_pending;
	int presence_mid;
	bool ready;              /* CONNECTED sent */
	int64_t latency_ms;
	int64_t next_ping_ms, ping_sent_ms, pong_deadline_ms;
	int64_t next_refresh_ms;
	char acks[ACK_RING][WSDO_EVENT_ID_SIZE];
	unsigned ack_next;
};

/* ---- per emit waiting for PUBACKs or ACKs ---- */

struct wsdo_target {
	char *id;
	bool acked;
};

struct wsdo_pending {
	struct wsdo_pending *next;
	struct wsgw_http *h;
	char event_id[WSDO_EVENT_ID_SIZE];
	bool broadcast;
	bool require_ack;
	bool forbidden;
	struct wsdo_target *targets;
	size_t ntargets;
	json_t *unknown;         /* array of ids */
	int *mids;               /* PUBACKs still awaited */
	size_t nmids;
	int64_t deadline_ms;
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

struct wsdo_gw {
	char *base;              /* topic_prefix/wsdo_root */
	struct wsdo_pending *pending;
	struct wsdo_data_cache data;
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
	struct wsgw_gw *gw = c->s->gw;
	struct mqttw_prop expiry = { .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = (uint32_t)ceil(gw->cfg->presence_ttl) };
	json_t *p = json_loads(c->presence, 0, NULL);
	json_t *o = json_pack("{s:s,s:o,s:s,s:s,s:I}", "clientID", c->id, "presence", p ? p : json_object(),
			"gateway", gw->cfg->gateway_id, "boot", gw->boot_id, "since", (json_int_t)c->since_ms);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if(!text) return;
	if(link_publish(c->s->link, &c->presence_mid, c->presence_topic, text, strlen(text), 1, true, &expiry, 1)){
		LOG_W("presence publish for %s failed", c->id);
	}
	free(text);
	{
		/* Every presence_ttl/3; the first refresh after joining at a random point
		 * of the second half of that, so that listeners who joined together (a
		 * reconnect wave) do not all republish in the same tick ever after. */
		int64_t period = (int64_t)(gw->cfg->presence_ttl * 1000 / 3);
		if(!c->next_refresh_ms && period >= 2) period = period / 2 + (int64_t)(gw_random32(NULL) % (uint32_t)(period / 2));
		c->next_refresh_ms = gw_now_ms() + period;
	}
}

/* The entry was cleared under us (a late will of the slot's last holder). */
static void wsdo_heal(void *owner)
{
	struct wsdo_client *c = owner;
	if(link_is_up(c->s->link)) wsdo_publish_presence(c);
}

/* ---- link callbacks ---- */

static void wsdo_on_connected(void *ud, int rc, bool session_present)
{
	struct wsdo_client *c = ud;
	int mid;

	(void)session_present;   /* clean sessions */
	if(rc){
		wsdo_client_fail(c, rc == MQTTW_RC_NOT_AUTHORIZED || rc == MQTTW_RC_BAD_USERNAME_OR_PASSWORD ? "FORBIDDEN" : "BROKER_UNAVAILABLE",
				mqttw_reason_string((uint8_t)rc), rc == MQTTW_RC_NOT_AUTHORIZED ? LWS_CLOSE_STATUS_POLICY_VIOLATION : LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	c->subs_pending = 2;
	if(link_subscribe(c->s->link, &mid, c->topic, 1) || link_subscribe(c->s->link, &mid, c->direct_topic, 1)){
		wsdo_client_fail(c, "BROKER_UNAVAILABLE", "cannot subscribe", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	wsdo_publish_presence(c);
}

static void send_connected(struct wsdo_client *c)
{
	struct wsgw_gw *gw = c->s->gw;
	json_t *members = json_array();
	struct mirror_channel *ch = mirror_channel_find(&gw->mirror, c->key);
	struct mirror_member *m, *tmp;

	if(ch){
		HASH_ITER(hh, ch->members, m, tmp){
			if(strcmp(m->id, c->id)) json_array_append_new(members, member_json(m, true));
		}
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
	if(reason >= 0x80 && mid == c->presence_mid){
		wsdo_client_fail(c, "FORBIDDEN", "the broker refused this client's presence", LWS_CLOSE_STATUS_POLICY_VIOLATION);
	}
}

/* Reads the user properties the gateway puts on channel messages. */
static void read_meta(const struct mqttw_props *props, char event_id[WSDO_EVENT_ID_SIZE], bool *requires_ack)
{
	const uint8_t *value;
	size_t len;

	event_id[0] = '\0';
	*requires_ack = mqttw_props_user(props, "requires_ack", &value, &len) && len == 4 && !memcmp(value, "true", 4);
	if(mqttw_props_user(props, "eventID", &value, &len) && len < WSDO_EVENT_ID_SIZE){
		memcpy(event_id, value, len);
		event_id[len] = '\0';
		if(!topic_level_valid(event_id)) event_id[0] = '\0';
	}
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
	payload = jsonutil_from_payload(msg->payload, (size_t)msg->payloadlen);
	if(!payload){
		LOG_N("dropped a non-UTF-8 payload on %s", msg->topic);
		return NULL;
	}
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
	dc = data_frame(c->s->gw, msg);
	if(!dc) return;
	if(dc->requires_ack){
		strcpy(c->acks[c->ack_next % ACK_RING], dc->event_id);
		c->ack_next++;
	}
	text = wsdo_frame_finish(dc->head, dc->head_len, c->id, c->latency_ms, dc->requires_ack);
	if(!text) LOG_W("cannot build a DATA frame for %s", c->id);
	session_send(c->s, text);
}

static void wsdo_on_lost(void *ud, int rc)
{
	struct wsdo_client *c = ud;
	session_link_lost(c->s, rc);
}

static const struct wsgw_link_ops client_ops = {
	.connected = wsdo_on_connected,
	.message = wsdo_on_message,
	.subscribed = wsdo_on_subscribed,
	.published = wsdo_on_published,
	.lost = wsdo_on_lost,
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
	if(c->key) core_slot_release(c->s->gw, c->key, c->slot,
			c->s->link_lost_ms ? CORE_SLOT_LOST : CORE_SLOT_CLEARING);   /* the will clears it */
	free(c->topic);
	free(c->direct_topic);
	free(c->presence_topic);
	free(c->key);
	free(c->presence);
	free(c);
}

static int wsdo_ws_open(struct wsgw_session *s, const char *channel)
{
	struct wsgw_gw *gw = s->gw;
	struct wsdo_client *c = calloc(1, sizeof(*c));
	unsigned char rnd[WSDO_ID_LEN];
	struct wsgw_link_params p;
	char slot[CORE_SLOT_SIZE];

	if(!c) return -1;
	c->s = s;
	c->slot = -1;
	s->priv = c;
	gw_random(rnd, sizeof(rnd));
	wsdo_make_id(c->id, sizeof(c->id), WSDO_MEMBER_PREFIX, rnd);
	c->since_ms = gw_wall_ms();
	c->presence = strdup("{}");
	c->topic = topic_join(gw->cfg->topic_prefix, WSDO_CFG(gw->cfg)->root, channel, (char *)NULL);
	c->direct_topic = topic_join(c->topic ? c->topic : "", "to", c->id, (char *)NULL);
	c->key = presence_key(gw, channel);
	if(!c->key || (c->slot = core_slot_take(gw, c->key, slot, wsdo_heal, c)) < 0) return -1;
	c->presence_topic = topic_join(gw->cfg->presence_prefix, c->key, slot, (char *)NULL);
	if(!c->presence || !c->topic || !c->direct_topic || !c->presence_topic || session_watch(s, c->key)){
		return -1;
	}

	memset(&p, 0, sizeof(p));
	p.client_id = c->id;
	p.username = WSDO_CFG(gw->cfg)->username;
	p.clean_start = true;
	p.will_topic = c->presence_topic;   /* clears the entry if the session dies */
	if(WSDO_CFG(gw->cfg)->shared_sessions > 0){
		/* A channel's listeners share one of the N sessions: one broker
		 * delivery per message, and N broker queues for the load. */
		uint32_t h = 2166136261u;
		for(const char *q = channel; *q; q++) h = (h ^ (unsigned char)*q) * 16777619u;
		p.shared = true;
		p.shard = h % (uint32_t)WSDO_CFG(gw->cfg)->shared_sessions;
	}
	s->link = link_open(gw, &p, &client_ops, c);
	return s->link ? 0 : -1;
}

static void wsdo_ws_error(struct wsgw_session *s, const char *code, const char *message)
{
	if(s->priv) wsdo_send_error(s->priv, code, message);
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
	struct wsdo_client *c = s->priv;
	struct wsdo_cframe f;
	const char *msg = NULL, *err;

	if(!c) return;
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
			if(!topic || !text || !s->link || link_publish(s->link, NULL, topic, text, strlen(text), 1, false, NULL, 0)){
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
			if(link_is_up(s->link)) wsdo_publish_presence(c);
		}
		break;
	}
	}
	wsdo_cframe_clear(&f);
}

static void wsdo_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct wsdo_client *c = s->priv;
	const struct wsgw_config *cfg = s->gw->cfg;

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
	if(now >= c->next_refresh_ms && link_is_up(s->link)) wsdo_publish_presence(c);
}

static void wsdo_ws_close(struct wsgw_session *s)
{
	struct wsdo_client *c = s->priv;
	if(!c) return;
	/* Leaving: the session's will (an empty retained message on the presence
	 * topic) clears the entry; the core asks the broker to send it. */
	s->link_will = true;
	wsdo_client_free(c);
	s->priv = NULL;
}

static void wsdo_on_presence(struct wsgw_session *s, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct wsdo_client *c = s->priv;
	bool self;

	(void)key;   /* a listener watches its one channel */
	if(!c || !c->ready) return;
	self = !strcmp(m->id, c->id);
	switch(ev){
	case WSGW_PRESENCE_JOINED:
		if(!self) send_frame(c, "PRESENCE:JOINED", member_json(m, true), NULL, -1);
		break;
	case WSGW_PRESENCE_UPDATED:
		send_frame(c, "PRESENCE:UPDATED", member_json(m, true), NULL, -1);
		break;
	case WSGW_PRESENCE_LEFT:
		if(!self) send_frame(c, "PRESENCE:LEFT", member_json(m, false), NULL, -1);
		break;
	}
}

/* ---- HTTP emit ---- */

static void wsdo_pending_free(struct wsdo_pending *p)
{
	for(size_t i = 0; i < p->ntargets; i++) free(p->targets[i].id);
	free(p->targets);
	free(p->mids);
	json_decref(p->unknown);
	free(p);
}

static void wsdo_pending_unlink(struct wsgw_gw *gw, struct wsdo_pending *p)
{
	struct wsdo_pending **pp;
	for(pp = &wsdo_state(gw)->pending; *pp; pp = &(*pp)->next){
		if(*pp == p){
			*pp = p->next;
			return;
		}
	}
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
	json_t *o;
	int status;

	if(!timed_out){
		if(p->nmids) return;
		if(!p->forbidden && p->require_ack){
			for(size_t i = 0; i < p->ntargets; i++) if(!p->targets[i].acked) return;
		}
	}
	if(timed_out && p->nmids){
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
	if(p->h){
		p->h->priv = NULL;
		http_reply(p->h, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
	}
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
	struct mirror_channel *ch = mirror_channel_find(&gw->mirror, key);
	size_t n = ch ? ch->count : 0;
	struct mirror_member *m, *tmp;
	size_t cap = e->nids > n ? e->nids : n;

	p->broadcast = !e->clients_n && !e->nids;
	if(p->broadcast && !e->require_ack) return 0;
	p->targets = calloc(cap ? cap : 1, sizeof(*p->targets));
	if(!p->targets) return 503;

	if(e->nids){
		for(size_t i = 0; i < e->nids; i++){
			bool dup = false;
			for(size_t k = 0; k < p->ntargets; k++) dup = dup || !strcmp(p->targets[k].id, e->ids[i]);
			if(dup) continue;
			if(mirror_member_find(ch, e->ids[i])){
				if(add_target(p, e->ids[i])) return 503;
			}else{
				json_array_append_new(p->unknown, json_string(e->ids[i]));
			}
		}
		return p->ntargets ? 0 : 404;
	}
	if(n == 0) return 0;
	{
		struct mirror_member **all = calloc(n, sizeof(*all));
		size_t *idx = calloc(n, sizeof(*idx));
		size_t i = 0, k = e->clients_n ? (e->clients_n < n ? e->clients_n : n) : n;
		int rc = 0;
		if(!all || !idx){
			free(all);
			free(idx);
			return 503;
		}
		HASH_ITER(hh, ch->members, m, tmp) all[i++] = m;
		wsdo_pick(n, k, idx, gw_random32, NULL);
		for(i = 0; i < k && !rc; i++) rc = add_target(p, all[idx[i]]->id);
		free(all);
		free(idx);
		return rc ? 503 : 0;
	}
}

static int emit_publish(struct wsgw_gw *gw, struct wsdo_pending *p, const char *topic, const char *text)
{
	struct mqttw_prop props[2] = { mqttw_prop_user("eventID", p->event_id), mqttw_prop_user("requires_ack", "true") };
	size_t count = p->broadcast ? 1 : p->ntargets;
	int rc = 0;

	p->mids = calloc(count ? count : 1, sizeof(int));
	if(!p->mids) return -1;
	for(size_t i = 0; i < count && !rc; i++){
		char *t = p->broadcast ? strdup(topic) : topic_join(topic, "to", p->targets[i].id, (char *)NULL);
		int mid = 0;
		rc = t ? core_publish(gw, &mid, t, text, strlen(text), 1, false, props, p->require_ack ? 2 : 1) : -1;
		if(!rc) p->mids[p->nmids++] = mid;
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
	p->require_ack = e.require_ack;
	status = choose_targets(gw, key, &e, p);
	if(status){
		if(status == 404) http_reply_error(h, 404, "NO_SUCH_CLIENT", "none of the clients is a member of the channel");
		else http_reply_error(h, status, "OUT_OF_MEMORY", NULL);
		goto out;
	}
	if(emit_publish(gw, p, topic, text)){
		http_reply_error(h, 503, "BROKER_UNAVAILABLE", "the publish failed");
		goto out;
	}
	p->deadline_ms = gw_now_ms() + (int64_t)(WSDO_CFG(gw->cfg)->ack_timeout * 1000);
	p->h = h;
	h->priv = p;
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
		if(h->is_other_method || h->is_post){
			h->allow = "GET";
			http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "listen takes a WebSocket upgrade (GET)");
		}else{
			http_reply_error(h, 426, "UPGRADE_REQUIRED", "listen is a WebSocket endpoint");
		}
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

static void wsdo_http_gone(struct wsgw_http *h)
{
	struct wsdo_pending *p = h->priv;
	if(p) p->h = NULL;   /* settles (and frees) as usual, replying to no one */
	h->priv = NULL;
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

static void wsdo_core_published(struct wsgw_gw *gw, int mid, int reason)
{
	for(struct wsdo_pending *p = wsdo_state(gw)->pending; p; p = p->next){
		for(size_t i = 0; i < p->nmids; i++){
			if(p->mids[i] != mid) continue;
			p->mids[i] = p->mids[--p->nmids];
			if(reason >= 0x80) p->forbidden = true;
			wsdo_pending_settle(gw, p, false);
			return;
		}
	}
}

static void wsdo_gw_tick(struct wsgw_gw *gw, int64_t now)
{
	struct wsdo_pending *p, *next;
	for(p = wsdo_state(gw)->pending; p; p = next){
		next = p->next;
		if(now >= p->deadline_ms) wsdo_pending_settle(gw, p, true);
	}
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
		if(p->h) p->h->priv = NULL;
		wsdo_pending_free(p);
	}
	free(st->data.head);
	free(st->base);
	free(st);
	gw_dialect_set_state(gw, &wsgw_dialect_wsdo, NULL);
}

const struct wsgw_dialect wsgw_dialect_wsdo = {
	.conf = &wsdo_conf,
	.name = "websockets.do",
	.ws_filter = wsdo_ws_filter,
	.ws_open = wsdo_ws_open,
	.ws_text = wsdo_ws_text,
	.ws_error = wsdo_ws_error,
	.ws_tick = wsdo_ws_tick,
	.ws_close = wsdo_ws_close,
	.presence = wsdo_on_presence,
	.http = wsdo_http,
	.http_gone = wsdo_http_gone,
	.core_up = wsdo_core_up,
	.core_message = wsdo_core_message,
	.core_published = wsdo_core_published,
	.gw_tick = wsdo_gw_tick,
	.gw_init = wsdo_gw_init,
	.gw_free = wsdo_gw_free,
};
