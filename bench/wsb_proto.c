/* Buffers and the client codecs wsbench speaks: WebSocket (RFC 6455, client
 * side), MQTT 3.1.1 (the packets a subscriber and a publisher need), HTTP/1.1
 * (a POST with Content-Length, keep-alive) and HS256 JWTs (SHA-256, HMAC) for
 * the dialects that authenticate with one. */
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

void http_post(struct buf *out, const char *host, const char *path, const char *bearer, const void *body, size_t n)
{
	char hdr[768];
	int h = snprintf(hdr, sizeof(hdr), "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
			"%s%s%sContent-Length: %zu\r\n\r\n", path, host, bearer ? "Authorization: Bearer " : "",
			bearer ? bearer : "", bearer ? "\r\n" : "", n);
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

/* ---- SHA-256 (FIPS 180-4), HMAC (RFC 2104), JWT (RFC 7519) ---- */

struct sha256 {
	uint32_t h[8];
	uint8_t block[64];
	size_t fill;
	uint64_t total;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))

static void sha256_block(struct sha256 *s, const uint8_t *p)
{
	uint32_t w[64], v[8];
	for(int i = 0; i < 16; i++) w[i] = (uint32_t)p[4*i] << 24 | (uint32_t)p[4*i+1] << 16 | (uint32_t)p[4*i+2] << 8 | p[4*i+3];
	for(int i = 16; i < 64; i++){
		uint32_t s0 = ROR(w[i-15], 7) ^ ROR(w[i-15], 18) ^ (w[i-15] >> 3);
		uint32_t s1 = ROR(w[i-2], 17) ^ ROR(w[i-2], 19) ^ (w[i-2] >> 10);
		w[i] = w[i-16] + s0 + w[i-7] + s1;
	}
	memcpy(v, s->h, sizeof(v));
	for(int i = 0; i < 64; i++){
		uint32_t t1 = v[7] + (ROR(v[4], 6) ^ ROR(v[4], 11) ^ ROR(v[4], 25)) + ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha256_k[i] + w[i];
		uint32_t t2 = (ROR(v[0], 2) ^ ROR(v[0], 13) ^ ROR(v[0], 22)) + ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
		memmove(v + 1, v, 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + t2;
	}
	for(int i = 0; i < 8; i++) s->h[i] += v[i];
}

static void sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	memcpy(s->h, h0, sizeof(h0));
	s->fill = 0;
	s->total = 0;
}

static void sha256_update(struct sha256 *s, const void *data, size_t n)
{
	const uint8_t *p = data;
	s->total += n;
	while(n){
		size_t take = 64 - s->fill < n ? 64 - s->fill : n;
		memcpy(s->block + s->fill, p, take);
		s->fill += take;
		p += take;
		n -= take;
		if(s->fill == 64){
			sha256_block(s, s->block);
			s->fill = 0;
		}
	}
}

static void sha256_final(struct sha256 *s, uint8_t out[32])
{
	uint64_t bits = s->total * 8;
	uint8_t pad = 0x80, zero = 0, len[8];
	sha256_update(s, &pad, 1);
	while(s->fill != 56) sha256_update(s, &zero, 1);
	for(int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, len, 8);
	for(int i = 0; i < 8; i++){
		out[4*i] = (uint8_t)(s->h[i] >> 24); out[4*i+1] = (uint8_t)(s->h[i] >> 16);
		out[4*i+2] = (uint8_t)(s->h[i] >> 8); out[4*i+3] = (uint8_t)s->h[i];
	}
}

static void hmac_sha256(const char *key, const void *msg, size_t n, uint8_t out[32])
{
	uint8_t k[64] = {0}, ipad[64], opad[64], inner[32];
	size_t kl = strlen(key);
	struct sha256 s;
	if(kl > 64){
		sha256_init(&s);
		sha256_update(&s, key, kl);
		sha256_final(&s, k);
	}else{
		memcpy(k, key, kl);
	}
	for(int i = 0; i < 64; i++){
		ipad[i] = k[i] ^ 0x36;
		opad[i] = k[i] ^ 0x5c;
	}
	sha256_init(&s);
	sha256_update(&s, ipad, 64);
	sha256_update(&s, msg, n);
	sha256_final(&s, inner);
	sha256_init(&s);
	sha256_update(&s, opad, 64);
	sha256_update(&s, inner, 32);
	sha256_final(&s, out);
}

/* base64url without padding; returns the characters written. */
static size_t base64url(const uint8_t *in, size_t n, char *out)
{
	size_t o;
	base64(in, n, out);
	for(o = 0; out[o] && out[o] != '='; o++){
		if(out[o] == '+') out[o] = '-';
		else if(out[o] == '/') out[o] = '_';
	}
	out[o] = '\0';
	return o;
}

int jwt_hs256(char *out, size_t cap, const char *secret, const char *sub, long long exp)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	char claims[256];
	uint8_t mac[32];
	int cl = snprintf(claims, sizeof(claims), "{\"sub\":\"%s\",\"exp\":%lld}", sub, exp);
	if(cl < 0 || (size_t)cl >= sizeof(claims)) return -1;
	size_t need = (sizeof(header) + (size_t)cl + 32) * 4 / 3 + 16;
	if(cap < need) return -1;
	size_t o = base64url((const uint8_t *)header, sizeof(header) - 1, out);
	out[o++] = '.';
	o += base64url((const uint8_t *)claims, (size_t)cl, out + o);
	hmac_sha256(secret, out, o, mac);
	out[o++] = '.';
	o += base64url(mac, sizeof(mac), out + o);
	return (int)o;
}
