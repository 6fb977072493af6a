/* Unit tests for mapping/stoken.c (HMAC session tokens) and the base64url
 * helpers of mapping/jsonutil.c they are built on. The contract is stoken.h
 * and jsonutil.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jsonutil.h"
#include "stoken.h"

static const unsigned char secret[STOKEN_SECRET_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char other_secret[STOKEN_SECRET_LEN] = "0123456789abcdef0123456789abcdeF";

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* A string of n copies of unit (caller frees). */
static char *repeat(const char *unit, size_t n)
{
	size_t ulen = strlen(unit);
	char *s = malloc(ulen * n + 1);
	assert_non_null(s);
	for(size_t i = 0; i < n; i++) memcpy(s + i * ulen, unit, ulen);
	s[ulen * n] = '\0';
	return s;
}

/* ---- jsonutil_b64url_encode / decode ---- */

static void b64_enc(const char *in, const char *want)
{
	char *out = jsonutil_b64url_encode(in, strlen(in));
	assert_non_null(out);
	if(strcmp(out, want)) fail_msg("encode \"%s\": got \"%s\", expected \"%s\"", in, out, want);
	free(out);
}

static void b64_dec(const char *in, const void *want, size_t want_len)
{
	size_t n = 12345;
	unsigned char *out = jsonutil_b64url_decode(in, strlen(in), &n);
	if(!out) fail_msg("decode \"%s\": refused", in);
	if(n != want_len) fail_msg("decode \"%s\": %zu bytes, expected %zu", in, n, want_len);
	assert_memory_equal(out, want, want_len);
	assert_int_equal(out[n], '\0');   /* NUL-terminated */
	free(out);
}

static void b64_dec_bad(const char *in, size_t len)
{
	size_t n = 0;
	unsigned char *out = jsonutil_b64url_decode(in, len, &n);
	if(out){
		free(out);
		fail_msg("decode \"%.*s\" (%zu bytes): accepted (%zu bytes), expected refusal", (int)len, in, len, n);
	}
}

static void test_b64url_vectors(void **state)
{
	static const unsigned char bin[] = { 0xFB, 0xFF, 0xBF, 0x00, 0x3E, 0x3F };
	char *out;
	(void)state;

	/* RFC 4648 section 10, without padding */
	b64_enc("", "");
	b64_enc("f", "Zg");
	b64_enc("fo", "Zm8");
	b64_enc("foo", "Zm9v");
	b64_enc("foob", "Zm9vYg");
	b64_enc("fooba", "Zm9vYmE");
	b64_enc("foobar", "Zm9vYmFy");
	b64_dec("", "", 0);
	b64_dec("Zg", "f", 1);
	b64_dec("Zm8", "fo", 2);
	b64_dec("Zm9v", "foo", 3);
	b64_dec("Zm9vYg", "foob", 4);
	b64_dec("Zm9vYmE", "fooba", 5);
	b64_dec("Zm9vYmFy", "foobar", 6);

	/* the url-safe characters, never '+', '/' or '=' */
	out = jsonutil_b64url_encode(bin, sizeof(bin));
	assert_non_null(out);
	assert_string_equal(out, "-_-_AD4_");
	free(out);
	b64_dec("-_-_AD4_", bin, sizeof(bin));
	out = jsonutil_b64url_encode(bin, 1);
	assert_string_equal(out, "-w");
	free(out);

	/* only len bytes are read */
	{
		size_t n = 0;
		unsigned char *d = jsonutil_b64url_decode("Zm9vYmFy", 4, &n);
		assert_non_null(d);
		assert_int_equal(n, 3);
		assert_memory_equal(d, "foo", 3);
		free(d);
	}
}

static void test_b64url_round_trip(void **state)
{
	unsigned char buf[64];
	(void)state;

	srand(20240611);
	for(int round = 0; round < 50; round++){
		for(size_t len = 0; len <= 64; len++){
			char *enc;
			unsigned char *dec;
			size_t n = 99999;
			for(size_t i = 0; i < len; i++) buf[i] = (unsigned char)(rand() & 0xFF);
			if(round == 0) memset(buf, 0xFF, len);
			if(round == 1) memset(buf, 0x00, len);
			enc = jsonutil_b64url_encode(buf, len);
			assert_non_null(enc);
			/* unpadded length, alphabet only */
			assert_int_equal(strlen(enc), (len * 4 + 2) / 3);
			assert_int_equal(strspn(enc, b64url_alphabet), strlen(enc));
			dec = jsonutil_b64url_decode(enc, strlen(enc), &n);
			assert_non_null(dec);
			assert_int_equal(n, len);
			if(len) assert_memory_equal(dec, buf, len);
			assert_int_equal(dec[n], '\0');
			free(dec);
			free(enc);
		}
	}
}

static void test_b64url_reject(void **state)
{
	(void)state;
	b64_dec_bad("Zm9v+", 5);
	b64_dec_bad("Zm/9", 4);
	b64_dec_bad("Zm9v+A", 6);
	b64_dec_bad("Zm 9v", 5);
	b64_dec_bad("Zm9v\n", 5);
	b64_dec_bad("Zm9v.", 5);
	b64_dec_bad("Z*", 2);
	b64_dec_bad("Zm\0v", 4);                 /* NUL inside len */
	b64_dec_bad("Zm9v\xC3\xA9", 6);          /* non-ASCII */
	b64_dec_bad("\xFF\xFF", 2);
	b64_dec_bad("!!!!", 4);
}

static void test_b64url_padding(void **state)
{
	(void)state;
	/* padding at the end is tolerated */
	b64_dec("Zg==", "f", 1);
	b64_dec("Zm8=", "fo", 2);
	b64_dec("Zm9vYg==", "foob", 4);
	b64_dec("Zm9vYmE=", "fooba", 5);
}

/* '=' anywhere else is not padding: a character after it, or '=' in the
 * middle, must be refused like any other non-base64url character. */
static void test_b64url_padding_not_at_end(void **state)
{
	static const char *const inputs[] = {
		"=Zm9v", "Zm=9v", "Zm9v=Zm9v", "Zg==Zg==",
		"Zm=v", "Zg=A", "Z=g", "Zm9v=A", "Zg=A=",   /* '=' followed by a data character */
	};
	char report[1024] = "";
	size_t off = 0;
	(void)state;
	for(size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++){
		size_t n = 0;
		unsigned char *out = jsonutil_b64url_decode(inputs[i], strlen(inputs[i]), &n);
		if(out){
			off += (size_t)snprintf(report + off, sizeof(report) - off, " \"%s\" -> %zu bytes \"%.*s\";",
					inputs[i], n, (int)n, (const char *)out);
			free(out);
		}
	}
	if(off) fail_msg("accepted, expected refusal:%s", report);
}

/* ---- stoken ---- */

/* Checks and expects success with client id want_client. */
static void check_ok(const unsigned char *sec, const char *token, int64_t now, const char *bind, const char *want_client)
{
	char *client = (char *)"sentinel";
	const char *err = stoken_check(sec, token, now, bind, &client);
	if(err) fail_msg("token %.60s...: %s, expected success", token, err);
	assert_non_null(client);
	assert_string_equal(client, want_client);
	free(client);
}

static void check_bad(const unsigned char *sec, const char *token, int64_t now, const char *bind, const char *want)
{
	char *client = (char *)"sentinel";
	const char *err = stoken_check(sec, token, now, bind, &client);
	if(!err){
		char got[64];
		snprintf(got, sizeof(got), "%s", client ? client : "(null)");
		free(client);
		fail_msg("token \"%.80s\": accepted (client %s), expected %s", token ? token : "(null)", got, want);
	}
	if(strcmp(err, want)) fail_msg("token \"%.80s\": %s, expected %s", token ? token : "(null)", err, want);
	assert_null(client);
}

/* A token whose body is the base64url of `body_text`, correctly signed with sec. */
static char *signed_token(const unsigned char *sec, const char *body_text)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *body = jsonutil_b64url_encode(body_text, strlen(body_text));
	char *m, *tok;
	assert_non_null(body);
	assert_non_null(HMAC(EVP_sha256(), sec, STOKEN_SECRET_LEN, (const unsigned char *)body, strlen(body), mac, &maclen));
	m = jsonutil_b64url_encode(mac, maclen);
	tok = malloc(strlen(body) + strlen(m) + 2);
	assert_non_null(tok);
	sprintf(tok, "%s.%s", body, m);
	free(body);
	free(m);
	return tok;
}

/* Same, with a raw (not base64url-encoded) body. */
static char *signed_raw(const unsigned char *sec, const char *body)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *m, *tok;
	assert_non_null(HMAC(EVP_sha256(), sec, STOKEN_SECRET_LEN, (const unsigned char *)body, strlen(body), mac, &maclen));
	m = jsonutil_b64url_encode(mac, maclen);
	tok = malloc(strlen(body) + strlen(m) + 2);
	assert_non_null(tok);
	sprintf(tok, "%s.%s", body, m);
	free(m);
	return tok;
}

static void test_round_trip(void **state)
{
	char *t;
	const char *dot;
	(void)state;

	t = stoken_make(secret, "client-1", 2000, "10.0.0.1");
	assert_non_null(t);
	/* body "." mac, both base64url */
	dot = strchr(t, '.');
	assert_non_null(dot);
	assert_null(strchr(dot + 1, '.'));
	assert_int_equal(strspn(t, b64url_alphabet), (size_t)(dot - t));
	assert_int_equal(strspn(dot + 1, b64url_alphabet), strlen(dot + 1));
	assert_int_equal(strlen(dot + 1), 43);   /* 32-byte HMAC-SHA256 */
	check_ok(secret, t, 1000, "10.0.0.1", "client-1");
	check_ok(secret, t, 1999, "10.0.0.1", "client-1");
	check_ok(secret, t, 1000, NULL, "client-1");   /* NULL bind: not checked */
	check_ok(secret, t, -5, NULL, "client-1");

	/* the body is the documented JSON */
	{
		size_t n;
		unsigned char *raw = jsonutil_b64url_decode(t, (size_t)(dot - t), &n);
		json_t *o;
		assert_non_null(raw);
		o = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
		assert_true(json_is_object(o));
		assert_string_equal(json_string_value(json_object_get(o, "c")), "client-1");
		assert_true(json_is_integer(json_object_get(o, "e")));
		assert_int_equal(json_integer_value(json_object_get(o, "e")), 2000);
		assert_string_equal(json_string_value(json_object_get(o, "b")), "10.0.0.1");
		json_decref(o);
		free(raw);
	}
	free(t);

	/* the same inputs give the same token; another client another one */
	{
		char *a = stoken_make(secret, "c", 5, "b");
		char *b = stoken_make(secret, "c", 5, "b");
		char *c = stoken_make(secret, "d", 5, "b");
		char *d = stoken_make(other_secret, "c", 5, "b");
		assert_string_equal(a, b);
		assert_string_not_equal(a, c);
		assert_string_not_equal(a, d);
		free(a);
		free(b);
		free(c);
		free(d);
	}

	/* client ids with characters that need escaping in JSON, and UTF-8 */
	t = stoken_make(secret, "a\"b\\c/d\xC3\xA9 \xF0\x9F\x98\x80", 100, NULL);
	assert_non_null(t);
	check_ok(secret, t, 0, NULL, "a\"b\\c/d\xC3\xA9 \xF0\x9F\x98\x80");
	free(t);

	/* large expiry */
	t = stoken_make(secret, "far", INT64_C(4102444800000), NULL);
	assert_non_null(t);
	check_ok(secret, t, INT64_C(4102444799999), NULL, "far");
	check_bad(secret, t, INT64_C(4102444800000), NULL, "EXPIRED");
	free(t);

	/* empty client id round-trips */
	t = stoken_make(secret, "", 100, NULL);
	assert_non_null(t);
	check_ok(secret, t, 0, NULL, "");
	free(t);
}

static void test_expired(void **state)
{
	char *t = stoken_make(secret, "client-1", 2000, "h");
	(void)state;
	assert_non_null(t);
	check_ok(secret, t, 1999, "h", "client-1");
	check_bad(secret, t, 2000, "h", "EXPIRED");   /* now >= exp */
	check_bad(secret, t, 2001, "h", "EXPIRED");
	check_bad(secret, t, 1000000, NULL, "EXPIRED");
	free(t);

	t = stoken_make(secret, "client-1", 0, NULL);
	check_bad(secret, t, 0, NULL, "EXPIRED");
	check_ok(secret, t, -1, NULL, "client-1");
	free(t);
}

static void test_binding(void **state)
{
	char *t = stoken_make(secret, "client-1", 2000, "10.0.0.1");
	(void)state;
	assert_non_null(t);
	check_ok(secret, t, 1000, "10.0.0.1", "client-1");
	check_bad(secret, t, 1000, "10.0.0.2", "BINDING");
	check_bad(secret, t, 1000, "10.0.0.1 ", "BINDING");
	check_bad(secret, t, 1000, "10.0.0.", "BINDING");
	check_bad(secret, t, 1000, "", "BINDING");
	check_ok(secret, t, 1000, NULL, "client-1");
	free(t);

	/* made without a binding: any given binding is not the token's */
	t = stoken_make(secret, "client-2", 2000, NULL);
	assert_non_null(t);
	check_ok(secret, t, 1000, NULL, "client-2");
	check_bad(secret, t, 1000, "10.0.0.1", "BINDING");
	free(t);
}

static void test_tampered(void **state)
{
	char *t = stoken_make(secret, "client-1", 2000, "h");
	char *u;
	size_t blen, len;
	(void)state;
	assert_non_null(t);
	len = strlen(t);
	blen = (size_t)(strchr(t, '.') - t);

	/* every single-character change in the body or the mac */
	for(size_t i = 0; i < len; i++){
		if(i == blen) continue;
		u = strdup(t);
		assert_non_null(u);
		u[i] = u[i] == 'A' ? 'B' : 'A';
		check_bad(secret, u, 1000, "h", "SIGNATURE");
		free(u);
	}

	/* truncated or extended mac, mac removed */
	u = strdup(t);
	u[len - 1] = '\0';
	check_bad(secret, u, 1000, "h", "SIGNATURE");
	u[blen + 1] = '\0';
	check_bad(secret, u, 1000, "h", "SIGNATURE");
	free(u);
	u = malloc(len + 2);
	sprintf(u, "%sA", t);
	check_bad(secret, u, 1000, "h", "SIGNATURE");
	sprintf(u, "%s.", t);
	check_bad(secret, u, 1000, "h", "SIGNATURE");
	free(u);

	/* another token's body with this mac, and the other way round */
	{
		char *o = stoken_make(secret, "client-2", 2000, "h");
		size_t oblen = (size_t)(strchr(o, '.') - o);
		char *mix = malloc(strlen(o) + len + 1);
		memcpy(mix, o, oblen);
		strcpy(mix + oblen, t + blen);
		check_bad(secret, mix, 1000, "h", "SIGNATURE");
		memcpy(mix, t, blen);
		strcpy(mix + blen, o + oblen);
		check_bad(secret, mix, 1000, "h", "SIGNATURE");
		free(mix);
		free(o);
	}

	/* signed with another secret */
	check_bad(other_secret, t, 1000, "h", "SIGNATURE");
	free(t);
	t = stoken_make(other_secret, "client-1", 2000, "h");
	check_bad(secret, t, 1000, "h", "SIGNATURE");
	check_ok(other_secret, t, 1000, "h", "client-1");
	free(t);

	/* an expired token with a bad signature is a bad signature */
	t = stoken_make(other_secret, "client-1", 10, "h");
	check_bad(secret, t, 1000, "x", "SIGNATURE");
	free(t);
}

static void test_malformed(void **state)
{
	char *t, *big;
	(void)state;

	/* no dot, empty, NULL */
	check_bad(secret, "", 0, NULL, "MALFORMED");
	check_bad(secret, "abc", 0, NULL, "MALFORMED");
	check_bad(secret, "eyJjIjoiYyIsImUiOjEsImIiOiIifQ", 0, NULL, "MALFORMED");
	check_bad(secret, NULL, 0, NULL, "MALFORMED");

	/* with a dot, but the mac does not match */
	check_bad(secret, ".", 0, NULL, "SIGNATURE");
	check_bad(secret, "..", 0, NULL, "SIGNATURE");
	check_bad(secret, "...", 0, NULL, "SIGNATURE");
	check_bad(secret, "a.", 0, NULL, "SIGNATURE");
	check_bad(secret, ".a", 0, NULL, "SIGNATURE");
	check_bad(secret, "!!!.???", 0, NULL, "SIGNATURE");
	check_bad(secret, "\xFF\xFE.\x01\x02", 0, NULL, "SIGNATURE");
	check_bad(secret, "not base64 at all. nor this", 0, NULL, "SIGNATURE");

	/* over 4096 characters */
	big = repeat("A", 5000);
	big[100] = '.';
	check_bad(secret, big, 0, NULL, "MALFORMED");
	free(big);
	big = repeat("A", 4097);
	big[10] = '.';
	check_bad(secret, big, 0, NULL, "MALFORMED");
	free(big);

	/* a genuine token just over and just under the limit */
	{
		char *cid = repeat("x", 3100);
		t = stoken_make(secret, cid, 100, NULL);
		assert_non_null(t);
		assert_true(strlen(t) > 4096);
		check_bad(secret, t, 0, NULL, "MALFORMED");
		free(t);
		cid[2900] = '\0';
		t = stoken_make(secret, cid, 100, NULL);
		assert_true(strlen(t) <= 4096);
		check_ok(secret, t, 0, NULL, cid);
		free(t);
		free(cid);
	}

	/* correctly signed bodies that are not the token's JSON */
	static const char *const bodies[] = {
		"not json",
		"",
		"[]",
		"\"c\"",
		"{}",
		"{\"c\":\"x\",\"e\":100}",                   /* no b */
		"{\"e\":100,\"b\":\"\"}",                     /* no c */
		"{\"c\":\"x\",\"b\":\"\"}",                   /* no e */
		"{\"c\":5,\"e\":100,\"b\":\"\"}",
		"{\"c\":\"x\",\"e\":\"100\",\"b\":\"\"}",
		"{\"c\":\"x\",\"e\":100.5,\"b\":\"\"}",
		"{\"c\":\"x\",\"e\":null,\"b\":\"\"}",
		"{\"c\":\"x\",\"e\":100,\"b\":null}",
		"{\"c\":\"x\",\"e\":100,\"b\":1}",
		"{\"c\":\"x\",\"e\":100,\"b\":\"\"",
	};
	for(size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++){
		t = signed_token(secret, bodies[i]);
		check_bad(secret, t, 0, NULL, "MALFORMED");
		free(t);
	}
	/* and a correctly signed body that is not base64url */
	t = signed_raw(secret, "!!not-base64!!");
	check_bad(secret, t, 0, NULL, "MALFORMED");
	free(t);

	/* a hand-made good body is accepted: the format is as documented */
	t = signed_token(secret, "{\"c\":\"hand\",\"e\":100,\"b\":\"h\"}");
	check_ok(secret, t, 0, "h", "hand");
	check_bad(secret, t, 0, "g", "BINDING");
	check_bad(secret, t, 100, "h", "EXPIRED");
	free(t);
}

/* Correctly signed bodies with duplicate keys or a raw NUL: refused, so the
 * token says one thing only (defence in depth: only the secret's holder can
 * sign, and stoken_make never writes these). */
static void test_duplicates_and_nul(void **state)
{
	static const char *const dups[] = {
		"{\"c\":\"x\",\"c\":\"admin\",\"e\":100,\"b\":\"\"}",
		"{\"c\":\"x\",\"e\":1,\"e\":100,\"b\":\"\"}",
		"{\"c\":\"x\",\"e\":100,\"b\":\"h\",\"b\":\"\"}",
	};
	static const char nul[] = "{\"c\":\"x\",\"e\":100\0,\"b\":\"\"}";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *t, *body, *m;
	(void)state;

	for(size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++){
		t = signed_token(secret, dups[i]);
		check_bad(secret, t, 0, NULL, "MALFORMED");
		free(t);
	}
	body = jsonutil_b64url_encode(nul, sizeof(nul) - 1);
	assert_non_null(body);
	assert_non_null(HMAC(EVP_sha256(), secret, STOKEN_SECRET_LEN, (const unsigned char *)body, strlen(body), mac, &maclen));
	m = jsonutil_b64url_encode(mac, maclen);
	assert_non_null(m);
	t = malloc(strlen(body) + strlen(m) + 2);
	assert_non_null(t);
	sprintf(t, "%s.%s", body, m);
	check_bad(secret, t, 0, NULL, "MALFORMED");
	free(t);
	free(body);
	free(m);
	/* the same body without the NUL is good: the NUL alone is refused */
	t = signed_token(secret, "{\"c\":\"x\",\"e\":100,\"b\":\"\"}");
	check_ok(secret, t, 0, NULL, "x");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url_vectors),
		cmocka_unit_test(test_b64url_round_trip),
		cmocka_unit_test(test_b64url_reject),
		cmocka_unit_test(test_b64url_padding),
		cmocka_unit_test(test_b64url_padding_not_at_end),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_expired),
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_duplicates_and_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
