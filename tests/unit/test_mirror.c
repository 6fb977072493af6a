/* Unit tests for mapping/mirror.c (presence mirror). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mirror.h"

/* ---- event recorder ---- */

#define MAX_EVENTS 4096

struct event {
	char *key;
	enum mirror_event ev;
	char *id;
	char *presence;
	char *gateway;
	char *boot;
	int64_t expires_ms;
};

struct rec {
	struct event ev[MAX_EVENTS];
	size_t n;
	struct mirror *mr;       /* when set, the callback checks the mirror is consistent */
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void record(void *ud, const char *key, enum mirror_event ev, const struct mirror_member *m)
{
	struct rec *r = ud;
	struct event *e;

	assert_non_null(key);
	assert_non_null(m);
	assert_non_null(m->id);
	assert_non_null(m->presence);
	assert_true(r->n < MAX_EVENTS);
	e = &r->ev[r->n++];
	e->key = strdup(key);
	e->ev = ev;
	e->id = strdup(m->id);
	e->presence = strdup(m->presence);
	e->gateway = dup_or_null(m->gateway);
	e->boot = dup_or_null(m->boot);
	e->expires_ms = m->expires_ms;
	if(r->mr && ev == MIRROR_LEFT){
		/* The member is gone from the mirror by the time LEFT is reported. */
		struct mirror_channel *ch = mirror_channel_find(r->mr, key);
		if(ch) assert_null(mirror_member_find(ch, m->id));
	}
}

static void rec_reset(struct rec *r)
{
	for(size_t i = 0; i < r->n; i++){
		free(r->ev[i].key);
		free(r->ev[i].id);
		free(r->ev[i].presence);
		free(r->ev[i].gateway);
		free(r->ev[i].boot);
	}
	r->n = 0;
}

static int setup(void **state)
{
	struct rec *r = calloc(1, sizeof(*r));
	struct mirror *mr = calloc(1, sizeof(*mr));
	if(!r || !mr){
		free(r);
		free(mr);
		return -1;
	}
	r->mr = mr;
	state[0] = r;
	return 0;
}

static int teardown(void **state)
{
	struct rec *r = state[0];
	mirror_clear(r->mr);
	free(r->mr);
	rec_reset(r);
	free(r);
	return 0;
}

static int apply(struct mirror *mr, const char *key, const char *id, const char *payload,
		uint32_t expiry_s, int64_t now, struct rec *r)
{
	return mirror_apply(mr, key, id, payload, payload ? strlen(payload) : 0, expiry_s, now,
			record, r);
}

static void expect_event(const struct rec *r, size_t i, const char *key, enum mirror_event ev,
		const char *id, const char *presence)
{
	assert_true(i < r->n);
	assert_string_equal(r->ev[i].key, key);
	assert_int_equal(r->ev[i].ev, ev);
	assert_string_equal(r->ev[i].id, id);
	if(presence) assert_string_equal(r->ev[i].presence, presence);
}

/* ---- join / update / leave ---- */

static void test_join_presence(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_channel *ch;
	struct mirror_member *m;

	assert_int_equal(apply(mr, "wsdo/lobby", "c1",
			"{\"clientID\":\"c1\",\"presence\":{\"name\":\"ann\"},\"gateway\":\"gw:8080\",\"boot\":\"b1\",\"since\":1}",
			0, 1000, r), 0);
	assert_int_equal(r->n, 1);
	expect_event(r, 0, "wsdo/lobby", MIRROR_JOINED, "c1", "{\"name\":\"ann\"}");
	assert_string_equal(r->ev[0].gateway, "gw:8080");
	assert_string_equal(r->ev[0].boot, "b1");
	assert_int_equal(r->ev[0].expires_ms, 0);

	ch = mirror_channel_find(mr, "wsdo/lobby");
	assert_non_null(ch);
	assert_string_equal(ch->key, "wsdo/lobby");
	assert_int_equal(ch->count, 1);
	assert_int_equal(mr->members, 1);
	m = mirror_member_find(ch, "c1");
	assert_non_null(m);
	assert_string_equal(m->id, "c1");
	assert_string_equal(m->presence, "{\"name\":\"ann\"}");
	assert_string_equal(m->gateway, "gw:8080");
	assert_string_equal(m->boot, "b1");
	assert_null(mirror_member_find(ch, "c2"));
	assert_null(mirror_channel_find(mr, "wsdo/other"));
	assert_null(mirror_channel_find(mr, "wsdo"));
}

static void test_join_default_presence(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_member *m;
	/* Payloads with no usable "presence" object: the presence is {}. */
	static const char *const payloads[] = {
		"{}",
		"{\"clientID\":\"m1\"}",   /* the member id is the clientID (slot m1) */
		"{\"presence\":[1,2]}",
		"{\"presence\":\"text\"}",
		"{\"presence\":null}",
		"{\"presence\":42}",
		"not json at all",
		"42",
		"[{\"presence\":{\"a\":1}}]",
		"\"string\"",
		"{\"presence\":{\"a\":1},\"presence\":{\"b\":2}}",   /* duplicate keys */
		"\xFF\xFE",
	};
	size_t n = sizeof(payloads) / sizeof(payloads[0]);

	for(size_t i = 0; i < n; i++){
		char id[16];
		snprintf(id, sizeof(id), "m%zu", i);
		assert_int_equal(apply(mr, "k", id, payloads[i], 0, 0, r), 0);
		assert_int_equal(r->n, i + 1);
		expect_event(r, i, "k", MIRROR_JOINED, id, "{}");
		m = mirror_member_find(mirror_channel_find(mr, "k"), id);
		assert_non_null(m);
		assert_string_equal(m->presence, "{}");
		assert_null(m->gateway);
		assert_null(m->boot);
	}
	assert_int_equal(mr->members, n);
	assert_int_equal(mirror_channel_find(mr, "k")->count, n);
}

/* A raw NUL byte (which jansson alone skips after a literal) makes the
 * payload not JSON: presence {}, no gateway/boot read from it. */
static void test_join_nul_payload(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_member *m;
	static const char p[] = "{\"presence\":{\"a\":1\0},\"gateway\":\"gw:8080\",\"boot\":\"b1\"}";

	assert_int_equal(mirror_apply(mr, "k", "n1", p, sizeof(p) - 1, 0, 0, record, r), 0);
	assert_int_equal(r->n, 1);
	expect_event(r, 0, "k", MIRROR_JOINED, "n1", "{}");
	m = mirror_member_find(mirror_channel_find(mr, "k"), "n1");
	assert_non_null(m);
	assert_string_equal(m->presence, "{}");
	assert_null(m->gateway);
	assert_null(m->boot);
}

static void test_gateway_boot_types(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_member *m;

	/* Non-string gateway/boot are treated as absent. */
	assert_int_equal(apply(mr, "k", "d1", "{\"presence\":{},\"gateway\":5,\"boot\":{\"x\":1}}", 0, 0, r), 0);
	m = mirror_member_find(mirror_channel_find(mr, "k"), "d1");
	assert_non_null(m);
	assert_null(m->gateway);
	assert_null(m->boot);

	/* A device: presence only. */
	assert_int_equal(apply(mr, "k", "d2", "{\"presence\":{\"t\":true}}", 0, 0, r), 0);
	m = mirror_member_find(mirror_channel_find(mr, "k"), "d2");
	assert_string_equal(m->presence, "{\"t\":true}");
	assert_null(m->gateway);
	assert_null(m->boot);
}

static void test_same_presence_no_event(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_member *m;

	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1},\"boot\":\"b1\",\"since\":1}", 0, 0, r), 0);
	assert_int_equal(r->n, 1);
	/* Same presence, other fields changed: no event, but the record is replaced. */
	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1},\"boot\":\"b2\",\"since\":2}", 0, 0, r), 0);
	assert_int_equal(r->n, 1);
	m = mirror_member_find(mirror_channel_find(mr, "k"), "c1");
	assert_non_null(m);
	assert_string_equal(m->boot, "b2");
	assert_int_equal(mr->members, 1);
	assert_int_equal(mirror_channel_find(mr, "k")->count, 1);

	/* Same presence text with other whitespace: still no event. */
	assert_int_equal(apply(mr, "k", "c1", "{ \"presence\" : { \"a\" : 1 } }", 0, 0, r), 0);
	assert_int_equal(r->n, 1);
}

static void test_key_order_no_update(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1,\"b\":2}}", 0, 0, r), 0);
	assert_int_equal(r->n, 1);
	expect_event(r, 0, "k", MIRROR_JOINED, "c1", "{\"a\":1,\"b\":2}");
	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"b\":2,\"a\":1}}", 0, 0, r), 0);
	assert_int_equal(r->n, 1);

	/* Presence text is canonical (sorted keys) even when joined out of order. */
	assert_int_equal(apply(mr, "k", "c2", "{\"presence\":{\"z\":{\"y\":1,\"x\":2},\"m\":0}}", 0, 0, r), 0);
	expect_event(r, 1, "k", MIRROR_JOINED, "c2", "{\"m\":0,\"z\":{\"x\":2,\"y\":1}}");
}

static void test_update(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1}}", 0, 0, r), 0);
	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":2}}", 0, 0, r), 0);
	assert_int_equal(r->n, 2);
	expect_event(r, 1, "k", MIRROR_UPDATED, "c1", "{\"a\":2}");
	assert_string_equal(mirror_member_find(mirror_channel_find(mr, "k"), "c1")->presence, "{\"a\":2}");
	assert_int_equal(mr->members, 1);
	assert_int_equal(mirror_channel_find(mr, "k")->count, 1);

	/* From an object to no presence: update to {}. */
	assert_int_equal(apply(mr, "k", "c1", "garbage", 0, 0, r), 0);
	assert_int_equal(r->n, 3);
	expect_event(r, 2, "k", MIRROR_UPDATED, "c1", "{}");

	/* And back. */
	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":2}}", 0, 0, r), 0);
	assert_int_equal(r->n, 4);
	expect_event(r, 3, "k", MIRROR_UPDATED, "c1", "{\"a\":2}");
}

static void test_leave(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_channel *ch;

	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"n\":1}}", 0, 0, r), 0);
	assert_int_equal(apply(mr, "k", "c2", "{\"presence\":{\"n\":2}}", 0, 0, r), 0);
	assert_int_equal(apply(mr, "other", "c1", "{}", 0, 0, r), 0);
	assert_int_equal(mr->members, 3);
	assert_int_equal(r->n, 3);

	assert_int_equal(apply(mr, "k", "c1", NULL, 0, 0, r), 0);
	assert_int_equal(r->n, 4);
	expect_event(r, 3, "k", MIRROR_LEFT, "c1", "{\"n\":1}");
	assert_int_equal(mr->members, 2);
	ch = mirror_channel_find(mr, "k");
	assert_non_null(ch);
	assert_int_equal(ch->count, 1);
	assert_null(mirror_member_find(ch, "c1"));
	assert_non_null(mirror_member_find(ch, "c2"));
	/* Same id in another channel is untouched. */
	assert_non_null(mirror_member_find(mirror_channel_find(mr, "other"), "c1"));

	/* Leaving twice, or an unknown member or channel: nothing happens. */
	assert_int_equal(apply(mr, "k", "c1", NULL, 0, 0, r), 0);
	assert_int_equal(apply(mr, "k", "nobody", NULL, 0, 0, r), 0);
	assert_int_equal(apply(mr, "nochannel", "c1", NULL, 0, 0, r), 0);
	assert_int_equal(r->n, 4);
	assert_int_equal(mr->members, 2);

	/* The last member leaves: the channel disappears. */
	assert_int_equal(mirror_apply(mr, "k", "c2", "", 0, 0, 0, record, r), 0);
	assert_int_equal(r->n, 5);
	expect_event(r, 4, "k", MIRROR_LEFT, "c2", "{\"n\":2}");
	assert_null(mirror_channel_find(mr, "k"));
	assert_int_equal(mr->members, 1);

	assert_int_equal(apply(mr, "other", "c1", NULL, 0, 0, r), 0);
	assert_null(mirror_channel_find(mr, "other"));
	assert_null(mr->channels);
	assert_int_equal(mr->members, 0);

	/* And may come back. */
	assert_int_equal(apply(mr, "k", "c2", "{}", 0, 0, r), 0);
	expect_event(r, r->n - 1, "k", MIRROR_JOINED, "c2", "{}");
	assert_int_equal(mirror_channel_find(mr, "k")->count, 1);
	assert_int_equal(mr->members, 1);
}

static void test_no_callback(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	assert_int_equal(mirror_apply(mr, "k", "a", "{}", 2, 0, 5, NULL, NULL), 0);
	assert_int_equal(mirror_apply(mr, "k", "a", "{\"presence\":{\"x\":1}}", 20, 0, 5, NULL, NULL), 0);
	assert_string_equal(mirror_member_find(mirror_channel_find(mr, "k"), "a")->presence, "{\"x\":1}");
	assert_int_equal(mirror_apply(mr, "k", "b", "{}", 2, 0, 5, NULL, NULL), 0);
	assert_int_equal(mr->members, 2);
	assert_int_equal(mirror_apply(mr, "k", "a", NULL, 0, 0, 5, NULL, NULL), 0);
	assert_int_equal(mr->members, 1);
	mirror_expire(mr, 0, NULL, NULL);    /* b never expires */
	assert_int_equal(mr->members, 1);
	assert_int_equal(mirror_apply(mr, "k", "c", "{}", 2, 1, 0, NULL, NULL), 0);
	mirror_expire(mr, 1000, NULL, NULL);
	assert_int_equal(mr->members, 1);
	assert_null(mirror_member_find(mirror_channel_find(mr, "k"), "c"));
	assert_int_equal(r->n, 0);
}

/* ---- expiry ---- */

static void test_expiry_boundary(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_member *m;

	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1}}", 2, 1000, r), 0);
	m = mirror_member_find(mirror_channel_find(mr, "k"), "c1");
	assert_non_null(m);
	assert_int_equal(m->expires_ms, 3000);
	assert_int_equal(r->ev[0].expires_ms, 3000);

	mirror_expire(mr, 2999, record, r);
	assert_int_equal(r->n, 1);
	assert_int_equal(mr->members, 1);
	assert_non_null(mirror_member_find(mirror_channel_find(mr, "k"), "c1"));

	mirror_expire(mr, 3000, record, r);
	assert_int_equal(r->n, 2);
	expect_event(r, 1, "k", MIRROR_LEFT, "c1", "{\"a\":1}");
	assert_int_equal(mr->members, 0);
	assert_null(mirror_channel_find(mr, "k"));

	/* Nothing left to expire. */
	mirror_expire(mr, 100000, record, r);
	assert_int_equal(r->n, 2);
}

static void test_expiry_refresh(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1}}", 2, 1000, r), 0);
	/* Refreshed at 2500 with the same presence: no event, new expiry 4500. */
	assert_int_equal(apply(mr, "k", "c1", "{\"presence\":{\"a\":1}}", 2, 2500, r), 0);
	assert_int_equal(r->n, 1);
	assert_int_equal(mirror_member_find(mirror_channel_find(mr, "k"), "c1")->expires_ms, 4500);

	mirror_expire(mr, 3000, record, r);
	mirror_expire(mr, 4499, record, r);
	assert_int_equal(r->n, 1);
	assert_int_equal(mr->members, 1);

	mirror_expire(mr, 4500, record, r);
	assert_int_equal(r->n, 2);
	expect_event(r, 1, "k", MIRROR_LEFT, "c1", NULL);
	assert_int_equal(mr->members, 0);
}

static void test_expiry_cleared_by_refresh(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	/* A refresh without expiry makes the member permanent. */
	assert_int_equal(apply(mr, "k", "c1", "{}", 2, 1000, r), 0);
	assert_int_equal(apply(mr, "k", "c1", "{}", 0, 1500, r), 0);
	assert_int_equal(mirror_member_find(mirror_channel_find(mr, "k"), "c1")->expires_ms, 0);
	mirror_expire(mr, INT64_MAX, record, r);
	assert_int_equal(r->n, 1);
	assert_int_equal(mr->members, 1);

	/* And the reverse: a permanent member gets an expiry. */
	assert_int_equal(apply(mr, "k", "c1", "{}", 1, 5000, r), 0);
	mirror_expire(mr, 5999, record, r);
	assert_int_equal(mr->members, 1);
	mirror_expire(mr, 6000, record, r);
	assert_int_equal(mr->members, 0);
	assert_int_equal(r->n, 2);
	expect_event(r, 1, "k", MIRROR_LEFT, "c1", "{}");
}

static void test_expiry_zero_never(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	assert_int_equal(apply(mr, "k", "forever", "{}", 0, 1000, r), 0);
	assert_int_equal(apply(mr, "k", "brief", "{}", 1, 1000, r), 0);
	assert_int_equal(mirror_member_find(mirror_channel_find(mr, "k"), "forever")->expires_ms, 0);
	mirror_expire(mr, INT64_MAX, record, r);
	assert_int_equal(r->n, 3);
	expect_event(r, 2, "k", MIRROR_LEFT, "brief", NULL);
	assert_int_equal(mr->members, 1);
	assert_non_null(mirror_member_find(mirror_channel_find(mr, "k"), "forever"));
}

static void test_expiry_large(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;

	/* The largest expiry interval does not overflow. */
	assert_int_equal(apply(mr, "k", "c1", "{}", UINT32_MAX, 1000, r), 0);
	assert_int_equal(mirror_member_find(mirror_channel_find(mr, "k"), "c1")->expires_ms,
			1000 + (int64_t)UINT32_MAX * 1000);
	mirror_expire(mr, (int64_t)UINT32_MAX * 1000, record, r);
	assert_int_equal(mr->members, 1);
	mirror_expire(mr, 1000 + (int64_t)UINT32_MAX * 1000, record, r);
	assert_int_equal(mr->members, 0);
}

/* Many channels and members expiring at once, including every member of some
 * channels (the channel is freed while mirror_expire iterates). */
#define NCH 40
#define NMEM 25

static void test_expire_many(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	char key[32], id[32];
	/* alive[c][m]: is member m of channel c expected to remain after expiry at 5000? */
	bool alive[NCH][NMEM];
	size_t expect_left = 0, expect_alive = 0;
	size_t nchannels_alive = 0;

	for(int c = 0; c < NCH; c++){
		for(int m = 0; m < NMEM; m++){
			uint32_t expiry;
			/* c % 4 == 0: all expire; c % 4 == 1: none expire (no expiry);
			 * c % 4 == 2: every other expires; c % 4 == 3: only the last expires. */
			switch(c % 4){
			case 0: expiry = 1 + (uint32_t)(m % 4); break;            /* <= 4 s */
			case 1: expiry = 0; break;
			case 2: expiry = (m % 2) ? 3 : 100; break;
			default: expiry = (m == NMEM - 1) ? 5 : 6; break;         /* 5 s: exactly at the boundary */
			}
			snprintf(key, sizeof(key), "wsdo/ch%d", c);
			snprintf(id, sizeof(id), "client_%d", m);
			assert_int_equal(apply(mr, key, id, "{\"presence\":{}}", expiry, 0, r), 0);
			/* Expire at 5000 ms: members with expiry <= 5 s go. */
			alive[c][m] = expiry == 0 || expiry > 5;
			if(alive[c][m]) expect_alive++;
			else expect_left++;
		}
	}
	assert_int_equal(mr->members, NCH * NMEM);
	assert_int_equal(HASH_COUNT(mr->channels), NCH);
	rec_reset(r);

	mirror_expire(mr, 5000, record, r);
	assert_int_equal(r->n, expect_left);
	assert_int_equal(mr->members, expect_alive);
	for(size_t i = 0; i < r->n; i++){
		int c, m;
		assert_int_equal(r->ev[i].ev, MIRROR_LEFT);
		assert_int_equal(sscanf(r->ev[i].key, "wsdo/ch%d", &c), 1);
		assert_int_equal(sscanf(r->ev[i].id, "client_%d", &m), 1);
		assert_false(alive[c][m]);
		/* Each member leaves only once. */
		for(size_t j = 0; j < i; j++){
			assert_false(!strcmp(r->ev[j].key, r->ev[i].key) && !strcmp(r->ev[j].id, r->ev[i].id));
		}
	}
	for(int c = 0; c < NCH; c++){
		struct mirror_channel *ch;
		unsigned n = 0;
		snprintf(key, sizeof(key), "wsdo/ch%d", c);
		ch = mirror_channel_find(mr, key);
		for(int m = 0; m < NMEM; m++) if(alive[c][m]) n++;
		if(n == 0){
			assert_null(ch);
			continue;
		}
		nchannels_alive++;
		assert_non_null(ch);
		assert_int_equal(ch->count, n);
		assert_int_equal(HASH_COUNT(ch->members), n);
		for(int m = 0; m < NMEM; m++){
			snprintf(id, sizeof(id), "client_%d", m);
			if(alive[c][m]) assert_non_null(mirror_member_find(ch, id));
			else assert_null(mirror_member_find(ch, id));
		}
	}
	assert_int_equal(HASH_COUNT(mr->channels), nchannels_alive);
	assert_int_equal(nchannels_alive, NCH - NCH / 4);

	/* Expire everything that can expire; permanent members remain. */
	rec_reset(r);
	mirror_expire(mr, INT64_MAX, record, r);
	assert_int_equal(mr->members, (NCH / 4) * NMEM);
	assert_int_equal(HASH_COUNT(mr->channels), NCH / 4);
}

/* Every channel holding a single expiring member: each removal frees the
 * channel under the iterator. */
static void test_expire_single_member_channels(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	char key[32];

	for(int c = 0; c < 200; c++){
		snprintf(key, sizeof(key), "k%d", c);
		assert_int_equal(apply(mr, key, "only", "{}", 1, 0, r), 0);
	}
	rec_reset(r);
	mirror_expire(mr, 1000, record, r);
	assert_int_equal(r->n, 200);
	assert_int_equal(mr->members, 0);
	assert_null(mr->channels);
}

/* A pseudo-random workload checked against a simple model. */
struct model_entry { bool present; char presence[16]; int64_t expires; };

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void test_random_model(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	enum { KCH = 7, KMEM = 11 };
	struct model_entry model[KCH][KMEM];
	uint32_t seed = 12345;
	int64_t now = 0;

	memset(model, 0, sizeof(model));
	for(int step = 0; step < 5000; step++){
		int c = (int)(lcg(&seed) % KCH), m = (int)(lcg(&seed) % KMEM);
		uint32_t op = lcg(&seed) % 10;
		char key[16], id[16], payload[64], pres[16];
		size_t before = r->n;

		snprintf(key, sizeof(key), "c%d", c);
		snprintf(id, sizeof(id), "m%d", m);
		now += lcg(&seed) % 300;
		if(op < 6){
			uint32_t expiry = lcg(&seed) % 4;
			snprintf(pres, sizeof(pres), "{\"v\":%u}", lcg(&seed) % 3);
			snprintf(payload, sizeof(payload), "{\"presence\":%s}", pres);
			assert_int_equal(apply(mr, key, id, payload, expiry, now, r), 0);
			if(!model[c][m].present){
				assert_int_equal(r->n, before + 1);
				expect_event(r, before, key, MIRROR_JOINED, id, pres);
			}else if(strcmp(model[c][m].presence, pres)){
				assert_int_equal(r->n, before + 1);
				expect_event(r, before, key, MIRROR_UPDATED, id, pres);
			}else{
				assert_int_equal(r->n, before);
			}
			model[c][m].present = true;
			snprintf(model[c][m].presence, sizeof(model[c][m].presence), "%s", pres);
			model[c][m].expires = expiry ? now + expiry * 1000 : 0;
		}else if(op < 8){
			assert_int_equal(apply(mr, key, id, NULL, 0, now, r), 0);
			if(model[c][m].present){
				assert_int_equal(r->n, before + 1);
				expect_event(r, before, key, MIRROR_LEFT, id, model[c][m].presence);
			}else{
				assert_int_equal(r->n, before);
			}
			model[c][m].present = false;
		}else{
			size_t want = 0;
			mirror_expire(mr, now, record, r);
			for(int i = 0; i < KCH; i++) for(int j = 0; j < KMEM; j++){
				if(model[i][j].present && model[i][j].expires && model[i][j].expires <= now){
					model[i][j].present = false;
					want++;
				}
			}
			assert_int_equal(r->n - before, want);
			for(size_t e = before; e < r->n; e++) assert_int_equal(r->ev[e].ev, MIRROR_LEFT);
		}
		/* Compare the whole mirror with the model. */
		{
			size_t total = 0;
			for(int i = 0; i < KCH; i++){
				struct mirror_channel *ch;
				unsigned n = 0;
				snprintf(key, sizeof(key), "c%d", i);
				ch = mirror_channel_find(mr, key);
				for(int j = 0; j < KMEM; j++){
					struct mirror_member *mm;
					snprintf(id, sizeof(id), "m%d", j);
					mm = mirror_member_find(ch, id);
					if(model[i][j].present){
						assert_non_null(mm);
						assert_string_equal(mm->presence, model[i][j].presence);
						assert_int_equal(mm->expires_ms, model[i][j].expires);
						n++;
					}else{
						assert_null(mm);
					}
				}
				if(n) assert_int_equal(ch->count, n);
				else assert_null(ch);
				total += n;
			}
			assert_int_equal(mr->members, total);
		}
		if(r->n > MAX_EVENTS - 100) rec_reset(r);
	}
}

/* ---- clear ---- */

static void test_clear(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	char key[32], id[32];

	for(int c = 0; c < 30; c++){
		for(int m = 0; m < 10; m++){
			snprintf(key, sizeof(key), "wsdo/%d", c);
			snprintf(id, sizeof(id), "id%d", m);
			assert_int_equal(apply(mr, key, id,
					"{\"presence\":{\"a\":\"b\"},\"gateway\":\"g\",\"boot\":\"x\"}", (uint32_t)m, 0, r), 0);
		}
	}
	assert_int_equal(mr->members, 300);
	rec_reset(r);
	mirror_clear(mr);
	assert_int_equal(r->n, 0);          /* reports nothing */
	assert_null(mr->channels);
	assert_int_equal(mr->members, 0);
	assert_null(mirror_channel_find(mr, "wsdo/0"));

	/* Usable again after clear, and clearing an empty mirror is fine. */
	assert_int_equal(apply(mr, "wsdo/0", "id0", "{}", 0, 0, r), 0);
	assert_int_equal(r->n, 1);
	expect_event(r, 0, "wsdo/0", MIRROR_JOINED, "id0", "{}");
	mirror_clear(mr);
	mirror_clear(mr);
	assert_null(mr->channels);
}

static void test_find_on_empty(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	assert_null(mirror_channel_find(mr, "k"));
	assert_null(mirror_member_find(NULL, "x"));
	mirror_expire(mr, 1000, record, r);
	assert_int_equal(r->n, 0);
}

/* ---- entries on reusable slots: the member id is the payload's clientID ---- */

static void test_slot_id_from_payload(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_channel *ch;
	struct mirror_member *m;

	assert_int_equal(apply(mr, "k", "gw0-0", "{\"clientID\":\"client_A\",\"presence\":{\"n\":1}}", 0, 0, r), 0);
	expect_event(r, 0, "k", MIRROR_JOINED, "client_A", "{\"n\":1}");
	ch = mirror_channel_find(mr, "k");
	m = mirror_member_find(ch, "client_A");
	assert_non_null(m);
	assert_string_equal(m->slot, "gw0-0");
	assert_ptr_equal(mirror_slot_find(ch, "gw0-0"), m);
	assert_null(mirror_member_find(ch, "gw0-0"));
	/* A refresh with other presence: an update of the same member. */
	assert_int_equal(apply(mr, "k", "gw0-0", "{\"clientID\":\"client_A\",\"presence\":{\"n\":2}}", 0, 0, r), 0);
	expect_event(r, 1, "k", MIRROR_UPDATED, "client_A", "{\"n\":2}");
	assert_non_null(mirror_member_find(ch, "client_A"));
	/* The slot's next holder without a clear in between: a leave and a join. */
	assert_int_equal(apply(mr, "k", "gw0-0", "{\"clientID\":\"client_B\"}", 0, 0, r), 0);
	assert_int_equal(r->n, 4);
	expect_event(r, 2, "k", MIRROR_LEFT, "client_A", "{\"n\":2}");
	expect_event(r, 3, "k", MIRROR_JOINED, "client_B", "{}");
	ch = mirror_channel_find(mr, "k");
	assert_null(mirror_member_find(ch, "client_A"));
	assert_non_null(mirror_member_find(ch, "client_B"));
	assert_int_equal(ch->count, 1);
	assert_int_equal(mr->members, 1);
	/* The clear of the slot removes whoever holds it, by its id. */
	assert_int_equal(apply(mr, "k", "gw0-0", NULL, 0, 0, r), 0);
	expect_event(r, 4, "k", MIRROR_LEFT, "client_B", NULL);
	assert_null(mirror_channel_find(mr, "k"));
	/* A clientID that is no topic level (or none, or not a string): the slot. */
	assert_int_equal(apply(mr, "k", "dev1", "{\"clientID\":\"a/b\"}", 0, 0, r), 0);
	assert_int_equal(apply(mr, "k", "dev2", "{\"clientID\":7}", 0, 0, r), 0);
	assert_int_equal(apply(mr, "k", "dev3", "{\"clientID\":\"\"}", 0, 0, r), 0);
	expect_event(r, 5, "k", MIRROR_JOINED, "dev1", NULL);
	expect_event(r, 6, "k", MIRROR_JOINED, "dev2", NULL);
	expect_event(r, 7, "k", MIRROR_JOINED, "dev3", NULL);
}

static void test_slot_same_id_twice(void **state)
{
	struct rec *r = state[0];
	struct mirror *mr = r->mr;
	struct mirror_channel *ch;

	r->mr = NULL;   /* the id stays findable after one of its entries left */
	/* One uid on two gateways for a moment (Comet takeover across brokers). */
	assert_int_equal(apply(mr, "k", "g1-0", "{\"clientID\":\"u\",\"presence\":{\"g\":1}}", 0, 0, r), 0);
	assert_int_equal(apply(mr, "k", "g2-0", "{\"clientID\":\"u\",\"presence\":{\"g\":2}}", 0, 0, r), 0);
	ch = mirror_channel_find(mr, "k");
	assert_int_equal(ch->count, 2);
	assert_string_equal(mirror_member_find(ch, "u")->slot, "g1-0");
	assert_int_equal(apply(mr, "k", "g1-0", NULL, 0, 0, r), 0);
	ch = mirror_channel_find(mr, "k");
	assert_non_null(ch);
	assert_non_null(mirror_member_find(ch, "u"));
	assert_string_equal(mirror_member_find(ch, "u")->slot, "g2-0");
	/* Updating the remaining entry keeps it findable. */
	assert_int_equal(apply(mr, "k", "g2-0", "{\"clientID\":\"u\",\"presence\":{\"g\":3}}", 0, 0, r), 0);
	assert_string_equal(mirror_member_find(ch, "u")->presence, "{\"g\":3}");
	assert_int_equal(apply(mr, "k", "g2-0", NULL, 0, 0, r), 0);
	assert_null(mirror_channel_find(mr, "k"));
	r->mr = mr;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_join_presence),
		T(test_join_default_presence),
		T(test_join_nul_payload),
		T(test_gateway_boot_types),
		T(test_same_presence_no_event),
		T(test_key_order_no_update),
		T(test_update),
		T(test_leave),
		T(test_no_callback),
		T(test_expiry_boundary),
		T(test_expiry_refresh),
		T(test_expiry_cleared_by_refresh),
		T(test_expiry_zero_never),
		T(test_expiry_large),
		T(test_expire_many),
		T(test_expire_single_member_channels),
		T(test_random_model),
		T(test_clear),
		T(test_find_on_empty),
		T(test_slot_id_from_payload),
		T(test_slot_same_id_twice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
