/* mapping/wsdo_proto.c, websockets.do: what browsers and scripts send. The
 * first byte picks the entry point:
 *   0  a client text frame (wsdo_parse_client)
 *   1  an emit request (wsdo_emit_parse): "key=value" lines (as http_query
 *      hands them over, already decoded), an empty line, then the body; the
 *      second byte's low bit says POST
 *   2  a path below the mount (wsdo_route) */
#include "fuzz.h"
#include "topic.h"
#include "wsdo_proto.h"

#define QUERY_MAX 16   /* plugin/wsdo.c's limit */

static void client_frame(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct wsdo_cframe f;
	const char *msg = NULL, *code = wsdo_parse_client(buf, size, &f, &msg);

	if(code) FUZZ_CHECK(msg && *msg);
	else if(f.type == WSDO_C_ACK) FUZZ_CHECK(f.event_id != NULL);
	else if(f.type == WSDO_C_PRESENCE) FUZZ_CHECK(json_is_object(f.presence));
	wsdo_cframe_clear(&f);
	free(buf);
}

static void emit(const uint8_t *data, size_t size)
{
	struct wsdo_kv kv[QUERY_MAX];
	char *lines[QUERY_MAX];
	size_t nq = 0;
	bool is_post = size && (data[0] & 1);
	const uint8_t *piece, *body = NULL;
	size_t plen, blen = 0;
	struct wsdo_emit e;
	const char *code = NULL, *msg = NULL;
	char *b;
	int st;

	if(size){
		data++;
		size--;
	}
	while(fuzz_split(&data, &size, '\n', &piece, &plen)){
		char *eq;
		if(plen == 0 || nq == QUERY_MAX){
			body = data;
			blen = size;
			break;
		}
		lines[nq] = fuzz_cstr(piece, plen);
		eq = strchr(lines[nq], '=');
		if(eq) *eq = '\0';
		kv[nq].key = lines[nq];
		kv[nq].value = eq ? eq + 1 : "";
		nq++;
	}
	b = fuzz_copy(body ? body : (const uint8_t *)"", blen);
	st = wsdo_emit_parse(kv, nq, is_post, b, blen, &e, &code, &msg);
	if(st){
		FUZZ_CHECK(st == 400 || st == 413);
		FUZZ_CHECK(code && msg && *msg);
	}else{
		FUZZ_CHECK(e.payload != NULL);
		FUZZ_CHECK(e.clients_n <= WSDO_CLIENTS_MAX);
		for(size_t i = 0; i < e.nids; i++) FUZZ_CHECK(e.ids[i] != NULL);
		wsdo_emit_clear(&e);
	}
	free(b);
	for(size_t i = 0; i < nq; i++) free(lines[i]);
}

static void route(const uint8_t *data, size_t size)
{
	char *path = fuzz_cstr(data, size), *channel = NULL;
	enum wsdo_route r = wsdo_route(path, &channel);

	if(r == WSDO_ROUTE_NONE) FUZZ_CHECK(channel == NULL);
	if(channel) FUZZ_CHECK(topic_channel_valid(channel));
	free(channel);
	free(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if(size < 1) return 0;
	switch(data[0] % 3){
	case 0: client_frame(data + 1, size - 1); break;
	case 1: emit(data + 1, size - 1); break;
	default: route(data + 1, size - 1); break;
	}
	return 0;
}
