/* Session tokens for resumable sessions (op "resume", Telegraphy RECONNECT):
 *   base64url(JSON {"c": client id, "e": expiry (unix s), "b": binding})
 *   "." base64url(HMAC-SHA256(secret, first part))
 * The binding is what the token is only good for (Telegraphy: the client host).
 * Pure code (OpenSSL HMAC). */
#ifndef WSGW_STOKEN_H
#define WSGW_STOKEN_H

#include <stdint.h>

#define STOKEN_SECRET_LEN 32

/* A new token (caller frees), or NULL. bind may be NULL. */
char *stoken_make(const unsigned char secret[STOKEN_SECRET_LEN], const char *client_id,
		int64_t expires_s, const char *bind);

/* Checks token: returns NULL and sets *client_id (caller frees), or an error
 * word: "MALFORMED", "SIGNATURE", "EXPIRED", "BINDING" (bind given and not the
 * token's). */
const char *stoken_check(const unsigned char secret[STOKEN_SECRET_LEN], const char *token,
		int64_t now_s, const char *bind, char **client_id);

#endif
