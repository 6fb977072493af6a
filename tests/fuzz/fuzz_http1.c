/* mapping/http1.c: the request heads a peer sends. The input is a byte
 * stream of pipelined heads, parsed one after the other from the same buffer
 * as plugin/front.c does (each at the end of the one before; a body is not
 * skipped, its bytes are parsed as the next head). Each complete head is
 * checked (every pointer inside it, the header lines as the grammar has
 * them) and goes through every accessor; each result, and what its prefixes
 * and tighter limits give, must agree with the others. */
#include "fuzz.h"
#include "http1.h"

#define MAX_HEAD 8192

static bool tchar(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(c && memchr("!#$%&'*+-.^_`|~", c, 15));
}

static bool inside(const char *p, size_t n, const char *base, size_t len)
{
	return p >= base && n <= len && (size_t)(p - base) <= len - n;
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

static bool ieq(const char *a, const char *b, size_t n)
{
	for(size_t i = 0; i < n; i++){
		if(lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
	}
	return true;
}

/* The parse of p[0..k) from a block of exactly k bytes (ASan sees a read
 * past k): 0, or what the whole gave (r). */
static void check_prefix(const char *p, size_t k, int r)
{
	struct http1_request rq;
	char *copy = fuzz_copy((const uint8_t *)p, k);
	int rk = http1_parse_head(copy, k, MAX_HEAD, &rq);
	FUZZ_CHECK(rk == 0 || rk == r);
	if(r > 0 && k < (size_t)r) FUZZ_CHECK(rk == 0);
	free(copy);
}

static void check_path(const struct http1_request *rq)
{
	char *out = malloc(rq->target_len + 1), small[8];
	int r, rs;

	if(!out) abort();
	r = http1_path(rq, out, rq->target_len + 1);
	if(r >= 0){
		FUZZ_CHECK((size_t)r <= rq->target_len && strlen(out) == (size_t)r && out[0] == '/');
		/* no "." or ".." segment is left after decoding */
		for(int i = 0; i < r; i++){
			int s = i + 1, e = s;
			if(out[i] != '/') continue;
			while(e < r && out[e] != '/') e++;
			FUZZ_CHECK(!(e - s == 1 && out[s] == '.'));
			FUZZ_CHECK(!(e - s == 2 && out[s] == '.' && out[s + 1] == '.'));
		}
	}
	/* a smaller buffer: the same path if it fits, else -1 */
	rs = http1_path(rq, small, sizeof(small));
	if(r >= 0 && (size_t)r < sizeof(small)) FUZZ_CHECK(rs == r && !strcmp(small, out));
	else FUZZ_CHECK(rs == -1);
	free(out);
}

static void check_query(const struct http1_request *rq)
{
	size_t qlen = 99;
	const char *q = http1_query(rq, &qlen);
	bool has_q = memchr(rq->target, '?', rq->target_len) != NULL;
	char *out;

	FUZZ_CHECK(has_q == (q != NULL));
	if(!q){
		FUZZ_CHECK(qlen == 0);
		return;
	}
	FUZZ_CHECK(inside(q, qlen, rq->target, rq->target_len) && q + qlen == rq->target + rq->target_len);
	FUZZ_CHECK(q[-1] == '?');
	out = malloc(qlen + 1);
	if(!out) abort();
	for(int plus = 0; plus < 2; plus++){
		int r = http1_decode(q, qlen, plus, out, qlen + 1);
		FUZZ_CHECK(r == -1 || ((size_t)r <= qlen && strlen(out) == (size_t)r));
		if(plus && r >= 0) FUZZ_CHECK(!memchr(out, '+', (size_t)r) || memchr(q, '%', qlen));
	}
	free(out);
}

static void check_headers(const struct http1_request *rq, const char *p, size_t head_len)
{
	size_t room = 1;
	char *joined;

	for(size_t i = 0; i < rq->nheaders; i++) room += rq->headers[i].value_len + 2;
	joined = malloc(room);
	if(!joined) abort();
	for(size_t i = 0; i < rq->nheaders; i++){
		const struct http1_header *h = &rq->headers[i], *f;
		char *name, small[16];
		size_t count;
		int r, rs;

		FUZZ_CHECK(inside(h->name, h->name_len, p, head_len) && inside(h->value, h->value_len, p, head_len));
		FUZZ_CHECK(h->name_len > 0 && h->name[h->name_len] == ':');
		for(size_t j = 0; j < h->name_len; j++) FUZZ_CHECK(tchar((unsigned char)h->name[j]));
		for(size_t j = 0; j < h->value_len; j++){
			unsigned char c = (unsigned char)h->value[j];
			FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
		}
		if(h->value_len){
			FUZZ_CHECK(h->value[0] != ' ' && h->value[0] != '\t');
			FUZZ_CHECK(h->value[h->value_len - 1] != ' ' && h->value[h->value_len - 1] != '\t');
		}
		name = fuzz_cstr((const uint8_t *)h->name, h->name_len);
		f = http1_find(rq, name);
		FUZZ_CHECK(f && f <= h && f->name_len == h->name_len && ieq(f->name, name, h->name_len));
		count = http1_count(rq, name);
		FUZZ_CHECK(count >= 1 && count <= rq->nheaders);
		r = http1_join(rq, name, joined, room);
		FUZZ_CHECK(r >= 0 && strlen(joined) == (size_t)r && (size_t)r >= h->value_len);
		/* every line of it, and a ", " between two */
		{
			size_t want = 2 * (count - 1);
			for(size_t j = 0; j < rq->nheaders; j++){
				const struct http1_header *o = &rq->headers[j];
				if(o->name_len == h->name_len && ieq(o->name, name, h->name_len)) want += o->value_len;
			}
			FUZZ_CHECK((size_t)r == want && (size_t)r < room);
		}
		rs = http1_join(rq, name, small, sizeof(small));
		if((size_t)r < sizeof(small)) FUZZ_CHECK(rs == r && !strcmp(small, joined));
		else FUZZ_CHECK(rs == -1 && small[0] == '\0');
		if(http1_list_has(h->value, h->value_len, "close")) FUZZ_CHECK(http1_header_has(rq, name, "close"));
		http1_list_has(h->value, h->value_len, "keep-alive");
		http1_header_has(rq, name, "websocket");
		free(name);
	}
	free(joined);
	FUZZ_CHECK(http1_join(rq, "No-Such-Header", NULL, 0) == -1);
	FUZZ_CHECK(!http1_find(rq, "No-Such-Header") && http1_count(rq, "No-Such-Header") == 0);
}

/* A head parsed from p (rem bytes): r = its length. */
static void check_head(const struct http1_request *rq, const char *p, size_t rem, int r)
{
	size_t head_len = (size_t)r;
	unsigned long long body = 1;
	int b;
	bool ka;

	FUZZ_CHECK(rq->head_len == head_len && head_len <= rem && head_len <= MAX_HEAD);
	FUZZ_CHECK(p[head_len - 1] == '\n');
	FUZZ_CHECK(rq->minor == 0 || rq->minor == 1);
	FUZZ_CHECK(rq->nheaders <= HTTP1_MAX_HEADERS);
	FUZZ_CHECK(rq->method_len > 0 && inside(rq->method, rq->method_len, p, head_len));
	FUZZ_CHECK(rq->method[rq->method_len] == ' ');
	for(size_t j = 0; j < rq->method_len; j++) FUZZ_CHECK(tchar((unsigned char)rq->method[j]));
	FUZZ_CHECK(rq->target_len > 0 && inside(rq->target, rq->target_len, p, head_len));
	FUZZ_CHECK(rq->target == rq->method + rq->method_len + 1 && rq->target[0] == '/');
	for(size_t j = 0; j < rq->target_len; j++){
		unsigned char c = (unsigned char)rq->target[j];
		FUZZ_CHECK(c >= 0x21 && c <= 0x7e);
	}
	FUZZ_CHECK(!memcmp(rq->target + rq->target_len, rq->minor ? " HTTP/1.1" : " HTTP/1.0", 9));
	check_headers(rq, p, head_len);
	b = http1_body_length(rq, &body);
	FUZZ_CHECK(b == 0 || b == -400 || b == -501);
	FUZZ_CHECK((b == -501) == (http1_find(rq, "Transfer-Encoding") != NULL));
	if(b == 0){
		FUZZ_CHECK(body <= 0x7fffffffffffffffULL);
		if(!http1_find(rq, "Content-Length")) FUZZ_CHECK(body == 0);
	}
	ka = http1_keep_alive(rq);
	if(http1_header_has(rq, "Connection", "close")) FUZZ_CHECK(!ka);
	else if(rq->minor == 1) FUZZ_CHECK(ka);
	else FUZZ_CHECK(ka == http1_header_has(rq, "Connection", "keep-alive"));
	check_path(rq);
	check_query(rq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct http1_request *rq = malloc(sizeof(*rq)), *rq2 = malloc(sizeof(*rq2));
	size_t off = 0;
	char *out = malloc(size + 1);

	if(!rq || !rq2 || !out) abort();
	/* the decoder and the list on the whole input, whatever it holds */
	{
		int r = http1_decode(buf, size, size & 1, out, size + 1);
		FUZZ_CHECK(r == -1 || ((size_t)r <= size && strlen(out) == (size_t)r));
		http1_list_has(buf, size, "close");
	}
	for(;;){
		const char *p = buf + off;
		size_t rem = size - off;
		int r = http1_parse_head(p, rem, MAX_HEAD, rq);

		FUZZ_CHECK(r >= 0 || r == -400 || r == -431 || r == -505);
		/* a prefix is incomplete or says the same (an error as soon as
		 * it has arrived, never one a later byte could undo) */
		if(rem > 1){
			check_prefix(p, rem / 2, r);
			check_prefix(p, rem - 1, r);
		}
		if(r <= 0) break;
		/* one byte short of the head, and the head alone (plugin/front.c
		 * parses its copy of the head again) */
		check_prefix(p, (size_t)r - 1, r);
		check_prefix(p, (size_t)r, r);
		/* the same head with max_head its length, and one byte less */
		FUZZ_CHECK(http1_parse_head(p, rem, (size_t)r, rq2) == r && rq2->nheaders == rq->nheaders);
		FUZZ_CHECK(http1_parse_head(p, rem, (size_t)r - 1, rq2) == -431);
		check_head(rq, p, rem, r);
		off += (size_t)r;
	}
	free(out);
	free(rq2);
	free(rq);
	free(buf);
	return 0;
}
