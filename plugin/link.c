/* One libmosquitto client inside the lws event loop (docs/ARCHITECTURE.md,
 * decision 3). lws polls a dup() of the client's socket as a raw file
 * descriptor and tells us when it is readable or writable; libmosquitto does
 * the MQTT. Owners never close a link from inside its own callbacks, except
 * from `lost`, which is called last. */
#include "link_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LINK_READ_BATCH 256        /* packets read per readable event, at most */

static void want_write(struct wsgw_link *link)
{
	if(link->raw && mosquitto_want_write(link->mosq)) lws_callback_on_writable(link->raw);
}

static void detach_raw(struct wsgw_link *link, bool kill)
{
	if(!link->raw) return;
	lws_set_opaque_user_data(link->raw, NULL);
	if(kill) lws_set_timeout(link->raw, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_ASYNC);
	link->raw = NULL;
}

/* The broker session is over: tell the owner (last thing we do with link). */
static void link_fail(struct wsgw_link *link, int rc, bool in_raw_callback)
{
	if(link->dead) return;
	link->dead = true;
	link->up = false;
	detach_raw(link, !in_raw_callback);
	link->ops->lost(link->ud, rc);
}

static void on_connect(struct mosquitto *mosq, void *obj, int rc, int flags, const mosquitto_property *props)
{
	struct wsgw_link *link = obj;
	(void)mosq; (void)props;
	link->up = rc == 0;
	link->ops->connected(link->ud, rc, (flags & 1) != 0);
}

static void on_message(struct mosquitto *mosq, void *obj, const struct mosquitto_message *msg,
		const mosquitto_property *props)
{
	struct wsgw_link *link = obj;
	(void)mosq;
	link->gw->msg_seq++;
	if(!link->dead) link->ops->message(link->ud, msg, props);
}

static void on_subscribe(struct mosquitto *mosq, void *obj, int mid, int count, const int *granted,
		const mosquitto_property *props)
{
	struct wsgw_link *link = obj;
	(void)mosq; (void)props;
	if(link->ops->subscribed) link->ops->subscribed(link->ud, mid, count, granted);
}

static void on_publish(struct mosquitto *mosq, void *obj, int mid, int reason, const mosquitto_property *props)
{
	struct wsgw_link *link = obj;
	(void)mosq; (void)props;
	if(link->ops->published) link->ops->published(link->ud, mid, reason);
}

static void on_disconnect(struct mosquitto *mosq, void *obj, int rc, const mosquitto_property *props)
{
	struct wsgw_link *link = obj;
	(void)mosq; (void)rc; (void)props;
	link->up = false;   /* link_fail follows from the loop call that saw it */
}

struct wsgw_link *link_open(struct wsgw_gw *gw, const struct wsgw_link_params *p,
		const struct wsgw_link_ops *ops, void *ud)
{
	const struct wsgw_config *cfg = gw->cfg;
	struct wsgw_link *link;
	char password[WSGW_PASSWORD_SIZE];
	mosquitto_property *props = NULL;
	lws_sock_file_fd_type fd;
	int rc, dupfd;

	if(p->shared && !p->password) return mux_join(gw, p, ops, ud);
	link = calloc(1, sizeof(*link));
	if(!link) return NULL;
	link->gw = gw;
	link->ops = ops;
	link->ud = ud;
	link->mosq = mosquitto_new(p->client_id, p->clean_start, link);
	if(!link->mosq) goto fail;
	mosquitto_int_option(link->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
	wsgw_auth_password(p->client_id, p->username, password);
	if(mosquitto_username_pw_set(link->mosq, p->username, p->password ? p->password : password) != MOSQ_ERR_SUCCESS){
		goto fail;
	}
	if(p->will_topic && mosquitto_will_set_v5(link->mosq, p->will_topic, 0, NULL, 1, true, NULL)){
		goto fail;
	}
	mosquitto_connect_v5_callback_set(link->mosq, on_connect);
	mosquitto_message_v5_callback_set(link->mosq, on_message);
	mosquitto_subscribe_v5_callback_set(link->mosq, on_subscribe);
	mosquitto_publish_v5_callback_set(link->mosq, on_publish);
	mosquitto_disconnect_v5_callback_set(link->mosq, on_disconnect);
	if(!p->clean_start && p->session_expiry){
		if(mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL, p->session_expiry)){
			goto fail;
		}
	}
	if(cfg->broker_socket){
		rc = mosquitto_connect_bind_v5(link->mosq, cfg->broker_socket, 0, cfg->mqtt_keepalive, NULL, props);
	}else{
		rc = mosquitto_connect_bind_v5(link->mosq, cfg->broker_host, cfg->broker_port, cfg->mqtt_keepalive, NULL, props);
	}
	mosquitto_property_free_all(&props);
	if(rc != MOSQ_ERR_SUCCESS){
		wsgw_log(MOSQ_LOG_ERR, "cannot connect %s to the broker at %s: %s", p->client_id,
				cfg->broker_socket ? cfg->broker_socket : cfg->broker_host,
				rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
		goto fail;
	}
	/* Both libraries close the descriptors they own: give lws its own. */
	dupfd = fcntl(mosquitto_socket(link->mosq), F_DUPFD_CLOEXEC, 0);
	if(dupfd < 0) goto fail;
	fd.filefd = dupfd;
	link->raw = lws_adopt_descriptor_vhost(gw->vhost, LWS_ADOPT_RAW_FILE_DESC, fd, "wsgw-mqtt", NULL);
	if(!link->raw){
		close(dupfd);
		goto fail;
	}
	lws_set_opaque_user_data(link->raw, link);
	want_write(link);
	return link;

fail:
	if(link->mosq) mosquitto_destroy(link->mosq);
	free(link);
	return NULL;
}

void link_close(struct wsgw_link *link, bool send_will)
{
	if(!link) return;
	if(link->shared){
		mux_leave(link, send_will);
		return;
	}
	detach_raw(link, true);
	if(!link->dead){
		/* One DISCONNECT packet; with 0x04 the broker publishes the will itself,
		 * so nothing it answers can be lost when we close the socket next. */
		mosquitto_disconnect_v5(link->mosq, send_will ? MQTT_RC_DISCONNECT_WITH_WILL_MSG
				: MQTT_RC_NORMAL_DISCONNECTION, NULL);
	}
	mosquitto_destroy(link->mosq);
	free(link);
}

int link_publish(struct wsgw_link *link, int *mid, const char *topic, const void *payload,
		size_t len, int qos, bool retain, const mosquitto_property *props)
{
	int rc;
	if(link->shared) return mux_publish(link, mid, topic, payload, len, qos, retain, props);
	if(link->dead) return MOSQ_ERR_NO_CONN;
	rc = mosquitto_publish_v5(link->mosq, mid, topic, (int)len, payload, qos, retain, props);
	want_write(link);
	return rc;
}

int link_subscribe_props(struct wsgw_link *link, int *mid, const char *topic, int qos,
		const mosquitto_property *props)
{
	int rc;
	if(link->dead) return MOSQ_ERR_NO_CONN;
	rc = mosquitto_subscribe_v5(link->mosq, mid, topic, qos, 0, props);
	want_write(link);
	return rc;
}

int link_subscribe(struct wsgw_link *link, int *mid, const char *topic, int qos)
{
	if(link->shared) return mux_subscribe(link, mid, topic, qos);
	return link_subscribe_props(link, mid, topic, qos, NULL);
}

int link_unsubscribe(struct wsgw_link *link, const char *topic)
{
	int rc;
	if(link->shared) return mux_unsubscribe(link, topic);
	if(link->dead) return MOSQ_ERR_NO_CONN;
	rc = mosquitto_unsubscribe_v5(link->mosq, NULL, topic, NULL);
	want_write(link);
	return rc;
}

bool link_is_up(const struct wsgw_link *link)
{
	return link && link->up && !link->dead;
}

void link_misc(struct wsgw_link *link)
{
	int rc;
	if(link->shared || link->dead) return;
	rc = mosquitto_loop_misc(link->mosq);
	if(rc != MOSQ_ERR_SUCCESS){
		link_fail(link, rc, false);
		return;
	}
	want_write(link);
}

int link_raw_handle(struct lws *wsi, enum lws_callback_reasons reason)
{
	struct wsgw_link *link = lws_get_opaque_user_data(wsi);
	int rc;

	switch(reason){
	case LWS_CALLBACK_RAW_RX_FILE: {
		int avail = 0, n = 0;
		if(!link) return -1;
		/* libmosquitto reads a single packet per call unless messages it sent
		 * await acks: drain what the socket holds (up to a bound, to stay fair
		 * to the other clients), or a busy session -- a shared one above all --
		 * is read one packet per loop turn and the broker, its queue for us
		 * full, starts dropping messages. */
		do{
			rc = mosquitto_loop_read(link->mosq, 1);
			if(rc != MOSQ_ERR_SUCCESS){
				link_fail(link, rc, true);
				return -1;
			}
		}while(!link->dead && ++n < LINK_READ_BATCH
				&& ioctl(mosquitto_socket(link->mosq), FIONREAD, &avail) == 0 && avail > 0);
		want_write(link);
		break;
	}
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		if(!link) return -1;
		rc = mosquitto_loop_write(link->mosq, 64);
		if(rc != MOSQ_ERR_SUCCESS){
			link_fail(link, rc, true);
			return -1;
		}
		want_write(link);
		break;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		/* lws gave up on the descriptor (hang-up, error) without us asking. */
		if(link){
			link->raw = NULL;
			lws_set_opaque_user_data(wsi, NULL);
			link_fail(link, MOSQ_ERR_CONN_LOST, true);
		}
		break;
	default:
		break;
	}
	return 0;
}
