/* mapping/wsframe.c: the headers of a server's frames, at each boundary of
 * RFC 6455's three length forms; the parser of a client's frame headers
 * (every prefix, every error); unmasking in pieces; close frames; the
 * incremental UTF-8 validator; the handshake's accept key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "wsframe.h"

#define PROTO (-WSFRAME_CLOSE_PROTOCOL)

static void check(size_t len, const unsigned char *want, size_t want_len)
{
	unsigned char out[WSFRAME_HEADER_MAX + 1];
	memset(out, 0xee, sizeof(out));
	assert_int_equal(wsframe_text_header(out, len), want_len);
	assert_int_equal(wsframe_header_len(len), want_len);
	assert_memory_equal(out, want, want_len);
	assert_int_equal(out[want_len], 0xee);   /* nothing written past it */
}

static void test_lengths(void **state)
{
	(void)state;
	check(0, (const unsigned char[]){0x81, 0}, 2);
	check(125, (const unsigned char[]){0x81, 125}, 2);
	check(126, (const unsigned char[]){0x81, 126, 0, 126}, 4);
	check(0xffff, (const unsigned char[]){0x81, 126, 0xff, 0xff}, 4);
	check(0x10000, (const unsigned char[]){0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}, 10);
	check(0x12345678, (const unsigned char[]){0x81, 127, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}, 10);
}

static const unsigned opcodes[] = { WSFRAME_CONT, WSFRAME_TEXT, WSFRAME_BINARY,
	WSFRAME_CLOSE, WSFRAME_PING, WSFRAME_PONG };

/* wsframe_header for each opcode at each length boundary, and back through
 * the parser (which takes the server's unmasked frame with need_mask false). */
static void test_header(void **state)
{
	static const struct { size_t len; unsigned char want[10]; size_t n; } cases[] = {
		{ 0, { 0, 0 }, 2 },
		{ 125, { 0, 125 }, 2 },
		{ 126, { 0, 126, 0, 126 }, 4 },
		{ 0xffff, { 0, 126, 0xff, 0xff }, 4 },
		{ 0x10000, { 0, 127, 0, 0, 0, 0, 0, 1, 0, 0 }, 10 },
	};
	(void)state;
	for(size_t o = 0; o < sizeof(opcodes) / sizeof(*opcodes); o++){
		for(size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++){
			unsigned char out[WSFRAME_HEADER_MAX + 1], want[10];
			struct wsframe_in f;
			memcpy(want, cases[c].want, sizeof(want));
			want[0] = (unsigned char)(0x80 | opcodes[o]);
			memset(out, 0xee, sizeof(out));
			assert_int_equal(wsframe_header(out, opcodes[o], cases[c].len), cases[c].n);
			assert_memory_equal(out, want, cases[c].n);
			assert_int_equal(out[cases[c].n], 0xee);
			if(opcodes[o] >= WSFRAME_CLOSE && cases[c].len > 125) continue;
			assert_int_equal(wsframe_parse(out, cases[c].n, false, &f), (int)cases[c].n);
			assert_true(f.fin);
			assert_int_equal(f.opcode, opcodes[o]);
			assert_false(f.masked);
			assert_int_equal(f.len, cases[c].len);
			assert_int_equal(f.hdr_len, cases[c].n);
		}
	}
}

/* A client's header: opcode byte, the length in the form given by n7 (the
 * 7-bit value: < 126, 126 or 127), the mask if masked. */
static size_t client_header(unsigned char *out, unsigned b0, unsigned n7, uint64_t len, bool masked)
{
	size_t n = 2;
	out[0] = (unsigned char)b0;
	out[1] = (unsigned char)((masked ? 0x80 : 0) | n7);
	if(n7 == 126){
		out[n++] = (unsigned char)(len >> 8);
		out[n++] = (unsigned char)len;
	}else if(n7 == 127){
		for(int i = 0; i < 8; i++) out[n++] = (unsigned char)(len >> (56 - 8 * i));
	}
	if(masked){
		memcpy(out + n, "\x11\x22\x33\x44", 4);
		n += 4;
	}
	return n;
}

static void test_parse_lengths(void **state)
{
	static const struct { uint64_t len; unsigned n7; } cases[] = {
		{ 0, 0 }, { 125, 125 }, { 126, 126 }, { 0xffff, 126 }, { 0x10000, 127 },
		{ UINT64_C(0x7fffffffffffffff), 127 },
		/* non-minimal forms: accepted (wsframe.h) */
		{ 5, 126 }, { 125, 127 }, { 0xffff, 127 },
	};
	(void)state;
	for(size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++){
		for(int masked = 0; masked < 2; masked++){
			unsigned char buf[WSFRAME_CLIENT_HEADER_MAX + 4];
			struct wsframe_in f;
			size_t n = client_header(buf, 0x82, cases[c].n7, cases[c].len, masked);
			memset(buf + n, 0xab, sizeof(buf) - n);   /* payload bytes after it */
			assert_true(n >= 2 && n <= WSFRAME_CLIENT_HEADER_MAX);
			for(size_t avail = n; avail <= sizeof(buf); avail++){
				assert_int_equal(wsframe_parse(buf, avail, masked, &f), (int)n);
				assert_true(f.fin);
				assert_int_equal(f.opcode, WSFRAME_BINARY);
				assert_int_equal(f.masked, masked);
				assert_int_equal(f.len, cases[c].len);
				assert_int_equal(f.hdr_len, n);
				if(masked) assert_memory_equal(f.mask, "\x11\x22\x33\x44", 4);
			}
			/* every prefix: more is needed */
			for(size_t avail = 0; avail < n; avail++){
				assert_int_equal(wsframe_parse(buf, avail, masked, &f), 0);
			}
		}
	}
}

static void test_parse_fields(void **state)
{
	unsigned char buf[WSFRAME_CLIENT_HEADER_MAX];
	struct wsframe_in f;
	(void)state;
	/* not final, text; then a continuation; each control opcode */
	size_t n = client_header(buf, 0x01, 3, 3, true);
	assert_int_equal(wsframe_parse(buf, n, true, &f), 6);
	assert_false(f.fin);
	assert_int_equal(f.opcode, WSFRAME_TEXT);
	n = client_header(buf, 0x80, 3, 3, true);
	assert_int_equal(wsframe_parse(buf, n, true, &f), 6);
	assert_true(f.fin);
	assert_int_equal(f.opcode, WSFRAME_CONT);
	for(unsigned op = WSFRAME_CLOSE; op <= WSFRAME_PONG; op++){
		n = client_header(buf, 0x80 | op, 125, 125, true);
		assert_int_equal(wsframe_parse(buf, n, true, &f), 6);
		assert_int_equal(f.opcode, op);
		assert_int_equal(f.len, 125);
		/* a control frame's length in the 16-bit form: judged by its value */
		n = client_header(buf, 0x80 | op, 126, 125, true);
		assert_int_equal(wsframe_parse(buf, n, true, &f), 8);
		assert_int_equal(f.len, 125);
	}
}

/* An error, with each amount of the header available from `from` on (it is
 * visible there), and more-is-needed before. */
static void check_error(const unsigned char *buf, size_t n, size_t from, bool need_mask)
{
	struct wsframe_in f;
	for(size_t avail = 0; avail < from; avail++){
		assert_int_equal(wsframe_parse(buf, avail, need_mask, &f), 0);
	}
	for(size_t avail = from; avail <= n; avail++){
		assert_int_equal(wsframe_parse(buf, avail, need_mask, &f), PROTO);
		assert_int_equal(f.hdr_len, 0);
	}
}

static void test_parse_errors(void **state)
{
	unsigned char buf[WSFRAME_CLIENT_HEADER_MAX];
	size_t n;
	(void)state;
	/* RSV1, RSV2, RSV3: seen in the first byte */
	for(unsigned rsv = 0x10; rsv <= 0x40; rsv <<= 1){
		n = client_header(buf, 0x81 | rsv, 5, 5, true);
		check_error(buf, n, 1, true);
		check_error(buf, n, 1, false);
	}
	/* the unknown opcodes */
	for(unsigned op = 3; op <= 0xf; op++){
		if(op >= WSFRAME_CLOSE && op <= WSFRAME_PONG) continue;
		n = client_header(buf, 0x80 | op, 5, 5, true);
		check_error(buf, n, 1, true);
		n = client_header(buf, op, 5, 5, true);
		check_error(buf, n, 1, true);
	}
	/* a control frame not final; then one of 126 bytes, in the 16-bit and
	 * the 64-bit form (seen once the length is there) */
	for(unsigned op = WSFRAME_CLOSE; op <= WSFRAME_PONG; op++){
		n = client_header(buf, op, 5, 5, true);
		check_error(buf, n, 1, true);
		n = client_header(buf, 0x80 | op, 126, 126, true);
		check_error(buf, n, 4, true);
		n = client_header(buf, 0x80 | op, 127, 126, true);
		check_error(buf, n, 10, true);
		n = client_header(buf, 0x80 | op, 127, UINT64_C(1) << 32, false);
		check_error(buf, n, 10, false);
	}
	/* a 64-bit length with its top bit set: seen in the third byte */
	n = client_header(buf, 0x82, 127, UINT64_C(1) << 63, true);
	check_error(buf, n, 3, true);
	n = client_header(buf, 0x82, 127, UINT64_MAX, false);
	check_error(buf, n, 3, false);
}

static void test_parse_unmasked(void **state)
{
	static const struct { unsigned n7; uint64_t len; size_t hdr; } cases[] = {
		{ 5, 5, 2 }, { 126, 300, 4 }, { 127, 70000, 10 },
	};
	(void)state;
	for(size_t c = 0; c < sizeof(cases) / sizeof(*cases); c++){
		unsigned char buf[WSFRAME_CLIENT_HEADER_MAX];
		struct wsframe_in f;
		size_t n = client_header(buf, 0x81, cases[c].n7, cases[c].len, false);
		assert_int_equal(n, cases[c].hdr);
		assert_int_equal(wsframe_parse(buf, 1, true, &f), 0);
		/* refused with need_mask as soon as the mask bit is seen; hdr_len
		 * and masked tell the caller which error it was */
		for(size_t avail = 2; avail <= n; avail++){
			assert_int_equal(wsframe_parse(buf, avail, true, &f), PROTO);
			assert_false(f.masked);
			assert_int_equal(f.hdr_len, cases[c].hdr);
			assert_int_equal(f.opcode, WSFRAME_TEXT);
			assert_true(f.fin);
		}
		/* taken without */
		assert_int_equal(wsframe_parse(buf, n, false, &f), (int)n);
		assert_false(f.masked);
		assert_int_equal(f.len, cases[c].len);
	}
}

static void naive_unmask(unsigned char *p, size_t len, const unsigned char mask[4], uint64_t offset)
{
	for(size_t i = 0; i < len; i++) p[i] ^= mask[(offset + i) % 4];
}

static void test_unmask(void **state)
{
	static const unsigned char mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
	unsigned char orig[300], a[300], b[300];
	(void)state;
	for(size_t i = 0; i < sizeof(orig); i++) orig[i] = (unsigned char)(i * 7 + 3);
	/* at each offset, each length (the 32- and 8-byte blocks and the tail),
	 * from each alignment of p */
	for(uint64_t off = 0; off < 4; off++){
		for(size_t start = 0; start < 8; start++){
			for(size_t len = 0; len + start <= 80; len++){
				memcpy(a, orig, sizeof(a));
				memcpy(b, orig, sizeof(b));
				wsframe_unmask(a + start, len, mask, off);
				naive_unmask(b + start, len, mask, off);
				assert_memory_equal(a, b, sizeof(a));
			}
		}
		/* a large offset: only its remainder by 4 counts */
		memcpy(a, orig, sizeof(a));
		memcpy(b, orig, sizeof(b));
		wsframe_unmask(a, sizeof(a), mask, (UINT64_C(1) << 40) + off);
		naive_unmask(b, sizeof(b), mask, off);
		assert_memory_equal(a, b, sizeof(a));
	}
	/* in two pieces, cut anywhere, equals at once */
	memcpy(b, orig, sizeof(b));
	wsframe_unmask(b, sizeof(b), mask, 0);
	for(size_t cut = 0; cut <= sizeof(a); cut++){
		memcpy(a, orig, sizeof(a));
		wsframe_unmask(a, cut, mask, 0);
		wsframe_unmask(a + cut, sizeof(a) - cut, mask, cut);
		assert_memory_equal(a, b, sizeof(a));
	}
	/* in many pieces of odd sizes */
	for(size_t step = 1; step < 40; step += 2){
		memcpy(a, orig, sizeof(a));
		for(size_t at = 0; at < sizeof(a); at += step){
			size_t k = sizeof(a) - at < step ? sizeof(a) - at : step;
			wsframe_unmask(a + at, k, mask, at);
		}
		assert_memory_equal(a, b, sizeof(a));
	}
	/* twice: back to the original */
	wsframe_unmask(a, sizeof(a), mask, 0);
	assert_memory_equal(a, orig, sizeof(a));
}

static int close_code(unsigned code, const char *reason, size_t rlen, unsigned *got)
{
	unsigned char p[200];
	p[0] = (unsigned char)(code >> 8);
	p[1] = (unsigned char)code;
	memcpy(p + 2, reason, rlen);
	return wsframe_close_code(p, 2 + rlen, got);
}

static void test_close_code(void **state)
{
	static const unsigned valid[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
		1012, 1013, 1014, 3000, 3999, 4000, 4999 };
	static const unsigned invalid[] = { 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000,
		2999, 5000, 5001, 0xffff };
	unsigned code = 77;
	(void)state;
	assert_int_equal(wsframe_close_code((const unsigned char *)"", 0, &code), 0);
	assert_int_equal(code, 0);
	assert_int_equal(wsframe_close_code((const unsigned char *)"\x03", 1, &code), -1);
	for(size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++){
		assert_int_equal(close_code(valid[i], "", 0, &code), 0);
		assert_int_equal(code, valid[i]);
		assert_int_equal(close_code(valid[i], "bye \xc3\xa9\xe2\x82\xac", 9, &code), 0);
		assert_int_equal(code, valid[i]);
	}
	for(size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++){
		if(!close_code(invalid[i], "", 0, &code)) fail_msg("code %u taken", invalid[i]);
		if(!close_code(invalid[i], "x", 1, &code)) fail_msg("code %u taken", invalid[i]);
	}
	/* a reason that is not UTF-8: a bad byte, a character cut at the end */
	assert_int_equal(close_code(1000, "ok\xff", 3, &code), -1);
	assert_int_equal(close_code(1000, "\xc0\xaf", 2, &code), -1);
	assert_int_equal(close_code(1000, "ok\xe2\x82", 4, &code), -1);
	assert_int_equal(close_code(1000, "ok\xe2\x82\xac", 5, &code), 0);
}

/* A close frame into a buffer of exactly its room, and what it holds. */
static size_t build_close(unsigned char *out, unsigned code, const char *reason)
{
	unsigned char buf[2 + 125 + 1];
	memset(buf, 0xee, sizeof(buf));
	size_t n = wsframe_close(buf, code, reason);
	assert_true(n >= 2 && n <= 2 + 125);
	assert_int_equal(buf[n], 0xee);
	assert_int_equal(buf[0], 0x88);
	assert_int_equal(buf[1], n - 2);
	if(code){
		unsigned got;
		assert_int_equal(wsframe_close_code(buf + 2, n - 2, &got), 0);
		assert_int_equal(got, code);
	}
	memcpy(out, buf, n);
	return n;
}

static void test_close_build(void **state)
{
	unsigned char out[2 + 125];
	char reason[400];
	size_t n;
	(void)state;
	assert_int_equal(build_close(out, 0, "ignored"), 2);
	assert_int_equal(build_close(out, 0, NULL), 2);
	assert_memory_equal(out, "\x88\x00", 2);
	assert_int_equal(build_close(out, 1000, NULL), 4);
	assert_memory_equal(out, "\x88\x02\x03\xe8", 4);
	assert_int_equal(build_close(out, 1001, ""), 4);
	assert_memory_equal(out, "\x88\x02\x03\xe9", 4);
	assert_int_equal(build_close(out, 1002, "bad"), 7);
	assert_memory_equal(out, "\x88\x05\x03\xea" "bad", 7);
	assert_int_equal(build_close(out, 4999, NULL), 4);
	assert_memory_equal(out, "\x88\x02\x13\x87", 4);
	/* ASCII: 123 bytes are kept, 124 cut to 123 */
	memset(reason, 'r', 123);
	reason[123] = '\0';
	assert_int_equal(build_close(out, 1000, reason), 2 + 2 + 123);
	assert_memory_equal(out + 4, reason, 123);
	reason[123] = 's';
	reason[124] = '\0';
	assert_int_equal(build_close(out, 1000, reason), 2 + 2 + 123);
	assert_memory_equal(out + 4, reason, 123);
	/* 2-byte characters: 123 would cut the 62nd, 122 kept */
	reason[0] = '\0';
	for(int i = 0; i < 100; i++) strcat(reason, "\xc3\xa9");
	assert_int_equal(build_close(out, 1008, reason), 2 + 2 + 122);
	assert_memory_equal(out + 4, reason, 122);
	/* 3-byte characters: 123 is 41 of them */
	reason[0] = '\0';
	for(int i = 0; i < 60; i++) strcat(reason, "\xe2\x82\xac");
	assert_int_equal(build_close(out, 1011, reason), 2 + 2 + 123);
	/* 4-byte characters after one ASCII byte: 1 + 4 * 30 = 121 */
	strcpy(reason, "a");
	for(int i = 0; i < 60; i++) strcat(reason, "\xf0\x9f\x98\x80");
	n = build_close(out, 3000, reason);
	assert_int_equal(n, 2 + 2 + 121);
	assert_memory_equal(out + 4, reason, 121);
	/* two ASCII bytes first: 2 + 4 * 30 = 122 */
	strcpy(reason, "ab");
	for(int i = 0; i < 60; i++) strcat(reason, "\xf0\x9f\x98\x80");
	assert_int_equal(build_close(out, 3000, reason), 2 + 2 + 122);
}

static bool utf8(const char *s, size_t n)
{
	struct wsframe_utf8 u;
	wsframe_utf8_init(&u);
	return wsframe_utf8_feed(&u, (const unsigned char *)s, n) && wsframe_utf8_done(&u);
}

/* s alone, and after and before ASCII runs of each length (the 8-byte
 * path meets it at each alignment) */
static void check_utf8(const char *s, size_t n, bool want)
{
	char buf[64];
	assert_true(n + 40 <= sizeof(buf));
	if(utf8(s, n) != want) fail_msg("\"%.*s\" (%zu bytes): want %d", (int)n, s, n, want);
	for(size_t pre = 0; pre < 20; pre++){
		memset(buf, 'a', sizeof(buf));
		memcpy(buf + pre, s, n);
		if(utf8(buf, pre + n + 20) != want) fail_msg("\"%.*s\" after %zu: want %d", (int)n, s, pre, want);
	}
}

static void test_utf8_valid(void **state)
{
	static const char *const ok[] = {
		"", "a", "\x7f", "hello, world", "\xc2\x80", "\xc3\xa9", "\xdf\xbf",
		"\xe0\xa0\x80", "\xe1\x80\x80", "\xe2\x82\xac", "\xec\xbf\xbf", "\xed\x80\x80",
		"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xef\xbb\xbf",
		"\xf0\x90\x80\x80", "\xf0\x9f\x98\x80", "\xf1\x80\x80\x80", "\xf3\xbf\xbf\xbf",
		"\xf4\x80\x80\x80", "\xf4\x8f\xbf\xbf", "a\xc3\xa9z\xe2\x82\xac\xf0\x9f\x98\x80!",
	};
	(void)state;
	for(size_t i = 0; i < sizeof(ok) / sizeof(*ok); i++) check_utf8(ok[i], strlen(ok[i]), true);
	check_utf8("a\0b", 3, true);   /* NUL is U+0000 */
}

static void test_utf8_invalid(void **state)
{
	static const char *const bad[] = {
		/* stray continuation bytes */
		"\x80", "\xbf", "a\x80", "\xc3\xa9\xa9",
		/* overlongs: C0, C1, E0 80-9F, F0 80-8F */
		"\xc0\x80", "\xc0\xaf", "\xc1\xbf", "\xe0\x80\x80", "\xe0\x9f\xbf",
		"\xf0\x80\x80\x80", "\xf0\x8f\xbf\xbf",
		/* surrogates: ED A0-BF */
		"\xed\xa0\x80", "\xed\xaf\xbf", "\xed\xbf\xbf",
		/* above U+10FFFF: F4 90+, F5-FF */
		"\xf4\x90\x80\x80", "\xf4\xbf\xbf\xbf", "\xf5\x80\x80\x80", "\xf7\xbf\xbf\xbf",
		"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80", "\xfe", "\xff",
		/* a character cut by another byte */
		"\xc2\x41", "\xe1\x80\x41", "\xf1\x80\x80\x41", "\xe1\xc0\x80",
		/* cut at the end: done() says no */
		"\xc2", "\xe1\x80", "\xf0\x90\x80", "\xf4",
	};
	(void)state;
	for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++){
		const char *s = bad[i];
		size_t n = strlen(s);
		char buf[64];
		if(utf8(s, n)) fail_msg("bad[%zu] taken", i);
		/* after ASCII runs (not before: the cut ones would be whole) */
		for(size_t pre = 0; pre < 20; pre++){
			memset(buf, 'a', sizeof(buf));
			memcpy(buf + pre, s, n);
			if(utf8(buf, pre + n)) fail_msg("bad[%zu] after %zu taken", i, pre);
		}
	}
}

static void test_utf8_incremental(void **state)
{
	static const char *const chars[] = { "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf" };
	struct wsframe_utf8 u;
	(void)state;
	/* each character cut at each place, alone and inside ASCII runs */
	for(size_t c = 0; c < sizeof(chars) / sizeof(*chars); c++){
		size_t n = strlen(chars[c]);
		for(size_t cut = 1; cut < n; cut++){
			char a[32], b[32];
			size_t na, nb;
			wsframe_utf8_init(&u);
			assert_true(wsframe_utf8_done(&u));
			assert_true(wsframe_utf8_feed(&u, (const unsigned char *)chars[c], cut));
			assert_false(wsframe_utf8_done(&u));
			assert_true(wsframe_utf8_feed(&u, (const unsigned char *)chars[c] + cut, n - cut));
			assert_true(wsframe_utf8_done(&u));
			na = (size_t)snprintf(a, sizeof(a), "abcdefghijk%.*s", (int)cut, chars[c]);
			nb = (size_t)snprintf(b, sizeof(b), "%slmnopqrstuvw", chars[c] + cut);
			wsframe_utf8_init(&u);
			assert_true(wsframe_utf8_feed(&u, (const unsigned char *)a, na));
			assert_false(wsframe_utf8_done(&u));
			assert_true(wsframe_utf8_feed(&u, (const unsigned char *)"", 0));
			assert_false(wsframe_utf8_done(&u));
			assert_true(wsframe_utf8_feed(&u, (const unsigned char *)b, nb));
			assert_true(wsframe_utf8_done(&u));
		}
		/* byte by byte */
		wsframe_utf8_init(&u);
		for(size_t i = 0; i < n; i++){
			assert_true(wsframe_utf8_feed(&u, (const unsigned char *)chars[c] + i, 1));
			assert_int_equal(wsframe_utf8_done(&u), i + 1 == n);
		}
	}
	/* a bad second byte in the next feed: a surrogate, an overlong */
	wsframe_utf8_init(&u);
	assert_true(wsframe_utf8_feed(&u, (const unsigned char *)"ok\xed", 3));
	assert_false(wsframe_utf8_feed(&u, (const unsigned char *)"\xa0\x80", 2));
	assert_false(wsframe_utf8_done(&u));
	/* and once failed, failed for good */
	assert_false(wsframe_utf8_feed(&u, (const unsigned char *)"a", 1));
	assert_false(wsframe_utf8_feed(&u, (const unsigned char *)"", 0));
	assert_false(wsframe_utf8_done(&u));
	wsframe_utf8_init(&u);
	assert_true(wsframe_utf8_feed(&u, (const unsigned char *)"\xf0", 1));
	assert_false(wsframe_utf8_feed(&u, (const unsigned char *)"\x8f", 1));
	/* init starts again */
	wsframe_utf8_init(&u);
	assert_true(wsframe_utf8_feed(&u, (const unsigned char *)"a", 1));
	assert_true(wsframe_utf8_done(&u));
}

static void test_accept(void **state)
{
	char out[WSFRAME_ACCEPT_LEN + 1];
	static const char *const bad[] = {
		"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===",   /* 23, 25 */
		"dGhlIHNhbXBsZSBub25jZQQ=",    /* 17 bytes */
		"dGhlIHNhbXBsZSBub25jZQQQ",    /* 18 bytes */
		"dGhlIHNhbXBsZSBub25j=Q==",    /* '=' inside */
		"dGhlIHNhbXBsZSBub25jZ!==", "dGhlIHNhbXBsZSBub25jZ-==", "dGhlIHNhbXBsZSBub25jZ_==",
		"dGhlIHNhbXBsZSBub25jZ ==", " dGhlIHNhbXBsZSBub25jZQ==",
		"dGhlIHNhbXBsZSBub25jZQ==\r", "dGhlIHNhbXBsZSBub25jZ\xc3\xa9=",
	};
	(void)state;
	assert_int_equal(wsframe_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* only key_len bytes are read */
	assert_int_equal(wsframe_accept("dGhlIHNhbXBsZSBub25jZQ==xyz", 24, out), 0);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* another key: the base64 of 16 zero bytes (Python's hashlib and
	 * base64 give this accept) */
	assert_int_equal(wsframe_accept("AAAAAAAAAAAAAAAAAAAAAA==", 24, out), 0);
	assert_int_equal(strlen(out), WSFRAME_ACCEPT_LEN);
	assert_string_equal(out, "ICX+Yqv66kxgM0FcWaLWlFLwTAI=");
	for(size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++){
		if(!wsframe_accept(bad[i], strlen(bad[i]), out)) fail_msg("key \"%s\" taken", bad[i]);
	}
	/* a NUL inside the 24 bytes */
	assert_int_equal(wsframe_accept("dGhlIHNhbXBsZSBub2\0jZQ==", 24, out), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_header),
		cmocka_unit_test(test_parse_lengths),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_parse_errors),
		cmocka_unit_test(test_parse_unmasked),
		cmocka_unit_test(test_unmask),
		cmocka_unit_test(test_close_code),
		cmocka_unit_test(test_close_build),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_utf8_invalid),
		cmocka_unit_test(test_utf8_incremental),
		cmocka_unit_test(test_accept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
