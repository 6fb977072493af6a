/* The Prometheus text format: see metrics_fmt.h. */
#include "metrics_fmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mfmt_init(struct mfmt *b)
{
	memset(b, 0, sizeof(*b));
}

void mfmt_free(struct mfmt *b)
{
	free(b->text);
	mfmt_init(b);
}

char *mfmt_take(struct mfmt *b)
{
	char *text = b->text;

	if(b->failed){
		mfmt_free(b);
		return NULL;
	}
	if(!text) text = calloc(1, 1);
	mfmt_init(b);
	return text;
}

static bool reserve(struct mfmt *b, size_t more)
{
	size_t cap = b->cap ? b->cap : 4096;
	char *grown;

	if(b->failed) return false;
	if(b->len + more + 1 <= b->cap) return true;
	while(cap < b->len + more + 1) cap *= 2;
	grown = realloc(b->text, cap);
	if(!grown){
		b->failed = true;
		return false;
	}
	b->text = grown;
	b->cap = cap;
	return true;
}

static void put(struct mfmt *b, const char *s, size_t n)
{
	if(!reserve(b, n)) return;
	memcpy(b->text + b->len, s, n);
	b->len += n;
	b->text[b->len] = '\0';
}

static void put_str(struct mfmt *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_fmt(struct mfmt *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put_fmt(struct mfmt *b, const char *fmt, ...)
{
	char buf[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if(n >= 0) put(b, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Label values escape backslash, double quote and newline; HELP text
 * backslash and newline. */
static void escaped(struct mfmt *b, const char *s, bool quote)
{
	for(; *s; s++){
		if(*s == '\\') put_str(b, "\\\\");
		else if(*s == '\n') put_str(b, "\\n");
		else if(quote && *s == '"') put_str(b, "\\\"");
		else put(b, s, 1);
	}
}

void mfmt_family(struct mfmt *b, const char *name, const char *type, const char *help)
{
	put_str(b, "# HELP ");
	put_str(b, name);
	put_str(b, " ");
	escaped(b, help, false);
	put_str(b, "\n# TYPE ");
	put_str(b, name);
	put_str(b, " ");
	put_str(b, type);
	put_str(b, "\n");
}

/* name{a="x",b="y",le="bound"} -- le is NULL for none. */
static void head(struct mfmt *b, const char *name, const char *suffix, const struct mfmt_label *labels,
		size_t nlabels, const char *le)
{
	put_str(b, name);
	if(suffix) put_str(b, suffix);
	if(!nlabels && !le) return;
	put_str(b, "{");
	for(size_t i = 0; i < nlabels; i++){
		if(i) put_str(b, ",");
		put_str(b, labels[i].name);
		put_str(b, "=\"");
		escaped(b, labels[i].value ? labels[i].value : "", true);
		put_str(b, "\"");
	}
	if(le){
		if(nlabels) put_str(b, ",");
		put_str(b, "le=\"");
		put_str(b, le);
		put_str(b, "\"");
	}
	put_str(b, "}");
}

/* A whole number below 10^15 as itself; else the shortest of %.1g ..
 * %.17g that reads back as v. */
static void number(char *out, size_t len, double v)
{
	if(isnan(v)){
		snprintf(out, len, "NaN");
		return;
	}
	if(isinf(v)){
		snprintf(out, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	if(v == floor(v) && fabs(v) < 1e15){
		snprintf(out, len, "%.0f", v);   /* 10, not 1e+01 */
		return;
	}
	for(int prec = 1; prec <= 17; prec++){
		snprintf(out, len, "%.*g", prec, v);
		if(strtod(out, NULL) == v) return;
	}
}

void mfmt_sample(struct mfmt *b, const char *name, const struct mfmt_label *labels, size_t nlabels,
		double value)
{
	char v[40];

	number(v, sizeof(v), value);
	head(b, name, NULL, labels, nlabels, NULL);
	put_str(b, " ");
	put_str(b, v);
	put_str(b, "\n");
}

void mfmt_sample_u64(struct mfmt *b, const char *name, const struct mfmt_label *labels, size_t nlabels,
		uint64_t value)
{
	head(b, name, NULL, labels, nlabels, NULL);
	put_fmt(b, " %" PRIu64 "\n", value);
}

void mfmt_histogram(struct mfmt *b, const char *name, const struct mfmt_label *labels, size_t nlabels,
		const double *bounds, const uint64_t *counts, size_t nbounds, double sum)
{
	uint64_t total = 0;
	char le[40], v[40];

	for(size_t i = 0; i <= nbounds; i++){
		total += counts[i];
		if(i < nbounds) number(le, sizeof(le), bounds[i]);
		else snprintf(le, sizeof(le), "+Inf");
		head(b, name, "_bucket", labels, nlabels, le);
		put_fmt(b, " %" PRIu64 "\n", total);
	}
	number(v, sizeof(v), sum);
	head(b, name, "_sum", labels, nlabels, NULL);
	put_str(b, " ");
	put_str(b, v);
	put_str(b, "\n");
	head(b, name, "_count", labels, nlabels, NULL);
	put_fmt(b, " %" PRIu64 "\n", total);
}
