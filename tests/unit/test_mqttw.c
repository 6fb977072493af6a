/* Unit tests for mapping/mqttw.c (the MQTT 5 wire format of the gateway's
 * own broker sessions). Expected bytes are written out from the MQTT 5.0
 * specification's packet layouts. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "mqttw.h"

/* The buffer holds exactly want[0..n). */
static void assert_bytes(const struct mqttw_buf *b, const uint8_t *want, size_t n)
{
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static void test_connect_bytes(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_connect c = { .client_id = "c", .username = "u", .password = "p",
		.clean_start = true, .keepalive = 60 };
	static const uint8_t want[] = {
		0x10, 20,                                  /* CONNECT, remaining length */
		0, 4, 'M', 'Q', 'T', 'T', 5,               /* protocol name, level 5 */
		0xC2,                                      /* username, password, clean start */
		0, 60,                                     /* keepalive */
		0,                                         /* no properties */
		0, 1, 'c', 0, 1, 'u', 0, 1, 'p',
	};
	(void)state;
	assert_int_equal(mqttw_connect(&b, &c), 0);
	assert_bytes(&b, want, sizeof(want));
	mqttw_buf_free(&b);
}

static void test_connect_will_and_session_expiry(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_connect c = { .client_id = "id", .username = "u", .password = "p",
		.clean_start = false, .keepalive = 30, .session_expiry = 300, .will_topic = "w/t" };
	static const uint8_t want_head[] = {
		0x10, 34,
		0, 4, 'M', 'Q', 'T', 'T', 5,
		0xEC,                                      /* username, password, will retain, will QoS 1, will */
		0, 30,
		5, 0x11, 0, 0, 0x01, 0x2C,                 /* session expiry 300 */
		0, 2, 'i', 'd',
		0,                                         /* will properties: none */
		0, 3, 'w', '/', 't',
		0, 0,                                      /* empty will payload */
		0, 1, 'u', 0, 1, 'p',
	};
	(void)state;
	assert_int_equal(mqttw_connect(&b, &c), 0);
	assert_bytes(&b, want_head, sizeof(want_head));
	mqttw_buf_free(&b);
}

static void test_publish_round_trip_with_properties(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_prop props[3] = {
		{ .id = 0x26, .name = (const uint8_t *)"eventID", .name_len = 7, .data = (const uint8_t *)"e1", .data_len = 2 },
		{ .id = 0x02, .value = 60 },
		{ .id = 0x0B, .value = 200 },   /* two-byte variable integer */
	};
	struct mqttw_publish p;
	struct mqttw_prop got;
	uint8_t type, flags;
	const uint8_t *body;
	size_t blen, need;
	(void)state;

	assert_int_equal(mqttw_publish(&b, "a/b", "{\"x\":1}", 7, 1, true, 77, props, 3), 0);
	assert_int_equal(mqttw_frame(b.data, b.len, &type, &flags, &body, &blen, &need), (ssize_t)b.len);
	assert_int_equal(type, MQTTW_PUBLISH);
	assert_int_equal(flags, 0x03);   /* QoS 1, retain */
	assert_int_equal(need, b.len);
	assert_int_equal(mqttw_parse_publish(flags, body, blen, &p), 0);
	assert_int_equal(p.qos, 1);
	assert_true(p.retain);
	assert_int_equal(p.mid, 77);
	assert_int_equal(p.topic_len, 3);
	assert_memory_equal(p.topic, "a/b", 3);
	assert_int_equal(p.payload_len, 7);
	assert_memory_equal(p.payload, "{\"x\":1}", 7);

	assert_int_equal(mqttw_prop_next(&p.props, &got), 1);
	assert_int_equal(got.id, 0x26);
	assert_int_equal(got.name_len, 7);
	assert_memory_equal(got.name, "eventID", 7);
	assert_int_equal(got.data_len, 2);
	assert_memory_equal(got.data, "e1", 2);
	assert_int_equal(mqttw_prop_next(&p.props, &got), 1);
	assert_int_equal(got.id, 0x02);
	assert_int_equal(got.value, 60);
	assert_int_equal(mqttw_prop_next(&p.props, &got), 1);
	assert_int_equal(got.id, 0x0B);
	assert_int_equal(got.value, 200);
	assert_int_equal(mqttw_prop_next(&p.props, &got), 0);
	mqttw_buf_free(&b);
}

static void test_publish_qos0_has_no_packet_id(void **state)
{
	struct mqttw_buf b = {0};
	static const uint8_t want[] = { 0x30, 6, 0, 1, 't', 0, 'h', 'i' };
	(void)state;
	assert_int_equal(mqttw_publish(&b, "t", "hi", 2, 0, false, 0, NULL, 0), 0);
	assert_bytes(&b, want, sizeof(want));
	/* QoS 1 needs a packet id; the buffer is left as it was. */
	assert_int_equal(mqttw_publish(&b, "t", "hi", 2, 1, false, 0, NULL, 0), -1);
	assert_int_equal(b.len, sizeof(want));
	mqttw_buf_free(&b);
}

static void test_long_packet_and_partial_input(void **state)
{
	struct mqttw_buf b = {0};
	char payload[300];
	uint8_t type, flags;
	const uint8_t *body;
	size_t blen, need;
	(void)state;

	memset(payload, 'x', sizeof(payload));
	assert_int_equal(mqttw_publish(&b, "t", payload, sizeof(payload), 0, false, 0, NULL, 0), 0);
	/* 3 + 1 + 300 = 304 = 0xB0 0x02 as a variable byte integer */
	assert_int_equal(b.data[1], 0xB0);
	assert_int_equal(b.data[2], 0x02);
	assert_int_equal(b.len, 3 + 304);
	assert_int_equal(mqttw_frame(b.data, 1, &type, &flags, &body, &blen, &need), 0);
	assert_int_equal(need, 0);
	assert_int_equal(mqttw_frame(b.data, 2, &type, &flags, &body, &blen, &need), 0);
	assert_int_equal(need, 0);   /* the length is not complete yet */
	assert_int_equal(mqttw_frame(b.data, 100, &type, &flags, &body, &blen, &need), 0);
	assert_int_equal(need, b.len);
	assert_int_equal(mqttw_frame(b.data, b.len, &type, &flags, &body, &blen, &need), (ssize_t)b.len);
	assert_int_equal(blen, 304);
	mqttw_buf_free(&b);
}

static void test_two_packets_in_one_buffer(void **state)
{
	struct mqttw_buf b = {0};
	uint8_t type, flags;
	const uint8_t *body;
	size_t blen, need;
	ssize_t n;
	(void)state;

	assert_int_equal(mqttw_puback(&b, 5, 0), 0);
	assert_int_equal(mqttw_pingreq(&b), 0);
	n = mqttw_frame(b.data, b.len, &type, &flags, &body, &blen, &need);
	assert_int_equal(n, 4);
	assert_int_equal(type, MQTTW_PUBACK);
	n = mqttw_frame(b.data + 4, b.len - 4, &type, &flags, &body, &blen, &need);
	assert_int_equal(n, 2);
	assert_int_equal(type, MQTTW_PINGREQ);
	assert_int_equal(blen, 0);
	mqttw_buf_free(&b);
}

static void test_malformed_input(void **state)
{
	static const uint8_t long_varint[] = { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
	static const uint8_t qos3[] = { 0, 1, 't', 0 };
	static const uint8_t short_topic[] = { 0, 9, 't' };
	static const uint8_t bad_prop[] = { 0, 1, 't', 2, 0x7F, 0 };
	struct mqttw_publish p;
	struct mqttw_prop got;
	uint8_t type, flags;
	const uint8_t *body;
	size_t blen, need;
	(void)state;

	assert_int_equal(mqttw_frame(long_varint, sizeof(long_varint), &type, &flags, &body, &blen, &need), -1);
	assert_int_equal(mqttw_parse_publish(0x06, qos3, sizeof(qos3), &p), -1);
	assert_int_equal(mqttw_parse_publish(0x00, short_topic, sizeof(short_topic), &p), -1);
	/* The property block claims two bytes; 0x7F is no MQTT 5 property. */
	assert_int_equal(mqttw_parse_publish(0x00, bad_prop, sizeof(bad_prop), &p), 0);
	assert_int_equal(mqttw_prop_next(&p.props, &got), -1);
}

static void test_acks(void **state)
{
	static const uint8_t puback_short[] = { 0, 9 };
	static const uint8_t puback_denied[] = { 0, 9, 0x87, 0 };
	static const uint8_t suback[] = { 0, 3, 0, 0x01, 0x87 };
	static const uint8_t suback_empty[] = { 0, 3, 0 };
	static const uint8_t connack[] = { 0x01, 0x00, 3, 0x21, 0, 20 };
	const uint8_t *reasons;
	size_t n;
	uint16_t mid;
	bool sp;
	uint8_t reason;
	struct mqttw_props props;
	struct mqttw_prop got;
	(void)state;

	assert_int_equal(mqttw_parse_ack(MQTTW_PUBACK, puback_short, sizeof(puback_short), &mid, &reasons, &n), 0);
	assert_int_equal(mid, 9);
	assert_int_equal(n, 1);
	assert_int_equal(reasons[0], 0);
	assert_int_equal(mqttw_parse_ack(MQTTW_PUBACK, puback_denied, sizeof(puback_denied), &mid, &reasons, &n), 0);
	assert_int_equal(reasons[0], 0x87);
	assert_int_equal(mqttw_parse_ack(MQTTW_SUBACK, suback, sizeof(suback), &mid, &reasons, &n), 0);
	assert_int_equal(mid, 3);
	assert_int_equal(n, 2);
	assert_int_equal(reasons[0], 0x01);
	assert_int_equal(reasons[1], 0x87);
	assert_int_equal(mqttw_parse_ack(MQTTW_SUBACK, suback_empty, sizeof(suback_empty), &mid, &reasons, &n), -1);

	assert_int_equal(mqttw_parse_connack(connack, sizeof(connack), &sp, &reason, &props), 0);
	assert_true(sp);
	assert_int_equal(reason, 0);
	assert_int_equal(mqttw_prop_next(&props, &got), 1);
	assert_int_equal(got.id, 0x21);   /* receive maximum */
	assert_int_equal(got.value, 20);
}

static void test_subscribe_and_unsubscribe_bytes(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_prop sid = { .id = 0x0B, .value = 5 };
	static const uint8_t want_sub[] = { 0x82, 9, 0, 7, 2, 0x0B, 5, 0, 1, 'f', 0x01 };
	static const uint8_t want_unsub[] = { 0xA2, 6, 0, 8, 0, 0, 1, 'f' };
	(void)state;
	assert_int_equal(mqttw_subscribe(&b, 7, "f", 1, &sid, 1), 0);
	assert_bytes(&b, want_sub, sizeof(want_sub));
	b.len = 0;
	assert_int_equal(mqttw_unsubscribe(&b, 8, "f"), 0);
	assert_bytes(&b, want_unsub, sizeof(want_unsub));
	mqttw_buf_free(&b);
}

static void test_oversized_fields_refused(void **state)
{
	struct mqttw_buf b = {0};
	char *topic = malloc(70000);
	(void)state;
	assert_non_null(topic);
	memset(topic, 'a', 69999);
	topic[69999] = '\0';
	assert_int_equal(mqttw_publish(&b, topic, "x", 1, 0, false, 0, NULL, 0), -1);
	assert_int_equal(b.len, 0);
	free(topic);
	mqttw_buf_free(&b);
}

/* A property block as a PUBLISH carries it, for the readers below. */
static struct mqttw_props block_of(struct mqttw_buf *b, const struct mqttw_prop *props, size_t n)
{
	struct mqttw_publish p;
	uint8_t type, flags;
	const uint8_t *body;
	size_t blen, need;

	assert_int_equal(mqttw_publish(b, "t", "", 0, 0, false, 0, props, n), 0);
	assert_int_equal(mqttw_frame(b->data, b->len, &type, &flags, &body, &blen, &need), (ssize_t)b->len);
	assert_int_equal(mqttw_parse_publish(flags, body, blen, &p), 0);
	return p.props;
}

static void test_reason_string(void **state)
{
	(void)state;
	assert_string_equal(mqttw_reason_string(MQTTW_RC_SUCCESS), "Success");
	assert_string_equal(mqttw_reason_string(MQTTW_RC_DISCONNECT_WITH_WILL), "Disconnect with Will Message");
	assert_string_equal(mqttw_reason_string(MQTTW_RC_NOT_AUTHORIZED), "Not authorized");
	assert_string_equal(mqttw_reason_string(MQTTW_RC_BAD_USERNAME_OR_PASSWORD), "Bad User Name or Password");
	assert_string_equal(mqttw_reason_string(MQTTW_RC_SERVER_UNAVAILABLE), "Server unavailable");
	assert_string_equal(mqttw_reason_string(MQTTW_RC_KEEP_ALIVE_TIMEOUT), "Keep Alive timeout");
	assert_string_equal(mqttw_reason_string(0x8E), "Session taken over");
	assert_string_equal(mqttw_reason_string(0x95), "Packet too large");
	assert_string_equal(mqttw_reason_string(0xA2), "Wildcard Subscriptions not supported");
	/* Codes MQTT 5 does not define. */
	assert_string_equal(mqttw_reason_string(0x03), "Unknown reason");
	assert_string_equal(mqttw_reason_string(0xA3), "Unknown reason");
	assert_string_equal(mqttw_reason_string(0xFF), "Unknown reason");
}

static void test_props_int(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_prop props[] = {
		mqttw_prop_user("n", "v"),
		{ .id = 0x01, .value = 1 },                        /* payload format: a byte */
		{ .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = 70000 },
		{ .id = 0x23, .value = 513 },                      /* topic alias: two bytes */
		{ .id = MQTTW_PROP_SUBSCRIPTION_ID, .value = 300 },
		{ .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = 5 },   /* a second one: the first counts */
	};
	struct mqttw_props block = block_of(&b, props, sizeof(props) / sizeof(props[0]));
	uint32_t v = 0;
	(void)state;

	assert_int_equal(mqttw_props_check(&block), 0);
	assert_true(mqttw_props_int(&block, MQTTW_PROP_MESSAGE_EXPIRY, &v));
	assert_int_equal(v, 70000);
	assert_true(mqttw_props_int(&block, 0x01, &v));
	assert_int_equal(v, 1);
	assert_true(mqttw_props_int(&block, 0x23, &v));
	assert_int_equal(v, 513);
	assert_true(mqttw_props_int(&block, MQTTW_PROP_SUBSCRIPTION_ID, &v));
	assert_int_equal(v, 300);
	/* Absent, a string property, an undefined id: not found, v untouched. */
	v = 42;
	assert_false(mqttw_props_int(&block, MQTTW_PROP_RECEIVE_MAXIMUM, &v));
	assert_false(mqttw_props_int(&block, MQTTW_PROP_USER, &v));
	assert_false(mqttw_props_int(&block, 0x7F, &v));
	assert_int_equal(v, 42);
	/* The block itself is not consumed. */
	assert_true(mqttw_props_int(&block, MQTTW_PROP_MESSAGE_EXPIRY, &v));
	mqttw_buf_free(&b);
}

static void test_props_user(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_prop props[] = {
		mqttw_prop_user("eventID", "e1"),
		{ .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = 60 },
		mqttw_prop_user("requires_ack", "true"),
		mqttw_prop_user("eventI", "prefix"),
		mqttw_prop_user("eventID", "e2"),
		mqttw_prop_user("empty", ""),
	};
	struct mqttw_props block = block_of(&b, props, sizeof(props) / sizeof(props[0]));
	const uint8_t *value = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(props[0].name_len, 7);
	assert_int_equal(props[0].data_len, 2);
	assert_true(mqttw_props_user(&block, "requires_ack", &value, &len));
	assert_int_equal(len, 4);
	assert_memory_equal(value, "true", 4);
	/* A name that comes twice: the later pair. */
	assert_true(mqttw_props_user(&block, "eventID", &value, &len));
	assert_int_equal(len, 2);
	assert_memory_equal(value, "e2", 2);
	assert_true(mqttw_props_user(&block, "eventI", &value, &len));
	assert_int_equal(len, 6);
	assert_true(mqttw_props_user(&block, "empty", &value, &len));
	assert_int_equal(len, 0);
	value = NULL;
	assert_false(mqttw_props_user(&block, "event", &value, &len));
	assert_false(mqttw_props_user(&block, "sender_id", &value, &len));
	assert_null(value);
	mqttw_buf_free(&b);
}

static void test_props_next_sid(void **state)
{
	struct mqttw_buf b = {0};
	struct mqttw_prop props[] = {
		{ .id = MQTTW_PROP_SUBSCRIPTION_ID, .value = 5 },
		mqttw_prop_user("n", "v"),
		{ .id = MQTTW_PROP_SUBSCRIPTION_ID, .value = 268435455 },   /* the largest */
		{ .id = MQTTW_PROP_MESSAGE_EXPIRY, .value = 9 },
	};
	struct mqttw_props block = block_of(&b, props, sizeof(props) / sizeof(props[0])), it = block;
	struct mqttw_props none = { NULL, 0 };
	uint32_t sid = 0;
	(void)state;

	assert_true(mqttw_props_next_sid(&it, &sid));
	assert_int_equal(sid, 5);
	assert_true(mqttw_props_next_sid(&it, &sid));
	assert_int_equal(sid, 268435455);
	assert_false(mqttw_props_next_sid(&it, &sid));
	assert_false(mqttw_props_next_sid(&it, &sid));   /* and stays at the end */
	assert_false(mqttw_props_next_sid(&none, &sid));
	/* Walking a copy leaves the block as it was. */
	it = block;
	assert_true(mqttw_props_next_sid(&it, &sid));
	assert_int_equal(sid, 5);
	mqttw_buf_free(&b);
}

static void test_props_malformed(void **state)
{
	/* A message expiry, then a subscription identifier, then 0x7F (no
	 * MQTT 5 property): the readers find what comes before it only. */
	static const uint8_t bad[] = { 0x02, 0, 0, 0, 60, 0x0B, 7, 0x7F, 1 };
	static const uint8_t cut[] = { 0x26, 0, 1, 'n', 0, 9, 'v' };   /* value runs past the end */
	struct mqttw_props block = { bad, sizeof(bad) }, it = block, cblock = { cut, sizeof(cut) };
	struct mqttw_props empty = { NULL, 0 };
	const uint8_t *value;
	size_t len;
	uint32_t v;
	(void)state;

	assert_int_equal(mqttw_props_check(&block), -1);
	assert_int_equal(mqttw_props_check(&cblock), -1);
	assert_int_equal(mqttw_props_check(&empty), 0);
	assert_true(mqttw_props_int(&block, MQTTW_PROP_MESSAGE_EXPIRY, &v));
	assert_int_equal(v, 60);
	assert_false(mqttw_props_int(&block, 0x01, &v));
	assert_true(mqttw_props_next_sid(&it, &v));
	assert_int_equal(v, 7);
	assert_false(mqttw_props_next_sid(&it, &v));
	assert_false(mqttw_props_user(&cblock, "n", &value, &len));
}

static void test_topic_matches(void **state)
{
	static const struct { const char *filter, *topic; bool match; } cases[] = {
		{ "a/b", "a/b", true },
		{ "a/b", "a/c", false },
		{ "a/b", "a/b/c", false },
		{ "a/b/c", "a/b", false },
		{ "a/+", "a/b", true },
		{ "a/+", "a/", true },         /* an empty level is a level */
		{ "a/+", "a", false },
		{ "a/+", "a/b/c", false },
		{ "+/+", "/b", true },
		{ "+", "a", true },
		{ "+", "a/b", false },
		{ "a/#", "a", true },          /* "#" includes the parent level */
		{ "a/#", "a/b/c", true },
		{ "a/#", "ab", false },
		{ "#", "a/b", true },
		{ "#", "/", true },
		{ "a//b", "a//b", true },
		{ "a/", "a/", true },
		{ "a/", "a", false },
		/* '$' topics and leading wildcards */
		{ "#", "$SYS/x", false },
		{ "+/x", "$SYS/x", false },
		{ "$SYS/#", "$SYS/x", true },
		{ "$SYS/+", "$SYS/x", true },
		{ "a/+", "a/$x", true },
		/* malformed filters and topics */
		{ "a/#/b", "a/x/b", false },
		{ "a#", "a", false },
		{ "a/b#", "a/b", false },
		{ "a+/b", "a+/b", false },
		{ "a/+b", "a/+b", false },
		{ "a/b", "a/+", false },
		{ "#", "a/#", false },
		{ "", "a", false },
		{ "a", "", false },
		{ "", "", false },
	};
	(void)state;
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		if(mqttw_topic_matches(cases[i].filter, cases[i].topic) != cases[i].match){
			fail_msg("\"%s\" vs \"%s\": expected %s", cases[i].filter, cases[i].topic,
					cases[i].match ? "a match" : "no match");
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_bytes),
		cmocka_unit_test(test_connect_will_and_session_expiry),
		cmocka_unit_test(test_publish_round_trip_with_properties),
		cmocka_unit_test(test_publish_qos0_has_no_packet_id),
		cmocka_unit_test(test_long_packet_and_partial_input),
		cmocka_unit_test(test_two_packets_in_one_buffer),
		cmocka_unit_test(test_malformed_input),
		cmocka_unit_test(test_acks),
		cmocka_unit_test(test_subscribe_and_unsubscribe_bytes),
		cmocka_unit_test(test_oversized_fields_refused),
		cmocka_unit_test(test_reason_string),
		cmocka_unit_test(test_props_int),
		cmocka_unit_test(test_props_user),
		cmocka_unit_test(test_props_next_sid),
		cmocka_unit_test(test_props_malformed),
		cmocka_unit_test(test_topic_matches),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
