/* metrics.c: the gateway's counters for /metrics (L1, HACKING.md): one
 * struct in the gw, bumped by every layer from the gateway thread alone, so
 * no locks. Dialects and reasons are named by strings that live as long as
 * the gateway (a dialect's name, a reason literal): the tables keep the
 * pointers. Rendered in the Prometheus text format by mapping/metrics_fmt.c;
 * the metric names are in docs/METRICS.md. */
#ifndef WSGW_METRICS_H
#define WSGW_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSGW_METRICS_DIALECTS 8          /* as many as the registry holds (WSGW_DIALECTS_MAX) */
#define WSGW_METRICS_REFUSALS 64         /* distinct (on, dialect, reason); more are counted as "other" */
#define WSGW_METRICS_HTTP 64             /* distinct (endpoint, status) */
#define WSGW_LATENCY_BOUNDS 14           /* buckets of the delivery latency, + Inf */

/* Per dialect. */
enum wsgw_metric {
	WSGW_M_CONNECTS,         /* WebSockets opened */
	WSGW_M_MSG_IN,           /* whole text messages received */
	WSGW_M_BYTES_IN,
	WSGW_M_MSG_OUT,          /* frames written to clients */
	WSGW_M_BYTES_OUT,
	WSGW_M_SLOW_CUTS,        /* clients cut as slow consumers */
	WSGW_M_RATE_LIMITED,     /* frames dropped by rate_limit */
	WSGW_M_LINKS_LOST,       /* clients' broker sessions lost under them */
	WSGW_M_COUNT
};

struct wsgw_metrics_dialect {
	const char *name;
	uint64_t n[WSGW_M_COUNT];
};

struct wsgw_metrics_refusal {
	const char *on;          /* "upgrade", "http" or "accept" */
	const char *dialect;     /* NULL: no dialect's path */
	const char *reason;
	uint64_t n;
};

struct wsgw_metrics_http {
	const char *endpoint;    /* a dialect's name, "health", "metrics", or NULL (no endpoint) */
	int status;
	uint64_t n;
};

struct wsgw_metrics {
	struct wsgw_metrics_dialect dialects[WSGW_METRICS_DIALECTS];
	size_t ndialects;
	struct wsgw_metrics_refusal refusals[WSGW_METRICS_REFUSALS];
	size_t nrefusals;
	struct wsgw_metrics_http http[WSGW_METRICS_HTTP];
	size_t nhttp;
	/* Broker-to-socket delivery: per-bucket counts (the last above every
	 * bound) and the sum, from a PUBLISH read from a broker link to its
	 * frame written to the client's socket. */
	uint64_t latency[WSGW_LATENCY_BOUNDS + 1];
	uint64_t latency_sum_us;
	/* When a broker link's last read returned (link.c), and, while a
	 * PUBLISH is handed to its owner, that read's time (else 0): the frames
	 * queued meanwhile carry it (session.c). */
	int64_t rx_us;
	int64_t msg_rx_us;
	uint64_t core_lost;      /* the gateway's own broker session lost after its CONNACK */
	uint64_t core_reconnects;   /* ... and up again */
	bool core_connected, core_was_connected;
};

/* What the gateway knows now, for the gauges of metrics_render. */
struct wsgw_metrics_now {
	const char *const *dialects;   /* the mounted dialects' names (rendered even when all zero) */
	const int *sessions;           /* their open WebSockets */
	size_t ndialects;
	bool ready;                    /* gw->ready */
	bool broker_up;                /* the core session is connected */
	int connect_queue;             /* broker sessions waiting to connect */
	int connects_in_flight;
	int client_connections;        /* accepted connections of every kind */
	uint64_t queue_bytes;          /* every client's send queue */
	double uptime_s;
};

/* Monotonic microseconds (the latency clock). */
int64_t metrics_now_us(void);
/* Adds n to counter which of the dialect named name (no-op when the table
 * is full). */
void metrics_add(struct wsgw_metrics *m, const char *dialect, enum wsgw_metric which, uint64_t n);
/* A whole message of len bytes received from a client. */
void metrics_rx(struct wsgw_metrics *m, const char *dialect, size_t len);
/* A frame of len bytes written to a client; rx_us: its PUBLISH's read time
 * (0: not a broker delivery, no latency sample). */
void metrics_tx(struct wsgw_metrics *m, const char *dialect, size_t len, int64_t rx_us);
void metrics_refused(struct wsgw_metrics *m, const char *on, const char *dialect, const char *reason);
/* A reply of status to an HTTP request on endpoint (see struct wsgw_metrics_http). */
void metrics_http(struct wsgw_metrics *m, const char *endpoint, int status);
/* The gateway's own broker session: up (its CONNACK), or ended (lost, or a
 * connect attempt that failed). */
void metrics_core(struct wsgw_metrics *m, bool up);
/* The whole exposition text (mapping/metrics_fmt.h, MFMT_CONTENT_TYPE), which
 * the caller frees; NULL when out of memory. */
char *metrics_render(const struct wsgw_metrics *m, const struct wsgw_metrics_now *now);

#endif
