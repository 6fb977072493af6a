/* route.c: mount routing and the Origin check (transport, L3). */
#ifndef WSGW_ROUTE_H
#define WSGW_ROUTE_H

#include <stdbool.h>

struct wsgw_conn;
struct wsgw_gw;
struct wsgw_mount;

/* Routes a request path to a mounted dialect; *subpath is the rest. */
const struct wsgw_mount *gw_route(struct wsgw_gw *gw, const char *path, const char **subpath);
/* The request's Origin is allowed: none given, no allow-list, or listed
 * (the whole header compared; one that cannot be read is not allowed). */
bool gw_origin_ok(struct wsgw_gw *gw, struct wsgw_conn *c);
/* A ws_filter for dialects whose one WebSocket endpoint is the mount itself. */
int gw_filter_mount_root(struct wsgw_gw *gw, const char *subpath, char **route);

#endif
