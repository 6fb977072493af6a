/* Plain HTTP requests (emit and the like): method, origin and route checks,
 * body collection with a cap, and replies that may come later (require-ack). */
#include "wsgw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HDR_MAX 1024

void http_free(struct wsgw_http *h)
{
	if(!h) return;
	if(h->priv && h->dialect && h->dialect->http_gone) h->dialect->http_gone(h);
	free(h->subpath);
	free(h->body);
	free(h->reply);
	free(h);
}

void http_reply(struct wsgw_http *h, int status, char *json_body)
{
	if(h->status){
		free(json_body);
		return;
	}
	h->status = status;
	h->reply = json_body ? json_body : strdup("{}");
	lws_callback_on_writable(h->wsi);
}

void http_reply_error(struct wsgw_http *h, int status, const char *code, const char *message)
{
	json_t *o = message ? json_pack("{s:s,s:s}", "error", code, "message", message)
		: json_pack("{s:s}", "error", code);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	http_reply(h, status, text);
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

static void dispatch(struct wsgw_http *h)
{
	const struct wsgw_mount *m;
	const char *sub = NULL;

	if(h->body_too_large){
		http_reply_error(h, 413, "PAYLOAD_TOO_LARGE", "the body is larger than max_frame_size");
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

static int begin(struct wsgw_gw *gw, struct lws *wsi, struct wsgw_pss *pss, const char *path)
{
	struct wsgw_http *h = calloc(1, sizeof(*h));
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
	if(gw->stopping){
		http_reply_error(h, 503, "SHUTDOWN", NULL);
		return 0;
	}
	if(!core_is_ready(gw)){
		h->retry_after = "1";
		http_reply_error(h, 503, "NOT_READY", "the gateway is not connected to the broker yet; retry shortly");
		return 0;
	}
	if(!gw_origin_ok(gw, wsi)){
		http_reply_error(h, 403, "ORIGIN_NOT_ALLOWED", NULL);
		return 0;
	}
	if(h->is_post || h->is_other_method){
		if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING)){
			/* lws 4.1 does not decode chunked request bodies. */
			http_reply_error(h, 411, "LENGTH_REQUIRED", "send the body with a Content-Length");
			return 0;
		}
		if(lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH)) return 0;   /* wait for the body */
		h->body_complete = true;   /* no body at all */
	}
	dispatch(h);
	return 0;
}

/* Status line, headers and body go out in one write: one send() and one
 * writable round trip per reply. For HTTP/1.x lws sends LWS_WRITE_HTTP_FINAL
 * as it is. Returns 1 when sent, -1 on error. */
#define REPLY_HEAD_MAX 512

static int write_reply(struct wsgw_http *h, struct lws *wsi)
{
	size_t len = strlen(h->reply);
	unsigned char *buf = malloc(LWS_PRE + REPLY_HEAD_MAX + len);
	unsigned char *start, *p, *end;
	int rc = -1;

	if(!buf) return -1;
	start = p = buf + LWS_PRE;
	end = start + REPLY_HEAD_MAX - 1;
	if(lws_add_http_common_headers(wsi, (unsigned)h->status, "application/json", len, &p, end)
			|| lws_add_http_header_by_name(wsi, (const unsigned char *)"cache-control:",
				(const unsigned char *)"no-store", 8, &p, end)
			|| (h->allow && lws_add_http_header_by_name(wsi, (const unsigned char *)"allow:",
				(const unsigned char *)h->allow, (int)strlen(h->allow), &p, end))
			|| (h->retry_after && lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
				(const unsigned char *)h->retry_after, (int)strlen(h->retry_after), &p, end))
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
		if(h && !h->status){
			h->body_complete = true;
			dispatch(h);
		}
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE: {
		int rc;
		bool reuse;
		if(!h || !h->status) return 0;
		rc = write_reply(h, wsi);
		if(rc <= 0) return rc;
		/* Keep the connection only when the whole request was read. */
		reuse = (!h->is_post && !h->is_other_method) || h->body_complete;
		http_free(h);
		pss->kind = WSGW_PSS_NONE;
		pss->u.http = NULL;
		if(!reuse) return -1;
		return lws_http_transaction_completed(wsi) ? -1 : 0;
	}
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
