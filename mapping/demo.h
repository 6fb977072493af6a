/* The demo page (demo_enable): its option table and its files. Pure data:
 * the files are docs/clients/ embedded at build time (cmake/embed.cmake). */
#ifndef WSGW_DEMO_H
#define WSGW_DEMO_H

#include <stddef.h>
#include "option.h"

struct demo_asset {
	const char *name;            /* "index.html" (the page), "retry.js", ... */
	const unsigned char *data;   /* NUL-terminated */
	size_t len;
};

extern const struct demo_asset demo_assets[];   /* ends with name NULL */
extern const struct wsgw_dialect_conf demo_conf;

/* The asset named by a request's subpath below the mount ("" and "/" are
 * index.html), or NULL. */
const struct demo_asset *demo_asset_find(const char *subpath);
/* Its Content-Type, from the name's extension. */
const char *demo_asset_type(const struct demo_asset *a);

#endif
