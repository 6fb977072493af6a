/* Unit tests for mapping/http1.c: request heads as a peer sends them (whole,
 * pipelined, a byte at a time, malformed), the body's framing, the
 * Connection rules, and the target's path and query. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define MAX_HEAD 8192

static struct http1_request rq;

/* Parses s[0..n) from a heap block of exactly n bytes, so that ASan sees a
 * read past n. The pointers in rq are only good until the next call: the
 * tests that read them use parse_at. */
static int parse_n(const char *s, size_t n, size_t max_head)
{
	char *copy = malloc(n ? n : 1);
	int r;
	assert_non_null(copy);
	if(n) memcpy(copy, s, n);
	r = http1_parse_head(copy, n, max_head, &rq);
	free(copy);
	return r;
}

static int parse(const char *s)
{
	return parse_n(s, strlen(s), MAX_HEAD);
}

/* Parses s in place (s outlives rq's pointers). */
static int parse_at(const char *s)
{
	return http1_parse_head(s, strlen(s), MAX_HEAD, &rq);
}

static void assert_header(size_t i, const char *name, const char *value)
{
	assert_true(i < rq.nheaders);
	assert_int_equal(rq.headers[i].name_len, strlen(name));
	assert_memory_equal(rq.headers[i].name, name, strlen(name));
	assert_int_equal(rq.headers[i].value_len, strlen(value));
	if(*value) assert_memory_equal(rq.headers[i].value, value, strlen(value));
}

static void assert_line(const char *method, const char *target, int minor)
{
	assert_int_equal(rq.method_len, strlen(method));
	assert_memory_equal(rq.method, method, strlen(method));
	assert_int_equal(rq.target_len, strlen(target));
	assert_memory_equal(rq.target, target, strlen(target));
	assert_int_equal(rq.minor, minor);
}

static void test_simple_get(void **state)
{
	const char *s = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s));
	assert_int_equal(rq.head_len, strlen(s));
	assert_line("GET", "/index.html", 1);
	assert_int_equal(rq.nheaders, 2);
	assert_header(0, "Host", "example.com");
	assert_header(1, "Accept", "*/*");
	/* no header at all */
	s = "GET / HTTP/1.0\r\n\r\n";
	assert_int_equal(parse_at(s), (int)strlen(s));
	assert_line("GET", "/", 0);
	assert_int_equal(rq.nheaders, 0);
	/* any token is a method, in the case sent */
	s = "m-S_earch! /x HTTP/1.1\r\n\r\n";
	assert_int_equal(parse_at(s), (int)strlen(s));
	assert_line("m-S_earch!", "/x", 1);
}

static void test_post_content_length(void **state)
{
	const char *s = "POST /api/v1/items?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
	unsigned long long len = 99;
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s) - 5);
	assert_line("POST", "/api/v1/items?x=1", 1);
	assert_int_equal(http1_body_length(&rq, &len), 0);
	assert_int_equal(len, 5);
	/* the body is not looked at, whatever it holds */
	assert_int_equal(parse_n("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n\0\r\x01", 41, MAX_HEAD), 38);
}

static void test_pipelined(void **state)
{
	const char *s = "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
		"POST /two HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n\r\nhi"
		"GET /three HTTP/1.1\r\n";
	size_t len = strlen(s), off = 0;
	unsigned long long body;
	int r;
	(void)state;
	r = http1_parse_head(s, len, MAX_HEAD, &rq);
	assert_true(r > 0);
	assert_line("GET", "/one", 1);
	assert_header(0, "Host", "a");
	off += (size_t)r;
	r = http1_parse_head(s + off, len - off, MAX_HEAD, &rq);
	assert_true(r > 0);
	assert_line("POST", "/two", 1);
	assert_header(0, "Host", "b");
	assert_int_equal(http1_body_length(&rq, &body), 0);
	assert_int_equal(body, 2);
	off += (size_t)r + body;
	/* the third is still arriving */
	assert_int_equal(http1_parse_head(s + off, len - off, MAX_HEAD, &rq), 0);
}

/* Every prefix of s is incomplete, s whole is the head. */
static void check_split(const char *s)
{
	size_t len = strlen(s);
	for(size_t k = 0; k < len; k++) assert_int_equal(parse_n(s, k, MAX_HEAD), 0);
	assert_int_equal(parse_n(s, len, MAX_HEAD), (int)len);
}

static void test_split(void **state)
{
	(void)state;
	check_split("GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		"Sec-WebSocket-Version: 13\r\nX-Empty:\r\nX-Pad: \t a b \t\r\n\r\n");
	check_split("\r\n\nGET / HTTP/1.0\nA: b\n\n");
	check_split("GET / HTTP/1.1\r\nA: b\n\r\n");
}

static void test_lf_only(void **state)
{
	const char *s = "GET /lf HTTP/1.1\nHost: h\nX: y \n\nrest";
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s) - 4);
	assert_line("GET", "/lf", 1);
	assert_int_equal(rq.nheaders, 2);
	assert_header(0, "Host", "h");
	assert_header(1, "X", "y");
	/* mixed */
	s = "GET / HTTP/1.1\nHost: h\r\n\n";
	assert_int_equal(parse_at(s), (int)strlen(s));
}

static void test_leading_empty_lines(void **state)
{
	const char *s = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s));
	assert_int_equal(rq.head_len, strlen(s));
	assert_line("GET", "/", 1);
	assert_int_equal(parse("\r\n"), 0);
	assert_int_equal(parse("\r"), 0);
	assert_int_equal(parse("\n\n\n"), 0);
	/* a bare CR, or whitespace, is not an empty line */
	assert_int_equal(parse("\rGET / HTTP/1.1\r\n\r\n"), -400);
	assert_int_equal(parse("\r\r\n"), -400);
	assert_int_equal(parse(" \r\nGET / HTTP/1.1\r\n\r\n"), -400);
	/* only so many: they count in max_head */
	assert_int_equal(parse_n("\r\n\r\n\r\n\r\n", 8, 8), -431);
	assert_int_equal(parse_n("\r\n\r\n\r\n\r\n", 8, 9), 0);
}

static void test_request_line(void **state)
{
	static const struct {
		const char *line;
		int want;
	} cases[] = {
		{ "GET  / HTTP/1.1", -400 },
		{ "GET /  HTTP/1.1", -400 },
		{ "GET / HTTP/1.1 ", -400 },
		{ "GET / HTTP/1.1\t", -400 },
		{ " GET / HTTP/1.1", -400 },
		{ "GET\t/ HTTP/1.1", -400 },
		{ "GET /\tHTTP/1.1", -400 },
		{ "GET * HTTP/1.1", -400 },
		{ "OPTIONS * HTTP/1.1", -400 },
		{ "GET http://example.com/ HTTP/1.1", -400 },
		{ "CONNECT example.com:443 HTTP/1.1", -400 },
		{ "GET  HTTP/1.1", -400 },
		{ "G@T / HTTP/1.1", -400 },
		{ "GE(T / HTTP/1.1", -400 },
		{ "GET /a\x7f HTTP/1.1", -400 },
		{ "GET /\xc3\xa9 HTTP/1.1", -400 },
		{ "GET /a\x01 HTTP/1.1", -400 },
		{ "GET", -400 },
		{ "GET ", -400 },
		{ "GET /", -400 },
		{ "GET / ", -400 },
		{ "GET / HTTP/1", -400 },
		{ "GET / HTTP/1.", -400 },
		{ "GET / HTTP/1.10", -400 },
		{ "GET / HTTP/11.1", -400 },
		{ "GET / http/1.1", -400 },
		{ "GET / HTTP/1,1", -400 },
		{ "GET / HTTP/a.b", -400 },
		{ "GET / HTTPS/1.1", -400 },
		{ "GET / HTTP/1.1\rX", -400 },
		{ "GET / HTTP/2.0", -505 },
		{ "GET / HTTP/1.2", -505 },
		{ "GET / HTTP/0.9", -505 },
		{ "GET / HTTP/9.9", -505 },
		{ "GET / HTTP/1.0", 0 },
		{ "GET / HTTP/1.1", 0 },
		{ "GET /a/b?c=d&e=%20#f HTTP/1.1", 0 },
		{ "GET /!$&'()*+,;=:@-._~ HTTP/1.1", 0 },
	};
	(void)state;
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		char buf[256];
		int want = cases[i].want;
		snprintf(buf, sizeof(buf), "%s\r\nHost: h\r\n\r\n", cases[i].line);
		if(want == 0) want = (int)strlen(buf);
		if(parse(buf) != want) fail_msg("\"%s\": %d, want %d", cases[i].line, parse(buf), want);
	}
	/* a NUL in the request line */
	assert_int_equal(parse_n("GET /\0 HTTP/1.1\r\n\r\n", 19, MAX_HEAD), -400);
	assert_int_equal(parse_n("G\0T / HTTP/1.1\r\n\r\n", 18, MAX_HEAD), -400);
}

static void test_header_line(void **state)
{
	static const struct {
		const char *line;
		int want;
	} cases[] = {
		{ "Host : h", -400 },
		{ "Host\t: h", -400 },
		{ " Host: h", -400 },
		{ "\tHost: h", -400 },
		{ "NoColon", -400 },
		{ ": value", -400 },
		{ "Ho(st: h", -400 },
		{ "Ho\"st: h", -400 },
		{ "Ho/st: h", -400 },
		{ "H\xc3\xa9: h", -400 },
		{ "X: a\x01", -400 },
		{ "X: a\x1f", -400 },
		{ "X: a\x7f", -400 },
		{ "X: a\rb", -400 },
		{ "X: a\r\rb", -400 },
		{ "X: a\x0b", -400 },
		{ "X: a\x0c", -400 },
		{ "X:", 0 },
		{ "X: ", 0 },
		{ "X: \t ", 0 },
		{ "X: a\tb c", 0 },
		{ "X: \xc3\xa9\x80\xff", 0 },
		{ "X:!~\"(),/:;<=>?@[\\]{}", 0 },
		{ "X-Y_z.1!#$%&'*+^`|~: v", 0 },
	};
	(void)state;
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		char buf[256];
		int want = cases[i].want;
		snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n", cases[i].line);
		if(want == 0) want = (int)strlen(buf);
		if(parse(buf) != want) fail_msg("\"%s\": %d, want %d", cases[i].line, parse(buf), want);
	}
	/* obs-fold: a continuation line, as the first header line too */
	assert_int_equal(parse("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\n \r\n\r\n"), -400);
	/* a NUL in a value or a name */
	assert_int_equal(parse_n("GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 26, MAX_HEAD), -400);
	assert_int_equal(parse_n("GET / HTTP/1.1\r\nX\0: ab\r\n\r\n", 26, MAX_HEAD), -400);
	/* a bare CR at the end of a line before the LF is CRLF; a CR right
	 * after one is not */
	assert_int_equal(parse("GET / HTTP/1.1\r\nX: a\r\r\n\r\n"), -400);
}

static void test_values_trimmed(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nA:b\r\nB: \t x y \t \r\nC:\r\nD: \t\r\nE:\t\xff\r\n\r\n";
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s));
	assert_int_equal(rq.nheaders, 5);
	assert_header(0, "A", "b");
	assert_header(1, "B", "x y");
	assert_header(2, "C", "");
	assert_header(3, "D", "");
	assert_header(4, "E", "\xff");
}

/* A definite error is reported before the head is complete; a prefix that
 * could still be a head is not an error. */
static void test_incomplete(void **state)
{
	(void)state;
	assert_int_equal(parse_n("GET /\0", 6, MAX_HEAD), -400);
	assert_int_equal(parse_n("GET / HTTP/1.1\r\nX: \0", 20, MAX_HEAD), -400);
	assert_int_equal(parse("GET  "), -400);
	assert_int_equal(parse("GET x"), -400);
	assert_int_equal(parse("GET /a\x01"), -400);
	assert_int_equal(parse("GET / HTTP/1.1x"), -400);
	assert_int_equal(parse("GET / HTTP/1.1 "), -400);
	assert_int_equal(parse("GET / HTTP/1.1\rX"), -400);
	assert_int_equal(parse("GET / http"), -400);
	assert_int_equal(parse("GET / HTTP/2.0\r\n"), -505);
	assert_int_equal(parse("GET /\r\n"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost "), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\n "), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nX: a\r\n b"), -400);
	assert_int_equal(parse("GET / HTTP/1.1\r\nNoColon\r\n"), -400);
	/* these could still become a head */
	assert_int_equal(parse("G"), 0);
	assert_int_equal(parse("GET"), 0);
	assert_int_equal(parse("GET "), 0);
	assert_int_equal(parse("GET /"), 0);
	assert_int_equal(parse("GET / "), 0);
	assert_int_equal(parse("GET / HTT"), 0);
	assert_int_equal(parse("GET / HTTP/2.0"), 0);   /* 400 or 505: the line end says */
	assert_int_equal(parse("GET / HTTP/1.1"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\n"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost:"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h \t"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r"), 0);
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: h\r\n\r"), 0);
	assert_int_equal(parse_n("", 0, MAX_HEAD), 0);
	assert_int_equal(http1_parse_head(NULL, 0, MAX_HEAD, &rq), 0);
}

static void test_too_many_headers(void **state)
{
	char buf[4096];
	size_t n;
	(void)state;
	n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
	for(int i = 0; i < HTTP1_MAX_HEADERS; i++) n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%d: %d\r\n", i, i);
	/* as many as there is room for */
	assert_int_equal(parse_n(buf, n, MAX_HEAD), 0);
	snprintf(buf + n, sizeof(buf) - n, "\r\n");
	assert_int_equal(parse_at(buf), (int)n + 2);
	assert_int_equal(rq.nheaders, HTTP1_MAX_HEADERS);
	assert_header(HTTP1_MAX_HEADERS - 1, "X-63", "63");
	/* one more: known as soon as its first byte is there */
	snprintf(buf + n, sizeof(buf) - n, "X");
	assert_int_equal(parse(buf), -431);
	snprintf(buf + n, sizeof(buf) - n, "X: y\r\n\r\n");
	assert_int_equal(parse(buf), -431);
	/* but a CR may still be the blank line's */
	snprintf(buf + n, sizeof(buf) - n, "\r");
	assert_int_equal(parse(buf), 0);
}

static void test_too_long(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t len = strlen(s);
	char big[600];
	(void)state;
	/* exactly max_head long is taken, one byte more is not */
	assert_int_equal(parse_n(s, len, len), (int)len);
	assert_int_equal(parse_n(s, len, len - 1), -431);
	assert_int_equal(parse_n(s, len - 1, len - 1), -431);
	/* incomplete: 0 below max_head, 431 from it on */
	assert_int_equal(parse_n(s, len - 1, len), 0);
	assert_int_equal(parse_n(s, 10, 10), -431);
	assert_int_equal(parse_n(s, 10, 11), 0);
	assert_int_equal(parse_n(s, 0, 0), -431);
	/* a long header with no end */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
	assert_int_equal(parse_n(big, sizeof(big), 512), -431);
	assert_int_equal(parse_n(big, 511, 512), 0);
	/* a complete head longer than max_head, with more bytes after it */
	memcpy(big + 550, "\r\n\r\n", 4);
	assert_int_equal(parse_n(big, sizeof(big), 512), -431);
	assert_int_equal(parse_n(big, sizeof(big), 554), 554);
	/* an error before max_head is the error */
	big[100] = '\0';
	assert_int_equal(parse_n(big, sizeof(big), 512), -400);
	/* a max_head too large for the int returned */
	assert_int_equal(parse_n(s, len, (size_t)-1), (int)len);
}

static void test_content_length(void **state)
{
	static const struct {
		const char *headers;
		int want;
		unsigned long long len;
	} cases[] = {
		{ "", 0, 0 },
		{ "Content-Length: 0\r\n", 0, 0 },
		{ "Content-Length: 12\r\n", 0, 12 },
		{ "content-length:  12 \r\n", 0, 12 },
		{ "Content-Length: 007\r\n", 0, 7 },
		{ "Content-Length: 9223372036854775807\r\n", 0, 9223372036854775807ULL },
		{ "Content-Length: 00000000000000000000000000000009223372036854775807\r\n", 0, 9223372036854775807ULL },
		{ "Content-Length: 5\r\nContent-Length: 5\r\n", 0, 5 },
		{ "Content-Length: 5\r\nContent-Length: 05\r\n", 0, 5 },
		{ "Content-Length: 5\r\nContent-Length: 6\r\n", -400, 0 },
		{ "Content-Length: 5\r\nX: y\r\ncontent-length: 50\r\n", -400, 0 },
		{ "Content-Length: 12a\r\n", -400, 0 },
		{ "Content-Length: -1\r\n", -400, 0 },
		{ "Content-Length: +1\r\n", -400, 0 },
		{ "Content-Length: 1 2\r\n", -400, 0 },
		{ "Content-Length: 5, 5\r\n", -400, 0 },
		{ "Content-Length: 0x10\r\n", -400, 0 },
		{ "Content-Length:\r\n", -400, 0 },
		{ "Content-Length: 9223372036854775808\r\n", -400, 0 },
		{ "Content-Length: 18446744073709551616\r\n", -400, 0 },
		{ "Content-Length: 99999999999999999999999999999999999999\r\n", -400, 0 },
		{ "Transfer-Encoding: chunked\r\n", -501, 0 },
		{ "Transfer-Encoding: identity\r\n", -501, 0 },
		{ "transfer-encoding: gzip, chunked\r\n", -501, 0 },
		{ "Transfer-Encoding:\r\n", -501, 0 },
		{ "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", -501, 0 },
		{ "Content-Length: x\r\nTransfer-Encoding: chunked\r\n", -501, 0 },
	};
	(void)state;
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		char buf[256];
		unsigned long long len = 42;
		int r;
		snprintf(buf, sizeof(buf), "POST / HTTP/1.1\r\n%s\r\n", cases[i].headers);
		assert_int_equal(parse_at(buf), (int)strlen(buf));
		r = http1_body_length(&rq, &len);
		if(r != cases[i].want) fail_msg("\"%s\": %d, want %d", cases[i].headers, r, cases[i].want);
		if(r == 0) assert_int_equal(len, cases[i].len);
	}
}

static void test_find_count_join(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 198.51.100.1\r\n"
		"Accept: */*\r\nx-forwarded-for: 10.0.0.1, 10.0.0.2\r\nX-Empty:\r\n\r\n";
	const char *want = "198.51.100.1, 10.0.0.1, 10.0.0.2";
	const struct http1_header *h;
	char out[64];
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s));
	h = http1_find(&rq, "x-FORWARDED-for");
	assert_non_null(h);
	assert_ptr_equal(h, &rq.headers[1]);
	assert_null(http1_find(&rq, "X-Forwarded"));
	assert_null(http1_find(&rq, "X-Forwarded-For2"));
	assert_null(http1_find(&rq, ""));
	assert_ptr_equal(http1_find(&rq, "x-empty"), &rq.headers[4]);
	assert_int_equal(http1_count(&rq, "X-Forwarded-For"), 2);
	assert_int_equal(http1_count(&rq, "HOST"), 1);
	assert_int_equal(http1_count(&rq, "Cookie"), 0);
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, sizeof(out)), (int)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(http1_join(&rq, "host", out, sizeof(out)), 1);
	assert_string_equal(out, "h");
	assert_int_equal(http1_join(&rq, "X-Empty", out, sizeof(out)), 0);
	assert_string_equal(out, "");
	/* room for the NUL, or not */
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, strlen(want) + 1), (int)strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, strlen(want)), -1);
	assert_string_equal(out, "");
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, 13), -1);
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, 14), -1);
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, 1), -1);
	assert_int_equal(http1_join(&rq, "X-Forwarded-For", out, 0), -1);
	assert_int_equal(http1_join(&rq, "Host", out, 1), -1);
	assert_int_equal(http1_join(&rq, "X-Empty", out, 1), 0);
	/* absent */
	strcpy(out, "x");
	assert_int_equal(http1_join(&rq, "Forwarded", out, sizeof(out)), -1);
	assert_string_equal(out, "");
}

static void test_list_has(void **state)
{
	const char *v = "Upgrade, keep-alive";
	(void)state;
	assert_true(http1_list_has(v, strlen(v), "keep-alive"));
	assert_true(http1_list_has(v, strlen(v), "upgrade"));
	assert_true(http1_list_has(v, strlen(v), "KEEP-ALIVE"));
	assert_false(http1_list_has(v, strlen(v), "keep"));
	assert_false(http1_list_has(v, strlen(v), "alive"));
	assert_false(http1_list_has(v, strlen(v), "Upgrade, keep-alive"));
	assert_false(http1_list_has(v, strlen(v), "close"));
	assert_false(http1_list_has(v, strlen(v), ""));
	/* only the first len bytes */
	assert_false(http1_list_has(v, 7, "keep-alive"));
	assert_true(http1_list_has(v, 7, "upgrade"));
	assert_false(http1_list_has(v, 6, "upgrade"));
	v = " \t, ,close\t ,, websocket ";
	assert_true(http1_list_has(v, strlen(v), "close"));
	assert_true(http1_list_has(v, strlen(v), "websocket"));
	assert_false(http1_list_has(v, strlen(v), ""));
	assert_false(http1_list_has(v, strlen(v), "clos"));
	v = "keep-alive2,xkeep-alive,keep alive";
	assert_false(http1_list_has(v, strlen(v), "keep-alive"));
	assert_true(http1_list_has(v, strlen(v), "keep alive"));
	assert_false(http1_list_has("", 0, "close"));
	assert_false(http1_list_has(NULL, 0, "close"));
	assert_true(http1_list_has("close", 5, "close"));
}

static void test_header_has(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nConnection: keep-alive\r\nUpgrade: WebSocket\r\n"
		"X: upgrade\r\nconnection: Upgrade\r\n\r\n";
	(void)state;
	assert_int_equal(parse_at(s), (int)strlen(s));
	assert_true(http1_header_has(&rq, "Connection", "upgrade"));
	assert_true(http1_header_has(&rq, "CONNECTION", "keep-alive"));
	assert_false(http1_header_has(&rq, "Connection", "close"));
	assert_true(http1_header_has(&rq, "upgrade", "websocket"));
	assert_false(http1_header_has(&rq, "Upgrade", "h2c"));
	assert_false(http1_header_has(&rq, "Host", "upgrade"));
}

static void check_keep_alive(const char *s, bool want)
{
	assert_int_equal(parse_at(s), (int)strlen(s));
	if(http1_keep_alive(&rq) != want) fail_msg("%s: keep_alive %d, want %d", s, !want, want);
}

static void test_keep_alive(void **state)
{
	(void)state;
	check_keep_alive("GET / HTTP/1.1\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false);
	check_keep_alive("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n", false);
	check_keep_alive("GET / HTTP/1.1\r\nConnection: Upgrade\r\nConnection: close\r\n\r\n", false);
	check_keep_alive("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.0\r\n\r\n", false);
	check_keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.0\r\nConnection: Upgrade, keep-alive\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.1\r\nConnection: Upgrade, keep-alive\r\n\r\n", true);
	check_keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false);
	check_keep_alive("GET / HTTP/1.0\r\nKeep-Alive: timeout=5\r\n\r\n", false);
	check_keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive-ish\r\n\r\n", false);
}

/* The path of target in a head, or NULL when http1_path refuses it. */
static void check_path(const char *target, const char *want)
{
	char buf[512], out[256];
	int r;
	snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\n\r\n", target);
	assert_int_equal(parse_at(buf), (int)strlen(buf));
	memset(out, 'x', sizeof(out));
	r = http1_path(&rq, out, sizeof(out));
	if(!want){
		if(r != -1) fail_msg("%s: %d \"%s\", want -1", target, r, out);
		return;
	}
	if(r != (int)strlen(want)) fail_msg("%s: %d, want \"%s\"", target, r, want);
	assert_string_equal(out, want);
}

static void test_path(void **state)
{
	struct http1_request fake;
	char out[16];
	(void)state;
	check_path("/", "/");
	check_path("/a/b", "/a/b");
	check_path("/a/b/", "/a/b/");
	check_path("/a%20b", "/a b");
	check_path("/%41%6a%6A", "/Ajj");
	check_path("/a+b", "/a+b");
	check_path("/caf%C3%A9", "/caf\xc3\xa9");
	check_path("/a%2fb", "/a/b");
	check_path("//a//b", "//a//b");
	check_path("/p?x=1&y=%2e%2e", "/p");
	check_path("/?q", "/");
	check_path("/a/.b", "/a/.b");
	check_path("/a/b.", "/a/b.");
	check_path("/a/..b", "/a/..b");
	check_path("/a/b..", "/a/b..");
	check_path("/...", "/...");
	check_path("/a/.../b", "/a/.../b");
	check_path("/.well-known/x", "/.well-known/x");
	check_path("/%25", "/%");
	check_path("/%252e%252e", "/%2e%2e");
	/* dot segments, encoded or not */
	check_path("/.", NULL);
	check_path("/..", NULL);
	check_path("/./", NULL);
	check_path("/../", NULL);
	check_path("/a/.", NULL);
	check_path("/a/..", NULL);
	check_path("/a/./b", NULL);
	check_path("/a/../b", NULL);
	check_path("/a/%2e%2e/b", NULL);
	check_path("/a/%2E%2E/b", NULL);
	check_path("/a/.%2e/b", NULL);
	check_path("/a/%2e./b", NULL);
	check_path("/a/%2e/b", NULL);
	check_path("/%2e", NULL);
	check_path("/a%2f..%2fb", NULL);
	check_path("/a%2F.", NULL);
	check_path("//..", NULL);
	check_path("/..?x", NULL);
	/* bad escapes, NUL */
	check_path("/%G1", NULL);
	check_path("/%1G", NULL);
	check_path("/%4", NULL);
	check_path("/a%", NULL);
	check_path("/%", NULL);
	check_path("/%%41", NULL);
	check_path("/%4?1", NULL);
	check_path("/%00", NULL);
	check_path("/a%00b", NULL);
	/* room for the NUL, or not */
	assert_int_equal(parse_at("GET /abcdef?q HTTP/1.1\r\n\r\n"), 26);
	assert_int_equal(http1_path(&rq, out, 8), 7);
	assert_string_equal(out, "/abcdef");
	assert_int_equal(http1_path(&rq, out, 7), -1);
	assert_int_equal(http1_path(&rq, out, 0), -1);
	assert_int_equal(parse_at("GET /%41%42%43%44%45%46%47 HTTP/1.1\r\n\r\n"), 39);
	assert_int_equal(http1_path(&rq, out, 8), -1);
	assert_int_equal(http1_path(&rq, out, 9), 8);
	assert_string_equal(out, "/ABCDEFG");
	/* a target the parser would not give */
	memset(&fake, 0, sizeof(fake));
	fake.target = "a/b";
	fake.target_len = 3;
	assert_int_equal(http1_path(&fake, out, sizeof(out)), -1);
	fake.target = "?a";
	fake.target_len = 2;
	assert_int_equal(http1_path(&fake, out, sizeof(out)), -1);
	fake.target = NULL;
	fake.target_len = 0;
	assert_int_equal(http1_path(&fake, out, sizeof(out)), -1);
}

static void test_query(void **state)
{
	size_t len = 99;
	const char *q;
	(void)state;
	assert_true(parse_at("GET /p?a=1&b=%20+ HTTP/1.1\r\n\r\n") > 0);
	q = http1_query(&rq, &len);
	assert_non_null(q);
	assert_int_equal(len, 10);
	assert_memory_equal(q, "a=1&b=%20+", 10);
	assert_true(parse_at("GET /p HTTP/1.1\r\n\r\n") > 0);
	len = 99;
	assert_null(http1_query(&rq, &len));
	assert_int_equal(len, 0);
	assert_true(parse_at("GET /p? HTTP/1.1\r\n\r\n") > 0);
	len = 99;
	q = http1_query(&rq, &len);
	assert_non_null(q);
	assert_int_equal(len, 0);
	assert_ptr_equal(q, rq.target + rq.target_len);
	assert_true(parse_at("GET /?a?b=/.. HTTP/1.1\r\n\r\n") > 0);
	q = http1_query(&rq, &len);
	assert_non_null(q);
	assert_int_equal(len, 7);
	assert_memory_equal(q, "a?b=/..", 7);
}

static void check_decode(const char *in, bool plus, const char *want)
{
	char out[64];
	int r;
	memset(out, 'x', sizeof(out));
	r = http1_decode(in, strlen(in), plus, out, sizeof(out));
	if(!want){
		if(r != -1) fail_msg("%s: %d, want -1", in, r);
		return;
	}
	if(r != (int)strlen(want)) fail_msg("%s: %d, want \"%s\"", in, r, want);
	assert_string_equal(out, want);
}

static void test_decode(void **state)
{
	char out[4];
	(void)state;
	check_decode("", false, "");
	check_decode("abc", false, "abc");
	check_decode("a+b%20c", true, "a b c");
	check_decode("a+b%20c", false, "a+b c");
	check_decode("%2B+", true, "+ ");
	check_decode("%2b", false, "+");
	check_decode("%c3%A9", false, "\xc3\xa9");
	check_decode("%ff%80", false, "\xff\x80");
	check_decode("%7e%7E", false, "~~");
	check_decode("%2e%2e/", false, "../");
	check_decode("%zz", false, NULL);
	check_decode("%g0", false, NULL);
	check_decode("%0g", false, NULL);
	check_decode("%4", false, NULL);
	check_decode("ab%", false, NULL);
	check_decode("%", true, NULL);
	check_decode("%+1", true, NULL);
	check_decode("% 1", true, NULL);
	check_decode("%00", false, NULL);
	check_decode("a%00", true, NULL);
	/* a raw NUL, and bytes past len */
	assert_int_equal(http1_decode("a\0b", 3, false, out, sizeof(out)), -1);
	assert_int_equal(http1_decode("ab%41", 2, false, out, sizeof(out)), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(http1_decode("ab%4", 4, false, out, sizeof(out)), -1);
	/* room for the NUL, or not */
	assert_int_equal(http1_decode("abc", 3, false, out, 4), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(http1_decode("abcd", 4, false, out, 4), -1);
	assert_string_equal(out, "");
	assert_int_equal(http1_decode("%41%42%43", 9, false, out, 4), 3);
	assert_string_equal(out, "ABC");
	assert_int_equal(http1_decode("%41%42%43%44", 12, false, out, 4), -1);
	assert_int_equal(http1_decode("", 0, false, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(http1_decode("", 0, false, out, 0), -1);
	assert_int_equal(http1_decode("a", 1, false, out, 1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_get),
		cmocka_unit_test(test_post_content_length),
		cmocka_unit_test(test_pipelined),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_lf_only),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_request_line),
		cmocka_unit_test(test_header_line),
		cmocka_unit_test(test_values_trimmed),
		cmocka_unit_test(test_incomplete),
		cmocka_unit_test(test_too_many_headers),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_find_count_join),
		cmocka_unit_test(test_list_has),
		cmocka_unit_test(test_header_has),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_path),
		cmocka_unit_test(test_query),
		cmocka_unit_test(test_decode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
