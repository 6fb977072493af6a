/* Unit tests for mapping/refusal.c: CONNACK reason codes to the outcome every
 * dialect reports. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "refusal.h"

static void check(int rc, bool denied, bool bad, const char *code, int close_code)
{
	struct refusal r;
	memset(&r, 0x55, sizeof(r));
	refusal_classify(rc, &r);
	assert_int_equal(r.denied, denied);
	assert_int_equal(r.bad_credentials, bad);
	assert_string_equal(r.code, code);
	assert_int_equal(r.close_code, close_code);
}

static void test_denied(void **state)
{
	(void)state;
	check(0x87, true, false, "FORBIDDEN", 1008);
	check(0x86, true, true, "FORBIDDEN", 1008);
}

static void test_unavailable(void **state)
{
	(void)state;
	check(0x80, false, false, "BROKER_UNAVAILABLE", 1011);   /* unspecified error */
	check(0x88, false, false, "BROKER_UNAVAILABLE", 1011);   /* server unavailable */
	check(0x89, false, false, "BROKER_UNAVAILABLE", 1011);   /* server busy */
	check(0x9F, false, false, "BROKER_UNAVAILABLE", 1011);   /* connection rate exceeded */
	check(REFUSAL_LOST, false, false, "BROKER_UNAVAILABLE", 1011);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_denied),
		cmocka_unit_test(test_unavailable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
