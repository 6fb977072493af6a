/* Golden cases of the pure frame parsers (mapping/<dialect>_proto.c), replayed from
 * tests/golden/<dialect>/<case>/: `input` is one client frame, byte for byte
 * (NULs and invalid UTF-8 included, no trailing newline); `output` is the
 * parsed frame rendered as JSON, or `error` the refusal rendered as JSON.
 * The expected object is compared member by member with the rendering: every
 * member it has must be equal (null = the field is absent), members it leaves
 * out are not checked. A refusal must always carry a non-empty message.
 * Builder cases: `build` is a JSON object {"fn": <builder>, "args": [...]}
 * naming one of the frame builders below with its arguments (JSON values;
 * null for a NULL pointer), and `frame` the exact text it must produce.
 * Case directories with neither (the frame sequences of
 * tests/integration/test_golden.py) are skipped. How to add a case:
 * tests/integration/README.md.
 * tests/golden/jsonpatch/ holds JSON Patch cases (mapping/jsonpatch.c) in the
 * same shape: `input` is {"doc": D, "patch": P}, with P as a client sends it
 * (one operation object is taken as a list of it, as content sync does);
 * `output` is {"doc": the result}, `error` {"code", "index", "message"}. */
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "comet_proto.h"
#include "content_proto.h"
#include "jsonpatch.h"
#include "jsonutil.h"
#include "op_proto.h"
#include "tele_proto.h"
#include "wsdo_proto.h"

/* The rendering of one parse: ok -> the parsed fields, else the refusal. */
struct render {
	bool ok;
	json_t *value;   /* owned */
};

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *ref_or_null(json_t *v)
{
	return v ? json_incref(v) : json_null();
}

static struct render error_of(json_t *code, const char *msg)
{
	struct render r = {false, json_object()};
	json_object_set_new(r.value, "code", code);
	json_object_set_new(r.value, "message", str_or_null(msg));
	return r;
}

static struct render parse_wsdo(const char *buf, size_t len)
{
	static const char *const names[] = {"PONG", "ACK", "PRESENCE"};
	struct wsdo_cframe f;
	const char *msg = NULL;
	const char *code = wsdo_parse_client(buf, len, &f, &msg);
	struct render r;

	if(code){
		r = error_of(json_string(code), msg);
		json_object_set_new(r.value, "root", f.root ? json_true() : json_null());
		wsdo_cframe_clear(&f);
		return r;
	}
	r.ok = true;
	r.value = json_pack("{s:s}", "type", names[f.type]);
	json_object_set_new(r.value, "eventID", str_or_null(f.event_id));
	json_object_set_new(r.value, "presence", ref_or_null(f.presence));
	wsdo_cframe_clear(&f);
	return r;
}

static struct render parse_op(const char *buf, size_t len)
{
	struct op_request q;
	const char *msg = NULL;
	int code = op_parse(buf, len, &q, &msg);
	struct render r;

	if(code){
		r = error_of(json_integer(code), msg);
		/* what the error reply can carry */
		json_object_set_new(r.value, "op", str_or_null(q.op_name));
		json_object_set_new(r.value, "id", ref_or_null(q.id));
		json_object_set_new(r.value, "root", q.root ? json_true() : json_null());
		op_request_clear(&q);
		return r;
	}
	r.ok = true;
	r.value = json_pack("{s:s}", "op", q.op_name);
	json_object_set_new(r.value, "id", ref_or_null(q.id));
	json_object_set_new(r.value, "provider", str_or_null(q.provider));
	json_object_set_new(r.value, "access_token", str_or_null(q.access_token));
	json_object_set_new(r.value, "username", str_or_null(q.username));
	json_object_set_new(r.value, "session", str_or_null(q.session));
	json_object_set_new(r.value, "topics", ref_or_null(q.topics));
	json_object_set_new(r.value, "data", ref_or_null(q.data));
	op_request_clear(&q);
	return r;
}

static struct render parse_tele(const char *buf, size_t len)
{
	static const char *const names[] = {"CONNECT", "RECONNECT", "SUBSCRIBE", "UNSUBSCRIBE"};
	struct tele_request q;
	const char *msg = NULL;
	const char *status = tele_parse(buf, len, &q, &msg);
	struct render r;

	if(status){
		r = error_of(json_string(status), msg);
		/* the id the response carries */
		json_object_set_new(r.value, "id", q.has_id ? json_integer(q.id) : json_null());
		json_object_set_new(r.value, "root", q.root ? json_true() : json_null());
		tele_request_clear(&q);
		return r;
	}
	r.ok = true;
	r.value = json_pack("{s:s,s:b,s:b}", "message", names[q.kind], "permanent", q.permanent,
			"lazy", q.lazy);
	json_object_set_new(r.value, "id", q.has_id ? json_integer(q.id) : json_null());
	json_object_set_new(r.value, "auth_token", str_or_null(q.auth_token));
	json_object_set_new(r.value, "session_token", str_or_null(q.session_token));
	json_object_set_new(r.value, "event_name", str_or_null(q.event));
	json_object_set_new(r.value, "filters", ref_or_null(q.filters));
	tele_request_clear(&q);
	return r;
}

static struct render parse_comet(const char *buf, size_t len)
{
	struct comet_uplink u;
	const char *msg = NULL;
	const char *code = comet_parse_uplink(buf, len, &u, &msg);
	struct render r;

	if(code){
		r = error_of(json_string(code), msg);
		json_object_set_new(r.value, "root", u.root ? json_true() : json_null());
		comet_uplink_clear(&u);
		return r;
	}
	r.ok = true;
	r.value = json_pack("{s:s,s:b}", "t", comet_type_name(u.t), "has_join", u.has_join);
	json_object_set_new(r.value, "token", str_or_null(u.token));
	json_object_set_new(r.value, "rid", str_or_null(u.rid));
	comet_uplink_clear(&u);
	return r;
}

static struct render parse_content(const char *buf, size_t len)
{
	struct content_request q;
	const char *msg = NULL;
	int code = content_parse(buf, len, 65536, &q, &msg);
	struct render r;

	if(code){
		r = error_of(json_integer(code), msg);
		/* what the error frame carries */
		json_object_set_new(r.value, "status", json_integer(content_error_status(code)));
		json_object_set_new(r.value, "cls", str_or_null(q.cls_name));
		json_object_set_new(r.value, "id", ref_or_null(q.id));
		json_object_set_new(r.value, "root", q.root ? json_true() : json_null());
		content_request_clear(&q);
		return r;
	}
	r.ok = true;
	r.value = json_pack("{s:s,s:b}", "cls", content_cls_name(q.cls), "subscribe", q.subscribe);
	json_object_set_new(r.value, "id", ref_or_null(q.id));
	json_object_set_new(r.value, "username", str_or_null(q.username));
	json_object_set_new(r.value, "password", str_or_null(q.password));
	json_object_set_new(r.value, "session", str_or_null(q.session));
	json_object_set_new(r.value, "key", q.key.type[0] ? content_key_json(&q.key) : json_null());
	json_object_set_new(r.value, "ver", q.has_ver ? content_ver_json(&q.ver) : json_null());
	if(q.cls == CONTENT_GET_CHILDREN){
		json_object_set_new(r.value, "view", json_string(content_view_name(q.view)));
		json_object_set_new(r.value, "page", json_integer(q.page));
	}
	json_object_set_new(r.value, "patch", ref_or_null(q.patch));
	json_object_set_new(r.value, "obj", ref_or_null(q.obj));
	json_object_set_new(r.value, "child_type", q.child_type[0] ? json_string(q.child_type) : json_null());
	content_request_clear(&q);
	return r;
}

static struct render parse_jsonpatch(const char *buf, size_t len)
{
	const char *msg = NULL;
	json_t *in = jsonutil_parse_msg(buf, len, JSON_REJECT_DUPLICATES, &msg), *patch, *doc;
	struct jsonpatch_error err;
	struct render r;

	if(!json_is_object(in) || !json_object_get(in, "doc") || !json_object_get(in, "patch")){
		const char *why = in ? "the input is not {\"doc\", \"patch\"}" : msg;
		json_decref(in);
		return error_of(json_string("input"), why);
	}
	patch = jsonpatch_normalise(json_object_get(in, "patch"));
	doc = jsonpatch_apply(json_object_get(in, "doc"), patch ? patch : json_object_get(in, "patch"), NULL, &err);
	json_decref(patch);
	json_decref(in);
	if(!doc){
		r = error_of(json_string(jsonpatch_code_name(err.code)), err.text);
		json_object_set_new(r.value, "index", json_integer(err.index));
		return r;
	}
	r.ok = true;
	r.value = json_object();
	json_object_set_new(r.value, "doc", doc);
	return r;
}

/* ---- builders: fn and args of a `build` file to the frame text ---- */

static const char *arg_s(json_t *args, size_t i)
{
	return json_string_value(json_array_get(args, i));   /* NULL for null */
}

static json_t *arg_v(json_t *args, size_t i)
{
	json_t *v = json_array_get(args, i);
	return v && !json_is_null(v) ? json_incref(v) : NULL;   /* a new reference */
}

static long long arg_i(json_t *args, size_t i)
{
	return json_integer_value(json_array_get(args, i));
}

/* The frame, or NULL with *known false when fn is no builder of this dialect. */
static char *build_wsdo(const char *fn, json_t *a, bool *known)
{
	*known = true;
	if(!strcmp(fn, "wsdo_frame")){
		return wsdo_frame(arg_s(a, 0), arg_v(a, 1), arg_s(a, 2), arg_s(a, 3), arg_i(a, 4), (int)arg_i(a, 5));
	}
	if(!strcmp(fn, "wsdo_frame_head+finish")){
		size_t hlen;
		char *head = wsdo_frame_head(arg_s(a, 0), arg_v(a, 1), arg_s(a, 2), &hlen);
		char *text = head ? wsdo_frame_finish(head, hlen, arg_s(a, 3), arg_i(a, 4), (int)arg_i(a, 5)) : NULL;
		free(head);
		return text;
	}
	if(!strcmp(fn, "wsdo_error_frame")) return wsdo_error_frame(arg_s(a, 0), arg_s(a, 1), arg_s(a, 2), arg_s(a, 3), arg_i(a, 4));
	*known = false;
	return NULL;
}

static char *build_op(const char *fn, json_t *a, bool *known)
{
	*known = true;
	if(!strcmp(fn, "op_success")){
		json_t *id = json_array_get(a, 1);
		return op_success(arg_s(a, 0), json_is_null(id) ? NULL : id, arg_v(a, 2));
	}
	if(!strcmp(fn, "op_error")){
		json_t *id = json_array_get(a, 1);
		return op_error(arg_s(a, 0), json_is_null(id) ? NULL : id, (int)arg_i(a, 2), arg_s(a, 3));
	}
	if(!strcmp(fn, "op_mesg")) return op_mesg(arg_s(a, 0), arg_s(a, 1), arg_v(a, 2), arg_v(a, 3));
	if(!strcmp(fn, "op_pres")) return op_pres(arg_s(a, 0), arg_s(a, 1), arg_s(a, 2), arg_v(a, 3));
	*known = false;
	return NULL;
}

static char *build_tele(const char *fn, json_t *a, bool *known)
{
	*known = true;
	if(!strcmp(fn, "tele_response")){
		json_t *id = json_array_get(a, 2);
		return tele_response(json_is_true(json_array_get(a, 0)), arg_s(a, 1), !json_is_null(id),
				json_integer_value(id), arg_v(a, 3));
	}
	if(!strcmp(fn, "tele_event")) return tele_event(arg_s(a, 0), arg_v(a, 1));
	*known = false;
	return NULL;
}

static char *build_comet(const char *fn, json_t *a, bool *known)
{
	*known = true;
	if(!strcmp(fn, "comet_hb_frame")) return comet_hb_frame();
	if(!strcmp(fn, "comet_push_frame")){
		const char *evt = arg_s(a, 0);   /* the raw event text */
		return evt ? comet_push_frame(evt, strlen(evt)) : NULL;
	}
	if(!strcmp(fn, "comet_error_frame")) return comet_error_frame(arg_s(a, 0), arg_s(a, 1), arg_s(a, 2));
	*known = false;
	return NULL;
}

/* A key and a ver given as JSON; false if either is not one. */
static bool content_kv(json_t *a, size_t ki, size_t vi, struct content_key *k, struct content_ver *v)
{
	const char *why;
	return !content_key_parse(json_array_get(a, ki), k, &why) && !content_ver_parse(json_array_get(a, vi), v, &why);
}

static char *build_content(const char *fn, json_t *a, bool *known)
{
	struct content_key k;
	struct content_ver v;
	enum content_view view;
	json_t *id = json_array_get(a, 1);

	*known = true;
	if(json_is_null(id)) id = NULL;
	if(!strcmp(fn, "content_result")) return content_result(arg_s(a, 0), id, (int)arg_i(a, 2), arg_v(a, 3));
	if(!strcmp(fn, "content_error")) return content_error(arg_s(a, 0), id, (int)arg_i(a, 2), arg_s(a, 3));
	if(!strcmp(fn, "content_notify")) return content_notify(arg_s(a, 0), arg_v(a, 1));
	/* [key, ver, content, children, patch]: one entry of a "changed" notification */
	if(!strcmp(fn, "content_notify+changed_entry")){
		if(!content_kv(a, 0, 1, &k, &v)) return NULL;
		return content_notify("changed", json_pack("[o]", content_changed_entry(&k, &v,
				json_is_true(json_array_get(a, 2)), json_is_true(json_array_get(a, 3)), arg_v(a, 4))));
	}
	/* [cls, id, status, key, ver, content, patch] */
	if(!strcmp(fn, "content_result+doc_data")){
		if(!content_kv(a, 3, 4, &k, &v)) return NULL;
		return content_result(arg_s(a, 0), id, (int)arg_i(a, 2), content_doc_data(&k, &v, arg_v(a, 5), arg_v(a, 6)));
	}
	/* [cls, id, status, key, ver, view, page, size, total, items, patch] */
	if(!strcmp(fn, "content_result+page_data")){
		if(!content_kv(a, 3, 4, &k, &v) || !arg_s(a, 5) || content_view_parse(arg_s(a, 5), &view)) return NULL;
		return content_result(arg_s(a, 0), id, (int)arg_i(a, 2), content_page_data(&k, &v, view, (long)arg_i(a, 6),
				(long)arg_i(a, 7), (size_t)arg_i(a, 8), arg_v(a, 9), arg_v(a, 10)));
	}
	*known = false;
	return NULL;
}

static const struct dialect {
	const char *dir;
	struct render (*parse)(const char *buf, size_t len);
	char *(*build)(const char *fn, json_t *args, bool *known);
} dialects[] = {
	{"wsdo", parse_wsdo, build_wsdo},
	{"op", parse_op, build_op},
	{"telegraphy", parse_tele, build_tele},
	{"comet", parse_comet, build_comet},
	{"content", parse_content, build_content},
	{"jsonpatch", parse_jsonpatch, NULL},
};

/* dir/name into out; false if it does not fit. */
static bool path_join(char *out, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);
	return n >= 0 && (size_t)n < cap;
}

/* The whole file (NUL-terminated, length in *len), or NULL if there is none. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if(!f) return NULL;
	if(fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)){
		fclose(f);
		return NULL;
	}
	buf = malloc((size_t)n + 1);
	if(buf && fread(buf, 1, (size_t)n, f) != (size_t)n){
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if(buf){
		buf[n] = '\0';
		*len = (size_t)n;
	}
	return buf;
}

/* Every member of want equals got's (a null member: got's is null or absent). */
static bool matches(const json_t *want, const json_t *got, const char **bad_key)
{
	const char *key;
	json_t *w;

	json_object_foreach((json_t *)want, key, w){
		json_t *g = json_object_get(got, key);
		if(json_is_null(w) ? !(g == NULL || json_is_null(g)) : !json_equal(w, g)){
			*bad_key = key;
			return false;
		}
	}
	return true;
}

/* A builder case: 0 if it passes, 1 with a report, -1 if dir has no `build`. */
static int run_build_case(const struct dialect *d, const char *dir)
{
	char path[4096];
	size_t len = 0, flen = 0;
	char *spec, *frame = NULL, *got = NULL;
	json_t *root;
	json_error_t jerr;
	const char *fn;
	bool known = false;
	int failed = 0;

	if(!path_join(path, sizeof(path), dir, "build")) return 1;
	spec = slurp(path, &len);
	if(!spec) return -1;
	root = json_loadb(spec, len, JSON_REJECT_DUPLICATES, &jerr);
	fn = json_string_value(json_object_get(root, "fn"));
	if(path_join(path, sizeof(path), dir, "frame")) frame = slurp(path, &flen);
	if(!fn || !json_is_array(json_object_get(root, "args")) || !frame){
		fprintf(stderr, "FAIL %s: build needs {\"fn\", \"args\": [...]} and a frame file (%s)\n", dir,
				root ? "" : jerr.text);
		failed = 1;
	}else{
		got = d->build ? d->build(fn, json_object_get(root, "args"), &known) : NULL;
		if(!known){
			fprintf(stderr, "FAIL %s: %s is no %s builder\n", dir, fn, d->dir);
			failed = 1;
		}else if(!got || strlen(got) != flen || memcmp(got, frame, flen)){
			fprintf(stderr, "FAIL %s: %s built\n  got:      %s\n  expected: %s\n", dir, fn, got ? got : "NULL", frame);
			failed = 1;
		}
	}
	free(got);
	free(frame);
	json_decref(root);
	free(spec);
	return failed;
}

/* 0 if the case passes, else 1 with a report on stderr. */
static int run_case(const struct dialect *d, const char *dir)
{
	char path[4096];
	size_t len = 0, wlen = 0;
	char *input, *expect;
	bool want_ok;
	json_t *want;
	json_error_t jerr;
	struct render got;
	const char *bad_key = NULL, *msg;
	int failed = 0;

	if(!path_join(path, sizeof(path), dir, "input")){
		fprintf(stderr, "FAIL %s: path too long\n", dir);
		return 1;
	}
	input = slurp(path, &len);
	if(!input) return run_build_case(d, dir);   /* a builder case, or a sequence case (-1) */
	expect = path_join(path, sizeof(path), dir, "output") ? slurp(path, &wlen) : NULL;
	want_ok = expect != NULL;
	if(!expect && path_join(path, sizeof(path), dir, "error")) expect = slurp(path, &wlen);
	if(!expect){
		fprintf(stderr, "FAIL %s: neither output nor error\n", dir);
		free(input);
		return 1;
	}
	want = json_loadb(expect, wlen, JSON_REJECT_DUPLICATES, &jerr);
	if(!json_is_object(want)){
		fprintf(stderr, "FAIL %s: %s is not a JSON object (%s)\n", dir, path, jerr.text);
		json_decref(want);
		free(input);
		free(expect);
		return 1;
	}

	got = d->parse(input, len);
	msg = json_string_value(json_object_get(got.value, "message"));
	if(got.ok != want_ok){
		fprintf(stderr, "FAIL %s: %s, expected %s\n", dir, got.ok ? "parsed" : "refused",
				want_ok ? "output" : "error");
		failed = 1;
	}else if(!got.ok && (!msg || !*msg)){
		fprintf(stderr, "FAIL %s: refused without a message\n", dir);
		failed = 1;
	}else if(!matches(want, got.value, &bad_key)){
		fprintf(stderr, "FAIL %s: member \"%s\" differs\n", dir, bad_key);
		failed = 1;
	}
	if(failed){
		char *text = json_dumps(got.value, JSON_COMPACT | JSON_SORT_KEYS);
		fprintf(stderr, "  got:      %s\n  expected: %s\n", text ? text : "?", expect);
		free(text);
	}
	json_decref(got.value);
	json_decref(want);
	free(input);
	free(expect);
	return failed;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every case below root/<dialect>; counts into *ran and *failed. */
static int run_dialect(const char *root, const struct dialect *d, int *ran, int *failed)
{
	char dir[4096];
	DIR *dh;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;

	dh = path_join(dir, sizeof(dir), root, d->dir) ? opendir(dir) : NULL;
	if(!dh){
		fprintf(stderr, "no golden cases in %s\n", dir);
		return -1;
	}
	while((e = readdir(dh))){
		if(e->d_name[0] == '.') continue;
		if(n == cap){
			char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*names));
			if(!grown) abort();
			names = grown;
		}
		names[n] = strdup(e->d_name);
		if(!names[n]) abort();
		n++;
	}
	closedir(dh);
	if(n) qsort(names, n, sizeof(*names), cmp_names);   /* a stable report */
	for(size_t i = 0; i < n; i++){
		char path[4096];
		int rc;
		rc = path_join(path, sizeof(path), dir, names[i]) ? run_case(d, path) : 1;
		if(rc >= 0){
			(*ran)++;
			*failed += rc;
		}
		free(names[i]);
	}
	free(names);
	return 0;
}

int main(int argc, char **argv)
{
	int ran = 0, failed = 0;

	if(argc != 2){
		fprintf(stderr, "usage: %s <tests/golden>\n", argv[0]);
		return 2;
	}
	for(size_t i = 0; i < sizeof(dialects) / sizeof(dialects[0]); i++){
		int before = ran;
		if(run_dialect(argv[1], &dialects[i], &ran, &failed)) return 1;
		if(ran == before){
			fprintf(stderr, "no parser case for %s\n", dialects[i].dir);
			return 1;
		}
	}
	printf("%d golden parser, builder and patch cases, %d failed\n", ran, failed);
	return failed ? 1 : 0;
}
