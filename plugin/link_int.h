/* Private to link.c and mux.c: what a link is. */
#ifndef WSGW_LINK_INT_H
#define WSGW_LINK_INT_H

#include "wsgw.h"

struct wsgw_mux;
struct mux_sub;

struct wsgw_link {
	struct wsgw_gw *gw;
	const struct wsgw_link_ops *ops;
	void *ud;
	bool up;
	bool dead;

	/* A dedicated link: its own libmosquitto client and socket. */
	struct mosquitto *mosq;
	struct lws *raw;

	/* A member of a shared broker session (mux.c); mux is NULL once the
	 * gateway has stopped the shared session under a member still open. */
	bool shared;
	bool connect_owed;           /* `connected` not yet called */
	struct wsgw_mux *mux;
	struct wsgw_link *mprev, *mnext;
	struct mux_sub *subs;
	char *will_topic;
	int npending;                /* PUBACKs awaited on its behalf */
};

/* link.c: SUBSCRIBE with properties (the shared session's identifiers). */
int link_subscribe_props(struct wsgw_link *link, int *mid, const char *topic, int qos,
		const mosquitto_property *props);

/* mux.c: the members' side of the link calls. */
struct wsgw_link *mux_join(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud);
void mux_leave(struct wsgw_link *vl, bool send_will);
int mux_publish(struct wsgw_link *vl, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const mosquitto_property *props);
int mux_subscribe(struct wsgw_link *vl, int *mid, const char *topic, int qos);
int mux_unsubscribe(struct wsgw_link *vl, const char *topic);

#endif
