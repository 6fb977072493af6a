/* websockets.do: frames, routes and emit requests. Pure code, no I/O.
 * The contract is docs/protocols/websockets-do.md. */
#ifndef WSGW_WSDO_PROTO_H
#define WSGW_WSDO_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"

#define WSDO_ID_LEN 8                  /* random characters after the prefix */
#define WSDO_MEMBER_PREFIX "client_"   /* of the member ids (clientID) the gateway hands out */
#define WSDO_CLIENT_ID_SIZE (sizeof(WSDO_MEMBER_PREFIX) + WSDO_ID_LEN)   /* prefix + id + NUL */
#define WSDO_EVENT_ID_SIZE (4 + WSDO_ID_LEN + 1)    /* "evt_" + id + NUL */
#define WSDO_PRESENCE_MAX 4096         /* encoded bytes of one member's presence */
#define WSDO_CLIENTS_MAX 10000         /* largest clients=N */

/* Error codes sent in ERROR frames and HTTP bodies. */
#define WSDO_E_BAD_JSON "BAD_JSON"
#define WSDO_E_BAD_MESSAGE "BAD_MESSAGE"
#define WSDO_E_UNKNOWN_TYPE "UNKNOWN_TYPE"
#define WSDO_E_UNKNOWN_EVENT "UNKNOWN_EVENT"
#define WSDO_E_NO_PAYLOAD "NO_PAYLOAD"
#define WSDO_E_BAD_PARAMETER "BAD_PARAMETER"

enum wsdo_ctype { WSDO_C_PONG, WSDO_C_ACK, WSDO_C_PRESENCE };

/* A parsed client frame. event_id and presence are borrowed from root. */
struct wsdo_cframe {
	enum wsdo_ctype type;
	const char *event_id;   /* ACK */
	json_t *presence;       /* PRESENCE: an object */
	json_t *root;           /* owned */
};

/* Parses one text frame. Returns NULL and fills out (free with
 * wsdo_cframe_clear), or returns an error code and sets *msg to a sentence.
 * Invalid JSON (jsonutil_parse: raw NUL bytes and duplicate keys included): *msg
 * is jansson's position and text, in a per-thread buffer valid until the next
 * failing parse; use it at once.
 */
const char *wsdo_parse_client(const char *buf, size_t len, struct wsdo_cframe *out,
		const char **msg);
void wsdo_cframe_clear(struct wsdo_cframe *f);

/* Builds a server frame as compact JSON text (caller frees), or NULL.
 * Takes the payload reference in every case. requires_ack < 0 omits the field. */
char *wsdo_frame(const char *type, json_t *payload, const char *event_id,
		const char *client_id, int64_t latency_ms, int requires_ack);
/* A frame in two steps, for one message sent to many clients: the head is
 * everything up to the recipient's clientID (built once; takes payload), and
 * wsdo_frame_finish adds the recipient's part. finish(head(...)) gives the
 * same text as wsdo_frame; a client id that would need JSON escaping makes
 * finish return NULL (ours never do). */
char *wsdo_frame_head(const char *type, json_t *payload, const char *event_id, size_t *head_len);
char *wsdo_frame_finish(const char *head, size_t head_len, const char *client_id,
		int64_t latency_ms, int requires_ack);
char *wsdo_error_frame(const char *code, const char *message, const char *event_id,
		const char *client_id, int64_t latency_ms);

/* Routes a path below the mount: "<channel>/listen" or "<channel>/emit"
 * (a trailing '/' is tolerated). On WSDO_ROUTE_LISTEN/EMIT *channel is a new
 * string (caller frees), or NULL when the channel name is invalid. */
enum wsdo_route { WSDO_ROUTE_NONE, WSDO_ROUTE_LISTEN, WSDO_ROUTE_EMIT };
enum wsdo_route wsdo_route(const char *subpath, char **channel);

/* One query parameter, already percent-decoded. */
struct wsdo_kv { const char *key; const char *value; };

struct wsdo_emit {
	json_t *payload;        /* owned */
	bool require_ack;
	unsigned clients_n;     /* clients=N, 0 when not given */
	char **ids;             /* clients=id1,id2 (owned), nids entries */
	size_t nids;
};

/* Parses an emit: the query parameters and, for POST, the body. Returns 0 and
 * fills out (free with wsdo_emit_clear), or returns an HTTP status (400, 413)
 * and sets *code and *msg. */
int wsdo_emit_parse(const struct wsdo_kv *query, size_t nquery, bool is_post,
		const char *body, size_t body_len, struct wsdo_emit *out,
		const char **code, const char **msg);
void wsdo_emit_clear(struct wsdo_emit *e);

/* Writes prefix + WSDO_ID_LEN characters from [A-Za-z0-9] taken from rnd. */
void wsdo_make_id(char *out, size_t outlen, const char *prefix, const unsigned char rnd[WSDO_ID_LEN]);

/* Chooses k distinct indexes out of n (k <= n) uniformly into idx, using
 * rnd(ud) as a source of uniform 32-bit numbers (partial Fisher-Yates).
 * idx must have room for n entries. */
void wsdo_pick(size_t n, size_t k, size_t *idx, uint32_t (*rnd)(void *), void *ud);

/* plugin_opt_wsdo_* (README.md), besides wsdo_enable and wsdo_mount. */
struct wsdo_config {
	char *root;
	char *username;
	int shared_sessions;       /* 0: a broker session per listener; N: N shared ones (mux.c) */
	double ping_interval;
	double ping_timeout;
	double ack_timeout;
};
extern const struct wsgw_dialect_conf wsdo_conf;

#endif
