/* wsbench report RESULTS.tsv: the side-by-side table (markdown) of the
 * gateway, native Mosquitto, nchan with one worker and nchan with a worker per
 * core, the gateway/nchan and gateway/native ratios, and the targets of
 * docs/PERFORMANCE.md (checked against native). */
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
	{s, "rate_tool_cpu_pct", "  wsbench CPU %", NONE, 0, ""}, \
	{s, "rate_lost", "  messages lost", NONE, 0, ""}, \
	TOOL(s)

/* The load tool's own CPU (all its threads, the whole run), to tell whether a
 * figure is the tool's. */
#define TOOL(s) \
	{s, "tool_threads", "wsbench threads", NONE, 0, ""}, \
	{s, "tool_cpu_user_s", "  wsbench user CPU (s), whole run", NONE, 0, ""}, \
	{s, "tool_cpu_sys_s", "  wsbench system CPU (s), whole run", NONE, 0, ""}

static const struct line lines[] = {
	LOAD("fanout", RATIO_MIN, ">= 1.0x"),
	LOAD("fanout_web", RATIO_MIN, ">= 1.0x"),
	LOAD("channels", NONE, ""),
	LOAD("device", NONE, ""),
	LOAD("op_fanout", RATIO_MIN, ">= 1.0x"),
	LOAD("op_channels", NONE, ""),
	LOAD("tg_fanout", RATIO_MIN, ">= 1.0x"),
	LOAD("tg_channels", NONE, ""),
	LOAD("comet_room", RATIO_MIN, ">= 1.0x"),
	LOAD("comet_uids", NONE, ""),
	LOAD("content", NONE, ""),
	{"content", "bad_payloads", "changes without a patch (the client would fetch again)", NONE, 0, ""},
	{"idle", "subscribers", "idle sessions connected", NONE, 0, ""},
	{"idle", "connect_s", "time to connect them (s)", NONE, 0, ""},
	{"idle", "connect_rate", "sessions connected per second", GW_MIN, 1000, ">= 1,000/s (10,000 in 10 s)"},
	{"idle", "connect_p50_us", "  p50 handshake-to-ready (us)", NONE, 0, ""},
	{"idle", "connect_p99_us", "  p99 handshake-to-ready (us)", NONE, 0, ""},
	{"idle", "rss_per_session_kb", "broker RSS per idle session (KB)", GW_MAX, 16, "<= 16 KB"},
	{"idle", "fds_per_session", "broker descriptors per session", NONE, 0, ""},
	{"idle", "cpu_rest_pct", "broker CPU % at rest", NONE, 0, ""},
	{"idle", "settle_s", "presence settle after connecting (s)", NONE, 0, ""},
	{"idle", "tool_cpu_rest_pct", "wsbench CPU % at rest", NONE, 0, ""},
	TOOL("idle"),
	{"idle_full", "subscribers", "idle sessions connected", NONE, 0, ""},
	{"idle_full", "connect_rate", "sessions connected per second", NONE, 0, ""},
	{"idle_full", "rss_per_session_kb", "broker RSS per idle session (KB)", NONE, 0, ""},
	{"idle_full", "cpu_rest_pct", "broker CPU % at rest", NONE, 0, ""},
	{"burst", "subscribers", "sessions up, of 1,000 opened 500 at a time", NONE, 0, ""},
	{"burst", "failed", "sessions refused or failed", NONE, 0, ""},
	{"burst", "connect_rate", "sessions connected per second", NONE, 0, ""},
	TOOL("burst"),
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
	static const char *const sys[] = { "gw", "native", "nchan", "nchan_all" };
	printf("| scenario | metric | gateway | native | nchan | nchan, a worker per core | gateway/nchan | gateway/native | target | met |\n");
	printf("|---|---|---:|---:|---:|---:|---:|---:|---|---|\n");
	for(size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++){
		const struct line *l = &lines[i];
		double v[4];
		bool h[4], any = false;
		char vs[4][32], rn[32] = "-", rs[32] = "-";
		for(int k = 0; k < 4; k++){
			v[k] = NAN;
			h[k] = lookup(l->scenario, sys[k], l->metric, &v[k]);
			any |= h[k];
			snprintf(vs[k], sizeof(vs[k]), "-");
			if(h[k]) fmt(vs[k], sizeof(vs[k]), v[k]);
		}
		if(!any) continue;
		double g = v[0], n = v[1];
		bool hg = h[0];
		double ratio = hg && h[1] && n != 0 ? g / n : NAN;
		double rnchan = hg && h[2] && v[2] != 0 ? g / v[2] : NAN;
		if(!isnan(ratio)) snprintf(rs, sizeof(rs), "%.2fx", ratio);
		if(!isnan(rnchan)) snprintf(rn, sizeof(rn), "%.2fx", rnchan);
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
		printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", l->scenario, l->label, vs[0], vs[1], vs[2], vs[3],
				rn, rs, l->target, ok);
	}
	printf("\ntargets met: %d, not met: %d\n", met, missed);
	return 0;
}
