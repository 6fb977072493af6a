/* See wsframe.h. Everything here reads bytes a client chose: no read past
 * the length given, work linear in it, no allocation. */
#include "wsframe.h"

#include <stdint.h>
#include <string.h>

#include <openssl/sha.h>

size_t wsframe_header_len(size_t len)
{
	return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

size_t wsframe_header(unsigned char *out, unsigned opcode, size_t len)
{
	out[0] = (unsigned char)(0x80 | (opcode & 0x0f));   /* FIN */
	if(len < 126){
		out[1] = (unsigned char)len;
		return 2;
	}
	if(len <= 0xffff){
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for(int i = 0; i < 8; i++) out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

size_t wsframe_text_header(unsigned char *out, size_t len)
{
	return wsframe_header(out, WSFRAME_TEXT, len);
}

/* ---- client frames ---- */

static bool opcode_known(unsigned op)
{
	return op <= WSFRAME_BINARY || (op >= WSFRAME_CLOSE && op <= WSFRAME_PONG);
}

int wsframe_parse(const unsigned char *buf, size_t len, bool need_mask, struct wsframe_in *f)
{
	unsigned op, len7;
	size_t ext, need;
	uint64_t n;
	bool fin, masked;

	*f = (struct wsframe_in){ .hdr_len = 0 };
	if(len < 1) return 0;
	/* Each error is returned as soon as the bytes that show it are there:
	 * a client that sends a bad first byte and then nothing is not waited
	 * for. */
	fin = buf[0] & 0x80;
	op = buf[0] & 0x0f;
	if(buf[0] & 0x70) return -WSFRAME_CLOSE_PROTOCOL;   /* RSV1-3: no extension */
	if(!opcode_known(op)) return -WSFRAME_CLOSE_PROTOCOL;
	if(op >= WSFRAME_CLOSE && !fin) return -WSFRAME_CLOSE_PROTOCOL;
	if(len < 2) return 0;
	masked = buf[1] & 0x80;
	len7 = buf[1] & 0x7f;
	ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	need = 2 + ext + (masked ? 4 : 0);
	if(need_mask && !masked){
		/* the caller tells this one apart by hdr_len (wsframe.h) */
		f->fin = fin;
		f->opcode = op;
		f->hdr_len = need;
		return -WSFRAME_CLOSE_PROTOCOL;
	}
	if(ext == 8 && len > 2 && (buf[2] & 0x80)) return -WSFRAME_CLOSE_PROTOCOL;
	if(len < 2 + ext) return 0;
	/* A length in more bytes than it needs (5 in the 16-bit form) is taken
	 * as it is: RFC 6455 5.2 asks senders for the minimal form, and a
	 * receiver that tolerates the others loses nothing. A control frame is
	 * judged by the length it declares, in whichever form. */
	n = len7;
	if(ext){
		n = 0;
		for(size_t i = 0; i < ext; i++) n = n << 8 | buf[2 + i];
	}
	if(op >= WSFRAME_CLOSE && n > 125) return -WSFRAME_CLOSE_PROTOCOL;
	if(len < need) return 0;
	f->fin = fin;
	f->opcode = op;
	f->masked = masked;
	if(masked) memcpy(f->mask, buf + 2 + ext, 4);
	f->len = n;
	f->hdr_len = need;
	return (int)need;
}

void wsframe_unmask(unsigned char *p, size_t len, const unsigned char mask[4], uint64_t offset)
{
	unsigned char m8[8];
	uint64_t m, w;
	size_t i = 0;

	/* the mask rotated to start at this offset, twice: the same 8 bytes
	 * apply to every 8-byte block from p on */
	for(int k = 0; k < 8; k++) m8[k] = mask[(offset + (unsigned)k) & 3];
	memcpy(&m, m8, 8);
	for(; len - i >= 32; i += 32){
		for(size_t k = 0; k < 32; k += 8){
			memcpy(&w, p + i + k, 8);
			w ^= m;
			memcpy(p + i + k, &w, 8);
		}
	}
	for(; len - i >= 8; i += 8){
		memcpy(&w, p + i, 8);
		w ^= m;
		memcpy(p + i, &w, 8);
	}
	for(; i < len; i++) p[i] ^= m8[i & 7];
}

/* Codes a peer may send (RFC 6455 7.4.1 and 7.4.2, and the IANA registry's
 * 1012-1014); 1004-1006 and 1015 are reserved, and never on the wire. */
static bool close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
		|| (code >= 3000 && code <= 4999);
}

int wsframe_close_code(const unsigned char *payload, size_t len, unsigned *code)
{
	struct wsframe_utf8 u;

	*code = 0;
	if(len == 0) return 0;
	if(len == 1) return -1;
	*code = (unsigned)payload[0] << 8 | payload[1];
	if(!close_code_valid(*code)) return -1;
	wsframe_utf8_init(&u);
	if(!wsframe_utf8_feed(&u, payload + 2, len - 2) || !wsframe_utf8_done(&u)) return -1;
	return 0;
}

size_t wsframe_close(unsigned char *out, unsigned code, const char *reason)
{
	size_t n = 0;

	if(!code){
		out[0] = 0x80 | WSFRAME_CLOSE;
		out[1] = 0;
		return 2;
	}
	if(reason){
		/* 125 bytes of payload at most (a control frame): 123 after the
		 * code; a cut does not split a character, which the peer would
		 * take for bad UTF-8 (1007) */
		while(n < 124 && reason[n]) n++;
		if(n > 123){
			n = 123;
			while(n && ((unsigned char)reason[n] & 0xc0) == 0x80) n--;
		}
	}
	size_t h = wsframe_header(out, WSFRAME_CLOSE, 2 + n);
	out[h] = (unsigned char)(code >> 8);
	out[h + 1] = (unsigned char)code;
	if(n) memcpy(out + h + 2, reason, n);
	return h + 2 + n;
}

/* ---- UTF-8 ----
 * state: 0 between characters, 1 inside one, 2 failed (for good: a feed
 * after a failure fails too); need: the continuation bytes still to come;
 * [lo, hi]: the range of the next one (RFC 3629 4's table: the second byte
 * is what rules out overlongs, surrogates and what is above U+10FFFF). */
enum { U8_BETWEEN, U8_INSIDE, U8_FAILED };

void wsframe_utf8_init(struct wsframe_utf8 *u)
{
	u->state = U8_BETWEEN;
	u->need = 0;
	u->lo = 0x80;
	u->hi = 0xbf;
}

bool wsframe_utf8_feed(struct wsframe_utf8 *u, const unsigned char *p, size_t len)
{
	size_t i = 0;
	uint64_t w;

	if(u->state == U8_FAILED) return false;
	while(i < len){
		unsigned c;
		if(u->need){
			c = p[i++];
			if(c < u->lo || c > u->hi) goto fail;
			u->lo = 0x80;
			u->hi = 0xbf;
			if(!--u->need) u->state = U8_BETWEEN;
			continue;
		}
		/* between characters: ASCII runs 8 bytes at a time */
		while(len - i >= 8){
			memcpy(&w, p + i, 8);
			if(w & UINT64_C(0x8080808080808080)) break;
			i += 8;
		}
		if(i == len) break;
		c = p[i++];
		if(c < 0x80) continue;
		if(c >= 0xc2 && c <= 0xdf){
			u->need = 1;
		}else if(c >= 0xe0 && c <= 0xef){
			u->need = 2;
			if(c == 0xe0) u->lo = 0xa0;        /* overlong */
			else if(c == 0xed) u->hi = 0x9f;   /* U+D800-DFFF, surrogates */
		}else if(c >= 0xf0 && c <= 0xf4){
			u->need = 3;
			if(c == 0xf0) u->lo = 0x90;        /* overlong */
			else if(c == 0xf4) u->hi = 0x8f;   /* above U+10FFFF */
		}else{
			goto fail;   /* a continuation byte, C0, C1 (overlong), F5-FF */
		}
		u->state = U8_INSIDE;
	}
	return true;
fail:
	u->state = U8_FAILED;
	u->need = 0;
	u->lo = 0x80;
	u->hi = 0xbf;
	return false;
}

bool wsframe_utf8_done(const struct wsframe_utf8 *u)
{
	return u->state == U8_BETWEEN;
}

/* ---- handshake ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
		|| c == '+' || c == '/';
}

int wsframe_accept(const char *key, size_t key_len, char out[WSFRAME_ACCEPT_LEN + 1])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char buf[24 + sizeof(guid) - 1], md[SHA_DIGEST_LENGTH];
	char *o = out;

	/* 16 bytes are 22 characters and "==". The 4 bits the last of the 22
	 * carries past the 16 bytes are not checked to be 0 (RFC 4648 3.5 lets
	 * a decoder ignore them, and Node's ws does): the key is hashed as it
	 * is written, never decoded, and every encoder writes 0 there anyway. */
	out[0] = '\0';
	if(key_len != 24 || key[22] != '=' || key[23] != '=') return -1;
	for(size_t i = 0; i < 22; i++){
		if(!is_b64(key[i])) return -1;
	}
	memcpy(buf, key, 24);
	memcpy(buf + 24, guid, sizeof(guid) - 1);
	if(!SHA1(buf, sizeof(buf), md)) return -1;
	/* 20 bytes: six groups of 3, then 2 bytes and one '=' */
	for(size_t i = 0; i < SHA_DIGEST_LENGTH; i += 3){
		uint32_t v = (uint32_t)md[i] << 16;
		if(i + 1 < SHA_DIGEST_LENGTH) v |= (uint32_t)md[i + 1] << 8;
		if(i + 2 < SHA_DIGEST_LENGTH) v |= md[i + 2];
		*o++ = b64[v >> 18 & 63];
		*o++ = b64[v >> 12 & 63];
		*o++ = i + 1 < SHA_DIGEST_LENGTH ? b64[v >> 6 & 63] : '=';
		*o++ = i + 2 < SHA_DIGEST_LENGTH ? b64[v & 63] : '=';
	}
	*o = '\0';
	return 0;
}
