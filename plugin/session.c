/* One WebSocket client: message assembly, limits (frame size, rate, send
 * queue) and the close sequence. What the frames mean is the dialect's. */
#define LOG_TAG "session"
#include "wsgw.h"
#include "session_int.h"
#include "wsframe.h"

#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>

#define HDR_MAX 1024

/* The memory a queued frame of len bytes of text really takes: its header,
 * LWS_PRE and the text, in glibc malloc's 16-byte chunks with their 8-byte
 * header. (Counting the text alone undercounted small frames by a quarter
 * and more; with the kernel's autotuned send buffer on top, ~1.9 MB measured
 * whatever the option said, a stuck client held two to three times
 * max_queue_bytes.) */
static size_t frame_cost(size_t len)
{
	size_t n = sizeof(struct wsgw_frame) + LWS_PRE + len + 8;
	return (n + 15) & ~(size_t)15;
}

/* The part of max_queue_bytes the gateway's own queue may use: the rest is
 * the kernel's send buffer (session_sndbuf). */
static size_t queue_limit(const struct wsgw_config *cfg)
{
	return (size_t)cfg->max_queue_bytes / 2;
}

static void held_set(struct wsgw_session *s, size_t qbytes, size_t lws_held)
{
	struct wsgw_gw *gw = s->gw;
	gw->queued_bytes -= s->qbytes + s->lws_held;
	s->qbytes = qbytes;
	s->lws_held = lws_held;
	gw->queued_bytes += s->qbytes + s->lws_held;
}

static void queue_free(struct wsgw_session *s)
{
	struct wsgw_frame *f, *next;
	for(f = s->qhead; f; f = next){
		next = f->next;
		free(f);
	}
	s->qhead = s->qtail = NULL;
	s->qframes = 0;
	held_set(s, 0, s->lws_held);
}

/* The client does not keep up: drop what is queued (freeing it now), tell it
 * why in one last frame, and close. It gets a short while to read that, then
 * the connection goes whether it reads or not. */
static void slow_cut(struct wsgw_session *s, const char *why)
{
	int64_t now = gw_now_ms();

	LOG_N("closing a slow %s client (%s): %zu frames, %zu bytes queued, "
			"%zu bytes queued for all clients", s->dialect->name, why, s->qframes, s->qbytes + s->lws_held,
			s->gw->queued_bytes);
	queue_free(s);
	metrics_add(&s->gw->metrics, s->dialect->name, WSGW_M_SLOW_CUTS, 1);
	s->cutting = true;   /* the error frame below is not held to the limits */
	s->dialect->ws_error(s, "SLOW_CONSUMER", "the client did not read fast enough");
	session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "SLOW_CONSUMER");
	s->close_deadline_ms = now + 2000;
}

/* The open client holding the most queued bytes, or NULL. */
static struct wsgw_session *largest_queue(struct wsgw_gw *gw)
{
	struct wsgw_session *best = NULL;
	for(struct wsgw_session *x = gw->sessions; x; x = x->next){
		if(!x->closing && x->qbytes && (!best || x->qbytes + x->lws_held > best->qbytes + best->lws_held)) best = x;
	}
	return best;
}

struct wsgw_gw *session_gw(const struct wsgw_session *s)
{
	return s->gw;
}

void *session_priv(const struct wsgw_session *s)
{
	return s->priv;
}

void session_set_priv(struct wsgw_session *s, void *priv)
{
	s->priv = priv;
}

const char *session_peer(const struct wsgw_session *s)
{
	return s->peer;
}

struct wsgw_link *session_link(const struct wsgw_session *s)
{
	return s->link;
}

bool session_closing(const struct wsgw_session *s)
{
	return s->closing;
}

int64_t session_last_rx_ms(const struct wsgw_session *s)
{
	return s->last_rx_ms;
}

bool session_link_was_lost(const struct wsgw_session *s)
{
	return s->link_lost_ms != 0;
}

/* ---- writes before the loop sleeps ----
 *
 * A session that queued frames goes on the gateway's dirty list, and
 * session_flush writes every listed queue once the loop has handled what
 * woke it and before it waits again (transport_service), as Redis writes
 * its clients' replies before it sleeps: what one turn queued for a client
 * leaves in one send (write_batch), and a socket that takes it costs no
 * writable callback, which costs two epoll_ctl calls (POLLOUT on, then off)
 * and a turn of the loop per delivery. Only a socket that does not take
 * everything waits for lws's writable callback. */
static void dirty_add(struct wsgw_session *s)
{
	struct wsgw_gw *gw = s->gw;

	if(s->dirty) return;
	s->dirty = true;
	s->dprev = NULL;
	s->dnext = gw->dirty;
	if(gw->dirty) gw->dirty->dprev = s;
	gw->dirty = s;
}

static void dirty_remove(struct wsgw_session *s)
{
	if(!s->dirty) return;
	if(s->dprev) s->dprev->dnext = s->dnext;
	else s->gw->dirty = s->dnext;
	if(s->dnext) s->dnext->dprev = s->dprev;
	s->dprev = s->dnext = NULL;
	s->dirty = false;
}

static int write_queued(struct wsgw_session *s);

void session_flush(struct wsgw_gw *gw)
{
	struct wsgw_session *s;

	while((s = gw->dirty)){
		dirty_remove(s);
		if(front_partial(s->conn)){
			front_want_write(s->conn);   /* lws calls back once its copy is out */
			continue;
		}
		held_set(s, s->qbytes, 0);
		while(s->qhead && !s->ping_due && !front_partial(s->conn)){
			if(write_queued(s) < 0){
				front_kill(s->conn);
				break;
			}
		}
		if(s->qhead || s->ping_due || s->closing) front_want_write(s->conn);
	}
}

void session_send(struct wsgw_session *s, char *text)
{
	const struct wsgw_config *cfg = s->gw->cfg;
	struct wsgw_gw *gw = s->gw;
	struct wsgw_frame *f;
	size_t len, cost;

	if(!text) return;
	if(s->closing){
		free(text);
		return;
	}
	len = strlen(text);
	cost = frame_cost(len);
	if(!s->cutting && s->qbytes + s->lws_held + cost > queue_limit(cfg)){
		free(text);
		slow_cut(s, "max_queue_bytes");
		return;
	}
	/* Gateway-wide: the clients with the largest queues go first, until
	 * this frame fits under max_total_queue_bytes. */
	while(!s->cutting && gw->queued_bytes + cost > (size_t)cfg->max_total_queue_bytes){
		struct wsgw_session *v = largest_queue(gw);
		if(!v) break;   /* only closing clients hold the rest: it goes within seconds */
		slow_cut(v, "max_total_queue_bytes");
		if(v == s){
			free(text);
			return;
		}
	}
	f = malloc(sizeof(*f) + LWS_PRE + len);
	if(!f){
		free(text);
		return;
	}
	f->next = NULL;
	f->len = len;
	f->rx_us = gw->metrics.msg_rx_us;
	memcpy(f->buf + LWS_PRE, text, len);
	free(text);
	if(s->qtail) s->qtail->next = f;
	else s->qhead = f;
	s->qtail = f;
	s->qframes++;
	held_set(s, s->qbytes + cost, s->lws_held);
	dirty_add(s);
}

/* The kernel's share of max_queue_bytes: Linux doubles SO_SNDBUF for its own
 * bookkeeping, so asking for a quarter caps the send buffer at about half
 * (without this, autotuning lets it grow to tcp_wmem's maximum, 4 MB by
 * default, whatever max_queue_bytes says). */
static void session_sndbuf(struct wsgw_session *s)
{
	int fd = front_fd(s->conn);
	int want = (int)(s->gw->cfg->max_queue_bytes / 4);
	if(fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) != 0){
		LOG_D("SO_SNDBUF %d refused", want);
	}
}

void session_close(struct wsgw_session *s, int code, const char *reason)
{
	if(s->closing) return;
	s->closing = true;
	s->close_code = code;
	snprintf(s->close_reason, sizeof(s->close_reason), "%s", reason);
	front_want_write(s->conn);
	/* A client that never lets us write still goes, a little later
	 * (session_tick). */
	s->close_deadline_ms = gw_now_ms() + 5000;
}

void session_link_end(struct wsgw_session *s, bool send_will)
{
	link_close(s->link, send_will);
	s->link = NULL;
	free(s->link_box);
	s->link_box = NULL;
}

void session_refused_end(struct wsgw_session *s)
{
	if(!s->refused) return;
	link_close(s->refused->link, false);
	free(s->refused);
	s->refused = NULL;
}

void session_link_lost(struct wsgw_session *s, int rc)
{
	session_link_end(s, false);
	metrics_add(&s->gw->metrics, s->dialect->name, WSGW_M_LINKS_LOST, 1);
	s->link_lost_ms = gw_now_ms();
	s->link_lost_rc = rc;
}

void session_release(struct wsgw_session *s)
{
	if(s->opened && s->dialect->ws_close) s->dialect->ws_close(s);
	s->opened = false;
	free(s->priv);   /* the filter's route if ws_open never ran; NULL otherwise */
	s->priv = NULL;
	session_link_end(s, s->link_will);
	session_refused_end(s);
	if(s->gw->session_gone) s->gw->session_gone(s);
}

int64_t session_ping_period(const struct wsgw_config *cfg)
{
	double p = cfg->ws_ping_interval;
	if(p <= 0) return 0;
	/* A client that answers every ping is never idle. */
	if(cfg->idle_timeout > 0 && p > cfg->idle_timeout / 2) p = cfg->idle_timeout / 2;
	return (int64_t)(p * 1000) > 0 ? (int64_t)(p * 1000) : 1;
}

void session_ping_tick(struct wsgw_session *s, int64_t now)
{
	int64_t period = session_ping_period(s->gw->cfg);
	if(!period || !s->opened || s->closing || now < s->next_ping_ms) return;
	s->next_ping_ms = now + period;
	s->ping_due = true;
	front_want_write(s->conn);
}

void session_tick(struct wsgw_session *s, int64_t now)
{
	/* A closing client needs its broker session no longer: presence goes
	 * now, not when the socket finally does. (Not done inside session_close,
	 * which link callbacks may call.) */
	if(s->opened || s->link || s->refused) session_release(s);
	if(now >= s->close_deadline_ms && !s->killed){
		s->killed = true;
		front_kill(s->conn);
	}
}

/* Answers a refused upgrade with a status and a JSON body {"error":code}
 * (and "message", if any), then closes. retry_after: a Retry-After header. */
static void refuse_with(struct wsgw_conn *c, int status, const char *code, const char *message,
		const char *retry_after)
{
	char body[256], headers[128];
	int n = message ? snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}", code, message)
		: snprintf(body, sizeof(body), "{\"error\":\"%s\"}", code);

	http_count_upgrade_refusal(front_gw(c), c, code);
	if(n < 0 || (size_t)n >= sizeof(body)) n = 0;
	snprintf(headers, sizeof(headers), "content-type: application/json\r\n%s%s%s",
			retry_after ? "retry-after: " : "", retry_after ? retry_after : "", retry_after ? "\r\n" : "");
	front_respond(c, status, headers, body, (size_t)n, true);
}

static void session_refuse(struct wsgw_conn *c, int status, const char *code)
{
	refuse_with(c, status, code, NULL, NULL);
}

/* The upgrade is accepted: the dialect opens the session. */
static void established(struct wsgw_session *s)
{
	struct wsgw_gw *gw = s->gw;
	char *rt = s->priv;

	s->priv = NULL;
	s->opened = true;
	gw_client_addr(gw, s->conn, s->peer, sizeof(s->peer), &s->secure);
	LOG_I("%s client from %s over %s", s->dialect->name, s->peer, s->secure ? "wss" : "ws");
	s->last_rx_ms = s->tokens_ms = gw_now_ms();
	s->next_ping_ms = s->last_rx_ms + session_ping_period(gw->cfg);
	s->tokens = gw->cfg->rate_burst;
	metrics_add(&gw->metrics, s->dialect->name, WSGW_M_CONNECTS, 1);
	session_sndbuf(s);
	if(s->dialect->ws_open(s, rt)){
		s->dialect->ws_error(s, "BROKER_UNAVAILABLE", "cannot open a broker session");
		session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "BROKER_UNAVAILABLE");
	}
	free(rt);
}

void session_upgrade(struct wsgw_conn *c)
{
	struct wsgw_gw *gw = front_gw(c);
	struct wsgw_pss *pss = front_pss(c);
	const char *uri = front_path(c);
	const struct wsgw_mount *m;
	const char *sub = NULL;
	char *rt = NULL;
	struct wsgw_session *s;
	int status;

	if(gw->stopping){
		session_refuse(c, 503, "SHUTDOWN");
		return;
	}
	if(!gw->ready){
		/* the gateway's own broker session is not up yet (start, or the broker
		 * dropped it): a client that retries gets in */
		refuse_with(c, 503, "NOT_READY", "the gateway is not connected to the broker yet; retry shortly", "1");
		return;
	}
	if(!gw_origin_ok(gw, c)){
		session_refuse(c, 403, "ORIGIN_NOT_ALLOWED");
		return;
	}
	m = gw_route(gw, uri, &sub);
	if(!m){
		session_refuse(c, 404, "NOT_FOUND");
		return;
	}
	if(gw->nsessions >= gw->cfg->max_connections){
		session_refuse(c, 503, "TOO_MANY_CONNECTIONS");
		return;
	}
	status = m->dialect->ws_filter(gw, sub, &rt);
	if(status){
		free(rt);
		session_refuse(c, status, status == 404 ? "NOT_FOUND" : status == 400 ? "BAD_CHANNEL" : "REFUSED");
		return;
	}
	s = calloc(1, sizeof(*s));
	if(!s){
		free(rt);
		session_refuse(c, 503, "OUT_OF_MEMORY");
		return;
	}
	if(front_ws_accept(c)){   /* answered 400 or 426 */
		http_count_upgrade_refusal(gw, c, "BAD_HANDSHAKE");
		free(rt);
		free(s);
		return;
	}
	s->gw = gw;
	s->conn = c;
	s->dialect = m->dialect;
	s->priv = rt;   /* the route, until established hands it to ws_open */
	s->next = gw->sessions;
	if(gw->sessions) gw->sessions->prev = s;
	gw->sessions = s;
	gw->nsessions++;
	pss->kind = WSGW_PSS_SESSION;
	pss->u.session = s;
	established(s);
}

void session_free(struct wsgw_session *s)
{
	struct wsgw_gw *gw = s->gw;

	session_release(s);
	dirty_remove(s);
	queue_free(s);
	held_set(s, 0, 0);
	free(s->rx);
	if(s->prev) s->prev->next = s->next;
	else gw->sessions = s->next;
	if(s->next) s->next->prev = s->prev;
	gw->nsessions--;
	free(s);
}

/* Token bucket: true if the frame may be handled. */
static bool rate_ok(struct wsgw_session *s, int64_t now)
{
	const struct wsgw_config *cfg = s->gw->cfg;
	s->tokens += (double)(now - s->tokens_ms) * cfg->rate_limit / 1000.0;
	if(s->tokens > cfg->rate_burst) s->tokens = cfg->rate_burst;
	s->tokens_ms = now;
	if(s->tokens >= 1.0){
		s->tokens -= 1.0;
		return true;
	}
	metrics_add(&s->gw->metrics, s->dialect->name, WSGW_M_RATE_LIMITED, 1);
	if(now - s->last_rate_error_ms >= 1000){
		s->last_rate_error_ms = now;
		s->dialect->ws_error(s, "RATE_LIMITED", "too many frames; some were dropped");
	}
	return false;
}

static void receive(struct wsgw_session *s, const unsigned char *in, size_t len, bool first,
		bool final, bool binary)
{
	size_t max = (size_t)s->gw->cfg->max_frame_size;
	int64_t now = gw_now_ms();

	s->last_rx_ms = now;
	if(first){
		s->rxlen = 0;
		s->rx_discard = false;
		s->rx_binary = binary;
	}
	if(s->closing || s->rx_discard) return;
	if(s->rx_binary){
		if(final && rate_ok(s, now)){
			s->dialect->ws_error(s, "BINARY_UNSUPPORTED", "only text frames are understood");
		}
		s->rx_discard = !final;
		return;
	}
	if(s->rxlen + len > max){
		s->rx_discard = true;
		s->dialect->ws_error(s, "FRAME_TOO_LARGE", "message larger than max_frame_size");
		session_close(s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "FRAME_TOO_LARGE");
		return;
	}
	if(s->rxlen + len > s->rxcap){
		size_t cap = s->rxcap ? s->rxcap : 1024;
		char *grown;
		while(cap < s->rxlen + len) cap *= 2;
		if(cap > max) cap = max;
		grown = realloc(s->rx, cap);
		if(!grown){
			session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "OUT_OF_MEMORY");
			return;
		}
		s->rx = grown;
		s->rxcap = cap;
	}
	if(len) memcpy(s->rx + s->rxlen, in, len);
	s->rxlen += len;
	if(!final) return;
	metrics_rx(&s->gw->metrics, s->dialect->name, s->rxlen);
	/* No dialect state: its ws_open failed and the session is closing. */
	if(s->priv && rate_ok(s, now)) s->dialect->ws_text(s, s->rx, s->rxlen);
	s->rxlen = 0;
	/* Keep small buffers; give back what one large message took. */
	if(s->rxcap > 16384){
		free(s->rx);
		s->rx = NULL;
		s->rxcap = 0;
	}
}

/* Several queued frames in one send: a frame's header is all a server adds
 * (its frames are unmasked, and no extension is negotiated), so they are
 * framed here and written raw, up to WRITE_BATCH bytes a round. A client
 * that falls behind, or a burst (1,000 listeners joining one channel: a
 * JOINED frame each for every member), then costs a send per batch rather
 * than per frame. 1 if it wrote, 0 if fewer than two frames fit, -1 on a
 * failed write. */
#define WRITE_BATCH 65536
static int write_batch(struct wsgw_session *s)
{
	size_t total = 0, cost = 0, nframes = 0;
	unsigned char *buf, *p;
	int rc;

	for(struct wsgw_frame *g = s->qhead; g; g = g->next){
		size_t k = wsframe_header_len(g->len) + g->len;
		if(total + k > WRITE_BATCH) break;
		total += k;
		nframes++;
	}
	if(nframes < 2 || !(buf = malloc(total))) return 0;
	p = buf;
	while(nframes--){
		struct wsgw_frame *g = s->qhead;
		p += wsframe_text_header(p, g->len);
		memcpy(p, g->buf + LWS_PRE, g->len);
		p += g->len;
		metrics_tx(&s->gw->metrics, s->dialect->name, g->len, g->rx_us);
		cost += frame_cost(g->len);
		s->qhead = g->next;
		if(!s->qhead) s->qtail = NULL;
		s->qframes--;
		free(g);
	}
	rc = front_write(s->conn, buf, total);
	held_set(s, s->qbytes - cost, !rc && front_partial(s->conn) ? cost : 0);
	free(buf);
	return rc ? -1 : 1;
}

/* Writes the head of the queue: a batch, or one frame. 0, or -1 when the
 * write failed. */
static int write_queued(struct wsgw_session *s)
{
	struct wsgw_frame *f = s->qhead;
	int batched, rc;
	size_t h;
	unsigned char *start;

	if(f->next && (batched = write_batch(s)) != 0) return batched < 0 ? -1 : 0;
	/* the header goes into the room before the text: one write */
	h = wsframe_header_len(f->len);
	start = f->buf + LWS_PRE - h;
	wsframe_text_header(start, f->len);
	rc = front_write(s->conn, start, h + f->len);
	if(!rc) metrics_tx(&s->gw->metrics, s->dialect->name, f->len, f->rx_us);
	s->qhead = f->next;
	if(!s->qhead) s->qtail = NULL;
	s->qframes--;
	/* What the socket did not take, lws keeps a copy of until it is out. */
	held_set(s, s->qbytes - frame_cost(f->len), !rc && front_partial(s->conn) ? frame_cost(f->len) : 0);
	free(f);
	return rc ? -1 : 0;
}

int session_writeable(struct wsgw_conn *c)
{
	struct wsgw_pss *pss = front_pss(c);
	struct wsgw_session *s = pss->kind == WSGW_PSS_SESSION ? pss->u.session : NULL;

	if(!s) return 0;
	/* The front calls back only once a write lws had to buffer is out. */
	held_set(s, s->qbytes, 0);
	if(s->ping_due && !s->closing){
		char ping[17];
		int n = snprintf(ping, sizeof(ping), "%016llx", (unsigned long long)gw_now_ms());
		s->ping_due = false;
		s->pings_unanswered++;
		if(front_ping(c, ping, (size_t)n)) return -1;
		if(s->qhead) front_want_write(c);
		return 0;
	}
	if(s->qhead){
		if(write_queued(s)) return -1;
		if(s->qhead || s->closing) front_want_write(c);
		return 0;
	}
	if(s->closing) front_ws_close(c, (unsigned)s->close_code, s->close_reason);
	return 0;
}

static struct wsgw_session *session_of(struct wsgw_conn *c)
{
	struct wsgw_pss *pss = front_pss(c);
	return pss->kind == WSGW_PSS_SESSION ? pss->u.session : NULL;
}

void session_message(struct wsgw_conn *c, const unsigned char *data, size_t len, bool first,
		bool final, bool binary)
{
	struct wsgw_session *s = session_of(c);
	if(s) receive(s, data, len, first, final, binary);
}

/* An answer to the gateway's ping (or an unsolicited pong): the client is
 * alive, which is all idle_timeout asks. */
void session_pong(struct wsgw_conn *c)
{
	struct wsgw_session *s = session_of(c);
	if(s){
		s->last_rx_ms = gw_now_ms();
		s->pings_unanswered = 0;
	}
}

void session_peer_close(struct wsgw_conn *c)
{
	struct wsgw_session *s = session_of(c);
	if(s) s->closing = true;
}
