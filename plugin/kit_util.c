/* The dialect kit: payloads, user properties, HTTP requests that wait. */
#define LOG_TAG "kit"
#include "kit.h"
#include "session_int.h"
#include "jsonutil.h"

#include <mosquitto_broker.h>
#include <stdlib.h>
#include <string.h>

void *kit_client_new(struct wsgw_session *s, size_t size)
{
	struct wsgw_session **c = calloc(1, size);
	if(!c) return NULL;
	*c = s;
	s->priv = c;
	return c;
}

void kit_payload_dropped(const struct wsgw_msg *msg, const char *tag)
{
	LOG_N("%sdropped a non-UTF-8 payload on %s", tag, msg->topic);
}

json_t *kit_payload_json(const struct wsgw_msg *msg, const char *tag)
{
	json_t *v = jsonutil_from_payload(msg->payload, msg->payloadlen);
	if(!v) kit_payload_dropped(msg, tag);
	return v;
}

void kit_user_props(const struct mqttw_props *props,
		void (*fn)(void *ud, const char *name, const char *value), void *ud)
{
	struct mqttw_props it = *props;
	struct mqttw_prop p;

	while(mqttw_prop_next(&it, &p) == 1){
		char *name, *value;
		if(p.id != MQTTW_PROP_USER) continue;
		name = strndup((const char *)p.name, p.name_len);
		value = strndup((const char *)p.data, p.data_len);
		if(name && value) fn(ud, name, value);
		free(name);
		free(value);
	}
}

void kit_user_props_add(struct mqttw_prop *props, const char *const *names,
		const char *const *values, size_t n)
{
	for(size_t i = 0; i < n; i++) props[i] = mqttw_prop_user(names[i], values[i]);
}

void kit_http_wait(struct kit_http_wait *w, struct wsgw_http *h)
{
	w->h = h;
	h->priv = w;
}

struct wsgw_http *kit_http_take(struct kit_http_wait *w)
{
	struct wsgw_http *h = w->h;
	if(h) h->priv = NULL;
	w->h = NULL;
	return h;
}

void kit_http_gone(struct wsgw_http *h)
{
	struct kit_http_wait *w = h->priv;
	if(w) w->h = NULL;   /* it settles (and is freed) as usual, replying to no one */
	h->priv = NULL;
}
