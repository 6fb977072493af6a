/* MQTT 5 wire format for the gateway's own broker sessions. Pure code. */
#include "mqttw.h"

#include <stdlib.h>
#include <string.h>

#define HDR_MAX 5   /* fixed header: type byte + up to 4 bytes of length */

const char *mqttw_reason_string(uint8_t rc)
{
	switch(rc){
	case 0x00: return "Success";
	case 0x01: return "Granted QoS 1";
	case 0x02: return "Granted QoS 2";
	case 0x04: return "Disconnect with Will Message";
	case 0x10: return "No matching subscribers";
	case 0x11: return "No subscription existed";
	case 0x18: return "Continue authentication";
	case 0x19: return "Re-authenticate";
	case 0x80: return "Unspecified error";
	case 0x81: return "Malformed Packet";
	case 0x82: return "Protocol Error";
	case 0x83: return "Implementation specific error";
	case 0x84: return "Unsupported Protocol Version";
	case 0x85: return "Client Identifier not valid";
	case 0x86: return "Bad User Name or Password";
	case 0x87: return "Not authorized";
	case 0x88: return "Server unavailable";
	case 0x89: return "Server busy";
	case 0x8A: return "Banned";
	case 0x8B: return "Server shutting down";
	case 0x8C: return "Bad authentication method";
	case 0x8D: return "Keep Alive timeout";
	case 0x8E: return "Session taken over";
	case 0x8F: return "Topic Filter invalid";
	case 0x90: return "Topic Name invalid";
	case 0x91: return "Packet Identifier in use";
	case 0x92: return "Packet Identifier not found";
	case 0x93: return "Receive Maximum exceeded";
	case 0x94: return "Topic Alias invalid";
	case 0x95: return "Packet too large";
	case 0x96: return "Message rate too high";
	case 0x97: return "Quota exceeded";
	case 0x98: return "Administrative action";
	case 0x99: return "Payload format invalid";
	case 0x9A: return "Retain not supported";
	case 0x9B: return "QoS not supported";
	case 0x9C: return "Use another server";
	case 0x9D: return "Server moved";
	case 0x9E: return "Shared Subscriptions not supported";
	case 0x9F: return "Connection rate exceeded";
	case 0xA0: return "Maximum connect time";
	case 0xA1: return "Subscription identifiers not supported";
	case 0xA2: return "Wildcard Subscriptions not supported";
	default: return "Unknown reason";
	}
}

int mqttw_prop_type(uint8_t id)
{
	switch(id){
	case 0x01: case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
		return MQTTW_P_BYTE;
	case 0x13: case 0x21: case 0x22: case 0x23:
		return MQTTW_P_INT16;
	case 0x02: case 0x11: case 0x18: case 0x27:
		return MQTTW_P_INT32;
	case 0x0B:
		return MQTTW_P_VARINT;
	case 0x09: case 0x16:
		return MQTTW_P_BINARY;
	case 0x03: case 0x08: case 0x12: case 0x15: case 0x1A: case 0x1C: case 0x1F:
		return MQTTW_P_STRING;
	case 0x26:
		return MQTTW_P_PAIR;
	default:
		return -1;
	}
}

void mqttw_buf_free(struct mqttw_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* ---- encoding ---- */

int mqttw_buf_reserve(struct mqttw_buf *b, size_t more)
{
	size_t cap;
	uint8_t *grown;

	if(more > SIZE_MAX / 2 - b->len) return -1;
	if(b->len + more <= b->cap) return 0;
	cap = b->cap ? b->cap : 256;
	while(cap < b->len + more) cap *= 2;
	grown = realloc(b->data, cap);
	if(!grown) return -1;
	b->data = grown;
	b->cap = cap;
	return 0;
}

static int reserve(struct mqttw_buf *b, size_t more)
{
	return mqttw_buf_reserve(b, more);
}

int mqttw_buf_append(struct mqttw_buf *b, const void *p, size_t n)
{
	if(mqttw_buf_reserve(b, n)) return -1;
	if(n) memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static size_t varint_len(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

/* The writers below assume reserve() made room. */
static void put8(struct mqttw_buf *b, uint8_t v)
{
	b->data[b->len++] = v;
}

static void put16(struct mqttw_buf *b, uint16_t v)
{
	b->data[b->len++] = (uint8_t)(v >> 8);
	b->data[b->len++] = (uint8_t)v;
}

static void put32(struct mqttw_buf *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b, (uint16_t)v);
}

static void put_varint(struct mqttw_buf *b, uint32_t v)
{
	do{
		uint8_t byte = v % 128;
		v /= 128;
		put8(b, v ? (uint8_t)(byte | 0x80) : byte);
	}while(v);
}

static void put_bytes(struct mqttw_buf *b, const void *p, size_t n)
{
	if(n) memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* A length-prefixed string or binary field; -1 if longer than 65,535. */
static int put_str(struct mqttw_buf *b, const void *p, size_t n)
{
	if(n > 65535 || reserve(b, 2 + n)) return -1;
	put16(b, (uint16_t)n);
	put_bytes(b, p, n);
	return 0;
}

static int put_cstr(struct mqttw_buf *b, const char *s)
{
	return put_str(b, s, strlen(s));
}

static int props_size(const struct mqttw_prop *props, size_t n, size_t *out)
{
	size_t total = 0;
	for(size_t i = 0; i < n; i++){
		const struct mqttw_prop *p = &props[i];
		switch(mqttw_prop_type(p->id)){
		case MQTTW_P_BYTE: total += 2; break;
		case MQTTW_P_INT16: total += 3; break;
		case MQTTW_P_INT32: total += 5; break;
		case MQTTW_P_VARINT:
			if(p->value > MQTTW_MAX_REMAINING) return -1;
			total += 1 + varint_len(p->value);
			break;
		case MQTTW_P_BINARY: case MQTTW_P_STRING:
			if(p->data_len > 65535) return -1;
			total += 3 + p->data_len;
			break;
		case MQTTW_P_PAIR:
			if(p->data_len > 65535 || p->name_len > 65535) return -1;
			total += 5 + p->name_len + p->data_len;
			break;
		default:
			return -1;
		}
	}
	if(total > MQTTW_MAX_REMAINING) return -1;
	*out = total;
	return 0;
}

static int put_props(struct mqttw_buf *b, const struct mqttw_prop *props, size_t n)
{
	size_t size;
	if(props_size(props, n, &size) || reserve(b, 4 + size)) return -1;
	put_varint(b, (uint32_t)size);
	for(size_t i = 0; i < n; i++){
		const struct mqttw_prop *p = &props[i];
		put8(b, p->id);
		switch(mqttw_prop_type(p->id)){
		case MQTTW_P_BYTE: put8(b, (uint8_t)p->value); break;
		case MQTTW_P_INT16: put16(b, (uint16_t)p->value); break;
		case MQTTW_P_INT32: put32(b, p->value); break;
		case MQTTW_P_VARINT: put_varint(b, p->value); break;
		case MQTTW_P_PAIR:
			put16(b, (uint16_t)p->name_len);
			put_bytes(b, p->name, p->name_len);
			put16(b, (uint16_t)p->data_len);
			put_bytes(b, p->data, p->data_len);
			break;
		default:   /* binary data and strings */
			put16(b, (uint16_t)p->data_len);
			put_bytes(b, p->data, p->data_len);
			break;
		}
	}
	return 0;
}

/* Packets are built as [5 bytes room][body], then the fixed header is
 * written just before the body and the packet moved down to close the gap. */
static int begin(struct mqttw_buf *b, size_t *start)
{
	*start = b->len;
	if(reserve(b, HDR_MAX + 16)) return -1;
	b->len += HDR_MAX;
	return 0;
}

static int finish(struct mqttw_buf *b, size_t start, uint8_t first_byte)
{
	size_t body = b->len - start - HDR_MAX, hl;
	uint8_t hdr[HDR_MAX];
	struct mqttw_buf h = { hdr, 0, sizeof(hdr) };

	if(body > MQTTW_MAX_REMAINING){
		b->len = start;
		return -1;
	}
	put8(&h, first_byte);
	put_varint(&h, (uint32_t)body);
	hl = h.len;
	memcpy(b->data + start, hdr, hl);
	memmove(b->data + start + hl, b->data + start + HDR_MAX, body);
	b->len = start + hl + body;
	return 0;
}

static int fail(struct mqttw_buf *b, size_t start)
{
	b->len = start;
	return -1;
}

int mqttw_connect(struct mqttw_buf *b, const struct mqttw_connect *c)
{
	size_t start;
	uint8_t flags = 0;
	struct mqttw_prop prop = { .id = 0x11, .value = c->session_expiry };

	if(begin(b, &start)) return -1;
	if(c->clean_start) flags |= 0x02;
	if(c->will_topic) flags |= 0x04 | 0x08 | 0x20;   /* will, QoS 1, retained */
	if(c->password) flags |= 0x40;
	if(c->username) flags |= 0x80;
	if(put_cstr(b, "MQTT") || reserve(b, 4)) return fail(b, start);
	put8(b, 5);
	put8(b, flags);
	put16(b, c->keepalive);
	if(put_props(b, &prop, c->session_expiry ? 1 : 0) || put_cstr(b, c->client_id ? c->client_id : "")){
		return fail(b, start);
	}
	if(c->will_topic){
		if(put_props(b, NULL, 0) || put_cstr(b, c->will_topic) || put_str(b, "", 0)) return fail(b, start);
	}
	if(c->username && put_cstr(b, c->username)) return fail(b, start);
	if(c->password && put_cstr(b, c->password)) return fail(b, start);
	return finish(b, start, MQTTW_CONNECT << 4);
}

int mqttw_publish(struct mqttw_buf *b, const char *topic, const void *payload, size_t len,
		int qos, bool retain, uint16_t mid, const struct mqttw_prop *props, size_t nprops)
{
	size_t start;
	uint8_t first = (uint8_t)(MQTTW_PUBLISH << 4 | (qos & 3) << 1 | (retain ? 1 : 0));

	if(qos < 0 || qos > 2 || (qos > 0 && mid == 0) || len > MQTTW_MAX_REMAINING) return -1;
	if(begin(b, &start) || put_cstr(b, topic)) return fail(b, start);
	if(qos > 0){
		if(reserve(b, 2)) return fail(b, start);
		put16(b, mid);
	}
	if(put_props(b, props, nprops) || reserve(b, len)) return fail(b, start);
	put_bytes(b, payload, len);
	return finish(b, start, first);
}

int mqttw_subscribe(struct mqttw_buf *b, uint16_t mid, const char *filter, uint8_t options,
		const struct mqttw_prop *props, size_t nprops)
{
	size_t start;
	if(mid == 0 || begin(b, &start)) return -1;
	if(reserve(b, 2)) return fail(b, start);
	put16(b, mid);
	if(put_props(b, props, nprops) || put_cstr(b, filter) || reserve(b, 1)) return fail(b, start);
	put8(b, options);
	return finish(b, start, MQTTW_SUBSCRIBE << 4 | 0x02);
}

int mqttw_unsubscribe(struct mqttw_buf *b, uint16_t mid, const char *filter)
{
	size_t start;
	if(mid == 0 || begin(b, &start)) return -1;
	if(reserve(b, 2)) return fail(b, start);
	put16(b, mid);
	if(put_props(b, NULL, 0) || put_cstr(b, filter)) return fail(b, start);
	return finish(b, start, MQTTW_UNSUBSCRIBE << 4 | 0x02);
}

int mqttw_puback(struct mqttw_buf *b, uint16_t mid, uint8_t reason)
{
	if(reserve(b, 5)) return -1;
	put8(b, MQTTW_PUBACK << 4);
	if(reason == 0){   /* 2.2: reason 0 and no properties may be left out */
		put8(b, 2);
		put16(b, mid);
	}else{
		put8(b, 3);
		put16(b, mid);
		put8(b, reason);
	}
	return 0;
}

int mqttw_pingreq(struct mqttw_buf *b)
{
	if(reserve(b, 2)) return -1;
	put8(b, MQTTW_PINGREQ << 4);
	put8(b, 0);
	return 0;
}

int mqttw_disconnect(struct mqttw_buf *b, uint8_t reason)
{
	if(reserve(b, 3)) return -1;
	put8(b, MQTTW_DISCONNECT << 4);
	put8(b, 1);
	put8(b, reason);
	return 0;
}

/* ---- parsing ---- */

/* Reads a variable byte integer at p[*pos..n): 1, 0 if incomplete, -1 if
 * longer than four bytes. */
static int get_varint(const uint8_t *p, size_t n, size_t *pos, uint32_t *out)
{
	uint32_t v = 0, mul = 1;
	for(int i = 0; i < 4; i++){
		if(*pos >= n) return 0;
		v += (uint32_t)(p[*pos] & 0x7F) * mul;
		mul *= 128;
		if(!(p[(*pos)++] & 0x80)){
			*out = v;
			return 1;
		}
	}
	return -1;
}

ssize_t mqttw_frame(const uint8_t *p, size_t n, uint8_t *type, uint8_t *flags,
		const uint8_t **body, size_t *blen, size_t *need)
{
	size_t pos = 1;
	uint32_t len = 0;
	int rc;

	*need = 0;
	if(n < 2) return 0;
	rc = get_varint(p, n, &pos, &len);
	if(rc <= 0) return rc;
	*need = pos + len;
	if(n < pos + len) return 0;
	*type = p[0] >> 4;
	*flags = p[0] & 0x0F;
	*body = p + pos;
	*blen = len;
	return (ssize_t)(pos + len);
}

struct cursor {
	const uint8_t *p;
	size_t n, pos;
};

static int cur_u8(struct cursor *c, uint8_t *v)
{
	if(c->pos + 1 > c->n) return -1;
	*v = c->p[c->pos++];
	return 0;
}

static int cur_u16(struct cursor *c, uint16_t *v)
{
	if(c->pos + 2 > c->n) return -1;
	*v = (uint16_t)(c->p[c->pos] << 8 | c->p[c->pos + 1]);
	c->pos += 2;
	return 0;
}

static int cur_u32(struct cursor *c, uint32_t *v)
{
	uint16_t hi, lo;
	if(cur_u16(c, &hi) || cur_u16(c, &lo)) return -1;
	*v = (uint32_t)hi << 16 | lo;
	return 0;
}

static int cur_str(struct cursor *c, const uint8_t **s, size_t *len)
{
	uint16_t l;
	if(cur_u16(c, &l) || c->pos + l > c->n) return -1;
	*s = c->p + c->pos;
	*len = l;
	c->pos += l;
	return 0;
}

static int cur_props(struct cursor *c, struct mqttw_props *props)
{
	uint32_t len;
	if(get_varint(c->p, c->n, &c->pos, &len) != 1 || c->pos + len > c->n) return -1;
	props->p = c->p + c->pos;
	props->len = len;
	c->pos += len;
	return 0;
}

int mqttw_prop_next(struct mqttw_props *it, struct mqttw_prop *out)
{
	struct cursor c = { it->p, it->len, 0 };
	uint8_t id, b8;
	uint16_t b16;

	if(it->len == 0) return 0;
	memset(out, 0, sizeof(*out));
	if(cur_u8(&c, &id)) return -1;
	out->id = id;
	switch(mqttw_prop_type(id)){
	case MQTTW_P_BYTE:
		if(cur_u8(&c, &b8)) return -1;
		out->value = b8;
		break;
	case MQTTW_P_INT16:
		if(cur_u16(&c, &b16)) return -1;
		out->value = b16;
		break;
	case MQTTW_P_INT32:
		if(cur_u32(&c, &out->value)) return -1;
		break;
	case MQTTW_P_VARINT:
		if(get_varint(c.p, c.n, &c.pos, &out->value) != 1) return -1;
		break;
	case MQTTW_P_BINARY: case MQTTW_P_STRING:
		if(cur_str(&c, &out->data, &out->data_len)) return -1;
		break;
	case MQTTW_P_PAIR:
		if(cur_str(&c, &out->name, &out->name_len) || cur_str(&c, &out->data, &out->data_len)) return -1;
		break;
	default:
		return -1;
	}
	it->p += c.pos;
	it->len -= c.pos;
	return 1;
}

int mqttw_props_check(const struct mqttw_props *props)
{
	struct mqttw_props it = *props;
	struct mqttw_prop p;
	int more;

	while((more = mqttw_prop_next(&it, &p)) == 1){}
	return more;
}

bool mqttw_props_int(const struct mqttw_props *props, uint8_t id, uint32_t *value)
{
	struct mqttw_props it = *props;
	struct mqttw_prop p;
	int t = mqttw_prop_type(id);

	if(t != MQTTW_P_BYTE && t != MQTTW_P_INT16 && t != MQTTW_P_INT32 && t != MQTTW_P_VARINT) return false;
	while(mqttw_prop_next(&it, &p) == 1){
		if(p.id == id){
			*value = p.value;
			return true;
		}
	}
	return false;
}

bool mqttw_props_user(const struct mqttw_props *props, const char *name, const uint8_t **value,
		size_t *len)
{
	struct mqttw_props it = *props;
	struct mqttw_prop p;
	size_t nlen = strlen(name);
	bool found = false;

	while(mqttw_prop_next(&it, &p) == 1){
		if(p.id != MQTTW_PROP_USER || p.name_len != nlen || memcmp(p.name, name, nlen)) continue;
		*value = p.data;
		*len = p.data_len;
		found = true;
	}
	return found;
}

bool mqttw_props_next_sid(struct mqttw_props *it, uint32_t *sid)
{
	struct mqttw_prop p;

	while(mqttw_prop_next(it, &p) == 1){
		if(p.id == MQTTW_PROP_SUBSCRIPTION_ID){
			*sid = p.value;
			return true;
		}
	}
	return false;
}

struct mqttw_prop mqttw_prop_user(const char *name, const char *value)
{
	struct mqttw_prop p = {
		.id = MQTTW_PROP_USER,
		.name = (const uint8_t *)name, .name_len = strlen(name),
		.data = (const uint8_t *)value, .data_len = strlen(value),
	};
	return p;
}

int mqttw_parse_connack(const uint8_t *body, size_t blen, bool *session_present,
		uint8_t *reason, struct mqttw_props *props)
{
	struct cursor c = { body, blen, 0 };
	uint8_t flags;

	props->p = NULL;
	props->len = 0;
	if(cur_u8(&c, &flags) || cur_u8(&c, reason) || (flags & 0xFE)) return -1;
	*session_present = flags & 1;
	if(c.pos < c.n && cur_props(&c, props)) return -1;
	return c.pos == c.n ? 0 : -1;
}

int mqttw_parse_publish(uint8_t flags, const uint8_t *body, size_t blen, struct mqttw_publish *out)
{
	struct cursor c = { body, blen, 0 };

	memset(out, 0, sizeof(*out));
	out->qos = (flags >> 1) & 3;
	out->retain = flags & 1;
	out->dup = (flags & 8) != 0;
	if(out->qos == 3 || cur_str(&c, &out->topic, &out->topic_len)) return -1;
	if(out->qos > 0 && (cur_u16(&c, &out->mid) || out->mid == 0)) return -1;
	if(cur_props(&c, &out->props)) return -1;
	out->payload = body + c.pos;
	out->payload_len = blen - c.pos;
	return 0;
}

int mqttw_parse_ack(uint8_t type, const uint8_t *body, size_t blen, uint16_t *mid,
		const uint8_t **reasons, size_t *nreasons)
{
	static const uint8_t success = 0;
	struct cursor c = { body, blen, 0 };
	struct mqttw_props props;

	if(cur_u16(&c, mid)) return -1;
	if(type == MQTTW_PUBACK){
		*reasons = &success;
		*nreasons = 1;
		if(c.pos == c.n) return 0;
		*reasons = body + c.pos;
		c.pos++;
		if(c.pos < c.n && cur_props(&c, &props)) return -1;
		return c.pos == c.n ? 0 : -1;
	}
	if(cur_props(&c, &props) || c.pos == c.n) return -1;
	*reasons = body + c.pos;
	*nreasons = c.n - c.pos;
	return 0;
}

int mqttw_parse_disconnect(const uint8_t *body, size_t blen, uint8_t *reason)
{
	*reason = blen ? body[0] : 0;
	return 0;
}

/* ---- topic filters ---- */

bool mqttw_topic_matches(const char *filter, const char *topic)
{
	if(!*filter || !*topic || strpbrk(topic, "+#")) return false;
	if(*topic == '$' && (*filter == '+' || *filter == '#')) return false;
	for(;;){
		size_t flen = strcspn(filter, "/"), tlen = strcspn(topic, "/");

		if(flen == 1 && *filter == '#') return !filter[1];   /* the rest, if it is the last level */
		if(!(flen == 1 && *filter == '+')){
			if(memchr(filter, '+', flen) || memchr(filter, '#', flen)) return false;
			if(flen != tlen || memcmp(filter, topic, flen)) return false;
		}
		if(!filter[flen]) return !topic[tlen];
		filter += flen + 1;
		if(!topic[tlen]) return !strcmp(filter, "#");   /* "a/#" matches "a" */
		topic += tlen + 1;
	}
}
