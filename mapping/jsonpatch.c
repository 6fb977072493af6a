#include "jsonpatch.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

const char *jsonpatch_code_name(enum jsonpatch_code code)
{
	switch(code){
	case JSONPATCH_OK: return "ok";
	case JSONPATCH_E_INVALID: return "invalid";
	case JSONPATCH_E_UNKNOWN_OP: return "unknown_op";
	case JSONPATCH_E_POINTER: return "pointer";
	case JSONPATCH_E_NOT_FOUND: return "not_found";
	case JSONPATCH_E_RANGE: return "range";
	case JSONPATCH_E_TYPE: return "type";
	case JSONPATCH_E_TEST: return "test";
	case JSONPATCH_E_MOVE_CHILD: return "move_child";
	case JSONPATCH_E_LIMIT: return "limit";
	case JSONPATCH_E_NOMEM: return "nomem";
	}
	return "?";
}

/* ---- limits and measuring ---- */

static struct jsonpatch_limits limits_of(const struct jsonpatch_limits *lim)
{
	struct jsonpatch_limits l = {JSONPATCH_MAX_OPS, JSONPATCH_MAX_DEPTH, JSONPATCH_MAX_NODES};
	if(lim) l = *lim;
	if(l.max_depth > JSONPATCH_DEPTH_CAP) l.max_depth = JSONPATCH_DEPTH_CAP;
	return l;
}

/* Adds v's values to *nodes and returns its depth; -1 as soon as it is
 * deeper than max_depth or *nodes passes max_nodes (the walk stops there, so
 * it never goes deeper than max_depth + 1 whatever v is). */
static long measure(const json_t *v, size_t max_depth, size_t *nodes, size_t max_nodes)
{
	long deepest = 0;
	size_t i;
	const char *key;
	json_t *m;

	if(++*nodes > max_nodes) return -1;
	if(!json_is_array(v) && !json_is_object(v)) return 0;
	if(max_depth == 0) return -1;
	if(json_is_array(v)){
		json_array_foreach(v, i, m){
			long d = measure(m, max_depth - 1, nodes, max_nodes);
			if(d < 0) return -1;
			if(d > deepest) deepest = d;
		}
	}else{
		json_object_foreach((json_t *)v, key, m){
			long d = measure(m, max_depth - 1, nodes, max_nodes);
			if(d < 0) return -1;
			if(d > deepest) deepest = d;
		}
	}
	return deepest + 1;
}

/* The number of values in v (v already measured: bounded). */
static size_t count_nodes(const json_t *v)
{
	size_t n = 0;
	measure(v, JSONPATCH_DEPTH_CAP, &n, SIZE_MAX);
	return n;
}

/* RFC 6902 4.6 equality (v1, v2 measured: the recursion is bounded). */
static bool rfc_equal(const json_t *a, const json_t *b)
{
	if(json_is_number(a) && json_is_number(b)){
		if(json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
		if(json_is_real(a) && json_is_real(b)) return json_real_value(a) == json_real_value(b);
		/* integer against real, exactly: a double converted to an integer type
		 * only when it is whole and in range, never the other way round (2^53 + 1
		 * is not 2^53 as a double). */
		json_int_t i = json_is_integer(a) ? json_integer_value(a) : json_integer_value(b);
		double r = json_is_real(a) ? json_real_value(a) : json_real_value(b);
		if(!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) return false;
		if((double)(long long)r != r) return false;
		return (long long)r == (long long)i;
	}
	if(json_typeof(a) != json_typeof(b)) return false;
	if(json_is_array(a)){
		size_t n = json_array_size(a);
		if(n != json_array_size(b)) return false;
		for(size_t i = 0; i < n; i++){
			if(!rfc_equal(json_array_get(a, i), json_array_get(b, i))) return false;
		}
		return true;
	}
	if(json_is_object(a)){
		const char *key;
		size_t klen;
		json_t *m;
		if(json_object_size(a) != json_object_size(b)) return false;
		json_object_keylen_foreach((json_t *)a, key, klen, m){
			json_t *o = json_object_getn(b, key, klen);
			if(!o || !rfc_equal(m, o)) return false;
		}
		return true;
	}
	return json_equal(a, b);   /* strings, true, false, null */
}

/* ---- JSON Pointer ---- */

int jsonpatch_ptr_parse(const char *text, size_t len, size_t max_depth, struct jsonpatch_ptr *p,
		const char **why)
{
	const char *dummy;
	size_t n = 0, k = 0;
	char *out;

	if(!why) why = &dummy;
	memset(p, 0, sizeof(*p));
	if(len == 0) return 0;
	if(text[0] != '/'){
		*why = "a pointer must be empty or start with '/'";
		return -EINVAL;
	}
	for(size_t i = 0; i < len; i++){
		if(text[i] == '/') n++;
		else if(text[i] == '~' && (i + 1 == len || (text[i+1] != '0' && text[i+1] != '1'))){
			*why = "'~' must be followed by '0' or '1'";
			return -EINVAL;
		}
	}
	if(n > max_depth){
		*why = "the pointer has too many segments";
		return -E2BIG;
	}
	p->seg = malloc(n * sizeof(*p->seg));
	p->buf = malloc(len + 1);   /* every '/' becomes a segment's NUL, escapes shrink */
	if(!p->seg || !p->buf){
		jsonpatch_ptr_clear(p);
		*why = "out of memory";
		return -ENOMEM;
	}
	out = p->buf;
	for(size_t i = 1; i <= len; i++){
		if(i == len || text[i] == '/'){
			p->seg[p->n].s = out - k;
			p->seg[p->n].len = k;
			out[0] = '\0';
			out++;
			p->n++;
			k = 0;
			continue;
		}
		if(text[i] == '~'){
			*out++ = text[i+1] == '1' ? '/' : '~';
			i++;
		}else{
			*out++ = text[i];
		}
		k++;
	}
	return 0;
}

void jsonpatch_ptr_clear(struct jsonpatch_ptr *p)
{
	free(p->seg);
	free(p->buf);
	memset(p, 0, sizeof(*p));
}

bool jsonpatch_seg_index(const struct jsonpatch_seg *seg, size_t *idx)
{
	size_t v = 0;

	if(seg->len == 0 || (seg->s[0] == '0' && seg->len > 1)) return false;
	for(size_t i = 0; i < seg->len; i++){
		unsigned d = (unsigned char)seg->s[i] - '0';
		if(d > 9 || v > (SIZE_MAX - d) / 10) return false;
		v = v * 10 + d;
	}
	*idx = v;
	return true;
}

/* The member or element seg names in v (borrowed), or NULL. */
static json_t *child_of(const json_t *v, const struct jsonpatch_seg *seg)
{
	size_t idx;

	if(json_is_object(v)) return json_object_getn(v, seg->s, seg->len);
	if(json_is_array(v) && jsonpatch_seg_index(seg, &idx)) return json_array_get(v, idx);
	return NULL;
}

json_t *jsonpatch_ptr_get(const json_t *doc, const struct jsonpatch_ptr *p)
{
	json_t *v = (json_t *)doc;

	for(size_t i = 0; v && i < p->n; i++) v = child_of(v, &p->seg[i]);
	return v;
}

json_t *jsonpatch_get(const json_t *doc, const char *text, size_t len)
{
	struct jsonpatch_ptr p;
	json_t *v;

	if(jsonpatch_ptr_parse(text, len, JSONPATCH_MAX_DEPTH, &p, NULL)) return NULL;
	v = jsonpatch_ptr_get(doc, &p);
	jsonpatch_ptr_clear(&p);
	return v;
}

/* A growing byte string; oom set once an allocation failed. */
struct buf {
	char *s;
	size_t len, cap;
	bool oom;
};

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if(b->oom) return;
	if(b->len + n + 1 > b->cap){
		size_t cap = b->cap ? b->cap : 64;
		char *grown;
		while(cap < b->len + n + 1) cap *= 2;
		grown = realloc(b->s, cap);
		if(!grown){
			b->oom = true;
			return;
		}
		b->s = grown;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

/* Appends "/" and seg escaped. */
static void buf_add_seg(struct buf *b, const char *s, size_t n)
{
	size_t from = 0;

	buf_add(b, "/", 1);
	for(size_t i = 0; i < n; i++){
		if(s[i] != '~' && s[i] != '/') continue;
		buf_add(b, s + from, i - from);
		buf_add(b, s[i] == '~' ? "~0" : "~1", 2);
		from = i + 1;
	}
	buf_add(b, s + from, n - from);
}

char *jsonpatch_ptr_build(const struct jsonpatch_seg *seg, size_t n, size_t *len)
{
	struct buf b = {0};

	buf_add(&b, "", 0);
	for(size_t i = 0; i < n; i++) buf_add_seg(&b, seg[i].s, seg[i].len);
	if(b.oom){
		free(b.s);
		return NULL;
	}
	if(len) *len = b.len;
	return b.s;
}

/* ---- JSON Patch ---- */

json_t *jsonpatch_normalise(json_t *patch)
{
	json_t *list;

	if(json_is_array(patch)) return json_incref(patch);
	if(!json_is_object(patch)) return NULL;
	list = json_array();
	if(list && json_array_append(list, patch)){
		json_decref(list);
		return NULL;
	}
	return list;
}

/* One operation being applied: what an error report names. */
struct op_ctx {
	struct jsonpatch_error *err;
	long index;
	const char *op;        /* NULL until known */
	const char *path;      /* "path"'s text, NULL until known */
	bool in_from;          /* the failure is in "from"'s value */
	size_t path_len;
	struct jsonpatch_limits lim;
	size_t nodes;          /* values in the working document */
};

/* Copies up to cap - 1 bytes of s[0..n) into out, a NUL as "\u0000" would be
 * unreadable: control bytes become '?'; cut to whole UTF-8 characters, with
 * "..." when it was cut. */
static void quote_cut(char *out, size_t cap, const char *s, size_t n)
{
	size_t k = 0, room = cap - 4;   /* "..." and the NUL */

	for(size_t i = 0; i < n && k < room; i++){
		unsigned char c = (unsigned char)s[i];
		out[k++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
	}
	out[k] = '\0';
	if(k < n){
		while(k && !jsonutil_utf8_valid(out, k)) out[--k] = '\0';
		memcpy(out + k, "...", 4);
	}
}

/* Fills the error (when wanted) and returns -1. */
__attribute__((format(printf, 3, 4)))
static int fail(struct op_ctx *c, enum jsonpatch_code code, const char *fmt, ...)
{
	char why[160], where[96];
	va_list ap;
	int n;

	if(!c->err) return -1;
	c->err->code = code;
	c->err->index = c->index;
	va_start(ap, fmt);
	n = c->in_from ? snprintf(why, sizeof(why), "\"from\": ") : 0;
	vsnprintf(why + n, sizeof(why) - (size_t)n, fmt, ap);
	va_end(ap);
	if(c->index < 0){
		n = snprintf(c->err->text, sizeof(c->err->text), "%s", why);
	}else if(!c->op){
		n = snprintf(c->err->text, sizeof(c->err->text), "operation %ld: %s", c->index, why);
	}else if(!c->path){
		n = snprintf(c->err->text, sizeof(c->err->text), "operation %ld (%s): %s", c->index, c->op, why);
	}else{
		quote_cut(where, 64, c->path, c->path_len);
		n = snprintf(c->err->text, sizeof(c->err->text), "operation %ld (%s \"%s\"): %s", c->index, c->op,
				where, why);
	}
	if(n >= (int)sizeof(c->err->text)){
		size_t k = strlen(c->err->text);
		while(k && !jsonutil_utf8_valid(c->err->text, k)) c->err->text[--k] = '\0';
	}
	return -1;
}

/* A segment for a message. */
static const char *seg_text(char *out, size_t cap, const struct jsonpatch_seg *seg)
{
	quote_cut(out, cap, seg->s, seg->len);
	return out;
}

/* Walks p's segments but the last from *root; *parent is the container the
 * last segment is in. 0 or -1 (reported). */
static int walk_parent(struct op_ctx *c, json_t *root, const struct jsonpatch_ptr *p, json_t **parent)
{
	json_t *v = root;
	char t[48];

	for(size_t i = 0; i + 1 < p->n; i++){
		const struct jsonpatch_seg *s = &p->seg[i];
		size_t idx;
		if(json_is_object(v)){
			json_t *m = json_object_getn(v, s->s, s->len);
			if(!m) return fail(c, JSONPATCH_E_NOT_FOUND, "no member \"%s\"", seg_text(t, sizeof(t), s));
			v = m;
		}else if(json_is_array(v)){
			if(!jsonpatch_seg_index(s, &idx)){
				if(s->len == 1 && s->s[0] == '-')
					return fail(c, JSONPATCH_E_RANGE, "\"-\" names no element of an array");
				return fail(c, JSONPATCH_E_POINTER, "\"%s\" is not an array index", seg_text(t, sizeof(t), s));
			}
			if(idx >= json_array_size(v))
				return fail(c, JSONPATCH_E_RANGE, "index %zu is out of range (the array has %zu elements)", idx,
						json_array_size(v));
			v = json_array_get(v, idx);
		}else{
			return fail(c, JSONPATCH_E_TYPE, "\"%s\" goes into a value that is not an array or object",
					seg_text(t, sizeof(t), s));
		}
	}
	*parent = v;
	return 0;
}

/* The existing value p names in *root (borrowed). Its container in *parent
 * (NULL for the root) and, for an array, the index in *idx. 0 or -1. */
static int find(struct op_ctx *c, json_t *root, const struct jsonpatch_ptr *p, json_t **parent, size_t *idx,
		json_t **out)
{
	const struct jsonpatch_seg *s;
	char t[48];

	*parent = NULL;
	if(p->n == 0){
		*out = root;
		return 0;
	}
	if(walk_parent(c, root, p, parent)) return -1;
	s = &p->seg[p->n - 1];
	if(json_is_object(*parent)){
		*out = json_object_getn(*parent, s->s, s->len);
		if(!*out) return fail(c, JSONPATCH_E_NOT_FOUND, "no member \"%s\"", seg_text(t, sizeof(t), s));
		return 0;
	}
	if(!json_is_array(*parent))
		return fail(c, JSONPATCH_E_TYPE, "\"%s\" goes into a value that is not an array or object",
				seg_text(t, sizeof(t), s));
	if(!jsonpatch_seg_index(s, idx)){
		if(s->len == 1 && s->s[0] == '-') return fail(c, JSONPATCH_E_RANGE, "\"-\" names no element of an array");
		return fail(c, JSONPATCH_E_POINTER, "\"%s\" is not an array index", seg_text(t, sizeof(t), s));
	}
	if(*idx >= json_array_size(*parent))
		return fail(c, JSONPATCH_E_RANGE, "index %zu is out of range (the array has %zu elements)", *idx,
				json_array_size(*parent));
	*out = json_array_get(*parent, *idx);
	return 0;
}

/* Measures v for a place p->n deep, where a value of `freed` nodes goes; its
 * node count in *n. 0 or -1. */
static int fits(struct op_ctx *c, const json_t *v, const struct jsonpatch_ptr *p, size_t freed, size_t *n)
{
	size_t left = c->nodes - freed;
	size_t room = c->lim.max_nodes > left ? c->lim.max_nodes - left : 0;

	*n = 0;
	if(p->n > c->lim.max_depth || measure(v, c->lim.max_depth - p->n, n, room) < 0)
		return fail(c, JSONPATCH_E_LIMIT, "the document would be deeper than %zu or larger than %zu values",
				c->lim.max_depth, c->lim.max_nodes);
	return 0;
}

/* RFC 6902 4.1 add: v (a new reference, taken) at p in *root. 0 or -1. */
static int add_at(struct op_ctx *c, json_t **root, const struct jsonpatch_ptr *p, json_t *v)
{
	const struct jsonpatch_seg *s;
	json_t *parent;
	size_t idx;
	char t[48];

	if(p->n == 0){
		c->nodes -= count_nodes(*root);
		json_decref(*root);
		*root = v;
		return 0;
	}
	if(walk_parent(c, *root, p, &parent)){
		json_decref(v);
		return -1;
	}
	s = &p->seg[p->n - 1];
	if(json_is_object(parent)){
		json_t *old;
		if(memchr(s->s, '\0', s->len)){
			json_decref(v);
			return fail(c, JSONPATCH_E_POINTER, "a member name cannot hold a NUL");
		}
		old = json_object_getn(parent, s->s, s->len);
		if(old) c->nodes -= count_nodes(old);
		if(json_object_setn_new(parent, s->s, s->len, v)) return fail(c, JSONPATCH_E_NOMEM, "out of memory");
		return 0;
	}
	if(!json_is_array(parent)){
		json_decref(v);
		return fail(c, JSONPATCH_E_TYPE, "\"%s\" goes into a value that is not an array or object",
				seg_text(t, sizeof(t), s));
	}
	if(s->len == 1 && s->s[0] == '-'){
		idx = json_array_size(parent);
	}else if(!jsonpatch_seg_index(s, &idx)){
		json_decref(v);
		return fail(c, JSONPATCH_E_POINTER, "\"%s\" is not an array index", seg_text(t, sizeof(t), s));
	}else if(idx > json_array_size(parent)){
		json_decref(v);
		return fail(c, JSONPATCH_E_RANGE, "index %zu is out of range (the array has %zu elements)", idx,
				json_array_size(parent));
	}
	if(json_array_insert_new(parent, idx, v)) return fail(c, JSONPATCH_E_NOMEM, "out of memory");
	return 0;
}

/* add and copy: a deep copy of value (borrowed) at p, if it fits the
 * limits; the node count grows by its size. 0 or -1. */
static int add_copy_at(struct op_ctx *c, json_t **root, const struct jsonpatch_ptr *p, const json_t *value)
{
	size_t n;
	json_t *v;

	if(fits(c, value, p, 0, &n)) return -1;
	if(!(v = json_deep_copy(value))){
		fail(c, JSONPATCH_E_NOMEM, "out of memory");
		return -1;
	}
	if(add_at(c, root, p, v)) return -1;
	c->nodes += n;
	return 0;
}

/* RFC 6902 4.2 remove; the removed value into *out (a new reference) when out
 * is not NULL. 0 or -1. */
static int remove_at(struct op_ctx *c, json_t *root, const struct jsonpatch_ptr *p, json_t **out)
{
	json_t *parent, *v;
	size_t idx;

	if(p->n == 0) return fail(c, JSONPATCH_E_RANGE, "the whole document cannot be removed");
	if(find(c, root, p, &parent, &idx, &v)) return -1;
	json_incref(v);
	if(json_is_object(parent)){
		const struct jsonpatch_seg *s = &p->seg[p->n - 1];
		json_object_deln(parent, s->s, s->len);
	}else{
		json_array_remove(parent, idx);
	}
	c->nodes -= count_nodes(v);
	if(out) *out = v;
	else json_decref(v);
	return 0;
}

/* True if p is a proper prefix of q (q is inside the value p names). */
static bool ptr_inside(const struct jsonpatch_ptr *p, const struct jsonpatch_ptr *q)
{
	if(p->n >= q->n) return false;
	for(size_t i = 0; i < p->n; i++){
		if(p->seg[i].len != q->seg[i].len || memcmp(p->seg[i].s, q->seg[i].s, p->seg[i].len)) return false;
	}
	return true;
}

static bool ptr_same(const struct jsonpatch_ptr *p, const struct jsonpatch_ptr *q)
{
	if(p->n != q->n) return false;
	for(size_t i = 0; i < p->n; i++){
		if(p->seg[i].len != q->seg[i].len || memcmp(p->seg[i].s, q->seg[i].s, p->seg[i].len)) return false;
	}
	return true;
}

/* A pointer member of the operation ("path" or "from"), parsed. 0 or -1. */
static int member_ptr(struct op_ctx *c, const json_t *op, const char *name, struct jsonpatch_ptr *p)
{
	json_t *m = json_object_get(op, name);
	const char *why;
	int rc;

	if(!m) return fail(c, JSONPATCH_E_INVALID, "no \"%s\" member", name);
	if(!json_is_string(m)) return fail(c, JSONPATCH_E_INVALID, "\"%s\" is not a string", name);
	rc = jsonpatch_ptr_parse(json_string_value(m), json_string_length(m), c->lim.max_depth, p, &why);
	if(rc == -E2BIG) return fail(c, JSONPATCH_E_LIMIT, "\"%s\" is deeper than %zu", name, c->lim.max_depth);
	if(rc == -ENOMEM) return fail(c, JSONPATCH_E_NOMEM, "out of memory");
	if(rc) return fail(c, JSONPATCH_E_POINTER, "\"%s\" is not a JSON Pointer: %s", name, why);
	return 0;
}

enum op_kind { OP_ADD, OP_REMOVE, OP_REPLACE, OP_MOVE, OP_COPY, OP_TEST };

static const char *const op_names[] = {"add", "remove", "replace", "move", "copy", "test"};

/* Applies the operation c->index, op, to *root. 0 or -1 (reported). */
static int apply_op(struct op_ctx *c, json_t **root, const json_t *op)
{
	struct jsonpatch_ptr path, from = {0};
	json_t *name, *value = NULL, *v, *parent;
	enum op_kind kind;
	size_t n, idx;
	int rc = -1, k;

	if(!json_is_object(op)) return fail(c, JSONPATCH_E_INVALID, "not an object");
	name = json_object_get(op, "op");
	if(!name) return fail(c, JSONPATCH_E_INVALID, "no \"op\" member");
	if(!json_is_string(name)) return fail(c, JSONPATCH_E_INVALID, "\"op\" is not a string");
	for(k = OP_ADD; k <= OP_TEST; k++){
		if(!strcmp(json_string_value(name), op_names[k]) && strlen(op_names[k]) == json_string_length(name)) break;
	}
	if(k > OP_TEST){
		char t[48];
		quote_cut(t, sizeof(t), json_string_value(name), json_string_length(name));
		return fail(c, JSONPATCH_E_UNKNOWN_OP, "unknown operation \"%s\"", t);
	}
	kind = (enum op_kind)k;
	c->op = op_names[kind];
	if(member_ptr(c, op, "path", &path)) return -1;
	c->path = json_string_value(json_object_get(op, "path"));
	c->path_len = json_string_length(json_object_get(op, "path"));
	if(kind == OP_ADD || kind == OP_REPLACE || kind == OP_TEST){
		value = json_object_get(op, "value");
		if(!value){
			fail(c, JSONPATCH_E_INVALID, "no \"value\" member");
			goto out;
		}
	}
	if((kind == OP_MOVE || kind == OP_COPY) && member_ptr(c, op, "from", &from)) goto out;

	switch(kind){
	case OP_ADD:
		rc = add_copy_at(c, root, &path, value);
		break;
	case OP_REMOVE:
		rc = remove_at(c, *root, &path, NULL);
		break;
	case OP_REPLACE:
		/* the target must exist; then it is an add (which replaces a member,
		 * and for an array element a remove first) */
		if(find(c, *root, &path, &parent, &idx, &v) || fits(c, value, &path, count_nodes(v), &n)) break;
		if(!(v = json_deep_copy(value))){
			fail(c, JSONPATCH_E_NOMEM, "out of memory");
			break;
		}
		if(json_is_array(parent)){
			c->nodes -= count_nodes(json_array_get(parent, idx));
			if(json_array_set_new(parent, idx, v)){
				fail(c, JSONPATCH_E_NOMEM, "out of memory");
				break;
			}
		}else if(add_at(c, root, &path, v)){
			break;
		}
		c->nodes += n;
		rc = 0;
		break;
	case OP_MOVE:
		c->in_from = true;
		if(find(c, *root, &from, &parent, &idx, &v)) break;
		c->in_from = false;
		if(ptr_same(&from, &path)){
			rc = 0;   /* a move onto itself changes nothing */
			break;
		}
		if(ptr_inside(&from, &path)){
			fail(c, JSONPATCH_E_MOVE_CHILD, "a value cannot move into its own child");
			break;
		}
		/* depth: where it lands may be deeper than where it was */
		if(path.n > from.n){
			size_t dummy = 0;
			if(measure(v, c->lim.max_depth - path.n, &dummy, SIZE_MAX) < 0){
				fail(c, JSONPATCH_E_LIMIT, "the document would be deeper than %zu", c->lim.max_depth);
				break;
			}
		}
		if(remove_at(c, *root, &from, &v)) break;
		n = count_nodes(v);
		if(add_at(c, root, &path, v)) break;
		c->nodes += n;
		rc = 0;
		break;
	case OP_COPY:
		c->in_from = true;
		if(find(c, *root, &from, &parent, &idx, &v)) break;
		c->in_from = false;
		rc = add_copy_at(c, root, &path, v);
		break;
	case OP_TEST:
		if(find(c, *root, &path, &parent, &idx, &v)) break;
		n = 0;
		if(measure(value, c->lim.max_depth, &n, c->lim.max_nodes) < 0){
			fail(c, JSONPATCH_E_LIMIT, "the value is deeper than %zu or larger than %zu values", c->lim.max_depth,
					c->lim.max_nodes);
			break;
		}
		if(!rfc_equal(v, value)){
			fail(c, JSONPATCH_E_TEST, "the value differs");
			break;
		}
		rc = 0;
		break;
	}
out:
	jsonpatch_ptr_clear(&path);
	jsonpatch_ptr_clear(&from);
	return rc;
}

json_t *jsonpatch_apply(const json_t *doc, const json_t *patch, const struct jsonpatch_limits *lim,
		struct jsonpatch_error *err)
{
	struct op_ctx c = {.err = err, .index = -1, .lim = limits_of(lim)};
	json_t *work;
	size_t i;

	if(err){
		err->code = JSONPATCH_OK;
		err->index = -1;
		err->text[0] = '\0';
	}
	if(!json_is_array(patch)){
		fail(&c, JSONPATCH_E_INVALID, "the patch is not a list of operations");
		return NULL;
	}
	if(json_array_size(patch) > c.lim.max_ops){
		fail(&c, JSONPATCH_E_LIMIT, "the patch has more than %zu operations", c.lim.max_ops);
		return NULL;
	}
	if(!doc || measure(doc, c.lim.max_depth, &c.nodes, c.lim.max_nodes) < 0){
		fail(&c, JSONPATCH_E_LIMIT, "the document is deeper than %zu or larger than %zu values", c.lim.max_depth,
				c.lim.max_nodes);
		return NULL;
	}
	/* The whole patch or nothing: the operations work on a copy. */
	if(!(work = json_deep_copy(doc))){
		fail(&c, JSONPATCH_E_NOMEM, "out of memory");
		return NULL;
	}
	for(i = 0; i < json_array_size(patch); i++){
		c.index = (long)i;
		c.op = NULL;
		c.path = NULL;
		c.in_from = false;
		if(apply_op(&c, &work, json_array_get(patch, i))){
			json_decref(work);
			return NULL;
		}
	}
	return work;
}

/* ---- diff ---- */

/* Array middles up to this many element pairs get the cheapest edit script;
 * longer ones are paired by position. */
#define DIFF_CELLS 4096

/* Edit costs (patch text, roughly): an add or a remove 4, a replace of a
 * scalar 4, of a container 1 to 8 by the share of its members that differ. */
#define COST_INS 4
#define COST_DEL 4

struct diff_ctx {
	json_t *ops;
	struct buf path;
	bool failed;
};

static void diff_emit(struct diff_ctx *d, const char *op, const json_t *value)
{
	json_t *o, *v = NULL;

	if(d->failed) return;
	if(value && !(v = json_deep_copy(value))){
		d->failed = true;
		return;
	}
	/* the _new setters take their value even when they fail */
	o = json_pack("{s:s,s:s%}", "op", op, "path", d->path.s, d->path.len);
	if(!o || (v && json_object_set_new(o, "value", v))){
		if(!o) json_decref(v);
		json_decref(o);
		d->failed = true;
		return;
	}
	if(json_array_append_new(d->ops, o)) d->failed = true;
}

static void diff_push_key(struct diff_ctx *d, const char *key, size_t len, size_t *mark)
{
	*mark = d->path.len;
	buf_add_seg(&d->path, key, len);
	if(d->path.oom) d->failed = true;
}

static void diff_push_index(struct diff_ctx *d, size_t idx, size_t *mark)
{
	char t[24];
	int n = snprintf(t, sizeof(t), "%zu", idx);
	diff_push_key(d, t, (size_t)n, mark);
}

static void diff_pop(struct diff_ctx *d, size_t mark)
{
	d->path.len = mark;
	if(d->path.s) d->path.s[mark] = '\0';
}

/* Compact text size of v. */
static size_t text_size(const json_t *v)
{
	return json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* How much replacing a by b costs in an edit script (see COST_*). */
static unsigned pair_cost(const json_t *a, const json_t *b)
{
	size_t total, differ = 0;

	if(json_equal(a, b)) return 0;
	if(json_is_object(a) && json_is_object(b)){
		const char *key;
		size_t klen;
		json_t *m;
		total = json_object_size(a);
		json_object_keylen_foreach((json_t *)a, key, klen, m){
			json_t *o = json_object_getn(b, key, klen);
			if(!o || !json_equal(m, o)) differ++;
		}
		json_object_keylen_foreach((json_t *)b, key, klen, m){
			if(!json_object_getn(a, key, klen)){
				total++;
				differ++;
			}
		}
	}else if(json_is_array(a) && json_is_array(b)){
		size_t na = json_array_size(a), nb = json_array_size(b);
		total = na > nb ? na : nb;
		for(size_t i = 0; i < total; i++){
			if(i >= na || i >= nb || !json_equal(json_array_get(a, i), json_array_get(b, i))) differ++;
		}
	}else{
		return 4;
	}
	return total ? 1 + (unsigned)((7 * differ + total - 1) / total) : 1;
}

static void diff_value(struct diff_ctx *d, const json_t *a, const json_t *b);

/* The moves of an edit script, and the array middle they edit. */
enum { MV_KEEP, MV_SUB, MV_INS, MV_DEL };

static void diff_array(struct diff_ctx *d, const json_t *a, const json_t *b)
{
	size_t n = json_array_size(a), m = json_array_size(b), p = 0, s = 0, na, nb, idx, mark;

	while(p < n && p < m && json_equal(json_array_get(a, p), json_array_get(b, p))) p++;
	while(s < n - p && s < m - p && json_equal(json_array_get(a, n - 1 - s), json_array_get(b, m - 1 - s))) s++;
	na = n - p - s;
	nb = m - p - s;
	idx = p;
	if(na && nb && na * nb <= DIFF_CELLS){
		/* cost[i][j]: a[p..p+i) into b[p..p+j); then back from the end */
		size_t w = nb + 1, i = na, j = nb, k = 0;
		unsigned *cost = malloc((na + 1) * w * sizeof(*cost));
		unsigned char *how = malloc((na + 1) * w), *moves = malloc(na + nb);
		if(!cost || !how || !moves){
			free(cost);
			free(how);
			free(moves);
			d->failed = true;
			return;
		}
		for(i = 0; i <= na; i++){
			for(j = 0; j <= nb; j++){
				unsigned best;
				unsigned char mv;
				if(!i && !j){
					cost[0] = 0;
					how[0] = MV_KEEP;
					continue;
				}
				best = UINT32_MAX;
				mv = MV_KEEP;
				if(i && j){
					unsigned pc = pair_cost(json_array_get(a, p + i - 1), json_array_get(b, p + j - 1));
					best = cost[(i - 1) * w + j - 1] + pc;
					mv = pc ? MV_SUB : MV_KEEP;
				}
				if(j && cost[i * w + j - 1] + COST_INS < best){
					best = cost[i * w + j - 1] + COST_INS;
					mv = MV_INS;
				}
				if(i && cost[(i - 1) * w + j] + COST_DEL < best){
					best = cost[(i - 1) * w + j] + COST_DEL;
					mv = MV_DEL;
				}
				cost[i * w + j] = best;
				how[i * w + j] = mv;
			}
		}
		for(i = na, j = nb; i || j;){
			unsigned char mv = how[i * w + j];
			moves[k++] = mv;
			if(mv == MV_KEEP || mv == MV_SUB){
				i--;
				j--;
			}else if(mv == MV_INS){
				j--;
			}else{
				i--;
			}
		}
		/* forward: left of idx is b's, from idx on what is left of a */
		for(i = 0, j = 0; k-- > 0;){
			switch(moves[k]){
			case MV_KEEP:
				idx++, i++, j++;
				break;
			case MV_SUB:
				diff_push_index(d, idx, &mark);
				diff_value(d, json_array_get(a, p + i), json_array_get(b, p + j));
				diff_pop(d, mark);
				idx++, i++, j++;
				break;
			case MV_INS:
				diff_push_index(d, idx, &mark);
				diff_emit(d, "add", json_array_get(b, p + j));
				diff_pop(d, mark);
				idx++, j++;
				break;
			case MV_DEL:
				diff_push_index(d, idx, &mark);
				diff_emit(d, "remove", NULL);
				diff_pop(d, mark);
				i++;
				break;
			default:   /* the walk above writes only the four moves */
				break;
			}
		}
		free(cost);
		free(how);
		free(moves);
		return;
	}
	for(size_t i = 0; i < na && i < nb; i++, idx++){
		diff_push_index(d, idx, &mark);
		diff_value(d, json_array_get(a, p + i), json_array_get(b, p + i));
		diff_pop(d, mark);
	}
	for(size_t i = nb; i < na; i++){
		diff_push_index(d, idx, &mark);
		diff_emit(d, "remove", NULL);
		diff_pop(d, mark);
	}
	for(size_t i = na; i < nb; i++, idx++){
		diff_push_index(d, idx, &mark);
		diff_emit(d, "add", json_array_get(b, p + i));
		diff_pop(d, mark);
	}
}

static void diff_object(struct diff_ctx *d, const json_t *a, const json_t *b)
{
	const char *key;
	size_t klen, mark;
	json_t *m;

	json_object_keylen_foreach((json_t *)a, key, klen, m){
		json_t *o = json_object_getn(b, key, klen);
		diff_push_key(d, key, klen, &mark);
		if(!o) diff_emit(d, "remove", NULL);
		else diff_value(d, m, o);
		diff_pop(d, mark);
	}
	json_object_keylen_foreach((json_t *)b, key, klen, m){
		if(json_object_getn(a, key, klen)) continue;
		diff_push_key(d, key, klen, &mark);
		diff_emit(d, "add", m);
		diff_pop(d, mark);
	}
}

/* Appends to d->ops what turns a into b at d->path (a and b measured: the
 * recursion is bounded by their depth). */
static void diff_value(struct diff_ctx *d, const json_t *a, const json_t *b)
{
	size_t mark, sub = 0, whole;

	if(d->failed || json_equal(a, b)) return;
	if(!(json_is_object(a) && json_is_object(b)) && !(json_is_array(a) && json_is_array(b))){
		diff_emit(d, "replace", b);
		return;
	}
	mark = json_array_size(d->ops);
	if(json_is_object(a)) diff_object(d, a, b);
	else diff_array(d, a, b);
	if(d->failed) return;
	/* {"op":"replace","path":"...","value":...} and a comma */
	whole = 36 + d->path.len + text_size(b);
	for(size_t i = mark; i < json_array_size(d->ops) && sub <= whole; i++)
		sub += text_size(json_array_get(d->ops, i)) + 1;
	if(sub <= whole) return;
	while(json_array_size(d->ops) > mark) json_array_remove(d->ops, json_array_size(d->ops) - 1);
	diff_emit(d, "replace", b);
}

json_t *jsonpatch_diff(const json_t *old, const json_t *new, const struct jsonpatch_limits *lim,
		struct jsonpatch_error *err)
{
	struct jsonpatch_limits l = limits_of(lim);
	struct op_ctx c = {.err = err, .index = -1, .lim = l};
	struct diff_ctx d = {0};
	size_t n = 0;

	if(err){
		err->code = JSONPATCH_OK;
		err->index = -1;
		err->text[0] = '\0';
	}
	if(!old || !new || measure(old, l.max_depth, &n, l.max_nodes) < 0 ||
			(n = 0, measure(new, l.max_depth, &n, l.max_nodes) < 0)){
		fail(&c, JSONPATCH_E_LIMIT, "a document is deeper than %zu or larger than %zu values", l.max_depth,
				l.max_nodes);
		return NULL;
	}
	d.ops = json_array();
	buf_add(&d.path, "", 0);
	if(!d.ops || d.path.oom) d.failed = true;
	else diff_value(&d, old, new);
	free(d.path.s);
	if(d.failed){
		json_decref(d.ops);
		fail(&c, JSONPATCH_E_NOMEM, "out of memory");
		return NULL;
	}
	return d.ops;
}
