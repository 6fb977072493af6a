/* Presence mirror: see mirror.h. */
#include "mirror.h"
#include "jsonutil.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static void member_free(struct mirror_member *m)
{
	if(!m) return;
	free(m->slot);
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

/* A clientID that can stand for a member: what a topic level could be. */
static bool id_usable(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if(n == 0 || n > 256 || strpbrk(id, "/+#")) return false;
	for(size_t i = 0; i < n; i++) if((unsigned char)id[i] < 0x20 || id[i] == 0x7f) return false;
	return true;
}

/* Builds a member from a payload. A payload that is not a JSON object, or has no
 * object under "presence", gives the presence {}. */
static struct mirror_member *member_parse(const char *slot, const void *payload, size_t len)
{
	struct mirror_member *m = calloc(1, sizeof(*m));
	json_t *root, *pres;
	const char *id;

	if(!m) return NULL;
	root = jsonutil_parse(payload, len, JSON_REJECT_DUPLICATES, NULL, 0);
	pres = json_is_object(root) ? json_object_get(root, "presence") : NULL;
	id = json_string_value(json_object_get(root, "clientID"));
	m->slot = strdup(slot);
	m->id = strdup(id_usable(id) ? id : slot);
	m->presence = json_is_object(pres) ? json_dumps(pres, JSON_COMPACT | JSON_SORT_KEYS) : strdup("{}");
	if(json_is_object(root)){
		m->gateway = dup_or_null(json_string_value(json_object_get(root, "gateway")));
		m->boot = dup_or_null(json_string_value(json_object_get(root, "boot")));
	}
	json_decref(root);
	if(!m->slot || !m->id || !m->presence){
		member_free(m);
		return NULL;
	}
	return m;
}

static void channel_free(struct mirror_channel *ch)
{
	struct mirror_member *m, *tmp;
	HASH_CLEAR(hid, ch->by_id);
	HASH_ITER(hh, ch->members, m, tmp){
		HASH_DEL(ch->members, m);
		member_free(m);
	}
	free(ch->key);
	free(ch);
}

static void ids_add(struct mirror_channel *ch, struct mirror_member *m)
{
	struct mirror_member *other = NULL;
	HASH_FIND(hid, ch->by_id, m->id, strlen(m->id), other);
	m->by_id = !other;
	if(!other) HASH_ADD_KEYPTR(hid, ch->by_id, m->id, strlen(m->id), m);
}

/* Takes m out of the id index; another entry with the same id takes its place. */
static void ids_del(struct mirror_channel *ch, struct mirror_member *m)
{
	struct mirror_member *x, *tmp;
	if(!m->by_id) return;
	HASH_DELETE(hid, ch->by_id, m);
	m->by_id = false;
	HASH_ITER(hh, ch->members, x, tmp){
		if(x != m && !x->by_id && !strcmp(x->id, m->id)){
			HASH_ADD_KEYPTR(hid, ch->by_id, x->id, strlen(x->id), x);
			x->by_id = true;
			break;
		}
	}
}

static void member_remove(struct mirror *mr, struct mirror_channel *ch,
		struct mirror_member *m, mirror_event_cb cb, void *ud)
{
	ids_del(ch, m);
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

int mirror_apply(struct mirror *mr, const char *key, const char *slot,
		const void *payload, size_t len, uint32_t expiry_s, int64_t now_ms,
		mirror_event_cb cb, void *ud)
{
	struct mirror_channel *ch = mirror_channel_find(mr, key);
	struct mirror_member *old = mirror_slot_find(ch, slot);
	struct mirror_member *m;

	if(len == 0){
		if(old) member_remove(mr, ch, old, cb, ud);
		return 0;
	}

	m = member_parse(slot, payload, len);
	if(!m) return -1;
	m->expires_ms = expiry_s ? now_ms + (int64_t)expiry_s * 1000 : 0;

	if(old && strcmp(old->id, m->id)){
		/* The slot has a new holder: the old one left. */
		member_remove(mr, ch, old, cb, ud);
		ch = mirror_channel_find(mr, key);
		old = NULL;
	}
	if(old){
		bool changed = strcmp(old->presence, m->presence) != 0;
		bool indexed = old->by_id;
		if(indexed) HASH_DELETE(hid, ch->by_id, old);
		HASH_REPLACE_STR(ch->members, slot, m, old);
		m->by_id = indexed;
		if(indexed) HASH_ADD_KEYPTR(hid, ch->by_id, m->id, strlen(m->id), m);
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
	HASH_ADD_KEYPTR(hh, ch->members, m->slot, strlen(m->slot), m);
	ids_add(ch, m);
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
	if(ch && ch->by_id) HASH_FIND(hid, ch->by_id, id, strlen(id), m);
	return m;
}

struct mirror_member *mirror_slot_find(const struct mirror_channel *ch, const char *slot)
{
	struct mirror_member *m = NULL;
	if(ch && ch->members) HASH_FIND_STR(ch->members, slot, m);
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
