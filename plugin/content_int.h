/* The content sync dialect's private header (plugin/content.c, the
 * requests and sessions; plugin/content_docs.c, the document cache). The
 * cache never calls the request code: a request whose document became known
 * goes back through struct ct_gw's req_ready. */
#ifndef WSGW_CONTENT_INT_H
#define WSGW_CONTENT_INT_H

#include "kit.h"
#include "content_proto.h"

#define CT_FEED_RETRY_MS 1000
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
	int refs;                    /* watches, page watches, requests, a pending presence sync */
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
	/* A request's document became known (content.c's, through the pointer:
	 * the cache does not call the request code). */
	void (*req_ready)(struct ct_req *r);
	struct kit_store store;      /* struct ct_state */
	struct ct_doc *docs;
	struct wsgw_link *feed;
	bool feed_up;
	int64_t feed_retry_ms;
	int64_t feed_misc_ms;        /* the feed's last link_misc (keepalive), once a second */
	unsigned feed_pings, feed_pongs;
	struct content_idgen ids;
};

/* ---- content_docs.c ---- */

/* This dialect's gateway state and options. */
struct ct_gw *ct_state_of(struct wsgw_gw *gw);
const struct content_config *ct_cfg(struct wsgw_gw *gw);

/* Frames to a client (text taken; NULL is ignored). */
void ct_send(struct ct_client *c, char *text);
void ct_reply_error(struct ct_client *c, enum content_cls cls, const json_t *id, int code, const char *msg);
void ct_reply_result(struct ct_client *c, enum content_cls cls, const json_t *id, int status, json_t *data);
/* {"type":"notify","cls":cls,"data":[k]} */
void ct_notify_keys(struct ct_client *c, const char *cls, const struct content_key *k);

/* The cache: documents and children sets, loaded on the feed. */
struct ct_doc *ct_doc_get(struct wsgw_gw *gw, const struct content_key *k, bool kids);
void ct_doc_put(struct ct_gw *g, struct ct_doc *d);
void ct_doc_free(struct ct_doc *d);
int ct_doc_write(struct ct_gw *g, struct ct_doc *d, json_t *doc, char *text, json_t *patch,
		struct wsgw_link *link, int *mid, struct content_ver *wver);   /* 0 or -1 */
/* A write the broker refused: the cache goes back to prev (taken) unless a
 * newer change came on top. */
void ct_doc_rollback(struct ct_gw *g, struct ct_doc *d, const struct content_ver *wver, json_t *prev,
		size_t prev_bytes, const struct content_ver *prev_ver);
void ct_feed_open(struct wsgw_gw *gw, struct ct_gw *g);

/* Watches of documents and of pages. */
bool ct_watch_set(struct ct_state *st, struct ct_doc *d);
void ct_watch_drop(struct ct_watch *w);
void ct_cwatch_refresh(struct ct_gw *g, struct ct_cwatch *w);
void ct_cwatch_drop(struct ct_cwatch *w);
struct ct_cwatch *ct_cwatch_find(struct ct_state *st, const struct content_key *k, enum content_view view,
		long page, bool watch_only);
bool ct_cwatch_note(struct ct_state *st, struct ct_doc *d, enum content_view view, long page,
		json_t *items, const struct content_ver *ver, bool subscribe);
json_t *ct_page_of(struct ct_gw *g, struct ct_doc *d, enum content_view view, long page,
		struct content_ver *ver);
json_t *ct_page_data(struct ct_gw *g, struct ct_doc *d, const struct content_ver *ver, enum content_view view,
		long page, json_t *items, json_t *patch);

/* Presence: user channels, the session's watch of them, connected writes. */
char *ct_user_channel(struct ct_gw *g, const char *username);
void ct_watch_user(struct ct_client *c, const struct content_key *k);
void ct_watch_page_users(struct ct_client *c, const json_t *items);
void ct_presence_sync(struct ct_gw *g, const char *username, bool live, const char *exclude);

#endif
