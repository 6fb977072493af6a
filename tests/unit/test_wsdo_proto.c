/* Unit tests for mapping/wsdo_proto.c (websockets.do frames, routes, emits).
 * The contract is docs/protocols/websockets-do.md. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topic.h"
#include "wsdo_proto.h"

/* ---- wsdo_parse_client ---- */

static const char *parse(const char *text, struct wsdo_cframe *f, const char **msg)
{
	*msg = NULL;
	return wsdo_parse_client(text, strlen(text), f, msg);
}

/* Expects an error: code matches, a message is set, nothing is owned. */
static void parse_bad(const char *text, const char *want_code)
{
	struct wsdo_cframe f;
	const char *msg = NULL;
	const char *code = parse(text, &f, &msg);
	if(!code || strcmp(code, want_code)){
		fail_msg("frame %s: got %s, expected %s", text, code ? code : "(ok)", want_code);
	}
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	assert_null(f.root);
	wsdo_cframe_clear(&f);   /* harmless on a failed parse */
}

static void test_parse_pong(void **state)
{
	struct wsdo_cframe f;
	const char *msg;
	(void)state;
	assert_null(parse("{\"type\":\"PONG\",\"payload\":{}}", &f, &msg));
	assert_int_equal(f.type, WSDO_C_PONG);
	assert_non_null(f.root);
	wsdo_cframe_clear(&f);
	assert_null(f.root);

	/* payload is ignored for PONG */
	assert_null(parse("{\"type\":\"PONG\"}", &f, &msg));
	assert_int_equal(f.type, WSDO_C_PONG);
	wsdo_cframe_clear(&f);
	assert_null(parse("{\"type\":\"PONG\",\"payload\":[1,2],\"extra\":true}", &f, &msg));
	assert_int_equal(f.type, WSDO_C_PONG);
	wsdo_cframe_clear(&f);
}

static void test_parse_len_bounds(void **state)
{
	static const char buf[] = "{\"type\":\"PONG\"}garbage";
	struct wsdo_cframe f;
	const char *msg = NULL;
	(void)state;
	/* Only len bytes are read. */
	assert_null(wsdo_parse_client(buf, strlen("{\"type\":\"PONG\"}"), &f, &msg));
	assert_int_equal(f.type, WSDO_C_PONG);
	wsdo_cframe_clear(&f);

	assert_string_equal(wsdo_parse_client(buf, strlen(buf), &f, &msg), WSDO_E_BAD_JSON);
	assert_null(f.root);
	assert_string_equal(wsdo_parse_client(buf, 0, &f, &msg), WSDO_E_BAD_JSON);
	assert_null(f.root);
}

static void test_parse_ack(void **state)
{
	struct wsdo_cframe f;
	const char *msg;
	(void)state;
	assert_null(parse("{\"type\":\"ACK\",\"payload\":{\"eventID\":\"evt_12345678\"}}", &f, &msg));
	assert_int_equal(f.type, WSDO_C_ACK);
	assert_non_null(f.event_id);
	assert_string_equal(f.event_id, "evt_12345678");
	assert_non_null(f.root);
	wsdo_cframe_clear(&f);
	assert_null(f.event_id);

	/* Extra fields are fine. */
	assert_null(parse("{\"type\":\"ACK\",\"payload\":{\"eventID\":\"e\",\"x\":1},\"eventID\":\"other\"}", &f, &msg));
	assert_string_equal(f.event_id, "e");
	wsdo_cframe_clear(&f);
}

static void test_parse_presence(void **state)
{
	struct wsdo_cframe f;
	const char *msg;
	(void)state;
	assert_null(parse("{\"type\":\"PRESENCE\",\"payload\":{\"name\":\"ann\",\"n\":[1,2]}}", &f, &msg));
	assert_int_equal(f.type, WSDO_C_PRESENCE);
	assert_non_null(f.presence);
	assert_true(json_is_object(f.presence));
	assert_string_equal(json_string_value(json_object_get(f.presence, "name")), "ann");
	assert_ptr_equal(f.presence, json_object_get(f.root, "payload"));   /* borrowed */
	wsdo_cframe_clear(&f);
	assert_null(f.presence);

	assert_null(parse("{\"type\":\"PRESENCE\",\"payload\":{}}", &f, &msg));
	assert_int_equal(f.type, WSDO_C_PRESENCE);
	assert_int_equal(json_object_size(f.presence), 0);
	wsdo_cframe_clear(&f);
}

/* A PRESENCE frame whose payload encodes (compact) to exactly `size` bytes. */
static char *presence_frame(size_t size)
{
	/* {"pad":"xxx"} = 10 bytes + the x's */
	size_t nx = size - 10;
	size_t cap = nx + 64;
	char *s = malloc(cap);
	size_t off;
	assert_non_null(s);
	off = (size_t)snprintf(s, cap, "{\"type\":\"PRESENCE\",\"payload\":{\"pad\" : \"");
	memset(s + off, 'x', nx);
	off += nx;
	snprintf(s + off, cap - off, "\"}}");
	return s;
}

static void test_parse_presence_size(void **state)
{
	struct wsdo_cframe f;
	const char *msg;
	char *s;
	(void)state;
	s = presence_frame(WSDO_PRESENCE_MAX);
	assert_null(parse(s, &f, &msg));
	assert_int_equal(f.type, WSDO_C_PRESENCE);
	assert_int_equal(strlen(json_string_value(json_object_get(f.presence, "pad"))), WSDO_PRESENCE_MAX - 10);
	wsdo_cframe_clear(&f);
	free(s);

	s = presence_frame(WSDO_PRESENCE_MAX + 1);
	parse_bad(s, WSDO_E_BAD_MESSAGE);
	free(s);

	s = presence_frame(10000);
	parse_bad(s, WSDO_E_BAD_MESSAGE);
	free(s);
}

/* ---- wsdo_frame_head / wsdo_frame_finish ---- */

/* Raw NUL bytes after a literal (jansson alone skips them) are refused in POST
 * emit bodies, and invalid JSON says what is wrong and where (issues 11.6,
 * 12.10); the client frames of the same issues are golden cases
 * (tests/golden/wsdo/parse-nul-and-messages-*). */
static void test_parse_nul_and_messages(void **state)
{
	(void)state;
	{
		struct wsdo_emit e;
		const char *code = NULL, *msg = NULL;
		static const char body[] = "{\"a\":1\0}";
		static const char arr[] = "[1\0,2]";
		assert_int_equal(wsdo_emit_parse(NULL, 0, true, body, sizeof(body) - 1, &e, &code, &msg), 400);
		assert_string_equal(code, WSDO_E_BAD_JSON);
		assert_string_equal(msg, "invalid JSON at line 1 column 7: a raw NUL byte");
		assert_null(e.payload);
		assert_int_equal(wsdo_emit_parse(NULL, 0, true, arr, sizeof(arr) - 1, &e, &code, &msg), 400);
		assert_string_equal(code, WSDO_E_BAD_JSON);
		assert_null(e.payload);
		assert_int_equal(wsdo_emit_parse(NULL, 0, true, "{\"a\":[1,2,],\"b\":2}", 18, &e, &code, &msg), 400);
		assert_string_equal(code, WSDO_E_BAD_JSON);
		assert_string_equal(msg, "invalid JSON at line 1 column 11: unexpected token near ']'");
		assert_null(e.payload);
	}
}

static void check_two_step(json_t *payload, const char *eid, const char *cid, int64_t lat, int ack)
{
	size_t hl = 0;
	char *whole = wsdo_frame("DATA", json_incref(payload), eid, cid, lat, ack);
	char *head = wsdo_frame_head("DATA", payload, eid, &hl);
	char *text;

	assert_non_null(whole);
	assert_non_null(head);
	assert_int_equal(hl, strlen(head));
	text = wsdo_frame_finish(head, hl, cid, lat, ack);
	assert_non_null(text);
	assert_string_equal(text, whole);
	free(text);
	free(head);
	free(whole);
}

static void test_frame_two_steps(void **state)
{
	(void)state;
	check_two_step(json_pack("{s:s,s:[i,i]}", "a", "x\"}", "b", 1, 2), "evt_1", "client_Ab9", 0, -1);
	check_two_step(json_string("he said \"clientID\":\"\"}"), "evt_2", "client_x", 123456789012LL, 1);
	check_two_step(json_integer(-3), "evt_3", "c", -1, 0);
	check_two_step(json_null(), "evt_4", "", 7, 1);
}

static void test_frame_finish_refuses_ids_needing_escapes(void **state)
{
	size_t hl = 0;
	char *head = wsdo_frame_head("DATA", json_object(), "evt_1", &hl);
	(void)state;
	assert_non_null(head);
	assert_null(wsdo_frame_finish(head, hl, "a\"b", 0, -1));
	assert_null(wsdo_frame_finish(head, hl, "a\\b", 0, -1));
	assert_null(wsdo_frame_finish(head, hl, "a\nb", 0, -1));
	free(head);
}

/* ---- wsdo_frame / wsdo_error_frame ---- */

static json_t *load(const char *text)
{
	json_error_t e;
	json_t *v;
	assert_non_null(text);
	v = json_loads(text, JSON_REJECT_DUPLICATES, &e);
	if(!v) fail_msg("not JSON: %s (%s)", text, e.text);
	return v;
}

static void test_frame_fields(void **state)
{
	json_t *payload = json_pack("{s:i,s:s}", "x", 1, "y", "z");
	json_t *o;
	char *text;
	(void)state;
	text = wsdo_frame("DATA", payload, "evt_abcdEFGH", "client_12345678", 42, -1);
	o = load(text);
	assert_true(json_is_object(o));
	assert_int_equal(json_object_size(o), 5);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "DATA");
	assert_true(json_is_object(json_object_get(o, "payload")));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "payload"), "x")), 1);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "payload"), "y")), "z");
	assert_string_equal(json_string_value(json_object_get(o, "eventID")), "evt_abcdEFGH");
	assert_string_equal(json_string_value(json_object_get(o, "clientID")), "client_12345678");
	assert_true(json_is_integer(json_object_get(o, "latency")));
	assert_int_equal(json_integer_value(json_object_get(o, "latency")), 42);
	assert_null(json_object_get(o, "requires_ack"));
	assert_null(json_object_get(o, "require_ack"));
	/* compact */
	assert_null(strchr(text, '\n'));
	assert_null(strstr(text, ": "));
	json_decref(o);
	free(text);
}

static void test_frame_requires_ack(void **state)
{
	json_t *o;
	char *text;
	(void)state;
	text = wsdo_frame("DATA", json_integer(5), "evt_1", "client_1", 0, 1);
	o = load(text);
	assert_int_equal(json_object_size(o), 6);
	assert_true(json_is_true(json_object_get(o, "requires_ack")));
	assert_int_equal(json_integer_value(json_object_get(o, "payload")), 5);
	assert_int_equal(json_integer_value(json_object_get(o, "latency")), 0);
	assert_null(json_object_get(o, "require_ack"));
	json_decref(o);
	free(text);

	text = wsdo_frame("DATA", json_string("hi"), "evt_1", "client_1", 7, 0);
	o = load(text);
	assert_int_equal(json_object_size(o), 6);
	assert_true(json_is_false(json_object_get(o, "requires_ack")));
	assert_string_equal(json_string_value(json_object_get(o, "payload")), "hi");
	json_decref(o);
	free(text);
}

static void test_frame_payload_kinds(void **state)
{
	json_t *o;
	char *text;
	(void)state;
	/* NULL payload: {} */
	text = wsdo_frame("PING", NULL, "evt_1", "client_1", 0, -1);
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	assert_true(json_is_object(json_object_get(o, "payload")));
	assert_int_equal(json_object_size(json_object_get(o, "payload")), 0);
	json_decref(o);
	free(text);

	text = wsdo_frame("DATA", json_null(), "evt_1", "client_1", 0, 1);
	o = load(text);
	assert_true(json_is_null(json_object_get(o, "payload")));
	json_decref(o);
	free(text);

	text = wsdo_frame("DATA", json_pack("[i,s]", 1, "a"), "evt_1", "client_1", 0, 0);
	o = load(text);
	assert_true(json_is_array(json_object_get(o, "payload")));
	assert_int_equal(json_array_size(json_object_get(o, "payload")), 2);
	json_decref(o);
	free(text);

	/* Large latency values survive. */
	text = wsdo_frame("PING", NULL, "evt_1", "client_1", INT64_C(123456789012), -1);
	o = load(text);
	assert_int_equal(json_integer_value(json_object_get(o, "latency")), INT64_C(123456789012));
	json_decref(o);
	free(text);
}

static void test_frame_takes_reference(void **state)
{
	json_t *p = json_object();
	char *text;
	(void)state;
	json_incref(p);                 /* ours + the one handed over */
	assert_int_equal(p->refcount, 2);
	text = wsdo_frame("DATA", p, "evt_1", "client_1", 0, -1);
	assert_non_null(text);
	assert_int_equal(p->refcount, 1);
	json_decref(p);
	free(text);

	/* Also when the frame cannot be built (invalid UTF-8 in a string). */
	p = json_object();
	json_incref(p);
	text = wsdo_frame("DATA", p, "evt_\xFF", "client_1", 0, -1);
	assert_null(text);
	assert_int_equal(p->refcount, 1);
	json_decref(p);
}

static void test_error_frame(void **state)
{
	json_t *o, *p;
	char *text;
	(void)state;
	text = wsdo_error_frame(WSDO_E_BAD_JSON, "frame is not valid JSON", "evt_x", "client_y", 12);
	o = load(text);
	assert_int_equal(json_object_size(o), 5);
	assert_string_equal(json_string_value(json_object_get(o, "type")), "ERROR");
	assert_string_equal(json_string_value(json_object_get(o, "eventID")), "evt_x");
	assert_string_equal(json_string_value(json_object_get(o, "clientID")), "client_y");
	assert_int_equal(json_integer_value(json_object_get(o, "latency")), 12);
	assert_null(json_object_get(o, "requires_ack"));
	p = json_object_get(o, "payload");
	assert_true(json_is_object(p));
	assert_int_equal(json_object_size(p), 2);
	assert_string_equal(json_string_value(json_object_get(p, "code")), "BAD_JSON");
	assert_string_equal(json_string_value(json_object_get(p, "message")), "frame is not valid JSON");
	json_decref(o);
	free(text);

	/* No message: the code stands in for it. */
	text = wsdo_error_frame("PING_TIMEOUT", NULL, "evt_x", "client_y", 0);
	o = load(text);
	p = json_object_get(o, "payload");
	assert_string_equal(json_string_value(json_object_get(p, "code")), "PING_TIMEOUT");
	assert_string_equal(json_string_value(json_object_get(p, "message")), "PING_TIMEOUT");
	json_decref(o);
	free(text);

	/* Quotes and control characters in the message are escaped properly. */
	text = wsdo_error_frame("X", "say \"hi\"\n\\", "evt_x", "client_y", 0);
	o = load(text);
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "payload"), "message")),
			"say \"hi\"\n\\");
	json_decref(o);
	free(text);
}

/* ---- wsdo_route ---- */

static void route_is(const char *path, enum wsdo_route want, const char *want_channel)
{
	char *ch = (char *)1;
	enum wsdo_route r = wsdo_route(path, &ch);
	if(r != want) fail_msg("route %s: got %d, expected %d", path, (int)r, (int)want);
	if(want_channel){
		assert_non_null(ch);
		assert_string_equal(ch, want_channel);
	}else{
		assert_null(ch);
	}
	free(ch);
}

static void test_route(void **state)
{
	char *long_ok, *long_bad, *path;
	(void)state;
	route_is("lobby/listen", WSDO_ROUTE_LISTEN, "lobby");
	route_is("lobby/emit", WSDO_ROUTE_EMIT, "lobby");
	route_is("/lobby/emit", WSDO_ROUTE_EMIT, "lobby");
	route_is("/lobby/listen", WSDO_ROUTE_LISTEN, "lobby");
	route_is("lobby/listen/", WSDO_ROUTE_LISTEN, "lobby");
	route_is("lobby/emit/", WSDO_ROUTE_EMIT, "lobby");
	route_is("///lobby/listen", WSDO_ROUTE_LISTEN, "lobby");
	route_is("caf\xC3\xA9/emit", WSDO_ROUTE_EMIT, "caf\xC3\xA9");
	route_is("a b/emit", WSDO_ROUTE_EMIT, "a b");

	route_is("", WSDO_ROUTE_NONE, NULL);
	route_is("/", WSDO_ROUTE_NONE, NULL);
	route_is("lobby", WSDO_ROUTE_NONE, NULL);
	route_is("/lobby", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/other", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/Listen", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/listenx", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/liste", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/emi", WSDO_ROUTE_NONE, NULL);
	route_is("listen", WSDO_ROUTE_NONE, NULL);
	route_is("/listen", WSDO_ROUTE_NONE, NULL);
	route_is("/emit", WSDO_ROUTE_NONE, NULL);
	route_is("c/emit/more", WSDO_ROUTE_NONE, NULL);
	route_is("lobby/listen//", WSDO_ROUTE_NONE, NULL);

	/* Route found, channel name invalid: channel NULL. A '/' in the name
	 * (percent-encoded by the client, decoded by lws) lands here too. */
	route_is("a/b/listen", WSDO_ROUTE_LISTEN, NULL);
	route_is("lobby//listen", WSDO_ROUTE_LISTEN, NULL);
	route_is("a/b/emit", WSDO_ROUTE_EMIT, NULL);
	route_is("$x/listen", WSDO_ROUTE_LISTEN, NULL);
	route_is("$sys/emit", WSDO_ROUTE_EMIT, NULL);
	route_is("a+b/emit", WSDO_ROUTE_EMIT, NULL);
	route_is("a#b/listen", WSDO_ROUTE_LISTEN, NULL);
	route_is("a\x01" "b/emit", WSDO_ROUTE_EMIT, NULL);
	route_is("\xC0\x80/emit", WSDO_ROUTE_EMIT, NULL);

	long_ok = malloc(WSGW_CHANNEL_MAX + 16);
	long_bad = malloc(WSGW_CHANNEL_MAX + 16);
	path = malloc(WSGW_CHANNEL_MAX + 32);
	assert_non_null(long_ok);
	assert_non_null(long_bad);
	assert_non_null(path);
	memset(long_ok, 'a', WSGW_CHANNEL_MAX);
	long_ok[WSGW_CHANNEL_MAX] = '\0';
	memset(long_bad, 'a', WSGW_CHANNEL_MAX + 1);
	long_bad[WSGW_CHANNEL_MAX + 1] = '\0';
	snprintf(path, WSGW_CHANNEL_MAX + 32, "%s/emit", long_ok);
	route_is(path, WSDO_ROUTE_EMIT, long_ok);
	snprintf(path, WSGW_CHANNEL_MAX + 32, "%s/listen", long_bad);
	route_is(path, WSDO_ROUTE_LISTEN, NULL);
	free(long_ok);
	free(long_bad);
	free(path);
}

/* ---- wsdo_emit_parse ---- */

struct emit_result {
	int status;
	const char *code;
	const char *msg;
	struct wsdo_emit e;
};

static void emit_get(const struct wsdo_kv *q, size_t nq, struct emit_result *r)
{
	r->code = NULL;
	r->msg = NULL;
	r->status = wsdo_emit_parse(q, nq, false, NULL, 0, &r->e, &r->code, &r->msg);
}

static void emit_post(const struct wsdo_kv *q, size_t nq, const char *body, struct emit_result *r)
{
	r->code = NULL;
	r->msg = NULL;
	r->status = wsdo_emit_parse(q, nq, true, body, body ? strlen(body) : 0, &r->e, &r->code, &r->msg);
}

static void expect_fail(struct emit_result *r, const char *code, bool need_msg)
{
	assert_int_equal(r->status, 400);
	assert_non_null(r->code);
	assert_string_equal(r->code, code);
	if(need_msg){
		assert_non_null(r->msg);
		assert_true(strlen(r->msg) > 0);
	}
	/* Nothing is left owned. */
	assert_null(r->e.payload);
	assert_null(r->e.ids);
	assert_int_equal(r->e.nids, 0);
	wsdo_emit_clear(&r->e);
}

static void test_emit_get(void **state)
{
	const struct wsdo_kv q[] = {
		{"x", "1"}, {"clients", "3"}, {"msg", "hello world"}, {"require-ack", "true"}, {"empty", ""},
		{"none", NULL}, {"u", "caf\xC3\xA9"},
	};
	struct emit_result r;
	json_t *p;
	(void)state;
	emit_get(q, sizeof(q) / sizeof(q[0]), &r);
	assert_int_equal(r.status, 0);
	p = r.e.payload;
	assert_true(json_is_object(p));
	assert_int_equal(json_object_size(p), 5);
	assert_string_equal(json_string_value(json_object_get(p, "x")), "1");     /* strings, not numbers */
	assert_true(json_is_string(json_object_get(p, "x")));
	assert_string_equal(json_string_value(json_object_get(p, "msg")), "hello world");
	assert_string_equal(json_string_value(json_object_get(p, "empty")), "");
	assert_string_equal(json_string_value(json_object_get(p, "none")), "");
	assert_string_equal(json_string_value(json_object_get(p, "u")), "caf\xC3\xA9");
	assert_null(json_object_get(p, "clients"));
	assert_null(json_object_get(p, "require-ack"));
	assert_true(r.e.require_ack);
	assert_int_equal(r.e.clients_n, 3);
	assert_null(r.e.ids);
	assert_int_equal(r.e.nids, 0);
	wsdo_emit_clear(&r.e);
	assert_null(r.e.payload);
}

static void test_emit_get_defaults(void **state)
{
	const struct wsdo_kv q[] = {{"k", "v"}};
	struct emit_result r;
	(void)state;
	emit_get(q, 1, &r);
	assert_int_equal(r.status, 0);
	assert_false(r.e.require_ack);
	assert_int_equal(r.e.clients_n, 0);
	assert_null(r.e.ids);
	assert_int_equal(r.e.nids, 0);
	assert_int_equal(json_object_size(r.e.payload), 1);
	wsdo_emit_clear(&r.e);
}

static void test_emit_get_no_payload(void **state)
{
	const struct wsdo_kv only_ctl[] = {{"clients", "3"}, {"require-ack", "false"}};
	const struct wsdo_kv only_ack[] = {{"require-ack", "false"}};
	struct emit_result r;
	(void)state;
	emit_get(only_ctl, 2, &r);
	expect_fail(&r, WSDO_E_NO_PAYLOAD, true);
	emit_get(only_ack, 1, &r);
	expect_fail(&r, WSDO_E_NO_PAYLOAD, true);
	emit_get(NULL, 0, &r);
	expect_fail(&r, WSDO_E_NO_PAYLOAD, true);
}

static void test_emit_get_bad_utf8(void **state)
{
	const struct wsdo_kv bad_value[] = {{"x", "\xFF"}};
	const struct wsdo_kv bad_key[] = {{"\xC0\x80", "1"}};
	struct emit_result r;
	(void)state;
	emit_get(bad_value, 1, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	emit_get(bad_key, 1, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
}

static void test_emit_post(void **state)
{
	/* Query parameters other than the control ones do not become payload on POST. */
	const struct wsdo_kv q[] = {{"x", "1"}, {"require-ack", "true"}};
	struct emit_result r;
	(void)state;
	emit_post(NULL, 0, "{\"a\":[1,2,{\"b\":null}]}", &r);
	assert_int_equal(r.status, 0);
	assert_true(json_is_object(r.e.payload));
	assert_true(json_is_array(json_object_get(r.e.payload, "a")));
	assert_false(r.e.require_ack);
	wsdo_emit_clear(&r.e);

	emit_post(q, 2, "{\"a\":1}", &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_object_size(r.e.payload), 1);
	assert_null(json_object_get(r.e.payload, "x"));
	assert_true(r.e.require_ack);
	wsdo_emit_clear(&r.e);

	/* Any JSON value. */
	emit_post(NULL, 0, "[1,2,3]", &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_array_size(r.e.payload), 3);
	wsdo_emit_clear(&r.e);

	emit_post(NULL, 0, "42", &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_integer_value(r.e.payload), 42);
	wsdo_emit_clear(&r.e);

	emit_post(NULL, 0, "\"text\"", &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(json_string_value(r.e.payload), "text");
	wsdo_emit_clear(&r.e);

	emit_post(NULL, 0, "null", &r);
	assert_int_equal(r.status, 0);
	assert_non_null(r.e.payload);
	assert_true(json_is_null(r.e.payload));
	wsdo_emit_clear(&r.e);

	emit_post(NULL, 0, "false", &r);
	assert_int_equal(r.status, 0);
	assert_true(json_is_false(r.e.payload));
	wsdo_emit_clear(&r.e);

	emit_post(NULL, 0, " {\"a\":1} \n", &r);
	assert_int_equal(r.status, 0);
	assert_true(json_is_object(r.e.payload));
	wsdo_emit_clear(&r.e);
}

static void test_emit_post_body_len(void **state)
{
	static const char body[] = "[1]trailing";
	struct emit_result r;
	(void)state;
	r.status = wsdo_emit_parse(NULL, 0, true, body, 3, &r.e, &r.code, &r.msg);
	assert_int_equal(r.status, 0);
	assert_int_equal(json_array_size(r.e.payload), 1);
	wsdo_emit_clear(&r.e);
}

static void test_emit_post_errors(void **state)
{
	const struct wsdo_kv only_ctl[] = {{"clients", "2"}};
	struct emit_result r;
	(void)state;
	emit_post(NULL, 0, "", &r);
	expect_fail(&r, WSDO_E_NO_PAYLOAD, true);
	emit_post(NULL, 0, NULL, &r);
	expect_fail(&r, WSDO_E_NO_PAYLOAD, true);
	emit_post(only_ctl, 1, "", &r);
	expect_fail(&r, WSDO_E_NO_PAYLOAD, true);

	emit_post(NULL, 0, "{nope", &r);
	expect_fail(&r, WSDO_E_BAD_JSON, true);
	emit_post(NULL, 0, "hello", &r);
	expect_fail(&r, WSDO_E_BAD_JSON, true);
	emit_post(NULL, 0, "   ", &r);
	expect_fail(&r, WSDO_E_BAD_JSON, true);
	emit_post(NULL, 0, "{\"a\":1,\"a\":2}", &r);
	expect_fail(&r, WSDO_E_BAD_JSON, true);
	emit_post(NULL, 0, "[1] [2]", &r);
	expect_fail(&r, WSDO_E_BAD_JSON, true);
	emit_post(NULL, 0, "\"\xFF\"", &r);
	expect_fail(&r, WSDO_E_BAD_JSON, true);

	/* A bad control parameter wins over a good body; ids parsed so far are freed. */
	{
		const struct wsdo_kv q[] = {{"clients", "a,b"}, {"require-ack", "yes"}};
		emit_post(q, 2, "{}", &r);
		expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	}
}

static void test_emit_require_ack(void **state)
{
	struct emit_result r;
	struct wsdo_kv q[2] = {{"x", "1"}, {"require-ack", NULL}};
	static const char *const bad[] = {"maybe", "TRUE", "True", "1", "0", "yes", "", "true ", NULL};
	(void)state;
	q[1].value = "true";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_true(r.e.require_ack);
	wsdo_emit_clear(&r.e);

	q[1].value = "false";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_false(r.e.require_ack);
	wsdo_emit_clear(&r.e);

	for(size_t i = 0; bad[i]; i++){
		q[1].value = bad[i];
		emit_get(q, 2, &r);
		expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	}
	q[1].value = NULL;          /* "?require-ack" with no value */
	emit_get(q, 2, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);

	/* Also checked on POST. */
	q[1].value = "maybe";
	emit_post(q, 2, "{}", &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
}

static void test_emit_clients_number(void **state)
{
	struct emit_result r;
	struct wsdo_kv q[2] = {{"x", "1"}, {"clients", NULL}};
	static const char *const bad[] = {"0", "10001", "99999999999999999999999", "3abc", "3 ", "3.0",
		"00", "1e3", NULL};
	(void)state;
	q[1].value = "3";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.clients_n, 3);
	assert_int_equal(r.e.nids, 0);
	wsdo_emit_clear(&r.e);

	q[1].value = "1";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.clients_n, 1);
	wsdo_emit_clear(&r.e);

	q[1].value = "10000";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.clients_n, WSDO_CLIENTS_MAX);
	wsdo_emit_clear(&r.e);

	for(size_t i = 0; bad[i]; i++){
		q[1].value = bad[i];
		emit_get(q, 2, &r);
		if(r.status != 400) fail_msg("clients=%s accepted", bad[i]);
		expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	}

	/* On POST too. */
	q[1].value = "0";
	emit_post(q, 2, "{}", &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	q[1].value = "2";
	emit_post(q, 2, "{}", &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.clients_n, 2);
	wsdo_emit_clear(&r.e);
}

static void test_emit_clients_list(void **state)
{
	struct emit_result r;
	struct wsdo_kv q[2] = {{"x", "1"}, {"clients", "abc,def"}};
	(void)state;
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.clients_n, 0);
	assert_int_equal(r.e.nids, 2);
	assert_non_null(r.e.ids);
	assert_string_equal(r.e.ids[0], "abc");
	assert_string_equal(r.e.ids[1], "def");
	assert_null(json_object_get(r.e.payload, "clients"));
	wsdo_emit_clear(&r.e);
	assert_null(r.e.ids);
	assert_int_equal(r.e.nids, 0);

	q[1].value = "client_AbCd1234";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.nids, 1);
	assert_string_equal(r.e.ids[0], "client_AbCd1234");
	wsdo_emit_clear(&r.e);

	/* Device IDs may be anything that is a topic level. */
	q[1].value = "dev-1,sensor.2,x:y";
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.nids, 3);
	assert_string_equal(r.e.ids[2], "x:y");
	wsdo_emit_clear(&r.e);
}

static void test_emit_clients_list_bad(void **state)
{
	struct emit_result r;
	struct wsdo_kv q[2] = {{"x", "1"}, {"clients", NULL}};
	static const char *const bad[] = {"", ",", ",,", "a/b", "a+b", "a#", "abc,d/e", NULL};
	(void)state;
	for(size_t i = 0; bad[i]; i++){
		q[1].value = bad[i];
		emit_get(q, 2, &r);
		if(r.status != 400) fail_msg("clients=%s accepted", bad[i]);
		expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	}
	q[1].value = NULL;      /* "?clients" with no value */
	emit_get(q, 2, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
}

/* Empty IDs inside the list. The contract (tests/integration/test_wsdo_http.py:
 * "clients=abc," -> 400 BAD_PARAMETER) and the code's own message ("clients holds
 * an empty or invalid client ID") say an empty element is an error. */
static void test_emit_clients_list_empty_element(void **state)
{
	struct emit_result r;
	struct wsdo_kv q[2] = {{"x", "1"}, {"clients", NULL}};
	static const char *const bad[] = {"abc,", "a,,b", ",abc", NULL};
	char report[512] = "";
	(void)state;
	for(size_t i = 0; bad[i]; i++){
		q[1].value = bad[i];
		emit_get(q, 2, &r);
		if(r.status != 400){
			size_t used = strlen(report);
			snprintf(report + used, sizeof(report) - used,
					"\n  clients=%s: status %d with %zu ids, expected 400 BAD_PARAMETER",
					bad[i], r.status, r.e.nids);
			wsdo_emit_clear(&r.e);
			continue;
		}
		expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	}
	if(report[0]) fail_msg("empty client IDs accepted:%s", report);
}

static void test_emit_clients_twice(void **state)
{
	struct emit_result r;
	const struct wsdo_kv n_n[] = {{"clients", "3"}, {"x", "1"}, {"clients", "4"}};
	const struct wsdo_kv n_l[] = {{"clients", "3"}, {"x", "1"}, {"clients", "a"}};
	const struct wsdo_kv l_n[] = {{"clients", "a,b"}, {"x", "1"}, {"clients", "3"}};
	const struct wsdo_kv l_l[] = {{"clients", "a"}, {"clients", "a"}, {"x", "1"}};
	(void)state;
	emit_get(n_n, 3, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	emit_get(n_l, 3, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	emit_get(l_n, 3, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	emit_get(l_l, 3, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	emit_post(l_n, 3, "{}", &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
}

static void test_emit_clients_list_max(void **state)
{
	struct emit_result r;
	struct wsdo_kv q[2] = {{"x", "1"}, {"clients", NULL}};
	size_t n = WSDO_CLIENTS_MAX;
	char *list = malloc(n * 8 + 16);
	size_t off = 0;
	(void)state;
	assert_non_null(list);
	for(size_t i = 0; i < n; i++) off += (size_t)sprintf(list + off, "%sc%zu", i ? "," : "", i);
	q[1].value = list;
	emit_get(q, 2, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.e.nids, n);
	assert_string_equal(r.e.ids[0], "c0");
	assert_string_equal(r.e.ids[n - 1], "c9999");
	wsdo_emit_clear(&r.e);

	/* One more is too many. */
	sprintf(list + off, ",c%zu", n);
	emit_get(q, 2, &r);
	expect_fail(&r, WSDO_E_BAD_PARAMETER, true);
	free(list);
}

/* ---- wsdo_make_id ---- */

static bool in_alphabet(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static void test_make_id(void **state)
{
	char out[64];
	char eid[WSDO_EVENT_ID_SIZE];
	char cid[WSDO_CLIENT_ID_SIZE];
	unsigned char rnd[WSDO_ID_LEN] = {0, 25, 26, 51, 52, 61, 62, 255};
	unsigned char zero[WSDO_ID_LEN] = {0};
	(void)state;
	wsdo_make_id(out, sizeof(out), "evt_", rnd);
	assert_string_equal(out, "evt_AZaz09AH");
	assert_int_equal(strlen(out), 4 + WSDO_ID_LEN);

	wsdo_make_id(eid, sizeof(eid), "evt_", zero);
	assert_string_equal(eid, "evt_AAAAAAAA");
	assert_int_equal(strlen(eid), WSDO_EVENT_ID_SIZE - 1);

	wsdo_make_id(cid, sizeof(cid), "client_", rnd);
	assert_string_equal(cid, "client_AZaz09AH");
	assert_int_equal(strlen(cid), WSDO_CLIENT_ID_SIZE - 1);

	wsdo_make_id(out, sizeof(out), "", rnd);
	assert_string_equal(out, "AZaz09AH");

	/* Every byte maps into [A-Za-z0-9]. */
	for(int b = 0; b < 256; b++){
		unsigned char r8[WSDO_ID_LEN];
		memset(r8, b, sizeof(r8));
		wsdo_make_id(out, sizeof(out), "p", r8);
		assert_int_equal(strlen(out), 1 + WSDO_ID_LEN);
		for(size_t i = 1; i <= WSDO_ID_LEN; i++) assert_true(in_alphabet(out[i]));
	}
}

static void test_make_id_small_buffer(void **state)
{
	char out[16];
	unsigned char rnd[WSDO_ID_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
	(void)state;
	/* Exactly enough. */
	memset(out, 'Z', sizeof(out));
	wsdo_make_id(out, 4 + WSDO_ID_LEN + 1, "evt_", rnd);
	assert_string_equal(out, "evt_BCDEFGHI");

	/* One short: empty string, nothing written beyond. */
	memset(out, 'Z', sizeof(out));
	wsdo_make_id(out, 4 + WSDO_ID_LEN, "evt_", rnd);
	assert_string_equal(out, "");
	assert_int_equal(out[1], 'Z');

	memset(out, 'Z', sizeof(out));
	wsdo_make_id(out, 0, "evt_", rnd);
	assert_int_equal(out[0], 'Z');
}

/* ---- wsdo_pick ---- */

struct lcg { uint64_t s; };

static uint32_t lcg_next(void *ud)
{
	struct lcg *g = ud;
	/* 64-bit LCG (Knuth MMIX), high bits out */
	g->s = g->s * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
	return (uint32_t)(g->s >> 32);
}

struct script { const uint32_t *v; size_t n, i; };

static uint32_t script_next(void *ud)
{
	struct script *s = ud;
	assert_true(s->i < s->n);
	return s->v[s->i++];
}

static void check_distinct_in_range(const size_t *idx, size_t n, size_t k)
{
	bool *seen = calloc(n ? n : 1, sizeof(bool));
	assert_non_null(seen);
	for(size_t i = 0; i < k; i++){
		assert_true(idx[i] < n);
		assert_false(seen[idx[i]]);
		seen[idx[i]] = true;
	}
	free(seen);
}

static void test_pick_distinct(void **state)
{
	struct lcg g = {42};
	size_t idx[64];
	(void)state;
	for(size_t n = 1; n <= 64; n++){
		for(size_t k = 0; k <= n; k++){
			for(int rep = 0; rep < 5; rep++){
				wsdo_pick(n, k, idx, lcg_next, &g);
				check_distinct_in_range(idx, n, k);
				/* The whole array stays a permutation of 0..n-1. */
				check_distinct_in_range(idx, n, n);
			}
		}
	}
}

static void test_pick_permutation(void **state)
{
	struct lcg g = {7};
	size_t idx[10];
	bool differs = false;
	(void)state;
	for(int rep = 0; rep < 20; rep++){
		wsdo_pick(10, 10, idx, lcg_next, &g);
		check_distinct_in_range(idx, 10, 10);
		for(size_t i = 0; i < 10; i++) if(idx[i] != i) differs = true;
	}
	assert_true(differs);     /* it does shuffle */
}

static void test_pick_trivial(void **state)
{
	struct script s = {NULL, 0, 0};
	size_t idx[5] = {9, 9, 9, 9, 9};
	(void)state;
	/* k = 0 uses no randomness. */
	wsdo_pick(5, 0, idx, script_next, &s);
	assert_int_equal(s.i, 0);
	for(size_t i = 0; i < 5; i++) assert_int_equal(idx[i], i);

	/* n = 0 */
	wsdo_pick(0, 0, idx, script_next, &s);
	assert_int_equal(s.i, 0);

	/* n = 1, k = 1: a span of 1, the one index. */
	{
		const uint32_t v[] = {12345};
		struct script s1 = {v, 1, 0};
		wsdo_pick(1, 1, idx, script_next, &s1);
		assert_int_equal(idx[0], 0);
	}
}

static void test_pick_scripted(void **state)
{
	size_t idx[4];
	(void)state;
	/* n=4, k=2: r%4 = 2 swaps 0<->2; then span 3, r%3 = 1 picks position 2 (now 0). */
	{
		const uint32_t v[] = {2, 1};
		struct script s = {v, 2, 0};
		wsdo_pick(4, 2, idx, script_next, &s);
		assert_int_equal(s.i, 2);
		assert_int_equal(idx[0], 2);
		assert_int_equal(idx[1], 0);
	}
	/* Rejection: with span 3, 2^32 % 3 == 1, so UINT32_MAX is rejected and redrawn. */
	{
		const uint32_t v[] = {UINT32_MAX, 1};
		struct script s = {v, 2, 0};
		wsdo_pick(3, 1, idx, script_next, &s);
		assert_int_equal(s.i, 2);
		assert_int_equal(idx[0], 1);
	}
	/* UINT32_MAX - 1 is the last accepted value for span 3 ((2^32-2) % 3 == 2). */
	{
		const uint32_t v[] = {UINT32_MAX - 1};
		struct script s = {v, 1, 0};
		wsdo_pick(3, 1, idx, script_next, &s);
		assert_int_equal(s.i, 1);
		assert_int_equal(idx[0], 2);
	}
	/* Span a power of two: nothing is rejected. */
	{
		const uint32_t v[] = {UINT32_MAX};
		struct script s = {v, 1, 0};
		wsdo_pick(4, 1, idx, script_next, &s);
		assert_int_equal(s.i, 1);
		assert_int_equal(idx[0], 3);
		assert_int_equal(idx[3], 0);
	}
}

static void test_pick_uniform(void **state)
{
	enum { N = 10, K = 3, RUNS = 100000 };
	struct lcg g = {2024};
	size_t idx[N];
	unsigned count[N] = {0};
	unsigned first[N] = {0};
	double expect = (double)RUNS * K / N, expect_first = (double)RUNS / N;
	(void)state;
	for(int r = 0; r < RUNS; r++){
		wsdo_pick(N, K, idx, lcg_next, &g);
		for(size_t i = 0; i < K; i++) count[idx[i]]++;
		first[idx[0]]++;
	}
	for(size_t i = 0; i < N; i++){
		if(count[i] < expect * 0.95 || count[i] > expect * 1.05){
			fail_msg("index %zu chosen %u times, expected about %.0f", i, count[i], expect);
		}
		if(first[i] < expect_first * 0.9 || first[i] > expect_first * 1.1){
			fail_msg("index %zu first %u times, expected about %.0f", i, first[i], expect_first);
		}
	}
}

/* Pairs are uniform too (not just single indexes): k=2 of n=5 gives 10 pairs. */
static void test_pick_uniform_pairs(void **state)
{
	enum { N = 5, RUNS = 50000 };
	struct lcg g = {99};
	size_t idx[N];
	unsigned pairs[N][N];
	double expect = (double)RUNS / 10;
	(void)state;
	memset(pairs, 0, sizeof(pairs));
	for(int r = 0; r < RUNS; r++){
		size_t a, b;
		wsdo_pick(N, 2, idx, lcg_next, &g);
		a = idx[0] < idx[1] ? idx[0] : idx[1];
		b = idx[0] < idx[1] ? idx[1] : idx[0];
		pairs[a][b]++;
	}
	for(size_t a = 0; a < N; a++){
		for(size_t b = a + 1; b < N; b++){
			if(pairs[a][b] < expect * 0.9 || pairs[a][b] > expect * 1.1){
				fail_msg("pair %zu,%zu chosen %u times, expected about %.0f", a, b, pairs[a][b], expect);
			}
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_pong),
		cmocka_unit_test(test_parse_len_bounds),
		cmocka_unit_test(test_parse_ack),
		cmocka_unit_test(test_parse_presence),
		cmocka_unit_test(test_parse_presence_size),
		cmocka_unit_test(test_parse_nul_and_messages),
		cmocka_unit_test(test_frame_fields),
		cmocka_unit_test(test_frame_requires_ack),
		cmocka_unit_test(test_frame_payload_kinds),
		cmocka_unit_test(test_frame_takes_reference),
		cmocka_unit_test(test_error_frame),
		cmocka_unit_test(test_route),
		cmocka_unit_test(test_emit_get),
		cmocka_unit_test(test_emit_get_defaults),
		cmocka_unit_test(test_emit_get_no_payload),
		cmocka_unit_test(test_emit_get_bad_utf8),
		cmocka_unit_test(test_emit_post),
		cmocka_unit_test(test_emit_post_body_len),
		cmocka_unit_test(test_emit_post_errors),
		cmocka_unit_test(test_emit_require_ack),
		cmocka_unit_test(test_emit_clients_number),
		cmocka_unit_test(test_emit_clients_list),
		cmocka_unit_test(test_emit_clients_list_bad),
		cmocka_unit_test(test_emit_clients_list_empty_element),
		cmocka_unit_test(test_emit_clients_twice),
		cmocka_unit_test(test_emit_clients_list_max),
		cmocka_unit_test(test_make_id),
		cmocka_unit_test(test_make_id_small_buffer),
		cmocka_unit_test(test_pick_distinct),
		cmocka_unit_test(test_pick_permutation),
		cmocka_unit_test(test_pick_trivial),
		cmocka_unit_test(test_pick_scripted),
		cmocka_unit_test(test_pick_uniform),
		cmocka_unit_test(test_pick_uniform_pairs),
		cmocka_unit_test(test_frame_two_steps),
		cmocka_unit_test(test_frame_finish_refuses_ids_needing_escapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
