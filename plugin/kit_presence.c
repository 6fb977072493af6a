/* The dialect kit: this gateway's retained presence entries, and the members
 * of a channel as the presence mirror holds them (see kit.h). */
#define LOG_TAG "kit"
#include "kit.h"
#include "session_int.h"
#include "topic.h"

#include <math.h>
#include <mosquitto_broker.h>
#include <stdlib.h>
#include <string.h>

int kit_presence_take(struct wsgw_gw *gw, struct kit_presence *p, const char *key,
		void (*heal)(void *owner), void *owner)
{
	char slot[CORE_SLOT_SIZE];

	p->slot = -1;
	p->key = strdup(key);
	if(!p->key || (p->slot = core_slot_take(gw, key, slot, heal, owner)) < 0) return -1;
	p->topic = topic_join(gw->cfg->presence_prefix, key, slot, (char *)NULL);
	return p->topic ? 0 : -1;
}

int kit_presence_publish(struct wsgw_gw *gw, struct kit_presence *p, struct wsgw_link *link,
		const char *text)
{
	struct mqttw_prop expiry = { .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = (uint32_t)ceil(gw->cfg->presence_ttl) };
	int64_t period = (int64_t)(gw->cfg->presence_ttl * 1000 / 3);
	int rc;

	if(!text || !link) return -1;
	rc = link_publish(link, &p->mid, p->topic, text, strlen(text), 1, true, &expiry, 1);
	if(!p->next_refresh_ms && period >= 2) period = period / 2 + (int64_t)(gw_random32(NULL) % (uint32_t)(period / 2));
	p->next_refresh_ms = gw_now_ms() + period;
	return rc ? -1 : 0;
}

bool kit_presence_due(const struct kit_presence *p, int64_t now_ms)
{
	return p->next_refresh_ms && now_ms >= p->next_refresh_ms;
}

void kit_presence_clear(struct kit_presence *p, struct wsgw_link *link)
{
	if(link && p->topic) link_publish(link, NULL, p->topic, NULL, 0, 0, true, NULL, 0);
}

void kit_presence_release(struct wsgw_gw *gw, struct kit_presence *p, enum core_slot_end how)
{
	if(p->key) core_slot_release(gw, p->key, p->slot, how);
	free(p->key);
	free(p->topic);
	p->key = p->topic = NULL;
	p->slot = -1;
}

char *kit_presence_entry(struct wsgw_gw *gw, const char *id, json_t *presence, int64_t since_ms)
{
	json_t *o = json_pack("{s:s,s:o,s:s,s:s,s:I}", "clientID", id, "presence", presence ? presence : json_object(),
			"gateway", gw->cfg->gateway_id, "boot", gw->boot_id, "since", (json_int_t)since_ms);
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

int kit_members(struct wsgw_gw *gw, const char *key, const struct mirror_member ***out, size_t *n)
{
	struct mirror_channel *ch = mirror_channel_find(&gw->mirror, key);
	struct mirror_member *m, *tmp;
	size_t i = 0;

	*out = NULL;
	*n = 0;
	if(!ch || !ch->count) return 0;
	*out = calloc(ch->count, sizeof(**out));   /* NOLINT(bugprone-sizeof-expression): an array of pointers */
	if(!*out) return -1;
	HASH_ITER(hh, ch->members, m, tmp) (*out)[i++] = m;
	*n = i;
	return 0;
}

const struct mirror_member *kit_member(struct wsgw_gw *gw, const char *key, const char *id)
{
	return mirror_member_find(mirror_channel_find(&gw->mirror, key), id);
}
