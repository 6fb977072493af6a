/* Unit tests for mapping/topic.c and mapping/jsonutil.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"
#include "topic.h"

/* A string of n copies of unit (caller frees). */
static char *repeat(const char *unit, size_t n)
{
	size_t ulen = strlen(unit);
	char *s = malloc(ulen * n + 1);
	assert_non_null(s);
	for(size_t i = 0; i < n; i++) memcpy(s + i * ulen, unit, ulen);
	s[ulen * n] = '\0';
	return s;
}

/* ---- topic_channel_valid ---- */

static void test_channel_valid_plain(void **state)
{
	(void)state;
	assert_true(topic_channel_valid("lobby"));
	assert_true(topic_channel_valid("a"));
	assert_true(topic_channel_valid("room-1_x.y~z"));
	assert_true(topic_channel_valid("with space"));
	assert_true(topic_channel_valid("x$"));            /* '$' only banned in front */
	assert_true(topic_channel_valid("a:b@c=d&e"));
}

static void test_channel_valid_utf8(void **state)
{
	(void)state;
	assert_true(topic_channel_valid("caf\xC3\xA9"));            /* café */
	assert_true(topic_channel_valid("\xE2\x82\xAC"));           /* € */
	assert_true(topic_channel_valid("\xF0\x9D\x84\x9E"));       /* U+1D11E */
	assert_true(topic_channel_valid("\xE6\x97\xA5\xE6\x9C\xAC")); /* 日本 */
	assert_true(topic_channel_valid("\xF4\x8F\xBF\xBF"));       /* U+10FFFF */
	assert_true(topic_channel_valid("\xC2\xA0"));               /* U+00A0, just past the C1 block */
	/* C1 controls (U+0080-U+009F): valid UTF-8, but Mosquitto refuses them in topics. */
	assert_false(topic_channel_valid("\xC2\x80"));
	assert_false(topic_channel_valid("a\xC2\x9F"));
}

static void test_channel_valid_empty_null(void **state)
{
	(void)state;
	assert_false(topic_channel_valid(""));
	assert_false(topic_channel_valid(NULL));
}

static void test_channel_valid_length(void **state)
{
	char *s;
	(void)state;

	s = repeat("a", WSGW_CHANNEL_MAX);
	assert_int_equal(strlen(s), 128);
	assert_true(topic_channel_valid(s));
	free(s);

	s = repeat("a", WSGW_CHANNEL_MAX + 1);
	assert_false(topic_channel_valid(s));
	free(s);

	s = repeat("a", 1000);
	assert_false(topic_channel_valid(s));
	free(s);

	/* The limit is in bytes, not characters. */
	s = repeat("\xC3\xA9", 64);     /* 128 bytes */
	assert_true(topic_channel_valid(s));
	free(s);

	s = repeat("\xE2\x82\xAC", 43); /* 129 bytes, 43 characters */
	assert_false(topic_channel_valid(s));
	free(s);

	s = repeat("\xE2\x82\xAC", 42); /* 126 bytes */
	assert_true(topic_channel_valid(s));
	free(s);
}

static void test_channel_valid_reserved(void **state)
{
	(void)state;
	assert_false(topic_channel_valid("a/b"));
	assert_false(topic_channel_valid("/"));
	assert_false(topic_channel_valid("lobby/"));
	assert_false(topic_channel_valid("/lobby"));
	assert_false(topic_channel_valid("a+b"));
	assert_false(topic_channel_valid("+"));
	assert_false(topic_channel_valid("a#b"));
	assert_false(topic_channel_valid("#"));
	assert_false(topic_channel_valid("$x"));
	assert_false(topic_channel_valid("$SYS"));
	assert_false(topic_channel_valid("$"));
}

static void test_channel_valid_control(void **state)
{
	char buf[4] = {'a', 0, 'b', 0};
	(void)state;
	for(int c = 1; c < 0x20; c++){
		buf[1] = (char)c;
		assert_false(topic_channel_valid(buf));
	}
	buf[1] = 0x7F;
	assert_false(topic_channel_valid(buf));
	assert_false(topic_channel_valid("\t"));
	assert_false(topic_channel_valid("lobby\n"));
	buf[1] = 0x20;
	assert_true(topic_channel_valid(buf));
	buf[1] = 0x7E;
	assert_true(topic_channel_valid(buf));
}

static void test_channel_valid_bad_utf8(void **state)
{
	(void)state;
	assert_false(topic_channel_valid("\xC0\x80"));            /* overlong NUL */
	assert_false(topic_channel_valid("\xC1\xBF"));            /* overlong */
	assert_false(topic_channel_valid("\xE0\x80\xAF"));        /* overlong '/' */
	assert_false(topic_channel_valid("\xF0\x80\x80\xAF"));    /* overlong '/' */
	assert_false(topic_channel_valid("\xED\xA0\x80"));        /* lone high surrogate */
	assert_false(topic_channel_valid("\xED\xBF\xBF"));        /* lone low surrogate */
	assert_false(topic_channel_valid("caf\xC3"));             /* truncated 2-byte */
	assert_false(topic_channel_valid("\xE2\x82"));            /* truncated 3-byte */
	assert_false(topic_channel_valid("\xF0\x9D\x84"));        /* truncated 4-byte */
	assert_false(topic_channel_valid("\xE2\x82x"));           /* bad continuation */
	assert_false(topic_channel_valid("\x80"));                /* lone continuation */
	assert_false(topic_channel_valid("a\xBF" "b"));
	assert_false(topic_channel_valid("\xFF"));
	assert_false(topic_channel_valid("\xFE"));
	assert_false(topic_channel_valid("\xF4\x90\x80\x80"));    /* > U+10FFFF */
	assert_false(topic_channel_valid("\xF8\x88\x80\x80\x80")); /* 5-byte form */
}

/* ---- topic_level_valid ---- */

static void test_level_valid(void **state)
{
	(void)state;
	assert_true(topic_level_valid("wsdo"));
	assert_true(topic_level_valid("client_abc"));
	assert_true(topic_level_valid("host:8080"));
	assert_true(topic_level_valid("$x"));
	assert_false(topic_level_valid(NULL));
	assert_false(topic_level_valid(""));
	assert_false(topic_level_valid("a/b"));
	assert_false(topic_level_valid("/"));
	assert_false(topic_level_valid("a+"));
	assert_false(topic_level_valid("#"));
}

/* ---- topic_prefix_valid ---- */

static void test_prefix_valid(void **state)
{
	(void)state;
	assert_true(topic_prefix_valid(""));
	assert_true(topic_prefix_valid("wsgw"));
	assert_true(topic_prefix_valid("a/b"));
	assert_true(topic_prefix_valid("wsgw/presence"));
	assert_true(topic_prefix_valid("a/b/c/d"));
	assert_true(topic_prefix_valid("caf\xC3\xA9/x"));
	assert_false(topic_prefix_valid(NULL));
	assert_false(topic_prefix_valid("/"));
	assert_false(topic_prefix_valid("/a"));
	assert_false(topic_prefix_valid("a/"));
	assert_false(topic_prefix_valid("a//b"));
	assert_false(topic_prefix_valid("a/+"));
	assert_false(topic_prefix_valid("+"));
	assert_false(topic_prefix_valid("a/#"));
	assert_false(topic_prefix_valid("a#b"));
	assert_false(topic_prefix_valid("a/\xC0\x80"));
	assert_false(topic_prefix_valid("a/\xED\xA0\x80"));
}

/* ---- topic_join ---- */

static void check_join(char *got, const char *want)
{
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_join(void **state)
{
	(void)state;
	check_join(topic_join("wsgw", "wsdo", "lobby", (const char *)NULL), "wsgw/wsdo/lobby");
	check_join(topic_join("wsgw", "", "x", (const char *)NULL), "wsgw/x");
	check_join(topic_join("", "x", (const char *)NULL), "x");
	check_join(topic_join("x", "", (const char *)NULL), "x");
	check_join(topic_join("", "", "", (const char *)NULL), "");
	check_join(topic_join("", (const char *)NULL), "");
	check_join(topic_join((const char *)NULL), "");
	check_join(topic_join("one", (const char *)NULL), "one");
	check_join(topic_join("a/b", "c", "", "d/e", (const char *)NULL), "a/b/c/d/e");
	check_join(topic_join("wsgw/wsdo/lobby", "to", "client_1", (const char *)NULL),
			"wsgw/wsdo/lobby/to/client_1");
}

/* ---- topic_presence_split ---- */

static void split_ok(const char *prefix, const char *topic, const char *want_key,
		const char *want_member)
{
	char *key = (char *)1;
	const char *member = (const char *)1;
	assert_true(topic_presence_split(prefix, topic, &key, &member));
	assert_non_null(key);
	assert_string_equal(key, want_key);
	assert_non_null(member);
	assert_string_equal(member, want_member);
	/* member points into topic */
	assert_ptr_equal(member, topic + strlen(topic) - strlen(want_member));
	free(key);
}

static void split_bad(const char *prefix, const char *topic)
{
	char *key = (char *)1;
	const char *member = (const char *)1;
	assert_false(topic_presence_split(prefix, topic, &key, &member));
	assert_null(key);
	assert_null(member);
}

static void test_presence_split(void **state)
{
	(void)state;
	split_ok("wsgw/presence", "wsgw/presence/wsdo/lobby/client_1", "wsdo/lobby", "client_1");
	split_ok("wsgw/presence", "wsgw/presence/a/b", "a", "b");
	split_ok("wsgw/presence", "wsgw/presence/a/b/c/d", "a/b/c", "d");
	split_ok("p", "p/wsdo/caf\xC3\xA9/dev1", "wsdo/caf\xC3\xA9", "dev1");

	/* not on a level boundary */
	split_bad("wsgw/presence", "wsgw/presencex/a/b");
	split_bad("wsgw/presence", "wsgw/presenc/a/b");
	/* elsewhere */
	split_bad("wsgw/presence", "other/presence/a/b");
	split_bad("wsgw/presence", "wsgw/wsdo/lobby");
	/* too few levels */
	split_bad("wsgw/presence", "wsgw/presence");
	split_bad("wsgw/presence", "wsgw/presence/");
	split_bad("wsgw/presence", "wsgw/presence/a");
	split_bad("wsgw/presence", "wsgw/presence/a/");
	split_bad("wsgw/presence", "wsgw/presence//m");
	split_bad("wsgw/presence", "wsgw");
	split_bad("wsgw/presence", "");
}

static void test_presence_split_empty_prefix(void **state)
{
	(void)state;
	split_ok("", "a/b", "a", "b");
	split_ok("", "wsdo/lobby/m", "wsdo/lobby", "m");
	split_bad("", "a");
	split_bad("", "");
	split_bad("", "a/");
	split_bad("", "/m");
}

/* ---- presence slots ---- */

static void test_slot_tag(void **state)
{
	char tag[TOPIC_SLOT_TAG_LEN + 1], other[TOPIC_SLOT_TAG_LEN + 1];
	(void)state;

	/* FNV-1a 64 of the gateway id, its top 48 bits in hex: stable across
	 * runs and builds, so that a restart finds its earlier run's slots. */
	topic_slot_tag("gw-1:8080", tag);
	assert_string_equal(tag, "3f92f13333ba");
	topic_slot_tag("", tag);
	assert_string_equal(tag, "cbf29ce48422");
	topic_slot_tag("gw-2:8080", other);
	assert_int_equal(strlen(other), TOPIC_SLOT_TAG_LEN);
	assert_string_not_equal(other, "3f92f13333ba");
}

static void test_slot_level_number(void **state)
{
	char tag[TOPIC_SLOT_TAG_LEN + 1], level[32];
	(void)state;

	topic_slot_tag("gw-1:8080", tag);
	topic_slot_level(level, sizeof(level), tag, 0);
	assert_string_equal(level, "3f92f13333ba-0");
	assert_int_equal(topic_slot_number(level, tag), 0);
	assert_int_equal(topic_slot_number(level, NULL), 0);
	topic_slot_level(level, sizeof(level), tag, 2147483647);
	assert_string_equal(level, "3f92f13333ba-2147483647");
	assert_int_equal(topic_slot_number(level, tag), 2147483647);
	/* truncated, terminated */
	topic_slot_level(level, 8, tag, 5);
	assert_string_equal(level, "3f92f13");

	assert_int_equal(topic_slot_number("3f92f13333ba-17", "3f92f13333ba"), 17);
	assert_int_equal(topic_slot_number("3f92f13333ba-007", NULL), 7);
	assert_int_equal(topic_slot_number("000000000000-1", NULL), 1);
	/* another gateway's slot: any gateway's, not this one's */
	assert_int_equal(topic_slot_number("cbf29ce48422-3", NULL), 3);
	assert_int_equal(topic_slot_number("cbf29ce48422-3", "3f92f13333ba"), -1);

	/* not slots */
	assert_int_equal(topic_slot_number("3f92f13333ba-", NULL), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba-", "3f92f13333ba"), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba", NULL), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba-1x", NULL), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba- 1", "3f92f13333ba"), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba-+1", "3f92f13333ba"), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba--1", NULL), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba-2147483648", NULL), -1);
	assert_int_equal(topic_slot_number("3f92f13333ba-99999999999999999999", NULL), -1);
	assert_int_equal(topic_slot_number("3F92F13333BA-1", NULL), -1);      /* lowercase hex only */
	assert_int_equal(topic_slot_number("3f92f13333bac-1", NULL), -1);     /* 13 hex characters */
	assert_int_equal(topic_slot_number("3f92f13333b-1", NULL), -1);       /* 11 */
	assert_int_equal(topic_slot_number("3f92f1-1", "3f92f13333ba"), -1);
	assert_int_equal(topic_slot_number("client_abc", NULL), -1);
	assert_int_equal(topic_slot_number("", NULL), -1);
	assert_int_equal(topic_slot_number("", "3f92f13333ba"), -1);
}

/* ---- jsonutil ---- */

static void test_utf8_valid(void **state)
{
	(void)state;
	assert_true(jsonutil_utf8_valid("", 0));
	assert_true(jsonutil_utf8_valid("hello", 5));
	assert_true(jsonutil_utf8_valid("a\0b", 3));                  /* NUL is valid UTF-8 */
	assert_true(jsonutil_utf8_valid("\xC3\xA9", 2));
	assert_true(jsonutil_utf8_valid("\xC2\x80", 2));               /* smallest 2-byte */
	assert_true(jsonutil_utf8_valid("\xDF\xBF", 2));               /* largest 2-byte */
	assert_true(jsonutil_utf8_valid("\xE0\xA0\x80", 3));           /* smallest 3-byte */
	assert_true(jsonutil_utf8_valid("\xED\x9F\xBF", 3));           /* U+D7FF */
	assert_true(jsonutil_utf8_valid("\xEE\x80\x80", 3));           /* U+E000 */
	assert_true(jsonutil_utf8_valid("\xEF\xBF\xBF", 3));           /* U+FFFF */
	assert_true(jsonutil_utf8_valid("\xF0\x90\x80\x80", 4));       /* U+10000 */
	assert_true(jsonutil_utf8_valid("\xF4\x8F\xBF\xBF", 4));       /* U+10FFFF */
	assert_true(jsonutil_utf8_valid("x\xE2\x82\xACy", 5));

	assert_false(jsonutil_utf8_valid("\xC0\x80", 2));
	assert_false(jsonutil_utf8_valid("\xC1\xBF", 2));
	assert_false(jsonutil_utf8_valid("\xE0\x9F\xBF", 3));          /* overlong 3-byte */
	assert_false(jsonutil_utf8_valid("\xF0\x8F\xBF\xBF", 4));      /* overlong 4-byte */
	assert_false(jsonutil_utf8_valid("\xED\xA0\x80", 3));
	assert_false(jsonutil_utf8_valid("\xED\xAF\xBF\xED\xB0\x80", 6)); /* CESU pair */
	assert_false(jsonutil_utf8_valid("\xF4\x90\x80\x80", 4));
	assert_false(jsonutil_utf8_valid("\xF5\x80\x80\x80", 4));
	assert_false(jsonutil_utf8_valid("\xF8\x88\x80\x80\x80", 5));
	assert_false(jsonutil_utf8_valid("\xFF", 1));
	assert_false(jsonutil_utf8_valid("\x80", 1));
	assert_false(jsonutil_utf8_valid("\xC3", 1));
	assert_false(jsonutil_utf8_valid("abc\xE2\x82", 5));
	assert_false(jsonutil_utf8_valid("\xF0\x9D\x84", 3));
	assert_false(jsonutil_utf8_valid("\xC3" "A", 2));
	/* The length bounds the check: a sequence cut by len is truncated. */
	assert_false(jsonutil_utf8_valid("\xC3\xA9", 1));
	assert_true(jsonutil_utf8_valid("ab\xFF", 2));
}

static void test_from_payload(void **state)
{
	json_t *v;
	(void)state;

	v = jsonutil_from_payload("{\"a\":1}", 7);
	assert_true(json_is_object(v));
	assert_int_equal(json_integer_value(json_object_get(v, "a")), 1);
	json_decref(v);

	v = jsonutil_from_payload("42", 2);
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), 42);
	json_decref(v);

	v = jsonutil_from_payload("[1,\"x\"]", 7);
	assert_true(json_is_array(v));
	assert_int_equal(json_array_size(v), 2);
	json_decref(v);

	v = jsonutil_from_payload("\"quoted\"", 8);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "quoted");
	json_decref(v);

	v = jsonutil_from_payload("null", 4);
	assert_true(json_is_null(v));
	json_decref(v);

	v = jsonutil_from_payload("hello", 5);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "hello");
	json_decref(v);

	v = jsonutil_from_payload("{broken", 7);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "{broken");
	json_decref(v);

	v = jsonutil_from_payload("caf\xC3\xA9", 5);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "caf\xC3\xA9");
	json_decref(v);

	/* Only len bytes count. */
	v = jsonutil_from_payload("12345", 2);
	assert_true(json_is_integer(v));
	assert_int_equal(json_integer_value(v), 12);
	json_decref(v);

	v = jsonutil_from_payload("", 0);
	assert_true(json_is_string(v));
	assert_string_equal(json_string_value(v), "");
	json_decref(v);

	assert_null(jsonutil_from_payload("\xFF\xFE", 2));
	assert_null(jsonutil_from_payload("ab\xC0\x80", 4));
	assert_null(jsonutil_from_payload("\xED\xA0\x80", 3));
}

static void test_dump(void **state)
{
	json_t *v;
	char *s;
	(void)state;

	v = json_pack("{s:i}", "a", 1);
	s = jsonutil_dump(v);
	assert_string_equal(s, "{\"a\":1}");
	free(s);
	json_decref(v);

	v = json_string("x");
	s = jsonutil_dump(v);
	assert_string_equal(s, "\"x\"");
	free(s);
	json_decref(v);

	v = json_integer(7);
	s = jsonutil_dump(v);
	assert_string_equal(s, "7");
	free(s);
	json_decref(v);

	v = json_pack("[i,i]", 1, 2);
	s = jsonutil_dump(v);
	assert_string_equal(s, "[1,2]");
	free(s);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_channel_valid_plain),
		cmocka_unit_test(test_channel_valid_utf8),
		cmocka_unit_test(test_channel_valid_empty_null),
		cmocka_unit_test(test_channel_valid_length),
		cmocka_unit_test(test_channel_valid_reserved),
		cmocka_unit_test(test_channel_valid_control),
		cmocka_unit_test(test_channel_valid_bad_utf8),
		cmocka_unit_test(test_level_valid),
		cmocka_unit_test(test_prefix_valid),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_presence_split),
		cmocka_unit_test(test_presence_split_empty_prefix),
		cmocka_unit_test(test_slot_tag),
		cmocka_unit_test(test_slot_level_number),
		cmocka_unit_test(test_utf8_valid),
		cmocka_unit_test(test_from_payload),
		cmocka_unit_test(test_dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
