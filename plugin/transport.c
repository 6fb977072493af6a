/* The transport: the lws context and its listening socket, and the lws
 * protocol callbacks that hand each connection to session.c or http.c (which
 * route it with route.c). */
#define LOG_TAG "transport"
#include "wsgw.h"
#include "session_int.h"

#include <unistd.h>
#include <errno.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ev.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

void transport_begin_shutdown(struct wsgw_gw *gw)
{
	if(gw->stopping) return;
	gw->stopping = true;
	for(struct wsgw_session *s = gw->sessions; s; s = s->next){
		if(s->closing) continue;
		if(s->dialect->ws_error) s->dialect->ws_error(s, "SHUTDOWN", "the broker is stopping");
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "SHUTDOWN");
	}
}

/* ---- TLS ---- */

/* OpenSSL asks for a passphrase: none is given (never a prompt on the
 * broker's terminal), so an encrypted key does not load. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return 0;
}

/* Reads certfile and keyfile as lws is about to, so that a file that cannot
 * be used is said by name (lws would log a line of its own and fail the vhost
 * as if the port could not be bound, or, on a reload, leave the vhost with a
 * certificate and a key that do not match). Checks cafile and capath can be
 * read, cafile holds certificates, and the cipher lists are OpenSSL's. desc: the certificate's subject,
 * serial and end date, for the log. 0, or -1 with a sentence in err. */
static int tls_files_check(const struct wsgw_config *cfg, char *err, size_t errlen, char *desc, size_t desclen)
{
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	SSL_CTX *ctx = NULL;
	FILE *f;
	int rc = -1;

	if(!(f = fopen(cfg->certfile, "r"))){
		snprintf(err, errlen, "plugin_opt_certfile: cannot read %s: %s", cfg->certfile, strerror(errno));
		return -1;
	}
	x = PEM_read_X509(f, NULL, no_passphrase, NULL);
	fclose(f);
	if(!x){
		snprintf(err, errlen, "plugin_opt_certfile: %s holds no PEM certificate", cfg->certfile);
		goto out;
	}
	if(!(f = fopen(cfg->keyfile, "r"))){
		snprintf(err, errlen, "plugin_opt_keyfile: cannot read %s: %s", cfg->keyfile, strerror(errno));
		goto out;
	}
	k = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if(!k){
		snprintf(err, errlen, "plugin_opt_keyfile: %s holds no PEM private key, or one encrypted with a "
				"passphrase (not supported: decrypt it with `openssl pkey`, readable by the broker alone)", cfg->keyfile);
		goto out;
	}
	if(X509_check_private_key(x, k) != 1){
		snprintf(err, errlen, "plugin_opt_keyfile: %s is not the key of the certificate in %s", cfg->keyfile, cfg->certfile);
		goto out;
	}
	if(cfg->cafile && (!(f = fopen(cfg->cafile, "r")) || fclose(f))){
		snprintf(err, errlen, "plugin_opt_cafile: cannot read %s: %s", cfg->cafile, strerror(errno));
		goto out;
	}
	if(cfg->capath){
		DIR *d = opendir(cfg->capath);
		if(!d){
			snprintf(err, errlen, "plugin_opt_capath: cannot read the directory %s: %s", cfg->capath, strerror(errno));
			goto out;
		}
		closedir(d);
	}
	if((cfg->cafile || cfg->ciphers || cfg->ciphers_tls1_3) && !(ctx = SSL_CTX_new(TLS_server_method()))){
		snprintf(err, errlen, "cannot check the TLS options: out of memory");
		goto out;
	}
	/* lws logs a cafile it cannot load and goes on without it */
	if(cfg->cafile && !SSL_CTX_load_verify_locations(ctx, cfg->cafile, NULL)){
		snprintf(err, errlen, "plugin_opt_cafile: %s holds no PEM certificate", cfg->cafile);
		goto out;
	}
	if(cfg->ciphers && !SSL_CTX_set_cipher_list(ctx, cfg->ciphers)){
		snprintf(err, errlen, "plugin_opt_ciphers: \"%s\" names no cipher OpenSSL has", cfg->ciphers);
		goto out;
	}
	if(cfg->ciphers_tls1_3 && !SSL_CTX_set_ciphersuites(ctx, cfg->ciphers_tls1_3)){
		snprintf(err, errlen, "plugin_opt_ciphers_tls1_3: \"%s\" is not a list of TLS 1.3 ciphersuites "
				"(TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:...)", cfg->ciphers_tls1_3);
		goto out;
	}
	{
		char subject[128] = "?", serial[80] = "?", until[32] = "?";
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		char *hex = bn ? BN_bn2hex(bn) : NULL;
		BIO *b = BIO_new(BIO_s_mem());
		X509_NAME_oneline(X509_get_subject_name(x), subject, sizeof(subject));
		if(hex) snprintf(serial, sizeof(serial), "%s", hex);
		if(b && ASN1_TIME_print(b, X509_get0_notAfter(x))){
			int n = BIO_read(b, until, sizeof(until) - 1);
			until[n > 0 ? n : 0] = '\0';
		}
		snprintf(desc, desclen, "%s, serial %s, valid until %s", subject, serial, until);
		BIO_free(b);
		OPENSSL_free(hex);
		BN_free(bn);
	}
	rc = 0;
out:
	SSL_CTX_free(ctx);
	EVP_PKEY_free(k);
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* lws made the listener's SSL_CTX (certificate, key, cafile, cipher lists
 * from the vhost info): what lws has no field for. */
static int tls_ctx_setup(struct wsgw_gw *gw, SSL_CTX *ctx)
{
	const struct wsgw_config *cfg = gw->cfg;

	if(!SSL_CTX_set_min_proto_version(ctx, strcmp(cfg->tls_version, "tlsv1.3") ? TLS1_2_VERSION : TLS1_3_VERSION)){
		LOG_E("plugin_opt_tls_version %s: not available in this OpenSSL", cfg->tls_version);
		return -1;
	}
	if(cfg->capath && !SSL_CTX_load_verify_locations(ctx, NULL, cfg->capath)){
		LOG_E("plugin_opt_capath: OpenSSL cannot use %s", cfg->capath);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* Gateway thread, after SIGHUP: certfile and keyfile again, into the SSL_CTX
 * new connections are made from (lws_tls_cert_updated finds the vhost by
 * these paths); connections up keep theirs. Files that do not do are
 * reported and the certificate in use stays. */
static void tls_reload(struct wsgw_gw *gw)
{
	char err[512], desc[320];

	if(tls_files_check(gw->cfg, err, sizeof(err), desc, sizeof(desc))){
		LOG_E("reload: the certificate in use stays: %s", err);
		return;
	}
	if(lws_tls_cert_updated(gw->ctx, gw->cfg->certfile, gw->cfg->keyfile, NULL, 0, NULL, 0)){
		LOG_E("reload: libwebsockets refused the certificate in %s; the one in use stays", gw->cfg->certfile);
		return;
	}
	LOG_I("reload: TLS certificate %s", desc);
}

void transport_tls_reload(struct wsgw_gw *gw)
{
	if(!gw->ctx || !gw->cfg->certfile) return;
	gw->tls_reload = 1;
	lws_cancel_service(gw->ctx);
}

/* ---- lws protocols ---- */

/* A connection ends: its request or its session goes with it. */
static void conn_gone(struct wsgw_conn *c)
{
	struct wsgw_pss *pss = front_pss(c);

	if(pss->kind == WSGW_PSS_SESSION && pss->u.session) session_free(pss->u.session);
	else if(pss->kind == WSGW_PSS_HTTP && pss->u.http) http_free(pss->u.http);
	pss->kind = WSGW_PSS_NONE;
}

/* What the front hands up, and to whom (front.h). */
static void conn_request(struct wsgw_conn *c)
{
	if(front_is_upgrade(c)) session_upgrade(c);
	else http_request(c);
}

static const struct front_ops front_ops = {
	.request = conn_request,
	.body = http_body,
	.message = session_message,
	.pong = session_pong,
	.peer_close = session_peer_close,
	.writeable = session_writeable,
	.gone = conn_gone,
};

static int cb_main(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct wsgw_gw *gw = lws_context_user(lws_get_context(wsi));

	switch(reason){
	case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
		if(gw->stop) transport_begin_shutdown(gw);
		if(atomic_exchange(&gw->tls_reload, 0)) tls_reload(gw);
		return 0;
	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
		/* user: the vhost's SSL_CTX */
		return tls_ctx_setup(gw, user);
	case LWS_CALLBACK_OPENSSL_PERFORM_CLIENT_CERT_VERIFICATION:
		/* With require_certificate, once per certificate of the client's
		 * chain; len: whether OpenSSL found it valid. lws's default answer
		 * (0) would take any certificate, verified or not. */
		return len ? 0 : 1;
	case LWS_CALLBACK_FILTER_NETWORK_CONNECTION:
		/* wsi is the listener here: an accepted socket not adopted yet */
		return user ? http_conn_filter(gw, user) : 0;
	case LWS_CALLBACK_RAW_ADOPT:
		return front_adopt(gw, wsi);
	case LWS_CALLBACK_RAW_RX:
		return front_rx(wsi, in, len);
	case LWS_CALLBACK_RAW_WRITEABLE:
		return front_writeable(wsi);
	case LWS_CALLBACK_RAW_CLOSE:
	case LWS_CALLBACK_WSI_DESTROY:
		front_closed(wsi);
		return 0;
	default:
		return 0;
	}
}

static int cb_mqtt(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)user; (void)in; (void)len;
	return link_raw_handle(wsi, reason);
}

/* A write of up to tx_packet_size bytes goes to the socket at once (lws
 * sends a larger one in pieces of it, one per turn of the loop): room for
 * session.c's batches of queued frames. */
#define TX_PACKET 262144

static const struct lws_protocols protocols[] = {
	{ "wsgw", cb_main, 0, 4096, 0, NULL, TX_PACKET },
	{ "wsgw-mqtt", cb_mqtt, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 }
};

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

/* The listening TCP sockets of this process on port (at most max), or -1
 * when /proc cannot tell. */
static int listen_fds(int port, int *fds, int max)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if(!d) return -1;
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
 * listen_address named, or NULL. Returns -1 when there is no such socket:
 * lws 4.1 fails lws_create_vhost when it cannot bind, lws 4.3 returns the
 * vhost and keeps retrying the bind. */
static int listen_describe(struct wsgw_gw *gw, const int *before, int nbefore, const char *ifname)
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
		return 0;
	}
	if(n >= 0) return -1;   /* no socket of ours on the port */
	/* /proc cannot tell: what was asked for. */
	snprintf(gw->listen_desc, sizeof(gw->listen_desc), "%s:%d", gw->cfg->listen_address ? gw->cfg->listen_address : "*",
			gw->cfg->listen_port);
	return 0;
}

/* Binds a socket of our own to addr:port (NULL: every address) and lets it
 * go: 0, or -errno. lws 4.3 retries a bind that fails in lws_create_vhost
 * for good (the FAIL_UPON_UNABLE_TO_BIND option notwithstanding), so an
 * address this host does not have, or a port in use, is found here first. */
static int listen_probe(const char *addr, int port)
{
	struct addrinfo hints, *ai = NULL;
	char service[8];
	int fd, rc = 0, on = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = addr ? AF_UNSPEC : AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(service, sizeof(service), "%d", port);
	if(getaddrinfo(addr, service, &hints, &ai) || !ai) return addr ? -EINVAL : 0;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if(fd < 0){
		rc = addr ? -errno : 0;   /* no IPv6 at all: lws decides for "every address" */
	}else{
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if(bind(fd, ai->ai_addr, ai->ai_addrlen)) rc = -errno;
		close(fd);
	}
	freeaddrinfo(ai);
	return rc;
}

int transport_start(struct wsgw_gw *gw)
{
	struct lws_context_creation_info info;
	char bind_addr[INET6_ADDRSTRLEN];
	bool is_ifname = false;
	uint64_t bind_options = 0;
	int rc, before[16], nbefore;
	char tls_err[512], tls_desc[320];

	front_set_ops(&front_ops);
	memset(&info, 0, sizeof(info));
	info.port = gw->cfg->listen_port;
	rc = listen_resolve(gw->cfg->listen_address, bind_addr, sizeof(bind_addr), &bind_options, &is_ifname);
	if(rc){
		LOG_E("plugin_opt_listen_address: \"%s\" is %s", gw->cfg->listen_address,
				rc == -2 ? "an interface without a usable address"
				: "neither an IPv4 or IPv6 address nor the name of an interface of this host");
		return -1;
	}
	rc = listen_probe(bind_addr[0] ? bind_addr : NULL, gw->cfg->listen_port);
	if(rc){
		LOG_E("cannot listen on %s:%d: %s", bind_addr[0] ? bind_addr : "*", gw->cfg->listen_port,
				rc == -EADDRNOTAVAIL ? "not an address of this host" : strerror(-rc));
		return -1;
	}
	if(gw->cfg->certfile){
		if(tls_files_check(gw->cfg, tls_err, sizeof(tls_err), tls_desc, sizeof(tls_desc))){
			LOG_E("%s", tls_err);
			return -1;
		}
		info.ssl_cert_filepath = gw->cfg->certfile;
		info.ssl_private_key_filepath = gw->cfg->keyfile;
		info.ssl_ca_filepath = gw->cfg->cafile;
		info.ssl_cipher_list = gw->cfg->ciphers;
		info.tls1_3_plus_cipher_list = gw->cfg->ciphers_tls1_3;
		/* HTTP/1.1 alone, as on a plain listener: lws would offer h2 to a
		 * client that asks for it, which the HTTP endpoints (http.c) and
		 * the WebSocket upgrade do not speak. */
		info.alpn = "http/1.1";
		bind_options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		if(gw->cfg->require_certificate) bind_options |= LWS_SERVER_OPTION_REQUIRE_VALID_OPENSSL_CLIENT_CERT;
	}
	info.iface = bind_addr[0] ? bind_addr : NULL;
	info.protocols = protocols;
	info.user = gw;
	/* lws's time limit of a TLS handshake; the front times the rest
	 * (handshake_timeout for a request head, http_keepalive_timeout between
	 * requests: front.c). */
	info.timeout_secs = (unsigned)(gw->cfg->handshake_timeout + 0.5);
	/* FAIL_UPON_UNABLE_TO_BIND: an address that is not (yet) this host's is
	 * an error, not a vhost that waits without a listener. */
	/* ADOPT_APPLY_LISTEN_ACCEPT_CONFIG: an accepted connection is a raw
	 * socket of the "wsgw" protocol (TLS is lws's still): HTTP and
	 * WebSocket are read by the gateway's own front (front.c). */
	info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS | LWS_SERVER_OPTION_ADOPT_APPLY_LISTEN_ACCEPT_CONFIG
		| LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND | bind_options;
	info.listen_accept_role = "raw-skt";
	info.listen_accept_protocol = "wsgw";
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
			LOG_W("libwebsockets has no libev support here "
					"(package libwebsockets-evlib-ev?): using poll(), which costs more per client");
			ev_loop_destroy(gw->evloop);
			gw->evloop = NULL;
			info.options &= ~(uint64_t)LWS_SERVER_OPTION_LIBEV;
			info.foreign_loops = NULL;
		}
	}
	if(!gw->ctx) gw->ctx = lws_create_context(&info);
	if(!gw->ctx){
		LOG_E("cannot create the libwebsockets context");
		return -1;
	}
	nbefore = listen_fds(gw->cfg->listen_port, before, 16);
	if(nbefore < 0) nbefore = 0;
	gw->vhost = lws_create_vhost(gw->ctx, &info);
	if(!gw->vhost || listen_describe(gw, before, nbefore, is_ifname ? gw->cfg->listen_address : NULL)){
		LOG_E("cannot listen on %s:%d (in use, not this host's address, or not permitted?)",
				bind_addr[0] ? bind_addr : "*", gw->cfg->listen_port);
		return -1;
	}
	{
		/* The broker links' sockets (link.c) are adopted on a vhost of
		 * their own, without a listener: the listener's vhost gives every
		 * socket it adopts to the front. */
		struct lws_context_creation_info links;
		memset(&links, 0, sizeof(links));
		links.port = CONTEXT_PORT_NO_LISTEN;
		links.protocols = protocols;
		links.user = gw;
		links.vhost_name = "wsgw-links";
		gw->link_vhost = lws_create_vhost(gw->ctx, &links);
		if(!gw->link_vhost){
			LOG_E("cannot create the libwebsockets vhost of the broker links");
			return -1;
		}
	}
	if(gw->cfg->certfile){
		size_t used = strlen(gw->listen_desc);
		snprintf(gw->listen_desc + used, sizeof(gw->listen_desc) - used, " with TLS: https://, wss://");
		LOG_I("TLS: certificate %s; %s or later%s", tls_desc, gw->cfg->tls_version,
				gw->cfg->require_certificate ? "; client certificates required" : "");
	}
	return 0;
}

int transport_service(struct wsgw_gw *gw)
{
	session_flush(gw);
	if(gw->evloop){
		ev_run(gw->evloop, EVRUN_ONCE);
		return 0;
	}
	return lws_service(gw->ctx, 0) < 0 ? -1 : 0;
}

void transport_stop(struct wsgw_gw *gw)
{
	if(gw->ctx){
		lws_context_destroy(gw->ctx);
		gw->ctx = NULL;
	}
	if(gw->evloop){
		ev_loop_destroy(gw->evloop);
		gw->evloop = NULL;
	}
}
