/* Private to link_api.c, link.c and mux.c: what a link is, and the two
 * implementations of struct link_impl. */
#ifndef WSGW_LINK_INT_H
#define WSGW_LINK_INT_H

#include "wsgw.h"
#include "mqttw.h"

struct wsgw_mux;
struct mux_sub;

struct wsgw_link {
	struct wsgw_gw *gw;
	const struct link_impl *impl;   /* link_dedicated or link_shared */
	const struct wsgw_link_ops *ops;
	void *ud;
	bool up;
	bool dead;

	/* A dedicated link: its own MQTT session and socket (link.c). The
	 * socket belongs to lws once adopted (raw). */
	int fd;
	struct lws *raw;
	bool connecting;             /* TCP connect under way */
	bool queued;                 /* no socket yet: in the gateway's connect queue */
	bool in_flight;              /* holds a connect slot: socket open, no CONNACK yet */
	bool urgent;                 /* see wsgw_link_params */
	struct wsgw_link *qprev, *qnext;   /* gw->connq_head */
	int64_t connect_deadline_ms; /* CONNACK by then, or `lost` */
	bool connack;                /* CONNACK received */
	bool in_rx;                  /* handling input: sends wait until it is done */
	int werr;                    /* a send failed (reason code): reported from the next callback */
	struct mqttw_buf out;        /* to send; out_off bytes of it are sent */
	size_t out_off;
	struct mqttw_buf in;         /* an incomplete packet's bytes so far */
	uint16_t mid;                /* last packet id used */
	int inflight, quota;         /* QoS 1 PUBLISHes unacked; the broker's receive maximum */
	struct link_wait *wait, *wait_tail;   /* QoS 1 PUBLISHes beyond the quota */
	int64_t opened_ms, last_out_ms, ping_sent_ms, keepalive_ms;
	/* PINGREQs unanswered, oldest in bit 0: 1 = the owner's (link_ping),
	 * 0 = the keepalive's. The broker answers them in order. */
	uint64_t ping_owners;
	int pings_out;

	/* A member of a shared broker session (mux.c); mux is NULL once the
	 * gateway has stopped the shared session under a member still open. */
	bool connect_owed;           /* `connected` not yet called */
	struct wsgw_mux *mux;
	struct wsgw_link *mprev, *mnext;
	struct mux_sub *subs;
	char *will_topic;
	int npending;                /* PUBACKs awaited on its behalf */
};

/* link.c: the dedicated implementation. mux.c drives its shared sessions'
 * own connections with these functions directly, never through the
 * dispatch of link_api.c (so the call graph has no circle). */
extern const struct link_impl link_dedicated;
struct wsgw_link *dedicated_open(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud);
void dedicated_close(struct wsgw_link *link, bool send_will);
int dedicated_publish(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops);
int dedicated_subscribe(struct wsgw_link *link, int *mid, const char *topic, int qos, uint32_t sid);
int dedicated_unsubscribe(struct wsgw_link *link, const char *topic);
void dedicated_misc(struct wsgw_link *link);

/* mux.c: the shared implementation (members of a shared broker session). */
extern const struct link_impl link_shared;

#endif
