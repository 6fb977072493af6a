/* Session tokens: see stoken.h. */
#include "stoken.h"
#include "jsonutil.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *mac_of(const unsigned char secret[STOKEN_SECRET_LEN], const char *body, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int maclen = 0;
	if(!HMAC(EVP_sha256(), secret, STOKEN_SECRET_LEN, (const unsigned char *)body, len, mac, &maclen)){
		return NULL;
	}
	return jsonutil_b64url_encode(mac, maclen);
}

char *stoken_make(const unsigned char secret[STOKEN_SECRET_LEN], const char *client_id,
		int64_t expires_s, const char *bind)
{
	json_t *o = json_pack("{s:s,s:I,s:s}", "c", client_id, "e", (json_int_t)expires_s, "b", bind ? bind : "");
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	char *body = text ? jsonutil_b64url_encode(text, strlen(text)) : NULL;
	char *mac = body ? mac_of(secret, body, strlen(body)) : NULL;
	char *token = NULL;

	if(mac){
		size_t n = strlen(body) + strlen(mac) + 2;
		token = malloc(n);
		if(token) snprintf(token, n, "%s.%s", body, mac);
	}
	json_decref(o);
	free(text);
	free(body);
	free(mac);
	return token;
}

const char *stoken_check(const unsigned char secret[STOKEN_SECRET_LEN], const char *token,
		int64_t now_s, const char *bind, char **client_id)
{
	const char *dot, *err = NULL;
	char *mac = NULL;
	unsigned char *text = NULL;
	size_t tlen;
	json_t *o = NULL;
	const char *c, *b;
	json_int_t e;

	*client_id = NULL;
	if(!token || strlen(token) > 4096 || !(dot = strchr(token, '.'))) return "MALFORMED";
	mac = mac_of(secret, token, (size_t)(dot - token));
	if(!mac || strlen(mac) != strlen(dot + 1) || CRYPTO_memcmp(mac, dot + 1, strlen(mac)) != 0){
		err = "SIGNATURE";
		goto out;
	}
	text = jsonutil_b64url_decode(token, (size_t)(dot - token), &tlen);
	o = text ? jsonutil_parse(text, tlen, JSON_REJECT_DUPLICATES, NULL, 0) : NULL;
	c = json_string_value(json_object_get(o, "c"));
	b = json_string_value(json_object_get(o, "b"));
	e = json_integer_value(json_object_get(o, "e"));
	if(!c || !b || !json_is_integer(json_object_get(o, "e"))){
		err = "MALFORMED";
		goto out;
	}
	if(now_s >= e){
		err = "EXPIRED";
		goto out;
	}
	if(bind && strcmp(bind, b)){
		err = "BINDING";
		goto out;
	}
	*client_id = strdup(c);
	if(!*client_id) err = "MALFORMED";
out:
	json_decref(o);
	free(text);
	free(mac);
	return err;
}
