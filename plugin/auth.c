/* The gateway's own MQTT sessions authenticate with
 * password = hex(HMAC-SHA256(boot secret, client_id "\n" username)).
 * The secret is drawn at start and never leaves the process, so the check in
 * the MOSQ_EVT_BASIC_AUTH callback is stateless.
 *
 * A session that logs in with the user's own password (op's mqtt provider)
 * cannot carry the HMAC as its password: its client id ends with
 * "~" + 16 hex of HMAC-SHA256(secret, "tag\n" id "\n" username) instead, so the
 * callback still knows it is the gateway's. */
#include "wsgw.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static unsigned char secret[32];

int wsgw_auth_init(void)
{
	return RAND_bytes(secret, sizeof(secret)) == 1 ? 0 : -1;
}

void wsgw_auth_password(const char *client_id, const char *username, char out[WSGW_PASSWORD_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	size_t clen = strlen(client_id), ulen = strlen(username);
	unsigned char *msg = malloc(clen + ulen + 1);

	out[0] = '\0';
	if(!msg) return;
	memcpy(msg, client_id, clen);
	msg[clen] = '\n';
	memcpy(msg + clen + 1, username, ulen);
	if(HMAC(EVP_sha256(), secret, sizeof(secret), msg, clen + ulen + 1, mac, &maclen) && maclen == 32){
		for(unsigned i = 0; i < maclen; i++){
			out[2*i] = hex[mac[i] >> 4];
			out[2*i+1] = hex[mac[i] & 0xF];
		}
		out[64] = '\0';
	}
	free(msg);
}

bool wsgw_auth_check(const char *client_id, const char *username, const char *password)
{
	char expect[WSGW_PASSWORD_SIZE];

	if(!client_id || !username || !password || strlen(password) != 64) return false;
	wsgw_auth_password(client_id, username, expect);
	return expect[0] && CRYPTO_memcmp(expect, password, 64) == 0;
}

void wsgw_auth_tag(const char *client_id, const char *username, char out[WSGW_TAG_SIZE])
{
	char mac[WSGW_PASSWORD_SIZE];
	size_t clen = strlen(client_id);
	char *tagged = malloc(clen + 5);

	out[0] = '\0';
	if(!tagged) return;
	memcpy(tagged, "tag\n", 4);
	memcpy(tagged + 4, client_id, clen + 1);
	wsgw_auth_password(tagged, username, mac);
	free(tagged);
	if(!mac[0]) return;
	memcpy(out, mac, WSGW_TAG_SIZE - 1);
	out[WSGW_TAG_SIZE - 1] = '\0';
}

bool wsgw_auth_check_tag(const char *client_id, const char *username)
{
	char expect[WSGW_TAG_SIZE], *base;
	size_t len = client_id ? strlen(client_id) : 0;
	bool ok;

	if(!username || len < WSGW_TAG_SIZE + 1 || client_id[len - WSGW_TAG_SIZE] != '~') return false;
	base = strndup(client_id, len - WSGW_TAG_SIZE);
	if(!base) return false;
	wsgw_auth_tag(base, username, expect);
	free(base);
	ok = expect[0] && CRYPTO_memcmp(expect, client_id + len - WSGW_TAG_SIZE + 1, WSGW_TAG_SIZE - 1) == 0;
	return ok;
}
