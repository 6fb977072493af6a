/* transport.c: the lws context and its listener, the lws protocol callbacks,
 * (transport, L3). It calls no service: readiness is the flag
 * gw->ready that core.c keeps, and what a service must undo when a session
 * goes is the hook gw->session_gone. */
#ifndef WSGW_TRANSPORT_H
#define WSGW_TRANSPORT_H

#include <stdbool.h>

struct lws;
struct wsgw_gw;
struct wsgw_mount;

/* Creates the lws context (on libev's epoll loop when lws has it) and the
 * vhost that listens on listen_address:listen_port, and describes what it
 * bound in gw->listen_desc. Broker thread, at start; 0, or -1 (logged; what
 * was made is undone by transport_stop). */
int transport_start(struct wsgw_gw *gw);
/* Broker thread (the broker's reload, SIGHUP): the gateway thread reads
 * certfile and keyfile again for the connections to come. Nothing without
 * TLS. */
void transport_tls_reload(struct wsgw_gw *gw);
/* One turn of the event loop: 0, or -1 when the loop failed. */
int transport_service(struct wsgw_gw *gw);
/* Destroys the context (every connection with it) and the loop. */
void transport_stop(struct wsgw_gw *gw);
/* The broker is stopping: every client is told SHUTDOWN and closed;
 * gw->stopping from now on (idempotent). */
void transport_begin_shutdown(struct wsgw_gw *gw);

#endif
