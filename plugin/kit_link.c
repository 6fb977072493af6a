/* The dialect kit: the session's broker link (see kit.h). The link's
 * callbacks come here first, with the link's own box as their user data, so
 * that a refused link's late `lost` is never taken for the link of a retry. */
#define LOG_TAG "kit"
#include "kit.h"
#include "session_int.h"

#include <mosquitto_broker.h>
#include <stdlib.h>

static void box_connected(void *ud, int rc, bool session_present)
{
	struct wsgw_session_link *box = ud;
	struct wsgw_session *s = box->s;

	if(rc){
		/* This link is over: it waits apart for its `lost`, the next open or
		 * the socket's end (it cannot be closed inside its own callback). */
		if(s->link_box == box){
			s->link_box = NULL;
			s->link = NULL;
			session_refused_end(s);
			s->refused = box;
		}
	}else{
		box->connected = true;
	}
	if(box->ops->connected) box->ops->connected(box->ud, rc, session_present);
}

static void box_message(void *ud, const struct wsgw_msg *msg)
{
	struct wsgw_session_link *box = ud;
	if(box->ops->message) box->ops->message(box->ud, msg);
}

static void box_subscribed(void *ud, int mid, int count, const int *granted)
{
	struct wsgw_session_link *box = ud;
	if(box->ops->subscribed) box->ops->subscribed(box->ud, mid, count, granted);
}

static void box_published(void *ud, int mid, int reason_code)
{
	struct wsgw_session_link *box = ud;
	if(box->ops->published) box->ops->published(box->ud, mid, reason_code);
}

static void box_ponged(void *ud)
{
	struct wsgw_session_link *box = ud;
	if(box->ops->ponged) box->ops->ponged(box->ud);
}

static void box_lost(void *ud, int rc)
{
	struct wsgw_session_link *box = ud;
	struct wsgw_session *s = box->s;
	void (*hello_lost)(void *ud, int rc) = box->ops->lost;
	void *owner = box->ud;

	if(s->refused == box){
		session_refused_end(s);
		return;
	}
	if(box->connected || !hello_lost){
		/* the one path of a lost session: reported after a grace, or as
		 * SHUTDOWN if the broker is stopping */
		session_link_lost(s, rc);
		return;
	}
	session_link_end(s, false);
	hello_lost(owner, rc);
}

static const struct wsgw_link_ops box_ops = {
	.connected = box_connected,
	.message = box_message,
	.subscribed = box_subscribed,
	.published = box_published,
	.ponged = box_ponged,
	.lost = box_lost,
};

int kit_link_open(struct wsgw_session *s, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud)
{
	struct wsgw_session_link *box;

	session_refused_end(s);
	if(s->link) return -1;
	box = calloc(1, sizeof(*box));
	if(!box) return -1;
	box->s = s;
	box->ops = ops;
	box->ud = ud;
	box->link = link_open(s->gw, p, &box_ops, box);
	if(!box->link){
		free(box);
		return -1;
	}
	s->link = box->link;
	s->link_box = box;
	return 0;
}

void kit_link_will(struct wsgw_session *s)
{
	s->link_will = true;
}

void kit_link_end(struct wsgw_session *s, bool send_will)
{
	session_link_end(s, send_will);
}

void kit_refusal(int reason_code, struct kit_refusal *out)
{
	refusal_classify(reason_code, &out->r);
	out->message = reason_code < 0 ? "the broker closed the session" : mqttw_reason_string((uint8_t)reason_code);
}
