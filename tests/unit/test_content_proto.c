/* Unit tests for mapping/content_proto.c (the content sync dialect: request
 * frames, replies, keys and topics, vers, child ids, the history ring and the
 * paged views). The contract is content_proto.h and
 * docs/protocols/content-sync.md. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "content_proto.h"
#include "jsonpatch.h"

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v;
	assert_non_null(text);
	v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	if(!v) fail_msg("not JSON: %s (%s)", text, e.text);
	return v;
}

/* v's compact text with sorted keys equals want's; takes v. */
static void expect_json(json_t *v, const char *want)
{
	json_t *w = load(want);
	if(!v || !json_equal(v, w)){
		char *got = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		fail_msg("got %s, expected %s", got ? got : "NULL", want);
	}
	json_decref(w);
	json_decref(v);
}

/* The text equals want exactly; frees text. */
static void expect_text(char *text, const char *want)
{
	if(!text) fail_msg("got NULL, expected %s", want);
	if(strcmp(text, want)) fail_msg("got      %s\nexpected %s", text, want);
	free(text);
}

/* ---- error codes ---- */

static void test_error_table(void **state)
{
	(void)state;
	assert_int_equal(content_error_status(CONTENT_E_JSON), 400);
	assert_int_equal(content_error_status(CONTENT_E_CREDENTIAL), 401);
	assert_int_equal(content_error_status(CONTENT_E_REFUSED), 403);
	assert_int_equal(content_error_status(CONTENT_E_NOT_FOUND), 404);
	assert_int_equal(content_error_status(CONTENT_E_CONFLICT), 409);
	assert_int_equal(content_error_status(CONTENT_E_TEST), 409);
	assert_int_equal(content_error_status(CONTENT_E_TOO_LARGE), 413);
	assert_int_equal(content_error_status(CONTENT_E_UNAVAILABLE), 503);
	/* the seed's messages */
	assert_string_equal(content_error_msg(CONTENT_E_CREDENTIAL), "Invalid Credential");
	assert_string_equal(content_error_msg(CONTENT_E_SESSION), "Unknown Session");
	assert_string_equal(content_error_msg(CONTENT_E_NOT_FOUND), "Document Not Found");
	assert_string_equal(content_error_msg(CONTENT_E_CONFLICT), "Version Conflict");
	assert_null(content_error_msg(4000000));
	/* every code of the table has a message */
	{
		static const int codes[] = {CONTENT_E_JSON, CONTENT_E_SHAPE, CONTENT_E_CLS, CONTENT_E_KEY,
			CONTENT_E_PATCH, CONTENT_E_LOGIN, CONTENT_E_REFUSED, CONTENT_E_TEST, CONTENT_E_TOO_LARGE,
			CONTENT_E_UNAVAILABLE};
		for(size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) assert_non_null(content_error_msg(codes[i]));
	}
}

static void test_patch_code(void **state)
{
	struct jsonpatch_error err;
	json_t *doc = load("{\"a\":1}"), *p, *r;
	(void)state;

	p = load("[{\"op\":\"test\",\"path\":\"/a\",\"value\":2}]");
	r = jsonpatch_apply(doc, p, NULL, &err);
	assert_null(r);
	assert_int_equal(content_patch_code(&err), CONTENT_E_TEST);
	json_decref(p);
	p = load("[{\"op\":\"remove\",\"path\":\"/b\"}]");
	assert_null(jsonpatch_apply(doc, p, NULL, &err));
	assert_int_equal(content_patch_code(&err), CONTENT_E_PATCH);
	json_decref(p);
	p = load("[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/b\"}]");
	{
		struct jsonpatch_limits lim = {10, 64, 2};
		assert_null(jsonpatch_apply(doc, p, &lim, &err));
		assert_int_equal(content_patch_code(&err), CONTENT_E_TOO_LARGE);
	}
	json_decref(p);
	json_decref(doc);
}

/* ---- keys ---- */

static void key_ok(const char *json, const char *type, const char *id, const char *back)
{
	struct content_key k;
	const char *why = NULL;
	json_t *v = load(json);
	if(content_key_parse(v, &k, &why)) fail_msg("key %s refused: %s", json, why);
	assert_string_equal(k.type, type);
	assert_string_equal(k.id, id);
	expect_json(content_key_json(&k), back);
	json_decref(v);
}

static void key_bad(const char *json)
{
	struct content_key k;
	const char *why = NULL;
	json_t *v = load(json);
	if(!content_key_parse(v, &k, &why)) fail_msg("key %s accepted", json);
	assert_non_null(why);
	assert_true(strlen(why) > 0);
	json_decref(v);
}

static void test_key_parse(void **state)
{
	(void)state;
	key_ok("{\"type\":\"user\",\"id\":423421341}", "user", "423421341", "{\"type\":\"user\",\"id\":423421341}");
	key_ok("{\"type\":\"user\",\"id\":0}", "user", "0", "{\"type\":\"user\",\"id\":0}");
	key_ok("{\"type\":\"user\",\"id\":9007199254740991}", "user", "9007199254740991",
			"{\"type\":\"user\",\"id\":9007199254740991}");
	key_ok("{\"type\":\"user\",\"id\":\"bob\"}", "user", "bob", "{\"type\":\"user\",\"id\":\"bob\"}");
	key_ok("{\"type\":\"a.b-c_D9\",\"id\":\"x:y@z.w-_\"}", "a.b-c_D9", "x:y@z.w-_",
			"{\"type\":\"a.b-c_D9\",\"id\":\"x:y@z.w-_\"}");
	/* the seed's message key: an array id */
	key_ok("{\"type\":\"msg\",\"id\":[342131213,3421321312]}", "msg", "342131213,3421321312",
			"{\"type\":\"msg\",\"id\":[342131213,3421321312]}");
	key_ok("{\"type\":\"m\",\"id\":[1,\"a\",2,\"b\"]}", "m", "1,a,2,b", "{\"type\":\"m\",\"id\":[1,\"a\",2,\"b\"]}");
	/* a string of digits is the integer; other digit strings stay strings */
	key_ok("{\"type\":\"user\",\"id\":\"42\"}", "user", "42", "{\"type\":\"user\",\"id\":42}");
	key_ok("{\"type\":\"user\",\"id\":\"007\"}", "user", "007", "{\"type\":\"user\",\"id\":\"007\"}");
	key_ok("{\"type\":\"user\",\"id\":\"9007199254740992\"}", "user", "9007199254740992",
			"{\"type\":\"user\",\"id\":\"9007199254740992\"}");
	/* an array of one is its part */
	key_ok("{\"type\":\"user\",\"id\":[\"bob\"]}", "user", "bob", "{\"type\":\"user\",\"id\":\"bob\"}");
	/* other members are ignored */
	key_ok("{\"type\":\"user\",\"id\":1,\"x\":true}", "user", "1", "{\"type\":\"user\",\"id\":1}");

	key_bad("null");
	key_bad("[\"user\",1]");
	key_bad("{\"id\":1}");
	key_bad("{\"type\":\"user\"}");
	key_bad("{\"type\":\"\",\"id\":1}");
	key_bad("{\"type\":1,\"id\":1}");
	key_bad("{\"type\":\"us er\",\"id\":1}");
	key_bad("{\"type\":\"a/b\",\"id\":1}");
	key_bad("{\"type\":\"a:b\",\"id\":1}");   /* ':' is an id's, not a type's */
	key_bad("{\"type\":\"user\",\"id\":-1}");
	key_bad("{\"type\":\"user\",\"id\":9007199254740992}");
	key_bad("{\"type\":\"user\",\"id\":1.5}");
	key_bad("{\"type\":\"user\",\"id\":1.0}");
	key_bad("{\"type\":\"user\",\"id\":true}");
	key_bad("{\"type\":\"user\",\"id\":null}");
	key_bad("{\"type\":\"user\",\"id\":{}}");
	key_bad("{\"type\":\"user\",\"id\":\"\"}");
	key_bad("{\"type\":\"user\",\"id\":\"a,b\"}");
	key_bad("{\"type\":\"user\",\"id\":\"a+b\"}");
	key_bad("{\"type\":\"user\",\"id\":\"a#\"}");
	key_bad("{\"type\":\"user\",\"id\":\"a/b\"}");
	key_bad("{\"type\":\"user\",\"id\":\"\\u00e9\"}");
	key_bad("{\"type\":\"user\",\"id\":\"a\\u0000b\"}");
	key_bad("{\"type\":\"user\",\"id\":[]}");
	key_bad("{\"type\":\"user\",\"id\":[1,2,3,4,5]}");
	key_bad("{\"type\":\"user\",\"id\":[[1]]}");
	key_bad("{\"type\":\"user\",\"id\":[\"\"]}");
	key_bad("{\"type\":\"user\",\"id\":[null]}");
}

static void test_key_lengths(void **state)
{
	char json[1024], type[80], id[200];
	struct content_key k;
	const char *why;
	json_t *v;
	(void)state;

	memset(type, 't', 64);
	type[64] = '\0';
	memset(id, 'i', 128);
	id[128] = '\0';
	snprintf(json, sizeof(json), "{\"type\":\"%s\",\"id\":[\"%s\",\"%s\",\"%s\",\"%s\"]}", type, id, id, id, id);
	v = load(json);
	assert_int_equal(content_key_parse(v, &k, &why), 0);
	assert_int_equal(strlen(k.id), 4 * 128 + 3);
	json_decref(v);
	/* the key's levels give the same key back */
	{
		struct content_key k2;
		assert_int_equal(content_key_from_levels(k.type, k.id, &k2), 0);
		assert_true(content_key_equal(&k, &k2));
	}
	type[64] = 't';
	type[65] = '\0';
	snprintf(json, sizeof(json), "{\"type\":\"%s\",\"id\":1}", type);
	key_bad(json);
	id[128] = 'i';
	id[129] = '\0';
	snprintf(json, sizeof(json), "{\"type\":\"t\",\"id\":\"%s\"}", id);
	key_bad(json);
	snprintf(json, sizeof(json), "{\"type\":\"t\",\"id\":[1,\"%s\"]}", id);
	key_bad(json);
}

static void test_key_levels(void **state)
{
	struct content_key a, b;
	json_t *v;
	const char *why;
	(void)state;

	assert_int_equal(content_key_from_levels("user", "42", &a), 0);
	v = load("{\"type\":\"user\",\"id\":42}");
	assert_int_equal(content_key_parse(v, &b, &why), 0);
	json_decref(v);
	assert_true(content_key_equal(&a, &b));
	assert_int_equal(content_key_from_levels("user", "43", &b), 0);
	assert_false(content_key_equal(&a, &b));
	assert_int_equal(content_key_from_levels("users", "42", &b), 0);
	assert_false(content_key_equal(&a, &b));
	assert_int_equal(content_key_from_levels("msg", "1,a", &a), 0);
	expect_json(content_key_json(&a), "{\"type\":\"msg\",\"id\":[1,\"a\"]}");

	assert_int_not_equal(content_key_from_levels("", "1", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", "", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", "a,,b", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", "a,", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", ",a", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", "1,2,3,4,5", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", "a+", &a), 0);
	assert_int_not_equal(content_key_from_levels("us/er", "1", &a), 0);
	assert_int_not_equal(content_key_from_levels("user", "caf\xc3\xa9", &a), 0);
}

static void test_template_key(void **state)
{
	struct content_key k;
	(void)state;

	assert_int_equal(content_template_key("user:{username}", "bob", &k), 0);
	expect_json(content_key_json(&k), "{\"type\":\"user\",\"id\":\"bob\"}");
	assert_int_equal(content_template_key("index:root", "bob", &k), 0);
	expect_json(content_key_json(&k), "{\"type\":\"index\",\"id\":\"root\"}");
	assert_int_equal(content_template_key("fav:{username}:fav", "bob", &k), 0);   /* ':' in an id */
	expect_json(content_key_json(&k), "{\"type\":\"fav\",\"id\":\"bob:fav\"}");
	assert_int_equal(content_template_key("pair:{username},{username}", "a", &k), 0);
	expect_json(content_key_json(&k), "{\"type\":\"pair\",\"id\":[\"a\",\"a\"]}");
	assert_int_equal(content_template_key("user:{username}", "17", &k), 0);
	expect_json(content_key_json(&k), "{\"type\":\"user\",\"id\":17}");

	assert_int_not_equal(content_template_key("user:{username}", "bob smith", &k), 0);
	assert_int_not_equal(content_template_key("user:{username}", "a/b", &k), 0);
	assert_int_not_equal(content_template_key("user:{username}", "", &k), 0);
	assert_int_not_equal(content_template_key("user", "bob", &k), 0);
	assert_int_not_equal(content_template_key(":x", "bob", &k), 0);
	assert_int_not_equal(content_template_key("user:", "bob", &k), 0);
	assert_int_not_equal(content_template_key("user:{user}", "bob", &k), 0);   /* '{' is no id character */

	assert_true(content_template_none("none"));
	assert_true(content_template_none(""));
	assert_true(content_template_none(NULL));
	assert_false(content_template_none("none:x"));
	assert_false(content_template_none("user:{username}"));
}

/* ---- topics ---- */

static void test_topics(void **state)
{
	struct content_key p, c, k, k2;
	char *t;
	(void)state;

	assert_int_equal(content_key_from_levels("room", "42", &p), 0);
	assert_int_equal(content_key_from_levels("msg", "1,a", &c), 0);
	t = content_doc_topic("wsgw", "content", &p);
	assert_string_equal(t, "wsgw/content/room/42");
	free(t);
	t = content_doc_topic("", "content", &p);
	assert_string_equal(t, "content/room/42");
	free(t);
	t = content_doc_topic("a/b", "c/d", &c);
	assert_string_equal(t, "a/b/c/d/msg/1,a");
	free(t);
	t = content_link_topic("wsgw", "content", &p, &c);
	assert_string_equal(t, "wsgw/content/room/42/children/msg/1,a");
	free(t);
	t = content_children_filter("wsgw", "content", &p);
	assert_string_equal(t, "wsgw/content/room/42/children/+/+");
	free(t);

	assert_int_equal(content_topic_parse("wsgw", "content", "wsgw/content/room/42", &k, &k2), CONTENT_TOPIC_DOC);
	assert_true(content_key_equal(&k, &p));
	assert_int_equal(content_topic_parse("wsgw", "content", "wsgw/content/room/42", &k, NULL), CONTENT_TOPIC_DOC);
	assert_int_equal(content_topic_parse("wsgw", "content", "wsgw/content/room/42/children/msg/1,a", &k, &k2),
			CONTENT_TOPIC_LINK);
	assert_true(content_key_equal(&k, &p));
	assert_true(content_key_equal(&k2, &c));
	/* a link when only documents are wanted */
	assert_int_equal(content_topic_parse("wsgw", "content", "wsgw/content/room/42/children/msg/1,a", &k, NULL),
			CONTENT_TOPIC_NONE);
	assert_int_equal(content_topic_parse("", "content", "content/room/42", &k, &k2), CONTENT_TOPIC_DOC);
	assert_int_equal(content_topic_parse("a/b", "c/d", "a/b/c/d/msg/1,a", &k, &k2), CONTENT_TOPIC_DOC);
	assert_true(content_key_equal(&k, &c));

	static const char *const none[] = {
		"wsgw/content/room", "wsgw/content/room/42/x", "wsgw/content/room/42/children/msg",
		"wsgw/content/room/42/kids/msg/1", "wsgw/content/room/42/children/msg/1/x",
		"wsgw/contentx/room/42", "wsgwx/content/room/42", "wsgw/content", "wsgw/content/",
		"wsgw/content/room/", "wsgw/content//42", "wsgw/content/room/a,,b", "other/content/room/42",
		"wsgw/content/ro+om/42", "wsgw/content/room/42/children/+/+", "content/room/42",
	};
	for(size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++){
		if(content_topic_parse("wsgw", "content", none[i], &k, &k2) != CONTENT_TOPIC_NONE){
			fail_msg("%s parsed as a document or link", none[i]);
		}
	}
}

/* ---- versions ---- */

static void test_ver(void **state)
{
	struct content_ver a, b;
	const char *why;
	json_t *v;
	char *t;
	(void)state;

	assert_int_equal(content_ver_make(&a, "gw1", 1764650000123LL), 0);
	t = content_ver_text(&a);
	assert_string_equal(t, "[\"gw1\",1764650000123]");
	assert_int_equal(content_ver_from_text(t, strlen(t), &b), 0);
	free(t);
	assert_true(content_ver_equal(&a, &b));
	assert_int_equal(content_ver_from_text(" [ \"gw1\" , 1764650000123 ] ", 27, &b), 0);
	assert_true(content_ver_equal(&a, &b));
	assert_int_equal(content_ver_from_text("[\"gw1\",1764650000124]", 21, &b), 0);
	assert_false(content_ver_equal(&a, &b));
	assert_int_equal(content_ver_from_text("[\"gw2\",1764650000123]", 21, &b), 0);
	assert_false(content_ver_equal(&a, &b));

	/* the seed's example: an integer origin, kept as such, never equal to a string one */
	v = load("[2342,21342134]");
	assert_int_equal(content_ver_parse(v, &b, &why), 0);
	json_decref(v);
	assert_true(b.origin_int);
	expect_json(content_ver_json(&b), "[2342,21342134]");
	assert_int_equal(content_ver_make(&a, "2342", 21342134), 0);
	assert_false(content_ver_equal(&a, &b));

	static const char *const bad[] = {
		"null", "[]", "[\"a\"]", "[\"a\",1,2]", "[\"\",1]", "[\"a\",-1]", "[\"a\",9007199254740992]",
		"[\"a\",1.5]", "[\"a\",\"1\"]", "[null,1]", "[true,1]", "[[\"a\"],1]", "{\"a\":1}", "\"a\"",
		"[\"a\\u0000b\",1]",
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		v = load(bad[i]);
		why = NULL;
		if(!content_ver_parse(v, &b, &why)) fail_msg("ver %s accepted", bad[i]);
		assert_non_null(why);
		json_decref(v);
		if(!content_ver_from_text(bad[i], strlen(bad[i]), &b)) fail_msg("ver text %s accepted", bad[i]);
	}
	assert_int_not_equal(content_ver_from_text("[\"a\",1", 6, &b), 0);
	assert_int_not_equal(content_ver_from_text("", 0, &b), 0);
	assert_int_not_equal(content_ver_from_text("[\"a\",1]\0", 8, &b), 0);

	/* origin lengths */
	{
		char o[CONTENT_ORIGIN_MAX + 2];
		memset(o, 'o', sizeof(o) - 1);
		o[CONTENT_ORIGIN_MAX] = '\0';
		assert_int_equal(content_ver_make(&a, o, 1), 0);
		o[CONTENT_ORIGIN_MAX] = 'o';
		o[CONTENT_ORIGIN_MAX + 1] = '\0';
		assert_int_not_equal(content_ver_make(&a, o, 1), 0);
		assert_int_not_equal(content_ver_make(&a, "", 1), 0);
		assert_int_not_equal(content_ver_make(&a, "a", -1), 0);
		assert_int_not_equal(content_ver_make(&a, "a", CONTENT_ID_INT_MAX + 1), 0);
	}
}

static void test_hash53(void **state)
{
	struct content_ver v;
	(void)state;

	/* FNV-1a 64 of "" is the offset basis 0xcbf29ce484222325; folded: */
	assert_true(content_hash53("", 0) == ((UINT64_C(0xcbf29ce484222325) >> 53) ^ (UINT64_C(0xcbf29ce484222325)
			& ((UINT64_C(1) << 53) - 1))));
	/* FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c */
	assert_true(content_hash53("a", 1) == ((UINT64_C(0xaf63dc4c8601ec8c) >> 53) ^ (UINT64_C(0xaf63dc4c8601ec8c)
			& ((UINT64_C(1) << 53) - 1))));
	assert_true(content_hash53("foobar", 6) < (UINT64_C(1) << 53));
	assert_true(content_hash53("{\"a\":1}", 7) != content_hash53("{\"a\":2}", 7));
	content_ver_unversioned("{\"a\":1}", 7, &v);
	assert_string_equal(v.origin, "mqtt");
	assert_false(v.origin_int);
	assert_true((uint64_t)v.n == content_hash53("{\"a\":1}", 7));
}

static void test_ver_next(void **state)
{
	(void)state;
	assert_int_equal(content_ver_next(0, 1000), 1000);
	assert_int_equal(content_ver_next(1000, 1000), 1001);
	assert_int_equal(content_ver_next(5000, 1000), 5001);   /* a clock that went back */
	assert_int_equal(content_ver_next(1000, 2000), 2000);
	assert_true(content_ver_next(CONTENT_ID_INT_MAX, 0) == CONTENT_ID_INT_MAX);
	assert_true(content_ver_next(0, CONTENT_ID_INT_MAX + 5) == CONTENT_ID_INT_MAX);
}

/* ---- child ids ---- */

static void test_idgen(void **state)
{
	struct content_idgen g, h;
	long long prev = -1, id;
	(void)state;

	content_idgen_init(&g, "gw1");
	assert_true(g.tag < 16);
	id = content_idgen_next(&g, 1764650000123LL);
	assert_true(id == 1764650000123LL * 1024 + g.tag);
	assert_true(id < (1LL << 53));
	prev = id;
	/* 200 ids in the same millisecond: each greater, the 65th borrows the next ms */
	for(int i = 1; i < 200; i++){
		id = content_idgen_next(&g, 1764650000123LL);
		assert_true(id > prev);
		assert_int_equal(id % 16, g.tag);
		if(i == 64) assert_true(id / 1024 == 1764650000124LL);
		prev = id;
	}
	/* a clock that goes back still gives greater ids */
	id = content_idgen_next(&g, 1000);
	assert_true(id > prev);
	prev = id;
	/* a later millisecond starts its count again */
	id = content_idgen_next(&g, 1764650009999LL);
	assert_true(id == 1764650009999LL * 1024 + g.tag);
	/* the tag is a function of the gateway id */
	content_idgen_init(&h, "gw1");
	assert_int_equal(h.tag, g.tag);
}

/* ---- history ---- */

static void ver(struct content_ver *v, long long n)
{
	assert_int_equal(content_ver_make(v, "gw", n), 0);
}

static void test_hist(void **state)
{
	struct content_hist h;
	struct content_ver v[8];
	json_t *p;
	(void)state;

	for(int i = 0; i < 8; i++) ver(&v[i], i + 1);
	assert_int_equal(content_hist_init(&h, 3), 0);
	assert_int_equal(content_hist_bytes(&h), 0);   /* no ring before the first change */
	assert_null(content_hist_patch(&h, &v[0], &v[1], 0));
	content_hist_pop(&h);
	assert_int_equal(content_hist_push(&h, &v[0], &v[1], load("[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]")), 0);
	assert_int_equal(content_hist_push(&h, &v[1], &v[2], load("[]")), 0);
	assert_int_equal(content_hist_push(&h, &v[2], &v[3], load("[{\"op\":\"remove\",\"path\":\"/a\"}]")), 0);
	expect_json(content_hist_patch(&h, &v[0], &v[3], 0),
			"[{\"op\":\"add\",\"path\":\"/a\",\"value\":1},{\"op\":\"remove\",\"path\":\"/a\"}]");
	expect_json(content_hist_patch(&h, &v[1], &v[3], 0), "[{\"op\":\"remove\",\"path\":\"/a\"}]");
	expect_json(content_hist_patch(&h, &v[2], &v[3], 0), "[{\"op\":\"remove\",\"path\":\"/a\"}]");
	/* not up to the current ver, or equal: none */
	assert_null(content_hist_patch(&h, &v[0], &v[2], 0));
	assert_null(content_hist_patch(&h, &v[3], &v[3], 0));
	assert_null(content_hist_patch(&h, &v[5], &v[3], 0));
	/* the size bound: below the concatenation's text length, none */
	p = content_hist_patch(&h, &v[0], &v[3], 0);
	{
		char *t = json_dumps(p, JSON_COMPACT);
		size_t n = strlen(t);
		free(t);
		json_decref(p);
		p = content_hist_patch(&h, &v[0], &v[3], n + 1);
		assert_non_null(p);
		json_decref(p);
		assert_null(content_hist_patch(&h, &v[0], &v[3], n));
	}
	assert_true(content_hist_bytes(&h) >= 3 * sizeof(struct content_change));
	/* full: the oldest goes */
	assert_int_equal(content_hist_push(&h, &v[3], &v[4], load("[{\"op\":\"add\",\"path\":\"/b\",\"value\":2}]")), 0);
	assert_null(content_hist_patch(&h, &v[0], &v[4], 0));
	expect_json(content_hist_patch(&h, &v[1], &v[4], 0),
			"[{\"op\":\"remove\",\"path\":\"/a\"},{\"op\":\"add\",\"path\":\"/b\",\"value\":2}]");
	/* pop: the refused write is forgotten */
	content_hist_pop(&h);
	assert_null(content_hist_patch(&h, &v[1], &v[4], 0));
	expect_json(content_hist_patch(&h, &v[1], &v[3], 0), "[{\"op\":\"remove\",\"path\":\"/a\"}]");
	/* a gap (a change not recorded) breaks the run */
	assert_int_equal(content_hist_push(&h, &v[5], &v[6], load("[]")), 0);
	assert_null(content_hist_patch(&h, &v[1], &v[6], 0));
	expect_json(content_hist_patch(&h, &v[5], &v[6], 0), "[]");
	/* not an array: refused, taken */
	assert_int_not_equal(content_hist_push(&h, &v[6], &v[7], load("{}")), 0);
	content_hist_reset(&h);
	assert_null(content_hist_patch(&h, &v[5], &v[6], 0));
	content_hist_pop(&h);   /* harmless when empty */
	content_hist_clear(&h);

	/* A -> B -> A -> C: the newest run from A */
	assert_int_equal(content_hist_init(&h, 8), 0);
	assert_int_equal(content_hist_push(&h, &v[0], &v[1], load("[{\"op\":\"add\",\"path\":\"/x\",\"value\":1}]")), 0);
	assert_int_equal(content_hist_push(&h, &v[1], &v[0], load("[{\"op\":\"remove\",\"path\":\"/x\"}]")), 0);
	assert_int_equal(content_hist_push(&h, &v[0], &v[2], load("[{\"op\":\"add\",\"path\":\"/y\",\"value\":2}]")), 0);
	expect_json(content_hist_patch(&h, &v[0], &v[2], 0), "[{\"op\":\"add\",\"path\":\"/y\",\"value\":2}]");
	content_hist_clear(&h);

	/* cap 0 keeps nothing */
	assert_int_equal(content_hist_init(&h, 0), 0);
	assert_int_equal(content_hist_push(&h, &v[0], &v[1], load("[]")), 0);
	assert_null(content_hist_patch(&h, &v[0], &v[1], 0));
	content_hist_pop(&h);
	content_hist_clear(&h);
}

/* The patches of the ring applied to the document of a ver give the current one. */
static void test_hist_applies(void **state)
{
	struct content_hist h;
	struct content_ver v[20];
	json_t *docs[20], *p, *got;
	(void)state;

	assert_int_equal(content_hist_init(&h, 16), 0);
	docs[0] = load("{\"n\":0,\"list\":[]}");
	ver(&v[0], 100);
	for(int i = 1; i < 20; i++){
		char text[64];
		json_t *d = json_deep_copy(docs[i-1]);
		json_object_set_new(d, "n", json_integer(i));
		json_array_append_new(json_object_get(d, "list"), json_integer(i * i));
		if(i % 3 == 0) json_array_remove(json_object_get(d, "list"), 0);
		snprintf(text, sizeof(text), "v%d", i);
		json_object_set_new(d, text, json_true());
		docs[i] = d;
		ver(&v[i], 100 + i);
		assert_int_equal(content_hist_push(&h, &v[i-1], &v[i], jsonpatch_diff(docs[i-1], d, NULL, NULL)), 0);
	}
	for(int i = 0; i < 19; i++){
		p = content_hist_patch(&h, &v[i], &v[19], 0);
		if(i < 3){
			assert_null(p);   /* older than the ring */
			continue;
		}
		assert_non_null(p);
		got = jsonpatch_apply(docs[i], p, NULL, NULL);
		assert_true(json_equal(got, docs[19]));
		json_decref(got);
		json_decref(p);
	}
	for(int i = 0; i < 20; i++) json_decref(docs[i]);
	content_hist_clear(&h);
}

/* ---- views ---- */

struct kids {
	struct content_entry e[16];
	json_t *sums[16];
	size_t n;
};

static void kid(struct kids *k, const char *type, const char *id, const char *summary, bool connected)
{
	assert_int_equal(content_key_from_levels(type, id, &k->e[k->n].key), 0);
	k->sums[k->n] = load(summary);
	k->e[k->n].summary = k->sums[k->n];
	k->e[k->n].connected = connected;
	k->n++;
}

static void kids_free(struct kids *k)
{
	for(size_t i = 0; i < k->n; i++) json_decref(k->sums[i]);
}

/* The ids of a page, as "a,b,c". */
static void expect_ids(json_t *page, const char *want)
{
	char got[512] = "";
	size_t i;
	json_t *e;
	json_array_foreach(page, i, e){
		const json_t *id = json_object_get(json_object_get(e, "key"), "id");
		char one[64];
		if(json_is_integer(id)) snprintf(one, sizeof(one), "%lld", (long long)json_integer_value(id));
		else snprintf(one, sizeof(one), "%s", json_string_value(id));
		if(i) strcat(got, ",");
		strcat(got, one);
	}
	if(strcmp(got, want)) fail_msg("page ids %s, expected %s", got, want);
}

static void test_view_parse(void **state)
{
	enum content_view v;
	static const char *const names[] = {"asc", "desc", "asc_pres_first", "newest", "oldest"};
	(void)state;

	for(size_t i = 0; i < 5; i++){
		assert_int_equal(content_view_parse(names[i], &v), 0);
		assert_string_equal(content_view_name(v), names[i]);
	}
	assert_int_not_equal(content_view_parse("ASC", &v), 0);
	assert_int_not_equal(content_view_parse("", &v), 0);
	assert_int_not_equal(content_view_parse("asc ", &v), 0);
}

static void test_page_views(void **state)
{
	struct kids k = {.n = 0};
	struct content_ver pv, pv2;
	json_t *page;
	(void)state;

	kid(&k, "user", "32131", "{\"display_name\":\"Abadi Bouzouf\",\"picture\":\"users/32131\"}", true);
	kid(&k, "user", "87324", "{\"display_name\":\"betani Patif\",\"presence\":\"busy\"}", false);
	kid(&k, "user", "98234", "{\"display_name\":\"Coll Derp\",\"picture\":null}", true);
	kid(&k, "user", "43242", "{\"display_name\":\"Delano Manopla\"}", false);
	kid(&k, "user", "21412", "{\"display_name\":\"Aneli Patelo\"}", false);
	kid(&k, "room", "5", "{\"display_name\":\"Aneli Patelo\",\"connected\":true}", false);
	kid(&k, "user", "7", "{\"title\":\"no name\"}", true);
	kid(&k, "user", "8", "{\"display_name\":12}", false);

	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 1, 20, &pv);
	/* case folded; equal names by key (type "room" < "user"); numbers after strings; missing last */
	expect_ids(page, "32131,5,21412,87324,98234,43242,8,7");
	/* the seed's entry shape, with the presence overlay */
	expect_json(json_incref(json_array_get(page, 0)), "{\"key\":{\"type\":\"user\",\"id\":32131},"
			"\"display_name\":\"Abadi Bouzouf\",\"picture\":\"users/32131\",\"connected\":true,\"presence\":\"online\"}");
	/* the user's own presence stays; connected is the engine's */
	expect_json(json_incref(json_array_get(page, 3)), "{\"key\":{\"type\":\"user\",\"id\":87324},"
			"\"display_name\":\"betani Patif\",\"presence\":\"busy\",\"connected\":false}");
	/* other types: the summary as it is */
	expect_json(json_incref(json_array_get(page, 1)), "{\"key\":{\"type\":\"room\",\"id\":5},"
			"\"display_name\":\"Aneli Patelo\",\"connected\":true}");
	assert_string_equal(pv.origin, "page");
	json_decref(page);

	page = content_page(k.e, k.n, CONTENT_VIEW_DESC, "display_name", "user", 1, 20, &pv);
	expect_ids(page, "7,8,43242,98234,87324,21412,5,32131");
	json_decref(page);

	/* connected: users by the engine, others by their summary */
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC_PRES_FIRST, "display_name", "user", 1, 20, &pv);
	expect_ids(page, "32131,5,98234,7,21412,87324,43242,8");
	json_decref(page);

	page = content_page(k.e, k.n, CONTENT_VIEW_NEWEST, "display_name", "user", 1, 20, &pv);
	expect_ids(page, "98234,87324,43242,32131,21412,8,7,5");
	json_decref(page);
	page = content_page(k.e, k.n, CONTENT_VIEW_OLDEST, "display_name", "user", 1, 3, &pv);
	expect_ids(page, "5,7,8");
	json_decref(page);

	/* pages */
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 2, 3, &pv);
	expect_ids(page, "87324,98234,43242");
	json_decref(page);
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 3, 3, &pv);
	expect_ids(page, "8,7");
	json_decref(page);
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 4, 3, &pv);
	expect_ids(page, "");
	json_decref(page);
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 9007199254740991L, 1000, &pv);
	expect_ids(page, "");
	json_decref(page);

	/* the page ver: equal pages equal vers, a change another */
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 1, 2, &pv);
	json_decref(page);
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 1, 2, &pv2);
	assert_true(content_ver_equal(&pv, &pv2));
	assert_int_equal(content_page_ver(page, &pv2), 0);
	assert_true(content_ver_equal(&pv, &pv2));
	json_decref(page);
	k.e[0].connected = false;
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 1, 2, &pv2);
	assert_false(content_ver_equal(&pv, &pv2));
	json_decref(page);

	/* another sort field and user type */
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "title", "room", 1, 1, &pv);
	expect_ids(page, "7");
	json_decref(page);
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "title", "room", 2, 1, &pv);
	/* the room's connected is now the engine's flag (false), with a presence */
	expect_json(json_incref(json_array_get(page, 0)), "{\"key\":{\"type\":\"room\",\"id\":5},"
			"\"display_name\":\"Aneli Patelo\",\"connected\":false,\"presence\":\"offline\"}");
	json_decref(page);
	kids_free(&k);

	/* no children */
	page = content_page(NULL, 0, CONTENT_VIEW_ASC, "display_name", "user", 1, 20, &pv);
	expect_json(page, "[]");
}

static void test_page_entry_key(void **state)
{
	struct kids k = {.n = 0};
	struct content_ver pv;
	json_t *page;
	(void)state;

	/* a summary's own "key" does not replace the link's */
	kid(&k, "msg", "1,a", "{\"key\":{\"type\":\"x\",\"id\":9},\"text\":\"hi!\"}", false);
	page = content_page(k.e, k.n, CONTENT_VIEW_ASC, "display_name", "user", 1, 20, &pv);
	expect_json(page, "[{\"key\":{\"type\":\"msg\",\"id\":[1,\"a\"]},\"text\":\"hi!\"}]");
	kids_free(&k);
}

/* The page patch the gateway sends is jsonpatch_diff of two pages. */
static void test_page_diff(void **state)
{
	struct kids k = {.n = 0};
	struct content_ver pv;
	json_t *a, *b, *p, *got;
	(void)state;

	kid(&k, "user", "1", "{\"display_name\":\"a\"}", true);
	kid(&k, "user", "2", "{\"display_name\":\"b\"}", false);
	kid(&k, "user", "3", "{\"display_name\":\"c\"}", true);
	a = content_page(k.e, k.n, CONTENT_VIEW_ASC_PRES_FIRST, "display_name", "user", 1, 20, &pv);
	k.e[1].connected = true;
	b = content_page(k.e, k.n, CONTENT_VIEW_ASC_PRES_FIRST, "display_name", "user", 1, 20, &pv);
	p = jsonpatch_diff(a, b, NULL, NULL);
	assert_non_null(p);
	got = jsonpatch_apply(a, p, NULL, NULL);
	assert_true(json_equal(got, b));
	json_decref(got);
	json_decref(p);
	json_decref(a);
	json_decref(b);
	kids_free(&k);
}

/* ---- requests ---- */

static int parse(const char *text, struct content_request *r, const char **msg)
{
	*msg = NULL;
	return content_parse(text, strlen(text), 65536, r, msg);
}

static void parse_ok(const char *text, struct content_request *r)
{
	const char *msg;
	int rc = parse(text, r, &msg);
	if(rc) fail_msg("frame %s: got %d (%s), expected success", text, rc, msg ? msg : "");
	assert_non_null(r->root);
	assert_non_null(r->id);
	assert_non_null(r->cls_name);
}

/* Expects code want with a message; the id the error carries (NULL: null)
 * and its cls (NULL: null). Clears r. */
static void parse_bad(const char *text, int want, const char *want_id, const char *want_cls)
{
	struct content_request r;
	const char *msg;
	int rc = parse(text, &r, &msg);
	if(rc != want) fail_msg("frame %s: got %d (%s), expected %d", text, rc, msg ? msg : "", want);
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	if(want_id){
		json_t *w = load(want_id);
		if(!r.id || !json_equal(r.id, w)) fail_msg("frame %s: id not %s", text, want_id);
		json_decref(w);
	}else if(r.id){
		fail_msg("frame %s: an id on the error, expected null", text);
	}
	if(want_cls){
		if(!r.cls_name || strcmp(r.cls_name, want_cls)) fail_msg("frame %s: cls not %s", text, want_cls);
	}else{
		assert_null(r.cls_name);
	}
	content_request_clear(&r);
	assert_null(r.root);
	assert_null(r.patch);
}

static void test_parse_login(void **state)
{
	struct content_request r;
	(void)state;

	parse_ok("{\"type\":\"request\",\"id\":\"xasdq3213sdfa\",\"cls\":\"login\","
			"\"data\":{\"username\":\"toto\",\"password\":\"foo\"}}", &r);
	assert_int_equal(r.cls, CONTENT_LOGIN);
	assert_string_equal(content_cls_name(r.cls), "login");
	assert_string_equal(r.username, "toto");
	assert_string_equal(r.password, "foo");
	assert_ptr_equal(r.id, json_object_get(r.root, "id"));
	content_request_clear(&r);
	assert_null(r.username);
	/* an empty password is the broker's to judge */
	parse_ok("{\"id\":1,\"cls\":\"login\",\"data\":{\"username\":\"toto\",\"password\":\"\"}}", &r);
	assert_string_equal(r.password, "");
	content_request_clear(&r);

	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"login\",\"data\":{\"username\":\"toto\"}}", CONTENT_E_SHAPE, "1", "login");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"login\",\"data\":{\"username\":\"\",\"password\":\"x\"}}",
			CONTENT_E_SHAPE, "1", "login");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"login\",\"data\":{\"username\":1,\"password\":\"x\"}}",
			CONTENT_E_SHAPE, "1", "login");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"login\",\"data\":{\"username\":\"a\\u0000b\",\"password\":\"x\"}}",
			CONTENT_E_SHAPE, "1", "login");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"login\"}", CONTENT_E_SHAPE, "1", "login");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"login\",\"data\":[]}", CONTENT_E_SHAPE, "1", "login");
}

static void test_parse_logout_reconnect(void **state)
{
	struct content_request r;
	(void)state;

	parse_ok("{\"type\":\"request\",\"id\":\"asdfq3fqaw3aw\",\"cls\":\"logout\"}", &r);
	assert_int_equal(r.cls, CONTENT_LOGOUT);
	assert_null(r.data);
	content_request_clear(&r);
	parse_ok("{\"type\":\"request\",\"id\":2,\"cls\":\"logout\",\"data\":null}", &r);
	content_request_clear(&r);
	parse_ok("{\"type\":\"request\",\"id\":2,\"cls\":\"logout\",\"data\":{}}", &r);
	content_request_clear(&r);
	parse_bad("{\"type\":\"request\",\"id\":2,\"cls\":\"logout\",\"data\":5}", CONTENT_E_SHAPE, "2", "logout");

	parse_ok("{\"type\":\"request\",\"id\":\"sdf234fw3ww\",\"cls\":\"reconnect\",\"data\":{\"session\":\"asda2ad22da\"}}", &r);
	assert_int_equal(r.cls, CONTENT_RECONNECT);
	assert_string_equal(r.session, "asda2ad22da");
	content_request_clear(&r);
	parse_bad("{\"type\":\"request\",\"id\":3,\"cls\":\"reconnect\",\"data\":{}}", CONTENT_E_SHAPE, "3", "reconnect");
	parse_bad("{\"type\":\"request\",\"id\":3,\"cls\":\"reconnect\",\"data\":{\"session\":7}}", CONTENT_E_SHAPE, "3",
			"reconnect");
}

static void test_parse_get_content(void **state)
{
	struct content_request r;
	(void)state;

	parse_ok("{\"type\":\"request\",\"id\":\"asdf323rsasdf\",\"cls\":\"get_content\","
			"\"data\":{\"key\":{\"type\":\"user\",\"id\":423421341},\"ver\":null,\"subscribe\":true}}", &r);
	assert_int_equal(r.cls, CONTENT_GET_CONTENT);
	assert_string_equal(r.key.type, "user");
	assert_string_equal(r.key.id, "423421341");
	assert_false(r.has_ver);
	assert_true(r.subscribe);
	content_request_clear(&r);

	parse_ok("{\"type\":\"request\",\"id\":1,\"cls\":\"get_content\","
			"\"data\":{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"server_213233213\",123412412]}}", &r);
	assert_true(r.has_ver);
	assert_string_equal(r.ver.origin, "server_213233213");
	assert_true(r.ver.n == 123412412);
	assert_false(r.subscribe);
	content_request_clear(&r);

	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"get_content\",\"data\":{}}", CONTENT_E_KEY, "1", "get_content");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"get_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":\"a b\"}}}",
			CONTENT_E_KEY, "1", "get_content");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"get_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},"
			"\"ver\":\"v1\"}}", CONTENT_E_SHAPE, "1", "get_content");
	parse_bad("{\"type\":\"request\",\"id\":1,\"cls\":\"get_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},"
			"\"subscribe\":1}}", CONTENT_E_SHAPE, "1", "get_content");
}

static void test_parse_get_children(void **state)
{
	struct content_request r;
	(void)state;

	parse_ok("{\"type\":\"request\",\"id\":\"qwdf3rs3wr\",\"cls\":\"get_children\","
			"\"data\":{\"key\":{\"type\":\"fav\",\"id\":423421341},\"ver\":[\"server_213233213\",123413243],"
			"\"view\":\"asc_pres_first\",\"page\":1,\"subscribe\":true}}", &r);
	assert_int_equal(r.cls, CONTENT_GET_CHILDREN);
	assert_int_equal(r.view, CONTENT_VIEW_ASC_PRES_FIRST);
	assert_int_equal(r.page, 1);
	assert_true(r.has_ver);
	assert_true(r.subscribe);
	content_request_clear(&r);

	parse_ok("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1}}}", &r);
	assert_int_equal(r.view, CONTENT_VIEW_DEFAULT);
	assert_int_equal(r.page, 1);
	assert_false(r.has_ver);
	content_request_clear(&r);
	parse_ok("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1},\"view\":\"newest\",\"page\":7}}", &r);
	assert_int_equal(r.view, CONTENT_VIEW_NEWEST);
	assert_int_equal(r.page, 7);
	content_request_clear(&r);

	parse_bad("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1},\"view\":\"sideways\"}}",
			CONTENT_E_SHAPE, "1", "get_children");
	parse_bad("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1},\"view\":3}}",
			CONTENT_E_SHAPE, "1", "get_children");
	parse_bad("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1},\"page\":0}}",
			CONTENT_E_SHAPE, "1", "get_children");
	parse_bad("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1},\"page\":\"1\"}}",
			CONTENT_E_SHAPE, "1", "get_children");
	parse_bad("{\"id\":1,\"cls\":\"get_children\",\"data\":{\"key\":{\"type\":\"fav\",\"id\":1},\"page\":1.5}}",
			CONTENT_E_SHAPE, "1", "get_children");
}

static void test_parse_patch_content(void **state)
{
	struct content_request r;
	(void)state;

	parse_ok("{\"type\":\"request\",\"id\":\"asdf3wf3r\",\"cls\":\"patch_content\","
			"\"data\":{\"key\":{\"type\":\"user\",\"id\":1234234},\"ver\":[2342,21342134],"
			"\"patch\":[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"Not Here\"},"
			"{\"op\":\"replace\",\"path\":\"/presence\",\"value\":\"busy\"}]}}", &r);
	assert_int_equal(r.cls, CONTENT_PATCH_CONTENT);
	assert_true(r.has_ver);
	assert_true(r.ver.origin_int);
	assert_int_equal(json_array_size(r.patch), 2);
	content_request_clear(&r);

	/* the seed's read receipt: ver null, one operation object */
	parse_ok("{\"type\":\"request\",\"id\":\"asdfa3awfs\",\"cls\":\"patch_content\","
			"\"data\":{\"key\":{\"type\":\"msg\",\"id\":[342131213,3421321312]},\"ver\":null,"
			"\"patch\":{\"op\":\"add\",\"path\":\"/read\",\"value\":true}}}", &r);
	assert_false(r.has_ver);
	assert_string_equal(r.key.id, "342131213,3421321312");
	expect_json(json_incref(r.patch), "[{\"op\":\"add\",\"path\":\"/read\",\"value\":true}]");
	content_request_clear(&r);

	/* the operations are checked when applied */
	parse_ok("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},\"ver\":null,"
			"\"patch\":[{\"op\":\"frobnicate\"}]}}", &r);
	content_request_clear(&r);

	parse_bad("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},"
			"\"patch\":[]}}", CONTENT_E_SHAPE, "1", "patch_content");
	parse_bad("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},\"ver\":null}}",
			CONTENT_E_SHAPE, "1", "patch_content");
	parse_bad("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},\"ver\":null,"
			"\"patch\":\"replace\"}}", CONTENT_E_PATCH, "1", "patch_content");
	parse_bad("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},\"ver\":null,"
			"\"patch\":null}}", CONTENT_E_PATCH, "1", "patch_content");
	parse_bad("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"key\":{\"type\":\"u\",\"id\":1},\"ver\":[1],"
			"\"patch\":[]}}", CONTENT_E_SHAPE, "1", "patch_content");
	parse_bad("{\"id\":1,\"cls\":\"patch_content\",\"data\":{\"ver\":null,\"patch\":[]}}", CONTENT_E_KEY, "1",
			"patch_content");
}

static void test_parse_add_child(void **state)
{
	struct content_request r;
	(void)state;

	parse_ok("{\"type\":\"request\",\"id\":\"sdf3223dqs\",\"cls\":\"add_child\","
			"\"data\":{\"key\":{\"type\":\"conversations\",\"id\":3421321312},"
			"\"obj\":{\"key\":{\"type\":\"room\"},\"members\":[{\"key\":{\"type\":\"user\",\"id\":123213}}]}}}", &r);
	assert_int_equal(r.cls, CONTENT_ADD_CHILD);
	assert_string_equal(r.key.type, "conversations");
	assert_string_equal(r.child_type, "room");
	assert_ptr_equal(r.obj, json_object_get(r.data, "obj"));
	content_request_clear(&r);
	parse_ok("{\"type\":\"request\",\"id\":\"sdf3234\",\"cls\":\"add_child\","
			"\"data\":{\"key\":{\"type\":\"room\",\"id\":3421321312},\"obj\":{\"key\":{\"type\":\"msg\"},\"text\":\"hi!\"}}}", &r);
	assert_string_equal(r.child_type, "msg");
	content_request_clear(&r);

	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"key\":{\"type\":\"room\",\"id\":1}}}", CONTENT_E_SHAPE, "1",
			"add_child");
	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"key\":{\"type\":\"room\",\"id\":1},\"obj\":[]}}",
			CONTENT_E_SHAPE, "1", "add_child");
	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"key\":{\"type\":\"room\",\"id\":1},\"obj\":{}}}",
			CONTENT_E_KEY, "1", "add_child");
	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"key\":{\"type\":\"room\",\"id\":1},\"obj\":{\"key\":{}}}}",
			CONTENT_E_KEY, "1", "add_child");
	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"key\":{\"type\":\"room\",\"id\":1},"
			"\"obj\":{\"key\":{\"type\":\"msg\",\"id\":5}}}}", CONTENT_E_KEY, "1", "add_child");
	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"key\":{\"type\":\"room\",\"id\":1},"
			"\"obj\":{\"key\":{\"type\":\"m/sg\"}}}}", CONTENT_E_KEY, "1", "add_child");
	parse_bad("{\"id\":1,\"cls\":\"add_child\",\"data\":{\"obj\":{\"key\":{\"type\":\"msg\"}}}}", CONTENT_E_KEY, "1",
			"add_child");
}

static void test_parse_frame_errors(void **state)
{
	struct content_request r;
	const char *msg;
	int rc;
	(void)state;

	/* broken JSON: jansson's text, no id */
	parse_bad("{\"type\":\"request\",\"id\":1,", CONTENT_E_JSON, NULL, NULL);
	parse_bad("", CONTENT_E_JSON, NULL, NULL);
	parse_bad("{\"id\":1,\"id\":2,\"cls\":\"logout\"}", CONTENT_E_JSON, NULL, NULL);
	rc = parse("{\"a\":", &r, &msg);
	assert_int_equal(rc, CONTENT_E_JSON);
	assert_non_null(strstr(msg, "invalid JSON"));
	content_request_clear(&r);
	rc = content_parse("{\"id\":1,\0\"cls\":\"logout\"}", 24, 0, &r, &msg);
	assert_int_equal(rc, CONTENT_E_JSON);
	content_request_clear(&r);
	/* not an object */
	parse_bad("[1]", CONTENT_E_SHAPE, NULL, NULL);
	parse_bad("\"request\"", CONTENT_E_SHAPE, NULL, NULL);
	parse_bad("null", CONTENT_E_SHAPE, NULL, NULL);
	/* type */
	parse_bad("{\"type\":\"result\",\"id\":1,\"cls\":\"changed\"}", CONTENT_E_SHAPE, "1", "changed");
	parse_bad("{\"type\":7,\"id\":1,\"cls\":\"logout\"}", CONTENT_E_SHAPE, "1", "logout");
	/* id: a string or a number, echoed as given */
	parse_bad("{\"type\":\"request\",\"cls\":\"logout\"}", CONTENT_E_SHAPE, NULL, "logout");
	parse_bad("{\"type\":\"request\",\"id\":null,\"cls\":\"logout\"}", CONTENT_E_SHAPE, NULL, "logout");
	parse_bad("{\"type\":\"request\",\"id\":[1],\"cls\":\"logout\"}", CONTENT_E_SHAPE, NULL, "logout");
	parse_bad("{\"type\":\"request\",\"id\":{},\"cls\":\"logout\"}", CONTENT_E_SHAPE, NULL, "logout");
	parse_ok("{\"type\":\"request\",\"id\":1.5,\"cls\":\"logout\"}", &r);
	assert_true(json_is_real(r.id));
	content_request_clear(&r);
	/* cls */
	parse_bad("{\"type\":\"request\",\"id\":\"x\"}", CONTENT_E_SHAPE, "\"x\"", NULL);
	parse_bad("{\"type\":\"request\",\"id\":\"x\",\"cls\":5}", CONTENT_E_SHAPE, "\"x\"", NULL);
	parse_bad("{\"type\":\"request\",\"id\":\"x\",\"cls\":\"query_content\"}", CONTENT_E_CLS, "\"x\"", "query_content");
	parse_bad("{\"type\":\"request\",\"id\":\"x\",\"cls\":\"changed\"}", CONTENT_E_CLS, "\"x\"", "changed");
	parse_bad("{\"type\":\"request\",\"id\":\"x\",\"cls\":\"\"}", CONTENT_E_CLS, "\"x\"", "");
	/* data */
	parse_bad("{\"type\":\"request\",\"id\":\"x\",\"cls\":\"get_content\",\"data\":\"k\"}", CONTENT_E_SHAPE, "\"x\"",
			"get_content");
	/* too large: not parsed at all */
	rc = content_parse("{\"type\":\"request\",\"id\":1,\"cls\":\"logout\"}", 40, 39, &r, &msg);
	assert_int_equal(rc, CONTENT_E_TOO_LARGE);
	assert_null(r.root);
	assert_null(r.id);
	assert_non_null(msg);
	content_request_clear(&r);
	rc = content_parse("{\"type\":\"request\",\"id\":1,\"cls\":\"logout\"}", 40, 40, &r, &msg);
	assert_int_equal(rc, 0);
	content_request_clear(&r);
}

/* ---- replies ---- */

static void test_builders(void **state)
{
	json_t *id = json_string("xasdq3213sdfa"), *n = json_integer(7);
	struct content_key k;
	struct content_ver v;
	(void)state;

	expect_text(content_result("logout", id, 200, NULL),
			"{\"type\":\"result\",\"id\":\"xasdq3213sdfa\",\"cls\":\"logout\",\"status\":200}");
	expect_text(content_result("patch_content", n, 200, load("{\"ver\":[\"gw\",5]}")),
			"{\"type\":\"result\",\"id\":7,\"cls\":\"patch_content\",\"status\":200,\"data\":{\"ver\":[\"gw\",5]}}");
	expect_text(content_error("login", id, CONTENT_E_CREDENTIAL, NULL),
			"{\"type\":\"error\",\"id\":\"xasdq3213sdfa\",\"cls\":\"login\",\"status\":401,"
			"\"data\":{\"code\":4010130,\"msg\":\"Invalid Credential\"}}");
	expect_text(content_error(NULL, NULL, CONTENT_E_JSON, "invalid JSON at line 1 column 2: x"),
			"{\"type\":\"error\",\"id\":null,\"cls\":null,\"status\":400,"
			"\"data\":{\"code\":4000010,\"msg\":\"invalid JSON at line 1 column 2: x\"}}");
	expect_text(content_error("x", NULL, CONTENT_E_TOO_LARGE, NULL),
			"{\"type\":\"error\",\"id\":null,\"cls\":\"x\",\"status\":413,"
			"\"data\":{\"code\":4130010,\"msg\":\"Too Large\"}}");
	expect_text(content_notify("subscribe", load("[{\"type\":\"user\",\"id\":231213123}]")),
			"{\"type\":\"notify\",\"cls\":\"subscribe\",\"data\":[{\"type\":\"user\",\"id\":231213123}]}");

	assert_int_equal(content_key_from_levels("user", "1", &k), 0);
	assert_int_equal(content_ver_make(&v, "gw1", 9), 0);
	expect_json(content_changed_entry(&k, &v, true, false, load("[{\"op\":\"remove\",\"path\":\"/a\"}]")),
			"{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"gw1\",9],\"content\":true,\"children\":false,"
			"\"patch\":[{\"op\":\"remove\",\"path\":\"/a\"}]}");
	expect_json(content_changed_entry(&k, &v, true, false, NULL),
			"{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"gw1\",9],\"content\":true,\"children\":false}");
	expect_json(content_doc_data(&k, &v, load("{\"a\":1}"), NULL),
			"{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"gw1\",9],\"content\":{\"a\":1}}");
	expect_json(content_doc_data(&k, &v, NULL, load("[]")),
			"{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"gw1\",9],\"patch\":[]}");
	expect_json(content_page_data(&k, &v, CONTENT_VIEW_ASC_PRES_FIRST, 1, 5, 800, load("[]"), NULL),
			"{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"gw1\",9],\"view\":\"asc_pres_first\",\"page\":1,"
			"\"size\":5,\"total\":800,\"items\":[]}");
	expect_json(content_page_data(&k, &v, CONTENT_VIEW_DESC, 2, 5, 8, NULL, load("[]")),
			"{\"key\":{\"type\":\"user\",\"id\":1},\"ver\":[\"gw1\",9],\"view\":\"desc\",\"page\":2,"
			"\"size\":5,\"total\":8,\"patch\":[]}");
	json_decref(id);
	json_decref(n);
}

/* ---- options ---- */

/* A configuration of the content dialect alone, with what config_finish
 * needs of the core; NULL key/value pairs end args. 0 if it finishes. */
static int configure(struct wsgw_config *cfg, char *err, size_t errlen, ...)
{
	static const struct wsgw_dialect_conf *const confs[] = {&content_conf};
	va_list ap;
	const char *k;

	assert_int_equal(config_init(cfg, confs, 1), 0);
	if(config_set(cfg, "broker_port", "1883", err, errlen)) return -1;
	va_start(ap, errlen);
	while((k = va_arg(ap, const char *))){
		const char *v = va_arg(ap, const char *);
		if(config_set(cfg, k, v, err, errlen)){
			va_end(ap);
			return -1;
		}
	}
	va_end(ap);
	return config_finish(cfg, err, errlen);
}

static void test_options(void **state)
{
	struct wsgw_config cfg;
	const struct wsgw_dialect_settings *ds;
	const struct content_config *c;
	char err[256] = "";
	(void)state;

	if(configure(&cfg, err, sizeof(err), NULL)) fail_msg("defaults refused: %s", err);
	ds = config_dialect(&cfg, &content_conf);
	assert_non_null(ds);
	assert_true(ds->enable);
	assert_string_equal(ds->mount, "/content");
	c = ds->opts;
	assert_string_equal(c->root, "content");
	assert_true(c->session_expiry == 60);
	assert_int_equal(c->history, 16);
	assert_int_equal(c->page_size, 20);
	assert_int_equal(c->max_children, 10000);
	assert_int_equal(c->max_frame, 65536);
	assert_int_equal(c->max_doc, 262144);
	assert_string_equal(c->sort_field, "display_name");
	assert_string_equal(c->user_type, "user");
	assert_string_equal(c->self, "user:{username}");
	assert_string_equal(c->rooms, "rooms:{username}");
	assert_string_equal(c->fav, "fav:{username}");
	assert_string_equal(c->root_key, "index:root");
	assert_string_equal(c->home, "unit:{username}");
	assert_string_equal(c->config, "{}");
	config_free(&cfg);

	/* an empty template leaves its key out */
	if(configure(&cfg, err, sizeof(err), "content_home", "", "content_config", "{\"media_server\":\"http://x\"}",
			"content_self", "person:{username}", "content_mount", "/sync", NULL)){
		fail_msg("refused: %s", err);
	}
	c = config_dialect(&cfg, &content_conf)->opts;
	assert_string_equal(c->home, "");
	assert_string_equal(c->self, "person:{username}");
	config_free(&cfg);

	static const char *const bad[][2] = {
		{"content_self", "user"},
		{"content_rooms", "ro om:{username}"},
		{"content_fav", ":x"},
		{"content_root_key", "index:"},
		{"content_home", "unit:{user}"},
		{"content_config", "[]"},
		{"content_config", "{"},
		{"content_user_type", "us er"},
		{"content_root", ""},
		{"content_root", "a/+"},
		{"content_history", "-1"},
		{"content_page_size", "0"},
		{"content_max_frame", "10"},
		{"content_session_expiry", "0"},
		{"content_sort_field", ""},
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		err[0] = '\0';
		if(!configure(&cfg, err, sizeof(err), bad[i][0], bad[i][1], NULL)){
			fail_msg("plugin_opt_%s \"%s\" accepted", bad[i][0], bad[i][1]);
		}
		if(!strstr(err, bad[i][0])) fail_msg("error for %s does not name it: %s", bad[i][0], err);
		config_free(&cfg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_table),
		cmocka_unit_test(test_patch_code),
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_lengths),
		cmocka_unit_test(test_key_levels),
		cmocka_unit_test(test_template_key),
		cmocka_unit_test(test_topics),
		cmocka_unit_test(test_ver),
		cmocka_unit_test(test_hash53),
		cmocka_unit_test(test_ver_next),
		cmocka_unit_test(test_idgen),
		cmocka_unit_test(test_hist),
		cmocka_unit_test(test_hist_applies),
		cmocka_unit_test(test_view_parse),
		cmocka_unit_test(test_page_views),
		cmocka_unit_test(test_page_entry_key),
		cmocka_unit_test(test_page_diff),
		cmocka_unit_test(test_parse_login),
		cmocka_unit_test(test_parse_logout_reconnect),
		cmocka_unit_test(test_parse_get_content),
		cmocka_unit_test(test_parse_get_children),
		cmocka_unit_test(test_parse_patch_content),
		cmocka_unit_test(test_parse_add_child),
		cmocka_unit_test(test_parse_frame_errors),
		cmocka_unit_test(test_builders),
		cmocka_unit_test(test_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
