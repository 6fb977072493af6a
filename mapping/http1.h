/* HTTP/1.1 requests as they arrive on a connection (RFC 9112), pure: the
 * request head parsed in place, the framing of its body, the path and query
 * decoded. plugin/front.c, the gateway's own HTTP/1.1 and WebSocket front,
 * reads every request with it: pipelined requests are parsed one after the
 * other from the same buffer. */
#ifndef WSGW_HTTP1_H
#define WSGW_HTTP1_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP1_MAX_HEADERS 64

struct http1_header {
	const char *name;       /* as sent (compare with http1_find: case does not count) */
	size_t name_len;
	const char *value;      /* without the whitespace around it */
	size_t value_len;
};

struct http1_request {
	const char *method;     /* "GET", "POST", ... (case counts: RFC 9110 9.1) */
	size_t method_len;
	const char *target;     /* the request target as sent: /path[?query] */
	size_t target_len;
	int minor;              /* HTTP/1.<minor>: 0 or 1 */
	struct http1_header headers[HTTP1_MAX_HEADERS];
	size_t nheaders;
	size_t head_len;        /* bytes of the head, the blank line included */
};

/* Parses the request head at the start of buf (len bytes; the buffer need
 * not be NUL-terminated, and bytes after the head are not looked at).
 * Pointers in *rq point into buf. Empty lines before the request line are
 * skipped (RFC 9112 2.2); a bare LF ends a line as CRLF does.
 *   > 0  the head is complete: its length (rq->head_len)
 *   0    not complete yet, and within max_head bytes: read more
 *   < 0  the negated HTTP status to answer before closing:
 *        -400 malformed (request line, a header line without a colon or
 *             with whitespace before it, a control byte, an obs-fold
 *             continuation line, a target that is not origin-form, a NUL),
 *        -431 the head is longer than max_head, or more than
 *             HTTP1_MAX_HEADERS headers (whatever the extra line holds),
 *        -505 a version other than HTTP/1.0 or HTTP/1.1 (well-formed,
 *             HTTP/<digit>.<digit>; anything else there is -400).
 * A definite error is returned as soon as it has arrived, before the head
 * is complete. A max_head above INT_MAX counts as INT_MAX. */
int http1_parse_head(const char *buf, size_t len, size_t max_head, struct http1_request *rq);

/* The first header named name (case-insensitive, no colon), or NULL. */
const struct http1_header *http1_find(const struct http1_request *rq, const char *name);

/* How many headers are named name. */
size_t http1_count(const struct http1_request *rq, const char *name);

/* Every header named name, joined with ", " in the order sent, into out
 * (NUL-terminated): its length; -1 when absent or when it does not fit in
 * outlen bytes (out is then "" if outlen > 0). */
int http1_join(const struct http1_request *rq, const char *name, char *out, size_t outlen);

/* The body's framing: 0 and *len = the Content-Length (0 when absent);
 * -400 for a Content-Length that is not digits, too large for 63 bits, or
 * sent twice with different values (RFC 9112 6.3); -501 for any
 * Transfer-Encoding, looked at first (chunked bodies are not taken: the
 * caller answers 411 or 501 as it sees fit). */
int http1_body_length(const struct http1_request *rq, unsigned long long *len);

/* True if the comma-separated list of the value holds token
 * (case-insensitive, whitespace around elements ignored, empty elements
 * never match):
 * Connection: keep-alive, Upgrade; Upgrade: websocket. */
bool http1_list_has(const char *value, size_t value_len, const char *token);

/* True if the request header name (every line of it) has token in its list. */
bool http1_header_has(const struct http1_request *rq, const char *name, const char *token);

/* Whether the connection stays open after this request's reply: HTTP/1.1
 * unless Connection: close; HTTP/1.0 only with Connection: keep-alive
 * (close wins when both are sent). */
bool http1_keep_alive(const struct http1_request *rq);

/* The path of the target (up to '?' or the end), percent-decoded, into out
 * (outlen bytes, NUL-terminated): its length; -1 when it does not start
 * with '/', holds a bad escape or an encoded NUL, has a "." or ".." segment
 * (encoded or not), or does not fit. */
int http1_path(const struct http1_request *rq, char *out, size_t outlen);

/* The query of the target (after '?', not decoded), or an empty string:
 * *len its length; NULL when there is no '?'. */
const char *http1_query(const struct http1_request *rq, size_t *len);

/* Percent-decodes in (len bytes) into out (NUL-terminated), '+' as a space
 * when plus is true (the query's form encoding): the decoded length; -1 on a
 * bad escape, a NUL (encoded or not), or when it does not fit in outlen. */
int http1_decode(const char *in, size_t len, bool plus, char *out, size_t outlen);

#endif
