/* Unit tests for mapping/comet_proto.c (Comet frames, API bodies, Events,
 * claims, DumpSession). The contract is docs/protocols/comet.md. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "comet_proto.h"
#include "jsonutil.h"

/* ---- uplink ---- */

static const char *parse(const char *text, struct comet_uplink *u)
{
	const char *msg = NULL;
	const char *err = comet_parse_uplink(text, strlen(text), u, &msg);
	if(err){
		assert_non_null(msg);
		assert_true(strlen(msg) > 0);
		assert_null(u->root);
	}
	return err;
}

static void parse_bad(const char *text, const char *want)
{
	struct comet_uplink u;
	const char *err = parse(text, &u);
	if(!err || strcmp(err, want)) fail_msg("frame %s: got %s, expected %s", text, err ? err : "(ok)", want);
	comet_uplink_clear(&u);
}

static void test_len_bounds(void **state)
{
	static const char buf[] = "{\"t\":\"HB\"}garbage";
	struct comet_uplink u;
	const char *msg = NULL;
	(void)state;
	assert_null(comet_parse_uplink(buf, strlen("{\"t\":\"HB\"}"), &u, &msg));
	assert_int_equal(u.t, COMET_HB);
	comet_uplink_clear(&u);
	assert_string_equal(comet_parse_uplink(buf, strlen(buf), &u, &msg), COMET_E_BAD_JSON);
	assert_string_equal(comet_parse_uplink(buf, 0, &u, &msg), COMET_E_BAD_JSON);
}

static void test_auth(void **state)
{
	struct comet_uplink u;
	(void)state;
	assert_null(parse("{\"t\":\"AUTH\",\"auth\":{\"token\":\"a.b.c\"}}", &u));
	assert_int_equal(u.t, COMET_AUTH);
	assert_string_equal(u.token, "a.b.c");
	assert_false(u.has_join);
	assert_string_equal(u.rid, "");
	comet_uplink_clear(&u);

	/* AUTH with join */
	assert_null(parse("{\"t\":1,\"auth\":{\"token\":\"tk\"},\"join\":{\"rid\":\"lobby\"}}", &u));
	assert_string_equal(u.token, "tk");
	assert_true(u.has_join);
	assert_string_equal(u.rid, "lobby");
	comet_uplink_clear(&u);

	/* missing token: parsed, refused by the dialect */
	assert_null(parse("{\"t\":\"AUTH\"}", &u));
	assert_null(u.token);
	comet_uplink_clear(&u);
	assert_null(parse("{\"t\":\"AUTH\",\"auth\":{}}", &u));
	assert_null(u.token);
	comet_uplink_clear(&u);
	assert_null(parse("{\"t\":\"AUTH\",\"auth\":{\"token\":null}}", &u));
	assert_null(u.token);
	comet_uplink_clear(&u);
}

static void test_join(void **state)
{
	struct comet_uplink u;
	char big[200];
	(void)state;
	assert_null(parse("{\"t\":\"JOIN\",\"join\":{\"rid\":\"r1\"}}", &u));
	assert_true(u.has_join);
	assert_string_equal(u.rid, "r1");
	comet_uplink_clear(&u);

	/* leave: rid "", null, missing, or no join at all */
	const char *leave[] = {
		"{\"t\":\"JOIN\",\"join\":{\"rid\":\"\"}}", "{\"t\":\"JOIN\",\"join\":{\"rid\":null}}",
		"{\"t\":\"JOIN\",\"join\":{}}", "{\"t\":\"JOIN\"}", "{\"t\":2,\"join\":null}",
	};
	for(size_t i = 0; i < sizeof(leave) / sizeof(leave[0]); i++){
		assert_null(parse(leave[i], &u));
		assert_true(u.has_join);
		assert_string_equal(u.rid, "");
		comet_uplink_clear(&u);
	}
	/* HB ignores join */
	assert_null(parse("{\"join\":{\"rid\":\"a/b\"}}", &u));
	assert_int_equal(u.t, COMET_HB);
	assert_false(u.has_join);
	comet_uplink_clear(&u);

	memset(big, 'r', 129);
	snprintf(big + 129, sizeof(big) - 129, "%s", "");
	{
		char frame[300];
		snprintf(frame, sizeof(frame), "{\"t\":\"JOIN\",\"join\":{\"rid\":\"%s\"}}", big);
		parse_bad(frame, COMET_E_BAD_ROOM);
		big[128] = '\0';
		snprintf(frame, sizeof(frame), "{\"t\":\"JOIN\",\"join\":{\"rid\":\"%s\"}}", big);
		assert_null(parse(frame, &u));
		assert_int_equal(strlen(u.rid), 128);
		comet_uplink_clear(&u);
	}
}

static void test_type_names(void **state)
{
	(void)state;
	assert_string_equal(comet_type_name(COMET_HB), "HB");
	assert_string_equal(comet_type_name(COMET_AUTH), "AUTH");
	assert_string_equal(comet_type_name(COMET_JOIN), "JOIN");
	assert_string_equal(comet_type_name(COMET_PUSH), "PUSH");
	assert_string_equal(comet_type_name((enum comet_type)7), "?");
}

/* ---- downlink ---- */

static void test_frames(void **state)
{
	char *f;
	json_t *o;
	(void)state;
	f = comet_hb_frame();
	assert_string_equal(f, "{\"t\":\"HB\",\"hb\":{}}");
	free(f);

	f = comet_push_frame("\"hi\"", 4);
	assert_string_equal(f, "{\"t\":\"PUSH\",\"push\":{\"evt\":\"hi\"}}");
	free(f);
	/* embedded byte for byte */
	f = comet_push_frame("{ \"b\" : 1.10, \"a\":[ ] }", 23);
	assert_string_equal(f, "{\"t\":\"PUSH\",\"push\":{\"evt\":{ \"b\" : 1.10, \"a\":[ ] }}}");
	o = json_loads(f, 0, NULL);
	assert_non_null(o);
	json_decref(o);
	free(f);

	f = comet_error_frame("UNAUTHORIZED", "EXPIRED", "the token has expired");
	o = json_loads(f, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "code")), "UNAUTHORIZED");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "reason")), "EXPIRED");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "message")), "the token has expired");
	assert_null(json_object_get(o, "t"));
	json_decref(o);
	free(f);
	f = comet_error_frame("X", NULL, NULL);
	assert_string_equal(f, "{\"error\":{\"code\":\"X\",\"message\":\"X\"}}");
	free(f);
}

/* ---- raw JSON ---- */

static void member(const char *obj, const char *key, const char *want)
{
	size_t off = 0, len = 0;
	bool found = comet_json_member(obj, strlen(obj), key, &off, &len);
	if(!want){
		if(found) fail_msg("%s: found %s", obj, key);
		return;
	}
	if(!found) fail_msg("%s: %s not found", obj, key);
	if(len != strlen(want) || memcmp(obj + off, want, len)){
		fail_msg("%s: %s is '%.*s', expected '%s'", obj, key, (int)len, obj + off, want);
	}
}

static void test_json_member(void **state)
{
	(void)state;
	member("{\"evt\":1}", "evt", "1");
	member(" { \"uid\" : \"u\" , \"evt\" :  {\"x\": [1, \"}\"]} \n}", "evt", "{\"x\": [1, \"}\"]}");
	member("{\"evt\":\"a \\\" } ] b\",\"z\":0}", "evt", "\"a \\\" } ] b\"");
	member("{\"a\":{\"evt\":1},\"evt\":2}", "evt", "2");                 /* top level only */
	member("{\"a\":\"evt\",\"evt\":true}", "evt", "true");
	member("{\"evt\":-1.5e3}", "evt", "-1.5e3");
	member("{\"evt\":null}", "evt", "null");
	member("{\"evt\":[]}", "evt", "[]");
	member("{\"\\u0065vt\":\"escaped key\"}", "evt", "\"escaped key\"");
	member("{\"ev\":1,\"evtx\":2}", "evt", NULL);
	member("{}", "evt", NULL);
	member("[1]", "evt", NULL);
	member("{\"uid\":\"\\\\\",\"evt\":\"\\\\\"}", "evt", "\"\\\\\"");
}

static void evt_of(const char *payload, size_t len, const char *want)
{
	size_t outlen = 0;
	char *e = comet_evt_from_payload(payload, len, &outlen);
	if(!want){
		if(e) fail_msg("payload gave %s", e);
		return;
	}
	assert_non_null(e);
	assert_string_equal(e, want);
	assert_int_equal(outlen, strlen(want));
	free(e);
}

static void test_evt_from_payload(void **state)
{
	(void)state;
	evt_of("{\"a\": 1.10}", 11, "{\"a\": 1.10}");       /* verbatim */
	evt_of("\"s\"", 3, "\"s\"");
	evt_of("123456789012345678901234567890", 30, "123456789012345678901234567890");
	evt_of("hello", 5, "\"hello\"");                   /* text: a JSON string */
	evt_of("{broken", 7, "\"{broken\"");
	evt_of("", 0, "\"\"");
	evt_of("a\"b\n", 4, "\"a\\\"b\\n\"");
	evt_of("a\0b", 3, "\"a\\u0000b\"");
	evt_of("\xff\xfe", 2, NULL);                       /* not UTF-8 */
	assert_true(comet_json_valid("[1,2]", 5));
	assert_false(comet_json_valid("[1,2", 4));
	assert_false(comet_json_valid("", 0));
}

/* ---- routes and API bodies ---- */

static void test_route(void **state)
{
	(void)state;
	assert_int_equal(comet_route("/Comet/Subscribe"), COMET_ROUTE_SUBSCRIBE);
	assert_int_equal(comet_route("/subscribe"), COMET_ROUTE_SUBSCRIBE);
	assert_int_equal(comet_route("/subscribe/"), COMET_ROUTE_SUBSCRIBE);
	assert_int_equal(comet_route("/Comet/Publish"), COMET_ROUTE_PUBLISH);
	assert_int_equal(comet_route("/publish"), COMET_ROUTE_PUBLISH);
	assert_int_equal(comet_route("/Comet/Broadcast"), COMET_ROUTE_BROADCAST);
	assert_int_equal(comet_route("/Comet/DumpSession"), COMET_ROUTE_DUMP);
	assert_int_equal(comet_route("/dumpsession"), COMET_ROUTE_DUMP);
	assert_int_equal(comet_route(""), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/"), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/Comet"), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/Comet/Nope"), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/comet/publish"), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/Comet/Publish/x"), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/Comet/Publishx"), COMET_ROUTE_NONE);
	assert_int_equal(comet_route("/Comet/Publish//"), COMET_ROUTE_NONE);
}

static int req(enum comet_route r, const char *body, struct comet_req *out, const char **code)
{
	const char *msg = NULL;
	int st = comet_parse_request(r, body, body ? strlen(body) : 0, out, code, &msg);
	if(st){
		assert_int_equal(st, 400);
		assert_non_null(msg);
		assert_null(out->uid);
		assert_null(out->evt);
	}
	return st;
}

static void req_bad(enum comet_route r, const char *body, const char *want)
{
	struct comet_req out;
	const char *code = NULL, *shown = body ? body : "(no body)";
	if(!req(r, body, &out, &code)) fail_msg("%s: accepted", shown);
	if(strcmp(code, want)) fail_msg("%s: %s, expected %s", shown, code, want);
	comet_req_clear(&out);
}

static void test_publish_body(void **state)
{
	struct comet_req r;
	const char *code;
	(void)state;
	assert_int_equal(req(COMET_ROUTE_PUBLISH, "{\"uid\":\"alice\",\"evt\":\"hi\"}", &r, &code), 0);
	assert_string_equal(r.uid, "alice");
	assert_string_equal(r.evt, "\"hi\"");
	assert_int_equal(r.evt_len, 4);
	comet_req_clear(&r);
	assert_null(r.uid);

	assert_int_equal(req(COMET_ROUTE_PUBLISH, "{\"evt\" : {\"k\": [1, 2.50]}, \"uid\":\"u\", \"x\":1}", &r, &code), 0);
	assert_string_equal(r.evt, "{\"k\": [1, 2.50]}");
	comet_req_clear(&r);

	req_bad(COMET_ROUTE_PUBLISH, "{\"evt\":\"hi\"}", COMET_E_BAD_UID);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":\"\",\"evt\":\"hi\"}", COMET_E_BAD_UID);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":5,\"evt\":\"hi\"}", COMET_E_BAD_UID);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":\"a/b\",\"evt\":\"hi\"}", COMET_E_BAD_UID);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":\"a+\",\"evt\":\"hi\"}", COMET_E_BAD_UID);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":\"a\\u0000\",\"evt\":\"hi\"}", COMET_E_BAD_UID);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":\"alice\"}", COMET_E_NO_EVT);
	req_bad(COMET_ROUTE_PUBLISH, "{broken", COMET_E_BAD_JSON);
	req_bad(COMET_ROUTE_PUBLISH, "[1]", COMET_E_BAD_JSON);
	req_bad(COMET_ROUTE_PUBLISH, "", COMET_E_BAD_JSON);
	req_bad(COMET_ROUTE_PUBLISH, NULL, COMET_E_BAD_JSON);
	req_bad(COMET_ROUTE_PUBLISH, "{\"uid\":\"a\",\"uid\":\"b\",\"evt\":1}", COMET_E_BAD_JSON);
}

static void test_broadcast_body(void **state)
{
	struct comet_req r;
	const char *code;
	(void)state;
	assert_int_equal(req(COMET_ROUTE_BROADCAST, "{\"rid\":\"r1\",\"evt\":1}", &r, &code), 0);
	assert_string_equal(r.rid, "r1");
	assert_string_equal(r.evt, "1");
	comet_req_clear(&r);
	/* empty, null or missing rid = the world */
	const char *world[] = { "{\"rid\":\"\",\"evt\":1}", "{\"rid\":null,\"evt\":1}", "{\"evt\":1}" };
	for(size_t i = 0; i < 3; i++){
		assert_int_equal(req(COMET_ROUTE_BROADCAST, world[i], &r, &code), 0);
		assert_string_equal(r.rid, "");
		comet_req_clear(&r);
	}
	req_bad(COMET_ROUTE_BROADCAST, "{\"rid\":\"a/b\",\"evt\":1}", COMET_E_BAD_ROOM);
	req_bad(COMET_ROUTE_BROADCAST, "{\"rid\":[],\"evt\":1}", COMET_E_BAD_ROOM);
	req_bad(COMET_ROUTE_BROADCAST, "{\"rid\":\"r\"}", COMET_E_NO_EVT);
}

static void test_dump_body(void **state)
{
	struct comet_req r;
	const char *code;
	(void)state;
	assert_int_equal(req(COMET_ROUTE_DUMP, NULL, &r, &code), 0);
	assert_false(r.cluster);
	assert_int_equal(req(COMET_ROUTE_DUMP, "  \n", &r, &code), 0);
	assert_int_equal(req(COMET_ROUTE_DUMP, "{}", &r, &code), 0);
	assert_false(r.cluster);
	assert_int_equal(req(COMET_ROUTE_DUMP, "{\"cluster\":true}", &r, &code), 0);
	assert_true(r.cluster);
	assert_int_equal(req(COMET_ROUTE_DUMP, "{\"cluster\":false}", &r, &code), 0);
	assert_false(r.cluster);
	req_bad(COMET_ROUTE_DUMP, "{\"cluster\":\"yes\"}", COMET_E_BAD_PARAMETER);
	req_bad(COMET_ROUTE_DUMP, "[]", COMET_E_BAD_JSON);
	req_bad(COMET_ROUTE_DUMP, "{x", COMET_E_BAD_JSON);
}

static void test_event(void **state)
{
	struct comet_req r;
	const char *msg;
	const char *e1 = "{\"uid\":\"u1\",\"rid\":\"\",\"evt\":\"x\"}";
	const char *e2 = "{\"rid\":\"r\",\"evt\":[1]}";
	(void)state;
	assert_int_equal(comet_parse_event(e1, strlen(e1), &r, &msg), 0);
	assert_string_equal(r.uid, "u1");
	assert_string_equal(r.rid, "");
	assert_string_equal(r.evt, "\"x\"");
	comet_req_clear(&r);
	assert_int_equal(comet_parse_event(e2, strlen(e2), &r, &msg), 0);
	assert_string_equal(r.uid, "");
	assert_string_equal(r.rid, "r");
	assert_string_equal(r.evt, "[1]");
	comet_req_clear(&r);
	assert_int_equal(comet_parse_event("{\"uid\":\"u\"}", 11, &r, &msg), -1);
	assert_null(r.uid);
	assert_int_equal(comet_parse_event("", 0, &r, &msg), -1);
	assert_int_equal(comet_parse_event("hello", 5, &r, &msg), -1);
	assert_int_equal(comet_parse_event("{\"uid\":\"a/b\",\"evt\":1}", 21, &r, &msg), -1);
}

/* ---- raw NUL bytes and invalid JSON (issue 11.6, 12.10) ---- */

/* An API body of n bytes (may hold NULs): 400 with want and a message that
 * contains needle. */
static void req_bad_n(enum comet_route r, const char *body, size_t n, const char *want, const char *needle)
{
	struct comet_req out;
	const char *code = NULL, *msg = NULL;
	int st = comet_parse_request(r, body, n, &out, &code, &msg);
	if(st != 400) fail_msg("body of %zu bytes: %d, expected 400", n, st);
	if(strcmp(code, want)) fail_msg("body of %zu bytes: %s, expected %s", n, code, want);
	assert_non_null(msg);
	if(!strstr(msg, needle)) fail_msg("body of %zu bytes: message '%s' lacks '%s'", n, msg, needle);
	assert_null(out.uid);
	assert_null(out.rid);
	assert_null(out.evt);
	comet_req_clear(&out);
}

static void test_nul_regressions(void **state)
{
	struct comet_req r;
	const char *msg = NULL;
	size_t outlen = 0;
	char *e;
	(void)state;
	/* 1. [1\0,2]: jansson alone reads [1,2]; not JSON here */
	assert_false(comet_json_valid("[1\0,2]", 6));
	evt_of("[1\0,2]", 6, "\"[1\\u0000,2]\"");
	/* 2. {"evt":[3\0]} to Broadcast (and Publish): 400, the NUL named */
	req_bad_n(COMET_ROUTE_BROADCAST, "{\"evt\":[3\0]}", 12, COMET_E_BAD_JSON, "invalid JSON at line 1 column 10: a raw NUL byte");
	req_bad_n(COMET_ROUTE_PUBLISH, "{\"uid\":\"u\",\"evt\":[3\0]}", 22, COMET_E_BAD_JSON, "raw NUL");
	req_bad_n(COMET_ROUTE_BROADCAST, "{\"evt\":1}\0", 10, COMET_E_BAD_JSON, "raw NUL");
	req_bad_n(COMET_ROUTE_BROADCAST, "\0{\"evt\":1}", 10, COMET_E_BAD_JSON, "column 1: a raw NUL");
	req_bad_n(COMET_ROUTE_DUMP, "{\"cluster\":true\0}", 17, COMET_E_BAD_JSON, "raw NUL");
	/* 3. {"evt":{"":2\0}} as an MQTT Event: ignored */
	memset(&r, 0x5A, sizeof(r));
	assert_int_equal(comet_parse_event("{\"evt\":{\"\":2\0}}", 15, &r, &msg), -1);
	assert_non_null(strstr(msg, "raw NUL"));
	assert_null(r.evt);
	assert_int_equal(comet_parse_event("{\"uid\":\"u\",\"evt\":true\0}", 23, &r, &msg), -1);
	assert_null(r.evt);
	/* 4. null\0 on a push topic: never embedded raw; a JSON string */
	e = comet_evt_from_payload("null\0", 5, &outlen);
	assert_non_null(e);
	assert_string_equal(e, "\"null\\u0000\"");
	assert_int_equal(outlen, strlen(e));
	free(e);
	/* the raw-member scan refuses text with a NUL whatever validated it */
	{
		size_t off = 0, len = 0;
		assert_false(comet_json_member("{\"evt\":[3\0]}", 12, "evt", &off, &len));
		assert_false(comet_json_member("{\"evt\":1,\"x\":\"\0\"}", 17, "evt", &off, &len));
	}
	/* uplink frames */
	{
		struct comet_uplink u;
		const char *err = comet_parse_uplink("{\"t\":0\0}", 8, &u, &msg);
		assert_non_null(err);
		assert_string_equal(err, COMET_E_BAD_JSON);
		assert_string_equal(msg, "invalid JSON at line 1 column 7: a raw NUL byte");
		assert_null(u.root);
		err = comet_parse_uplink("{\"t\":\"AUTH\",\"auth\":{\"token\":\"x\"}}\0", 35, &u, &msg);
		assert_non_null(err);
		assert_string_equal(err, COMET_E_BAD_JSON);
		assert_null(u.root);
	}
	/* claims */
	{
		struct comet_claim c;
		char *t = comet_claim_build("alice", "gw-a", "0123", 1, "abcd");
		size_t n = strlen(t);
		char *z = malloc(n + 2);
		assert_non_null(z);
		memcpy(z, t, n - 1);                 /* ..."abcd"\0} */
		z[n - 1] = '\0';
		z[n] = '}';
		assert_int_equal(comet_claim_parse(z, n + 1, &c), -1);
		free(z);
		free(t);
	}
}

/* evt is copied exactly: evt_len bytes, NUL-terminated, equal to the span. */
static void test_evt_slice(void **state)
{
	static const char *const evts[] = {
		"\"a\\u0000b\"", "{\"\":2}", "[3]", "null", "\"\\\\\"", "{\"k\":\"\\\"}\"}", "-0.5e-7",
		"123456789012345678901234567890", "\"\xc3\xa9\"",
	};
	(void)state;
	for(size_t i = 0; i < sizeof(evts) / sizeof(evts[0]); i++){
		char body[128];
		struct comet_req r;
		const char *code = NULL;
		snprintf(body, sizeof(body), "{\"rid\":\"r\",\"evt\":%s }", evts[i]);
		if(req(COMET_ROUTE_BROADCAST, body, &r, &code)) fail_msg("%s: %s", body, code);
		assert_int_equal(r.evt_len, strlen(evts[i]));
		assert_int_equal(strlen(r.evt), r.evt_len);
		assert_memory_equal(r.evt, evts[i], r.evt_len);
		{
			char *f = comet_push_frame(r.evt, r.evt_len);
			json_t *o = json_loads(f, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
			if(!o) fail_msg("push frame of %s is not JSON: %s", evts[i], f);
			json_decref(o);
			free(f);
		}
		comet_req_clear(&r);
	}
}

/* Invalid JSON says what is wrong and where; "must be a JSON object" only
 * for valid JSON that is not one. */
static void test_json_errors(void **state)
{
	struct comet_uplink u;
	const char *msg = NULL, *err;
	(void)state;
	err = comet_parse_uplink("{\"t\":0,}", 8, &u, &msg);
	assert_string_equal(err, COMET_E_BAD_JSON);
	assert_string_equal(msg, "invalid JSON at line 1 column 8: string or '}' expected near '}'");
	err = comet_parse_uplink("{\"t\":0,\"t\":1}", 13, &u, &msg);
	assert_string_equal(err, COMET_E_BAD_JSON);
	assert_non_null(strstr(msg, "duplicate object key"));
	err = comet_parse_uplink("[1]", 3, &u, &msg);
	assert_string_equal(err, COMET_E_BAD_MESSAGE);
	assert_string_equal(msg, "frame must be a JSON object");
	err = comet_parse_uplink("", 0, &u, &msg);
	assert_string_equal(err, COMET_E_BAD_JSON);
	assert_string_equal(msg, "invalid JSON: the text is empty");

	req_bad_n(COMET_ROUTE_BROADCAST, "{\"rid\":\"r\",\"evt\":1,}", 20, COMET_E_BAD_JSON,
			"invalid JSON at line 1 column 20: string or '}' expected near '}'");
	req_bad_n(COMET_ROUTE_PUBLISH, "{\"uid\":\"u\",\n\"evt\":[1,]}", 23, COMET_E_BAD_JSON,
			"invalid JSON at line 2 column 10:");
	req_bad_n(COMET_ROUTE_BROADCAST, "[1]", 3, COMET_E_BAD_JSON, "the body must be a JSON object");
	req_bad_n(COMET_ROUTE_DUMP, "{\"cluster\":true,}", 17, COMET_E_BAD_JSON, "invalid JSON at line 1 column 17:");
	req_bad_n(COMET_ROUTE_DUMP, "[]", 2, COMET_E_BAD_JSON, "the body must be empty or a JSON object");
	{
		struct comet_req r;
		assert_int_equal(comet_parse_event("{\"evt\":1,}", 10, &r, &msg), -1);
		assert_non_null(strstr(msg, "invalid JSON at line 1 column 10"));
	}
}

/* ---- service authentication ---- */

static void test_bearer(void **state)
{
	char a[] = "Bearer abc.def", b[] = "bearer   tok  ", c[] = "Basic x", d[] = "Bearer", e[] = "Bearer   ",
		f[] = "Bearerx tok";
	(void)state;
	assert_string_equal(comet_bearer(a), "abc.def");
	assert_string_equal(comet_bearer(b), "tok");
	assert_null(comet_bearer(c));
	assert_null(comet_bearer(d));
	assert_null(comet_bearer(e));
	assert_null(comet_bearer(f));
}

static void test_secret_equal(void **state)
{
	(void)state;
	assert_true(comet_secret_equal("s3cret", "s3cret"));
	assert_false(comet_secret_equal("s3cret", "s3creT"));
	assert_false(comet_secret_equal("s3cret", "s3cret2"));
	assert_false(comet_secret_equal("", "x"));
}

static char *fake_jwt(const char *claims)
{
	char *h = jsonutil_b64url_encode("{\"alg\":\"HS256\"}", 15);
	char *c = jsonutil_b64url_encode(claims, strlen(claims));
	char *out = malloc(strlen(h) + strlen(c) + 8);
	sprintf(out, "%s.%s.sig", h, c);
	free(h);
	free(c);
	return out;
}

static void service(const char *claims, bool want)
{
	char *t = fake_jwt(claims);
	if(comet_jwt_is_service(t) != want) fail_msg("%s: expected %d", claims, want);
	free(t);
}

static void test_jwt_is_service(void **state)
{
	(void)state;
	service("{\"sub\":\"backend\",\"type\":\"service\"}", true);
	service("{\"sub\":\"backend\",\"scopes\":[\"x\",\"service\"]}", true);
	service("{\"sub\":\"alice\",\"type\":\"user\"}", false);
	service("{\"sub\":\"alice\",\"scopes\":\"service\"}", false);
	service("{\"sub\":\"alice\"}", false);
	service("not json", false);
	assert_false(comet_jwt_is_service("nodots"));
	assert_false(comet_jwt_is_service("a.!!!.c"));
}

/* ---- sessions, claims, dump ---- */

static void test_birth(void **state)
{
	char b[COMET_BIRTH_SIZE];
	(void)state;
	comet_birth(0, b);
	assert_string_equal(b, "1970-01-01T00:00:00.000Z");
	comet_birth(1714564800123LL, b);
	assert_string_equal(b, "2024-05-01T12:00:00.123Z");
}

static void test_presence(void **state)
{
	char *p = comet_presence("alice", "r1", "2024-05-01T12:00:00.123Z", "gw", "b00t", 42);
	json_t *o = json_loads(p, 0, NULL), *pr;
	(void)state;
	assert_string_equal(json_string_value(json_object_get(o, "clientID")), "alice");
	pr = json_object_get(o, "presence");
	assert_string_equal(json_string_value(json_object_get(pr, "uid")), "alice");
	assert_string_equal(json_string_value(json_object_get(pr, "rid")), "r1");
	assert_string_equal(json_string_value(json_object_get(pr, "birth")), "2024-05-01T12:00:00.123Z");
	assert_string_equal(json_string_value(json_object_get(o, "gateway")), "gw");
	assert_string_equal(json_string_value(json_object_get(o, "boot")), "b00t");
	assert_int_equal(json_integer_value(json_object_get(o, "since")), 42);
	json_decref(o);
	free(p);
}

static void test_claim(void **state)
{
	struct comet_claim c;
	char *t = comet_claim_build("alice", "gw-a", "0123", 1714564800123LL, "abcd");
	(void)state;
	assert_int_equal(comet_claim_parse(t, strlen(t), &c), 0);
	assert_string_equal(c.uid, "alice");
	assert_string_equal(c.gateway, "gw-a");
	assert_string_equal(c.boot, "0123");
	assert_string_equal(c.nonce, "abcd");
	assert_true(c.birth_ms == 1714564800123LL);
	comet_claim_clear(&c);
	free(t);
	assert_int_equal(comet_claim_parse("{\"uid\":\"a\"}", 11, &c), -1);
	assert_int_equal(comet_claim_parse("", 0, &c), -1);
	assert_int_equal(comet_claim_parse("x", 1, &c), -1);
	assert_true(comet_session_cmp(1, "b", 2, "a") < 0);
	assert_true(comet_session_cmp(2, "a", 1, "b") > 0);
	assert_true(comet_session_cmp(1, "a", 1, "b") < 0);
	assert_int_equal(comet_session_cmp(1, "a", 1, "a"), 0);
}

static void test_dump(void **state)
{
	struct comet_sess v[] = {
		{ "a", "", "2024-01-01T00:00:01.000Z", "g1" },
		{ "b", "r2", "2024-01-01T00:00:03.000Z", "g1" },
		{ "c", "r1", "2024-01-01T00:00:02.000Z", NULL },
		{ "d", "r2", "2024-01-01T00:00:04.000Z", "g2" },
	};
	char *t;
	(void)state;
	t = comet_dump(v, 4, false);
	assert_string_equal(t,
		"{\"world\":["
		"{\"uid\":\"d\",\"rid\":\"r2\",\"birth\":\"2024-01-01T00:00:04.000Z\"},"
		"{\"uid\":\"b\",\"rid\":\"r2\",\"birth\":\"2024-01-01T00:00:03.000Z\"},"
		"{\"uid\":\"c\",\"rid\":\"r1\",\"birth\":\"2024-01-01T00:00:02.000Z\"},"
		"{\"uid\":\"a\",\"rid\":\"\",\"birth\":\"2024-01-01T00:00:01.000Z\"}],"
		"\"rooms\":["
		"{\"rid\":\"r1\",\"room\":[{\"uid\":\"c\",\"rid\":\"r1\",\"birth\":\"2024-01-01T00:00:02.000Z\"}]},"
		"{\"rid\":\"r2\",\"room\":["
		"{\"uid\":\"d\",\"rid\":\"r2\",\"birth\":\"2024-01-01T00:00:04.000Z\"},"
		"{\"uid\":\"b\",\"rid\":\"r2\",\"birth\":\"2024-01-01T00:00:03.000Z\"}]}]}");
	free(t);

	t = comet_dump(v, 1, true);
	assert_non_null(strstr(t, "\"gateway\":"));
	free(t);
	t = comet_dump(NULL, 0, false);
	assert_string_equal(t, "{\"world\":[],\"rooms\":[]}");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_len_bounds),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_join),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_json_member),
		cmocka_unit_test(test_evt_from_payload),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_publish_body),
		cmocka_unit_test(test_broadcast_body),
		cmocka_unit_test(test_dump_body),
		cmocka_unit_test(test_event),
		cmocka_unit_test(test_nul_regressions),
		cmocka_unit_test(test_evt_slice),
		cmocka_unit_test(test_json_errors),
		cmocka_unit_test(test_bearer),
		cmocka_unit_test(test_secret_equal),
		cmocka_unit_test(test_jwt_is_service),
		cmocka_unit_test(test_birth),
		cmocka_unit_test(test_presence),
		cmocka_unit_test(test_claim),
		cmocka_unit_test(test_dump),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
