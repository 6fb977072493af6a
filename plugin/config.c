/* Plugin options: see config.h. */
#include "config.h"
#include "topic.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define O(f) offsetof(struct wsgw_config, f)

/* The core's options; each dialect's are in its mapping file. Keep in step
 * with the option table in README.md. */
static const struct wsgw_option opts[] = {
	{"listen_address",     WSGW_OPT_STRING,  O(listen_address),     0, 0, NULL},
	{"listen_port",        WSGW_OPT_INT,     O(listen_port),        1, 65535, "8080"},
	{"broker_socket",      WSGW_OPT_STRING,  O(broker_socket),      0, 0, NULL},
	{"broker_host",        WSGW_OPT_STRING,  O(broker_host),        0, 0, NULL},
	{"broker_port",        WSGW_OPT_INT,     O(broker_port),        0, 65535, "0"},
	{"broker_connect_timeout", WSGW_OPT_DOUBLE, O(broker_connect_timeout), 0.1, 3600, "10"},
	{"broker_connect_max", WSGW_OPT_INT,     O(broker_connect_max), 1, 1000, "8"},
	{"gateway_id",         WSGW_OPT_LEVEL,   O(gateway_id),         0, 0, NULL},
	{"topic_prefix",       WSGW_OPT_PREFIX,  O(topic_prefix),       0, 0, "wsgw"},
	{"presence_prefix",    WSGW_OPT_PREFIX,  O(presence_prefix),    0, 0, "wsgw/presence"},
	{"presence_ttl",       WSGW_OPT_DOUBLE,  O(presence_ttl),       1, 86400, "60"},
	{"core_username",      WSGW_OPT_LEVEL,   O(core_username),      0, 0, "wsgw"},
	{"client_id_prefix",   WSGW_OPT_LEVEL,   O(client_id_prefix),   0, 0, "wsgw-"},
	{"bridge_usernames",   WSGW_OPT_LIST,    O(bridge_usernames),   0, 0, NULL},
	{"max_connections",    WSGW_OPT_INT,     O(max_connections),    1, 1000000, "10000"},
	{"max_http_connections", WSGW_OPT_INT,   O(max_http_connections), 1, 1000000, "2000"},
	{"fd_reserve",         WSGW_OPT_INT,     O(fd_reserve),         0, 1000000, "1024"},
	{"max_frame_size",     WSGW_OPT_LONG,    O(max_frame_size),     256, 268435455, "65536"},
	{"max_queue_bytes",    WSGW_OPT_LONG,    O(max_queue_bytes),    1024, 1073741824, "1048576"},
	{"max_total_queue_bytes", WSGW_OPT_LONG, O(max_total_queue_bytes), 65536, 1099511627776.0, "268435456"},
	{"max_subscriptions",  WSGW_OPT_INT,     O(max_subscriptions),  1, 100000, "64"},
	{"origins",            WSGW_OPT_LIST,    O(origins),            0, 0, NULL},
	{"cors_max_age",       WSGW_OPT_INT,     O(cors_max_age),       0, 86400, "600"},
	{"health_path",        WSGW_OPT_PATH,    O(health_path),        0, 0, "/healthz"},
	{"metrics_path",       WSGW_OPT_PATH,    O(metrics_path),       0, 0, "/metrics"},
	{"metrics_token",      WSGW_OPT_STRING,  O(metrics_token),      0, 0, NULL},
	{"certfile",           WSGW_OPT_STRING,  O(certfile),           0, 0, NULL},
	{"keyfile",            WSGW_OPT_STRING,  O(keyfile),            0, 0, NULL},
	{"cafile",             WSGW_OPT_STRING,  O(cafile),             0, 0, NULL},
	{"capath",             WSGW_OPT_STRING,  O(capath),             0, 0, NULL},
	{"require_certificate", WSGW_OPT_BOOL,   O(require_certificate), 0, 0, "false"},
	{"tls_version",        WSGW_OPT_STRING,  O(tls_version),        0, 0, "tlsv1.2"},
	{"ciphers",            WSGW_OPT_STRING,  O(ciphers),            0, 0, NULL},
	{"ciphers_tls1_3",     WSGW_OPT_STRING,  O(ciphers_tls1_3),     0, 0, NULL},
	{"trusted_proxies",    WSGW_OPT_LIST,    O(trusted_proxies),    0, 0, NULL},
	{"handshake_timeout",  WSGW_OPT_DOUBLE,  O(handshake_timeout),  1, 3600, "10"},
	{"idle_timeout",       WSGW_OPT_DOUBLE,  O(idle_timeout),       0, 86400, "120"},
	{"ws_ping_interval",   WSGW_OPT_DOUBLE,  O(ws_ping_interval),   0, 3600, "30"},
	{"http_keepalive_timeout", WSGW_OPT_INT, O(http_keepalive_timeout), 1, 3600, "60"},
	{"http_body_timeout",  WSGW_OPT_DOUBLE,  O(http_body_timeout),  0.1, 3600, "10"},
	{"rate_limit",         WSGW_OPT_DOUBLE,  O(rate_limit),         1, 1000000, "100"},
	{"rate_burst",         WSGW_OPT_DOUBLE,  O(rate_burst),         1, 1000000, "200"},
	{"mqtt_keepalive",     WSGW_OPT_INT,     O(mqtt_keepalive),     5, 65535, "60"},
	{"jwt_hs256_secret",   WSGW_OPT_STRING,  O(jwt_hs256_secret),   0, 0, NULL},
	{"jwt_hs256_secret_file", WSGW_OPT_STRING, O(jwt_hs256_secret_file), 0, 0, NULL},
	{"jwt_rs256_public_key_file", WSGW_OPT_STRING, O(jwt_rs256_public_key_file), 0, 0, NULL},
	{"jwt_issuer",         WSGW_OPT_STRING,  O(jwt_issuer),         0, 0, NULL},
	{"jwt_audience",       WSGW_OPT_STRING,  O(jwt_audience),       0, 0, NULL},
	{"jwt_leeway",         WSGW_OPT_DOUBLE,  O(jwt_leeway),         0, 3600, "30"},
	{"jwt_require_exp",    WSGW_OPT_BOOL,    O(jwt_require_exp),    0, 0, "true"},
	{"jwt_name_claim",     WSGW_OPT_STRING,  O(jwt_name_claim),     0, 0, "name"},
	{"session_secret_file", WSGW_OPT_STRING, O(session_secret_file), 0, 0, NULL},
	{"session_expiry",     WSGW_OPT_DOUBLE,  O(session_expiry),     1, 604800, "300"},
};
#define NOPTS (sizeof(opts) / sizeof(opts[0]))

static void free_list(char **list)
{
	if(!list) return;
	for(char **p = list; *p; p++) free(*p);
	free(list);
}

static char **parse_list(const char *value)
{
	char *copy = strdup(value), *tok, *save = NULL;
	char **list = calloc(1, sizeof(char *));
	size_t n = 0;

	if(!copy || !list) goto fail;
	for(tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)){
		char **grown = realloc(list, (n + 2) * sizeof(char *));
		if(!grown) goto fail;
		list = grown;
		list[n] = strdup(tok);
		list[n+1] = NULL;
		if(!list[n]) goto fail;
		n++;
	}
	free(copy);
	if(n == 0){
		free(list);
		return NULL;
	}
	return list;
fail:
	free(copy);
	free_list(list);
	return NULL;
}

/* <name>_enable and <name>_mount of every dialect: fields of its settings. */
static const struct wsgw_option dialect_opts[] = {
	{"enable", WSGW_OPT_BOOL,  offsetof(struct wsgw_dialect_settings, enable), 0, 0, NULL},
	{"mount",  WSGW_OPT_MOUNT, offsetof(struct wsgw_dialect_settings, mount),  0, 0, NULL},
};
#define DIALECT_ENABLE (&dialect_opts[0])
#define DIALECT_MOUNT (&dialect_opts[1])

/* Sets option o of the struct at base; dialect is its option prefix (NULL for
 * the core's), for the error sentence. 0, or -1 with a sentence in err. */
static int set_opt(void *base, const struct wsgw_option *o, const char *dialect, const char *value,
		char *err, size_t errlen)
{
	void *field = (char *)base + o->offset;
	char name[128];
	char *end;
	double d;

	snprintf(name, sizeof(name), "%s%s%s", dialect ? dialect : "", dialect ? "_" : "", o->name);
	switch(o->type){
	case WSGW_OPT_INT:
	case WSGW_OPT_LONG:
	case WSGW_OPT_DOUBLE:
		errno = 0;
		d = o->type == WSGW_OPT_DOUBLE ? strtod(value, &end) : (double)strtol(value, &end, 10);
		if(errno || end == value || *end || !isfinite(d) || d < o->min || d > o->max){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not a %s from %g to %g",
					name, value, o->type == WSGW_OPT_DOUBLE ? "number" : "whole number", o->min, o->max);
			return -1;
		}
		if(o->type == WSGW_OPT_INT) *(int *)field = (int)d;
		else if(o->type == WSGW_OPT_LONG) *(long *)field = (long)d;
		else *(double *)field = d;
		return 0;
	case WSGW_OPT_BOOL:
		if(!strcmp(value, "true")) *(bool *)field = true;
		else if(!strcmp(value, "false")) *(bool *)field = false;
		else{
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not true or false", name, value);
			return -1;
		}
		return 0;
	case WSGW_OPT_PREFIX:
		if(!topic_prefix_valid(value)){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not a topic prefix "
					"(no wildcards, no leading, trailing or double '/')", name, value);
			return -1;
		}
		break;
	case WSGW_OPT_LEVEL:
		if(!topic_level_valid(value)){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" must be non-empty without '/', '+' or '#'",
					name, value);
			return -1;
		}
		break;
	case WSGW_OPT_PATH:
		if(!strcmp(value, "off")){
			free(*(char **)field);
			*(char **)field = NULL;
			return 0;
		}
		/* fall through */
	case WSGW_OPT_MOUNT:
		if(value[0] != '/' || strstr(value, "//") || (strlen(value) > 1 && value[strlen(value)-1] == '/')){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" must start with '/' and not end with one", name, value);
			return -1;
		}
		break;
	case WSGW_OPT_LIST: {
		char **list = parse_list(value);
		free_list(*(char ***)field);
		*(char ***)field = list;
		return 0;
	}
	case WSGW_OPT_STRING:
		if(!value[0]){
			snprintf(err, errlen, "plugin_opt_%s: empty value", name);
			return -1;
		}
		break;
	}
	{
		char *copy = strdup(value);
		if(!copy){
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		free(*(char **)field);
		*(char **)field = copy;
	}
	return 0;
}

/* Sets the defaults of n options of the struct at base. 0 or -1. */
static int set_defaults(void *base, const struct wsgw_option *o, size_t n, const char *dialect)
{
	char err[256];

	for(size_t i = 0; i < n; i++){
		if(o[i].dflt && set_opt(base, &o[i], dialect, o[i].dflt, err, sizeof(err))) return -1;
	}
	return 0;
}

/* Frees what n options of the struct at base hold. */
static void free_opts(void *base, const struct wsgw_option *o, size_t n)
{
	for(size_t i = 0; i < n; i++){
		void *field = (char *)base + o[i].offset;
		switch(o[i].type){
		case WSGW_OPT_LIST:
			free_list(*(char ***)field);
			break;
		case WSGW_OPT_STRING:
		case WSGW_OPT_PREFIX:
		case WSGW_OPT_LEVEL:
		case WSGW_OPT_MOUNT:
		case WSGW_OPT_PATH:
			free(*(char **)field);
			break;
		case WSGW_OPT_BOOL:
		case WSGW_OPT_INT:
		case WSGW_OPT_LONG:
		case WSGW_OPT_DOUBLE:
			break;
		}
	}
}

int config_init(struct wsgw_config *cfg, const struct wsgw_dialect_conf *const *confs, size_t n)
{
	memset(cfg, 0, sizeof(*cfg));
	if(set_defaults(cfg, opts, NOPTS, NULL)) goto fail;
	if(n && !(cfg->dialects = calloc(n, sizeof(*cfg->dialects)))) goto fail;
	cfg->ndialects = n;
	for(size_t i = 0; i < n; i++){
		struct wsgw_dialect_settings *ds = &cfg->dialects[i];
		const struct wsgw_dialect_conf *dc = confs[i];
		char err[256];

		ds->conf = dc;
		ds->enable = dc->enable;
		ds->opts = calloc(1, dc->size ? dc->size : 1);
		if(!ds->opts || set_opt(ds, DIALECT_MOUNT, dc->name, dc->mount, err, sizeof(err))
				|| set_defaults(ds->opts, dc->options, dc->noptions, dc->name)) goto fail;
	}
	return 0;
fail:
	config_free(cfg);
	return -1;
}

/* opt is what follows "<name>_" in the key: 0 or -1 (with a sentence), or
 * -ENOENT if it is none of that dialect's options. */
static int set_dialect_opt(struct wsgw_dialect_settings *ds, const char *opt, const char *value,
		char *err, size_t errlen)
{
	const struct wsgw_dialect_conf *dc = ds->conf;

	if(!strcmp(opt, DIALECT_ENABLE->name)) return set_opt(ds, DIALECT_ENABLE, dc->name, value, err, errlen);
	if(!strcmp(opt, DIALECT_MOUNT->name)) return set_opt(ds, DIALECT_MOUNT, dc->name, value, err, errlen);
	for(size_t i = 0; i < dc->noptions; i++){
		if(!strcmp(dc->options[i].name, opt)) return set_opt(ds->opts, &dc->options[i], dc->name, value, err, errlen);
	}
	return dc->set_extra ? dc->set_extra(ds->opts, opt, value, err, errlen) : -ENOENT;
}

int config_set(struct wsgw_config *cfg, const char *key, const char *value,
		char *err, size_t errlen)
{
	if(!value) value = "";
	for(size_t i = 0; i < NOPTS; i++){
		if(!strcmp(opts[i].name, key)) return set_opt(cfg, &opts[i], NULL, value, err, errlen);
	}
	for(size_t i = 0; i < cfg->ndialects; i++){
		const char *name = cfg->dialects[i].conf->name;
		size_t len = strlen(name);
		int rc;

		if(strncmp(key, name, len) || key[len] != '_') continue;
		rc = set_dialect_opt(&cfg->dialects[i], key + len + 1, value, err, errlen);
		if(rc != -ENOENT) return rc;
	}
	snprintf(err, errlen, "plugin_opt_%s: unknown option (see the option table in README.md)", key);
	return -1;
}

/* The TLS options together: whether the files can be read is
 * transport_start's to say (it reads them). */
static int tls_check(const struct wsgw_config *cfg, char *err, size_t errlen)
{
	if(strcmp(cfg->tls_version, "tlsv1.2") && strcmp(cfg->tls_version, "tlsv1.3")){
		snprintf(err, errlen, "plugin_opt_tls_version: \"%s\" is not tlsv1.2 or tlsv1.3 (the oldest version accepted)",
				cfg->tls_version);
		return -1;
	}
	if(!cfg->certfile != !cfg->keyfile){
		snprintf(err, errlen, "plugin_opt_certfile and plugin_opt_keyfile go together: TLS needs both");
		return -1;
	}
	if(!cfg->certfile && (cfg->cafile || cfg->capath || cfg->require_certificate || cfg->ciphers
				|| cfg->ciphers_tls1_3 || strcmp(cfg->tls_version, "tlsv1.2"))){
		snprintf(err, errlen, "plugin_opt_%s is a TLS option: it needs plugin_opt_certfile and plugin_opt_keyfile",
				cfg->cafile ? "cafile" : cfg->capath ? "capath" : cfg->require_certificate ? "require_certificate"
				: cfg->ciphers ? "ciphers" : cfg->ciphers_tls1_3 ? "ciphers_tls1_3" : "tls_version");
		return -1;
	}
	if(cfg->require_certificate && !cfg->cafile && !cfg->capath){
		snprintf(err, errlen, "plugin_opt_require_certificate needs plugin_opt_cafile or plugin_opt_capath: "
				"the CAs client certificates are checked against");
		return -1;
	}
	return 0;
}

/* trusted_proxies into cfg->proxy_nets. */
static int proxies_parse(struct wsgw_config *cfg, char *err, size_t errlen)
{
	size_t n = 0;

	free(cfg->proxy_nets);
	cfg->proxy_nets = NULL;
	cfg->nproxy_nets = 0;
	while(cfg->trusted_proxies && cfg->trusted_proxies[n]) n++;
	if(!n) return 0;
	if(!(cfg->proxy_nets = calloc(n, sizeof(*cfg->proxy_nets)))){
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for(size_t i = 0; i < n; i++){
		if(proxy_net_parse(cfg->trusted_proxies[i], &cfg->proxy_nets[i])){
			snprintf(err, errlen, "plugin_opt_trusted_proxies: \"%s\" is not an IPv4 or IPv6 address "
					"or network (address/prefix length, no bits set past the prefix)", cfg->trusted_proxies[i]);
			return -1;
		}
	}
	cfg->nproxy_nets = n;
	return 0;
}

int config_finish(struct wsgw_config *cfg, char *err, size_t errlen)
{
	if(cfg->broker_socket && cfg->broker_host){
		snprintf(err, errlen, "plugin_opt_broker_socket and plugin_opt_broker_host are exclusive: set one");
		return -1;
	}
	if(!cfg->broker_socket){
		if(!cfg->broker_port){
			snprintf(err, errlen, "plugin_opt_broker_socket (or plugin_opt_broker_port) is required: "
					"the broker listener the gateway connects to");
			return -1;
		}
		if(!cfg->broker_host && !(cfg->broker_host = strdup("127.0.0.1"))){
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if(cfg->jwt_hs256_secret && cfg->jwt_hs256_secret_file){
		snprintf(err, errlen, "plugin_opt_jwt_hs256_secret and plugin_opt_jwt_hs256_secret_file are exclusive: set one");
		return -1;
	}
	if(strlen(cfg->client_id_prefix) > 32){
		snprintf(err, errlen, "plugin_opt_client_id_prefix: at most 32 bytes");
		return -1;
	}
	for(char **u = cfg->bridge_usernames; u && *u; u++){
		if(!strcmp(*u, cfg->core_username)){
			snprintf(err, errlen, "plugin_opt_bridge_usernames: \"%s\" is the core_username", *u);
			return -1;
		}
	}
	if(tls_check(cfg, err, errlen) || proxies_parse(cfg, err, errlen)) return -1;
	for(size_t i = 0; i < cfg->ndialects; i++){
		const struct wsgw_dialect_conf *dc = cfg->dialects[i].conf;
		if(dc->check && dc->check(cfg->dialects[i].opts, err, errlen)) return -1;
	}
	if(!cfg->gateway_id){
		char host[256], id[300];
		if(gethostname(host, sizeof(host)) != 0) snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		for(char *p = host; *p; p++) if(*p == '/' || *p == '+' || *p == '#') *p = '_';
		snprintf(id, sizeof(id), "%s:%d", host, cfg->listen_port);
		if(!(cfg->gateway_id = strdup(id))){
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	return 0;
}

void config_free(struct wsgw_config *cfg)
{
	for(size_t i = 0; i < cfg->ndialects; i++){
		struct wsgw_dialect_settings *ds = &cfg->dialects[i];
		if(ds->opts){
			free_opts(ds->opts, ds->conf->options, ds->conf->noptions);
			if(ds->conf->free_extra) ds->conf->free_extra(ds->opts);
		}
		free(ds->opts);
		free(ds->mount);
	}
	free(cfg->dialects);
	free(cfg->proxy_nets);
	free_opts(cfg, opts, NOPTS);
	memset(cfg, 0, sizeof(*cfg));
}

bool config_origin_allowed(const struct wsgw_config *cfg, const char *origin)
{
	if(!cfg->origins) return true;
	if(!origin) return true;
	for(char **p = cfg->origins; *p; p++){
		if(!strcmp(*p, origin) || !strcmp(*p, "*")) return true;
	}
	return false;
}

bool config_origins_any(const struct wsgw_config *cfg)
{
	for(char **p = cfg->origins; p && *p; p++){
		if(!strcmp(*p, "*")) return true;
	}
	return false;
}
