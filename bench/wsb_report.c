/* wsbench report RESULTS.tsv: the side-by-side table (markdown) with the
 * gateway/native ratios and the targets of docs/PERFORMANCE.md. */
#include "wsb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct row {
	char scenario[32], system[16], metric[48];
	double v;
};

static struct row *rows;
static size_t nrows;

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* A results file may hold repeated runs (REPEAT=n): the median. */
static bool lookup(const char *scenario, const char *system, const char *metric, double *v)
{
	double vals[64];
	size_t n = 0;
	for(size_t i = 0; i < nrows && n < 64; i++){
		if(!strcmp(rows[i].scenario, scenario) && !strcmp(rows[i].system, system) && !strcmp(rows[i].metric, metric)){
			vals[n++] = rows[i].v;
		}
	}
	if(!n) return false;
	qsort(vals, n, sizeof(vals[0]), cmp_double);
	*v = n % 2 ? vals[n / 2] : (vals[n / 2 - 1] + vals[n / 2]) / 2;
	return true;
}

enum check { NONE, RATIO_MIN, RATIO_MAX, GW_MAX, GW_MIN };

struct line {
	const char *scenario, *metric, *label;
	enum check check;
	double bound;
	const char *target;
};

#define LOAD(s, sat_check, sat_target) \
	{s, "subscribers", "subscribers", NONE, 0, ""}, \
	{s, "connect_rate", "subscribers connected per second", NONE, 0, ""}, \
	{s, "connect_p99_us", "  p99 handshake-to-ready (us)", NONE, 0, ""}, \
	{s, "settle_s", "presence settle after connecting (s)", NONE, 0, ""}, \
	{s, "sat_delivered", "delivered msg/s, saturated (best window)", sat_check, 1.0, sat_target}, \
	{s, "sat_window", "  window that gave it (msgs in flight per channel)", NONE, 0, ""}, \
	{s, "sat_broker_cpu_pct", "  broker CPU % there", NONE, 0, ""}, \
	{s, "sat_tool_cpu_pct", "  wsbench CPU % there", NONE, 0, ""}, \
	{s, "sat_per_broker_cpu_s", "  deliveries per broker CPU-second", NONE, 0, ""}, \
	{s, "rate_offered", "offered load (deliveries/s)", NONE, 0, ""}, \
	{s, "rate_delivered", "  delivered msg/s", NONE, 0, ""}, \
	{s, "rate_p50_us", "  p50 latency (us)", NONE, 0, ""}, \
	{s, "rate_p99_us", "  p99 latency (us)", RATIO_MAX, 2.0, "<= 2.0x"}, \
	{s, "rate_p999_us", "  p99.9 latency (us)", NONE, 0, ""}, \
	{s, "rate_broker_cpu_pct", "  broker CPU %", NONE, 0, ""}, \
	{s, "rate_lost", "  messages lost", NONE, 0, ""}

static const struct line lines[] = {
	LOAD("fanout", RATIO_MIN, ">= 1.0x"),
	LOAD("fanout_web", RATIO_MIN, ">= 1.0x"),
	LOAD("channels", NONE, ""),
	LOAD("device", NONE, ""),
	{"content", "subscribers", "watchers of one document", NONE, 0, ""},
	{"content", "connect_rate", "watchers up per second (login + get_content / CONNECT + SUBSCRIBE)", NONE, 0, ""},
	{"content", "connect_p99_us", "  p99 handshake-to-watching (us)", NONE, 0, ""},
	{"content", "rate_offered", "offered load (deliveries/s: updates/s x watchers)", NONE, 0, ""},
	{"content", "rate_delivered", "  delivered changes/s", NONE, 0, ""},
	{"content", "rate_p50_us", "  p50 device publish to client frame (us)", NONE, 0, ""},
	{"content", "rate_p99_us", "  p99 device publish to client frame (us)", NONE, 0, ""},
	{"content", "rate_p999_us", "  p99.9 (us)", NONE, 0, ""},
	{"content", "rate_broker_cpu_pct", "  broker CPU % (gateway included)", NONE, 0, ""},
	{"content", "rate_lost", "  changes lost", NONE, 0, ""},
	{"content", "bad_payloads", "  changes without a patch", NONE, 0, ""},
	{"idle", "subscribers", "idle sessions connected", NONE, 0, ""},
	{"idle", "connect_s", "time to connect them (s)", NONE, 0, ""},
	{"idle", "connect_rate", "sessions connected per second", GW_MIN, 1000, ">= 1,000/s (10,000 in 10 s)"},
	{"idle", "connect_p50_us", "  p50 handshake-to-ready (us)", NONE, 0, ""},
	{"idle", "connect_p99_us", "  p99 handshake-to-ready (us)", NONE, 0, ""},
	{"idle", "rss_per_session_kb", "broker RSS per idle session (KB)", GW_MAX, 16, "<= 16 KB"},
	{"idle", "fds_per_session", "broker descriptors per session", NONE, 0, ""},
	{"idle", "cpu_rest_pct", "broker CPU % at rest", NONE, 0, ""},
	{"idle", "settle_s", "presence settle after connecting (s)", NONE, 0, ""},
	{"idle_full", "subscribers", "idle sessions connected", NONE, 0, ""},
	{"idle_full", "connect_rate", "sessions connected per second", NONE, 0, ""},
	{"idle_full", "rss_per_session_kb", "broker RSS per idle session (KB)", NONE, 0, ""},
	{"idle_full", "cpu_rest_pct", "broker CPU % at rest", NONE, 0, ""},
	{"burst", "subscribers", "sessions up, of 1,000 opened 500 at a time", NONE, 0, ""},
	{"burst", "failed", "sessions refused or failed", NONE, 0, ""},
};

static void fmt(char *out, size_t n, double v)
{
	double a = fabs(v);
	if(a >= 100) snprintf(out, n, "%.0f", v);
	else if(a >= 10) snprintf(out, n, "%.1f", v);
	else snprintf(out, n, "%.2f", v);
}

int report_main(int argc, char **argv)
{
	if(argc < 2){
		fprintf(stderr, "usage: wsbench report RESULTS.tsv [MORE.tsv ...]\n");
		return 2;
	}
	char line[256];
	size_t cap = 0;
	for(int fi = 1; fi < argc; fi++){
		FILE *f = fopen(argv[fi], "r");
		if(!f){
			perror(argv[fi]);
			return 2;
		}
		while(fgets(line, sizeof(line), f)){
			struct row r;
			if(sscanf(line, "%31[^\t]\t%15[^\t]\t%47[^\t]\t%lf", r.scenario, r.system, r.metric, &r.v) != 4) continue;
			if(nrows == cap){
				cap = cap ? cap * 2 : 256;
				rows = realloc(rows, cap * sizeof(*rows));
				if(!rows) return 2;
			}
			rows[nrows++] = r;
		}
		fclose(f);
	}

	int met = 0, missed = 0;
	printf("| scenario | metric | gateway | native | gateway/native | target | met |\n");
	printf("|---|---|---:|---:|---:|---|---|\n");
	for(size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++){
		const struct line *l = &lines[i];
		double g = NAN, n = NAN;
		bool hg = lookup(l->scenario, "gw", l->metric, &g);
		bool hn = lookup(l->scenario, "native", l->metric, &n);
		if(!hg && !hn) continue;
		char gs[32] = "-", ns[32] = "-", rs[32] = "-";
		if(hg) fmt(gs, sizeof(gs), g);
		if(hn) fmt(ns, sizeof(ns), n);
		double ratio = hg && hn && n != 0 ? g / n : NAN;
		if(!isnan(ratio)) snprintf(rs, sizeof(rs), "%.2fx", ratio);
		const char *ok = "";
		switch(l->check){
		case RATIO_MIN: ok = isnan(ratio) ? "?" : ratio >= l->bound ? "yes" : "no"; break;
		case RATIO_MAX: ok = isnan(ratio) ? "?" : ratio <= l->bound ? "yes" : "no"; break;
		case GW_MAX: ok = !hg ? "?" : g <= l->bound ? "yes" : "no"; break;
		case GW_MIN: ok = !hg ? "?" : g >= l->bound ? "yes" : "no"; break;
		case NONE: break;
		}
		if(!strcmp(ok, "yes")) met++;
		else if(*ok) missed++;
		printf("| %s | %s | %s | %s | %s | %s | %s |\n", l->scenario, l->label, gs, ns, rs, l->target, ok);
	}
	printf("\ntargets met: %d, not met: %d\n", met, missed);
	return 0;
}
