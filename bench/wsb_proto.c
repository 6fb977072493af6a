/* Buffers and the three client codecs wsbench speaks: WebSocket (RFC 6455,
 * client side), MQTT 3.1.1 (the packets a subscriber and a publisher need)
 * and HTTP/1.1 (a POST with Content-Length, keep-alive). */
#include "wsb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- buffers ---- */

void buf_reserve(struct buf *b, size_t extra)
{
	if(b->len + extra <= b->cap) return;
	if(b->off && b->len - b->off + extra <= b->cap){
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		return;
	}
	size_t used = b->len - b->off;
	size_t cap = b->cap ? b->cap : 256;
	while(cap < used + extra) cap *= 2;
	uint8_t *np = malloc(cap);
	if(!np){
		fprintf(stderr, "wsbench: out of memory\n");
		exit(2);
	}
	if(used) memcpy(np, b->p + b->off, used);
	free(b->p);
	b->p = np;
	b->cap = cap;
	b->off = 0;
	b->len = used;
}

void buf_append(struct buf *b, const void *data, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

void buf_consume(struct buf *b, size_t n)
{
	b->off += n;
	if(b->off >= b->len) b->off = b->len = 0;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- WebSocket ---- */

static void base64(const uint8_t *in, size_t n, char *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;
	for(i = 0; i + 2 < n; i += 3){
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i+1] << 8 | in[i+2];
		out[o++] = tab[v >> 18 & 63]; out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63]; out[o++] = tab[v & 63];
	}
	if(i < n){
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i+1] << 8 : 0);
		out[o++] = tab[v >> 18 & 63]; out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
}

void ws_upgrade_request(struct buf *out, const char *host, const char *path, const char *subprotocol,
		uint32_t key_seed)
{
	uint8_t key[16];
	char key64[32], req[1024];
	uint32_t x = key_seed * 2654435761u + 12345u;
	for(size_t i = 0; i < sizeof(key); i++){
		x ^= x << 13; x ^= x >> 17; x ^= x << 5;
		key[i] = (uint8_t)x;
	}
	base64(key, sizeof(key), key64);
	int n = snprintf(req, sizeof(req),
			"GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
			path, host, key64, subprotocol ? "Sec-WebSocket-Protocol: " : "",
			subprotocol ? subprotocol : "", subprotocol ? "\r\n" : "");
	buf_append(out, req, (size_t)n);
}

static const uint8_t *find_crlfcrlf(const uint8_t *p, size_t n)
{
	const uint8_t *e = memmem(p, n, "\r\n\r\n", 4);
	return e ? e + 4 : NULL;
}

ssize_t ws_upgrade_reply(const uint8_t *p, size_t n, int *status)
{
	const uint8_t *end = find_crlfcrlf(p, n);
	*status = 0;
	if(!end) return n > 16384 ? -1 : 0;
	if(n < 12 || memcmp(p, "HTTP/1.1 ", 9)) return -1;
	*status = atoi((const char *)p + 9);
	if(*status != 101) return -1;
	return end - p;
}

void ws_frame(struct buf *out, int opcode, const void *payload, size_t n, uint32_t mask)
{
	uint8_t hdr[14];
	size_t h = 0;
	hdr[h++] = (uint8_t)(0x80 | opcode);
	if(n < 126){
		hdr[h++] = (uint8_t)(0x80 | n);
	}else if(n < 65536){
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (uint8_t)(n >> 8);
		hdr[h++] = (uint8_t)n;
	}else{
		hdr[h++] = 0x80 | 127;
		for(int i = 7; i >= 0; i--) hdr[h++] = (uint8_t)((uint64_t)n >> (8 * i));
	}
	uint8_t m[4] = { (uint8_t)(mask >> 24), (uint8_t)(mask >> 16), (uint8_t)(mask >> 8), (uint8_t)mask };
	memcpy(hdr + h, m, 4);
	h += 4;
	buf_reserve(out, h + n);
	memcpy(out->p + out->len, hdr, h);
	uint8_t *d = out->p + out->len + h;
	const uint8_t *s = payload;
	for(size_t i = 0; i < n; i++) d[i] = s[i] ^ m[i & 3];
	out->len += h + n;
}

ssize_t ws_parse(uint8_t *p, size_t n, int *opcode, bool *fin, uint8_t **payload, size_t *plen)
{
	size_t h = 2;
	uint64_t len;
	if(n < 2) return 0;
	*fin = (p[0] & 0x80) != 0;
	*opcode = p[0] & 0x0F;
	if(p[0] & 0x70) return -1;   /* no extensions were negotiated */
	len = p[1] & 0x7F;
	if(len == 126){
		if(n < 4) return 0;
		len = (uint64_t)p[2] << 8 | p[3];
		h = 4;
	}else if(len == 127){
		if(n < 10) return 0;
		len = 0;
		for(int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
		h = 10;
		if(len > (1u << 30)) return -1;
	}
	bool masked = (p[1] & 0x80) != 0;
	if(masked) h += 4;
	if(n < h + len) return 0;
	*payload = p + h;
	*plen = (size_t)len;
	if(masked){
		const uint8_t *m = p + h - 4;
		for(size_t i = 0; i < len; i++) p[h + i] ^= m[i & 3];
	}
	return (ssize_t)(h + len);
}

/* ---- MQTT 3.1.1 ---- */

static size_t varint(uint8_t *o, size_t v)
{
	size_t i = 0;
	do{
		uint8_t b = v % 128;
		v /= 128;
		if(v) b |= 128;
		o[i++] = b;
	}while(v);
	return i;
}

static void put_fixed(struct buf *out, uint8_t first, size_t remaining)
{
	uint8_t h[5];
	h[0] = first;
	size_t n = 1 + varint(h + 1, remaining);
	buf_append(out, h, n);
}

static void put_u16(struct buf *out, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	buf_append(out, b, 2);
}

static void put_str(struct buf *out, const char *s)
{
	size_t n = strlen(s);
	put_u16(out, (uint16_t)n);
	buf_append(out, s, n);
}

void mqtt_connect(struct buf *out, const char *client_id, uint16_t keepalive)
{
	size_t rem = 10 + 2 + strlen(client_id);
	put_fixed(out, MQTT_CONNECT << 4, rem);
	put_str(out, "MQTT");
	uint8_t level_flags[2] = { 4, 0x02 };   /* 3.1.1, clean session */
	buf_append(out, level_flags, 2);
	put_u16(out, keepalive);
	put_str(out, client_id);
}

void mqtt_subscribe(struct buf *out, uint16_t pid, const char *topic, int qos)
{
	put_fixed(out, MQTT_SUBSCRIBE << 4 | 0x02, 2 + 2 + strlen(topic) + 1);
	put_u16(out, pid);
	put_str(out, topic);
	uint8_t q = (uint8_t)qos;
	buf_append(out, &q, 1);
}

void mqtt_publish(struct buf *out, const char *topic, const void *payload, size_t n, int qos, uint16_t pid)
{
	mqtt_publish_retain(out, topic, payload, n, qos, pid, false);
}

void mqtt_publish_retain(struct buf *out, const char *topic, const void *payload, size_t n, int qos, uint16_t pid,
		bool retain)
{
	put_fixed(out, (uint8_t)(MQTT_PUBLISH << 4 | qos << 1 | (retain ? 1 : 0)), 2 + strlen(topic) + (qos ? 2 : 0) + n);
	put_str(out, topic);
	if(qos) put_u16(out, pid);
	buf_append(out, payload, n);
}

void mqtt_puback(struct buf *out, uint16_t pid)
{
	uint8_t b[4] = { MQTT_PUBACK << 4, 2, (uint8_t)(pid >> 8), (uint8_t)pid };
	buf_append(out, b, 4);
}

void mqtt_pingreq(struct buf *out)
{
	uint8_t b[2] = { MQTT_PINGREQ << 4, 0 };
	buf_append(out, b, 2);
}

void mqtt_disconnect(struct buf *out)
{
	uint8_t b[2] = { MQTT_DISCONNECT << 4, 0 };
	buf_append(out, b, 2);
}

ssize_t mqtt_parse(const uint8_t *p, size_t n, int *type, int *flags, const uint8_t **body, size_t *blen)
{
	size_t rem = 0, mult = 1, i = 1;
	if(n < 2) return 0;
	for(;;){
		if(i >= n) return 0;
		if(i > 4) return -1;
		rem += (size_t)(p[i] & 127) * mult;
		mult *= 128;
		if(!(p[i++] & 128)) break;
	}
	if(n < i + rem) return 0;
	*type = p[0] >> 4;
	*flags = p[0] & 0x0F;
	*body = p + i;
	*blen = rem;
	return (ssize_t)(i + rem);
}

int mqtt_publish_split(const uint8_t *body, size_t blen, int qos, const uint8_t **topic, size_t *tlen,
		uint16_t *pid, const uint8_t **payload, size_t *plen)
{
	if(blen < 2) return -1;
	size_t tl = (size_t)body[0] << 8 | body[1];
	size_t o = 2 + tl;
	if(o > blen) return -1;
	*topic = body + 2;
	*tlen = tl;
	*pid = 0;
	if(qos){
		if(o + 2 > blen) return -1;
		*pid = (uint16_t)(body[o] << 8 | body[o+1]);
		o += 2;
	}
	*payload = body + o;
	*plen = blen - o;
	return 0;
}

/* ---- HTTP/1.1 ---- */

void http_post(struct buf *out, const char *host, const char *path, const void *body, size_t n)
{
	char hdr[512];
	int h = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			"Content-Length: %zu\r\n\r\n", path, host, n);
	buf_reserve(out, (size_t)h + n);
	buf_append(out, hdr, (size_t)h);
	buf_append(out, body, n);
}

ssize_t http_response(const uint8_t *p, size_t n, int *status)
{
	const uint8_t *end = find_crlfcrlf(p, n);
	size_t clen = 0;
	if(!end) return n > 16384 ? -1 : 0;
	if(n < 12 || memcmp(p, "HTTP/1.", 7)) return -1;
	*status = atoi((const char *)p + 9);
	for(const uint8_t *l = p; l < end; ){
		const uint8_t *e = memmem(l, (size_t)(end - l), "\r\n", 2);
		if(!e) break;
		if(e - l > 15 && !strncasecmp((const char *)l, "content-length:", 15)) clen = (size_t)atol((const char *)l + 15);
		l = e + 2;
	}
	size_t total = (size_t)(end - p) + clen;
	if(n < total) return 0;
	return (ssize_t)total;
}

bool json_find_u64_after(const uint8_t *p, size_t n, const char *anchor, const char *key, uint64_t *out)
{
	size_t al = strlen(anchor);
	const uint8_t *a = NULL, *next = memmem(p, n, anchor, al);
	while(next){   /* the last one: a patch of several changes ends with the newest */
		a = next;
		next = memmem(a + al, n - (size_t)(a + al - p), anchor, al);
	}
	if(!a) return false;
	return json_find_u64(a + al, n - (size_t)(a + al - p), key, out);
}

bool json_find_u64(const uint8_t *p, size_t n, const char *key, uint64_t *out)
{
	size_t kl = strlen(key);
	const uint8_t *k = memmem(p, n, key, kl);
	uint64_t v = 0;
	if(!k) return false;
	const uint8_t *d = k + kl, *e = p + n;
	while(d < e && *d == ' ') d++;
	if(d >= e || *d < '0' || *d > '9') return false;
	while(d < e && *d >= '0' && *d <= '9') v = v * 10 + (uint64_t)(*d++ - '0');
	*out = v;
	return true;
}
