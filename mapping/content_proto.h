/* The content sync dialect (seed 002): request frames, replies and
 * notifications, document keys and their topics, versions, the per-document
 * history of patches, child ids and the paged views of children.
 * Pure code, no I/O. The contract is docs/protocols/content-sync.md. */
#ifndef WSGW_CONTENT_PROTO_H
#define WSGW_CONTENT_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jsonpatch.h"
#include "option.h"

/* ---- error codes ----
 * <HTTP status><4 digits>, the seed's four and the project's. The status of
 * a reply is the code / 10000 (content_error_status). */
/* Of the member ids (client ids) the gateway hands out to content sessions:
 * their presence entries are guarded (plugin.c, docs/SECURITY.md). */
#define CONTENT_MEMBER_PREFIX "ct-"

#define CONTENT_E_JSON          4000010   /* the frame is not JSON */
#define CONTENT_E_SHAPE         4000020   /* not a request object, a member missing or of the wrong type */
#define CONTENT_E_CLS           4000030   /* unknown cls */
#define CONTENT_E_KEY           4000040   /* a key that is not {type, id} as the protocol says */
#define CONTENT_E_PATCH         4000050   /* a patch that does not apply (operation index and why) */
#define CONTENT_E_LOGIN         4010100   /* login required */
#define CONTENT_E_CREDENTIAL    4010130   /* the broker refused the credentials (seed) */
#define CONTENT_E_SESSION       4010220   /* unknown or expired session token (seed) */
#define CONTENT_E_REFUSED       4030100   /* the broker refused a read or write (ACL) */
#define CONTENT_E_NOT_FOUND     4040420   /* no such document (seed) */
#define CONTENT_E_CONFLICT      4090630   /* ver is not the current one (seed) */
#define CONTENT_E_TEST          4090640   /* a patch's test operation failed */
#define CONTENT_E_TOO_LARGE     4130010   /* frame, patch, document or children over their limit */
#define CONTENT_E_UNAVAILABLE   5030100   /* the broker is not reachable or not ready */

/* The HTTP-like status of a code (code / 10000): 400, 401, ... */
int content_error_status(int code);
/* The default message of a code of the table above ("Version Conflict"),
 * or NULL for a code not in it. */
const char *content_error_msg(int code);
/* The code of a failed jsonpatch_apply: CONTENT_E_TEST for a failed test,
 * CONTENT_E_TOO_LARGE over a limit, CONTENT_E_UNAVAILABLE out of memory,
 * CONTENT_E_PATCH for the rest (err->text is then the message). */
int content_patch_code(const struct jsonpatch_error *err);

/* ---- keys ---- */

#define CONTENT_TYPE_MAX 64        /* bytes of a key's type: [A-Za-z0-9_.-] */
#define CONTENT_ID_STR_MAX 128     /* bytes of a string id (or part): [A-Za-z0-9_.:@-] */
#define CONTENT_ID_PARTS_MAX 4     /* parts of an array id */
#define CONTENT_ID_INT_MAX 9007199254740991LL   /* 2^53 - 1 */
/* Room for an id's topic level: parts joined with ',', and the NUL. */
#define CONTENT_ID_LEVEL_SIZE (CONTENT_ID_PARTS_MAX * (CONTENT_ID_STR_MAX + 1))

/* A key {type, id} in its canonical form: the type and the id's topic level
 * (an integer in decimal, a string as is, an array's parts joined with ',').
 * Two keys are the same document exactly when both strings are equal: the
 * string "42" is the integer 42, and an array of one part is that part
 * (content_key_json gives the integer and the scalar form back). A string of
 * digits that is not an integer's canonical decimal ("007", or over 2^53 - 1)
 * stays a string. */
struct content_key {
	char type[CONTENT_TYPE_MAX + 1];
	char id[CONTENT_ID_LEVEL_SIZE];
};

/* Validates a JSON key {"type": ..., "id": ...} (other members are ignored)
 * and fills k. 0, or -1 with *why (a static sentence naming what is wrong). */
int content_key_parse(const json_t *v, struct content_key *k, const char **why);
/* Fills k from a type and an id's topic level (as in a topic). 0, or -1 when
 * they are not a key's (a level that no JSON id maps to, such as "a,,b"). */
int content_key_from_levels(const char *type, const char *id, struct content_key *k);
/* The key as JSON {"type", "id"} (new reference; the id an integer where the
 * level is one, an array where it has parts), or NULL out of memory. */
json_t *content_key_json(const struct content_key *k);
bool content_key_equal(const struct content_key *a, const struct content_key *b);
/* A login template that names no key: NULL, empty or "none". */
bool content_template_none(const char *tmpl);
/* Fills k from a login template "<type>:<id>" ("user:{username}"), every
 * "{username}" replaced by username. 0, or -1 when the result is not a key
 * (a username with characters an id cannot hold). */
int content_template_key(const char *tmpl, const char *username, struct content_key *k);

/* ---- topics ----
 * prefix = topic_prefix (may be empty), root = content_root. New strings
 * (caller frees), NULL out of memory. */

/* The document: <prefix>/<root>/<type>/<id>. */
char *content_doc_topic(const char *prefix, const char *root, const struct content_key *k);
/* The link of child under parent: <prefix>/<root>/<pt>/<pid>/children/<ct>/<cid>. */
char *content_link_topic(const char *prefix, const char *root, const struct content_key *parent,
		const struct content_key *child);
/* The filter of every link of parent: <prefix>/<root>/<pt>/<pid>/children/+/+. */
char *content_children_filter(const char *prefix, const char *root, const struct content_key *parent);

enum content_topic_kind { CONTENT_TOPIC_NONE, CONTENT_TOPIC_DOC, CONTENT_TOPIC_LINK };
/* What a topic below <prefix>/<root> is: a document (key filled), a link
 * (key = the parent, child = the child), or none of them (neither filled
 * reliably). child may be NULL when the caller wants documents only. */
enum content_topic_kind content_topic_parse(const char *prefix, const char *root, const char *topic,
		struct content_key *key, struct content_key *child);

/* ---- versions ----
 * ver = [origin, n]: a gateway's write [gateway_id, n], a device's write
 * without the user property ["mqtt", content_hash53(payload)], a page
 * ["page", content_hash53(its canonical JSON)]. Compared by equality only. */

#define CONTENT_VER_PROP "wsgw-ver"      /* the MQTT v5 user property that carries it */
#define CONTENT_VER_MQTT "mqtt"          /* origin of an unversioned payload */
#define CONTENT_VER_PAGE "page"          /* origin of a page's ver */
#define CONTENT_ORIGIN_MAX 128           /* bytes of an origin */

struct content_ver {
	/* A string origin, or (origin_int) the decimal of an integer one: the
	 * seed's example sends [2342, 21342134]; such a ver is kept as given so
	 * that it answers as any ver that is not current. */
	char origin[CONTENT_ORIGIN_MAX + 1];
	bool origin_int;
	long long n;                         /* 0 .. 2^53 - 1 */
};

/* Fills v. 0, or -1 when origin is longer than CONTENT_ORIGIN_MAX or empty,
 * or n is out of 0 .. 2^53 - 1. */
int content_ver_make(struct content_ver *v, const char *origin, long long n);
/* A JSON ver: an array [origin, n], origin a non-empty string of at most
 * CONTENT_ORIGIN_MAX bytes or an integer, n an integer 0 .. 2^53 - 1.
 * 0, or -1 with *why. null is not a ver (the caller tells it apart). */
int content_ver_parse(const json_t *j, struct content_ver *v, const char **why);
/* content_ver_parse of the text of a wsgw-ver property (any JSON spacing).
 * 0 or -1. */
int content_ver_from_text(const char *text, size_t len, struct content_ver *v);
/* [origin, n] as JSON (new reference) or as compact text (caller frees,
 * the wsgw-ver property's value); NULL out of memory. */
json_t *content_ver_json(const struct content_ver *v);
char *content_ver_text(const struct content_ver *v);
bool content_ver_equal(const struct content_ver *a, const struct content_ver *b);

/* FNV-1a (64 bits) of buf[0..len), folded to 53 bits (xor of the high 11
 * bits into the low ones), so that it is an exact JSON number anywhere. */
uint64_t content_hash53(const void *buf, size_t len);
/* The ver of a payload written without wsgw-ver: ["mqtt", hash53]. */
void content_ver_unversioned(const void *payload, size_t len, struct content_ver *v);
/* The n of a gateway's next write: max(prev_n + 1, now_ms), at most 2^53 - 1. */
long long content_ver_next(long long prev_n, long long now_ms);

/* ---- child ids ----
 * Server-assigned ids: time-ordered unique integers below 2^53,
 * ms * 1024 + seq * 16 + tag: seq counts the ids of one millisecond (0..63;
 * a 65th borrows the next millisecond, so ids of one gateway only grow), tag
 * is 4 bits of a hash of gateway_id, so that gateways writing in the same
 * millisecond differ unless their tags collide. */
struct content_idgen {
	long long ms;                        /* of the last id */
	unsigned seq;
	unsigned tag;
};
void content_idgen_init(struct content_idgen *g, const char *gateway_id);
/* The next id, greater than every id g gave before. */
long long content_idgen_next(struct content_idgen *g, long long now_ms);

/* ---- history ----
 * The last changes of one document, a ring of cap (content_history) entries,
 * oldest first. Pure bookkeeping: the caller pushes every change it applies
 * in order (from = the ver before, to = the ver after). */
struct content_change {
	struct content_ver from, to;
	json_t *patch;                       /* owned JSON array */
	size_t bytes;                        /* of its compact text */
};
struct content_hist {
	struct content_change *ring;
	size_t cap, n, head;                 /* head: index of the oldest */
};

/* Always 0 (a document that never changes costs no ring: the first push
 * allocates it). cap 0: a history that keeps nothing. */
int content_hist_init(struct content_hist *h, size_t cap);
void content_hist_clear(struct content_hist *h);   /* frees; h can be init'ed again */
/* Appends a change (patch taken, also on failure), dropping the oldest when
 * full. 0, or -1 when patch is not an array or out of memory. */
int content_hist_push(struct content_hist *h, const struct content_ver *from, const struct content_ver *to,
		json_t *patch);
/* Forgets the newest change (a write the broker refused). */
void content_hist_pop(struct content_hist *h);
/* Forgets every change (the document changed in a way not recorded). */
void content_hist_reset(struct content_hist *h);
/* The patch from ver from to ver cur: the patches of the newest run of
 * changes that starts at from and ends at cur, concatenated (new reference),
 * or NULL when the ring does not hold such a run, when the patch's compact
 * text would be max_bytes or more (0: no bound; the caller passes the
 * document's size: a patch as big as the document is not worth sending), or
 * out of memory. from equal to cur gives NULL too (the caller answers 204).
 * The operations are the ring's own (shared references): do not modify them. */
json_t *content_hist_patch(const struct content_hist *h, const struct content_ver *from,
		const struct content_ver *cur, size_t max_bytes);
/* Bytes the ring holds (its entries once allocated, and the patches' compact
 * text sizes, a lower bound of jansson's), for the memory figure. */
size_t content_hist_bytes(const struct content_hist *h);

/* ---- views of children ---- */

enum content_view {
	CONTENT_VIEW_ASC,                    /* by sort_field, then by key */
	CONTENT_VIEW_DESC,                   /* the reverse of asc */
	CONTENT_VIEW_ASC_PRES_FIRST,         /* connected first, then asc */
	CONTENT_VIEW_NEWEST,                 /* by id, greatest first (server ids are time-ordered) */
	CONTENT_VIEW_OLDEST,                 /* by id, smallest first */
};
#define CONTENT_VIEW_DEFAULT CONTENT_VIEW_ASC
/* The view of a name ("asc", "desc", "asc_pres_first", "newest", "oldest"),
 * 0 and *view, or -1 for another name. */
int content_view_parse(const char *name, enum content_view *view);
const char *content_view_name(enum content_view view);

/* One child: its key, the summary its link holds (borrowed JSON object) and,
 * for a key of the user type, whether the presence engine has the user
 * connected. */
struct content_entry {
	struct content_key key;
	json_t *summary;
	bool connected;
};

/* The page'th page (from 1) of size entries of view over entries[0..n)
 * (not modified: the sort is over pointers). An entry of the page is {"key": key} merged with
 * the summary (the summary's own "key" member left out); an entry whose key
 * type is user_type also gets "connected" (its flag) and, when the summary
 * has no "presence", "presence": "online" or "offline". A page past the end
 * is empty. Fills *ver with the page's ver ["page", hash53 of the page's
 * canonical text: compact, keys sorted]. Returns a new JSON array, NULL out
 * of memory. */
json_t *content_page(struct content_entry *entries, size_t n, enum content_view view,
		const char *sort_field, const char *user_type, long page, long size, struct content_ver *ver);
/* The ver of a page array as content_page computes it. 0 or -1 (out of memory). */
int content_page_ver(const json_t *page, struct content_ver *ver);

/* ---- requests ---- */

enum content_cls {
	CONTENT_LOGIN,
	CONTENT_LOGOUT,
	CONTENT_RECONNECT,
	CONTENT_GET_CONTENT,
	CONTENT_GET_CHILDREN,
	CONTENT_PATCH_CONTENT,
	CONTENT_ADD_CHILD,
};
/* The name of a class ("get_content"). */
const char *content_cls_name(enum content_cls cls);

struct content_request {
	enum content_cls cls;
	json_t *root;                        /* owned; NULL when the frame did not parse */
	const char *cls_name;                /* as sent (borrowed), NULL if not a string */
	json_t *id;                          /* borrowed: a string or a number; NULL: none usable (reply id null) */
	json_t *data;                        /* borrowed, NULL if absent */
	/* login */
	const char *username, *password;
	/* reconnect */
	const char *session;
	/* get_content, get_children, patch_content, add_child */
	struct content_key key;
	bool has_ver;                        /* false: ver null or absent */
	struct content_ver ver;
	bool subscribe;                      /* get_content, get_children */
	/* get_children */
	enum content_view view;              /* CONTENT_VIEW_DEFAULT when absent */
	long page;                           /* from 1; 1 when absent */
	/* patch_content: a JSON Patch list (owned; a single operation object
	 * is normalised into a list of one) */
	json_t *patch;
	/* add_child: obj (borrowed object), the child's type (obj.key.type) */
	json_t *obj;
	char child_type[CONTENT_TYPE_MAX + 1];
};

/* Parses one frame of at most max_frame bytes (0: no bound): an object with
 * "type": "request" (or no type), "id" (a string or a number), "cls" and
 * "data" (an object; logout may leave it out). Returns 0 and
 * fills r, or an error code (CONTENT_E_*) with *msg, a sentence for the
 * error's msg; then r->cls_name and r->id are set as far as the frame had
 * them, so that the error can carry them. Clear r with content_request_clear
 * either way. Invalid JSON (jsonutil_parse: raw NUL bytes and duplicate keys
 * included): *msg is jansson's position and text, in a per-thread buffer
 * valid until the next failing parse; use it at once. A frame over max_frame
 * is not parsed (CONTENT_E_TOO_LARGE, id null). */
int content_parse(const char *buf, size_t len, size_t max_frame, struct content_request *r, const char **msg);
void content_request_clear(struct content_request *r);

/* ---- replies and notifications ----
 * Compact JSON text (caller frees), NULL out of memory. cls: the class's
 * name as the request gave it (NULL: null); id borrowed (NULL: null). */

/* {"type":"result","id","cls","status", "data"}; data taken, NULL = left out. */
char *content_result(const char *cls, const json_t *id, int status, json_t *data);
/* {"type":"error","id","cls","status": code / 10000, "data":{"code","msg"}};
 * msg NULL = the code's default message. */
char *content_error(const char *cls, const json_t *id, int code, const char *msg);
/* {"type":"notify","cls","data"}; data taken. */
char *content_notify(const char *cls, json_t *data);

/* An entry of a "changed" notification (new reference):
 * {"key","ver","content","children"[,"patch"]}; patch taken, NULL = left out. */
json_t *content_changed_entry(const struct content_key *k, const struct content_ver *ver, bool content,
		bool children, json_t *patch);
/* The data of a get_content 200 {"key","ver","content"} or 206
 * {"key","ver","patch"}; content/patch taken (one of them, the other NULL). */
json_t *content_doc_data(const struct content_key *k, const struct content_ver *ver, json_t *content,
		json_t *patch);
/* The data of a get_children 200 {"key","ver","view","page","size","total",
 * "items"} or 206 (with "patch" instead of "items"); items/patch taken (one
 * of them, the other NULL). The page array is "items" because the seed's
 * "page" names both the number and the array. */
json_t *content_page_data(const struct content_key *k, const struct content_ver *ver, enum content_view view,
		long page, long size, size_t total, json_t *items, json_t *patch);

/* ---- options ---- */

/* plugin_opt_content_* (README.md), besides content_enable and content_mount. */
struct content_config {
	char *root;                          /* topic level(s) below topic_prefix: "content" */
	double session_expiry;               /* seconds a logged-out-by-disconnect session is kept */
	int history;                         /* changes kept per loaded document */
	int page_size;                       /* entries of a page */
	int max_children;                    /* links a parent may have; more: 413 */
	long max_frame;                      /* bytes of a request frame */
	long max_doc;                        /* bytes of a document's text */
	char *sort_field;                    /* the summary member asc/desc sort by */
	char *user_type;                     /* key type of user documents (presence) */
	/* Login reply's keys, "<type>:<id>" with {username}; "" leaves it out. */
	char *self, *rooms, *fav, *root_key, *home;
	char *config;                        /* the login reply's config, a JSON object's text */
};
extern const struct wsgw_dialect_conf content_conf;

#endif
