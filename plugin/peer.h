/* peer.c: the client's address (transport, L3), for the WebSocket upgrade
 * (session.c) and HTTP requests (http.c) alike. */
#ifndef WSGW_PEER_H
#define WSGW_PEER_H

#include <stdbool.h>
#include <stddef.h>

struct wsgw_conn;
struct wsgw_gw;

/* The address of the client on connection c into addr: the socket's
 * peer, or, when that peer is one of plugin_opt_trusted_proxies, the client
 * its Forwarded or X-Forwarded-For header names (mapping/proxy.h). While the
 * request headers are there (the upgrade's handling, or an HTTP request's
 * until its reply). *secure (when not NULL): whether the client used
 * TLS, the listener's own or, from a trusted proxy, X-Forwarded-Proto /
 * Forwarded proto= "https". */
void gw_client_addr(struct wsgw_gw *gw, struct wsgw_conn *c, char *addr, size_t addrlen,
		bool *secure);

#endif
