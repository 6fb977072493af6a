/* See wsframe.h. */
#include "wsframe.h"

#include <stdint.h>

size_t wsframe_header_len(size_t len)
{
	return len < 126 ? 2 : len <= 0xffff ? 4 : 10;
}

size_t wsframe_text_header(unsigned char *out, size_t len)
{
	out[0] = 0x81;   /* FIN, text */
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
