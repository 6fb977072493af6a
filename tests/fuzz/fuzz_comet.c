/* mapping/comet_proto.c, Comet: what browsers, services and the broker send.
 * The first byte picks the entry point:
 *   0  an uplink frame (comet_parse_uplink)
 *   1  an HTTP API body (comet_parse_request); the second byte picks the route
 *   2  an Event from MQTT (comet_parse_event)
 *   3  an MQTT payload as an evt (comet_evt_from_payload, comet_json_valid,
 *      comet_json_member)
 *   4  a claim from MQTT (comet_claim_parse)
 *   5  an Authorization header (comet_bearer) and a token's claims
 *      (comet_jwt_is_service)
 *   6  a path below the mount (comet_route) */
#include "fuzz.h"
#include "comet_proto.h"
#include "jsonutil.h"
#include "topic.h"

static void uplink(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct comet_uplink u;
	const char *msg = NULL, *code = comet_parse_uplink(buf, size, &u, &msg);

	if(code) FUZZ_CHECK(msg && *msg);
	else{
		FUZZ_CHECK(u.t >= COMET_HB && u.t <= COMET_PUSH);
		/* the room becomes a topic level */
		if(u.has_join) FUZZ_CHECK(u.rid && (!*u.rid || (topic_level_valid(u.rid)
				&& jsonutil_topic_text_ok(u.rid, strlen(u.rid)))));
		comet_uplink_clear(&u);
	}
	free(buf);
}

static void evt_checks(const struct comet_req *r)
{
	if(!r->evt) return;
	FUZZ_CHECK(strlen(r->evt) == r->evt_len);
	FUZZ_CHECK(comet_json_valid(r->evt, r->evt_len));
}

static void request(const uint8_t *data, size_t size)
{
	static const enum comet_route routes[] = {COMET_ROUTE_SUBSCRIBE, COMET_ROUTE_PUBLISH,
		COMET_ROUTE_BROADCAST, COMET_ROUTE_DUMP};
	enum comet_route rt;
	char *buf;
	struct comet_req r;
	const char *code = NULL, *msg = NULL;
	int st;

	if(size < 1) return;
	rt = routes[data[0] % 4];
	buf = fuzz_copy(data + 1, size - 1);
	st = comet_parse_request(rt, buf, size - 1, &r, &code, &msg);
	if(st) FUZZ_CHECK(st == 400 && code && msg && *msg);
	else{
		if(r.uid) FUZZ_CHECK(rt == COMET_ROUTE_PUBLISH ? topic_channel_valid(r.uid) : !*r.uid || topic_channel_valid(r.uid));
		if(r.rid && *r.rid) FUZZ_CHECK(topic_level_valid(r.rid) && jsonutil_topic_text_ok(r.rid, strlen(r.rid)));
		evt_checks(&r);
		comet_req_clear(&r);
	}
	free(buf);
}

static void event(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct comet_req r;
	const char *msg = NULL;

	if(comet_parse_event(buf, size, &r, &msg) == 0){
		FUZZ_CHECK(r.uid && r.rid);
		evt_checks(&r);
		comet_req_clear(&r);
	}else FUZZ_CHECK(msg && *msg);
	free(buf);
}

static void payload(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	size_t n = 0, off, vlen;
	char *evt = comet_evt_from_payload(buf, size, &n);

	if(evt){
		FUZZ_CHECK(strlen(evt) == n && comet_json_valid(evt, n));
		if(comet_json_member(evt, n, "t", &off, &vlen)) FUZZ_CHECK(off + vlen <= n);
		if(comet_json_member(evt, n, "evt", &off, &vlen)){
			FUZZ_CHECK(off + vlen <= n);
			FUZZ_CHECK(comet_json_valid(evt + off, vlen));
		}
		free(evt);
	}
	if(comet_json_valid(buf, size) && comet_json_member(buf, size, "uid", &off, &vlen))
		FUZZ_CHECK(off + vlen <= size);
	free(buf);
}

static void claim(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct comet_claim c;

	if(comet_claim_parse(buf, size, &c) == 0){
		/* what a gateway builds from a claim reads back the same */
		struct comet_claim again;
		char *text;
		FUZZ_CHECK(c.uid && c.gateway && c.boot && c.nonce);
		text = comet_claim_build(c.uid, c.gateway, c.boot, c.birth_ms, c.nonce);
		FUZZ_CHECK(text && comet_claim_parse(text, strlen(text), &again) == 0);
		FUZZ_CHECK(!strcmp(again.uid, c.uid) && !strcmp(again.gateway, c.gateway)
				&& !strcmp(again.boot, c.boot) && !strcmp(again.nonce, c.nonce)
				&& again.birth_ms == c.birth_ms);
		comet_claim_clear(&again);
		free(text);
		comet_claim_clear(&c);
	}
	free(buf);
}

static void bearer(const uint8_t *data, size_t size)
{
	char *h = fuzz_cstr(data, size), *tok = comet_bearer(h);

	if(tok){
		FUZZ_CHECK(tok >= h && tok <= h + strlen(h));
		comet_jwt_is_service(tok);
	}
	comet_jwt_is_service(h);
	free(h);
}

static void route(const uint8_t *data, size_t size)
{
	char *p = fuzz_cstr(data, size);
	comet_route(p);
	free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if(size < 1) return 0;
	switch(data[0] % 7){
	case 0: uplink(data + 1, size - 1); break;
	case 1: request(data + 1, size - 1); break;
	case 2: event(data + 1, size - 1); break;
	case 3: payload(data + 1, size - 1); break;
	case 4: claim(data + 1, size - 1); break;
	case 5: bearer(data + 1, size - 1); break;
	default: route(data + 1, size - 1); break;
	}
	return 0;
}
