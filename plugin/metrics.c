/* The gateway's counters and their rendering for /metrics: see metrics.h. */
#include "metrics.h"
#include "metrics_fmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Seconds: from half a millisecond (a message relayed within one turn of
 * the loop) to 10 s (a client whose socket is full). */
static const double latency_bounds[WSGW_LATENCY_BOUNDS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

int64_t metrics_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static bool same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static struct wsgw_metrics_dialect *dialect_of(struct wsgw_metrics *m, const char *name)
{
	for(size_t i = 0; i < m->ndialects; i++){
		if(same(m->dialects[i].name, name)) return &m->dialects[i];
	}
	if(!name || m->ndialects == WSGW_METRICS_DIALECTS) return NULL;
	m->dialects[m->ndialects].name = name;
	return &m->dialects[m->ndialects++];
}

void metrics_add(struct wsgw_metrics *m, const char *dialect, enum wsgw_metric which, uint64_t n)
{
	struct wsgw_metrics_dialect *d = dialect_of(m, dialect);
	if(d) d->n[which] += n;
}

void metrics_rx(struct wsgw_metrics *m, const char *dialect, size_t len)
{
	struct wsgw_metrics_dialect *d = dialect_of(m, dialect);
	if(!d) return;
	d->n[WSGW_M_MSG_IN]++;
	d->n[WSGW_M_BYTES_IN] += len;
}

void metrics_tx(struct wsgw_metrics *m, const char *dialect, size_t len, int64_t rx_us)
{
	struct wsgw_metrics_dialect *d = dialect_of(m, dialect);
	size_t i = 0;
	int64_t us;

	if(d){
		d->n[WSGW_M_MSG_OUT]++;
		d->n[WSGW_M_BYTES_OUT] += len;
	}
	if(!rx_us) return;
	us = metrics_now_us() - rx_us;
	if(us < 0) us = 0;
	while(i < WSGW_LATENCY_BOUNDS && (double)us > latency_bounds[i] * 1e6) i++;
	m->latency[i]++;
	m->latency_sum_us += (uint64_t)us;
}

void metrics_refused(struct wsgw_metrics *m, const char *on, const char *dialect, const char *reason)
{
	struct wsgw_metrics_refusal *r;

	for(size_t i = 0; i < m->nrefusals; i++){
		r = &m->refusals[i];
		if(same(r->on, on) && same(r->dialect, dialect) && same(r->reason, reason)){
			r->n++;
			return;
		}
	}
	/* The last entry takes whatever does not fit in the others. */
	if(m->nrefusals == WSGW_METRICS_REFUSALS - 1){
		on = "other";
		dialect = NULL;
		reason = "OTHER";
	}
	if(m->nrefusals == WSGW_METRICS_REFUSALS){
		m->refusals[WSGW_METRICS_REFUSALS - 1].n++;
		return;
	}
	r = &m->refusals[m->nrefusals++];
	r->on = on;
	r->dialect = dialect;
	r->reason = reason;
	r->n = 1;
}

void metrics_http(struct wsgw_metrics *m, const char *endpoint, int status)
{
	for(size_t i = 0; i < m->nhttp; i++){
		if(m->http[i].status == status && same(m->http[i].endpoint, endpoint)){
			m->http[i].n++;
			return;
		}
	}
	if(m->nhttp == WSGW_METRICS_HTTP) return;
	m->http[m->nhttp].endpoint = endpoint;
	m->http[m->nhttp].status = status;
	m->http[m->nhttp++].n = 1;
}

void metrics_core(struct wsgw_metrics *m, bool up)
{
	if(up){
		if(m->core_was_connected) m->core_reconnects++;
		m->core_was_connected = true;
	}else if(m->core_connected){
		m->core_lost++;
	}
	m->core_connected = up;
}

/* ---- rendering ---- */

static const struct {
	const char *name, *help;
} per_dialect[WSGW_M_COUNT] = {
	[WSGW_M_CONNECTS] = {"wsgw_connects_total", "WebSocket clients accepted (upgrade done)"},
	[WSGW_M_MSG_IN] = {"wsgw_messages_in_total", "whole text messages received from WebSocket clients"},
	[WSGW_M_BYTES_IN] = {"wsgw_bytes_in_total", "bytes of those messages"},
	[WSGW_M_MSG_OUT] = {"wsgw_messages_out_total", "frames written to WebSocket clients"},
	[WSGW_M_BYTES_OUT] = {"wsgw_bytes_out_total", "bytes of those frames"},
	[WSGW_M_SLOW_CUTS] = {"wsgw_slow_consumer_cuts_total",
		"clients disconnected as slow consumers (max_queue_bytes, max_total_queue_bytes)"},
	[WSGW_M_RATE_LIMITED] = {"wsgw_rate_limited_total", "client frames dropped by rate_limit"},
	[WSGW_M_LINKS_LOST] = {"wsgw_client_broker_lost_total",
		"clients' broker sessions lost while their WebSocket was open"},
};

static uint64_t dialect_count(const struct wsgw_metrics *m, const char *name, enum wsgw_metric which)
{
	for(size_t i = 0; i < m->ndialects; i++){
		if(same(m->dialects[i].name, name)) return m->dialects[i].n[which];
	}
	return 0;
}

static void gauge(struct mfmt *b, const char *name, const char *help, double v)
{
	mfmt_family(b, name, "gauge", help);
	mfmt_sample(b, name, NULL, 0, v);
}

static void counter(struct mfmt *b, const char *name, const char *help, uint64_t v)
{
	mfmt_family(b, name, "counter", help);
	mfmt_sample_u64(b, name, NULL, 0, v);
}

char *metrics_render(const struct wsgw_metrics *m, const struct wsgw_metrics_now *now)
{
	struct mfmt b;
	char code[8];

	mfmt_init(&b);
	gauge(&b, "wsgw_ready", "1 while the gateway accepts clients (its broker session is up and subscribed)",
			now->ready);
	gauge(&b, "wsgw_broker_up", "1 while the gateway's own broker session is connected", now->broker_up);
	counter(&b, "wsgw_broker_lost_total", "losses of the gateway's own broker session", m->core_lost);
	counter(&b, "wsgw_broker_reconnects_total", "the gateway's own broker session up again after a loss",
			m->core_reconnects);
	gauge(&b, "wsgw_broker_connect_queue", "broker sessions waiting for a connect slot or a retry",
			now->connect_queue);
	gauge(&b, "wsgw_broker_connects_in_flight", "broker sessions connecting (CONNECT sent, no CONNACK yet)",
			now->connects_in_flight);
	gauge(&b, "wsgw_client_connections", "accepted client connections: WebSockets, HTTP, handshakes",
			now->client_connections);
	gauge(&b, "wsgw_send_queue_bytes", "bytes queued for every WebSocket client together (max_total_queue_bytes)",
			(double)now->queue_bytes);
	gauge(&b, "wsgw_uptime_seconds", "seconds since the gateway started", now->uptime_s);

	mfmt_family(&b, "wsgw_sessions", "gauge", "open WebSocket clients");
	for(size_t i = 0; i < now->ndialects; i++){
		struct mfmt_label l = {"dialect", now->dialects[i]};
		mfmt_sample(&b, "wsgw_sessions", &l, 1, now->sessions[i]);
	}
	for(int w = 0; w < WSGW_M_COUNT; w++){
		mfmt_family(&b, per_dialect[w].name, "counter", per_dialect[w].help);
		for(size_t i = 0; i < now->ndialects; i++){
			struct mfmt_label l = {"dialect", now->dialects[i]};
			mfmt_sample_u64(&b, per_dialect[w].name, &l, 1, dialect_count(m, now->dialects[i], (enum wsgw_metric)w));
		}
	}
	mfmt_family(&b, "wsgw_refused_total", "counter",
			"refusals: WebSocket upgrades, HTTP requests, and sockets refused as they were accepted (on), "
			"by dialect and reason");
	for(size_t i = 0; i < m->nrefusals; i++){
		const struct wsgw_metrics_refusal *r = &m->refusals[i];
		struct mfmt_label l[3] = {{"on", r->on}, {"dialect", r->dialect ? r->dialect : "none"},
			{"reason", r->reason}};
		mfmt_sample_u64(&b, "wsgw_refused_total", l, 3, r->n);
	}
	mfmt_family(&b, "wsgw_http_requests_total", "counter", "HTTP replies by endpoint and status code");
	for(size_t i = 0; i < m->nhttp; i++){
		struct mfmt_label l[2] = {{"endpoint", m->http[i].endpoint ? m->http[i].endpoint : "none"},
			{"code", code}};
		snprintf(code, sizeof(code), "%d", m->http[i].status);
		mfmt_sample_u64(&b, "wsgw_http_requests_total", l, 2, m->http[i].n);
	}
	mfmt_family(&b, "wsgw_delivery_latency_seconds", "histogram",
			"broker to socket: from a PUBLISH read from a broker session to its frame written to the client");
	mfmt_histogram(&b, "wsgw_delivery_latency_seconds", NULL, 0, latency_bounds, m->latency,
			WSGW_LATENCY_BOUNDS, (double)m->latency_sum_us / 1e6);
	return mfmt_take(&b);
}
