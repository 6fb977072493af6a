/* The link layer: one MQTT 5 session to the broker as its owner (the core
 * session, a dialect's client) sees it, driven by the gateway thread's lws
 * loop. Two implementations behind one table of operations (struct
 * link_impl): a dedicated connection of its own (link.c) and a member of a
 * shared broker session (mux.c); link_open picks one, the other calls
 * dispatch through link->impl (link_api.c). Properties are the gateway's own
 * representation (mapping/mqttw.h), both ways. Errors: functions return 0 or
 * a negative errno; reason codes in callbacks are MQTT 5 reason codes. */
#ifndef WSGW_LINK_H
#define WSGW_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <libwebsockets.h>

#include "mqttw.h"

struct wsgw_gw;
struct wsgw_link;

/* A message the broker delivered, valid during the `message` call only. */
struct wsgw_msg {
	const char *topic;            /* NUL-terminated */
	const void *payload;          /* payloadlen bytes, followed by a NUL */
	size_t payloadlen;
	int qos;
	bool retain;
	/* One number per delivery: the members of a shared session are handed
	 * the same number for the same message (per-message caches key on it). */
	uint64_t seq;
	struct mqttw_props props;     /* checked: the mqttw_props_* readers apply */
};

struct wsgw_link_ops {
	/* The CONNACK: reason_code 0, or the broker's refusal. */
	void (*connected)(void *ud, int reason_code, bool session_present);
	void (*message)(void *ud, const struct wsgw_msg *msg);
	/* A SUBACK: count reason codes (granted QoS, or >= 0x80 refused). */
	void (*subscribed)(void *ud, int mid, int count, const int *granted);
	/* The PUBACK of a QoS 1 PUBLISH. */
	void (*published)(void *ud, int mid, int reason_code);
	/* The PINGRESP of a link_ping (never of the keepalive's own pings). */
	void (*ponged)(void *ud);
	/* The session to the broker ended (destroy the link): the broker's
	 * DISCONNECT reason, or Server unavailable (connection refused or
	 * lost), Server busy (not connected within broker_connect_timeout), Keep
	 * Alive timeout, Malformed Packet, Protocol Error, Unspecified error (out
	 * of memory). */
	void (*lost)(void *ud, int reason_code);
};

struct wsgw_link_params {
	const char *client_id;
	const char *username;       /* the password is the HMAC of client_id + username, */
	const char *password;       /* unless this is set: the install's own auth decides */
	bool clean_start;
	uint32_t session_expiry;    /* seconds, with clean_start false */
	const char *will_topic;     /* NULL = no will; the will is an empty retained message */
	/* Ride the gateway's shared broker session of this username and shard
	 * (mux.c) instead of a connection of its own: clean sessions, no password. */
	bool shared;
	uint32_t shard;
	/* The gateway's own session: first in the connect queue, and retried
	 * while the broker's listener is not open yet (ENOENT, ECONNREFUSED). */
	bool urgent;
};

/* Creates a link and connects it, now or from the connect queue: at most
 * broker_connect_max connects are in flight (sent, no CONNACK yet); a connect
 * the broker's backlog refuses (EAGAIN) is retried a few ms later. `connected`
 * comes within broker_connect_timeout, or `lost` (Server busy). Returns
 * NULL if the broker cannot be reached at all (logged). Owners never close a
 * link from inside its own callbacks, except from `lost`, which is called
 * last. */
struct wsgw_link *link_open(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud);
/* Sends DISCONNECT (if connected; with send_will the broker publishes the
 * session's will) and frees the link. NULL is ignored. */
void link_close(struct wsgw_link *link, bool send_will);
/* QoS 0 or 1; *mid (if mid is set) gets the packet id `published` will
 * carry. props: nprops properties, copied into the packet. 0 or -errno
 * (-ENOTCONN: the session is over or not up; -EINVAL; -ENOMEM). */
int link_publish(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops);
int link_subscribe(struct wsgw_link *link, int *mid, const char *topic, int qos);   /* 0 or -errno */
/* SUBSCRIBE with a subscription identifier (1..268435455; 0 = none): the
 * broker puts it on every message it delivers for this subscription. Shared
 * links use identifiers of their own: sid is ignored there. 0 or -errno. */
int link_subscribe_id(struct wsgw_link *link, int *mid, const char *topic, int qos, uint32_t sid);
int link_unsubscribe(struct wsgw_link *link, const char *topic);   /* 0 or -errno */
/* A PINGREQ now; ops->ponged comes with its PINGRESP. The broker handles a
 * session's packets in order, so everything it sent for the packets before
 * this one (a subscription's retained messages) arrives before `ponged`.
 * Dedicated links only (-EOPNOTSUPP on a shared one); 0 or -errno. */
int link_ping(struct wsgw_link *link);
bool link_is_up(const struct wsgw_link *link);   /* false for NULL */
void link_misc(struct wsgw_link *link);   /* keepalive; called every second */

/* The operations of one implementation; link_api.c's calls above dispatch
 * through them (subscribe: sid 0 = none). */
struct link_impl {
	struct wsgw_link *(*open)(struct wsgw_gw *gw, const struct wsgw_link_params *p,
			const struct wsgw_link_ops *ops, void *ud);
	void (*close)(struct wsgw_link *link, bool send_will);
	int (*publish)(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
			size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops);
	int (*subscribe)(struct wsgw_link *link, int *mid, const char *topic, int qos, uint32_t sid);
	int (*unsubscribe)(struct wsgw_link *link, const char *topic);
	int (*ping)(struct wsgw_link *link);   /* NULL: not offered */
	bool (*is_up)(const struct wsgw_link *link);
	void (*misc)(struct wsgw_link *link);
};

/* link.c: the lws callback of the adopted socket descriptors (protocol
 * "wsgw-mqtt"). */
int link_raw_handle(struct lws *wsi, enum lws_callback_reasons reason);

/* mux.c: the shared broker sessions themselves. */
void mux_tick(struct wsgw_gw *gw);        /* keepalive, reaping; every second */
void mux_stop_all(struct wsgw_gw *gw);    /* at the end of the gateway thread */

#endif
