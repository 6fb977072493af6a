/* mosquitto_wsgw: private header of the broker-facing part.
 *
 * Threads: mosquitto_plugin_init/cleanup and the broker callbacks (auth, tick)
 * run on the broker's main thread; everything else runs on the gateway thread,
 * which owns the libwebsockets context and every MQTT session (link.c). The only
 * state shared between the two is the log queue (log.c, mutex) and the auth
 * secret (auth.c, written before the thread starts, read-only after). */
#ifndef WSGW_H
#define WSGW_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <libwebsockets.h>
#include <mosquitto.h>   /* the MOSQ_LOG_* levels of wsgw_log */
#include <jansson.h>

#include "config.h"
#include "jwtauth.h"
#include "link.h"
#include "mirror.h"
/* The lower layers' own headers (HACKING.md, "Layers"). */
#include "log.h"
#include "util.h"
#include "transport.h"
#include "route.h"
#include "peer.h"
#include "front.h"
#include "presence.h"
#include "keys.h"
#include "mqttw.h"
#include "pending.h"
#include "metrics.h"

#define WSGW_BOOT_ID_SIZE 17          /* 16 hex characters + NUL */
#define WSGW_TICK_MS 100              /* housekeeping timer */
#define WSGW_DIALECTS_MAX 8           /* entries of the registry (dialects.c) */

struct wsgw_gw;
struct wsgw_session;
struct wsgw_http;
struct wsgw_link;
struct wsgw_watch;

/* ---- auth.c: the HMAC password of the gateway's own MQTT sessions ---- */
#define WSGW_PASSWORD_SIZE 65        /* hex HMAC-SHA256 + NUL */
int wsgw_auth_init(void);            /* new per-boot secret */
void wsgw_auth_password(const char *client_id, const char *username, char out[WSGW_PASSWORD_SIZE]);
bool wsgw_auth_check(const char *client_id, const char *username, const char *password);
/* The client id tag of a session that logs in with the user's own password:
 * such a session's id is <id>~<tag> (16 hex characters). */
#define WSGW_TAG_SIZE 17
void wsgw_auth_tag(const char *client_id, const char *username, char out[WSGW_TAG_SIZE]);
bool wsgw_auth_check_tag(const char *client_id, const char *username);

/* ---- dialects ---- */

struct wsgw_dialect {
	const char *name;
	/* Its options (<conf->name>_*, config.c), mount default and ACL guard
	 * (plugin.c): pure data in its mapping file. */
	const struct wsgw_dialect_conf *conf;
	/* The dialect judges client silence itself (heartbeats): the core's
	 * idle_timeout does not apply to its sessions. */
	bool own_liveness;
	/* WebSocket upgrade on a path below the mount: returns 0 to accept (and may
	 * set *route, a string handed to ws_open and then freed), or an HTTP status. */
	int (*ws_filter)(struct wsgw_gw *gw, const char *subpath, char **route);
	/* The socket is open: set up the dialect's state (kit_client_new) and
	 * the broker session (kit_link_open). Nonzero closes. */
	int (*ws_open)(struct wsgw_session *s, const char *route);
	void (*ws_text)(struct wsgw_session *s, const char *buf, size_t len);
	/* A frame the core refused (binary, too large, rate limited): send the error. */
	void (*ws_error)(struct wsgw_session *s, const char *code, const char *message);
	void (*ws_tick)(struct wsgw_session *s, int64_t now_ms);
	/* The socket is gone: free the dialect's state (session_set_priv(s,
	 * NULL)); the session closes its broker link afterwards. */
	void (*ws_close)(struct wsgw_session *s);
	void (*presence)(struct wsgw_session *s, const char *key, enum wsgw_presence_event ev,
			const struct mirror_member *m);
	/* HTTP request on a path below the mount. Replies now or later through
	 * http_reply(). */
	void (*http)(struct wsgw_http *h, const char *subpath);
	void (*http_gone)(struct wsgw_http *h);
	/* Gateway-wide: the core session came up (subscribe what the dialect needs),
	 * a message on it, the housekeeping tick, and the end. */
	void (*core_up)(struct wsgw_gw *gw);
	bool (*core_message)(struct wsgw_gw *gw, const struct wsgw_msg *msg);
	void (*gw_tick)(struct wsgw_gw *gw, int64_t now_ms);
	int (*gw_init)(struct wsgw_gw *gw);
	/* Frees the state gw_init set (gw_dialect_state), also after a gw_init
	 * that failed half-way; the gateway clears the registry's slot after. */
	void (*gw_free)(struct wsgw_gw *gw);
};

struct wsgw_mount {
	const char *prefix;              /* "/" or "/x" (borrowed from the config) */
	const struct wsgw_dialect *dialect;
};

/* Per-connection data lws keeps for us: what the connection is. */
struct wsgw_pss {
	enum { WSGW_PSS_NONE, WSGW_PSS_SESSION, WSGW_PSS_HTTP } kind;
	union {
		struct wsgw_session *session;
		struct wsgw_http *http;
	} u;
};

/* ---- session.c: one WebSocket client (struct wsgw_session is private to
 * session.c, the transport and the kit: plugin/session_int.h) ---- */
struct wsgw_gw *session_gw(const struct wsgw_session *s);
void *session_priv(const struct wsgw_session *s);   /* the dialect's state */
void session_set_priv(struct wsgw_session *s, void *priv);
const char *session_peer(const struct wsgw_session *s);   /* the client's address */
/* The broker link the kit opened for it (kit_link_open), or NULL. */
struct wsgw_link *session_link(const struct wsgw_session *s);
bool session_closing(const struct wsgw_session *s);
int64_t session_last_rx_ms(const struct wsgw_session *s);   /* any frame, taken or refused */
bool session_link_was_lost(const struct wsgw_session *s);   /* session_link_lost ran */
void session_send(struct wsgw_session *s, char *text);   /* takes ownership of text */
/* Queues nothing more: flush what is queued, then close with code and reason. */
void session_close(struct wsgw_session *s, int code, const char *reason);
/* The front's calls (front.h, wired by transport.c): an upgrade request
 * on c, and what the WebSocket connection of a session then brings. */
void session_upgrade(struct wsgw_conn *c);
void session_message(struct wsgw_conn *c, const unsigned char *data, size_t len, bool first,
		bool final, bool binary);
void session_pong(struct wsgw_conn *c);
void session_peer_close(struct wsgw_conn *c);
int session_writeable(struct wsgw_conn *c);
/* Writes what every session queued in this turn of the loop (transport_service,
 * before the loop waits again). */
void session_flush(struct wsgw_gw *gw);
void session_free(struct wsgw_session *s);
/* Gives up the dialect state and the broker session, and calls
 * gw->session_gone (idempotent). */
void session_release(struct wsgw_session *s);
void session_tick(struct wsgw_session *s, int64_t now);
/* WebSocket pings (ws_ping_interval, at most idle_timeout / 2): the period in
 * ms (0 = none), and the housekeeping step that asks for the next one. */
int64_t session_ping_period(const struct wsgw_config *cfg);
void session_ping_tick(struct wsgw_session *s, int64_t now);
/* For a link's `lost`: closes the link and reports BROKER_UNAVAILABLE a little
 * later, unless the broker is stopping (then the client gets SHUTDOWN). */
void session_link_lost(struct wsgw_session *s, int rc);

/* ---- http.c: plain HTTP requests ---- */
struct wsgw_http {
	struct wsgw_gw *gw;
	struct wsgw_conn *conn;          /* NULL once replied to */
	const struct wsgw_dialect *dialect;
	void *priv;                      /* the dialect's pending state, if any */
	char *subpath;
	bool is_post;
	bool is_other_method;            /* neither GET nor POST */
	bool body_complete;
	char *body;
	size_t body_len;
	bool body_too_large;
	unsigned long long content_length;   /* the request's Content-Length, or 0 */
	int status;                      /* 0 until the reply is ready */
	char *reply;
	const char *allow;               /* Allow header for 405 */
	const char *retry_after;         /* Retry-After header (seconds) for 503 */
	const char *content_type;        /* of the reply; NULL: application/json */
	const char *endpoint;            /* for the metrics: "health", "metrics", the name of the dialect its path falls in, or NULL */
	/* CORS (http.c): the Access-Control-Allow-Origin of the replies ("*" or
	 * the request's Origin), or NULL for no CORS headers; a preflight's
	 * answer is the endpoint's 405 turned into a 204 whose allowed methods
	 * are that 405's Allow, with cors_headers as Access-Control-Allow-Headers. */
	char *cors_origin;
	bool preflight;
	char *cors_headers;
	lws_sorted_usec_list_t body_sul; /* http_body_timeout, while the body is read */
	struct wsgw_http *reap_next;     /* replied: freed at the next tick (gw->http_reap) */
};

/* Sets the reply (takes the body) and asks lws to write it. */
void http_reply(struct wsgw_http *h, int status, char *json_body);
void http_reply_error(struct wsgw_http *h, int status, const char *code, const char *message);
/* A plain HTTP request on a WebSocket endpoint (what: its name in the
 * message): 405 with Allow: GET for other methods, else 426. */
void http_reply_ws_only(struct wsgw_http *h, const char *what);
/* Copies the request header name (lower case, no colon) into buf
 * (NUL-terminated); returns its length or -1. */
int http_header(struct wsgw_http *h, const char *name, char *buf, size_t len);
/* Copies the decoded query parameters: returns a count, fills kv from buf. */
size_t http_query(struct wsgw_http *h, char *buf, size_t buflen, const char **keys,
		const char **values, size_t max);
/* The front's calls (front.h, wired by transport.c): a request that is
 * not an upgrade, its body, and the connection's end. */
void http_request(struct wsgw_conn *c);
void http_body(struct wsgw_conn *c, const char *data, size_t len, bool final);
/* Counts a refused WebSocket upgrade in the metrics, under the dialect its
 * path falls in (session.c). reason: a literal. */
void http_count_upgrade_refusal(struct wsgw_gw *gw, struct wsgw_conn *c, const char *reason);
void http_free(struct wsgw_http *h);
void http_reap(struct wsgw_gw *gw);   /* frees the requests replied to */
/* Client connections (HTTP, handshakes, WebSockets) are counted from
 * adoption to close (front.c). conn_filter runs before lws adopts an
 * accepted socket: nonzero refuses it (after a canned 503) when a cap or
 * the descriptor reserve is reached. */
int http_conn_filter(struct wsgw_gw *gw, const struct lws_filter_network_conn_args *a);

/* ---- core.c: the gateway's own broker session and the presence mirror ---- */
int core_start(struct wsgw_gw *gw);
void core_tick(struct wsgw_gw *gw, int64_t now_ms);
void core_stop(struct wsgw_gw *gw);
bool core_is_up(const struct wsgw_gw *gw);
/* link_publish on the core session: 0 or -errno (-ENOTCONN while it is down). */
int core_publish(struct wsgw_gw *gw, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops);
/* A QoS 1 publish whose PUBACK answers req (in core_pending's table; its
 * answer callback gets index and the reason code): one lookup per PUBACK.
 * 0 or -errno (-ENOTCONN while the core session is down). */
int core_request(struct wsgw_gw *gw, struct pending_req *req, size_t index, const char *topic,
		const void *payload, size_t len, const struct mqttw_prop *props, size_t nprops);
/* The table of requests waiting for the core session: swept by core_tick;
 * packet ids of a lost core session are forgotten (no answer comes). */
struct pending *core_pending(struct wsgw_gw *gw);
int core_subscribe(struct wsgw_gw *gw, const char *topic);   /* 0 or -errno */
/* Presence slots: this gateway's entries of channel key sit on
 * <presence_prefix>/<key>/<tag>-<n> (docs/TOPICS.md), <tag> a hash of
 * gateway_id, n the lowest number free for key here, so the broker's retain
 * tree (which never frees a node) is bounded by the peak number of members.
 * Writes the level into out (CORE_SLOT_SIZE) and returns n, or -1 (no memory).
 * heal(owner) is called when the entry is cleared while still held (a late
 * will, a clear of an earlier run's entry): it republishes. */
#define CORE_SLOT_SIZE 32
int core_slot_take(struct wsgw_gw *gw, const char *key, char out[CORE_SLOT_SIZE],
		void (*heal)(void *owner), void *owner);
/* Gives the slot back, saying what became of its entry: CLEARED (cleared
 * long ago: free now), CLEARING (a clear or will is on its way: free when the
 * core sees it come back, so the next holder's entry cannot be wiped by it),
 * LOST (the broker session died unseen: its will may come up to 1.5
 * mqtt_keepalive later, so the slot waits that long + 1 s). Ignores n < 0. */
enum core_slot_end { CORE_SLOT_CLEARED, CORE_SLOT_CLEARING, CORE_SLOT_LOST };
void core_slot_release(struct wsgw_gw *gw, const char *key, int n, enum core_slot_end how);
void core_slots_free(struct wsgw_gw *gw);

/* ---- gateway.c ---- */
struct wsgw_channel_index;

struct wsgw_gw {
	struct wsgw_config *cfg;         /* owned by plugin.c */
	char boot_id[WSGW_BOOT_ID_SIZE];
	struct lws_context *ctx;
	struct lws_vhost *vhost;         /* the listener's: its sockets go to the front (front.c) */
	struct lws_vhost *link_vhost;    /* the broker links' sockets (link.c) */
	char listen_desc[192];           /* what the listener really bound, for the log */
	struct ev_loop *evloop;          /* the gateway thread's epoll loop (libev), or NULL */
	void *foreign_loops[1];
	pthread_t thread;
	atomic_int stop;                 /* set by the broker thread (gw_stop): 1 stop, 2 done with ctx */
	atomic_int tls_reload;           /* set by the broker thread (SIGHUP): read the certificate again */
	bool stopping;                   /* gateway thread: shutdown under way */
	bool thread_running;

	struct wsgw_mount mounts[WSGW_DIALECTS_MAX];   /* one per enabled dialect */
	int nmounts;

	struct wsgw_session *sessions;
	int nsessions;
	struct wsgw_session *dirty;      /* sessions with frames to write before the loop sleeps (session.c) */
	size_t queued_bytes;             /* every session's qbytes + lws_held (max_total_queue_bytes) */
	int nclients;                    /* accepted client connections of any kind (front.c) */
	struct wsgw_conn *conns_timed;   /* connections with a time limit (front.c) */
	long fd_limit;                   /* RLIMIT_NOFILE (soft) at start, or 0 if unknown */
	int fd_reserve;                  /* descriptors left to the broker: no accept at or above fd_limit - fd_reserve */
	int64_t refuse_log_ms;           /* last "connection refused" log line */
	unsigned long refused;           /* connections refused since then */
	struct wsgw_http *http_reap;     /* requests replied to, freed by http_reap() */
	struct wsgw_channel_index *channels;   /* the watch index (presence.c) */
	/* A session let go of its dialect state (session_release): what the
	 * services keep per session goes (presence_init installs it). */
	void (*session_gone)(struct wsgw_session *s);

	struct wsgw_link *core;
	int64_t core_retry_ms;
	int64_t core_started_ms;         /* the first core_start (prompt retries for a while) */
	bool core_was_up;                /* since the gateway started */
	/* Set by core.c: the core session is up and the subscriptions made when
	 * it came up are acknowledged. New clients are accepted only then
	 * (session.c, http.c answer 503 NOT_READY). */
	bool ready;
	int core_ready_mid;              /* the SUBACK that makes it ready */
	/* Connect queue of the broker sessions (link.c): links waiting for a
	 * connect slot or for a retry, and the connects in flight. */
	struct wsgw_link *connq_head, *connq_tail;
	int connq_len;
	int connects_in_flight;
	int connect_backoff;             /* EAGAINs in a row */
	int64_t connq_retry_ms;          /* no connect attempt before this */
	int64_t connq_due_ms;            /* when connq_sul runs, 0 = not scheduled */
	int64_t connq_scan_ms;           /* next deadline scan of the queue */
	lws_sorted_usec_list_t connq_sul;
	struct wsgw_mux *muxes;          /* shared broker sessions (mux.c) */
	/* The last struct wsgw_msg seq a link gave (link.c's alone: owners
	 * read msg->seq). */
	uint64_t msg_seq;
	/* Presence events dispatched (presence.c's alone): one number per
	 * event, the same for every watcher it reaches. */
	uint64_t presence_seq;
	uint8_t *link_rx;                /* links' receive buffer (link.c), shared: one thread */
	unsigned mux_seq;
	struct mirror mirror;
	struct core_slots *slots;        /* presence slots (core.c) */
	struct pending core_requests;    /* waiting for the core session's PUBACKs (core.c) */

	void *dialect_state[WSGW_DIALECTS_MAX];   /* each dialect's, by registry index (gw_dialect_state) */

	struct jwtauth_keys jwt;         /* keys point into jwt_secret / jwt_pem */
	unsigned char *jwt_secret, *jwt_pem;
	unsigned char session_secret[32];

	lws_sorted_usec_list_t tick_sul;
	int64_t last_misc_ms;
	int64_t last_expire_ms;
	int64_t last_slot_sweep_ms;

	struct wsgw_metrics metrics;     /* /metrics (metrics.h): every layer counts here */
};

/* Broker thread: keys, mounts, dialects, the transport and the thread; 0 or -1 (logged). */
int gw_start(struct wsgw_gw *gw);
void gw_stop(struct wsgw_gw *gw);    /* broker thread: stop, join, free */

/* ---- dialects.c: the registry ---- */
/* Every dialect, in the order they are mounted and their options read. */
extern const struct wsgw_dialect *const wsgw_dialects[];
extern const size_t wsgw_ndialects;
/* A dialect's gateway state (what its gw_init made; NULL before and after). */
void *gw_dialect_state(const struct wsgw_gw *gw, const struct wsgw_dialect *d);
void gw_dialect_set_state(struct wsgw_gw *gw, const struct wsgw_dialect *d, void *state);

#endif
