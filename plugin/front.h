/* The gateway's HTTP/1.1 and WebSocket front (transport, L3): every client
 * connection is a raw lws socket (TLS, when the listener has it, is still
 * lws's), and the bytes on it are read here, with the pure parsers of
 * mapping/http1.c and mapping/wsframe.c. Requests are served one after the
 * other in the order they came, pipelined or not, bodies or not; client
 * frames must be masked (RFC 6455 5.1); text messages must be UTF-8.
 *
 * What a connection carries goes up through struct front_ops (transport.c
 * points them at http.c and session.c), so the front calls no file above
 * it; those files answer with the front_* calls below. */
#ifndef WSGW_FRONT_H
#define WSGW_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lws;
struct wsgw_gw;
struct wsgw_conn;

struct front_ops {
	/* A request head. front_is_upgrade tells a WebSocket upgrade, which
	 * the handler accepts (front_ws_accept) or refuses (front_respond)
	 * before it returns. Any other request is answered with front_respond,
	 * now or later (the next request waits for it); its body, if any, comes
	 * to `body` first. */
	void (*request)(struct wsgw_conn *c);
	/* Bytes of the current request's body; final: it is complete (then
	 * len may be 0). */
	void (*body)(struct wsgw_conn *c, const char *data, size_t len, bool final);
	/* A piece of a WebSocket message: first and final piece, binary or
	 * text (a text message is UTF-8, checked by the front). */
	void (*message)(struct wsgw_conn *c, const unsigned char *data, size_t len, bool first,
			bool final, bool binary);
	void (*pong)(struct wsgw_conn *c);
	/* The client sent a close frame; the front answers it and closes. */
	void (*peer_close)(struct wsgw_conn *c);
	/* A WebSocket connection may write (after front_want_write): 0, or -1
	 * to close at once. */
	int (*writeable)(struct wsgw_conn *c);
	/* The connection is gone: nothing of c may be used after. */
	void (*gone)(struct wsgw_conn *c);
};

/* Set once by the transport before the listener opens. */
void front_set_ops(const struct front_ops *ops);

/* lws's callbacks of an accepted client socket (transport.c): 0, or -1 to
 * close it. */
int front_adopt(struct wsgw_gw *gw, struct lws *wsi);
int front_rx(struct lws *wsi, const void *in, size_t len);
int front_writeable(struct lws *wsi);
void front_closed(struct lws *wsi);

/* Time limits of connections that are not WebSockets (reading a head,
 * idle between requests, lingering after a close): gateway tick. */
void front_tick(struct wsgw_gw *gw, int64_t now_ms);

/* What the connection carries (wsgw.h): a request of http.c, a session. */
struct wsgw_pss *front_pss(struct wsgw_conn *c);
struct wsgw_gw *front_gw(const struct wsgw_conn *c);

/* ---- the current request (from `request` until its reply; for an upgrade,
 * until the handler returns) ---- */
bool front_is_upgrade(const struct wsgw_conn *c);
const char *front_method(const struct wsgw_conn *c);
/* The decoded path: "/x/emit". */
const char *front_path(const struct wsgw_conn *c);
/* The query, not decoded (after '?'), or NULL. */
const char *front_query(const struct wsgw_conn *c);
/* A request header (every line of it joined with ", ") into buf,
 * NUL-terminated: its length, or -1 when absent or longer than len - 1. */
int front_header(const struct wsgw_conn *c, const char *name, char *buf, size_t len);
/* The header's length as front_header would copy it, or -1 when absent. */
int front_header_len(const struct wsgw_conn *c, const char *name);
/* The request's Content-Length (0: no body). */
unsigned long long front_body_length(const struct wsgw_conn *c);

/* The socket's peer address ("192.0.2.1", "2001:db8::1"), and whether the
 * connection came over the listener's TLS. */
const char *front_peer(const struct wsgw_conn *c);
bool front_tls(const struct wsgw_conn *c);
int front_fd(const struct wsgw_conn *c);

/* Answers the current request: the status line, then headers (each
 * "name: value\r\n", or NULL), Content-Length and the body (none for a
 * HEAD request). close: Connection: close and the connection ends once the
 * reply is out; without it the connection stays if the request allows it
 * (HTTP/1.1, or 1.0 with keep-alive) and its whole body was read, and the
 * next request is read. 0, or -1 when it could not be written (the
 * connection then ends). */
int front_respond(struct wsgw_conn *c, int status, const char *headers, const char *body, size_t len,
		bool close);

/* Accepts the current upgrade request: the 101 goes out and the
 * connection speaks WebSocket from now on. 0, or -1 (a key that is not a
 * key, or a version other than 13: answered with 400 / 426 and closed). */
int front_ws_accept(struct wsgw_conn *c);

/* ---- a WebSocket connection ---- */
/* Writes bytes as they are (whole frames: see wsframe.h). lws keeps what
 * the socket does not take and sends it first: 0, or -1. */
int front_write(struct wsgw_conn *c, const void *buf, size_t len);
/* Whether lws holds bytes of an earlier write the socket did not take. */
bool front_partial(const struct wsgw_conn *c);
/* Asks for ops->writeable once the socket takes more. */
void front_want_write(struct wsgw_conn *c);
/* A ping with payload (at most 125 bytes). */
int front_ping(struct wsgw_conn *c, const void *payload, size_t len);
/* The close frame (code, reason), then the connection ends once the
 * client answers or within 2 s. */
void front_ws_close(struct wsgw_conn *c, unsigned code, const char *reason);
/* Ends the connection now (no close frame). */
void front_kill(struct wsgw_conn *c);

#endif
