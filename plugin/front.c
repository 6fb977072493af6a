/* The HTTP/1.1 and WebSocket front: see front.h.
 *
 * A connection is in one state at a time:
 *   HEAD   reading a request head (bytes may be buffered ahead: pipelining)
 *   BODY   handing the body of the current request up, as it arrives
 *   WAIT   the request is read whole and waits for its reply; no input is
 *          read meanwhile (what is buffered stays for the next request)
 *   WS     WebSocket frames
 *   LINGER the reply or the close frame is the last thing sent: once it is
 *          out, the write side is shut (plain TCP) and the connection waits
 *          for the client's end, 2 s at most, so that a client still
 *          sending does not get a reset that eats the reply.
 * Input is taken from lws's read buffer where it lies; only what a state
 * cannot use yet (half a head, half a frame header) is copied and kept, so
 * an idle connection holds no buffer. */
#define LOG_TAG "front"
#include "wsgw.h"
#include "front.h"
#include "http1.h"
#include "wsframe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HEAD_MAX 16384            /* a request head's bytes, at most (431 beyond) */
#define LINGER_MS 2000
#define IN_MAX (HEAD_MAX + 4096)  /* input kept while a request waits: one read past a head */

enum cstate { CS_HEAD, CS_BODY, CS_WAIT, CS_WS, CS_LINGER };

struct wsgw_conn {
	struct wsgw_gw *gw;
	struct lws *wsi;
	struct wsgw_pss pss;              /* what the connection carries (http.c, session.c) */
	enum cstate state;
	bool dead;                       /* killed: lws closes it at its next turn */
	bool running;                    /* inside run(): a reply continues the loop */
	bool resume;                     /* buffered input waits for the next writeable */
	bool tls;
	char peer[64];

	unsigned char *in;               /* input not consumed yet */
	size_t inlen, incap;

	/* the current request */
	char *head;                      /* a copy of its head; rq points into it */
	struct http1_request *rq;        /* with head: an idle connection holds neither */
	char *path;
	const char *query;
	bool upgrade, keep, is_head, replied;
	unsigned long long body_len, body_left;

	/* WebSocket input */
	struct wsframe_in f;
	bool in_frame;
	uint64_t f_got;
	bool msg_open, msg_binary, msg_first;
	struct wsframe_utf8 utf8;
	bool close_sent;

	/* the time limit of a connection that is not a WebSocket (or closes) */
	int64_t deadline_ms;
	bool timed;
	struct wsgw_conn *tprev, *tnext;
	bool shut;                       /* LINGER: the write side is shut */
};

static const struct front_ops *ops;

void front_set_ops(const struct front_ops *o)
{
	ops = o;
}

/* ---- time limits ---- */

static void timed_set(struct wsgw_conn *c, int64_t deadline)
{
	struct wsgw_gw *gw = c->gw;

	c->deadline_ms = deadline;
	if(deadline && !c->timed){
		c->tprev = NULL;
		c->tnext = gw->conns_timed;
		if(gw->conns_timed) gw->conns_timed->tprev = c;
		gw->conns_timed = c;
		c->timed = true;
	}else if(!deadline && c->timed){
		if(c->tprev) c->tprev->tnext = c->tnext;
		else gw->conns_timed = c->tnext;
		if(c->tnext) c->tnext->tprev = c->tprev;
		c->tprev = c->tnext = NULL;
		c->timed = false;
	}
}

static int64_t ms_from_s(double s)
{
	return (int64_t)(s * 1000 + 0.5);
}

void front_kill(struct wsgw_conn *c)
{
	if(c->dead) return;
	c->dead = true;
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

void front_tick(struct wsgw_gw *gw, int64_t now)
{
	struct wsgw_conn *c = gw->conns_timed, *next;

	for(; c; c = next){
		next = c->tnext;
		if(c->deadline_ms && now >= c->deadline_ms){
			timed_set(c, 0);
			front_kill(c);
		}
	}
}

/* ---- the connection ---- */

struct wsgw_pss *front_pss(struct wsgw_conn *c)
{
	return &c->pss;
}

struct wsgw_gw *front_gw(const struct wsgw_conn *c)
{
	return c->gw;
}

const char *front_peer(const struct wsgw_conn *c)
{
	return c->peer;
}

bool front_tls(const struct wsgw_conn *c)
{
	return c->tls;
}

int front_fd(const struct wsgw_conn *c)
{
	return (int)lws_get_socket_fd(c->wsi);
}

static struct wsgw_conn *conn_of(struct lws *wsi)
{
	return lws_get_opaque_user_data(wsi);
}

int front_adopt(struct wsgw_gw *gw, struct lws *wsi)
{
	struct wsgw_conn *c = calloc(1, sizeof(*c));

	if(!c) return -1;
	c->gw = gw;
	c->wsi = wsi;
	c->state = CS_HEAD;
	c->tls = gw->cfg->certfile != NULL;   /* the listener's TLS: every connection has it */
	lws_get_peer_simple(wsi, c->peer, sizeof(c->peer));
	lws_set_opaque_user_data(wsi, c);
	gw->nclients++;
	timed_set(c, gw_now_ms() + ms_from_s(gw->cfg->handshake_timeout));
	return 0;
}

static void request_free(struct wsgw_conn *c)
{
	free(c->head);
	free(c->path);
	free(c->rq);
	c->head = c->path = NULL;
	c->rq = NULL;
	c->query = NULL;
}

void front_closed(struct lws *wsi)
{
	struct wsgw_conn *c = conn_of(wsi);

	if(!c) return;
	lws_set_opaque_user_data(wsi, NULL);
	timed_set(c, 0);
	if(ops && ops->gone) ops->gone(c);
	c->gw->nclients--;
	request_free(c);
	free(c->in);
	free(c);
}

/* ---- output ---- */

int front_write(struct wsgw_conn *c, const void *buf, size_t len)
{
	if(c->dead || (c->state == CS_LINGER && c->shut)) return -1;
	if(!len) return 0;
	/* lws_write takes a non-const buffer; a raw write leaves it as it is. */
	if(lws_write(c->wsi, (unsigned char *)(uintptr_t)buf, len, LWS_WRITE_RAW) < 0){
		front_kill(c);
		return -1;
	}
	return 0;
}

bool front_partial(const struct wsgw_conn *c)
{
	return lws_partial_buffered(c->wsi) != 0;
}

void front_want_write(struct wsgw_conn *c)
{
	if(!c->dead) lws_callback_on_writable(c->wsi);
}

/* The connection's last bytes are written: once they are out, shut the
 * write side (over TLS: close, a shut TCP side would cut the TLS stream
 * without its close_notify) and wait for the client to go. */
static void linger(struct wsgw_conn *c)
{
	c->state = CS_LINGER;
	c->resume = false;
	timed_set(c, gw_now_ms() + LINGER_MS);
	lws_rx_flow_control(c->wsi, 1);
	if(front_partial(c)){
		front_want_write(c);
		return;
	}
	if(c->tls){
		front_kill(c);
		return;
	}
	if(!c->shut){
		c->shut = true;
		shutdown(front_fd(c), SHUT_WR);
	}
}

/* ---- the current request ---- */

bool front_is_upgrade(const struct wsgw_conn *c)
{
	return c->upgrade;
}

const char *front_method(const struct wsgw_conn *c)
{
	return c->rq ? c->rq->method : "";
}

const char *front_path(const struct wsgw_conn *c)
{
	return c->path ? c->path : "/";
}

const char *front_query(const struct wsgw_conn *c)
{
	return c->query;
}

int front_header(const struct wsgw_conn *c, const char *name, char *buf, size_t len)
{
	if(!c->rq) return -1;
	return http1_join(c->rq, name, buf, len);
}

int front_header_len(const struct wsgw_conn *c, const char *name)
{
	size_t n = 0, k = 0;

	if(!c->rq) return -1;
	for(size_t i = 0; i < c->rq->nheaders; i++){
		const struct http1_header *h = &c->rq->headers[i];
		if(h->name_len != strlen(name) || strncasecmp(h->name, name, h->name_len)) continue;
		n += (k++ ? 2 : 0) + h->value_len;
	}
	return k ? (int)n : -1;
}

unsigned long long front_body_length(const struct wsgw_conn *c)
{
	return c->body_len;
}

static const char *reason_of(int status)
{
	switch(status){
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 426: return "Upgrade Required";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
	}
}

/* A request is done: the next one may be read (from what is buffered
 * first). Inside run() the loop goes on by itself; otherwise the next
 * writeable callback picks it up. */
static void next_request(struct wsgw_conn *c)
{
	request_free(c);
	c->state = CS_HEAD;
	timed_set(c, gw_now_ms() + (int64_t)c->gw->cfg->http_keepalive_timeout * 1000);
	lws_rx_flow_control(c->wsi, 1);
	if(!c->running && c->inlen){
		c->resume = true;
		front_want_write(c);
	}
}

/* The head's last lines: Content-Length, Connection, the blank line. */
#define TAIL_MAX 96

int front_respond(struct wsgw_conn *c, int status, const char *headers, const char *body, size_t len,
		bool close)
{
	bool keep, nobody = c->is_head || status == 204 || status == 304 || status < 200;
	char line[160];
	size_t hlen = headers ? strlen(headers) : 0, total;
	char *buf;
	int n, rc;

	if(c->dead || c->replied || (c->state != CS_BODY && c->state != CS_WAIT)) return -1;
	c->replied = true;
	keep = !close && c->keep && c->state == CS_WAIT && !c->upgrade;
	n = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, reason_of(status));
	if(n < 0 || (size_t)n >= sizeof(line)) return -1;
	total = (size_t)n + hlen + TAIL_MAX + (nobody ? 0 : len);
	if(!(buf = malloc(total))){
		front_kill(c);
		return -1;
	}
	memcpy(buf, line, (size_t)n);
	if(hlen) memcpy(buf + n, headers, hlen);
	total = (size_t)n + hlen;
	/* No Content-Length on a 1xx or 204 (RFC 9110 8.6); a HEAD's is the
	 * body's it would have had. */
	n = 0;
	if(status >= 200 && status != 204) n = snprintf(buf + total, TAIL_MAX, "content-length: %zu\r\n", len);
	n += snprintf(buf + total + n, TAIL_MAX - (size_t)n, "%s\r\n",
			!keep ? "connection: close\r\n" : c->rq && c->rq->minor == 0 ? "connection: keep-alive\r\n" : "");
	total += (size_t)n;
	if(!nobody && len){
		memcpy(buf + total, body, len);
		total += len;
	}
	rc = front_write(c, buf, total);
	free(buf);
	if(rc) return -1;
	if(keep) next_request(c);
	else linger(c);
	return 0;
}

/* A request the front refuses itself (a malformed head, a body it cannot
 * frame): a JSON error like the gateway's others, then the end. */
static void refuse(struct wsgw_conn *c, int status, const char *code, const char *message)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}", code, message);

	c->state = CS_WAIT;
	c->replied = false;
	c->upgrade = false;
	if(n < 0 || (size_t)n >= sizeof(body)) n = 0;
	metrics_http(&c->gw->metrics, NULL, status);
	front_respond(c, status, "content-type: application/json\r\ncache-control: no-store\r\n", body,
			(size_t)n, true);
}

int front_ws_accept(struct wsgw_conn *c)
{
	char key[64], ver[8], accept[WSFRAME_ACCEPT_LEN + 1], resp[192];
	int n;

	if(!c->upgrade || c->replied) return -1;
	if(front_header(c, "sec-websocket-version", ver, sizeof(ver)) < 0 || strcmp(ver, "13")){
		static const char body[] = "{\"error\":\"UPGRADE_REQUIRED\",\"message\":\"WebSocket version 13 only\"}";
		c->upgrade = false;
		front_respond(c, 426, "sec-websocket-version: 13\r\ncontent-type: application/json\r\n", body,
				sizeof(body) - 1, true);
		return -1;
	}
	n = front_header(c, "sec-websocket-key", key, sizeof(key));
	if(n < 0 || wsframe_accept(key, (size_t)n, accept)){
		c->upgrade = false;
		refuse(c, 400, "BAD_REQUEST", "no valid Sec-WebSocket-Key");
		return -1;
	}
	n = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
			"upgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: %s\r\n\r\n", accept);
	c->replied = true;
	if(front_write(c, resp, (size_t)n)) return -1;
	c->state = CS_WS;
	timed_set(c, 0);
	lws_rx_flow_control(c->wsi, 1);
	return 0;
}

/* ---- WebSocket output ---- */

static int control(struct wsgw_conn *c, unsigned opcode, const void *payload, size_t len)
{
	unsigned char frame[2 + 125];

	if(len > 125) len = 125;
	size_t h = wsframe_header(frame, opcode, len);
	if(len) memcpy(frame + h, payload, len);
	return front_write(c, frame, h + len);
}

int front_ping(struct wsgw_conn *c, const void *payload, size_t len)
{
	if(c->state != CS_WS || c->close_sent) return -1;
	return control(c, WSFRAME_PING, payload, len);
}

void front_ws_close(struct wsgw_conn *c, unsigned code, const char *reason)
{
	unsigned char frame[2 + 125];

	if(c->state != CS_WS || c->close_sent) return;
	c->close_sent = true;
	front_write(c, frame, wsframe_close(frame, code, reason));
	/* the client's close frame ends it (run), or this */
	timed_set(c, gw_now_ms() + LINGER_MS);
}

/* A client that breaks the protocol: the close frame with the code, and
 * the end. */
static void ws_fail(struct wsgw_conn *c, unsigned code, const char *reason)
{
	unsigned char frame[2 + 125];

	LOG_I("closing a WebSocket client from %s: %s", c->peer, reason);
	if(!c->close_sent){
		c->close_sent = true;
		front_write(c, frame, wsframe_close(frame, code, reason));
	}
	if(ops->peer_close) ops->peer_close(c);
	linger(c);
}

/* ---- input ---- */

static size_t ws_payload(struct wsgw_conn *c, unsigned char *p, size_t n);

/* One frame's header and, for a control frame, its payload, at p: the
 * bytes consumed (0: more are needed). */
static size_t ws_frame_start(struct wsgw_conn *c, unsigned char *p, size_t n)
{
	struct wsframe_in *f = &c->f;
	int r = wsframe_parse(p, n, true, f);

	if(r == 0) return 0;
	if(r < 0){
		ws_fail(c, WSFRAME_CLOSE_PROTOCOL, f->hdr_len && !f->masked ? "unmasked frame" : "protocol error");
		return n;
	}
	if(f->opcode >= WSFRAME_CLOSE){
		unsigned char *pl = p + f->hdr_len;
		unsigned code = 0;
		if(n < f->hdr_len + f->len) return 0;
		wsframe_unmask(pl, (size_t)f->len, f->mask, 0);
		if(f->opcode == WSFRAME_PING){
			if(!c->close_sent) control(c, WSFRAME_PONG, pl, (size_t)f->len);
		}else if(f->opcode == WSFRAME_PONG){
			if(!c->close_sent && ops->pong) ops->pong(c);
		}else{
			if(wsframe_close_code(pl, (size_t)f->len, &code)){
				ws_fail(c, WSFRAME_CLOSE_PROTOCOL, "bad close frame");
				return n;
			}
			if(!c->close_sent){
				/* The client closes: its code goes back (RFC 6455 5.5.1). */
				unsigned char frame[2 + 125];
				c->close_sent = true;
				if(ops->peer_close) ops->peer_close(c);
				front_write(c, frame, wsframe_close(frame, code, NULL));
			}
			linger(c);
			return n;
		}
		return f->hdr_len + (size_t)f->len;
	}
	if(f->opcode == WSFRAME_CONT ? !c->msg_open : c->msg_open){
		ws_fail(c, WSFRAME_CLOSE_PROTOCOL, f->opcode == WSFRAME_CONT ? "continuation without a message"
				: "a new message inside a fragmented one");
		return n;
	}
	if(f->opcode != WSFRAME_CONT){
		c->msg_open = true;
		c->msg_first = true;
		c->msg_binary = f->opcode == WSFRAME_BINARY;
		wsframe_utf8_init(&c->utf8);
	}
	c->in_frame = true;
	c->f_got = 0;
	if(!f->len) ws_payload(c, p + f->hdr_len, 0);   /* an empty frame: nothing more comes for it */
	return f->hdr_len;
}

/* Payload bytes of the current data frame at p: the bytes consumed. */
static size_t ws_payload(struct wsgw_conn *c, unsigned char *p, size_t n)
{
	struct wsframe_in *f = &c->f;
	uint64_t left = f->len - c->f_got;
	size_t k = left < n ? (size_t)left : n;
	bool frame_end = c->f_got + k == f->len, final = frame_end && f->fin;

	wsframe_unmask(p, k, f->mask, c->f_got);
	c->f_got += k;
	if(frame_end) c->in_frame = false;
	if(final) c->msg_open = false;
	if(!c->msg_binary && (!wsframe_utf8_feed(&c->utf8, p, k) || (final && !wsframe_utf8_done(&c->utf8)))){
		ws_fail(c, WSFRAME_CLOSE_INVALID_UTF8, "text that is not UTF-8");
		return n;
	}
	if(!c->close_sent && (k || c->msg_first || final)){
		bool first = c->msg_first;
		c->msg_first = false;
		ops->message(c, p, k, first, final, c->msg_binary);
	}
	return k;
}

/* A request head at p, complete or not: the bytes consumed. */
static size_t head_start(struct wsgw_conn *c, unsigned char *p, size_t n)
{
	struct http1_request rq;
	int r = http1_parse_head((const char *)p, n, HEAD_MAX, &rq), len;
	char expect[32];

	if(r == 0){
		/* the first bytes of a head after an idle keep-alive wait: the
		 * head has handshake_timeout to complete */
		int64_t d = gw_now_ms() + ms_from_s(c->gw->cfg->handshake_timeout);
		if(!c->deadline_ms || d < c->deadline_ms) timed_set(c, d);
		return 0;
	}
	if(r < 0){
		refuse(c, -r, -r == 431 ? "HEADERS_TOO_LARGE" : -r == 505 ? "HTTP_VERSION_NOT_SUPPORTED" : "BAD_REQUEST",
				-r == 431 ? "the request head is too large" : -r == 505 ? "HTTP/1.1 or 1.0 only"
				: "malformed request");
		return n;
	}
	if(!(c->head = malloc((size_t)r + 1)) || !(c->rq = malloc(sizeof(*c->rq)))){
		front_kill(c);
		return n;
	}
	memcpy(c->head, p, (size_t)r);
	c->head[r] = '\0';
	if(http1_parse_head(c->head, (size_t)r, HEAD_MAX, c->rq) != r){
		refuse(c, 400, "BAD_REQUEST", "malformed request");
		return (size_t)r;
	}
	/* The fields end in bytes of the head's syntax (a space, CR, LF):
	 * each becomes a NUL, so that the fields are strings. */
	((char *)c->rq->method)[c->rq->method_len] = '\0';
	((char *)c->rq->target)[c->rq->target_len] = '\0';
	for(size_t i = 0; i < c->rq->nheaders; i++){
		((char *)c->rq->headers[i].name)[c->rq->headers[i].name_len] = '\0';
	}
	c->replied = false;
	c->state = CS_WAIT;
	c->is_head = !strcmp(c->rq->method, "HEAD");
	c->keep = http1_keep_alive(c->rq);
	timed_set(c, 0);
	if(!(c->path = malloc(c->rq->target_len + 1))
			|| http1_path(c->rq, c->path, c->rq->target_len + 1) < 0){
		refuse(c, 400, "BAD_REQUEST", "the path is not a clean absolute path");
		return (size_t)r;
	}
	{
		size_t qlen;
		c->query = http1_query(c->rq, &qlen);
	}
	len = http1_body_length(c->rq, &c->body_len);
	if(len == -501){
		refuse(c, 411, "LENGTH_REQUIRED", "send the body with a Content-Length");
		return (size_t)r;
	}
	if(len < 0){
		refuse(c, 400, "BAD_REQUEST", "a bad Content-Length");
		return (size_t)r;
	}
	c->body_left = c->body_len;
	c->upgrade = !strcmp(c->rq->method, "GET") && http1_header_has(c->rq, "upgrade", "websocket")
		&& http1_header_has(c->rq, "connection", "upgrade");
	if(c->upgrade && c->body_len){
		refuse(c, 400, "BAD_REQUEST", "an upgrade request has no body");
		return (size_t)r;
	}
	if(c->body_len){
		c->state = CS_BODY;
		if(front_header(c, "expect", expect, sizeof(expect)) > 0 && !strcasecmp(expect, "100-continue")){
			static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
			front_write(c, cont, sizeof(cont) - 1);
		}
	}
	ops->request(c);
	if(c->upgrade && c->state != CS_WS && !c->replied && !c->dead){
		refuse(c, 500, "INTERNAL", "the upgrade was not answered");
	}
	if(c->upgrade) request_free(c);
	return (size_t)r;
}

/* Everything at p (n bytes) that the connection's state can take now: the
 * bytes consumed. */
static size_t run(struct wsgw_conn *c, unsigned char *p, size_t n)
{
	size_t used = 0;

	c->running = true;
	while(used < n && !c->dead){
		size_t k = 0;
		switch(c->state){
		case CS_HEAD:
			k = head_start(c, p + used, n - used);
			break;
		case CS_BODY: {
			size_t take = c->body_left < n - used ? (size_t)c->body_left : n - used;
			c->body_left -= take;
			if(!c->body_left) c->state = CS_WAIT;
			ops->body(c, (const char *)p + used, take, !c->body_left);
			k = take;
			break;
		}
		case CS_WAIT:
			break;
		case CS_WS:
			k = c->in_frame ? ws_payload(c, p + used, n - used) : ws_frame_start(c, p + used, n - used);
			break;
		case CS_LINGER:
			k = n - used;   /* what comes after the end is not looked at */
			break;
		}
		if(!k) break;
		used += k;
	}
	c->running = false;
	return used;
}

/* Input at p: run it, and keep what is left (a part of a head or of a
 * frame header, or what a waiting request leaves for the next one). */
static int take(struct wsgw_conn *c, unsigned char *p, size_t n)
{
	size_t used = run(c, p, n), left = n - used;

	if(c->dead) return 0;
	if(left > IN_MAX && c->state != CS_WS){
		refuse(c, 431, "HEADERS_TOO_LARGE", "too much input ahead of the request");
		return 0;
	}
	if(!left) return 0;
	if(left > c->incap){
		unsigned char *grown = malloc(left);
		if(!grown) return -1;
		free(c->in);
		c->in = grown;
		c->incap = left;
	}
	memmove(c->in, p + used, left);
	c->inlen = left;
	if(c->state == CS_WAIT) lws_rx_flow_control(c->wsi, 0);
	return 0;
}

int front_rx(struct lws *wsi, const void *in, size_t len)
{
	struct wsgw_conn *c = conn_of(wsi);
	unsigned char *joined;
	int rc;

	if(!c || c->dead) return c ? 0 : -1;
	if(!c->inlen){
		/* lws's read buffer is ours until we return: unmasked in place */
		return take(c, (unsigned char *)(uintptr_t)in, len);
	}
	if(!(joined = malloc(c->inlen + len))) return -1;
	memcpy(joined, c->in, c->inlen);
	memcpy(joined + c->inlen, in, len);
	free(c->in);
	c->in = NULL;
	c->incap = 0;
	len += c->inlen;
	c->inlen = 0;
	rc = take(c, joined, len);
	free(joined);
	return rc;
}

int front_writeable(struct lws *wsi)
{
	struct wsgw_conn *c = conn_of(wsi);

	if(!c || c->dead) return 0;
	if(c->state == CS_LINGER){
		linger(c);
		return 0;
	}
	if(c->resume && c->state == CS_HEAD && c->inlen){
		unsigned char *p = c->in;
		size_t n = c->inlen;
		c->resume = false;
		c->in = NULL;
		c->inlen = c->incap = 0;
		if(take(c, p, n)){
			free(p);
			return -1;
		}
		free(p);
		return 0;
	}
	if(c->state == CS_WS && !c->close_sent && ops->writeable) return ops->writeable(c);
	return 0;
}
