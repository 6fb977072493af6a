/* The gateway thread: one lws context serving HTTP and WebSockets, the
 * housekeeping timer, the channel index for presence events, and shutdown. */
#include "wsgw.h"

#include <mosquitto_broker.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#define SHUTDOWN_GRACE_MS 1000

struct wsgw_channel_index {
	UT_hash_handle hh;
	char *key;
	struct wsgw_session *head;
};

int64_t gw_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t gw_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void gw_random(void *buf, size_t len)
{
	if(RAND_bytes(buf, (int)len) != 1){
		/* RAND_bytes does not fail on Linux once seeded; keep ids unique anyway. */
		static uint64_t counter;
		unsigned char *b = buf;
		uint64_t x = (uint64_t)gw_wall_ms() ^ (++counter * 0x9E3779B97F4A7C15ull);
		for(size_t i = 0; i < len; i++){ b[i] = (unsigned char)x; x = x * 6364136223846793005ull + 1; }
	}
}

uint32_t gw_random32(void *unused)
{
	uint32_t r;
	(void)unused;
	gw_random(&r, sizeof(r));
	return r;
}

/* ---- channel index: local sessions per presence key ---- */

int session_index(struct wsgw_session *s, const char *key)
{
	struct wsgw_gw *gw = s->gw;
	struct wsgw_channel_index *ci = NULL;

	if(s->channel) return 0;
	s->channel = strdup(key);
	if(!s->channel) return -1;
	HASH_FIND_STR(gw->channels, key, ci);
	if(!ci){
		ci = calloc(1, sizeof(*ci));
		if(!ci || !(ci->key = strdup(key))){
			free(ci);
			free(s->channel);
			s->channel = NULL;
			return -1;
		}
		HASH_ADD_KEYPTR(hh, gw->channels, ci->key, strlen(ci->key), ci);
	}
	s->cprev = NULL;
	s->cnext = ci->head;
	if(ci->head) ci->head->cprev = s;
	ci->head = s;
	return 0;
}

void gw_unindex(struct wsgw_session *s)
{
	struct wsgw_gw *gw = s->gw;
	struct wsgw_channel_index *ci = NULL;

	if(!s->channel) return;
	HASH_FIND_STR(gw->channels, s->channel, ci);
	if(ci){
		if(s->cprev) s->cprev->cnext = s->cnext;
		else ci->head = s->cnext;
		if(s->cnext) s->cnext->cprev = s->cprev;
		if(!ci->head){
			HASH_DEL(gw->channels, ci);
			free(ci->key);
			free(ci);
		}
	}
	free(s->channel);
	s->channel = NULL;
	s->cprev = s->cnext = NULL;
}

void gw_presence_dispatch(struct wsgw_gw *gw, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct wsgw_channel_index *ci = NULL;

	HASH_FIND_STR(gw->channels, key, ci);
	if(!ci) return;
	for(struct wsgw_session *s = ci->head; s; s = s->cnext){
		if(!s->closing && s->dialect->presence) s->dialect->presence(s, ev, m);
	}
}

/* ---- housekeeping ---- */

static void gw_tick(lws_sorted_usec_list_t *sul)
{
	struct wsgw_gw *gw = lws_container_of(sul, struct wsgw_gw, tick_sul);
	int64_t now = gw_now_ms();
	bool misc = now - gw->last_misc_ms >= 1000;

	if(misc){
		gw->last_misc_ms = now;
		if(gw->core) link_misc(gw->core);
	}
	core_tick(gw, now);
	for(struct wsgw_session *s = gw->sessions, *next; s; s = next){
		next = s->next;
		if(misc && s->link) link_misc(s->link);
		if(s->closing){
			session_tick(s, now);
			continue;
		}
		if(gw->cfg->idle_timeout > 0 && now - s->last_rx_ms > (int64_t)(gw->cfg->idle_timeout * 1000)){
			if(s->dialect->ws_error) s->dialect->ws_error(s, "IDLE_TIMEOUT", "nothing received for idle_timeout seconds");
			session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "IDLE_TIMEOUT");
			continue;
		}
		if(s->dialect->ws_tick) s->dialect->ws_tick(s, now);
	}
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_tick) gw->mounts[i].dialect->gw_tick(gw, now);
	}
	lws_sul_schedule(gw->ctx, 0, &gw->tick_sul, gw_tick, WSGW_TICK_MS * LWS_US_PER_MS);
}

static void gw_begin_shutdown(struct wsgw_gw *gw)
{
	if(gw->stopping) return;
	gw->stopping = true;
	for(struct wsgw_session *s = gw->sessions; s; s = s->next){
		if(s->closing) continue;
		if(s->dialect->ws_error) s->dialect->ws_error(s, "SHUTDOWN", "the broker is stopping");
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "SHUTDOWN");
	}
}

/* ---- lws protocols ---- */

static int cb_main(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsgw_gw *gw = lws_context_user(lws_get_context(wsi));
	struct wsgw_pss *pss = user;

	switch(reason){
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if(gw->stop) gw_begin_shutdown(gw);
		return 0;
	case LWS_CALLBACK_HTTP:
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
	case LWS_CALLBACK_HTTP_WRITEABLE:
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		return http_handle(gw, wsi, reason, pss, in, len);
	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
	case LWS_CALLBACK_ESTABLISHED:
	case LWS_CALLBACK_RECEIVE:
	case LWS_CALLBACK_SERVER_WRITEABLE:
	case LWS_CALLBACK_CLOSED:
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		return session_handle(gw, wsi, reason, pss, in, len);
	case LWS_CALLBACK_WSI_DESTROY:
		/* Whatever a connection still holds when lws frees it (a handshake
		 * that failed after the filter, a request cut mid-body). */
		if(pss && pss->kind == WSGW_PSS_SESSION && pss->u.session) session_free(pss->u.session);
		else if(pss && pss->kind == WSGW_PSS_HTTP && pss->u.http) http_free(pss->u.http);
		if(pss) pss->kind = WSGW_PSS_NONE;
		return 0;
	default:
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	}
}

static int cb_mqtt(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)user; (void)in; (void)len;
	return link_raw_handle(wsi, reason);
}

static const struct lws_protocols protocols[] = {
	{ "wsgw", cb_main, sizeof(struct wsgw_pss), 4096, 0, NULL, 0 },
	{ "wsgw-mqtt", cb_mqtt, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

static void *gw_thread(void *arg)
{
	struct wsgw_gw *gw = arg;
	int64_t deadline = 0;

	lws_sul_schedule(gw->ctx, 0, &gw->tick_sul, gw_tick, WSGW_TICK_MS * LWS_US_PER_MS);
	if(core_start(gw)) wsgw_log(MOSQ_LOG_WARNING, "core session not up yet; retrying every second");
	for(;;){
		if(gw->stop && !gw->stopping) gw_begin_shutdown(gw);
		if(gw->stopping){
			if(!deadline) deadline = gw_now_ms() + SHUTDOWN_GRACE_MS;
			if(gw->nsessions == 0 || gw_now_ms() >= deadline) break;
		}
		if(lws_service(gw->ctx, 0) < 0){
			wsgw_log(MOSQ_LOG_ERR, "the event loop failed; the gateway stops serving");
			while(!gw->stop) usleep(50 * 1000);
			break;
		}
	}
	core_stop(gw);
	lws_sul_cancel(&gw->tick_sul);
	lws_context_destroy(gw->ctx);
	gw->ctx = NULL;
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_free) gw->mounts[i].dialect->gw_free(gw);
	}
	mirror_clear(&gw->mirror);
	return NULL;
}

static int mount_cmp(const void *a, const void *b)
{
	const struct wsgw_mount *ma = a, *mb = b;
	return (int)strlen(mb->prefix) - (int)strlen(ma->prefix);
}

int gw_start(struct wsgw_gw *gw)
{
	struct lws_context_creation_info info;
	unsigned char boot[8];

	gw_random(boot, sizeof(boot));
	for(size_t i = 0; i < sizeof(boot); i++) snprintf(gw->boot_id + 2*i, 3, "%02x", boot[i]);

	if(gw->cfg->wsdo_enable){
		gw->mounts[gw->nmounts].prefix = gw->cfg->wsdo_mount;
		gw->mounts[gw->nmounts].dialect = &wsgw_dialect_wsdo;
		gw->nmounts++;
	}
	/* Longest prefix first, so a dialect at "/" never shadows one at "/x". */
	qsort(gw->mounts, (size_t)gw->nmounts, sizeof(gw->mounts[0]), mount_cmp);
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_init && gw->mounts[i].dialect->gw_init(gw)){
			mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: cannot initialise the %s dialect", gw->mounts[i].dialect->name);
			goto fail;
		}
	}

	memset(&info, 0, sizeof(info));
	info.port = gw->cfg->listen_port;
	info.iface = gw->cfg->listen_address;
	info.protocols = protocols;
	info.user = gw;
	info.timeout_secs = (unsigned)(gw->cfg->handshake_timeout + 0.5);
	info.timeout_secs_ah_idle = info.timeout_secs;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.vhost_name = "wsgw";
	gw->ctx = lws_create_context(&info);
	if(!gw->ctx){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: cannot create the libwebsockets context");
		goto fail;
	}
	gw->vhost = lws_create_vhost(gw->ctx, &info);
	if(!gw->vhost){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: cannot listen on %s:%d (in use, or not permitted?)",
				gw->cfg->listen_address ? gw->cfg->listen_address : "*", gw->cfg->listen_port);
		goto fail;
	}
	gw->last_misc_ms = gw_now_ms();
	if(pthread_create(&gw->thread, NULL, gw_thread, gw) != 0){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: cannot start the gateway thread");
		goto fail;
	}
	gw->thread_running = true;
	return 0;

fail:
	if(gw->ctx){
		lws_context_destroy(gw->ctx);
		gw->ctx = NULL;
	}
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_free) gw->mounts[i].dialect->gw_free(gw);
	}
	return -1;
}

void gw_stop(struct wsgw_gw *gw)
{
	if(!gw->thread_running) return;
	gw->stop = 1;
	lws_cancel_service(gw->ctx);
	pthread_join(gw->thread, NULL);
	gw->thread_running = false;
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
