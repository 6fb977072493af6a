/* The Prometheus text exposition format, version 0.0.4: families, samples
 * and histograms written into a growing buffer. Pure: no clock, no gateway
 * state; plugin/metrics.c says what is rendered. */
#ifndef WSGW_METRICS_FMT_H
#define WSGW_METRICS_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MFMT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* The text so far (NUL-terminated while len > 0). A write that fails for
 * want of memory sets failed; every later write does nothing. */
struct mfmt {
	char *text;
	size_t len, cap;
	bool failed;
};

struct mfmt_label {
	const char *name;
	const char *value;        /* escaped as the format asks (\\, \", \n) */
};

void mfmt_init(struct mfmt *b);
/* The text, which the caller frees, or NULL if a write failed (then b is
 * freed). b is empty after it. */
char *mfmt_take(struct mfmt *b);
void mfmt_free(struct mfmt *b);

/* "# HELP name help" and "# TYPE name type": type is "counter", "gauge" or
 * "histogram"; a counter's name ends in _total. Once per family, before its
 * samples. */
void mfmt_family(struct mfmt *b, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. A whole number up to 2^64 - 1 is
 * written exactly (mfmt_sample_u64); a double as the shortest text that
 * reads back the same, +Inf, -Inf or NaN. */
void mfmt_sample(struct mfmt *b, const char *name, const struct mfmt_label *labels, size_t nlabels,
		double value);
void mfmt_sample_u64(struct mfmt *b, const char *name, const struct mfmt_label *labels, size_t nlabels,
		uint64_t value);
/* A histogram's samples: name_bucket{labels,le="bound"} (cumulative, then
 * le="+Inf"), name_sum and name_count. counts holds nbounds + 1 per-bucket
 * (not cumulative) counts, the last one above every bound; bounds ascend. */
void mfmt_histogram(struct mfmt *b, const char *name, const struct mfmt_label *labels, size_t nlabels,
		const double *bounds, const uint64_t *counts, size_t nbounds, double sum);

#endif
