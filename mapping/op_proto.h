/* The "op" pub/sub dialect: requests, replies, pushes and topic names.
 * Pure code, no I/O. The contract is docs/protocols/op-pubsub.md. */
#ifndef WSGW_OP_PROTO_H
#define WSGW_OP_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "option.h"

#define OP_MEMBER_PREFIX "op-"     /* of the member ids (client ids) the gateway hands out */
#define OP_TOPICS_MAX 100          /* topics in one request */
#define OP_TOPIC_NAME_MAX 256

/* Error codes of replies (HTTP-like, as the seed's 401). */
#define OP_E_BAD_REQUEST 400
#define OP_E_UNAUTHORIZED 401
#define OP_E_FORBIDDEN 403
#define OP_E_NOT_FOUND 404
#define OP_E_CONFLICT 409
#define OP_E_GONE 410
#define OP_E_TOO_MANY 429
#define OP_E_UNAVAILABLE 503

enum op_kind { OP_CONNECT, OP_SUB, OP_UNSUB, OP_PUB, OP_RESUME };

struct op_request {
	enum op_kind op;
	const char *op_name;       /* as sent */
	json_t *root;              /* owned */
	json_t *id;                /* borrowed; string or integer; NULL if absent */
	const char *provider;      /* connect */
	const char *access_token;  /* connect */
	const char *username;      /* connect, "mqtt" provider */
	const char *session;       /* resume */
	json_t *topics;            /* sub, unsub, pub: non-empty array of valid names */
	json_t *data;              /* pub: any JSON value */
};

/* Parses one frame. Returns 0 and fills r (free with op_request_clear), or an
 * error code with *msg; then r->op_name and r->id are still set when the frame
 * had them (so the error reply can carry them) and r->root must be cleared too.
 * Invalid JSON (jsonutil_parse: raw NUL bytes and duplicate keys included): *msg
 * is jansson's position and text, in a per-thread buffer valid until the next
 * failing parse; use it at once.
 */
int op_parse(const char *buf, size_t len, struct op_request *r, const char **msg);
void op_request_clear(struct op_request *r);

/* Maps a topic name ("com.myapp.room1", "com.myapp.chats/me",
 * "com.myapp.room1/presence") to its MQTT path below the dialect's root:
 * dots of the name become levels, "/"-separated suffix levels follow, and a
 * suffix level "me" becomes user_id. A final "/presence" is removed and sets
 * *presence. Returns a new string, or NULL if the name is invalid or has a
 * "me" that user_id cannot stand for (not one topic level the broker takes:
 * empty, '/', '+', '#', control characters). */
char *op_topic_path(const char *name, const char *user_id, bool *presence);

/* Replies and pushes as compact JSON text (caller frees). `extra` (an object,
 * may be NULL) is merged in and released; `id` is borrowed (NULL = no id). */
char *op_success(const char *op, const json_t *id, json_t *extra);
char *op_error(const char *op, const json_t *id, int code, const char *message);
/* data and sender are taken (sender NULL = null). */
char *op_mesg(const char *id, const char *topic, json_t *data, json_t *sender);
char *op_pres(const char *type, const char *id, const char *topic, json_t *sender);

/* plugin_opt_op_* (README.md), besides op_enable and op_mount. */
struct op_config {
	char *root;
	char *username;            /* MQTT username of anonymous/jwt op users' sessions */
	bool anonymous;            /* the "none" provider is allowed */
	/* op_provider_<name> <none|jwt|mqtt>: named providers, NULL-terminated. */
	char **provider_names;
	char **provider_kinds;
};
extern const struct wsgw_dialect_conf op_conf;

#endif
