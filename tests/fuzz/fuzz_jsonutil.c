/* mapping/jsonutil.c: the one JSON entry point of every parser
 * (jsonutil_parse), MQTT payloads as JSON (jsonutil_from_payload), the UTF-8
 * and topic text checks, and base64url (what JWTs and session tokens are
 * made of). The whole input goes to each. */
#include "fuzz.h"
#include "jsonutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	char err[JSONUTIL_ERR_SIZE];
	json_t *v;
	unsigned char *raw;
	size_t rawlen;
	bool utf8 = jsonutil_utf8_valid(buf, size);

	if(jsonutil_topic_text_ok(buf, size)) FUZZ_CHECK(utf8 && !memchr(buf, 0, size));
	err[0] = '\0';
	v = jsonutil_parse(buf, size, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, err, sizeof(err));
	if(v){
		/* a parsed text has no raw NUL byte, and its dump parses again */
		char *text = jsonutil_dump(v);
		FUZZ_CHECK(!memchr(buf, 0, size));
		FUZZ_CHECK(text != NULL);
		json_t *again = jsonutil_parse(text, strlen(text), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL, 0);
		FUZZ_CHECK(again && json_equal(v, again));
		json_decref(again);
		free(text);
		json_decref(v);
	}else{
		FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof(err));
		FUZZ_CHECK(jsonutil_utf8_valid(err, strlen(err)));
	}
	/* a short error buffer: truncated to whole characters */
	v = jsonutil_parse(buf, size, 0, err, 7);
	if(!v) FUZZ_CHECK(strlen(err) < 7 && jsonutil_utf8_valid(err, strlen(err)));
	json_decref(v);
	v = jsonutil_from_payload(buf, size);
	FUZZ_CHECK((v != NULL) == utf8);
	json_decref(v);
	raw = jsonutil_b64url_decode(buf, size, &rawlen);
	if(raw){
		/* decode(encode(x)) == x; encode(decode(s)) == s for the canonical s */
		char *enc = jsonutil_b64url_encode(raw, rawlen);
		unsigned char *back;
		size_t blen;
		FUZZ_CHECK(enc != NULL);
		back = jsonutil_b64url_decode(enc, strlen(enc), &blen);
		FUZZ_CHECK(back && blen == rawlen && !memcmp(back, raw, rawlen));
		free(back);
		free(enc);
		free(raw);
	}
	raw = (unsigned char *)jsonutil_b64url_encode(buf, size);
	FUZZ_CHECK(raw != NULL);
	{
		unsigned char *back = jsonutil_b64url_decode((char *)raw, strlen((char *)raw), &rawlen);
		FUZZ_CHECK(back && rawlen == size && !memcmp(back, buf, size));
		free(back);
	}
	free(raw);
	free(buf);
	return 0;
}
