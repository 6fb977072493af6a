/* log.c: tagged log lines from any thread. A .c file that logs defines its
 * tag before it includes this header (directly or through wsgw.h):
 *
 *     #define LOG_TAG "core"
 *     #include "wsgw.h"
 *     ...
 *     LOG_W("core session lost (%s); reconnecting", why);
 *
 * and the broker's log shows "wsgw[core]: core session lost (...); ...".
 * On the broker thread a line is printed at once; from the gateway thread it
 * is queued (bounded) and printed at the broker's next tick, since
 * mosquitto_log_printf is not safe off the broker thread. */
#ifndef WSGW_LOG_H
#define WSGW_LOG_H

/* The broker's levels (MOSQ_LOG_*, checked in log.c), so that this header
 * needs no broker header. */
#define WSGW_LOG_INFO    0x01
#define WSGW_LOG_NOTICE  0x02
#define WSGW_LOG_WARNING 0x04
#define WSGW_LOG_ERR     0x08
#define WSGW_LOG_DEBUG   0x10

#define LOG_E(...) wsgw_log_tag(WSGW_LOG_ERR, LOG_TAG, __VA_ARGS__)
#define LOG_W(...) wsgw_log_tag(WSGW_LOG_WARNING, LOG_TAG, __VA_ARGS__)
#define LOG_N(...) wsgw_log_tag(WSGW_LOG_NOTICE, LOG_TAG, __VA_ARGS__)
#define LOG_I(...) wsgw_log_tag(WSGW_LOG_INFO, LOG_TAG, __VA_ARGS__)
#define LOG_D(...) wsgw_log_tag(WSGW_LOG_DEBUG, LOG_TAG, __VA_ARGS__)

void wsgw_log_tag(int level, const char *tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Broker thread, before anything logs: lines of this thread print at once. */
void wsgw_log_init(void);
void wsgw_log_drain(void);   /* broker thread only */
void wsgw_log_cleanup(void);

#endif
