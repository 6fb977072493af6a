/* MQTT 5 wire format, the part the gateway's own broker sessions use
 * (plugin/link.c): encoders that append packets to a growable buffer, and a
 * parser that splits a byte stream into packets and reads their fields in
 * place. Pure code: no I/O, no libmosquitto. Strings in parsed packets point
 * into the input and are not NUL-terminated. */
#ifndef WSGW_MQTTW_H
#define WSGW_MQTTW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum mqttw_type {
	MQTTW_CONNECT = 1, MQTTW_CONNACK = 2, MQTTW_PUBLISH = 3, MQTTW_PUBACK = 4,
	MQTTW_SUBSCRIBE = 8, MQTTW_SUBACK = 9, MQTTW_UNSUBSCRIBE = 10, MQTTW_UNSUBACK = 11,
	MQTTW_PINGREQ = 12, MQTTW_PINGRESP = 13, MQTTW_DISCONNECT = 14,
};

#define MQTTW_MAX_REMAINING 268435455u   /* the largest remaining length there is */

/* Property value types (MQTT 5 section 2.2.2.2). */
enum mqttw_ptype { MQTTW_P_BYTE, MQTTW_P_INT16, MQTTW_P_INT32, MQTTW_P_VARINT,
	MQTTW_P_BINARY, MQTTW_P_STRING, MQTTW_P_PAIR };

/* The property ids the gateway reads or writes (MQTT 5 section 2.2.2.2). */
#define MQTTW_PROP_MESSAGE_EXPIRY       0x02
#define MQTTW_PROP_SUBSCRIPTION_ID      0x0B
#define MQTTW_PROP_SESSION_EXPIRY       0x11
#define MQTTW_PROP_RECEIVE_MAXIMUM      0x21
#define MQTTW_PROP_USER                 0x26

/* Reason codes (MQTT 5 section 2.4) the gateway's code names. The lost
 * callback of a link (plugin/link.h) gets one too: the broker's DISCONNECT
 * reason, or the one that says what ended the session. */
#define MQTTW_RC_SUCCESS                0x00
#define MQTTW_RC_DISCONNECT_WITH_WILL   0x04
#define MQTTW_RC_UNSPECIFIED            0x80
#define MQTTW_RC_MALFORMED_PACKET       0x81
#define MQTTW_RC_PROTOCOL_ERROR         0x82
#define MQTTW_RC_BAD_USERNAME_OR_PASSWORD 0x86
#define MQTTW_RC_NOT_AUTHORIZED         0x87
#define MQTTW_RC_SERVER_UNAVAILABLE     0x88
#define MQTTW_RC_SERVER_BUSY            0x89
#define MQTTW_RC_KEEP_ALIVE_TIMEOUT     0x8D

/* The reason code's name ("Not authorized"; the words Mosquitto's own
 * mosquitto_reason_string uses, which clients see in error frames), or
 * "Unknown reason" for a code MQTT 5 does not define. */
const char *mqttw_reason_string(uint8_t rc);

/* Type of property id, or -1 for an id MQTT 5 does not define. */
int mqttw_prop_type(uint8_t id);

/* One property. Numbers in value; binary data and strings in data/data_len;
 * a user property's name in name/name_len, its value in data/data_len. */
struct mqttw_prop {
	uint8_t id;
	uint32_t value;
	const uint8_t *name;
	size_t name_len;
	const uint8_t *data;
	size_t data_len;
};

/* Output buffer; the encoders return 0, or -1 when out of memory or a field
 * does not fit the format (strings over 65,535 bytes, packets over
 * MQTTW_MAX_REMAINING). On -1 the buffer is as it was. */
struct mqttw_buf {
	uint8_t *data;
	size_t len, cap;
};
void mqttw_buf_free(struct mqttw_buf *b);
/* Room for more bytes after len; 0 or -1. */
int mqttw_buf_reserve(struct mqttw_buf *b, size_t more);
int mqttw_buf_append(struct mqttw_buf *b, const void *p, size_t n);

struct mqttw_connect {
	const char *client_id, *username, *password;
	bool clean_start;
	uint16_t keepalive;
	uint32_t session_expiry;   /* 0: property left out */
	const char *will_topic;    /* NULL: no will; else an empty retained QoS 1 message */
};
int mqttw_connect(struct mqttw_buf *b, const struct mqttw_connect *c);
int mqttw_publish(struct mqttw_buf *b, const char *topic, const void *payload, size_t len,
		int qos, bool retain, uint16_t mid, const struct mqttw_prop *props, size_t nprops);
/* options: the SUBSCRIBE options byte (QoS in bits 0-1). */
int mqttw_subscribe(struct mqttw_buf *b, uint16_t mid, const char *filter, uint8_t options,
		const struct mqttw_prop *props, size_t nprops);
int mqttw_unsubscribe(struct mqttw_buf *b, uint16_t mid, const char *filter);
int mqttw_puback(struct mqttw_buf *b, uint16_t mid, uint8_t reason);
int mqttw_pingreq(struct mqttw_buf *b);
int mqttw_disconnect(struct mqttw_buf *b, uint8_t reason);

/* Splits off the first packet of p[0..n): returns the bytes it takes (> 0),
 * 0 when more bytes are needed, -1 when the fixed header is malformed.
 * *need gets the packet's whole size as soon as its header is complete
 * (else 0), so a caller can size its buffer. */
ssize_t mqttw_frame(const uint8_t *p, size_t n, uint8_t *type, uint8_t *flags,
		const uint8_t **body, size_t *blen, size_t *need);

/* A packet's property block; iterate with mqttw_prop_next. */
struct mqttw_props {
	const uint8_t *p;
	size_t len;
};
/* 1 and *out filled, 0 at the end, -1 if malformed (then stop). */
int mqttw_prop_next(struct mqttw_props *it, struct mqttw_prop *out);
/* 0 if the block parses to its end, else -1. The readers below stop at a
 * malformed property as at the end: blocks a link hands on are checked. */
int mqttw_props_check(const struct mqttw_props *props);
/* The first number property (byte, two- or four-byte integer, variable
 * integer) with this id: true and *value, or false if there is none. */
bool mqttw_props_int(const struct mqttw_props *props, uint8_t id, uint32_t *value);
/* The value of the user property called name (the last one, if the name
 * comes more than once: a later pair overrides an earlier one), not
 * NUL-terminated: true, *value and *len; false if there is none. */
bool mqttw_props_user(const struct mqttw_props *props, const char *name, const uint8_t **value,
		size_t *len);
/* The next subscription identifier of the block it walks (start from a copy
 * of the block): true and *sid, false at the end. */
bool mqttw_props_next_sid(struct mqttw_props *it, uint32_t *sid);
/* A user property for mqttw_publish's list: name and value are borrowed C
 * strings. */
struct mqttw_prop mqttw_prop_user(const char *name, const char *value);

/* True if topic (a topic name: no wildcards) matches the subscription
 * filter; false for an empty or malformed filter or topic. A topic that
 * starts with '$' is not matched by a filter that starts with a wildcard. */
bool mqttw_topic_matches(const char *filter, const char *topic);

/* Body parsers: 0, or -1 if malformed. */
int mqttw_parse_connack(const uint8_t *body, size_t blen, bool *session_present,
		uint8_t *reason, struct mqttw_props *props);
struct mqttw_publish {
	const uint8_t *topic;
	size_t topic_len;
	int qos;
	bool retain, dup;
	uint16_t mid;      /* 0 for QoS 0 */
	struct mqttw_props props;
	const uint8_t *payload;
	size_t payload_len;
};
int mqttw_parse_publish(uint8_t flags, const uint8_t *body, size_t blen, struct mqttw_publish *out);
/* PUBACK, SUBACK, UNSUBACK: the id, then the reason codes (PUBACK: one, 0 if
 * the packet leaves it out; SUBACK/UNSUBACK: one per filter). */
int mqttw_parse_ack(uint8_t type, const uint8_t *body, size_t blen, uint16_t *mid,
		const uint8_t **reasons, size_t *nreasons);
int mqttw_parse_disconnect(const uint8_t *body, size_t blen, uint8_t *reason);

#endif
