#include "jsonutil.h"

#include <stdint.h>

bool jsonutil_utf8_valid(const void *buf, size_t len)
{
	const unsigned char *s = buf;
	size_t i = 0;

	while(i < len){
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;
		if(c < 0x80){ i++; continue; }
		if((c & 0xE0) == 0xC0){ n = 1; cp = c & 0x1Fu; }
		else if((c & 0xF0) == 0xE0){ n = 2; cp = c & 0x0Fu; }
		else if((c & 0xF8) == 0xF0){ n = 3; cp = c & 0x07u; }
		else return false;
		if(i + n >= len) return false;
		for(size_t k = 1; k <= n; k++){
			if((s[i+k] & 0xC0) != 0x80) return false;
			cp = (cp << 6) | (s[i+k] & 0x3Fu);
		}
		if((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
		if(cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
		i += n + 1;
	}
	return true;
}

json_t *jsonutil_from_payload(const void *payload, size_t len)
{
	json_t *v;

	if(len == 0) return json_string("");
	v = json_loadb(payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	if(v) return v;
	if(!jsonutil_utf8_valid(payload, len)) return NULL;
	return json_stringn(payload, len);
}

char *jsonutil_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}
