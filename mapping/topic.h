/* Topic mapping: web names <-> MQTT topics. Pure code, no I/O.
 * See docs/TOPICS.md for the table this module implements. */
#ifndef WSGW_TOPIC_H
#define WSGW_TOPIC_H

#include <stdbool.h>
#include <stddef.h>

#define WSGW_CHANNEL_MAX 128

/* True if name is a valid single-level channel name: 1..WSGW_CHANNEL_MAX bytes of
 * UTF-8, no '/', '+', '#', NUL or control characters, not starting with '$'. */
bool topic_channel_valid(const char *name);

/* True if s may be used as one fixed MQTT topic level inside a filter
 * (non-empty, no '/', '+', '#'). */
bool topic_level_valid(const char *s);

/* True if prefix is a usable topic prefix: empty, or levels without wildcards,
 * no leading or trailing '/', no empty levels. */
bool topic_prefix_valid(const char *prefix);

/* Joins the non-NULL, non-empty parts with '/' into a new string (caller frees).
 * The list ends with NULL. Returns NULL on allocation failure. */
char *topic_join(const char *first, ...);

/* Splits a topic below presence_prefix into the channel key and the member id:
 * "<presence_prefix>/<key...>/<member>". On success *key is a new string
 * (caller frees) and *member points into topic. Returns false if topic is not
 * below the prefix or has fewer than two levels after it. */
bool topic_presence_split(const char *presence_prefix, const char *topic,
		char **key, const char **member);

/* Presence slots (docs/TOPICS.md): the last level of a gateway's presence
 * entries is <tag>-<n>, <tag> TOPIC_SLOT_TAG_LEN hex characters of a hash of
 * its gateway_id, n from 0, in decimal. core.c hands them out, plugin.c's ACL
 * guard knows them. */
#define TOPIC_SLOT_TAG_LEN 12
void topic_slot_tag(const char *gateway_id, char tag[TOPIC_SLOT_TAG_LEN + 1]);
/* Writes <tag>-<n> into out (truncated to outlen). */
void topic_slot_level(char *out, size_t outlen, const char *tag, int n);
/* n if level is a slot of the gateway with tag (of any gateway if tag is
 * NULL), else -1. */
int topic_slot_number(const char *level, const char *tag);

#endif
