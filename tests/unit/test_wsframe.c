/* mapping/wsframe.c: the header of a server's text frame, at each boundary
 * of RFC 6455's three length forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "wsframe.h"

static void check(size_t len, const unsigned char *want, size_t want_len)
{
	unsigned char out[WSFRAME_HEADER_MAX + 1];
	memset(out, 0xee, sizeof(out));
	assert_int_equal(wsframe_text_header(out, len), want_len);
	assert_int_equal(wsframe_header_len(len), want_len);
	assert_memory_equal(out, want, want_len);
	assert_int_equal(out[want_len], 0xee);   /* nothing written past it */
}

static void test_lengths(void **state)
{
	(void)state;
	check(0, (const unsigned char[]){0x81, 0}, 2);
	check(125, (const unsigned char[]){0x81, 125}, 2);
	check(126, (const unsigned char[]){0x81, 126, 0, 126}, 4);
	check(0xffff, (const unsigned char[]){0x81, 126, 0xff, 0xff}, 4);
	check(0x10000, (const unsigned char[]){0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}, 10);
	check(0x12345678, (const unsigned char[]){0x81, 127, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78}, 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
