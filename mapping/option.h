/* Option tables: the plugin_opt_* options as data, read by one loop in
 * plugin/config.c. The core's table is in config.c; each dialect's config
 * struct and table are in its mapping file, described by a struct
 * wsgw_dialect_conf that its struct wsgw_dialect points to. Pure data. */
#ifndef WSGW_OPTION_H
#define WSGW_OPTION_H

#include <stdbool.h>
#include <stddef.h>

enum wsgw_opt_type {
	WSGW_OPT_BOOL,       /* bool: "true" or "false" */
	WSGW_OPT_INT,        /* int: a whole number from min to max */
	WSGW_OPT_LONG,       /* long: a whole number from min to max */
	WSGW_OPT_DOUBLE,     /* double: a number from min to max */
	WSGW_OPT_STRING,     /* char *: not empty */
	WSGW_OPT_PREFIX,     /* char *: a topic prefix (topic_prefix_valid) */
	WSGW_OPT_LEVEL,      /* char *: one topic level (topic_level_valid) */
	WSGW_OPT_MOUNT,      /* char *: a path from '/', no "//", no trailing '/' */
	WSGW_OPT_PATH,       /* char *: a path as for MOUNT, or "off": NULL (mosquitto refuses empty values) */
	WSGW_OPT_LIST,       /* char **: NULL-terminated; commas, spaces and tabs separate; none = NULL */
};

struct wsgw_option {
	const char *name;          /* a dialect's without its "<dialect>_" prefix */
	enum wsgw_opt_type type;
	size_t offset;             /* of the field in its owner's config struct */
	double min, max;           /* numbers */
	const char *dflt;          /* as in a config file; NULL = none (0, false, NULL) */
};

/* Topics only gateways write, refused to everyone else by plugin.c's ACL
 * guard (docs/SECURITY.md): <topic_prefix or presence_prefix>/<the dialect's
 * root option>/<tail>. */
enum wsgw_guard_kind {
	WSGW_GUARD_ALL,            /* every write */
	WSGW_GUARD_MEMBER,         /* a presence entry of a gateway member id or slot (its last level or its clientID) */
	WSGW_GUARD_SLOT,           /* a write on a gateway's presence slot (the last level) */
	WSGW_GUARD_ACK,            /* a payload whose clientID is a gateway member id */
};

struct wsgw_guard {
	enum wsgw_guard_kind kind;
	bool presence;             /* below presence_prefix (no guard while it is empty), else topic_prefix */
	const char *tail;          /* NULL ends a list */
};

/* A dialect's options, plugin_opt_<name>_<option>. <name>_enable and
 * <name>_mount are the core's (config.c), with the defaults given here; the
 * rest fill the dialect's own config struct of size bytes. */
struct wsgw_dialect_conf {
	const char *name;
	const char *mount;         /* default of <name>_mount */
	bool enable;               /* default of <name>_enable */
	const struct wsgw_option *options;
	size_t noptions;
	size_t size;
	/* After every option is set (config_finish): cross-option rules. 0, or
	 * -1 with a sentence naming the options in err. NULL: none. */
	int (*check)(void *conf, char *err, size_t errlen);
	/* Options named by a pattern (op_provider_<name>); key is what follows
	 * "<name>_". 0; -ENOENT if key is none of them; -1 with a sentence in
	 * err. NULL: none. */
	int (*set_extra)(void *conf, const char *key, const char *value, char *err, size_t errlen);
	void (*free_extra)(void *conf);   /* what set_extra allocated */
	/* True if its WebSocket clients ride shared broker sessions (mux.c):
	 * one descriptor each instead of three (gateway.c's budget). NULL: never. */
	bool (*shares_sessions)(const void *conf);
	/* For the ACL guard: the member ids its clients get (NULL: none the
	 * gateway hands out), the offset of its root option (a char *), and
	 * the topics below it only gateways write (NULL: none). */
	const char *member_prefix;
	size_t root;
	const struct wsgw_guard *guards;
};

#endif
