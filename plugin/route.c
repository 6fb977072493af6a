/* Mount routing and the Origin check: what the WebSocket upgrade
 * (session.c) and the HTTP requests (http.c) both ask before a dialect sees
 * them. A file apart from transport.c, which calls session.c and http.c: in
 * it, they would make a circle of calls. */
#include "wsgw.h"

#include <stdlib.h>
#include <string.h>

int gw_filter_mount_root(struct wsgw_gw *gw, const char *subpath, char **route)
{
	(void)gw; (void)route;
	return (!subpath[0] || !strcmp(subpath, "/")) ? 0 : 404;
}

bool gw_origin_ok(struct wsgw_gw *gw, struct wsgw_conn *c)
{
	int n = front_header_len(c, "origin");
	char *origin;
	bool ok;

	if(n <= 0 || !gw->cfg->origins) return true;   /* no Origin (not a browser), or no list */
	/* The whole header, however long: one that cannot be read is refused. */
	origin = malloc((size_t)n + 1);
	if(!origin) return false;
	ok = front_header(c, "origin", origin, (size_t)n + 1) == n && config_origin_allowed(gw->cfg, origin);
	free(origin);
	return ok;
}

const struct wsgw_mount *gw_route(struct wsgw_gw *gw, const char *path, const char **subpath)
{
	for(int i = 0; i < gw->nmounts; i++){
		const char *p = gw->mounts[i].prefix;
		size_t n = strlen(p);
		if(n == 1 && p[0] == '/'){
			*subpath = path;
			return &gw->mounts[i];
		}
		if(!strncmp(path, p, n) && (path[n] == '/' || path[n] == '\0')){
			*subpath = path + n;
			return &gw->mounts[i];
		}
	}
	return NULL;
}
