/* Plain HTTP requests (emit and the like): method, origin and route checks,
 * CORS, body collection with a cap, and replies that may come later
 * (require-ack); and the gateway's own endpoints, health and metrics. */
#define LOG_TAG "http"
#include "wsgw.h"
#include "session_int.h"
#include "metrics_fmt.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <strings.h>
#include <openssl/crypto.h>

#define HDR_MAX 1024

/* ---- pipelined requests ----
 *
 * lws 4.1 keeps the bytes a read brought beyond the current request (the
 * next, pipelined, requests) in the connection's "buflist", and parses the
 * next request from there once the current transaction is completed. For a
 * request that has a body, lws_http_action() then feeds the head of that
 * buflist, which still starts with the request's own headers, to
 * LWS_CALLBACK_HTTP_BODY, and loops on the rest for good (the body is
 * "complete" but the buflist never empties): the gateway thread spins and
 * BODY_COMPLETION is called again and again. A callback cannot break that
 * loop (closing there frees the connection twice). And while a reply is
 * deferred, lws hands the buffered bytes to the finished request again on
 * every loop (BODY_COMPLETION once more, or a GET's headers overwritten).
 *
 * lws 4.3 (Debian 13) meets the same input differently: the body callback
 * gets the request's body and every pipelined byte read with it as one
 * piece, and lws then closes the connection without BODY_COMPLETION. A
 * body callback that brings more than Content-Length is refused at once
 * with the same 503 (http_handle), so the client learns to send again.
 *
 * So: (1) a connection reads nothing from the end of a request until its
 * reply is written and the transaction completed (rx flow control), and
 * (2) a request with a body that lws parsed from its buffer, not from a
 * read, is answered at once, before lws reaches that loop, with a 503,
 * Retry-After and Connection: close, and the connection is closed: the
 * client sends it again. Requests without a body (GET) are served in order
 * however they arrive. Whether lws read the socket since the previous
 * transaction ended is told by the kernel: bytes the TCP stack received
 * minus bytes still queued = bytes the process has read. */

struct wsgw_conn {
	uint64_t read_mark;     /* bytes read from the socket when the last transaction ended */
	bool marked;
};

/* Bytes lws has read from the socket so far. `late` orders the two calls
 * so that a byte arriving between them makes the result too large
 * (late) or too small (!late), never the other way. */
static bool socket_bytes_read(struct lws *wsi, bool late, uint64_t *out)
{
	int fd = lws_get_socket_fd(wsi), inq = 0;
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if(fd < 0) return false;
	memset(&ti, 0, sizeof(ti));
	if(late && ioctl(fd, SIOCINQ, &inq)) return false;
	if(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len)
			|| len < offsetof(struct tcp_info, tcpi_bytes_received) + sizeof(ti.tcpi_bytes_received)){
		return false;
	}
	if(!late && ioctl(fd, SIOCINQ, &inq)) return false;
	*out = ti.tcpi_bytes_received - (uint64_t)(inq > 0 ? inq : 0);
	return true;
}

/* The request whose headers lws just parsed came from its buffer of
 * pipelined bytes (no read since the previous transaction ended). */
static bool from_pipeline(struct lws *wsi)
{
	struct wsgw_conn *c = lws_get_opaque_user_data(wsi);
	uint64_t now;

	if(!c || !c->marked) return false;   /* the first request on the connection */
	if(!socket_bytes_read(wsi, false, &now)) return true;
	return now <= c->read_mark;
}

static void mark_transaction_end(struct lws *wsi)
{
	struct wsgw_conn *c = lws_get_opaque_user_data(wsi);
	if(c) c->marked = socket_bytes_read(wsi, true, &c->read_mark);
}

/* No more input on this connection until rx_resume. */
static void rx_pause(struct wsgw_http *h)
{
	lws_rx_flow_control(h->wsi, 0);
}

void http_free(struct wsgw_http *h)
{
	if(!h) return;
	lws_sul_cancel(&h->body_sul);
	if(h->priv && h->dialect && h->dialect->http_gone) h->dialect->http_gone(h);
	free(h->subpath);
	free(h->body);
	free(h->reply);
	free(h->cors_origin);
	free(h->cors_headers);
	free(h);
}

static int write_reply(struct wsgw_http *h, struct lws *wsi, bool close);

void http_reap(struct wsgw_gw *gw)
{
	while(gw->http_reap){
		struct wsgw_http *h = gw->http_reap;
		gw->http_reap = h->reap_next;
		http_free(h);
	}
}

/* The reply goes out at once, not from a WRITEABLE callback: lws 4.1 does
 * not service POLLOUT of an HTTP connection whose input is paused (see the
 * top of the file), and input stays paused until the reply is out. What
 * the socket does not take now, lws sends as it can. Then the transaction
 * ends and the next request may come. h stays valid (no longer the
 * connection's) until the next tick: callers may still look at it. */
void http_reply(struct wsgw_http *h, int status, char *json_body)
{
	struct lws *wsi = h->wsi;
	struct wsgw_pss *pss = wsi ? lws_wsi_user(wsi) : NULL;
	bool reuse;
	int rc;

	if(h->status || !wsi){
		free(json_body);
		return;
	}
	if(h->preflight && status == 405 && h->allow){
		/* The endpoint's refusal of OPTIONS names its methods: the
		 * preflight's answer (see begin). */
		free(json_body);
		status = 204;
		json_body = strdup("");
	}
	h->status = status;
	h->reply = json_body ? json_body : strdup("{}");
	lws_sul_cancel(&h->body_sul);
	/* Keep the connection only when the whole request was read. */
	reuse = (!h->is_post && !h->is_other_method) || h->body_complete;
	/* The mark is taken before the reply goes out: input is paused, so what
	 * lws has read stays put until the transaction ends, and a client that
	 * waits for the reply has sent nothing yet. Taken after the write, a
	 * keep-alive client's next request could land between the mark's two
	 * system calls, making the mark too large and that request "pipelined"
	 * (a 503 PIPELINED_BODY about once in 6,000 quick keep-alive POSTs). */
	if(reuse) mark_transaction_end(wsi);
	rc = h->reply ? write_reply(h, wsi, !reuse) : -1;
	if(pss && pss->kind == WSGW_PSS_HTTP && pss->u.http == h){
		pss->kind = WSGW_PSS_NONE;
		pss->u.http = NULL;
	}
	h->reap_next = h->gw->http_reap;
	h->gw->http_reap = h;
	if(rc < 0 || !reuse){
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	if(lws_http_transaction_completed(wsi)){
		lws_set_timeout(wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
		return;
	}
	lws_rx_flow_control(wsi, 1);   /* the next request, buffered or not */
}

void http_reply_error(struct wsgw_http *h, int status, const char *code, const char *message)
{
	json_t *o = message ? json_pack("{s:s,s:s}", "error", code, "message", message)
		: json_pack("{s:s}", "error", code);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	http_reply(h, status, text);
}

void http_reply_ws_only(struct wsgw_http *h, const char *what)
{
	char message[128];
	if(h->is_post || h->is_other_method){
		h->allow = "GET";
		snprintf(message, sizeof(message), "%s takes a WebSocket upgrade (GET)", what);
		http_reply_error(h, 405, "METHOD_NOT_ALLOWED", message);
	}else{
		snprintf(message, sizeof(message), "%s is a WebSocket endpoint", what);
		http_reply_error(h, 426, "UPGRADE_REQUIRED", message);
	}
}

int http_header(struct wsgw_http *h, enum lws_token_indexes t, char *buf, size_t len)
{
	if(lws_hdr_total_length(h->wsi, t) <= 0 || (size_t)lws_hdr_total_length(h->wsi, t) >= len) return -1;
	return lws_hdr_copy(h->wsi, buf, (int)len, t);
}

size_t http_query(struct wsgw_http *h, char *buf, size_t buflen, const char **keys,
		const char **values, size_t max)
{
	size_t n = 0, used = 0;

	for(int idx = 0; n < max; idx++){
		char *frag = buf + used;
		int len;
		char *eq;
		if(used >= buflen) break;
		len = lws_hdr_copy_fragment(h->wsi, frag, (int)(buflen - used), WSI_TOKEN_HTTP_URI_ARGS, idx);
		if(len < 0) break;
		used += (size_t)len + 1;
		if(len == 0) continue;
		eq = strchr(frag, '=');
		if(eq) *eq = '\0';
		keys[n] = frag;
		values[n] = eq ? eq + 1 : "";
		n++;
	}
	return n;
}

static int method_of(struct lws *wsi, bool *is_post)
{
	*is_post = false;
	if(lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)) return 0;
	if(lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI)){
		*is_post = true;
		return 0;
	}
	return -1;   /* HEAD, PUT, DELETE, PATCH, OPTIONS, ... */
}

/* ---- the gateway's own endpoints: health and metrics ---- */

/* "health" or "metrics" if path is one of their paths (exactly; the query
 * does not count), else NULL. */
static const char *own_endpoint(const struct wsgw_gw *gw, const char *path)
{
	if(gw->cfg->health_path && !strcmp(path, gw->cfg->health_path)) return "health";
	if(gw->cfg->metrics_path && !strcmp(path, gw->cfg->metrics_path)) return "metrics";
	return NULL;
}

/* 200 only while the gateway takes clients: its broker session is up and
 * subscribed (gw->ready); 503 before, while the broker is away, and once
 * the broker is stopping. */
static void health(struct wsgw_http *h)
{
	struct wsgw_gw *gw = h->gw;
	const char *status = gw->stopping ? "stopping" : gw->ready ? "ok" : "unavailable";
	json_t *o;
	char *text;

	if(h->is_post || h->is_other_method){
		h->allow = "GET";
		http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "GET the health status");
		return;
	}
	o = json_pack("{s:s,s:b,s:b}", "status", status, "ready", gw->ready && !gw->stopping,
			"broker", link_is_up(gw->core));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	http_reply(h, gw->ready && !gw->stopping ? 200 : 503, text);
}

static bool metrics_token_ok(struct wsgw_http *h)
{
	const char *token = h->gw->cfg->metrics_token;
	char hdr[512];
	size_t n;

	if(!token) return true;
	if(http_header(h, WSI_TOKEN_HTTP_AUTHORIZATION, hdr, sizeof(hdr)) < 7 || strncasecmp(hdr, "Bearer ", 7)) return false;
	n = strlen(hdr + 7);
	return n == strlen(token) && CRYPTO_memcmp(hdr + 7, token, n) == 0;
}

static void metrics(struct wsgw_http *h)
{
	struct wsgw_gw *gw = h->gw;
	const char *names[WSGW_DIALECTS_MAX];
	int sessions[WSGW_DIALECTS_MAX] = {0};
	struct wsgw_metrics_now now;

	if(h->is_post || h->is_other_method){
		h->allow = "GET";
		http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "GET the metrics");
		return;
	}
	if(!metrics_token_ok(h)){
		http_reply_error(h, 401, "UNAUTHORIZED", "Authorization: Bearer <metrics_token> required");
		return;
	}
	for(int i = 0; i < gw->nmounts; i++) names[i] = gw->mounts[i].dialect->name;
	for(const struct wsgw_session *s = gw->sessions; s; s = s->next){
		for(int i = 0; i < gw->nmounts; i++){
			if(s->dialect == gw->mounts[i].dialect) sessions[i]++;
		}
	}
	memset(&now, 0, sizeof(now));
	now.dialects = names;
	now.sessions = sessions;
	now.ndialects = (size_t)gw->nmounts;
	now.ready = gw->ready && !gw->stopping;
	now.broker_up = link_is_up(gw->core);
	now.connect_queue = gw->connq_len;
	now.connects_in_flight = gw->connects_in_flight;
	now.client_connections = gw->nclients;
	now.queue_bytes = gw->queued_bytes;
	now.uptime_s = gw->core_started_ms ? (double)(gw_now_ms() - gw->core_started_ms) / 1000 : 0;
	h->content_type = MFMT_CONTENT_TYPE;
	http_reply(h, 200, metrics_render(&gw->metrics, &now));
}

/* The dialect mounted where path falls, or NULL. */
static const char *dialect_at(struct wsgw_gw *gw, const char *path)
{
	const char *sub;
	const struct wsgw_mount *m = gw_route(gw, path, &sub);
	return m ? m->dialect->name : NULL;
}

void http_count_upgrade_refusal(struct wsgw_gw *gw, struct lws *wsi, const char *reason)
{
	char uri[HDR_MAX];
	const char *d = NULL;

	if(lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI) > 0) d = dialect_at(gw, uri);
	metrics_refused(&gw->metrics, "upgrade", d, reason);
}

static void dispatch(struct wsgw_http *h)
{
	const struct wsgw_mount *m;
	const char *sub = NULL, *own;

	if(h->body_too_large){
		http_reply_error(h, 413, "PAYLOAD_TOO_LARGE", "the body is larger than max_frame_size");
		return;
	}
	own = own_endpoint(h->gw, h->subpath);
	if(own){
		if(!strcmp(own, "health")) health(h);
		else metrics(h);
		return;
	}
	m = gw_route(h->gw, h->subpath, &sub);
	if(!m){
		http_reply_error(h, 404, "NOT_FOUND", NULL);
		return;
	}
	h->dialect = m->dialect;
	if(!m->dialect->http){
		http_reply_error(h, 404, "NOT_FOUND", NULL);
		return;
	}
	m->dialect->http(h, sub);
}

static void body_timeout(lws_sorted_usec_list_t *sul)
{
	struct wsgw_http *h = lws_container_of(sul, struct wsgw_http, body_sul);

	if(h->body_complete || h->status) return;
	rx_pause(h);
	http_reply_error(h, 408, "REQUEST_TIMEOUT", "the body did not arrive within http_body_timeout");
}

/* Content-Length > 0: lws will read a body after the headers. */
static unsigned long long content_length(struct lws *wsi)
{
	char cl[32];
	if(lws_hdr_copy(wsi, cl, sizeof(cl), WSI_TOKEN_HTTP_CONTENT_LENGTH) <= 0) return 0;
	return strtoull(cl, NULL, 10);
}

/* Answers a request that pipelining keeps lws from serving with a retryable
 * 503 and closes the connection (the caller returns -1): nothing of it is
 * published, the client sends it again. */
static int refuse_pipelined(struct wsgw_http *h, struct lws *wsi)
{
	h->status = 503;
	h->reply = strdup("{\"error\":\"PIPELINED_BODY\",\"message\":"
			"\"a pipelined request with a body is not served: send it again\"}");
	if(h->reply) write_reply(h, wsi, true);
	return -1;
}

/* ---- CORS ----
 *
 * Only with an origins list: without one, every origin is served as before
 * but no reply carries CORS headers, so a page of another origin can send
 * what a form could (a GET, a text/plain POST) and read no reply, and its
 * JSON POST is stopped by the browser at the preflight. With a list, an
 * allowed Origin is echoed in Access-Control-Allow-Origin ("*" when the list
 * has "*"), every reply says Vary: Origin (it depends on it), and a refused
 * origin gets 403 without CORS headers, its preflight too. Credentials
 * (cookies, TLS client certificates) are never allowed: the gateway uses
 * none; an Authorization header a page sets is a header like another. */

/* Request headers a preflight may ask for (besides these two, always allowed). */
static const char *const cors_allowed_headers[] = {
	"authorization", "content-type", "accept", "accept-language", "content-language", "x-requested-with", NULL
};
#define CORS_BASE_HEADERS "Authorization, Content-Type"

/* The Access-Control-Allow-Origin of the request (a new string), or NULL:
 * no Origin, no origins list, or an origin the list refuses. */
static char *cors_origin(struct wsgw_gw *gw, struct lws *wsi)
{
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	char *origin;

	if(n <= 0 || !gw->cfg->origins || !gw_origin_ok(gw, wsi)) return NULL;
	if(config_origins_any(gw->cfg)) return strdup("*");
	origin = malloc((size_t)n + 1);
	if(origin && lws_hdr_copy(wsi, origin, n + 1, WSI_TOKEN_ORIGIN) != n){
		free(origin);
		origin = NULL;
	}
	return origin;
}

/* A custom header's value (name in lower case with its colon) into buf:
 * its length, or -1 when absent or too long. */
static int custom_header(struct lws *wsi, const char *name, char *buf, size_t len)
{
	int nlen = (int)strlen(name), n = lws_hdr_custom_length(wsi, name, nlen);

	if(n < 0 || (size_t)n >= len) return -1;
	return lws_hdr_custom_copy(wsi, buf, (int)len, name, nlen);
}

/* An OPTIONS request with Origin and Access-Control-Request-Method. */
static bool is_preflight(struct lws *wsi)
{
	char method[64];

#if defined(LWS_WITH_HTTP_UNCOMMON_HEADERS) || defined(LWS_HTTP_HEADERS_ALL)
	if(lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) <= 0) return false;
#else
/* cppcheck-suppress preprocessorErrorDirective ; cppcheck does not read lws's lws_config.h (system headers) */
#error "libwebsockets without WSI_TOKEN_OPTIONS_URI: CORS preflights cannot be told"
#endif
	return lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN) > 0
		&& custom_header(wsi, "access-control-request-method:", method, sizeof(method)) > 0;
}

/* Access-Control-Allow-Headers of a preflight: Authorization, Content-Type,
 * and each header of Access-Control-Request-Headers that is in
 * cors_allowed_headers (a header outside it is left out, and the browser
 * does not send the request). A new string, or NULL. */
static char *cors_allow_headers(struct lws *wsi)
{
	char req[HDR_MAX], *tok, *save = NULL;
	size_t cap = sizeof(CORS_BASE_HEADERS) + sizeof(req);
	char *out = malloc(cap);
	/* authorization and content-type are in already */
	bool listed[sizeof(cors_allowed_headers) / sizeof(cors_allowed_headers[0])] = {true, true};

	if(!out) return NULL;
	snprintf(out, cap, "%s", CORS_BASE_HEADERS);
	/* A header lws knows (its "uncommon" ones, as OPTIONS: see is_preflight). */
	if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) <= 0
			|| lws_hdr_copy(wsi, req, sizeof(req), WSI_TOKEN_HTTP_AC_REQUEST_HEADERS) <= 0) return out;
	for(tok = strtok_r(req, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)){
		for(size_t i = 0; cors_allowed_headers[i]; i++){
			if(!listed[i] && !strcasecmp(tok, cors_allowed_headers[i])){
				size_t used = strlen(out);
				listed[i] = true;
				snprintf(out + used, cap - used, ", %s", cors_allowed_headers[i]);
			}
		}
	}
	return out;
}

static int begin(struct wsgw_gw *gw, struct lws *wsi, struct wsgw_pss *pss, const char *path)
{
	struct wsgw_http *h = calloc(1, sizeof(*h));
	const char *own;
	bool known;

	if(!h) return -1;
	h->gw = gw;
	h->wsi = wsi;
	h->subpath = strdup(path);
	if(!h->subpath){
		free(h);
		return -1;
	}
	pss->kind = WSGW_PSS_HTTP;
	pss->u.http = h;
	known = method_of(wsi, &h->is_post) == 0;
	h->is_other_method = !known;
	h->content_length = content_length(wsi);
	/* Even the refusals below carry CORS headers: a page can read them. */
	h->cors_origin = cors_origin(gw, wsi);
	/* Health and metrics answer while the gateway is not ready too. */
	own = own_endpoint(gw, path);
	h->endpoint = own ? own : dialect_at(gw, path);
	if(h->content_length && from_pipeline(wsi)){
		/* Answered now, before lws 4.1's body loop (see the top of the
		 * file), and the connection is closed: the client sends it again. */
		return refuse_pipelined(h, wsi);
	}
	if(gw->stopping && !own){
		metrics_refused(&gw->metrics, "http", h->endpoint, "SHUTDOWN");
		http_reply_error(h, 503, "SHUTDOWN", NULL);
		return 0;
	}
	if(!gw->ready && !own){
		metrics_refused(&gw->metrics, "http", h->endpoint, "NOT_READY");
		h->retry_after = "1";
		http_reply_error(h, 503, "NOT_READY", "the gateway is not connected to the broker yet; retry shortly");
		return 0;
	}
	if(!gw_origin_ok(gw, wsi)){
		metrics_refused(&gw->metrics, "http", h->endpoint, "ORIGIN_NOT_ALLOWED");
		http_reply_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL);
		return 0;
	}
	if(h->cors_origin && h->is_other_method && is_preflight(wsi)){
		/* Dispatched like any request: the endpoint refuses OPTIONS with
		 * 405 and its Allow, which http_reply turns into the answer. */
		h->preflight = true;
		h->cors_headers = cors_allow_headers(wsi);
	}
	if(h->is_post || h->is_other_method){
		if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)){
			/* lws 4.1 does not decode chunked request bodies. */
			http_reply_error(h, 411, "LENGTH_REQUIRED", "send the body with a Content-Length");
			return 0;
		}
		if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)){
			/* Wait for the body, for http_body_timeout at most (lws's own
			 * timeout restarts with every piece of it). */
			lws_sul_schedule(gw->ctx, 0, &h->body_sul, body_timeout,
					(lws_usec_t)(gw->cfg->http_body_timeout * LWS_US_PER_SEC));
			return 0;
		}
		h->body_complete = true;   /* no body at all */
	}
	rx_pause(h);
	dispatch(h);
	return 0;
}

/* Status line, headers and body go out in one write: one send() per reply
 * (http_reply calls it at once). For HTTP/1.x lws sends LWS_WRITE_HTTP_FINAL
 * as it is. close: "Connection: close" (and "Retry-After: 0" on a 503).
 * Returns 1 when sent, -1 on error. */
#define REPLY_HEAD_MAX 1024

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
		unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name, (const unsigned char *)value,
			(int)strlen(value), p, end);
}

/* The CORS headers of the reply (see begin): nonzero when they do not fit. */
static int cors_headers(struct wsgw_http *h, struct lws *wsi, unsigned char **p, unsigned char *end)
{
	const struct wsgw_config *cfg = h->gw->cfg;
	char age[16];

	if(cfg->origins && !config_origins_any(cfg) && add_header(wsi, "vary:", "Origin", p, end)) return 1;
	if(!h->cors_origin) return 0;
	if(add_header(wsi, "access-control-allow-origin:", h->cors_origin, p, end)) return 1;
	if(h->preflight && h->status == 204){
		snprintf(age, sizeof(age), "%d", cfg->cors_max_age);
		return add_header(wsi, "access-control-allow-methods:", h->allow, p, end)
			|| (h->cors_headers && add_header(wsi, "access-control-allow-headers:", h->cors_headers, p, end))
			|| add_header(wsi, "access-control-max-age:", age, p, end);
	}
	return h->retry_after && add_header(wsi, "access-control-expose-headers:", "Retry-After", p, end);
}

static int write_reply(struct wsgw_http *h, struct lws *wsi, bool close)
{
	size_t len = strlen(h->reply);
	size_t head = REPLY_HEAD_MAX + (h->cors_origin ? strlen(h->cors_origin) : 0)
		+ (h->cors_headers ? strlen(h->cors_headers) : 0);
	unsigned char *buf = malloc(LWS_PRE + head + len);
	unsigned char *start, *p, *end;
	int rc = -1;

	if(!buf) return -1;
	metrics_http(&h->gw->metrics, h->endpoint, h->status);
	start = p = buf + LWS_PRE;
	end = start + head - 1;
	/* A 204 has no body, so no type (its Content-Length: 0 keeps lws's
	 * keep-alive). */
	if(lws_add_http_common_headers(wsi, (unsigned)h->status, h->status == 204 ? NULL
				: h->content_type ? h->content_type : "application/json", len, &p, end)
			|| lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
				(const unsigned char *)"no-store", 8, &p, end)
			|| cors_headers(h, wsi, &p, end)
			|| (h->allow && lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
				(const unsigned char *)h->allow, (int)strlen(h->allow), &p, end))
			|| (h->retry_after && lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
				(const unsigned char *)h->retry_after, (int)strlen(h->retry_after), &p, end))
			|| (close && lws_add_http_header_by_name(wsi, (const unsigned char *)"connection:",
				(const unsigned char *)"close", 5, &p, end))
			|| (close && h->status == 503 && !h->retry_after && lws_add_http_header_by_name(wsi,
				(const unsigned char *)"retry-after:", (const unsigned char *)"0", 1, &p, end))
			|| lws_finalize_http_header(wsi, &p, end)){
		goto out;
	}
	memcpy(p, h->reply, len);
	p += len;
	if(lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) == (int)(p - start)) rc = 1;
out:
	free(buf);
	return rc;
}

int http_handle(struct wsgw_gw *gw, struct lws *wsi, enum lws_callback_reasons reason,
		struct wsgw_pss *pss, void *in, size_t len)
{
	struct wsgw_http *h = pss && pss->kind == WSGW_PSS_HTTP ? pss->u.http : NULL;

	switch(reason){
	case LWS_CALLBACK_HTTP:
		if(!pss) return -1;
		if(h){   /* a keep-alive connection's previous request */
			http_free(h);
			pss->kind = WSGW_PSS_NONE;
		}
		return begin(gw, wsi, pss, in ? (const char *)in : "/");
	case LWS_CALLBACK_HTTP_BODY:
		if(!h || h->status || !len) return 0;
		/* lws 4.3 hands a request's body and the pipelined requests read
		 * with it to HTTP_BODY as one piece, then closes the connection
		 * without BODY_COMPLETION: more bytes than Content-Length left. The
		 * request cannot be answered later, so it is refused now. */
		if(h->body_len + len > h->content_length) return refuse_pipelined(h, wsi);
		if(h->body_len + len > (size_t)gw->cfg->max_frame_size){
			h->body_too_large = true;
			return 0;
		}
		{
			char *grown = realloc(h->body, h->body_len + len + 1);
			if(!grown) return -1;
			h->body = grown;
			memcpy(h->body + h->body_len, in, len);
			h->body_len += len;
			h->body[h->body_len] = '\0';
		}
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if(h && !h->body_complete){
			h->body_complete = true;
			lws_sul_cancel(&h->body_sul);
			rx_pause(h);
			if(!h->status) dispatch(h);
		}
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return 0;   /* replies are written by http_reply */
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if(h){
			http_free(h);
			pss->kind = WSGW_PSS_NONE;
			pss->u.http = NULL;
		}
		return 0;
	default:
		return 0;
	}
}

/* ---- client connections: caps and the descriptor reserve ---- */

static const char refused_reply[] =
	"HTTP/1.1 503 Service Unavailable\r\n"
	"content-type: application/json\r\n"
	"content-length: 32\r\n"
	"cache-control: no-store\r\n"
	"retry-after: 1\r\n"
	"connection: close\r\n"
	"\r\n"
	"{\"error\":\"TOO_MANY_CONNECTIONS\"}";

int http_conn_filter(struct wsgw_gw *gw, const struct lws_filter_network_conn_args *a)
{
	const struct wsgw_config *cfg = gw->cfg;
	int others = gw->nclients - gw->nsessions;   /* HTTP, or not upgraded yet */
	const char *why = NULL;
	int64_t now;

	if(gw->fd_limit > 0 && (long)a->accept_fd >= gw->fd_limit - gw->fd_reserve){
		why = "descriptors";
	}else if(others >= cfg->max_http_connections){
		why = "max_http_connections";
	}else if(gw->nclients >= cfg->max_connections + cfg->max_http_connections){
		why = "max_connections + max_http_connections";
	}
	if(!why) return 0;
	/* Best effort: a fresh socket takes this much without blocking. */
	if(send(a->accept_fd, refused_reply, sizeof(refused_reply) - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0){
		/* nothing more to do: the socket is closed next */
	}
	metrics_refused(&gw->metrics, "accept", NULL, why);
	gw->refused++;
	now = gw_now_ms();
	if(now - gw->refuse_log_ms >= 10000){
		LOG_W("refusing connections (%s): %lu in the last %llds; "
				"%d client connections (%d WebSockets), descriptor %d of %ld, %d kept for the broker",
				why, gw->refused, gw->refuse_log_ms ? (long long)((now - gw->refuse_log_ms) / 1000) : 0LL,
				gw->nclients, gw->nsessions, (int)a->accept_fd, gw->fd_limit, gw->fd_reserve);
		gw->refuse_log_ms = now;
		gw->refused = 0;
	}
	return 1;
}

void http_conn_open(struct wsgw_gw *gw, struct lws *wsi)
{
	struct wsgw_conn *c;

	if(lws_get_opaque_user_data(wsi)) return;
	c = calloc(1, sizeof(*c));
	if(!c) return;   /* then it is not counted (and not checked for pipelining) */
	lws_set_opaque_user_data(wsi, c);
	gw->nclients++;
}

void http_conn_close(struct wsgw_gw *gw, struct lws *wsi)
{
	struct wsgw_conn *c = lws_get_opaque_user_data(wsi);

	if(!c) return;
	lws_set_opaque_user_data(wsi, NULL);
	free(c);
	gw->nclients--;
}
