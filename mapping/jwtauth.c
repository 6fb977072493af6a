/* JWT verification: see jwtauth.h. */
#include "jwtauth.h"
#include "jsonutil.h"

#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "alg" of the token's header, or JWT_ALG_INVAL. */
static jwt_alg_t header_alg(const char *token)
{
	const char *dot = strchr(token, '.');
	unsigned char *raw;
	size_t rawlen;
	json_t *hdr;
	jwt_alg_t alg = JWT_ALG_INVAL;
	const char *s;

	if(!dot || !strchr(dot + 1, '.')) return JWT_ALG_INVAL;
	raw = jsonutil_b64url_decode(token, (size_t)(dot - token), &rawlen);
	if(!raw) return JWT_ALG_INVAL;
	hdr = jsonutil_parse(raw, rawlen, JSON_REJECT_DUPLICATES, NULL, 0);
	s = json_string_value(json_object_get(hdr, "alg"));
	if(s && !strcmp(s, "HS256")) alg = JWT_ALG_HS256;
	else if(s && !strcmp(s, "RS256")) alg = JWT_ALG_RS256;
	else if(s) alg = JWT_ALG_NONE;   /* known or not: refused below */
	json_decref(hdr);
	free(raw);
	return alg;
}

/* The token's payload (its second part) parsed strictly: one JSON object,
 * no duplicate claims, no raw NUL byte. libjwt 1.10 parses it with
 * json_loads(), where the last of two "sub" wins and a NUL ends the text;
 * checking the same bytes strictly first means the claims libjwt reads are
 * the only ones there are. Returns 0, or -1 with err filled. */
static int payload_strict(const char *token, char *err, size_t errlen)
{
	const char *p1 = strchr(token, '.') + 1, *p2 = strchr(p1, '.');
	unsigned char *raw;
	size_t rawlen;
	json_t *claims;
	int rc = -1;

	raw = jsonutil_b64url_decode(p1, (size_t)(p2 - p1), &rawlen);
	if(!raw){
		snprintf(err, errlen, "the payload is not base64url");
		return -1;
	}
	claims = jsonutil_parse(raw, rawlen, JSON_REJECT_DUPLICATES, err, errlen);
	if(json_is_object(claims)) rc = 0;
	else if(claims) snprintf(err, errlen, "the payload is not a JSON object");
	json_decref(claims);
	free(raw);
	return rc;
}

/* A NumericDate claim (RFC 7519: integer or not) as whole seconds; LONG_MIN
 * when absent. Returns -1 when present but not a number. */
static int numeric_claim(jwt_t *jwt, const char *name, long *out)
{
	char *text = jwt_get_grants_json(jwt, name);
	json_t *v;
	double d;

	*out = LONG_MIN;
	if(!text) return 0;
	v = json_loads(text, JSON_DECODE_ANY, NULL);
	free(text);
	if(!json_is_number(v)){
		json_decref(v);
		return -1;
	}
	d = json_number_value(v);
	json_decref(v);
	if(d != d) return -1;
	/* Clamped into long; LONG_MIN stays the "absent" marker. */
	if(d >= (double)LONG_MAX) *out = LONG_MAX;
	else if(d <= (double)LONG_MIN) *out = LONG_MIN + 1;
	else *out = (long)floor(d);
	return 0;
}

static bool audience_ok(jwt_t *jwt, const char *want)
{
	const char *aud = jwt_get_grant(jwt, "aud");
	char *list;
	json_t *arr;
	bool ok = false;
	size_t i;
	json_t *v;

	if(aud) return !strcmp(aud, want);
	list = jwt_get_grants_json(jwt, "aud");
	if(!list) return false;
	arr = json_loads(list, JSON_DECODE_ANY, NULL);
	free(list);
	json_array_foreach(arr, i, v){
		if(json_is_string(v) && !strcmp(json_string_value(v), want)) ok = true;
	}
	json_decref(arr);
	return ok;
}

const char *jwtauth_verify(const struct jwtauth_keys *keys, const char *token, time_t now,
		struct jwtauth_identity *id, const char **why)
{
	const unsigned char *key;
	size_t keylen;
	jwt_t *jwt = NULL;
	jwt_alg_t alg;
	const char *err = NULL, *sub, *name;
	long exp, nbf;

	memset(id, 0, sizeof(*id));
	if(!token || !*token || strlen(token) > 16384){
		*why = "no token, or a token over 16 KiB";
		return JWTAUTH_E_MALFORMED;
	}
	alg = header_alg(token);
	if(alg == JWT_ALG_INVAL){
		*why = "the token is not a JWT (header.payload.signature)";
		return JWTAUTH_E_MALFORMED;
	}
	if(alg == JWT_ALG_HS256 && keys->hs256_secret){
		key = keys->hs256_secret;
		keylen = keys->hs256_len;
	}else if(alg == JWT_ALG_RS256 && keys->rs256_pem){
		key = keys->rs256_pem;
		keylen = keys->rs256_len;
	}else{
		*why = "the token's algorithm is not one the gateway accepts (configured: HS256 and/or RS256)";
		return JWTAUTH_E_ALG;
	}
	if(jwt_decode(&jwt, token, key, (int)keylen) != 0 || !jwt || jwt_get_alg(jwt) != alg){
		*why = "bad signature or malformed token";
		err = JWTAUTH_E_SIGNATURE;
		goto out;
	}
	{
		static _Thread_local char text[JSONUTIL_ERR_SIZE + 64];
		char perr[JSONUTIL_ERR_SIZE];
		if(payload_strict(token, perr, sizeof(perr))){
			/* e.g. "... duplicate object key near '"sub"'" */
			snprintf(text, sizeof(text), "the token's claims must be one JSON object without duplicates: %s", perr);
			*why = text;
			err = JWTAUTH_E_MALFORMED;
			goto out;
		}
	}
	if(numeric_claim(jwt, "exp", &exp) || numeric_claim(jwt, "nbf", &nbf)){
		*why = "exp and nbf must be numbers";
		err = JWTAUTH_E_MALFORMED;
		goto out;
	}
	if(exp == LONG_MIN && keys->require_exp){
		*why = "the token has no exp";
		err = JWTAUTH_E_EXPIRED;
		goto out;
	}
	/* now - leeway cannot overflow; exp + leeway could. */
	if(exp != LONG_MIN && now - keys->leeway_s > exp){
		*why = "the token has expired";
		err = JWTAUTH_E_EXPIRED;
		goto out;
	}
	if(nbf != LONG_MIN && nbf > now + keys->leeway_s){   /* now + leeway is small */
		*why = "the token is not valid yet (nbf)";
		err = JWTAUTH_E_NOT_YET;
		goto out;
	}
	if(keys->issuer){
		const char *iss = jwt_get_grant(jwt, "iss");
		if(!iss || strcmp(iss, keys->issuer)){
			*why = "wrong or missing issuer (iss)";
			err = JWTAUTH_E_ISSUER;
			goto out;
		}
	}
	if(keys->audience && !audience_ok(jwt, keys->audience)){
		*why = "wrong or missing audience (aud)";
		err = JWTAUTH_E_AUDIENCE;
		goto out;
	}
	sub = jwt_get_grant(jwt, "sub");
	if(!sub || !*sub || strlen(sub) > 256 || strpbrk(sub, "/+#")){
		*why = "the token needs a sub of 1 to 256 characters without '/', '+' or '#'";
		err = JWTAUTH_E_SUBJECT;
		goto out;
	}
	name = jwt_get_grant(jwt, keys->name_claim ? keys->name_claim : "name");
	id->sub = strdup(sub);
	id->name = strdup(name ? name : sub);
	id->exp = exp != LONG_MIN && exp > 0 ? exp : 0;
	if(!id->sub || !id->name){
		jwtauth_identity_clear(id);
		*why = "out of memory";
		err = JWTAUTH_E_MALFORMED;
	}
out:
	jwt_free(jwt);
	return err;
}

void jwtauth_identity_clear(struct jwtauth_identity *id)
{
	free(id->sub);
	free(id->name);
	memset(id, 0, sizeof(*id));
}
