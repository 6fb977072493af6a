/* Tagged log lines. mosquitto_log_printf is not safe to call off the broker
 * thread, so the gateway thread's lines are queued here (bounded) and printed
 * on MOSQ_EVT_TICK; the broker thread's (start-up, the broker callbacks) are
 * printed at once. */
#include "log.h"

#include <mosquitto.h>          /* MOSQ_LOG_* */
#include <mosquitto_broker.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(WSGW_LOG_INFO == MOSQ_LOG_INFO && WSGW_LOG_NOTICE == MOSQ_LOG_NOTICE
		&& WSGW_LOG_WARNING == MOSQ_LOG_WARNING && WSGW_LOG_ERR == MOSQ_LOG_ERR
		&& WSGW_LOG_DEBUG == MOSQ_LOG_DEBUG, "log.h levels are the broker's");

#define LOG_QUEUE_MAX 1000
#define LOG_LINE_MAX 512       /* the text, after "wsgw[tag]: " */

struct log_line {
	struct log_line *next;
	int level;
	char text[];
};

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct log_line *log_head, *log_tail;
static unsigned log_count, log_dropped;
static pthread_t broker_thread;
static bool broker_thread_known;   /* written before the gateway thread starts */

void wsgw_log_init(void)
{
	broker_thread = pthread_self();
	broker_thread_known = true;
}

void wsgw_log_tag(int level, const char *tag, const char *fmt, ...)
{
	char buf[LOG_LINE_MAX + 32];
	va_list ap;
	struct log_line *line;
	size_t n;
	int h;

	h = snprintf(buf, 32, "wsgw[%.20s]: ", tag);
	va_start(ap, fmt);
	vsnprintf(buf + h, LOG_LINE_MAX, fmt, ap);
	va_end(ap);
	if(broker_thread_known && pthread_equal(pthread_self(), broker_thread)){
		mosquitto_log_printf(level, "%s", buf);
		return;
	}
	n = strlen(buf);

	pthread_mutex_lock(&log_mutex);
	if(log_count >= LOG_QUEUE_MAX){
		log_dropped++;
		pthread_mutex_unlock(&log_mutex);
		return;
	}
	line = malloc(sizeof(*line) + n + 1);
	if(line){
		line->next = NULL;
		line->level = level;
		memcpy(line->text, buf, n + 1);
		if(log_tail) log_tail->next = line;
		else log_head = line;
		log_tail = line;
		log_count++;
	}
	pthread_mutex_unlock(&log_mutex);
}

void wsgw_log_drain(void)
{
	struct log_line *list, *next;
	unsigned dropped;

	pthread_mutex_lock(&log_mutex);
	list = log_head;
	log_head = log_tail = NULL;
	log_count = 0;
	dropped = log_dropped;
	log_dropped = 0;
	pthread_mutex_unlock(&log_mutex);

	for(; list; list = next){
		next = list->next;
		mosquitto_log_printf(list->level, "%s", list->text);
		free(list);
	}
	if(dropped){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "wsgw[log]: %u log lines dropped (queue full)", dropped);
	}
}

void wsgw_log_cleanup(void)
{
	wsgw_log_drain();
	broker_thread_known = false;
}
