/* mosquitto_wsgw: the private part of plugin/session.c, as link_int.h is for
 * links. A session is opaque to dialects (wsgw.h: accessors); this header is
 * for session.c, the transport (gateway.c), http.c, the presence index and
 * the dialect kit, which opens, detaches and closes the session's broker link. */
#ifndef WSGW_SESSION_INT_H
#define WSGW_SESSION_INT_H

#include "wsgw.h"

struct wsgw_frame {
	struct wsgw_frame *next;
	size_t len;
	int64_t rx_us;                  /* the broker read it answers (metrics.h), or 0 */
	unsigned char buf[];            /* LWS_PRE bytes (room for the frame's header), then len bytes of text */
};

/* A session's broker link with its owner's ops (plugin/kit_link.c): the
 * user data of the link's callbacks. */
struct wsgw_session_link {
	struct wsgw_session *s;
	struct wsgw_link *link;
	const struct wsgw_link_ops *ops;
	void *ud;
	bool connected;                  /* CONNACK success */
};

struct wsgw_session {
	struct wsgw_gw *gw;
	struct wsgw_conn *conn;         /* its connection (front.h) */
	const struct wsgw_dialect *dialect;
	void *priv;                      /* the dialect's, freed by ws_close */
	struct wsgw_link *link;          /* the client's broker session, closed after ws_close */
	struct wsgw_session_link *link_box;   /* link's, opened by kit_link_open */
	struct wsgw_session_link *refused;    /* a link the broker refused, closed later */
	bool link_will;                  /* close it with its will (e.g. presence clear) */
	struct wsgw_watch *watches;      /* presence keys it gets events for */
	struct wsgw_session *prev, *next;       /* gw->sessions */
	bool dirty;                      /* on gw->dirty: frames to write before the loop sleeps */
	struct wsgw_session *dprev, *dnext;

	struct wsgw_frame *qhead, *qtail;
	size_t qbytes;                   /* memory the queued frames take (frame_cost) */
	size_t qframes;
	size_t lws_held;                 /* a frame lws holds after a partial write, or 0 */
	bool cutting;                    /* cut as a slow consumer: its last frame goes past the limits */
	bool ping_due;                   /* a WebSocket ping is to go out at the next write */
	int pings_unanswered;
	int64_t next_ping_ms;

	char *rx;                        /* message being assembled */
	size_t rxlen, rxcap;
	bool rx_binary, rx_discard;

	double tokens;                   /* rate limit bucket */
	int64_t tokens_ms;
	int64_t last_rate_error_ms;
	int64_t last_rx_ms;

	char peer[64];                   /* client address */
	bool secure;                     /* the client used TLS (wss://), see peer.h */
	int64_t link_lost_ms;            /* when the broker session was lost, or 0 */
	int link_lost_rc;                /* and why (an MQTT reason code, see link.h) */
	bool opened;                     /* ESTABLISHED ran: ws_close is owed */
	bool closing;
	bool killed;
	int64_t close_deadline_ms;
	int close_code;
	char close_reason[64];
};

/* Closes the session's broker link (with its will: the broker publishes it)
 * and frees its box; then the link the broker refused, if one waits. */
void session_link_end(struct wsgw_session *s, bool send_will);
void session_refused_end(struct wsgw_session *s);

#endif
