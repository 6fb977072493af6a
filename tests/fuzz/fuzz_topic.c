/* mapping/topic.c and mqttw_topic_matches: channel names from URLs and
 * frames, presence topics and slots from the broker. The input is two
 * strings split at the first NUL byte (a name, prefix or filter; a topic);
 * each goes to every function that takes one. */
#include "fuzz.h"
#include "mqttw.h"
#include "topic.h"

#include <limits.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t alen = nul ? (size_t)(nul - data) : size;
	char *a = fuzz_cstr(data, alen);
	char *b = nul ? fuzz_cstr(nul + 1, size - alen - 1) : fuzz_cstr(data, 0);
	char tag[TOPIC_SLOT_TAG_LEN + 1], level[64], *key = NULL, *j;
	const char *member = NULL;
	int n;

	if(topic_channel_valid(a)){
		FUZZ_CHECK(*a && strlen(a) <= WSGW_CHANNEL_MAX && !strpbrk(a, "/+#") && *a != '$');
		FUZZ_CHECK(topic_level_valid(a));
	}
	if(topic_level_valid(a)) FUZZ_CHECK(*a && !strpbrk(a, "/+#"));
	topic_prefix_valid(a);
	if(topic_presence_split(a, b, &key, &member)){
		FUZZ_CHECK(key && *key && member && *member && !strchr(member, '/'));
		FUZZ_CHECK(member > b && member <= b + strlen(b));
	}
	free(key);
	topic_slot_tag(a, tag);
	FUZZ_CHECK(strlen(tag) == TOPIC_SLOT_TAG_LEN && strspn(tag, "0123456789abcdef") == TOPIC_SLOT_TAG_LEN);
	n = topic_slot_number(b, NULL);
	if(n >= 0) FUZZ_CHECK(topic_slot_number(b, NULL) == n);
	topic_slot_number(b, tag);
	/* a slot level reads back as its number */
	n = alen >= 4 ? (int)((unsigned)data[0] | (unsigned)data[1] << 8 | (unsigned)data[2] << 16 | (unsigned)(data[3] & 0x7F) << 24) : (int)alen;
	topic_slot_level(level, sizeof(level), tag, n);
	FUZZ_CHECK(topic_slot_number(level, tag) == n && topic_slot_number(level, NULL) == n);
	j = topic_join(a, b, NULL);
	FUZZ_CHECK(j != NULL);
	free(j);
	if(mqttw_topic_matches(a, b)) FUZZ_CHECK(*a && *b && !strpbrk(b, "+#"));
	mqttw_topic_matches(b, a);
	free(b);
	free(a);
	return 0;
}
