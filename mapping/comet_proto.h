/* Comet: uplink parsing, downlink frames, HTTP API bodies, Events, claims,
 * DumpSession. Pure code, no I/O. The contract is docs/protocols/comet.md. */
#ifndef WSGW_COMET_PROTO_H
#define WSGW_COMET_PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "option.h"

#define COMET_BIRTH_SIZE 32            /* "2024-05-01T12:00:00.123Z" + NUL */
#define COMET_NONCE_SIZE 17            /* 16 hex characters + NUL */

/* Error codes sent in error frames and HTTP bodies. */
#define COMET_E_BAD_JSON "BAD_JSON"
#define COMET_E_BAD_MESSAGE "BAD_MESSAGE"
#define COMET_E_UNKNOWN_TYPE "UNKNOWN_TYPE"
#define COMET_E_BAD_ROOM "BAD_ROOM"
#define COMET_E_BAD_UID "BAD_UID"
#define COMET_E_NO_EVT "NO_EVT"
#define COMET_E_BAD_PARAMETER "BAD_PARAMETER"

/* MsgType of the seed. */
enum comet_type { COMET_HB = 0, COMET_AUTH = 1, COMET_JOIN = 2, COMET_PUSH = 3 };

/* A parsed uplink frame. token and rid are borrowed from root. */
struct comet_uplink {
	enum comet_type t;
	const char *token;      /* AUTH: auth.token, NULL when absent */
	bool has_join;          /* JOIN always; AUTH when it carries "join" */
	const char *rid;        /* join.rid; "" = the world only */
	json_t *root;           /* owned */
};

/* Parses one text frame: a JSON object whose "t" (or, failing that, "type")
 * is a MsgType number or name (any case); missing or null means HB. For AUTH,
 * "auth" is an object with a string "token"; for JOIN (and AUTH carrying one),
 * "join" is an object with a string "rid" (missing or null = ""), which must be
 * "" or a valid topic level. Unknown fields are ignored. Returns NULL and
 * fills out (free with comet_uplink_clear), or returns an error code and sets
 * *msg to a sentence (nothing is owned then).
 * Invalid JSON (jsonutil_parse: raw NUL bytes and duplicate keys included): *msg
 * is jansson's position and text, in a per-thread buffer valid until the next
 * failing parse; use it at once.
 */
const char *comet_parse_uplink(const char *buf, size_t len, struct comet_uplink *out,
		const char **msg);
void comet_uplink_clear(struct comet_uplink *u);
/* The name of a MsgType ("HB", ...). */
const char *comet_type_name(enum comet_type t);

/* Downlink frames as compact JSON text (caller frees), or NULL. */
char *comet_hb_frame(void);
/* evt is the raw JSON text of the event, embedded byte for byte. */
char *comet_push_frame(const char *evt, size_t evt_len);
/* {"error":{"code":..,"message":..[,"reason":..]}}; reason may be NULL. */
char *comet_error_frame(const char *code, const char *reason, const char *message);

/* True if buf[0..len) is one JSON value (any type; integers of any size). */
bool comet_json_valid(const char *buf, size_t len);
/* In the JSON object text buf (already validated), finds the top-level member
 * `key` and gives the byte span of its value, exactly as written. */
bool comet_json_member(const char *buf, size_t len, const char *key, size_t *off, size_t *vlen);
/* The evt carried by an MQTT payload, as JSON text (caller frees, NUL-terminated,
 * length in *outlen): the payload itself when it is one JSON value, a JSON
 * string of it when it is other UTF-8 text ("" when empty), NULL when it is
 * not UTF-8. */
char *comet_evt_from_payload(const void *payload, size_t len, size_t *outlen);

/* Routes a path below the mount: "Comet/<Method>" or the lower-case
 * "<method>" ("subscribe", "publish", "broadcast", "dumpsession"); one
 * trailing '/' is tolerated. */
enum comet_route { COMET_ROUTE_NONE, COMET_ROUTE_SUBSCRIBE, COMET_ROUTE_PUBLISH,
	COMET_ROUTE_BROADCAST, COMET_ROUTE_DUMP };
enum comet_route comet_route(const char *subpath);

/* An HTTP API request or an MQTT Event. */
struct comet_req {
	char *uid;              /* Publish (required), Event ("" = none) */
	char *rid;              /* Broadcast, Event ("" = the world) */
	char *evt;              /* raw JSON text of "evt", NUL-terminated */
	size_t evt_len;
	bool cluster;           /* DumpSession {"cluster":true} */
};

/* Parses the body of Publish ({uid, evt}), Broadcast ({rid, evt}) or
 * DumpSession (empty, or {"cluster":bool}). Returns 0 and fills out (free with
 * comet_req_clear), or returns 400 and sets *code and *msg. */
int comet_parse_request(enum comet_route r, const char *body, size_t len, struct comet_req *out,
		const char **code, const char **msg);
/* Parses an Event {uid, rid, evt} from MQTT. Returns 0 and fills out, or -1
 * and sets *msg. */
int comet_parse_event(const void *payload, size_t len, struct comet_req *out, const char **msg);
void comet_req_clear(struct comet_req *r);

/* "Authorization: Bearer <token>": the token (trailing blanks cut in place),
 * or NULL when the header is not a Bearer credential. */
char *comet_bearer(char *header);
/* Equality of two secrets in time independent of where they differ. */
bool comet_secret_equal(const char *a, const char *b);
/* True if the (already verified) JWT's claims mark a service: "type":"service"
 * (go-micro accounts) or "service" in the "scopes" array. */
bool comet_jwt_is_service(const char *token);

/* UTC time as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void comet_birth(int64_t wall_ms, char out[COMET_BIRTH_SIZE]);

/* The retained presence entry of a session (the core's common shape):
 * {"clientID":uid,"presence":{"uid","rid","birth"},"gateway","boot","since"}. */
char *comet_presence(const char *uid, const char *rid, const char *birth, const char *gateway,
		const char *boot, int64_t since_ms);

/* Claims: "the session (birth, nonce) of uid on gateway/boot is the one". */
struct comet_claim {
	char *uid, *gateway, *boot, *nonce;
	int64_t birth_ms;
};
char *comet_claim_build(const char *uid, const char *gateway, const char *boot,
		int64_t birth_ms, const char *nonce);
int comet_claim_parse(const void *payload, size_t len, struct comet_claim *out);
void comet_claim_clear(struct comet_claim *c);
/* Orders sessions by (birth, nonce): < 0 when a is older than b. */
int comet_session_cmp(int64_t a_birth, const char *a_nonce, int64_t b_birth, const char *b_nonce);

/* One Session of DumpSession. */
struct comet_sess {
	const char *uid, *rid, *birth;
	const char *gateway;    /* listed only with with_gateway; may be NULL */
};
/* {"world":[Session...],"rooms":[{"rid","room":[Session...]}...]}: sessions
 * newest first (birth descending, then uid), rooms by rid. Sorts v in place. */
char *comet_dump(struct comet_sess *v, size_t n, bool with_gateway);

/* plugin_opt_comet_* (README.md), besides comet_enable and comet_mount. */
struct comet_config {
	char *root;
	char *username;
	char *service_token;       /* Bearer token of the HTTP API (or a JWT) */
	double hb_idle;
	double hb_drop;
};
extern const struct wsgw_dialect_conf comet_conf;

#endif
