/* The header of a WebSocket frame a server sends (RFC 6455 5.2): FIN, the
 * text opcode, no mask, the payload length in 7, 7+16 or 7+64 bits. Pure.
 * plugin/session.c writes several queued frames in one send with it. */
#ifndef WSGW_WSFRAME_H
#define WSGW_WSFRAME_H

#include <stddef.h>

#define WSFRAME_HEADER_MAX 10

/* The header's size for a payload of len bytes: 2, 4 or 10. */
size_t wsframe_header_len(size_t len);

/* Writes the header of a final, unmasked text frame of len payload bytes
 * to out (WSFRAME_HEADER_MAX bytes of room); returns its size. */
size_t wsframe_text_header(unsigned char *out, size_t len);

#endif
