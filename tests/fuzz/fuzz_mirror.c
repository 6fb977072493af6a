/* mapping/mirror.c: retained presence payloads from the broker (devices
 * choose them) applied to the mirror, as core.c does. The input is a list of
 * records of four header bytes and a payload:
 *   [op: bits 0-1 (3 = expire), key: bits 2-3, slot: bits 4-6]
 *   [expiry s] [time step, 100 ms units] [payload length] payload...
 * A few keys and slots only, so that records meet on the same entries. After
 * each record the mirror's counts and indexes are checked against what the
 * events said. */
#include "fuzz.h"
#include "jsonutil.h"
#include "mirror.h"

static const char *const keys[] = {"wsdo/lobby", "wsdo/room", "op/com/app", "tele/x"};
static const char *const slots[] = {"c1", "c2", "0123456789ab-0", "0123456789ab-1",
	"dev", "$sys", "a b", "c3"};

struct tally {
	long members;   /* joined - left */
};

static void on_event(void *ud, const char *key, enum mirror_event ev, const struct mirror_member *m)
{
	struct tally *t = ud;

	FUZZ_CHECK(key && m && m->slot && m->id && m->presence);
	FUZZ_CHECK(jsonutil_utf8_valid(m->presence, strlen(m->presence)));
	if(ev == MIRROR_JOINED) t->members++;
	else if(ev == MIRROR_LEFT) t->members--;
}

static void check(const struct mirror *mr, const struct tally *t)
{
	const struct mirror_channel *ch, *ctmp;
	size_t total = 0;

	FUZZ_CHECK(t->members == (long)mr->members);
	HASH_ITER(hh, mr->channels, ch, ctmp){
		struct mirror_member *m, *mtmp;
		unsigned n = 0;
		FUZZ_CHECK(ch->count > 0);   /* an empty channel is dropped */
		HASH_ITER(hh, ch->members, m, mtmp){
			struct mirror_member *byid = mirror_member_find(ch, m->id);
			FUZZ_CHECK(mirror_slot_find(ch, m->slot) == m);
			FUZZ_CHECK(byid && !strcmp(byid->id, m->id));
			n++;
		}
		FUZZ_CHECK(n == ch->count && HASH_CNT(hid, ch->by_id) <= n);
		total += n;
	}
	FUZZ_CHECK(total == mr->members);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mirror mr = {0};
	struct tally t = {0};
	int64_t now = 1000;

	while(size >= 4){
		uint8_t op = data[0] & 3, len = data[3];
		const char *key = keys[(data[0] >> 2) & 3], *slot = slots[(data[0] >> 4) & 7];
		uint32_t expiry = data[1];
		char *payload;

		now += (int64_t)data[2] * 100;
		data += 4;
		size -= 4;
		if(len > size) len = (uint8_t)size;
		payload = fuzz_copy(data, len);
		data += len;
		size -= len;
		if(op == 3) mirror_expire(&mr, now, on_event, &t);
		else mirror_apply(&mr, key, slot, payload, len, expiry, now, on_event, &t);
		free(payload);
		check(&mr, &t);
	}
	mirror_expire(&mr, now + 256000, on_event, &t);
	check(&mr, &t);
	mirror_clear(&mr);
	return 0;
}
