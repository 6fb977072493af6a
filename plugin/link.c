/* One MQTT 5 client session to the broker inside the lws event loop
 * (docs/ARCHITECTURE.md, "Broker sessions"). The gateway speaks MQTT itself
 * (mapping/mqttw.c): lws polls the socket as a raw descriptor; a readable
 * socket is read in large chunks and every whole packet in them handled; the
 * packets a burst of input makes us send (PUBACKs) leave in one write. Owners
 * never close a link from inside its own callbacks, except from `lost`, which
 * is called last. This is the dedicated implementation of struct link_impl;
 * mux.c drives its shared sessions' connections through the functions below
 * directly. */
#define LOG_TAG "link"
#include "link_int.h"
#include "jsonutil.h"
#include "mqttw.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LINK_RX_CHUNK 65536        /* bytes per recv() */
#define LINK_RX_ROUNDS 4           /* recv() calls per readable event, at most (fairness) */
#define LINK_OUT_KEEP 4096         /* an emptied output buffer larger than this is freed */
#define LINK_RECEIVE_MAX_DEFAULT 65535
#define LINK_LINGER_S 2            /* a closed link's descriptor waits this long for the broker's EOF */

/* Why a session ends, as the reason code `lost` gets (the internal steps
 * return 0 or one of these). MQTT has no code for a connection that closes
 * without a DISCONNECT: the broker is then as good as unavailable. */
#define LOST_CONN MQTTW_RC_SERVER_UNAVAILABLE      /* refused, closed, a read or write failed */
#define LOST_TIMEOUT MQTTW_RC_SERVER_BUSY          /* not connected within broker_connect_timeout */
#define LOST_KEEPALIVE MQTTW_RC_KEEP_ALIVE_TIMEOUT
#define LOST_MALFORMED MQTTW_RC_MALFORMED_PACKET
#define LOST_PROTOCOL MQTTW_RC_PROTOCOL_ERROR
#define LOST_NOMEM MQTTW_RC_UNSPECIFIED

/* A QoS 1 PUBLISH held back by the broker's receive maximum: the encoded packet. */
struct link_wait {
	struct link_wait *next;
	struct mqttw_buf pkt;
};

static void connq_remove(struct wsgw_link *link);
static void link_slot_release(struct wsgw_link *link);

static void detach_raw(struct wsgw_link *link, bool kill)
{
	if(!link->raw) return;
	lws_set_opaque_user_data(link->raw, NULL);
	if(kill) lws_set_timeout(link->raw, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	link->raw = NULL;
}

/* The broker session is over, for reason rc (a LOST_*, or the broker's
 * DISCONNECT reason): tell the owner (last thing we do with link). */
static void link_fail(struct wsgw_link *link, int rc, bool in_raw_callback)
{
	if(link->dead) return;
	link->dead = true;
	link->up = false;
	detach_raw(link, !in_raw_callback);
	connq_remove(link);
	link_slot_release(link);
	link->ops->lost(link->ud, rc);
}

/* ---- output ---- */

/* Sends what is buffered; the rest waits for the socket to be writable.
 * A failure is remembered and reported from the next lws callback, never
 * from inside the caller's own call. */
static void flush(struct wsgw_link *link)
{
	if(link->dead || link->werr || link->queued || link->connecting || link->in_rx) return;
	while(link->out_off < link->out.len){
		ssize_t n = send(link->fd, link->out.data + link->out_off, link->out.len - link->out_off, MSG_NOSIGNAL);
		if(n > 0){
			link->out_off += (size_t)n;
			continue;
		}
		if(n < 0 && errno == EINTR) continue;
		if(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)){
			if(link->raw) lws_callback_on_writable(link->raw);
			return;
		}
		link->werr = LOST_CONN;
		if(link->raw) lws_callback_on_writable(link->raw);
		return;
	}
	link->out.len = link->out_off = 0;
	if(link->out.cap > LINK_OUT_KEEP) mqttw_buf_free(&link->out);
	link->last_out_ms = gw_now_ms();
}

static uint16_t next_mid(struct wsgw_link *link)
{
	if(++link->mid == 0) link->mid = 1;
	return link->mid;
}

/* Moves held-back QoS 1 PUBLISHes out as the receive maximum allows. */
static int release_waiting(struct wsgw_link *link)
{
	while(link->wait && link->inflight < link->quota){
		struct link_wait *w = link->wait;
		size_t at = link->out.len;
		if(mqttw_buf_append(&link->out, w->pkt.data, w->pkt.len)){
			link->out.len = at;
			return LOST_NOMEM;
		}
		link->wait = w->next;
		if(!link->wait) link->wait_tail = NULL;
		mqttw_buf_free(&w->pkt);
		free(w);
		link->inflight++;
	}
	return 0;
}

/* ---- input ---- */

static int on_connack(struct wsgw_link *link, const uint8_t *body, size_t blen)
{
	bool session_present;
	uint8_t reason;
	struct mqttw_props props;
	struct mqttw_prop w;
	int more;

	if(link->connack) return LOST_PROTOCOL;
	if(mqttw_parse_connack(body, blen, &session_present, &reason, &props)) return LOST_MALFORMED;
	link->connack = true;
	link_slot_release(link);             /* the next waiting connect may go */
	link->quota = LINK_RECEIVE_MAX_DEFAULT;
	while((more = mqttw_prop_next(&props, &w)) == 1){
		if(w.id == MQTTW_PROP_RECEIVE_MAXIMUM && w.value > 0) link->quota = (int)w.value;
	}
	if(more < 0) return LOST_MALFORMED;
	link->up = reason == 0;
	if(link->up && release_waiting(link)) return LOST_NOMEM;
	link->ops->connected(link->ud, reason, session_present);
	return 0;
}

/* pkt_end: one past the packet's last byte, inside a buffer with at least
 * one byte to spare after it. The callback gets topic and payload in place,
 * each NUL-terminated by borrowing the byte after it (restored after), and
 * the property block in place, checked once here. */
static int on_publish(struct wsgw_link *link, uint8_t flags, uint8_t *body, size_t blen, uint8_t *pkt_end)
{
	struct mqttw_publish p;
	struct wsgw_msg msg;
	uint8_t saved;

	if(mqttw_parse_publish(flags, body, blen, &p) || mqttw_props_check(&p.props)) return LOST_MALFORMED;
	if(p.qos > 1) return LOST_PROTOCOL;
	/* The topic is followed by the packet id or the property length, both read. */
	body[2 + p.topic_len] = '\0';
	saved = *pkt_end;
	*pkt_end = '\0';
	msg.topic = (const char *)body + 2;
	msg.payload = p.payload;
	msg.payloadlen = p.payload_len;
	msg.qos = p.qos;
	msg.retain = p.retain;
	msg.seq = ++link->gw->msg_seq;
	msg.props = p.props;
	link->gw->metrics.msg_rx_us = link->gw->metrics.rx_us;   /* the frames it makes carry it */
	link->ops->message(link->ud, &msg);
	link->gw->metrics.msg_rx_us = 0;
	*pkt_end = saved;
	if(p.qos == 1 && !link->dead && mqttw_puback(&link->out, p.mid, 0)) return LOST_NOMEM;
	return 0;
}

static int on_ack(struct wsgw_link *link, uint8_t type, const uint8_t *body, size_t blen)
{
	uint16_t mid;
	const uint8_t *reasons;
	size_t n;

	if(mqttw_parse_ack(type, body, blen, &mid, &reasons, &n)) return LOST_MALFORMED;
	if(type == MQTTW_PUBACK){
		if(link->inflight > 0) link->inflight--;
		if(release_waiting(link)) return LOST_NOMEM;
		if(link->ops->published) link->ops->published(link->ud, mid, reasons[0]);
	}else if(type == MQTTW_SUBACK && link->ops->subscribed){
		int granted[64];
		int count = n < 64 ? (int)n : 64;
		for(int i = 0; i < count; i++) granted[i] = reasons[i];
		link->ops->subscribed(link->ud, mid, count, granted);
	}
	return 0;
}

/* One whole packet; see on_publish for pkt_end. */
static int handle_packet(struct wsgw_link *link, uint8_t type, uint8_t flags, uint8_t *body, size_t blen,
		uint8_t *pkt_end)
{
	uint8_t reason;

	if(!link->connack && type != MQTTW_CONNACK) return LOST_PROTOCOL;
	switch(type){
	case MQTTW_CONNACK: return on_connack(link, body, blen);
	case MQTTW_PUBLISH: return on_publish(link, flags, body, blen, pkt_end);
	case MQTTW_PUBACK: case MQTTW_SUBACK: case MQTTW_UNSUBACK: return on_ack(link, type, body, blen);
	case MQTTW_PINGRESP:
		if(link->pings_out > 0){
			bool owner = link->ping_owners & 1;
			link->ping_owners >>= 1;
			link->pings_out--;
			if(owner && link->ops->ponged) link->ops->ponged(link->ud);
		}
		link->ping_sent_ms = link->pings_out > 0 ? gw_now_ms() : 0;
		return 0;
	case MQTTW_DISCONNECT:
		mqttw_parse_disconnect(body, blen, &reason);
		link->up = false;
		LOG_D("the broker disconnected a gateway session: reason 0x%02x", reason);
		return reason >= 0x80 ? reason : LOST_CONN;
	default:
		return LOST_PROTOCOL;
	}
}

/* Handles the whole packets in buf[0..len) (buf has a byte to spare after
 * len); returns the bytes used, or -1 with *rc set (the reason). */
static ssize_t handle_bytes(struct wsgw_link *link, uint8_t *buf, size_t len, size_t *need, int *rc)
{
	size_t used = 0;
	*rc = 0;
	while(!link->dead && used < len){
		uint8_t type = 0, flags = 0;
		const uint8_t *body;
		size_t blen;
		ssize_t n = mqttw_frame(buf + used, len - used, &type, &flags, &body, &blen, need);
		if(n < 0){
			*rc = LOST_MALFORMED;
			return -1;
		}
		if(n == 0) break;
		*rc = handle_packet(link, type, flags, (uint8_t *)body, blen, buf + used + (size_t)n);
		if(*rc) return -1;
		used += (size_t)n;
	}
	return (ssize_t)used;
}

/* Reads what the socket holds (up to LINK_RX_ROUNDS chunks). Whole packets
 * are handled where they were read, in the gateway's scratch buffer; only a
 * packet's incomplete tail is kept, in the link's own buffer. 0, or the
 * reason the session ends. */
static int read_input(struct wsgw_link *link)
{
	struct wsgw_gw *gw = link->gw;

	if(!gw->link_rx && !(gw->link_rx = malloc(LINK_RX_CHUNK + 1))) return LOST_NOMEM;
	for(int round = 0; round < LINK_RX_ROUNDS && !link->dead; round++){
		uint8_t *buf;
		size_t len, need = 0;
		ssize_t n, used;
		int rc;

		n = recv(link->fd, gw->link_rx, LINK_RX_CHUNK, 0);
		gw->metrics.rx_us = metrics_now_us();
		if(n == 0) return LOST_CONN;
		if(n < 0){
			if(errno == EINTR) continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK) return 0;
			return LOST_CONN;
		}
		if(link->in.len){
			/* Complete the kept tail first. */
			if(mqttw_buf_reserve(&link->in, (size_t)n + 1)) return LOST_NOMEM;
			memcpy(link->in.data + link->in.len, gw->link_rx, (size_t)n);
			link->in.len += (size_t)n;
			buf = link->in.data;
			len = link->in.len;
		}else{
			buf = gw->link_rx;
			len = (size_t)n;
		}
		used = handle_bytes(link, buf, len, &need, &rc);
		if(used < 0) return rc;
		if(link->dead) return 0;
		if((size_t)used < len){
			size_t rest = len - (size_t)used;
			if(buf == link->in.data){
				memmove(link->in.data, link->in.data + used, rest);
				link->in.len = rest;
			}else{
				link->in.len = 0;
				if(mqttw_buf_reserve(&link->in, (need > rest ? need : rest) + 1)) return LOST_NOMEM;
				memcpy(link->in.data, buf + used, rest);
				link->in.len = rest;
			}
		}else{
			mqttw_buf_free(&link->in);
		}
		if((size_t)n < LINK_RX_CHUNK) break;   /* the socket is drained */
	}
	return 0;
}

/* ---- opening ---- */

static int connect_socket(const struct wsgw_config *cfg, bool *in_progress)
{
	int fd = -1;

	*in_progress = false;
	if(cfg->broker_socket){
		struct sockaddr_un sa;
		if(strlen(cfg->broker_socket) >= sizeof(sa.sun_path)){
			errno = ENAMETOOLONG;
			return -1;
		}
		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		strcpy(sa.sun_path, cfg->broker_socket);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if(fd < 0) return -1;
		if(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) return fd;
		/* A unix socket connects at once or not at all (EAGAIN: backlog full). */
	}else{
		struct addrinfo hints, *res = NULL, *ai;
		char port[16];
		int err;
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%d", cfg->broker_port);
		err = getaddrinfo(cfg->broker_host ? cfg->broker_host : "localhost", port, &hints, &res);
		if(err){
			errno = EHOSTUNREACH;
			return -1;
		}
		for(ai = res; ai; ai = ai->ai_next){
			int one = 1;
			fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if(fd < 0) continue;
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if(connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS){
				*in_progress = errno == EINPROGRESS;
				freeaddrinfo(res);
				return fd;
			}
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
		return -1;
	}
	{
		int saved = errno;
		close(fd);
		errno = saved;
	}
	return -1;
}

/* ---- the connect queue ----
 *
 * Mosquitto listens on a unix socket with a backlog of 10 (src/net.c) and
 * accepts from its own loop: a burst of sessions opened at once would find
 * the backlog full (EAGAIN). So at most broker_connect_max connects are in
 * flight (socket connected, CONNACK not yet in); further links wait here, in
 * order, the gateway's own session first, and go as CONNACKs come. An attempt
 * the broker refuses for now (EAGAIN; for the core also a listener not open
 * yet) goes back to the head and is retried after 5-50 ms. A link not up
 * within broker_connect_timeout of link_open fails with LOST_TIMEOUT, as
 * a lost session: owners see nothing else but a later `connected`. */

#define CONNQ_SCAN_MS 100          /* deadline checks of waiting links */
#define CONNQ_BACKOFF_MIN_MS 5
#define CONNQ_BACKOFF_MAX_MS 50

enum { ATTEMPT_OK, ATTEMPT_AGAIN, ATTEMPT_FAIL };

static void connq_run(lws_sorted_usec_list_t *sul);

/* Makes connq_run run at at_ms, or earlier if it is due earlier already. */
static void connq_schedule(struct wsgw_gw *gw, int64_t at_ms)
{
	int64_t now = gw_now_ms();

	if(gw->stopping || !gw->ctx) return;   /* sessions are closing: nothing more to connect */
	if(gw->connq_due_ms && gw->connq_due_ms <= at_ms) return;
	gw->connq_due_ms = at_ms;
	lws_sul_schedule(gw->ctx, 0, &gw->connq_sul, connq_run,
			at_ms > now ? (lws_usec_t)(at_ms - now) * LWS_US_PER_MS : 1);
}

/* The next time the queue can move: now if a slot is free (after the
 * backoff), else at the next deadline check (CONNACKs kick it sooner). */
static void connq_kick(struct wsgw_gw *gw)
{
	int64_t now = gw_now_ms();

	if(!gw->connq_head) return;
	if(gw->connects_in_flight < gw->cfg->broker_connect_max){
		connq_schedule(gw, gw->connq_retry_ms > now ? gw->connq_retry_ms : now);
	}else{
		connq_schedule(gw, now + CONNQ_SCAN_MS);
	}
}

static void connq_push(struct wsgw_link *link, bool front)
{
	struct wsgw_gw *gw = link->gw;

	link->queued = true;
	if(front){
		link->qprev = NULL;
		link->qnext = gw->connq_head;
		if(gw->connq_head) gw->connq_head->qprev = link;
		else gw->connq_tail = link;
		gw->connq_head = link;
	}else{
		link->qnext = NULL;
		link->qprev = gw->connq_tail;
		if(gw->connq_tail) gw->connq_tail->qnext = link;
		else gw->connq_head = link;
		gw->connq_tail = link;
	}
	gw->connq_len++;
}

static void connq_remove(struct wsgw_link *link)
{
	struct wsgw_gw *gw = link->gw;

	if(!link->queued) return;
	if(link->qprev) link->qprev->qnext = link->qnext;
	else gw->connq_head = link->qnext;
	if(link->qnext) link->qnext->qprev = link->qprev;
	else gw->connq_tail = link->qprev;
	link->qprev = link->qnext = NULL;
	link->queued = false;
	gw->connq_len--;
	if(!gw->connq_head && gw->connq_due_ms){
		lws_sul_cancel(&gw->connq_sul);
		gw->connq_due_ms = 0;
	}
}

/* The link no longer holds a connect slot (CONNACK, failure, close). */
static void link_slot_release(struct wsgw_link *link)
{
	if(!link->in_flight) return;
	link->in_flight = false;
	link->gw->connects_in_flight--;
	connq_kick(link->gw);
}

/* The broker refused an attempt for now: the next waits 5-10, 10-20, 20-40,
 * then 25-50 ms (jitter, so that gateways retrying together spread out). */
static void connq_backoff(struct wsgw_gw *gw, int err)
{
	int shift = gw->connect_backoff < 3 ? gw->connect_backoff : 3;
	int64_t base = (int64_t)CONNQ_BACKOFF_MIN_MS << shift;

	if(base > CONNQ_BACKOFF_MAX_MS / 2) base = CONNQ_BACKOFF_MAX_MS / 2;
	gw->connect_backoff++;
	gw->connq_retry_ms = gw_now_ms() + base + (int64_t)(gw_random32(NULL) % (uint32_t)(base + 1));
	LOG_D("broker connect refused for now (%s): retrying in %d ms, %d waiting, %d in flight",
			strerror(err), (int)(gw->connq_retry_ms - gw_now_ms()), gw->connq_len + 1, gw->connects_in_flight);
}

/* One connect attempt. ATTEMPT_AGAIN: the broker cannot take it now (errno
 * says why); ATTEMPT_FAIL: it cannot be reached (errno). */
static int try_connect(struct wsgw_link *link)
{
	struct wsgw_gw *gw = link->gw;
	lws_sock_file_fd_type fd;
	bool connecting = false;
	int sock = connect_socket(gw->cfg, &connecting);

	if(sock < 0){
		int e = errno;
		bool again = e == EAGAIN || e == EWOULDBLOCK || e == EINTR
			|| (link->urgent && (e == ENOENT || e == ECONNREFUSED));
		errno = e;
		return again ? ATTEMPT_AGAIN : ATTEMPT_FAIL;
	}
	fd.filefd = sock;
	link->raw = lws_adopt_descriptor_vhost(gw->link_vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "wsgw-mqtt", NULL);
	if(!link->raw){
		close(sock);
		errno = ENOMEM;
		return ATTEMPT_FAIL;
	}
	link->fd = sock;
	link->connecting = connecting;
	lws_set_opaque_user_data(link->raw, link);
	link->opened_ms = link->last_out_ms = gw_now_ms();
	link->in_flight = true;
	gw->connects_in_flight++;
	gw->connect_backoff = 0;
	if(link->connecting) lws_callback_on_writable(link->raw);
	else flush(link);
	return ATTEMPT_OK;
}

static const char *broker_name(const struct wsgw_config *cfg)
{
	return cfg->broker_socket ? cfg->broker_socket : cfg->broker_host ? cfg->broker_host : "localhost";
}

/* Fails the first waiting link whose deadline has passed; false if none. */
static bool connq_expire_one(struct wsgw_gw *gw, int64_t now)
{
	for(struct wsgw_link *link = gw->connq_head; link; link = link->qnext){
		if(now < link->connect_deadline_ms) continue;
		connq_remove(link);
		link_fail(link, LOST_TIMEOUT, false);   /* its owner may close any link */
		return true;
	}
	return false;
}

static void connq_run(lws_sorted_usec_list_t *sul)
{
	struct wsgw_gw *gw = lws_container_of(sul, struct wsgw_gw, connq_sul);
	int64_t now = gw_now_ms();
	int expired = 0, failed = 0, err = 0;

	gw->connq_due_ms = 0;
	if(now >= gw->connq_scan_ms){
		gw->connq_scan_ms = now + CONNQ_SCAN_MS;
		while(connq_expire_one(gw, now)) expired++;
	}
	while(gw->connq_head && gw->connects_in_flight < gw->cfg->broker_connect_max
			&& now >= gw->connq_retry_ms && !gw->stopping){
		struct wsgw_link *link = gw->connq_head;
		int r;
		connq_remove(link);
		r = try_connect(link);
		if(r == ATTEMPT_AGAIN){
			connq_backoff(gw, errno);
			connq_push(link, true);
			break;
		}
		if(r == ATTEMPT_FAIL){
			err = errno;
			failed++;
			link_fail(link, LOST_CONN, false);
		}
	}
	if(expired){
		LOG_W("%d broker sessions not connected within broker_connect_timeout "
				"(%g s); %d connects in flight, %d waiting", expired, gw->cfg->broker_connect_timeout,
				gw->connects_in_flight, gw->connq_len);
	}
	if(failed){
		LOG_E("cannot connect %d sessions to the broker at %s: %s", failed,
				broker_name(gw->cfg), strerror(err));
	}
	connq_kick(gw);
}

struct wsgw_link *dedicated_open(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud)
{
	const struct wsgw_config *cfg = gw->cfg;
	struct wsgw_link *link;
	char password[WSGW_PASSWORD_SIZE];
	struct mqttw_connect c;
	char *client_id;
	int64_t now = gw_now_ms();

	/* Every gateway session's id is under the reserved prefix (plugin.c);
	 * one with the user's own password carries its tag. */
	client_id = malloc(strlen(cfg->client_id_prefix) + strlen(p->client_id) + WSGW_TAG_SIZE + 1);
	if(!client_id) return NULL;
	sprintf(client_id, "%s%s", cfg->client_id_prefix, p->client_id);
	if(p->password){
		char tag[WSGW_TAG_SIZE];
		wsgw_auth_tag(client_id, p->username, tag);
		strcat(client_id, "~");
		strcat(client_id, tag);
	}
	link = calloc(1, sizeof(*link));
	if(!link){
		free(client_id);
		return NULL;
	}
	link->gw = gw;
	link->impl = &link_dedicated;
	link->ops = ops;
	link->ud = ud;
	link->fd = -1;
	link->urgent = p->urgent;
	link->keepalive_ms = (int64_t)cfg->mqtt_keepalive * 1000;
	link->opened_ms = link->last_out_ms = now;
	link->connect_deadline_ms = now + (int64_t)(cfg->broker_connect_timeout * 1000);
	wsgw_auth_password(client_id, p->username, password);
	memset(&c, 0, sizeof(c));
	c.client_id = client_id;
	c.username = p->username;
	c.password = p->password ? p->password : password;
	c.clean_start = p->clean_start;
	c.keepalive = (uint16_t)cfg->mqtt_keepalive;
	c.session_expiry = !p->clean_start ? p->session_expiry : 0;
	c.will_topic = p->will_topic;
	{
		int bad = mqttw_connect(&link->out, &c);   /* copies the id */
		free(client_id);
		if(bad) goto fail;
	}

	/* The CONNECT waits in link->out; so do packets the owner sends before
	 * the socket exists. */
	if((!gw->connq_head || (link->urgent && !gw->connq_head->urgent))
			&& gw->connects_in_flight < cfg->broker_connect_max && now >= gw->connq_retry_ms){
		int r = try_connect(link);
		if(r == ATTEMPT_OK) return link;
		if(r == ATTEMPT_FAIL){
			LOG_E("cannot connect %s to the broker at %s: %s", p->client_id,
					broker_name(cfg), strerror(errno));
			goto fail;
		}
		connq_backoff(gw, errno);
	}
	connq_push(link, link->urgent);
	connq_kick(gw);
	return link;

fail:
	mqttw_buf_free(&link->out);
	free(link);
	return NULL;
}

void dedicated_close(struct wsgw_link *link, bool send_will)
{
	if(!link->dead && link->raw && !link->werr && !link->connecting){
		/* One DISCONNECT packet; with 0x04 the broker publishes the will itself.
		 * What is still buffered goes first, in order. */
		if(!mqttw_disconnect(&link->out, send_will ? MQTTW_RC_DISCONNECT_WITH_WILL : MQTTW_RC_SUCCESS)){
			link->in_rx = false;
			flush(link);
		}
		/* All sent: the descriptor lingers, write side shut, until the broker
		 * closes it (link_raw_handle drains it). Closed at once, it made the
		 * broker's answer to a packet it had not read yet (the PUBACK of a
		 * presence entry published just before) fail, and Mosquitto then drops
		 * the connection unread: the entry's clear and the DISCONNECT were
		 * lost, and the entry stayed for presence_ttl (found by the soak). */
		if(!link->werr && link->raw && link->out.len == 0 && !shutdown(link->fd, SHUT_WR)){
			lws_set_opaque_user_data(link->raw, NULL);
			lws_set_timeout(link->raw, PENDING_TIMEOUT_CLOSE_SEND, LINK_LINGER_S);
			link->raw = NULL;
		}
	}
	detach_raw(link, true);
	connq_remove(link);
	link_slot_release(link);
	while(link->wait){
		struct link_wait *w = link->wait;
		link->wait = w->next;
		mqttw_buf_free(&w->pkt);
		free(w);
	}
	mqttw_buf_free(&link->out);
	mqttw_buf_free(&link->in);
	free(link);
}

/* ---- requests ---- */

/* Mosquitto closes the connection of a client that sends a property string
 * it does not take (bad UTF-8, a control character): such a PUBLISH is
 * refused here instead, before it could cost the session. */
static bool props_acceptable(const struct mqttw_prop *props, size_t n)
{
	for(size_t i = 0; i < n; i++){
		int t = mqttw_prop_type(props[i].id);
		if(t == MQTTW_P_PAIR && !jsonutil_topic_text_ok((const char *)props[i].name, props[i].name_len)) return false;
		if((t == MQTTW_P_PAIR || t == MQTTW_P_STRING)
				&& !jsonutil_topic_text_ok((const char *)props[i].data, props[i].data_len)) return false;
	}
	return true;
}

int dedicated_publish(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops)
{
	uint16_t m = 0;
	int rc;

	if(link->dead || link->werr) return -ENOTCONN;
	if(qos < 0 || qos > 1 || !props_acceptable(props, nprops)) return -EINVAL;
	if(qos > 0) m = next_mid(link);
	if(qos > 0 && (!link->connack || link->inflight >= link->quota)){
		struct link_wait *w = calloc(1, sizeof(*w));
		if(!w || mqttw_publish(&w->pkt, topic, payload, len, qos, retain, m, props, nprops)){
			if(w) mqttw_buf_free(&w->pkt);
			free(w);
			rc = -ENOMEM;
		}else{
			if(link->wait_tail) link->wait_tail->next = w;
			else link->wait = w;
			link->wait_tail = w;
			rc = 0;
		}
	}else{
		rc = mqttw_publish(&link->out, topic, payload, len, qos, retain, m, props, nprops) ? -ENOMEM : 0;
		if(!rc && qos > 0) link->inflight++;
		flush(link);
	}
	if(!rc && mid) *mid = m;
	return rc;
}

int dedicated_subscribe(struct wsgw_link *link, int *mid, const char *topic, int qos, uint32_t sid)
{
	struct mqttw_prop id = { .id = MQTTW_PROP_SUBSCRIPTION_ID, .value = sid };
	uint16_t m;

	if(link->dead || link->werr) return -ENOTCONN;
	if(sid > MQTTW_MAX_REMAINING) return -EINVAL;
	m = next_mid(link);
	if(mqttw_subscribe(&link->out, m, topic, (uint8_t)(qos & 3), &id, sid ? 1 : 0)) return -ENOMEM;
	if(mid) *mid = m;
	flush(link);
	return 0;
}

int dedicated_unsubscribe(struct wsgw_link *link, const char *topic)
{
	if(link->dead || link->werr) return -ENOTCONN;
	if(mqttw_unsubscribe(&link->out, next_mid(link), topic)) return -ENOMEM;
	flush(link);
	return 0;
}

/* One more PINGREQ in flight, of the owner's or the keepalive's. 0 or -errno. */
static int send_ping(struct wsgw_link *link, bool owner)
{
	if(link->pings_out >= 64) return -EAGAIN;
	if(mqttw_pingreq(&link->out)) return -ENOMEM;
	if(owner) link->ping_owners |= (uint64_t)1 << link->pings_out;
	link->pings_out++;
	if(!link->ping_sent_ms) link->ping_sent_ms = gw_now_ms();
	flush(link);
	return 0;
}

static int dedicated_ping(struct wsgw_link *link)
{
	if(link->dead || link->werr || !link->connack) return -ENOTCONN;
	return send_ping(link, true);
}

static bool dedicated_is_up(const struct wsgw_link *link)
{
	return link->up && !link->dead;
}

/* Keepalive: a PINGREQ after keepalive seconds of silence; no CONNACK or no
 * PINGRESP within keepalive seconds ends the session. */
void dedicated_misc(struct wsgw_link *link)
{
	int64_t now = gw_now_ms();

	if(link->dead || link->queued) return;   /* the queue judges waiting links */
	if(link->werr){
		link_fail(link, link->werr, false);
		return;
	}
	if(!link->connack && now >= link->connect_deadline_ms){
		LOG_W("no CONNACK from the broker within broker_connect_timeout (%g s)",
				link->gw->cfg->broker_connect_timeout);
		link_fail(link, LOST_TIMEOUT, false);
		return;
	}
	if((!link->connack && now - link->opened_ms >= link->keepalive_ms)
			|| (link->ping_sent_ms && now - link->ping_sent_ms >= link->keepalive_ms)){
		link_fail(link, LOST_KEEPALIVE, false);
		return;
	}
	if(link->connack && !link->ping_sent_ms && now - link->last_out_ms >= link->keepalive_ms) send_ping(link, false);
}

/* The descriptor of a closed link (dedicated_close) or one being killed:
 * what the broker still sends is read and dropped; its EOF (or an error)
 * closes the descriptor (-1), and so does the linger's timeout. */
static int linger_drain(struct lws *wsi)
{
	char buf[4096];
	for(;;){
		ssize_t n = recv(lws_get_socket_fd(wsi), buf, sizeof(buf), 0);
		if(n > 0) continue;
		if(n < 0 && errno == EINTR) continue;
		return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
	}
}

int link_raw_handle(struct lws *wsi, enum lws_callback_reasons reason)
{
	struct wsgw_link *link = lws_get_opaque_user_data(wsi);
	int rc;

	switch(reason){
	case LWS_CALLBACK_RAW_RX_FILE:
		if(!link) return linger_drain(wsi);
		if(link->werr){
			link_fail(link, link->werr, true);
			return -1;
		}
		/* What the packets make us send (PUBACKs) leaves in one write, after. */
		link->in_rx = true;
		rc = read_input(link);
		link->in_rx = false;
		if(rc){
			link_fail(link, rc, true);
			return -1;
		}
		if(link->dead) return -1;
		flush(link);
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if(!link) return 0;   /* lingering (it has nothing to write) or being killed */
		if(link->connecting){
			int err = 0;
			socklen_t len = sizeof(err);
			if(getsockopt(link->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err){
				if(link->urgent && (err == ECONNREFUSED || err == EAGAIN)){
					/* The broker's TCP listener is not open yet: again, soon
					 * (lws closes this descriptor as we return -1). */
					detach_raw(link, false);
					link->connecting = false;
					link->fd = -1;
					link_slot_release(link);
					connq_backoff(link->gw, err);
					connq_push(link, true);
					connq_kick(link->gw);
					return -1;
				}
				LOG_E("cannot connect to the broker at %s: %s",
						broker_name(link->gw->cfg), strerror(err ? err : errno));
				link_fail(link, LOST_CONN, true);
				return -1;
			}
			link->connecting = false;
		}
		flush(link);
		if(link->werr){
			link_fail(link, link->werr, true);
			return -1;
		}
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* lws gave up on the descriptor (hang-up, error) without us asking. */
		if(link){
			link->raw = NULL;
			lws_set_opaque_user_data(wsi, NULL);
			link_fail(link, LOST_CONN, true);
		}
		break;
	default:
		break;
	}
	return 0;
}

const struct link_impl link_dedicated = {
	.open = dedicated_open,
	.close = dedicated_close,
	.publish = dedicated_publish,
	.subscribe = dedicated_subscribe,
	.unsubscribe = dedicated_unsubscribe,
	.ping = dedicated_ping,
	.is_up = dedicated_is_up,
	.misc = dedicated_misc,
};
