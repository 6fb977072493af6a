/* The dialect registry: the core iterates this array to mount the dialects
 * (gateway.c), read their options (config.c, through each entry's conf) and
 * guard what only gateways write (plugin.c). A dialect is a declaration and
 * an entry here. */
#include "wsgw.h"

extern const struct wsgw_dialect wsgw_dialect_wsdo;
extern const struct wsgw_dialect wsgw_dialect_op;
extern const struct wsgw_dialect wsgw_dialect_telegraphy;
extern const struct wsgw_dialect wsgw_dialect_comet;
extern const struct wsgw_dialect wsgw_dialect_content;
extern const struct wsgw_dialect wsgw_dialect_demo;

const struct wsgw_dialect *const wsgw_dialects[] = {
	&wsgw_dialect_wsdo,
	&wsgw_dialect_op,
	&wsgw_dialect_telegraphy,
	&wsgw_dialect_comet,
	&wsgw_dialect_content,
	&wsgw_dialect_demo,      /* the demo page: mounted like a dialect */
};
const size_t wsgw_ndialects = sizeof(wsgw_dialects) / sizeof(wsgw_dialects[0]);

_Static_assert(sizeof(wsgw_dialects) / sizeof(wsgw_dialects[0]) <= WSGW_DIALECTS_MAX,
		"raise WSGW_DIALECTS_MAX (wsgw.h)");

/* The registry index of d, or -1. */
static int dialect_index(const struct wsgw_dialect *d)
{
	for(size_t i = 0; i < wsgw_ndialects; i++){
		if(wsgw_dialects[i] == d) return (int)i;
	}
	return -1;
}

void *gw_dialect_state(const struct wsgw_gw *gw, const struct wsgw_dialect *d)
{
	int i = dialect_index(d);
	return i < 0 ? NULL : gw->dialect_state[i];
}

void gw_dialect_set_state(struct wsgw_gw *gw, const struct wsgw_dialect *d, void *state)
{
	int i = dialect_index(d);
	if(i >= 0) gw->dialect_state[i] = state;
}
