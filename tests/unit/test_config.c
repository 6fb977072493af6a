/* Unit tests for plugin/config.c (plugin_opt_* parsing). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "comet_proto.h"
#include "op_proto.h"
#include "tele_proto.h"
#include "wsdo_proto.h"

/* The registry's dialects, as plugin.c passes them (test_config links no
 * plugin code). */
static const struct wsgw_dialect_conf *const confs[] = {&wsdo_conf, &op_conf, &tele_conf, &comet_conf};
#define NCONFS (sizeof(confs) / sizeof(confs[0]))

/* A dialect's settings (<name>_enable, <name>_mount) and its own options. */
#define SET(cfg, conf) config_dialect((cfg), &(conf))
#define WSDO(cfg) ((const struct wsdo_config *)SET(cfg, wsdo_conf)->opts)
#define OP(cfg) ((const struct op_config *)SET(cfg, op_conf)->opts)
#define TELE(cfg) ((const struct tele_config *)SET(cfg, tele_conf)->opts)
#define COMET(cfg) ((const struct comet_config *)SET(cfg, comet_conf)->opts)

static int setup(void **state)
{
	struct wsgw_config *cfg = calloc(1, sizeof(*cfg));
	if(!cfg) return -1;
	if(config_init(cfg, confs, NCONFS)){
		free(cfg);
		return -1;
	}
	*state = cfg;
	return 0;
}

static int teardown(void **state)
{
	struct wsgw_config *cfg = *state;
	config_free(cfg);
	free(cfg);
	return 0;
}

static void set_ok(struct wsgw_config *cfg, const char *key, const char *value)
{
	char err[256] = "";
	if(config_set(cfg, key, value, err, sizeof(err)) != 0){
		fail_msg("plugin_opt_%s %s rejected: %s", key, value ? value : "(null)", err);
	}
}

/* Rejected with a message that names the option. */
static void set_bad(struct wsgw_config *cfg, const char *key, const char *value)
{
	char err[256] = "";
	char want[128];
	if(config_set(cfg, key, value, err, sizeof(err)) != -1){
		fail_msg("plugin_opt_%s %s accepted", key, value ? value : "(null)");
	}
	snprintf(want, sizeof(want), "plugin_opt_%s", key);
	if(!strstr(err, want)) fail_msg("error for %s %s does not name it: \"%s\"", key, value ? value : "(null)", err);
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct wsgw_config *cfg = *state;

	assert_null(cfg->listen_address);
	assert_int_equal(cfg->listen_port, 8080);
	assert_null(cfg->broker_socket);
	assert_null(cfg->broker_host);
	assert_int_equal(cfg->broker_port, 0);
	assert_true(cfg->broker_connect_timeout == 10.0);
	assert_int_equal(cfg->broker_connect_max, 8);
	assert_null(cfg->gateway_id);
	assert_string_equal(cfg->topic_prefix, "wsgw");
	assert_string_equal(cfg->presence_prefix, "wsgw/presence");
	assert_true(cfg->presence_ttl == 60.0);
	assert_string_equal(cfg->core_username, "wsgw");
	assert_string_equal(cfg->client_id_prefix, "wsgw-");
	assert_null(cfg->bridge_usernames);
	assert_int_equal(cfg->max_connections, 10000);
	assert_int_equal(cfg->max_http_connections, 2000);
	assert_int_equal(cfg->fd_reserve, 1024);
	assert_true(cfg->http_body_timeout == 10.0);
	assert_int_equal(cfg->max_subscriptions, 64);
	assert_int_equal(cfg->max_frame_size, 65536);
	assert_int_equal(cfg->max_queue_bytes, 1048576);
	assert_int_equal(cfg->max_total_queue_bytes, 268435456);
	assert_true(cfg->ws_ping_interval == 30.0);
	assert_null(cfg->origins);
	assert_true(cfg->handshake_timeout == 10.0);
	assert_true(cfg->idle_timeout == 120.0);
	assert_true(cfg->rate_limit == 100.0);
	assert_true(cfg->rate_burst == 200.0);
	assert_int_equal(cfg->mqtt_keepalive, 60);
	assert_true(SET(cfg, wsdo_conf)->enable);
	assert_string_equal(SET(cfg, wsdo_conf)->mount, "/");
	assert_string_equal(WSDO(cfg)->root, "wsdo");
	assert_string_equal(WSDO(cfg)->username, "wsdo");
	assert_true(WSDO(cfg)->ping_interval == 20.0);
	assert_true(WSDO(cfg)->ping_timeout == 10.0);
	assert_true(WSDO(cfg)->ack_timeout == 5.0);
}

static void test_init_free_repeat(void **state)
{
	struct wsgw_config c;
	(void)state;
	for(int i = 0; i < 3; i++){
		assert_int_equal(config_init(&c, confs, NCONFS), 0);
		config_free(&c);
		assert_null(c.topic_prefix);
		assert_null(c.dialects);
		assert_int_equal(c.ndialects, 0);
	}
	/* config_free on a freed config is harmless (it is zeroed). */
	config_free(&c);
}

/* ---- integers ---- */

static void test_int_ok(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "listen_port", "1");
	assert_int_equal(cfg->listen_port, 1);
	set_ok(cfg, "listen_port", "65535");
	assert_int_equal(cfg->listen_port, 65535);
	set_ok(cfg, "listen_port", "9000");
	assert_int_equal(cfg->listen_port, 9000);
	set_ok(cfg, "broker_port", "0");
	assert_int_equal(cfg->broker_port, 0);
	set_ok(cfg, "broker_port", "1883");
	assert_int_equal(cfg->broker_port, 1883);
	set_ok(cfg, "max_connections", "1000000");
	assert_int_equal(cfg->max_connections, 1000000);
	set_ok(cfg, "max_http_connections", "1");
	assert_int_equal(cfg->max_http_connections, 1);
	set_ok(cfg, "fd_reserve", "0");
	assert_int_equal(cfg->fd_reserve, 0);
	set_ok(cfg, "http_body_timeout", "0.5");
	assert_true(cfg->http_body_timeout == 0.5);
	set_ok(cfg, "max_subscriptions", "100000");
	assert_int_equal(cfg->max_subscriptions, 100000);
	set_ok(cfg, "mqtt_keepalive", "5");
	assert_int_equal(cfg->mqtt_keepalive, 5);
	set_ok(cfg, "max_frame_size", "256");
	assert_int_equal(cfg->max_frame_size, 256);
	set_ok(cfg, "max_frame_size", "268435455");
	assert_int_equal(cfg->max_frame_size, 268435455);
	set_ok(cfg, "max_queue_bytes", "1024");
	assert_int_equal(cfg->max_queue_bytes, 1024);
	set_ok(cfg, "max_queue_bytes", "1073741824");
	assert_int_equal(cfg->max_queue_bytes, 1073741824);
	set_ok(cfg, "max_total_queue_bytes", "65536");
	assert_int_equal(cfg->max_total_queue_bytes, 65536);
	set_ok(cfg, "max_total_queue_bytes", "1099511627776");
	assert_true(cfg->max_total_queue_bytes == 1099511627776L);
	set_ok(cfg, "ws_ping_interval", "0");
	assert_true(cfg->ws_ping_interval == 0.0);
	set_ok(cfg, "ws_ping_interval", "0.5");
	assert_true(cfg->ws_ping_interval == 0.5);
}

static void test_int_bad(void **state)
{
	struct wsgw_config *cfg = *state;
	static const char *const bad_port[] = {
		"0", "65536", "-1", "abc", "", "80x", "80 ", "8080.5", "1e3", "0x50",
		"99999999999999999999999", "-99999999999999999999999", "nan", "inf", NULL,
	};

	for(size_t i = 0; bad_port[i]; i++) set_bad(cfg, "listen_port", bad_port[i]);
	set_bad(cfg, "listen_port", NULL);
	/* A rejected value leaves the old one. */
	assert_int_equal(cfg->listen_port, 8080);

	set_bad(cfg, "broker_port", "-1");
	set_bad(cfg, "broker_port", "65536");
	assert_int_equal(cfg->broker_port, 0);
	set_bad(cfg, "max_connections", "0");
	set_bad(cfg, "max_connections", "1000001");
	set_bad(cfg, "max_http_connections", "0");
	set_bad(cfg, "max_http_connections", "1000001");
	assert_int_equal(cfg->max_http_connections, 2000);
	set_bad(cfg, "fd_reserve", "-1");
	assert_int_equal(cfg->fd_reserve, 1024);
	set_bad(cfg, "http_body_timeout", "0");
	set_bad(cfg, "http_body_timeout", "3601");
	assert_true(cfg->http_body_timeout == 10.0);
	set_bad(cfg, "max_subscriptions", "0");
	set_bad(cfg, "max_subscriptions", "100001");
	set_bad(cfg, "mqtt_keepalive", "4");
	set_bad(cfg, "mqtt_keepalive", "65536");
	assert_int_equal(cfg->mqtt_keepalive, 60);
	set_bad(cfg, "max_frame_size", "255");
	set_bad(cfg, "max_frame_size", "268435456");
	set_bad(cfg, "max_frame_size", "64k");
	assert_int_equal(cfg->max_frame_size, 65536);
	set_bad(cfg, "max_queue_bytes", "1023");
	set_bad(cfg, "max_queue_bytes", "1073741825");
	set_bad(cfg, "max_queue_bytes", "1.5");
	assert_int_equal(cfg->max_queue_bytes, 1048576);
	set_bad(cfg, "max_total_queue_bytes", "65535");
	set_bad(cfg, "max_total_queue_bytes", "1099511627777");
	set_bad(cfg, "max_total_queue_bytes", "256M");
	assert_int_equal(cfg->max_total_queue_bytes, 268435456);
	set_bad(cfg, "ws_ping_interval", "-1");
	set_bad(cfg, "ws_ping_interval", "3601");
	assert_true(cfg->ws_ping_interval == 30.0);
}

static void test_int_error_text(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	assert_int_equal(config_set(cfg, "listen_port", "70000", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "plugin_opt_listen_port"));
	assert_non_null(strstr(err, "70000"));
	assert_non_null(strstr(err, "65535"));

	/* A small buffer is not overrun and is terminated. */
	{
		char small[16];
		memset(small, 'Q', sizeof(small));
		assert_int_equal(config_set(cfg, "listen_port", "x", small, 8), -1);
		assert_int_equal(strlen(small), 7);
		assert_int_equal(small[8], 'Q');
	}
}

/* ---- seconds ---- */

static void test_seconds(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "idle_timeout", "0.5");
	assert_true(cfg->idle_timeout == 0.5);
	set_ok(cfg, "idle_timeout", "0");
	assert_true(cfg->idle_timeout == 0.0);
	set_ok(cfg, "idle_timeout", "86400");
	assert_true(cfg->idle_timeout == 86400.0);
	set_ok(cfg, "wsdo_ping_interval", "0.1");
	assert_true(WSDO(cfg)->ping_interval == 0.1);
	set_ok(cfg, "wsdo_ping_interval", "2.5");
	assert_true(WSDO(cfg)->ping_interval == 2.5);
	set_ok(cfg, "wsdo_ping_timeout", "0.25");
	assert_true(WSDO(cfg)->ping_timeout == 0.25);
	set_ok(cfg, "wsdo_ack_timeout", "3600");
	assert_true(WSDO(cfg)->ack_timeout == 3600.0);
	set_ok(cfg, "presence_ttl", "1.5");
	assert_true(cfg->presence_ttl == 1.5);
	set_ok(cfg, "presence_ttl", "86400");
	assert_true(cfg->presence_ttl == 86400.0);
	set_ok(cfg, "rate_limit", "1");
	assert_true(cfg->rate_limit == 1.0);
	set_ok(cfg, "rate_burst", "12.5");
	assert_true(cfg->rate_burst == 12.5);
	set_ok(cfg, "handshake_timeout", "30");
	assert_true(cfg->handshake_timeout == 30.0);
	set_ok(cfg, "broker_connect_timeout", "0.5");
	assert_true(cfg->broker_connect_timeout == 0.5);
	set_ok(cfg, "broker_connect_max", "1");
	assert_int_equal(cfg->broker_connect_max, 1);
	set_ok(cfg, "broker_connect_max", "1000");
	assert_int_equal(cfg->broker_connect_max, 1000);

	set_bad(cfg, "presence_ttl", "0.5");
	set_bad(cfg, "presence_ttl", "0");
	set_bad(cfg, "presence_ttl", "86400.5");
	set_bad(cfg, "presence_ttl", "abc");
	set_bad(cfg, "presence_ttl", "10s");
	set_bad(cfg, "presence_ttl", "");
	set_bad(cfg, "presence_ttl", "nan");
	set_bad(cfg, "presence_ttl", "inf");
	set_bad(cfg, "presence_ttl", "-inf");
	set_bad(cfg, "presence_ttl", "1e999");
	assert_true(cfg->presence_ttl == 86400.0);
	set_bad(cfg, "idle_timeout", "-0.5");
	set_bad(cfg, "idle_timeout", "86401");
	set_bad(cfg, "wsdo_ping_interval", "0.09");
	set_bad(cfg, "wsdo_ping_interval", "0");
	set_bad(cfg, "wsdo_ping_timeout", "0");
	set_bad(cfg, "wsdo_ack_timeout", "3600.1");
	set_bad(cfg, "rate_limit", "0.5");
	set_bad(cfg, "rate_burst", "0");
	set_bad(cfg, "handshake_timeout", "0.5");
	set_bad(cfg, "handshake_timeout", "3601");
	set_bad(cfg, "broker_connect_timeout", "0");
	set_bad(cfg, "broker_connect_timeout", "3600.5");
	set_bad(cfg, "broker_connect_max", "0");
	set_bad(cfg, "broker_connect_max", "1001");
	set_bad(cfg, "broker_connect_max", "2.5");
}

/* ---- bool ---- */

static void test_bool(void **state)
{
	struct wsgw_config *cfg = *state;
	static const char *const bad[] = {"TRUE", "True", "1", "0", "yes", "no", "on", "", "true ", " false", NULL};

	set_ok(cfg, "wsdo_enable", "false");
	assert_false(SET(cfg, wsdo_conf)->enable);
	set_ok(cfg, "wsdo_enable", "true");
	assert_true(SET(cfg, wsdo_conf)->enable);
	for(size_t i = 0; bad[i]; i++) set_bad(cfg, "wsdo_enable", bad[i]);
	set_bad(cfg, "wsdo_enable", NULL);
	assert_true(SET(cfg, wsdo_conf)->enable);
}

/* ---- prefixes and levels ---- */

static void test_prefix(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "topic_prefix", "a/b");
	assert_string_equal(cfg->topic_prefix, "a/b");
	set_ok(cfg, "topic_prefix", "");
	assert_string_equal(cfg->topic_prefix, "");
	set_ok(cfg, "topic_prefix", "site1");
	assert_string_equal(cfg->topic_prefix, "site1");
	set_ok(cfg, "presence_prefix", "x/presence");
	assert_string_equal(cfg->presence_prefix, "x/presence");
	set_ok(cfg, "wsdo_root", "rt");
	assert_string_equal(WSDO(cfg)->root, "rt");
	set_ok(cfg, "wsdo_root", "");
	assert_string_equal(WSDO(cfg)->root, "");

	set_bad(cfg, "topic_prefix", "/a");
	set_bad(cfg, "topic_prefix", "a/");
	set_bad(cfg, "topic_prefix", "a//b");
	set_bad(cfg, "topic_prefix", "a/+");
	set_bad(cfg, "topic_prefix", "#");
	set_bad(cfg, "topic_prefix", "/");
	set_bad(cfg, "topic_prefix", "a/\xC0\x80");
	assert_string_equal(cfg->topic_prefix, "site1");
	set_bad(cfg, "presence_prefix", "p/+/x");
	set_bad(cfg, "wsdo_root", "w/");
	assert_string_equal(cfg->presence_prefix, "x/presence");
}

static void test_level(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "gateway_id", "gw-1:8080");
	assert_string_equal(cfg->gateway_id, "gw-1:8080");
	set_ok(cfg, "core_username", "core");
	assert_string_equal(cfg->core_username, "core");
	set_ok(cfg, "wsdo_username", "web");
	assert_string_equal(WSDO(cfg)->username, "web");

	set_bad(cfg, "gateway_id", "");
	set_bad(cfg, "gateway_id", "a/b");
	set_bad(cfg, "gateway_id", "a+b");
	set_bad(cfg, "gateway_id", "#");
	set_bad(cfg, "gateway_id", NULL);
	assert_string_equal(cfg->gateway_id, "gw-1:8080");
	set_bad(cfg, "core_username", "");
	set_bad(cfg, "wsdo_username", "a/b");
	assert_string_equal(cfg->core_username, "core");
	assert_string_equal(WSDO(cfg)->username, "web");
}

static void test_strings(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "listen_address", "127.0.0.1");
	assert_string_equal(cfg->listen_address, "127.0.0.1");
	set_ok(cfg, "listen_address", "::1");       /* replaced, the old one freed */
	assert_string_equal(cfg->listen_address, "::1");
	set_ok(cfg, "broker_socket", "/run/mosquitto/wsgw.sock");
	assert_string_equal(cfg->broker_socket, "/run/mosquitto/wsgw.sock");
	set_ok(cfg, "broker_host", "broker.local");
	assert_string_equal(cfg->broker_host, "broker.local");

	set_bad(cfg, "listen_address", "");
	set_bad(cfg, "listen_address", NULL);
	set_bad(cfg, "broker_socket", "");
	set_bad(cfg, "broker_host", "");
	assert_string_equal(cfg->listen_address, "::1");
	assert_string_equal(cfg->broker_socket, "/run/mosquitto/wsgw.sock");
}

/* ---- mount ---- */

static void test_mount(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "wsdo_mount", "/rt");
	assert_string_equal(SET(cfg, wsdo_conf)->mount, "/rt");
	set_ok(cfg, "wsdo_mount", "/a/b");
	assert_string_equal(SET(cfg, wsdo_conf)->mount, "/a/b");
	set_ok(cfg, "wsdo_mount", "/");
	assert_string_equal(SET(cfg, wsdo_conf)->mount, "/");

	set_bad(cfg, "wsdo_mount", "rt");
	set_bad(cfg, "wsdo_mount", "/rt/");
	set_bad(cfg, "wsdo_mount", "");
	set_bad(cfg, "wsdo_mount", NULL);
	set_bad(cfg, "wsdo_mount", "//");
	set_bad(cfg, "wsdo_mount", "//rt");
	set_bad(cfg, "wsdo_mount", "/a//b");
	set_bad(cfg, "wsdo_mount", "rt/");
	assert_string_equal(SET(cfg, wsdo_conf)->mount, "/");
}

/* ---- unknown ---- */

static void test_unknown(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	assert_int_equal(config_set(cfg, "nope", "1", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "plugin_opt_nope"));
	set_bad(cfg, "listen_portx", "80");
	set_bad(cfg, "Listen_port", "80");
	set_bad(cfg, "", "80");
	set_bad(cfg, "plugin_opt_listen_port", "80");
	assert_int_equal(cfg->listen_port, 8080);
}

/* ---- origins ---- */

static void test_origins(void **state)
{
	struct wsgw_config *cfg = *state;

	/* No list: everything is allowed. */
	assert_true(config_origin_allowed(cfg, "https://anything.example"));
	assert_true(config_origin_allowed(cfg, NULL));
	assert_true(config_origin_allowed(cfg, ""));

	set_ok(cfg, "origins", "https://a, https://b");
	assert_non_null(cfg->origins);
	assert_string_equal(cfg->origins[0], "https://a");
	assert_string_equal(cfg->origins[1], "https://b");
	assert_null(cfg->origins[2]);

	assert_true(config_origin_allowed(cfg, "https://a"));
	assert_true(config_origin_allowed(cfg, "https://b"));
	assert_true(config_origin_allowed(cfg, NULL));      /* non-browser clients */
	assert_false(config_origin_allowed(cfg, "https://c"));
	assert_false(config_origin_allowed(cfg, "https://a.example.evil"));
	assert_false(config_origin_allowed(cfg, "https://ab"));
	assert_false(config_origin_allowed(cfg, "https://"));
	assert_false(config_origin_allowed(cfg, "http://a"));
	assert_false(config_origin_allowed(cfg, "https://A"));
	assert_false(config_origin_allowed(cfg, "https://a/"));
	assert_false(config_origin_allowed(cfg, " https://a"));
	assert_false(config_origin_allowed(cfg, ""));
}

static void test_origins_whole_string(void **state)
{
	struct wsgw_config *cfg = *state;

	set_ok(cfg, "origins", "https://a.example");
	assert_string_equal(cfg->origins[0], "https://a.example");
	assert_null(cfg->origins[1]);
	assert_true(config_origin_allowed(cfg, "https://a.example"));
	assert_false(config_origin_allowed(cfg, "https://a.example.evil"));
	assert_false(config_origin_allowed(cfg, "https://a.exampl"));
	assert_false(config_origin_allowed(cfg, "https://a.example:443"));
	assert_false(config_origin_allowed(cfg, "https://evil.a.example"));
}

static void test_origins_separators(void **state)
{
	struct wsgw_config *cfg = *state;

	/* Commas, spaces and tabs separate; empty elements are skipped. */
	set_ok(cfg, "origins", " https://x ,,https://y\thttp://z:8080 ,");
	assert_string_equal(cfg->origins[0], "https://x");
	assert_string_equal(cfg->origins[1], "https://y");
	assert_string_equal(cfg->origins[2], "http://z:8080");
	assert_null(cfg->origins[3]);
	assert_true(config_origin_allowed(cfg, "http://z:8080"));
	assert_false(config_origin_allowed(cfg, "http://z"));

	/* Setting again replaces the list (the old one is freed). */
	set_ok(cfg, "origins", "https://only");
	assert_string_equal(cfg->origins[0], "https://only");
	assert_null(cfg->origins[1]);
	assert_false(config_origin_allowed(cfg, "https://x"));

	/* An empty list means no list. */
	set_ok(cfg, "origins", " , ");
	assert_null(cfg->origins);
	assert_true(config_origin_allowed(cfg, "https://x"));
	set_ok(cfg, "origins", "https://again");
	set_ok(cfg, "origins", "");
	assert_null(cfg->origins);
}

static void test_origins_wildcard(void **state)
{
	struct wsgw_config *cfg = *state;

	assert_false(config_origins_any(cfg));          /* no list */
	set_ok(cfg, "origins", "https://a");
	assert_false(config_origins_any(cfg));
	set_ok(cfg, "origins", "https://a,*");
	assert_true(config_origins_any(cfg));
	assert_true(config_origin_allowed(cfg, "https://anything.example"));
	assert_true(config_origin_allowed(cfg, "null"));
	set_ok(cfg, "origins", "https://*.example");   /* no patterns: a literal */
	assert_false(config_origins_any(cfg));
	assert_false(config_origin_allowed(cfg, "https://a.example"));
}

/* ---- CORS, health and metrics ---- */

static void test_ops_options(void **state)
{
	struct wsgw_config *cfg = *state;

	assert_int_equal(cfg->cors_max_age, 600);
	assert_string_equal(cfg->health_path, "/healthz");
	assert_string_equal(cfg->metrics_path, "/metrics");
	assert_null(cfg->metrics_token);
	set_ok(cfg, "cors_max_age", "0");
	assert_int_equal(cfg->cors_max_age, 0);
	set_bad(cfg, "cors_max_age", "86401");
	set_bad(cfg, "cors_max_age", "-1");
	set_ok(cfg, "health_path", "/ops/health");
	assert_string_equal(cfg->health_path, "/ops/health");
	set_ok(cfg, "health_path", "off");
	assert_null(cfg->health_path);
	set_ok(cfg, "health_path", "/again");
	assert_string_equal(cfg->health_path, "/again");
	set_ok(cfg, "metrics_path", "off");
	assert_null(cfg->metrics_path);
	set_bad(cfg, "metrics_path", "metrics");       /* a path starts with '/' */
	set_bad(cfg, "metrics_path", "/metrics/");
	set_bad(cfg, "health_path", "");
	set_ok(cfg, "metrics_token", "t0ken");
	assert_string_equal(cfg->metrics_token, "t0ken");
	set_bad(cfg, "metrics_token", "");
}

/* ---- config_finish ---- */

static char *expected_gateway_id(int port)
{
	char host[256], id[300];
	if(gethostname(host, sizeof(host)) != 0) snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for(char *p = host; *p; p++) if(*p == '/' || *p == '+' || *p == '#') *p = '_';
	snprintf(id, sizeof(id), "%s:%d", host, port);
	return strdup(id);
}

static void test_finish_needs_broker(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "broker_socket"));
	assert_null(cfg->broker_host);

	/* broker_host alone is not enough: it needs a port. */
	set_ok(cfg, "broker_host", "10.0.0.1");
	err[0] = '\0';
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "broker_socket"));
}

static void test_finish_port_only(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";
	char *want;

	set_ok(cfg, "broker_port", "1883");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_non_null(cfg->broker_host);
	assert_string_equal(cfg->broker_host, "127.0.0.1");
	assert_int_equal(cfg->broker_port, 1883);
	assert_null(cfg->broker_socket);

	want = expected_gateway_id(8080);
	assert_non_null(cfg->gateway_id);
	assert_string_equal(cfg->gateway_id, want);
	free(want);
	/* The gateway id is usable as a topic level. */
	assert_null(strpbrk(cfg->gateway_id, "/+#"));
	assert_true(strlen(cfg->gateway_id) > strlen(":8080"));
	assert_string_equal(cfg->gateway_id + strlen(cfg->gateway_id) - 5, ":8080");
}

static void test_finish_port_and_host(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "broker_port", "1884");
	set_ok(cfg, "broker_host", "10.0.0.1");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->broker_host, "10.0.0.1");
	assert_int_equal(cfg->broker_port, 1884);
}

static void test_finish_socket(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";
	char *want;

	set_ok(cfg, "broker_socket", "/run/wsgw.sock");
	set_ok(cfg, "listen_port", "9001");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->broker_socket, "/run/wsgw.sock");
	assert_null(cfg->broker_host);
	want = expected_gateway_id(9001);
	assert_string_equal(cfg->gateway_id, want);
	free(want);
}

static void test_finish_socket_and_host(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "broker_socket", "/run/wsgw.sock");
	set_ok(cfg, "broker_host", "127.0.0.1");
	set_ok(cfg, "broker_port", "1883");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "broker_socket"));
	assert_non_null(strstr(err, "broker_host"));
}

static void test_finish_keeps_gateway_id(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "gateway_id", "edge-7");
	set_ok(cfg, "broker_port", "1883");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->gateway_id, "edge-7");
	/* Running it again changes nothing. */
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->gateway_id, "edge-7");
	assert_string_equal(cfg->broker_host, "127.0.0.1");
}

static void test_full_config(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "listen_address", "0.0.0.0");
	set_ok(cfg, "listen_port", "8443");
	set_ok(cfg, "broker_socket", "/tmp/m.sock");
	set_ok(cfg, "topic_prefix", "site/a");
	set_ok(cfg, "presence_prefix", "site/a/presence");
	set_ok(cfg, "presence_ttl", "30");
	set_ok(cfg, "origins", "https://app.example");
	set_ok(cfg, "wsdo_mount", "/rt");
	set_ok(cfg, "wsdo_ping_interval", "0.5");
	set_ok(cfg, "wsdo_enable", "false");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->listen_port, 8443);
	assert_string_equal(cfg->topic_prefix, "site/a");
	assert_true(cfg->presence_ttl == 30.0);
	assert_string_equal(SET(cfg, wsdo_conf)->mount, "/rt");
	assert_false(SET(cfg, wsdo_conf)->enable);
	assert_true(config_origin_allowed(cfg, "https://app.example"));
	assert_false(config_origin_allowed(cfg, "https://app.example.evil"));
}

/* ---- identities: client_id_prefix, bridge_usernames ---- */

static void test_identities(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "client_id_prefix", "gw.");
	assert_string_equal(cfg->client_id_prefix, "gw.");
	set_bad(cfg, "client_id_prefix", "");
	set_bad(cfg, "client_id_prefix", "a/b");
	set_bad(cfg, "client_id_prefix", "a+");
	set_bad(cfg, "client_id_prefix", "#");
	assert_string_equal(cfg->client_id_prefix, "gw.");
	set_ok(cfg, "bridge_usernames", "bridge-b, bridge-c");
	assert_string_equal(cfg->bridge_usernames[0], "bridge-b");
	assert_string_equal(cfg->bridge_usernames[1], "bridge-c");
	assert_null(cfg->bridge_usernames[2]);
	set_ok(cfg, "broker_socket", "/run/wsgw.sock");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);

	/* a bridge may not be the core user; the prefix is short */
	set_ok(cfg, "bridge_usernames", "bridge-b,wsgw");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "plugin_opt_bridge_usernames"));
	set_ok(cfg, "bridge_usernames", "bridge-b");
	set_ok(cfg, "client_id_prefix", "0123456789012345678901234567890123");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "plugin_opt_client_id_prefix"));
}

/* comet_hb_drop must exceed comet_hb_idle: equal or shorter is refused by name. */
static void test_finish_comet_hb_drop_after_idle(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "broker_port", "1883");
	set_ok(cfg, "comet_hb_idle", "60");
	set_ok(cfg, "comet_hb_drop", "30");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "plugin_opt_comet_hb_drop (30 s)"));
	assert_non_null(strstr(err, "plugin_opt_comet_hb_idle (60 s)"));
	err[0] = '\0';
	set_ok(cfg, "comet_hb_drop", "60");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "comet_hb_drop"));
	/* the default drop (180) is below an idle of 200 set alone */
	set_ok(cfg, "comet_hb_drop", "180");
	set_ok(cfg, "comet_hb_idle", "200");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	set_ok(cfg, "comet_hb_drop", "60.5");
	set_ok(cfg, "comet_hb_idle", "60");
	err[0] = '\0';
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

/* ---- dialects: the generic path ---- */

static void test_dialect_defaults(void **state)
{
	struct wsgw_config *cfg = *state;

	assert_int_equal(cfg->ndialects, NCONFS);
	assert_true(SET(cfg, wsdo_conf)->enable);
	assert_true(SET(cfg, op_conf)->enable);
	assert_string_equal(SET(cfg, op_conf)->mount, "/pubsub");
	assert_string_equal(OP(cfg)->root, "op");
	assert_string_equal(OP(cfg)->username, "op");
	assert_false(OP(cfg)->anonymous);
	assert_null(OP(cfg)->provider_names);
	assert_null(OP(cfg)->provider_kinds);
	assert_int_equal(WSDO(cfg)->shared_sessions, 8);
	assert_true(SET(cfg, tele_conf)->enable);
	assert_string_equal(SET(cfg, tele_conf)->mount, "/telegraphy");
	assert_string_equal(TELE(cfg)->root, "telegraphy");
	assert_string_equal(TELE(cfg)->username, "telegraphy");
	assert_true(TELE(cfg)->auth);
	assert_null(TELE(cfg)->token_secret);
	assert_null(TELE(cfg)->token_secret_file);
	assert_true(TELE(cfg)->token_ttl == 60.0);
	assert_true(TELE(cfg)->connect_timeout == 10.0);
	assert_null(TELE(cfg)->events);
	assert_true(SET(cfg, comet_conf)->enable);
	assert_string_equal(SET(cfg, comet_conf)->mount, "/comet");
	assert_string_equal(COMET(cfg)->root, "comet");
	assert_string_equal(COMET(cfg)->username, "comet");
	assert_null(COMET(cfg)->service_token);
	assert_true(COMET(cfg)->hb_idle == 60.0);
	assert_true(COMET(cfg)->hb_drop == 180.0);
}

/* Options of every dialect go through the same loop: types, bounds, and the
 * error sentence naming the whole option. */
static void test_dialect_second(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "op_enable", "false");
	assert_false(SET(cfg, op_conf)->enable);
	assert_true(SET(cfg, wsdo_conf)->enable);     /* another dialect's is its own */
	set_ok(cfg, "op_mount", "/x/y");
	assert_string_equal(SET(cfg, op_conf)->mount, "/x/y");
	assert_string_equal(SET(cfg, comet_conf)->mount, "/comet");
	set_ok(cfg, "op_root", "a/b");
	assert_string_equal(OP(cfg)->root, "a/b");
	set_ok(cfg, "op_anonymous", "true");
	assert_true(OP(cfg)->anonymous);
	set_ok(cfg, "comet_service_token", "s3cret");
	assert_string_equal(COMET(cfg)->service_token, "s3cret");
	set_ok(cfg, "telegraphy_events", "a, b");
	assert_string_equal(TELE(cfg)->events[0], "a");
	assert_string_equal(TELE(cfg)->events[1], "b");
	assert_null(TELE(cfg)->events[2]);
	set_ok(cfg, "telegraphy_username", "t2");
	assert_string_equal(TELE(cfg)->username, "t2");

	set_bad(cfg, "op_enable", "1");
	set_bad(cfg, "op_mount", "x");
	set_bad(cfg, "op_root", "a/");
	set_bad(cfg, "telegraphy_username", "a/b");
	set_bad(cfg, "comet_service_token", "");
	set_bad(cfg, "telegraphy_auth", "yes");
	assert_false(SET(cfg, op_conf)->enable);
	assert_string_equal(SET(cfg, op_conf)->mount, "/x/y");
	assert_string_equal(OP(cfg)->root, "a/b");
	assert_true(TELE(cfg)->auth);

	assert_int_equal(config_set(cfg, "telegraphy_auth", "yes", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_telegraphy_auth: \"yes\" is not true or false");
	assert_int_equal(config_set(cfg, "op_mount", "x/", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_op_mount: \"x/\" must start with '/' and not end with one");
}

static void test_dialect_bounds(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "comet_hb_idle", "0.1");
	assert_true(COMET(cfg)->hb_idle == 0.1);
	set_ok(cfg, "comet_hb_drop", "86400");
	assert_true(COMET(cfg)->hb_drop == 86400.0);
	set_ok(cfg, "wsdo_shared_sessions", "64");
	assert_int_equal(WSDO(cfg)->shared_sessions, 64);
	set_ok(cfg, "telegraphy_token_ttl", "1");
	assert_true(TELE(cfg)->token_ttl == 1.0);
	set_ok(cfg, "telegraphy_connect_timeout", "3600");
	assert_true(TELE(cfg)->connect_timeout == 3600.0);

	set_bad(cfg, "comet_hb_idle", "0.09");
	set_bad(cfg, "comet_hb_idle", "86401");
	set_bad(cfg, "comet_hb_drop", "0.1");
	set_bad(cfg, "wsdo_shared_sessions", "65");
	set_bad(cfg, "wsdo_shared_sessions", "-1");
	set_bad(cfg, "wsdo_shared_sessions", "2.5");
	set_bad(cfg, "telegraphy_token_ttl", "0.5");
	set_bad(cfg, "telegraphy_token_ttl", "86401");
	set_bad(cfg, "telegraphy_connect_timeout", "0");
	assert_true(COMET(cfg)->hb_idle == 0.1);
	assert_int_equal(WSDO(cfg)->shared_sessions, 64);
	assert_true(TELE(cfg)->token_ttl == 1.0);

	assert_int_equal(config_set(cfg, "comet_hb_idle", "0", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_comet_hb_idle: \"0\" is not a number from 0.1 to 86400");
	assert_int_equal(config_set(cfg, "wsdo_shared_sessions", "99", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_wsdo_shared_sessions: \"99\" is not a whole number from 0 to 64");
}

static void test_dialect_unknown(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	assert_int_equal(config_set(cfg, "op_nope", "1", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_op_nope: unknown option (see the option table in README.md)");
	set_bad(cfg, "wsdo_", "1");
	set_bad(cfg, "wsdo", "1");
	set_bad(cfg, "wsdo_Root", "x");
	set_bad(cfg, "wsdo_rootx", "x");
	set_bad(cfg, "wsdoroot", "x");
	set_bad(cfg, "telegraphy_enablex", "true");
	set_bad(cfg, "comet_hb", "1");
	set_bad(cfg, "tele_root", "x");             /* the prefix is the dialect's name, not its file's */
	set_bad(cfg, "op_provider", "jwt");         /* a pattern needs its name */
	set_bad(cfg, "comet_provider_x", "jwt");    /* op's pattern, not Comet's */
	set_bad(cfg, "xyz_root", "x");
	set_bad(cfg, "_root", "x");
	assert_string_equal(WSDO(cfg)->root, "wsdo");
	assert_null(OP(cfg)->provider_names);
}

/* Only the dialects config_init was given have options. */
static void test_dialect_subset(void **state)
{
	static const struct wsgw_dialect_conf *const only_comet[] = {&comet_conf};
	struct wsgw_config c;
	char err[256] = "";
	(void)state;

	assert_int_equal(config_init(&c, only_comet, 1), 0);
	assert_int_equal(c.ndialects, 1);
	assert_null(config_dialect(&c, &wsdo_conf));
	assert_non_null(config_dialect(&c, &comet_conf));
	set_ok(&c, "comet_root", "cm");
	assert_string_equal(COMET(&c)->root, "cm");
	set_bad(&c, "wsdo_root", "x");
	set_bad(&c, "op_provider_a", "jwt");
	set_ok(&c, "broker_port", "1883");
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	config_free(&c);

	/* none at all: the core alone */
	assert_int_equal(config_init(&c, NULL, 0), 0);
	assert_null(c.dialects);
	set_bad(&c, "comet_root", "x");
	set_ok(&c, "broker_port", "1883");
	assert_int_equal(config_finish(&c, err, sizeof(err)), 0);
	config_free(&c);
}

/* op_provider_<name>: a pattern option (set_extra). */
static void test_op_providers(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "op_provider_corp", "jwt");
	set_ok(cfg, "op_provider_dev", "none");
	set_ok(cfg, "op_provider_corp", "mqtt");     /* named again: rebound */
	assert_string_equal(OP(cfg)->provider_names[0], "corp");
	assert_string_equal(OP(cfg)->provider_kinds[0], "mqtt");
	assert_string_equal(OP(cfg)->provider_names[1], "dev");
	assert_string_equal(OP(cfg)->provider_kinds[1], "none");
	assert_null(OP(cfg)->provider_names[2]);

	set_bad(cfg, "op_provider_x", "ldap");
	set_bad(cfg, "op_provider_x", "");
	set_bad(cfg, "op_provider_x", NULL);
	set_bad(cfg, "op_provider_", "jwt");
	set_bad(cfg, "op_provider_a/b", "jwt");
	set_bad(cfg, "op_provider_a+", "jwt");
	set_bad(cfg, "op_provider_0123456789012345678901234567890123456789012345678901234567890123456789", "jwt");
	assert_null(OP(cfg)->provider_names[2]);
	assert_int_equal(config_set(cfg, "op_provider_x", "ldap", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_op_provider_x: \"ldap\" is not none, jwt or mqtt");
	assert_int_equal(config_set(cfg, "op_provider_a/b", "jwt", err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_op_provider_a/b: bad provider name");
}

static void test_finish_telegraphy_secrets(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "broker_port", "1883");
	set_ok(cfg, "telegraphy_token_secret", "abc");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	set_ok(cfg, "telegraphy_token_secret_file", "/etc/t.key");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "plugin_opt_telegraphy_token_secret and plugin_opt_telegraphy_token_secret_file "
			"are exclusive: set one");
}

/* What the registry's entries tell the core besides options. */
static void test_dialect_conf_data(void **state)
{
	struct wsgw_config *cfg = *state;
	const struct wsgw_dialect_settings *ds = SET(cfg, wsdo_conf);

	assert_string_equal(wsdo_conf.member_prefix, "client_");
	assert_string_equal(op_conf.member_prefix, "op-");
	assert_null(tele_conf.member_prefix);
	assert_null(comet_conf.member_prefix);
	/* the root option the ACL guard's filters are built on */
	assert_string_equal(*(char **)((char *)ds->opts + wsdo_conf.root), "wsdo");
	assert_string_equal(*(char **)((char *)SET(cfg, comet_conf)->opts + comet_conf.root), "comet");
	/* shared broker sessions (the default): one descriptor per client */
	assert_true(wsdo_conf.shares_sessions(ds->opts));
	set_ok(cfg, "wsdo_shared_sessions", "0");
	assert_false(wsdo_conf.shares_sessions(ds->opts));
	set_ok(cfg, "wsdo_shared_sessions", "4");
	assert_true(wsdo_conf.shares_sessions(ds->opts));
	assert_null(op_conf.shares_sessions);
	/* every guard list ends */
	for(size_t i = 0; i < NCONFS; i++){
		size_t n = 0;
		for(const struct wsgw_guard *g = confs[i]->guards; g && g->tail; g++) n++;
		assert_true(n <= 4);
	}
}

/* TLS options: certfile and keyfile together, the others only with them,
 * tls_version one of two (the files are read by the transport, not here). */
static void finish_err(struct wsgw_config *cfg, const char *want)
{
	char err[256] = "";
	assert_int_equal(config_finish(cfg, err, sizeof(err)), -1);
	if(!strstr(err, want)) fail_msg("\"%s\" not in \"%s\"", want, err);
}

static void test_tls_options(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "broker_port", "1883");
	assert_null(cfg->certfile);
	assert_string_equal(cfg->tls_version, "tlsv1.2");
	assert_false(cfg->require_certificate);
	set_ok(cfg, "certfile", "/etc/ssl/gw.pem");
	finish_err(cfg, "plugin_opt_keyfile go together");
	set_ok(cfg, "keyfile", "/etc/ssl/gw.key");
	set_ok(cfg, "require_certificate", "true");
	finish_err(cfg, "needs plugin_opt_cafile or plugin_opt_capath");
	set_ok(cfg, "capath", "/etc/ssl/certs");
	set_ok(cfg, "tls_version", "tlsv1.1");
	finish_err(cfg, "plugin_opt_tls_version: \"tlsv1.1\"");
	set_ok(cfg, "tls_version", "tlsv1.3");
	set_ok(cfg, "ciphers", "HIGH:!aNULL");
	set_ok(cfg, "ciphers_tls1_3", "TLS_AES_256_GCM_SHA384");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->ciphers_tls1_3, "TLS_AES_256_GCM_SHA384");
	set_bad(cfg, "require_certificate", "yes");
	set_bad(cfg, "certfile", "");
}

static void test_tls_options_need_certfile(void **state)
{
	struct wsgw_config *cfg = *state;
	const char *opts[][2] = { {"cafile", "/ca.pem"}, {"capath", "/ca"}, {"require_certificate", "true"},
		{"ciphers", "HIGH"}, {"ciphers_tls1_3", "TLS_AES_128_GCM_SHA256"}, {"tls_version", "tlsv1.3"}, {"keyfile", "/k"} };

	set_ok(cfg, "broker_port", "1883");
	for(size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++){
		char want[64];
		set_ok(cfg, opts[i][0], opts[i][1]);
		snprintf(want, sizeof(want), "plugin_opt_%s", opts[i][0]);
		finish_err(cfg, want);
		config_free(cfg);
		assert_int_equal(config_init(cfg, confs, NCONFS), 0);
		set_ok(cfg, "broker_port", "1883");
	}
}

static void test_trusted_proxies(void **state)
{
	struct wsgw_config *cfg = *state;
	char err[256] = "";

	set_ok(cfg, "broker_port", "1883");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->nproxy_nets, 0);
	set_ok(cfg, "trusted_proxies", "127.0.0.1, 10.0.0.0/8 ::1 2001:db8::/32");
	assert_int_equal(config_finish(cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->nproxy_nets, 4);
	assert_true(proxy_trusted(cfg->proxy_nets, cfg->nproxy_nets, "10.2.3.4"));
	assert_true(proxy_trusted(cfg->proxy_nets, cfg->nproxy_nets, "2001:db8::7"));
	assert_false(proxy_trusted(cfg->proxy_nets, cfg->nproxy_nets, "192.0.2.1"));
	set_ok(cfg, "trusted_proxies", "127.0.0.1 proxy.example");
	finish_err(cfg, "plugin_opt_trusted_proxies: \"proxy.example\"");
	set_ok(cfg, "trusted_proxies", "10.0.0.1/8");
	finish_err(cfg, "plugin_opt_trusted_proxies: \"10.0.0.1/8\"");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_init_free_repeat),
		T(test_int_ok),
		T(test_int_bad),
		T(test_int_error_text),
		T(test_seconds),
		T(test_bool),
		T(test_prefix),
		T(test_level),
		T(test_strings),
		T(test_mount),
		T(test_unknown),
		T(test_origins),
		T(test_origins_whole_string),
		T(test_origins_separators),
		T(test_origins_wildcard),
		T(test_ops_options),
		T(test_finish_needs_broker),
		T(test_finish_port_only),
		T(test_finish_port_and_host),
		T(test_finish_socket),
		T(test_finish_socket_and_host),
		T(test_finish_keeps_gateway_id),
		T(test_full_config),
		T(test_identities),
		T(test_finish_comet_hb_drop_after_idle),
		T(test_dialect_defaults),
		T(test_dialect_second),
		T(test_dialect_bounds),
		T(test_dialect_unknown),
		T(test_dialect_subset),
		T(test_op_providers),
		T(test_finish_telegraphy_secrets),
		T(test_dialect_conf_data),
		T(test_tls_options),
		T(test_tls_options_need_certfile),
		T(test_trusted_proxies),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
