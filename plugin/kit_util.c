/* The dialect kit: payloads, user properties, HTTP requests that wait. */
#include "kit.h"
#include "session_int.h"
#include "jsonutil.h"

#include <mosquitto_broker.h>
#include <stdlib.h>

void *kit_client_new(struct wsgw_session *s, size_t size)
{
	struct wsgw_session **c = calloc(1, size);
	if(!c) return NULL;
	*c = s;
	s->priv = c;
	return c;
}

void kit_payload_dropped(const struct mosquitto_message *msg, const char *tag)
{
	wsgw_log(MOSQ_LOG_NOTICE, "%sdropped a non-UTF-8 payload on %s", tag, msg->topic);
}

json_t *kit_payload_json(const struct mosquitto_message *msg, const char *tag)
{
	json_t *v = jsonutil_from_payload(msg->payload, (size_t)msg->payloadlen);
	if(!v) kit_payload_dropped(msg, tag);
	return v;
}

void kit_user_props(const mosquitto_property *props,
		void (*fn)(void *ud, const char *name, const char *value), void *ud)
{
	const mosquitto_property *p;
	char *name = NULL, *value = NULL;

	for(p = mosquitto_property_read_string_pair(props, MQTT_PROP_USER_PROPERTY, &name, &value, false);
			p; p = mosquitto_property_read_string_pair(p, MQTT_PROP_USER_PROPERTY, &name, &value, true)){
		fn(ud, name, value);
		free(name);
		free(value);
		name = value = NULL;
	}
}

int kit_user_props_add(mosquitto_property **props, const char *const *names,
		const char *const *values, size_t n)
{
	for(size_t i = 0; i < n; i++){
		if(mosquitto_property_add_string_pair(props, MQTT_PROP_USER_PROPERTY, names[i], values[i])){
			mosquitto_property_free_all(props);
			return -1;
		}
	}
	return 0;
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
