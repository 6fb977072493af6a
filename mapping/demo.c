/* The demo page's option table and asset lookup (pure). */
#include <string.h>
#include "demo.h"

/* Off by default: a page that lets anyone who reaches the listener watch
 * and write a channel is for trying the gateway out, not for production. */
const struct wsgw_dialect_conf demo_conf = {
	.name = "demo",
	.mount = "/demo",
	.enable = false,
};

const struct demo_asset *demo_asset_find(const char *subpath)
{
	if(*subpath == '/') subpath++;
	if(!*subpath) subpath = "index.html";
	for(const struct demo_asset *a = demo_assets; a->name; a++){
		if(!strcmp(a->name, subpath)) return a;
	}
	return NULL;
}

const char *demo_asset_type(const struct demo_asset *a)
{
	const char *dot = strrchr(a->name, '.');
	if(dot && !strcmp(dot, ".js")) return "text/javascript; charset=utf-8";
	return "text/html; charset=utf-8";
}
