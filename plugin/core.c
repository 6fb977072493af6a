/* The gateway's own broker session ("core"): it keeps the presence mirror fed
 * from the retained presence tree, clears entries left by this gateway's
 * previous run, publishes on behalf of HTTP requests, and carries what the
 * dialects subscribe to gateway-wide (acks). Reconnects every second if lost
 * (every 100 ms until it has first been up, for the first CORE_PROMPT_MS). New
 * clients are accepted once it is ready: up, and its subscriptions made at
 * CONNACK acknowledged (gw->ready, which the transport reads). */
#define LOG_TAG "core"
#include "wsgw.h"
#include "jsonutil.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORE_RETRY_MS 1000
#define CORE_RETRY_FIRST_MS 100     /* at start: the broker opens its listeners after the plugin */
#define CORE_PROMPT_MS 10000        /* how long after the first start that holds */

/* ---- presence slots ---- */

struct slot {
	int64_t busy_until;          /* 0 free; INT64_MAX held; else free from then on */
	bool clearing;               /* released: free when its clear comes back */
	void (*heal)(void *owner);
	void *owner;
};

struct slot_key {
	UT_hash_handle hh;
	char *key;
	struct slot *slots;
	int n, held;
};

struct core_slots {
	char tag[TOPIC_SLOT_TAG_LEN + 1];   /* of this gateway's slot levels (topic_slot_tag) */
	struct slot_key *keys;
};

static struct core_slots *slots_of(struct wsgw_gw *gw)
{
	if(!gw->slots){
		gw->slots = calloc(1, sizeof(*gw->slots));
		if(!gw->slots) return NULL;
		topic_slot_tag(gw->cfg->gateway_id, gw->slots->tag);
	}
	return gw->slots;
}

static void slot_key_free(struct core_slots *cs, struct slot_key *sk)
{
	HASH_DEL(cs->keys, sk);
	free(sk->key);
	free(sk->slots);
	free(sk);
}

int core_slot_take(struct wsgw_gw *gw, const char *key, char out[CORE_SLOT_SIZE],
		void (*heal)(void *owner), void *owner)
{
	struct core_slots *cs = slots_of(gw);
	struct slot_key *sk = NULL;
	int64_t now = gw_now_ms();
	int i;

	if(!cs) return -1;
	HASH_FIND_STR(cs->keys, key, sk);
	if(!sk){
		sk = calloc(1, sizeof(*sk));
		if(!sk || !(sk->key = strdup(key))){
			free(sk);
			return -1;
		}
		HASH_ADD_KEYPTR(hh, cs->keys, sk->key, strlen(sk->key), sk);
	}
	for(i = 0; i < sk->n && sk->slots[i].busy_until > now; i++){}
	if(i == sk->n){
		struct slot *grown = realloc(sk->slots, (size_t)(sk->n + 1) * sizeof(*grown));
		if(!grown){
			if(!sk->held) slot_key_free(cs, sk);
			return -1;
		}
		sk->slots = grown;
		sk->n++;
	}
	sk->slots[i].busy_until = INT64_MAX;
	sk->slots[i].clearing = false;
	sk->slots[i].heal = heal;
	sk->slots[i].owner = owner;
	sk->held++;
	topic_slot_level(out, CORE_SLOT_SIZE, cs->tag, i);
	return i;
}

void core_slot_release(struct wsgw_gw *gw, const char *key, int n, enum core_slot_end how)
{
	struct core_slots *cs = gw->slots;
	struct slot_key *sk = NULL;
	int64_t now = gw_now_ms();

	if(!cs || n < 0 || !key) return;
	HASH_FIND_STR(cs->keys, key, sk);
	if(!sk || n >= sk->n || sk->slots[n].busy_until != INT64_MAX) return;
	/* A late will of a session the broker has not seen die yet comes within
	 * 1.5 keepalives; a clear that never comes back (core down) is waited for
	 * as long. */
	sk->slots[n].busy_until = how == CORE_SLOT_CLEARED ? now
		: now + (int64_t)gw->cfg->mqtt_keepalive * 1500 + 1000;
	sk->slots[n].clearing = how == CORE_SLOT_CLEARING;
	sk->slots[n].heal = NULL;
	sk->slots[n].owner = NULL;
	sk->held--;
}

/* Forgets the slots whose hold is over at the end of each key, and the keys
 * with none left, so that this table is bounded by the members of now. */
static void slots_sweep(struct wsgw_gw *gw, int64_t now)
{
	struct slot_key *sk, *tmp;
	if(!gw->slots) return;
	HASH_ITER(hh, gw->slots->keys, sk, tmp){
		while(sk->n && sk->slots[sk->n - 1].busy_until <= now) sk->n--;
		if(!sk->n) slot_key_free(gw->slots, sk);
	}
}

void core_slots_free(struct wsgw_gw *gw)
{
	struct slot_key *sk, *tmp;
	if(!gw->slots) return;
	HASH_ITER(hh, gw->slots->keys, sk, tmp) slot_key_free(gw->slots, sk);
	free(gw->slots);
	gw->slots = NULL;
}

/* An entry of ours was cleared (the broker has applied it): a released slot
 * is free from now on; one that is still held is published again. */
static void slot_cleared(struct wsgw_gw *gw, const char *key, const char *level)
{
	struct core_slots *cs = gw->slots;
	struct slot_key *sk = NULL;
	int n;

	if(!cs || (n = topic_slot_number(level, cs->tag)) < 0) return;
	HASH_FIND_STR(cs->keys, key, sk);
	if(!sk || n >= sk->n) return;
	if(sk->slots[n].clearing){
		sk->slots[n].clearing = false;
		sk->slots[n].busy_until = 0;
		return;
	}
	if(sk->slots[n].busy_until != INT64_MAX || !sk->slots[n].heal) return;
	LOG_I("presence %s/%s was cleared while held; republishing", key, level);
	sk->slots[n].heal(sk->slots[n].owner);
}

static void mirror_event(void *ud, const char *key, enum mirror_event ev, const struct mirror_member *m)
{
	struct wsgw_gw *gw = ud;
	enum wsgw_presence_event pev = ev == MIRROR_JOINED ? WSGW_PRESENCE_JOINED
		: ev == MIRROR_UPDATED ? WSGW_PRESENCE_UPDATED : WSGW_PRESENCE_LEFT;
	presence_dispatch(gw, key, pev, m);
}

/* True if payload is a presence entry of this gateway from an earlier run. */
static bool is_stale_own(struct wsgw_gw *gw, const void *payload, size_t len)
{
	json_t *root;
	const char *g, *b;
	bool stale = false;

	if(!len || !memmem(payload, len, gw->cfg->gateway_id, strlen(gw->cfg->gateway_id))) return false;
	root = jsonutil_parse(payload, len, JSON_REJECT_DUPLICATES, NULL, 0);
	g = json_string_value(json_object_get(root, "gateway"));
	b = json_string_value(json_object_get(root, "boot"));
	if(g && b && !strcmp(g, gw->cfg->gateway_id) && strcmp(b, gw->boot_id)) stale = true;
	json_decref(root);
	return stale;
}

static void presence_message(struct wsgw_gw *gw, const struct wsgw_msg *msg)
{
	char *key = NULL;
	const char *member;
	uint32_t expiry = 0;

	if(!topic_presence_split(gw->cfg->presence_prefix, msg->topic, &key, &member)) return;
	if(is_stale_own(gw, msg->payload, (size_t)msg->payloadlen)){
		/* Left by our previous run (crash, kill -9): clear it at once. */
		LOG_I("clearing stale presence %s from an earlier run", msg->topic);
		core_publish(gw, NULL, msg->topic, NULL, 0, 1, true, NULL, 0);
		mirror_apply(&gw->mirror, key, member, NULL, 0, 0, gw_now_ms(), mirror_event, gw);
		/* If a holder of ours has the slot, it heals when this clear comes
		 * back from the broker (below), not before the broker applied it. */
		free(key);
		return;
	}
	mqttw_props_int(&msg->props, MQTTW_PROP_MESSAGE_EXPIRY, &expiry);
	if(mirror_apply(&gw->mirror, key, member, msg->payload, msg->payloadlen,
			expiry, gw_now_ms(), mirror_event, gw)){
		LOG_W("out of memory mirroring presence %s", msg->topic);
	}
	if(!msg->payloadlen) slot_cleared(gw, key, member);
	free(key);
}

static void core_on_connected(void *ud, int rc, bool session_present)
{
	struct wsgw_gw *gw = ud;
	char *filter;

	(void)session_present;
	if(rc){
		LOG_E("the broker refused the core session: %s (%d); "
				"check that the listener in plugin_opt_broker_socket/broker_port exists", mqttw_reason_string((uint8_t)rc), rc);
		return;
	}
	metrics_core(&gw->metrics, true);
	gw->core_was_up = true;
	gw->ready = false;
	gw->core_ready_mid = 0;        /* core_subscribe notes the last SUBSCRIBE's id */
	filter = topic_join(gw->cfg->presence_prefix, "#", (char *)NULL);
	if(!filter || core_subscribe(gw, filter)){
		LOG_E("cannot subscribe the presence tree");
	}
	free(filter);
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->core_up) gw->mounts[i].dialect->core_up(gw);
	}
	LOG_I("core session up (gateway %s, boot %s)", gw->cfg->gateway_id, gw->boot_id);
	if(!gw->core_ready_mid) gw->ready = true;
}

/* SUBACKs come in order: the last one of those sent at CONNACK means the
 * presence tree and every dialect's topics are subscribed. */
static void core_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct wsgw_gw *gw = ud;

	for(int i = 0; i < count; i++){
		if(granted[i] >= 0x80){
			LOG_E("the broker refused a subscription of the core session (0x%02x): "
					"check the ACLs of core_username", granted[i]);
		}
	}
	if(!gw->ready && gw->core_ready_mid && mid == gw->core_ready_mid){
		gw->ready = true;
		LOG_I("gateway ready: accepting clients");
	}
}

static void core_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct wsgw_gw *gw = ud;
	size_t plen = strlen(gw->cfg->presence_prefix);

	if(!plen || (!strncmp(msg->topic, gw->cfg->presence_prefix, plen) && msg->topic[plen] == '/')){
		presence_message(gw, msg);
		if(plen) return;
	}
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->core_message && gw->mounts[i].dialect->core_message(gw, msg)) return;
	}
}

static void core_on_published(void *ud, int mid, int reason)
{
	struct wsgw_gw *gw = ud;
	pendtab_answer(&gw->core_requests, mid, reason);
}

static int64_t retry_delay(const struct wsgw_gw *gw)
{
	return !gw->core_was_up && gw_now_ms() - gw->core_started_ms < CORE_PROMPT_MS
		? CORE_RETRY_FIRST_MS : CORE_RETRY_MS;
}

static void core_on_lost(void *ud, int rc)
{
	struct wsgw_gw *gw = ud;
	if(!gw->stopping) LOG_W("core session lost (%s); reconnecting", mqttw_reason_string((uint8_t)rc));
	metrics_core(&gw->metrics, false);
	link_close(gw->core, false);
	gw->core = NULL;
	gw->ready = false;
	pendtab_forget_mids(&gw->core_requests);
	gw->core_retry_ms = gw_now_ms() + retry_delay(gw);
}

static const struct wsgw_link_ops core_ops = {
	.connected = core_on_connected,
	.message = core_on_message,
	.subscribed = core_on_subscribed,
	.published = core_on_published,
	.lost = core_on_lost,
};

int core_start(struct wsgw_gw *gw)
{
	char client_id[300];
	struct wsgw_link_params p;

	snprintf(client_id, sizeof(client_id), "core-%s", gw->cfg->gateway_id);   /* + client_id_prefix */
	memset(&p, 0, sizeof(p));
	p.client_id = client_id;
	p.username = gw->cfg->core_username;
	p.clean_start = true;
	p.urgent = true;               /* first in the connect queue; waits for the listener */
	if(!gw->core_started_ms) gw->core_started_ms = gw_now_ms();
	gw->ready = false;
	gw->core = link_open(gw, &p, &core_ops, gw);
	if(!gw->core){
		gw->core_retry_ms = gw_now_ms() + retry_delay(gw);
		return -1;
	}
	return 0;
}

void core_tick(struct wsgw_gw *gw, int64_t now_ms)
{
	if(!gw->core && !gw->stopping && now_ms >= gw->core_retry_ms) core_start(gw);
	pendtab_sweep(&gw->core_requests, now_ms);
	if(now_ms - gw->last_expire_ms >= 250){
		gw->last_expire_ms = now_ms;
		mirror_expire(&gw->mirror, now_ms, mirror_event, gw);
	}
	if(now_ms - gw->last_slot_sweep_ms >= 5000){
		gw->last_slot_sweep_ms = now_ms;
		slots_sweep(gw, now_ms);
	}
}

void core_stop(struct wsgw_gw *gw)
{
	gw->ready = false;
	if(gw->core){
		link_close(gw->core, false);
		gw->core = NULL;
	}
}

bool core_is_up(const struct wsgw_gw *gw)
{
	return link_is_up(gw->core);
}

int core_publish(struct wsgw_gw *gw, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops)
{
	if(!gw->core) return -ENOTCONN;
	return link_publish(gw->core, mid, topic, payload, len, qos, retain, props, nprops);
}

int core_request(struct wsgw_gw *gw, struct pending_req *req, size_t index, const char *topic,
		const void *payload, size_t len, const struct mqttw_prop *props, size_t nprops)
{
	int mid = 0, rc = core_publish(gw, &mid, topic, payload, len, 1, false, props, nprops);
	if(!rc && pendtab_await(&gw->core_requests, req, mid, index)) rc = -ENOMEM;
	return rc;
}

struct pending *core_pending(struct wsgw_gw *gw)
{
	return &gw->core_requests;
}

int core_subscribe(struct wsgw_gw *gw, const char *topic)
{
	int mid = 0, rc;

	if(!gw->core) return -ENOTCONN;
	rc = link_subscribe(gw->core, &mid, topic, 1);
	if(!rc && !gw->ready) gw->core_ready_mid = mid;
	return rc;
}
