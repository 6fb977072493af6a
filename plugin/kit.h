/* The dialect kit: what every dialect does alike, written once. The I/O part
 * is here (plugin/kit_*.c); the pure parts are mapping/pending.c (requests
 * keyed by packet id, with deadlines) and mapping/refusal.c (connect
 * refusals). A dialect is its own protocol on top of these. */
#ifndef WSGW_KIT_H
#define WSGW_KIT_H

#include "wsgw.h"
#include "pending.h"
#include "refusal.h"

/* ---- kit_link.c: the session's broker link ----
 * The session owns it: the kit opens it, and closes it (session_release,
 * with the will if kit_link_will was asked). The dialect's ops get its ud.
 * A CONNACK with an error goes to ops->connected; that link is over, and is
 * kept apart until the next kit_link_open, its own end or the socket's (it
 * cannot be closed inside its own callback), so session_link() is NULL
 * meanwhile. A session that ends after its CONNACK goes through
 * session_link_lost; one that ends before goes to ops->lost if the dialect
 * has it (a hello of its own protocol fails), else through session_link_lost
 * too. The link is closed before ops->lost is called. */
int kit_link_open(struct wsgw_session *s, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud);   /* 0 or -1 */
/* The socket goes: close the link with its will (presence clear) then. */
void kit_link_will(struct wsgw_session *s);
/* Ends the link now: with the will (the session is over for good), or
 * without (another socket takes the broker session over). */
void kit_link_end(struct wsgw_session *s, bool send_will);

/* The outcome of a refused (CONNACK reason code) or lost (rc < 0) broker
 * connection, with the broker's reason text. */
struct kit_refusal {
	struct refusal r;
	const char *message;
};
void kit_refusal(int reason_code, struct kit_refusal *out);

/* ---- kit_presence.c: this gateway's retained presence entries ---- */
struct kit_presence {
	char *key;                 /* channel key (<dialect root>/<channel>) */
	char *topic;               /* <presence_prefix>/<key>/<slot> */
	int slot;                  /* -1: none */
	int mid;                   /* packet id of the last publish */
	int64_t next_refresh_ms;   /* 0: not published yet */
};
/* Takes a slot of key for owner; heal(owner) is called when the entry is
 * cleared while held (it republishes). 0 or -1 (no memory). */
int kit_presence_take(struct wsgw_gw *gw, struct kit_presence *p, const char *key,
		void (*heal)(void *owner), void *owner);
/* Publishes text as the retained entry on link, expiring after
 * presence_ttl, and schedules the refresh: every presence_ttl/3, the first
 * after joining at a random point of the second half of that, so that
 * members who joined together (a reconnect wave) do not all republish in
 * the same tick ever after. 0 or -1. */
int kit_presence_publish(struct wsgw_gw *gw, struct kit_presence *p, struct wsgw_link *link,
		const char *text);
bool kit_presence_due(const struct kit_presence *p, int64_t now_ms);
/* Clears the entry now (an empty retained message). */
void kit_presence_clear(struct kit_presence *p, struct wsgw_link *link);
/* Gives the slot back (see core_slot_release) and frees p's strings. */
void kit_presence_release(struct wsgw_gw *gw, struct kit_presence *p, enum core_slot_end how);
/* The entry of a gateway member: {clientID, presence, gateway, boot, since}.
 * Takes presence (NULL: {}). A new string, or NULL. */
char *kit_presence_entry(struct wsgw_gw *gw, const char *id, json_t *presence, int64_t since_ms);
/* The members of channel key as the mirror holds them now: a new array
 * (NULL when there are none), valid until the mirror next changes. 0 or -1. */
int kit_members(struct wsgw_gw *gw, const char *key, const struct mirror_member ***out, size_t *n);
const struct mirror_member *kit_member(struct wsgw_gw *gw, const char *key, const char *id);

/* ---- kit_store.c: resumable sessions (state that outlives the socket) ----
 * The dialect embeds a struct kit_resumable first in its state. */
#define KIT_ID_LEN 16
#define KIT_CLIENT_ID_SIZE (3 + KIT_ID_LEN + 1)   /* "op-", "tg-" + id */
struct kit_resumable {
	UT_hash_handle hh;
	char client_id[KIT_CLIENT_ID_SIZE];
	char *username;            /* MQTT credentials */
	char *password;            /* NULL: the gateway's HMAC password */
	void *attached;            /* the dialect's client on a socket, or NULL */
	int64_t expires_ms;        /* detached: dropped then */
};
struct kit_store {
	struct kit_resumable *by_id;
	void (*free)(struct kit_resumable *r);   /* the dialect's state */
};
/* Fills in a new client id (prefix + KIT_ID_LEN characters) and adds r,
 * attached to client. */
void kit_store_add(struct kit_store *st, struct kit_resumable *r, const char *prefix, void *client);
void kit_store_drop(struct kit_store *st, struct kit_resumable *r);
/* Frees r (its credentials, then st->free) without unlinking: one never added. */
void kit_resumable_free(struct kit_store *st, struct kit_resumable *r);
/* The socket of r's client is gone (or its hello failed): r is kept for
 * session_expiry if keep (it was connected, or is a resume), else dropped. */
void kit_store_detach(struct wsgw_gw *gw, struct kit_store *st, struct kit_resumable *r, bool keep);
/* Attaches r to client: returns the client it was attached to (taken
 * over: its socket must end, its broker session is handed over), or NULL. */
void *kit_store_attach(struct kit_resumable *r, void *client);
void kit_store_expire(struct kit_store *st, int64_t now_ms);
void kit_store_free(struct kit_store *st);
/* A resume token for r (bound to binding if not NULL), valid session_expiry. */
char *kit_store_token(struct wsgw_gw *gw, const struct kit_resumable *r, const char *binding);
/* The state a token names, or NULL with *err: "EXPIRED", "BINDING", "GONE"
 * (valid, but not held here: expired or restarted), or another stoken error. */
struct kit_resumable *kit_store_resolve(struct wsgw_gw *gw, struct kit_store *st, const char *token,
		const char *binding, const char **err);
/* Opens the session's broker link for r (persistent, session_expiry). */
int kit_store_open_link(struct wsgw_session *s, const struct kit_resumable *r, bool clean_start,
		const struct wsgw_link_ops *ops, void *ud);   /* 0 or -1 */

/* ---- kit_util.c ---- */
/* The dialect's state for session s (ws_open): size zeroed bytes whose first
 * member is a struct wsgw_session *, set to s; it is s's priv (ws_close frees
 * it). NULL: no memory. */
void *kit_client_new(struct wsgw_session *s, size_t size);
/* A message's payload as JSON (a JSON text, else a string), or NULL: a
 * payload that is not UTF-8 is dropped, with a log line (tag: "comet: "...). */
json_t *kit_payload_json(const struct wsgw_msg *msg, const char *tag);
void kit_payload_dropped(const struct wsgw_msg *msg, const char *tag);
/* Calls fn for each user property, in order. */
void kit_user_props(const struct mqttw_props *props,
		void (*fn)(void *ud, const char *name, const char *value), void *ud);
/* Fills props[0..n) with user properties names[i] = values[i] (borrowed:
 * they must outlive the publish). */
void kit_user_props_add(struct mqttw_prop *props, const char *const *names,
		const char *const *values, size_t n);

/* An HTTP request whose reply waits (for the broker): the dialect's state
 * embeds this first and is h->priv; kit_http_gone is the dialect's
 * http_gone (the client went: reply to no one). */
struct kit_http_wait {
	struct wsgw_http *h;
};
void kit_http_wait(struct kit_http_wait *w, struct wsgw_http *h);
/* The request, unbound (NULL if its client went). */
struct wsgw_http *kit_http_take(struct kit_http_wait *w);
void kit_http_gone(struct wsgw_http *h);

#endif
