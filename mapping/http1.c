/* See http1.h. Every byte comes from a network peer: each is looked at once
 * (a line is found with memchr, then checked), nothing past len is read, and
 * a head that is still arriving is checked as far as it goes, so that a
 * definite error is answered at once rather than after max_head bytes. */
#include "http1.h"

#include <limits.h>
#include <string.h>

/* 2^63 - 1: the largest Content-Length taken (http1.h). */
#define CL_MAX 0x7fffffffffffffffULL

/* RFC 9110 5.6.2: the characters of a token (methods, header names). */
static bool is_tchar(unsigned char c)
{
	if(c >= '0' && c <= '9') return true;
	if((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
	return c && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL;
}

/* A byte of a header value (RFC 9110 5.5): visible ASCII, obs-text, and the
 * whitespace between words; no other control byte (CR, LF, NUL, DEL). */
static bool is_value_byte(unsigned char c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + ('a' - 'A')) : c;
}

/* ASCII case-insensitive equality of two counted strings (strncasecmp would
 * follow the locale). */
static bool ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	if(alen != blen) return false;
	for(size_t i = 0; i < alen; i++){
		if(lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
	}
	return true;
}

static int hexval(unsigned char c)
{
	if(c >= '0' && c <= '9') return c - '0';
	c = lower(c);
	if(c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

/* The request line without its line end, c[0..n). complete: the line end
 * has been seen; if not, c is what has arrived of the line so far, and only
 * an error that no further byte can undo is reported. 0 (valid, or a valid
 * beginning) or the negated status. */
static int request_line(const char *c, size_t n, bool complete, struct http1_request *rq)
{
	static const char version[] = "HTTP/d.d";   /* d: a digit (RFC 9112 2.3) */
	size_t i = 0, t, v;

	while(i < n && is_tchar((unsigned char)c[i])) i++;
	if(i == n) return complete ? -400 : 0;
	if(c[i] != ' ' || i == 0) return -400;
	t = ++i;
	if(i == n) return complete ? -400 : 0;
	if(c[i] != '/') return -400;   /* origin-form only: no '*', no absolute-form */
	while(i < n && (unsigned char)c[i] >= 0x21 && (unsigned char)c[i] <= 0x7e) i++;
	if(i == n) return complete ? -400 : 0;
	if(c[i] != ' ') return -400;
	v = ++i;
	if(n - v > sizeof(version) - 1) return -400;
	for(; i < n; i++){
		char want = version[i - v];
		if(want == 'd' ? !(c[i] >= '0' && c[i] <= '9') : c[i] != want) return -400;
	}
	if(!complete) return 0;
	if(n - v < sizeof(version) - 1) return -400;
	/* well-formed: a version other than ours is 505, not 400 */
	if(c[v + 5] != '1' || (c[v + 7] != '0' && c[v + 7] != '1')) return -505;
	rq->method = c;
	rq->method_len = t - 1;
	rq->target = c + t;
	rq->target_len = v - 1 - t;
	rq->minor = c[v + 7] - '0';
	return 0;
}

/* A header line without its line end, c[0..n), n > 0; complete as above. */
static int header_line(const char *c, size_t n, bool complete, struct http1_request *rq)
{
	struct http1_header *h;
	size_t i = 0, vs, ve;

	/* a line that is not the blank one is one header more, whatever it holds */
	if(rq->nheaders == HTTP1_MAX_HEADERS) return -431;
	/* obs-fold (RFC 9112 5.2), or whitespace before the first header (2.2):
	 * both rejected, never joined to the line before */
	if(is_ws(c[0])) return -400;
	while(i < n && is_tchar((unsigned char)c[i])) i++;
	if(i == n) return complete ? -400 : 0;
	if(c[i] != ':' || i == 0) return -400;   /* no whitespace before the colon (5.1) */
	for(size_t j = i + 1; j < n; j++){
		if(!is_value_byte((unsigned char)c[j])) return -400;
	}
	if(!complete) return 0;
	vs = i + 1;
	ve = n;
	while(vs < ve && is_ws(c[vs])) vs++;
	while(ve > vs && is_ws(c[ve - 1])) ve--;
	h = &rq->headers[rq->nheaders++];
	h->name = c;
	h->name_len = i;
	h->value = c + vs;
	h->value_len = ve - vs;
	return 0;
}

int http1_parse_head(const char *buf, size_t len, size_t max_head, struct http1_request *rq)
{
	/* the length is returned as an int */
	size_t max = max_head < (size_t)INT_MAX ? max_head : (size_t)INT_MAX;
	size_t limit = len < max ? len : max;
	size_t pos = 0;
	bool have_rl = false;

	rq->method = NULL;
	rq->method_len = 0;
	rq->target = NULL;
	rq->target_len = 0;
	rq->minor = 0;
	rq->nheaders = 0;
	rq->head_len = 0;
	/* a line at a time, up to its LF; bytes past limit are not looked at */
	for(;;){
		const char *s = buf + pos;
		size_t avail = limit - pos;
		const char *lf = avail ? memchr(s, '\n', avail) : NULL;
		size_t n = lf ? (size_t)(lf - s) : avail;
		int r;

		/* CRLF or a bare LF; a CR that is not the last byte so far is a
		 * bare CR, which the checks of the line reject as a control byte */
		if(n && s[n - 1] == '\r') n--;
		if(!lf){
			if(n) r = have_rl ? header_line(s, n, false, rq) : request_line(s, n, false, rq);
			else r = 0;
			if(r < 0) return r;
			return len >= max ? -431 : 0;
		}
		pos += (size_t)(lf - s) + 1;
		if(!have_rl){
			if(!n) continue;   /* empty lines before the request line (RFC 9112 2.2) */
			r = request_line(s, n, true, rq);
			if(r < 0) return r;
			have_rl = true;
			continue;
		}
		if(!n){
			rq->head_len = pos;
			return (int)pos;
		}
		r = header_line(s, n, true, rq);
		if(r < 0) return r;
	}
}

const struct http1_header *http1_find(const struct http1_request *rq, const char *name)
{
	size_t nlen = strlen(name);

	for(size_t i = 0; i < rq->nheaders; i++){
		const struct http1_header *h = &rq->headers[i];
		if(ieq(h->name, h->name_len, name, nlen)) return h;
	}
	return NULL;
}

size_t http1_count(const struct http1_request *rq, const char *name)
{
	size_t nlen = strlen(name), n = 0;

	for(size_t i = 0; i < rq->nheaders; i++){
		if(ieq(rq->headers[i].name, rq->headers[i].name_len, name, nlen)) n++;
	}
	return n;
}

int http1_join(const struct http1_request *rq, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name), o = 0;
	bool found = false;

	for(size_t i = 0; i < rq->nheaders; i++){
		const struct http1_header *h = &rq->headers[i];
		size_t need;
		if(!ieq(h->name, h->name_len, name, nlen)) continue;
		need = (found ? 2 : 0) + h->value_len;
		/* room for it and the NUL; the sum cannot wrap: both are below outlen */
		if(need >= outlen - o || o + need > (size_t)INT_MAX) goto fail;
		if(found){
			memcpy(out + o, ", ", 2);
			o += 2;
		}
		memcpy(out + o, h->value, h->value_len);
		o += h->value_len;
		found = true;
	}
	if(!found || outlen == 0) goto fail;
	out[o] = '\0';
	return (int)o;
fail:
	if(outlen) out[0] = '\0';
	return -1;
}

int http1_body_length(const struct http1_request *rq, unsigned long long *len)
{
	bool seen = false;

	*len = 0;
	/* Transfer-Encoding first: it overrides Content-Length (RFC 9112 6.3),
	 * and both together are a smuggling attempt */
	if(http1_find(rq, "Transfer-Encoding")) return -501;
	for(size_t i = 0; i < rq->nheaders; i++){
		const struct http1_header *h = &rq->headers[i];
		unsigned long long v = 0;
		if(!ieq(h->name, h->name_len, "Content-Length", 14)) continue;
		if(h->value_len == 0) return -400;
		for(size_t j = 0; j < h->value_len; j++){
			unsigned d = (unsigned)(unsigned char)h->value[j] - '0';
			if(d > 9) return -400;
			if(v > (CL_MAX - d) / 10) return -400;
			v = v * 10 + d;
		}
		if(seen && v != *len) return -400;
		*len = v;
		seen = true;
	}
	return 0;
}

bool http1_list_has(const char *value, size_t value_len, const char *token)
{
	size_t tlen = strlen(token), i = 0;

	while(i < value_len){
		size_t s, e;
		while(i < value_len && is_ws(value[i])) i++;
		s = i;
		while(i < value_len && value[i] != ',') i++;
		e = i;
		while(e > s && is_ws(value[e - 1])) e--;
		if(e > s && ieq(value + s, e - s, token, tlen)) return true;
		i++;   /* past the comma */
	}
	return false;
}

bool http1_header_has(const struct http1_request *rq, const char *name, const char *token)
{
	size_t nlen = strlen(name);

	for(size_t i = 0; i < rq->nheaders; i++){
		const struct http1_header *h = &rq->headers[i];
		if(ieq(h->name, h->name_len, name, nlen) && http1_list_has(h->value, h->value_len, token)) return true;
	}
	return false;
}

bool http1_keep_alive(const struct http1_request *rq)
{
	/* close wins over keep-alive when a client sends both (RFC 9112 9.3) */
	if(http1_header_has(rq, "Connection", "close")) return false;
	return rq->minor >= 1 || http1_header_has(rq, "Connection", "keep-alive");
}

int http1_decode(const char *in, size_t len, bool plus, char *out, size_t outlen)
{
	size_t o = 0;

	for(size_t i = 0; i < len; i++){
		unsigned char c = (unsigned char)in[i];
		if(c == '%'){
			int hi, lo;
			if(len - i < 3) goto fail;
			hi = hexval((unsigned char)in[i + 1]);
			lo = hexval((unsigned char)in[i + 2]);
			if(hi < 0 || lo < 0) goto fail;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}else if(c == '+' && plus){
			c = ' ';
		}
		/* encoded or not, a NUL would cut the string the caller gets */
		if(c == '\0') goto fail;
		if(o + 1 >= outlen || o >= (size_t)INT_MAX) goto fail;
		out[o++] = (char)c;
	}
	if(outlen == 0) return -1;
	out[o] = '\0';
	return (int)o;
fail:
	if(outlen) out[0] = '\0';
	return -1;
}

/* The length of the target's path: up to '?' or the end. */
static size_t path_len(const struct http1_request *rq)
{
	const char *q = rq->target_len ? memchr(rq->target, '?', rq->target_len) : NULL;

	return q ? (size_t)(q - rq->target) : rq->target_len;
}

int http1_path(const struct http1_request *rq, char *out, size_t outlen)
{
	size_t plen = path_len(rq);
	int n;

	if(plen == 0 || rq->target[0] != '/'){
		if(outlen) out[0] = '\0';
		return -1;
	}
	n = http1_decode(rq->target, plen, false, out, outlen);
	if(n < 0) return -1;
	/* dot segments after decoding, so that %2e and %2f are caught too:
	 * out starts with '/', and each segment runs from after a '/' */
	for(int i = 0; i < n; i++){
		int s = i + 1, e = s;
		if(out[i] != '/') continue;
		while(e < n && out[e] != '/') e++;
		if((e - s == 1 && out[s] == '.') || (e - s == 2 && out[s] == '.' && out[s + 1] == '.')){
			out[0] = '\0';
			return -1;
		}
	}
	return n;
}

const char *http1_query(const struct http1_request *rq, size_t *len)
{
	size_t plen = path_len(rq);

	if(plen == rq->target_len){
		*len = 0;
		return NULL;
	}
	*len = rq->target_len - plen - 1;
	return rq->target + plen + 1;
}
