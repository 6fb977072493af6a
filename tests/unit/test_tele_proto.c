/* Unit tests for mapping/tele_proto.c (the Telegraphy dialect: management
 * messages, responses and events, event names <-> MQTT paths, field filters).
 * The contract is tele_proto.h and docs/protocols/telegraphy.md. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tele_proto.h"

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

/* ---- tele_parse ---- */

static const char *parse(const char *text, struct tele_request *r, const char **msg)
{
	*msg = NULL;
	return tele_parse(text, strlen(text), r, msg);
}

static void parse_ok(const char *text, struct tele_request *r)
{
	const char *msg = NULL;
	const char *st = parse(text, r, &msg);
	if(st) fail_msg("message %s: got %s (%s), expected success", text, st, msg ? msg : "");
	assert_non_null(r->root);
	assert_true(json_is_object(r->root));
}

/* Expects status want; want_id < 0 means the response carries no id.
 * Clears r. */
static void parse_fail_len(const char *buf, size_t len, const char *want, long long want_id)
{
	struct tele_request r;
	const char *msg = NULL;
	const char *st = tele_parse(buf, len, &r, &msg);
	if(!st) fail_msg("message %.*s: succeeded, expected %s", (int)len, buf, want);
	if(strcmp(st, want)) fail_msg("message %.*s: got %s, expected %s", (int)len, buf, st, want);
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	if(want_id < 0){
		if(r.has_id) fail_msg("message %.*s: has_id set (%lld), expected none", (int)len, buf, r.id);
	}else{
		if(!r.has_id) fail_msg("message %.*s: has_id not set, expected %lld", (int)len, buf, want_id);
		assert_int_equal(r.id, want_id);
	}
	tele_request_clear(&r);
	assert_null(r.root);
	assert_false(r.has_id);
}

static void parse_fail(const char *text, const char *want, long long want_id)
{
	parse_fail_len(text, strlen(text), want, want_id);
}

static void test_parse_connect(void **state)
{
	struct tele_request r;
	(void)state;
	/* The seed's frame (with quoted keys). */
	parse_ok("{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"aabbccddeeff\"}}", &r);
	assert_int_equal(r.kind, TELE_CONNECT);
	assert_true(r.has_id);
	assert_int_equal(r.id, 0);
	assert_string_equal(r.auth_token, "aabbccddeeff");
	assert_null(r.session_token);
	assert_null(r.event);
	assert_null(r.filters);
	assert_false(r.permanent);
	assert_false(r.lazy);
	/* borrowed from root */
	assert_ptr_equal(r.auth_token, json_string_value(json_object_get(json_object_get(r.root, "args"), "auth_token")));
	tele_request_clear(&r);
	assert_null(r.root);
	assert_null(r.auth_token);

	/* "" is allowed (user authentication off) */
	parse_ok("{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"\"}}", &r);
	assert_int_equal(r.kind, TELE_CONNECT);
	assert_non_null(r.auth_token);
	assert_string_equal(r.auth_token, "");
	tele_request_clear(&r);

	/* key order and unknown fields do not matter */
	parse_ok("{\"args\":{\"x\":[1],\"auth_token\":\"t\"},\"extra\":{},\"id\":42,\"message\":\"CONNECT\"}", &r);
	assert_int_equal(r.kind, TELE_CONNECT);
	assert_int_equal(r.id, 42);
	assert_string_equal(r.auth_token, "t");
	tele_request_clear(&r);
}

static void test_parse_reconnect(void **state)
{
	struct tele_request r;
	(void)state;
	/* The seed's shape: session_token at the top level, no args. */
	parse_ok("{\"message\":\"RECONNECT\",\"id\":100,\"session_token\":\"rrssttuuvvww\"}", &r);
	assert_int_equal(r.kind, TELE_RECONNECT);
	assert_true(r.has_id);
	assert_int_equal(r.id, 100);
	assert_string_equal(r.session_token, "rrssttuuvvww");
	assert_null(r.auth_token);
	assert_null(r.event);
	assert_null(r.filters);
	tele_request_clear(&r);
	assert_null(r.session_token);

	/* In args. */
	parse_ok("{\"message\":\"RECONNECT\",\"id\":7,\"args\":{\"session_token\":\"abc\"}}", &r);
	assert_int_equal(r.kind, TELE_RECONNECT);
	assert_int_equal(r.id, 7);
	assert_string_equal(r.session_token, "abc");
	tele_request_clear(&r);

	/* Top level with an empty args object. */
	parse_ok("{\"message\":\"RECONNECT\",\"id\":7,\"args\":{},\"session_token\":\"top\"}", &r);
	assert_string_equal(r.session_token, "top");
	tele_request_clear(&r);

	/* Both: args wins (either key order). */
	parse_ok("{\"message\":\"RECONNECT\",\"id\":8,\"session_token\":\"top\",\"args\":{\"session_token\":\"inargs\"}}", &r);
	assert_string_equal(r.session_token, "inargs");
	tele_request_clear(&r);
	parse_ok("{\"message\":\"RECONNECT\",\"id\":8,\"args\":{\"session_token\":\"inargs\"},\"session_token\":\"top\"}", &r);
	assert_string_equal(r.session_token, "inargs");
	tele_request_clear(&r);

	/* RECONNECT may carry any id, large ones too */
	parse_ok("{\"message\":\"RECONNECT\",\"id\":9223372036854775807,\"session_token\":\"s\"}", &r);
	assert_true(r.has_id);
	assert_true(r.id == 9223372036854775807LL);
	tele_request_clear(&r);
}

static void test_parse_subscribe(void **state)
{
	struct tele_request r;
	(void)state;
	/* minimal: filters absent, permanent/lazy default false */
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":1,\"args\":{\"event_name\":\"chat.message\"}}", &r);
	assert_int_equal(r.kind, TELE_SUBSCRIBE);
	assert_true(r.has_id);
	assert_int_equal(r.id, 1);
	assert_string_equal(r.event, "chat.message");
	assert_null(r.filters);
	assert_false(r.permanent);
	assert_false(r.lazy);
	assert_null(r.auth_token);
	assert_null(r.session_token);
	tele_request_clear(&r);
	assert_null(r.event);

	/* everything given */
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":2,\"args\":{\"event_name\":\"orders.**\","
			"\"filters\":{\"room\":\"a\",\"user.id\":7},\"permanent\":true,\"lazy\":true}}", &r);
	assert_int_equal(r.kind, TELE_SUBSCRIBE);
	assert_int_equal(r.id, 2);
	assert_string_equal(r.event, "orders.**");
	assert_non_null(r.filters);
	assert_ptr_equal(r.filters, json_object_get(json_object_get(r.root, "args"), "filters"));   /* borrowed */
	assert_true(json_is_object(r.filters));
	assert_int_equal(json_object_size(r.filters), 2);
	assert_string_equal(json_string_value(json_object_get(r.filters, "room")), "a");
	assert_int_equal(json_integer_value(json_object_get(r.filters, "user.id")), 7);
	assert_true(r.permanent);
	assert_true(r.lazy);
	tele_request_clear(&r);
	assert_null(r.filters);
	assert_false(r.permanent);
	assert_false(r.lazy);

	/* explicit false; each flag alone */
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":3,\"args\":{\"event_name\":\"a\",\"permanent\":false,\"lazy\":false}}", &r);
	assert_false(r.permanent);
	assert_false(r.lazy);
	tele_request_clear(&r);
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":3,\"args\":{\"event_name\":\"a\",\"permanent\":true}}", &r);
	assert_true(r.permanent);
	assert_false(r.lazy);
	tele_request_clear(&r);
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":3,\"args\":{\"event_name\":\"a\",\"lazy\":true}}", &r);
	assert_false(r.permanent);
	assert_true(r.lazy);
	tele_request_clear(&r);

	/* filters null = none; {} is an (empty) object */
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":4,\"args\":{\"event_name\":\"a\",\"filters\":null}}", &r);
	assert_null(r.filters);
	tele_request_clear(&r);
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":4,\"args\":{\"event_name\":\"a\",\"filters\":{}}}", &r);
	assert_non_null(r.filters);
	assert_true(json_is_object(r.filters));
	assert_int_equal(json_object_size(r.filters), 0);
	tele_request_clear(&r);

	/* nested filter values are kept as given */
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":4,\"args\":{\"event_name\":\"a\",\"filters\":{\"x\":[1,{\"y\":null}]}}}", &r);
	{
		json_t *want = load("{\"x\":[1,{\"y\":null}]}");
		assert_true(json_equal(r.filters, want));
		json_decref(want);
	}
	tele_request_clear(&r);
}

static void test_parse_subscribe_errors(void **state)
{
	(void)state;
	/* filters that are not an object, or with bad keys */
	static const char *const bad_filters[] = {
		"[]", "[{\"a\":1}]", "\"a=1\"", "5", "true", "false",
		"{\"\":1}", "{\".a\":1}", "{\"a.\":1}", "{\"a..b\":1}", "{\"ok\":1,\".\":2}",
	};
	static const char *const kinds[] = { "SUBSCRIBE", "UNSUBSCRIBE" };
	for(size_t k = 0; k < 2; k++){
		for(size_t i = 0; i < sizeof(bad_filters) / sizeof(bad_filters[0]); i++){
			char buf[256];
			snprintf(buf, sizeof(buf), "{\"message\":\"%s\",\"id\":9,\"args\":{\"event_name\":\"a.b\",\"filters\":%s}}",
					kinds[k], bad_filters[i]);
			parse_fail(buf, TELE_S_BAD_MESSAGE, 9);
		}
	}

	/* permanent / lazy not booleans */
	static const char *const bad_bools[] = { "1", "0", "\"true\"", "\"false\"", "null", "[]", "{}", "1.0" };
	for(size_t i = 0; i < sizeof(bad_bools) / sizeof(bad_bools[0]); i++){
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"message\":\"SUBSCRIBE\",\"id\":2,\"args\":{\"event_name\":\"a\",\"permanent\":%s}}",
				bad_bools[i]);
		parse_fail(buf, TELE_S_BAD_MESSAGE, 2);
		snprintf(buf, sizeof(buf), "{\"message\":\"SUBSCRIBE\",\"id\":2,\"args\":{\"event_name\":\"a\",\"lazy\":%s}}",
				bad_bools[i]);
		parse_fail(buf, TELE_S_BAD_MESSAGE, 2);
		snprintf(buf, sizeof(buf), "{\"message\":\"SUBSCRIBE\",\"id\":2,\"args\":{\"event_name\":\"a\","
				"\"permanent\":true,\"lazy\":%s}}", bad_bools[i]);
		parse_fail(buf, TELE_S_BAD_MESSAGE, 2);
	}
}

static void test_parse_unsubscribe(void **state)
{
	struct tele_request r;
	(void)state;
	parse_ok("{\"message\":\"UNSUBSCRIBE\",\"id\":10,\"args\":{\"event_name\":\"chat.message\"}}", &r);
	assert_int_equal(r.kind, TELE_UNSUBSCRIBE);
	assert_true(r.has_id);
	assert_int_equal(r.id, 10);
	assert_string_equal(r.event, "chat.message");
	assert_null(r.filters);
	assert_false(r.permanent);
	assert_false(r.lazy);
	tele_request_clear(&r);

	parse_ok("{\"message\":\"UNSUBSCRIBE\",\"id\":11,\"args\":{\"event_name\":\"chat.*\",\"filters\":{\"room\":\"a\"}}}", &r);
	assert_int_equal(r.kind, TELE_UNSUBSCRIBE);
	assert_string_equal(r.event, "chat.*");
	assert_non_null(r.filters);
	assert_ptr_equal(r.filters, json_object_get(json_object_get(r.root, "args"), "filters"));
	assert_string_equal(json_string_value(json_object_get(r.filters, "room")), "a");
	tele_request_clear(&r);

	parse_ok("{\"message\":\"UNSUBSCRIBE\",\"id\":12,\"args\":{\"event_name\":\"a\",\"filters\":null}}", &r);
	assert_null(r.filters);
	tele_request_clear(&r);

	parse_ok("{\"message\":\"UNSUBSCRIBE\",\"id\":12,\"args\":{\"event_name\":\"a\",\"filters\":{}}}", &r);
	assert_non_null(r.filters);
	assert_int_equal(json_object_size(r.filters), 0);
	tele_request_clear(&r);
}

static void test_parse_id(void **state)
{
	struct tele_request r;
	(void)state;
	/* good ids */
	parse_ok("{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"}}", &r);
	assert_true(r.has_id);
	assert_int_equal(r.id, 0);
	tele_request_clear(&r);
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":123456789012,\"args\":{\"event_name\":\"a\"}}", &r);
	assert_true(r.has_id);
	assert_true(r.id == 123456789012LL);
	tele_request_clear(&r);

	/* unusable ids: BAD_MESSAGE without an id, whatever the rest */
	static const char *const bad_ids[] = {
		"-1", "-100", "\"0\"", "\"5\"", "1.0", "0.5", "2.5e1", "null", "true", "false", "[0]", "{}",
		"-9223372036854775808",
	};
	for(size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++){
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"message\":\"CONNECT\",\"id\":%s,\"args\":{\"auth_token\":\"t\"}}", bad_ids[i]);
		parse_fail(buf, TELE_S_BAD_MESSAGE, -1);
		snprintf(buf, sizeof(buf), "{\"message\":\"SUBSCRIBE\",\"id\":%s,\"args\":{\"event_name\":\"a\"}}", bad_ids[i]);
		parse_fail(buf, TELE_S_BAD_MESSAGE, -1);
		snprintf(buf, sizeof(buf), "{\"message\":\"NOPE\",\"id\":%s}", bad_ids[i]);
		parse_fail(buf, TELE_S_BAD_MESSAGE, -1);
	}
}

static void test_parse_unknown_message(void **state)
{
	(void)state;
	static const char *const names[] = {
		"PUBLISH", "connect", "Connect", "SUBSCRIBED", "CONNECTED", "", " CONNECT", "CONNECT ", "EVENT",
	};
	for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++){
		char buf[256];
		snprintf(buf, sizeof(buf), "{\"message\":\"%s\",\"id\":3,\"args\":{\"auth_token\":\"t\",\"event_name\":\"a\"}}",
				names[i]);
		parse_fail(buf, TELE_S_UNKNOWN_MESSAGE, 3);
		snprintf(buf, sizeof(buf), "{\"message\":\"%s\",\"id\":3}", names[i]);
		parse_fail(buf, TELE_S_UNKNOWN_MESSAGE, 3);
	}
}

static void test_parse_args_not_object(void **state)
{
	(void)state;
	static const char *const bad_args[] = { "[]", "[{\"auth_token\":\"t\"}]", "\"x\"", "5", "true", "null" };
	static const char *const kinds[] = { "CONNECT", "RECONNECT", "SUBSCRIBE", "UNSUBSCRIBE" };
	for(size_t k = 0; k < 4; k++){
		for(size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++){
			char buf[256];
			snprintf(buf, sizeof(buf), "{\"message\":\"%s\",\"id\":2,\"session_token\":\"s\",\"args\":%s}",
					kinds[k], bad_args[i]);
			parse_fail(buf, TELE_S_BAD_MESSAGE, 2);
		}
	}
}

static void test_parse_bad_json(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", " ", "x", "{", "}", "{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"}",
		"{message:\"CONNECT\",id:0,args:{auth_token:\"t\"}}",
		"{'message':'CONNECT','id':0,'args':{'auth_token':'t'}}",
		"{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"},}",
		"{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"}} x",
		"{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"}}{}",
		/* not an object */
		"[]", "[{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"}}]", "0", "\"CONNECT\"", "null", "true",
		/* duplicate keys, at the top and nested */
		"{\"message\":\"CONNECT\",\"id\":0,\"id\":1,\"args\":{\"auth_token\":\"t\"}}",
		"{\"message\":\"CONNECT\",\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\"}}",
		"{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"t\",\"auth_token\":\"u\"}}",
		"{\"message\":\"SUBSCRIBE\",\"id\":0,\"args\":{\"event_name\":\"a\",\"filters\":{\"k\":1,\"k\":2}}}",
		/* invalid UTF-8 */
		"{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"\xff\"}}",
		"{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"\xc3\"}}",
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) parse_fail(bad[i], TELE_S_BAD_MESSAGE, -1);
}

static void test_parse_len(void **state)
{
	struct tele_request r;
	const char *msg = NULL;
	const char *st;
	static const char good[] = "{\"message\":\"CONNECT\",\"id\":5,\"args\":{\"auth_token\":\"tok\"}}";
	char *buf;
	(void)state;
	/* only len bytes are read: no NUL terminator, garbage after */
	buf = malloc(sizeof(good) - 1 + 8);
	assert_non_null(buf);
	memcpy(buf, good, sizeof(good) - 1);
	memcpy(buf + sizeof(good) - 1, "garbage!", 8);
	st = tele_parse(buf, sizeof(good) - 1, &r, &msg);
	if(st) fail_msg("got %s (%s)", st, msg ? msg : "");
	assert_int_equal(r.kind, TELE_CONNECT);
	assert_int_equal(r.id, 5);
	assert_string_equal(r.auth_token, "tok");
	free(buf);   /* r does not point into buf */
	assert_string_equal(r.auth_token, "tok");
	tele_request_clear(&r);

	/* a cut message is not JSON */
	parse_fail_len(good, sizeof(good) - 2, TELE_S_BAD_MESSAGE, -1);
}

static void test_parse_clear(void **state)
{
	struct tele_request r;
	const char *msg = NULL;
	(void)state;
	/* r is reset by parse, whatever was in it */
	memset(&r, 0x5A, sizeof(r));
	assert_non_null(parse("nope", &r, &msg));
	assert_null(r.root);
	assert_false(r.has_id);
	tele_request_clear(&r);

	memset(&r, 0x5A, sizeof(r));
	parse_ok("{\"message\":\"SUBSCRIBE\",\"id\":1,\"args\":{\"event_name\":\"a\"}}", &r);
	assert_null(r.auth_token);
	assert_null(r.session_token);
	assert_null(r.filters);
	assert_false(r.permanent);
	assert_false(r.lazy);
	tele_request_clear(&r);
	assert_null(r.root);
	assert_null(r.event);

	/* clearing twice is harmless */
	tele_request_clear(&r);
	assert_null(r.root);

	/* an error after the object was read keeps the root for clear */
	assert_string_equal(parse("{\"message\":\"SUBSCRIBE\",\"id\":1,\"args\":{}}", &r, &msg), TELE_S_BAD_MESSAGE);
	assert_non_null(r.root);
	assert_true(json_is_object(r.root));
	tele_request_clear(&r);
	assert_null(r.root);
}

/* ---- tele_response / tele_event ---- */

static void test_response(void **state)
{
	json_t *o, *data;
	char *text;
	(void)state;
	/* with an id and data (taken) */
	data = json_pack("{s:s}", "session_token", "rrssttuuvvww");
	json_incref(data);
	text = tele_response(true, "CONNECTED", true, 0, data);
	assert_non_null(text);
	assert_int_equal(data->refcount, 1);
	o = load(text);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 4);
	assert_true(json_is_true(json_object_get(o, "success")));
	assert_string_equal(json_string_value(json_object_get(o, "status")), "CONNECTED");
	assert_true(json_is_integer(json_object_get(o, "id")));
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 0);
	assert_true(json_equal(json_object_get(o, "data"), data));
	json_decref(o);
	free(text);
	json_decref(data);

	/* failure, without an id: no "id" key at all */
	text = tele_response(false, TELE_S_BAD_MESSAGE, false, 99, json_pack("{s:s}", "message", "not JSON"));
	o = load(text);
	assert_int_equal(json_object_size(o), 3);
	assert_true(json_is_false(json_object_get(o, "success")));
	assert_string_equal(json_string_value(json_object_get(o, "status")), "BAD_MESSAGE");
	assert_null(json_object_get(o, "id"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "data"), "message")), "not JSON");
	assert_int_equal(json_object_size(json_object_get(o, "data")), 1);
	json_decref(o);
	free(text);

	/* data NULL -> {} */
	text = tele_response(true, "SUBSCRIBED", true, 12, NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 4);
	assert_int_equal(json_integer_value(json_object_get(o, "id")), 12);
	assert_true(json_is_object(json_object_get(o, "data")));
	assert_int_equal(json_object_size(json_object_get(o, "data")), 0);
	json_decref(o);
	free(text);

	text = tele_response(false, TELE_S_NOT_CONNECTED, false, 0, NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 3);
	assert_true(json_is_false(json_object_get(o, "success")));
	assert_string_equal(json_string_value(json_object_get(o, "status")), "NOT_CONNECTED");
	assert_null(json_object_get(o, "id"));
	assert_true(json_is_object(json_object_get(o, "data")));
	assert_int_equal(json_object_size(json_object_get(o, "data")), 0);
	json_decref(o);
	free(text);

	/* large ids survive */
	text = tele_response(true, "UNSUBSCRIBED", true, 9223372036854775807LL, NULL);
	o = load(text);
	assert_true(json_integer_value(json_object_get(o, "id")) == 9223372036854775807LL);
	json_decref(o);
	free(text);

	/* status text is escaped properly */
	text = tele_response(false, "A\"B\\C", true, 1, NULL);
	o = load(text);
	assert_string_equal(json_string_value(json_object_get(o, "status")), "A\"B\\C");
	json_decref(o);
	free(text);
}

static void test_event(void **state)
{
	json_t *o, *data;
	char *text;
	(void)state;
	/* the contract's example; data taken */
	data = json_pack("{s:s,s:s}", "room", "a", "text", "hi");
	json_incref(data);
	text = tele_event("chat.message", data);
	assert_non_null(text);
	assert_int_equal(data->refcount, 1);
	o = load(text);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 2);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "chat.message");
	assert_true(json_equal(json_object_get(o, "data"), data));
	json_decref(o);
	free(text);
	json_decref(data);

	/* NULL data -> null */
	text = tele_event("a.b", NULL);
	o = load(text);
	assert_int_equal(json_object_size(o), 2);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "a.b");
	assert_non_null(json_object_get(o, "data"));
	assert_true(json_is_null(json_object_get(o, "data")));
	json_decref(o);
	free(text);

	/* non-object payloads as they are */
	text = tele_event("t", json_string("plain text"));
	o = load(text);
	assert_int_equal(json_object_size(o), 2);
	assert_string_equal(json_string_value(json_object_get(o, "data")), "plain text");
	json_decref(o);
	free(text);

	text = tele_event("t", json_pack("[i,i]", 1, 2));
	o = load(text);
	assert_int_equal(json_array_size(json_object_get(o, "data")), 2);
	json_decref(o);
	free(text);

	text = tele_event("t", json_integer(0));
	o = load(text);
	assert_true(json_is_integer(json_object_get(o, "data")));
	assert_int_equal(json_integer_value(json_object_get(o, "data")), 0);
	json_decref(o);
	free(text);

	text = tele_event("t", json_null());
	o = load(text);
	assert_true(json_is_null(json_object_get(o, "data")));
	json_decref(o);
	free(text);

	/* UTF-8 names survive */
	text = tele_event("caf\xc3\xa9.men\xc3\xba", json_object());
	o = load(text);
	assert_string_equal(json_string_value(json_object_get(o, "event")), "caf\xc3\xa9.men\xc3\xba");
	assert_int_equal(json_object_size(json_object_get(o, "data")), 0);
	json_decref(o);
	free(text);
}

/* ---- tele_event_path / tele_event_name ---- */

static void path_ok(const char *name, const char *want, bool want_wild)
{
	bool wild = !want_wild;
	char *p = tele_event_path(name, &wild);
	if(!p) fail_msg("event %s: NULL, expected %s", name, want);
	if(strcmp(p, want)) fail_msg("event %s: got %s, expected %s", name, p, want);
	if(wild != want_wild) fail_msg("event %s: wildcard %d, expected %d", name, wild, want_wild);
	free(p);
}

/* name with non-printable bytes as \xNN, cut to fit out. */
static const char *escaped(const char *name, char *out, size_t cap)
{
	size_t o = 0;
	for(const unsigned char *c = (const unsigned char *)name; *c && o + 5 < cap; c++){
		if(*c < 0x20 || *c >= 0x7F) o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *c);
		else out[o++] = (char)*c;
	}
	out[o] = '\0';
	return out;
}

static void path_bad(const char *name)
{
	bool wild = false;
	char *p = tele_event_path(name, &wild);
	if(p){
		char want[96], got[96];
		escaped(name, want, sizeof(want));
		escaped(p, got, sizeof(got));
		free(p);
		fail_msg("event \"%s\": got \"%s\", expected NULL", want, got);
	}
}

static void test_event_path(void **state)
{
	(void)state;
	path_ok("chat.message", "chat/message", false);
	path_ok("a.b", "a/b", false);
	path_ok("a", "a", false);
	path_ok("orders.new", "orders/new", false);
	path_ok("a.b.c.d", "a/b/c/d", false);
	path_ok("a-b_c.D9", "a-b_c/D9", false);
	path_ok("with space.x", "with space/x", false);
	path_ok("caf\xc3\xa9.\xe2\x82\xac", "caf\xc3\xa9/\xe2\x82\xac", false);
	path_ok("a.$b", "a/$b", false);       /* only a leading $ is refused */
	path_ok("a$", "a$", false);

	/* wildcards */
	path_ok("chat.*", "chat/+", true);
	path_ok("a.*", "a/+", true);
	path_ok("*", "+", true);
	path_ok("*.b", "+/b", true);
	path_ok("a.*.c", "a/+/c", true);
	path_ok("*.*", "+/+", true);
	path_ok("orders.**", "orders/#", true);
	path_ok("a.**", "a/#", true);
	path_ok("**", "#", true);
	path_ok("a.*.**", "a/+/#", true);
	path_ok("*.**", "+/#", true);
}

static void test_event_path_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", ".", "..", "a..b", ".a", "a.", "a.b.", ".a.b",
		"$x", "$SYS.broker", "$",
		"a/b", "a.b/c", "/", "a+b", "+", "a.+", "a#", "#", "a.#",
		"a*b", "a.b*", "*a", "a.*b", "***", "a.***", "a.**b", "**a",
		"a.**.b", "**.a", "**.**", "a.**.*",
		"a\x01" "b", "a\tb", "a\nb", "\x1f", "a.\x7f", "a\x7f" "b",
		/* invalid UTF-8 */
		"a\xff", "\xc3", "a.\xc3.b", "\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\x80",
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) path_bad(bad[i]);

	/* NULL name */
	{
		bool wild = true;
		assert_null(tele_event_path(NULL, &wild));
	}
}

static void test_event_path_length(void **state)
{
	char *name, *p;
	bool wild;
	(void)state;
	/* exactly TELE_EVENT_NAME_MAX bytes: fine */
	name = repeat("a", TELE_EVENT_NAME_MAX);
	p = tele_event_path(name, &wild);
	assert_non_null(p);
	assert_string_equal(p, name);
	assert_false(wild);
	free(p);
	free(name);

	/* one more: too long */
	name = repeat("a", TELE_EVENT_NAME_MAX + 1);
	assert_null(tele_event_path(name, &wild));
	free(name);

	/* 128 segments "a." ... "a" = 255 bytes, then 257 */
	name = repeat("a.", 128);
	name[255] = '\0';
	assert_int_equal(strlen(name), 255);
	p = tele_event_path(name, &wild);
	assert_non_null(p);
	for(size_t i = 0; i < 255; i++) assert_int_equal(p[i], i % 2 ? '/' : 'a');
	free(p);
	free(name);

	name = repeat("ab.", 86);          /* 258 bytes; cut to 257 ending in "b" */
	name[257] = '\0';
	assert_null(tele_event_path(name, &wild));
	free(name);

	/* multi-byte characters count in bytes: 128 x "é" = 256 bytes ok, 129 not */
	name = repeat("\xc3\xa9", 128);
	p = tele_event_path(name, &wild);
	assert_non_null(p);
	assert_string_equal(p, name);
	free(p);
	free(name);
	name = repeat("\xc3\xa9", 129);
	assert_null(tele_event_path(name, &wild));
	free(name);

	/* a wildcard at the end of a 256-byte name */
	name = repeat("a", TELE_EVENT_NAME_MAX);
	memcpy(name + TELE_EVENT_NAME_MAX - 3, ".**", 3);
	p = tele_event_path(name, &wild);
	assert_non_null(p);
	assert_true(wild);
	assert_int_equal(strlen(p), TELE_EVENT_NAME_MAX - 1);
	assert_string_equal(p + TELE_EVENT_NAME_MAX - 3, "/#");
	free(p);
	free(name);

	/* a very long name */
	name = repeat("abcdefgh.", 1000);
	name[strlen(name) - 1] = '\0';
	assert_null(tele_event_path(name, &wild));
	free(name);
}

/* The contract: segments are free of control characters. U+0080..U+009F
 * (C1) are control characters too (Unicode Cc), and the broker refuses them
 * in topics (MQTT 1.5.4, mosquitto_validate_utf8). */
static void test_event_path_c1_controls(void **state)
{
	(void)state;
	path_bad("a\xc2\x80" "b");
	path_bad("a\xc2\x85" "b");
	path_bad("a.\xc2\x9f");
}

static void test_event_path_wildcard_reset(void **state)
{
	bool wild = true;
	char *p;
	(void)state;
	p = tele_event_path("a.b", &wild);
	assert_non_null(p);
	assert_false(wild);
	free(p);

	wild = false;
	p = tele_event_path("a.*", &wild);
	assert_non_null(p);
	assert_true(wild);
	free(p);
}

static void name_ok(const char *path, const char *want)
{
	char *n = tele_event_name(path);
	if(!n) fail_msg("path %s: NULL, expected %s", path, want);
	if(strcmp(n, want)) fail_msg("path %s: got %s, expected %s", path, n, want);
	free(n);
}

static void test_event_name(void **state)
{
	(void)state;
	name_ok("chat/message", "chat.message");
	name_ok("a", "a");
	name_ok("a/b/c/d", "a.b.c.d");
	name_ok("orders/new", "orders.new");
	name_ok("caf\xc3\xa9/x", "caf\xc3\xa9.x");
	name_ok("a/$b", "a.$b");

	/* round trip of concrete names */
	static const char *const names[] = {
		"chat.message", "a", "a.b.c", "orders.new", "x-y_z.1.2", "caf\xc3\xa9.\xe2\x82\xac", "a.$b", "with space.x",
	};
	for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++){
		bool wild = true;
		char *p = tele_event_path(names[i], &wild);
		char *n;
		if(!p) fail_msg("event %s: NULL path", names[i]);
		assert_false(wild);
		n = tele_event_name(p);
		assert_non_null(n);
		if(strcmp(n, names[i])) fail_msg("event %s -> %s -> %s", names[i], p, n);
		free(n);
		free(p);
	}

	/* a 256-byte name round-trips too */
	{
		char *name = repeat("ab.", 86);
		bool wild;
		char *p, *n;
		name[TELE_EVENT_NAME_MAX] = '\0';
		if(name[TELE_EVENT_NAME_MAX - 1] == '.') name[TELE_EVENT_NAME_MAX - 1] = 'x';
		p = tele_event_path(name, &wild);
		assert_non_null(p);
		n = tele_event_name(p);
		assert_string_equal(n, name);
		free(n);
		free(p);
		free(name);
	}
}

/* ---- filters ---- */

static void test_filters_valid(void **state)
{
	json_t *f;
	(void)state;
	static const char *const good[] = {
		"{}", "{\"room\":\"a\"}", "{\"user.id\":7}", "{\"room\":\"a\",\"user.id\":7}",
		"{\"a.b.c\":null}", "{\"x\":[1,2]}", "{\"x\":{\"y\":1}}", "{\"$a\":true}", "{\"*\":1}", "{\"a b\":1}",
	};
	for(size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++){
		f = load(good[i]);
		if(!tele_filters_valid(f)) fail_msg("filters %s: invalid, expected valid", good[i]);
		json_decref(f);
	}

	static const char *const bad[] = {
		"{\"\":1}", "{\".\":1}", "{\"..\":1}", "{\".a\":1}", "{\"a.\":1}", "{\"a..b\":1}", "{\".a.b\":1}",
		"{\"a.b.\":1}", "{\"ok\":1,\"a..b\":2}", "{\"a\":1,\"\":2}",
		/* not objects */
		"[]", "[{\"a\":1}]", "\"a\"", "1", "1.5", "true", "false", "null",
	};
	for(size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++){
		f = load(bad[i]);
		if(tele_filters_valid(f)) fail_msg("filters %s: valid, expected invalid", bad[i]);
		json_decref(f);
	}
}

static bool match(const char *filters, const char *data)
{
	json_t *f = filters ? load(filters) : NULL, *d = data ? load(data) : NULL;
	bool m = tele_filters_match(f, d);
	json_decref(f);
	json_decref(d);
	return m;
}

#define MATCH(f, d) do{ if(!match(f, d)) fail_msg("filters %s, data %s: no match, expected a match", f ? f : "NULL", d ? d : "NULL"); }while(0)
#define NO_MATCH(f, d) do{ if(match(f, d)) fail_msg("filters %s, data %s: match, expected none", f ? f : "NULL", d ? d : "NULL"); }while(0)

static void test_filters_match(void **state)
{
	(void)state;
	/* flat equality */
	MATCH("{\"room\":\"a\"}", "{\"room\":\"a\",\"text\":\"hi\"}");
	NO_MATCH("{\"room\":\"a\"}", "{\"room\":\"b\",\"text\":\"hi\"}");
	MATCH("{\"room\":\"a\",\"n\":1}", "{\"n\":1,\"room\":\"a\"}");
	NO_MATCH("{\"room\":\"a\",\"n\":1}", "{\"n\":2,\"room\":\"a\"}");
	NO_MATCH("{\"room\":\"a\",\"n\":1}", "{\"room\":\"a\"}");
	NO_MATCH("{\"room\":\"a\"}", "{\"Room\":\"a\"}");

	/* the contract's example */
	MATCH("{\"room\":\"a\",\"user.id\":7}", "{\"room\":\"a\",\"user\":{\"id\":7,\"name\":\"x\"}}");
	NO_MATCH("{\"room\":\"a\",\"user.id\":7}", "{\"room\":\"a\",\"user\":{\"id\":8}}");
	NO_MATCH("{\"room\":\"a\",\"user.id\":7}", "{\"room\":\"a\",\"user\":{}}");
	NO_MATCH("{\"room\":\"a\",\"user.id\":7}", "{\"room\":\"a\"}");

	/* nested paths */
	MATCH("{\"a.b.c\":true}", "{\"a\":{\"b\":{\"c\":true}}}");
	NO_MATCH("{\"a.b.c\":true}", "{\"a\":{\"b\":{\"c\":false}}}");
	NO_MATCH("{\"a.b.c\":true}", "{\"a\":{\"b\":true}}");
	NO_MATCH("{\"a.b\":1}", "{\"a\":1}");
	NO_MATCH("{\"a.b\":1}", "{\"a\":[1]}");
	NO_MATCH("{\"a.b\":1}", "{\"a\":\"b\"}");
	NO_MATCH("{\"a.b\":1}", "{\"a\":null}");
	/* dots walk into objects: a literal "a.b" key is not the path a.b */
	NO_MATCH("{\"a.b\":1}", "{\"a.b\":1}");
	/* arrays are not walked by index */
	NO_MATCH("{\"a.0\":1}", "{\"a\":[1]}");
	MATCH("{\"a.0\":1}", "{\"a\":{\"0\":1}}");

	/* missing path */
	NO_MATCH("{\"x\":1}", "{}");
	NO_MATCH("{\"x\":null}", "{}");
	MATCH("{\"x\":null}", "{\"x\":null}");
	NO_MATCH("{\"x\":null}", "{\"x\":0}");

	/* type-sensitive */
	NO_MATCH("{\"n\":7}", "{\"n\":\"7\"}");
	NO_MATCH("{\"n\":\"7\"}", "{\"n\":7}");
	NO_MATCH("{\"b\":true}", "{\"b\":1}");
	NO_MATCH("{\"b\":false}", "{\"b\":0}");
	NO_MATCH("{\"b\":false}", "{\"b\":null}");
	NO_MATCH("{\"s\":\"\"}", "{\"s\":null}");
	MATCH("{\"n\":7}", "{\"n\":7}");
	MATCH("{\"f\":1.5}", "{\"f\":1.5}");
	MATCH("{\"s\":\"\"}", "{\"s\":\"\"}");
	MATCH("{\"u\":\"caf\xc3\xa9\"}", "{\"u\":\"caf\\u00e9\"}");

	/* arrays and objects by value */
	MATCH("{\"tags\":[1,\"a\",null]}", "{\"tags\":[1,\"a\",null]}");
	NO_MATCH("{\"tags\":[1,\"a\"]}", "{\"tags\":[\"a\",1]}");
	NO_MATCH("{\"tags\":[1]}", "{\"tags\":[1,1]}");
	NO_MATCH("{\"tags\":[]}", "{\"tags\":{}}");
	MATCH("{\"o\":{\"x\":1,\"y\":[2]}}", "{\"o\":{\"y\":[2],\"x\":1}}");
	NO_MATCH("{\"o\":{\"x\":1}}", "{\"o\":{\"x\":1,\"y\":2}}");
	NO_MATCH("{\"o\":{\"x\":1,\"y\":2}}", "{\"o\":{\"x\":1}}");
	MATCH("{\"o\":{}}", "{\"o\":{}}");
	NO_MATCH("{\"o\":{}}", "{\"o\":{\"x\":1}}");
	MATCH("{\"user\":{\"id\":7}}", "{\"user\":{\"id\":7}}");

	/* NULL and {} match everything */
	MATCH(NULL, "{\"a\":1}");
	MATCH(NULL, "{}");
	MATCH(NULL, "\"text\"");
	MATCH(NULL, "[1]");
	MATCH(NULL, "null");
	MATCH(NULL, NULL);
	MATCH("{}", "{\"a\":1}");
	MATCH("{}", "{}");
	MATCH("{}", "\"text\"");
	MATCH("{}", "5");
	MATCH("{}", NULL);

	/* data not an object: no path can be there */
	NO_MATCH("{\"a\":1}", "\"a\"");
	NO_MATCH("{\"a\":1}", "1");
	NO_MATCH("{\"a\":1}", "[{\"a\":1}]");
	NO_MATCH("{\"a\":1}", "null");
	NO_MATCH("{\"a\":1}", "true");
	NO_MATCH("{\"a\":1}", NULL);
}

/* A filter path with a long segment: the data has it, so it matches. */
static void test_filters_match_long_key(void **state)
{
	char *key = repeat("k", 300);
	char path[400];
	json_t *f = json_pack("{s:i}", key, 1), *d = json_pack("{s:i}", key, 1);
	json_t *f2, *d2;
	bool valid, matched, valid2, matched2;
	(void)state;
	valid = tele_filters_valid(f);
	matched = tele_filters_match(f, d);
	/* nested, under a long segment */
	snprintf(path, sizeof(path), "outer.%s", key);
	f2 = json_pack("{s:s}", path, "v");
	d2 = json_pack("{s:{s:s}}", "outer", key, "v");
	valid2 = tele_filters_valid(f2);
	matched2 = tele_filters_match(f2, d2);
	json_decref(f);
	json_decref(d);
	json_decref(f2);
	json_decref(d2);
	free(key);

	assert_true(valid);
	assert_true(valid2);
	if(!matched) fail_msg("filters {\"k\"*300: 1}, data {\"k\"*300: 1}: no match, expected a match");
	if(!matched2) fail_msg("filters {\"outer.\"+\"k\"*300: \"v\"}, data {outer: {\"k\"*300: \"v\"}}: no match, expected a match");
}

static bool equal(const char *a, const char *b)
{
	json_t *ja = a ? load(a) : NULL, *jb = b ? load(b) : NULL;
	bool e = tele_filters_equal(ja, jb);
	bool e2 = tele_filters_equal(jb, ja);
	if(e != e2) fail_msg("filters_equal(%s, %s) is not symmetric", a ? a : "NULL", b ? b : "NULL");
	json_decref(ja);
	json_decref(jb);
	return e;
}

#define EQUAL(a, b) do{ if(!equal(a, b)) fail_msg("filters %s and %s: unequal, expected equal", a ? a : "NULL", b ? b : "NULL"); }while(0)
#define UNEQUAL(a, b) do{ if(equal(a, b)) fail_msg("filters %s and %s: equal, expected unequal", a ? a : "NULL", b ? b : "NULL"); }while(0)

static void test_filters_equal(void **state)
{
	(void)state;
	EQUAL(NULL, NULL);
	EQUAL(NULL, "{}");
	EQUAL("{}", "{}");
	EQUAL("{\"room\":\"a\"}", "{\"room\":\"a\"}");
	EQUAL("{\"room\":\"a\",\"user.id\":7}", "{\"user.id\":7,\"room\":\"a\"}");
	EQUAL("{\"o\":{\"x\":1,\"y\":2},\"l\":[1,2]}", "{\"l\":[1,2],\"o\":{\"y\":2,\"x\":1}}");

	UNEQUAL(NULL, "{\"a\":1}");
	UNEQUAL("{}", "{\"a\":1}");
	UNEQUAL("{\"a\":1}", "{\"a\":2}");
	UNEQUAL("{\"a\":1}", "{\"a\":\"1\"}");
	UNEQUAL("{\"a\":1}", "{\"b\":1}");
	UNEQUAL("{\"a\":1}", "{\"a\":1,\"b\":2}");
	UNEQUAL("{\"a\":null}", "{}");
	UNEQUAL("{\"a\":null}", NULL);
	UNEQUAL("{\"l\":[1,2]}", "{\"l\":[2,1]}");
	UNEQUAL("{\"o\":{\"x\":1}}", "{\"o\":{\"x\":1,\"y\":2}}");
	UNEQUAL("{\"user.id\":7}", "{\"user\":{\"id\":7}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_connect),
		cmocka_unit_test(test_parse_reconnect),
		cmocka_unit_test(test_parse_subscribe),
		cmocka_unit_test(test_parse_subscribe_errors),
		cmocka_unit_test(test_parse_unsubscribe),
		cmocka_unit_test(test_parse_id),
		cmocka_unit_test(test_parse_unknown_message),
		cmocka_unit_test(test_parse_args_not_object),
		cmocka_unit_test(test_parse_bad_json),
		cmocka_unit_test(test_parse_len),
		cmocka_unit_test(test_parse_clear),
		cmocka_unit_test(test_response),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_event_path),
		cmocka_unit_test(test_event_path_invalid),
		cmocka_unit_test(test_event_path_length),
		cmocka_unit_test(test_event_path_c1_controls),
		cmocka_unit_test(test_event_path_wildcard_reset),
		cmocka_unit_test(test_event_name),
		cmocka_unit_test(test_filters_valid),
		cmocka_unit_test(test_filters_match),
		cmocka_unit_test(test_filters_match_long_key),
		cmocka_unit_test(test_filters_equal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
