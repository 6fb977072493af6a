/* mosquitto_wsgw: the Mosquitto plugin entry points. Reads the plugin_opt_*
 * options, registers the broker callbacks and starts the gateway thread;
 * cleanup undoes all of it in reverse. */
#include "wsgw.h"

#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <stdlib.h>
#include <string.h>

#define WSGW_VERSION "0.1.0"
/* The library is built with hidden visibility: only the entry points are exported. */
#define WSGW_EXPORT __attribute__((visibility("default")))

static mosquitto_plugin_id_t *plugin_id;
static struct wsgw_config config;
static struct wsgw_gw gateway;
static bool auth_registered, tick_registered;

/* Gateway sessions carry the HMAC password; anyone else is the install's own
 * auth's business, except that nobody else may use the core identity. */
static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *client_id = mosquitto_client_id(ed->client);
	(void)event; (void)userdata;

	if(!ed->username) return MOSQ_ERR_PLUGIN_DEFER;
	if(wsgw_auth_check(client_id, ed->username, ed->password)) return MOSQ_ERR_SUCCESS;
	if(!strcmp(ed->username, config.core_username)
			|| (client_id && !strncmp(client_id, "wsgw-core-", 10))){
		mosquitto_log_printf(MOSQ_LOG_NOTICE, "wsgw: refused %s: the gateway's core identity is reserved",
				client_id ? client_id : "(no id)");
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event; (void)event_data; (void)userdata;
	wsgw_log_drain();
	return MOSQ_ERR_SUCCESS;
}

WSGW_EXPORT int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
	for(int i = 0; i < supported_version_count; i++){
		if(supported_versions[i] == 5) return 5;
	}
	return -1;
}

static void unwind(void)
{
	gw_stop(&gateway);
	if(tick_registered) mosquitto_callback_unregister(plugin_id, MOSQ_EVT_TICK, on_tick, NULL);
	if(auth_registered) mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL);
	tick_registered = auth_registered = false;
	wsgw_log_cleanup();
	config_free(&config);
	memset(&gateway, 0, sizeof(gateway));
}

WSGW_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
		struct mosquitto_opt *opts, int opt_count)
{
	char err[512];

	(void)user_data;
	plugin_id = identifier;
	memset(&gateway, 0, sizeof(gateway));
	if(config_init(&config)) return MOSQ_ERR_NOMEM;
	for(int i = 0; i < opt_count; i++){
		if(config_set(&config, opts[i].key, opts[i].value, err, sizeof(err))) goto bad_config;
	}
	if(config_finish(&config, err, sizeof(err))) goto bad_config;
	if(wsgw_auth_init()){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: no random source for the session secret");
		goto error;
	}

	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL)) goto error;
	auth_registered = true;
	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL)) goto error;
	tick_registered = true;

	gateway.cfg = &config;
	if(gw_start(&gateway)) goto error;
	mosquitto_log_printf(MOSQ_LOG_INFO, "wsgw %s: listening on %s, broker via %s, gateway id %s, boot %s",
			WSGW_VERSION, gateway.listen_desc,
			config.broker_socket ? config.broker_socket : config.broker_host,
			config.gateway_id, gateway.boot_id);
	return MOSQ_ERR_SUCCESS;

bad_config:
	mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: %s", err);
error:
	mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: not started; the broker will not run half-configured");
	unwind();
	return MOSQ_ERR_INVAL;
}

WSGW_EXPORT int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data; (void)opts; (void)opt_count;
	unwind();
	return MOSQ_ERR_SUCCESS;
}
