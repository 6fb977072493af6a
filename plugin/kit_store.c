/* The dialect kit: resumable sessions, the state that outlives a socket
 * until session_expiry after it went (op resume, Telegraphy RECONNECT). */
#define LOG_TAG "kit"
#include "kit.h"
#include "session_int.h"
#include "stoken.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void kit_store_add(struct kit_store *st, struct kit_resumable *r, const char *prefix, void *client)
{
	gw_random_id(r->client_id, sizeof(r->client_id), prefix, KIT_ID_LEN);
	r->attached = client;
	HASH_ADD_STR(st->by_id, client_id, r);
}

void kit_resumable_free(struct kit_store *st, struct kit_resumable *r)
{
	free(r->username);
	if(r->password){
		OPENSSL_cleanse(r->password, strlen(r->password));
		free(r->password);
	}
	st->free(r);
}

void kit_store_drop(struct kit_store *st, struct kit_resumable *r)
{
	HASH_DEL(st->by_id, r);
	kit_resumable_free(st, r);
}

void kit_store_detach(struct wsgw_gw *gw, struct kit_store *st, struct kit_resumable *r, bool keep)
{
	r->attached = NULL;
	if(!keep){
		kit_store_drop(st, r);
		return;
	}
	r->expires_ms = gw_now_ms() + (int64_t)(gw->cfg->session_expiry * 1000);
}

void *kit_store_attach(struct kit_resumable *r, void *client)
{
	void *old = r->attached;
	r->attached = client;
	return old;
}

void kit_store_expire(struct kit_store *st, int64_t now_ms)
{
	struct kit_resumable *r, *tmp;
	HASH_ITER(hh, st->by_id, r, tmp){
		if(!r->attached && r->expires_ms && now_ms >= r->expires_ms) kit_store_drop(st, r);
	}
}

void kit_store_free(struct kit_store *st)
{
	struct kit_resumable *r, *tmp;
	HASH_ITER(hh, st->by_id, r, tmp) kit_store_drop(st, r);
}

char *kit_store_token(struct wsgw_gw *gw, const struct kit_resumable *r, const char *binding)
{
	return stoken_make(gw->session_secret, r->client_id,
			gw_wall_ms() / 1000 + (int64_t)gw->cfg->session_expiry, binding);
}

struct kit_resumable *kit_store_resolve(struct wsgw_gw *gw, struct kit_store *st, const char *token,
		const char *binding, const char **err)
{
	char *client_id = NULL;
	struct kit_resumable *r = NULL;

	*err = stoken_check(gw->session_secret, token, gw_wall_ms() / 1000, binding, &client_id);
	if(*err) return NULL;
	HASH_FIND_STR(st->by_id, client_id, r);
	free(client_id);
	if(!r) *err = "GONE";
	return r;
}

int kit_store_open_link(struct wsgw_session *s, const struct kit_resumable *r, bool clean_start,
		const struct wsgw_link_ops *ops, void *ud)
{
	struct wsgw_link_params p;

	memset(&p, 0, sizeof(p));
	p.client_id = r->client_id;
	p.username = r->username;
	p.password = r->password;
	p.clean_start = clean_start;
	p.session_expiry = (uint32_t)s->gw->cfg->session_expiry;
	return kit_link_open(s, &p, ops, ud);
}
