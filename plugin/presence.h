/* presence.c: the watch index, which local sessions get the presence events
 * of which channel key (services, L4; the mirror itself is fed by core.c). */
#ifndef WSGW_PRESENCE_H
#define WSGW_PRESENCE_H

#include "mirror.h"

struct wsgw_gw;
struct wsgw_session;

enum wsgw_presence_event { WSGW_PRESENCE_JOINED, WSGW_PRESENCE_UPDATED, WSGW_PRESENCE_LEFT };

/* Installs the index's per-session cleanup (gw->session_gone), which the
 * transport calls when a session lets go of its dialect state. */
void presence_init(struct wsgw_gw *gw);
/* Presence events of channel key go to the session's dialect (idempotent).
 * 0 or -1 (no memory). */
int session_watch(struct wsgw_session *s, const char *key);
void session_unwatch(struct wsgw_session *s, const char *key);
void session_unwatch_all(struct wsgw_session *s);
/* Dispatches a presence event to the local sessions indexed under key. */
void presence_dispatch(struct wsgw_gw *gw, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m);

#endif
