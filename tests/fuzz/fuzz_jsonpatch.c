/* mapping/jsonpatch.c: JSON Pointer, JSON Patch and diff, what content sync
 * takes from clients. First byte: 0 apply (doc `\0` patch), 1 diff (old `\0`
 * new), 2 pointer (text `\0` doc); the next two bytes choose the limits (both
 * 0: the defaults, a NULL limits pointer). Invariants: apply never touches
 * its inputs, whole patch or nothing, a result within the limits; a refusal
 * says where and why in whole UTF-8 characters; diff(a, b) applied to a is b;
 * normalise is idempotent; a parsed pointer builds back to its own text. */
#include "fuzz.h"
#include "jsonpatch.h"
#include "jsonutil.h"

#include <errno.h>
#include <stdint.h>

/* What the harness knows of the limits' meaning (jsonpatch.h): a scalar is 0
 * deep, a container one more than its deepest member; every value counts. */
static size_t depth_of(const json_t *v, size_t *nodes)
{
	size_t deepest = 0, i, d;
	const char *key;
	json_t *m;

	++*nodes;
	if(json_is_array(v)){
		json_array_foreach(v, i, m){
			d = depth_of(m, nodes);
			if(d > deepest) deepest = d;
		}
		return deepest + 1;
	}
	if(json_is_object(v)){
		json_object_foreach((json_t *)v, key, m){
			d = depth_of(m, nodes);
			if(d > deepest) deepest = d;
		}
		return deepest + 1;
	}
	return 0;
}

static json_t *parse(const uint8_t *p, size_t n)
{
	char *buf = fuzz_copy(p, n);
	json_t *v = jsonutil_parse(buf, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL, 0);
	free(buf);
	return v;
}

static void check_error(const struct jsonpatch_error *err, size_t nops)
{
	size_t len = strlen(err->text);
	FUZZ_CHECK(err->code != JSONPATCH_OK);
	FUZZ_CHECK(err->index >= -1 && (err->index < 0 || (size_t)err->index < nops));
	FUZZ_CHECK(len > 0 && len < JSONPATCH_ERR_SIZE);
	FUZZ_CHECK(jsonutil_utf8_valid(err->text, len));
	FUZZ_CHECK(strcmp(jsonpatch_code_name(err->code), "?") != 0);
}

/* patch (the diff's) turns a into b, applied with room for the states in
 * between: no operation limit or node limit, the caller's depth (a diff's
 * steps stay within the deeper of the two documents). */
static void check_diff_applies(const json_t *a, const json_t *b, const json_t *patch, size_t max_depth)
{
	struct jsonpatch_limits room = {SIZE_MAX, max_depth, SIZE_MAX};
	struct jsonpatch_error err;
	json_t *got;

	FUZZ_CHECK(json_is_array(patch));
	got = jsonpatch_apply(a, patch, &room, &err);
	if(!got){
		fprintf(stderr, "diff's patch refused: %s: %s\n", jsonpatch_code_name(err.code), err.text);
		FUZZ_CHECK(got != NULL);
	}
	FUZZ_CHECK(json_equal(got, b));
	json_decref(got);
}

static void fuzz_apply(const json_t *doc, json_t *patch, const struct jsonpatch_limits *lim, size_t max_depth,
		size_t max_nodes, size_t max_ops)
{
	json_t *doc_copy = json_deep_copy(doc), *patch_copy = json_deep_copy(patch), *norm, *got, *via;
	struct jsonpatch_error err;
	size_t nodes = 0, depth;

	FUZZ_CHECK(doc_copy && patch_copy);
	norm = jsonpatch_normalise(patch);
	if(json_is_array(patch)) FUZZ_CHECK(norm == patch);
	else if(json_is_object(patch)) FUZZ_CHECK(json_is_array(norm) && json_array_size(norm) == 1 &&
			json_array_get(norm, 0) == patch);
	else FUZZ_CHECK(norm == NULL);
	if(norm){
		json_t *again = jsonpatch_normalise(norm);
		FUZZ_CHECK(again == norm);
		json_decref(again);
	}

	memset(&err, 0xa5, sizeof(err));
	got = jsonpatch_apply(doc, norm ? norm : patch, lim, &err);
	FUZZ_CHECK(json_equal(doc, doc_copy));
	FUZZ_CHECK(json_equal(patch, patch_copy));
	if(got){
		FUZZ_CHECK(err.code == JSONPATCH_OK);
		FUZZ_CHECK(json_array_size(norm) <= max_ops);
		depth = depth_of(got, &nodes);
		FUZZ_CHECK(depth <= max_depth && nodes <= max_nodes);
		/* the same patch again gives the same document: apply is a function
		 * of its inputs only */
		via = jsonpatch_apply(doc, norm, lim, NULL);
		FUZZ_CHECK(via && json_equal(via, got));
		json_decref(via);
		/* diff(doc, result) applied to doc is the result */
		memset(&err, 0xa5, sizeof(err));
		via = jsonpatch_diff(doc, got, lim, &err);
		if(via){
			check_diff_applies(doc, got, via, max_depth);
			json_decref(via);
		}else{
			check_error(&err, 0);
			FUZZ_CHECK(err.code == JSONPATCH_E_NOMEM);
		}
		FUZZ_CHECK(json_equal(doc, doc_copy));
		json_decref(got);
	}else{
		check_error(&err, json_is_array(norm) ? json_array_size(norm) : 0);
		if(!norm) FUZZ_CHECK(err.code == JSONPATCH_E_INVALID && err.index == -1);
		/* the same refusal without an error report */
		FUZZ_CHECK(jsonpatch_apply(doc, norm ? norm : patch, lim, NULL) == NULL);
	}
	json_decref(norm);
	json_decref(doc_copy);
	json_decref(patch_copy);
}

static void fuzz_diff(const json_t *a, const json_t *b, const struct jsonpatch_limits *lim, size_t max_depth,
		size_t max_nodes)
{
	json_t *a_copy = json_deep_copy(a), *b_copy = json_deep_copy(b), *patch;
	struct jsonpatch_error err;
	size_t na = 0, nb = 0, da, db;

	FUZZ_CHECK(a_copy && b_copy);
	da = depth_of(a, &na);
	db = depth_of(b, &nb);
	memset(&err, 0xa5, sizeof(err));
	patch = jsonpatch_diff(a, b, lim, &err);
	FUZZ_CHECK(json_equal(a, a_copy) && json_equal(b, b_copy));
	if(patch){
		FUZZ_CHECK(da <= max_depth && db <= max_depth && na <= max_nodes && nb <= max_nodes);
		check_diff_applies(a, b, patch, max_depth);
		if(json_equal(a, b)) FUZZ_CHECK(json_array_size(patch) == 0);
		FUZZ_CHECK(json_equal(a, a_copy) && json_equal(b, b_copy));
		json_decref(patch);
	}else{
		check_error(&err, 0);
		FUZZ_CHECK(err.code == JSONPATCH_E_NOMEM ||
				(err.code == JSONPATCH_E_LIMIT && (da > max_depth || db > max_depth || na > max_nodes ||
				nb > max_nodes)));
	}
	/* nothing to change between a document and itself */
	patch = jsonpatch_diff(a, a_copy, lim, NULL);
	if(patch) FUZZ_CHECK(json_array_size(patch) == 0);
	json_decref(patch);
	json_decref(a_copy);
	json_decref(b_copy);
}

static void fuzz_pointer(const uint8_t *text, size_t len, const json_t *doc, size_t max_depth)
{
	char *buf = fuzz_copy(text, len);
	struct jsonpatch_ptr p;
	const char *why = NULL;
	int rc;

	memset(&p, 0xa5, sizeof(p));
	rc = jsonpatch_ptr_parse(buf, len, max_depth, &p, &why);
	if(rc == 0){
		size_t blen = (size_t)-1, i, idx;
		char *back = jsonpatch_ptr_build(p.seg, p.n, &blen);
		FUZZ_CHECK(back && blen == len && !memcmp(back, buf, len) && back[blen] == '\0');
		free(back);
		FUZZ_CHECK(p.n <= max_depth);
		FUZZ_CHECK((len == 0) == (p.n == 0));
		for(i = 0; i < p.n; i++){
			FUZZ_CHECK(p.seg[i].s[p.seg[i].len] == '\0');
			if(jsonpatch_seg_index(&p.seg[i], &idx)){
				char num[32];
				snprintf(num, sizeof(num), "%zu", idx);
				FUZZ_CHECK(strlen(num) == p.seg[i].len && !memcmp(num, p.seg[i].s, p.seg[i].len));
			}
		}
		if(doc){
			json_t *v = jsonpatch_ptr_get(doc, &p);
			if(p.n <= JSONPATCH_MAX_DEPTH) FUZZ_CHECK(jsonpatch_get(doc, buf, len) == v);
			if(p.n == 0) FUZZ_CHECK(v == doc);
			if(v && p.n > 0){
				/* what the pointer names passes a test against itself, and
				 * a remove of it leaves nothing there */
				struct jsonpatch_limits lim = {2, JSONPATCH_DEPTH_CAP, SIZE_MAX};
				json_t *patch = json_array(), *got;
				struct jsonpatch_error err;
				json_array_append_new(patch, json_pack("{s:s, s:s%, s:O}", "op", "test", "path", buf, len, "value", v));
				json_array_append_new(patch, json_pack("{s:s, s:s%}", "op", "remove", "path", buf, len));
				FUZZ_CHECK(json_array_size(patch) == 2);
				got = jsonpatch_apply(doc, patch, &lim, &err);
				if(got){
					size_t n = 0;
					if(jsonpatch_ptr_get(got, &p)){
						/* only an array can still have an element there */
						p.n--;
						FUZZ_CHECK(json_is_array(jsonpatch_ptr_get(got, &p)));
						p.n++;
					}
					FUZZ_CHECK(depth_of(got, &n) <= depth_of(doc, &n));
					json_decref(got);
				}else{
					FUZZ_CHECK(err.code == JSONPATCH_E_LIMIT || err.code == JSONPATCH_E_NOMEM);
				}
				json_decref(patch);
			}
		}
	}else{
		FUZZ_CHECK(rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
		FUZZ_CHECK(why && *why);
		FUZZ_CHECK(p.n == 0);
		if(rc == -EINVAL) FUZZ_CHECK(len > 0);
	}
	jsonpatch_ptr_clear(&p);
	jsonpatch_ptr_clear(&p);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jsonpatch_limits lim;
	const struct jsonpatch_limits *limp = NULL;
	size_t max_depth = JSONPATCH_MAX_DEPTH, max_nodes = JSONPATCH_MAX_NODES, max_ops = JSONPATCH_MAX_OPS;
	const uint8_t *a, *b;
	size_t alen, blen;
	uint8_t mode;
	json_t *ja, *jb;

	if(size < 3) return 0;
	mode = data[0] % 3;
	if(data[1] || data[2]){
		/* small bounds, so that documents from a few kB reach them */
		max_ops = 1 + (data[1] & 0x0f);
		max_depth = data[1] >> 4;
		max_nodes = 1 + (size_t)data[2] * 4;
		lim = (struct jsonpatch_limits){max_ops, max_depth, max_nodes};
		limp = &lim;
	}
	data += 3;
	size -= 3;
	a = data;
	alen = size;
	b = NULL;
	blen = 0;
	{
		const uint8_t *end = memchr(data, 0, size);
		if(end){
			alen = (size_t)(end - data);
			b = end + 1;
			blen = size - alen - 1;
		}
	}
	if(mode == 2){
		jb = b ? parse(b, blen) : NULL;
		fuzz_pointer(a, alen, jb, max_depth);
		json_decref(jb);
		return 0;
	}
	if(!b) return 0;
	ja = parse(a, alen);
	jb = parse(b, blen);
	if(ja && jb){
		if(mode == 0) fuzz_apply(ja, jb, limp, max_depth, max_nodes, max_ops);
		else fuzz_diff(ja, jb, limp, max_depth, max_nodes);
	}
	json_decref(ja);
	json_decref(jb);
	return 0;
}
