/* Presence mirror: see mirror.h. */
#include "mirror.h"
#include "jsonutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void member_free(struct mirror_member *m)
{
	if(!m) return;
	free(m->id);
	free(m->presence);
	free(m->gateway);
	free(m->boot);
	free(m);
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* Builds a member from a payload. A payload that is not a JSON object, or has no
 * object under "presence", gives the presence {}. */
static struct mirror_member *member_parse(const char *id, const void *payload, size_t len)
{
	struct mirror_member *m = calloc(1, sizeof(*m));
	json_t *root, *pres;

	if(!m) return NULL;
	root = jsonutil_parse(payload, len, JSON_REJECT_DUPLICATES, NULL, 0);
	pres = json_is_object(root) ? json_object_get(root, "presence") : NULL;
	m->id = strdup(id);
	m->presence = json_is_object(pres) ? json_dumps(pres, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	if(json_is_object(root)){
		m->gateway = dup_or_null(json_string_value(json_object_get(root, "gateway")));
		m->boot = dup_or_null(json_string_value(json_object_get(root, "boot")));
	}
	json_decref(root);
	if(!m->id || !m->presence){
		member_free(m);
		return NULL;
	}
	return m;
}

static void channel_free(struct mirror_channel *ch)
{
	struct mirror_member *m, *tmp;
	HASH_ITER(hh, ch->members, m, tmp){
		HASH_DEL(ch->members, m);
		member_free(m);
	}
	free(ch->key);
	free(ch);
}

static void member_remove(struct mirror *mr, struct mirror_channel *ch,
		struct mirror_member *m, mirror_event_cb cb, void *ud)
{
	HASH_DEL(ch->members, m);
	ch->count--;
	mr->members--;
	if(cb) cb(ud, ch->key, MIRROR_LEFT, m);
	member_free(m);
	if(ch->count == 0){
		HASH_DEL(mr->channels, ch);
		channel_free(ch);
	}
}

int mirror_apply(struct mirror *mr, const char *key, const char *id,
		const void *payload, size_t len, uint32_t expiry_s, int64_t now_ms,
		mirror_event_cb cb, void *ud)
{
	struct mirror_channel *ch = mirror_channel_find(mr, key);
	struct mirror_member *old = mirror_member_find(ch, id);
	struct mirror_member *m;

	if(len == 0){
		if(old) member_remove(mr, ch, old, cb, ud);
		return 0;
	}

	m = member_parse(id, payload, len);
	if(!m) return -1;
	m->expires_ms = expiry_s ? now_ms + (int64_t)expiry_s * 1000 : 0;

	if(old){
		bool changed = strcmp(old->presence, m->presence) != 0;
		HASH_REPLACE_STR(ch->members, id, m, old);
		member_free(old);
		if(changed && cb) cb(ud, ch->key, MIRROR_UPDATED, m);
		return 0;
	}
	if(!ch){
		ch = calloc(1, sizeof(*ch));
		if(!ch || !(ch->key = strdup(key))){
			free(ch);
			member_free(m);
			return -1;
		}
		HASH_ADD_KEYPTR(hh, mr->channels, ch->key, strlen(ch->key), ch);
	}
	HASH_ADD_KEYPTR(hh, ch->members, m->id, strlen(m->id), m);
	ch->count++;
	mr->members++;
	if(cb) cb(ud, ch->key, MIRROR_JOINED, m);
	return 0;
}

void mirror_expire(struct mirror *mr, int64_t now_ms, mirror_event_cb cb, void *ud)
{
	struct mirror_channel *ch, *ctmp;
	struct mirror_member *m, *mtmp;

	HASH_ITER(hh, mr->channels, ch, ctmp){
		HASH_ITER(hh, ch->members, m, mtmp){
			if(m->expires_ms && m->expires_ms <= now_ms){
				/* member_remove may free ch when it empties: stop iterating it then. */
				bool last = ch->count == 1;
				member_remove(mr, ch, m, cb, ud);
				if(last) break;
			}
		}
	}
}

struct mirror_channel *mirror_channel_find(const struct mirror *mr, const char *key)
{
	struct mirror_channel *ch = NULL;
	if(mr->channels) HASH_FIND_STR(mr->channels, key, ch);
	return ch;
}

struct mirror_member *mirror_member_find(const struct mirror_channel *ch, const char *id)
{
	struct mirror_member *m = NULL;
	if(ch && ch->members) HASH_FIND_STR(ch->members, id, m);
	return m;
}

void mirror_clear(struct mirror *mr)
{
	struct mirror_channel *ch, *tmp;
	HASH_ITER(hh, mr->channels, ch, tmp){
		HASH_DEL(mr->channels, ch);
		channel_free(ch);
	}
	mr->members = 0;
}
