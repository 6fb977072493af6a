/* Telegraphy: management messages, events, event names and filters.
 * Pure code, no I/O. The contract is docs/protocols/telegraphy.md. */
#ifndef WSGW_TELE_PROTO_H
#define WSGW_TELE_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "option.h"

#define TELE_EVENT_NAME_MAX 256

/* Response statuses besides CONNECTED / SUBSCRIBED / UNSUBSCRIBED. */
#define TELE_S_BAD_MESSAGE "BAD_MESSAGE"        /* not JSON, not an object, wrong types */
#define TELE_S_UNKNOWN_MESSAGE "UNKNOWN_MESSAGE"
#define TELE_S_INVALID_ID "INVALID_ID"          /* duplicate or out-of-order id */
#define TELE_S_INVALID_TOKEN "INVALID_TOKEN"
#define TELE_S_INVALID_SESSION "INVALID_SESSION"
#define TELE_S_NOT_CONNECTED "NOT_CONNECTED"
#define TELE_S_ALREADY_CONNECTED "ALREADY_CONNECTED"
#define TELE_S_UNKNOWN_EVENT "UNKNOWN_EVENT"
#define TELE_S_INVALID_EVENT "INVALID_EVENT"
#define TELE_S_NOT_SUBSCRIBED "NOT_SUBSCRIBED"
#define TELE_S_FORBIDDEN "FORBIDDEN"
#define TELE_S_UNAVAILABLE "UNAVAILABLE"
#define TELE_S_TOO_MANY_SUBSCRIPTIONS "TOO_MANY_SUBSCRIPTIONS"   /* over max_subscriptions */

enum tele_kind { TELE_CONNECT, TELE_RECONNECT, TELE_SUBSCRIBE, TELE_UNSUBSCRIBE };

struct tele_request {
	enum tele_kind kind;
	json_t *root;               /* owned */
	long long id;               /* valid when has_id */
	bool has_id;
	const char *auth_token;     /* CONNECT: args.auth_token */
	const char *session_token;  /* RECONNECT: args.session_token or top-level session_token */
	const char *event;          /* SUBSCRIBE, UNSUBSCRIBE: args.event_name */
	json_t *filters;            /* borrowed object, or NULL for none */
	bool permanent, lazy;
};

/* Parses a management message. Returns NULL and fills r (clear with
 * tele_request_clear), or a status with *msg; r->has_id/r->id are set when the
 * message had a usable id, so the response can carry it.
 * Invalid JSON (jsonutil_parse: raw NUL bytes and duplicate keys included): *msg
 * is jansson's position and text, in a per-thread buffer valid until the next
 * failing parse; use it at once.
 */
const char *tele_parse(const char *buf, size_t len, struct tele_request *r, const char **msg);
void tele_request_clear(struct tele_request *r);

/* {"success", "status", "id", "data"} (id omitted when has_id is false);
 * data is taken (NULL = {}). */
char *tele_response(bool success, const char *status, bool has_id, long long id, json_t *data);
/* {"event": name, "data": data}; data is taken. */
char *tele_event(const char *name, json_t *data);

/* Event name -> MQTT path: "chat.message" -> "chat/message"; a "*" segment
 * matches one level ("+"), a final "**" any number ("#"). NULL if invalid
 * (empty segments, '/', '+', '#', control characters, leading '$', too long). */
char *tele_event_path(const char *name, bool *wildcard);
/* MQTT path below the root -> event name ("chat/message" -> "chat.message"). */
char *tele_event_name(const char *path);

/* Filters: an object of dotted field paths -> values; an event matches when
 * its data has every path with an equal JSON value. NULL or {} matches all. */
bool tele_filters_valid(const json_t *filters);
bool tele_filters_match(const json_t *filters, const json_t *data);
bool tele_filters_equal(const json_t *a, const json_t *b);

/* plugin_opt_telegraphy_* (README.md), besides telegraphy_enable and
 * telegraphy_mount. */
struct tele_config {
	char *root;
	char *username;            /* MQTT username when the token names no user */
	bool auth;                 /* false: the empty auth token is accepted */
	char *token_secret;
	char *token_secret_file;
	double token_ttl;
	double connect_timeout;
	char **events;             /* registered at start, NULL-terminated */
};
extern const struct wsgw_dialect_conf tele_conf;

#endif
