/* mapping/content_proto.c, the content sync dialect: what clients, devices
 * and option files hand it. The first byte picks the entry point:
 *   0  a client frame (content_parse), then the replies built from it
 *   1  a topic (content_topic_parse): prefix, root and topic, NUL-separated
 *   2  the text of a wsgw-ver user property (content_ver_from_text)
 *   3  children for a page (content_page): a JSON array of [key, summary,
 *      connected]; the next byte picks the view and the page size
 *   4  a history ring (content_hist_*) driven by the bytes: each one a push,
 *      a pop, a reset or a query
 *   5  a login template and a username (content_template_key), NUL-separated */
#include "content_proto.h"
#include "fuzz.h"
#include "jsonpatch.h"
#include "jsonutil.h"

/* A key survives the trip through JSON, its levels and its topic. */
static void key_round_trip(const struct content_key *k)
{
	struct content_key k2, k3, child;
	json_t *j = content_key_json(k);
	const char *why;
	char *t;

	FUZZ_CHECK(j != NULL);
	FUZZ_CHECK(content_key_parse(j, &k2, &why) == 0 && content_key_equal(k, &k2));
	json_decref(j);
	FUZZ_CHECK(content_key_from_levels(k->type, k->id, &k3) == 0 && content_key_equal(k, &k3));
	t = content_doc_topic("wsgw", "content", k);
	FUZZ_CHECK(t && content_topic_parse("wsgw", "content", t, &k2, &child) == CONTENT_TOPIC_DOC);
	FUZZ_CHECK(content_key_equal(k, &k2));
	FUZZ_CHECK(!strpbrk(t, "+#") && jsonutil_topic_text_ok(t, strlen(t)));
	free(t);
	t = content_link_topic("", "c", k, k);
	FUZZ_CHECK(t && content_topic_parse("", "c", t, &k2, &child) == CONTENT_TOPIC_LINK);
	FUZZ_CHECK(content_key_equal(k, &k2) && content_key_equal(k, &child));
	free(t);
}

static void ver_round_trip(const struct content_ver *v)
{
	struct content_ver v2;
	char *t = content_ver_text(v);

	FUZZ_CHECK(t != NULL);
	FUZZ_CHECK(content_ver_from_text(t, strlen(t), &v2) == 0 && content_ver_equal(v, &v2));
	free(t);
}

static void frame(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size), *out;
	struct content_request r;
	const char *msg = NULL;
	int code = content_parse(buf, size, 2048, &r, &msg);

	if(code){
		/* every refusal is in the table and has a message */
		FUZZ_CHECK(msg && *msg);
		FUZZ_CHECK(content_error_msg(code) != NULL);
		out = content_error(r.cls_name, r.id, code, msg);
		FUZZ_CHECK(out != NULL);
		free(out);
	}else{
		FUZZ_CHECK(r.id && r.cls_name && !strcmp(r.cls_name, content_cls_name(r.cls)));
		if(r.cls >= CONTENT_GET_CONTENT) key_round_trip(&r.key);
		if(r.has_ver) ver_round_trip(&r.ver);
		if(r.cls == CONTENT_LOGIN) FUZZ_CHECK(r.username && *r.username && r.password);
		if(r.cls == CONTENT_GET_CHILDREN) FUZZ_CHECK(r.page >= 1);
		if(r.cls == CONTENT_ADD_CHILD){
			struct content_key k;
			FUZZ_CHECK(json_is_object(r.obj) && content_key_from_levels(r.child_type, "1", &k) == 0);
		}
		if(r.cls == CONTENT_PATCH_CONTENT){
			/* a patch applies or fails with a code of the table */
			json_t *doc = json_pack("{s:s,s:[i,i],s:{s:b}}", "a", "x", "list", 1, 2, "o", "k", 1), *res;
			struct jsonpatch_error err;
			struct jsonpatch_limits lim = {100, 16, 1000};
			FUZZ_CHECK(json_is_array(r.patch));
			res = jsonpatch_apply(doc, r.patch, &lim, &err);
			if(!res) FUZZ_CHECK(content_error_msg(content_patch_code(&err)) != NULL);
			json_decref(res);
			json_decref(doc);
		}
		out = content_result(r.cls_name, r.id, 200, json_incref(r.data));
		FUZZ_CHECK(out != NULL);
		free(out);
	}
	content_request_clear(&r);
	free(buf);
}

static void topic(const uint8_t *data, size_t size)
{
	const uint8_t *piece;
	size_t plen;
	char *part[3] = {NULL, NULL, NULL};
	struct content_key k, child;
	enum content_topic_kind kind;

	for(int i = 0; i < 3; i++){
		if(!fuzz_split(&data, &size, 0, &piece, &plen)) piece = (const uint8_t *)"", plen = 0;
		part[i] = fuzz_cstr(piece, plen);
	}
	kind = content_topic_parse(part[0], part[1], part[2], &k, &child);
	if(kind != CONTENT_TOPIC_NONE){
		/* a topic it takes apart is the one its builders make */
		char *t = kind == CONTENT_TOPIC_DOC ? content_doc_topic(part[0], part[1], &k)
				: content_link_topic(part[0], part[1], &k, &child);
		FUZZ_CHECK(t && !strcmp(t, part[2]));
		free(t);
		key_round_trip(&k);
		if(kind == CONTENT_TOPIC_LINK) key_round_trip(&child);
	}
	for(int i = 0; i < 3; i++) free(part[i]);
}

static void ver_text(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct content_ver v;

	if(!content_ver_from_text(buf, size, &v)){
		FUZZ_CHECK(v.n >= 0 && v.n <= CONTENT_ID_INT_MAX && v.origin[0]);
		ver_round_trip(&v);
	}
	free(buf);
}

static void page(const uint8_t *data, size_t size)
{
	struct content_entry e[64];
	size_t n = 0, i, seen = 0;
	json_t *in, *item;
	enum content_view view;
	long psize;

	if(size < 1) return;
	view = (enum content_view)(data[0] % 5);
	psize = 1 + data[0] / 5 % 8;
	in = jsonutil_parse(data + 1, size - 1, JSON_REJECT_DUPLICATES, NULL, 0);
	json_array_foreach(in, i, item){
		const char *why;
		if(n == 64) break;
		if(content_key_parse(json_array_get(item, 0), &e[n].key, &why)) continue;
		e[n].summary = json_is_object(json_array_get(item, 1)) ? json_array_get(item, 1) : NULL;
		e[n].connected = json_is_true(json_array_get(item, 2));
		n++;
	}
	/* the pages cover every child once, in a stable order */
	for(long p = 1; ; p++){
		struct content_ver v, v2;
		json_t *pg = content_page(e, n, view, "display_name", "user", p, psize, &v);
		json_t *again = content_page(e, n, view, "display_name", "user", p, psize, &v2);
		FUZZ_CHECK(pg && again && json_equal(pg, again) && content_ver_equal(&v, &v2));
		FUZZ_CHECK(json_array_size(pg) <= (size_t)psize);
		json_array_foreach(pg, i, item) FUZZ_CHECK(json_is_object(json_object_get(item, "key")));
		seen += json_array_size(pg);
		json_decref(again);
		if(!json_array_size(pg)){
			json_decref(pg);
			break;
		}
		json_decref(pg);
	}
	FUZZ_CHECK(seen == n);
	json_decref(in);
}

/* Documents {"n": k}; the change to k is a replace of /n, ver ["a", k]. */
static void hist(const uint8_t *data, size_t size)
{
	struct content_hist h;
	struct content_ver cur, prev[64];
	size_t depth = 0;

	if(size < 1) return;
	FUZZ_CHECK(content_hist_init(&h, data[0] % 8) == 0);
	content_ver_make(&cur, "a", 0);
	for(size_t i = 1; i < size; i++){
		uint8_t b = data[i];
		struct content_ver to, from;
		json_t *p;
		switch(b % 4){
		case 0:
		case 1:   /* a change to n = b / 4 */
			if(depth == 64){   /* the model's memory is full: start again */
				content_hist_reset(&h);
				depth = 0;
			}
			content_ver_make(&to, "a", b / 4);
			p = json_pack("[{s:s,s:s,s:i}]", "op", "replace", "path", "/n", "value", b / 4);
			FUZZ_CHECK(content_hist_push(&h, &cur, &to, p) == 0);
			prev[depth++] = cur;
			cur = to;
			break;
		case 2:   /* the newest change refused: back to its from */
			content_hist_pop(&h);
			if(depth) cur = prev[--depth];
			break;
		case 3:   /* a query from n = b / 4 */
			content_ver_make(&from, "a", b / 4);
			p = content_hist_patch(&h, &from, &cur, (b & 0x80) ? 60 : 0);
			if(p){
				json_t *doc = json_pack("{s:I}", "n", (json_int_t)from.n), *res;
				char *t = json_dumps(p, JSON_COMPACT);
				if(b & 0x80) FUZZ_CHECK(strlen(t) < 60);
				free(t);
				res = jsonpatch_apply(doc, p, NULL, NULL);
				FUZZ_CHECK(res && json_integer_value(json_object_get(res, "n")) == cur.n);
				json_decref(res);
				json_decref(doc);
				json_decref(p);
			}
			if(b == 0xff){
				content_hist_reset(&h);
				depth = 0;
			}
			break;
		}
	}
	content_hist_clear(&h);
}

static void tmpl(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t tlen = nul ? (size_t)(nul - data) : size;
	char *t = fuzz_cstr(data, tlen);
	char *u = nul ? fuzz_cstr(nul + 1, size - tlen - 1) : fuzz_cstr((const uint8_t *)"bob", 3);
	struct content_key k;

	if(!content_template_key(t, u, &k)) key_round_trip(&k);
	free(u);
	free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if(size < 1) return 0;
	switch(data[0] % 6){
	case 0: frame(data + 1, size - 1); break;
	case 1: topic(data + 1, size - 1); break;
	case 2: ver_text(data + 1, size - 1); break;
	case 3: page(data + 1, size - 1); break;
	case 4: hist(data + 1, size - 1); break;
	case 5: tmpl(data + 1, size - 1); break;
	}
	return 0;
}
