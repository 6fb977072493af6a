/* Unit tests for mapping/metrics_fmt.c: the Prometheus text format 0.0.4
 * (escapes, numbers, histograms), checked as exact text. The integration
 * test test_web_metrics.py reads the gateway's /metrics with a real parser. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_fmt.h"

static char *render_one(void (*fill)(struct mfmt *b))
{
	struct mfmt b;
	mfmt_init(&b);
	fill(&b);
	return mfmt_take(&b);
}

static void fill_family(struct mfmt *b)
{
	mfmt_family(b, "x_total", "counter", "a \\ b\nc \"q\"");
	mfmt_sample_u64(b, "x_total", NULL, 0, 18446744073709551615ULL);
}

static void test_family_and_exact_integers(void **state)
{
	char *t = render_one(fill_family);
	(void)state;
	/* HELP escapes backslash and newline, not quotes; 2^64 - 1 exactly. */
	assert_string_equal(t, "# HELP x_total a \\\\ b\\nc \"q\"\n# TYPE x_total counter\n"
			"x_total 18446744073709551615\n");
	free(t);
}

static void fill_labels(struct mfmt *b)
{
	struct mfmt_label l[3] = {{"on", "upgrade"}, {"dialect", "a\"b\\c\nd"}, {"reason", NULL}};
	mfmt_sample_u64(b, "r_total", l, 3, 7);
}

static void test_label_values_escaped(void **state)
{
	char *t = render_one(fill_labels);
	(void)state;
	assert_string_equal(t, "r_total{on=\"upgrade\",dialect=\"a\\\"b\\\\c\\nd\",reason=\"\"} 7\n");
	free(t);
}

static void fill_numbers(struct mfmt *b)
{
	mfmt_sample(b, "a", NULL, 0, 0.1);
	mfmt_sample(b, "b", NULL, 0, 3);
	mfmt_sample(b, "c", NULL, 0, 1e21);
	mfmt_sample(b, "d", NULL, 0, INFINITY);
	mfmt_sample(b, "e", NULL, 0, -INFINITY);
	mfmt_sample(b, "f", NULL, 0, NAN);
	mfmt_sample(b, "g", NULL, 0, 1.0 / 3);
}

static void test_numbers_shortest_round_trip(void **state)
{
	char *t = render_one(fill_numbers);
	(void)state;
	assert_string_equal(t, "a 0.1\nb 3\nc 1e+21\nd +Inf\ne -Inf\nf NaN\ng 0.3333333333333333\n");
	free(t);
}

static void fill_histogram(struct mfmt *b)
{
	static const double bounds[] = {0.0005, 0.25, 10};
	static const uint64_t counts[] = {2, 0, 3, 1};
	struct mfmt_label l = {"dialect", "wsdo"};
	mfmt_family(b, "lat_seconds", "histogram", "h");
	mfmt_histogram(b, "lat_seconds", &l, 1, bounds, counts, 3, 12.5);
	mfmt_histogram(b, "bare", NULL, 0, bounds, counts, 0, 0);
}

static void test_histogram_cumulative(void **state)
{
	char *t = render_one(fill_histogram);
	(void)state;
	assert_string_equal(t,
			"# HELP lat_seconds h\n# TYPE lat_seconds histogram\n"
			"lat_seconds_bucket{dialect=\"wsdo\",le=\"0.0005\"} 2\n"
			"lat_seconds_bucket{dialect=\"wsdo\",le=\"0.25\"} 2\n"
			"lat_seconds_bucket{dialect=\"wsdo\",le=\"10\"} 5\n"
			"lat_seconds_bucket{dialect=\"wsdo\",le=\"+Inf\"} 6\n"
			"lat_seconds_sum{dialect=\"wsdo\"} 12.5\n"
			"lat_seconds_count{dialect=\"wsdo\"} 6\n"
			/* no bounds: the +Inf bucket alone, from counts[0] */
			"bare_bucket{le=\"+Inf\"} 2\nbare_sum 0\nbare_count 2\n");
	free(t);
}

static void fill_nothing(struct mfmt *b)
{
	(void)b;
}

static void fill_long(struct mfmt *b)
{
	char name[200];
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	for(int i = 0; i < 2000; i++) mfmt_sample_u64(b, name, NULL, 0, (uint64_t)i);
}

static void test_empty_and_growth(void **state)
{
	char *t = render_one(fill_nothing);
	(void)state;
	assert_non_null(t);
	assert_string_equal(t, "");
	free(t);
	t = render_one(fill_long);
	assert_non_null(t);
	/* 2000 lines of 199 + " " + digits + "\n" */
	assert_int_equal(strlen(t), 2000 * 201 + 10 * 1 + 90 * 2 + 900 * 3 + 1000 * 4);
	assert_true(strstr(t, " 1999\n") != NULL);
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_family_and_exact_integers),
		cmocka_unit_test(test_label_values_escaped),
		cmocka_unit_test(test_numbers_shortest_round_trip),
		cmocka_unit_test(test_histogram_cumulative),
		cmocka_unit_test(test_empty_and_growth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
