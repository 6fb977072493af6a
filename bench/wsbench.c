/* wsbench: drives one scenario against one system and prints its numbers.
 *
 *   wsbench --system gw|native --scenario idle|burst|fanout|fanout_web|channels|device|content
 *           --ws 127.0.0.1:PORT [--mqtt 127.0.0.1:PORT] [--pid BROKER_PID] [options]
 *   wsbench report RESULTS.tsv     the comparison table (wsb_report.c)
 *   wsbench freeport               prints a free TCP port on 127.0.0.1
 *   wsbench waitport PORT [SECS]   waits until 127.0.0.1:PORT accepts
 *
 * The gateway's subscribers are websockets.do listeners (ws://.../<channel>/listen,
 * ready at CONNECTED); Mosquitto's are MQTT 3.1.1 clients over WebSocket
 * (subprotocol "mqtt", ready at SUBACK) subscribed to the same topic the
 * gateway maps the channel to, wsgw/wsdo/<channel>. Publishers: HTTP POST
 * /<channel>/emit (the gateway's web publish), MQTT over WebSocket (the native
 * web publish) or MQTT over TCP (devices, either system). Every payload carries
 * its send time: {"t":<CLOCK_MONOTONIC ns>,"s":<seq>,"c":<channel>,"p":"..."}.
 *
 * The content scenario: the payload is a document, published retained by an
 * MQTT device to wsgw/content/bench/<channel>. The gateway's subscribers are
 * content sync clients (ws://.../content: login, then get_content with
 * subscribe:true on the key {"type":"bench","id":<channel>}, ready at its 200);
 * a change reaches them as a "changed" notification whose patch replaces "/t".
 * Mosquitto's subscribers are MQTT-over-WebSocket clients of the same topic,
 * which get every retained update as the full document.
 *
 * Everything connects to 127.0.0.0/8 only; every wait has a deadline. */
#include "wsb.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define MS 1000000ull
#define SEC 1000000000ull
#define RING 256                       /* closed-loop window slots per channel */
#define LOST_AFTER_NS (5 * SEC)        /* a closed-loop message not complete by then is lost */

enum kind { K_NONE = -1, K_WSDO, K_MQTTWS, K_MQTT, K_HTTP, K_CONTENT };
enum role { R_SUB, R_PUB };
/* A content client is S_MQTT_CONNECTING while its login is answered and
 * S_SUBSCRIBING while its get_content is. */
enum state { S_NEW, S_CONNECTING, S_UPGRADING, S_MQTT_CONNECTING, S_SUBSCRIBING, S_READY, S_DEAD };
enum phase { P_NONE, P_RATE, P_CLOSED };

struct conn {
	int fd;
	uint8_t kind, role, state;
	bool out_armed, busy, want_restart, upgraded;
	uint32_t id, chan;
	int msg_opcode;
	struct buf rx, tx, msg, mq;
	uint64_t t_start, t_ready, last_tx;
	uint16_t pid;
};

struct chan {
	uint32_t nsubs;                    /* ready subscribers */
	uint32_t next_seq, done_seq;       /* closed loop: every seq below done_seq is complete */
	uint64_t next_due;                 /* rate mode */
	uint32_t pub0, npub, rr;           /* publisher connections */
	char name[32], topic[64], path[64];
	uint16_t cnt[RING], want[RING];
	uint64_t sent_ns[RING];
};

static struct {
	const char *system, *scenario, *out;
	bool gw;
	struct sockaddr_in ws, mqtt;
	char host[64];
	pid_t pid;
	int subs, channels, pub_conns, pub_kind, sub_qos, pub_qos, window, size, conc, src_count, keepalive;
	int windows[8], nwindows;          /* closed-loop sweep */
	double rate;                       /* deliveries per second offered */
	bool content;                      /* the content scenario: retained documents */
	int duration_ms, warmup_ms, settle_ms, settle_max_ms, connect_max_ms, rest_ms, sat_ms, sat_warmup_ms, timeline_ms;
	bool verbose;
} cfg;

static struct {
	enum phase phase;
	uint64_t win_start, win_end;
	uint64_t deliveries, win_deliveries, expected, published, skipped, lost, bad_payload, pub_acks;
	uint64_t http_ok, http_err, frames_connected, frames_presence, frames_error, frames_ping;
	uint64_t last_ctrl_ns, last_delivery_ns, last_sweep_ns, last_keepalive_ns;
	int inflight, subs_ready, pubs_ready, failed, dropped, reconnects, last_http_status;
	struct hist lat;
	double conn_p50_us, conn_p99_us, conn_max_us;   /* handshake to ready, last connect_all() */
} R;

static int ep = -1;
static struct conn *conns;
static int nconns;
static struct chan *chans;
static uint8_t rbuf[1 << 18];
static uint32_t rng = 0x9E3779B9u;
static int complaints;

static uint32_t rnd32(void)
{
	rng ^= rng << 13; rng ^= rng >> 17; rng ^= rng << 5;
	return rng;
}

static void complain(const char *what, const struct conn *c, const char *detail)
{
	if(complaints++ < 8){
		fprintf(stderr, "wsbench[%s/%s]: %s (conn %u kind %d state %d)%s%s\n", cfg.scenario, cfg.system,
				what, c ? c->id : 0, c ? c->kind : -1, c ? c->state : -1, detail ? ": " : "", detail ? detail : "");
	}else if(complaints == 9){
		fprintf(stderr, "wsbench[%s/%s]: more problems; not shown\n", cfg.scenario, cfg.system);
	}
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
			chans[c->chan].nsubs--;
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
		chans[c->chan].nsubs++;
	}else{
		R.pubs_ready++;
	}
}

static void send_ws(struct conn *c, int opcode, const void *p, size_t n)
{
	ws_frame(&c->tx, opcode, p, n, rnd32());
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

static void on_connected(struct conn *c)
{
	switch(c->kind){
	case K_WSDO: {
		char path[96];
		snprintf(path, sizeof(path), "/%s/listen", chans[c->chan].name);
		ws_upgrade_request(&c->tx, cfg.host, path, NULL, c->id);
		c->state = S_UPGRADING;
		break;
	}
	case K_MQTTWS:
		ws_upgrade_request(&c->tx, cfg.host, "/mqtt", "mqtt", c->id);
		c->state = S_UPGRADING;
		break;
	case K_CONTENT:
		ws_upgrade_request(&c->tx, cfg.host, "/content", NULL, c->id);
		c->state = S_UPGRADING;
		break;
	case K_MQTT:
		send_connect(c);
		break;
	case K_HTTP:
		set_ready(c, now_ns());
		break;
	}
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

/* ---- publishing ---- */

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
	uint32_t seq = ch->next_seq++;
	uint32_t slot = seq % RING;
	uint64_t t = now_ns();
	ch->cnt[slot] = 0;
	ch->want[slot] = (uint16_t)ch->nsubs;
	ch->sent_ns[slot] = t;
	int n = snprintf(payload, sizeof(payload), "{\"t\":%llu,\"s\":%u,\"c\":%u,\"p\":\"",
			(unsigned long long)t, seq, (unsigned)(ch - chans));
	/* A document's "p" stays the same from one version to the next (its
	 * length does not follow the digits of t and s), so that a change is
	 * a patch of /t and /s only; the size is then cfg.size give or take a
	 * few bytes. */
	int pad = cfg.content ? cfg.size - 64 : cfg.size - n - 2;
	if(pad > (int)sizeof(payload) - n - 3) pad = (int)sizeof(payload) - n - 3;
	for(int i = 0; i < pad; i++) payload[n++] = 'x';
	payload[n++] = '"';
	payload[n++] = '}';
	switch(c->kind){
	case K_HTTP:
		http_post(&c->tx, cfg.host, ch->path, payload, (size_t)n);
		c->busy = true;
		break;
	case K_MQTTWS:
	case K_MQTT: {
		struct buf b = {0};
		if(cfg.pub_qos) c->pid = (uint16_t)(c->pid % 65535 + 1);
		mqtt_publish_retain(&b, ch->topic, payload, (size_t)n, cfg.pub_qos, c->pid, cfg.content);
		send_mqtt(c, &b);
		buf_free(&b);
		break;
	}
	default:
		break;
	}
	R.published++;
	R.expected += ch->nsubs;
	flush(c);
	return true;
}

static void try_publish(struct chan *ch)
{
	if(R.phase != P_CLOSED) return;
	while(ch->next_seq - ch->done_seq < (uint32_t)cfg.window && publish(ch)){}
}

static void advance(struct chan *ch)
{
	bool moved = false;
	while(ch->done_seq != ch->next_seq && ch->cnt[ch->done_seq % RING] >= ch->want[ch->done_seq % RING]){
		ch->done_seq++;
		moved = true;
	}
	if(moved) try_publish(ch);
}

/* ---- --timeline MS: per-slice count and worst latency, by publish time ---- */

#define TL_MAX 2000
static struct { uint64_t n, max, over; } tl[TL_MAX];
static int tl_n;

static void timeline_add(uint64_t t, uint64_t lat)
{
	uint64_t slice;
	if(!cfg.timeline_ms || t < R.win_start) return;
	slice = (t - R.win_start) / ((uint64_t)cfg.timeline_ms * MS);
	if(slice >= TL_MAX) return;
	if((int)slice >= tl_n) tl_n = (int)slice + 1;
	tl[slice].n++;
	if(lat > tl[slice].max) tl[slice].max = lat;
	if(lat > 2 * MS) tl[slice].over++;
}

static void timeline_print(const char *phase)
{
	for(int i = 0; i < tl_n; i++){
		fprintf(stderr, "wsbench[%s/%s] %s slice %d (+%d ms): %llu delivered, %llu over 2 ms, worst %llu us\n",
				cfg.scenario, cfg.system, phase, i, i * cfg.timeline_ms, (unsigned long long)tl[i].n,
				(unsigned long long)tl[i].over, (unsigned long long)(tl[i].max / 1000));
	}
	memset(tl, 0, sizeof(tl));
	tl_n = 0;
}

/* ---- receiving ---- */

static void delivered(struct conn *c, uint64_t t, uint64_t s, uint64_t now);

static void on_delivery(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
	uint64_t t, s;
	if(!json_find_u64(p, n, "\"t\":", &t) || !json_find_u64(p, n, "\"s\":", &s)){
		R.bad_payload++;
		return;
	}
	delivered(c, t, s, now);
}

/* A message sent at t with sequence number s reached c at now. */
static void delivered(struct conn *c, uint64_t t, uint64_t s, uint64_t now)
{
	R.deliveries++;
	R.last_delivery_ns = now;
	if(now >= R.win_start && now < R.win_end){
		R.win_deliveries++;
		hist_add(&R.lat, now > t ? now - t : 0);
		timeline_add(t, now > t ? now - t : 0);
	}
	if(R.phase == P_CLOSED){
		struct chan *ch = &chans[c->chan];
		uint32_t seq = (uint32_t)s;
		if(seq - ch->done_seq < ch->next_seq - ch->done_seq){
			ch->cnt[seq % RING]++;
			if(seq == ch->done_seq) advance(ch);
		}
	}
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
		R.last_ctrl_ns = now;
		if(c->state == S_UPGRADING) set_ready(c, now);
	}else if(IS("PING")){
		static const char pong[] = "{\"type\":\"PONG\"}";
		R.frames_ping++;
		send_ws(c, WS_TEXT, pong, sizeof(pong) - 1);
	}else if(left > 9 && !memcmp(type, "PRESENCE:", 9)){
		R.frames_presence++;
		R.last_ctrl_ns = now;
	}else{
		R.frames_error++;
		R.last_ctrl_ns = now;
		char text[200];
		snprintf(text, sizeof(text), "%.*s", (int)(n < 190 ? n : 190), (const char *)p);
		complain("unexpected frame", c, text);
	}
#undef IS
}

static void send_content(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void send_content(struct conn *c, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	send_ws(c, WS_TEXT, text, (size_t)n);
}

/* The content sync client: results of its login and get_content, then the
 * "changed" notifications of its watch. The frames are the gateway's compact
 * JSON: {"type":..., "id":..., "cls":..., "status":...}. */
static void on_content_text(struct conn *c, const uint8_t *p, size_t n, uint64_t now)
{
#define HAS(s) (memmem(p, n, s, sizeof(s) - 1) != NULL)
	char text[200];
	snprintf(text, sizeof(text), "%.*s", (int)(n < 190 ? n : 190), (const char *)p);
	if(HAS("\"type\":\"notify\"")){
		uint64_t t, s;
		if(!HAS("\"cls\":\"changed\"")){
			/* subscribe (the watch started) or revoke (it ended) */
			R.last_ctrl_ns = now;
			if(HAS("\"cls\":\"revoke\"")) complain("watch revoked", c, text);
			return;
		}
		/* the patch replaces /t and /s; without one (the gateway had no
		 * patch from the client's version) the client would re-fetch */
		if(!json_find_u64_after(p, n, "\"/t\"", "\"value\":", &t) || !json_find_u64_after(p, n, "\"/s\"", "\"value\":", &s)){
			R.bad_payload++;
			complain("change without a patch of /t and /s", c, text);
			return;
		}
		delivered(c, t, s, now);
		return;
	}
	R.last_ctrl_ns = now;
	if(!HAS("\"type\":\"result\"") || !HAS("\"status\":200")){
		R.frames_error++;
		conn_kill(c, text);
		return;
	}
	if(c->state == S_MQTT_CONNECTING && HAS("\"cls\":\"login\"")){
		send_content(c, "{\"type\":\"request\",\"id\":\"g\",\"cls\":\"get_content\",\"data\":{\"key\":"
				"{\"type\":\"bench\",\"id\":\"%s\"},\"ver\":null,\"subscribe\":true}}", chans[c->chan].name);
		c->state = S_SUBSCRIBING;
	}else if(c->state == S_SUBSCRIBING && HAS("\"cls\":\"get_content\"")){
		set_ready(c, now);
	}
#undef HAS
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
		R.last_ctrl_ns = now;
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
	if(c->kind == K_WSDO){
		if(opcode == WS_TEXT) on_wsdo_text(c, p, n, now);
		return;
	}
	if(c->kind == K_CONTENT){
		if(opcode == WS_TEXT) on_content_text(c, p, n, now);
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
			if(status == 200) R.http_ok++;
			else{
				R.http_err++;
				R.last_http_status = status;
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
		if(c->kind == K_MQTTWS) send_connect(c);
		if(c->kind == K_CONTENT){
			/* every client is the user wsb (password bench): run.sh puts
			 * it in the gateway broker's password file */
			send_content(c, "{\"type\":\"request\",\"id\":\"l%u\",\"cls\":\"login\",\"data\":"
					"{\"username\":\"wsb\",\"password\":\"bench\"}}", c->id);
			c->state = S_MQTT_CONNECTING;
		}
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
		for(int i = 0; i < cfg.channels; i++){
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
		for(int i = 0; i < cfg.channels; i++){
			struct chan *ch = &chans[i];
			if(ch->done_seq != ch->next_seq && now - ch->sent_ns[ch->done_seq % RING] > LOST_AFTER_NS){
				uint32_t slot = ch->done_seq % RING;
				R.lost += ch->want[slot] > ch->cnt[slot] ? ch->want[slot] - ch->cnt[slot] : 0;
				ch->cnt[slot] = ch->want[slot];
				advance(ch);
			}
			try_publish(ch);
		}
	}
	/* Publishers the server closed (HTTP keep-alive ends) come back. */
	for(int i = cfg.subs; i < nconns; i++){
		if(conns[i].want_restart && R.phase != P_NONE){
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
		if(c->state != S_READY || (c->kind != K_MQTT && c->kind != K_MQTTWS)) continue;
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
		if(c->state != S_DEAD) on_event(c, ev[i].events);
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

/* Opens conns[first..first+count) with at most cfg.conc handshakes in flight.
 * Returns the seconds from the first connect to the last ready connection. */
static double connect_all(int first, int count, int *ready_out)
{
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)cfg.connect_max_ms * MS, last_ready = t0;
	int next = first;
	while(now_ns() < deadline){
		while(next < first + count && R.inflight < cfg.conc) conn_start(&conns[next++]);
		if(next == first + count && R.inflight == 0) break;
		loop_once(1);
	}
	int ready = 0;
	struct hist h;
	hist_reset(&h);
	for(int i = first; i < first + count; i++){
		if(conns[i].state == S_READY){
			ready++;
			if(conns[i].t_ready > last_ready) last_ready = conns[i].t_ready;
			hist_add(&h, conns[i].t_ready - conns[i].t_start);
		}
	}
	R.conn_p50_us = (double)hist_pct(&h, 50) / 1000.0;
	R.conn_p99_us = (double)hist_pct(&h, 99) / 1000.0;
	R.conn_max_us = (double)h.max / 1000.0;
	*ready_out = ready;
	if(next < first + count || R.inflight) fprintf(stderr, "wsbench[%s/%s]: connect deadline: %d of %d ready\n",
			cfg.scenario, cfg.system, ready, count);
	return (double)(last_ready - t0) / 1e9;
}

/* Waits until no presence/CONNECTED/SUBACK frame came for settle_ms. */
static double settle(void)
{
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)cfg.settle_max_ms * MS;
	R.last_ctrl_ns = R.last_ctrl_ns ? R.last_ctrl_ns : t0;
	while(now_ns() < deadline){
		loop_once(5);
		if(now_ns() - R.last_ctrl_ns >= (uint64_t)cfg.settle_ms * MS) break;
	}
	uint64_t quiet_from = R.last_ctrl_ns > t0 ? R.last_ctrl_ns : t0;
	return (double)(quiet_from - t0) / 1e9;
}

/* Runs until nothing was delivered for 500 ms (at most max_ns). */
static void drain(uint64_t max_ns)
{
	uint64_t t0 = now_ns(), end = t0 + max_ns;
	R.last_delivery_ns = t0;
	while(now_ns() < end && now_ns() - R.last_delivery_ns < 500 * MS) loop_once(5);
}

/* ---- results ---- */

static FILE *outf;

static void result(const char *metric, double v)
{
	printf("%s\t%s\t%s\t%.6g\n", cfg.scenario, cfg.system, metric, v);
	if(outf) fprintf(outf, "%s\t%s\t%s\t%.6g\n", cfg.scenario, cfg.system, metric, v);
}

struct phase_result {
	double delivered_s, p50, p99, p999, max, broker_cpu, tool_cpu, lost;
	uint64_t published, skipped;
};

static void run_phase(enum phase ph, struct phase_result *pr, int warmup_ms, int duration_ms)
{
	uint64_t t0 = now_ns();
	hist_reset(&R.lat);
	R.win_deliveries = 0;
	R.deliveries = 0;
	R.expected = 0;
	R.published = 0;
	R.skipped = 0;
	R.lost = 0;
	for(int i = 0; i < cfg.channels; i++){
		struct chan *ch = &chans[i];
		ch->done_seq = ch->next_seq;
		if(cfg.rate > 0) ch->next_due = t0 + (uint64_t)((double)i / cfg.channels * (1e9 * cfg.subs / cfg.rate));
	}
	R.win_start = t0 + (uint64_t)warmup_ms * MS;
	R.win_end = R.win_start + (uint64_t)duration_ms * MS;
	R.phase = ph;
	for(int i = 0; i < cfg.channels; i++) try_publish(&chans[i]);
	while(now_ns() < R.win_start) loop_once(1);
	double b0 = proc_cpu_s(cfg.pid), s0 = self_cpu_s();
	while(now_ns() < R.win_end) loop_once(1);
	double b1 = proc_cpu_s(cfg.pid), s1 = self_cpu_s();
	R.phase = P_NONE;
	uint64_t published = R.published, skipped = R.skipped;
	drain(5 * SEC);
	pr->delivered_s = (double)R.win_deliveries / (duration_ms / 1000.0);
	pr->p50 = (double)hist_pct(&R.lat, 50) / 1000.0;
	pr->p99 = (double)hist_pct(&R.lat, 99) / 1000.0;
	pr->p999 = (double)hist_pct(&R.lat, 99.9) / 1000.0;
	pr->max = (double)R.lat.max / 1000.0;
	pr->broker_cpu = b0 >= 0 && b1 >= 0 ? (b1 - b0) / (duration_ms / 1000.0) * 100.0 : -1;
	pr->tool_cpu = (s1 - s0) / (duration_ms / 1000.0) * 100.0;
	if(cfg.timeline_ms) timeline_print(ph == P_RATE ? "rate" : "closed");
	pr->lost = (double)(R.expected > R.deliveries ? R.expected - R.deliveries : 0);
	pr->published = published;
	pr->skipped = skipped;
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
		"usage: wsbench --system gw|native --scenario idle|burst|fanout|fanout_web|channels|device|content\n"
		"               --ws 127.0.0.1:PORT [--mqtt 127.0.0.1:PORT] [--pid BROKER_PID] [options]\n"
		"       wsbench report RESULTS.tsv... (medians over files) | freeport | waitport PORT [SECS]\n"
		"       wsbench waitready PORT [SECS] (the gateway answers an emit with 200)\n"
		"options (the scenario sets the defaults):\n"
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
		"  --size BYTES      payload size (default 64; content: 512, so that a patch of /t\n"
		"                    and /s is smaller than the document and the gateway sends it)\n"
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

static void preset(void)
{
	const char *s = cfg.scenario;
	int d_subs, d_chan, d_pubconns = 1;
	const char *d_window;
	enum kind d_pub;
	double d_rate = 10000;
	if(!strncmp(s, "idle", 4)){
		d_subs = 10000; d_chan = -10; d_pub = K_NONE; d_rate = 0; d_window = "";
	}else if(!strcmp(s, "burst")){
		/* Connection bursts: many handshakes at once, nothing measured at rest. */
		d_subs = 1000; d_chan = -10; d_pub = K_NONE; d_rate = 0; d_window = "";
		if(cfg.conc < 0) cfg.conc = 500;
		cfg.rest_ms = 0;
	}else if(!strcmp(s, "fanout")){
		/* The same MQTT publisher for both: the comparison is the WebSocket fan-out. */
		d_subs = 1000; d_chan = 1; d_pub = K_MQTT; d_window = "2,4,8,16,32";
		if(cfg.pub_qos < 0) cfg.pub_qos = 1;
	}else if(!strcmp(s, "fanout_web")){
		/* Each system's own web publisher: HTTP emit vs MQTT over WebSocket. */
		d_subs = 1000; d_chan = 1; d_pub = cfg.gw ? K_HTTP : K_MQTTWS; d_window = "1,2,4,8"; d_pubconns = 8;
	}else if(!strcmp(s, "channels")){
		d_subs = 1000; d_chan = -1; d_pub = cfg.gw ? K_HTTP : K_MQTTWS; d_window = "1";
	}else if(!strcmp(s, "device")){
		d_subs = 1000; d_chan = 100; d_pub = K_MQTT; d_window = "1,2,4,8,16";
	}else if(!strcmp(s, "content")){
		/* One document that every client watches, updated by a device at a
		 * fixed rate (10 updates/s for 1,000 watchers); no closed loop: a
		 * device does not wait for its watchers. */
		d_subs = 1000; d_chan = 1; d_pub = K_MQTT; d_window = "";
		cfg.content = true;
		if(cfg.pub_qos < 0) cfg.pub_qos = 1;
	}else{
		fprintf(stderr, "wsbench: unknown scenario %s\n", s);
		exit(2);
	}
	if(cfg.subs < 0) cfg.subs = d_subs;
	/* d_chan: -1 = one channel per subscriber, -10 = ten subscribers per channel. */
	if(cfg.channels < 0) cfg.channels = d_chan == -1 ? cfg.subs : d_chan < 0 ? (cfg.subs + 9) / 10 : d_chan;
	if(cfg.channels < 1) cfg.channels = 1;
	if(cfg.pub_kind == -2) cfg.pub_kind = d_pub;
	if(cfg.pub_conns < 0) cfg.pub_conns = cfg.pub_kind == K_HTTP ? d_pubconns : 1;
	if(cfg.pub_kind != K_HTTP) cfg.pub_conns = 1;
	if(cfg.rate < 0) cfg.rate = d_rate;
	if(!cfg.nwindows) parse_windows(d_window);
	if(cfg.conc < 0) cfg.conc = 8;
	if(cfg.size < 0) cfg.size = cfg.content ? 512 : 64;
	if(cfg.pub_qos < 0) cfg.pub_qos = cfg.pub_kind == K_MQTT ? 0 : 1;
	if(cfg.pub_kind == K_NONE){
		cfg.rate = 0;
		cfg.nwindows = 0;
	}
	if(cfg.pub_kind == K_HTTP && !cfg.gw){
		fprintf(stderr, "wsbench: the native system has no HTTP emit\n");
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

int main(int argc, char **argv)
{
	if(argc > 1 && !strcmp(argv[1], "report")) return report_main(argc - 1, argv + 1);
	if(argc > 1 && !strcmp(argv[1], "freeport")) return cmd_freeport();
	if(argc > 1 && !strcmp(argv[1], "waitport")) return cmd_waitport(argc, argv);
	if(argc > 1 && !strcmp(argv[1], "waitready")) return cmd_waitready(argc, argv);

	static const struct option lo[] = {
		{"system", 1, 0, 'S'}, {"scenario", 1, 0, 'c'}, {"ws", 1, 0, 'w'}, {"mqtt", 1, 0, 'm'},
		{"pid", 1, 0, 'p'}, {"subs", 1, 0, 'n'}, {"channels", 1, 0, 'C'}, {"pub", 1, 0, 'P'},
		{"pub-conns", 1, 0, 'k'}, {"rate", 1, 0, 'r'}, {"window", 1, 0, 'W'}, {"qos", 1, 0, 'q'},
		{"sub-qos", 1, 0, 'Q'}, {"size", 1, 0, 'z'}, {"duration", 1, 0, 'd'}, {"warmup", 1, 0, 'u'},
		{"conc", 1, 0, 'x'}, {"src", 1, 0, 's'}, {"rest", 1, 0, 'R'}, {"settle-ms", 1, 0, 'T'},
		{"out", 1, 0, 'o'}, {"verbose", 0, 0, 'v'}, {"sat-duration", 1, 0, 'D'}, {"timeline", 1, 0, 'L'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}
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
	bool have_ws = false, have_mqtt = false;
	int o;
	while((o = getopt_long(argc, argv, "", lo, NULL)) != -1){
		switch(o){
		case 'S': cfg.system = optarg; cfg.gw = !strcmp(optarg, "gw"); break;
		case 'c': cfg.scenario = optarg; break;
		case 'w': if(parse_addr(optarg, &cfg.ws)) usage(); have_ws = true; break;
		case 'm': if(parse_addr(optarg, &cfg.mqtt)) usage(); have_mqtt = true; break;
		case 'p': cfg.pid = (pid_t)atoi(optarg); break;
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
		default: usage();
		}
	}
	if(!cfg.system || !cfg.scenario || !have_ws || (strcmp(cfg.system, "gw") && strcmp(cfg.system, "native"))) usage();
	preset();
	if(cfg.pub_kind == K_MQTT && !have_mqtt){
		fprintf(stderr, "wsbench: --mqtt is needed for MQTT publishers\n");
		return 2;
	}
	if(cfg.subs < 1 || cfg.duration_ms < 100 || cfg.conc < 1 || cfg.src_count < 1 || cfg.src_count > 250
			|| cfg.size < 40 || cfg.size > 4000 || cfg.rate > 1e7){
		usage();
	}
	if(cfg.out && !(outf = fopen(cfg.out, "a"))){
		perror(cfg.out);
		return 2;
	}
	snprintf(cfg.host, sizeof(cfg.host), "127.0.0.1:%d", ntohs(cfg.ws.sin_port));
	signal(SIGPIPE, SIG_IGN);
	rng ^= (uint32_t)getpid();

	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	int npubs = cfg.pub_kind == K_NONE ? 0 : cfg.channels * cfg.pub_conns;
	if((rlim_t)(cfg.subs + npubs + 64) > rl.rlim_cur){
		fprintf(stderr, "wsbench: %d connections need more descriptors than ulimit -n (%llu)\n",
				cfg.subs + npubs, (unsigned long long)rl.rlim_cur);
		return 2;
	}

	ep = epoll_create1(EPOLL_CLOEXEC);
	nconns = cfg.subs + npubs;
	conns = calloc((size_t)nconns, sizeof(*conns));
	chans = calloc((size_t)cfg.channels, sizeof(*chans));
	if(!conns || !chans) return 2;
	for(int i = 0; i < cfg.channels; i++){
		struct chan *ch = &chans[i];
		snprintf(ch->name, sizeof(ch->name), "%s%d", cfg.scenario, i);
		snprintf(ch->topic, sizeof(ch->topic), cfg.content ? "wsgw/content/bench/%s" : "wsgw/wsdo/%s", ch->name);
		snprintf(ch->path, sizeof(ch->path), "/%s/emit", ch->name);
		ch->pub0 = (uint32_t)(cfg.subs + i * cfg.pub_conns);
		ch->npub = npubs ? (uint32_t)cfg.pub_conns : 0;
	}
	for(int i = 0; i < nconns; i++){
		struct conn *c = &conns[i];
		c->fd = -1;
		c->id = (uint32_t)i;
		if(i < cfg.subs){
			c->role = R_SUB;
			c->kind = !cfg.gw ? K_MQTTWS : cfg.content ? K_CONTENT : K_WSDO;
			c->chan = (uint32_t)(i % cfg.channels);
		}else{
			c->role = R_PUB;
			c->kind = (uint8_t)cfg.pub_kind;
			c->chan = (uint32_t)((i - cfg.subs) / cfg.pub_conns);
		}
	}
	fprintf(stderr, "wsbench[%s/%s]: %d subscribers on %d channels, publisher %s x%d, rate %.0f/s, %d windows\n",
			cfg.scenario, cfg.system, cfg.subs, cfg.channels,
			cfg.pub_kind == K_HTTP ? "http" : cfg.pub_kind == K_MQTTWS ? "mqttws" : cfg.pub_kind == K_MQTT ? "mqtt" : "none",
			cfg.pub_conns, cfg.rate, cfg.nwindows > 0 ? cfg.nwindows : 0);

	/* The content scenario's device publishes every document first: a
	 * get_content of a document that is not there is a 404, not a watch. */
	int pready = 0;
	if(cfg.content && npubs){
		connect_all(cfg.subs, npubs, &pready);
		for(int i = 0; i < cfg.channels; i++) publish(&chans[i]);
		run_for(300 * MS);
	}

	/* Subscribers. */
	run_for(200 * MS);
	long rss0 = cfg.pid ? proc_rss_kb(cfg.pid) : -1;
	int fds0 = cfg.pid ? proc_fds(cfg.pid) : -1;
	int ready = 0;
	double conn_s = connect_all(0, cfg.subs, &ready);
	double settle_s = settle();
	result("subscribers", ready);
	result("connect_s", conn_s);
	result("connect_rate", conn_s > 0 ? ready / conn_s : 0);
	result("connect_p50_us", R.conn_p50_us);
	result("connect_p99_us", R.conn_p99_us);
	result("connect_max_us", R.conn_max_us);
	result("settle_s", settle_s);
	result("failed", R.failed);
	if(cfg.verbose) fprintf(stderr, "wsbench: presence frames %llu, CONNECTED %llu\n",
			(unsigned long long)R.frames_presence, (unsigned long long)R.frames_connected);

	if(!strncmp(cfg.scenario, "idle", 4) || !strcmp(cfg.scenario, "burst")){
		long rss1 = cfg.pid ? proc_rss_kb(cfg.pid) : -1;
		int fds1 = cfg.pid ? proc_fds(cfg.pid) : -1;
		double c0 = proc_cpu_s(cfg.pid), s0 = self_cpu_s();
		run_for((uint64_t)cfg.rest_ms * MS);
		double c1 = proc_cpu_s(cfg.pid), s1 = self_cpu_s();
		long rss2 = cfg.pid ? proc_rss_kb(cfg.pid) : -1;
		result("rss_before_kb", (double)rss0);
		result("rss_after_kb", (double)rss1);
		result("rss_rest_end_kb", (double)rss2);
		if(rss0 >= 0 && rss1 >= 0 && ready) result("rss_per_session_kb", (double)(rss1 - rss0) / ready);
		if(fds0 >= 0 && fds1 >= 0 && ready) result("fds_per_session", (double)(fds1 - fds0) / ready);
		if(c0 >= 0 && c1 >= 0 && cfg.rest_ms > 0) result("cpu_rest_pct", (c1 - c0) / (cfg.rest_ms / 1000.0) * 100.0);
		if(cfg.rest_ms > 0) result("tool_cpu_rest_pct", (s1 - s0) / (cfg.rest_ms / 1000.0) * 100.0);
		result("still_connected", R.subs_ready);
		result("dropped", R.dropped);
	}else{
		if(npubs && !cfg.content){
			connect_all(cfg.subs, npubs, &pready);
			run_for(300 * MS);
		}
		result("publishers", pready);
		struct phase_result pr;
		if(cfg.rate > 0){
			run_phase(P_RATE, &pr, cfg.warmup_ms, cfg.duration_ms);
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
		if(cfg.nwindows > 0){
			/* Closed loop: the largest delivered rate over the window sweep. */
			struct phase_result best = {0};
			int best_w = 0;
			for(int i = 0; i < cfg.nwindows; i++){
				cfg.window = cfg.windows[i];
				run_phase(P_CLOSED, &pr, cfg.sat_warmup_ms, cfg.sat_ms);
				fprintf(stderr, "wsbench[%s/%s]: window %d: %.0f msg/s, p50 %.0f us, broker CPU %.0f%%, tool CPU %.0f%%\n",
						cfg.scenario, cfg.system, cfg.window, pr.delivered_s, pr.p50, pr.broker_cpu, pr.tool_cpu);
				if(pr.delivered_s > best.delivered_s){
					best = pr;
					best_w = cfg.window;
				}
			}
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
		result("http_errors", (double)R.http_err);
		if(R.http_err) fprintf(stderr, "wsbench[%s/%s]: %llu HTTP errors, last status %d\n", cfg.scenario,
				cfg.system, (unsigned long long)R.http_err, R.last_http_status);
		result("dropped", R.dropped);
		result("bad_payloads", (double)R.bad_payload);
	}
	if(outf) fclose(outf);
	/* Leave the way a client does: the kernel closes every socket. */
	return 0;
}
