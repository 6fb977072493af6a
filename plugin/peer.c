/* The client's address: see peer.h. A file of its own in the transport
 * layer: session.c and http.c both call it, and transport.c calls them. */
#include "wsgw.h"
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

/* A request header into a new string, or NULL when absent, unreadable or
 * out of memory (then the proxy's word is not taken). */
static char *header(struct wsgw_conn *c, const char *name)
{
	int n = front_header_len(c, name);
	char *v;

	if(n <= 0 || !(v = malloc((size_t)n + 1))) return NULL;
	if(front_header(c, name, v, (size_t)n + 1) != n){
		free(v);
		return NULL;
	}
	return v;
}

void gw_client_addr(struct wsgw_gw *gw, struct wsgw_conn *c, char *addr, size_t addrlen,
		bool *secure)
{
	const struct wsgw_config *cfg = gw->cfg;
	const char *peer = front_peer(c);
	char proto[8] = "", *fwd, *xff, *xproto;

	if(secure) *secure = front_tls(c);
	if(!cfg->nproxy_nets || !proxy_trusted(cfg->proxy_nets, cfg->nproxy_nets, peer)){
		snprintf(addr, addrlen, "%s", peer);
		return;
	}
	fwd = header(c, "forwarded");
	xff = header(c, "x-forwarded-for");
	xproto = header(c, "x-forwarded-proto");
	proxy_client(cfg->proxy_nets, cfg->nproxy_nets, peer, fwd, xff, xproto, addr, addrlen,
			proto, sizeof(proto));
	/* A trusted proxy's word on the scheme replaces the socket's (TLS
	 * ended at the proxy, or a plain hop behind it); no word keeps it. */
	if(secure && proto[0]) *secure = !strcmp(proto, "https");
	free(fwd);
	free(xff);
	free(xproto);
}
