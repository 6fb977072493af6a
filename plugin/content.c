/* The content sync dialect (seed 002): versioned JSON documents that web
 * clients and MQTT devices share. A document is one retained message
 * (<topic_prefix>/<content_root>/<type>/<id>); a client logs in with its own
 * MQTT credentials (its own broker session decides reads and writes by the
 * broker's ACLs), reads with get_content, watches, and writes with
 * patch_content. Contract: docs/protocols/content-sync.md. Frames, keys,
 * versions, history and views are mapping/content_proto.c; this file binds
 * them to the broker.
 *
 * Two kinds of broker session:
 * - each logged-in client's own (dedicated, persistent, its credentials):
 *   every read (SUBSCRIBE, then a PINGREQ: the retained message that comes
 *   before the PINGRESP is the document as that user may read it) and
 *   every write (a retained QoS 1 PUBLISH whose PUBACK answers it);
 * - the gateway's content feed (one, the gateway's own credentials): the
 *   document cache. A document is subscribed on it when a client first
 *   needs it and unsubscribed when the last watcher or request leaves; every
 *   change arrives there once, is diffed once into the document's history,
 *   and goes to the watchers from there. */
#define LOG_TAG "content"
#include "kit.h"
#include "content_proto.h"
#include "jsonpatch.h"
#include "jsonutil.h"
#include "stoken.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_REQUEST_TIMEOUT_MS 10000
#define CT_FEED_RETRY_MS 1000
#define CT_MEMBER_PREFIX "ct-"
#define CT_CLOSE_RESUMED 4001
#define CT_LAST_PAGES 4

#define CONTENT_CFG(cfg) ((const struct content_config *)config_dialect((cfg), &content_conf)->opts)
extern const struct wsgw_dialect wsgw_dialect_content;

struct ct_state;
struct ct_client;
struct ct_req;

/* A gateway write whose echo has not come back on the feed yet: when it
 * does, it is not a change (the cache has it, and maybe newer ones). */
struct ct_own {
	struct ct_own *next;
	struct content_ver ver;
};

/* One link of a children set: the child's key and its summary. */
struct ct_kid {
	UT_hash_handle hh;           /* the set's, by link topic */
	char *topic;
	struct content_key key;
	json_t *summary;             /* an object */
};

/* One loaded document, or one loaded set of children (the links below a
 * parent: is_kids, topic = the filter <doc topic>/children/+/+), shared by
 * every client of this gateway. */
struct ct_doc {
	UT_hash_handle hh;           /* struct ct_gw's docs, by topic (or filter) */
	char *topic;
	struct content_key key;      /* the document, or the parent */
	bool is_kids;
	struct ct_kid *kids;
	size_t nkids;
	struct ct_cwatch *cwatches;
	json_t *content;             /* NULL: there is no document */
	size_t bytes;                /* of its text */
	struct content_ver ver;
	bool known;                  /* the feed's barrier passed: content is the broker's */
	bool subscribed;             /* on the feed (its current connection) */
	bool seen;                   /* a message came since it was subscribed */
	unsigned feed_ping;          /* the feed's ping that makes it known */
	int refs;                    /* watches and requests */
	struct content_hist hist;
	struct ct_watch *watches;
	struct ct_req *waiting;      /* requests waiting for known */
	/* A user document whose connected is to be checked once it is known
	 * (holds a reference): 1 = a session of this gateway is live, 0 = ask
	 * the presence engine, leaving out member sync_exclude. */
	bool sync_pending;
	int sync_want;
	char sync_exclude[KIT_CLIENT_ID_SIZE];
	struct ct_own *own;          /* oldest first */
};

/* A client's watch of one document: part of the session's state, so it
 * outlives the socket (reconnect); the document is held meanwhile. */
struct ct_watch {
	struct ct_watch *next;       /* the state's */
	struct ct_watch *dnext;      /* the document's */
	struct ct_state *st;
	struct ct_doc *doc;
	struct content_ver ver;      /* the ver the client last got */
};

/* A page of children a client got: a watch (get_children with subscribe),
 * or the session's last page (node NULL), kept for the next request's 206. */
struct ct_cwatch {
	struct ct_cwatch *next;      /* the state's */
	struct ct_cwatch *dnext;     /* the set's */
	struct ct_state *st;
	struct ct_doc *node;         /* held; NULL: not a watch */
	struct content_key key;
	enum content_view view;
	long page;
	json_t *items;               /* the page array last sent */
	struct content_ver ver;
	size_t total;                /* children then */
};

/* What outlives the socket: from login until content_session_expiry after
 * the socket went, or logout. */
struct ct_state {
	struct kit_resumable r;      /* first; attached: the ct_client */
	struct ct_gw *g;
	struct ct_watch *watches;
	struct ct_cwatch *cwatches;
	/* The last unwatched pages it got (items NULL: none), for a 206 when it
	 * asks again: a few, so that paging back and forth keeps them. */
	struct ct_cwatch last[CT_LAST_PAGES];
	unsigned last_next;
};

/* A request waiting for the broker or for the cache. */
struct ct_req {
	struct pending_req pr;       /* in the client's table: SUBACK/PUBACK, deadline */
	struct ct_req *next;         /* the client's */
	struct ct_req *dnext;        /* the document's waiting list */
	struct ct_client *c;
	enum content_cls cls;
	json_t *id;
	struct ct_doc *doc;          /* held */
	bool subscribe;
	bool has_ver;
	struct content_ver ver;
	/* get_content: the reading session's SUBACK, its barrier, what came */
	int suback;                  /* -1: not yet */
	unsigned ping;               /* the client's ping that ends the read */
	bool read_done, got_doc, waiting;
	/* get_children */
	enum content_view view;
	long page;
	/* add_child: the child's key */
	struct content_key child;
	/* patch_content */
	json_t *patch;
	bool written;                /* published: waits for the PUBACK */
	struct content_ver wver, prev_ver;
	json_t *prev_content;
	size_t prev_bytes;
};

struct ct_client {
	struct wsgw_session *s;      /* first (kit_client_new) */
	struct ct_state *st;         /* set by login/reconnect */
	bool ready;                  /* CONNACK received */
	bool resuming;
	json_t *hello_id;            /* of the pending login/reconnect */
	struct pending requests;
	struct ct_req *reqs;
	unsigned pings, pongs;       /* link_ping calls on the current link, PINGRESPs */
	/* Its presence entry (channel <content_root>/<username>) while the
	 * socket and its broker session are up: what makes the user connected. */
	struct kit_presence pres;
	bool pres_on;
	int64_t login_deadline_ms;
};

struct ct_gw {
	struct wsgw_gw *gw;
	struct kit_store store;      /* struct ct_state */
	struct ct_doc *docs;
	struct wsgw_link *feed;
	bool feed_up;
	int64_t feed_retry_ms;
	unsigned feed_pings, feed_pongs;
	struct content_idgen ids;
};

static struct ct_gw *state_of(struct wsgw_gw *gw)
{
	return gw_dialect_state(gw, &wsgw_dialect_content);
}

static const struct content_config *cfg_of(struct wsgw_gw *gw)
{
	return CONTENT_CFG(gw->cfg);
}

/* ---- frames ---- */

static void send_text(struct ct_client *c, char *text)
{
	if(text) session_send(c->s, text);
}

static void reply_error(struct ct_client *c, enum content_cls cls, const json_t *id, int code, const char *msg)
{
	send_text(c, content_error(content_cls_name(cls), id, code, msg));
}

static void reply_result(struct ct_client *c, enum content_cls cls, const json_t *id, int status, json_t *data)
{
	send_text(c, content_result(content_cls_name(cls), id, status, data));
}

static void notify_keys(struct ct_client *c, const char *cls, const struct content_key *k)
{
	json_t *keys = json_array();
	json_array_append_new(keys, content_key_json(k));
	send_text(c, content_notify(cls, keys));
}

/* ---- the document cache ---- */

static int feed_load(struct ct_gw *g, struct ct_doc *d);

/* The document of k (kids: the set of k's children), loaded on first use;
 * the caller holds a reference (doc_put). NULL: no memory. */
static struct ct_doc *doc_get(struct wsgw_gw *gw, const struct content_key *k, bool kids)
{
	struct ct_gw *g = state_of(gw);
	struct ct_doc *d;
	char *topic = kids ? content_children_filter(gw->cfg->topic_prefix, cfg_of(gw)->root, k)
		: content_doc_topic(gw->cfg->topic_prefix, cfg_of(gw)->root, k);

	if(!topic) return NULL;
	HASH_FIND_STR(g->docs, topic, d);
	if(d){
		free(topic);
		d->refs++;
		return d;
	}
	d = calloc(1, sizeof(*d));
	if(!d || content_hist_init(&d->hist, (size_t)cfg_of(gw)->history)){
		free(d);
		free(topic);
		return NULL;
	}
	d->topic = topic;
	d->key = *k;
	d->is_kids = kids;
	d->refs = 1;
	HASH_ADD_KEYPTR(hh, g->docs, d->topic, strlen(d->topic), d);
	feed_load(g, d);
	return d;
}

static void kid_free(struct ct_kid *k)
{
	json_decref(k->summary);
	free(k->topic);
	free(k);
}

static void doc_free(struct ct_doc *d)
{
	struct ct_kid *k, *tmp;
	HASH_ITER(hh, d->kids, k, tmp){
		HASH_DEL(d->kids, k);
		kid_free(k);
	}
	while(d->own){
		struct ct_own *o = d->own;
		d->own = o->next;
		free(o);
	}
	content_hist_clear(&d->hist);
	json_decref(d->content);
	free(d->topic);
	free(d);
}

/* The last holder went: the feed lets the topic go, the memory goes. */
static void doc_put(struct ct_gw *g, struct ct_doc *d)
{
	if(!d || --d->refs > 0) return;
	if(d->subscribed && g->feed_up) link_unsubscribe(g->feed, d->topic);
	HASH_DEL(g->docs, d);
	doc_free(d);
}

static void own_add(struct ct_doc *d, const struct content_ver *v)
{
	struct ct_own *o = calloc(1, sizeof(*o)), **pp = &d->own;
	if(!o) return;
	o->ver = *v;
	while(*pp) pp = &(*pp)->next;
	*pp = o;
}

/* True if v is a write of ours on its way back: it and the older ones go. */
static bool own_echo(struct ct_doc *d, const struct content_ver *v)
{
	for(struct ct_own *o = d->own; o; o = o->next){
		if(!content_ver_equal(&o->ver, v)) continue;
		struct ct_own *stop = o->next;
		while(d->own != stop){
			struct ct_own *x = d->own;
			d->own = x->next;
			free(x);
		}
		return true;
	}
	return false;
}

static void watch_drop(struct ct_watch *w);

/* Tells every attached watcher of d that it is now at d->ver (a patch from
 * what each last got, when the history has it). A deleted document ends the
 * watches (revoke). */
static void doc_changed(struct ct_gw *g, struct ct_doc *d)
{
	struct ct_watch *w, *next;

	for(w = d->watches; w; w = next){
		struct ct_client *c = w->st->r.attached;
		next = w->dnext;
		if(!d->content){
			if(c && c->ready) notify_keys(c, "revoke", &d->key);
			watch_drop(w);
			continue;
		}
		if(!c || !c->ready) continue;   /* detached: reconnect tells it */
		json_t *patch = content_hist_patch(&d->hist, &w->ver, &d->ver, d->bytes);
		json_t *list = json_array();
		json_array_append_new(list, content_changed_entry(&d->key, &d->ver, true, false, patch));
		send_text(c, content_notify("changed", list));
		w->ver = d->ver;
	}
	(void)g;
}

static void req_ready(struct ct_req *r);
static void presence_write(struct ct_gw *g, struct ct_doc *d);
static void watch_page_users(struct ct_client *c, const json_t *items);

/* Publishes doc (taken; text its compact text, taken) as d's next version
 * on link, retained QoS 1 with wsgw-ver, and makes it the cache's at once
 * (history with patch, taken; NULL: diffed; the watchers), so that a second
 * write of the old ver is a conflict from now on whatever the broker
 * answers meanwhile. Its echo on the feed is then no change. *mid: the
 * PUBACK's packet id. 0, or -1 (nothing changed). */
static int doc_write(struct ct_gw *g, struct ct_doc *d, json_t *doc, char *text, json_t *patch,
		struct wsgw_link *link, int *mid, struct content_ver *wver)
{
	struct mqttw_prop prop;
	char *vtext;
	int rc = -1;

	content_ver_make(wver, g->gw->cfg->gateway_id, content_ver_next(d->ver.n, gw_wall_ms()));
	vtext = content_ver_text(wver);
	if(vtext){
		prop = mqttw_prop_user(CONTENT_VER_PROP, vtext);
		rc = link_publish(link, mid, d->topic, text, strlen(text), 1, true, &prop, 1);
	}
	free(vtext);
	if(!rc && !patch) patch = jsonpatch_diff(d->content, doc, NULL, NULL);
	if(rc || !patch){
		json_decref(patch);
		json_decref(doc);
		free(text);
		return -1;
	}
	content_hist_push(&d->hist, &d->ver, wver, patch);
	own_add(d, wver);
	json_decref(d->content);
	d->content = doc;
	d->bytes = strlen(text);
	d->ver = *wver;
	free(text);
	doc_changed(g, d);
	return 0;
}

/* The feed's (or a refused write's) view of d is the broker's now. */
static void doc_set(struct ct_gw *g, struct ct_doc *d, json_t *content, size_t bytes, const struct content_ver *ver)
{
	bool was_known = d->known;

	if(d->known && d->content && content){
		json_t *patch = jsonpatch_diff(d->content, content, NULL, NULL);
		if(patch) content_hist_push(&d->hist, &d->ver, ver, patch);
		else content_hist_reset(&d->hist);
	}else{
		content_hist_reset(&d->hist);
	}
	json_decref(d->content);
	d->content = content;
	d->bytes = bytes;
	d->ver = *ver;
	if(was_known) doc_changed(g, d);
}

static void cwatch_refresh(struct ct_gw *g, struct ct_cwatch *w);

/* The set's links changed: every watch of it sees its page again. */
static void kids_changed(struct ct_gw *g, struct ct_doc *d)
{
	for(struct ct_cwatch *w = d->cwatches; w; w = w->dnext) cwatch_refresh(g, w);
}

/* A link on the feed: a child of a loaded set came, changed or went. */
static void link_message(struct ct_gw *g, const struct wsgw_msg *msg)
{
	struct wsgw_gw *gw = g->gw;
	struct content_key parent, child;
	struct ct_doc *d;
	struct ct_kid *k;
	char *filter;
	json_t *summary = NULL;

	if(content_topic_parse(gw->cfg->topic_prefix, cfg_of(gw)->root, msg->topic, &parent, &child)
			!= CONTENT_TOPIC_LINK) return;
	filter = content_children_filter(gw->cfg->topic_prefix, cfg_of(gw)->root, &parent);
	if(!filter) return;
	HASH_FIND_STR(g->docs, filter, d);
	free(filter);
	if(!d || !d->is_kids) return;
	if(msg->payloadlen){
		summary = jsonutil_parse(msg->payload, msg->payloadlen, JSON_REJECT_DUPLICATES, NULL, 0);
		/* A link that is not an object still lists the child. */
		if(!json_is_object(summary)){
			json_decref(summary);
			summary = json_object();
		}
	}
	HASH_FIND_STR(d->kids, msg->topic, k);
	if(!summary){
		if(!k) return;
		HASH_DEL(d->kids, k);
		kid_free(k);
		d->nkids--;
	}else if(k){
		if(json_equal(k->summary, summary)){
			json_decref(summary);
			return;
		}
		json_decref(k->summary);
		k->summary = summary;
	}else{
		k = calloc(1, sizeof(*k));
		if(!k || !(k->topic = strdup(msg->topic))){
			free(k);
			json_decref(summary);
			return;
		}
		k->key = child;
		k->summary = summary;
		HASH_ADD_KEYPTR(hh, d->kids, k->topic, strlen(k->topic), k);
		d->nkids++;
	}
	if(d->known) kids_changed(g, d);
}

static void ver_prop(void *ud, const char *name, const char *value)
{
	struct content_ver *v = ud;
	if(!strcmp(name, CONTENT_VER_PROP) && v->origin[0] == '\0') content_ver_from_text(value, strlen(value), v);
}

/* A document message on the feed. */
static void feed_message(struct ct_gw *g, const struct wsgw_msg *msg)
{
	struct ct_doc *d;
	struct content_ver v;
	json_t *content = NULL;

	HASH_FIND_STR(g->docs, msg->topic, d);
	if(!d){
		link_message(g, msg);
		return;
	}
	d->seen = true;
	memset(&v, 0, sizeof(v));
	kit_user_props(&msg->props, ver_prop, &v);
	if(v.origin[0] == '\0') content_ver_unversioned(msg->payload, msg->payloadlen, &v);
	if(msg->payloadlen){
		content = jsonutil_parse(msg->payload, msg->payloadlen, JSON_REJECT_DUPLICATES, NULL, 0);
		if(!content){
			LOG_N("document %s is not JSON: taken as absent", msg->topic);
		}
	}
	if(d->known && content_ver_equal(&v, &d->ver) && !d->content == !content){
		json_decref(content);
		return;
	}
	if(own_echo(d, &v)){
		json_decref(content);
		return;
	}
	doc_set(g, d, content, content ? msg->payloadlen : 0, &v);
}

static void feed_on_message(void *ud, const struct wsgw_msg *msg)
{
	feed_message(ud, msg);
}

/* Subscribes d on the feed, with a ping: at its PINGRESP d is known. */
static int feed_load(struct ct_gw *g, struct ct_doc *d)
{
	if(!g->feed_up) return -ENOTCONN;
	if(link_subscribe(g->feed, NULL, d->topic, 0) || link_ping(g->feed)) return -ENOTCONN;
	d->subscribed = true;
	d->seen = false;
	d->feed_ping = ++g->feed_pings;
	return 0;
}

static void feed_on_ponged(void *ud)
{
	struct ct_gw *g = ud;
	struct ct_doc *d, *tmp;

	g->feed_pongs++;
	HASH_ITER(hh, g->docs, d, tmp){
		if(d->feed_ping != g->feed_pongs) continue;
		d->feed_ping = 0;
		if(d->known){
			/* Loaded again after the feed came back: no retained message
			 * means the document went meanwhile. */
			if(!d->is_kids && !d->seen && d->content){
				struct content_ver none = d->ver;
				doc_set(g, d, NULL, 0, &none);
			}
			return;
		}
		d->known = true;
		d->refs++;   /* the requests may let the last reference go */
		if(d->is_kids) kids_changed(g, d);
		if(d->sync_pending){
			d->sync_pending = false;
			presence_write(g, d);
			d->refs--;   /* the sync's reference; the one above is still held */
		}
		while(d->waiting){
			struct ct_req *r = d->waiting;
			d->waiting = r->dnext;
			r->waiting = false;
			req_ready(r);
		}
		doc_put(g, d);
		return;
	}
}

static void feed_on_connected(void *ud, int rc, bool session_present)
{
	struct ct_gw *g = ud;
	struct ct_doc *d, *tmp;

	(void)session_present;
	if(rc) return;   /* `lost` follows */
	g->feed_up = true;
	g->feed_pings = g->feed_pongs = 0;
	/* Every loaded document again: what changed while the feed was down
	 * comes as its retained message (a change for the watchers). */
	HASH_ITER(hh, g->docs, d, tmp) feed_load(g, d);
}

static void feed_on_lost(void *ud, int rc)
{
	struct ct_gw *g = ud;
	struct ct_doc *d, *tmp;

	LOG_W("content feed session lost (reason 0x%02x); reconnecting", rc);
	link_close(g->feed, false);
	g->feed = NULL;
	g->feed_up = false;
	g->feed_retry_ms = gw_now_ms() + CT_FEED_RETRY_MS;
	HASH_ITER(hh, g->docs, d, tmp){
		struct ct_kid *k, *ktmp;
		d->subscribed = false;
		d->feed_ping = 0;
		if(!d->is_kids) continue;
		/* The set is read again whole when the feed is back (links that
		 * went meanwhile leave no message); its watchers then see the
		 * difference. */
		HASH_ITER(hh, d->kids, k, ktmp){
			HASH_DEL(d->kids, k);
			kid_free(k);
		}
		d->nkids = 0;
		d->known = false;
	}
}

static const struct wsgw_link_ops feed_ops = {
	.connected = feed_on_connected, .message = feed_on_message, .ponged = feed_on_ponged,
	.lost = feed_on_lost,
};

static void feed_open(struct wsgw_gw *gw, struct ct_gw *g)
{
	char client_id[300];
	struct wsgw_link_params p;

	snprintf(client_id, sizeof(client_id), "content-%s", gw->cfg->gateway_id);   /* + client_id_prefix */
	memset(&p, 0, sizeof(p));
	p.client_id = client_id;
	p.username = gw->cfg->core_username;
	p.clean_start = true;
	g->feed = link_open(gw, &p, &feed_ops, g);
	if(!g->feed) g->feed_retry_ms = gw_now_ms() + CT_FEED_RETRY_MS;
}

/* ---- watches ---- */

static void watch_drop(struct ct_watch *w)
{
	struct ct_state *st = w->st;
	for(struct ct_watch **pp = &st->watches; *pp; pp = &(*pp)->next){
		if(*pp == w){
			*pp = w->next;
			break;
		}
	}
	for(struct ct_watch **pp = &w->doc->watches; *pp; pp = &(*pp)->dnext){
		if(*pp == w){
			*pp = w->dnext;
			break;
		}
	}
	doc_put(st->g, w->doc);
	free(w);
}

static struct ct_watch *watch_find(struct ct_state *st, const struct ct_doc *d)
{
	for(struct ct_watch *w = st->watches; w; w = w->next){
		if(w->doc == d) return w;
	}
	return NULL;
}

/* Starts (or renews) st's watch of d at d->ver; true if it is new. */
static bool watch_set(struct ct_state *st, struct ct_doc *d)
{
	struct ct_watch *w = watch_find(st, d);
	if(w){
		w->ver = d->ver;
		return false;
	}
	w = calloc(1, sizeof(*w));
	if(!w) return false;
	w->st = st;
	w->doc = d;
	w->ver = d->ver;
	d->refs++;
	w->next = st->watches;
	st->watches = w;
	w->dnext = d->watches;
	d->watches = w;
	return true;
}

/* ---- pages of children ---- */

/* Whether username has a live content session (the presence engine). */
static bool user_connected(struct ct_gw *g, const char *username);

/* The page'th page of view over d's children now, with its ver. NULL: no memory. */
static json_t *page_of(struct ct_gw *g, struct ct_doc *d, enum content_view view, long page,
		struct content_ver *ver)
{
	const struct content_config *cc = cfg_of(g->gw);
	struct content_entry *e = calloc(d->nkids ? d->nkids : 1, sizeof(*e));
	struct ct_kid *k, *tmp;
	size_t n = 0;
	json_t *items;

	if(!e) return NULL;
	HASH_ITER(hh, d->kids, k, tmp){
		e[n].key = k->key;
		e[n].summary = k->summary;
		e[n].connected = !strcmp(k->key.type, cc->user_type) && user_connected(g, k->key.id);
		n++;
	}
	items = content_page(e, n, view, cc->sort_field, cc->user_type, page, cc->page_size, ver);
	free(e);
	return items;
}

static json_t *page_data(struct ct_gw *g, struct ct_doc *d, const struct content_ver *ver, enum content_view view,
		long page, json_t *items, json_t *patch)
{
	return content_page_data(&d->key, ver, view, page, cfg_of(g->gw)->page_size, d->nkids, items, patch);
}

/* A watched page again: if it differs from what the client last got, a
 * changed notification with the page's patch. */
static void cwatch_refresh(struct ct_gw *g, struct ct_cwatch *w)
{
	struct ct_client *c = w->st->r.attached;
	struct content_ver ver;
	json_t *items, *entry, *list, *patch = NULL;

	if(!c || !c->ready) return;   /* detached: reconnect tells it */
	items = page_of(g, w->node, w->view, w->page, &ver);
	/* A child beyond the page changes its total only: a change too (a pager
	 * shows it), with an empty patch. */
	if(!items || (w->items && content_ver_equal(&ver, &w->ver) && w->total == w->node->nkids)){
		json_decref(items);
		return;
	}
	if(w->items) patch = jsonpatch_diff(w->items, items, NULL, NULL);
	entry = content_changed_entry(&w->node->key, &ver, false, true, patch);
	json_object_update_missing_new(entry, page_data(g, w->node, &ver, w->view, w->page, NULL, NULL));
	list = json_array();
	json_array_append_new(list, entry);
	send_text(c, content_notify("changed", list));
	json_decref(w->items);
	w->items = items;
	w->ver = ver;
	w->total = w->node->nkids;
	watch_page_users(c, items);
}

static void cwatch_drop(struct ct_cwatch *w)
{
	struct ct_state *st = w->st;
	for(struct ct_cwatch **pp = &st->cwatches; *pp; pp = &(*pp)->next){
		if(*pp == w){
			*pp = w->next;
			break;
		}
	}
	for(struct ct_cwatch **pp = &w->node->cwatches; *pp; pp = &(*pp)->dnext){
		if(*pp == w){
			*pp = w->dnext;
			break;
		}
	}
	doc_put(st->g, w->node);
	json_decref(w->items);
	free(w);
}

/* The page st got last for (key, view, page): a watch's, or the last one. */
static struct ct_cwatch *cwatch_find(struct ct_state *st, const struct content_key *k, enum content_view view,
		long page, bool watch_only)
{
	for(struct ct_cwatch *w = st->cwatches; w; w = w->next){
		if(content_key_equal(&w->key, k) && w->view == view && w->page == page) return w;
	}
	for(size_t i = 0; i < CT_LAST_PAGES && !watch_only; i++){
		struct ct_cwatch *w = &st->last[i];
		if(w->items && content_key_equal(&w->key, k) && w->view == view && w->page == page) return w;
	}
	return NULL;
}

/* Notes the page st got: a watch of it (true if the watch is new), or the
 * session's last page. */
static bool cwatch_note(struct ct_state *st, struct ct_doc *d, enum content_view view, long page,
		json_t *items, const struct content_ver *ver, bool subscribe)
{
	struct ct_cwatch *w = cwatch_find(st, &d->key, view, page, subscribe);
	bool fresh = false;

	if(!w && subscribe && (w = calloc(1, sizeof(*w)))){
		w->st = st;
		w->node = d;
		w->key = d->key;
		w->view = view;
		w->page = page;
		d->refs++;
		w->next = st->cwatches;
		st->cwatches = w;
		w->dnext = d->cwatches;
		d->cwatches = w;
		fresh = true;
	}
	if(!w){
		w = &st->last[st->last_next++ % CT_LAST_PAGES];
		w->key = d->key;
		w->view = view;
		w->page = page;
	}
	json_decref(w->items);
	w->items = json_incref(items);
	w->ver = *ver;
	w->total = d->nkids;
	return fresh;
}

/* The presence channel of a user: <content_root>/<username>. */
static char *user_channel(struct ct_gw *g, const char *username)
{
	return topic_join(cfg_of(g->gw)->root, username, (char *)NULL);
}

/* Whether a member other than exclude (NULL: none) is in username's channel. */
static bool user_live(struct ct_gw *g, const char *username, const char *exclude)
{
	const struct mirror_member **all = NULL;
	char *key = user_channel(g, username);
	size_t n = 0;
	bool live = false;

	if(key && !kit_members(g->gw, key, &all, &n)){
		for(size_t i = 0; i < n && !live; i++) live = !exclude || strcmp(all[i]->id, exclude);
	}
	free(all);
	free(key);
	return live;
}

static bool user_connected(struct ct_gw *g, const char *username)
{
	return user_live(g, username, NULL);
}

/* Writes d's connected as the engine has it, if the stored value differs
 * (through the feed: the gateway's own write). */
static void presence_write(struct ct_gw *g, struct ct_doc *d)
{
	bool want = d->sync_want == 1 || user_live(g, d->key.id, d->sync_exclude[0] ? d->sync_exclude : NULL);
	json_t *doc, *cur;
	char *text;
	struct content_ver wver;

	d->sync_exclude[0] = '\0';
	if(!json_is_object(d->content) || !g->feed_up) return;
	cur = json_object_get(d->content, "connected");
	if(json_is_boolean(cur) && json_is_true(cur) == want) return;
	doc = json_deep_copy(d->content);
	json_object_set_new(doc, "connected", json_boolean(want));
	text = jsonutil_dump(doc);
	if(!text){
		json_decref(doc);
		return;
	}
	doc_write(g, d, doc, text, NULL, g->feed, NULL, &wver);
}

/* The user's connected may have flipped: check its document (loading it
 * first if need be). live: a session of this gateway has just come up;
 * else the engine decides, without member exclude (a session going). */
static void presence_sync(struct ct_gw *g, const char *username, bool live, const char *exclude)
{
	struct content_key k;
	struct ct_doc *d;

	if(content_key_from_levels(cfg_of(g->gw)->user_type, username, &k)) return;
	d = doc_get(g->gw, &k, false);
	if(!d) return;
	d->sync_want = live ? 1 : 0;
	snprintf(d->sync_exclude, sizeof(d->sync_exclude), "%s", exclude ? exclude : "");
	if(d->known){
		presence_write(g, d);
		doc_put(g, d);
	}else if(!d->sync_pending){
		d->sync_pending = true;   /* keeps the reference until known */
	}else{
		doc_put(g, d);
	}
}

/* Presence events of the user channels this session watches. */
static void watch_user(struct ct_client *c, const struct content_key *k)
{
	struct ct_gw *g = state_of(session_gw(c->s));
	char *key;

	if(strcmp(k->type, cfg_of(g->gw)->user_type) || !(key = user_channel(g, k->id))) return;
	session_watch(c->s, key);
	free(key);
}

static void watch_page_users(struct ct_client *c, const json_t *items)
{
	size_t i;
	json_t *e;
	struct content_key k;

	json_array_foreach(items, i, e){
		if(!content_key_parse(json_object_get(e, "key"), &k, NULL)) watch_user(c, &k);
	}
}

/* ---- requests ---- */

static void req_answered(struct pending_req *pr, size_t index, int reason);
static void req_expired(struct pending_req *pr);

static struct ct_req *req_new(struct ct_client *c, const struct content_request *q)
{
	struct ct_req *r = calloc(1, sizeof(*r));
	if(!r) return NULL;
	r->c = c;
	r->cls = q->cls;
	r->id = q->id ? json_incref(q->id) : NULL;
	r->subscribe = q->subscribe;
	r->has_ver = q->has_ver;
	r->ver = q->ver;
	r->suback = -1;
	r->view = q->view;
	r->page = q->page;
	r->next = c->reqs;
	c->reqs = r;
	pendtab_add(&c->requests, &r->pr, gw_now_ms() + CT_REQUEST_TIMEOUT_MS, req_answered, req_expired);
	return r;
}

static void req_free(struct ct_req *r)
{
	struct ct_client *c = r->c;
	struct ct_gw *g = state_of(session_gw(c->s));

	pendtab_remove(&c->requests, &r->pr);
	for(struct ct_req **pp = &c->reqs; *pp; pp = &(*pp)->next){
		if(*pp == r){
			*pp = r->next;
			break;
		}
	}
	if(r->waiting){
		for(struct ct_req **pp = &r->doc->waiting; *pp; pp = &(*pp)->dnext){
			if(*pp == r){
				*pp = r->dnext;
				break;
			}
		}
	}
	doc_put(g, r->doc);
	json_decref(r->id);
	json_decref(r->patch);
	json_decref(r->prev_content);
	free(r);
}

static void req_fail(struct ct_req *r, int code, const char *msg)
{
	reply_error(r->c, r->cls, r->id, code, msg);
	req_free(r);
}

static void get_finish(struct ct_req *r)
{
	struct ct_client *c = r->c;
	struct ct_doc *d = r->doc;
	json_t *patch;

	if(r->suback >= 0x80){
		req_fail(r, CONTENT_E_REFUSED, "the broker refused to read this document (ACL)");
		return;
	}
	if(!r->got_doc || !d->content){
		req_fail(r, CONTENT_E_NOT_FOUND, NULL);
		return;
	}
	if(r->has_ver && content_ver_equal(&r->ver, &d->ver)){
		reply_result(c, r->cls, r->id, 204, NULL);
	}else if(r->has_ver && (patch = content_hist_patch(&d->hist, &r->ver, &d->ver, d->bytes))){
		reply_result(c, r->cls, r->id, 206, content_doc_data(&d->key, &d->ver, NULL, patch));
	}else{
		reply_result(c, r->cls, r->id, 200, content_doc_data(&d->key, &d->ver, json_incref(d->content), NULL));
	}
	if(r->subscribe && c->st && watch_set(c->st, d)) notify_keys(c, "subscribe", &d->key);
	if(r->subscribe) watch_user(c, &d->key);
	req_free(r);
}

static void children_finish(struct ct_req *r)
{
	struct ct_client *c = r->c;
	struct ct_gw *g = state_of(session_gw(c->s));
	struct ct_doc *d = r->doc;
	struct ct_cwatch *old;
	struct content_ver ver;
	json_t *items;

	if(r->suback >= 0x80){
		req_fail(r, CONTENT_E_REFUSED, "the broker refused to read these children (ACL)");
		return;
	}
	if(d->nkids > (size_t)cfg_of(g->gw)->max_children){
		req_fail(r, CONTENT_E_TOO_LARGE, "more children than content_max_children");
		return;
	}
	items = page_of(g, d, r->view, r->page, &ver);
	if(!items){
		req_fail(r, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	old = c->st ? cwatch_find(c->st, &d->key, r->view, r->page, false) : NULL;
	if(r->has_ver && content_ver_equal(&r->ver, &ver)){
		reply_result(c, r->cls, r->id, 204, NULL);
	}else if(r->has_ver && old && content_ver_equal(&old->ver, &r->ver)){
		reply_result(c, r->cls, r->id, 206, page_data(g, d, &ver, r->view, r->page, NULL,
				jsonpatch_diff(old->items, items, NULL, NULL)));
	}else{
		reply_result(c, r->cls, r->id, 200, page_data(g, d, &ver, r->view, r->page, json_incref(items), NULL));
	}
	if(c->st && cwatch_note(c->st, d, r->view, r->page, items, &ver, r->subscribe)){
		notify_keys(c, "subscribe", &d->key);
	}
	if(r->subscribe) watch_page_users(c, items);
	json_decref(items);
	req_free(r);
}

/* The summary a link holds, and the child document: obj without its key. */
static json_t *child_body(const json_t *obj)
{
	json_t *body = json_deep_copy(obj);
	if(body) json_object_del(body, "key");
	return body;
}

static void add_child_run(struct ct_req *r, const struct content_request *q)
{
	struct ct_client *c = r->c;
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_gw *g = state_of(gw);
	struct content_ver ver;
	struct mqttw_prop prop;
	char id[24], *doc_topic, *link_topic, *text, *vtext;
	json_t *body = child_body(q->obj);
	int mid1 = 0, mid2 = 0, rc = -1;

	snprintf(id, sizeof(id), "%lld", content_idgen_next(&g->ids, gw_wall_ms()));
	if(content_key_from_levels(q->child_type, id, &r->child)){
		json_decref(body);
		req_fail(r, CONTENT_E_KEY, NULL);
		return;
	}
	content_ver_make(&ver, gw->cfg->gateway_id, content_ver_next(0, gw_wall_ms()));
	text = body ? jsonutil_dump(body) : NULL;
	json_decref(body);
	vtext = content_ver_text(&ver);
	doc_topic = content_doc_topic(gw->cfg->topic_prefix, cfg_of(gw)->root, &r->child);
	link_topic = content_link_topic(gw->cfg->topic_prefix, cfg_of(gw)->root, &q->key, &r->child);
	if(text && strlen(text) > (size_t)cfg_of(gw)->max_doc){
		req_fail(r, CONTENT_E_TOO_LARGE, "the child would be larger than content_max_doc");
		goto out;
	}
	if(text && vtext && doc_topic && link_topic){
		/* The document first: whoever sees the link can read the child. */
		prop = mqttw_prop_user(CONTENT_VER_PROP, vtext);
		rc = link_publish(session_link(c->s), &mid1, doc_topic, text, strlen(text), 1, true, &prop, 1);
		if(!rc) rc = link_publish(session_link(c->s), &mid2, link_topic, text, strlen(text), 1, true, NULL, 0);
		if(!rc) rc = pendtab_await(&c->requests, &r->pr, mid1, 0);
		if(!rc) rc = pendtab_await(&c->requests, &r->pr, mid2, 1);
	}
	if(rc) req_fail(r, CONTENT_E_UNAVAILABLE, "the broker session cannot take the write");
out:
	free(text);
	free(vtext);
	free(doc_topic);
	free(link_topic);
}

static void patch_run(struct ct_req *r)
{
	struct ct_client *c = r->c;
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_gw *g = state_of(gw);
	struct ct_doc *d = r->doc;
	struct jsonpatch_error err;
	json_t *doc;
	char *text;
	int mid = 0;

	if(!d->content){
		req_fail(r, CONTENT_E_NOT_FOUND, NULL);
		return;
	}
	if(r->has_ver && !content_ver_equal(&r->ver, &d->ver)){
		req_fail(r, CONTENT_E_CONFLICT, NULL);
		return;
	}
	doc = jsonpatch_apply(d->content, r->patch, NULL, &err);
	if(!doc){
		int code = content_patch_code(&err);
		req_fail(r, code, code == CONTENT_E_PATCH || code == CONTENT_E_TEST ? err.text : NULL);
		return;
	}
	text = jsonutil_dump(doc);
	if(!text){
		json_decref(doc);
		req_fail(r, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	if(strlen(text) > (size_t)cfg_of(gw)->max_doc){
		json_decref(doc);
		free(text);
		req_fail(r, CONTENT_E_TOO_LARGE, "the document would be larger than content_max_doc");
		return;
	}
	r->prev_ver = d->ver;
	r->prev_bytes = d->bytes;
	r->prev_content = json_incref(d->content);
	if(doc_write(g, d, doc, text, json_incref(r->patch), session_link(c->s), &mid, &r->wver)
			|| pendtab_await(&c->requests, &r->pr, mid, 0)){
		req_fail(r, CONTENT_E_UNAVAILABLE, "the broker session cannot take the write");
		return;
	}
	r->written = true;
}

/* The request's document is known (and its read, if any, done). */
static void req_ready(struct ct_req *r)
{
	if(r->cls == CONTENT_PATCH_CONTENT) patch_run(r);
	else if(r->read_done && r->cls == CONTENT_GET_CHILDREN) children_finish(r);
	else if(r->read_done) get_finish(r);
}

static void req_answered(struct pending_req *pr, size_t index, int reason)
{
	struct ct_req *r = lws_container_of(pr, struct ct_req, pr);
	struct ct_client *c = r->c;
	struct ct_doc *d = r->doc;
	json_t *data;

	(void)index;
	if(r->cls == CONTENT_GET_CONTENT || r->cls == CONTENT_GET_CHILDREN){
		r->suback = reason;   /* the ping ends the read */
		return;
	}
	if(r->cls == CONTENT_ADD_CHILD){
		if(reason >= 0x80) r->suback = reason;   /* remembered until both PUBACKs are in */
		if(r->pr.nmids > 1) return;
		if(r->suback >= 0x80){
			req_fail(r, CONTENT_E_REFUSED, "the broker refused the write (ACL)");
			return;
		}
		data = json_object();
		json_object_set_new(data, "key", content_key_json(&r->child));
		reply_result(c, r->cls, r->id, 200, data);
		req_free(r);
		return;
	}
	if(reason < 0x80){
		data = json_object();
		json_object_set_new(data, "ver", content_ver_json(&r->wver));
		reply_result(c, r->cls, r->id, 200, data);
		req_free(r);
		return;
	}
	/* Refused: the broker keeps what it had, and so does the cache. */
	if(content_ver_equal(&d->ver, &r->wver)){
		struct ct_gw *g = state_of(session_gw(c->s));
		json_t *prev = r->prev_content;
		r->prev_content = NULL;
		own_echo(d, &r->wver);
		content_hist_pop(&d->hist);
		json_decref(d->content);
		d->content = prev;
		d->bytes = r->prev_bytes;
		d->ver = r->prev_ver;
		doc_changed(g, d);
	}
	req_fail(r, CONTENT_E_REFUSED, "the broker refused the write (ACL)");
}

static void req_expired(struct pending_req *pr)
{
	struct ct_req *r = lws_container_of(pr, struct ct_req, pr);
	req_fail(r, CONTENT_E_UNAVAILABLE, "the broker did not answer in time");
}

/* Waits for the request's document to be known, or goes on. */
static void req_when_known(struct ct_req *r)
{
	if(r->doc->known){
		req_ready(r);
		return;
	}
	r->waiting = true;
	r->dnext = r->doc->waiting;
	r->doc->waiting = r;
}

static void do_get_content(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_req *r = req_new(c, q);
	int mid = 0;

	if(!r){
		reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	r->doc = doc_get(gw, &q->key, false);
	if(!r->doc || !state_of(gw)->feed_up){
		req_fail(r, CONTENT_E_UNAVAILABLE, "the gateway's content feed is not up");
		return;
	}
	if(link_subscribe(session_link(c->s), &mid, r->doc->topic, 0) || pendtab_await(&c->requests, &r->pr, mid, 0)
			|| link_ping(session_link(c->s))){
		req_fail(r, CONTENT_E_UNAVAILABLE, "the broker session cannot take the read");
		return;
	}
	r->ping = ++c->pings;
	req_when_known(r);
}

static void do_get_children(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_req *r = req_new(c, q);
	int mid = 0;

	if(!r){
		reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	r->doc = doc_get(gw, &q->key, true);
	if(!r->doc || !state_of(gw)->feed_up){
		req_fail(r, CONTENT_E_UNAVAILABLE, "the gateway's content feed is not up");
		return;
	}
	if(link_subscribe(session_link(c->s), &mid, r->doc->topic, 0) || pendtab_await(&c->requests, &r->pr, mid, 0)
			|| link_ping(session_link(c->s))){
		req_fail(r, CONTENT_E_UNAVAILABLE, "the broker session cannot take the read");
		return;
	}
	r->ping = ++c->pings;
	req_when_known(r);
}

static void do_add_child(struct ct_client *c, const struct content_request *q)
{
	struct ct_req *r = req_new(c, q);

	if(!r){
		reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	add_child_run(r, q);
}

static void do_patch_content(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_req *r = req_new(c, q);

	if(!r){
		reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	r->patch = json_incref(q->patch);
	r->doc = doc_get(gw, &q->key, false);
	if(!r->doc || !state_of(gw)->feed_up){
		req_fail(r, CONTENT_E_UNAVAILABLE, "the gateway's content feed is not up");
		return;
	}
	req_when_known(r);
}

/* ---- the client's own session ---- */

static void ct_on_message(void *ud, const struct wsgw_msg *msg)
{
	struct ct_client *c = ud;

	/* A read in progress: this is the document as the user may read it.
	 * (The cache takes its content from the feed.) */
	for(struct ct_req *r = c->reqs; r; r = r->next){
		if(r->cls == CONTENT_GET_CONTENT && !r->read_done && r->ping > c->pongs && r->doc
				&& !strcmp(r->doc->topic, msg->topic)){
			r->got_doc = msg->payloadlen > 0;
		}
	}
}

static void ct_on_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct ct_client *c = ud;
	pendtab_answer(&c->requests, mid, count < 1 ? 0x80 : granted[0]);
}

static void ct_on_published(void *ud, int mid, int reason)
{
	struct ct_client *c = ud;
	pendtab_answer(&c->requests, mid, reason);
}

static void ct_on_ponged(void *ud)
{
	struct ct_client *c = ud;
	unsigned n = ++c->pongs;

	for(struct ct_req *r = c->reqs; r; r = r->next){
		if(!r->ping || r->ping != n) continue;
		r->read_done = true;
		/* The cache's feed carries the changes: this session need not. */
		link_unsubscribe(session_link(c->s), r->doc->topic);
		if(r->suback < 0) r->suback = 0x80;   /* no SUBACK before the PINGRESP: not granted */
		if(!r->waiting) req_ready(r);
		return;
	}
}

static void presence_publish(struct ct_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	char *text = kit_presence_entry(gw, c->st->r.client_id, json_pack("{s:s}", "user", c->st->r.username),
			gw_wall_ms());

	if(text) kit_presence_publish(gw, &c->pres, session_link(c->s), text);
	free(text);
}

static void presence_join(struct ct_client *c);
static void presence_leave(struct ct_client *c, bool sync);

static void hello_failed(struct ct_client *c, int code, const char *msg)
{
	reply_error(c, c->resuming ? CONTENT_RECONNECT : CONTENT_LOGIN, c->hello_id, code, msg);
	json_decref(c->hello_id);
	c->hello_id = NULL;
	if(c->st){
		struct wsgw_gw *gw = session_gw(c->s);
		kit_store_detach(gw, &state_of(gw)->store, &c->st->r, c->resuming);
		if(c->resuming) c->st->r.expires_ms = gw_now_ms() + (int64_t)(cfg_of(gw)->session_expiry * 1000);
		c->st = NULL;
	}
	c->resuming = false;
}

static char *token_of(struct wsgw_gw *gw, const struct ct_state *st)
{
	return stoken_make(gw->session_secret, st->r.client_id,
			gw_wall_ms() / 1000 + (int64_t)cfg_of(gw)->session_expiry, NULL);
}

static void login_key(json_t *data, const char *name, const char *tmpl, const char *username)
{
	struct content_key k;
	if(!tmpl || !tmpl[0] || content_template_key(tmpl, username, &k)) return;
	json_object_set_new(data, name, content_key_json(&k));
}

static void ct_on_connected(void *ud, int rc, bool session_present)
{
	struct ct_client *c = ud;
	struct wsgw_gw *gw = session_gw(c->s);
	const struct content_config *cc = cfg_of(gw);
	json_t *data;
	char *token;

	(void)session_present;
	if(!c->st) return;
	if(rc){
		struct kit_refusal o;
		kit_refusal(rc, &o);
		hello_failed(c, o.r.denied ? CONTENT_E_CREDENTIAL : CONTENT_E_UNAVAILABLE, o.r.denied ? NULL : o.message);
		return;
	}
	c->ready = true;
	c->pings = c->pongs = 0;
	token = token_of(gw, c->st);
	if(!token){
		hello_failed(c, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	data = json_pack("{s:s}", "session", token);
	free(token);
	if(c->resuming){
		reply_result(c, CONTENT_RECONNECT, c->hello_id, 200, data);
		/* The watches are back; what changed meanwhile follows. */
		for(struct ct_watch *w = c->st->watches; w; w = w->next){
			notify_keys(c, "subscribe", &w->doc->key);
			watch_user(c, &w->doc->key);
		}
		for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next){
			notify_keys(c, "subscribe", &w->key);
		}
		for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next) cwatch_refresh(state_of(gw), w);
		for(struct ct_watch *w = c->st->watches; w; w = w->next){
			struct ct_doc *d = w->doc;
			if(!d->content || content_ver_equal(&w->ver, &d->ver)) continue;
			json_t *list = json_array();
			json_array_append_new(list, content_changed_entry(&d->key, &d->ver, true, false,
					content_hist_patch(&d->hist, &w->ver, &d->ver, d->bytes)));
			send_text(c, content_notify("changed", list));
			w->ver = d->ver;
		}
	}else{
		const char *u = c->st->r.username;
		json_t *config = jsonutil_parse(cc->config, strlen(cc->config), JSON_REJECT_DUPLICATES, NULL, 0);
		login_key(data, "self", cc->self, u);
		login_key(data, "rooms", cc->rooms, u);
		login_key(data, "fav", cc->fav, u);
		login_key(data, "root", cc->root_key, u);
		login_key(data, "home", cc->home, u);
		json_object_set_new(data, "config", config ? config : json_object());
		reply_result(c, CONTENT_LOGIN, c->hello_id, 200, data);
	}
	json_decref(c->hello_id);
	c->hello_id = NULL;
	c->resuming = false;
	presence_join(c);
}

static void ct_heal(void *owner)
{
	struct ct_client *c = owner;
	if(c->pres_on && link_is_up(session_link(c->s))) presence_publish(c);
}

/* The socket's session is up: the user is connected (on any gateway). */
static void presence_join(struct ct_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_gw *g = state_of(gw);
	char *key = user_channel(g, c->st->r.username);

	if(key && !kit_presence_take(gw, &c->pres, key, ct_heal, c)){
		c->pres_on = true;
		presence_publish(c);
		presence_sync(g, c->st->r.username, true, NULL);
	}
	free(key);
}

/* The socket or the login goes: its entry now, and (sync) connected false
 * if it was the user's last session anywhere; a session taken over by
 * another socket does not sync, the other one stays. */
static void presence_leave(struct ct_client *c, bool sync)
{
	struct wsgw_gw *gw = session_gw(c->s);

	if(!c->pres_on) return;
	c->pres_on = false;
	if(link_is_up(session_link(c->s))) kit_presence_clear(&c->pres, session_link(c->s));
	kit_presence_release(gw, &c->pres, CORE_SLOT_CLEARING);
	if(c->st && sync) presence_sync(state_of(gw), c->st->r.username, false, c->st->r.client_id);
}

static void ct_on_hello_lost(void *ud, int rc)
{
	struct ct_client *c = ud;
	struct kit_refusal o;

	(void)rc;
	kit_refusal(REFUSAL_LOST, &o);
	if(c->hello_id) hello_failed(c, CONTENT_E_UNAVAILABLE, o.message);
}

static const struct wsgw_link_ops client_ops = {
	.connected = ct_on_connected, .message = ct_on_message, .subscribed = ct_on_subscribed,
	.published = ct_on_published, .ponged = ct_on_ponged, .lost = ct_on_hello_lost,
};

static int open_link(struct ct_client *c)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct wsgw_link_params p;

	memset(&p, 0, sizeof(p));
	p.client_id = c->st->r.client_id;
	p.username = c->st->r.username;
	p.password = c->st->r.password;
	p.clean_start = false;
	p.session_expiry = (uint32_t)cfg_of(gw)->session_expiry;
	return kit_link_open(c->s, &p, &client_ops, c);
}

static void ct_state_free(struct kit_resumable *r)
{
	struct ct_state *st = (struct ct_state *)r;
	while(st->watches) watch_drop(st->watches);
	while(st->cwatches) cwatch_drop(st->cwatches);
	for(size_t i = 0; i < CT_LAST_PAGES; i++) json_decref(st->last[i].items);
	free(st);
}

static void do_login(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_state *st;

	if(!strcmp(q->username, gw->cfg->core_username)){
		reply_error(c, q->cls, q->id, CONTENT_E_CREDENTIAL, NULL);
		return;
	}
	st = calloc(1, sizeof(*st));
	if(!st){
		reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	st->g = state_of(gw);
	st->r.username = strdup(q->username);
	st->r.password = strdup(q->password);
	if(!st->r.username || !st->r.password){
		kit_resumable_free(&st->g->store, &st->r);
		reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	kit_store_add(&st->g->store, &st->r, CT_MEMBER_PREFIX, c);
	c->st = st;
	c->resuming = false;
	c->hello_id = q->id ? json_incref(q->id) : NULL;
	if(open_link(c)) hello_failed(c, CONTENT_E_UNAVAILABLE, "cannot reach the broker");
}

static void do_reconnect(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	const char *err;
	struct ct_state *st = (struct ct_state *)kit_store_resolve(gw, &state_of(gw)->store, q->session, NULL, &err);
	struct ct_client *old;

	if(!st){
		reply_error(c, q->cls, q->id, CONTENT_E_SESSION, NULL);
		return;
	}
	old = kit_store_attach(&st->r, c);
	if(old){
		/* Reconnected from another socket: that one is over; its broker
		 * session is handed over. */
		reply_error(old, CONTENT_RECONNECT, NULL, CONTENT_E_SESSION, "the session was reconnected elsewhere");
		presence_leave(old, false);
		kit_link_end(old->s, false);
		old->st = NULL;
		session_close(old->s, CT_CLOSE_RESUMED, "RECONNECTED_ELSEWHERE");
	}
	c->st = st;
	c->resuming = true;
	c->hello_id = q->id ? json_incref(q->id) : NULL;
	if(open_link(c)) hello_failed(c, CONTENT_E_UNAVAILABLE, "cannot reach the broker");
}

static void reqs_clear(struct ct_client *c)
{
	while(c->reqs) req_free(c->reqs);
}

static void do_logout(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);

	reqs_clear(c);
	reply_result(c, q->cls, q->id, 200, NULL);
	presence_leave(c, true);
	kit_link_end(c->s, false);
	kit_store_drop(&state_of(gw)->store, &c->st->r);
	c->st = NULL;
	c->ready = false;
}

/* ---- dialect ops ---- */

static int ct_ws_open(struct wsgw_session *s, const char *route)
{
	struct ct_client *c = kit_client_new(s, sizeof(*c));
	(void)route;
	if(!c) return -1;
	pendtab_init(&c->requests);
	c->login_deadline_ms = gw_now_ms() + (int64_t)(session_gw(s)->cfg->handshake_timeout * 1000);
	return 0;
}

static void ct_ws_text(struct wsgw_session *s, const char *buf, size_t len)
{
	struct ct_client *c = session_priv(s);
	struct wsgw_gw *gw = session_gw(s);
	struct content_request q;
	const char *msg = NULL;
	int code;

	if(!c) return;
	code = content_parse(buf, len, (size_t)cfg_of(gw)->max_frame, &q, &msg);
	if(code){
		send_text(c, content_error(q.cls_name, q.id, code, msg));
		content_request_clear(&q);
		return;
	}
	if(q.cls == CONTENT_LOGIN || q.cls == CONTENT_RECONNECT){
		if(c->st) reply_error(c, q.cls, q.id, CONTENT_E_SHAPE, "already logged in (logout first)");
		else if(q.cls == CONTENT_LOGIN) do_login(c, &q);
		else do_reconnect(c, &q);
	}else if(!c->st || !c->ready){
		reply_error(c, q.cls, q.id, CONTENT_E_LOGIN, NULL);
	}else if(q.cls == CONTENT_LOGOUT){
		do_logout(c, &q);
	}else if(!link_is_up(session_link(s))){
		reply_error(c, q.cls, q.id, CONTENT_E_UNAVAILABLE, "the broker session was lost");
	}else if(q.cls == CONTENT_GET_CONTENT){
		do_get_content(c, &q);
	}else if(q.cls == CONTENT_PATCH_CONTENT){
		do_patch_content(c, &q);
	}else if(q.cls == CONTENT_GET_CHILDREN){
		do_get_children(c, &q);
	}else{
		do_add_child(c, &q);
	}
	content_request_clear(&q);
}

static void ct_ws_error(struct wsgw_session *s, const char *code, const char *message)
{
	struct ct_client *c = session_priv(s);
	char msg[160];

	if(!c) return;
	snprintf(msg, sizeof(msg), "%s: %s", code, message);
	if(!strcmp(code, "FRAME_TOO_LARGE")) send_text(c, content_error(NULL, NULL, CONTENT_E_TOO_LARGE, msg));
	else if(!strcmp(code, "BINARY")) send_text(c, content_error(NULL, NULL, CONTENT_E_JSON, msg));
	else send_text(c, content_error(NULL, NULL, CONTENT_E_UNAVAILABLE, msg));
}

static void ct_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct ct_client *c = session_priv(s);

	if(!c) return;
	if(!c->st && now >= c->login_deadline_ms && c->login_deadline_ms){
		send_text(c, content_error(content_cls_name(CONTENT_LOGIN), NULL, CONTENT_E_LOGIN, "no login in time"));
		session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "NO_LOGIN");
		c->login_deadline_ms = 0;
		return;
	}
	if(c->st) c->login_deadline_ms = 0;
	pendtab_sweep(&c->requests, now);
	if(c->pres_on && link_is_up(session_link(s)) && kit_presence_due(&c->pres, now)) presence_publish(c);
}

static void ct_ws_close(struct wsgw_session *s)
{
	struct ct_client *c = session_priv(s);
	struct wsgw_gw *gw = session_gw(s);

	if(!c) return;
	reqs_clear(c);
	presence_leave(c, true);
	if(c->st){
		/* The watches stay with the state (and their documents loaded) for
		 * a reconnect within content_session_expiry. */
		bool keep = c->ready || c->resuming;
		kit_store_detach(gw, &state_of(gw)->store, &c->st->r, keep);
		if(keep) c->st->r.expires_ms = gw_now_ms() + (int64_t)(cfg_of(gw)->session_expiry * 1000);
	}
	json_decref(c->hello_id);
	free(c);
	session_set_priv(s, NULL);
}

/* A user channel this session watches changed: its watched pages show
 * connected again, and a user document's connected follows the engine (an
 * entry that expired, its gateway gone, is written false here). */
static void ct_on_presence(struct wsgw_session *s, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct ct_client *c = session_priv(s);
	struct ct_gw *g = state_of(session_gw(s));
	size_t rlen = strlen(cfg_of(g->gw)->root);

	(void)m;
	if(!c || !c->st || !c->ready || ev == WSGW_PRESENCE_UPDATED) return;
	if(strncmp(key, cfg_of(g->gw)->root, rlen) || key[rlen] != '/') return;
	for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next) cwatch_refresh(g, w);
	for(struct ct_watch *w = c->st->watches; w; w = w->next){
		struct ct_doc *d = w->doc;
		if(!strcmp(d->key.type, cfg_of(g->gw)->user_type) && !strcmp(d->key.id, key + rlen + 1)){
			presence_sync(g, d->key.id, false, NULL);
			return;
		}
	}
}

static void ct_gw_tick(struct wsgw_gw *gw, int64_t now)
{
	struct ct_gw *g = state_of(gw);

	kit_store_expire(&g->store, now);
	if(!g->feed && !gw->stopping && now >= g->feed_retry_ms) feed_open(gw, g);
}

/* The core session is up: the broker takes the gateway's sessions now. */
static void ct_core_up(struct wsgw_gw *gw)
{
	struct ct_gw *g = state_of(gw);
	if(!g->feed) feed_open(gw, g);
}

static int ct_gw_init(struct wsgw_gw *gw)
{
	struct ct_gw *g = calloc(1, sizeof(*g));
	if(!g) return -1;
	g->gw = gw;
	g->store.free = ct_state_free;
	content_idgen_init(&g->ids, gw->cfg->gateway_id);
	gw_dialect_set_state(gw, &wsgw_dialect_content, g);
	return 0;
}

static void ct_gw_free(struct wsgw_gw *gw)
{
	struct ct_gw *g = state_of(gw);
	struct ct_doc *d, *tmp;

	if(!g) return;
	g->feed_up = false;   /* the documents go with the feed: no UNSUBSCRIBEs */
	kit_store_free(&g->store);
	link_close(g->feed, false);
	HASH_ITER(hh, g->docs, d, tmp){
		HASH_DEL(g->docs, d);
		doc_free(d);
	}
	free(g);
}

/* The registry's entry (plugin/dialects.c); the protocol is docs/protocols/content-sync.md. */
const struct wsgw_dialect wsgw_dialect_content = {
	.conf = &content_conf, .name = "content", .ws_filter = gw_filter_mount_root, .ws_open = ct_ws_open,
	.ws_text = ct_ws_text, .ws_error = ct_ws_error, .ws_tick = ct_ws_tick, .ws_close = ct_ws_close,
	.presence = ct_on_presence, .core_up = ct_core_up, .gw_tick = ct_gw_tick, .gw_init = ct_gw_init, .gw_free = ct_gw_free,
};
