/* The content sync dialect's document cache (plugin/content_int.h): the
 * documents and children sets this gateway's clients need, loaded on the
 * gateway's content feed session (subscribed on first use, unsubscribed
 * when the last watcher or request lets go), each change diffed once into
 * the document's history and sent to its watchers from there; and the
 * presence writes of user documents. docs/protocols/content-sync.md. */
#define LOG_TAG "content"
#include "content_int.h"
#include "jsonpatch.h"
#include "jsonutil.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ct_gw *ct_state_of(struct wsgw_gw *gw)
{
	return gw_dialect_state(gw, &wsgw_dialect_content);
}

const struct content_config *ct_cfg(struct wsgw_gw *gw)
{
	return CONTENT_CFG(gw->cfg);
}

/* ---- frames ---- */

void ct_send(struct ct_client *c, char *text)
{
	if(text) session_send(c->s, text);
}

void ct_reply_error(struct ct_client *c, enum content_cls cls, const json_t *id, int code, const char *msg)
{
	ct_send(c, content_error(content_cls_name(cls), id, code, msg));
}

void ct_reply_result(struct ct_client *c, enum content_cls cls, const json_t *id, int status, json_t *data)
{
	ct_send(c, content_result(content_cls_name(cls), id, status, data));
}

void ct_notify_keys(struct ct_client *c, const char *cls, const struct content_key *k)
{
	json_t *keys = json_array();
	json_array_append_new(keys, content_key_json(k));
	ct_send(c, content_notify(cls, keys));
}

/* ---- the document cache ---- */

static int feed_load(struct ct_gw *g, struct ct_doc *d);

/* The document of k (kids: the set of k's children), loaded on first use;
 * the caller holds a reference (ct_doc_put). NULL: no memory. */
struct ct_doc *ct_doc_get(struct wsgw_gw *gw, const struct content_key *k, bool kids)
{
	struct ct_gw *g = ct_state_of(gw);
	struct ct_doc *d;
	char *topic = kids ? content_children_filter(gw->cfg->topic_prefix, ct_cfg(gw)->root, k)
		: content_doc_topic(gw->cfg->topic_prefix, ct_cfg(gw)->root, k);

	if(!topic) return NULL;
	HASH_FIND_STR(g->docs, topic, d);
	if(d){
		free(topic);
		d->refs++;
		return d;
	}
	d = calloc(1, sizeof(*d));
	if(!d || content_hist_init(&d->hist, (size_t)ct_cfg(gw)->history)){
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

void ct_doc_free(struct ct_doc *d)
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
void ct_doc_put(struct ct_gw *g, struct ct_doc *d)
{
	if(!d || --d->refs > 0) return;
	if(d->subscribed && g->feed_up) link_unsubscribe(g->feed, d->topic);
	HASH_DEL(g->docs, d);
	ct_doc_free(d);
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
static bool ct_own_echo(struct ct_doc *d, const struct content_ver *v)
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
			if(c && c->ready) ct_notify_keys(c, "revoke", &d->key);
			ct_watch_drop(w);
			continue;
		}
		if(!c || !c->ready) continue;   /* detached: reconnect tells it */
		json_t *patch = content_hist_patch(&d->hist, &w->ver, &d->ver, d->bytes);
		json_t *list = json_array();
		json_array_append_new(list, content_changed_entry(&d->key, &d->ver, true, false, patch));
		ct_send(c, content_notify("changed", list));
		w->ver = d->ver;
	}
	(void)g;
}

static void presence_write(struct ct_gw *g, struct ct_doc *d);

/* Publishes doc (taken; text its compact text, taken) as d's next version
 * on link, retained QoS 1 with wsgw-ver, and makes it the cache's at once
 * (history with patch, taken; NULL: diffed; the watchers), so that a second
 * write of the old ver is a conflict from now on whatever the broker
 * answers meanwhile. Its echo on the feed is then no change. *mid: the
 * PUBACK's packet id. 0, or -1 (nothing changed). */
int ct_doc_write(struct ct_gw *g, struct ct_doc *d, json_t *doc, char *text, json_t *patch,
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

void ct_doc_rollback(struct ct_gw *g, struct ct_doc *d, const struct content_ver *wver, json_t *prev,
		size_t prev_bytes, const struct content_ver *prev_ver)
{
	if(!content_ver_equal(&d->ver, wver)){
		json_decref(prev);   /* a newer change came on top: it stands */
		return;
	}
	ct_own_echo(d, wver);
	content_hist_pop(&d->hist);
	json_decref(d->content);
	d->content = prev;
	d->bytes = prev_bytes;
	d->ver = *prev_ver;
	doc_changed(g, d);
}

/* The feed's view of d is the broker's now. */
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


/* The set's links changed: every watch of it sees its page again. */
static void kids_changed(struct ct_gw *g, struct ct_doc *d)
{
	for(struct ct_cwatch *w = d->cwatches; w; w = w->dnext) ct_cwatch_refresh(g, w);
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

	if(content_topic_parse(gw->cfg->topic_prefix, ct_cfg(gw)->root, msg->topic, &parent, &child)
			!= CONTENT_TOPIC_LINK) return;
	filter = content_children_filter(gw->cfg->topic_prefix, ct_cfg(gw)->root, &parent);
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
	if(ct_own_echo(d, &v)){
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
			g->req_ready(r);
		}
		ct_doc_put(g, d);
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

void ct_feed_open(struct wsgw_gw *gw, struct ct_gw *g)
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

void ct_watch_drop(struct ct_watch *w)
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
	ct_doc_put(st->g, w->doc);
	free(w);
}

static struct ct_watch *ct_watch_find(struct ct_state *st, const struct ct_doc *d)
{
	for(struct ct_watch *w = st->watches; w; w = w->next){
		if(w->doc == d) return w;
	}
	return NULL;
}

/* Starts (or renews) st's watch of d at d->ver; true if it is new. */
bool ct_watch_set(struct ct_state *st, struct ct_doc *d)
{
	struct ct_watch *w = ct_watch_find(st, d);
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
json_t *ct_page_of(struct ct_gw *g, struct ct_doc *d, enum content_view view, long page,
		struct content_ver *ver)
{
	const struct content_config *cc = ct_cfg(g->gw);
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

json_t *ct_page_data(struct ct_gw *g, struct ct_doc *d, const struct content_ver *ver, enum content_view view,
		long page, json_t *items, json_t *patch)
{
	return content_page_data(&d->key, ver, view, page, ct_cfg(g->gw)->page_size, d->nkids, items, patch);
}

/* A watched page again: if it differs from what the client last got, a
 * changed notification with the page's patch. */
void ct_cwatch_refresh(struct ct_gw *g, struct ct_cwatch *w)
{
	struct ct_client *c = w->st->r.attached;
	struct content_ver ver;
	json_t *items, *entry, *list, *patch = NULL;

	if(!c || !c->ready) return;   /* detached: reconnect tells it */
	items = ct_page_of(g, w->node, w->view, w->page, &ver);
	/* A child beyond the page changes its total only: a change too (a pager
	 * shows it), with an empty patch. */
	if(!items || (w->items && content_ver_equal(&ver, &w->ver) && w->total == w->node->nkids)){
		json_decref(items);
		return;
	}
	if(w->items) patch = jsonpatch_diff(w->items, items, NULL, NULL);
	entry = content_changed_entry(&w->node->key, &ver, false, true, patch);
	json_object_update_missing_new(entry, ct_page_data(g, w->node, &ver, w->view, w->page, NULL, NULL));
	list = json_array();
	json_array_append_new(list, entry);
	ct_send(c, content_notify("changed", list));
	json_decref(w->items);
	w->items = items;
	w->ver = ver;
	w->total = w->node->nkids;
	ct_watch_page_users(c, items);
}

void ct_cwatch_drop(struct ct_cwatch *w)
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
	ct_doc_put(st->g, w->node);
	json_decref(w->items);
	free(w);
}

/* The page st got last for (key, view, page): a watch's, or the last one. */
struct ct_cwatch *ct_cwatch_find(struct ct_state *st, const struct content_key *k, enum content_view view,
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
bool ct_cwatch_note(struct ct_state *st, struct ct_doc *d, enum content_view view, long page,
		json_t *items, const struct content_ver *ver, bool subscribe)
{
	struct ct_cwatch *w = ct_cwatch_find(st, &d->key, view, page, subscribe);
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
char *ct_user_channel(struct ct_gw *g, const char *username)
{
	return topic_join(ct_cfg(g->gw)->root, username, (char *)NULL);
}

/* Whether a member other than exclude (NULL: none) is in username's channel. */
static bool user_live(struct ct_gw *g, const char *username, const char *exclude)
{
	const struct mirror_member **all = NULL;
	char *key = ct_user_channel(g, username);
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
	ct_doc_write(g, d, doc, text, NULL, g->feed, NULL, &wver);
}

/* The user's connected may have flipped: check its document (loading it
 * first if need be). live: a session of this gateway has just come up;
 * else the engine decides, without member exclude (a session going). */
void ct_presence_sync(struct ct_gw *g, const char *username, bool live, const char *exclude)
{
	struct content_key k;
	struct ct_doc *d;

	if(content_key_from_levels(ct_cfg(g->gw)->user_type, username, &k)) return;
	d = ct_doc_get(g->gw, &k, false);
	if(!d) return;
	d->sync_want = live ? 1 : 0;
	snprintf(d->sync_exclude, sizeof(d->sync_exclude), "%s", exclude ? exclude : "");
	if(d->known){
		presence_write(g, d);
		ct_doc_put(g, d);
	}else if(!d->sync_pending){
		d->sync_pending = true;   /* keeps the reference until known */
	}else{
		ct_doc_put(g, d);
	}
}

/* Presence events of the user channels this session watches. */
void ct_watch_user(struct ct_client *c, const struct content_key *k)
{
	struct ct_gw *g = ct_state_of(session_gw(c->s));
	char *key;

	if(strcmp(k->type, ct_cfg(g->gw)->user_type) || !(key = ct_user_channel(g, k->id))) return;
	session_watch(c->s, key);
	free(key);
}

void ct_watch_page_users(struct ct_client *c, const json_t *items)
{
	size_t i;
	json_t *e;
	struct content_key k;

	json_array_foreach(items, i, e){
		if(!content_key_parse(json_object_get(e, "key"), &k, NULL)) ct_watch_user(c, &k);
	}
}

