/* mapping/wsframe.c: the input is a stream of client frames, parsed frame
 * after frame as plugin/front.c does (with need_mask, then without). Each
 * header is checked against its bytes, and each of its prefixes must ask
 * for more; the payload that is there is unmasked in two pieces and at
 * once; text messages go through the UTF-8 validator whole and byte by
 * byte (and against a plain decoder); close payloads through
 * wsframe_close_code and back through wsframe_close; each header is built
 * again with wsframe_header and parsed back. The first 24 bytes (and the
 * whole input) are a Sec-WebSocket-Key for wsframe_accept. */
#include "fuzz.h"
#include "wsframe.h"

/* RFC 3629 by decoding each character: the oracle of the validator. */
static bool ref_utf8(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while(i < n){
		unsigned c = p[i];
		size_t k;
		uint32_t cp, min;
		if(c < 0x80){
			i++;
			continue;
		}
		if((c & 0xe0) == 0xc0){
			k = 1;
			cp = c & 0x1f;
			min = 0x80;
		}else if((c & 0xf0) == 0xe0){
			k = 2;
			cp = c & 0x0f;
			min = 0x800;
		}else if((c & 0xf8) == 0xf0){
			k = 3;
			cp = c & 0x07;
			min = 0x10000;
		}else{
			return false;
		}
		if(n - i - 1 < k) return false;
		for(size_t j = 1; j <= k; j++){
			if((p[i + j] & 0xc0) != 0x80) return false;
			cp = cp << 6 | (p[i + j] & 0x3fu);
		}
		if(cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
		i += k + 1;
	}
	return true;
}

static bool ref_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static bool ref_key(const char *k, size_t n)
{
	if(n != 24 || k[22] != '=' || k[23] != '=') return false;
	for(size_t i = 0; i < 22; i++){
		if(!ref_b64(k[i])) return false;
	}
	return true;
}

static void check_accept(const uint8_t *data, size_t n)
{
	char out[WSFRAME_ACCEPT_LEN + 1];

	if(!n){
		FUZZ_CHECK(wsframe_accept("", 0, out) == -1);
		return;
	}
	/* exactly n bytes (ASan sees a read past them); not fuzz_copy, whose
	 * n == 0 case gcc takes for an uninitialised read */
	char *key = malloc(n);
	if(!key) abort();
	memcpy(key, data, n);
	int r = wsframe_accept(key, n, out);

	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK((r == 0) == ref_key(key, n));
	if(!r){
		FUZZ_CHECK(strlen(out) == WSFRAME_ACCEPT_LEN && out[WSFRAME_ACCEPT_LEN - 1] == '=');
		for(size_t i = 0; i + 1 < WSFRAME_ACCEPT_LEN; i++) FUZZ_CHECK(ref_b64(out[i]));
	}
	free(key);
}

/* The header wsframe_header writes for the frame, parsed back. */
static void check_roundtrip(const struct wsframe_in *f)
{
	unsigned char h[WSFRAME_HEADER_MAX];
	struct wsframe_in g;
	size_t n = wsframe_header(h, f->opcode, (size_t)f->len);

	FUZZ_CHECK(n == wsframe_header_len((size_t)f->len));
	FUZZ_CHECK(wsframe_parse(h, n, false, &g) == (int)n);
	FUZZ_CHECK(g.fin && g.opcode == f->opcode && !g.masked && g.len == f->len && g.hdr_len == n);
	for(size_t k = 0; k < n; k++) FUZZ_CHECK(wsframe_parse(h, k, false, &g) == 0);
	FUZZ_CHECK(wsframe_parse(h, n, true, &g) == -WSFRAME_CLOSE_PROTOCOL && g.hdr_len == n && !g.masked);
}

/* A whole close payload: its code, and the close frame built from it. */
static void check_close(const unsigned char *p, size_t n)
{
	unsigned code = 12345;
	int r = wsframe_close_code(p, n, &code);
	unsigned char frame[2 + 125 + 16];
	struct wsframe_in g;

	FUZZ_CHECK(r == 0 || r == -1);
	if(n == 1) FUZZ_CHECK(r == -1);
	if(n == 0) FUZZ_CHECK(r == 0 && code == 0);
	if(r || n < 2) return;
	FUZZ_CHECK((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999));
	FUZZ_CHECK(ref_utf8(p + 2, n - 2));
	/* what the front would send back, with the reason (cut at its first
	 * NUL, a character boundary of valid UTF-8) */
	char *reason = fuzz_cstr(p + 2, n - 2);
	memset(frame, 0xee, sizeof(frame));
	size_t k = wsframe_close(frame, code, reason);
	FUZZ_CHECK(k >= 4 && k <= 2 + 125 && frame[k] == 0xee);
	FUZZ_CHECK(wsframe_parse(frame, k, false, &g) == 2 && g.opcode == WSFRAME_CLOSE && g.fin && g.len == k - 2);
	unsigned back = 0;
	FUZZ_CHECK(wsframe_close_code(frame + 2, k - 2, &back) == 0 && back == code);
	size_t rl = strlen(reason);
	/* the reason whole, or cut to 123 bytes and at most 3 fewer (a character) */
	if(rl <= 123) FUZZ_CHECK(k - 4 == rl);
	else FUZZ_CHECK(k - 4 <= 123 && k - 4 >= 120);
	FUZZ_CHECK(!memcmp(frame + 4, reason, k - 4));
	free(reason);
	FUZZ_CHECK(wsframe_close(frame, 0, NULL) == 2 && frame[0] == 0x88 && frame[1] == 0);
}

/* The payload bytes there are of a masked frame: in two pieces (cut where
 * the input says) and at once, against the XOR written out. */
static void check_unmask(unsigned char *p, size_t n, const struct wsframe_in *f, uint64_t offset)
{
	unsigned char *a = (unsigned char *)fuzz_copy(p, n), *b = (unsigned char *)fuzz_copy(p, n);
	size_t cut = n ? p[0] % (n + 1) : 0;

	wsframe_unmask(a, cut, f->mask, offset);
	wsframe_unmask(a + cut, n - cut, f->mask, offset + cut);
	for(size_t i = 0; i < n; i++) b[i] ^= f->mask[(offset + i) % 4];
	wsframe_unmask(p, n, f->mask, offset);
	FUZZ_CHECK(!memcmp(a, p, n) && !memcmp(b, p, n));
	free(a);
	free(b);
}

static void stream(unsigned char *buf, size_t size, bool need_mask)
{
	struct wsframe_utf8 whole, bytes;
	bool text = false;   /* inside a text message */
	size_t at = 0;

	wsframe_utf8_init(&whole);
	wsframe_utf8_init(&bytes);
	while(at < size){
		struct wsframe_in f, g;
		const unsigned char *h = buf + at;
		size_t avail = size - at;
		int r = wsframe_parse(h, avail, need_mask, &f);

		FUZZ_CHECK(r >= -WSFRAME_CLOSE_PROTOCOL);
		if(r == 0) break;
		if(r < 0){
			FUZZ_CHECK(r == -WSFRAME_CLOSE_PROTOCOL);
			/* hdr_len only for an unmasked frame, which need_mask refuses */
			if(f.hdr_len) FUZZ_CHECK(need_mask && !f.masked && avail >= 2 && !(h[1] & 0x80));
			break;
		}
		unsigned len7 = h[1] & 0x7fu;
		size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
		FUZZ_CHECK((size_t)r == f.hdr_len && f.hdr_len <= avail);
		FUZZ_CHECK(f.hdr_len >= 2 && f.hdr_len <= WSFRAME_CLIENT_HEADER_MAX);
		FUZZ_CHECK(f.hdr_len == 2 + ext + (f.masked ? 4 : 0));
		FUZZ_CHECK(f.fin == !!(h[0] & 0x80) && f.opcode == (h[0] & 0x0fu) && !(h[0] & 0x70));
		FUZZ_CHECK(f.masked == !!(h[1] & 0x80) && (f.masked || !need_mask));
		FUZZ_CHECK(f.opcode <= WSFRAME_BINARY || (f.opcode >= WSFRAME_CLOSE && f.opcode <= WSFRAME_PONG));
		FUZZ_CHECK(ext || f.len == len7);
		FUZZ_CHECK(f.len < UINT64_C(1) << 63);
		if(f.opcode >= WSFRAME_CLOSE) FUZZ_CHECK(f.fin && f.len <= 125);
		if(f.masked) FUZZ_CHECK(!memcmp(f.mask, h + 2 + ext, 4));
		for(size_t k = 0; k < f.hdr_len; k++) FUZZ_CHECK(wsframe_parse(h, k, need_mask, &g) == 0);
		check_roundtrip(&f);

		at += f.hdr_len;
		avail = size - at;
		size_t n = f.len < avail ? (size_t)f.len : avail;
		unsigned char *p = buf + at;
		if(f.masked) check_unmask(p, n, &f, 0);
		if(f.opcode == WSFRAME_TEXT || (f.opcode == WSFRAME_CONT && text)){
			if(f.opcode == WSFRAME_TEXT){
				wsframe_utf8_init(&whole);
				wsframe_utf8_init(&bytes);
			}
			/* (an empty feed first: after a failure it fails too) */
			bool w = wsframe_utf8_feed(&whole, p, n), b = wsframe_utf8_feed(&bytes, p, 0);
			for(size_t i = 0; i < n; i++) b = wsframe_utf8_feed(&bytes, p + i, 1) && b;
			FUZZ_CHECK(w == b && wsframe_utf8_done(&whole) == wsframe_utf8_done(&bytes));
			FUZZ_CHECK(w || !wsframe_utf8_done(&whole));
			/* a frame alone, from a fresh validator, against the decoder */
			struct wsframe_utf8 one;
			wsframe_utf8_init(&one);
			FUZZ_CHECK((wsframe_utf8_feed(&one, p, n) && wsframe_utf8_done(&one)) == ref_utf8(p, n));
			text = !f.fin;
		}else if(f.opcode == WSFRAME_BINARY || f.opcode == WSFRAME_CONT){
			text = false;
		}else if(f.opcode == WSFRAME_CLOSE && n == f.len){
			check_close(p, n);
		}
		at += n;
		if(n < f.len) break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = (unsigned char *)fuzz_copy(data, size);

	stream(buf, size, true);
	if(size) memcpy(buf, data, size);   /* unmasked in place: again from the input */
	stream(buf, size, false);
	free(buf);
	if(size >= 24) check_accept(data, 24);
	check_accept(data, size);
	return 0;
}
