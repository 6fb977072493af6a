/* The JWT keys and the session-token secret: read from the files the options
 * name at start, used by the dialects that authenticate. */
#define LOG_TAG "keys"
#include "wsgw.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int gw_load_keys(struct wsgw_gw *gw)
{
	const struct wsgw_config *cfg = gw->cfg;
	size_t len = 0;

	memset(&gw->jwt, 0, sizeof(gw->jwt));
	if(cfg->jwt_hs256_secret){
		gw->jwt_secret = (unsigned char *)strdup(cfg->jwt_hs256_secret);
		len = strlen(cfg->jwt_hs256_secret);
	}else if(cfg->jwt_hs256_secret_file){
		gw->jwt_secret = gw_read_file(cfg->jwt_hs256_secret_file, &len);
		/* A trailing newline is not part of the secret. */
		while(gw->jwt_secret && len && (gw->jwt_secret[len-1] == '\n' || gw->jwt_secret[len-1] == '\r')) len--;
		if(!gw->jwt_secret || !len){
			LOG_E("plugin_opt_jwt_hs256_secret_file: cannot read %s", cfg->jwt_hs256_secret_file);
			return -1;
		}
	}
	if(gw->jwt_secret){
		gw->jwt.hs256_secret = gw->jwt_secret;
		gw->jwt.hs256_len = len;
	}
	if(cfg->jwt_rs256_public_key_file){
		gw->jwt_pem = gw_read_file(cfg->jwt_rs256_public_key_file, &len);
		if(!gw->jwt_pem || !strstr((char *)gw->jwt_pem, "-----BEGIN")){
			LOG_E("plugin_opt_jwt_rs256_public_key_file: cannot read a PEM key from %s",
					cfg->jwt_rs256_public_key_file);
			return -1;
		}
		gw->jwt.rs256_pem = gw->jwt_pem;
		gw->jwt.rs256_len = len;
	}
	gw->jwt.issuer = cfg->jwt_issuer;
	gw->jwt.audience = cfg->jwt_audience;
	gw->jwt.leeway_s = (long)cfg->jwt_leeway;
	gw->jwt.require_exp = cfg->jwt_require_exp;
	gw->jwt.name_claim = cfg->jwt_name_claim;

	if(cfg->session_secret_file){
		unsigned char *sec = gw_read_file(cfg->session_secret_file, &len);
		if(!sec || len < 16){
			free(sec);
			LOG_E("plugin_opt_session_secret_file: %s must hold at least 16 bytes",
					cfg->session_secret_file);
			return -1;
		}
		/* Any length: reduce it to the 32 bytes the tokens are signed with. */
		SHA256(sec, len, gw->session_secret);
		free(sec);
	}else{
		gw_random(gw->session_secret, sizeof(gw->session_secret));
	}
	return 0;
}

void gw_free_keys(struct wsgw_gw *gw)
{
	free(gw->jwt_secret);
	free(gw->jwt_pem);
	gw->jwt_secret = gw->jwt_pem = NULL;
	memset(&gw->jwt, 0, sizeof(gw->jwt));
}

const char *gw_jwt_verify(struct wsgw_gw *gw, const char *token, struct jwtauth_identity *id,
		const char **why)
{
	return jwtauth_verify(&gw->jwt, token, time(NULL), id, why);
}
