/* Helpers shared by the libFuzzer harnesses of tests/fuzz/ (README.md there).
 * Every harness defines LLVMFuzzerTestOneInput; a finding is whatever the
 * sanitizers or libFuzzer report (crash, leak, UB, timeout), plus the
 * FUZZ_CHECK invariants a harness states. */
#ifndef WSGW_FUZZ_H
#define WSGW_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: abort (a finding) when it fails. */
#define FUZZ_CHECK(cond) do{ \
	if(!(cond)){ \
		fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
}while(0)

/* data[0..n) as a new NUL-terminated string (it ends at the first NUL the
 * input holds, as a C string would). */
static inline char *fuzz_cstr(const uint8_t *data, size_t n)
{
	char *s = malloc(n + 1);
	if(!s) abort();
	if(n) memcpy(s, data, n);
	s[n] = '\0';
	return s;
}

/* data[0..n) in a heap block of exactly n bytes (ASan sees a read past it),
 * never NULL: the parsers take (buf, len) and must not read buf[len]. */
static inline char *fuzz_copy(const uint8_t *data, size_t n)
{
	char *s = malloc(n ? n : 1);
	if(!s) abort();
	if(n) memcpy(s, data, n);
	return s;
}

/* Cuts the next piece off *data at the first `sep` byte (the separator is
 * dropped; the last piece runs to the end). Returns false when nothing is left. */
static inline bool fuzz_split(const uint8_t **data, size_t *size, uint8_t sep,
		const uint8_t **piece, size_t *plen)
{
	const uint8_t *end;
	if(!*data) return false;
	end = memchr(*data, sep, *size);
	*piece = *data;
	if(!end){
		*plen = *size;
		*data = NULL;
		*size = 0;
		return true;
	}
	*plen = (size_t)(end - *data);
	*size -= *plen + 1;
	*data = end + 1;
	return true;
}

#endif
