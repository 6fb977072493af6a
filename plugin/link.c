/* One MQTT 5 client session to the broker inside the lws event loop
 * (docs/ARCHITECTURE.md, "Broker sessions"). The gateway speaks MQTT itself
 * (mapping/mqttw.c): lws polls the socket as a raw descriptor; a readable
 * socket is read in large chunks and every whole packet in them handled; the
 * packets a burst of input makes us send (PUBACKs) leave in one write. Owners
 * never close a link from inside its own callbacks, except from `lost`, which
 * is called last. */
#include "link_int.h"
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

/* A QoS 1 PUBLISH held back by the broker's receive maximum: the encoded packet. */
struct link_wait {
	struct link_wait *next;
	struct mqttw_buf pkt;
};

static void detach_raw(struct wsgw_link *link, bool kill)
{
	if(!link->raw) return;
	lws_set_opaque_user_data(link->raw, NULL);
	if(kill) lws_set_timeout(link->raw, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	link->raw = NULL;
}

/* The broker session is over: tell the owner (last thing we do with link). */
static void link_fail(struct wsgw_link *link, int rc, bool in_raw_callback)
{
	if(link->dead) return;
	link->dead = true;
	link->up = false;
	detach_raw(link, !in_raw_callback);
	link->ops->lost(link->ud, rc);
}

/* ---- output ---- */

/* Sends what is buffered; the rest waits for the socket to be writable.
 * A failure is remembered and reported from the next lws callback, never
 * from inside the caller's own call. */
static void flush(struct wsgw_link *link)
{
	if(link->dead || link->werr || link->connecting || link->in_rx) return;
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
		link->werr = MOSQ_ERR_CONN_LOST;
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
			return MOSQ_ERR_NOMEM;
		}
		link->wait = w->next;
		if(!link->wait) link->wait_tail = NULL;
		mqttw_buf_free(&w->pkt);
		free(w);
		link->inflight++;
	}
	return MOSQ_ERR_SUCCESS;
}

/* ---- properties: libmosquitto's lists <-> the wire ---- */

/* Fills out[] from a property list; strings are copied into *strs (caller
 * frees each). Returns the count, or -1. */
#define LINK_MAX_PROPS 16
static int props_to_wire(const mosquitto_property *list, struct mqttw_prop *out, char **strs, int *nstrs)
{
	int n = 0;
	*nstrs = 0;
	for(const mosquitto_property *p = list; p; p = mosquitto_property_next(p)){
		int id = mosquitto_property_identifier(p);
		struct mqttw_prop *w = &out[n];
		uint8_t b8;
		uint16_t b16;
		char *name = NULL, *value = NULL;
		void *bin = NULL;

		if(n == LINK_MAX_PROPS || id <= 0 || id > 0xFF) return -1;
		memset(w, 0, sizeof(*w));
		w->id = (uint8_t)id;
		switch(mqttw_prop_type((uint8_t)id)){
		case MQTTW_P_BYTE:
			if(!mosquitto_property_read_byte(p, id, &b8, false)) return -1;
			w->value = b8;
			break;
		case MQTTW_P_INT16:
			if(!mosquitto_property_read_int16(p, id, &b16, false)) return -1;
			w->value = b16;
			break;
		case MQTTW_P_INT32:
			if(!mosquitto_property_read_int32(p, id, &w->value, false)) return -1;
			break;
		case MQTTW_P_VARINT:
			if(!mosquitto_property_read_varint(p, id, &w->value, false)) return -1;
			break;
		case MQTTW_P_BINARY:
			if(!mosquitto_property_read_binary(p, id, &bin, &b16, false)) return -1;
			strs[(*nstrs)++] = bin;
			w->data = bin;
			w->data_len = b16;
			break;
		case MQTTW_P_STRING:
			if(!mosquitto_property_read_string(p, id, &value, false)) return -1;
			strs[(*nstrs)++] = value;
			w->data = (const uint8_t *)value;
			w->data_len = strlen(value);
			break;
		case MQTTW_P_PAIR:
			if(!mosquitto_property_read_string_pair(p, id, &name, &value, false)) return -1;
			strs[(*nstrs)++] = name;
			strs[(*nstrs)++] = value;
			w->name = (const uint8_t *)name;
			w->name_len = strlen(name);
			w->data = (const uint8_t *)value;
			w->data_len = strlen(value);
			break;
		default:
			return -1;
		}
		n++;
	}
	return n;
}

static void free_strs(char **strs, int n)
{
	for(int i = 0; i < n; i++) free(strs[i]);
}

/* A received property block as a libmosquitto list (caller frees), NULL if
 * empty; -1 in *rc if malformed or out of memory. */
static mosquitto_property *props_from_wire(struct mqttw_props it, int *rc)
{
	mosquitto_property *list = NULL;
	struct mqttw_prop w;
	int more;
	char a[256], *name = a, b[1024], *value = b;

	*rc = 0;
	while((more = mqttw_prop_next(&it, &w)) == 1){
		int err = 0;
		switch(mqttw_prop_type(w.id)){
		case MQTTW_P_BYTE: err = mosquitto_property_add_byte(&list, w.id, (uint8_t)w.value); break;
		case MQTTW_P_INT16: err = mosquitto_property_add_int16(&list, w.id, (uint16_t)w.value); break;
		case MQTTW_P_INT32: err = mosquitto_property_add_int32(&list, w.id, w.value); break;
		case MQTTW_P_VARINT: err = mosquitto_property_add_varint(&list, w.id, w.value); break;
		case MQTTW_P_BINARY: err = mosquitto_property_add_binary(&list, w.id, w.data, (uint16_t)w.data_len); break;
		default:   /* strings: libmosquitto wants them NUL-terminated */
			name = w.name_len < sizeof(a) ? a : malloc(w.name_len + 1);
			value = w.data_len < sizeof(b) ? b : malloc(w.data_len + 1);
			if(!name || !value){
				err = MOSQ_ERR_NOMEM;
			}else{
				if(w.name_len) memcpy(name, w.name, w.name_len);
				name[w.name_len] = '\0';
				if(w.data_len) memcpy(value, w.data, w.data_len);
				value[w.data_len] = '\0';
				err = mqttw_prop_type(w.id) == MQTTW_P_PAIR
					? mosquitto_property_add_string_pair(&list, w.id, name, value)
					: mosquitto_property_add_string(&list, w.id, value);
			}
			if(name != a) free(name);
			if(value != b) free(value);
			name = a;
			value = b;
			break;
		}
		if(err){
			*rc = -1;
			break;
		}
	}
	if(more < 0) *rc = -1;
	if(*rc) mosquitto_property_free_all(&list);
	return list;
}

/* ---- input ---- */

static int on_connack(struct wsgw_link *link, const uint8_t *body, size_t blen)
{
	bool session_present;
	uint8_t reason;
	struct mqttw_props props;
	struct mqttw_prop w;
	int more;

	if(link->connack || mqttw_parse_connack(body, blen, &session_present, &reason, &props)) return MOSQ_ERR_PROTOCOL;
	link->connack = true;
	link->quota = LINK_RECEIVE_MAX_DEFAULT;
	while((more = mqttw_prop_next(&props, &w)) == 1){
		if(w.id == MQTT_PROP_RECEIVE_MAXIMUM && w.value > 0) link->quota = (int)w.value;
	}
	if(more < 0) return MOSQ_ERR_PROTOCOL;
	link->up = reason == 0;
	if(link->up && release_waiting(link)) return MOSQ_ERR_NOMEM;
	link->ops->connected(link->ud, reason, session_present);
	return MOSQ_ERR_SUCCESS;
}

/* pkt_end: one past the packet's last byte, inside a buffer with at least
 * one byte to spare after it. The callback gets topic and payload in place,
 * each NUL-terminated by borrowing the byte after it (restored after). */
static int on_publish(struct wsgw_link *link, uint8_t flags, uint8_t *body, size_t blen, uint8_t *pkt_end)
{
	struct mqttw_publish p;
	struct mosquitto_message msg;
	mosquitto_property *props;
	int rc;
	uint8_t saved;

	if(mqttw_parse_publish(flags, body, blen, &p) || p.qos > 1 || p.payload_len > INT32_MAX) return MOSQ_ERR_PROTOCOL;
	props = props_from_wire(p.props, &rc);
	if(rc) return MOSQ_ERR_PROTOCOL;
	/* The topic is followed by the packet id or the property length, both read. */
	body[2 + p.topic_len] = '\0';
	saved = *pkt_end;
	*pkt_end = '\0';
	memset(&msg, 0, sizeof(msg));
	msg.mid = p.mid;
	msg.topic = (char *)body + 2;
	msg.payload = (void *)p.payload;
	msg.payloadlen = (int)p.payload_len;
	msg.qos = p.qos;
	msg.retain = p.retain;
	link->gw->msg_seq++;
	link->ops->message(link->ud, &msg, props);
	*pkt_end = saved;
	mosquitto_property_free_all(&props);
	if(p.qos == 1 && !link->dead && mqttw_puback(&link->out, p.mid, 0)) return MOSQ_ERR_NOMEM;
	return MOSQ_ERR_SUCCESS;
}

static int on_ack(struct wsgw_link *link, uint8_t type, const uint8_t *body, size_t blen)
{
	uint16_t mid;
	const uint8_t *reasons;
	size_t n;

	if(mqttw_parse_ack(type, body, blen, &mid, &reasons, &n)) return MOSQ_ERR_PROTOCOL;
	if(type == MQTTW_PUBACK){
		if(link->inflight > 0) link->inflight--;
		if(release_waiting(link)) return MOSQ_ERR_NOMEM;
		if(link->ops->published) link->ops->published(link->ud, mid, reasons[0]);
	}else if(type == MQTTW_SUBACK && link->ops->subscribed){
		int granted[64];
		int count = n < 64 ? (int)n : 64;
		for(int i = 0; i < count; i++) granted[i] = reasons[i];
		link->ops->subscribed(link->ud, mid, count, granted);
	}
	return MOSQ_ERR_SUCCESS;
}

/* One whole packet; see on_publish for pkt_end. */
static int handle_packet(struct wsgw_link *link, uint8_t type, uint8_t flags, uint8_t *body, size_t blen,
		uint8_t *pkt_end)
{
	uint8_t reason;

	if(!link->connack && type != MQTTW_CONNACK) return MOSQ_ERR_PROTOCOL;
	switch(type){
	case MQTTW_CONNACK: return on_connack(link, body, blen);
	case MQTTW_PUBLISH: return on_publish(link, flags, body, blen, pkt_end);
	case MQTTW_PUBACK: case MQTTW_SUBACK: case MQTTW_UNSUBACK: return on_ack(link, type, body, blen);
	case MQTTW_PINGRESP:
		link->ping_sent_ms = 0;
		return MOSQ_ERR_SUCCESS;
	case MQTTW_DISCONNECT:
		mqttw_parse_disconnect(body, blen, &reason);
		link->up = false;
		wsgw_log(MOSQ_LOG_DEBUG, "the broker disconnected a gateway session: reason 0x%02x", reason);
		return MOSQ_ERR_CONN_LOST;
	default:
		return MOSQ_ERR_PROTOCOL;
	}
}

/* Handles the whole packets in buf[0..len) (buf has a byte to spare after
 * len); returns the bytes used, or -1 with *rc set. */
static ssize_t handle_bytes(struct wsgw_link *link, uint8_t *buf, size_t len, size_t *need, int *rc)
{
	size_t used = 0;
	*rc = MOSQ_ERR_SUCCESS;
	while(!link->dead && used < len){
		uint8_t type = 0, flags = 0;
		const uint8_t *body;
		size_t blen;
		ssize_t n = mqttw_frame(buf + used, len - used, &type, &flags, &body, &blen, need);
		if(n < 0){
			*rc = MOSQ_ERR_PROTOCOL;
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
 * packet's incomplete tail is kept, in the link's own buffer. */
static int read_input(struct wsgw_link *link)
{
	struct wsgw_gw *gw = link->gw;

	if(!gw->link_rx && !(gw->link_rx = malloc(LINK_RX_CHUNK + 1))) return MOSQ_ERR_NOMEM;
	for(int round = 0; round < LINK_RX_ROUNDS && !link->dead; round++){
		uint8_t *buf;
		size_t len, need = 0;
		ssize_t n, used;
		int rc;

		n = recv(link->fd, gw->link_rx, LINK_RX_CHUNK, 0);
		if(n == 0) return MOSQ_ERR_CONN_LOST;
		if(n < 0){
			if(errno == EINTR) continue;
			if(errno == EAGAIN || errno == EWOULDBLOCK) return MOSQ_ERR_SUCCESS;
			return MOSQ_ERR_CONN_LOST;
		}
		if(link->in.len){
			/* Complete the kept tail first. */
			if(mqttw_buf_reserve(&link->in, (size_t)n + 1)) return MOSQ_ERR_NOMEM;
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
		if(link->dead) return MOSQ_ERR_SUCCESS;
		if((size_t)used < len){
			size_t rest = len - (size_t)used;
			if(buf == link->in.data){
				memmove(link->in.data, link->in.data + used, rest);
				link->in.len = rest;
			}else{
				link->in.len = 0;
				if(mqttw_buf_reserve(&link->in, (need > rest ? need : rest) + 1)) return MOSQ_ERR_NOMEM;
				memcpy(link->in.data, buf + used, rest);
				link->in.len = rest;
			}
		}else{
			mqttw_buf_free(&link->in);
		}
		if((size_t)n < LINK_RX_CHUNK) break;   /* the socket is drained */
	}
	return MOSQ_ERR_SUCCESS;
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

struct wsgw_link *link_open(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud)
{
	const struct wsgw_config *cfg = gw->cfg;
	struct wsgw_link *link;
	char password[WSGW_PASSWORD_SIZE];
	struct mqttw_connect c;
	lws_sock_file_fd_type fd;
	char *client_id;

	if(p->shared && !p->password) return mux_join(gw, p, ops, ud);
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
	link->ops = ops;
	link->ud = ud;
	link->keepalive_ms = (int64_t)cfg->mqtt_keepalive * 1000;
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

	link->fd = connect_socket(cfg, &link->connecting);
	if(link->fd < 0){
		wsgw_log(MOSQ_LOG_ERR, "cannot connect %s to the broker at %s: %s", p->client_id,
				cfg->broker_socket ? cfg->broker_socket : cfg->broker_host, strerror(errno));
		goto fail;
	}
	fd.filefd = link->fd;
	link->raw = lws_adopt_descriptor_vhost(gw->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "wsgw-mqtt", NULL);
	if(!link->raw){
		close(link->fd);
		goto fail;
	}
	lws_set_opaque_user_data(link->raw, link);
	link->opened_ms = link->last_out_ms = gw_now_ms();
	if(link->connecting) lws_callback_on_writable(link->raw);
	else flush(link);
	return link;

fail:
	mqttw_buf_free(&link->out);
	free(link);
	return NULL;
}

void link_close(struct wsgw_link *link, bool send_will)
{
	if(!link) return;
	if(link->shared){
		mux_leave(link, send_will);
		return;
	}
	if(!link->dead && link->raw && !link->werr && !link->connecting){
		/* One DISCONNECT packet; with 0x04 the broker publishes the will itself.
		 * What is still buffered goes first, in order. */
		if(!mqttw_disconnect(&link->out, send_will ? MQTT_RC_DISCONNECT_WITH_WILL_MSG
				: MQTT_RC_NORMAL_DISCONNECTION)){
			link->in_rx = false;
			flush(link);
		}
	}
	detach_raw(link, true);
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

int link_publish(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const mosquitto_property *props)
{
	struct mqttw_prop wp[LINK_MAX_PROPS];
	char *strs[2 * LINK_MAX_PROPS];
	int nprops, nstrs = 0, rc;
	uint16_t m = 0;

	if(link->shared) return mux_publish(link, mid, topic, payload, len, qos, retain, props);
	if(link->dead || link->werr) return MOSQ_ERR_NO_CONN;
	if(qos < 0 || qos > 1) return MOSQ_ERR_INVAL;
	nprops = props_to_wire(props, wp, strs, &nstrs);
	if(nprops < 0){
		free_strs(strs, nstrs);
		return MOSQ_ERR_INVAL;
	}
	if(qos > 0) m = next_mid(link);
	if(qos > 0 && (!link->connack || link->inflight >= link->quota)){
		struct link_wait *w = calloc(1, sizeof(*w));
		if(!w || mqttw_publish(&w->pkt, topic, payload, len, qos, retain, m, wp, (size_t)nprops)){
			if(w) mqttw_buf_free(&w->pkt);
			free(w);
			rc = MOSQ_ERR_NOMEM;
		}else{
			if(link->wait_tail) link->wait_tail->next = w;
			else link->wait = w;
			link->wait_tail = w;
			rc = MOSQ_ERR_SUCCESS;
		}
	}else{
		rc = mqttw_publish(&link->out, topic, payload, len, qos, retain, m, wp, (size_t)nprops)
			? MOSQ_ERR_NOMEM : MOSQ_ERR_SUCCESS;
		if(!rc && qos > 0) link->inflight++;
		flush(link);
	}
	free_strs(strs, nstrs);
	if(!rc && mid) *mid = m;
	return rc;
}

int link_subscribe_props(struct wsgw_link *link, int *mid, const char *topic, int qos,
		const mosquitto_property *props)
{
	struct mqttw_prop wp[LINK_MAX_PROPS];
	char *strs[2 * LINK_MAX_PROPS];
	int nprops, nstrs = 0, rc;
	uint16_t m;

	if(link->dead || link->werr) return MOSQ_ERR_NO_CONN;
	nprops = props_to_wire(props, wp, strs, &nstrs);
	if(nprops < 0){
		free_strs(strs, nstrs);
		return MOSQ_ERR_INVAL;
	}
	m = next_mid(link);
	rc = mqttw_subscribe(&link->out, m, topic, (uint8_t)(qos & 3), wp, (size_t)nprops)
		? MOSQ_ERR_NOMEM : MOSQ_ERR_SUCCESS;
	free_strs(strs, nstrs);
	if(rc) return rc;
	if(mid) *mid = m;
	flush(link);
	return MOSQ_ERR_SUCCESS;
}

int link_subscribe(struct wsgw_link *link, int *mid, const char *topic, int qos)
{
	if(link->shared) return mux_subscribe(link, mid, topic, qos);
	return link_subscribe_props(link, mid, topic, qos, NULL);
}

int link_subscribe_id(struct wsgw_link *link, int *mid, const char *topic, int qos, uint32_t sid)
{
	mosquitto_property *props = NULL;
	int rc;

	if(link->shared || !sid) return link_subscribe(link, mid, topic, qos);
	if(mosquitto_property_add_varint(&props, MQTT_PROP_SUBSCRIPTION_IDENTIFIER, sid)) return MOSQ_ERR_NOMEM;
	rc = link_subscribe_props(link, mid, topic, qos, props);
	mosquitto_property_free_all(&props);
	return rc;
}

int link_unsubscribe(struct wsgw_link *link, const char *topic)
{
	if(link->shared) return mux_unsubscribe(link, topic);
	if(link->dead || link->werr) return MOSQ_ERR_NO_CONN;
	if(mqttw_unsubscribe(&link->out, next_mid(link), topic)) return MOSQ_ERR_NOMEM;
	flush(link);
	return MOSQ_ERR_SUCCESS;
}

bool link_is_up(const struct wsgw_link *link)
{
	return link && link->up && !link->dead;
}

/* Keepalive: a PINGREQ after keepalive seconds of silence; no CONNACK or no
 * PINGRESP within keepalive seconds ends the session. */
void link_misc(struct wsgw_link *link)
{
	int64_t now = gw_now_ms();

	if(link->shared || link->dead) return;
	if(link->werr){
		link_fail(link, link->werr, false);
		return;
	}
	if((!link->connack && now - link->opened_ms >= link->keepalive_ms)
			|| (link->ping_sent_ms && now - link->ping_sent_ms >= link->keepalive_ms)){
		link_fail(link, MOSQ_ERR_KEEPALIVE, false);
		return;
	}
	if(link->connack && !link->ping_sent_ms && now - link->last_out_ms >= link->keepalive_ms){
		if(mqttw_pingreq(&link->out)) return;
		link->ping_sent_ms = now;
		flush(link);
	}
}

int link_raw_handle(struct lws *wsi, enum lws_callback_reasons reason)
{
	struct wsgw_link *link = lws_get_opaque_user_data(wsi);
	int rc;

	switch(reason){
	case LWS_CALLBACK_RAW_RX_FILE:
		if(!link) return -1;
		if(link->werr){
			link_fail(link, link->werr, true);
			return -1;
		}
		/* What the packets make us send (PUBACKs) leaves in one write, after. */
		link->in_rx = true;
		rc = read_input(link);
		link->in_rx = false;
		if(rc != MOSQ_ERR_SUCCESS){
			link_fail(link, rc, true);
			return -1;
		}
		if(link->dead) return -1;
		flush(link);
		break;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if(!link) return -1;
		if(link->connecting){
			int err = 0;
			socklen_t len = sizeof(err);
			if(getsockopt(link->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err){
				wsgw_log(MOSQ_LOG_ERR, "cannot connect to the broker at %s: %s",
						link->gw->cfg->broker_host, strerror(err ? err : errno));
				link_fail(link, MOSQ_ERR_CONN_REFUSED, true);
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
			link_fail(link, MOSQ_ERR_CONN_LOST, true);
		}
		break;
	default:
		break;
	}
	return 0;
}
