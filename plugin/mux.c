/* Shared broker sessions (docs/ARCHITECTURE.md, decision 2b).
 *
 * Sessions of a dialect that connect under one broker identity (websockets.do
 * listeners all use wsdo_username) can ride one MQTT session instead of one
 * each. Every distinct filter is subscribed once on it, and a message the
 * broker delivers once is handed here to every member subscribed to that
 * filter: one broker delivery and one socket read per gateway instead of per
 * listener, and one descriptor per listener instead of five.
 *
 * A member is a struct wsgw_link whose impl is link_shared (link_api.c
 * dispatches its calls here), so the dialect code is the same for both
 * kinds. The real connection is a dedicated link, driven through link.c's
 * functions directly. What the broker does per member is
 * kept: each member's SUBSCRIBE is sent (so the broker judges it, answers with
 * its own SUBACK, and sends it the retained messages), with a subscription
 * identifier of its own. Live messages carry the identifier of the filter's
 * latest SUBSCRIBE and go to every member whose SUBACK has arrived; retained
 * messages (only the broker's answer to a SUBSCRIBE carries the retain flag
 * here: no retain-as-published) go to the member of that SUBSCRIBE alone.
 *
 * What is not per member: the client id the broker sees, the will (emulated:
 * the empty retained message is published through the shared connection
 * when the member leaves with it), and the broker's per-client queue limits,
 * which apply to the whole session.
 *
 * Ownership: gw->muxes owns every wsgw_mux; a mux owns its filters, the
 * identifier map and the pending table; members are owned by their sessions
 * and unlink themselves in mux_leave. A dead mux (its connection lost) stays
 * on the list until its last member has left, then mux_tick frees it. */
#define LOG_TAG "mux"
#include "link_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#define SID_MAX 268435455u          /* largest MQTT variable byte integer */
#define SID_KEEP 64                 /* identifiers kept per filter at least */
#define SID_KEEP_MS 60000           /* and any younger than this */

struct mux_filter;

/* One subscription identifier: the filter it names, and the member whose
 * SUBSCRIBE it was while that member lives. */
struct mux_sid {
	uint32_t sid;
	UT_hash_handle hh;
	struct mux_filter *f;
	struct mux_sub *joiner;
	struct mux_sid *fnext;           /* f->sids, newest first */
	int64_t made_ms;
};

struct mux_filter {
	UT_hash_handle hh;
	char *filter;
	int qos;
	struct mux_sub *subs;
	struct mux_sid *sids;
	int nsids;
};

/* One member's subscription to one filter. */
struct mux_sub {
	struct mux_filter *f;
	struct wsgw_link *vl;
	struct mux_sub *fprev, *fnext;   /* f->subs */
	struct mux_sub *lnext;           /* vl->subs */
	struct mux_sid *sid;
	int mid;                         /* SUBACK awaited, or 0 */
	bool active;                     /* SUBACK granted */
};

/* A PUBACK or SUBACK awaited on behalf of a member. */
struct mux_pending {
	int mid;
	UT_hash_handle hh;
	struct wsgw_link *vl;
	struct mux_sub *sub;             /* SUBACK: the subscription */
};

struct wsgw_mux {
	struct wsgw_gw *gw;
	struct wsgw_mux *next;
	char *username;
	uint32_t shard;
	struct wsgw_link *link;          /* the real connection */
	bool up, dead;
	struct wsgw_link *members;
	int nmembers;
	struct mux_filter *filters;
	struct mux_sid *sids;
	struct mux_pending *pending;
	uint32_t next_sid;
	lws_sorted_usec_list_t sul;      /* owed `connected` calls */
};

/* ---- tables ---- */

static int pending_add(struct wsgw_mux *mux, int mid, struct wsgw_link *vl, struct mux_sub *sub)
{
	struct mux_pending *pd;
	HASH_FIND_INT(mux->pending, &mid, pd);
	if(pd){                          /* a packet id reused (16 bits wrap): the old one is gone */
		if(pd->sub) pd->sub->mid = 0;
		else pd->vl->npending--;
		HASH_DEL(mux->pending, pd);
		free(pd);
	}
	pd = calloc(1, sizeof(*pd));
	if(!pd) return -ENOMEM;
	pd->mid = mid;
	pd->vl = vl;
	pd->sub = sub;
	if(sub) sub->mid = mid;
	else vl->npending++;
	HASH_ADD_INT(mux->pending, mid, pd);
	return 0;
}

static struct mux_pending *pending_take(struct wsgw_mux *mux, int mid)
{
	struct mux_pending *pd;
	HASH_FIND_INT(mux->pending, &mid, pd);
	if(!pd) return NULL;
	HASH_DEL(mux->pending, pd);
	if(pd->sub) pd->sub->mid = 0;
	else pd->vl->npending--;
	return pd;
}

static void sid_free(struct wsgw_mux *mux, struct mux_sid *e)
{
	if(e->joiner) e->joiner->sid = NULL;
	HASH_DEL(mux->sids, e);
	free(e);
}

/* Forgets identifiers beyond the newest SID_KEEP once they are old enough
 * that no message tagged with them can still be on the way, in practice.
 * (One that still came would be routed by topic: see deliver_unknown.) */
static void sid_prune(struct wsgw_mux *mux, struct mux_filter *f, int64_t now)
{
	struct mux_sid **pp = &f->sids;
	int n = 0;
	while(*pp){
		struct mux_sid *e = *pp;
		if(++n > SID_KEEP && now - e->made_ms > SID_KEEP_MS){
			*pp = e->fnext;
			f->nsids--;
			sid_free(mux, e);
			continue;
		}
		pp = &e->fnext;
	}
}

static struct mux_sid *sid_new(struct wsgw_mux *mux, struct mux_filter *f, struct mux_sub *joiner)
{
	struct mux_sid *e = calloc(1, sizeof(*e)), *old;
	if(!e) return NULL;
	do{
		mux->next_sid = mux->next_sid >= SID_MAX ? 1 : mux->next_sid + 1;
		HASH_FIND(hh, mux->sids, &mux->next_sid, sizeof(uint32_t), old);
	}while(old);
	e->sid = mux->next_sid;
	e->f = f;
	e->joiner = joiner;
	e->made_ms = gw_now_ms();
	e->fnext = f->sids;
	f->sids = e;
	f->nsids++;
	HASH_ADD(hh, mux->sids, sid, sizeof(uint32_t), e);
	if(f->nsids > SID_KEEP) sid_prune(mux, f, e->made_ms);
	return e;
}

static void filter_free(struct wsgw_mux *mux, struct mux_filter *f)
{
	while(f->sids){
		struct mux_sid *e = f->sids;
		f->sids = e->fnext;
		sid_free(mux, e);
	}
	HASH_DEL(mux->filters, f);
	free(f->filter);
	free(f);
}

/* Unlinks a subscription from its filter (the caller unlinks it from the
 * member) and unsubscribes the filter when nobody is left on it. */
static void mux_sub_free(struct wsgw_mux *mux, struct mux_sub *sub)
{
	struct mux_filter *f = sub->f;

	if(sub->fprev) sub->fprev->fnext = sub->fnext;
	else f->subs = sub->fnext;
	if(sub->fnext) sub->fnext->fprev = sub->fprev;
	if(sub->sid) sub->sid->joiner = NULL;
	if(sub->mid){
		struct mux_pending *pd = pending_take(mux, sub->mid);
		free(pd);
	}
	if(!f->subs){
		if(mux->up && !mux->dead) dedicated_unsubscribe(mux->link, f->filter);
		filter_free(mux, f);
	}
	free(sub);
}

/* ---- delivery ---- */

/* Every member is handed the same msg, so the same msg->seq. */
static void deliver_filter(struct mux_filter *f, const struct wsgw_msg *msg)
{
	/* Members do not leave from inside `message` (link.c's contract). */
	for(struct mux_sub *sub = f->subs; sub; sub = sub->fnext){
		if(sub->active && !sub->vl->dead) sub->vl->ops->message(sub->vl->ud, msg);
	}
}

/* A message without an identifier we know: route it by its topic. */
static void deliver_unknown(struct wsgw_mux *mux, const struct wsgw_msg *msg)
{
	struct mux_filter *f, *tmp;

	if(msg->retain) return;          /* its SUBSCRIBE's member cannot be told */
	HASH_ITER(hh, mux->filters, f, tmp){
		if(mqttw_topic_matches(f->filter, msg->topic)) deliver_filter(f, msg);
	}
}

static void mux_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct wsgw_mux *mux = ud;
	struct mqttw_props it = msg->props;
	struct mux_sid *e;
	uint32_t sid;
	bool any = false;

	while(mqttw_props_next_sid(&it, &sid)){
		any = true;
		HASH_FIND(hh, mux->sids, &sid, sizeof(sid), e);
		if(!e){
			deliver_unknown(mux, msg);
		}else if(msg->retain){
			struct mux_sub *sub = e->joiner;
			if(sub && sub->active && !sub->vl->dead) sub->vl->ops->message(sub->vl->ud, msg);
		}else{
			deliver_filter(e->f, msg);
		}
	}
	if(!any) deliver_unknown(mux, msg);
}

/* ---- the real connection's callbacks ---- */

static void call_connected(struct wsgw_mux *mux, int rc)
{
	for(struct wsgw_link *vl = mux->members; vl; vl = vl->mnext){
		if(!vl->connect_owed) continue;
		vl->connect_owed = false;
		vl->up = rc == 0;
		vl->ops->connected(vl->ud, rc, false);
	}
}

static void owed_connected(lws_sorted_usec_list_t *sul)
{
	struct wsgw_mux *mux = lws_container_of(sul, struct wsgw_mux, sul);
	if(mux->up && !mux->dead) call_connected(mux, 0);
}

static void mux_on_connected(void *ud, int rc, bool session_present)
{
	struct wsgw_mux *mux = ud;
	(void)session_present;
	mux->up = rc == 0;
	if(rc){
		LOG_W("the broker refused the shared session of user %s: %s",
				mux->username, mqttw_reason_string((uint8_t)rc));
		mux->dead = true;            /* members close; mux_tick frees it */
	}
	call_connected(mux, rc);
}

static void mux_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct wsgw_mux *mux = ud;
	struct mux_pending *pd = pending_take(mux, mid);
	struct wsgw_link *vl;

	if(!pd) return;
	vl = pd->vl;
	if(pd->sub) pd->sub->active = count > 0 && granted[0] < 0x80;
	free(pd);
	if(vl->ops->subscribed && !vl->dead) vl->ops->subscribed(vl->ud, mid, count, granted);
}

static void mux_on_published(void *ud, int mid, int reason)
{
	struct wsgw_mux *mux = ud;
	struct mux_pending *pd = pending_take(mux, mid);
	struct wsgw_link *vl;

	if(!pd) return;
	vl = pd->vl;
	free(pd);
	if(vl->ops->published && !vl->dead) vl->ops->published(vl->ud, mid, reason);
}

static void mux_on_lost(void *ud, int rc)
{
	struct wsgw_mux *mux = ud;

	if(!mux->gw->stopping){
		LOG_W("shared session of user %s lost (%s): its %d sessions end",
				mux->username, mqttw_reason_string((uint8_t)rc), mux->nmembers);
	}
	dedicated_close(mux->link, false);
	mux->link = NULL;
	mux->up = false;
	mux->dead = true;
	for(struct wsgw_link *vl = mux->members; vl; vl = vl->mnext){
		vl->dead = true;
		vl->up = false;
	}
	/* Each `lost` may close its own member (mux_leave unlinks it). */
	for(struct wsgw_link *vl = mux->members, *next; vl; vl = next){
		next = vl->mnext;
		vl->ops->lost(vl->ud, rc);
	}
}

static const struct wsgw_link_ops mux_ops = {
	.connected = mux_on_connected,
	.message = mux_on_message,
	.subscribed = mux_on_subscribed,
	.published = mux_on_published,
	.lost = mux_on_lost,
};

/* ---- the session ---- */

static struct wsgw_mux *mux_open(struct wsgw_gw *gw, const char *username, uint32_t shard)
{
	struct wsgw_mux *mux = calloc(1, sizeof(*mux));
	struct wsgw_link_params p;
	char client_id[256];

	if(!mux) return NULL;
	mux->gw = gw;
	mux->shard = shard;
	mux->username = strdup(username);
	if(!mux->username) goto fail;
	snprintf(client_id, sizeof(client_id), "%s-shared-%u", gw->cfg->gateway_id, ++gw->mux_seq);   /* + client_id_prefix */
	memset(&p, 0, sizeof(p));
	p.client_id = client_id;
	p.username = username;
	p.clean_start = true;
	mux->link = dedicated_open(gw, &p, &mux_ops, mux);
	if(!mux->link) goto fail;
	mux->next = gw->muxes;
	gw->muxes = mux;
	return mux;
fail:
	free(mux->username);
	free(mux);
	return NULL;
}

/* Frees everything the mux owns; members still open become orphans. */
static void mux_free(struct wsgw_mux *mux)
{
	struct mux_filter *f, *ftmp;
	struct mux_pending *pd, *ptmp;

	lws_sul_cancel(&mux->sul);
	if(mux->link) dedicated_close(mux->link, false);
	for(struct wsgw_link *vl = mux->members; vl; vl = vl->mnext){
		while(vl->subs){
			struct mux_sub *sub = vl->subs;
			vl->subs = sub->lnext;
			free(sub);
		}
		vl->mux = NULL;
		vl->dead = true;
		vl->up = false;
	}
	HASH_ITER(hh, mux->pending, pd, ptmp){
		HASH_DEL(mux->pending, pd);
		free(pd);
	}
	HASH_ITER(hh, mux->filters, f, ftmp){
		f->subs = NULL;
		filter_free(mux, f);
	}
	free(mux->username);
	free(mux);
}

static struct wsgw_link *mux_join(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud)
{
	struct wsgw_mux *mux;
	struct wsgw_link *vl;

	for(mux = gw->muxes; mux; mux = mux->next){
		if(!mux->dead && mux->shard == p->shard && !strcmp(mux->username, p->username)) break;
	}
	if(!mux && !(mux = mux_open(gw, p->username, p->shard))) return NULL;
	vl = calloc(1, sizeof(*vl));
	if(!vl) return NULL;
	if(p->will_topic && !(vl->will_topic = strdup(p->will_topic))){
		free(vl);
		return NULL;
	}
	vl->gw = gw;
	vl->impl = &link_shared;
	vl->ops = ops;
	vl->ud = ud;
	vl->mux = mux;
	vl->connect_owed = true;
	vl->mnext = mux->members;
	if(mux->members) mux->members->mprev = vl;
	mux->members = vl;
	mux->nmembers++;
	/* Up already: `connected` comes from the loop, as for a new connection
	 * (never from inside link_open). Otherwise the CONNACK brings it. */
	if(mux->up) lws_sul_schedule(gw->ctx, 0, &mux->sul, owed_connected, 1);
	return vl;
}

static void mux_leave(struct wsgw_link *vl, bool send_will)
{
	struct wsgw_mux *mux = vl->mux;

	if(mux){
		while(vl->subs){
			struct mux_sub *sub = vl->subs;
			vl->subs = sub->lnext;
			mux_sub_free(mux, sub);
		}
		if(vl->npending){
			struct mux_pending *pd, *tmp;
			HASH_ITER(hh, mux->pending, pd, tmp){
				if(pd->vl == vl && !pd->sub){
					HASH_DEL(mux->pending, pd);
					free(pd);
				}
			}
		}
		/* The will the broker would have published for a connection of its
		 * own. Before the CONNACK it waits in the connection's queue. A
		 * session that is dead (refused, lost) has no connection to send it
		 * on; a member's entry exists only once its session was up, and
		 * after a loss its owner leaves without the will. */
		if(send_will && vl->will_topic && mux->link && !mux->dead){
			dedicated_publish(mux->link, NULL, vl->will_topic, NULL, 0, 1, true, NULL, 0);
		}
		if(vl->mprev) vl->mprev->mnext = vl->mnext;
		else mux->members = vl->mnext;
		if(vl->mnext) vl->mnext->mprev = vl->mprev;
		mux->nmembers--;
	}
	free(vl->will_topic);
	free(vl);
}

static int mux_publish(struct wsgw_link *vl, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops)
{
	struct wsgw_mux *mux = vl->mux;
	int m = 0, rc;

	if(!mux || vl->dead || !mux->up) return -ENOTCONN;
	rc = dedicated_publish(mux->link, &m, topic, payload, len, qos, retain, props, nprops);
	/* Out of memory for the record, the PUBACK goes unreported; the message went. */
	if(rc == 0 && qos > 0 && vl->ops->published) (void)pending_add(mux, m, vl, NULL);
	if(mid) *mid = m;
	return rc;
}

/* The member's sid is not used: the shared session numbers its own. */
static int mux_subscribe(struct wsgw_link *vl, int *mid, const char *topic, int qos, uint32_t sid)
{
	struct wsgw_mux *mux = vl->mux;
	struct mux_filter *f;
	struct mux_sub *sub;
	int m = 0, rc;

	(void)sid;
	if(!mux || vl->dead || !mux->up) return -ENOTCONN;
	HASH_FIND_STR(mux->filters, topic, f);
	if(!f){
		f = calloc(1, sizeof(*f));
		if(!f || !(f->filter = strdup(topic))){
			free(f);
			return -ENOMEM;
		}
		HASH_ADD_KEYPTR(hh, mux->filters, f->filter, strlen(f->filter), f);
	}
	if(qos > f->qos) f->qos = qos;   /* the session's subscription serves the most demanding */
	sub = calloc(1, sizeof(*sub));
	if(!sub) goto nomem;
	sub->f = f;
	sub->vl = vl;
	sub->fnext = f->subs;
	if(f->subs) f->subs->fprev = sub;
	f->subs = sub;
	sub->lnext = vl->subs;
	vl->subs = sub;
	sub->sid = sid_new(mux, f, sub);
	if(!sub->sid){
		rc = -ENOMEM;
		goto undo;
	}
	rc = dedicated_subscribe(mux->link, &m, topic, f->qos, sub->sid->sid);
	/* Without the record its SUBACK could never activate the member: undo. */
	if(rc == 0) rc = pending_add(mux, m, vl, sub);
	if(rc) goto undo;
	if(mid) *mid = m;
	return 0;

undo:
	vl->subs = sub->lnext;
	mux_sub_free(mux, sub);
	return rc;
nomem:
	if(!f->subs) filter_free(mux, f);
	return -ENOMEM;
}

static int mux_unsubscribe(struct wsgw_link *vl, const char *topic)
{
	struct mux_sub **pp;

	if(!vl->mux) return -ENOTCONN;
	for(pp = &vl->subs; *pp; pp = &(*pp)->lnext){
		if(!strcmp((*pp)->f->filter, topic)){
			struct mux_sub *sub = *pp;
			*pp = sub->lnext;
			mux_sub_free(vl->mux, sub);
			return 0;
		}
	}
	return 0;                        /* not subscribed: nothing to undo */
}

static bool mux_is_up(const struct wsgw_link *vl)
{
	return vl->up && !vl->dead;
}

/* A member has no keepalive of its own: mux_tick drives the connection's. */
static void mux_misc(struct wsgw_link *vl)
{
	(void)vl;
}

const struct link_impl link_shared = {
	.open = mux_join,
	.close = mux_leave,
	.publish = mux_publish,
	.subscribe = mux_subscribe,
	.unsubscribe = mux_unsubscribe,
	.is_up = mux_is_up,
	.misc = mux_misc,
};

void mux_tick(struct wsgw_gw *gw)
{
	struct wsgw_mux **pp = &gw->muxes;
	while(*pp){
		struct wsgw_mux *mux = *pp;
		if(mux->dead && mux->nmembers == 0){
			*pp = mux->next;
			mux_free(mux);
			continue;
		}
		if(mux->link && !mux->dead) dedicated_misc(mux->link);
		pp = &mux->next;
	}
}

void mux_stop_all(struct wsgw_gw *gw)
{
	while(gw->muxes){
		struct wsgw_mux *mux = gw->muxes;
		gw->muxes = mux->next;
		mux_free(mux);
	}
}
