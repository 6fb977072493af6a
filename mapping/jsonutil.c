#include "jsonutil.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

bool jsonutil_topic_text_ok(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;
	for(size_t i = 0; i < len; i++){
		if(u[i] < 0x20 || u[i] == 0x7F) return false;
		if(u[i] == 0xC2 && i + 1 < len && u[i+1] >= 0x80 && u[i+1] <= 0x9F) return false;
	}
	return jsonutil_utf8_valid(s, len);
}

/* Cuts s back to whole UTF-8 characters (snprintf may have split one). */
static void utf8_trim(char *s)
{
	size_t n = strlen(s);
	while(n && !jsonutil_utf8_valid(s, n)) s[--n] = '\0';
}

json_t *jsonutil_parse(const void *buf, size_t len, size_t flags, char *err, size_t errlen)
{
	const unsigned char *b = buf;
	const unsigned char *nul = len ? memchr(b, 0, len) : NULL;
	json_error_t e;
	json_t *v;
	size_t i;

	if(nul){
		/* Where jansson would say: lines from 1, columns in characters from 1. */
		size_t line = 1, col = 1;
		for(i = 0; b + i < nul; i++){
			if(b[i] == '\n'){
				line++;
				col = 1;
			}else if((b[i] & 0xC0) != 0x80){
				col++;
			}
		}
		if(errlen) snprintf(err, errlen, "invalid JSON at line %zu column %zu: a raw NUL byte", line, col);
		return NULL;
	}
	for(i = 0; i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r'); i++){}
	if(i == len){
		if(errlen) snprintf(err, errlen, "invalid JSON: the text is empty");
		return NULL;
	}
	v = json_loadb(len ? buf : "", len, flags, &e);
	if(!v && errlen){
		snprintf(err, errlen, "invalid JSON at line %d column %d: %s", e.line, e.column, e.text);
		utf8_trim(err);
	}
	return v;
}

json_t *jsonutil_parse_msg(const void *buf, size_t len, size_t flags, const char **msg)
{
	static _Thread_local char text[JSONUTIL_ERR_SIZE];
	json_t *v = jsonutil_parse(buf, len, flags, text, sizeof(text));

	if(!v && msg) *msg = text;
	return v;
}

json_t *jsonutil_from_payload(const void *payload, size_t len)
{
	json_t *v;

	if(len == 0) return json_string("");
	v = jsonutil_parse(payload, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL, 0);
	if(v) return v;
	if(!jsonutil_utf8_valid(payload, len)) return NULL;
	return json_stringn(payload, len);
}

char *jsonutil_dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *jsonutil_dump_take(json_t *v)
{
	char *text = v ? jsonutil_dump(v) : NULL;
	json_decref(v);
	return text;
}

static const char b64url_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *jsonutil_b64url_encode(const void *buf, size_t len)
{
	const unsigned char *in = buf;
	char *out = malloc(len / 3 * 4 + 5), *w = out;
	size_t i;

	if(!out) return NULL;
	for(i = 0; i + 2 < len; i += 3){
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i+1] << 8 | in[i+2];
		*w++ = b64url_chars[v >> 18];
		*w++ = b64url_chars[(v >> 12) & 63];
		*w++ = b64url_chars[(v >> 6) & 63];
		*w++ = b64url_chars[v & 63];
	}
	if(len - i == 1){
		uint32_t v = (uint32_t)in[i] << 16;
		*w++ = b64url_chars[v >> 18];
		*w++ = b64url_chars[(v >> 12) & 63];
	}else if(len - i == 2){
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i+1] << 8;
		*w++ = b64url_chars[v >> 18];
		*w++ = b64url_chars[(v >> 12) & 63];
		*w++ = b64url_chars[(v >> 6) & 63];
	}
	*w = '\0';
	return out;
}

unsigned char *jsonutil_b64url_decode(const char *in, size_t len, size_t *outlen)
{
	unsigned char *out = malloc(len * 3 / 4 + 4);
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	if(!out) return NULL;
	/* Padding is tolerated, at the very end only. */
	if(len && in[len-1] == '=') len--;
	if(len && in[len-1] == '=') len--;
	for(size_t i = 0; i < len; i++){
		const char *p = in[i] ? strchr(b64url_chars, in[i]) : NULL;
		if(!p){
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (uint32_t)(p - b64url_chars);
		bits += 6;
		if(bits >= 8){
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}
