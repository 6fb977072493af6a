/* Clock, random numbers and whole files: the helpers every layer uses. */
#include "util.h"

#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t gw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_random(void *buf, size_t len)
{
	if(RAND_bytes(buf, (int)len) != 1){
		/* RAND_bytes does not fail on Linux once seeded; keep ids unique anyway. */
		static uint64_t counter;
		unsigned char *b = buf;
		uint64_t x = (uint64_t)gw_wall_ms() ^ (++counter * 0x9E3779B97F4A7C15ull);
		for(size_t i = 0; i < len; i++){ b[i] = (unsigned char)x; x = x * 6364136223846793005ull + 1; }
	}
}

void gw_random_id(char *out, size_t outlen, const char *prefix, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[64];
	size_t plen = strlen(prefix);

	if(n > sizeof(rnd)) n = sizeof(rnd);
	gw_random(rnd, n);
	snprintf(out, outlen, "%s", prefix);
	for(size_t i = 0; i < n && plen + i + 1 < outlen; i++){
		/* 256 % 62 != 0: the bias (< 1 in 62) does not matter for identifiers. */
		out[plen + i] = alphabet[rnd[i] % 62];
		out[plen + i + 1] = '\0';
	}
}

uint32_t gw_random32(void *unused)
{
	uint32_t r;
	(void)unused;
	gw_random(&r, sizeof(r));
	return r;
}

unsigned char *gw_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if(!f) return NULL;
	if(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1024 * 1024 && fseek(f, 0, SEEK_SET) == 0){
		buf = malloc((size_t)n + 1);
		if(buf && fread(buf, 1, (size_t)n, f) == (size_t)n){
			buf[n] = '\0';
			*len = (size_t)n;
		}else{
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}
