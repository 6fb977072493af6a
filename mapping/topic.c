/* Topic mapping: see topic.h. */
#include "topic.h"
#include "jsonutil.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool topic_channel_valid(const char *name)
{
	size_t len;
	if(!name) return false;
	len = strlen(name);
	if(len == 0 || len > WSGW_CHANNEL_MAX || name[0] == '$') return false;
	if(strpbrk(name, "/+#")) return false;
	return jsonutil_topic_text_ok(name, len);
}

bool topic_level_valid(const char *s)
{
	return s && s[0] && !strpbrk(s, "/+#") && jsonutil_topic_text_ok(s, strlen(s));
}

bool topic_prefix_valid(const char *prefix)
{
	size_t len;
	if(!prefix) return false;
	len = strlen(prefix);
	if(len == 0) return true;
	if(prefix[0] == '/' || prefix[len-1] == '/' || strstr(prefix, "//")) return false;
	if(strpbrk(prefix, "+#")) return false;
	return jsonutil_topic_text_ok(prefix, len);
}

char *topic_join(const char *first, ...)
{
	va_list ap;
	size_t total = 0;
	const char *p;
	char *out, *w;

	va_start(ap, first);
	for(p = first; p; p = va_arg(ap, const char *)){
		if(*p) total += strlen(p) + 1;
	}
	va_end(ap);

	out = malloc(total ? total : 1);
	if(!out) return NULL;
	w = out;
	*w = '\0';
	va_start(ap, first);
	for(p = first; p; p = va_arg(ap, const char *)){
		size_t n;
		if(!*p) continue;
		if(w != out) *w++ = '/';
		n = strlen(p);
		memcpy(w, p, n);
		w += n;
	}
	va_end(ap);
	*w = '\0';
	return out;
}

bool topic_presence_split(const char *presence_prefix, const char *topic,
		char **key, const char **member)
{
	size_t plen = strlen(presence_prefix);
	const char *rest, *last;

	*key = NULL;
	*member = NULL;
	if(plen){
		if(strncmp(topic, presence_prefix, plen) != 0 || topic[plen] != '/') return false;
		rest = topic + plen + 1;
	}else{
		rest = topic;
	}
	last = strrchr(rest, '/');
	if(!last || last == rest || last[1] == '\0') return false;
	*key = strndup(rest, (size_t)(last - rest));
	if(!*key) return false;
	*member = last + 1;
	return true;
}

void topic_slot_tag(const char *gateway_id, char tag[TOPIC_SLOT_TAG_LEN + 1])
{
	uint64_t h = 14695981039346656037ull;   /* FNV-1a 64 */

	for(const char *p = gateway_id; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ull;
	snprintf(tag, TOPIC_SLOT_TAG_LEN + 1, "%012llx", (unsigned long long)(h >> 16));
}

void topic_slot_level(char *out, size_t outlen, const char *tag, int n)
{
	snprintf(out, outlen, "%s-%d", tag, n);
}

int topic_slot_number(const char *level, const char *tag)
{
	const char *p;
	long n = 0;

	if(tag ? strncmp(level, tag, TOPIC_SLOT_TAG_LEN) != 0
			: strspn(level, "0123456789abcdef") < TOPIC_SLOT_TAG_LEN) return -1;
	p = level + TOPIC_SLOT_TAG_LEN;
	if(*p++ != '-' || !*p || strspn(p, "0123456789") != strlen(p)) return -1;
	for(; *p; p++){
		n = n * 10 + (*p - '0');
		if(n > INT_MAX) return -1;
	}
	return (int)n;
}
