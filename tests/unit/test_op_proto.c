/* Unit tests for mapping/op_proto.c (the "op" pub/sub dialect: requests,
 * topic names, replies and pushes). The contract is op_proto.h and the
 * dialect's seed document (connect, sub, unsub, pub, resume; mesg, pres). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "op_proto.h"

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

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v;
	assert_non_null(text);
	v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
	if(!v) fail_msg("not JSON: %s (%s)", text, e.text);
	return v;
}

/* id is NULL when want_json is NULL, else equal to that JSON value. */
static void expect_id(const json_t *id, const char *want_json)
{
	json_t *want;
	if(!want_json){
		assert_null(id);
		return;
	}
	assert_non_null(id);
	want = load(want_json);
	if(!json_equal((json_t *)id, want)){
		char *got = json_dumps(id, JSON_ENCODE_ANY);
		fail_msg("id %s, expected %s", got ? got : "?", want_json);
	}
	json_decref(want);
}

/* ---- op_parse ---- */

static int parse(const char *text, struct op_request *r, const char **msg)
{
	*msg = NULL;
	return op_parse(text, strlen(text), r, msg);
}

static void parse_ok(const char *text, struct op_request *r)
{
	const char *msg = NULL;
	int rc = parse(text, r, &msg);
	if(rc != 0) fail_msg("frame %s: got %d (%s), expected success", text, rc, msg ? msg : "");
	assert_non_null(r->root);
	assert_true(json_is_object(r->root));
}

/* Expects a 400 with a message; op_name and id are what the frame had
 * (want_op NULL = none, want_id NULL = none). Clears r. */
static void parse_bad(const char *text, const char *want_op, const char *want_id)
{
	struct op_request r;
	const char *msg = NULL;
	int rc = parse(text, &r, &msg);
	if(rc != OP_E_BAD_REQUEST) fail_msg("frame %s: got %d, expected 400", text, rc);
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	if(want_op){
		if(!r.op_name) fail_msg("frame %s: op_name not set on error", text);
		assert_string_equal(r.op_name, want_op);
	}else{
		assert_null(r.op_name);
	}
	expect_id(r.id, want_id);
	op_request_clear(&r);
	assert_null(r.root);
	assert_null(r.op_name);
	assert_null(r.id);
}

static void test_parse_connect(void **state)
{
	struct op_request r;
	(void)state;
	/* The seed's frame (without its trailing commas). */
	parse_ok("{\"op\":\"connect\",\"type\":\"request\",\"id\":\"request_id_1\","
			"\"auth\":{\"provider\":\"facebook\",\"access_token\":\"xxxxxx\"}}", &r);
	assert_int_equal(r.op, OP_CONNECT);
	assert_string_equal(r.op_name, "connect");
	expect_id(r.id, "\"request_id_1\"");
	assert_ptr_equal(r.id, json_object_get(r.root, "id"));   /* borrowed */
	assert_string_equal(r.provider, "facebook");
	assert_string_equal(r.access_token, "xxxxxx");
	assert_null(r.username);
	assert_null(r.session);
	assert_null(r.topics);
	assert_null(r.data);
	op_request_clear(&r);
	assert_null(r.root);
	assert_null(r.provider);
	assert_null(r.access_token);

	/* mqtt provider with a username */
	parse_ok("{\"op\":\"connect\",\"type\":\"request\",\"id\":7,"
			"\"auth\":{\"provider\":\"mqtt\",\"username\":\"bob\",\"access_token\":\"pw\"}}", &r);
	assert_int_equal(r.op, OP_CONNECT);
	expect_id(r.id, "7");
	assert_string_equal(r.provider, "mqtt");
	assert_string_equal(r.username, "bob");
	assert_string_equal(r.access_token, "pw");
	op_request_clear(&r);

	/* only the provider; no id, no type */
	parse_ok("{\"op\":\"connect\",\"auth\":{\"provider\":\"anonymous\"}}", &r);
	assert_int_equal(r.op, OP_CONNECT);
	assert_null(r.id);
	assert_string_equal(r.provider, "anonymous");
	assert_null(r.access_token);
	assert_null(r.username);
	op_request_clear(&r);

	/* unknown fields are ignored */
	parse_ok("{\"op\":\"connect\",\"auth\":{\"provider\":\"jwt\",\"access_token\":\"t\",\"x\":[1]},\"y\":{}}", &r);
	assert_string_equal(r.provider, "jwt");
	assert_string_equal(r.access_token, "t");
	op_request_clear(&r);
}

static void test_parse_resume(void **state)
{
	struct op_request r;
	(void)state;
	/* The seed's frame has no "type". */
	parse_ok("{\"op\":\"resume\",\"id\":\"abc123\",\"session\":\"xxxxxxyyyy\"}", &r);
	assert_int_equal(r.op, OP_RESUME);
	assert_string_equal(r.op_name, "resume");
	expect_id(r.id, "\"abc123\"");
	assert_string_equal(r.session, "xxxxxxyyyy");
	assert_null(r.provider);
	assert_null(r.topics);
	op_request_clear(&r);

	parse_ok("{\"op\":\"resume\",\"type\":\"request\",\"session\":\"s\"}", &r);
	assert_int_equal(r.op, OP_RESUME);
	assert_null(r.id);
	assert_string_equal(r.session, "s");
	op_request_clear(&r);
}

static void test_parse_sub_unsub(void **state)
{
	struct op_request r;
	(void)state;
	/* The seed's frame (without trailing commas). */
	parse_ok("{\"op\":\"sub\",\"type\":\"request\",\"id\":\"req-123\",\"topics\":["
			"\"com.myapp.chats/me\",\"com.myapp.room1\",\"com.myapp.room1/presence\"]}", &r);
	assert_int_equal(r.op, OP_SUB);
	assert_string_equal(r.op_name, "sub");
	expect_id(r.id, "\"req-123\"");
	assert_non_null(r.topics);
	assert_ptr_equal(r.topics, json_object_get(r.root, "topics"));
	assert_int_equal(json_array_size(r.topics), 3);
	assert_string_equal(json_string_value(json_array_get(r.topics, 0)), "com.myapp.chats/me");
	assert_string_equal(json_string_value(json_array_get(r.topics, 2)), "com.myapp.room1/presence");
	assert_null(r.data);
	op_request_clear(&r);

	parse_ok("{\"op\":\"unsub\",\"type\":\"request\",\"id\":\"unsub-123\",\"topics\":[\"com.myapp.room1\"]}", &r);
	assert_int_equal(r.op, OP_UNSUB);
	assert_string_equal(r.op_name, "unsub");
	assert_int_equal(json_array_size(r.topics), 1);
	op_request_clear(&r);

	static const char *const ops[] = { "sub", "unsub", "pub" };
	for(size_t k = 0; k < 3; k++){
		const char *op = ops[k];
		char buf[512];
		/* topics missing, of the wrong type, empty */
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":\"i\",\"data\":1}", op);
		parse_bad(buf, op, "\"i\"");
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":\"i\",\"data\":1,\"topics\":\"com.a\"}", op);
		parse_bad(buf, op, "\"i\"");
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":\"i\",\"data\":1,\"topics\":null}", op);
		parse_bad(buf, op, "\"i\"");
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":\"i\",\"data\":1,\"topics\":{\"com.a\":1}}", op);
		parse_bad(buf, op, "\"i\"");
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":2,\"data\":1,\"topics\":[]}", op);
		parse_bad(buf, op, "2");
		/* an element that is not a string or not a valid name */
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":2,\"data\":1,\"topics\":[\"com.a\",5]}", op);
		parse_bad(buf, op, "2");
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":2,\"data\":1,\"topics\":[\"com.a\",null]}", op);
		parse_bad(buf, op, "2");
		snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":2,\"data\":1,\"topics\":[[\"com.a\"]]}", op);
		parse_bad(buf, op, "2");
		static const char *const bad_names[] = {
			"", "a..b", ".a", "a.", "a.+", "a.#", "$SYS.x", "a//b", "a/", "a/+", "a/#", "a.b\\u0001",
		};
		for(size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++){
			snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"id\":2,\"data\":1,\"topics\":[\"com.a\",\"%s\"]}", op, bad_names[i]);
			parse_bad(buf, op, "2");
		}
	}
}

/* A sub frame with n topics "t0", "t1", ... (caller frees). */
static char *sub_with_topics(const char *op, size_t n)
{
	size_t cap = 64 + n * 16;
	char *s = malloc(cap);
	size_t off;
	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{\"op\":\"%s\",\"id\":\"many\",\"data\":true,\"topics\":[", op);
	for(size_t i = 0; i < n; i++){
		off += (size_t)snprintf(s + off, cap - off, "%s\"t%zu\"", i ? "," : "", i);
	}
	snprintf(s + off, cap - off, "]}");
	return s;
}

static void test_parse_topics_max(void **state)
{
	struct op_request r;
	char *s;
	(void)state;
	static const char *const ops[] = { "sub", "unsub", "pub" };
	for(size_t k = 0; k < 3; k++){
		s = sub_with_topics(ops[k], OP_TOPICS_MAX);
		parse_ok(s, &r);
		assert_int_equal(json_array_size(r.topics), OP_TOPICS_MAX);
		op_request_clear(&r);
		free(s);

		s = sub_with_topics(ops[k], OP_TOPICS_MAX + 1);
		parse_bad(s, ops[k], "\"many\"");
		free(s);

		s = sub_with_topics(ops[k], 1000);
		parse_bad(s, ops[k], "\"many\"");
		free(s);
	}
}

static void test_parse_pub(void **state)
{
	struct op_request r;
	(void)state;
	/* The seed's frame. */
	parse_ok("{\"op\":\"pub\",\"type\":\"request\",\"id\":\"pub-456\",\"topics\":[\"com.myapp.room1\"],"
			"\"data\":{\"type\":\"group_chat\",\"payload\":\"Hi All\"}}", &r);
	assert_int_equal(r.op, OP_PUB);
	assert_string_equal(r.op_name, "pub");
	expect_id(r.id, "\"pub-456\"");
	assert_int_equal(json_array_size(r.topics), 1);
	assert_non_null(r.data);
	assert_ptr_equal(r.data, json_object_get(r.root, "data"));
	assert_true(json_is_object(r.data));
	assert_string_equal(json_string_value(json_object_get(r.data, "payload")), "Hi All");
	op_request_clear(&r);
	assert_null(r.data);

	/* data may be any JSON value, null included */
	static const char *const values[] = { "null", "false", "true", "0", "-1.5", "\"\"", "\"text\"", "[]", "[1,[2]]", "{}" };
	for(size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++){
		char buf[256];
		json_t *want = load(values[i]);
		snprintf(buf, sizeof(buf), "{\"op\":\"pub\",\"topics\":[\"a.b\",\"c/me\"],\"data\":%s}", values[i]);
		parse_ok(buf, &r);
		assert_int_equal(r.op, OP_PUB);
		assert_non_null(r.data);
		if(!json_equal(r.data, want)) fail_msg("data %s not kept", values[i]);
		op_request_clear(&r);
		json_decref(want);
	}

	/* sub and unsub do not need data */
	parse_ok("{\"op\":\"sub\",\"topics\":[\"a\"]}", &r);
	assert_null(r.data);
	op_request_clear(&r);
}

static void test_parse_id(void **state)
{
	struct op_request r;
	(void)state;
	parse_ok("{\"op\":\"resume\",\"id\":\"x y\",\"session\":\"s\"}", &r);
	assert_true(json_is_string(r.id));
	expect_id(r.id, "\"x y\"");
	op_request_clear(&r);

	parse_ok("{\"op\":\"resume\",\"id\":\"\",\"session\":\"s\"}", &r);
	expect_id(r.id, "\"\"");
	op_request_clear(&r);

	parse_ok("{\"op\":\"resume\",\"id\":42,\"session\":\"s\"}", &r);
	assert_true(json_is_integer(r.id));
	assert_int_equal(json_integer_value(r.id), 42);
	op_request_clear(&r);

	parse_ok("{\"op\":\"resume\",\"id\":-7,\"session\":\"s\"}", &r);
	assert_int_equal(json_integer_value(r.id), -7);
	op_request_clear(&r);

	parse_ok("{\"op\":\"resume\",\"id\":0,\"session\":\"s\"}", &r);
	assert_non_null(r.id);
	assert_int_equal(json_integer_value(r.id), 0);
	op_request_clear(&r);

	parse_ok("{\"op\":\"resume\",\"session\":\"s\"}", &r);
	assert_null(r.id);
	op_request_clear(&r);

	/* any other type is an error; the op name is still reported */
	static const char *const bad[] = { "1.5", "1e3", "true", "false", "null", "[]", "[\"a\"]", "{}", "{\"a\":1}" };
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		char buf[128];
		snprintf(buf, sizeof(buf), "{\"op\":\"resume\",\"id\":%s,\"session\":\"s\"}", bad[i]);
		parse_bad(buf, "resume", NULL);
		snprintf(buf, sizeof(buf), "{\"op\":\"sub\",\"topics\":[\"a\"],\"id\":%s}", bad[i]);
		parse_bad(buf, "sub", NULL);
	}
}

static void test_parse_type(void **state)
{
	struct op_request r;
	(void)state;
	parse_ok("{\"op\":\"sub\",\"type\":\"request\",\"topics\":[\"a\"]}", &r);
	op_request_clear(&r);
	parse_ok("{\"op\":\"sub\",\"topics\":[\"a\"]}", &r);
	op_request_clear(&r);
}

static void test_parse_len_bounds(void **state)
{
	static const char buf[] = "{\"op\":\"resume\",\"session\":\"s\"}garbage";
	size_t n = strlen("{\"op\":\"resume\",\"session\":\"s\"}");
	struct op_request r;
	const char *msg = NULL;
	(void)state;
	/* only len bytes are read */
	assert_int_equal(op_parse(buf, n, &r, &msg), 0);
	assert_int_equal(r.op, OP_RESUME);
	assert_string_equal(r.session, "s");
	op_request_clear(&r);

	assert_int_equal(op_parse(buf, strlen(buf), &r, &msg), OP_E_BAD_REQUEST);
	assert_null(r.root);
	op_request_clear(&r);
	assert_int_equal(op_parse(buf, n - 1, &r, &msg), OP_E_BAD_REQUEST);
	assert_null(r.root);
	op_request_clear(&r);
	assert_int_equal(op_parse(buf, 0, &r, &msg), OP_E_BAD_REQUEST);
	assert_null(r.root);

	/* clearing twice is harmless */
	op_request_clear(&r);
	op_request_clear(&r);
}

static void test_parse_error_keeps_root(void **state)
{
	struct op_request r;
	const char *msg = NULL;
	(void)state;
	/* a parsed object that fails validation: the root is kept for the reply
	 * and op_name/id point into it */
	assert_int_equal(parse("{\"op\":\"sub\",\"id\":\"k\",\"topics\":[]}", &r, &msg), OP_E_BAD_REQUEST);
	assert_non_null(r.root);
	assert_ptr_equal(r.id, json_object_get(r.root, "id"));
	assert_ptr_equal(r.op_name, json_string_value(json_object_get(r.root, "op")));
	op_request_clear(&r);
	assert_null(r.root);
}

/* ---- op_topic_path ---- */

static void path_ok(const char *name, const char *user, const char *want, bool want_presence)
{
	bool presence = !want_presence;
	char *p = op_topic_path(name, user, &presence);
	int same;
	if(!p) fail_msg("name \"%s\": refused, expected \"%s\"", name, want);
	same = !strcmp(p, want);
	if(!same){
		char got[64];
		snprintf(got, sizeof(got), "%s", p);
		free(p);
		fail_msg("name \"%.60s\": got \"%s\", expected \"%.60s\"", name, got, want);
	}
	free(p);
	if(presence != want_presence) fail_msg("name \"%s\": presence %d, expected %d", name, presence, want_presence);
}

static void path_bad(const char *name)
{
	bool presence = false;
	char *p = op_topic_path(name, "bob", &presence);
	if(p){
		char got[64];
		snprintf(got, sizeof(got), "%s", p);
		free(p);
		fail_msg("name \"%s\": got \"%s\", expected NULL (invalid)", name, got);
	}
}

static void test_path_names(void **state)
{
	(void)state;
	path_ok("com.myapp.room1", "bob", "com/myapp/room1", false);
	path_ok("a", "bob", "a", false);
	path_ok("a.b", "bob", "a/b", false);
	path_ok("com.myapp.chats/me", "bob", "com/myapp/chats/bob", false);
	path_ok("com.myapp.chats/me", "000000001", "com/myapp/chats/000000001", false);
	path_ok("a.b/presence", "bob", "a/b", true);
	path_ok("com.myapp.room1/presence", "bob", "com/myapp/room1", true);
	path_ok("a/presence", "bob", "a", true);
	path_ok("a/x/me/y", "bob", "a/x/bob/y", false);
	path_ok("a.b/x/y/z", "bob", "a/b/x/y/z", false);
	path_ok("a/me/presence", "bob", "a/bob", true);
	path_ok("a/me/me", "bob", "a/bob/bob", false);
	path_ok("a/presence/presence", "bob", "a/presence", true);
	path_ok("a/presence/x", "bob", "a/presence/x", false);
	path_ok("a.presence", "bob", "a/presence", false);
	path_ok("a/xpresence", "bob", "a/xpresence", false);
	/* only a whole suffix level "me" is the user */
	path_ok("a/mee", "bob", "a/mee", false);
	path_ok("a/ame", "bob", "a/ame", false);
	path_ok("a/Me", "bob", "a/Me", false);
	path_ok("a.me", "bob", "a/me", false);
	path_ok("me", "bob", "me", false);
	/* '$' is only refused in front */
	path_ok("a.$b", "bob", "a/$b", false);
	path_ok("a/$b", "bob", "a/$b", false);
	/* UTF-8 */
	path_ok("caf\xC3\xA9.\xE2\x82\xAC/\xF0\x9F\x98\x80", "bob", "caf\xC3\xA9/\xE2\x82\xAC/\xF0\x9F\x98\x80", false);
	path_ok("with space.x-y_z~", "bob", "with space/x-y_z~", false);
}

static void test_path_presence_reset(void **state)
{
	bool presence = true;
	char *p;
	(void)state;
	p = op_topic_path("a.b", "bob", &presence);
	assert_non_null(p);
	assert_false(presence);
	free(p);
	presence = true;
	assert_null(op_topic_path("a..b", "bob", &presence));
}

static void test_path_invalid(void **state)
{
	char *s;
	(void)state;
	path_bad("");
	path_bad("a..b");
	path_bad(".a");
	path_bad("a.");
	path_bad(".");
	path_bad("..");
	path_bad("a.+");
	path_bad("a.#");
	path_bad("+");
	path_bad("#");
	path_bad("a+b.c");
	path_bad("a.b#");
	path_bad("$SYS.x");
	path_bad("$SYS");
	path_bad("$x/y");
	path_bad("a//b");
	path_bad("a/");
	path_bad("a.b/");
	path_bad("a./b");
	path_bad("a/+");
	path_bad("a/#");
	path_bad("a/b+");
	path_bad("/");
	path_bad("//");
	/* control characters, in the name and in a suffix level */
	path_bad("a\x01" "b");
	path_bad("a.\x1F");
	path_bad("a\tb");
	path_bad("a\nb");
	path_bad("a.\x7F");
	path_bad("a/\x01");
	path_bad("a/x\x7F");
	/* invalid UTF-8 */
	path_bad("a.\xFF");
	path_bad("a.\xC3");                 /* truncated */
	path_bad("a.\xC0\xAF");             /* overlong '/' */
	path_bad("a.\xED\xA0\x80");         /* surrogate */
	path_bad("a/\x80");
	path_bad("\xF4\x90\x80\x80");       /* > U+10FFFF */

	/* OP_TOPIC_NAME_MAX bytes */
	s = repeat("a", OP_TOPIC_NAME_MAX);
	s[1] = '.';
	{
		bool presence;
		char *p = op_topic_path(s, "bob", &presence);
		assert_non_null(p);
		assert_int_equal(strlen(p), OP_TOPIC_NAME_MAX);
		assert_int_equal(p[1], '/');
		free(p);
	}
	free(s);
	s = repeat("a", OP_TOPIC_NAME_MAX + 1);
	path_bad(s);
	s[1] = '.';
	path_bad(s);
	free(s);
	s = repeat("ab.", 1000);
	s[strlen(s) - 1] = 'c';
	path_bad(s);
	free(s);
}

/* A "me" stands only for a user id that is one topic level the broker takes
 * (a JWT's sub may hold a control character; Mosquitto drops a session that
 * subscribes to one). Found by tests/fuzz/fuzz_op. */
static void test_path_me_bad_user(void **state)
{
	static const char *const bad[] = {"a\001ce", "x\x7F", "\xC2\x85", "a/b", "a+", "#", "", "\xFF"};
	bool presence;
	char *p;
	(void)state;
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		p = op_topic_path("com.qpp/x/me", bad[i], &presence);
		if(p){
			free(p);
			fail_msg("user id %zu: \"me\" mapped, expected NULL", i);
		}
		assert_null(op_topic_path("a.b/me/presence", bad[i], &presence));
		/* without a "me" the user id is not used */
		p = op_topic_path("com.qpp/x", bad[i], &presence);
		assert_non_null(p);
		assert_string_equal(p, "com/qpp/x");
		free(p);
	}
	path_ok("com.qpp/x/me", "caf\xC3\xA9", "com/qpp/x/caf\xC3\xA9", false);
	path_ok("com.qpp/x/me", "$a", "com/qpp/x/$a", false);
}

/* A name is made of dot-separated segments; an empty name part in front of
 * the suffix levels is as empty as "" (so "/x" is not "x", and "/presence"
 * is not a topic at all). */
static void test_path_empty_name_part(void **state)
{
	static const char *const names[] = { "/x", "/me", "/presence", "/a/b" };
	char report[512] = "";
	size_t off = 0;
	(void)state;
	for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++){
		bool presence = false;
		char *p = op_topic_path(names[i], "bob", &presence);
		if(p){
			off += (size_t)snprintf(report + off, sizeof(report) - off, " \"%s\" -> \"%s\" (presence %d);",
					names[i], p, presence);
			free(p);
		}
	}
	if(off) fail_msg("accepted, expected NULL (invalid):%s", report);
}

static void test_path_long_user(void **state)
{
	char *user = repeat("u", 200);
	char *want, *name, *p;
	bool presence;
	(void)state;
	/* "a/me/me/me/me/me": five user ids of 200 bytes */
	want = malloc(2 + 5 * 201);
	assert_non_null(want);
	strcpy(want, "a");
	for(int i = 0; i < 5; i++){
		strcat(want, "/");
		strcat(want, user);
	}
	path_ok("a/me/me/me/me/me", user, want, false);
	path_ok("a/me/me/me/me/me/presence", user, want, true);
	free(want);

	/* the longest name made only of "/me" levels: "a" + 85 x "/me" = 256 bytes */
	name = malloc(OP_TOPIC_NAME_MAX + 1);
	assert_non_null(name);
	strcpy(name, "a");
	for(int i = 0; i < 85; i++) strcat(name, "/me");
	assert_int_equal(strlen(name), OP_TOPIC_NAME_MAX);
	p = op_topic_path(name, user, &presence);
	assert_non_null(p);
	assert_false(presence);
	assert_int_equal(strlen(p), 1 + 85 * 201);
	assert_int_equal(p[0], 'a');
	for(int i = 0; i < 85; i++){
		assert_int_equal(p[1 + i * 201], '/');
		assert_memory_equal(p + 2 + i * 201, user, 200);
	}
	free(p);

	/* same with a short name part and dots */
	strcpy(name, "x.y");
	for(int i = 0; i < 84; i++) strcat(name, "/me");
	assert_int_equal(strlen(name), 255);
	p = op_topic_path(name, user, &presence);
	assert_non_null(p);
	assert_int_equal(strlen(p), 3 + 84 * 201);
	assert_memory_equal(p, "x/y/", 4);
	free(p);
	free(name);
	free(user);

	/* a very long user id */
	user = repeat("0123456789", 1000);
	want = malloc(strlen(user) * 3 + 16);
	assert_non_null(want);
	strcpy(want, "c/d/");
	strcat(want, user);
	strcat(want, "/");
	strcat(want, user);
	strcat(want, "/k/");
	strcat(want, user);
	path_ok("c.d/me/me/k/me", user, want, false);
	free(want);
	free(user);

	/* a one-byte user id shrinks the path */
	path_ok("a/me/me", "z", "a/z/z", false);
}

/* ---- replies and pushes ---- */

static void str_field(json_t *o, const char *key, const char *want)
{
	json_t *v = json_object_get(o, key);
	if(!json_is_string(v)) fail_msg("\"%s\" is not a string", key);
	assert_string_equal(json_string_value(v), want);
}

static void test_success(void **state)
{
	json_t *id = json_string("unsub-123");
	json_t *o, *extra;
	char *text;
	(void)state;
	/* the seed's unsub reply: exactly op, type, id */
	text = op_success("unsub", id, NULL);
	o = load(text);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 3);
	str_field(o, "op", "unsub");
	str_field(o, "type", "success");
	str_field(o, "id", "unsub-123");
	assert_null(strchr(text, '\n'));
	assert_null(strstr(text, ": "));
	assert_null(strstr(text, ", "));
	json_decref(o);
	free(text);
	assert_int_equal(id->refcount, 1);   /* borrowed */
	json_decref(id);

	/* integer id stays an integer */
	id = json_integer(42);
	text = op_success("pub", id, NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 3);
	assert_true(json_is_integer(json_object_get(o, "id")));
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 42);
	json_decref(o);
	free(text);
	json_decref(id);

	/* no id: no "id" key */
	text = op_success("pub", NULL, NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 2);
	str_field(o, "op", "pub");
	str_field(o, "type", "success");
	assert_null(json_object_get(o, "id"));
	json_decref(o);
	free(text);

	/* the seed's connect reply: extra is merged in and released */
	id = json_string("request_id_1");
	extra = json_pack("{s:s,s:{s:s,s:s}}", "session", "xxxxxxxyyyyy", "user", "id", "000000001", "name", "Bob");
	assert_non_null(extra);
	json_incref(extra);
	text = op_success("connect", id, extra);
	assert_int_equal(extra->refcount, 1);
	json_decref(extra);
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	str_field(o, "op", "connect");
	str_field(o, "type", "success");
	str_field(o, "id", "request_id_1");
	str_field(o, "session", "xxxxxxxyyyyy");
	str_field(json_object_get(o, "user"), "id", "000000001");
	str_field(json_object_get(o, "user"), "name", "Bob");
	assert_int_equal(json_object_size(json_object_get(o, "user")), 2);
	json_decref(o);
	free(text);
	json_decref(id);

	/* the seed's sub reply echoes topics */
	id = json_integer(-3);
	extra = json_pack("{s:[s,s]}", "topics", "com.myapp.chats/me", "com.myapp.room1");
	text = op_success("sub", id, extra);
	o = load(text);
	assert_int_equal(json_object_size(o), 4);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), -3);
	assert_int_equal(json_array_size(json_object_get(o, "topics")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "topics"), 1)), "com.myapp.room1");
	json_decref(o);
	free(text);
	json_decref(id);

	/* an empty extra object adds nothing */
	text = op_success("resume", NULL, json_object());
	o = load(text);
	assert_int_equal(json_object_size(o), 2);
	json_decref(o);
	free(text);
}

static void test_error(void **state)
{
	json_t *id = json_string("request_id_1");
	json_t *o;
	char *text;
	(void)state;
	/* the seed's failed connect */
	text = op_error("connect", NULL, OP_E_UNAUTHORIZED, "Unauthorized");
	o = load(text);
	assert_int_equal(json_object_size(o), 4);
	str_field(o, "op", "connect");
	str_field(o, "type", "error");
	assert_true(json_is_integer(json_object_get(o, "code")));
	assert_int_equal(json_integer_value(json_object_get(o, "code")), 401);
	str_field(o, "message", "Unauthorized");
	assert_null(json_object_get(o, "id"));
	assert_null(strchr(text, '\n'));
	json_decref(o);
	free(text);

	text = op_error("connect", id, OP_E_UNAUTHORIZED, "Unauthorized");
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	str_field(o, "id", "request_id_1");
	json_decref(o);
	free(text);
	assert_int_equal(id->refcount, 1);
	json_decref(id);

	id = json_integer(9);
	text = op_error("sub", id, OP_E_BAD_REQUEST, "quote \" and \\ and \xC3\xA9");
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	str_field(o, "op", "sub");
	assert_true(json_is_integer(json_object_get(o, "id")));
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 9);
	assert_int_equal(json_integer_value(json_object_get(o, "code")), 400);
	str_field(o, "message", "quote \" and \\ and \xC3\xA9");
	json_decref(o);
	free(text);
	json_decref(id);

	/* unknown op name (as sent) is echoed */
	text = op_error("publish", NULL, OP_E_BAD_REQUEST, "unknown op");
	o = load(text);
	str_field(o, "op", "publish");
	json_decref(o);
	free(text);

	/* no op name (the frame had none): still a well-formed error */
	text = op_error(NULL, NULL, OP_E_BAD_REQUEST, "the frame must be a JSON object");
	o = load(text);
	assert_true(json_is_string(json_object_get(o, "op")));
	str_field(o, "type", "error");
	assert_int_equal(json_integer_value(json_object_get(o, "code")), 400);
	json_decref(o);
	free(text);

	static const int codes[] = { OP_E_FORBIDDEN, OP_E_NOT_FOUND, OP_E_CONFLICT, OP_E_GONE, OP_E_TOO_MANY, OP_E_UNAVAILABLE };
	for(size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++){
		text = op_error("pub", NULL, codes[i], "m");
		o = load(text);
		assert_int_equal(json_integer_value(json_object_get(o, "code")), codes[i]);
		json_decref(o);
		free(text);
	}
}

static void test_mesg(void **state)
{
	json_t *data = json_pack("{s:s,s:s}", "type", "group_chat", "payload", "Hi All");
	json_t *sender = json_pack("{s:s,s:s}", "id", "000000001", "name", "Bob");
	json_t *o, *topics;
	char *text;
	(void)state;
	json_incref(data);
	json_incref(sender);
	text = op_mesg("push-abc", "com.myapp.room1", data, sender);
	/* both taken */
	assert_int_equal(data->refcount, 1);
	assert_int_equal(sender->refcount, 1);
	o = load(text);
	assert_int_equal(json_object_size(o), 6);
	str_field(o, "op", "mesg");
	str_field(o, "type", "push");
	str_field(o, "id", "push-abc");
	topics = json_object_get(o, "topics");
	assert_true(json_is_array(topics));
	assert_int_equal(json_array_size(topics), 1);
	assert_string_equal(json_string_value(json_array_get(topics, 0)), "com.myapp.room1");
	assert_true(json_equal(json_object_get(o, "data"), data));
	assert_true(json_equal(json_object_get(o, "sender"), sender));
	assert_null(strchr(text, '\n'));
	assert_null(strstr(text, ": "));
	json_decref(o);
	free(text);
	json_decref(data);
	json_decref(sender);

	/* NULL sender is null; data of other types */
	text = op_mesg("p2", "a.b/me", json_string("plain text"), NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 6);
	assert_true(json_is_null(json_object_get(o, "sender")));
	str_field(o, "data", "plain text");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "topics"), 0)), "a.b/me");
	json_decref(o);
	free(text);

	text = op_mesg("p3", "t", json_pack("[i,b,n]", 1, 1), NULL);
	o = load(text);
	assert_true(json_is_array(json_object_get(o, "data")));
	assert_int_equal(json_array_size(json_object_get(o, "data")), 3);
	json_decref(o);
	free(text);

	text = op_mesg("p4", "t", json_null(), json_pack("{s:s}", "id", "u"));
	o = load(text);
	assert_non_null(json_object_get(o, "data"));
	assert_true(json_is_null(json_object_get(o, "data")));
	str_field(json_object_get(o, "sender"), "id", "u");
	json_decref(o);
	free(text);

	/* strings needing escapes survive */
	text = op_mesg("i\"d", "t\\\"x", json_integer(5), NULL);
	o = load(text);
	str_field(o, "id", "i\"d");
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "topics"), 0)), "t\\\"x");
	json_decref(o);
	free(text);
}

static void test_pres(void **state)
{
	json_t *sender = json_pack("{s:s,s:s}", "id", "000000001", "name", "Bob");
	json_t *o;
	char *text;
	(void)state;
	json_incref(sender);
	text = op_pres("join", "pres-123", "com.myapp.room1", sender);
	assert_int_equal(sender->refcount, 1);
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	str_field(o, "op", "pres");
	str_field(o, "type", "join");
	str_field(o, "id", "pres-123");
	assert_int_equal(json_array_size(json_object_get(o, "topics")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "topics"), 0)), "com.myapp.room1");
	assert_true(json_equal(json_object_get(o, "sender"), sender));
	assert_null(json_object_get(o, "data"));
	assert_null(strchr(text, '\n'));
	json_decref(o);
	free(text);
	json_decref(sender);

	text = op_pres("leave", "pres-124", "com.myapp.room1", NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	str_field(o, "type", "leave");
	assert_non_null(json_object_get(o, "sender"));
	assert_true(json_is_null(json_object_get(o, "sender")));
	json_decref(o);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_connect),
		cmocka_unit_test(test_parse_resume),
		cmocka_unit_test(test_parse_sub_unsub),
		cmocka_unit_test(test_parse_topics_max),
		cmocka_unit_test(test_parse_pub),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_parse_type),
		cmocka_unit_test(test_parse_len_bounds),
		cmocka_unit_test(test_parse_error_keeps_root),
		cmocka_unit_test(test_path_names),
		cmocka_unit_test(test_path_presence_reset),
		cmocka_unit_test(test_path_invalid),
		cmocka_unit_test(test_path_empty_name_part),
		cmocka_unit_test(test_path_long_user),
		cmocka_unit_test(test_path_me_bad_user),
		cmocka_unit_test(test_success),
		cmocka_unit_test(test_error),
		cmocka_unit_test(test_mesg),
		cmocka_unit_test(test_pres),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
