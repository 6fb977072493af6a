/* Unit tests for mapping/jwtauth.c (JWT verification over libjwt). The
 * contract is jwtauth.h. Tokens are made here with libjwt itself; the RS256
 * key pairs are generated at start with OpenSSL. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jsonutil.h"
#include "jwtauth.h"

#define NOW ((time_t)1700000000)
#define LEEWAY 30

static const unsigned char hs_secret[] = "test-hs256-secret-0123456789abcd";
#define HS_LEN (sizeof(hs_secret) - 1)
static const unsigned char hs_other[] = "test-hs256-secret-0123456789abcX";

/* Two RSA key pairs, PEM text (NUL-terminated; *_len without the NUL). */
struct pem { char *priv, *pub; size_t priv_len, pub_len; };
static struct pem rsa1, rsa2;

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

static char *bio_text(BIO *bio, size_t *len)
{
	char *data = NULL;
	long n = BIO_get_mem_data(bio, &data);
	char *s;
	if(n <= 0) return NULL;
	s = malloc((size_t)n + 1);
	if(!s) return NULL;
	memcpy(s, data, (size_t)n);
	s[n] = '\0';
	*len = (size_t)n;
	return s;
}

static int make_pem(struct pem *p)
{
	EVP_PKEY *pkey = EVP_RSA_gen(2048);
	BIO *a = BIO_new(BIO_s_mem()), *b = BIO_new(BIO_s_mem());
	int ok = pkey && a && b
		&& PEM_write_bio_PrivateKey(a, pkey, NULL, NULL, 0, NULL, NULL) == 1
		&& PEM_write_bio_PUBKEY(b, pkey) == 1
		&& (p->priv = bio_text(a, &p->priv_len)) != NULL
		&& (p->pub = bio_text(b, &p->pub_len)) != NULL;
	BIO_free(a);
	BIO_free(b);
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

static int setup_keys(void **state)
{
	(void)state;
	if(make_pem(&rsa1) || make_pem(&rsa2)) return -1;
	if(!strstr(rsa1.pub, "BEGIN PUBLIC KEY") || !strstr(rsa1.priv, "PRIVATE KEY")) return -1;
	return 0;
}

static int teardown_keys(void **state)
{
	(void)state;
	free(rsa1.priv);
	free(rsa1.pub);
	free(rsa2.priv);
	free(rsa2.pub);
	return 0;
}

/* ---- helpers ---- */

/* A token made by libjwt with the given grants (a JSON object text, may be NULL). */
static char *make_jwt(jwt_alg_t alg, const void *key, size_t keylen, const char *grants)
{
	jwt_t *j = NULL;
	char *s;
	assert_int_equal(jwt_new(&j), 0);
	if(grants && jwt_add_grants_json(j, grants) != 0) fail_msg("libjwt refused grants %s", grants);
	assert_int_equal(jwt_set_alg(j, alg, key, (int)keylen), 0);
	s = jwt_encode_str(j);
	assert_non_null(s);
	jwt_free(j);
	return s;
}

static char *hs(const char *grants)
{
	return make_jwt(JWT_ALG_HS256, hs_secret, HS_LEN, grants);
}

static char *rs(const char *grants)
{
	return make_jwt(JWT_ALG_RS256, rsa1.priv, rsa1.priv_len, grants);
}

/* base64url(text) (caller frees). */
static char *b64(const char *text)
{
	char *s = jsonutil_b64url_encode(text, strlen(text));
	assert_non_null(s);
	return s;
}

/* header.payload.HS256(key) built by hand from JSON texts (caller frees). */
static char *hand_hs(const char *header, const char *payload, const unsigned char *key, size_t keylen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *h = b64(header), *p = b64(payload), *m, *tok;
	size_t n = strlen(h) + strlen(p) + 2;
	char *signing = malloc(n);
	assert_non_null(signing);
	snprintf(signing, n, "%s.%s", h, p);
	assert_non_null(HMAC(EVP_sha256(), key, (int)keylen, (const unsigned char *)signing, strlen(signing), mac, &maclen));
	m = jsonutil_b64url_encode(mac, maclen);
	tok = malloc(n + strlen(m) + 1);
	assert_non_null(tok);
	sprintf(tok, "%s.%s", signing, m);
	free(h);
	free(p);
	free(m);
	free(signing);
	return tok;
}

static struct jwtauth_keys keys_hs(void)
{
	struct jwtauth_keys k;
	memset(&k, 0, sizeof(k));
	k.hs256_secret = hs_secret;
	k.hs256_len = HS_LEN;
	k.leeway_s = LEEWAY;
	k.require_exp = true;
	return k;
}

static struct jwtauth_keys keys_rs(void)
{
	struct jwtauth_keys k;
	memset(&k, 0, sizeof(k));
	k.rs256_pem = (const unsigned char *)rsa1.pub;
	k.rs256_len = rsa1.pub_len;
	k.leeway_s = LEEWAY;
	k.require_exp = true;
	return k;
}

static struct jwtauth_keys keys_both(void)
{
	struct jwtauth_keys k = keys_hs();
	k.rs256_pem = (const unsigned char *)rsa1.pub;
	k.rs256_len = rsa1.pub_len;
	return k;
}

static void verify_ok(const struct jwtauth_keys *k, const char *tok, time_t now,
		const char *want_sub, const char *want_name, long want_exp)
{
	struct jwtauth_identity id;
	const char *why = NULL;
	const char *err = jwtauth_verify(k, tok, now, &id, &why);
	if(err) fail_msg("token %.60s...: %s (%s), expected success", tok, err, why ? why : "");
	assert_non_null(id.sub);
	assert_non_null(id.name);
	assert_string_equal(id.sub, want_sub);
	assert_string_equal(id.name, want_name);
	assert_int_equal(id.exp, want_exp);
	jwtauth_identity_clear(&id);
	assert_null(id.sub);
	assert_null(id.name);
	assert_int_equal(id.exp, 0);
}

static void verify_bad(const struct jwtauth_keys *k, const char *tok, time_t now, const char *want)
{
	struct jwtauth_identity id;
	const char *why = NULL;
	const char *err;

	memset(&id, 0x5A, sizeof(id));
	err = jwtauth_verify(k, tok, now, &id, &why);
	if(!err){
		char got[64];
		snprintf(got, sizeof(got), "sub %s, exp %ld", id.sub, id.exp);
		jwtauth_identity_clear(&id);
		fail_msg("token %.60s...: accepted (%s), expected %s", tok ? tok : "(null)", got, want);
	}
	if(strcmp(err, want)) fail_msg("token %.60s...: %s (%s), expected %s", tok ? tok : "(null)", err, why ? why : "", want);
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	assert_null(id.sub);
	assert_null(id.name);
	jwtauth_identity_clear(&id);
}

/* Grants with sub/name/exp; a NULL string leaves the claim out. */
static char *grants(char *buf, size_t cap, const char *sub, const char *name, long exp, const char *more)
{
	size_t off = (size_t)snprintf(buf, cap, "{");
	if(sub) off += (size_t)snprintf(buf + off, cap - off, "\"sub\":\"%s\",", sub);
	if(name) off += (size_t)snprintf(buf + off, cap - off, "\"name\":\"%s\",", name);
	if(exp) off += (size_t)snprintf(buf + off, cap - off, "\"exp\":%ld,", exp);
	if(more) off += (size_t)snprintf(buf + off, cap - off, "%s,", more);
	if(buf[off - 1] == ',') off--;
	snprintf(buf + off, cap - off, "}");
	return buf;
}

/* ---- valid tokens ---- */

static void test_valid_hs256(void **state)
{
	struct jwtauth_keys k = keys_hs();
	jwt_t *j = NULL;
	char *tok;
	(void)state;

	/* the claims one by one, as an issuer would */
	assert_int_equal(jwt_new(&j), 0);
	assert_int_equal(jwt_add_grant(j, "sub", "user-1"), 0);
	assert_int_equal(jwt_add_grant(j, "name", "Ann"), 0);
	assert_int_equal(jwt_add_grant_int(j, "exp", (long)NOW + 3600), 0);
	assert_int_equal(jwt_add_grant_int(j, "iat", (long)NOW), 0);
	assert_int_equal(jwt_set_alg(j, JWT_ALG_HS256, hs_secret, (int)HS_LEN), 0);
	tok = jwt_encode_str(j);
	assert_non_null(tok);
	jwt_free(j);

	verify_ok(&k, tok, NOW, "user-1", "Ann", (long)NOW + 3600);
	/* the same token with both keys configured */
	k = keys_both();
	verify_ok(&k, tok, NOW, "user-1", "Ann", (long)NOW + 3600);
	free(tok);

	/* name falls back to sub */
	{
		char g[256];
		tok = hs(grants(g, sizeof(g), "user-2", NULL, (long)NOW + 60, NULL));
		k = keys_hs();
		verify_ok(&k, tok, NOW, "user-2", "user-2", (long)NOW + 60);
		free(tok);

		/* a non-string name falls back too */
		tok = hs(grants(g, sizeof(g), "user-3", NULL, (long)NOW + 60, "\"name\":42"));
		verify_ok(&k, tok, NOW, "user-3", "user-3", (long)NOW + 60);
		free(tok);

		/* UTF-8 sub and name */
		tok = hs(grants(g, sizeof(g), "\xC3\xA9t\xC3\xA9", "J\xC3\xBCrgen", (long)NOW + 60, NULL));
		verify_ok(&k, tok, NOW, "\xC3\xA9t\xC3\xA9", "J\xC3\xBCrgen", (long)NOW + 60);
		free(tok);
	}
}

static void test_valid_rs256(void **state)
{
	struct jwtauth_keys k = keys_rs();
	char g[256];
	char *tok;
	(void)state;

	tok = rs(grants(g, sizeof(g), "user-1", "Ann", (long)NOW + 3600, NULL));
	verify_ok(&k, tok, NOW, "user-1", "Ann", (long)NOW + 3600);
	k = keys_both();
	verify_ok(&k, tok, NOW, "user-1", "Ann", (long)NOW + 3600);
	free(tok);

	tok = rs(grants(g, sizeof(g), "user-2", NULL, (long)NOW + 3600, NULL));
	k = keys_rs();
	verify_ok(&k, tok, NOW, "user-2", "user-2", (long)NOW + 3600);
	free(tok);

	/* signed with another RSA key */
	tok = make_jwt(JWT_ALG_RS256, rsa2.priv, rsa2.priv_len, grants(g, sizeof(g), "user-1", "Ann", (long)NOW + 3600, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	k = keys_both();
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);
}

static void test_name_claim(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	k.name_claim = "preferred_username";
	tok = hs(grants(g, sizeof(g), "u1", "Full Name", (long)NOW + 60, "\"preferred_username\":\"ann\""));
	verify_ok(&k, tok, NOW, "u1", "ann", (long)NOW + 60);
	free(tok);

	/* the configured claim is missing: sub, not "name" */
	tok = hs(grants(g, sizeof(g), "u1", "Full Name", (long)NOW + 60, NULL));
	verify_ok(&k, tok, NOW, "u1", "u1", (long)NOW + 60);
	k.name_claim = NULL;
	verify_ok(&k, tok, NOW, "u1", "Full Name", (long)NOW + 60);
	free(tok);

	/* RS256 too */
	k = keys_rs();
	k.name_claim = "nick";
	tok = rs(grants(g, sizeof(g), "u2", "Full", (long)NOW + 60, "\"nick\":\"n2\""));
	verify_ok(&k, tok, NOW, "u2", "n2", (long)NOW + 60);
	free(tok);
}

/* ---- time claims ---- */

static void test_exp(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	/* expired beyond the leeway */
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW - LEEWAY - 1, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW - 86400, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	/* ... also when exp is not required */
	k.require_exp = false;
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	k.require_exp = true;
	free(tok);

	/* expired, but within the leeway */
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW - LEEWAY + 1, NULL));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW - LEEWAY + 1);
	k.leeway_s = 0;
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	k.leeway_s = LEEWAY;
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW - 1, NULL));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW - 1);
	free(tok);

	/* the same with RS256 */
	k = keys_rs();
	tok = rs(grants(g, sizeof(g), "u", NULL, (long)NOW - LEEWAY - 100, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	free(tok);
}

static void test_exp_missing(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	tok = hs(grants(g, sizeof(g), "u", "N", 0, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	k.require_exp = false;
	verify_ok(&k, tok, NOW, "u", "N", 0);
	free(tok);

	/* an exp that is not a number is no exp */
	k.require_exp = true;
	tok = hs(grants(g, sizeof(g), "u", "N", 0, "\"exp\":\"9999999999\""));
	{
		struct jwtauth_identity id;
		const char *why = NULL;
		const char *err = jwtauth_verify(&k, tok, NOW, &id, &why);
		assert_non_null(err);
		assert_null(id.sub);
	}
	free(tok);

	k = keys_rs();
	tok = rs(grants(g, sizeof(g), "u", "N", 0, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_EXPIRED);
	k.require_exp = false;
	verify_ok(&k, tok, NOW, "u", "N", 0);
	free(tok);
}

static void test_nbf(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256], more[64];
	char *tok;
	(void)state;

	snprintf(more, sizeof(more), "\"nbf\":%ld", (long)NOW + LEEWAY + 1);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 3600, more));
	verify_bad(&k, tok, NOW, JWTAUTH_E_NOT_YET);
	verify_ok(&k, tok, NOW + 1, "u", "u", (long)NOW + 3600);   /* later it is fine */
	free(tok);

	snprintf(more, sizeof(more), "\"nbf\":%ld", (long)NOW + 86400);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 3600 * 48, more));
	verify_bad(&k, tok, NOW, JWTAUTH_E_NOT_YET);
	free(tok);

	/* within the leeway, or past */
	snprintf(more, sizeof(more), "\"nbf\":%ld", (long)NOW + LEEWAY - 1);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 3600, more));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 3600);
	free(tok);
	snprintf(more, sizeof(more), "\"nbf\":%ld", (long)NOW - 100);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 3600, more));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 3600);
	free(tok);
}

/* NumericDate may be a non-integer number (RFC 7519 section 2): an exp of
 * 1000.5 is long past, and must not make the token valid forever. */
static void test_exp_fractional(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	k.require_exp = false;
	tok = hs(grants(g, sizeof(g), "u", NULL, 0, "\"exp\":1000.5"));
	{
		struct jwtauth_identity id;
		const char *why = NULL;
		const char *err = jwtauth_verify(&k, tok, NOW, &id, &why);
		char got[64];
		snprintf(got, sizeof(got), "%s (id.exp %ld)", err ? err : "accepted", err ? 0L : id.exp);
		if(!err) jwtauth_identity_clear(&id);
		free(tok);
		if(!err || strcmp(err, JWTAUTH_E_EXPIRED)){
			fail_msg("exp 1000.5, now %ld, require_exp false: %s, expected %s", (long)NOW, got, JWTAUTH_E_EXPIRED);
		}
	}
}

/* An exp far in the future is not expired, and checking it must not
 * overflow (signed overflow is undefined; UBSan aborts). Run in a child so
 * an abort is reported as a failure of this test only. */
static void test_exp_far_future(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	pid_t pid;
	int status = 0;
	(void)state;

	tok = hs(grants(g, sizeof(g), "u", NULL, LONG_MAX, NULL));
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if(pid == 0){
		struct jwtauth_identity id;
		const char *why = NULL;
		const char *err = jwtauth_verify(&k, tok, NOW, &id, &why);
		int rc = err ? 10 : (id.exp == LONG_MAX ? 0 : 11);
		if(!err) jwtauth_identity_clear(&id);
		_exit(rc);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	free(tok);
	if(WIFSIGNALED(status)) fail_msg("exp = LONG_MAX: verifier killed by signal %d", WTERMSIG(status));
	if(WEXITSTATUS(status) != 0){
		fail_msg("exp = LONG_MAX: child exit %d (10 = refused, 11 = wrong exp, other = sanitizer abort)",
				WEXITSTATUS(status));
	}
}

/* ---- iss, aud ---- */

static void test_issuer(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	k.issuer = "https://auth.example.com/";
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"https://auth.example.com/\""));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);

	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"https://evil.example.com/\""));
	verify_bad(&k, tok, NOW, JWTAUTH_E_ISSUER);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"https://auth.example.com\""));
	verify_bad(&k, tok, NOW, JWTAUTH_E_ISSUER);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"\""));
	verify_bad(&k, tok, NOW, JWTAUTH_E_ISSUER);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":[\"https://auth.example.com/\"]"));
	verify_bad(&k, tok, NOW, JWTAUTH_E_ISSUER);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_ISSUER);
	/* no issuer configured: any or none */
	k.issuer = NULL;
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"anyone\""));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);

	/* RS256 */
	k = keys_rs();
	k.issuer = "me";
	tok = rs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"you\""));
	verify_bad(&k, tok, NOW, JWTAUTH_E_ISSUER);
	free(tok);
	tok = rs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"iss\":\"me\""));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);
}

static void test_audience(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	k.audience = "gw";
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":\"gw\""));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":[\"other\",\"gw\"]"));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":[\"gw\"]"));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":[1,null,{\"gw\":1},\"gw\"]"));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);

	/* mismatches */
	static const char *const bad[] = {
		"\"aud\":\"gw2\"", "\"aud\":\"g\"", "\"aud\":\"GW\"", "\"aud\":\"\"",
		"\"aud\":[\"other\",\"gw2\"]", "\"aud\":[]", "\"aud\":[[\"gw\"]]", "\"aud\":{\"gw\":\"gw\"}",
		"\"aud\":5", "\"aud\":null", "\"aud\":true", NULL,
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, bad[i]));
		verify_bad(&k, tok, NOW, JWTAUTH_E_AUDIENCE);
		free(tok);
	}

	/* no audience configured: any aud */
	k.audience = NULL;
	tok = hs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":[\"x\"]"));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);

	/* RS256 */
	k = keys_rs();
	k.audience = "gw";
	tok = rs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":[\"a\",\"gw\"]"));
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	free(tok);
	tok = rs(grants(g, sizeof(g), "u", NULL, (long)NOW + 60, "\"aud\":[\"a\"]"));
	verify_bad(&k, tok, NOW, JWTAUTH_E_AUDIENCE);
	free(tok);
}

/* ---- signatures and algorithms ---- */

static void test_bad_signature(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok, *t2;
	size_t n;
	(void)state;

	grants(g, sizeof(g), "u", NULL, (long)NOW + 60, NULL);
	tok = make_jwt(JWT_ALG_HS256, hs_other, HS_LEN, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	k = keys_both();
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);

	/* a shorter / longer secret */
	tok = make_jwt(JWT_ALG_HS256, hs_secret, HS_LEN - 1, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);

	/* a good token with its signature altered, removed, extended */
	tok = hs(g);
	k = keys_hs();
	verify_ok(&k, tok, NOW, "u", "u", (long)NOW + 60);
	n = strlen(tok);
	t2 = strdup(tok);
	t2[n - 2] = t2[n - 2] == 'A' ? 'B' : 'A';
	verify_bad(&k, t2, NOW, JWTAUTH_E_SIGNATURE);
	strcpy(t2, tok);
	*strrchr(t2, '.') = '\0';
	strcat(t2, ".");
	verify_bad(&k, t2, NOW, JWTAUTH_E_SIGNATURE);
	free(t2);
	t2 = malloc(n + 8);
	sprintf(t2, "%sAAAA", tok);
	verify_bad(&k, t2, NOW, JWTAUTH_E_SIGNATURE);
	free(t2);

	/* the payload swapped for another one (sub "admin") */
	{
		char g2[256];
		char *other = hs(grants(g2, sizeof(g2), "admin", NULL, (long)NOW + 60, NULL));
		char *d1 = strchr(tok, '.'), *d2 = strrchr(tok, '.');
		char *o1 = strchr(other, '.'), *o2 = strrchr(other, '.');
		t2 = malloc(strlen(tok) + strlen(other) + 1);
		/* tok's header, other's payload, tok's signature */
		memcpy(t2, tok, (size_t)(d1 - tok));
		memcpy(t2 + (d1 - tok), o1, (size_t)(o2 - o1));
		strcpy(t2 + (d1 - tok) + (o2 - o1), d2);
		verify_bad(&k, t2, NOW, JWTAUTH_E_SIGNATURE);
		free(t2);
		free(other);
	}
	free(tok);

	/* an expired token with a bad signature is refused as a bad signature */
	tok = make_jwt(JWT_ALG_HS256, hs_other, HS_LEN, grants(g, sizeof(g), "u", NULL, (long)NOW - 86400, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);

	/* a hand-made HS256 token is accepted when right, refused when not */
	tok = hand_hs("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"sub\":\"hand\",\"exp\":1700000060}", hs_secret, HS_LEN);
	verify_ok(&k, tok, NOW, "hand", "hand", 1700000060);
	free(tok);
	tok = hand_hs("{\"alg\":\"HS256\"}", "{\"sub\":\"hand\",\"exp\":1700000060}", hs_other, HS_LEN);
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);
}

static void test_alg_none(void **state)
{
	struct jwtauth_keys k = keys_both();
	char g[256];
	char *p, *tok;
	size_t n;
	(void)state;

	grants(g, sizeof(g), "admin", NULL, (long)NOW + 60, NULL);
	p = b64(g);
	n = strlen(p) + 64;
	tok = malloc(n);
	/* {"alg":"none"} */
	snprintf(tok, n, "eyJhbGciOiJub25lIn0.%s.", p);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	{
		struct jwtauth_keys kh = keys_hs(), kr = keys_rs();
		verify_bad(&kh, tok, NOW, JWTAUTH_E_ALG);
		verify_bad(&kr, tok, NOW, JWTAUTH_E_ALG);
	}
	/* with a signature part anyway */
	snprintf(tok, n, "eyJhbGciOiJub25lIn0.%s.c2ln", p);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	free(p);

	/* libjwt's own unsigned token */
	tok = make_jwt(JWT_ALG_NONE, NULL, 0, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);

	/* "None", "NONE", "" are not HS256 either */
	tok = hand_hs("{\"alg\":\"None\"}", g, hs_secret, HS_LEN);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	tok = hand_hs("{\"alg\":\"\"}", g, hs_secret, HS_LEN);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	/* lower case "hs256" is not "HS256" */
	tok = hand_hs("{\"alg\":\"hs256\"}", g, hs_secret, HS_LEN);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
}

static void test_alg_other(void **state)
{
	struct jwtauth_keys k = keys_both();
	char g[256];
	char *tok;
	(void)state;

	grants(g, sizeof(g), "u", NULL, (long)NOW + 60, NULL);
	tok = make_jwt(JWT_ALG_HS384, hs_secret, HS_LEN, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	tok = make_jwt(JWT_ALG_HS512, hs_secret, HS_LEN, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	tok = make_jwt(JWT_ALG_RS512, rsa1.priv, rsa1.priv_len, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	tok = make_jwt(JWT_ALG_RS384, rsa1.priv, rsa1.priv_len, g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);

	/* RS256 token, only HS256 configured */
	tok = rs(g);
	k = keys_hs();
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	/* HS256 token, only RS256 configured */
	tok = hs(g);
	k = keys_rs();
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);

	/* nothing configured: everything refused */
	memset(&k, 0, sizeof(k));
	tok = hs(g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
	tok = rs(g);
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
}

/* An HS256 token whose HMAC key is the RS256 public key (public knowledge). */
static void test_alg_confusion(void **state)
{
	struct jwtauth_keys k = keys_rs();
	char g[256];
	char *tok;
	jwt_t *j = NULL;
	(void)state;

	grants(g, sizeof(g), "admin", "Admin", (long)NOW + 3600, NULL);
	tok = make_jwt(JWT_ALG_HS256, rsa1.pub, rsa1.pub_len, g);

	/* the attack token is real: libjwt alone, handed the PEM, accepts it */
	assert_int_equal(jwt_decode(&j, tok, (const unsigned char *)rsa1.pub, (int)rsa1.pub_len), 0);
	assert_non_null(j);
	assert_int_equal(jwt_get_alg(j), JWT_ALG_HS256);
	jwt_free(j);

	/* only the RS256 key: HS256 is not accepted at all */
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	/* both: HS256 is checked against the HS secret only */
	k = keys_both();
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);

	/* the same with the PEM's NUL included, or the private key as secret */
	tok = make_jwt(JWT_ALG_HS256, rsa1.pub, rsa1.pub_len + 1, g);
	k = keys_rs();
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	k = keys_both();
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);
	tok = make_jwt(JWT_ALG_HS256, rsa1.priv, rsa1.priv_len, g);
	k = keys_rs();
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	k = keys_both();
	verify_bad(&k, tok, NOW, JWTAUTH_E_SIGNATURE);
	free(tok);

	/* and the reverse: an RS256 token verified against the HS secret as a
	 * "public key" is refused (only HS256 configured) */
	tok = rs(g);
	k = keys_hs();
	verify_bad(&k, tok, NOW, JWTAUTH_E_ALG);
	free(tok);
}

/* Duplicate "alg" keys in the header: the verifier and libjwt must not
 * read different algorithms. */
static void test_header_oddities(void **state)
{
	struct jwtauth_keys k = keys_both();
	char g[256];
	char *tok;
	(void)state;

	grants(g, sizeof(g), "u", NULL, (long)NOW + 60, NULL);
	tok = hand_hs("{\"alg\":\"HS256\",\"alg\":\"none\"}", g, hs_secret, HS_LEN);
	{
		struct jwtauth_identity id;
		const char *why = NULL;
		assert_non_null(jwtauth_verify(&k, tok, NOW, &id, &why));
		assert_null(id.sub);
	}
	free(tok);
	tok = hand_hs("{\"alg\":\"RS256\",\"alg\":\"HS256\"}", g, (const unsigned char *)rsa1.pub, rsa1.pub_len);
	{
		struct jwtauth_identity id;
		const char *why = NULL;
		assert_non_null(jwtauth_verify(&k, tok, NOW, &id, &why));
		assert_null(id.sub);
	}
	free(tok);

	/* no alg, or alg not a string */
	static const char *const hdrs[] = { "{}", "{\"typ\":\"JWT\"}", "{\"alg\":5}", "{\"alg\":null}", "{\"alg\":[\"HS256\"]}", "[]", "\"HS256\"" };
	for(size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++){
		struct jwtauth_identity id;
		const char *why = NULL, *err;
		tok = hand_hs(hdrs[i], g, hs_secret, HS_LEN);
		err = jwtauth_verify(&k, tok, NOW, &id, &why);
		if(!err) fail_msg("header %s: accepted", hdrs[i]);
		if(strcmp(err, JWTAUTH_E_MALFORMED) && strcmp(err, JWTAUTH_E_ALG)) fail_msg("header %s: %s", hdrs[i], err);
		assert_null(id.sub);
		free(tok);
	}
}

/* ---- sub ---- */

static void test_subject(void **state)
{
	struct jwtauth_keys k = keys_hs();
	char *g = malloc(2048);
	char *tok, *s;
	(void)state;

	static const char *const bad[] = { "", "a/b", "/", "a+b", "+", "a#b", "#", "users/1/#" };
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		tok = hs(grants(g, 2048, bad[i], "N", (long)NOW + 60, NULL));
		verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
		free(tok);
	}
	/* missing, or not a string */
	tok = hs(grants(g, 2048, NULL, "N", (long)NOW + 60, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);
	tok = hs(grants(g, 2048, NULL, "N", (long)NOW + 60, "\"sub\":42"));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);
	tok = hs(grants(g, 2048, NULL, "N", (long)NOW + 60, "\"sub\":null"));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);
	tok = hs(grants(g, 2048, NULL, "N", (long)NOW + 60, "\"sub\":[\"u\"]"));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);

	/* 256 characters is the longest */
	s = repeat("s", 256);
	tok = hs(grants(g, 2048, s, NULL, (long)NOW + 60, NULL));
	verify_ok(&k, tok, NOW, s, s, (long)NOW + 60);
	free(tok);
	free(s);
	s = repeat("s", 257);
	tok = hs(grants(g, 2048, s, NULL, (long)NOW + 60, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);
	free(s);
	s = repeat("s", 1500);
	tok = hs(grants(g, 2048, s, NULL, (long)NOW + 60, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);
	free(s);

	/* RS256 */
	k = keys_rs();
	tok = rs(grants(g, 2048, "a/b", NULL, (long)NOW + 60, NULL));
	verify_bad(&k, tok, NOW, JWTAUTH_E_SUBJECT);
	free(tok);
	free(g);
}

/* ---- malformed ---- */

static void test_malformed(void **state)
{
	struct jwtauth_keys k = keys_both();
	char *s;
	(void)state;

	verify_bad(&k, NULL, NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "a", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "a.b", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, ".", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "..", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "...", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "a.b.c", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "!!!.!!!.!!!", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "Bearer x.y.z", NOW, JWTAUTH_E_MALFORMED);
	/* a header that is base64url but not JSON */
	verify_bad(&k, "bm90IGpzb24.e30.", NOW, JWTAUTH_E_MALFORMED);
	/* {"alg":"HS256"} with a header cut short */
	verify_bad(&k, "eyJhbGciOiJIUzI1NiJ.e30.", NOW, JWTAUTH_E_MALFORMED);
	/* only a header */
	verify_bad(&k, "eyJhbGciOiJIUzI1NiJ9", NOW, JWTAUTH_E_MALFORMED);
	verify_bad(&k, "eyJhbGciOiJIUzI1NiJ9.", NOW, JWTAUTH_E_MALFORMED);

	/* over 16 KiB */
	s = repeat("a", 16385);
	verify_bad(&k, s, NOW, JWTAUTH_E_MALFORMED);
	s[10] = '.';
	s[20] = '.';
	verify_bad(&k, s, NOW, JWTAUTH_E_MALFORMED);
	free(s);
	s = repeat("eyJhbGciOiJIUzI1NiJ9.", 2000);
	verify_bad(&k, s, NOW, JWTAUTH_E_MALFORMED);
	free(s);

	/* a genuine token over 16 KiB, and one under */
	{
		char *pad = repeat("p", 13000), *g = malloc(13200), *tok;
		struct jwtauth_keys kh = keys_hs();
		snprintf(g, 13200, "{\"sub\":\"u\",\"exp\":%ld,\"pad\":\"%s\"}", (long)NOW + 60, pad);
		tok = hs(g);
		assert_true(strlen(tok) > 16384);
		verify_bad(&kh, tok, NOW, JWTAUTH_E_MALFORMED);
		free(tok);
		pad[11000] = '\0';
		snprintf(g, 13200, "{\"sub\":\"u\",\"exp\":%ld,\"pad\":\"%s\"}", (long)NOW + 60, pad);
		tok = hs(g);
		assert_true(strlen(tok) <= 16384);
		verify_ok(&kh, tok, NOW, "u", "u", (long)NOW + 60);
		free(tok);
		free(g);
		free(pad);
	}
}

/* Well-formed header, broken rest: refused, whatever the word. */
static void test_broken_body(void **state)
{
	struct jwtauth_keys k = keys_both();
	static const char *const toks[] = {
		"eyJhbGciOiJIUzI1NiJ9..",
		"eyJhbGciOiJIUzI1NiJ9.!!!.x",
		"eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.x",
		"eyJhbGciOiJIUzI1NiJ9.e30.x.y",
		"eyJhbGciOiJSUzI1NiJ9.e30.",
		"eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
	};
	(void)state;

	for(size_t i = 0; i < sizeof(toks) / sizeof(toks[0]); i++){
		struct jwtauth_identity id;
		const char *why = NULL;
		const char *err = jwtauth_verify(&k, toks[i], NOW, &id, &why);
		if(!err) fail_msg("token %s: accepted", toks[i]);
		assert_non_null(why);
		assert_null(id.sub);
		assert_null(id.name);
	}
}

/* ---- duplicate claims, raw NUL bytes (issue 11.8, 11.6) ---- */

/* hand_hs with explicit lengths (the texts may hold NULs). */
static char *hand_hs_n(const char *header, size_t hlen, const char *payload, size_t plen)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	char *h = jsonutil_b64url_encode(header, hlen), *p = jsonutil_b64url_encode(payload, plen), *m, *tok;
	size_t n;
	assert_non_null(h);
	assert_non_null(p);
	n = strlen(h) + strlen(p) + 2;
	tok = malloc(n + 64);
	assert_non_null(tok);
	snprintf(tok, n, "%s.%s", h, p);
	assert_non_null(HMAC(EVP_sha256(), hs_secret, (int)HS_LEN, (const unsigned char *)tok, strlen(tok), mac, &maclen));
	m = jsonutil_b64url_encode(mac, maclen);
	assert_non_null(m);
	strcat(tok, ".");
	strcat(tok, m);
	free(h);
	free(p);
	free(m);
	return tok;
}

/* libjwt's own parse lets the last of two claims win: {"sub":"x","sub":"y"}
 * would be user y. Refused, and the reason names the duplicate. */
static void test_duplicate_claims(void **state)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	struct jwtauth_keys k = keys_hs();
	char g[256];
	char *tok;
	(void)state;

	/* the same claims once each: accepted (the hand-made token is sound) */
	snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld}", (long)NOW + 60);
	tok = hand_hs_n(hdr, strlen(hdr), g, strlen(g));
	verify_ok(&k, tok, NOW, "x", "x", (long)NOW + 60);
	free(tok);

	snprintf(g, sizeof(g), "{\"sub\":\"x\",\"sub\":\"y\",\"exp\":%ld}", (long)NOW + 60);
	tok = hand_hs_n(hdr, strlen(hdr), g, strlen(g));
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	{
		struct jwtauth_identity id;
		const char *why = NULL;
		assert_non_null(jwtauth_verify(&k, tok, NOW, &id, &why));
		if(!strstr(why, "duplicate object key near '\"sub\"'")) fail_msg("why: %s", why);
	}
	free(tok);
	/* an expired exp followed by a fresh one */
	snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld,\"exp\":%ld}", (long)NOW - 3600, (long)NOW + 60);
	tok = hand_hs_n(hdr, strlen(hdr), g, strlen(g));
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
	/* nested duplicates too, and a name claim twice */
	snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld,\"name\":\"a\",\"name\":\"b\"}", (long)NOW + 60);
	tok = hand_hs_n(hdr, strlen(hdr), g, strlen(g));
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
	snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld,\"aud\":{\"a\":1,\"a\":2}}", (long)NOW + 60);
	tok = hand_hs_n(hdr, strlen(hdr), g, strlen(g));
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);

	/* duplicate alg in the header, even with the same value */
	snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld}", (long)NOW + 60);
	tok = hand_hs("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", g, hs_secret, HS_LEN);
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
	tok = hand_hs("{\"alg\":\"none\",\"alg\":\"HS256\"}", g, hs_secret, HS_LEN);
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
}

/* A raw NUL in the decoded header or payload: libjwt's json_loads stops at
 * it, jansson's json_loadb skips it; either way the text is not JSON. */
static void test_nul_in_parts(void **state)
{
	static const char hdr[] = "{\"alg\":\"HS256\"}";
	static const char hdr_nul[] = "{\"alg\":\"HS256\"}\0";
	struct jwtauth_keys k = keys_hs();
	char g[256];
	size_t n;
	char *tok;
	(void)state;

	/* {"sub":"x","exp":N}\0{"sub":"admin"} : libjwt would read only the first */
	n = (size_t)snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld}", (long)NOW + 60);
	memcpy(g + n, "\0{\"sub\":\"admin\"}", 17);
	tok = hand_hs_n(hdr, strlen(hdr), g, n + 16);
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
	/* {"sub":"x","exp":N\0} : jansson would read exp N; libjwt's decode
	 * already fails on it (its json_loads stops at the NUL) */
	n = (size_t)snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld", (long)NOW + 60);
	memcpy(g + n, "\0}", 2);
	tok = hand_hs_n(hdr, strlen(hdr), g, n + 2);
	{
		struct jwtauth_identity id;
		const char *why = NULL, *err = jwtauth_verify(&k, tok, NOW, &id, &why);
		assert_non_null(err);
		if(strcmp(err, JWTAUTH_E_MALFORMED) && strcmp(err, JWTAUTH_E_SIGNATURE)) fail_msg("%s", err);
		assert_null(id.sub);
	}
	free(tok);
	/* a NUL after the header */
	n = (size_t)snprintf(g, sizeof(g), "{\"sub\":\"x\",\"exp\":%ld}", (long)NOW + 60);
	tok = hand_hs_n(hdr_nul, sizeof(hdr_nul) - 1, g, n);
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
	/* a payload that is JSON but not an object */
	tok = hand_hs_n(hdr, strlen(hdr), "[1]", 3);
	verify_bad(&k, tok, NOW, JWTAUTH_E_MALFORMED);
	free(tok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_hs256),
		cmocka_unit_test(test_valid_rs256),
		cmocka_unit_test(test_name_claim),
		cmocka_unit_test(test_exp),
		cmocka_unit_test(test_exp_missing),
		cmocka_unit_test(test_nbf),
		cmocka_unit_test(test_exp_fractional),
		cmocka_unit_test(test_exp_far_future),
		cmocka_unit_test(test_issuer),
		cmocka_unit_test(test_audience),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_alg_none),
		cmocka_unit_test(test_alg_other),
		cmocka_unit_test(test_alg_confusion),
		cmocka_unit_test(test_header_oddities),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_broken_body),
		cmocka_unit_test(test_duplicate_claims),
		cmocka_unit_test(test_nul_in_parts),
	};
	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
