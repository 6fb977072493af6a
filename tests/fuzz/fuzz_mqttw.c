/* mapping/mqttw.c: what the broker sends the gateway's sessions. The input is
 * a byte stream: mqttw_frame splits it into packets the way link.c does (from
 * every short prefix too, for partial input), each packet goes to the body
 * parser of its type and its properties through the iterator and every
 * reader; the whole input also goes to each body parser directly. */
#include "fuzz.h"
#include "mqttw.h"

static void props(struct mqttw_props p)
{
	struct mqttw_props it = p;
	struct mqttw_prop pr;
	uint32_t v;
	const uint8_t *val;
	size_t len;
	int rc, checked = mqttw_props_check(&p);

	while((rc = mqttw_prop_next(&it, &pr)) == 1){
		FUZZ_CHECK(mqttw_prop_type(pr.id) >= 0);
		FUZZ_CHECK(it.p >= p.p && it.p + it.len == p.p + p.len);
		/* strings and binary data lie inside the block */
		if(pr.data_len) FUZZ_CHECK(pr.data >= p.p && pr.data + pr.data_len <= p.p + p.len);
		if(pr.name_len) FUZZ_CHECK(pr.name >= p.p && pr.name + pr.name_len <= p.p + p.len);
	}
	FUZZ_CHECK((rc == 0) == (checked == 0));
	mqttw_props_int(&p, MQTTW_PROP_MESSAGE_EXPIRY, &v);
	mqttw_props_int(&p, MQTTW_PROP_SUBSCRIPTION_ID, &v);
	mqttw_props_int(&p, MQTTW_PROP_RECEIVE_MAXIMUM, &v);
	mqttw_props_user(&p, "wsgw-sender", &val, &len);
	mqttw_props_user(&p, "", &val, &len);
	it = p;
	while(mqttw_props_next_sid(&it, &v)){
	}
}

static void body(uint8_t type, uint8_t flags, const uint8_t *b, size_t blen)
{
	bool sp;
	uint8_t reason;
	struct mqttw_props pr;
	struct mqttw_publish pub;
	uint16_t mid;
	const uint8_t *reasons;
	size_t n;
	/* in a block of its own: a read past the body is a read past the block */
	uint8_t *copy = (uint8_t *)fuzz_copy(b, blen);

	switch(type){
	case MQTTW_CONNACK:
		if(!mqttw_parse_connack(copy, blen, &sp, &reason, &pr)){
			FUZZ_CHECK(*mqttw_reason_string(reason));
			props(pr);
		}
		break;
	case MQTTW_PUBLISH:
		if(!mqttw_parse_publish(flags, copy, blen, &pub)){
			FUZZ_CHECK(pub.qos >= 0 && pub.qos <= 2);
			FUZZ_CHECK(pub.topic >= copy && pub.topic + pub.topic_len <= copy + blen);
			FUZZ_CHECK(pub.payload_len == 0 || (pub.payload >= copy && pub.payload + pub.payload_len <= copy + blen));
			props(pub.props);
		}
		break;
	case MQTTW_PUBACK: case MQTTW_SUBACK: case MQTTW_UNSUBACK:
		if(!mqttw_parse_ack(type, copy, blen, &mid, &reasons, &n)){
			/* a PUBACK without a reason code gives a static Success */
			if(type == MQTTW_PUBACK) FUZZ_CHECK(n == 1 && (blen == 2 ? *reasons == 0 : reasons == copy + 2));
			else FUZZ_CHECK(n > 0 && reasons >= copy && reasons + n == copy + blen);
		}
		break;
	case MQTTW_DISCONNECT:
		/* the broker's reason reaches clients as its name */
		if(!mqttw_parse_disconnect(copy, blen, &reason)) FUZZ_CHECK(*mqttw_reason_string(reason));
		break;
	default:
		break;
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t type = 0, flags = 0;
	const uint8_t *b;
	size_t blen, need, pos = 0;
	ssize_t k;
	uint8_t *stream = (uint8_t *)fuzz_copy(data, size);

	/* partial input: every prefix of the first packet's head */
	for(size_t n = 0; n <= size && n < 8; n++){
		k = mqttw_frame(stream, n, &type, &flags, &b, &blen, &need);
		FUZZ_CHECK(k <= (ssize_t)n);
	}
	/* the stream as link.c reads it */
	while(pos < size){
		k = mqttw_frame(stream + pos, size - pos, &type, &flags, &b, &blen, &need);
		if(k <= 0){
			/* more needed: need is the whole packet once its head is complete */
			if(k == 0 && need) FUZZ_CHECK(need > size - pos);
			break;
		}
		FUZZ_CHECK(need == (size_t)k && b + blen == stream + pos + (size_t)k);
		body(type, flags, b, blen);
		pos += (size_t)k;
	}
	free(stream);
	/* every body parser on the raw input: the first byte is the fixed header */
	if(size >= 1){
		static const uint8_t types[] = {MQTTW_CONNACK, MQTTW_PUBLISH, MQTTW_PUBACK,
			MQTTW_SUBACK, MQTTW_UNSUBACK, MQTTW_DISCONNECT};
		for(size_t i = 0; i < sizeof(types); i++) body(types[i], data[0] & 0x0F, data + 1, size - 1);
	}
	return 0;
}
