/* mapping/stoken.c: session tokens that clients hand back (op "resume",
 * Telegraphy RECONNECT), with a fixed secret. The first byte picks:
 *   0  the rest is a token as a client sends it (stoken_check)
 *   1  the rest is the token's JSON text: the harness encodes and signs it
 *      with the secret, so the claims' checks behind the signature are
 *      reached; a binding to check follows the first NUL byte */
#include "fuzz.h"
#include "jsonutil.h"
#include "stoken.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

static const unsigned char secret[STOKEN_SECRET_LEN] = "fuzz-stoken-secret-0123456789abc";

static void check(const char *tok, const char *bind)
{
	char *cid = (char *)"unset";
	const char *err = stoken_check(secret, tok, 1700000000, bind, &cid);

	if(err) FUZZ_CHECK(cid == NULL);
	else{
		FUZZ_CHECK(cid != NULL);
		free(cid);
	}
}

static void signed_text(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *bind = nul ? fuzz_cstr(nul + 1, size - tlen - 1) : NULL;
	char *p1 = jsonutil_b64url_encode(data, tlen), *sig, *tok;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned mlen = 0;

	FUZZ_CHECK(p1 != NULL);
	FUZZ_CHECK(HMAC(EVP_sha256(), secret, sizeof(secret), (const unsigned char *)p1, strlen(p1), mac, &mlen));
	sig = jsonutil_b64url_encode(mac, mlen);
	tok = malloc(strlen(p1) + strlen(sig) + 2);
	FUZZ_CHECK(sig && tok);
	sprintf(tok, "%s.%s", p1, sig);
	check(tok, bind);
	check(tok, NULL);
	free(tok);
	free(sig);
	free(p1);
	free(bind);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *tok, *made;

	if(size < 1) return 0;
	if(data[0] % 2 == 0){
		tok = fuzz_cstr(data + 1, size - 1);
		check(tok, NULL);
		check(tok, "127.0.0.1");
		free(tok);
	}else signed_text(data + 1, size - 1);
	/* what stoken_make writes, stoken_check takes back */
	tok = fuzz_cstr(data + 1, size - 1 > 64 ? 64 : size - 1);
	made = stoken_make(secret, tok, 1700000100, tok);
	if(made){
		char *cid = NULL;
		FUZZ_CHECK(stoken_check(secret, made, 1700000000, tok, &cid) == NULL && cid && !strcmp(cid, tok));
		free(cid);
		free(made);
	}
	free(tok);
	return 0;
}
