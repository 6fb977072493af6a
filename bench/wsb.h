/* wsbench: load tool for mosquitto_wsgw, Mosquitto's own WebSockets listener
 * and nchan (docs/PERFORMANCE.md). N threads, each with its own epoll set, no
 * libraries: the WebSocket client framing, the MQTT 3.1.1 codec, the HTTP/1.1
 * client and the HS256 JWTs are the few hundred lines in wsb_proto.c. */
#ifndef WSB_H
#define WSB_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/types.h>

/* ---- growable byte buffer: data is p[off..len) ---- */
struct buf {
	uint8_t *p;
	size_t off, len, cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t n);
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);
static inline size_t buf_used(const struct buf *b) { return b->len - b->off; }
static inline uint8_t *buf_data(const struct buf *b) { return b->p + b->off; }

/* ---- time ---- */
uint64_t now_ns(void);

/* ---- wsb_proto.c: codecs (pure: they only fill buffers) ---- */
enum { WS_CONT = 0, WS_TEXT = 1, WS_BINARY = 2, WS_CLOSE = 8, WS_PING = 9, WS_PONG = 10 };

/* The client's upgrade request for path; subprotocol may be NULL. */
void ws_upgrade_request(struct buf *out, const char *host, const char *path, const char *subprotocol,
		uint32_t key_seed);
/* Parses the server's handshake reply. Returns the bytes it took (>0), 0 if
 * incomplete, -1 if it is not a 101. */
ssize_t ws_upgrade_reply(const uint8_t *p, size_t n, int *status);
/* Appends one masked client frame. */
void ws_frame(struct buf *out, int opcode, const void *payload, size_t n, uint32_t mask);
/* Parses one server frame: returns the bytes it took (>0), 0 if incomplete,
 * -1 if malformed. Fills opcode, fin, and the payload span (unmasked in place
 * when the server masked it). */
ssize_t ws_parse(uint8_t *p, size_t n, int *opcode, bool *fin, uint8_t **payload, size_t *plen);

/* MQTT 3.1.1 */
enum { MQTT_CONNECT = 1, MQTT_CONNACK = 2, MQTT_PUBLISH = 3, MQTT_PUBACK = 4, MQTT_SUBSCRIBE = 8,
	MQTT_SUBACK = 9, MQTT_PINGREQ = 12, MQTT_PINGRESP = 13, MQTT_DISCONNECT = 14 };
void mqtt_connect(struct buf *out, const char *client_id, uint16_t keepalive);
void mqtt_subscribe(struct buf *out, uint16_t pid, const char *topic, int qos);
void mqtt_publish(struct buf *out, const char *topic, const void *payload, size_t n, int qos, uint16_t pid);
/* mqtt_publish with the RETAIN flag when retain is set (the content scenario's documents). */
void mqtt_publish_retain(struct buf *out, const char *topic, const void *payload, size_t n, int qos, uint16_t pid,
		bool retain);
void mqtt_puback(struct buf *out, uint16_t pid);
void mqtt_pingreq(struct buf *out);
void mqtt_disconnect(struct buf *out);
/* One packet from a stream: returns the bytes it took (>0), 0 if incomplete,
 * -1 if malformed. body/blen is everything after the fixed header. */
ssize_t mqtt_parse(const uint8_t *p, size_t n, int *type, int *flags, const uint8_t **body, size_t *blen);
/* Splits a PUBLISH body. Returns 0, or -1 if malformed. */
int mqtt_publish_split(const uint8_t *body, size_t blen, int qos, const uint8_t **topic, size_t *tlen,
		uint16_t *pid, const uint8_t **payload, size_t *plen);

/* HTTP/1.1 client; bearer (may be NULL) goes in an Authorization header. */
void http_post(struct buf *out, const char *host, const char *path, const char *bearer, const void *body, size_t n);
/* One response: returns the bytes it took (>0), 0 if incomplete, -1 if malformed. */
ssize_t http_response(const uint8_t *p, size_t n, int *status);

/* Reads an unsigned decimal after the first occurrence of key (e.g. "\"t\":").
 * Returns false if the key is missing. */
bool json_find_u64(const uint8_t *p, size_t n, const char *key, uint64_t *out);
/* json_find_u64 of key after the last occurrence of anchor: the value of the
 * last JSON Patch operation on "/t" is json_find_u64_after(p, n, "\"/t\"", "\"value\":"). */
bool json_find_u64_after(const uint8_t *p, size_t n, const char *anchor, const char *key, uint64_t *out);

/* An HS256 JWT {"sub":sub,"exp":exp} signed with secret, NUL-terminated in
 * out. Returns its length, or -1 if it does not fit. */
int jwt_hs256(char *out, size_t cap, const char *secret, const char *sub, long long exp);

/* ---- wsb_stats.c ---- */
#define HIST_BUCKETS 3840
struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t b[HIST_BUCKETS];
};
void hist_add(struct hist *h, uint64_t v);
uint64_t hist_pct(const struct hist *h, double pct);   /* pct in [0, 100] */
void hist_reset(struct hist *h);
void hist_merge(struct hist *into, const struct hist *from);

long proc_rss_kb(pid_t pid);          /* VmRSS, -1 if unknown */
double proc_cpu_s(pid_t pid);         /* utime + stime of every thread, -1 if unknown */
int proc_fds(pid_t pid);              /* open descriptors, -1 if unknown */
double self_cpu_s(void);

/* ---- wsb_report.c ---- */
int report_main(int argc, char **argv);

#endif
