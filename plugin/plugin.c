/* mosquitto_wsgw: the Mosquitto plugin entry points. Reads the plugin_opt_*
 * options, registers the broker callbacks and starts the gateway thread;
 * cleanup undoes all of it in reverse. */
#define LOG_TAG "plugin"
#include "wsgw.h"
#include "jsonutil.h"
#include "topic.h"

#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WSGW_VERSION "0.1.0"
/* The library is built with hidden visibility: only the entry points are exported. */
#define WSGW_EXPORT __attribute__((visibility("default")))

static mosquitto_plugin_id_t *plugin_id;
static struct wsgw_config config;
static struct wsgw_gw gateway;
static bool auth_registered, tick_registered, reload_registered;

static bool has_prefix(const char *s, const char *prefix)
{
	return s && !strncmp(s, prefix, strlen(prefix));
}

static bool is_bridge_username(const char *username)
{
	for(char **u = config.bridge_usernames; username && u && *u; u++){
		if(!strcmp(*u, username)) return true;
	}
	return false;
}

/* Every client id under client_id_prefix is the gateway's: it logs in with the
 * HMAC password, or (a session with the user's own password) carries the id
 * tag, and the install's auth then judges that password. Anyone else with such
 * an id is refused, with or without a username, and so is anyone else using
 * the core username. A trusted bridge username must come with a password.
 * Everything else is the install's own auth's business. */
static int on_basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *ed = event_data;
	const char *client_id = mosquitto_client_id(ed->client);
	(void)event; (void)userdata;

	if(has_prefix(client_id, config.client_id_prefix)){
		if(wsgw_auth_check(client_id, ed->username, ed->password)) return MOSQ_ERR_SUCCESS;
		if(ed->password && wsgw_auth_check_tag(client_id, ed->username)) return MOSQ_ERR_PLUGIN_DEFER;
		LOG_N("refused %s: client ids starting with \"%s\" are the gateway's",
				client_id, config.client_id_prefix);
		return MOSQ_ERR_AUTH;
	}
	if(ed->username && !strcmp(ed->username, config.core_username)){
		LOG_N("refused %s: the gateway's core username is reserved",
				client_id ? client_id : "(no id)");
		return MOSQ_ERR_AUTH;
	}
	if(is_bridge_username(ed->username) && !ed->password){
		LOG_N("refused %s: bridge username %s without a password",
				client_id ? client_id : "(no id)", ed->username);
		return MOSQ_ERR_AUTH;
	}
	return MOSQ_ERR_PLUGIN_DEFER;
}

/* ---- what the gateway believes from MQTT (docs/SECURITY.md) ----
 * Writes by clients that are neither gateway sessions nor trusted bridges are
 * refused on what each enabled dialect's guards name (mapping/option.h): Comet
 * claims (only gateways make them); presence entries on a gateway's slots
 * (topic_slot_number), of every dialect; and presence entries and acks in the
 * name of a member id the gateway hands out (each dialect's member_prefix:
 * websockets.do "client_...", op "op-...": the topic's last level or the
 * payload's clientID). Devices keep their own presence and acks under their
 * own ids (and Comet session entries: a uid is any string); between devices
 * the ACLs decide. */
struct guard { char *filter; enum wsgw_guard_kind kind; };
static struct guard *guards;
static int nguards;
static bool acl_registered, fallback_registered, fallback_pending, fallback_allows;

/* <prefix>/<root>/<tail>, empty parts left out. 0 or -1 (no memory). */
static int add_guard(enum wsgw_guard_kind kind, const char *prefix, const char *root, const char *tail)
{
	struct guard *grown = realloc(guards, (size_t)(nguards + 1) * sizeof(*guards));
	char *f;

	if(!grown) return -1;
	guards = grown;
	if(!(f = topic_join(prefix, root, tail, (char *)NULL))) return -1;
	guards[nguards].filter = f;
	guards[nguards++].kind = kind;
	return 0;
}

static int guards_init(void)
{
	const struct wsgw_config *c = &config;
	const char *p = c->presence_prefix[0] ? c->presence_prefix : NULL;

	for(size_t i = 0; i < c->ndialects; i++){
		const struct wsgw_dialect_settings *ds = &c->dialects[i];
		const struct wsgw_guard *g = ds->conf->guards;
		const char *root;

		if(!ds->enable || !g) continue;
		root = *(char *const *)((const char *)ds->opts + ds->conf->root);
		for(; g->tail; g++){
			if(g->presence && !p) continue;
			if(add_guard(g->kind, g->presence ? p : c->topic_prefix, root, g->tail)) return -1;
		}
	}
	return 0;
}

static void guards_free(void)
{
	for(int i = 0; i < nguards; i++) free(guards[i].filter);
	free(guards);
	guards = NULL;
	nguards = 0;
}

/* The member ids the gateway hands out, in any dialect. */
static bool gateway_member_id(const char *id)
{
	for(size_t i = 0; i < wsgw_ndialects; i++){
		const char *prefix = wsgw_dialects[i]->conf->member_prefix;
		if(prefix && !strncmp(id, prefix, strlen(prefix))) return true;
	}
	return false;
}

/* A presence slot of some gateway (core.c). */
static bool gateway_slot(const char *level)
{
	return topic_slot_number(level, NULL) >= 0;
}

/* A payload whose clientID names a member id the gateway hands out (acks,
 * and presence entries, whose member id is the payload's clientID). Read as
 * the gateway's consumers read it (mirror.c, wsdo.c acks): the strict decoder,
 * so the guard and they see the same clientID. */
static bool payload_claims_gateway_member(const void *payload, uint32_t len)
{
	json_t *o = payload && len ? jsonutil_parse(payload, len, JSON_REJECT_DUPLICATES, NULL, 0) : NULL;
	const char *id = json_string_value(json_object_get(o, "clientID"));
	bool bad = id && gateway_member_id(id);

	json_decref(o);
	return bad;
}

static bool forged(const struct mosquitto_evt_acl_check *ed)
{
	for(int i = 0; i < nguards; i++){
		bool match = false;
		const char *last;

		if(mosquitto_topic_matches_sub(guards[i].filter, ed->topic, &match) || !match) continue;
		switch(guards[i].kind){
		case WSGW_GUARD_ALL:
			return true;
		case WSGW_GUARD_MEMBER:
			last = strrchr(ed->topic, '/');
			last = last ? last + 1 : ed->topic;
			if(gateway_member_id(last) || gateway_slot(last)
					|| payload_claims_gateway_member(ed->payload, ed->payloadlen)) return true;
			break;
		case WSGW_GUARD_SLOT:
			last = strrchr(ed->topic, '/');
			if(gateway_slot(last ? last + 1 : ed->topic)) return true;
			break;
		case WSGW_GUARD_ACK:
			if(payload_claims_gateway_member(ed->payload, ed->payloadlen)) return true;
			break;
		}
	}
	return false;
}

/* First in the broker's list (plugins register before acl_file): refuses the
 * forgeries above and defers everything else. */
static int on_acl_check(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_acl_check *ed = event_data;
	const char *client_id;
	(void)event; (void)userdata;

	if(ed->access != MOSQ_ACL_WRITE || !nguards) return MOSQ_ERR_PLUGIN_DEFER;
	client_id = mosquitto_client_id(ed->client);
	if(has_prefix(client_id, config.client_id_prefix)) return MOSQ_ERR_PLUGIN_DEFER;
	if(is_bridge_username(mosquitto_client_username(ed->client))) return MOSQ_ERR_PLUGIN_DEFER;
	if(!forged(ed)) return MOSQ_ERR_PLUGIN_DEFER;
	LOG_N("denied %s's publish on %s: only the gateway writes that",
			client_id ? client_id : "(no id)", ed->topic);
	return MOSQ_ERR_ACL_DENIED;
}

/* Last in the list: reached only when every other ACL callback deferred.
 * Registering on_acl_check must not turn an install without ACLs into one
 * that denies everything (Mosquitto denies when all callbacks defer), so with
 * no other plugin loaded this answers as the broker would without plugins:
 * allow. With another plugin (dynamic-security, a legacy auth plugin) it
 * defers, and the broker's verdict is what it was. acl_file's callback never
 * defers, so with an acl_file this is not reached. */
static int on_acl_fallback(int event, void *event_data, void *userdata)
{
	(void)event; (void)event_data; (void)userdata;
	return fallback_allows ? MOSQ_ERR_SUCCESS : MOSQ_ERR_PLUGIN_DEFER;
}

static int other_plugin_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	static const char *entry[] = {"mosquitto_plugin_version", "mosquitto_auth_plugin_version"};
	Dl_info self, where;
	void *h;
	(void)size;

	if(!info->dlpi_name || !info->dlpi_name[0]) return 0;
	if(!dladdr((void *)&on_acl_check, &self) || (uintptr_t)self.dli_fbase == (uintptr_t)info->dlpi_addr) return 0;
	h = dlopen(info->dlpi_name, RTLD_LAZY | RTLD_NOLOAD);
	if(!h) return 0;
	for(int i = 0; i < 2; i++){
		void *sym = dlsym(h, entry[i]);
		/* defined in this object itself, not found in one of its dependencies */
		if(sym && dladdr(sym, &where) && (uintptr_t)where.dli_fbase == (uintptr_t)info->dlpi_addr){
			*(const char **)data = info->dlpi_name;
		}
	}
	dlclose(h);
	return *(const char **)data != NULL;
}

static void fallback_register(void)
{
	const char *other = NULL;

	dl_iterate_phdr(other_plugin_cb, &other);
	fallback_allows = other == NULL;
	if(!fallback_registered && !mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_fallback, NULL, NULL)){
		fallback_registered = true;
	}
	if(other) LOG_I("another plugin is loaded (%s): its ACLs decide what the gateway's do not", other);
}

/* SIGHUP: the broker unregisters acl_file's callback and registers it again
 * after this; the fallback must move behind it at the next tick. The TLS
 * certificate is read again. */
static int on_reload(int event, void *event_data, void *userdata)
{
	(void)event; (void)event_data; (void)userdata;
	if(fallback_registered){
		mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_fallback, NULL);
		fallback_registered = false;
	}
	fallback_pending = true;
	transport_tls_reload(&gateway);
	return MOSQ_ERR_SUCCESS;
}

static int on_tick(int event, void *event_data, void *userdata)
{
	(void)event; (void)event_data; (void)userdata;
	if(fallback_pending){
		fallback_pending = false;
		fallback_register();
	}
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
	if(acl_registered) mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
	if(fallback_registered) mosquitto_callback_unregister(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_fallback, NULL);
	if(reload_registered) mosquitto_callback_unregister(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL);
	tick_registered = auth_registered = acl_registered = fallback_registered = reload_registered = false;
	fallback_pending = false;
	guards_free();
	wsgw_log_cleanup();
	config_free(&config);
	memset(&gateway, 0, sizeof(gateway));
}

WSGW_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **user_data,
		struct mosquitto_opt *opts, int opt_count)
{
	const struct wsgw_dialect_conf *confs[WSGW_DIALECTS_MAX];
	char err[512];

	(void)user_data;
	plugin_id = identifier;
	wsgw_log_init();
	memset(&gateway, 0, sizeof(gateway));
	for(size_t i = 0; i < wsgw_ndialects; i++) confs[i] = wsgw_dialects[i]->conf;
	if(config_init(&config, confs, wsgw_ndialects)) return MOSQ_ERR_NOMEM;
	for(int i = 0; i < opt_count; i++){
		if(config_set(&config, opts[i].key, opts[i].value, err, sizeof(err))) goto bad_config;
	}
	if(config_finish(&config, err, sizeof(err))) goto bad_config;
	if(wsgw_auth_init()){
		LOG_E("no random source for the session secret");
		goto error;
	}

	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH, on_basic_auth, NULL, NULL)) goto error;
	auth_registered = true;
	if(guards_init()){
		mosquitto_log_printf(MOSQ_LOG_ERR, "wsgw: out of memory");
		goto error;
	}
	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL)) goto error;
	acl_registered = true;
	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_RELOAD, on_reload, NULL, NULL)) goto error;
	reload_registered = true;
	fallback_pending = true;   /* at the first tick: after acl_file's callback */
	if(mosquitto_callback_register(plugin_id, MOSQ_EVT_TICK, on_tick, NULL, NULL)) goto error;
	tick_registered = true;

	gateway.cfg = &config;
	if(gw_start(&gateway)) goto error;
	/* "wsgw <version>: listening on" in it is what test_core_conn.py reads the
	 * bound address from */
	LOG_I("mosquitto_wsgw %s: listening on %s, broker via %s, gateway id %s, boot %s",
			WSGW_VERSION, gateway.listen_desc,
			config.broker_socket ? config.broker_socket : config.broker_host,
			config.gateway_id, gateway.boot_id);
	return MOSQ_ERR_SUCCESS;

bad_config:
	LOG_E("%s", err);
error:
	LOG_E("not started; the broker will not run half-configured");
	unwind();
	return MOSQ_ERR_INVAL;
}

WSGW_EXPORT int mosquitto_plugin_cleanup(void *user_data, struct mosquitto_opt *opts, int opt_count)
{
	(void)user_data; (void)opts; (void)opt_count;
	unwind();
	return MOSQ_ERR_SUCCESS;
}
