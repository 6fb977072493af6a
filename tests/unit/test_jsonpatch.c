/* Unit tests for mapping/jsonpatch.c: RFC 6901 pointers, every RFC 6902
 * operation and error, the whole-patch-or-nothing rule, the seed's patches
 * (content sync, seed 002), the situations of RFC 6902's appendix A as cases
 * of our own, the limits, and a seeded property test of diff and apply over
 * thousands of random documents. The contract is jsonpatch.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonpatch.h"
#include "jsonutil.h"

/* A JSON text (any value) into a new reference; fails the test if it is not. */
static json_t *J(const char *text)
{
	char err[JSONUTIL_ERR_SIZE];
	json_t *v = jsonutil_parse(text, strlen(text), JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, err,
			sizeof(err));
	if(!v) fail_msg("bad JSON in the test: %s: %s", text, err);
	return v;
}

static char *dump(const json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	assert_non_null(s);
	return s;
}

/* patch applied to doc gives want; doc is unchanged. */
static void apply_ok(const char *doc, const char *patch, const char *want)
{
	json_t *d = J(doc), *p = J(patch), *w = J(want), *got;
	char *before = dump(d), *after;
	struct jsonpatch_error err;

	got = jsonpatch_apply(d, p, NULL, &err);
	if(!got) fail_msg("%s on %s: refused (%s: %s), expected %s", patch, doc, jsonpatch_code_name(err.code), err.text, want);
	if(!json_equal(got, w)){
		char *g = dump(got);
		fail_msg("%s on %s: got %s, expected %s", patch, doc, g, want);
	}
	assert_int_equal(err.code, JSONPATCH_OK);
	after = dump(d);
	assert_string_equal(before, after);
	free(before);
	free(after);
	json_decref(got);
	json_decref(d);
	json_decref(p);
	json_decref(w);
}

/* patch on doc fails with code at operation index, its text holding want_text;
 * doc is unchanged. */
static void apply_bad(const char *doc, const char *patch, enum jsonpatch_code code, long index, const char *want_text)
{
	json_t *d = J(doc), *p = J(patch), *got;
	char *before = dump(d), *after;
	struct jsonpatch_error err;

	got = jsonpatch_apply(d, p, NULL, &err);
	if(got){
		char *g = dump(got);
		fail_msg("%s on %s: applied (%s), expected %s", patch, doc, g, jsonpatch_code_name(code));
	}
	if(err.code != code || err.index != index)
		fail_msg("%s on %s: %s at %ld (%s), expected %s at %ld", patch, doc, jsonpatch_code_name(err.code), err.index,
				err.text, jsonpatch_code_name(code), index);
	if(!strstr(err.text, want_text)) fail_msg("%s: \"%s\" does not say \"%s\"", patch, err.text, want_text);
	assert_true(jsonutil_utf8_valid(err.text, strlen(err.text)));
	after = dump(d);
	assert_string_equal(before, after);
	free(before);
	free(after);
	json_decref(d);
	json_decref(p);
}

/* ---- pointers ---- */

static void ptr_is(const char *text, size_t len, size_t n, ...)
{
	struct jsonpatch_ptr p;
	const char *why = NULL;
	va_list ap;

	if(jsonpatch_ptr_parse(text, len, JSONPATCH_MAX_DEPTH, &p, &why)) fail_msg("\"%s\" refused: %s", text, why);
	assert_int_equal(p.n, n);
	va_start(ap, n);
	for(size_t i = 0; i < n; i++){
		const char *s = va_arg(ap, const char *);
		size_t l = va_arg(ap, size_t);
		assert_int_equal(p.seg[i].len, l);
		assert_memory_equal(p.seg[i].s, s, l);
		assert_int_equal(p.seg[i].s[l], '\0');
	}
	va_end(ap);
	jsonpatch_ptr_clear(&p);
}

static void ptr_bad(const char *text, size_t len, size_t max_depth, int rc)
{
	struct jsonpatch_ptr p;
	const char *why = NULL;

	assert_int_equal(jsonpatch_ptr_parse(text, len, max_depth, &p, &why), rc);
	assert_non_null(why);
	assert_int_equal(p.n, 0);
	jsonpatch_ptr_clear(&p);
}

static void test_pointer_parse(void **state)
{
	(void)state;
	ptr_is("", 0, 0);
	ptr_is("/", 1, 1, "", (size_t)0);
	ptr_is("//", 2, 2, "", (size_t)0, "", (size_t)0);
	ptr_is("/a/b", 4, 2, "a", (size_t)1, "b", (size_t)1);
	ptr_is("/~0~1", 5, 1, "~/", (size_t)2);
	/* ~01 is "~1" (the ~0 first), not "/" */
	ptr_is("/~01", 4, 1, "~1", (size_t)2);
	ptr_is("/~10", 4, 1, "/0", (size_t)2);
	ptr_is("/a~1b/m~0n/", 11, 3, "a/b", (size_t)3, "m~n", (size_t)3, "", (size_t)0);
	ptr_is("/-", 2, 1, "-", (size_t)1);
	ptr_is("/a\0b", 4, 1, "a\0b", (size_t)3);
	ptr_is("/\xc3\xa9", 3, 1, "\xc3\xa9", (size_t)2);

	ptr_bad("a", 1, JSONPATCH_MAX_DEPTH, -EINVAL);
	ptr_bad("a/b", 3, JSONPATCH_MAX_DEPTH, -EINVAL);
	ptr_bad("/~", 2, JSONPATCH_MAX_DEPTH, -EINVAL);
	ptr_bad("/~2", 3, JSONPATCH_MAX_DEPTH, -EINVAL);
	ptr_bad("/a~/b", 5, JSONPATCH_MAX_DEPTH, -EINVAL);
	ptr_bad("#/a", 3, JSONPATCH_MAX_DEPTH, -EINVAL);   /* the URI fragment form is not a pointer here */
	ptr_bad("/a/b/c", 6, 2, -E2BIG);
	ptr_is("/a/b", 4, 2, "a", (size_t)1, "b", (size_t)1);
}

static void test_pointer_index(void **state)
{
	static const struct { const char *s; bool ok; size_t v; } cases[] = {
		{"0", true, 0}, {"7", true, 7}, {"10", true, 10}, {"18446744073709551615", true, SIZE_MAX},
		{"01", false, 0}, {"00", false, 0}, {"-", false, 0}, {"-1", false, 0}, {"+1", false, 0},
		{"1a", false, 0}, {" 1", false, 0}, {"1 ", false, 0}, {"1.0", false, 0}, {"1e0", false, 0},
		{"", false, 0}, {"18446744073709551616", false, 0}, {"99999999999999999999999", false, 0},
		{"\xd9\xa1", false, 0},   /* ARABIC-INDIC DIGIT ONE */
	};
	(void)state;
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		struct jsonpatch_seg seg = {cases[i].s, strlen(cases[i].s)};
		size_t v = 12345;
		bool ok = jsonpatch_seg_index(&seg, &v);
		if(ok != cases[i].ok) fail_msg("\"%s\": %s", cases[i].s, ok ? "an index" : "not an index");
		if(ok) assert_int_equal(v, cases[i].v);
	}
}

/* RFC 6901 section 5's situations, on a document of our own. */
static void test_pointer_resolve(void **state)
{
	json_t *doc = J("{\"list\":[\"x\",\"y\"],\"\":10,\"p/q\":11,\"r%s\":12,\"t^u\":13,\"v|w\":14,"
			"\"x\\\\y\":15,\"z\\\"a\":16,\" \":17,\"b~c\":18,\"n\":{\"\":{\"\":19}}}");
	static const struct { const char *ptr; const char *want; } cases[] = {
		{"/list", "[\"x\",\"y\"]"}, {"/list/0", "\"x\""}, {"/list/1", "\"y\""}, {"/", "10"}, {"/p~1q", "11"},
		{"/r%s", "12"}, {"/t^u", "13"}, {"/v|w", "14"}, {"/x\\y", "15"}, {"/z\"a", "16"}, {"/ ", "17"},
		{"/b~0c", "18"}, {"/n//", "19"},
	};
	(void)state;
	/* jansson cannot parse a key with a NUL, but it can hold one */
	json_object_setn_new(doc, "nul\0", 4, json_integer(20));
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		json_t *v = jsonpatch_get(doc, cases[i].ptr, strlen(cases[i].ptr)), *w = J(cases[i].want);
		if(!v || !json_equal(v, w)) fail_msg("%s: wrong value", cases[i].ptr);
		json_decref(w);
	}
	assert_ptr_equal(jsonpatch_get(doc, "", 0), doc);
	assert_non_null(jsonpatch_get(doc, "/nul\0", 5));
	assert_null(jsonpatch_get(doc, "/nul", 4));
	assert_null(jsonpatch_get(doc, "/list/2", 7));
	assert_null(jsonpatch_get(doc, "/list/-", 7));
	assert_null(jsonpatch_get(doc, "/list/01", 8));
	assert_null(jsonpatch_get(doc, "/list/0/x", 9));
	assert_null(jsonpatch_get(doc, "/b~c", 4));
	assert_null(jsonpatch_get(doc, "/missing", 8));
	assert_null(jsonpatch_get(doc, "list", 4));
	json_decref(doc);
}

static void test_pointer_build(void **state)
{
	struct jsonpatch_seg segs[] = {{"a/b", 3}, {"m~n", 3}, {"", 0}, {"~/~", 3}, {"x\0y", 3}};
	struct jsonpatch_ptr p;
	size_t len = 99;
	char *s;
	(void)state;

	s = jsonpatch_ptr_build(segs, 0, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	s = jsonpatch_ptr_build(segs, 4, &len);
	assert_string_equal(s, "/a~1b/m~0n//~0~1~0");
	assert_int_equal(len, strlen(s));
	free(s);
	/* round trip, a NUL inside a segment included */
	s = jsonpatch_ptr_build(segs, 5, &len);
	assert_int_equal(len, 22);
	assert_int_equal(jsonpatch_ptr_parse(s, len, 8, &p, NULL), 0);
	assert_int_equal(p.n, 5);
	for(size_t i = 0; i < 5; i++){
		assert_int_equal(p.seg[i].len, segs[i].len);
		assert_memory_equal(p.seg[i].s, segs[i].s, segs[i].len);
	}
	jsonpatch_ptr_clear(&p);
	free(s);
}

/* ---- the six operations ---- */

static void test_add(void **state)
{
	(void)state;
	apply_ok("{}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]", "{\"a\":1}");
	/* an existing member is replaced */
	apply_ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":[2]}]", "{\"a\":[2]}");
	apply_ok("{\"a\":{}}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":null}]", "{\"a\":{\"b\":null}}");
	apply_ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/0\",\"value\":0}]", "[0,1,2]");
	apply_ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/1\",\"value\":9}]", "[1,9,2]");
	apply_ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/2\",\"value\":3}]", "[1,2,3]");
	apply_ok("[1,2]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":3}]", "[1,2,3]");
	apply_ok("[]", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":{\"x\":1}}]", "[{\"x\":1}]");
	/* an array value is one element, not spliced in */
	apply_ok("{\"l\":[1]}", "[{\"op\":\"add\",\"path\":\"/l/1\",\"value\":[2,3]}]", "{\"l\":[1,[2,3]]}");
	/* "-" on an object is just a key */
	apply_ok("{}", "[{\"op\":\"add\",\"path\":\"/-\",\"value\":1}]", "{\"-\":1}");
	/* the whole document */
	apply_ok("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"\",\"value\":[1]}]", "[1]");
	apply_ok("{}", "[{\"op\":\"add\",\"path\":\"/\",\"value\":1}]", "{\"\":1}");
	/* a member name with a NUL (JSON "\u0000"): jansson could not parse the
	 * document back */
	apply_bad("{}", "[{\"op\":\"add\",\"path\":\"/a\\u0000b\",\"value\":1}]", JSONPATCH_E_POINTER, 0,
			"a member name cannot hold a NUL");
	apply_ok("{}", "[{\"op\":\"add\",\"path\":\"/~1~0\",\"value\":1}]", "{\"/~\":1}");

	apply_bad("{}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]", JSONPATCH_E_NOT_FOUND, 0, "no member \"a\"");
	apply_bad("[1,2]", "[{\"op\":\"add\",\"path\":\"/3\",\"value\":1}]", JSONPATCH_E_RANGE, 0,
			"index 3 is out of range (the array has 2 elements)");
	apply_bad("[1,2]", "[{\"op\":\"add\",\"path\":\"/01\",\"value\":1}]", JSONPATCH_E_POINTER, 0, "\"01\" is not an array index");
	apply_bad("[1,2]", "[{\"op\":\"add\",\"path\":\"/-1\",\"value\":1}]", JSONPATCH_E_POINTER, 0, "not an array index");
	apply_bad("[1,2]", "[{\"op\":\"add\",\"path\":\"/x\",\"value\":1}]", JSONPATCH_E_POINTER, 0, "not an array index");
	apply_bad("[[1]]", "[{\"op\":\"add\",\"path\":\"/-/0\",\"value\":1}]", JSONPATCH_E_RANGE, 0, "\"-\" names no element");
	apply_bad("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a/b\",\"value\":1}]", JSONPATCH_E_TYPE, 0,
			"\"b\" goes into a value that is not an array or object");
	apply_bad("{\"a\":\"str\"}", "[{\"op\":\"add\",\"path\":\"/a/0\",\"value\":1}]", JSONPATCH_E_TYPE, 0, "not an array or object");
	apply_bad("{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a/b/c\",\"value\":1}]", JSONPATCH_E_TYPE, 0, "not an array or object");
	apply_bad("{}", "[{\"op\":\"add\",\"path\":\"/a\"}]", JSONPATCH_E_INVALID, 0, "operation 0 (add \"/a\"): no \"value\" member");
}

static void test_remove(void **state)
{
	(void)state;
	apply_ok("{\"a\":1,\"b\":2}", "[{\"op\":\"remove\",\"path\":\"/a\"}]", "{\"b\":2}");
	apply_ok("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/1\"}]", "[1,3]");
	apply_ok("[1,2,3]", "[{\"op\":\"remove\",\"path\":\"/2\"}]", "[1,2]");
	apply_ok("{\"a\":{\"b\":[1,{\"c\":2}]}}", "[{\"op\":\"remove\",\"path\":\"/a/b/1/c\"}]", "{\"a\":{\"b\":[1,{}]}}");
	/* a "value" member is ignored */
	apply_ok("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/a\",\"value\":5}]", "{}");

	apply_bad("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", JSONPATCH_E_NOT_FOUND, 0,
			"operation 0 (remove \"/b\"): no member \"b\"");
	apply_bad("[1,2]", "[{\"op\":\"remove\",\"path\":\"/2\"}]", JSONPATCH_E_RANGE, 0, "index 2 is out of range");
	apply_bad("[1,2]", "[{\"op\":\"remove\",\"path\":\"/-\"}]", JSONPATCH_E_RANGE, 0, "\"-\" names no element");
	apply_bad("{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"\"}]", JSONPATCH_E_RANGE, 0, "the whole document cannot be removed");
	apply_bad("{\"a\":1}", "[{\"op\":\"remove\"}]", JSONPATCH_E_INVALID, 0, "operation 0 (remove): no \"path\" member");
}

static void test_replace(void **state)
{
	(void)state;
	apply_ok("{\"a\":1,\"b\":2}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":{\"x\":[]}}]", "{\"a\":{\"x\":[]},\"b\":2}");
	apply_ok("[1,2,3]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":9}]", "[1,9,3]");
	apply_ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":\"s\"}]", "\"s\"");
	apply_ok("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/a\",\"value\":null}]", "{\"a\":null}");

	apply_bad("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"/b\",\"value\":1}]", JSONPATCH_E_NOT_FOUND, 0, "no member \"b\"");
	apply_bad("[1]", "[{\"op\":\"replace\",\"path\":\"/1\",\"value\":1}]", JSONPATCH_E_RANGE, 0, "index 1 is out of range");
	apply_bad("[1]", "[{\"op\":\"replace\",\"path\":\"/-\",\"value\":1}]", JSONPATCH_E_RANGE, 0, "\"-\" names no element");
	apply_bad("[1]", "[{\"op\":\"replace\",\"path\":\"/0\"}]", JSONPATCH_E_INVALID, 0, "no \"value\" member");
}

static void test_move(void **state)
{
	(void)state;
	apply_ok("{\"a\":{\"b\":1},\"c\":{}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/c/d\"}]", "{\"a\":{},\"c\":{\"d\":1}}");
	apply_ok("[1,2,3,4]", "[{\"op\":\"move\",\"from\":\"/1\",\"path\":\"/3\"}]", "[1,3,4,2]");
	apply_ok("[1,2,3,4]", "[{\"op\":\"move\",\"from\":\"/3\",\"path\":\"/0\"}]", "[4,1,2,3]");
	apply_ok("[1,2]", "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/-\"}]", "[2,1]");
	/* onto itself: nothing changes, but the value must exist */
	apply_ok("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a\"}]", "{\"a\":{\"b\":1}}");
	apply_bad("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"/x\",\"path\":\"/x\"}]", JSONPATCH_E_NOT_FOUND, 0, "\"from\": no member \"x\"");
	/* a sibling whose name starts the same is not a child */
	apply_ok("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/ab\"}]", "{\"ab\":{\"b\":1}}");
	/* the whole document moved into a member of a new root */
	apply_ok("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"\"}]", "{\"b\":1}");
	/* an object member over an existing one */
	apply_ok("{\"a\":1,\"b\":2}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/b\"}]", "{\"b\":1}");

	apply_bad("{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", JSONPATCH_E_MOVE_CHILD, 0,
			"a value cannot move into its own child");
	apply_bad("{\"a\":[{}]}", "[{\"op\":\"move\",\"from\":\"/a/0\",\"path\":\"/a/0/x\"}]", JSONPATCH_E_MOVE_CHILD, 0,
			"its own child");
	apply_bad("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"\",\"path\":\"/a\"}]", JSONPATCH_E_MOVE_CHILD, 0, "its own child");
	apply_bad("[1,2]", "[{\"op\":\"move\",\"from\":\"/-\",\"path\":\"/0\"}]", JSONPATCH_E_RANGE, 0, "\"from\": \"-\" names no element");
	apply_bad("[1,2]", "[{\"op\":\"move\",\"from\":\"/0\",\"path\":\"/3\"}]", JSONPATCH_E_RANGE, 0, "index 3 is out of range");
	apply_bad("{\"a\":1}", "[{\"op\":\"move\",\"path\":\"/b\"}]", JSONPATCH_E_INVALID, 0, "no \"from\" member");
	apply_bad("{\"a\":1}", "[{\"op\":\"move\",\"from\":5,\"path\":\"/b\"}]", JSONPATCH_E_INVALID, 0, "\"from\" is not a string");
	apply_bad("{\"a\":1}", "[{\"op\":\"move\",\"from\":\"a\",\"path\":\"/b\"}]", JSONPATCH_E_POINTER, 0,
			"\"from\" is not a JSON Pointer");
}

static void test_copy(void **state)
{
	json_t *d, *p, *got;
	(void)state;
	apply_ok("{\"a\":{\"b\":[1]}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"}]", "{\"a\":{\"b\":[1]},\"c\":{\"b\":[1]}}");
	apply_ok("[1,2]", "[{\"op\":\"copy\",\"from\":\"/0\",\"path\":\"/-\"}]", "[1,2,1]");
	/* into its own child is fine for a copy */
	apply_ok("{\"a\":{\"b\":1}}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/a/c\"}]", "{\"a\":{\"b\":1,\"c\":{\"b\":1}}}");
	apply_ok("[1]", "[{\"op\":\"copy\",\"from\":\"\",\"path\":\"/0\"}]", "[[1],1]");
	apply_bad("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/b\",\"path\":\"/c\"}]", JSONPATCH_E_NOT_FOUND, 0, "\"from\": no member \"b\"");
	apply_bad("{\"a\":1}", "[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/x/y\"}]", JSONPATCH_E_NOT_FOUND, 0, "no member \"x\"");

	/* the copy is a copy: changing it later leaves the source alone */
	d = J("{\"a\":{\"b\":1}}");
	p = J("[{\"op\":\"copy\",\"from\":\"/a\",\"path\":\"/c\"},{\"op\":\"replace\",\"path\":\"/c/b\",\"value\":2}]");
	got = jsonpatch_apply(d, p, NULL, NULL);
	assert_non_null(got);
	assert_int_equal(json_integer_value(jsonpatch_get(got, "/a/b", 4)), 1);
	assert_int_equal(json_integer_value(jsonpatch_get(got, "/c/b", 4)), 2);
	json_decref(got);
	json_decref(d);
	json_decref(p);
}

static void test_test(void **state)
{
	(void)state;
	apply_ok("{\"a\":{\"x\":[1,\"s\",null,true]}}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"x\":[1,\"s\",null,true]}}]",
			"{\"a\":{\"x\":[1,\"s\",null,true]}}");
	apply_ok("[1]", "[{\"op\":\"test\",\"path\":\"\",\"value\":[1]}]", "[1]");
	/* member order does not count */
	apply_ok("{\"a\":{\"x\":1,\"y\":2}}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"y\":2,\"x\":1}}]", "{\"a\":{\"x\":1,\"y\":2}}");
	/* numbers by value (RFC 6902 4.6); jansson's json_equal would say 1 != 1.0 */
	apply_ok("{\"n\":1}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1.0}]", "{\"n\":1}");
	apply_ok("{\"n\":[1.0,-0.0]}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":[1,0]}]", "{\"n\":[1.0,-0.0]}");
	apply_ok("{\"n\":1e2}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":100}]", "{\"n\":100.0}");
	apply_ok("{\"n\":9007199254740992}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":9007199254740992.0}]",
			"{\"n\":9007199254740992}");
	apply_bad("{\"n\":9007199254740993}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":9007199254740992.0}]",
			JSONPATCH_E_TEST, 0, "the value differs");
	apply_bad("{\"n\":1}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1.5}]", JSONPATCH_E_TEST, 0, "differs");
	apply_bad("{\"n\":1}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":1e300}]", JSONPATCH_E_TEST, 0, "differs");
	/* a boolean is never a number (python-jsonpatch says true == 1: we do not) */
	apply_bad("{\"n\":1}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":true}]", JSONPATCH_E_TEST, 0, "differs");
	apply_bad("{\"n\":[0]}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":[false]}]", JSONPATCH_E_TEST, 0, "differs");
	/* a string is not a number */
	apply_bad("{\"n\":10}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":\"10\"}]", JSONPATCH_E_TEST, 0,
			"operation 0 (test \"/n\"): the value differs");
	apply_bad("{\"n\":null}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":{}}]", JSONPATCH_E_TEST, 0, "differs");
	apply_bad("{\"n\":[1,2]}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":[1]}]", JSONPATCH_E_TEST, 0, "differs");
	apply_bad("{\"n\":{\"a\":1}}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":{\"a\":1,\"b\":2}}]", JSONPATCH_E_TEST, 0, "differs");
	apply_bad("{\"n\":{\"a\":1,\"c\":2}}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":{\"a\":1,\"b\":2}}]", JSONPATCH_E_TEST, 0,
			"differs");
	apply_bad("{\"s\":\"a\\u0000b\"}", "[{\"op\":\"test\",\"path\":\"/s\",\"value\":\"a\"}]", JSONPATCH_E_TEST, 0, "differs");
	apply_bad("{}", "[{\"op\":\"test\",\"path\":\"/n\",\"value\":null}]", JSONPATCH_E_NOT_FOUND, 0, "no member \"n\"");
	apply_bad("[1]", "[{\"op\":\"test\",\"path\":\"/-\",\"value\":1}]", JSONPATCH_E_RANGE, 0, "\"-\" names no element");
	apply_bad("{}", "[{\"op\":\"test\",\"path\":\"\"}]", JSONPATCH_E_INVALID, 0, "no \"value\" member");
}

/* ---- malformed patches and the whole-or-nothing rule ---- */

static void test_malformed(void **state)
{
	(void)state;
	apply_bad("{}", "{\"op\":\"add\",\"path\":\"/a\",\"value\":1}", JSONPATCH_E_INVALID, -1, "the patch is not a list of operations");
	apply_bad("{}", "\"add\"", JSONPATCH_E_INVALID, -1, "not a list");
	apply_bad("{}", "[1]", JSONPATCH_E_INVALID, 0, "operation 0: not an object");
	apply_bad("{}", "[{\"path\":\"/a\"}]", JSONPATCH_E_INVALID, 0, "operation 0: no \"op\" member");
	apply_bad("{}", "[{\"op\":1,\"path\":\"/a\"}]", JSONPATCH_E_INVALID, 0, "\"op\" is not a string");
	apply_bad("{}", "[{\"op\":\"merge\",\"path\":\"/a\"}]", JSONPATCH_E_UNKNOWN_OP, 0, "operation 0: unknown operation \"merge\"");
	apply_bad("{}", "[{\"op\":\"ADD\",\"path\":\"/a\",\"value\":1}]", JSONPATCH_E_UNKNOWN_OP, 0, "unknown operation \"ADD\"");
	apply_bad("{}", "[{\"op\":\"add\\u0000\",\"path\":\"/a\",\"value\":1}]", JSONPATCH_E_UNKNOWN_OP, 0, "unknown operation \"add?\"");
	apply_bad("{}", "[{\"op\":\"add\",\"path\":5,\"value\":1}]", JSONPATCH_E_INVALID, 0, "\"path\" is not a string");
	apply_bad("{}", "[{\"op\":\"add\",\"path\":\"a\",\"value\":1}]", JSONPATCH_E_POINTER, 0,
			"\"path\" is not a JSON Pointer: a pointer must be empty or start with '/'");
	apply_bad("{}", "[{\"op\":\"add\",\"path\":\"/a~\",\"value\":1}]", JSONPATCH_E_POINTER, 0, "'~' must be followed by '0' or '1'");
	/* members other than op, path, from and value are ignored */
	apply_ok("{}", "[{\"op\":\"add\",\"path\":\"/a\",\"value\":1,\"xyz\":[],\"from\":7}]", "{\"a\":1}");
	apply_ok("{\"a\":1}", "[]", "{\"a\":1}");
	/* a long pointer is cut short in the message, on a whole character */
	{
		char patch[600];
		struct jsonpatch_error err;
		json_t *d = J("{}"), *p, *got;
		int n = snprintf(patch, sizeof(patch), "[{\"op\":\"remove\",\"path\":\"/");
		for(int i = 0; i < 100; i++) n += snprintf(patch + n, sizeof(patch) - (size_t)n, "\xc3\xa9");
		snprintf(patch + n, sizeof(patch) - (size_t)n, "\"}]");
		p = J(patch);
		got = jsonpatch_apply(d, p, NULL, &err);
		assert_null(got);
		assert_int_equal(err.code, JSONPATCH_E_NOT_FOUND);
		assert_true(strlen(err.text) < JSONPATCH_ERR_SIZE);
		assert_non_null(strstr(err.text, "...\"): no member"));
		assert_true(jsonutil_utf8_valid(err.text, strlen(err.text)));
		json_decref(d);
		json_decref(p);
	}
}

static void test_all_or_nothing(void **state)
{
	(void)state;
	apply_bad("{\"a\":[1,2],\"b\":{}}",
			"[{\"op\":\"add\",\"path\":\"/b/x\",\"value\":1},{\"op\":\"remove\",\"path\":\"/a/0\"},"
			"{\"op\":\"replace\",\"path\":\"/a/5\",\"value\":0}]",
			JSONPATCH_E_RANGE, 2, "operation 2 (replace \"/a/5\"): index 5 is out of range (the array has 1 elements)");
	/* a root replaced, then a failure */
	apply_bad("{\"a\":1}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":[]},{\"op\":\"test\",\"path\":\"/0\",\"value\":1}]",
			JSONPATCH_E_RANGE, 1, "index 0 is out of range");
	/* a test guards the rest */
	apply_bad("{\"v\":3,\"x\":1}", "[{\"op\":\"remove\",\"path\":\"/x\"},{\"op\":\"test\",\"path\":\"/v\",\"value\":2},"
			"{\"op\":\"replace\",\"path\":\"/v\",\"value\":4}]", JSONPATCH_E_TEST, 1, "operation 1 (test \"/v\")");
	/* later operations see the earlier ones */
	apply_ok("{\"a\":[]}", "[{\"op\":\"add\",\"path\":\"/a/-\",\"value\":1},{\"op\":\"add\",\"path\":\"/a/-\",\"value\":2},"
			"{\"op\":\"move\",\"from\":\"/a/0\",\"path\":\"/b\"},{\"op\":\"test\",\"path\":\"/a\",\"value\":[2]}]",
			"{\"a\":[2],\"b\":1}");
}

/* The patch shares nothing with the result. */
static void test_no_sharing(void **state)
{
	json_t *d = J("{}"), *p = J("[{\"op\":\"add\",\"path\":\"/a\",\"value\":{\"x\":[1]}}]"), *got;
	(void)state;
	got = jsonpatch_apply(d, p, NULL, NULL);
	assert_non_null(got);
	json_array_append_new(json_object_get(json_object_get(got, "a"), "x"), json_integer(2));
	assert_int_equal(json_array_size(jsonpatch_get(p, "/0/value/x", 10)), 1);
	json_decref(got);
	/* scalars too: doc may be a scalar */
	json_decref(d);
	json_decref(p);
	d = J("7");
	p = J("[]");
	got = jsonpatch_apply(d, p, NULL, NULL);
	assert_non_null(got);
	assert_int_equal(json_integer_value(got), 7);
	json_decref(got);
	json_decref(d);
	json_decref(p);
}

/* ---- RFC 6902 appendix A, the same situations on data of our own ---- */

static void test_rfc_appendix(void **state)
{
	(void)state;
	/* A.1 adding an object member */
	apply_ok("{\"k\":\"v\"}", "[{\"op\":\"add\",\"path\":\"/m\",\"value\":[\"n\"]}]", "{\"k\":\"v\",\"m\":[\"n\"]}");
	/* A.2 adding an array element */
	apply_ok("{\"l\":[\"p\",\"r\"]}", "[{\"op\":\"add\",\"path\":\"/l/1\",\"value\":\"q\"}]", "{\"l\":[\"p\",\"q\",\"r\"]}");
	/* A.3 removing an object member */
	apply_ok("{\"k\":\"v\",\"m\":2}", "[{\"op\":\"remove\",\"path\":\"/m\"}]", "{\"k\":\"v\"}");
	/* A.4 removing an array element */
	apply_ok("{\"l\":[\"p\",\"q\",\"r\",\"s\"]}", "[{\"op\":\"remove\",\"path\":\"/l/1\"}]", "{\"l\":[\"p\",\"r\",\"s\"]}");
	/* A.5 replacing a value */
	apply_ok("{\"k\":\"v\",\"m\":2}", "[{\"op\":\"replace\",\"path\":\"/k\",\"value\":0}]", "{\"k\":0,\"m\":2}");
	/* A.6 moving a value */
	apply_ok("{\"s\":{\"x\":\"1\",\"y\":\"2\"},\"t\":{\"z\":\"3\"}}", "[{\"op\":\"move\",\"from\":\"/s/y\",\"path\":\"/t/y\"}]",
			"{\"s\":{\"x\":\"1\"},\"t\":{\"z\":\"3\",\"y\":\"2\"}}");
	/* A.7 moving an array element */
	apply_ok("{\"l\":[\"a\",\"b\",\"c\",\"d\"]}", "[{\"op\":\"move\",\"from\":\"/l/1\",\"path\":\"/l/3\"}]",
			"{\"l\":[\"a\",\"c\",\"d\",\"b\"]}");
	/* A.8 testing a value: success */
	apply_ok("{\"b\":\"w\",\"c\":[7,8,9]}", "[{\"op\":\"test\",\"path\":\"/b\",\"value\":\"w\"},"
			"{\"op\":\"test\",\"path\":\"/c\",\"value\":[7,8,9]}]", "{\"b\":\"w\",\"c\":[7,8,9]}");
	/* A.9 testing a value: error */
	apply_bad("{\"b\":\"w\"}", "[{\"op\":\"test\",\"path\":\"/b\",\"value\":\"W\"}]", JSONPATCH_E_TEST, 0, "differs");
	/* A.10 adding a nested member object */
	apply_ok("{\"k\":1}", "[{\"op\":\"add\",\"path\":\"/o\",\"value\":{\"p\":\"q\"}}]", "{\"k\":1,\"o\":{\"p\":\"q\"}}");
	/* A.11 ignoring unrecognized elements */
	apply_ok("{\"k\":1}", "[{\"op\":\"add\",\"path\":\"/n\",\"value\":2,\"zzz\":\"ignored\"}]", "{\"k\":1,\"n\":2}");
	/* A.12 adding to a nonexistent target */
	apply_bad("{\"k\":1}", "[{\"op\":\"add\",\"path\":\"/missing/n\",\"value\":2}]", JSONPATCH_E_NOT_FOUND, 0, "no member \"missing\"");
	/* A.13 an operation with "op" twice: refused before the patch, by the
	 * parser every outside text goes through (JSON_REJECT_DUPLICATES) */
	{
		const char *t = "[{\"op\":\"add\",\"path\":\"/n\",\"value\":1,\"op\":\"remove\"}]";
		assert_null(jsonutil_parse(t, strlen(t), JSON_REJECT_DUPLICATES, NULL, 0));
	}
	/* A.14 ~ escape ordering */
	apply_ok("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":10}]", "{\"/\":9,\"~1\":10}");
	/* A.15 comparing strings and numbers */
	apply_bad("{\"/\":9,\"~1\":10}", "[{\"op\":\"test\",\"path\":\"/~01\",\"value\":\"10\"}]", JSONPATCH_E_TEST, 0, "differs");
	/* A.16 adding an array value */
	apply_ok("{\"l\":[\"a\"]}", "[{\"op\":\"add\",\"path\":\"/l/-\",\"value\":[\"b\",\"c\"]}]", "{\"l\":[\"a\",[\"b\",\"c\"]]}");
}

/* ---- the seed's patches (content sync, seed 002) ---- */

static void test_seed(void **state)
{
	json_t *one, *list, *d, *got;
	(void)state;

	/* patch_content: status and presence */
	apply_ok("{\"display_name\":\"Ann\",\"status\":\"Here\",\"presence\":\"online\"}",
			"[{\"op\":\"replace\",\"path\":\"/status\",\"value\":\"Not Here\"},"
			"{\"op\":\"replace\",\"path\":\"/presence\",\"value\":\"busy\"}]",
			"{\"display_name\":\"Ann\",\"status\":\"Not Here\",\"presence\":\"busy\"}");
	/* get_content's 206: presence */
	apply_ok("{\"presence\":\"online\",\"connected\":true}", "[{\"op\":\"replace\",\"path\":\"/presence\",\"value\":\"offline\"}]",
			"{\"presence\":\"offline\",\"connected\":true}");

	/* the read receipt: one operation object where a list is due */
	one = J("{\"op\":\"add\",\"path\":\"/read\",\"value\":true}");
	list = jsonpatch_normalise(one);
	assert_true(json_is_array(list));
	assert_int_equal(json_array_size(list), 1);
	assert_ptr_equal(json_array_get(list, 0), one);
	d = J("{\"text\":\"hi!\"}");
	got = jsonpatch_apply(d, list, NULL, NULL);
	assert_true(json_is_true(json_object_get(got, "read")));
	json_decref(got);
	json_decref(list);
	list = J("[]");
	json_t *same = jsonpatch_normalise(list);
	assert_ptr_equal(same, list);
	json_decref(same);
	json_decref(list);
	assert_null(jsonpatch_normalise(json_object_get(one, "path")));
	assert_null(jsonpatch_normalise(NULL));
	json_decref(one);
	json_decref(d);

	/* get_children's 206: a page of 5 that gained a user at 2, lost its last
	 * and saw one user disconnect: the seed's three operations */
	apply_ok("[{\"id\":1},{\"id\":2},{\"id\":3,\"connected\":true},{\"id\":4},{\"id\":5}]",
			"[{\"op\":\"add\",\"path\":\"/2\",\"value\":{\"id\":9}},{\"op\":\"remove\",\"path\":\"/5\"},"
			"{\"op\":\"replace\",\"path\":\"/3/connected\",\"value\":false}]",
			"[{\"id\":1},{\"id\":2},{\"id\":9},{\"id\":3,\"connected\":false},{\"id\":4}]");
}

/* ---- limits ---- */

static void test_limits(void **state)
{
	struct jsonpatch_limits lim = {3, 4, 20};
	struct jsonpatch_error err;
	json_t *d, *p, *got;
	static char buf[16384];
	int n;
	(void)state;

	d = J("{\"a\":{\"b\":{}}}");
	/* too many operations */
	p = J("[{\"op\":\"test\",\"path\":\"\",\"value\":{\"a\":{\"b\":{}}}},{\"op\":\"test\",\"path\":\"/a\",\"value\":{\"b\":{}}},"
			"{\"op\":\"test\",\"path\":\"/a/b\",\"value\":{}},{\"op\":\"test\",\"path\":\"/a/b\",\"value\":{}}]");
	assert_null(jsonpatch_apply(d, p, &lim, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_int_equal(err.index, -1);
	assert_string_equal(err.text, "the patch has more than 3 operations");
	json_array_remove(p, 3);
	got = jsonpatch_apply(d, p, &lim, &err);
	assert_non_null(got);
	json_decref(got);
	json_decref(p);

	/* deeper than 4: a value at /a/b/c of depth 2 makes 5 */
	p = J("[{\"op\":\"add\",\"path\":\"/a/b/c\",\"value\":{\"d\":{}}}]");
	assert_null(jsonpatch_apply(d, p, &lim, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_int_equal(err.index, 0);
	json_decref(p);
	p = J("[{\"op\":\"add\",\"path\":\"/a/b/c\",\"value\":{\"d\":1}}]");
	got = jsonpatch_apply(d, p, &lim, &err);
	assert_non_null(got);
	/* moving it deeper is checked too */
	json_decref(p);
	p = J("[{\"op\":\"add\",\"path\":\"/x\",\"value\":{\"y\":{}}},"
			"{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/x/y/z\"}]");
	json_decref(d);
	d = got;
	assert_null(jsonpatch_apply(d, p, &lim, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_int_equal(err.index, 1);
	json_decref(p);
	/* a pointer with more segments than max_depth */
	p = J("[{\"op\":\"test\",\"path\":\"/a/b/c/d/e\",\"value\":1}]");
	assert_null(jsonpatch_apply(d, p, &lim, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_string_equal(err.text, "operation 0 (test): \"path\" is deeper than 4");
	json_decref(p);
	json_decref(d);

	/* a replace counts what it replaces: at the node limit, a value of the same
	 * size still goes in, a bigger one does not */
	{
		struct jsonpatch_limits four = {10, 8, 4};
		d = J("{\"a\":[1]}");
		p = J("[{\"op\":\"replace\",\"path\":\"/a\",\"value\":[2]}]");
		got = jsonpatch_apply(d, p, &four, &err);
		assert_non_null(got);
		json_decref(got);
		json_decref(p);
		p = J("[{\"op\":\"replace\",\"path\":\"/a\",\"value\":[2,3,4]}]");
		assert_null(jsonpatch_apply(d, p, &four, &err));
		assert_int_equal(err.code, JSONPATCH_E_LIMIT);
		json_decref(p);
		json_decref(d);
	}

	/* a document over the limits is refused whole */
	d = J("[[[[[1]]]]]");
	p = J("[]");
	assert_null(jsonpatch_apply(d, p, &lim, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_int_equal(err.index, -1);
	assert_null(jsonpatch_diff(d, p, &lim, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	json_decref(d);

	/* copying the root into itself doubles the document: stopped at max_nodes
	 * (the defaults here), long before memory runs out */
	n = snprintf(buf, sizeof(buf), "[");
	for(int i = 0; i < 40; i++) n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s{\"op\":\"copy\",\"from\":\"\",\"path\":\"/-\"}", i ? "," : "");
	snprintf(buf + n, sizeof(buf) - (size_t)n, "]");
	json_decref(p);
	p = J(buf);
	d = J("[1]");
	assert_null(jsonpatch_apply(d, p, NULL, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_int_equal(err.index, 15);   /* operation i makes 2^(i+2) values: 2^17 > 100000 */
	assert_non_null(strstr(err.text, "larger than 100000 values"));
	json_decref(p);

	json_decref(d);

	/* nesting one level per operation: [] added at /0, /0/0, ...; operation i
	 * makes the document i + 2 deep */
	n = snprintf(buf, sizeof(buf), "[");
	for(int i = 0; i < 70; i++){
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s{\"op\":\"add\",\"value\":[],\"path\":\"", i ? "," : "");
		for(int j = 0; j <= i; j++) n += snprintf(buf + n, sizeof(buf) - (size_t)n, "/0");
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\"}");
	}
	snprintf(buf + n, sizeof(buf) - (size_t)n, "]");
	assert_true((size_t)n < sizeof(buf) - 1);
	p = J(buf);
	d = J("[]");
	assert_null(jsonpatch_apply(d, p, NULL, &err));
	assert_int_equal(err.code, JSONPATCH_E_LIMIT);
	assert_int_equal(err.index, JSONPATCH_MAX_DEPTH - 1);
	json_decref(p);
	json_decref(d);

	/* jansson parses 2048 deep; we refuse what is over max_depth without
	 * walking it further */
	{
		static char deep[2 * 2000 + 1];
		memset(deep, '[', 2000);
		memset(deep + 2000, ']', 2000);
		d = J(deep);
		p = J("[]");
		assert_null(jsonpatch_apply(d, p, NULL, &err));
		assert_int_equal(err.code, JSONPATCH_E_LIMIT);
		assert_null(jsonpatch_diff(d, p, NULL, &err));
		json_decref(p);
		json_decref(d);
	}
	assert_string_equal(jsonpatch_code_name(JSONPATCH_E_MOVE_CHILD), "move_child");
	assert_string_equal(jsonpatch_code_name(JSONPATCH_OK), "ok");
}

/* ---- diff ---- */

/* diff(old, new) is want (when not NULL) and applied to old gives new. */
static void diff_is(const char *old, const char *new, const char *want)
{
	json_t *a = J(old), *b = J(new), *p, *got;
	struct jsonpatch_error err;

	p = jsonpatch_diff(a, b, NULL, &err);
	if(!p) fail_msg("diff %s -> %s: %s", old, new, err.text);
	if(want){
		json_t *w = J(want);
		if(!json_equal(p, w)){
			char *g = dump(p);
			fail_msg("diff %s -> %s: %s, expected %s", old, new, g, want);
		}
		json_decref(w);
	}
	got = jsonpatch_apply(a, p, NULL, &err);
	if(!got) fail_msg("diff %s -> %s does not apply: %s", old, new, err.text);
	if(!json_equal(got, b)) fail_msg("diff %s -> %s applies to something else", old, new);
	json_decref(got);
	json_decref(p);
	json_decref(a);
	json_decref(b);
}

static void test_diff(void **state)
{
	(void)state;
	diff_is("{\"a\":1}", "{\"a\":1}", "[]");
	diff_is("[]", "[]", "[]");
	diff_is("1", "2", "[{\"op\":\"replace\",\"path\":\"\",\"value\":2}]");
	diff_is("1", "1.0", "[{\"op\":\"replace\",\"path\":\"\",\"value\":1.0}]");
	diff_is("{\"a\":1,\"b\":2,\"c\":3,\"long_member_name\":\"a long string value that is not changed\"}",
			"{\"a\":1,\"b\":5,\"c\":3,\"long_member_name\":\"a long string value that is not changed\"}",
			"[{\"op\":\"replace\",\"path\":\"/b\",\"value\":5}]");
	diff_is("{\"a\":1,\"gone\":[1,2,3],\"long_member_name\":\"a long string value that is not changed\"}",
			"{\"a\":1,\"new\":true,\"long_member_name\":\"a long string value that is not changed\"}",
			"[{\"op\":\"remove\",\"path\":\"/gone\"},{\"op\":\"add\",\"path\":\"/new\",\"value\":true}]");
	diff_is("{\"a/b\":{\"m~n\":1,\"keep\":\"a long string value that is not changed\"}}",
			"{\"a/b\":{\"m~n\":2,\"keep\":\"a long string value that is not changed\"}}",
			"[{\"op\":\"replace\",\"path\":\"/a~1b/m~0n\",\"value\":2}]");
	/* everything changed: one replace is shorter */
	diff_is("{\"a\":1,\"b\":2}", "{\"c\":3,\"d\":4}", "[{\"op\":\"replace\",\"path\":\"\",\"value\":{\"c\":3,\"d\":4}}]");
	diff_is("{\"a\":[1,2],\"k\":\"kept\"}", "{\"a\":{\"0\":1},\"k\":\"kept\"}",
			"[{\"op\":\"replace\",\"path\":\"/a\",\"value\":{\"0\":1}}]");
	/* arrays: head, tail, the middle */
	diff_is("[\"aaaaaaaa\",\"bbbbbbbb\",\"cccccccc\",\"dddddddd\"]", "[\"aaaaaaaa\",\"bbbbbbbb\",\"xx\",\"cccccccc\",\"dddddddd\"]",
			"[{\"op\":\"add\",\"path\":\"/2\",\"value\":\"xx\"}]");
	diff_is("[\"aaaaaaaa\",\"bbbbbbbb\",\"cccccccc\",\"dddddddd\"]", "[\"aaaaaaaa\",\"cccccccc\",\"dddddddd\"]",
			"[{\"op\":\"remove\",\"path\":\"/1\"}]");
	diff_is("[\"aaaaaaaa\",\"bbbbbbbb\",\"cccccccc\",\"dddddddd\"]", "[\"aaaaaaaa\",\"bbbbbbbb\",\"cccccccc\",\"dddddddd\",\"e\"]",
			"[{\"op\":\"add\",\"path\":\"/4\",\"value\":\"e\"}]");
	diff_is("[\"aaaaaaaa\",\"bbbbbbbb\",\"cccccccc\",\"dddddddd\"]", "[\"bbbbbbbb\",\"cccccccc\",\"dddddddd\"]",
			"[{\"op\":\"remove\",\"path\":\"/0\"}]");
	diff_is("[\"aaaaaaaa\",\"bbbbbbbb\",\"cccccccc\",\"dddddddd\"]", "[\"aaaaaaaa\",\"bbbbbbbb\",\"z\",\"dddddddd\"]",
			"[{\"op\":\"replace\",\"path\":\"/2\",\"value\":\"z\"}]");
	diff_is("[1,2,3]", "[]", NULL);
	diff_is("[]", "[1,2,3]", NULL);
	diff_is("[[1,2,[3,4]],5]", "[[1,2,[3,5]],5]", NULL);

	/* the seed's get_children page: a user added at 2, the last one pushed
	 * off the page, one user disconnected */
	diff_is("[{\"key\":{\"type\":\"user\",\"id\":1},\"display_name\":\"Ann Aa\",\"picture\":null,\"presence\":\"online\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":2},\"display_name\":\"Bob Bb\",\"picture\":null,\"presence\":\"online\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":3},\"display_name\":\"Cid Cc\",\"picture\":\"users/3\",\"presence\":\"online\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":4},\"display_name\":\"Dan Dd\",\"picture\":null,\"presence\":\"away\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":5},\"display_name\":\"Eve Ee\",\"picture\":null,\"presence\":\"offline\",\"connected\":false}]",
			"[{\"key\":{\"type\":\"user\",\"id\":1},\"display_name\":\"Ann Aa\",\"picture\":null,\"presence\":\"online\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":2},\"display_name\":\"Bob Bb\",\"picture\":null,\"presence\":\"online\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":98234},\"display_name\":\"Coll Derp\",\"picture\":null,\"presence\":\"online\",\"connected\":true},"
			"{\"key\":{\"type\":\"user\",\"id\":3},\"display_name\":\"Cid Cc\",\"picture\":\"users/3\",\"presence\":\"online\",\"connected\":false},"
			"{\"key\":{\"type\":\"user\",\"id\":4},\"display_name\":\"Dan Dd\",\"picture\":null,\"presence\":\"away\",\"connected\":true}]",
			"[{\"op\":\"add\",\"path\":\"/2\",\"value\":{\"key\":{\"type\":\"user\",\"id\":98234},\"display_name\":\"Coll Derp\","
			"\"picture\":null,\"presence\":\"online\",\"connected\":true}},"
			"{\"op\":\"replace\",\"path\":\"/3/connected\",\"value\":false},{\"op\":\"remove\",\"path\":\"/5\"}]");

	/* keys with escapes */
	diff_is("{\"a\":1,\"~/\":[1],\"x\":\"a long string value that is not changed\"}",
			"{\"a\":2,\"~/\":[1,2],\"x\":\"a long string value that is not changed\"}",
			"[{\"op\":\"replace\",\"path\":\"/a\",\"value\":2},{\"op\":\"add\",\"path\":\"/~0~1/1\",\"value\":2}]");

	/* a long middle (past the edit script's cells) is paired by position */
	{
		json_t *a = json_array(), *b = json_array(), *p, *got;
		for(int i = 0; i < 200; i++){
			json_array_append_new(a, json_pack("{s:i,s:s}", "i", i, "pad", "some text to make a replace long"));
			if(i % 3) json_array_append_new(b, json_pack("{s:i,s:s}", "i", i, "pad", "some text to make a replace long"));
		}
		json_array_append_new(b, json_integer(7));
		p = jsonpatch_diff(a, b, NULL, NULL);
		assert_non_null(p);
		got = jsonpatch_apply(a, p, NULL, NULL);
		assert_true(json_equal(got, b));
		json_decref(got);
		json_decref(p);
		json_decref(a);
		json_decref(b);
	}
	/* the patch shares nothing with new */
	{
		json_t *a = J("{}"), *b = J("{\"x\":[1]}"), *p = jsonpatch_diff(a, b, NULL, NULL);
		json_array_append_new(json_object_get(b, "x"), json_integer(2));
		assert_int_equal(json_array_size(jsonpatch_get(p, "/0/value", 8)), 1);
		json_decref(p);
		json_decref(a);
		json_decref(b);
	}
}

/* ---- property test: random documents, random changes ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static size_t below(size_t n)
{
	return n ? (size_t)(rnd() % n) : 0;
}

static const char *const keys[] = {"a", "b", "c", "id", "name", "a/b", "m~n", "", "-", "0", "\xc3\xa9"};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static json_t *rand_scalar(void)
{
	static const char *const strs[] = {"", "x", "online", "offline", "1", "~/"};
	switch(below(8)){
	case 0: return json_null();
	case 1: return json_boolean(below(2));
	case 2: return json_integer((json_int_t)below(5));
	case 3: return json_integer((json_int_t)rnd());
	case 4: return json_real((double)below(100) / 4);
	case 5: return json_real((double)below(3));   /* 0.0, 1.0, 2.0 beside the integers */
	default: return json_string(strs[below(sizeof(strs) / sizeof(strs[0]))]);
	}
}

static json_t *rand_value(int depth)
{
	json_t *v;
	size_t n;

	if(depth <= 0 || below(3) == 0) return rand_scalar();
	n = below(6);
	if(below(2)){
		v = json_array();
		for(size_t i = 0; i < n; i++) json_array_append_new(v, rand_value(depth - 1));
	}else{
		v = json_object();
		for(size_t i = 0; i < n; i++) json_object_set_new(v, keys[below(NKEYS)], rand_value(depth - 1));
	}
	return v;
}

/* A random container inside v (v itself possibly), borrowed; NULL if none. */
static json_t *rand_container(json_t *v)
{
	json_t *pick = json_is_array(v) || json_is_object(v) ? v : NULL;
	while(pick && below(3)){
		json_t *c = NULL;
		size_t n = json_is_array(pick) ? json_array_size(pick) : json_object_size(pick);
		if(!n) break;
		if(json_is_array(pick)){
			c = json_array_get(pick, below(n));
		}else{
			void *it = json_object_iter(pick);
			for(size_t k = below(n); k; k--) it = json_object_iter_next(pick, it);
			c = json_object_iter_value(it);
		}
		if(!json_is_array(c) && !json_is_object(c)) break;
		pick = c;
	}
	return pick;
}

/* Changes v in place a few times, the way a page or a document changes. */
static void mutate(json_t *v)
{
	for(size_t k = below(4) + 1; k; k--){
		json_t *c = rand_container(v);
		size_t n;
		if(!c) return;
		n = json_is_array(c) ? json_array_size(c) : json_object_size(c);
		if(json_is_array(c)){
			switch(below(4)){
			case 0: json_array_insert_new(c, below(n + 1), rand_value(2)); break;
			case 1: if(n) json_array_remove(c, below(n)); break;
			case 2: if(n) json_array_set_new(c, below(n), rand_value(2)); break;
			default:
				if(n > 1){   /* a swap */
					size_t i = below(n), j = below(n);
					json_t *x = json_incref(json_array_get(c, i));
					json_array_set(c, i, json_array_get(c, j));
					json_array_set_new(c, j, x);
				}
			}
		}else{
			const char *key = keys[below(NKEYS)];
			if(below(3) == 0) json_object_del(c, key);
			else json_object_set_new(c, key, rand_value(2));
		}
	}
}

/* A random pointer into v, sometimes to nothing, sometimes not a pointer. */
static char *rand_pointer(const json_t *v)
{
	struct jsonpatch_seg segs[8];
	char idx[8][24];
	size_t n = 0;

	if(below(20) == 0) return strdup(below(2) ? "bad" : "/a~2");
	while(n < 8 && below(4)){
		if(json_is_array(v)){
			size_t len = json_array_size(v), i = below(len + 2);
			if(below(8) == 0){
				segs[n].s = "-";
				segs[n].len = 1;
			}else{
				segs[n].len = (size_t)snprintf(idx[n], sizeof(idx[n]), below(30) ? "%zu" : "0%zu", i);
				segs[n].s = idx[n];
			}
			v = json_array_get(v, i);
		}else if(json_is_object(v) && json_object_size(v) && below(5)){
			void *it = json_object_iter((json_t *)v);
			for(size_t k = below(json_object_size(v)); k; k--) it = json_object_iter_next((json_t *)v, it);
			segs[n].s = json_object_iter_key(it);
			segs[n].len = strlen(segs[n].s);
			v = json_object_iter_value(it);
		}else{
			segs[n].s = keys[below(NKEYS)];
			segs[n].len = strlen(segs[n].s);
			v = json_is_object(v) ? json_object_get(v, segs[n].s) : NULL;
		}
		n++;
		if(!v && below(2)) break;
	}
	return jsonpatch_ptr_build(segs, n, NULL);
}

static json_t *rand_patch(const json_t *doc)
{
	static const char *const ops[] = {"add", "remove", "replace", "move", "copy", "test", "nope"};
	json_t *p = json_array();
	for(size_t k = below(5); k; k--){
		const char *op = ops[below(below(20) ? 6 : 7)];
		char *path = rand_pointer(doc);
		json_t *o = json_pack("{s:s,s:s}", "op", op, "path", path);
		free(path);
		if(!strcmp(op, "move") || !strcmp(op, "copy")){
			char *from = rand_pointer(doc);
			json_object_set_new(o, "from", json_string(from));
			free(from);
		}
		if(!strcmp(op, "test")){
			json_t *at = jsonpatch_get(doc, json_string_value(json_object_get(o, "path")),
					json_string_length(json_object_get(o, "path")));
			json_object_set_new(o, "value", at && below(3) ? json_deep_copy(at) : rand_value(2));
		}else if(below(15)){
			json_object_set_new(o, "value", rand_value(2));
		}
		json_array_append_new(p, o);
	}
	return p;
}

/* A page of children as get_children sends it: rows of users. */
static json_t *rand_page(void)
{
	static const char *const pres[] = {"online", "away", "offline"};
	json_t *page = json_array();
	for(size_t n = below(30) + 1; n; n--){
		json_int_t id = (json_int_t)below(1000);
		json_array_append_new(page, json_pack("{s:{s:s,s:I},s:s,s:n,s:s,s:b}", "key", "type", "user", "id", id,
				"display_name", keys[below(NKEYS)], "picture", "presence", pres[below(3)], "connected", (int)below(2)));
	}
	return page;
}

/* The page a little later: rows in, rows out, a field changed. */
static void page_change(json_t *page)
{
	for(size_t k = below(4) + 1; k; k--){
		size_t n = json_array_size(page);
		json_t *row;
		switch(below(3)){
		case 0:
			row = rand_page();
			json_array_insert(page, below(n + 1), json_array_get(row, 0));
			json_decref(row);
			break;
		case 1:
			if(n) json_array_remove(page, below(n));
			break;
		default:
			if(n && (row = json_deep_copy(json_array_get(page, below(n))))){
				json_object_set_new(row, below(2) ? "connected" : "presence", rand_scalar());
				json_array_set_new(page, below(n), row);
			}
		}
	}
}

static void test_property(void **state)
{
	const char *env = getenv("JSONPATCH_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : 20260412;
	int cases = 5000, applied = 0, refused = 0, ops = 0, changed = 0;
	(void)state;

	rng_state = seed ? seed : 1;
	for(int i = 0; i < cases; i++){
		bool paged = below(4) == 0;
		json_t *old = paged ? rand_page() : rand_value(4), *new, *p, *got, *rp;
		char *before;
		struct jsonpatch_error err;

		if(!json_is_array(old) && !json_is_object(old)) old = json_pack("{s:o}", "a", old);
		new = json_deep_copy(old);
		if(paged) page_change(new);
		else mutate(new);
		changed += !json_equal(old, new);
		p = jsonpatch_diff(old, new, NULL, &err);
		if(!p) fail_msg("seed %llu case %d: diff failed: %s", (unsigned long long)seed, i, err.text);
		got = jsonpatch_apply(old, p, NULL, &err);
		if(!got || !json_equal(got, new)){
			char *a = dump(old), *b = dump(new), *d = dump(p);
			fail_msg("seed %llu case %d: diff %s -> %s = %s %s", (unsigned long long)seed, i, a, b, d,
					got ? "gives something else" : err.text);
		}
		ops += (int)json_array_size(p);
		json_decref(got);
		json_decref(p);
		/* a random patch: applied or refused, the document never changes */
		before = dump(old);
		rp = rand_patch(old);
		got = jsonpatch_apply(old, rp, NULL, &err);
		if(got){
			applied++;
			json_decref(got);
		}else{
			char *after = dump(old);
			refused++;
			if(strcmp(before, after)) fail_msg("seed %llu case %d: a refused patch changed the document", (unsigned long long)seed, i);
			if(err.code == JSONPATCH_OK || !err.text[0] || err.index >= (long)json_array_size(rp))
				fail_msg("seed %llu case %d: a bad error report", (unsigned long long)seed, i);
			free(after);
		}
		free(before);
		json_decref(rp);
		json_decref(old);
		json_decref(new);
	}
	print_message("%d random documents (seed %llu, JSONPATCH_SEED to change it): %d changed, diffs of %d operations "
			"in all; random patches %d applied, %d refused\n", cases, (unsigned long long)seed, changed, ops, applied, refused);
	assert_true(changed > cases / 2 && applied > cases / 10 && refused > cases / 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointer_parse),
		cmocka_unit_test(test_pointer_index),
		cmocka_unit_test(test_pointer_resolve),
		cmocka_unit_test(test_pointer_build),
		cmocka_unit_test(test_add),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_move),
		cmocka_unit_test(test_copy),
		cmocka_unit_test(test_test),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_no_sharing),
		cmocka_unit_test(test_rfc_appendix),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_property),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
