/* wsbench: drives one scenario against one system and prints its numbers.
 *
 *   wsbench --system gw|native|nchan --scenario NAME
 *           --ws 127.0.0.1:PORT [--mqtt 127.0.0.1:PORT] [--pid PID[,PID...]] [options]
 *   wsbench report RESULTS.tsv     the comparison table (wsb_report.c)
 *   wsbench scenarios              the scenarios and the systems each runs against
 *   wsbench freeport               prints a free TCP port on 127.0.0.1
 *   wsbench waitport PORT [SECS]   waits until 127.0.0.1:PORT accepts
 *
 * Systems. "gw": the gateway; its subscribers speak the scenario's dialect
 * (websockets.do listeners, op clients, Telegraphy clients, Comet streams,
 * content sync watchers).
 * "native": Mosquitto's own WebSockets listener; its subscribers are MQTT 3.1.1
 * clients over WebSocket (subprotocol "mqtt", ready at SUBACK) subscribed to the
 * topic the gateway maps the dialect's channel to, so both brokers route the
 * same MQTT traffic. "nchan": nginx + nchan, subscribers on /sub/<channel>
 * (WebSocket, ready at the 101), publishers POST /pub/<channel>. Publishers:
 * HTTP POST (the gateway's emit or Comet API, nchan's publisher), MQTT over
 * WebSocket (the native web publish) or MQTT over TCP (a device or backend,
 * either broker). Every payload carries its send time:
 * {"t":<CLOCK_MONOTONIC ns>,"s":<seq>,"c":<channel>,"p":"..."}.
 *
 * The content scenario: the payload is a document that an MQTT device
 * publishes retained to wsgw/content/bench/<channel>, once before the
 * subscribers come (a get_content of a missing document is a 404, not a
 * watch) and then at the offered rate. The gateway's subscribers are content
 * sync clients (/content: login, then get_content with subscribe:true of the
 * key {"type":"bench","id":<channel>}, ready at its 200); a change reaches
 * them as a "changed" notification whose patch replaces /t and /s. Mosquitto's
 * subscribers get every retained update as the whole document.
 *
 * Threads (--threads, default: the cores): each has its own epoll set and its
 * share of the connections (subscriber i on thread i % N, a channel and its
 * publishers on thread channel % N); every thread runs the same steps, and
 * the counts and latency histograms are merged at the end of each phase.
 *
 * Everything connects to 127.0.0.0/8 only; every wait has a deadline. */
#include "wsb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MS 1000000ull
#define SEC 1000000000ull
#define RING 256                       /* closed-loop window slots per channel */
#define LOST_AFTER_NS (5 * SEC)        /* a closed-loop message not complete by then is lost */
#define MAX_THREADS 64
#define MAX_PIDS 16

enum kind { K_NONE = -1, K_WSDO, K_MQTTWS, K_MQTT, K_HTTP, K_NCHAN, K_OP, K_TG, K_COMET, K_CONTENT };
enum role { R_SUB, R_PUB };
enum state { S_NEW, S_CONNECTING, S_UPGRADING, S_AUTHENTICATING, S_MQTT_CONNECTING, S_SUBSCRIBING, S_READY, S_DEAD };
enum phase { P_NONE, P_RATE, P_CLOSED };
enum sys { SYS_GW = 1, SYS_NATIVE = 2, SYS_NCHAN = 4 };
/* What the gateway's subscribers speak, and so which topic the native ones
 * take. Comet's two come last: ">= D_COMET_ROOM" is Comet. */
enum dialect { D_WSDO, D_OP, D_TG, D_CONTENT, D_COMET_ROOM, D_COMET_UID };

struct conn {
	int fd;
	uint8_t kind, role, state;
	bool out_armed, busy, want_restart, upgraded;
	uint16_t owner;                    /* the thread that serves it */
	uint32_t id, chan;
	uint32_t http_seq;                 /* the message of the request in flight */
	int msg_opcode;
	struct buf rx, tx, msg, mq;
	uint64_t t_start, t_ready, last_tx;
	uint16_t pid;
};

/* A channel, and its closed-loop window. Only its owner thread (index % threads)
 * publishes on it; subscribers on any thread count deliveries into cnt[]. */
struct chan {
	_Atomic uint32_t nsubs;            /* ready subscribers */
	_Atomic uint32_t next_seq, done_seq;   /* closed loop: every seq below done_seq is complete */
	atomic_bool poked;                 /* queued for its owner (pokes) */
	uint64_t next_due;                 /* rate mode */
	uint32_t pub0, npub, rr;           /* publisher connections */
	char name[32], topic[80], path[80], pre[80];   /* pre: the HTTP body before the payload */
	_Atomic uint32_t cnt[RING], want[RING];
	uint64_t sent_ns[RING];
};

/* A scenario's defaults; --options override them. */
struct defaults {
	int subs, chan, pub_conns, pub_qos;   /* chan: -1 = one per subscriber, -10 = ten subscribers each */
	int size;                          /* payload bytes */
	enum kind pub;
	const char *window;
	double rate;
};

struct scenario {
	const char *name;
	unsigned systems;                  /* SYS_* it runs against */
	enum dialect dialect;
	void (*preset)(struct defaults *d);
	const char *what;
};

static struct {
	const char *system, *label, *scenario, *out, *secret, *token;
	char user[64], password[64];       /* --login: the content clients' credentials */
	enum sys sys;
	const struct scenario *sc;
	struct sockaddr_in ws, mqtt;
	char host[64];
	pid_t pids[MAX_PIDS];
	int npids;
	int subs, channels, pub_conns, pub_kind, sub_qos, pub_qos, window, size, conc, src_count, keepalive, threads;
	int windows[8], nwindows;          /* closed-loop sweep */
	double rate;                       /* deliveries per second offered */
	int duration_ms, warmup_ms, settle_ms, settle_max_ms, connect_max_ms, rest_ms, sat_ms, sat_warmup_ms, timeline_ms;
	bool verbose;
} cfg;

/* ---- per-thread state ---- */

#define TL_MAX 2000
struct tslice { uint64_t n, max, over; };

struct rstate {
	enum phase phase;
	uint64_t win_start, win_end;
	uint64_t deliveries, win_deliveries, expected, published, skipped, lost, bad_payload, pub_acks;
	uint64_t http_ok, http_err, frames_connected, frames_presence, frames_error, frames_ping;
	uint64_t last_ctrl_ns, last_delivery_ns, last_sweep_ns, last_keepalive_ns;
	int inflight, subs_ready, pubs_ready, failed, dropped, reconnects, last_http_status;
	struct hist lat;
	struct hist conn;                  /* handshake to ready, last connect_all() */
	uint64_t conn_t0, conn_last;
	int conn_ready, conn_missing;
	struct tslice tl[TL_MAX];          /* --timeline */
	int tl_n;
};

static _Thread_local struct rstate R;
static _Thread_local int self;         /* this thread's index */
static _Thread_local int ep = -1;
static _Thread_local uint8_t rbuf[1 << 18];
static _Thread_local uint32_t rng = 0x9E3779B9u;
static struct rstate *Rs[MAX_THREADS];

/* Cross-thread: the newest control frame and delivery (settle, drain). */
static _Atomic uint64_t g_last_ctrl, g_last_delivery;
/* The phase deliveries count in: set before any thread publishes, since a
 * thread still leaving the step before may already receive. */
static atomic_int g_phase;
static atomic_int complaints;

/* A subscriber's thread that completes the head of another thread's channel
 * queues the channel there and wakes that thread's epoll. */
static struct {
	pthread_mutex_t mu;
	uint32_t *ids;
	size_t n, cap;
	int efd;
} pokes[MAX_THREADS];

static struct conn *conns;
static int nconns;
static struct chan *chans;
static FILE *outf;

static uint32_t rnd32(void)
{
	rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
	return rng;
}

static uint32_t ld(_Atomic uint32_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

static void complain(const char *what, const struct conn *c, const char *detail)
{
	int k = atomic_fetch_add(&complaints, 1);
	if(k < 8){
		fprintf(stderr, "wsbench[%s/%s]: %s (conn %u kind %d state %d)%s%s\n", cfg.scenario, cfg.label,
				what, c ? c->id : 0, c ? c->kind : -1, c ? c->state : -1, detail ? ": " : "", detail ? detail : "");
	}else if(k == 8){
		fprintf(stderr, "wsbench[%s/%s]: more problems; not shown\n", cfg.scenario, cfg.label);
	}
}

/* Publishes a thread's newest time to a shared one once it is 1 ms ahead:
 * settle and drain need the newest to within a millisecond, and a store per
 * delivery would bounce one cache line between the threads. */
static void note_time(_Atomic uint64_t *shared, uint64_t *mine, uint64_t now)
{
	if(now - *mine < MS && *mine) return;
	*mine = now;
	uint64_t cur = atomic_load_explicit(shared, memory_order_relaxed);
	while(cur < now && !atomic_compare_exchange_weak(shared, &cur, now)){}
}

static void ctrl_seen(uint64_t now)
{
	note_time(&g_last_ctrl, &R.last_ctrl_ns, now);
}

/* ---- thread steps ---- */

static void loop_once(int timeout_ms);

static atomic_uint sync_count, sync_gen;
static pthread_barrier_t quiet;

/* Every thread reaches this point before any goes on; the ones that wait
 * keep serving their connections. */
static void sync_all(void)
{
	if(cfg.threads == 1) return;
	unsigned gen = atomic_load(&sync_gen);
	if(atomic_fetch_add(&sync_count, 1) == (unsigned)cfg.threads - 1){
		atomic_store(&sync_count, 0);
		atomic_fetch_add(&sync_gen, 1);
	}else{
		while(atomic_load(&sync_gen) == gen) loop_once(1);
	}
}

/* Every thread stops here, serving nothing, so that thread 0 can read the
 * others' state; a second call lets them go on. */
static void quiet_point(void)
{
	if(cfg.threads > 1) pthread_barrier_wait(&quiet);
}

/* A value thread 0 chose, for every thread. */
static uint64_t shared_u64(uint64_t mine)
{
	static _Atomic uint64_t v;
	if(self == 0) atomic_store(&v, mine);
	sync_all();
	uint64_t got = atomic_load(&v);
	sync_all();
	return got;
}

/* ---- broker processes (--pid, several for nginx's workers) ---- */

static double broker_cpu_s(void)
{
	double s = 0;
	if(!cfg.npids) return -1;
	for(int i = 0; i < cfg.npids; i++){
		double v = proc_cpu_s(cfg.pids[i]);
		if(v < 0) return -1;
		s += v;
	}
	return s;
}

static long broker_rss_kb(void)
{
	long s = 0;
	if(!cfg.npids) return -1;
	for(int i = 0; i < cfg.npids; i++){
		long v = proc_rss_kb(cfg.pids[i]);
		if(v < 0) return -1;
		s += v;
	}
	return s;
}

static int broker_fds(void)
{
	int s = 0;
	if(!cfg.npids) return -1;
	for(int i = 0; i < cfg.npids; i++){
		int v = proc_fds(cfg.pids[i]);
		if(v < 0) return -1;
		s += v;
	}
	return s;
}

/* ---- connections ---- */

static void arm(struct conn *c, bool out)
{
	if(out == c->out_armed) return;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP | (out ? EPOLLOUT : 0), .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
	c->out_armed = out;
}

static void conn_kill(struct conn *c, const char *why)
{
	if(c->state == S_DEAD || c->state == S_NEW) return;
	if(c->state == S_READY){
		if(c->role == R_SUB){
			R.subs_ready--;
			atomic_fetch_sub(&chans[c->chan].nsubs, 1);
			R.dropped++;
			complain("subscriber dropped", c, why);
		}else{
			R.pubs_ready--;
			c->want_restart = true;
		}
	}else{
		R.inflight--;
		R.failed++;
		complain("connection failed", c, why);
	}
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->state = S_DEAD;
	c->busy = false;
	buf_free(&c->rx);
	buf_free(&c->tx);
	buf_free(&c->msg);
	buf_free(&c->mq);
}

static void flush(struct conn *c)
{
	while(buf_used(&c->tx)){
		ssize_t w = send(c->fd, buf_data(&c->tx), buf_used(&c->tx), MSG_NOSIGNAL);
		if(w > 0){
			buf_consume(&c->tx, (size_t)w);
			continue;
		}
		if(w < 0 && (errno == EAGAIN || errno == EINTR)) break;
		conn_kill(c, strerror(errno));
		return;
	}
	arm(c, buf_used(&c->tx) > 0);
}

static void set_ready(struct conn *c, uint64_t now)
{
	c->state = S_READY;
	c->t_ready = now;
	R.inflight--;
	if(c->role == R_SUB){
		R.subs_ready++;
		atomic_fetch_add(&chans[c->chan].nsubs, 1);
		ctrl_seen(now);
	}else{
		R.pubs_ready++;
	}
}

static void send_ws(struct conn *c, int opcode, const void *p, size_t n)
{
	ws_frame(&c->tx, opcode, p, n, rnd32());
}

static void send_text(struct conn *c, const char *s)
{
	send_ws(c, WS_TEXT, s, strlen(s));
}

static void send_mqtt(struct conn *c, const struct buf *pkt)
{
	if(c->kind == K_MQTTWS) send_ws(c, WS_BINARY, buf_data(pkt), buf_used(pkt));
	else buf_append(&c->tx, buf_data(pkt), buf_used(pkt));
	c->last_tx = now_ns();
}

static void send_connect(struct conn *c)
{
	struct buf b = {0};
	char id[64];
	snprintf(id, sizeof(id), "wsb-%c%u-%d", c->role == R_SUB ? 's' : 'p', c->id, (int)getpid());
	mqtt_connect(&b, id, (uint16_t)cfg.keepalive);
	send_mqtt(c, &b);
	buf_free(&b);
	c->state = S_MQTT_CONNECTING;
}

/* The JWT of a subscriber (op's jwt provider, Comet's AUTH): a day ahead. */
static void sub_token(char *out, size_t cap, const char *sub)
{
	if(jwt_hs256(out, cap, cfg.secret, sub, (long long)time(NULL) + 86400) < 0) out[0] = '\0';
}

/* The Comet uid of a subscriber: its channel when the channels are uids. */
static void comet_uid(const struct conn *c, char *out, size_t n)
{
	if(cfg.sc->dialect == D_COMET_UID) snprintf(out, n, "%s", chans[c->chan].name);
	else snprintf(out, n, "u%u", c->id);
}

/* After the 101: the first frame each kind of subscriber sends. */
static void on_upgraded(struct conn *c, uint64_t now)
{
	char msg[1024], tok[512], who[48];
	switch(c->kind){
	case K_MQTTWS:
		send_connect(c);
		break;
	case K_NCHAN:
		set_ready(c, now);
		break;
	case K_OP:
		snprintf(who, sizeof(who), "b%u", c->id);
		sub_token(tok, sizeof(tok), who);
		snprintf(msg, sizeof(msg), "{\"op\":\"connect\",\"id\":1,\"auth\":{\"provider\":\"jwt\",\"access_token\":\"%s\"}}", tok);
		send_text(c, msg);
		c->state = S_AUTHENTICATING;
		break;
	case K_TG:
		send_text(c, "{\"message\":\"CONNECT\",\"id\":0,\"args\":{\"auth_token\":\"\"}}");
		c->state = S_AUTHENTICATING;
		break;
	case K_COMET:
		comet_uid(c, who, sizeof(who));
		sub_token(tok, sizeof(tok), who);
		if(cfg.sc->dialect == D_COMET_ROOM){
			snprintf(msg, sizeof(msg), "{\"t\":1,\"auth\":{\"token\":\"%s\"},\"join\":{\"rid\":\"%s\"}}", tok,
					chans[c->chan].name);
		}else{
			snprintf(msg, sizeof(msg), "{\"t\":1,\"auth\":{\"token\":\"%s\"}}", tok);
		}
		send_text(c, msg);
		c->state = S_AUTHENTICATING;
		break;
	case K_CONTENT:
		/* every watcher is the same user, which lib.sh puts in the
		 * gateway broker's password file */
		snprintf(msg, sizeof(msg), "{\"type\":\"request\",\"id\":\"l%u\",\"cls\":\"login\",\"data\":"
				"{\"username\":\"%s\",\"password\":\"%s\"}}", c->id, cfg.user, cfg.password);
		send_text(c, msg);
		c->state = S_AUTHENTICATING;
		break;
	default:
		break;   /* websockets.do: the CONNECTED frame follows by itself */
	}
}

static void on_connected(struct conn *c)
{
	char path[96] = "";
	const char *sub = NULL;
	switch(c->kind){
	case K_WSDO: snprintf(path, sizeof(path), "/%s/listen", chans[c->chan].name); break;
	case K_NCHAN: snprintf(path, sizeof(path), "/sub/%s", chans[c->chan].name); break;
	case K_OP: snprintf(path, sizeof(path), "/pubsub"); break;
	case K_TG: snprintf(path, sizeof(path), "/telegraphy"); break;
	case K_COMET: snprintf(path, sizeof(path), "/comet/Comet/Subscribe"); break;
	case K_CONTENT: snprintf(path, sizeof(path), "/content"); break;
	case K_MQTTWS: snprintf(path, sizeof(path), "/mqtt"); sub = "mqtt"; break;
	case K_MQTT:
		send_connect(c);
		flush(c);
		return;
	case K_HTTP:
		set_ready(c, now_ns());
		flush(c);
		return;
	}
	ws_upgrade_request(&c->tx, cfg.host, path, sub, c->id);
	c->state = S_UPGRADING;
	flush(c);
}

static void conn_start(struct conn *c)
{
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if(fd < 0){
		R.failed++;
		complain("socket", c, strerror(errno));
		c->state = S_DEAD;
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if(cfg.src_count > 1){
		/* Spread the sessions over 127.0.0.1..127.0.0.<src_count>. */
		struct sockaddr_in src = { .sin_family = AF_INET };
		src.sin_addr.s_addr = htonl(0x7F000001u + c->id % (uint32_t)cfg.src_count);
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if(bind(fd, (struct sockaddr *)&src, sizeof(src))){
			complain("bind", c, strerror(errno));
		}
	}
	c->fd = fd;
	c->t_start = now_ns();
	c->last_tx = c->t_start;
	c->state = S_CONNECTING;
	c->out_armed = true;
	c->busy = false;
	c->want_restart = false;
	c->upgraded = false;
	R.inflight++;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	const struct sockaddr_in *dst = c->kind == K_MQTT ? &cfg.mqtt : &cfg.ws;
	if(connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) && errno != EINPROGRESS){
		conn_kill(c, strerror(errno));
	}
}

/* ---- publishing (the channel's owner thread only) ---- */

static struct conn *pick_publisher(struct chan *ch)
{
	for(uint32_t i = 0; i < ch->npub; i++){
		struct conn *c = &conns[ch->pub0 + (ch->rr + i) % ch->npub];
		if(c->state == S_READY && !(c->kind == K_HTTP && c->busy)){
			ch->rr = (ch->rr + i + 1) % ch->npub;
			return c;
		}
	}
	return NULL;
}

static bool publish(struct chan *ch)
{
	struct conn *c = pick_publisher(ch);
	char payload[4096];
	if(!c) return false;
	uint32_t seq = ld(&ch->next_seq);
	uint32_t slot = seq % RING;
	uint64_t t = now_ns();
	uint32_t nsubs = ld(&ch->nsubs);
	atomic_store_explicit(&ch->cnt[slot], 0, memory_order_relaxed);
	atomic_store_explicit(&ch->want[slot], nsubs, memory_order_relaxed);
	ch->sent_ns[slot] = t;
	atomic_store(&ch->next_seq, seq + 1);
	/* A content document keeps its size and the length of each member from
	 * one version to the next: t and s are padded with blanks (whitespace
	 * to JSON), so that a change is a patch of /t and /s only. A "p" whose
	 * length followed their digits would be replaced whole, a patch larger
	 * than the document, and the gateway then sends none. */
	bool doc = cfg.sc->dialect == D_CONTENT;
	int n = snprintf(payload, sizeof(payload), doc ? "%s{\"t\":%-20llu,\"s\":%-10u,\"c\":%u,\"p\":\""
			: "%s{\"t\":%llu,\"s\":%u,\"c\":%u,\"p\":\"", ch->pre, (unsigned long long)t, seq, (unsigned)(ch - chans));
	int pad = cfg.size - (n - (int)strlen(ch->pre)) - 2;
	if(pad > (int)sizeof(payload) - n - 4) pad = (int)sizeof(payload) - n - 4;
	for(int i = 0; i < pad; i++) payload[n++] = 'x';
	payload[n++] = '"';
	payload[n++] = '}';
	if(ch->pre[0]) payload[n++] = '}';
	switch(c->kind){
	case K_HTTP:
		http_post(&c->tx, cfg.host, ch->path, cfg.sys == SYS_GW && cfg.sc->dialect >= D_COMET_ROOM ? cfg.token : NULL,
				payload, (size_t)n);
		c->busy = true;
		c->http_seq = seq;
		break;
	case K_MQTTWS:
	case K_MQTT: {
		struct buf b = {0};
		if(cfg.pub_qos) c->pid = (uint16_t)(c->pid % 65535 + 1);
		mqtt_publish_retain(&b, ch->topic, payload, (size_t)n, cfg.pub_qos, c->pid, doc);
		send_mqtt(c, &b);
		buf_free(&b);
		break;
	}
	default:
		break;
	}
	R.published++;
	R.expected += nsubs;
	flush(c);
	return true;
}

static void try_publish(struct chan *ch)
{
	if(R.phase != P_CLOSED) return;
	while(ld(&ch->next_seq) - ld(&ch->done_seq) < (uint32_t)cfg.window && publish(ch)){}
}

static void advance(struct chan *ch)
{
	bool moved = false;
	uint32_t done = ld(&ch->done_seq), next = ld(&ch->next_seq);
	while(done != next && ld(&ch->cnt[done % RING]) >= ld(&ch->want[done % RING])){
		done++;
		moved = true;
	}
	if(moved){
		atomic_store(&ch->done_seq, done);
		try_publish(ch);
	}
}

/* A publish the server refused (an HTTP error) will not be delivered: its
 * deliveries are lost at once, so that the window goes on instead of waiting
 * LOST_AFTER_NS for them. */
static void refused(struct chan *ch, uint32_t seq)
{
	uint32_t done = ld(&ch->done_seq);
	if(R.phase != P_CLOSED || seq - done >= ld(&ch->next_seq) - done) return;
	uint32_t slot = seq % RING, want = ld(&ch->want[slot]), got = ld(&ch->cnt[slot]);
	R.lost += want > got ? want - got : 0;
	atomic_store(&ch->cnt[slot], want);
	if(seq == done) advance(ch);
}

static void poke(struct chan *ch)
{
	int owner = (int)((ch - chans) % cfg.threads);
	if(atomic_exchange(&ch->poked, true)) return;
	pthread_mutex_lock(&pokes[owner].mu);
	if(pokes[owner].n == pokes[owner].cap){
		pokes[owner].cap = pokes[owner].cap ? pokes[owner].cap * 2 : 64;
		pokes[owner].ids = realloc(pokes[owner].ids, pokes[owner].cap * sizeof(uint32_t));
		if(!pokes[owner].ids){
			fprintf(stderr, "wsbench: out of memory\n");
			exit(2);
		}
	}
	pokes[owner].ids[pokes[owner].n++] = (uint32_t)(ch - chans);
	bool wake = pokes[owner].n == 1;
	pthread_mutex_unlock(&pokes[owner].mu);
	uint64_t one = 1;
	if(wake && write(pokes[owner].efd, &one, sizeof(one)) < 0) complain("eventfd", NULL, strerror(errno));
}

static void on_pokes(void)
{
	uint64_t v;
	uint32_t ids[256];
	if(read(pokes[self].efd, &v, sizeof(v)) < 0 && errno != EAGAIN) complain("eventfd", NULL, strerror(errno));
	for(;;){
		size_t n = 0;
		pthread_mutex_lock(&pokes[self].mu);
		n = pokes[self].n < 256 ? pokes[self].n : 256;
		pokes[self].n -= n;
		memcpy(ids, pokes[self].ids + pokes[self].n, n * sizeof(ids[0]));
		pthread_mutex_unlock(&pokes[self].mu);
		if(!n) break;
		for(size_t i = 0; i < n; i++){
			atomic_store(&chans[ids[i]].poked, false);
			advance(&chans[ids[i]]);
		}
	}
}

/* ---- --timeline MS: per-slice count and worst latency, by publish time ---- */

static void timeline_add(uint64_t t, uint64_t lat)
{
	uint64_t slice;
	if(!cfg.timeline_ms || t < R.win_start) return;
	slice = (t - R.win_start) / ((uint64_t)cfg.timeline_ms * MS);
	if(slice >= TL_MAX) return;
	if((int)slice >= R.tl_n) R.tl_n = (int)slice + 1;
	R.tl[slice].n++;
	if(lat > R.tl[slice].max) R.tl[slice].max = lat;
	if(lat > 2 * MS) R.tl[slice].over++;
}

/* Thread 0, every thread quiet: the merged timeline. */
static void timeline_print(const char *phase)
{
	int n = 0;
	for(int t = 0; t < cfg.threads; t++) if(Rs[t]->tl_n > n) n = Rs[t]->tl_n;
	for(int i = 0; i < n; i++){
		struct tslice s = {0};
		for(int t = 0; t < cfg.threads; t++){
			s.n += Rs[t]->tl[i].n;
			s.over += Rs[t]->tl[i].over;
			if(Rs[t]->tl[i].max > s.max) s.max = Rs[t]->tl[i].max;
		}
		fprintf(stderr, "wsbench[%s/%s] %s slice %d (+%d ms): %llu delivered, %llu over 2 ms, worst %llu us\n",
				cfg.scenario, cfg.label, phase, i, i * cfg.timeline_ms, (unsigned long long)s.n,
				(unsigned long long)s.over, (unsigned long long)(s.max / 1000));
	}
}

/* ---- receiving ---- */

/* The message sent at t with sequence number s reached c at now. */
static void delivered(struct conn *c, uint64_t t, uint64_t s, uint64_t now)
{
	R.deliveries++;
	note_time(&g_last_delivery, &R.last_delivery_ns, now);
	if(now >= R.win_start && now < R.win_end){
		R.win_deliveries++;
		hist_add(&R.lat, now > t ? now - t : 0);
		timeline_add(t, now > t ? now - t : 0);
	}
	if(atomic_load_explicit(&g_phase, memory_order_relaxed) == P_CLOSED){
		struct chan *ch = &chans[c->chan];
		uint32_t seq = (uint32_t)s, done = ld(&ch->done_seq);
		if(seq - done < ld(&ch->next_seq) - done){
			uint32_t got = atomic_fetch_add_explicit(&ch->cnt[seq % RING], 1, memory_order_relaxed) + 1;
			if(seq == done && got >= ld(&ch->want[seq % RING])){
				if((int)(c->chan % (uint32_t)cfg.threads) == self) advance(ch);
				else poke(ch);
			}
		}
	}
}

static void on_delivery(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	uint64_t t, s;
	if(!json_find_u64(p, n, "\"t\":", &t) || !json_find_u64(p, n, "\"s\":", &s)){
		R.bad_payload++;
		return;
	}
	delivered(c, t, s, now);
}

/* A delivery whose payload is the value of key (op's data, Comet's evt). */
static void on_delivery_in(struct conn *c, const uint8_t *p, size_t n, const char *key, uint64_t now)
{
	const uint8_t *k = memmem(p, n, key, strlen(key));
	if(!k){
		R.bad_payload++;
		return;
	}
	on_delivery(c, k, n - (size_t)(k - p), now);
}

static void unexpected(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	char text[200];
	R.frames_error++;
	ctrl_seen(now);
	snprintf(text, sizeof(text), "%.*s", (int)(n < 190 ? n : 190), (const char *)p);
	complain("unexpected frame", c, text);
}

static bool has(const uint8_t *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

static void on_wsdo_text(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	static const char pre[] = "{\"type\":\"";
	const uint8_t *type = NULL;
	if(n > sizeof(pre) && !memcmp(p, pre, sizeof(pre) - 1)) type = p + sizeof(pre) - 1;
	else{
		const uint8_t *k = memmem(p, n, "\"type\":\"", 8);
		if(k) type = k + 8;
	}
	size_t left = type ? n - (size_t)(type - p) : 0;
#define IS(s) (left > sizeof(s) && !memcmp(type, s "\"", sizeof(s)))
	if(IS("DATA")){
		on_delivery(c, p, n, now);
	}else if(IS("CONNECTED")){
		R.frames_connected++;
		ctrl_seen(now);
		if(c->state == S_UPGRADING) set_ready(c, now);
	}else if(IS("PING")){
		static const char pong[] = "{\"type\":\"PONG\"}";
		R.frames_ping++;
		send_ws(c, WS_TEXT, pong, sizeof(pong) - 1);
	}else if(left > 9 && !memcmp(type, "PRESENCE:", 9)){
		R.frames_presence++;
		ctrl_seen(now);
	}else{
		unexpected(c, p, n, now);
	}
#undef IS
}

/* op (docs/protocols/op-pubsub.md): connect, then sub, ready at its success. */
static void on_op_text(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	if(has(p, n, "\"op\":\"mesg\"")){
		on_delivery_in(c, p, n, "\"data\":", now);
	}else if(has(p, n, "\"type\":\"success\"") && c->state == S_AUTHENTICATING){
		char msg[160];
		snprintf(msg, sizeof(msg), "{\"op\":\"sub\",\"id\":2,\"topics\":[\"bench.%s\"]}", chans[c->chan].name);
		send_text(c, msg);
		c->state = S_SUBSCRIBING;
		ctrl_seen(now);
	}else if(has(p, n, "\"type\":\"success\"") && c->state == S_SUBSCRIBING){
		set_ready(c, now);
	}else if(has(p, n, "\"op\":\"pres\"")){
		R.frames_presence++;
		ctrl_seen(now);
	}else{
		unexpected(c, p, n, now);
	}
}

/* Telegraphy (docs/protocols/telegraphy.md): CONNECT with the empty token
 * (telegraphy_auth false), a lazy SUBSCRIBE, ready at SUBSCRIBED. */
static void on_tg_text(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	if(has(p, n, "\"event\":\"")){
		on_delivery_in(c, p, n, "\"data\":", now);
	}else if(has(p, n, "\"status\":\"CONNECTED\"") && c->state == S_AUTHENTICATING){
		char msg[200];
		snprintf(msg, sizeof(msg), "{\"message\":\"SUBSCRIBE\",\"id\":1,\"args\":{\"event_name\":\"bench.%s\",\"lazy\":true}}",
				chans[c->chan].name);
		send_text(c, msg);
		c->state = S_SUBSCRIBING;
		ctrl_seen(now);
	}else if(has(p, n, "\"status\":\"SUBSCRIBED\"") && c->state == S_SUBSCRIBING){
		set_ready(c, now);
	}else{
		unexpected(c, p, n, now);
	}
}

/* Comet (docs/protocols/comet.md): AUTH (with the room's JOIN), ready at the
 * first HB; every HB is answered with one. */
static void on_comet_text(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	if(has(p, n, "\"t\":\"PUSH\"")){
		on_delivery_in(c, p, n, "\"evt\":", now);
	}else if(has(p, n, "\"t\":\"HB\"")){
		R.frames_ping++;
		send_text(c, "{\"t\":0}");
		if(c->state == S_AUTHENTICATING) set_ready(c, now);
	}else{
		unexpected(c, p, n, now);
	}
}

/* Content sync (docs/protocols/content-sync.md): login, then get_content with
 * subscribe:true of the channel's document, ready at its 200. A change is a
 * "changed" notification whose patch replaces /t and /s; "subscribe" (the
 * watch started) is a set-up frame. Anything else (an error, a revoke) is
 * unexpected, and ends a watcher that is not ready yet. */
static void on_content_text(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	if(has(p, n, "\"cls\":\"changed\"")){
		uint64_t t, s;
		/* without a patch (the gateway had none from the client's ver)
		 * the client would fetch the document again */
		if(!json_find_u64_after(p, n, "\"/t\"", "\"value\":", &t)
				|| !json_find_u64_after(p, n, "\"/s\"", "\"value\":", &s)){
			char text[200];
			R.bad_payload++;
			snprintf(text, sizeof(text), "%.*s", (int)(n < 190 ? n : 190), (const char *)p);
			complain("change without a patch of /t and /s", c, text);
			return;
		}
		delivered(c, t, s, now);
	}else if(has(p, n, "\"type\":\"notify\"") && has(p, n, "\"cls\":\"subscribe\"")){
		ctrl_seen(now);
	}else if(has(p, n, "\"type\":\"result\"") && has(p, n, "\"status\":200")){
		ctrl_seen(now);
		if(c->state == S_AUTHENTICATING && has(p, n, "\"cls\":\"login\"")){
			char msg[256];
			snprintf(msg, sizeof(msg), "{\"type\":\"request\",\"id\":\"g\",\"cls\":\"get_content\",\"data\":"
					"{\"key\":{\"type\":\"bench\",\"id\":\"%s\"},\"ver\":null,\"subscribe\":true}}",
					chans[c->chan].name);
			send_text(c, msg);
			c->state = S_SUBSCRIBING;
		}else if(c->state == S_SUBSCRIBING && has(p, n, "\"cls\":\"get_content\"")){
			set_ready(c, now);
		}
	}else{
		unexpected(c, p, n, now);
		if(c->state != S_READY) conn_kill(c, "refused");
	}
}

static void on_mqtt(struct conn *c, int type, int flags, const uint8_t *body, size_t blen, uint64_t now)
{
	struct buf b = {0};
	switch(type){
	case MQTT_CONNACK:
		if(blen < 2 || body[1] != 0){
			conn_kill(c, "CONNACK refused");
			return;
		}
		if(c->role == R_SUB){
			mqtt_subscribe(&b, 1, chans[c->chan].topic, cfg.sub_qos);
			send_mqtt(c, &b);
			c->state = S_SUBSCRIBING;
		}else{
			set_ready(c, now);
		}
		break;
	case MQTT_SUBACK:
		if(blen < 3 || body[2] >= 0x80){
			conn_kill(c, "SUBACK refused");
			return;
		}
		if(c->state == S_SUBSCRIBING) set_ready(c, now);
		ctrl_seen(now);
		break;
	case MQTT_PUBLISH: {
		int qos = (flags >> 1) & 3;
		const uint8_t *topic, *payload;
		size_t tlen, plen;
		uint16_t pid;
		if(mqtt_publish_split(body, blen, qos, &topic, &tlen, &pid, &payload, &plen)){
			conn_kill(c, "bad PUBLISH");
			return;
		}
		if(qos == 1){
			mqtt_puback(&b, pid);
			send_mqtt(c, &b);
		}
		on_delivery(c, payload, plen, now);
		break;
	}
	case MQTT_PUBACK:
		R.pub_acks++;
		break;
	default:
		break;
	}
	buf_free(&b);
}

/* A stream of MQTT packets (TCP bytes, or the payloads of binary frames).
 * Returns the bytes used, or -1 to drop the connection. */
static ssize_t mqtt_stream(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	size_t used = 0;
	while(used < n && c->state != S_DEAD){
		int type, flags;
		const uint8_t *body;
		size_t blen;
		ssize_t r = mqtt_parse(p + used, n - used, &type, &flags, &body, &blen);
		if(r < 0) return -1;
		if(r == 0) break;
		used += (size_t)r;
		on_mqtt(c, type, flags, body, blen, now);
	}
	return (ssize_t)used;
}

static void on_ws_message(struct conn *c, int opcode, uint8_t *p, size_t n, uint64_t now)
{
	if(c->kind != K_MQTTWS){
		if(opcode != WS_TEXT) return;
		switch(c->kind){
		case K_WSDO: on_wsdo_text(c, p, n, now); break;
		case K_OP: on_op_text(c, p, n, now); break;
		case K_TG: on_tg_text(c, p, n, now); break;
		case K_COMET: on_comet_text(c, p, n, now); break;
		case K_CONTENT: on_content_text(c, p, n, now); break;
		case K_NCHAN: on_delivery(c, p, n, now); break;
		default: break;
		}
		return;
	}
	/* MQTT over WebSocket: the frames carry a byte stream. */
	if(buf_used(&c->mq)){
		buf_append(&c->mq, p, n);
		ssize_t r = mqtt_stream(c, buf_data(&c->mq), buf_used(&c->mq), now);
		if(r < 0){
			conn_kill(c, "bad MQTT stream");
			return;
		}
		if(c->state != S_DEAD) buf_consume(&c->mq, (size_t)r);
	}else{
		ssize_t r = mqtt_stream(c, p, n, now);
		if(r < 0){
			conn_kill(c, "bad MQTT stream");
			return;
		}
		if(c->state != S_DEAD && (size_t)r < n) buf_append(&c->mq, p + r, n - (size_t)r);
	}
}

/* Returns the bytes used, or -1 to drop the connection. */
static ssize_t consume(struct conn *c, uint8_t *p, size_t n, uint64_t now)
{
	size_t used = 0;
	if(c->kind == K_HTTP){
		while(used < n){
			int status = 0;
			ssize_t r = http_response(p + used, n - used, &status);
			if(r < 0) return -1;
			if(r == 0) break;
			used += (size_t)r;
			c->busy = false;
			/* nchan answers 201 (or 202 with no subscriber); the gateway 200. */
			if(status >= 200 && status < 300) R.http_ok++;
			else{
				char text[200];
				const uint8_t *body = memmem(p + used - (size_t)r, (size_t)r, "\r\n\r\n", 4);
				R.http_err++;
				R.last_http_status = status;
				snprintf(text, sizeof(text), "HTTP %d %.*s", status, body ? (int)((p + used) - (body + 4)) : 0,
						body ? (const char *)body + 4 : "");
				complain("publish refused", c, text);
				refused(&chans[c->chan], c->http_seq);
			}
			try_publish(&chans[c->chan]);
		}
		return (ssize_t)used;
	}
	if(c->kind == K_MQTT) return mqtt_stream(c, p, n, now);
	if(!c->upgraded){
		/* The handshake reply comes first (the gateway's CONNECTED follows it). */
		int status;
		ssize_t r = ws_upgrade_reply(p, n, &status);
		if(r < 0){
			char s[32];
			snprintf(s, sizeof(s), "upgrade refused, HTTP %d", status);
			conn_kill(c, s);
			return -2;
		}
		if(r == 0) return 0;
		used = (size_t)r;
		c->upgraded = true;
		on_upgraded(c, now);
	}
	while(used < n && c->state != S_DEAD){
		int opcode;
		bool fin;
		uint8_t *payload;
		size_t plen;
		ssize_t r = ws_parse(p + used, n - used, &opcode, &fin, &payload, &plen);
		if(r < 0) return -1;
		if(r == 0) break;
		used += (size_t)r;
		if(opcode >= WS_CLOSE){
			if(opcode == WS_PING) send_ws(c, WS_PONG, payload, plen);
			else if(opcode == WS_CLOSE){
				conn_kill(c, "close frame from the server");
				return -2;
			}
			continue;
		}
		if(opcode != WS_CONT && fin && !buf_used(&c->msg)){
			on_ws_message(c, opcode, payload, plen, now);
			continue;
		}
		if(opcode != WS_CONT) c->msg_opcode = opcode;
		buf_append(&c->msg, payload, plen);
		if(fin){
			on_ws_message(c, c->msg_opcode, buf_data(&c->msg), buf_used(&c->msg), now);
			if(c->state != S_DEAD) buf_free(&c->msg);
		}
	}
	return (ssize_t)used;
}

static void on_readable(struct conn *c)
{
	ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
	if(n == 0){
		conn_kill(c, "closed by the server");
		return;
	}
	if(n < 0){
		if(errno != EAGAIN && errno != EINTR) conn_kill(c, strerror(errno));
		return;
	}
	uint64_t now = now_ns();
	ssize_t used;
	if(buf_used(&c->rx)){
		buf_append(&c->rx, rbuf, (size_t)n);
		used = consume(c, buf_data(&c->rx), buf_used(&c->rx), now);
		if(used >= 0 && c->state != S_DEAD) buf_consume(&c->rx, (size_t)used);
	}else{
		used = consume(c, rbuf, (size_t)n, now);
		if(used >= 0 && used < n && c->state != S_DEAD) buf_append(&c->rx, rbuf + used, (size_t)(n - used));
	}
	if(used == -1) conn_kill(c, "protocol error");
	if(c->state != S_DEAD && buf_used(&c->tx)) flush(c);
}

static void on_event(struct conn *c, uint32_t events)
{
	if(c->state == S_CONNECTING){
		int err = 0;
		socklen_t len = sizeof(err);
		if(!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if(err){
			conn_kill(c, strerror(err));
			return;
		}
		on_connected(c);
		return;
	}
	if(events & EPOLLIN) on_readable(c);
	if(c->state == S_DEAD) return;
	if(events & EPOLLOUT) flush(c);
	if(c->state == S_DEAD) return;
	if((events & (EPOLLERR | EPOLLHUP)) && !(events & EPOLLIN)) conn_kill(c, "hang-up");
}

/* ---- the loop ---- */

static void sweep(uint64_t now)
{
	if(R.phase == P_RATE){
		for(int i = self; i < cfg.channels; i += cfg.threads){
			struct chan *ch = &chans[i];
			double per_chan = cfg.rate / (double)cfg.subs;       /* publishes/s on each channel */
			uint64_t interval = (uint64_t)(1e9 / per_chan);
			int burst = 0;
			while(now >= ch->next_due && burst++ < 1000){
				if(!publish(ch)) R.skipped++;
				ch->next_due += interval;
			}
			if(now > ch->next_due + SEC) ch->next_due = now;
		}
	}else if(R.phase == P_CLOSED){
		for(int i = self; i < cfg.channels; i += cfg.threads){
			struct chan *ch = &chans[i];
			uint32_t done = ld(&ch->done_seq);
			if(done != ld(&ch->next_seq) && now - ch->sent_ns[done % RING] > LOST_AFTER_NS){
				uint32_t slot = done % RING, want = ld(&ch->want[slot]), got = ld(&ch->cnt[slot]);
				R.lost += want > got ? want - got : 0;
				atomic_store(&ch->cnt[slot], want);
				advance(ch);
			}
			try_publish(ch);
		}
	}
	/* Publishers the server closed (HTTP keep-alive ends) come back. */
	for(int i = cfg.subs; i < nconns; i++){
		if(conns[i].owner == self && conns[i].want_restart && R.phase != P_NONE){
			R.reconnects++;
			conn_start(&conns[i]);
		}
	}
}

static void keepalive(uint64_t now)
{
	uint64_t every = (uint64_t)cfg.keepalive * SEC / 2;
	for(int i = 0; i < nconns; i++){
		struct conn *c = &conns[i];
		if(c->owner != self || c->state != S_READY || (c->kind != K_MQTT && c->kind != K_MQTTWS)) continue;
		if(now - c->last_tx >= every){
			struct buf b = {0};
			mqtt_pingreq(&b);
			send_mqtt(c, &b);
			buf_free(&b);
			flush(c);
		}
	}
}

static void loop_once(int timeout_ms)
{
	struct epoll_event ev[1024];
	int n = epoll_wait(ep, ev, 1024, timeout_ms);
	for(int i = 0; i < n; i++){
		struct conn *c = ev[i].data.ptr;
		if(!c) on_pokes();
		else if(c->state != S_DEAD) on_event(c, ev[i].events);
	}
	uint64_t now = now_ns();
	if(now - R.last_sweep_ns >= 250000){
		R.last_sweep_ns = now;
		sweep(now);
	}
	if(now - R.last_keepalive_ns >= SEC){
		R.last_keepalive_ns = now;
		keepalive(now);
	}
}

static void run_for(uint64_t ns)
{
	uint64_t end = now_ns() + ns;
	while(now_ns() < end) loop_once(1);
}

struct connect_result {
	int ready;
	double secs, p50_us, p99_us, max_us;
};

/* Opens conns[first..first+count) with at most cfg.conc handshakes in flight
 * (each thread its share and cfg.conc / threads of them). Thread 0 gets, in
 * *out, the seconds from the first connect to the last ready connection. */
static void connect_all(int first, int count, struct connect_result *out)
{
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)cfg.connect_max_ms * MS;
	int conc = cfg.conc / cfg.threads > 0 ? cfg.conc / cfg.threads : 1;
	int next = first;
	while(now_ns() < deadline){
		while(next < first + count && R.inflight < conc){
			if(conns[next].owner == self) conn_start(&conns[next]);
			next++;
		}
		if(next == first + count && R.inflight == 0) break;
		loop_once(1);
	}
	R.conn_t0 = t0;
	R.conn_last = t0;
	R.conn_ready = 0;
	R.conn_missing = (next < first + count || R.inflight) ? 1 : 0;
	hist_reset(&R.conn);
	for(int i = first; i < first + count; i++){
		if(conns[i].owner == self && conns[i].state == S_READY){
			R.conn_ready++;
			if(conns[i].t_ready > R.conn_last) R.conn_last = conns[i].t_ready;
			hist_add(&R.conn, conns[i].t_ready - conns[i].t_start);
		}
	}
	sync_all();
	quiet_point();
	if(self == 0){
		struct hist h;
		uint64_t t_first = R.conn_t0, t_last = R.conn_last;
		int missing = 0;
		hist_reset(&h);
		out->ready = 0;
		for(int t = 0; t < cfg.threads; t++){
			hist_merge(&h, &Rs[t]->conn);
			out->ready += Rs[t]->conn_ready;
			missing += Rs[t]->conn_missing;
			if(Rs[t]->conn_t0 < t_first) t_first = Rs[t]->conn_t0;
			if(Rs[t]->conn_last > t_last) t_last = Rs[t]->conn_last;
		}
		out->p50_us = (double)hist_pct(&h, 50) / 1000.0;
		out->p99_us = (double)hist_pct(&h, 99) / 1000.0;
		out->max_us = (double)h.max / 1000.0;
		out->secs = t_last > t_first ? (double)(t_last - t_first) / 1e9 : 0;
		if(missing) fprintf(stderr, "wsbench[%s/%s]: connect deadline: %d of %d ready\n",
				cfg.scenario, cfg.label, out->ready, count);
	}
	quiet_point();
}

/* Waits until no presence/CONNECTED/SUBACK (or other set-up) frame came, on
 * any thread, for settle_ms. Returns the seconds until the last one. */
static double settle(void)
{
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)cfg.settle_max_ms * MS, none = 0;
	atomic_compare_exchange_strong(&g_last_ctrl, &none, t0);
	while(now_ns() < deadline){
		loop_once(5);
		if(now_ns() - atomic_load(&g_last_ctrl) >= (uint64_t)cfg.settle_ms * MS) break;
	}
	sync_all();
	uint64_t last = atomic_load(&g_last_ctrl);
	return last > t0 ? (double)(last - t0) / 1e9 : 0;
}

/* Runs until nothing was delivered on any thread for 500 ms (at most max_ns). */
static void drain(uint64_t max_ns)
{
	uint64_t t0 = now_ns(), end = t0 + max_ns;
	R.last_delivery_ns = 0;
	note_time(&g_last_delivery, &R.last_delivery_ns, t0);
	while(now_ns() < end && now_ns() - atomic_load(&g_last_delivery) < 500 * MS) loop_once(5);
	sync_all();
}

/* ---- results (thread 0) ---- */

static void result(const char *metric, double v)
{
	printf("%s\t%s\t%s\t%.6g\n", cfg.scenario, cfg.label, metric, v);
	if(outf) fprintf(outf, "%s\t%s\t%s\t%.6g\n", cfg.scenario, cfg.label, metric, v);
}

/* Every thread's counters added up (thread 0, every thread quiet). */
static struct rstate *totals(void)
{
	static struct rstate s;
	memset(&s, 0, sizeof(s));
	for(int t = 0; t < cfg.threads; t++){
		const struct rstate *r = Rs[t];
		s.deliveries += r->deliveries;
		s.win_deliveries += r->win_deliveries;
		s.expected += r->expected;
		s.published += r->published;
		s.skipped += r->skipped;
		s.lost += r->lost;
		s.bad_payload += r->bad_payload;
		s.pub_acks += r->pub_acks;
		s.http_ok += r->http_ok;
		s.http_err += r->http_err;
		s.frames_connected += r->frames_connected;
		s.frames_presence += r->frames_presence;
		s.frames_error += r->frames_error;
		s.frames_ping += r->frames_ping;
		s.subs_ready += r->subs_ready;
		s.pubs_ready += r->pubs_ready;
		s.failed += r->failed;
		s.dropped += r->dropped;
		s.reconnects += r->reconnects;
		if(r->last_http_status) s.last_http_status = r->last_http_status;
		hist_merge(&s.lat, &r->lat);
	}
	return &s;
}

struct phase_result {
	double delivered_s, p50, p99, p999, max, broker_cpu, tool_cpu, lost;
	uint64_t published, skipped;
};

static void run_phase(enum phase ph, struct phase_result *pr, int warmup_ms, int duration_ms)
{
	uint64_t t0 = shared_u64(now_ns());
	hist_reset(&R.lat);
	R.win_deliveries = 0;
	R.deliveries = 0;
	R.expected = 0;
	R.published = 0;
	R.skipped = 0;
	R.lost = 0;
	memset(R.tl, 0, sizeof(R.tl));
	R.tl_n = 0;
	for(int i = self; i < cfg.channels; i += cfg.threads){
		struct chan *ch = &chans[i];
		atomic_store(&ch->done_seq, ld(&ch->next_seq));
		if(cfg.rate > 0) ch->next_due = t0 + (uint64_t)((double)i / cfg.channels * (1e9 * cfg.subs / cfg.rate));
	}
	R.win_start = t0 + (uint64_t)warmup_ms * MS;
	R.win_end = R.win_start + (uint64_t)duration_ms * MS;
	if(self == 0) atomic_store(&g_phase, ph);
	sync_all();
	R.phase = ph;
	for(int i = self; i < cfg.channels; i += cfg.threads) try_publish(&chans[i]);
	while(now_ns() < R.win_start) loop_once(1);
	double b0 = broker_cpu_s(), s0 = self_cpu_s();
	while(now_ns() < R.win_end) loop_once(1);
	double b1 = broker_cpu_s(), s1 = self_cpu_s();
	R.phase = P_NONE;
	sync_all();
	if(self == 0) atomic_store(&g_phase, P_NONE);
	drain(5 * SEC);
	quiet_point();
	if(self == 0){
		const struct rstate *s = totals();
		pr->delivered_s = (double)s->win_deliveries / (duration_ms / 1000.0);
		pr->p50 = (double)hist_pct(&s->lat, 50) / 1000.0;
		pr->p99 = (double)hist_pct(&s->lat, 99) / 1000.0;
		pr->p999 = (double)hist_pct(&s->lat, 99.9) / 1000.0;
		pr->max = (double)s->lat.max / 1000.0;
		pr->broker_cpu = b0 >= 0 && b1 >= 0 ? (b1 - b0) / (duration_ms / 1000.0) * 100.0 : -1;
		pr->tool_cpu = (s1 - s0) / (duration_ms / 1000.0) * 100.0;
		if(cfg.timeline_ms) timeline_print(ph == P_RATE ? "rate" : "closed");
		pr->lost = (double)(s->expected > s->deliveries ? s->expected - s->deliveries : 0);
		pr->published = s->published;
		pr->skipped = s->skipped;
	}
	quiet_point();
}

/* ---- the scenarios ---- */

static void sc_idle(struct defaults *d)
{
	d->subs = 10000; d->chan = -10; d->pub = K_NONE; d->rate = 0; d->window = "";
}

/* Connection bursts: many handshakes at once, nothing measured at rest. */
static void sc_burst(struct defaults *d)
{
	d->subs = 1000; d->chan = -10; d->pub = K_NONE; d->rate = 0; d->window = "";
	if(cfg.conc < 0) cfg.conc = 500;
	cfg.rest_ms = 0;
}

/* The same MQTT publisher for both brokers: the comparison is the WebSocket fan-out. */
static void sc_fanout(struct defaults *d)
{
	d->subs = 1000; d->chan = 1; d->pub = K_MQTT; d->window = "2,4,8,16,32"; d->pub_qos = 1;
}

/* Each system's own web publisher: HTTP emit / nchan's POST vs MQTT over WebSocket. */
static void sc_fanout_web(struct defaults *d)
{
	d->subs = 1000; d->chan = 1; d->pub = cfg.sys == SYS_NATIVE ? K_MQTTWS : K_HTTP; d->window = "1,2,4,8";
	d->pub_conns = 8;
}

static void sc_channels(struct defaults *d)
{
	d->subs = 1000; d->chan = -1; d->pub = cfg.sys == SYS_NATIVE ? K_MQTTWS : K_HTTP; d->window = "1";
}

static void sc_device(struct defaults *d)
{
	d->subs = 1000; d->chan = 100; d->pub = K_MQTT; d->window = "1,2,4,8,16";
}

/* op and Telegraphy: a backend's MQTT publisher (QoS 1), the same for both brokers. */
static void sc_dialect_fanout(struct defaults *d)
{
	d->subs = 1000; d->chan = 1; d->pub = K_MQTT; d->window = "2,4,8,16,32"; d->pub_qos = 1;
}

static void sc_dialect_channels(struct defaults *d)
{
	d->subs = 1000; d->chan = -1; d->pub = K_MQTT; d->window = "1"; d->pub_qos = 1;
}

/* Comet: the HTTP API (Broadcast to a room, Publish to a uid) vs MQTT over WebSocket, QoS 1. */
static void sc_comet_room(struct defaults *d)
{
	d->subs = 1000; d->chan = 1; d->pub = cfg.sys == SYS_NATIVE ? K_MQTTWS : K_HTTP; d->window = "1,2,4,8";
	d->pub_conns = 8;
}

static void sc_comet_uids(struct defaults *d)
{
	d->subs = 1000; d->chan = -1; d->pub = cfg.sys == SYS_NATIVE ? K_MQTTWS : K_HTTP; d->window = "1";
}

/* Content sync: one document that every client watches, republished
 * retained by a device at a fixed rate (10 updates/s for 1,000 watchers),
 * QoS 1. No closed loop: a device does not wait for its watchers. 512 bytes,
 * so that a patch of /t and /s is smaller than the document and the gateway
 * sends it. */
static void sc_content(struct defaults *d)
{
	d->subs = 1000; d->chan = 1; d->pub = K_MQTT; d->window = ""; d->pub_qos = 1; d->size = 512;
}

#define ALL (SYS_GW | SYS_NATIVE | SYS_NCHAN)
#define BROKERS (SYS_GW | SYS_NATIVE)

static const struct scenario scenarios[] = {
	{"idle", ALL, D_WSDO, sc_idle, "10,000 idle sessions, 10 per channel"},
	{"idle_full", SYS_NATIVE, D_WSDO, sc_idle, "idle at the full count, when the gateway had to run fewer"},
	{"burst", ALL, D_WSDO, sc_burst, "1,000 sessions, 500 handshakes at once"},
	{"fanout", BROKERS, D_WSDO, sc_fanout, "1,000 listeners of one channel, one MQTT publisher"},
	{"fanout_web", ALL, D_WSDO, sc_fanout_web, "1,000 listeners of one channel, web publishers"},
	{"channels", ALL, D_WSDO, sc_channels, "1,000 channels of one listener, a web publisher each"},
	{"device", BROKERS, D_WSDO, sc_device, "100 channels of 10, an MQTT device each, QoS 0"},
	{"op_fanout", BROKERS, D_OP, sc_dialect_fanout, "op: 1,000 subscribers of one topic, mesg pushes"},
	{"op_channels", BROKERS, D_OP, sc_dialect_channels, "op: 1,000 topics of one subscriber"},
	{"tg_fanout", BROKERS, D_TG, sc_dialect_fanout, "Telegraphy: 1,000 subscribers of one event"},
	{"tg_channels", BROKERS, D_TG, sc_dialect_channels, "Telegraphy: 1,000 events of one subscriber"},
	{"comet_room", BROKERS, D_COMET_ROOM, sc_comet_room, "Comet: Broadcast to a room of 1,000"},
	{"comet_uids", BROKERS, D_COMET_UID, sc_comet_uids, "Comet: Publish to 1,000 uids"},
	{"content", BROKERS, D_CONTENT, sc_content, "content sync: 1,000 watchers of one document, a device republishing it"},
};

static const struct scenario *find_scenario(const char *name)
{
	for(size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++){
		if(!strcmp(scenarios[i].name, name)) return &scenarios[i];
	}
	return NULL;
}

static int cmd_scenarios(void)
{
	for(size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++){
		const struct scenario *s = &scenarios[i];
		printf("%s\t%s%s%s\t%s\n", s->name, s->systems & SYS_GW ? "gw " : "", s->systems & SYS_NATIVE ? "native " : "",
				s->systems & SYS_NCHAN ? "nchan " : "", s->what);
	}
	return 0;
}

/* A channel's names on the system under test: the MQTT topic (native
 * subscribers, MQTT publishers), the HTTP publish path and body prefix. */
static void chan_names(struct chan *ch, int i)
{
	const char *n = ch->name;
	snprintf(ch->name, sizeof(ch->name), "%s%d", cfg.scenario, i);
	ch->pre[0] = '\0';
	switch(cfg.sc->dialect){
	case D_WSDO:
		snprintf(ch->topic, sizeof(ch->topic), "wsgw/wsdo/%s", n);
		if(cfg.sys == SYS_NCHAN) snprintf(ch->path, sizeof(ch->path), "/pub/%s", n);
		else snprintf(ch->path, sizeof(ch->path), "/%s/emit", n);
		break;
	case D_OP:
		snprintf(ch->topic, sizeof(ch->topic), "wsgw/op/bench/%s", n);
		break;
	case D_TG:
		snprintf(ch->topic, sizeof(ch->topic), "wsgw/telegraphy/bench/%s", n);
		break;
	case D_CONTENT:
		/* the document {"type":"bench","id":<channel>} */
		snprintf(ch->topic, sizeof(ch->topic), "wsgw/content/bench/%s", n);
		break;
	case D_COMET_ROOM:
		snprintf(ch->topic, sizeof(ch->topic), "wsgw/comet/room/%s", n);
		snprintf(ch->path, sizeof(ch->path), "/comet/Comet/Broadcast");
		snprintf(ch->pre, sizeof(ch->pre), "{\"rid\":\"%s\",\"evt\":", n);
		break;
	case D_COMET_UID:
		snprintf(ch->topic, sizeof(ch->topic), "wsgw/comet/user/%s", n);
		snprintf(ch->path, sizeof(ch->path), "/comet/Comet/Publish");
		snprintf(ch->pre, sizeof(ch->pre), "{\"uid\":\"%s\",\"evt\":", n);
		break;
	}
}

static enum kind sub_kind(void)
{
	static const enum kind gw[] = { [D_WSDO] = K_WSDO, [D_OP] = K_OP, [D_TG] = K_TG, [D_CONTENT] = K_CONTENT,
		[D_COMET_ROOM] = K_COMET, [D_COMET_UID] = K_COMET };
	if(cfg.sys == SYS_NATIVE) return K_MQTTWS;
	if(cfg.sys == SYS_NCHAN) return K_NCHAN;
	return gw[cfg.sc->dialect];
}

/* ---- set-up ---- */

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	if(!colon || (size_t)(colon - s) >= sizeof(host)) return -1;
	memcpy(host, s, (size_t)(colon - s));
	host[colon - s] = '\0';
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(colon + 1));
	if(inet_pton(AF_INET, host, &a->sin_addr) != 1) return -1;
	/* Loopback only. */
	if((ntohl(a->sin_addr.s_addr) >> 24) != 127) return -1;
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: wsbench --system gw|native|nchan --scenario NAME (wsbench scenarios lists them)\n"
		"               --ws 127.0.0.1:PORT [--mqtt 127.0.0.1:PORT] [--pid PID[,PID...]] [options]\n"
		"       wsbench report RESULTS.tsv... (medians over files) | scenarios | freeport | waitport PORT [SECS]\n"
		"       wsbench waitready PORT [SECS] (the gateway answers an emit with 200)\n"
		"options (the scenario sets the defaults):\n"
		"  --threads N       load threads, each with its own epoll and share of the\n"
		"                    connections (default: the cores)\n"
		"  --label NAME      the system's name in the results (default: --system)\n"
		"  --pid P,P,...     the server's processes (CPU, RSS and descriptors are summed)\n"
		"  --secret S        the gateway's jwt_hs256_secret (op and Comet subscribers)\n"
		"  --token T         the gateway's comet_service_token (Comet's HTTP API)\n"
		"  --login U:P       the user and password of the content clients' login\n"
		"  --subs N          subscribers (WebSocket sessions)\n"
		"  --channels N      channels; subscriber i joins channel i %% N\n"
		"  --pub KIND        http | mqttws | mqtt | none (publisher per channel)\n"
		"  --pub-conns N     HTTP connections per channel publisher\n"
		"  --rate R          deliveries/s offered in the rate phase (0 = skip it)\n"
		"  --window W,W,...  closed-loop phase: messages in flight per channel, one run per\n"
		"                    value, the best is kept (\"\" = skip the phase)\n"
		"  --sat-duration S  measured seconds per closed-loop window (default 4)\n"
		"  --qos Q           QoS of MQTT publishes (the gateway's emits are QoS 1)\n"
		"  --sub-qos Q       QoS of native subscriptions (the gateway's sessions use 1)\n"
		"  --size BYTES      payload size (default 64; content 512)\n"
		"  --duration S      measured seconds per phase (default 10); --warmup S (default 2)\n"
		"  --conc N          handshakes in flight while connecting (default 8; burst 500)\n"
		"  --src N           source addresses 127.0.0.1..127.0.0.N (default 8)\n"
		"  --rest S          idle scenario: seconds of CPU-at-rest measurement (default 10)\n"
		"  --settle-ms MS    quiet time that ends the presence settle (default 1000)\n"
		"  --timeline MS     print, per MS-long slice of the measured window (by publish\n"
		"                    time), deliveries, how many took over 2 ms, and the worst\n"
		"  --out FILE        append the results (TSV) to FILE\n");
	exit(2);
}

static void parse_windows(const char *list)
{
	char copy[128], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", list);
	cfg.nwindows = 0;
	for(char *t = strtok_r(copy, ",", &save); t && cfg.nwindows < 8; t = strtok_r(NULL, ",", &save)){
		int w = atoi(t);
		if(w <= 0) continue;
		if(w > RING / 2) w = RING / 2;
		cfg.windows[cfg.nwindows++] = w;
	}
	if(!cfg.nwindows) cfg.nwindows = -1;   /* given, and empty: no closed loop */
}

static void parse_pids(const char *list)
{
	char copy[256], *save = NULL;
	snprintf(copy, sizeof(copy), "%s", list);
	cfg.npids = 0;
	for(char *t = strtok_r(copy, ",", &save); t && cfg.npids < MAX_PIDS; t = strtok_r(NULL, ",", &save)){
		if(atoi(t) > 0) cfg.pids[cfg.npids++] = (pid_t)atoi(t);
	}
}

/* USER:PASSWORD, each 1..63 bytes, nothing that the login frame would have
 * to escape. 0, or -1. */
static int parse_login(const char *s)
{
	const char *colon = strchr(s, ':');
	size_t ul = colon ? (size_t)(colon - s) : 0, pl = colon ? strlen(colon + 1) : 0;
	if(!ul || ul >= sizeof(cfg.user) || !pl || pl >= sizeof(cfg.password) || strpbrk(s, "\"\\")) return -1;
	for(const char *q = s; *q; q++) if((unsigned char)*q < 0x20) return -1;
	memcpy(cfg.user, s, ul);
	cfg.user[ul] = '\0';
	memcpy(cfg.password, colon + 1, pl + 1);
	return 0;
}

static void preset(void)
{
	struct defaults d = { .pub_conns = 1, .pub_qos = -1, .rate = 10000, .size = 64 };
	cfg.sc->preset(&d);
	if(cfg.subs < 0) cfg.subs = d.subs;
	if(cfg.channels < 0) cfg.channels = d.chan == -1 ? cfg.subs : d.chan < 0 ? (cfg.subs + 9) / 10 : d.chan;
	if(cfg.channels < 1) cfg.channels = 1;
	if(cfg.pub_kind == -2) cfg.pub_kind = d.pub;
	if(cfg.pub_conns < 0) cfg.pub_conns = cfg.pub_kind == K_HTTP ? d.pub_conns : 1;
	if(cfg.pub_kind != K_HTTP) cfg.pub_conns = 1;
	if(cfg.rate < 0) cfg.rate = d.rate;
	if(!cfg.nwindows) parse_windows(d.window);
	if(cfg.conc < 0) cfg.conc = 8;
	if(cfg.size < 0) cfg.size = d.size;
	if(cfg.pub_qos < 0) cfg.pub_qos = d.pub_qos >= 0 ? d.pub_qos : cfg.pub_kind == K_MQTT ? 0 : 1;
	if(cfg.pub_kind == K_NONE){
		cfg.rate = 0;
		cfg.nwindows = 0;
	}
	if(cfg.pub_kind == K_HTTP && (cfg.sys == SYS_NATIVE || (cfg.sc->dialect != D_WSDO && cfg.sc->dialect < D_COMET_ROOM))){
		fprintf(stderr, "wsbench: %s has no HTTP publisher in %s\n", cfg.system, cfg.scenario);
		exit(2);
	}
	if(cfg.sys == SYS_NCHAN && (cfg.sc->dialect != D_WSDO || (cfg.pub_kind != K_HTTP && cfg.pub_kind != K_NONE))){
		fprintf(stderr, "wsbench: nchan runs the websockets.do scenarios with HTTP publishers only\n");
		exit(2);
	}
	if(cfg.sys == SYS_GW && (cfg.sc->dialect == D_OP || cfg.sc->dialect >= D_COMET_ROOM) && !cfg.secret){
		fprintf(stderr, "wsbench: %s needs --secret (the gateway's jwt_hs256_secret)\n", cfg.scenario);
		exit(2);
	}
	if(cfg.sys == SYS_GW && cfg.pub_kind == K_HTTP && cfg.sc->dialect >= D_COMET_ROOM && !cfg.token){
		fprintf(stderr, "wsbench: %s needs --token (the gateway's comet_service_token)\n", cfg.scenario);
		exit(2);
	}
	if(cfg.sys == SYS_GW && cfg.sc->dialect == D_CONTENT && !cfg.user[0]){
		fprintf(stderr, "wsbench: %s needs --login USER:PASSWORD (a user of the gateway broker's password file)\n",
				cfg.scenario);
		exit(2);
	}
}

static int cmd_freeport(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if(fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || getsockname(fd, (struct sockaddr *)&a, &len)) return 1;
	printf("%d\n", ntohs(a.sin_port));
	close(fd);
	return 0;
}

static int cmd_waitport(int argc, char **argv)
{
	if(argc < 3) usage();
	double secs = argc > 3 ? atof(argv[3]) : 10;
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
	struct sockaddr_in a = { .sin_family = AF_INET };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	while(now_ns() < end){
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
		if(fd >= 0) close(fd);
		if(ok) return 0;
		usleep(50000);
	}
	fprintf(stderr, "wsbench: 127.0.0.1:%s did not open\n", argv[2]);
	return 1;
}

/* The gateway answers 503 NOT_READY until its own broker session is up: wait
 * for an emit (GET /__probe__/emit) to be answered 200. */
static int cmd_waitready(int argc, char **argv)
{
	if(argc < 3) usage();
	double secs = argc > 3 ? atof(argv[3]) : 10;
	uint64_t end = now_ns() + (uint64_t)(secs * 1e9);
	struct sockaddr_in a = { .sin_family = AF_INET };
	static const char req[] = "GET /__probe__/emit?probe=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)atoi(argv[2]));
	while(now_ns() < end){
		char buf[64] = {0};
		struct timeval tv = { .tv_sec = 1 };
		int fd = socket(AF_INET, SOCK_STREAM, 0), ok = 0;
		if(fd >= 0){
			setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
			if(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, req, sizeof(req) - 1) == (ssize_t)(sizeof(req) - 1)
					&& read(fd, buf, sizeof(buf) - 1) >= 12){
				ok = !strncmp(buf + 8, " 200", 4);
			}
			close(fd);
		}
		if(ok) return 0;
		usleep(50000);
	}
	fprintf(stderr, "wsbench: the gateway on 127.0.0.1:%s did not get ready\n", argv[2]);
	return 1;
}

/* One thread's run of the scenario; thread 0 prints the results. */
static void *worker(void *arg)
{
	self = (int)(intptr_t)arg;
	rng ^= (uint32_t)getpid() * 2654435761u + (uint32_t)self * 40503u;
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event pev = { .events = EPOLLIN, .data.ptr = NULL };
	epoll_ctl(ep, EPOLL_CTL_ADD, pokes[self].efd, &pev);
	Rs[self] = &R;
	int npubs = nconns - cfg.subs;
	sync_all();

	/* The content scenario's device publishes every document first: a
	 * get_content of a document that is not there is a 404, not a watch. */
	struct connect_result pc = {0};
	bool pubs_first = cfg.sc->dialect == D_CONTENT && npubs;
	if(pubs_first){
		connect_all(cfg.subs, npubs, &pc);
		for(int i = self; i < cfg.channels; i += cfg.threads) publish(&chans[i]);
		run_for(300 * MS);
		sync_all();
	}

	/* Subscribers. */
	run_for(200 * MS);
	long rss0 = self == 0 ? broker_rss_kb() : -1;
	int fds0 = self == 0 ? broker_fds() : -1;
	struct connect_result cr = {0};
	connect_all(0, cfg.subs, &cr);
	double settle_s = settle();
	quiet_point();
	if(self == 0){
		const struct rstate *s = totals();
		result("subscribers", cr.ready);
		result("connect_s", cr.secs);
		result("connect_rate", cr.secs > 0 ? cr.ready / cr.secs : 0);
		result("connect_p50_us", cr.p50_us);
		result("connect_p99_us", cr.p99_us);
		result("connect_max_us", cr.max_us);
		result("settle_s", settle_s);
		result("failed", s->failed);
		if(cfg.verbose) fprintf(stderr, "wsbench: presence frames %llu, CONNECTED %llu\n",
				(unsigned long long)s->frames_presence, (unsigned long long)s->frames_connected);
	}
	quiet_point();

	if(!strncmp(cfg.scenario, "idle", 4) || !strcmp(cfg.scenario, "burst")){
		long rss1 = self == 0 ? broker_rss_kb() : -1;
		int fds1 = self == 0 ? broker_fds() : -1;
		double c0 = broker_cpu_s(), s0 = self_cpu_s();
		run_for((uint64_t)cfg.rest_ms * MS);
		double c1 = broker_cpu_s(), s1 = self_cpu_s();
		sync_all();
		quiet_point();
		if(self == 0){
			const struct rstate *s = totals();
			long rss2 = broker_rss_kb();
			result("rss_before_kb", (double)rss0);
			result("rss_after_kb", (double)rss1);
			result("rss_rest_end_kb", (double)rss2);
			if(rss0 >= 0 && rss1 >= 0 && cr.ready) result("rss_per_session_kb", (double)(rss1 - rss0) / cr.ready);
			if(fds0 >= 0 && fds1 >= 0 && cr.ready) result("fds_per_session", (double)(fds1 - fds0) / cr.ready);
			if(c0 >= 0 && c1 >= 0 && cfg.rest_ms > 0) result("cpu_rest_pct", (c1 - c0) / (cfg.rest_ms / 1000.0) * 100.0);
			if(cfg.rest_ms > 0) result("tool_cpu_rest_pct", (s1 - s0) / (cfg.rest_ms / 1000.0) * 100.0);
			result("still_connected", s->subs_ready);
			result("dropped", s->dropped);
		}
		quiet_point();
	}else{
		if(npubs && !pubs_first){
			connect_all(cfg.subs, npubs, &pc);
			run_for(300 * MS);
			sync_all();
		}
		if(self == 0) result("publishers", pc.ready);
		struct phase_result pr = {0};
		if(cfg.rate > 0){
			run_phase(P_RATE, &pr, cfg.warmup_ms, cfg.duration_ms);
			if(self == 0){
				result("rate_offered", cfg.rate);
				result("rate_delivered", pr.delivered_s);
				result("rate_p50_us", pr.p50);
				result("rate_p99_us", pr.p99);
				result("rate_p999_us", pr.p999);
				result("rate_max_us", pr.max);
				result("rate_lost", pr.lost);
				result("rate_skipped", (double)pr.skipped);
				result("rate_broker_cpu_pct", pr.broker_cpu);
				result("rate_tool_cpu_pct", pr.tool_cpu);
			}
		}
		if(cfg.nwindows > 0){
			/* Closed loop: the largest delivered rate over the window sweep. */
			struct phase_result best = {0};
			int best_w = 0;
			for(int i = 0; i < cfg.nwindows; i++){
				cfg.window = cfg.windows[i];
				run_phase(P_CLOSED, &pr, cfg.sat_warmup_ms, cfg.sat_ms);
				if(self) continue;
				fprintf(stderr, "wsbench[%s/%s]: window %d: %.0f msg/s, p50 %.0f us, broker CPU %.0f%%, tool CPU %.0f%%\n",
						cfg.scenario, cfg.label, cfg.window, pr.delivered_s, pr.p50, pr.broker_cpu, pr.tool_cpu);
				if(pr.delivered_s > best.delivered_s){
					best = pr;
					best_w = cfg.window;
				}
			}
			if(self == 0){
				pr = best;
				result("sat_window", best_w);
				result("sat_delivered", pr.delivered_s);
				result("sat_p50_us", pr.p50);
				result("sat_p99_us", pr.p99);
				result("sat_lost", pr.lost);
				result("sat_broker_cpu_pct", pr.broker_cpu);
				result("sat_tool_cpu_pct", pr.tool_cpu);
				if(pr.broker_cpu > 0) result("sat_per_broker_cpu_s", pr.delivered_s / (pr.broker_cpu / 100.0));
			}
		}
		quiet_point();
		if(self == 0){
			const struct rstate *s = totals();
			result("http_errors", (double)s->http_err);
			if(s->http_err) fprintf(stderr, "wsbench[%s/%s]: %llu HTTP errors, last status %d\n", cfg.scenario,
					cfg.label, (unsigned long long)s->http_err, s->last_http_status);
			result("dropped", s->dropped);
			result("bad_payloads", (double)s->bad_payload);
		}
		quiet_point();
	}
	if(self == 0){
		/* The tool's own CPU over the whole run, all threads: a figure near
		 * threads x 100% of the run's time is the tool's, not the server's. */
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		result("tool_threads", cfg.threads);
		result("tool_cpu_user_s", (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6);
		result("tool_cpu_sys_s", (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	}
	quiet_point();
	return NULL;
}

int main(int argc, char **argv)
{
	if(argc > 1 && !strcmp(argv[1], "report")) return report_main(argc - 1, argv + 1);
	if(argc > 1 && !strcmp(argv[1], "scenarios")) return cmd_scenarios();
	if(argc > 1 && !strcmp(argv[1], "freeport")) return cmd_freeport();
	if(argc > 1 && !strcmp(argv[1], "waitport")) return cmd_waitport(argc, argv);
	if(argc > 1 && !strcmp(argv[1], "waitready")) return cmd_waitready(argc, argv);

	static const struct option lo[] = {
		{"system", 1, 0, 'S'}, {"scenario", 1, 0, 'c'}, {"ws", 1, 0, 'w'}, {"mqtt", 1, 0, 'm'},
		{"pid", 1, 0, 'p'}, {"subs", 1, 0, 'n'}, {"channels", 1, 0, 'C'}, {"pub", 1, 0, 'P'},
		{"pub-conns", 1, 0, 'k'}, {"rate", 1, 0, 'r'}, {"window", 1, 0, 'W'}, {"qos", 1, 0, 'q'},
		{"sub-qos", 1, 0, 'Q'}, {"size", 1, 0, 'z'}, {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'u'},
		{"conc", 1, 0, 'x'}, {"src", 1, 0, 's'}, {"rest", 1, 0, 'R'}, {"settle-ms", 1, 0, 'T'},
		{"out", 1, 0, 'o'}, {"verbose", 0, 0, 'v'}, {"sat-duration", 1, 0, 'D'}, {"timeline", 1, 0, 'L'},
		{"threads", 1, 0, 'j'}, {"label", 1, 0, 'l'}, {"secret", 1, 0, 'K'}, {"token", 1, 0, 'A'},
		{"login", 1, 0, 'U'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}
	};
	cfg.subs = cfg.channels = cfg.pub_conns = cfg.pub_qos = -1;
	cfg.pub_kind = -2;
	cfg.rate = -1;
	cfg.sub_qos = 1;
	cfg.size = -1;
	cfg.conc = -1;
	cfg.src_count = 8;
	cfg.keepalive = 60;
	cfg.duration_ms = 10000;
	cfg.warmup_ms = 2000;
	cfg.settle_ms = 1000;
	cfg.settle_max_ms = 120000;
	cfg.connect_max_ms = 60000;
	cfg.rest_ms = 10000;
	cfg.sat_ms = 4000;
	cfg.sat_warmup_ms = 1000;
	cfg.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
	bool have_ws = false, have_mqtt = false;
	int o;
	while((o = getopt_long(argc, argv, "", lo, NULL)) != -1){
		switch(o){
		case 'S': cfg.system = optarg; break;
		case 'c': cfg.scenario = optarg; break;
		case 'w': if(parse_addr(optarg, &cfg.ws)) usage(); have_ws = true; break;
		case 'm': if(parse_addr(optarg, &cfg.mqtt)) usage(); have_mqtt = true; break;
		case 'p': parse_pids(optarg); break;
		case 'n': cfg.subs = atoi(optarg); break;
		case 'C': cfg.channels = atoi(optarg); break;
		case 'P':
			cfg.pub_kind = !strcmp(optarg, "http") ? K_HTTP : !strcmp(optarg, "mqttws") ? K_MQTTWS
				: !strcmp(optarg, "mqtt") ? K_MQTT : !strcmp(optarg, "none") ? K_NONE : -3;
			if(cfg.pub_kind == -3) usage();
			break;
		case 'k': cfg.pub_conns = atoi(optarg); break;
		case 'r': cfg.rate = atof(optarg); break;
		case 'W': parse_windows(optarg); break;
		case 'q': cfg.pub_qos = atoi(optarg) ? 1 : 0; break;
		case 'Q': cfg.sub_qos = atoi(optarg) ? 1 : 0; break;
		case 'z': cfg.size = atoi(optarg); break;
		case 'd': cfg.duration_ms = (int)(atof(optarg) * 1000); break;
		case 'u': cfg.warmup_ms = (int)(atof(optarg) * 1000); break;
		case 'x': cfg.conc = atoi(optarg); break;
		case 's': cfg.src_count = atoi(optarg); break;
		case 'R': cfg.rest_ms = (int)(atof(optarg) * 1000); break;
		case 'T': cfg.settle_ms = atoi(optarg); break;
		case 'o': cfg.out = optarg; break;
		case 'v': cfg.verbose = true; break;
		case 'D': cfg.sat_ms = (int)(atof(optarg) * 1000); break;
		case 'L': cfg.timeline_ms = atoi(optarg); break;
		case 'j': cfg.threads = atoi(optarg); break;
		case 'l': cfg.label = optarg; break;
		case 'K': cfg.secret = optarg; break;
		case 'A': cfg.token = optarg; break;
		case 'U': if(parse_login(optarg)) usage(); break;
		default: usage();
		}
	}
	if(!cfg.system || !cfg.scenario || !have_ws) usage();
	cfg.sys = !strcmp(cfg.system, "gw") ? SYS_GW : !strcmp(cfg.system, "native") ? SYS_NATIVE
		: !strcmp(cfg.system, "nchan") ? SYS_NCHAN : 0;
	if(!cfg.sys) usage();
	if(!cfg.label) cfg.label = cfg.system;
	if(!(cfg.sc = find_scenario(cfg.scenario))){
		fprintf(stderr, "wsbench: unknown scenario %s (wsbench scenarios lists them)\n", cfg.scenario);
		return 2;
	}
	if(!(cfg.sc->systems & cfg.sys)){
		fprintf(stderr, "wsbench: %s does not run against %s\n", cfg.scenario, cfg.system);
		return 2;
	}
	preset();
	if(cfg.pub_kind == K_MQTT && !have_mqtt){
		fprintf(stderr, "wsbench: --mqtt is needed for MQTT publishers\n");
		return 2;
	}
	if(cfg.subs < 1 || cfg.duration_ms < 100 || cfg.conc < 1 || cfg.src_count < 1 || cfg.src_count > 250
			|| cfg.size < 40 || cfg.size > 4000 || cfg.rate > 1e7 || cfg.threads < 1 || cfg.threads > MAX_THREADS){
		usage();
	}
	if(cfg.out && !(outf = fopen(cfg.out, "a"))){
		perror(cfg.out);
		return 2;
	}
	snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1:%d", ntohs(cfg.ws.sin_port));
	signal(SIGPIPE, SIG_IGN);

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	int npubs = cfg.pub_kind == K_NONE ? 0 : cfg.channels * cfg.pub_conns;
	if((rlim_t)(cfg.subs + npubs + 64 + 2 * cfg.threads) > rl.rlim_cur){
		fprintf(stderr, "wsbench: %d connections need more descriptors than ulimit -n (%llu)\n",
				cfg.subs + npubs, (unsigned long long)rl.rlim_cur);
		return 2;
	}

	nconns = cfg.subs + npubs;
	conns = calloc((size_t)nconns, sizeof(*conns));
	chans = calloc((size_t)cfg.channels, sizeof(*chans));
	if(!conns || !chans) return 2;
	for(int i = 0; i < cfg.channels; i++){
		struct chan *ch = &chans[i];
		chan_names(ch, i);
		ch->pub0 = (uint32_t)(cfg.subs + i * cfg.pub_conns);
		ch->npub = npubs ? (uint32_t)cfg.pub_conns : 0;
	}
	enum kind sk = sub_kind();
	for(int i = 0; i < nconns; i++){
		struct conn *c = &conns[i];
		c->fd = -1;
		c->id = (uint32_t)i;
		if(i < cfg.subs){
			c->role = R_SUB;
			c->kind = (uint8_t)sk;
			c->chan = (uint32_t)(i % cfg.channels);
			c->owner = (uint16_t)(i % cfg.threads);
		}else{
			c->role = R_PUB;
			c->kind = (uint8_t)cfg.pub_kind;
			c->chan = (uint32_t)((i - cfg.subs) / cfg.pub_conns);
			c->owner = (uint16_t)(c->chan % (uint32_t)cfg.threads);
		}
	}
	for(int t = 0; t < cfg.threads; t++){
		pthread_mutex_init(&pokes[t].mu, NULL);
		pokes[t].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if(pokes[t].efd < 0){
			perror("eventfd");
			return 2;
		}
	}
	if(cfg.threads > 1) pthread_barrier_init(&quiet, NULL, (unsigned)cfg.threads);
	fprintf(stderr, "wsbench[%s/%s]: %d subscribers on %d channels, publisher %s x%d, rate %.0f/s, %d windows, %d threads\n",
			cfg.scenario, cfg.label, cfg.subs, cfg.channels,
			cfg.pub_kind == K_HTTP ? "http" : cfg.pub_kind == K_MQTTWS ? "mqttws" : cfg.pub_kind == K_MQTT ? "mqtt" : "none",
			cfg.pub_conns, cfg.rate, cfg.nwindows > 0 ? cfg.nwindows : 0, cfg.threads);

	pthread_t th[MAX_THREADS];
	for(int t = 1; t < cfg.threads; t++){
		if(pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t)){
			fprintf(stderr, "wsbench: cannot start thread %d\n", t);
			return 2;
		}
	}
	worker((void *)(intptr_t)0);
	for(int t = 1; t < cfg.threads; t++) pthread_join(th[t], NULL);
	if(outf) fclose(outf);
	/* Leave the way a client does: the kernel closes every socket. */
	return 0;
}
