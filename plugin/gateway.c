/* The gateway thread: one lws context serving HTTP and WebSockets, the
 * housekeeping timer, the channel index for presence events, and shutdown. */
#include "wsgw.h"

#include <mosquitto_broker.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>
#include <ev.h>

#define SHUTDOWN_GRACE_MS 1000
#define LINK_LOST_GRACE_MS 1000   /* see session_link_lost */

struct wsgw_channel_index {
	UT_hash_handle hh;
	char *key;
	struct wsgw_watch *head;
};

/* One (session, presence key) pair: in its channel's list and its session's. */
struct wsgw_watch {
	struct wsgw_watch *cprev, *cnext;
	struct wsgw_watch *snext;
	struct wsgw_session *s;
	struct wsgw_channel_index *ci;
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

void gw_random_id(char *out, size_t outlen, const char *prefix, size_t n)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char rnd[64];
	size_t plen = strlen(prefix);

	if(n > sizeof(rnd)) n = sizeof(rnd);
	gw_random(rnd, n);
	snprintf(out, outlen, "%s", prefix);
	for(size_t i = 0; i < n && plen + i + 1 < outlen; i++){
		/* 256 % 62 != 0: the bias (< 1 in 62) does not matter for identifiers. */
		out[plen + i] = alphabet[rnd[i] % 62];
		out[plen + i + 1] = '\0';
	}
}

int gw_filter_mount_root(struct wsgw_gw *gw, const char *subpath, char **route)
{
	(void)gw; (void)route;
	return (!subpath[0] || !strcmp(subpath, "/")) ? 0 : 404;
}

uint32_t gw_random32(void *unused)
{
	uint32_t r;
	(void)unused;
	gw_random(&r, sizeof(r));
	return r;
}

/* ---- channel index: local sessions per presence key ---- */

static struct wsgw_watch *watch_find(struct wsgw_session *s, const char *key, struct wsgw_watch ***link)
{
	struct wsgw_watch **pp;
	for(pp = &s->watches; *pp; pp = &(*pp)->snext){
		if(!strcmp((*pp)->ci->key, key)){
			if(link) *link = pp;
			return *pp;
		}
	}
	return NULL;
}

int session_watch(struct wsgw_session *s, const char *key)
{
	struct wsgw_gw *gw = s->gw;
	struct wsgw_channel_index *ci = NULL;
	struct wsgw_watch *w;

	if(watch_find(s, key, NULL)) return 0;
	w = calloc(1, sizeof(*w));
	if(!w) return -1;
	HASH_FIND_STR(gw->channels, key, ci);
	if(!ci){
		ci = calloc(1, sizeof(*ci));
		if(!ci || !(ci->key = strdup(key))){
			free(ci);
			free(w);
			return -1;
		}
		HASH_ADD_KEYPTR(hh, gw->channels, ci->key, strlen(ci->key), ci);
	}
	w->s = s;
	w->ci = ci;
	w->cnext = ci->head;
	if(ci->head) ci->head->cprev = w;
	ci->head = w;
	w->snext = s->watches;
	s->watches = w;
	return 0;
}

static void watch_drop(struct wsgw_gw *gw, struct wsgw_watch *w)
{
	struct wsgw_channel_index *ci = w->ci;
	if(w->cprev) w->cprev->cnext = w->cnext;
	else ci->head = w->cnext;
	if(w->cnext) w->cnext->cprev = w->cprev;
	if(!ci->head){
		HASH_DEL(gw->channels, ci);
		free(ci->key);
		free(ci);
	}
	free(w);
}

void session_unwatch(struct wsgw_session *s, const char *key)
{
	struct wsgw_watch **pp = NULL, *w = watch_find(s, key, &pp);
	if(!w) return;
	*pp = w->snext;
	watch_drop(s->gw, w);
}

void session_unwatch_all(struct wsgw_session *s)
{
	while(s->watches){
		struct wsgw_watch *w = s->watches;
		s->watches = w->snext;
		watch_drop(s->gw, w);
	}
}

void gw_presence_dispatch(struct wsgw_gw *gw, const char *key, enum wsgw_presence_event ev,
		const struct mirror_member *m)
{
	struct wsgw_channel_index *ci = NULL;

	HASH_FIND_STR(gw->channels, key, ci);
	if(!ci) return;
	for(struct wsgw_watch *w = ci->head; w; w = w->cnext){
		struct wsgw_session *s = w->s;
		if(!s->closing && s->dialect->presence) s->dialect->presence(s, key, ev, m);
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
		mux_tick(gw);
	}
	core_tick(gw, now);
	for(struct wsgw_session *s = gw->sessions, *next; s; s = next){
		next = s->next;
		if(misc && s->link) link_misc(s->link);
		if(s->closing){
			session_tick(s, now);
			continue;
		}
		if(gw->cfg->idle_timeout > 0 && !s->dialect->own_liveness
				&& now - s->last_rx_ms > (int64_t)(gw->cfg->idle_timeout * 1000)){
			if(s->dialect->ws_error) s->dialect->ws_error(s, "IDLE_TIMEOUT", "nothing received for idle_timeout seconds");
			session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "IDLE_TIMEOUT");
			continue;
		}
		if(s->link_lost_ms){
			/* The broker drops every session just before it stops the plugin:
			 * wait a moment, so that a shutdown says SHUTDOWN instead. */
			if(now - s->link_lost_ms >= LINK_LOST_GRACE_MS){
				wsgw_log(MOSQ_LOG_NOTICE, "broker session of a %s client lost: %s", s->dialect->name,
						mosquitto_strerror(s->link_lost_rc));
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
		if(gw->evloop){
			ev_run(gw->evloop, EVRUN_ONCE);
		}else if(lws_service(gw->ctx, 0) < 0){
			wsgw_log(MOSQ_LOG_ERR, "the event loop failed; the gateway stops serving");
			while(!gw->stop) usleep(50 * 1000);
			break;
		}
	}
	mux_stop_all(gw);
	core_stop(gw);
	lws_sul_cancel(&gw->tick_sul);
	lws_context_destroy(gw->ctx);
	gw->ctx = NULL;
	if(gw->evloop){
		ev_loop_destroy(gw->evloop);
		gw->evloop = NULL;
	}
	for(int i = 0; i < gw->nmounts; i++){
		if(gw->mounts[i].dialect->gw_free) gw->mounts[i].dialect->gw_free(gw);
	}
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

int gw_start(struct wsgw_gw *gw)
{
	struct lws_context_creation_info info;
	unsigned char boot[8];

	gw_random(boot, sizeof(boot));
	for(size_t i = 0; i < sizeof(boot); i++) snprintf(gw->boot_id + 2*i, 3, "%02x", boot[i]);
	if(gw_load_keys(gw)) return -1;

	if(gw->cfg->wsdo_enable) gw_mount(gw, gw->cfg->wsdo_mount, &wsgw_dialect_wsdo);
#ifdef WSGW_HAVE_OP
	if(gw->cfg->op_enable) gw_mount(gw, gw->cfg->op_mount, &wsgw_dialect_op);
#endif
#ifdef WSGW_HAVE_TELEGRAPHY
	if(gw->cfg->telegraphy_enable) gw_mount(gw, gw->cfg->telegraphy_mount, &wsgw_dialect_telegraphy);
#endif
#ifdef WSGW_HAVE_COMET
	if(gw->cfg->comet_enable) gw_mount(gw, gw->cfg->comet_mount, &wsgw_dialect_comet);
#endif
	for(int i = 0; i < gw->nmounts; i++){
		for(int k = i + 1; k < gw->nmounts; k++){
			if(!strcmp(gw->mounts[i].prefix, gw->mounts[k].prefix)){
				mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: the %s and %s dialects are both mounted at %s",
						gw->mounts[i].dialect->name, gw->mounts[k].dialect->name, gw->mounts[i].prefix);
				goto fail;
			}
		}
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
	/* lws 4.1 keeps every pending timeout in one list sorted by deadline and
	 * inserts from its head, so re-arming a timeout walks every entry due
	 * earlier. A request on a keep-alive connection arms three: two of
	 * timeout_secs while it is read, one of keepalive_timeout after the
	 * reply. With the keep-alive timeout well above timeout_secs, the first
	 * two land ahead of the idle connections' entries and cost next to
	 * nothing (docs/PERFORMANCE.md, "channels"). */
	info.keepalive_timeout = gw->cfg->http_keepalive_timeout;
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.vhost_name = "wsgw";
	/* The loop: epoll through libev (lws's libev event library), so that a
	 * wake-up costs the same with 10 or 10,000 clients; lws's own loop calls
	 * poll() over every descriptor each time (docs/PERFORMANCE.md). Without
	 * lws's libev plugin (package libwebsockets-evlib-ev), poll() it is. */
	gw->evloop = ev_loop_new(EVBACKEND_EPOLL);
	if(gw->evloop){
		gw->foreign_loops[0] = gw->evloop;
		info.options |= LWS_SERVER_OPTION_LIBEV;
		info.foreign_loops = gw->foreign_loops;
		/* lws 4.1's libev glue logs each watcher change at NOTICE, into the
		 * broker's log: keep the level the broker set, less NOTICE. */
		if(lwsl_visible(LLL_NOTICE)){
			int level = 0;
			for(int bit = LLL_ERR; bit < (1 << LLL_COUNT); bit <<= 1){
				if(bit != LLL_NOTICE && lwsl_visible(bit)) level |= bit;
			}
			lws_set_log_level(level, NULL);
		}
		gw->ctx = lws_create_context(&info);
		if(!gw->ctx){
			mosquitto_log_printf(MOSQ_LOG_WARNING, "wsgw: libwebsockets has no libev support here "
					"(package libwebsockets-evlib-ev?): using poll(), which costs more per client");
			ev_loop_destroy(gw->evloop);
			gw->evloop = NULL;
			info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
			info.foreign_loops = NULL;
		}
	}
	if(!gw->ctx) gw->ctx = lws_create_context(&info);
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
	core_slots_free(gw);
	gw_free_keys(gw);
	return -1;
}

void gw_stop(struct wsgw_gw *gw)
{
	if(!gw->thread_running) return;
	gw->stop = 1;
	lws_cancel_service(gw->ctx);
	pthread_join(gw->thread, NULL);
	gw->thread_running = false;
	gw_free_keys(gw);
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

/* ---- keys ---- */

unsigned char *gw_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long n;

	if(!f) return NULL;
	if(fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && n < 1024 * 1024 && fseek(f, 0, SEEK_SET) == 0){
		buf = malloc((size_t)n + 1);
		if(buf && fread(buf, 1, (size_t)n, f) == (size_t)n){
			buf[n] = '\0';
			*len = (size_t)n;
		}else{
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* Loads the JWT keys and the session secret named by the options. Broker
 * thread, at start; logs and fails on a missing or unreadable file. */
int gw_load_keys(struct wsgw_gw *gw)
{
	const struct wsgw_config *cfg = gw->cfg;
	size_t len = 0;

	memset(&gw->jwt, 0, sizeof(gw->jwt));
	if(cfg->jwt_hs256_secret){
		gw->jwt_secret = (unsigned char *)strdup(cfg->jwt_hs256_secret);
		len = strlen(cfg->jwt_hs256_secret);
	}else if(cfg->jwt_hs256_secret_file){
		gw->jwt_secret = gw_read_file(cfg->jwt_hs256_secret_file, &len);
		/* A trailing newline is not part of the secret. */
		while(gw->jwt_secret && len && (gw->jwt_secret[len-1] == '\n' || gw->jwt_secret[len-1] == '\r')) len--;
		if(!gw->jwt_secret || !len){
			mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: plugin_opt_jwt_hs256_secret_file: cannot read %s", cfg->jwt_hs256_secret_file);
			return -1;
		}
	}
	if(gw->jwt_secret){
		gw->jwt.hs256_secret = gw->jwt_secret;
		gw->jwt.hs256_len = len;
	}
	if(cfg->jwt_rs256_public_key_file){
		gw->jwt_pem = gw_read_file(cfg->jwt_rs256_public_key_file, &len);
		if(!gw->jwt_pem || !strstr((char *)gw->jwt_pem, "-----BEGIN")){
			mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: plugin_opt_jwt_rs256_public_key_file: cannot read a PEM key from %s",
					cfg->jwt_rs256_public_key_file);
			return -1;
		}
		gw->jwt.rs256_pem = gw->jwt_pem;
		gw->jwt.rs256_len = len;
	}
	gw->jwt.issuer = cfg->jwt_issuer;
	gw->jwt.audience = cfg->jwt_audience;
	gw->jwt.leeway_s = (long)cfg->jwt_leeway;
	gw->jwt.require_exp = cfg->jwt_require_exp;
	gw->jwt.name_claim = cfg->jwt_name_claim;

	if(cfg->session_secret_file){
		unsigned char *sec = gw_read_file(cfg->session_secret_file, &len);
		if(!sec || len < 16){
			free(sec);
			mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: plugin_opt_session_secret_file: %s must hold at least 16 bytes",
					cfg->session_secret_file);
			return -1;
		}
		/* Any length: reduce it to the 32 bytes the tokens are signed with. */
		SHA256(sec, len, gw->session_secret);
		free(sec);
	}else{
		gw_random(gw->session_secret, sizeof(gw->session_secret));
	}
	return 0;
}

void gw_free_keys(struct wsgw_gw *gw)
{
	free(gw->jwt_secret);
	free(gw->jwt_pem);
	gw->jwt_secret = gw->jwt_pem = NULL;
	memset(&gw->jwt, 0, sizeof(gw->jwt));
}

const char *gw_jwt_verify(struct wsgw_gw *gw, const char *token, struct jwtauth_identity *id,
		const char **why)
{
	return jwtauth_verify(&gw->jwt, token, time(NULL), id, why);
}
