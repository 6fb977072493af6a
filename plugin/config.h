/* Plugin options (plugin_opt_* lines): parsing and validation. No broker calls,
 * so it is unit-tested alone. The core's option table is in config.c, each
 * dialect's in its mapping file (mapping/option.h); all of them in README.md. */
#ifndef WSGW_CONFIG_H
#define WSGW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "option.h"
#include "proxy.h"

/* One dialect's options: <name>_enable, <name>_mount, and its own struct. */
struct wsgw_dialect_settings {
	const struct wsgw_dialect_conf *conf;
	bool enable;
	char *mount;
	void *opts;               /* conf->size bytes: the dialect's config struct */
};

struct wsgw_config {
	char *listen_address;     /* NULL = all interfaces */
	int listen_port;
	char *broker_socket;      /* unix socket of the broker listener, or NULL */
	char *broker_host;        /* TCP fallback */
	int broker_port;
	double broker_connect_timeout;   /* seconds from opening a broker session to its CONNACK */
	int broker_connect_max;   /* broker connects in flight at once (sent, no CONNACK yet) */
	char *gateway_id;         /* NULL until config_finish fills in hostname:port */
	char *topic_prefix;
	char *presence_prefix;
	double presence_ttl;      /* seconds */
	char *core_username;
	/* Every MQTT client id the gateway uses starts with this; nobody else may
	 * log in with one (plugin.c). */
	char *client_id_prefix;
	/* Usernames of bridges from other gateways' brokers: trusted to write the
	 * presence tree, acks and claims like a gateway session (NULL-terminated). */
	char **bridge_usernames;
	int max_connections;
	int max_http_connections; /* client connections that are not WebSockets (yet) */
	int fd_reserve;           /* descriptors kept free for the broker */
	long max_frame_size;
	long max_queue_bytes;     /* per client: its queue, lws's partial write and its kernel send buffer */
	long max_total_queue_bytes;   /* every client's queue together */
	int max_subscriptions;    /* per session: op topics, Telegraphy subscriptions */
	char **origins;           /* exact Origin strings or "*", NULL-terminated; NULL = any, and no CORS */
	int cors_max_age;         /* Access-Control-Max-Age of preflight answers, seconds */
	char *health_path;        /* NULL = no health endpoint */
	char *metrics_path;       /* NULL = no metrics endpoint */
	char *metrics_token;      /* Bearer token /metrics asks for; NULL = none */
	/* TLS on the listener (transport.c), named as Mosquitto's listener
	 * options; certfile NULL = plain http:// and ws://. */
	char *certfile;
	char *keyfile;
	char *cafile;             /* client certificates are checked against these */
	char *capath;
	bool require_certificate;
	char *tls_version;        /* the minimum: "tlsv1.2" or "tlsv1.3" */
	char *ciphers;            /* OpenSSL cipher list for TLS 1.2 */
	char *ciphers_tls1_3;     /* OpenSSL ciphersuites for TLS 1.3 */
	/* Peers whose forwarding headers name the client (mapping/proxy.h):
	 * trusted_proxies as given, and parsed by config_finish. */
	char **trusted_proxies;
	struct proxy_net *proxy_nets;
	size_t nproxy_nets;
	double handshake_timeout;
	double idle_timeout;      /* 0 = off */
	double ws_ping_interval;  /* WebSocket pings; 0 = off; at most idle_timeout / 2 in effect */
	int http_keepalive_timeout;   /* seconds an idle keep-alive HTTP connection is kept */
	double http_body_timeout;     /* a request body must arrive within this, from its headers */
	double rate_limit;        /* frames per second */
	double rate_burst;
	int mqtt_keepalive;

	/* JWT verification (mapping/jwtauth.h), shared by the dialects. */
	char *jwt_hs256_secret;
	char *jwt_hs256_secret_file;
	char *jwt_rs256_public_key_file;
	char *jwt_issuer;
	char *jwt_audience;
	double jwt_leeway;
	bool jwt_require_exp;
	char *jwt_name_claim;

	/* Resumable sessions: tokens are HMACs under this secret. */
	char *session_secret_file;   /* NULL = a random secret per run */
	double session_expiry;       /* seconds a detached session is kept */

	/* Each dialect's options, in the order config_init was given them. */
	struct wsgw_dialect_settings *dialects;
	size_t ndialects;
};

/* Fills defaults, for the core and for each of the n dialects in confs (the
 * registry's, plugin/dialects.c), whose options config_set then knows.
 * Returns 0 or -1 (allocation failure). */
int config_init(struct wsgw_config *cfg, const struct wsgw_dialect_conf *const *confs, size_t n);

/* Applies one option. Returns 0, or -1 and writes a sentence naming the option
 * to err. */
int config_set(struct wsgw_config *cfg, const char *key, const char *value,
		char *err, size_t errlen);

/* Checks the whole set (required options, cross-option rules) and fills
 * derived defaults. Returns 0, or -1 with a sentence in err. */
int config_finish(struct wsgw_config *cfg, char *err, size_t errlen);

void config_free(struct wsgw_config *cfg);

/* The options of dialect conf, or NULL if config_init was not given it.
 * Inline: every layer reads its options. */
static inline const struct wsgw_dialect_settings *config_dialect(const struct wsgw_config *cfg,
		const struct wsgw_dialect_conf *conf)
{
	for(size_t i = 0; i < cfg->ndialects; i++){
		if(cfg->dialects[i].conf == conf) return &cfg->dialects[i];
	}
	return NULL;
}

/* True if origin is in the allow-list (whole-string comparison), if the list
 * has "*", or if there is no list. */
bool config_origin_allowed(const struct wsgw_config *cfg, const char *origin);
/* The list has "*": every origin, and CORS replies say Access-Control-Allow-Origin: *. */
bool config_origins_any(const struct wsgw_config *cfg);

#endif
