/* The demo page (demo_enable, off by default): a page that shows a
 * websockets.do channel's members and messages live, and the client
 * snippets of docs/clients/ it is made of, served from the gateway's own
 * listener at demo_mount (/demo?channel=lobby). Mounted through the
 * registry like a dialect, with no WebSocket endpoint of its own. */
#define LOG_TAG "demo"
#include <stdio.h>
#include <string.h>
#include "wsgw.h"
#include "demo.h"
#include "wsdo_proto.h"

static int demo_ws_filter(struct wsgw_gw *gw, const char *subpath, char **route)
{
	(void)gw; (void)subpath; (void)route;
	return 404;
}

/* config.js: where the page finds websockets.do (its mount, or null when
 * the dialect is off). */
static char *demo_config(struct wsgw_gw *gw)
{
	const struct wsgw_dialect_settings *ds = config_dialect(gw->cfg, &wsdo_conf);
	json_t *o = json_pack("{s:o}", "wsdo", ds && ds->enable
			? json_sprintf("%s/", strcmp(ds->mount, "/") ? ds->mount : "") : json_null());
	char *j = o ? json_dumps(o, JSON_COMPACT) : NULL;
	char *text = NULL;
	size_t n;

	json_decref(o);
	if(!j) return NULL;
	n = strlen(j) + 32;
	text = malloc(n);
	if(text) snprintf(text, n, "window.WSGW_DEMO = %s;\n", j);
	free(j);
	return text;
}

static void demo_http(struct wsgw_http *h, const char *subpath)
{
	const struct demo_asset *a;
	char *body;

	if(h->is_post || h->is_other_method){
		h->allow = "GET";
		http_reply_error(h, 405, "METHOD_NOT_ALLOWED", "the demo page takes GET");
		return;
	}
	if(!strcmp(subpath, "/config.js")){
		h->content_type = "text/javascript; charset=utf-8";
		body = demo_config(h->gw);
		if(body) http_reply(h, 200, body);
		else http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return;
	}
	a = demo_asset_find(subpath);
	if(!a){
		http_reply_error(h, 404, "NOT_FOUND", NULL);
		return;
	}
	body = strdup((const char *)a->data);
	if(!body){
		http_reply_error(h, 503, "OUT_OF_MEMORY", NULL);
		return;
	}
	h->content_type = demo_asset_type(a);
	http_reply(h, 200, body);
}

static int demo_gw_init(struct wsgw_gw *gw)
{
	const struct wsgw_dialect_settings *ds = config_dialect(gw->cfg, &demo_conf);
	LOG_W("demo page on at %s: anyone who reaches the listener can read and write its channels; "
			"turn it off in production (demo_enable false)", ds ? ds->mount : "?");
	return 0;
}

const struct wsgw_dialect wsgw_dialect_demo = {
	.conf = &demo_conf, .name = "demo page", .ws_filter = demo_ws_filter, .http = demo_http,
	.gw_init = demo_gw_init,
};
