/* mapping/jwtauth.c: bearer tokens from browsers and services, verified with
 * fixed keys (an HS256 secret, and an RS256 key the harness generates at
 * start: 1024 bits, for speed; its size is not what is tested). The first
 * byte: bit 0 picks the mode, bits 1-3 the options (issuer, audience,
 * require_exp), bit 4 the algorithm the harness signs with.
 *   mode 0  the rest is a token as a client sends it
 *   mode 1  the rest is the header's and the claims' JSON texts, split at the
 *           first NUL byte: the harness encodes and signs them, so the claim
 *           checks behind the signature are reached */
#include "fuzz.h"
#include "jsonutil.h"
#include "jwtauth.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

static const unsigned char hs_secret[] = "fuzz-hs256-secret-0123456789abcd";
static EVP_PKEY *rsa;
static char *rsa_pem;
static size_t rsa_pem_len;

static void init(void)
{
	BIO *b;
	BUF_MEM *m;

	if(rsa) return;
	rsa = EVP_RSA_gen(1024);
	b = BIO_new(BIO_s_mem());
	FUZZ_CHECK(rsa && b && PEM_write_bio_PUBKEY(b, rsa) == 1);
	BIO_get_mem_ptr(b, &m);
	rsa_pem = fuzz_cstr((const uint8_t *)m->data, m->length);
	rsa_pem_len = m->length;
	BIO_free(b);
}

/* header.payload + "." + signature with HS256 or RS256 (caller frees). */
static char *sign(const char *hp, bool rs)
{
	unsigned char sig[512];
	size_t slen = sizeof(sig);
	char *s64, *tok;

	if(rs){
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		FUZZ_CHECK(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, rsa) == 1
				&& EVP_DigestSign(ctx, sig, &slen, (const unsigned char *)hp, strlen(hp)) == 1);
		EVP_MD_CTX_free(ctx);
	}else{
		unsigned mlen = 0;
		FUZZ_CHECK(HMAC(EVP_sha256(), hs_secret, sizeof(hs_secret) - 1, (const unsigned char *)hp,
				strlen(hp), sig, &mlen));
		slen = mlen;
	}
	s64 = jsonutil_b64url_encode(sig, slen);
	tok = malloc(strlen(hp) + strlen(s64) + 2);
	FUZZ_CHECK(s64 && tok);
	sprintf(tok, "%s.%s", hp, s64);
	free(s64);
	return tok;
}

static void verify(const struct jwtauth_keys *k, const char *tok)
{
	struct jwtauth_identity id;
	const char *why = NULL, *err = jwtauth_verify(k, tok, 1700000000, &id, &why);

	if(err) FUZZ_CHECK(why && *why && !id.sub && !id.name);
	else{
		FUZZ_CHECK(id.sub && *id.sub && id.name && !strpbrk(id.sub, "/+#"));
		jwtauth_identity_clear(&id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jwtauth_keys k;
	uint8_t sel;
	char *tok;

	init();
	if(size < 1) return 0;
	sel = data[0];
	data++;
	size--;
	memset(&k, 0, sizeof(k));
	k.hs256_secret = hs_secret;
	k.hs256_len = sizeof(hs_secret) - 1;
	k.rs256_pem = (const unsigned char *)rsa_pem;
	k.rs256_len = rsa_pem_len;
	k.leeway_s = 30;
	if(sel & 2) k.issuer = "https://issuer.example";
	if(sel & 4) k.audience = "wsgw";
	if(sel & 8) k.require_exp = true;
	if(sel & 32) k.name_claim = "preferred_username";
	if(sel & 1){
		const uint8_t *nul = memchr(data, 0, size);
		size_t hlen = nul ? (size_t)(nul - data) : size;
		char *h64 = jsonutil_b64url_encode(data, hlen);
		char *p64 = jsonutil_b64url_encode(nul ? nul + 1 : data, nul ? size - hlen - 1 : 0);
		char *hp = malloc(strlen(h64) + strlen(p64) + 2);
		FUZZ_CHECK(h64 && p64 && hp);
		sprintf(hp, "%s.%s", h64, p64);
		tok = sign(hp, sel & 16);
		free(hp);
		free(p64);
		free(h64);
	}else tok = fuzz_cstr(data, size);
	verify(&k, tok);
	free(tok);
	return 0;
}
