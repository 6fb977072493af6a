/* util.c: clock, random numbers and files, for every layer (L1, HACKING.md).
 * Thread-safe: no state of their own beyond RAND_bytes'. */
#ifndef WSGW_UTIL_H
#define WSGW_UTIL_H

#include <stddef.h>
#include <stdint.h>

int64_t gw_now_ms(void);             /* monotonic */
int64_t gw_wall_ms(void);            /* since the epoch */
void gw_random(void *buf, size_t len);
uint32_t gw_random32(void *unused);
/* prefix + n characters of [A-Za-z0-9] (n <= 64), truncated to outlen. */
void gw_random_id(char *out, size_t outlen, const char *prefix, size_t n);
/* A whole file (< 1 MiB) as a new NUL-terminated buffer, or NULL. */
unsigned char *gw_read_file(const char *path, size_t *len);

#endif
