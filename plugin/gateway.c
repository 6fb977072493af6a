/* The gateway thread and its life: start (keys, descriptor budget, mounts,
 * dialects, transport, thread), the housekeeping tick that drives each
 * layer's own, and shutdown. The pieces live in util.c, transport.c,
 * presence.c and keys.c (HACKING.md, "Layers"). */
#define LOG_TAG "gateway"
#include "wsgw.h"
#include "session_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#define SHUTDOWN_GRACE_MS 1000
#define LINK_LOST_GRACE_MS 1000   /* see session_link_lost */

/* ---- housekeeping ---- */

static void gateway_tick(lws_sorted_usec_list_t *sul)
{
	struct wsgw_gw *gw = lws_container_of(sul, struct wsgw_gw, tick_sul);
	int64_t now = gw_now_ms();
	bool misc = now - gw->last_misc_ms >= 1000;

	if(misc){
		gw->last_misc_ms = now;
		if(gw->core) link_misc(gw->core);
		mux_tick(gw);
	}
	core_tick(gw, now);
	http_reap(gw);
	front_tick(gw, now);
	for(struct wsgw_session *s = gw->sessions, *next; s; s = next){
		next = s->next;
		if(misc && s->link) link_misc(s->link);
		if(s->closing){
			session_tick(s, now);
			continue;
		}
		if(gw->cfg->idle_timeout > 0 && !s->dialect->own_liveness
				&& now - s->last_rx_ms > (int64_t)(gw->cfg->idle_timeout * 1000)){
			const char *why = s->pings_unanswered ? "no pong to the gateway's pings and nothing else received for idle_timeout seconds"
				: "nothing received for idle_timeout seconds";
			LOG_I("closing a %s client from %s: %s", s->dialect->name, s->peer, why);
			if(s->dialect->ws_error) s->dialect->ws_error(s, "IDLE_TIMEOUT", why);
			session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "IDLE_TIMEOUT");
			continue;
		}
		session_ping_tick(s, now);
		if(s->link_lost_ms){
			/* The broker drops every session just before it stops the plugin:
			 * wait a moment, so that a shutdown says SHUTDOWN instead. */
			if(now - s->link_lost_ms >= LINK_LOST_GRACE_MS){
				LOG_N("broker session of a %s client lost: %s", s->dialect->name,
						mqttw_reason_string((uint8_t)s->link_lost_rc));
				s->dialect->ws_error(s, "BROKER_UNAVAILABLE", "the broker session was lost");
				session_close(s, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "BROKER_UNAVAILABLE");
			}
			continue;
		}
		if(s->dialect->ws_tick) s->dialect->ws_tick(s, now);
	}
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_tick) gw->mounts[i].dialect->gw_tick(gw, now);
	}
	lws_sul_schedule(gw->ctx, 0, &gw->tick_sul, gateway_tick, WSGW_TICK_MS * LWS_US_PER_MS);
}

/* Each mounted dialect frees its gateway-wide state (gw_free, which must
 * cope with a gw_init that failed half-way); the registry's slot is cleared
 * here, once for all. */
static void gateway_free_dialects(struct wsgw_gw *gw)
{
	for(int i = 0; i < gw->nmounts; i++){
		const struct wsgw_dialect *d = gw->mounts[i].dialect;
		if(d->gw_free) d->gw_free(gw);
		gw_dialect_set_state(gw, d, NULL);
	}
}

static void *gw_thread(void *arg)
{
	struct wsgw_gw *gw = arg;
	int64_t deadline = 0;

	lws_sul_schedule(gw->ctx, 0, &gw->tick_sul, gateway_tick, WSGW_TICK_MS * LWS_US_PER_MS);
	if(core_start(gw)) LOG_W("core session not up yet; retrying every second");
	for(;;){
		if(gw->stop && !gw->stopping) transport_begin_shutdown(gw);
		if(gw->stopping){
			if(!deadline) deadline = gw_now_ms() + SHUTDOWN_GRACE_MS;
			if(gw->nsessions == 0 || gw_now_ms() >= deadline) break;
		}
		if(transport_service(gw)){
			LOG_E("the event loop failed; the gateway stops serving");
			while(!gw->stop) usleep(50 * 1000);
			break;
		}
	}
	/* gw_stop wakes the loop through the context after it has set stop:
	 * the context (its eventfd) stays until gw_stop is done with it. */
	while(atomic_load(&gw->stop) < 2) usleep(1000);
	mux_stop_all(gw);
	core_stop(gw);
	lws_sul_cancel(&gw->tick_sul);
	lws_sul_cancel(&gw->connq_sul);
	transport_stop(gw);
	http_reap(gw);
	gateway_free_dialects(gw);
	mirror_clear(&gw->mirror);
	core_slots_free(gw);
	free(gw->link_rx);
	gw->link_rx = NULL;
	return NULL;
}

static void gw_mount(struct wsgw_gw *gw, const char *prefix, const struct wsgw_dialect *d)
{
	if(gw->nmounts >= (int)(sizeof(gw->mounts) / sizeof(gw->mounts[0]))) return;
	gw->mounts[gw->nmounts].prefix = prefix;
	gw->mounts[gw->nmounts].dialect = d;
	gw->nmounts++;
}

static int mount_cmp(const void *a, const void *b)
{
	const struct wsgw_mount *ma = a, *mb = b;
	return (int)strlen(mb->prefix) - (int)strlen(ma->prefix);
}

/* Descriptors: raise the soft RLIMIT_NOFILE to the hard one, keep
 * fd_reserve of them for the broker (no client is accepted on a descriptor
 * at or above limit - reserve), and lower the connection caps if they would
 * need more than the rest. A WebSocket client takes up to 3 descriptors (its
 * socket, its MQTT session's socket and the broker's end of it), 1 once a
 * mounted dialect's clients share broker sessions (wsdo_shared_sessions:
 * websockets.do listeners); an HTTP connection 1. Broker thread, at start,
 * after the mounts. */
static void gw_fd_budget(struct wsgw_gw *gw)
{
	struct wsgw_config *cfg = gw->cfg;
	struct rlimit rl;
	long budget, need, per_ws = 3;

	for(int i = 0; i < gw->nmounts; i++){
		const struct wsgw_dialect_conf *dc = gw->mounts[i].dialect->conf;
		if(dc->shares_sessions && dc->shares_sessions(config_dialect(cfg, dc)->opts)) per_ws = 1;
	}

	gw->fd_limit = 0;
	gw->fd_reserve = cfg->fd_reserve;
	if(getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
	if(rl.rlim_cur < rl.rlim_max){
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		if(setrlimit(RLIMIT_NOFILE, &rl) == 0){
			LOG_I("descriptor limit (RLIMIT_NOFILE) raised from %lu to %lu",
					(unsigned long)old, (unsigned long)rl.rlim_cur);
		}else{
			rl.rlim_cur = old;
		}
	}
	gw->fd_limit = rl.rlim_cur > 0x7fffffff ? 0x7fffffff : (long)rl.rlim_cur;
	if(gw->fd_reserve > gw->fd_limit / 2){
		LOG_W("plugin_opt_fd_reserve %d is more than half the descriptor "
				"limit %ld: keeping %ld for the broker", gw->fd_reserve, gw->fd_limit, gw->fd_limit / 2);
		gw->fd_reserve = (int)(gw->fd_limit / 2);
	}
	budget = gw->fd_limit - gw->fd_reserve;
	need = per_ws * cfg->max_connections + cfg->max_http_connections;
	if(need > budget){
		int old_ws = cfg->max_connections, old_http = cfg->max_http_connections;
		if(cfg->max_http_connections > budget / 4) cfg->max_http_connections = (int)(budget / 4 > 1 ? budget / 4 : 1);
		cfg->max_connections = (int)((budget - cfg->max_http_connections) / per_ws);
		if(cfg->max_connections < 1) cfg->max_connections = 1;
		LOG_W("the descriptor limit %ld (RLIMIT_NOFILE) less plugin_opt_fd_reserve %d "
				"leaves %ld descriptors; max_connections %d x %ld + max_http_connections %d need %ld: "
				"lowered to max_connections %d, max_http_connections %d (raise the limit, e.g. LimitNOFILE= in "
				"the broker's systemd unit, to keep them)",
				gw->fd_limit, gw->fd_reserve, budget, old_ws, per_ws, old_http, need,
				cfg->max_connections, cfg->max_http_connections);
	}
}

int gw_start(struct wsgw_gw *gw)
{
	unsigned char boot[8];

	gw_random(boot, sizeof(boot));
	for(size_t i = 0; i < sizeof(boot); i++) snprintf(gw->boot_id + 2*i, 3, "%02x", boot[i]);
	if(gw_load_keys(gw)) return -1;

	for(size_t i = 0; i < wsgw_ndialects; i++){
		const struct wsgw_dialect_settings *ds = config_dialect(gw->cfg, wsgw_dialects[i]->conf);
		if(ds && ds->enable) gw_mount(gw, ds->mount, wsgw_dialects[i]);
	}
	for(int i = 0; i < gw->nmounts; i++){
		for(int k = i + 1; k < gw->nmounts; k++){
			if(!strcmp(gw->mounts[i].prefix, gw->mounts[k].prefix)){
				LOG_E("the %s and %s dialects are both mounted at %s",
						gw->mounts[i].dialect->name, gw->mounts[k].dialect->name, gw->mounts[i].prefix);
				goto fail;
			}
		}
	}
	/* Longest prefix first, so a dialect at "/" never shadows one at "/x". */
	qsort(gw->mounts, (size_t)gw->nmounts, sizeof(gw->mounts[0]), mount_cmp);
	gw_fd_budget(gw);
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_init && gw->mounts[i].dialect->gw_init(gw)){
			LOG_E("cannot initialise the %s dialect", gw->mounts[i].dialect->name);
			goto fail;
		}
	}

	presence_init(gw);
	if(transport_start(gw)) goto fail;
	gw->last_misc_ms = gw_now_ms();
	if(pthread_create(&gw->thread, NULL, gw_thread, gw) != 0){
		LOG_E("cannot start the gateway thread");
		goto fail;
	}
	gw->thread_running = true;
	return 0;

fail:
	transport_stop(gw);
	gateway_free_dialects(gw);
	core_slots_free(gw);
	gw_free_keys(gw);
	return -1;
}

void gw_stop(struct wsgw_gw *gw)
{
	if(!gw->thread_running) return;
	/* The thread may see stop and leave its loop before the wake-up below
	 * (any event wakes it): it waits for stop 2 before it destroys the
	 * context, which lws_cancel_service still uses (ThreadSanitizer: this
	 * read of gw->ctx and lws's eventfd raced the gateway thread's
	 * lws_context_destroy). */
	atomic_store(&gw->stop, 1);
	lws_cancel_service(gw->ctx);
	atomic_store(&gw->stop, 2);
	pthread_join(gw->thread, NULL);
	gw->thread_running = false;
	gw_free_keys(gw);
}
