/* The link API (link.h): link_open picks the implementation, the other
 * calls dispatch through link->impl. Nothing here knows either one's
 * insides; link.c and mux.c never call back into this file. */
#include "link_int.h"

#include <errno.h>

struct wsgw_link *link_open(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud)
{
	/* A session with a password of its own logs in as that user: it cannot
	 * ride a shared session. */
	const struct link_impl *impl = p->shared && !p->password ? &link_shared : &link_dedicated;
	return impl->open(gw, p, ops, ud);
}

void link_close(struct wsgw_link *link, bool send_will)
{
	if(link) link->impl->close(link, send_will);
}

int link_publish(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const struct mqttw_prop *props, size_t nprops)
{
	if(!link) return -ENOTCONN;
	return link->impl->publish(link, mid, topic, payload, len, qos, retain, props, nprops);
}

int link_subscribe(struct wsgw_link *link, int *mid, const char *topic, int qos)
{
	return link_subscribe_id(link, mid, topic, qos, 0);
}

int link_subscribe_id(struct wsgw_link *link, int *mid, const char *topic, int qos, uint32_t sid)
{
	if(!link) return -ENOTCONN;
	return link->impl->subscribe(link, mid, topic, qos, sid);
}

int link_unsubscribe(struct wsgw_link *link, const char *topic)
{
	if(!link) return -ENOTCONN;
	return link->impl->unsubscribe(link, topic);
}

int link_ping(struct wsgw_link *link)
{
	if(!link) return -ENOTCONN;
	return link->impl->ping ? link->impl->ping(link) : -EOPNOTSUPP;
}

bool link_is_up(const struct wsgw_link *link)
{
	return link && link->impl->is_up(link);
}

void link_misc(struct wsgw_link *link)
{
	if(link) link->impl->misc(link);
}
