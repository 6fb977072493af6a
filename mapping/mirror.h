/* Presence mirror: the gateway-wide copy of the retained presence tree.
 * Pure code, no I/O: retained presence messages go in, join/update/leave events
 * come out through a callback. The plugin feeds it from its core MQTT session
 * (see plugin/core.c), so it sees members of every gateway and device that
 * publishes on the presence tree, bridged brokers included. */
#ifndef WSGW_MIRROR_H
#define WSGW_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

struct mirror_member {
	UT_hash_handle hh;  /* by slot */
	UT_hash_handle hid; /* by id, in mirror_channel.by_id (the first holder of an id) */
	char *slot;         /* the entry's last topic level */
	char *id;           /* the member id: the payload's "clientID" if it is a usable
	                     * topic level (gateways put entries on reusable slots),
	                     * else the slot (devices) */
	bool by_id;         /* in mirror_channel.by_id */
	char *presence;     /* compact JSON text of the presence object */
	char *gateway;      /* gateway_id of the publishing gateway, NULL for devices */
	char *boot;         /* boot id of the publishing gateway run, or NULL */
	int64_t expires_ms; /* monotonic ms at which it lapses; 0 = never */
};

struct mirror_channel {
	UT_hash_handle hh;
	char *key;          /* "<dialect root>/<channel>" */
	struct mirror_member *members;   /* by slot (iterate with hh) */
	struct mirror_member *by_id;     /* by id (hid) */
	unsigned count;
};

struct mirror {
	struct mirror_channel *channels;
	size_t members;
};

enum mirror_event { MIRROR_JOINED, MIRROR_UPDATED, MIRROR_LEFT };

/* Called for each change; m is valid only during the call. */
typedef void (*mirror_event_cb)(void *ud, const char *key, enum mirror_event ev,
		const struct mirror_member *m);

/* Applies one presence message on slot `slot` (the topic's last level) of
 * channel `key`. An empty payload removes the entry; a payload naming another
 * member than the slot held is a leave and a join. expiry_s is the message-expiry interval left
 * (0 = none). Returns 0, or -1 on allocation failure (the mirror is unchanged). */
int mirror_apply(struct mirror *mr, const char *key, const char *slot,
		const void *payload, size_t len, uint32_t expiry_s, int64_t now_ms,
		mirror_event_cb cb, void *ud);

/* Removes the members whose expiry has passed, reporting MIRROR_LEFT. */
void mirror_expire(struct mirror *mr, int64_t now_ms, mirror_event_cb cb, void *ud);

struct mirror_channel *mirror_channel_find(const struct mirror *mr, const char *key);
/* By member id (when two slots carry the same id, the older entry). */
struct mirror_member *mirror_member_find(const struct mirror_channel *ch, const char *id);
struct mirror_member *mirror_slot_find(const struct mirror_channel *ch, const char *slot);

/* Frees everything, reporting nothing. */
void mirror_clear(struct mirror *mr);

#endif
