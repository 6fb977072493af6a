/* WebSocket frames (RFC 6455 5), pure: the headers of the frames a server
 * sends (FIN, no mask, the payload length in 7, 7+16 or 7+64 bits), the
 * parsing of the frames a client sends (which must be masked), UTF-8
 * validation of text messages across frames, and the handshake's accept
 * key. plugin/front.c speaks WebSocket with it; plugin/session.c frames
 * several queued messages in one send with it. */
#ifndef WSGW_WSFRAME_H
#define WSGW_WSFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSFRAME_HEADER_MAX 10     /* a server frame's header (no mask) */
#define WSFRAME_CLIENT_HEADER_MAX 14

enum {
	WSFRAME_CONT = 0x0,
	WSFRAME_TEXT = 0x1,
	WSFRAME_BINARY = 0x2,
	WSFRAME_CLOSE = 0x8,
	WSFRAME_PING = 0x9,
	WSFRAME_PONG = 0xa,
};

/* Close codes the front sends (RFC 6455 7.4.1). */
#define WSFRAME_CLOSE_NORMAL 1000
#define WSFRAME_CLOSE_PROTOCOL 1002
#define WSFRAME_CLOSE_INVALID_UTF8 1007
#define WSFRAME_CLOSE_TOO_BIG 1009

/* The header's size for a payload of len bytes: 2, 4 or 10. */
size_t wsframe_header_len(size_t len);

/* Writes the header of a final, unmasked text frame of len payload bytes
 * to out (WSFRAME_HEADER_MAX bytes of room); returns its size. */
size_t wsframe_text_header(unsigned char *out, size_t len);

/* Writes the header of a final, unmasked frame of opcode (any of the
 * above) and len payload bytes; returns its size. */
size_t wsframe_header(unsigned char *out, unsigned opcode, size_t len);

/* A frame's header as a client sent it. */
struct wsframe_in {
	bool fin;
	unsigned opcode;
	bool masked;
	unsigned char mask[4];
	uint64_t len;            /* payload bytes */
	size_t hdr_len;          /* bytes of the header, mask included */
};

/* Parses the frame header at the start of buf (len bytes available).
 *   > 0  the header is complete: its length (f->hdr_len)
 *   0    more bytes are needed
 *   < 0  -WSFRAME_CLOSE_PROTOCOL: a reserved bit set (no extension is ever
 *        negotiated), an unknown opcode, a control frame that is not final
 *        or has more than 125 bytes, a 64-bit length with its top bit set,
 *        or, with need_mask, an unmasked frame (RFC 6455 5.1: a server
 *        must close the connection on one). Returned as soon as the bytes
 *        that show it are there (the first byte, or two, or three). On an
 *        unmasked frame f->hdr_len is the header's size and f->masked
 *        false (fin and opcode set too); on the others f->hdr_len is 0.
 * A length in more bytes than needed (RFC 6455 5.2 asks for the minimal
 * form) is accepted; a control frame's limit is on the length it declares. */
int wsframe_parse(const unsigned char *buf, size_t len, bool need_mask, struct wsframe_in *f);

/* Unmasks (or masks: the same XOR) len payload bytes in place. offset: how
 * many bytes of the same frame's payload came before p (a frame may be
 * unmasked in pieces as it arrives). */
void wsframe_unmask(unsigned char *p, size_t len, const unsigned char mask[4], uint64_t offset);

/* A close frame's payload (after unmasking): 0 and *code (0 when the
 * payload is empty: no status, RFC 6455 7.1.5); -1 for a payload of one
 * byte, a code a peer may not send (below 1000, 1004-1006, 1015, 1016-2999
 * except those RFC 6455 and its registry define, 5000 and above), or a
 * reason that is not UTF-8. */
int wsframe_close_code(const unsigned char *payload, size_t len, unsigned *code);

/* Writes a close frame (header and payload: the code, then up to 123 bytes
 * of reason, cut at a character boundary) to out (2 + 125 bytes of room);
 * returns its size. code 0: no payload. reason may be NULL (none). */
size_t wsframe_close(unsigned char *out, unsigned code, const char *reason);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), for a text message that arrives in frames. */
struct wsframe_utf8 {
	uint32_t state;          /* 0 between characters */
	uint32_t need;           /* internal: continuation bytes to come */
	uint32_t lo, hi;         /* internal: the next byte's allowed range */
};
void wsframe_utf8_init(struct wsframe_utf8 *u);
/* False as soon as the bytes cannot be UTF-8 (and on every feed after). */
bool wsframe_utf8_feed(struct wsframe_utf8 *u, const unsigned char *p, size_t len);
/* True if the bytes fed so far end at a character boundary. */
bool wsframe_utf8_done(const struct wsframe_utf8 *u);

/* The Sec-WebSocket-Accept of a Sec-WebSocket-Key (RFC 6455 4.2.2: base64
 * of the SHA-1 of the key and the GUID) into out, NUL-terminated: 0; -1 if
 * the key is not the base64 of 16 bytes (24 characters). */
#define WSFRAME_ACCEPT_LEN 28
int wsframe_accept(const char *key, size_t key_len, char out[WSFRAME_ACCEPT_LEN + 1]);

#endif
