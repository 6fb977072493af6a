/* Latency histogram (log-linear, 1/64 relative resolution) and /proc readers. */
#include "wsb.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Values below 128 have their own bucket; above, 64 buckets per power of two. */
static int hist_index(uint64_t v)
{
	if(v < 128) return (int)v;
	int msb = 63 - __builtin_clzll(v);
	int shift = msb - 6;
	int i = (shift + 1) * 64 + (int)((v >> shift) & 63);
	return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t hist_value(int i)
{
	if(i < 128) return (uint64_t)i;
	int shift = i / 64 - 1;
	uint64_t lo = (uint64_t)(64 + i % 64) << shift;
	uint64_t hi = (uint64_t)(64 + i % 64 + 1) << shift;
	return lo + (hi - lo) / 2;   /* middle of the bucket */
}

void hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->count++;
	if(v > h->max) h->max = v;
}

uint64_t hist_pct(const struct hist *h, double pct)
{
	if(!h->count) return 0;
	uint64_t want = (uint64_t)((double)h->count * pct / 100.0 + 0.5);
	if(want < 1) want = 1;
	if(want > h->count) want = h->count;
	uint64_t seen = 0;
	for(int i = 0; i < HIST_BUCKETS; i++){
		seen += h->b[i];
		if(seen >= want){
			uint64_t v = hist_value(i);
			return v > h->max ? h->max : v;
		}
	}
	return h->max;
}

void hist_reset(struct hist *h)
{
	memset(h, 0, sizeof(*h));
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for(int i = 0; i < HIST_BUCKETS; i++) into->b[i] += from->b[i];
	into->count += from->count;
	if(from->max > into->max) into->max = from->max;
}

long proc_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	if(!f) return -1;
	while(fgets(line, sizeof(line), f)){
		if(!strncmp(line, "VmRSS:", 6)){
			kb = atol(line + 6);
			break;
		}
	}
	fclose(f);
	return kb;
}

double proc_cpu_s(pid_t pid)
{
	char path[64], line[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "r");
	if(!f) return -1;
	size_t n = fread(line, 1, sizeof(line) - 1, f);
	fclose(f);
	line[n] = '\0';
	/* The command may hold spaces: fields are counted after its ')'. */
	char *p = strrchr(line, ')');
	if(!p) return -1;
	unsigned long ut = 0, st = 0;
	/* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
	if(sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2) return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

int proc_fds(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if(!d) return -1;
	int n = 0;
	struct dirent *e;
	while((e = readdir(d))) if(e->d_name[0] != '.') n++;
	closedir(d);
	return n;
}

double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6
		+ (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
