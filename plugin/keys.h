/* keys.c: the JWT keys and the session-token secret named by the options
 * (services, L4). */
#ifndef WSGW_KEYS_H
#define WSGW_KEYS_H

#include "jwtauth.h"

struct wsgw_gw;

/* Loads them into gw (jwt, jwt_secret, jwt_pem, session_secret). Broker
 * thread, at start; 0, or -1 (logged) on a missing or unreadable file. */
int gw_load_keys(struct wsgw_gw *gw);
void gw_free_keys(struct wsgw_gw *gw);
/* Verifies a bearer JWT with the configured keys (see jwtauth_verify). */
const char *gw_jwt_verify(struct wsgw_gw *gw, const char *token, struct jwtauth_identity *id,
		const char **why);

#endif
