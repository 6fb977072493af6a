/* The gateway thread: one lws context serving HTTP and WebSockets, the
 * housekeeping timer, the channel index for presence events, and shutdown. */
#include "wsgw.h"
#include "session_int.h"

#include <mosquitto_broker.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
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

bool gw_origin_ok(struct wsgw_gw *gw, struct lws *wsi)
{
	int n = lws_hdr_total_length(wsi, WSI_TOKEN_ORIGIN);
	char *origin;
	bool ok;

	if(n <= 0 || !gw->cfg->origins) return true;   /* no Origin (not a browser), or no list */
	/* The whole header, however long: one that cannot be read is refused. */
	origin = malloc((size_t)n + 1);
	if(!origin) return false;
	ok = lws_hdr_copy(wsi, origin, n + 1, WSI_TOKEN_ORIGIN) == n && config_origin_allowed(gw->cfg, origin);
	free(origin);
	return ok;
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
	http_reap(gw);
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
			wsgw_log(MOSQ_LOG_INFO, "closing a %s client from %s: %s", s->dialect->name, s->peer, why);
			if(s->dialect->ws_error) s->dialect->ws_error(s, "IDLE_TIMEOUT", why);
			session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "IDLE_TIMEOUT");
			continue;
		}
		session_ping_tick(s, now);
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
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* wsi is the listener here: an accepted socket not adopted yet */
		return user ? http_conn_filter(gw, user) : 0;
	case LWS_CALLBACK_SERVER_NEW_CLIENT_INSTANTIATED:
		http_conn_open(gw, wsi);
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
	case LWS_CALLBACK_RECEIVE_PONG:
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
		http_conn_close(gw, wsi);
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
	lws_sul_cancel(&gw->connq_sul);
	lws_context_destroy(gw->ctx);
	gw->ctx = NULL;
	http_reap(gw);
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

/* ---- the listener's address ---- */

/* What lws is to bind for listen_address: *addr (a literal, or NULL for every
 * interface) and the family options. lws 4.1 cannot be handed an IPv4 literal
 * on an IPv6-enabled vhost: it parses the literal into the wrong field of its
 * sockaddr_in6 and binds [::], every interface of both families. So an IPv4
 * literal gets an IPv4-only vhost, an IPv6 literal an IPV6_V6ONLY one, and an
 * interface name is turned here into its first IPv4 address (its first IPv6
 * one if it has no IPv4 address). Broker thread, at start. */
static int listen_resolve(const char *want, char *addr, size_t addrlen, uint64_t *options,
		bool *is_ifname)
{
	struct in_addr a4;
	struct in6_addr a6;
	char lit[INET6_ADDRSTRLEN + 2];
	struct ifaddrs *ifs = NULL;
	bool found_if = false, done = false;

	*is_ifname = false;
	if(!want || !strcmp(want, "*")){
		addr[0] = '\0';
		return 0;
	}
	snprintf(lit, sizeof(lit), "%s", want);
	if(lit[0] == '[' && strlen(lit) > 2 && lit[strlen(lit) - 1] == ']'){
		memmove(lit, lit + 1, strlen(lit));
		lit[strlen(lit) - 1] = '\0';
	}
	if(inet_pton(AF_INET, want, &a4) == 1){
		snprintf(addr, addrlen, "%s", want);
		*options |= LWS_SERVER_OPTION_DISABLE_IPV6;
		return 0;
	}
	if(inet_pton(AF_INET6, lit, &a6) == 1){
		snprintf(addr, addrlen, "%s", lit);
		*options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
		return 0;
	}
	if(getifaddrs(&ifs)) return -1;
	for(int pass = 0; pass < 2 && !done; pass++){
		int fam = pass == 0 ? AF_INET : AF_INET6;
		for(struct ifaddrs *i = ifs; i && !done; i = i->ifa_next){
			if(!i->ifa_name || strcmp(i->ifa_name, want)) continue;
			found_if = true;
			if(!i->ifa_addr || i->ifa_addr->sa_family != fam) continue;
			if(fam == AF_INET){
				inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, addr, (socklen_t)addrlen);
				*options |= LWS_SERVER_OPTION_DISABLE_IPV6;
			}else{
				const struct in6_addr *v6 = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
				if(IN6_IS_ADDR_LINKLOCAL(v6)) continue;   /* needs a scope: name it as a literal */
				inet_ntop(AF_INET6, v6, addr, (socklen_t)addrlen);
				*options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY | LWS_SERVER_OPTION_IPV6_V6ONLY_VALUE;
			}
			*is_ifname = true;
			done = true;
		}
	}
	freeifaddrs(ifs);
	if(done) return 0;
	return found_if ? -2 : -1;
}

/* The listening TCP sockets of this process on port (at most max). */
static int listen_fds(int port, int *fds, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if(!d) return 0;
	while((e = readdir(d)) && n < max){
		int fd = atoi(e->d_name), on = 0, type = 0;
		socklen_t ol = sizeof(on), tl = sizeof(type);
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if(e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d)) continue;
		if(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &ol) || !on) continue;
		if(getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) || type != SOCK_STREAM) continue;
		if(getsockname(fd, (struct sockaddr *)&ss, &sl)) continue;
		if(ss.ss_family == AF_INET && ntohs(((struct sockaddr_in *)&ss)->sin_port) == port) fds[n++] = fd;
		else if(ss.ss_family == AF_INET6 && ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) == port) fds[n++] = fd;
	}
	closedir(d);
	return n;
}

/* Describes the socket lws really listens on: the one on our port that was
 * not there before the vhost (before[], nbefore). ifname: the interface
 * listen_address named, or NULL. */
static void listen_describe(struct wsgw_gw *gw, const int *before, int nbefore, const char *ifname)
{
	char on[48] = "";

	if(ifname) snprintf(on, sizeof(on), ", interface %.24s", ifname);
	int fds[16], n = listen_fds(gw->cfg->listen_port, fds, 16);

	for(int i = 0; i < n; i++){
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		char host[INET6_ADDRSTRLEN];
		bool old = false;
		for(int k = 0; k < nbefore; k++) old = old || before[k] == fds[i];
		if(old || getsockname(fds[i], (struct sockaddr *)&ss, &sl)) continue;
		if(ss.ss_family == AF_INET){
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
			snprintf(gw->listen_desc, sizeof(gw->listen_desc), "%s:%d (IPv4 only%s)", host,
					gw->cfg->listen_port, on);
		}else{
			int v6only = 0;
			socklen_t vl = sizeof(v6only);
			getsockopt(fds[i], IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &vl);
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
			snprintf(gw->listen_desc, sizeof(gw->listen_desc), "[%s]:%d (%s%s)", host, gw->cfg->listen_port,
					v6only ? "IPv6 only" : "IPv6 and IPv4", on);
		}
		return;
	}
	/* Not found (no /proc?): what was asked for. */
	snprintf(gw->listen_desc, sizeof(gw->listen_desc), "%s:%d", gw->cfg->listen_address ? gw->cfg->listen_address : "*",
			gw->cfg->listen_port);
}

/* Descriptors: raise the soft RLIMIT_NOFILE to the hard one, keep
 * fd_reserve of them for the broker (no client is accepted on a descriptor
 * at or above limit - reserve), and lower the connection caps if they would
 * need more than the rest. A WebSocket client takes up to 3 descriptors (its
 * socket, its MQTT session's socket and the broker's end of it), 1 with
 * wsdo_shared_sessions (websockets.do listeners); an HTTP connection 1.
 * Broker thread, at start. */
static void gw_fd_budget(struct wsgw_gw *gw)
{
	struct wsgw_config *cfg = gw->cfg;
	struct rlimit rl;
	long budget, need, per_ws = cfg->wsdo_shared_sessions ? 1 : 3;

	gw->fd_limit = 0;
	gw->fd_reserve = cfg->fd_reserve;
	if(getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return;
	if(rl.rlim_cur < rl.rlim_max){
		rlim_t old = rl.rlim_cur;
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		if(setrlimit(RLIMIT_NOFILE, &rl) == 0){
			mosquitto_log_printf(MOSQ_LOG_INFO, "wsgw: descriptor limit (RLIMIT_NOFILE) raised from %lu to %lu",
					(unsigned long)old, (unsigned long)rl.rlim_cur);
		}else{
			rl.rlim_cur = old;
		}
	}
	gw->fd_limit = rl.rlim_cur > 0x7fffffff ? 0x7fffffff : (long)rl.rlim_cur;
	if(gw->fd_reserve > gw->fd_limit / 2){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "wsgw: plugin_opt_fd_reserve %d is more than half the descriptor "
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
		mosquitto_log_printf(MOSQ_LOG_WARNING, "wsgw: the descriptor limit %ld (RLIMIT_NOFILE) less plugin_opt_fd_reserve %d "
				"leaves %ld descriptors; max_connections %d x %ld + max_http_connections %d need %ld: "
				"lowered to max_connections %d, max_http_connections %d (raise the limit, e.g. LimitNOFILE= in "
				"the broker's systemd unit, to keep them)",
				gw->fd_limit, gw->fd_reserve, budget, old_ws, per_ws, old_http, need,
				cfg->max_connections, cfg->max_http_connections);
	}
}

int gw_start(struct wsgw_gw *gw)
{
	struct lws_context_creation_info info;
	unsigned char boot[8];
	char bind_addr[INET6_ADDRSTRLEN];
	bool is_ifname = false;
	uint64_t bind_options = 0;
	int rc, before[16], nbefore;

	gw_random(boot, sizeof(boot));
	for(size_t i = 0; i < sizeof(boot); i++) snprintf(gw->boot_id + 2*i, 3, "%02x", boot[i]);
	if(gw_load_keys(gw)) return -1;
	gw_fd_budget(gw);

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
	rc = listen_resolve(gw->cfg->listen_address, bind_addr, sizeof(bind_addr), &bind_options, &is_ifname);
	if(rc){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: plugin_opt_listen_address: \"%s\" is %s", gw->cfg->listen_address,
				rc == -2 ? "an interface without a usable address"
				: "neither an IPv4 or IPv6 address nor the name of an interface of this host");
		goto fail;
	}
	info.iface = bind_addr[0] ? bind_addr : NULL;
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
	/* FAIL_UPON_UNABLE_TO_BIND: an address that is not (yet) this host's is
	 * an error, not a vhost that waits without a listener. */
	info.options = LWS_SERVER_OPTION_VALIDATE_UTF8 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS
		| LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | bind_options;
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
	nbefore = listen_fds(gw->cfg->listen_port, before, 16);
	gw->vhost = lws_create_vhost(gw->ctx, &info);
	if(!gw->vhost){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: cannot listen on %s:%d (in use, not this host's address, or not permitted?)",
				bind_addr[0] ? bind_addr : "*", gw->cfg->listen_port);
		goto fail;
	}
	listen_describe(gw, before, nbefore, is_ifname ? gw->cfg->listen_address : NULL);
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
	if(gw->evloop){
		ev_loop_destroy(gw->evloop);
		gw->evloop = NULL;
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
