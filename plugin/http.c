/* Plain HTTP requests (emit and the like): method, origin and route checks,
 * CORS, body collection with a cap, and replies that may come later
 * (require-ack); and the gateway's own endpoints, health and metrics. */
#define LOG_TAG "http"
#include "wsgw.h"
#include "session_int.h"
#include "metrics_fmt.h"

#include "http1.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <strings.h>
#include <openssl/crypto.h>

#define HDR_MAX 1024

/* Requests come one at a time, in the order they were sent, from the
 * front (front.c): pipelined or not, with bodies or not. */

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

static int write_reply(struct wsgw_http *h, bool close);

void http_reap(struct wsgw_gw *gw)
{
	while(gw->http_reap){
		struct wsgw_http *h = gw->http_reap;
		gw->http_reap = h->reap_next;
		http_free(h);
	}
}

/* The reply goes out at once; the front keeps the connection for the next
 * request when this one was read whole, and closes it otherwise. h stays
 * valid (no longer the connection's) until the next tick: callers may
 * still look at it. */
void http_reply(struct wsgw_http *h, int status, char *json_body)
{
	struct wsgw_conn *c = h->conn;
	struct wsgw_pss *pss = c ? front_pss(c) : NULL;

	if(h->status || !c){
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
	if(pss->kind == WSGW_PSS_HTTP && pss->u.http == h){
		pss->kind = WSGW_PSS_NONE;
		pss->u.http = NULL;
	}
	h->reap_next = h->gw->http_reap;
	h->gw->http_reap = h;
	if(h->reply) write_reply(h, false);
	else front_kill(c);
	h->conn = NULL;
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

int http_header(struct wsgw_http *h, const char *name, char *buf, size_t len)
{
	return h->conn ? front_header(h->conn, name, buf, len) : -1;
}

size_t http_query(struct wsgw_http *h, char *buf, size_t buflen, const char **keys,
		const char **values, size_t max)
{
	const char *q = h->conn ? front_query(h->conn) : NULL;
	size_t n = 0, used = 0;

	while(q && *q && n < max){
		const char *end = strchr(q, '&'), *eq;
		size_t flen = end ? (size_t)(end - q) : strlen(q), klen;
		int k, v;
		eq = memchr(q, '=', flen);
		klen = eq ? (size_t)(eq - q) : flen;
		/* each part decoded on its own: an escaped '=' or '&' is data */
		if(flen && used < buflen
				&& (k = http1_decode(q, klen, true, buf + used, buflen - used)) >= 0
				&& (v = http1_decode(eq ? eq + 1 : "", eq ? flen - klen - 1 : 0, true,
						buf + used + k + 1, buflen - used - (size_t)k - 1)) >= 0){
			keys[n] = buf + used;
			values[n] = buf + used + k + 1;
			used += (size_t)k + 1 + (size_t)v + 1;
			n++;
		}
		q = end ? end + 1 : NULL;
	}
	return n;
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
	if(http_header(h, "authorization", hdr, sizeof(hdr)) < 7 || strncasecmp(hdr, "Bearer ", 7)) return false;
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

void http_count_upgrade_refusal(struct wsgw_gw *gw, struct wsgw_conn *c, const char *reason)
{
	metrics_refused(&gw->metrics, "upgrade", dialect_at(gw, front_path(c)), reason);
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
	http_reply_error(h, 408, "REQUEST_TIMEOUT", "the body did not arrive within http_body_timeout");
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
static char *cors_origin(struct wsgw_gw *gw, struct wsgw_conn *c)
{
	int n = front_header_len(c, "origin");
	char *origin;

	if(n <= 0 || !gw->cfg->origins || !gw_origin_ok(gw, c)) return NULL;
	if(config_origins_any(gw->cfg)) return strdup("*");
	origin = malloc((size_t)n + 1);
	if(origin && front_header(c, "origin", origin, (size_t)n + 1) != n){
		free(origin);
		origin = NULL;
	}
	return origin;
}

/* An OPTIONS request with Origin and Access-Control-Request-Method. */
static bool is_preflight(struct wsgw_conn *c)
{
	return !strcmp(front_method(c), "OPTIONS") && front_header_len(c, "origin") > 0
		&& front_header_len(c, "access-control-request-method") > 0;
}

/* Access-Control-Allow-Headers of a preflight: Authorization, Content-Type,
 * and each header of Access-Control-Request-Headers that is in
 * cors_allowed_headers (a header outside it is left out, and the browser
 * does not send the request). A new string, or NULL. */
static char *cors_allow_headers(struct wsgw_conn *c)
{
	char req[HDR_MAX], *tok, *save = NULL;
	size_t cap = sizeof(CORS_BASE_HEADERS) + sizeof(req);
	char *out = malloc(cap);
	/* authorization and content-type are in already */
	bool listed[sizeof(cors_allowed_headers) / sizeof(cors_allowed_headers[0])] = {true, true};

	if(!out) return NULL;
	snprintf(out, cap, "%s", CORS_BASE_HEADERS);
	if(front_header(c, "access-control-request-headers", req, sizeof(req)) <= 0) return out;
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

void http_request(struct wsgw_conn *c)
{
	struct wsgw_gw *gw = front_gw(c);
	struct wsgw_pss *pss = front_pss(c);
	struct wsgw_http *h = calloc(1, sizeof(*h));
	const char *own, *path = front_path(c), *method = front_method(c);

	if(!h || !(h->subpath = strdup(path))){
		free(h);
		front_kill(c);
		return;
	}
	h->gw = gw;
	h->conn = c;
	pss->kind = WSGW_PSS_HTTP;
	pss->u.http = h;
	h->is_post = !strcmp(method, "POST");
	h->is_other_method = !h->is_post && strcmp(method, "GET");
	h->content_length = front_body_length(c);
	/* Even the refusals below carry CORS headers: a page can read them. */
	h->cors_origin = cors_origin(gw, c);
	/* Health and metrics answer while the gateway is not ready too. */
	own = own_endpoint(gw, path);
	h->endpoint = own ? own : dialect_at(gw, path);
	if(gw->stopping && !own){
		metrics_refused(&gw->metrics, "http", h->endpoint, "SHUTDOWN");
		http_reply_error(h, 503, "SHUTDOWN", NULL);
		return;
	}
	if(!gw->ready && !own){
		metrics_refused(&gw->metrics, "http", h->endpoint, "NOT_READY");
		h->retry_after = "1";
		http_reply_error(h, 503, "NOT_READY", "the gateway is not connected to the broker yet; retry shortly");
		return;
	}
	if(!gw_origin_ok(gw, c)){
		metrics_refused(&gw->metrics, "http", h->endpoint, "ORIGIN_NOT_ALLOWED");
		http_reply_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL);
		return;
	}
	if(h->cors_origin && h->is_other_method && is_preflight(c)){
		/* Dispatched like any request: the endpoint refuses OPTIONS with
		 * 405 and its Allow, which http_reply turns into the answer. */
		h->preflight = true;
		h->cors_headers = cors_allow_headers(c);
	}
	if(h->content_length){
		/* Wait for the body, for http_body_timeout at most. */
		lws_sul_schedule(gw->ctx, 0, &h->body_sul, body_timeout,
				(lws_usec_t)(gw->cfg->http_body_timeout * LWS_US_PER_SEC));
		return;
	}
	h->body_complete = true;   /* no body at all */
	dispatch(h);
}

void http_body(struct wsgw_conn *c, const char *data, size_t len, bool final)
{
	struct wsgw_pss *pss = front_pss(c);
	struct wsgw_http *h = pss->kind == WSGW_PSS_HTTP ? pss->u.http : NULL;

	if(!h || h->status) return;
	if(!h->body_too_large && h->body_len + len > (size_t)h->gw->cfg->max_frame_size) h->body_too_large = true;
	if(!h->body_too_large && len){
		char *grown = realloc(h->body, h->body_len + len + 1);
		if(!grown){
			front_kill(c);
			return;
		}
		h->body = grown;
		memcpy(h->body + h->body_len, data, len);
		h->body_len += len;
		h->body[h->body_len] = '\0';
	}
	if(final){
		h->body_complete = true;
		lws_sul_cancel(&h->body_sul);
		dispatch(h);
	}
}

/* The reply: status line, headers and body in one write (front_respond).
 * close: "Connection: close" (and "Retry-After: 0" on a 503). 0, or -1. */
#define REPLY_HEAD_MAX 1024

static int add_header(char *buf, size_t cap, size_t *used, const char *name, const char *value)
{
	int n = snprintf(buf + *used, cap - *used, "%s: %s\r\n", name, value);
	if(n < 0 || (size_t)n >= cap - *used) return 1;
	*used += (size_t)n;
	return 0;
}

/* The CORS headers of the reply (see begin): nonzero when they do not fit. */
static int cors_headers(struct wsgw_http *h, char *buf, size_t cap, size_t *used)
{
	const struct wsgw_config *cfg = h->gw->cfg;
	char age[16];

	if(cfg->origins && !config_origins_any(cfg) && add_header(buf, cap, used, "vary", "Origin")) return 1;
	if(!h->cors_origin) return 0;
	if(add_header(buf, cap, used, "access-control-allow-origin", h->cors_origin)) return 1;
	if(h->preflight && h->status == 204){
		snprintf(age, sizeof(age), "%d", cfg->cors_max_age);
		return add_header(buf, cap, used, "access-control-allow-methods", h->allow)
			|| (h->cors_headers && add_header(buf, cap, used, "access-control-allow-headers", h->cors_headers))
			|| add_header(buf, cap, used, "access-control-max-age", age);
	}
	return h->retry_after && add_header(buf, cap, used, "access-control-expose-headers", "Retry-After");
}

static int write_reply(struct wsgw_http *h, bool close)
{
	size_t len = strlen(h->reply), used = 0;
	size_t cap = REPLY_HEAD_MAX + (h->cors_origin ? strlen(h->cors_origin) : 0)
		+ (h->cors_headers ? strlen(h->cors_headers) : 0);
	char *head = malloc(cap);
	int rc = -1;

	if(!head) return -1;
	metrics_http(&h->gw->metrics, h->endpoint, h->status);
	head[0] = '\0';
	/* A 204 has no body, so no type. */
	if((h->status != 204 && add_header(head, cap, &used, "content-type",
				h->content_type ? h->content_type : "application/json"))
			|| add_header(head, cap, &used, "cache-control", "no-store")
			|| cors_headers(h, head, cap, &used)
			|| (h->allow && add_header(head, cap, &used, "allow", h->allow))
			|| (h->retry_after && add_header(head, cap, &used, "retry-after", h->retry_after))
			|| (close && h->status == 503 && !h->retry_after && add_header(head, cap, &used, "retry-after", "0"))){
		goto out;
	}
	rc = front_respond(h->conn, h->status, head, h->reply, h->status == 204 ? 0 : len, close);
out:
	free(head);
	return rc;
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
