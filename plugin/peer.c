/* The client's address: see peer.h. A file of its own in the transport
 * layer: session.c and http.c both call it, and transport.c calls them. */
#include "wsgw.h"
#include "proxy.h"

#include <stdlib.h>
#include <string.h>

/* A request header into a new string, or NULL when absent, unreadable or
 * out of memory (then the proxy's word is not taken). name: lowercase with
 * its colon, for a header lws does not know (token < 0); else the token. */
static char *header(struct lws *wsi, int token, const char *name)
{
	int n = token >= 0 ? lws_hdr_total_length(wsi, (enum lws_token_indexes)token)
		: lws_hdr_custom_length(wsi, name, (int)strlen(name));
	char *v;

	if(n <= 0 || !(v = malloc((size_t)n + 1))) return NULL;
	if((token >= 0 ? lws_hdr_copy(wsi, v, n + 1, (enum lws_token_indexes)token)
				: lws_hdr_custom_copy(wsi, v, n + 1, name, (int)strlen(name))) != n){
		free(v);
		return NULL;
	}
	return v;
}

void gw_client_addr(struct wsgw_gw *gw, struct lws *wsi, char *addr, size_t addrlen,
		bool *secure)
{
	const struct wsgw_config *cfg = gw->cfg;
	char peer[64], proto[8] = "", *fwd, *xff, *xproto;

	lws_get_peer_simple(wsi, peer, sizeof(peer));
	if(secure) *secure = cfg->certfile != NULL;
	if(!cfg->nproxy_nets || !proxy_trusted(cfg->proxy_nets, cfg->nproxy_nets, peer)){
		snprintf(addr, addrlen, "%s", peer);
		return;
	}
	fwd = header(wsi, -1, "forwarded:");
	xff = header(wsi, WSI_TOKEN_X_FORWARDED_FOR, NULL);
	xproto = header(wsi, -1, "x-forwarded-proto:");
	proxy_client(cfg->proxy_nets, cfg->nproxy_nets, peer, fwd, xff, xproto, addr, addrlen,
			proto, sizeof(proto));
	/* A trusted proxy's word on the scheme replaces the socket's (TLS
	 * ended at the proxy, or a plain hop behind it); no word keeps it. */
	if(secure && proto[0]) *secure = !strcmp(proto, "https");
	free(fwd);
	free(xff);
	free(xproto);
}
