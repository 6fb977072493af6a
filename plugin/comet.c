/* The Comet dialect (seed 001, nano-kit/goeasy comet): a WebSocket subscribe
 * stream with AUTH, rooms and heartbeats, and an HTTP API (Publish, Broadcast,
 * DumpSession), on the MQTT topics of docs/protocols/comet.md. Frame and body
 * parsing is in mapping/comet_proto.c; this file binds it to the core.
 *
 * Each authenticated client owns one MQTT session (client id <root>-<uid>, so
 * the broker's client-id takeover keeps one per uid and broker) subscribed to
 * its user topic, the world topic and its room's topic. Presence is one
 * retained entry per session whose will clears it. The core session carries
 * Events (delivered to this gateway's clients only) and claims (one session
 * per uid across bridged brokers). */
#define LOG_TAG "comet"
#include "kit.h"
#include "comet_proto.h"
#include "jsonutil.h"
#include "topic.h"

#include <mosquitto_broker.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define API_TIMEOUT_MS 5000       /* PUBACK deadline of Publish/Broadcast */
#define AUTH_HEADER_MAX 8192
#define CLOSE_HEARTBEAT_TIMEOUT 4000
#define CLOSE_REPLACED 4001

/* This dialect's options (mapping/comet_proto.h) and its registry entry (at
 * the end of this file). */
#define COMET_CFG(cfg) ((const struct comet_config *)config_dialect((cfg), &comet_conf)->opts)
extern const struct wsgw_dialect wsgw_dialect_comet;

/* ---- per client ---- */

struct comet_client {
	struct wsgw_session *s;      /* first (kit_client_new) */
	UT_hash_handle hh;           /* comet_state()->by_uid, while indexed */
	bool authed;                 /* AUTH accepted: uid and topics are set */
	bool indexed;
	bool replaced;               /* a newer session of the uid took over */
	bool ready;                  /* subscriptions in place, the first HB sent */
	char *uid;
	char *rid;                   /* current room, "" = the world only */
	char *user_topic, *room_topic;
	struct kit_presence pres;    /* on this gateway's slot of the world */
	int64_t birth_ms;            /* wall clock */
	char birth[COMET_BIRTH_SIZE];
	char nonce[COMET_NONCE_SIZE];
	int init_mids[3];            /* SUBACKs awaited before ready */
	int ninit;
	int user_mid, world_mid;     /* SUBACKs of the uid's and the world's topics */
	int room_mid;                /* SUBACK of the current room's subscription */
	int64_t auth_deadline_ms;
	int64_t last_up_ms, last_down_ms, last_hb_ms;
};

/* ---- per HTTP Publish/Broadcast waiting for its PUBACK ---- */

struct comet_api {
	struct kit_http_wait w;      /* first: h->priv */
	struct pending_req pr;       /* in core_pending */
	struct wsgw_gw *gw;
};

struct comet_gw {
	char *base;                  /* topic_prefix/comet_root */
	char *world_topic;           /* base/world */
	char *event_topic;           /* base/event */
	char *claim_base;            /* base/claim */
	char *mirror_key;            /* comet_root/world: presence channel key */
	struct comet_client *by_uid;
};

static struct comet_gw *comet_state(struct wsgw_gw *gw)
{
	return gw_dialect_state(gw, &wsgw_dialect_comet);
}

static struct comet_client *find_uid(struct wsgw_gw *gw, const char *uid)
{
	struct comet_client *c = NULL;
	HASH_FIND_STR(comet_state(gw)->by_uid, uid, c);
	return c;
}

static void unindex(struct comet_client *c)
{
	if(!c->indexed) return;
	HASH_DEL(comet_state(session_gw(c->s))->by_uid, c);
	c->indexed = false;
}

static void send_text(struct comet_client *c, char *text)
{
	if(!text) return;
	c->last_down_ms = gw_now_ms();
	session_send(c->s, text);
}

static void comet_send_error(struct comet_client *c, const char *code, const char *reason, const char *message)
{
	send_text(c, comet_error_frame(code, reason, message));
}

static void comet_client_fail(struct comet_client *c, const char *code, const char *reason, const char *message,
		int close_code)
{
	if(session_closing(c->s)) return;
	comet_send_error(c, code, reason, message);
	session_close(c->s, close_code, code);
}

static void send_hb(struct comet_client *c, int64_t now)
{
	send_text(c, comet_hb_frame());
	c->last_hb_ms = now;
}

static void push(struct comet_client *c, const char *evt, size_t len)
{
	if(!c->authed || session_closing(c->s)) return;
	send_text(c, comet_push_frame(evt, len));
}

/* Publishes this session's retained presence entry (its own link, so ACLs
 * decide; expiring, refreshed every presence_ttl/3). */
static void comet_publish_presence(struct comet_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	char *text = comet_presence(c->uid, c->rid, c->birth, gw->cfg->gateway_id, gw->boot_id, c->birth_ms);

	if(text && kit_presence_publish(gw, &c->pres, session_link(c->s), text)){
		LOG_W("presence publish for %s failed", c->uid);
	}
	free(text);
}

/* The entry was cleared under us (a late will of the slot's last holder). */
static void comet_heal(void *owner)
{
	struct comet_client *c = owner;
	if(c->ready && link_is_up(session_link(c->s))) comet_publish_presence(c);
}

/* Tells the other gateways that this session is the uid's one. */
static void publish_claim(struct comet_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	char *topic = topic_join(comet_state(gw)->claim_base, c->uid, (char *)NULL);
	char *text = comet_claim_build(c->uid, gw->cfg->gateway_id, gw->boot_id, c->birth_ms, c->nonce);

	if(!topic || !text || core_publish(gw, NULL, topic, text, strlen(text), 1, false, NULL, 0)){
		LOG_W("cannot publish the claim of %s (core session down?)", c->uid);
	}
	free(topic);
	free(text);
}

static void comet_slot_release(struct comet_client *c)
{
	kit_presence_release(session_gw(c->s), &c->pres,
			session_link_was_lost(c->s) ? CORE_SLOT_LOST : CORE_SLOT_CLEARING);   /* the will clears it */
}

/* A newer session of the uid took over: close this one with REPLACED. Its
 * broker session ends now, with its will: the entry on this session's slot
 * goes (the new session's is on a slot of its own). */
static void client_replace(struct comet_client *c, const char *message)
{
	unindex(c);
	c->replaced = true;
	kit_link_end(c->s, true);
	comet_slot_release(c);
	LOG_I("session of %s (%s) replaced: %s", c->uid, session_peer(c->s), message);
	comet_client_fail(c, "REPLACED", NULL, message, CLOSE_REPLACED);
}

/* ---- rooms ---- */

static int set_room(struct comet_client *c, const char *rid)
{
	char *copy = strdup(rid);
	char *topic = *rid ? topic_join(comet_state(session_gw(c->s))->base, "room", rid, (char *)NULL) : NULL;

	if(!copy || (*rid && !topic)){
		free(copy);
		free(topic);
		return -1;
	}
	free(c->rid);
	free(c->room_topic);
	c->rid = copy;
	c->room_topic = topic;
	return 0;
}

/* JOIN: leaves the current room (if any) and enters rid ("" = the world only).
 * The same room is a no-op. */
static void join_room(struct comet_client *c, const char *rid)
{
	struct wsgw_link *link = session_link(c->s);
	bool up = link_is_up(link);

	if(!strcmp(rid, c->rid)) return;
	if(up && c->room_topic) link_unsubscribe(link, c->room_topic);
	c->room_mid = 0;
	if(set_room(c, rid)){
		comet_client_fail(c, "OUT_OF_MEMORY", NULL, NULL, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	if(!up) return;   /* on_connected subscribes the room of the moment */
	if(c->room_topic && link_subscribe(link, &c->room_mid, c->room_topic, 1)){
		comet_client_fail(c, "BROKER_UNAVAILABLE", NULL, "cannot subscribe the room", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	/* After the SUBSCRIBE on the same connection: once the broker has the
	 * entry, it has the subscription too. */
	comet_publish_presence(c);
}

/* ---- link callbacks ---- */

static void comet_on_connected(void *ud, int rc, bool session_present)
{
	struct comet_client *c = ud;
	struct wsgw_link *link = session_link(c->s);
	const char *topics[3];
	int n = 0;

	(void)session_present;   /* clean sessions */
	if(rc){
		struct kit_refusal o;
		kit_refusal(rc, &o);
		comet_client_fail(c, o.r.code, NULL, o.message, o.r.close_code);
		return;
	}
	topics[n++] = c->user_topic;
	topics[n++] = comet_state(session_gw(c->s))->world_topic;
	if(c->room_topic) topics[n++] = c->room_topic;
	c->ninit = 0;
	for(int i = 0; i < n; i++){
		int mid = 0;
		if(link_subscribe(link, &mid, topics[i], 1)){
			comet_client_fail(c, "BROKER_UNAVAILABLE", NULL, "cannot subscribe", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
			return;
		}
		c->init_mids[c->ninit++] = mid;
		if(i == 0) c->user_mid = mid;
		else if(i == 1) c->world_mid = mid;
		else c->room_mid = mid;
	}
	comet_publish_presence(c);
}

static void room_refused(struct comet_client *c)
{
	char msg[200];
	snprintf(msg, sizeof(msg), "the broker refused the subscription to room %.128s; back in the world only", c->rid);
	comet_send_error(c, "FORBIDDEN", NULL, msg);
	c->room_mid = 0;
	if(set_room(c, "")){
		comet_client_fail(c, "OUT_OF_MEMORY", NULL, NULL, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	if(link_is_up(session_link(c->s))) comet_publish_presence(c);
}

static void comet_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct comet_client *c = ud;
	bool refused = false, was_init = false;

	for(int i = 0; i < count; i++) refused = refused || granted[i] >= 0x80;
	for(int i = 0; i < c->ninit; i++){
		if(c->init_mids[i] == mid){
			c->init_mids[i] = c->init_mids[--c->ninit];
			was_init = true;
			break;
		}
	}
	if(refused){
		if(mid == c->user_mid || mid == c->world_mid){
			comet_client_fail(c, "FORBIDDEN", NULL, "the broker refused the subscription to this uid's topics",
					LWS_CLOSE_STATUS_POLICY_VIOLATION);
			return;
		}
		if(mid == c->room_mid && c->room_mid) room_refused(c);
		/* else: a room left since */
	}
	if(was_init && c->ninit == 0 && !c->ready && !session_closing(c->s)){
		/* The first HB says: authenticated, and pushes reach you from now on. */
		c->ready = true;
		send_hb(c, gw_now_ms());
	}
}

static void comet_on_published(void *ud, int mid, int reason)
{
	struct comet_client *c = ud;
	if(reason >= 0x80 && mid == c->pres.mid){
		comet_client_fail(c, "FORBIDDEN", NULL, "the broker refused this session's presence", LWS_CLOSE_STATUS_POLICY_VIOLATION);
	}
}

static void comet_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct comet_client *c = ud;
	char *evt;
	size_t len = 0;

	/* Pushes are live: a retained message is not replayed on subscribe. */
	if(msg->retain) return;
	if(strcmp(msg->topic, c->user_topic) && strcmp(msg->topic, comet_state(session_gw(c->s))->world_topic)
			&& (!c->room_topic || strcmp(msg->topic, c->room_topic))){
		return;   /* e.g. the last room's, while its UNSUBSCRIBE is under way */
	}
	evt = comet_evt_from_payload(msg->payload, (size_t)msg->payloadlen, &len);
	if(!evt){
		kit_payload_dropped(msg, "comet: ");
		return;
	}
	push(c, evt, len);
	free(evt);
}

static const struct wsgw_link_ops client_ops = {
	.connected = comet_on_connected, .message = comet_on_message,
	.subscribed = comet_on_subscribed, .published = comet_on_published,
};

/* ---- WebSocket side ---- */

static int comet_ws_filter(struct wsgw_gw *gw, const char *subpath, char **route)
{
	(void)gw;
	(void)route;
	switch(comet_route(subpath)){
	case COMET_ROUTE_SUBSCRIBE:
		return 0;
	case COMET_ROUTE_NONE:
		return 404;
	default:
		return 405;   /* the API methods are plain POSTs */
	}
}

static void comet_client_free(struct comet_client *c)
{
	comet_slot_release(c);
	free(c->uid);
	free(c->rid);
	free(c->user_topic);
	free(c->room_topic);
	free(c);
}

static int comet_ws_open(struct wsgw_session *s, const char *route)
{
	struct comet_client *c = kit_client_new(s, sizeof(*c));
	const struct wsgw_config *cfg = session_gw(s)->cfg;
	double auth_s = cfg->handshake_timeout < COMET_CFG(cfg)->hb_drop ? cfg->handshake_timeout : COMET_CFG(cfg)->hb_drop;
	int64_t now = gw_now_ms();

	(void)route;
	if(!c) return -1;
	c->pres.slot = -1;
	c->rid = strdup("");
	if(!c->rid) return -1;
	/* The broker session opens with AUTH, when the uid is known. */
	c->auth_deadline_ms = now + (int64_t)(auth_s * 1000);
	c->last_up_ms = c->last_down_ms = c->last_hb_ms = now;
	return 0;
}

static void comet_ws_error(struct wsgw_session *s, const char *code, const char *message)
{
	if(session_priv(s)) comet_send_error(session_priv(s), code, NULL, message);
}

/* The first uplink: AUTH (maybe with join), else an error and close. */
static void authenticate(struct comet_client *c, const struct comet_uplink *u)
{
	struct wsgw_session *s = c->s;
	struct wsgw_gw *gw = session_gw(s);
	struct comet_gw *st = comet_state(gw);
	struct jwtauth_identity id;
	struct wsgw_link_params p;
	struct comet_client *old;
	const char *why = NULL, *err;
	char *client_id = NULL;
	unsigned char rnd[8];

	if(u->t != COMET_AUTH){
		comet_client_fail(c, "AUTH_REQUIRED", NULL, "the first message must be AUTH {\"t\":\"AUTH\",\"auth\":{\"token\":...}}",
				LWS_CLOSE_STATUS_POLICY_VIOLATION);
		return;
	}
	if(!u->token || !*u->token){
		comet_client_fail(c, "UNAUTHORIZED", JWTAUTH_E_MALFORMED, "AUTH needs auth.token", LWS_CLOSE_STATUS_POLICY_VIOLATION);
		return;
	}
	err = gw_jwt_verify(gw, u->token, &id, &why);
	if(err){
		LOG_N("AUTH from %s refused: %s (%s)", session_peer(s), err, why);
		comet_client_fail(c, "UNAUTHORIZED", err, why, LWS_CLOSE_STATUS_POLICY_VIOLATION);
		return;
	}
	if(!topic_channel_valid(id.sub)){
		jwtauth_identity_clear(&id);
		comet_client_fail(c, "UNAUTHORIZED", JWTAUTH_E_SUBJECT,
				"the token's sub cannot be a uid: 1 to 128 bytes without control characters or a leading '$'",
				LWS_CLOSE_STATUS_POLICY_VIOLATION);
		return;
	}
	c->uid = strdup(id.sub);
	jwtauth_identity_clear(&id);
	c->user_topic = c->uid ? topic_join(st->base, "user", c->uid, (char *)NULL) : NULL;
	client_id = c->uid ? malloc(strlen(COMET_CFG(gw->cfg)->root) + strlen(c->uid) + 2) : NULL;
	if(!c->user_topic || !client_id || kit_presence_take(gw, &c->pres, st->mirror_key, comet_heal, c)
			|| (u->has_join && set_room(c, u->rid))){
		free(client_id);
		comet_client_fail(c, "OUT_OF_MEMORY", NULL, NULL, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
		return;
	}
	/* One session per uid: the newest wins, here at once, elsewhere by claim. */
	old = find_uid(gw, c->uid);
	if(old) client_replace(old, "another session of this uid subscribed");

	c->authed = true;
	c->birth_ms = gw_wall_ms();
	comet_birth(c->birth_ms, c->birth);
	gw_random(rnd, sizeof(rnd));
	for(size_t i = 0; i < sizeof(rnd); i++) snprintf(c->nonce + 2*i, 3, "%02x", rnd[i]);
	HASH_ADD_KEYPTR(hh, st->by_uid, c->uid, strlen(c->uid), c);
	c->indexed = true;
	publish_claim(c);
	LOG_I("%s subscribed from %s%s%s", c->uid, session_peer(s),
			*c->rid ? " into room " : "", c->rid);

	/* Client id from the uid: the broker's takeover ends any older session
	 * of the uid on this broker, whichever gateway opened it. */
	sprintf(client_id, "%s-%s", COMET_CFG(gw->cfg)->root, c->uid);
	memset(&p, 0, sizeof(p));
	p.client_id = client_id;
	p.username = COMET_CFG(gw->cfg)->username;
	p.clean_start = true;
	p.will_topic = c->pres.topic;   /* clears the entry if the session dies */
	if(kit_link_open(s, &p, &client_ops, c)){
		comet_client_fail(c, "BROKER_UNAVAILABLE", NULL, "cannot open a broker session", LWS_CLOSE_STATUS_UNEXPECTED_CONDITION);
	}
	free(client_id);
}

static void comet_ws_text(struct wsgw_session *s, const char *buf, size_t len)
{
	struct comet_client *c = session_priv(s);
	struct comet_uplink u;
	const char *msg = NULL, *err;

	if(session_closing(s)) return;
	c->last_up_ms = gw_now_ms();   /* any uplink counts as activity */
	err = comet_parse_uplink(buf, len, &u, &msg);
	if(err){
		if(!c->authed) comet_client_fail(c, err, NULL, msg, LWS_CLOSE_STATUS_POLICY_VIOLATION);
		else comet_send_error(c, err, NULL, msg);
		return;
	}
	if(!c->authed){
		authenticate(c, &u);
	}else{
		switch(u.t){
		case COMET_HB:
			break;
		case COMET_AUTH:
			comet_send_error(c, "ALREADY_AUTHENTICATED", NULL, "AUTH is only the first message; this one is ignored");
			break;
		case COMET_JOIN:
			join_room(c, u.rid);
			break;
		case COMET_PUSH:
			break;   /* refused by the parser */
		}
	}
	comet_uplink_clear(&u);
}

static void comet_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct comet_client *c = session_priv(s);
	const struct wsgw_config *cfg = session_gw(s)->cfg;
	int64_t idle = (int64_t)(COMET_CFG(cfg)->hb_idle * 1000), drop = (int64_t)(COMET_CFG(cfg)->hb_drop * 1000);

	if(!c) return;
	if(!c->authed){
		if(now >= c->auth_deadline_ms){
			comet_client_fail(c, "AUTH_TIMEOUT", NULL, "no AUTH in time", LWS_CLOSE_STATUS_POLICY_VIOLATION);
		}
		return;
	}
	/* Frames the core took but did not hand over (binary, rate limited) are
	 * uplink activity too. comet_hb_drop, not the core's idle_timeout, decides
	 * when a silent client goes (own_liveness). */
	if(session_last_rx_ms(s) > c->last_up_ms) c->last_up_ms = session_last_rx_ms(s);
	if(now - c->last_up_ms >= drop){
		comet_client_fail(c, "HEARTBEAT_TIMEOUT", NULL, "nothing received for comet_hb_drop seconds", CLOSE_HEARTBEAT_TIMEOUT);
		return;
	}
	if(c->ready && (now - c->last_down_ms >= idle || (now - c->last_up_ms >= idle && now - c->last_hb_ms >= idle))){
		send_hb(c, now);
	}
	if(c->ready && kit_presence_due(&c->pres, now) && link_is_up(session_link(s))) comet_publish_presence(c);
}

static void comet_ws_close(struct wsgw_session *s)
{
	struct comet_client *c = session_priv(s);
	if(!c) return;
	unindex(c);
	/* Leaving: the will (an empty retained message on the presence topic)
	 * clears the entry (a replaced session's link is gone already). */
	kit_link_will(s);
	comet_client_free(c);
	session_set_priv(s, NULL);
}

/* ---- HTTP API ---- */

/* The PUBACK of a Publish/Broadcast. */
static void api_answered(struct pending_req *r, size_t index, int reason)
{
	struct comet_api *p = lws_container_of(r, struct comet_api, pr);
	struct wsgw_http *h = kit_http_take(&p->w);

	(void)index;
	pendtab_remove(core_pending(p->gw), r);
	if(h){
		if(reason >= 0x80) http_reply_error(h, 403, "FORBIDDEN", "the broker refused the publish (ACL)");
		else http_reply(h, 200, strdup("{}"));
	}
	free(p);
}

static void api_expired(struct pending_req *r)
{
	struct comet_api *p = lws_container_of(r, struct comet_api, pr);
	struct wsgw_http *h = kit_http_take(&p->w);

	if(h) http_reply_error(h, 503, "BROKER_UNAVAILABLE", "the broker did not confirm the publish");
	free(p);
}

static void api_free(struct pending_req *r)
{
	struct comet_api *p = lws_container_of(r, struct comet_api, pr);
	kit_http_take(&p->w);
	free(p);
}

/* Returns 0 when the request carries a service credential, else replies. */
static int api_auth(struct wsgw_http *h)
{
	struct wsgw_gw *gw = h->gw;
	char *buf = malloc(AUTH_HEADER_MAX), *token;
	struct jwtauth_identity id;
	const char *why = NULL, *err;
	int rc = -1;

	if(!buf){
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return -1;
	}
	if(http_header(h, "authorization", buf, AUTH_HEADER_MAX) < 0 || !(token = comet_bearer(buf))){
		http_reply_error(h, 401, "UNAUTHORIZED", "Authorization: Bearer <token> is required");
		goto out;
	}
	if(COMET_CFG(gw->cfg)->service_token && comet_secret_equal(token, COMET_CFG(gw->cfg)->service_token)){
		rc = 0;
		goto out;
	}
	err = gw_jwt_verify(gw, token, &id, &why);
	if(err){
		json_t *o = json_pack("{s:s,s:s,s:s}", "error", "UNAUTHORIZED", "reason", err, "message",
				!strcmp(err, JWTAUTH_E_MALFORMED) ? "not the service token, nor a JWT" : why);
		http_reply(h, 401, o ? json_dumps(o, JSON_COMPACT) : NULL);
		json_decref(o);
		goto out;
	}
	jwtauth_identity_clear(&id);
	if(!comet_jwt_is_service(token)){
		http_reply_error(h, 403, "FORBIDDEN", "the token is valid but not a service token (\"type\":\"service\" or \"service\" in \"scopes\")");
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

static void api_publish(struct wsgw_http *h, const char *topic, const struct comet_req *r)
{
	struct wsgw_gw *gw = h->gw;
	struct comet_api *p;

	if(!core_is_up(gw)){
		http_reply_error(h, 503, "BROKER_UNAVAILABLE", "the gateway's broker session is down");
		return;
	}
	p = calloc(1, sizeof(*p));
	if(!p){
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return;
	}
	p->gw = gw;
	pendtab_add(core_pending(gw), &p->pr, gw_now_ms() + API_TIMEOUT_MS, api_answered, api_expired);
	if(core_request(gw, &p->pr, 0, topic, r->evt, r->evt_len, NULL, 0)){
		pendtab_remove(core_pending(gw), &p->pr);
		free(p);
		http_reply_error(h, 503, "BROKER_UNAVAILABLE", "the publish failed");
		return;
	}
	kit_http_wait(&p->w, h);
	/* cppcheck-suppress memleak ; p is owned by the pending table (pendtab_add above) until answered or expired */
}

/* DumpSession from the presence mirror: this gateway's sessions (the seed's
 * "this comet instance"), or with cluster every session the shared presence
 * tree holds. */
static void api_dump(struct wsgw_http *h, bool cluster)
{
	struct wsgw_gw *gw = h->gw;
	const struct mirror_member **all;
	size_t cap, n = 0;
	struct comet_sess *v;
	json_t **keep;
	char *text;

	if(kit_members(gw, comet_state(gw)->mirror_key, &all, &cap)){
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return;
	}
	v = calloc(cap ? cap : 1, sizeof(*v));
	keep = calloc(cap ? cap : 1, sizeof(*keep));   /* NOLINT(bugprone-sizeof-expression): an array of pointers */
	if(!v || !keep){
		free(all);
		free(v);
		free(keep);
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return;
	}
	for(size_t i = 0; i < cap; i++){
		const struct mirror_member *m = all[i];
		json_t *pres;
		const char *rid, *birth;
		if(!cluster && (!m->gateway || !m->boot || strcmp(m->gateway, gw->cfg->gateway_id)
					|| strcmp(m->boot, gw->boot_id))){
			continue;
		}
		pres = json_loads(m->presence, 0, NULL);
		rid = json_string_value(json_object_get(pres, "rid"));
		birth = json_string_value(json_object_get(pres, "birth"));
		keep[n] = pres;
		v[n].uid = m->id;
		v[n].rid = rid && (!*rid || topic_channel_valid(rid)) ? rid : "";
		v[n].birth = birth ? birth : "";
		v[n].gateway = m->gateway;
		n++;
	}
	free(all);
	text = comet_dump(v, n, cluster);
	for(size_t i = 0; i < n; i++) json_decref(keep[i]);
	free(keep);
	free(v);
	if(text) http_reply(h, 200, text);
	else http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
}

static void comet_http(struct wsgw_http *h, const char *subpath)
{
	struct comet_gw *st = comet_state(h->gw);
	enum comet_route route = comet_route(subpath);
	struct comet_req r;
	const char *code = NULL, *msg = NULL;
	char *topic;

	switch(route){
	case COMET_ROUTE_NONE:
		http_reply_error(h, 404, "NOT_FOUND", NULL);
		return;
	case COMET_ROUTE_SUBSCRIBE:
		http_reply_ws_only(h, "Subscribe");
		return;
	default:
		break;
	}
	if(!h->is_post){
		h->allow = "POST";
		http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "the Comet API takes POST");
		return;
	}
	if(api_auth(h)) return;
	if(comet_parse_request(route, h->body, h->body_len, &r, &code, &msg)){
		http_reply_error(h, 400, code, msg);
		return;
	}
	switch(route){
	case COMET_ROUTE_PUBLISH:
		topic = topic_join(st->base, "user", r.uid, (char *)NULL);
		break;
	case COMET_ROUTE_BROADCAST:
		topic = *r.rid ? topic_join(st->base, "room", r.rid, (char *)NULL) : strdup(st->world_topic);
		break;
	default:
		api_dump(h, r.cluster);
		comet_req_clear(&r);
		return;
	}
	if(topic) api_publish(h, topic, &r);
	else http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
	free(topic);
	comet_req_clear(&r);
}

/* ---- gateway-wide ---- */

static void comet_core_up(struct wsgw_gw *gw)
{
	struct comet_gw *st = comet_state(gw);
	char *claims = topic_join(st->claim_base, "+", (char *)NULL);

	if(core_subscribe(gw, st->event_topic)) LOG_E("cannot subscribe %s", st->event_topic);
	if(!claims || core_subscribe(gw, claims)) LOG_E("cannot subscribe the claims");
	free(claims);
}

/* An Event {uid, rid, evt}: to the uid, else to the room, else to the world,
 * among this gateway's sessions (every gateway's core gets the Event). */
static void on_event(struct wsgw_gw *gw, const struct wsgw_msg *msg)
{
	struct comet_req r;
	const char *why = NULL;
	struct comet_client *c, *tmp;

	if(msg->retain) return;   /* live only, as pushes */
	if(comet_parse_event(msg->payload, (size_t)msg->payloadlen, &r, &why)){
		LOG_N("ignored a bad Event on %s: %s", msg->topic, why);
		return;
	}
	if(*r.uid){
		c = find_uid(gw, r.uid);
		if(c) push(c, r.evt, r.evt_len);
	}else{
		HASH_ITER(hh, comet_state(gw)->by_uid, c, tmp){
			if(!*r.rid || !strcmp(c->rid, r.rid)) push(c, r.evt, r.evt_len);
		}
	}
	comet_req_clear(&r);
}

static void on_claim(struct wsgw_gw *gw, const char *uid, const struct wsgw_msg *msg)
{
	struct comet_claim cl;
	struct comet_client *c;

	if(comet_claim_parse(msg->payload, (size_t)msg->payloadlen, &cl)) return;
	if(strcmp(cl.uid, uid) || (!strcmp(cl.gateway, gw->cfg->gateway_id) && !strcmp(cl.boot, gw->boot_id))){
		comet_claim_clear(&cl);
		return;   /* our own: local sessions are replaced directly */
	}
	c = find_uid(gw, uid);
	if(c){
		if(comet_session_cmp(c->birth_ms, c->nonce, cl.birth_ms, cl.nonce) < 0){
			client_replace(c, "another session of this uid subscribed on another gateway");
		}else{
			/* Ours is the newer one (both subscribed at about the same time):
			 * say so, and the other gateway closes its own. */
			publish_claim(c);
		}
	}
	comet_claim_clear(&cl);
}

static bool comet_core_message(struct wsgw_gw *gw, const struct wsgw_msg *msg)
{
	struct comet_gw *st = comet_state(gw);
	size_t clen = strlen(st->claim_base);

	if(!strcmp(msg->topic, st->event_topic)){
		on_event(gw, msg);
		return true;
	}
	if(!strncmp(msg->topic, st->claim_base, clen) && msg->topic[clen] == '/'){
		const char *uid = msg->topic + clen + 1;
		if(*uid && !strchr(uid, '/')) on_claim(gw, uid, msg);
		return true;
	}
	return false;
}

static int comet_gw_init(struct wsgw_gw *gw)
{
	const struct wsgw_config *cfg = gw->cfg;
	struct comet_gw *st = calloc(1, sizeof(*st));

	if(!st) return -1;
	gw_dialect_set_state(gw, &wsgw_dialect_comet, st);
	st->base = topic_join(cfg->topic_prefix, COMET_CFG(cfg)->root, (char *)NULL);
	st->world_topic = topic_join(cfg->topic_prefix, COMET_CFG(cfg)->root, "world", (char *)NULL);
	st->event_topic = topic_join(cfg->topic_prefix, COMET_CFG(cfg)->root, "event", (char *)NULL);
	st->claim_base = topic_join(cfg->topic_prefix, COMET_CFG(cfg)->root, "claim", (char *)NULL);
	st->mirror_key = topic_join(COMET_CFG(cfg)->root, "world", (char *)NULL);
	if(!st->base || !st->world_topic || !st->event_topic || !st->claim_base || !st->mirror_key) return -1;
	if(!gw->jwt.hs256_secret && !gw->jwt.rs256_pem){
		LOG_W("no JWT key configured (jwt_hs256_secret, jwt_rs256_public_key_file): every AUTH will be refused");
	}
	return 0;
}

static void comet_gw_free(struct wsgw_gw *gw)
{
	struct comet_gw *st = comet_state(gw);
	if(!st) return;
	pendtab_clear(core_pending(gw), api_expired, api_free);
	HASH_CLEAR(hh, st->by_uid);   /* the clients are their sessions' */
	free(st->base);
	free(st->world_topic);
	free(st->event_topic);
	free(st->claim_base);
	free(st->mirror_key);
	free(st);
}

/* The registry's entry (plugin/dialects.c); the protocol is docs/protocols/comet.md. */
const struct wsgw_dialect wsgw_dialect_comet = {
	.conf = &comet_conf, .own_liveness = true, .name = "Comet", .ws_filter = comet_ws_filter,
	.ws_open = comet_ws_open, .ws_text = comet_ws_text, .ws_error = comet_ws_error,
	.ws_tick = comet_ws_tick, .ws_close = comet_ws_close, .http = comet_http, .http_gone = kit_http_gone,
	.core_up = comet_core_up, .core_message = comet_core_message, .gw_init = comet_gw_init,
	.gw_free = comet_gw_free,
};
