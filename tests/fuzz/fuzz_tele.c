/* mapping/tele_proto.c, Telegraphy: what clients send. The first byte picks
 * the entry point:
 *   0  a management message (tele_parse); its filters, when it has some, are
 *      matched against the rest of the input as event data
 *   1  an event name (tele_event_path) and back (tele_event_name)
 *   2  an MQTT path below the root (tele_event_name)
 *   3  filters and event data: two JSON texts split at the first NUL byte
 *      (tele_filters_valid, _match, _equal) */
#include "fuzz.h"
#include "jsonutil.h"
#include "tele_proto.h"

static void filters(json_t *f, json_t *data)
{
	if(!tele_filters_valid(f)) return;
	tele_filters_match(f, data);
	FUZZ_CHECK(tele_filters_equal(f, f));
}

static void message(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct tele_request r;
	const char *msg = NULL, *st = tele_parse(buf, size, &r, &msg);

	if(st) FUZZ_CHECK(msg && *msg);
	else{
		if(r.kind == TELE_SUBSCRIBE || r.kind == TELE_UNSUBSCRIBE){
			bool w;
			char *p;
			FUZZ_CHECK(r.event != NULL);
			p = tele_event_path(r.event, &w);
			free(p);
		}
		if(r.filters) filters(r.filters, r.root);
	}
	tele_request_clear(&r);
	free(buf);
}

static void name(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	bool w = false;
	char *path = tele_event_path(s, &w);

	if(path){
		char *back = tele_event_name(path);
		/* a name without wildcards maps back to itself, and to a topic the
		 * broker takes */
		FUZZ_CHECK(jsonutil_topic_text_ok(path, strlen(path)));
		if(!w) FUZZ_CHECK(back && !strcmp(back, s) && !strpbrk(path, "+#"));
		free(back);
	}
	free(path);
	free(s);
}

static void path(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	free(tele_event_name(s));
	free(s);
}

static void filter_pair(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t flen = nul ? (size_t)(nul - data) : size;
	json_t *f = jsonutil_parse(data, flen, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL, 0);
	json_t *d = nul ? jsonutil_parse(nul + 1, size - flen - 1, JSON_DECODE_ANY, NULL, 0) : NULL;

	if(f){
		filters(f, d);
		if(d) tele_filters_equal(f, d);
	}
	json_decref(d);
	json_decref(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if(size < 1) return 0;
	switch(data[0] % 4){
	case 0: message(data + 1, size - 1); break;
	case 1: name(data + 1, size - 1); break;
	case 2: path(data + 1, size - 1); break;
	default: filter_pair(data + 1, size - 1); break;
	}
	return 0;
}
