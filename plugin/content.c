/* The content sync dialect (seed 002): versioned JSON documents that web
 * clients and MQTT devices share. A document is one retained message
 * (<topic_prefix>/<content_root>/<type>/<id>); a client logs in with its own
 * MQTT credentials (its own broker session decides reads and writes by the
 * broker's ACLs), reads with get_content, watches, and writes with
 * patch_content. Contract: docs/protocols/content-sync.md. Frames, keys,
 * versions, history and views are mapping/content_proto.c; this file has
 * the sessions and the requests, plugin/content_docs.c the cache.
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
#include "content_int.h"
#include "jsonpatch.h"
#include "jsonutil.h"
#include "stoken.h"
#include "topic.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CT_REQUEST_TIMEOUT_MS 10000
#define CT_CLOSE_RESUMED 4001

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
	struct ct_gw *g = ct_state_of(session_gw(c->s));

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
	ct_doc_put(g, r->doc);
	json_decref(r->id);
	json_decref(r->patch);
	json_decref(r->prev_content);
	free(r);
}

static void req_fail(struct ct_req *r, int code, const char *msg)
{
	ct_reply_error(r->c, r->cls, r->id, code, msg);
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
		ct_reply_result(c, r->cls, r->id, 204, NULL);
	}else if(r->has_ver && (patch = content_hist_patch(&d->hist, &r->ver, &d->ver, d->bytes))){
		ct_reply_result(c, r->cls, r->id, 206, content_doc_data(&d->key, &d->ver, NULL, patch));
	}else{
		ct_reply_result(c, r->cls, r->id, 200, content_doc_data(&d->key, &d->ver, json_incref(d->content), NULL));
	}
	if(r->subscribe && c->st && ct_watch_set(c->st, d)) ct_notify_keys(c, "subscribe", &d->key);
	if(r->subscribe) ct_watch_user(c, &d->key);
	req_free(r);
}

static void children_finish(struct ct_req *r)
{
	struct ct_client *c = r->c;
	struct ct_gw *g = ct_state_of(session_gw(c->s));
	struct ct_doc *d = r->doc;
	struct ct_cwatch *old;
	struct content_ver ver;
	json_t *items;

	if(r->suback >= 0x80){
		req_fail(r, CONTENT_E_REFUSED, "the broker refused to read these children (ACL)");
		return;
	}
	if(d->nkids > (size_t)ct_cfg(g->gw)->max_children){
		req_fail(r, CONTENT_E_TOO_LARGE, "more children than content_max_children");
		return;
	}
	items = ct_page_of(g, d, r->view, r->page, &ver);
	if(!items){
		req_fail(r, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	old = c->st ? ct_cwatch_find(c->st, &d->key, r->view, r->page, false) : NULL;
	if(r->has_ver && content_ver_equal(&r->ver, &ver)){
		ct_reply_result(c, r->cls, r->id, 204, NULL);
	}else if(r->has_ver && old && content_ver_equal(&old->ver, &r->ver)){
		ct_reply_result(c, r->cls, r->id, 206, ct_page_data(g, d, &ver, r->view, r->page, NULL,
				jsonpatch_diff(old->items, items, NULL, NULL)));
	}else{
		ct_reply_result(c, r->cls, r->id, 200, ct_page_data(g, d, &ver, r->view, r->page, json_incref(items), NULL));
	}
	if(c->st && ct_cwatch_note(c->st, d, r->view, r->page, items, &ver, r->subscribe)){
		ct_notify_keys(c, "subscribe", &d->key);
	}
	if(r->subscribe) ct_watch_page_users(c, items);
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
	struct ct_gw *g = ct_state_of(gw);
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
	doc_topic = content_doc_topic(gw->cfg->topic_prefix, ct_cfg(gw)->root, &r->child);
	link_topic = content_link_topic(gw->cfg->topic_prefix, ct_cfg(gw)->root, &q->key, &r->child);
	if(text && strlen(text) > (size_t)ct_cfg(gw)->max_doc){
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
	struct ct_gw *g = ct_state_of(gw);
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
	if(strlen(text) > (size_t)ct_cfg(gw)->max_doc){
		json_decref(doc);
		free(text);
		req_fail(r, CONTENT_E_TOO_LARGE, "the document would be larger than content_max_doc");
		return;
	}
	r->prev_ver = d->ver;
	r->prev_bytes = d->bytes;
	r->prev_content = json_incref(d->content);
	if(ct_doc_write(g, d, doc, text, json_incref(r->patch), session_link(c->s), &mid, &r->wver)
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
		ct_reply_result(c, r->cls, r->id, 200, data);
		req_free(r);
		return;
	}
	if(reason < 0x80){
		data = json_object();
		json_object_set_new(data, "ver", content_ver_json(&r->wver));
		ct_reply_result(c, r->cls, r->id, 200, data);
		req_free(r);
		return;
	}
	/* Refused: the broker keeps what it had, and so does the cache. */
	ct_doc_rollback(ct_state_of(session_gw(c->s)), d, &r->wver, r->prev_content, r->prev_bytes, &r->prev_ver);
	r->prev_content = NULL;
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

/* get_content and get_children: the read goes through the user's own
 * session (SUBSCRIBE, then the PINGREQ barrier) while the cache loads the
 * document or the children set on its feed. */
static void do_read(struct ct_client *c, const struct content_request *q, bool children)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_req *r = req_new(c, q);
	int mid = 0;

	if(!r){
		ct_reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	r->doc = ct_doc_get(gw, &q->key, children);
	if(!r->doc || !ct_state_of(gw)->feed_up){
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
		ct_reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	add_child_run(r, q);
}

static void do_patch_content(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_req *r = req_new(c, q);

	if(!r){
		ct_reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	r->patch = json_incref(q->patch);
	r->doc = ct_doc_get(gw, &q->key, false);
	if(!r->doc || !ct_state_of(gw)->feed_up){
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
	ct_reply_error(c, c->resuming ? CONTENT_RECONNECT : CONTENT_LOGIN, c->hello_id, code, msg);
	json_decref(c->hello_id);
	c->hello_id = NULL;
	if(c->st){
		struct wsgw_gw *gw = session_gw(c->s);
		kit_store_detach(gw, &ct_state_of(gw)->store, &c->st->r, c->resuming);
		if(c->resuming) c->st->r.expires_ms = gw_now_ms() + (int64_t)(ct_cfg(gw)->session_expiry * 1000);
		c->st = NULL;
	}
	c->resuming = false;
}

static char *token_of(struct wsgw_gw *gw, const struct ct_state *st)
{
	return stoken_make(gw->session_secret, st->r.client_id,
			gw_wall_ms() / 1000 + (int64_t)ct_cfg(gw)->session_expiry, NULL);
}

static void login_key(json_t *data, const char *name, const char *tmpl, const char *username)
{
	struct content_key k;
	if(content_template_none(tmpl) || content_template_key(tmpl, username, &k)) return;
	json_object_set_new(data, name, content_key_json(&k));
}

static void ct_on_connected(void *ud, int rc, bool session_present)
{
	struct ct_client *c = ud;
	struct wsgw_gw *gw = session_gw(c->s);
	const struct content_config *cc = ct_cfg(gw);
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
		ct_reply_result(c, CONTENT_RECONNECT, c->hello_id, 200, data);
		/* The watches are back; what changed meanwhile follows. */
		for(struct ct_watch *w = c->st->watches; w; w = w->next){
			ct_notify_keys(c, "subscribe", &w->doc->key);
			ct_watch_user(c, &w->doc->key);
		}
		for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next){
			ct_notify_keys(c, "subscribe", &w->key);
		}
		for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next) ct_cwatch_refresh(ct_state_of(gw), w);
		for(struct ct_watch *w = c->st->watches; w; w = w->next){
			struct ct_doc *d = w->doc;
			if(!d->content || content_ver_equal(&w->ver, &d->ver)) continue;
			json_t *list = json_array();
			json_array_append_new(list, content_changed_entry(&d->key, &d->ver, true, false,
					content_hist_patch(&d->hist, &w->ver, &d->ver, d->bytes)));
			ct_send(c, content_notify("changed", list));
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
		ct_reply_result(c, CONTENT_LOGIN, c->hello_id, 200, data);
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
	struct ct_gw *g = ct_state_of(gw);
	char *key = ct_user_channel(g, c->st->r.username);

	if(key && !kit_presence_take(gw, &c->pres, key, ct_heal, c)){
		c->pres_on = true;
		presence_publish(c);
		ct_presence_sync(g, c->st->r.username, true, NULL);
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
	if(c->st && sync) ct_presence_sync(ct_state_of(gw), c->st->r.username, false, c->st->r.client_id);
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
	p.session_expiry = (uint32_t)ct_cfg(gw)->session_expiry;
	return kit_link_open(c->s, &p, &client_ops, c);
}

static void ct_state_free(struct kit_resumable *r)
{
	struct ct_state *st = (struct ct_state *)r;
	while(st->watches) ct_watch_drop(st->watches);
	while(st->cwatches) ct_cwatch_drop(st->cwatches);
	for(size_t i = 0; i < CT_LAST_PAGES; i++) json_decref(st->last[i].items);
	free(st);
}

static void do_login(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	struct ct_state *st;

	/* The username names the user's presence channel (a topic level) and
	 * the reply's keys: one that cannot be either is no credential here. */
	if(!strcmp(q->username, gw->cfg->core_username) || !topic_level_valid(q->username)){
		ct_reply_error(c, q->cls, q->id, CONTENT_E_CREDENTIAL, NULL);
		return;
	}
	st = calloc(1, sizeof(*st));
	if(!st){
		ct_reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		return;
	}
	st->g = ct_state_of(gw);
	st->r.username = strdup(q->username);
	st->r.password = strdup(q->password);
	if(!st->r.username || !st->r.password){
		kit_resumable_free(&st->g->store, &st->r);
		ct_reply_error(c, q->cls, q->id, CONTENT_E_UNAVAILABLE, "out of memory");
		/* cppcheck-suppress memleak ; kit_resumable_free freed st through the store's free hook */
		return;
	}
	kit_store_add(&st->g->store, &st->r, CONTENT_MEMBER_PREFIX, c);
	c->st = st;
	c->resuming = false;
	c->hello_id = q->id ? json_incref(q->id) : NULL;
	if(open_link(c)) hello_failed(c, CONTENT_E_UNAVAILABLE, "cannot reach the broker");
}

static void ct_do_reconnect(struct ct_client *c, const struct content_request *q)
{
	struct wsgw_gw *gw = session_gw(c->s);
	const char *err;
	struct ct_state *st = (struct ct_state *)kit_store_resolve(gw, &ct_state_of(gw)->store, q->session, NULL, &err);
	struct ct_client *old;

	if(!st){
		ct_reply_error(c, q->cls, q->id, CONTENT_E_SESSION, NULL);
		return;
	}
	old = kit_store_attach(&st->r, c);
	if(old){
		/* Reconnected from another socket: that one is over; its broker
		 * session is handed over. */
		ct_reply_error(old, CONTENT_RECONNECT, NULL, CONTENT_E_SESSION, "the session was reconnected elsewhere");
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

	json_t *keys = json_array();

	reqs_clear(c);
	/* The server ends every watch: one revoke with their keys, then the result. */
	for(struct ct_watch *w = c->st->watches; w; w = w->next) json_array_append_new(keys, content_key_json(&w->doc->key));
	for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next) json_array_append_new(keys, content_key_json(&w->key));
	if(json_array_size(keys)) ct_send(c, content_notify("revoke", keys));
	else json_decref(keys);
	ct_reply_result(c, q->cls, q->id, 200, NULL);
	presence_leave(c, true);
	kit_link_end(c->s, false);
	kit_store_drop(&ct_state_of(gw)->store, &c->st->r);
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
	code = content_parse(buf, len, (size_t)ct_cfg(gw)->max_frame, &q, &msg);
	if(code){
		ct_send(c, content_error(q.cls_name, q.id, code, msg));
		content_request_clear(&q);
		return;
	}
	if(q.cls == CONTENT_LOGIN || q.cls == CONTENT_RECONNECT){
		if(c->st) ct_reply_error(c, q.cls, q.id, CONTENT_E_SHAPE, "already logged in (logout first)");
		else if(q.cls == CONTENT_LOGIN) do_login(c, &q);
		else ct_do_reconnect(c, &q);
	}else if(!c->st || !c->ready){
		ct_reply_error(c, q.cls, q.id, CONTENT_E_LOGIN, NULL);
	}else if(q.cls == CONTENT_LOGOUT){
		do_logout(c, &q);
	}else if(!link_is_up(session_link(s))){
		ct_reply_error(c, q.cls, q.id, CONTENT_E_UNAVAILABLE, "the broker session was lost");
	}else if(q.cls == CONTENT_GET_CONTENT){
		do_read(c, &q, false);
	}else if(q.cls == CONTENT_PATCH_CONTENT){
		do_patch_content(c, &q);
	}else if(q.cls == CONTENT_GET_CHILDREN){
		do_read(c, &q, true);
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
	if(!strcmp(code, "FRAME_TOO_LARGE")) ct_send(c, content_error(NULL, NULL, CONTENT_E_TOO_LARGE, msg));
	else if(!strcmp(code, "BINARY_UNSUPPORTED")) ct_send(c, content_error(NULL, NULL, CONTENT_E_JSON, msg));
	else ct_send(c, content_error(NULL, NULL, CONTENT_E_UNAVAILABLE, msg));
}

static void ct_ws_tick(struct wsgw_session *s, int64_t now)
{
	struct ct_client *c = session_priv(s);

	if(!c) return;
	if(!c->st && now >= c->login_deadline_ms && c->login_deadline_ms){
		ct_send(c, content_error(content_cls_name(CONTENT_LOGIN), NULL, CONTENT_E_LOGIN, "no login in time"));
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
		kit_store_detach(gw, &ct_state_of(gw)->store, &c->st->r, keep);
		if(keep) c->st->r.expires_ms = gw_now_ms() + (int64_t)(ct_cfg(gw)->session_expiry * 1000);
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
	struct ct_gw *g = ct_state_of(session_gw(s));
	size_t rlen = strlen(ct_cfg(g->gw)->root);

	(void)m;
	if(!c || !c->st || !c->ready || ev == WSGW_PRESENCE_UPDATED) return;
	if(strncmp(key, ct_cfg(g->gw)->root, rlen) || key[rlen] != '/') return;
	for(struct ct_cwatch *w = c->st->cwatches; w; w = w->next) ct_cwatch_refresh(g, w);
	for(struct ct_watch *w = c->st->watches; w; w = w->next){
		struct ct_doc *d = w->doc;
		if(!strcmp(d->key.type, ct_cfg(g->gw)->user_type) && !strcmp(d->key.id, key + rlen + 1)){
			ct_presence_sync(g, d->key.id, false, NULL);
			return;
		}
	}
}

static void ct_gw_tick(struct wsgw_gw *gw, int64_t now)
{
	struct ct_gw *g = ct_state_of(gw);

	kit_store_expire(&g->store, now);
	if(!g->feed && !gw->stopping && now >= g->feed_retry_ms) ct_feed_open(gw, g);
	/* The feed is no session's link: its keepalive is driven here (without
	 * it, a quiet feed was dropped by the broker after 1.5 x mqtt_keepalive:
	 * "exceeded timeout" from mosquitto 2.0.21) */
	if(g->feed && now - g->feed_misc_ms >= 1000){
		g->feed_misc_ms = now;
		link_misc(g->feed);
	}
}

/* The core session is up: the broker takes the gateway's sessions now. */
static void ct_core_up(struct wsgw_gw *gw)
{
	struct ct_gw *g = ct_state_of(gw);
	if(!g->feed) ct_feed_open(gw, g);
}

static int ct_gw_init(struct wsgw_gw *gw)
{
	struct ct_gw *g;

	/* gateway_id is the origin of this gateway's versions */
	if(strlen(gw->cfg->gateway_id) > CONTENT_ORIGIN_MAX){
		LOG_E("plugin_opt_gateway_id is longer than %d bytes, the most a content version's origin holds "
				"(shorten it, or content_enable false)", CONTENT_ORIGIN_MAX);
		return -1;
	}
	g = calloc(1, sizeof(*g));
	if(!g) return -1;
	g->gw = gw;
	g->req_ready = req_ready;
	g->store.free = ct_state_free;
	content_idgen_init(&g->ids, gw->cfg->gateway_id);
	gw_dialect_set_state(gw, &wsgw_dialect_content, g);
	return 0;
}

static void ct_gw_free(struct wsgw_gw *gw)
{
	struct ct_gw *g = ct_state_of(gw);
	struct ct_doc *d, *tmp;

	if(!g) return;
	g->feed_up = false;   /* the documents go with the feed: no UNSUBSCRIBEs */
	kit_store_free(&g->store);
	link_close(g->feed, false);
	HASH_ITER(hh, g->docs, d, tmp){
		HASH_DEL(g->docs, d);
		ct_doc_free(d);
	}
	free(g);
}

/* The registry's entry (plugin/dialects.c); the protocol is docs/protocols/content-sync.md. */
const struct wsgw_dialect wsgw_dialect_content = {
	.conf = &content_conf, .name = "content", .ws_filter = gw_filter_mount_root, .ws_open = ct_ws_open,
	.ws_text = ct_ws_text, .ws_error = ct_ws_error, .ws_tick = ct_ws_tick, .ws_close = ct_ws_close,
	.presence = ct_on_presence, .core_up = ct_core_up, .gw_tick = ct_gw_tick, .gw_init = ct_gw_init, .gw_free = ct_gw_free,
};
