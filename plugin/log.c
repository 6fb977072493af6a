/* Logging from the gateway thread. mosquitto_log_printf is not safe to call
 * off the broker thread, so lines are queued here (bounded) and printed on
 * MOSQ_EVT_TICK, or directly when already on the broker thread at start-up. */
#include "wsgw.h"

#include <mosquitto_broker.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_QUEUE_MAX 1000

struct log_line {
	struct log_line *next;
	int level;
	char text[];
};

static pthread_mutex_t log_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct log_line *log_head, *log_tail;
static unsigned log_count, log_dropped;

void wsgw_log(int level, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	struct log_line *line;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
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
		mosquitto_log_printf(list->level, "wsgw: %s", list->text);
		free(list);
	}
	if(dropped){
		mosquitto_log_printf(MOSQ_LOG_WARNING, "wsgw: %u log lines dropped (queue full)", dropped);
	}
}

void wsgw_log_cleanup(void)
{
	wsgw_log_drain();
}
