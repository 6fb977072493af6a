/* JWT verification shared by every dialect that takes bearer tokens (the op
 * dialect's "jwt" provider, Comet's AUTH and HTTP API). Pure code over libjwt:
 * the keys come from the options, time is passed in. */
#ifndef WSGW_JWTAUTH_H
#define WSGW_JWTAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct jwtauth_keys {
	const unsigned char *hs256_secret;  /* NULL: HS256 tokens are refused */
	size_t hs256_len;
	const unsigned char *rs256_pem;     /* public key, PEM; NULL: RS256 refused */
	size_t rs256_len;
	const char *issuer;                 /* required "iss", or NULL */
	const char *audience;               /* required in "aud", or NULL */
	long leeway_s;                      /* clock skew allowed on exp/nbf */
	bool require_exp;
	const char *name_claim;             /* display name claim, NULL = "name" */
};

struct jwtauth_identity {
	char *sub;      /* the user id ("sub"), owned */
	char *name;     /* display name, owned; falls back to sub */
	long exp;       /* 0 when absent */
};

/* Error codes of jwtauth_verify: a short word, and a sentence in *why. */
#define JWTAUTH_E_MALFORMED "MALFORMED"
#define JWTAUTH_E_ALG "ALGORITHM"
#define JWTAUTH_E_SIGNATURE "SIGNATURE"
#define JWTAUTH_E_EXPIRED "EXPIRED"
#define JWTAUTH_E_NOT_YET "NOT_YET_VALID"
#define JWTAUTH_E_ISSUER "ISSUER"
#define JWTAUTH_E_AUDIENCE "AUDIENCE"
#define JWTAUTH_E_SUBJECT "SUBJECT"

/* Verifies token. The algorithm is read from the header first and must be one
 * a key is configured for (HS256 with the secret, RS256 with the public key;
 * "none" and everything else are refused), so a public key can never be used
 * as an HMAC secret. Header and payload must each be one JSON object without
 * duplicate keys or raw NUL bytes (two "sub" or "exp" claims: MALFORMED), so
 * libjwt's own lenient parse reads the same claims. Returns NULL and fills id (free with jwtauth_identity_clear),
 * or an error code. */
const char *jwtauth_verify(const struct jwtauth_keys *keys, const char *token, time_t now,
		struct jwtauth_identity *id, const char **why);
void jwtauth_identity_clear(struct jwtauth_identity *id);

#endif
