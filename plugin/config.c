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

enum opt_type { OPT_INT, OPT_LONG, OPT_SECONDS, OPT_BOOL, OPT_STRING, OPT_PREFIX, OPT_MOUNT, OPT_LEVEL, OPT_LIST };

struct opt {
	const char *name;
	enum opt_type type;
	size_t offset;
	double min, max;      /* numbers */
	const char *dflt;     /* NULL = no default */
};

#define O(f) offsetof(struct wsgw_config, f)

/* Keep in step with the option table in README.md. */
static const struct opt opts[] = {
	{"listen_address",     OPT_STRING,  O(listen_address),     0, 0, NULL},
	{"listen_port",        OPT_INT,     O(listen_port),        1, 65535, "8080"},
	{"broker_socket",      OPT_STRING,  O(broker_socket),      0, 0, NULL},
	{"broker_host",        OPT_STRING,  O(broker_host),        0, 0, NULL},
	{"broker_port",        OPT_INT,     O(broker_port),        0, 65535, "0"},
	{"broker_connect_timeout", OPT_SECONDS, O(broker_connect_timeout), 0.1, 3600, "10"},
	{"broker_connect_max", OPT_INT,     O(broker_connect_max), 1, 1000, "8"},
	{"gateway_id",         OPT_LEVEL,   O(gateway_id),         0, 0, NULL},
	{"topic_prefix",       OPT_PREFIX,  O(topic_prefix),       0, 0, "wsgw"},
	{"presence_prefix",    OPT_PREFIX,  O(presence_prefix),    0, 0, "wsgw/presence"},
	{"presence_ttl",       OPT_SECONDS, O(presence_ttl),       1, 86400, "60"},
	{"core_username",      OPT_LEVEL,   O(core_username),      0, 0, "wsgw"},
	{"client_id_prefix",   OPT_LEVEL,   O(client_id_prefix),   0, 0, "wsgw-"},
	{"bridge_usernames",   OPT_LIST,    O(bridge_usernames),   0, 0, NULL},
	{"max_connections",    OPT_INT,     O(max_connections),    1, 1000000, "10000"},
	{"max_http_connections", OPT_INT,   O(max_http_connections), 1, 1000000, "2000"},
	{"fd_reserve",         OPT_INT,     O(fd_reserve),         0, 1000000, "1024"},
	{"max_frame_size",     OPT_LONG,    O(max_frame_size),     256, 268435455, "65536"},
	{"max_queue_bytes",    OPT_LONG,    O(max_queue_bytes),    1024, 1073741824, "1048576"},
	{"max_total_queue_bytes", OPT_LONG, O(max_total_queue_bytes), 65536, 1099511627776.0, "268435456"},
	{"max_subscriptions",  OPT_INT,     O(max_subscriptions),  1, 100000, "64"},
	{"origins",            OPT_LIST,    O(origins),            0, 0, NULL},
	{"handshake_timeout",  OPT_SECONDS, O(handshake_timeout),  1, 3600, "10"},
	{"idle_timeout",       OPT_SECONDS, O(idle_timeout),       0, 86400, "120"},
	{"ws_ping_interval",   OPT_SECONDS, O(ws_ping_interval),   0, 3600, "30"},
	{"http_keepalive_timeout", OPT_INT, O(http_keepalive_timeout), 1, 3600, "60"},
	{"http_body_timeout",  OPT_SECONDS, O(http_body_timeout),  0.1, 3600, "10"},
	{"rate_limit",         OPT_SECONDS, O(rate_limit),         1, 1000000, "100"},
	{"rate_burst",         OPT_SECONDS, O(rate_burst),         1, 1000000, "200"},
	{"mqtt_keepalive",     OPT_INT,     O(mqtt_keepalive),     5, 65535, "60"},
	{"wsdo_enable",        OPT_BOOL,    O(wsdo_enable),        0, 0, "true"},
	{"wsdo_mount",         OPT_MOUNT,   O(wsdo_mount),         0, 0, "/"},
	{"wsdo_root",          OPT_PREFIX,  O(wsdo_root),          0, 0, "wsdo"},
	{"wsdo_username",      OPT_LEVEL,   O(wsdo_username),      0, 0, "wsdo"},
	{"wsdo_shared_sessions", OPT_INT,   O(wsdo_shared_sessions), 0, 64, "0"},
	{"wsdo_ping_interval", OPT_SECONDS, O(wsdo_ping_interval), 0.1, 3600, "20"},
	{"wsdo_ping_timeout",  OPT_SECONDS, O(wsdo_ping_timeout),  0.1, 3600, "10"},
	{"wsdo_ack_timeout",   OPT_SECONDS, O(wsdo_ack_timeout),   0.1, 3600, "5"},
	{"jwt_hs256_secret",   OPT_STRING,  O(jwt_hs256_secret),   0, 0, NULL},
	{"jwt_hs256_secret_file", OPT_STRING, O(jwt_hs256_secret_file), 0, 0, NULL},
	{"jwt_rs256_public_key_file", OPT_STRING, O(jwt_rs256_public_key_file), 0, 0, NULL},
	{"jwt_issuer",         OPT_STRING,  O(jwt_issuer),         0, 0, NULL},
	{"jwt_audience",       OPT_STRING,  O(jwt_audience),       0, 0, NULL},
	{"jwt_leeway",         OPT_SECONDS, O(jwt_leeway),         0, 3600, "30"},
	{"jwt_require_exp",    OPT_BOOL,    O(jwt_require_exp),    0, 0, "true"},
	{"jwt_name_claim",     OPT_STRING,  O(jwt_name_claim),     0, 0, "name"},
	{"session_secret_file", OPT_STRING, O(session_secret_file), 0, 0, NULL},
	{"session_expiry",     OPT_SECONDS, O(session_expiry),     1, 604800, "300"},
	{"op_enable",          OPT_BOOL,    O(op_enable),          0, 0, "true"},
	{"op_mount",           OPT_MOUNT,   O(op_mount),           0, 0, "/pubsub"},
	{"op_root",            OPT_PREFIX,  O(op_root),            0, 0, "op"},
	{"op_username",        OPT_LEVEL,   O(op_username),        0, 0, "op"},
	{"op_anonymous",       OPT_BOOL,    O(op_anonymous),       0, 0, "false"},
	{"telegraphy_enable",  OPT_BOOL,    O(telegraphy_enable),  0, 0, "true"},
	{"telegraphy_mount",   OPT_MOUNT,   O(telegraphy_mount),   0, 0, "/telegraphy"},
	{"telegraphy_root",    OPT_PREFIX,  O(telegraphy_root),    0, 0, "telegraphy"},
	{"telegraphy_username", OPT_LEVEL,  O(telegraphy_username), 0, 0, "telegraphy"},
	{"telegraphy_auth",    OPT_BOOL,    O(telegraphy_auth),    0, 0, "true"},
	{"telegraphy_token_secret", OPT_STRING, O(telegraphy_token_secret), 0, 0, NULL},
	{"telegraphy_token_secret_file", OPT_STRING, O(telegraphy_token_secret_file), 0, 0, NULL},
	{"telegraphy_token_ttl", OPT_SECONDS, O(telegraphy_token_ttl), 1, 86400, "60"},
	{"telegraphy_connect_timeout", OPT_SECONDS, O(telegraphy_connect_timeout), 0.1, 3600, "10"},
	{"telegraphy_events",  OPT_LIST,    O(telegraphy_events),  0, 0, NULL},
	{"comet_enable",       OPT_BOOL,    O(comet_enable),       0, 0, "true"},
	{"comet_mount",        OPT_MOUNT,   O(comet_mount),        0, 0, "/comet"},
	{"comet_root",         OPT_PREFIX,  O(comet_root),         0, 0, "comet"},
	{"comet_username",     OPT_LEVEL,   O(comet_username),     0, 0, "comet"},
	{"comet_service_token", OPT_STRING, O(comet_service_token), 0, 0, NULL},
	{"comet_hb_idle",      OPT_SECONDS, O(comet_hb_idle),      0.1, 86400, "60"},
	{"comet_hb_drop",      OPT_SECONDS, O(comet_hb_drop),      0.2, 86400, "180"},
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

static int set_opt(struct wsgw_config *cfg, const struct opt *o, const char *value,
		char *err, size_t errlen)
{
	void *field = (char *)cfg + o->offset;
	char *end;
	double d;

	switch(o->type){
	case OPT_INT:
	case OPT_LONG:
	case OPT_SECONDS:
		errno = 0;
		d = o->type == OPT_SECONDS ? strtod(value, &end) : (double)strtol(value, &end, 10);
		if(errno || end == value || *end || !isfinite(d) || d < o->min || d > o->max){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not a %s from %g to %g",
					o->name, value, o->type == OPT_SECONDS ? "number" : "whole number", o->min, o->max);
			return -1;
		}
		if(o->type == OPT_INT) *(int *)field = (int)d;
		else if(o->type == OPT_LONG) *(long *)field = (long)d;
		else *(double *)field = d;
		return 0;
	case OPT_BOOL:
		if(!strcmp(value, "true")) *(bool *)field = true;
		else if(!strcmp(value, "false")) *(bool *)field = false;
		else{
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not true or false", o->name, value);
			return -1;
		}
		return 0;
	case OPT_PREFIX:
		if(!topic_prefix_valid(value)){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" is not a topic prefix "
					"(no wildcards, no leading, trailing or double '/')", o->name, value);
			return -1;
		}
		break;
	case OPT_LEVEL:
		if(!topic_level_valid(value)){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" must be non-empty without '/', '+' or '#'",
					o->name, value);
			return -1;
		}
		break;
	case OPT_MOUNT:
		if(value[0] != '/' || strstr(value, "//") || (strlen(value) > 1 && value[strlen(value)-1] == '/')){
			snprintf(err, errlen, "plugin_opt_%s: \"%s\" must start with '/' and not end with one", o->name, value);
			return -1;
		}
		break;
	case OPT_LIST: {
		char **list = parse_list(value);
		free_list(*(char ***)field);
		*(char ***)field = list;
		return 0;
	}
	case OPT_STRING:
		if(!value[0]){
			snprintf(err, errlen, "plugin_opt_%s: empty value", o->name);
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

int config_init(struct wsgw_config *cfg)
{
	char err[256];

	memset(cfg, 0, sizeof(*cfg));
	for(size_t i = 0; i < NOPTS; i++){
		if(opts[i].dflt && set_opt(cfg, &opts[i], opts[i].dflt, err, sizeof(err))){
			config_free(cfg);
			return -1;
		}
	}
	return 0;
}

/* op_provider_<name> <none|jwt|mqtt>: a named identity provider of the op
 * dialect bound to one of the built-in verifiers. */
static int set_provider(struct wsgw_config *cfg, const char *name, const char *kind,
		char *err, size_t errlen)
{
	size_t n = 0;
	char **names, **kinds;

	if(!topic_level_valid(name) || strlen(name) > 64){
		snprintf(err, errlen, "plugin_opt_op_provider_%s: bad provider name", name);
		return -1;
	}
	if(strcmp(kind, "none") && strcmp(kind, "jwt") && strcmp(kind, "mqtt")){
		snprintf(err, errlen, "plugin_opt_op_provider_%s: \"%s\" is not none, jwt or mqtt", name, kind);
		return -1;
	}
	while(cfg->op_provider_names && cfg->op_provider_names[n]){
		if(!strcmp(cfg->op_provider_names[n], name)){
			char *k = strdup(kind);
			if(!k) return -1;
			free(cfg->op_provider_kinds[n]);
			cfg->op_provider_kinds[n] = k;
			return 0;
		}
		n++;
	}
	names = realloc(cfg->op_provider_names, (n + 2) * sizeof(char *));
	if(!names) return -1;
	cfg->op_provider_names = names;
	kinds = realloc(cfg->op_provider_kinds, (n + 2) * sizeof(char *));
	if(!kinds) return -1;
	cfg->op_provider_kinds = kinds;
	names[n] = strdup(name);
	kinds[n] = strdup(kind);
	names[n+1] = kinds[n+1] = NULL;
	if(!names[n] || !kinds[n]){
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int config_set(struct wsgw_config *cfg, const char *key, const char *value,
		char *err, size_t errlen)
{
	if(!value) value = "";
	for(size_t i = 0; i < NOPTS; i++){
		if(!strcmp(opts[i].name, key)) return set_opt(cfg, &opts[i], value, err, errlen);
	}
	if(!strncmp(key, "op_provider_", 12)) return set_provider(cfg, key + 12, value, err, errlen);
	snprintf(err, errlen, "plugin_opt_%s: unknown option (see the option table in README.md)", key);
	return -1;
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
	if(cfg->telegraphy_token_secret && cfg->telegraphy_token_secret_file){
		snprintf(err, errlen, "plugin_opt_telegraphy_token_secret and plugin_opt_telegraphy_token_secret_file are exclusive: set one");
		return -1;
	}
	if(cfg->jwt_hs256_secret && cfg->jwt_hs256_secret_file){
		snprintf(err, errlen, "plugin_opt_jwt_hs256_secret and plugin_opt_jwt_hs256_secret_file are exclusive: set one");
		return -1;
	}
	if(cfg->comet_hb_drop <= cfg->comet_hb_idle){
		snprintf(err, errlen, "plugin_opt_comet_hb_drop (%g s) must be longer than plugin_opt_comet_hb_idle "
				"(%g s): a client that answers every heartbeat would be dropped", cfg->comet_hb_drop, cfg->comet_hb_idle);
		return -1;
	}
	if(cfg->wsdo_ping_timeout <= 0 || cfg->rate_burst < 1){
		snprintf(err, errlen, "plugin_opt_wsdo_ping_timeout and plugin_opt_rate_burst must be positive");
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
	free_list(cfg->op_provider_names);
	free_list(cfg->op_provider_kinds);
	for(size_t i = 0; i < NOPTS; i++){
		void *field = (char *)cfg + opts[i].offset;
		if(opts[i].type == OPT_LIST) free_list(*(char ***)field);
		else if(opts[i].type >= OPT_STRING) free(*(char **)field);
	}
	memset(cfg, 0, sizeof(*cfg));
}

bool config_origin_allowed(const struct wsgw_config *cfg, const char *origin)
{
	if(!cfg->origins) return true;
	if(!origin) return true;
	for(char **p = cfg->origins; *p; p++){
		if(!strcmp(*p, origin)) return true;
	}
	return false;
}
