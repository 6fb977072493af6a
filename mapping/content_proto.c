/* The content sync dialect: see content_proto.h. */
#include "content_proto.h"
#include "jsonutil.h"
#include "topic.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- error codes ---- */

static const struct {
	int code;
	const char *msg;
} content_errors[] = {
	{CONTENT_E_JSON,        "Invalid JSON"},
	{CONTENT_E_SHAPE,       "Bad Request"},
	{CONTENT_E_CLS,         "Unknown Class"},
	{CONTENT_E_KEY,         "Bad Key"},
	{CONTENT_E_PATCH,       "Bad Patch"},
	{CONTENT_E_LOGIN,       "Login Required"},
	{CONTENT_E_CREDENTIAL,  "Invalid Credential"},
	{CONTENT_E_SESSION,     "Unknown Session"},
	{CONTENT_E_REFUSED,     "Refused"},
	{CONTENT_E_NOT_FOUND,   "Document Not Found"},
	{CONTENT_E_CONFLICT,    "Version Conflict"},
	{CONTENT_E_TEST,        "Test Failed"},
	{CONTENT_E_TOO_LARGE,   "Too Large"},
	{CONTENT_E_UNAVAILABLE, "Unavailable"},
};

int content_error_status(int code)
{
	return code / 10000;
}

const char *content_error_msg(int code)
{
	for(size_t i = 0; i < sizeof(content_errors) / sizeof(content_errors[0]); i++){
		if(content_errors[i].code == code) return content_errors[i].msg;
	}
	return NULL;
}

int content_patch_code(const struct jsonpatch_error *err)
{
	switch(err->code){
	case JSONPATCH_E_TEST: return CONTENT_E_TEST;
	case JSONPATCH_E_LIMIT: return CONTENT_E_TOO_LARGE;
	case JSONPATCH_E_NOMEM: return CONTENT_E_UNAVAILABLE;
	default: return CONTENT_E_PATCH;
	}
}

/* ---- keys ---- */

static bool type_char(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
			|| c == '_' || c == '.' || c == '-';
}

static bool id_char(unsigned char c)
{
	return type_char(c) || c == ':' || c == '@';
}

static bool type_valid(const char *s, size_t n)
{
	if(n == 0 || n > CONTENT_TYPE_MAX) return false;
	for(size_t i = 0; i < n; i++) if(!type_char((unsigned char)s[i])) return false;
	return true;
}

static bool id_str_valid(const char *s, size_t n)
{
	if(n == 0 || n > CONTENT_ID_STR_MAX) return false;
	for(size_t i = 0; i < n; i++) if(!id_char((unsigned char)s[i])) return false;
	return true;
}

/* True if s[0..n) is the canonical decimal of an integer 0 .. 2^53 - 1 (no
 * sign, no leading zero): the level an integer id maps to; *v its value. */
static bool id_int_text(const char *s, size_t n, long long *v)
{
	long long x = 0;

	if(n == 0 || n > 16 || (n > 1 && s[0] == '0')) return false;
	for(size_t i = 0; i < n; i++){
		if(s[i] < '0' || s[i] > '9') return false;
		x = x * 10 + (s[i] - '0');
	}
	if(x > CONTENT_ID_INT_MAX) return false;
	if(v) *v = x;
	return true;
}

/* Appends one id part (an integer or a string) to the level at *w. 0 or -1
 * with *why. */
static int id_part(const json_t *p, char **w, const char **why)
{
	if(json_is_integer(p)){
		json_int_t x = json_integer_value(p);
		if(x < 0 || x > CONTENT_ID_INT_MAX){
			*why = "an integer id must be from 0 to 2^53 - 1";
			return -1;
		}
		*w += sprintf(*w, "%lld", (long long)x);
		return 0;
	}
	if(json_is_string(p)){
		const char *s = json_string_value(p);
		size_t n = json_string_length(p);
		if(!id_str_valid(s, n)){
			*why = "a string id must be 1 to 128 characters of A-Z a-z 0-9 _ . : @ -";
			return -1;
		}
		memcpy(*w, s, n);
		*w += n;
		**w = '\0';
		return 0;
	}
	*why = "an id must be an integer, a string or an array of 1 to 4 of them";
	return -1;
}

int content_key_parse(const json_t *v, struct content_key *k, const char **why)
{
	const json_t *type, *id;
	char *w;

	memset(k, 0, sizeof(*k));
	if(!json_is_object(v)){
		*why = "a key must be an object {\"type\", \"id\"}";
		return -1;
	}
	type = json_object_get(v, "type");
	id = json_object_get(v, "id");
	if(!json_is_string(type) || !type_valid(json_string_value(type), json_string_length(type))){
		*why = "a key's type must be 1 to 64 characters of A-Z a-z 0-9 _ . -";
		return -1;
	}
	if(!id){
		*why = "a key needs an id";
		return -1;
	}
	w = k->id;
	if(json_is_array(id)){
		size_t i, n = json_array_size(id);
		json_t *p;
		if(n == 0 || n > CONTENT_ID_PARTS_MAX){
			*why = "an array id must have 1 to 4 parts";
			return -1;
		}
		json_array_foreach(id, i, p){
			if(i) *w++ = ',';
			if(id_part(p, &w, why)) return -1;
		}
	}else if(id_part(id, &w, why)){
		return -1;
	}
	memcpy(k->type, json_string_value(type), json_string_length(type) + 1);
	return 0;
}

int content_key_from_levels(const char *type, const char *id, struct content_key *k)
{
	size_t tn = strlen(type), n = strlen(id), parts = 1;
	const char *p = id;

	memset(k, 0, sizeof(*k));
	if(!type_valid(type, tn) || n >= sizeof(k->id)) return -1;
	for(;;){
		const char *comma = strchr(p, ',');
		size_t pn = comma ? (size_t)(comma - p) : strlen(p);
		if(!id_str_valid(p, pn)) return -1;
		if(!comma) break;
		if(++parts > CONTENT_ID_PARTS_MAX) return -1;
		p = comma + 1;
	}
	memcpy(k->type, type, tn + 1);
	memcpy(k->id, id, n + 1);
	return 0;
}

static json_t *id_part_json(const char *s, size_t n)
{
	long long v;
	return id_int_text(s, n, &v) ? json_integer(v) : json_stringn(s, n);
}

json_t *content_key_json(const struct content_key *k)
{
	const char *comma = strchr(k->id, ',');
	json_t *id;

	if(!comma){
		id = id_part_json(k->id, strlen(k->id));
	}else{
		const char *p = k->id;
		id = json_array();
		while(id){
			size_t n;
			comma = strchr(p, ',');
			n = comma ? (size_t)(comma - p) : strlen(p);
			if(json_array_append_new(id, id_part_json(p, n))){
				json_decref(id);
				return NULL;
			}
			if(!comma) break;
			p = comma + 1;
		}
	}
	return id ? json_pack("{s:s,s:o}", "type", k->type, "id", id) : NULL;
}

bool content_key_equal(const struct content_key *a, const struct content_key *b)
{
	return !strcmp(a->type, b->type) && !strcmp(a->id, b->id);
}

bool content_template_none(const char *tmpl)
{
	return !tmpl || !tmpl[0] || !strcmp(tmpl, "none");
}

int content_template_key(const char *tmpl, const char *username, struct content_key *k)
{
	static const char var[] = "{username}";
	const size_t vn = sizeof(var) - 1, un = strlen(username);
	const char *colon = strchr(tmpl, ':'), *p;
	char type[CONTENT_TYPE_MAX + 1], id[CONTENT_ID_LEVEL_SIZE];
	size_t w = 0;

	memset(k, 0, sizeof(*k));
	if(!colon || (size_t)(colon - tmpl) > CONTENT_TYPE_MAX) return -1;
	memcpy(type, tmpl, (size_t)(colon - tmpl));
	type[colon - tmpl] = '\0';
	for(p = colon + 1; *p; ){
		if(!strncmp(p, var, vn)){
			if(w + un >= sizeof(id)) return -1;
			memcpy(id + w, username, un);
			w += un;
			p += vn;
		}else{
			if(w + 1 >= sizeof(id)) return -1;
			id[w++] = *p++;
		}
	}
	id[w] = '\0';
	return content_key_from_levels(type, id, k);
}

/* ---- topics ---- */

char *content_doc_topic(const char *prefix, const char *root, const struct content_key *k)
{
	return topic_join(prefix, root, k->type, k->id, (char *)NULL);
}

char *content_link_topic(const char *prefix, const char *root, const struct content_key *parent,
		const struct content_key *child)
{
	return topic_join(prefix, root, parent->type, parent->id, "children", child->type, child->id, (char *)NULL);
}

char *content_children_filter(const char *prefix, const char *root, const struct content_key *parent)
{
	return topic_join(prefix, root, parent->type, parent->id, "children", "+", "+", (char *)NULL);
}

/* Skips "<part>/" at *p. */
static bool skip_level(const char **p, const char *part)
{
	size_t n = strlen(part);
	if(!n) return true;   /* an empty prefix has no level */
	if(strncmp(*p, part, n) || (*p)[n] != '/') return false;
	*p += n + 1;
	return true;
}

enum content_topic_kind content_topic_parse(const char *prefix, const char *root, const char *topic,
		struct content_key *key, struct content_key *child)
{
	const char *lv[5], *p = topic;
	size_t len[5], n = 0;
	char a[CONTENT_ID_LEVEL_SIZE], b[CONTENT_ID_LEVEL_SIZE];

	if(!skip_level(&p, prefix) || !skip_level(&p, root)) return CONTENT_TOPIC_NONE;
	for(;;){
		const char *slash = strchr(p, '/');
		if(n == 5) return CONTENT_TOPIC_NONE;
		lv[n] = p;
		len[n] = slash ? (size_t)(slash - p) : strlen(p);
		if(len[n] >= sizeof(a)) return CONTENT_TOPIC_NONE;
		n++;
		if(!slash) break;
		p = slash + 1;
	}
	if(n != 2 && !(n == 5 && len[2] == 8 && !memcmp(lv[2], "children", 8) && child)) return CONTENT_TOPIC_NONE;
	memcpy(a, lv[0], len[0]);
	a[len[0]] = '\0';
	memcpy(b, lv[1], len[1]);
	b[len[1]] = '\0';
	if(content_key_from_levels(a, b, key)) return CONTENT_TOPIC_NONE;
	if(n == 2) return CONTENT_TOPIC_DOC;
	memcpy(a, lv[3], len[3]);
	a[len[3]] = '\0';
	memcpy(b, lv[4], len[4]);
	b[len[4]] = '\0';
	return content_key_from_levels(a, b, child) ? CONTENT_TOPIC_NONE : CONTENT_TOPIC_LINK;
}

/* ---- versions ---- */

int content_ver_make(struct content_ver *v, const char *origin, long long n)
{
	size_t len = strlen(origin);

	memset(v, 0, sizeof(*v));
	if(len == 0 || len > CONTENT_ORIGIN_MAX || n < 0 || n > CONTENT_ID_INT_MAX) return -1;
	memcpy(v->origin, origin, len + 1);
	v->n = n;
	return 0;
}

int content_ver_parse(const json_t *j, struct content_ver *v, const char **why)
{
	const json_t *o = json_array_get(j, 0), *n = json_array_get(j, 1);

	memset(v, 0, sizeof(*v));
	*why = "a ver must be null or [origin, n]: origin a string or an integer, n an integer from 0 to 2^53 - 1";
	if(!json_is_array(j) || json_array_size(j) != 2 || !json_is_integer(n)) return -1;
	if(json_integer_value(n) < 0 || json_integer_value(n) > CONTENT_ID_INT_MAX) return -1;
	if(json_is_string(o)){
		size_t len = json_string_length(o);
		if(len == 0 || len > CONTENT_ORIGIN_MAX || memchr(json_string_value(o), '\0', len)) return -1;
		memcpy(v->origin, json_string_value(o), len + 1);
	}else if(json_is_integer(o)){
		snprintf(v->origin, sizeof(v->origin), "%lld", (long long)json_integer_value(o));
		v->origin_int = true;
	}else{
		return -1;
	}
	v->n = (long long)json_integer_value(n);
	return 0;
}

int content_ver_from_text(const char *text, size_t len, struct content_ver *v)
{
	json_t *j = jsonutil_parse(text, len, JSON_REJECT_DUPLICATES, NULL, 0);
	const char *why;
	int rc = j ? content_ver_parse(j, v, &why) : -1;

	json_decref(j);
	if(rc) memset(v, 0, sizeof(*v));
	return rc;
}

json_t *content_ver_json(const struct content_ver *v)
{
	json_t *o = v->origin_int ? json_integer(strtoll(v->origin, NULL, 10)) : json_string(v->origin);
	return o ? json_pack("[o,I]", o, (json_int_t)v->n) : NULL;
}

char *content_ver_text(const struct content_ver *v)
{
	json_t *j = content_ver_json(v);
	char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	return text;
}

bool content_ver_equal(const struct content_ver *a, const struct content_ver *b)
{
	return a->n == b->n && a->origin_int == b->origin_int && !strcmp(a->origin, b->origin);
}

#define HASH53_MASK ((UINT64_C(1) << 53) - 1)

uint64_t content_hash53(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	uint64_t h = UINT64_C(14695981039346656037);

	for(size_t i = 0; i < len; i++){
		h ^= p[i];
		h *= UINT64_C(1099511628211);
	}
	return (h >> 53) ^ (h & HASH53_MASK);
}

void content_ver_unversioned(const void *payload, size_t len, struct content_ver *v)
{
	content_ver_make(v, CONTENT_VER_MQTT, (long long)content_hash53(payload, len));
}

long long content_ver_next(long long prev_n, long long now_ms)
{
	long long n = prev_n < CONTENT_ID_INT_MAX ? prev_n + 1 : CONTENT_ID_INT_MAX;

	if(now_ms > n) n = now_ms;
	return n > CONTENT_ID_INT_MAX ? CONTENT_ID_INT_MAX : n;
}

/* ---- child ids ---- */

#define IDGEN_SEQ 64    /* ids per millisecond and gateway */
#define IDGEN_TAGS 16

void content_idgen_init(struct content_idgen *g, const char *gateway_id)
{
	g->ms = -1;
	g->seq = 0;
	g->tag = (unsigned)(content_hash53(gateway_id, strlen(gateway_id)) % IDGEN_TAGS);
}

long long content_idgen_next(struct content_idgen *g, long long now_ms)
{
	if(now_ms > g->ms){
		g->ms = now_ms;
		g->seq = 0;
	}else if(++g->seq == IDGEN_SEQ){
		g->ms++;
		g->seq = 0;
	}
	/* below 2^53 until the year 2248 */
	return g->ms * 1024 + (long long)(g->seq * IDGEN_TAGS + g->tag);
}

/* ---- history ---- */

int content_hist_init(struct content_hist *h, size_t cap)
{
	memset(h, 0, sizeof(*h));
	h->cap = cap;   /* the ring is allocated by the first push */
	return 0;
}

void content_hist_reset(struct content_hist *h)
{
	for(size_t i = 0; i < h->n; i++) json_decref(h->ring[(h->head + i) % h->cap].patch);
	h->n = h->head = 0;
}

void content_hist_clear(struct content_hist *h)
{
	content_hist_reset(h);
	free(h->ring);
	memset(h, 0, sizeof(*h));
}

int content_hist_push(struct content_hist *h, const struct content_ver *from, const struct content_ver *to,
		json_t *patch)
{
	struct content_change *c;

	if(!h->cap){
		json_decref(patch);
		return 0;
	}
	if(!json_is_array(patch) || (!h->ring && !(h->ring = calloc(h->cap, sizeof(*h->ring))))){
		json_decref(patch);
		return -1;
	}
	if(h->n == h->cap){
		json_decref(h->ring[h->head].patch);
		h->head = (h->head + 1) % h->cap;
		h->n--;
	}
	c = &h->ring[(h->head + h->n) % h->cap];
	c->from = *from;
	c->to = *to;
	c->patch = patch;
	c->bytes = json_dumpb(patch, NULL, 0, JSON_COMPACT);
	h->n++;
	return 0;
}

void content_hist_pop(struct content_hist *h)
{
	if(!h->n) return;
	h->n--;
	json_decref(h->ring[(h->head + h->n) % h->cap].patch);
	h->ring[(h->head + h->n) % h->cap].patch = NULL;
}

json_t *content_hist_patch(const struct content_hist *h, const struct content_ver *from,
		const struct content_ver *cur, size_t max_bytes)
{
	size_t i, j, bytes = 2, parts = 0;
	const struct content_change *c;
	json_t *out;

	if(!h->n || content_ver_equal(from, cur)) return NULL;
	if(!content_ver_equal(&h->ring[(h->head + h->n - 1) % h->cap].to, cur)) return NULL;
	/* the newest change that starts at from: the shortest run */
	for(i = h->n; i-- > 0; ){
		if(content_ver_equal(&h->ring[(h->head + i) % h->cap].from, from)) break;
	}
	if(i == (size_t)-1) return NULL;
	for(j = i; j < h->n; j++){
		c = &h->ring[(h->head + j) % h->cap];
		if(j > i && !content_ver_equal(&c->from, &h->ring[(h->head + j - 1) % h->cap].to)) return NULL;
		if(json_array_size(c->patch)){
			bytes += c->bytes - 2 + (parts ? 1 : 0);   /* its operations, and a comma after the last run's */
			parts++;
		}
	}
	if(max_bytes && bytes >= max_bytes) return NULL;
	if(!(out = json_array())) return NULL;
	for(j = i; j < h->n; j++){
		if(json_array_extend(out, h->ring[(h->head + j) % h->cap].patch)){
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

size_t content_hist_bytes(const struct content_hist *h)
{
	size_t bytes = h->ring ? h->cap * sizeof(*h->ring) : 0;

	for(size_t i = 0; i < h->n; i++) bytes += h->ring[(h->head + i) % h->cap].bytes;
	return bytes;
}

/* ---- views ---- */

static const char *const view_names[] = {
	[CONTENT_VIEW_ASC] = "asc",
	[CONTENT_VIEW_DESC] = "desc",
	[CONTENT_VIEW_ASC_PRES_FIRST] = "asc_pres_first",
	[CONTENT_VIEW_NEWEST] = "newest",
	[CONTENT_VIEW_OLDEST] = "oldest",
};

int content_view_parse(const char *name, enum content_view *view)
{
	for(size_t i = 0; i < sizeof(view_names) / sizeof(view_names[0]); i++){
		if(!strcmp(name, view_names[i])){
			*view = (enum content_view)i;
			return 0;
		}
	}
	return -1;
}

const char *content_view_name(enum content_view view)
{
	return view_names[view];
}

/* What a sort compares of one entry, worked out once. */
struct sort_item {
	const struct content_entry *e;
	const json_t *value;                 /* the summary's sort_field, NULL if none */
	bool connected;
	bool id_int;                         /* the id is an integer, id_val */
	long long id_val;
};

struct sort_ctx {
	enum content_view view;
};

/* ASCII letters folded, then the bytes: "abadi" < "Betani" < "betani". */
static int text_cmp(const char *a, const char *b)
{
	for(size_t i = 0; ; i++){
		int x = (unsigned char)a[i], y = (unsigned char)b[i];
		if(x >= 'A' && x <= 'Z') x += 'a' - 'A';
		if(y >= 'A' && y <= 'Z') y += 'a' - 'A';
		if(x != y) return x < y ? -1 : 1;
		if(!x) break;
	}
	return strcmp(a, b);
}

/* Strings first, then numbers, then anything else (missing, null, ...). */
static int value_rank(const json_t *v)
{
	return json_is_string(v) ? 0 : json_is_number(v) ? 1 : 2;
}

static int value_cmp(const json_t *a, const json_t *b)
{
	int ra = value_rank(a), rb = value_rank(b);

	if(ra != rb) return ra < rb ? -1 : 1;
	if(ra == 0) return text_cmp(json_string_value(a), json_string_value(b));
	if(ra == 1){
		double x = json_number_value(a), y = json_number_value(b);
		return x < y ? -1 : x > y;
	}
	return 0;
}

/* Integer ids by value before other ids by their level's bytes. */
static int id_cmp(const struct sort_item *a, const struct sort_item *b)
{
	if(a->id_int != b->id_int) return a->id_int ? -1 : 1;
	if(a->id_int) return a->id_val < b->id_val ? -1 : a->id_val > b->id_val;
	return strcmp(a->e->key.id, b->e->key.id);
}

static int key_cmp(const struct sort_item *a, const struct sort_item *b)
{
	int c = strcmp(a->e->key.type, b->e->key.type);
	return c ? c : id_cmp(a, b);
}

static int item_cmp(const struct sort_ctx *ctx, const struct sort_item *a, const struct sort_item *b)
{
	int c;

	switch(ctx->view){
	case CONTENT_VIEW_ASC_PRES_FIRST:
		if(a->connected != b->connected) return a->connected ? -1 : 1;
		/* fall through */
	case CONTENT_VIEW_ASC:
		c = value_cmp(a->value, b->value);
		return c ? c : key_cmp(a, b);
	case CONTENT_VIEW_DESC:
		c = value_cmp(b->value, a->value);
		return c ? c : key_cmp(b, a);
	case CONTENT_VIEW_OLDEST:
		c = id_cmp(a, b);
		return c ? c : strcmp(a->e->key.type, b->e->key.type);
	case CONTENT_VIEW_NEWEST:
		c = id_cmp(b, a);
		return c ? c : strcmp(b->e->key.type, a->e->key.type);
	}
	return 0;
}

/* A merge sort, because qsort has no context argument; tmp has n items. */
static void item_sort(const struct sort_ctx *ctx, struct sort_item *v, struct sort_item *tmp, size_t n)
{
	size_t mid = n / 2, i = 0, j = mid, k = 0;

	if(n < 2) return;
	item_sort(ctx, v, tmp, mid);
	item_sort(ctx, v + mid, tmp, n - mid);
	while(i < mid && j < n) tmp[k++] = item_cmp(ctx, &v[j], &v[i]) < 0 ? v[j++] : v[i++];
	while(i < mid) tmp[k++] = v[i++];
	while(j < n) tmp[k++] = v[j++];
	memcpy(v, tmp, n * sizeof(*v));
}

/* {"key": key} merged with the summary, the user overlay on top. */
static json_t *page_entry(const struct sort_item *it, const char *user_type)
{
	json_t *o = json_object(), *key = content_key_json(&it->e->key), *v;
	const char *name;

	if(!o || !key || json_object_set_new(o, "key", key)){
		json_decref(o);
		return NULL;
	}
	json_object_foreach(it->e->summary, name, v){
		if(strcmp(name, "key") && json_object_set(o, name, v)) goto fail;
	}
	if(!strcmp(it->e->key.type, user_type)){
		if(json_object_set_new(o, "connected", json_boolean(it->e->connected))) goto fail;
		if(!json_object_get(o, "presence")
				&& json_object_set_new(o, "presence", json_string(it->e->connected ? "online" : "offline"))){
			goto fail;
		}
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

json_t *content_page(struct content_entry *entries, size_t n, enum content_view view,
		const char *sort_field, const char *user_type, long page, long size, struct content_ver *ver)
{
	struct sort_ctx ctx = {view};
	struct sort_item *items = NULL, *tmp = NULL;
	json_t *out = json_array();
	size_t first, last;

	if(!out) return NULL;
	if(n){
		items = malloc(n * sizeof(*items));
		tmp = malloc(n * sizeof(*tmp));
		if(!items || !tmp) goto fail;
	}
	for(size_t i = 0; i < n; i++){
		const struct content_entry *e = &entries[i];
		struct sort_item *it = &items[i];
		it->e = e;
		it->value = json_object_get(e->summary, sort_field);
		it->connected = !strcmp(e->key.type, user_type) ? e->connected
				: json_is_true(json_object_get(e->summary, "connected"));
		it->id_int = id_int_text(e->key.id, strlen(e->key.id), &it->id_val);
	}
	item_sort(&ctx, items, tmp, n);
	if(page >= 1 && size >= 1 && (size_t)(page - 1) < n / (size_t)size + 1){
		first = (size_t)(page - 1) * (size_t)size;
		last = first + (size_t)size < n ? first + (size_t)size : n;
		for(size_t i = first; i < last; i++){
			if(json_array_append_new(out, page_entry(&items[i], user_type))) goto fail;
		}
	}
	free(items);
	free(tmp);
	if(content_page_ver(out, ver)){
		json_decref(out);
		return NULL;
	}
	return out;
fail:
	free(items);
	free(tmp);
	json_decref(out);
	return NULL;
}

int content_page_ver(const json_t *page, struct content_ver *ver)
{
	char *text = json_dumps(page, JSON_COMPACT | JSON_SORT_KEYS);

	if(!text) return -1;
	content_ver_make(ver, CONTENT_VER_PAGE, (long long)content_hash53(text, strlen(text)));
	free(text);
	return 0;
}

/* ---- requests ---- */

static const char *const cls_names[] = {
	[CONTENT_LOGIN] = "login",
	[CONTENT_LOGOUT] = "logout",
	[CONTENT_RECONNECT] = "reconnect",
	[CONTENT_GET_CONTENT] = "get_content",
	[CONTENT_GET_CHILDREN] = "get_children",
	[CONTENT_PATCH_CONTENT] = "patch_content",
	[CONTENT_ADD_CHILD] = "add_child",
};

const char *content_cls_name(enum content_cls cls)
{
	return cls_names[cls];
}

/* The sentence of a bad key: the field's name before the key's why. */
static const char *key_msg(const char *field, const char *why)
{
	static _Thread_local char text[256];
	snprintf(text, sizeof(text), "%s: %s", field, why);
	return text;
}

/* A string member without NUL bytes (it goes into C strings), or NULL. */
static const char *text_member(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);
	return json_is_string(v) && !memchr(json_string_value(v), '\0', json_string_length(v))
			? json_string_value(v) : NULL;
}

/* data.key, data.ver, data.subscribe. 0 or a code with *msg. */
static int parse_target(struct content_request *r, bool want_ver, bool want_sub, const char **msg)
{
	const json_t *ver = json_object_get(r->data, "ver"), *sub = json_object_get(r->data, "subscribe");
	const char *why;

	if(content_key_parse(json_object_get(r->data, "key"), &r->key, &why)){
		*msg = key_msg("data.key", why);
		return CONTENT_E_KEY;
	}
	if(want_ver && ver && !json_is_null(ver)){
		if(content_ver_parse(ver, &r->ver, &why)){
			*msg = key_msg("data.ver", why);
			return CONTENT_E_SHAPE;
		}
		r->has_ver = true;
	}
	if(want_sub && sub){
		if(!json_is_boolean(sub)){
			*msg = "data.subscribe must be true or false";
			return CONTENT_E_SHAPE;
		}
		r->subscribe = json_is_true(sub);
	}
	return 0;
}

static int parse_data(struct content_request *r, const char **msg)
{
	const json_t *v;
	int rc;

	switch(r->cls){
	case CONTENT_LOGIN:
		r->username = text_member(r->data, "username");
		r->password = text_member(r->data, "password");
		if(!r->username || !r->username[0] || !r->password){
			*msg = "login needs data.username (a non-empty string) and data.password (a string)";
			return CONTENT_E_SHAPE;
		}
		return 0;
	case CONTENT_LOGOUT:
		return 0;
	case CONTENT_RECONNECT:
		if(!(r->session = text_member(r->data, "session"))){
			*msg = "reconnect needs data.session (a string)";
			return CONTENT_E_SHAPE;
		}
		return 0;
	case CONTENT_GET_CONTENT:
		return parse_target(r, true, true, msg);
	case CONTENT_GET_CHILDREN:
		if((rc = parse_target(r, true, true, msg))) return rc;
		r->view = CONTENT_VIEW_DEFAULT;
		r->page = 1;
		if((v = json_object_get(r->data, "view")) && !json_is_null(v)
				&& (!json_is_string(v) || content_view_parse(json_string_value(v), &r->view))){
			*msg = "data.view must be one of asc, desc, asc_pres_first, newest, oldest";
			return CONTENT_E_SHAPE;
		}
		if((v = json_object_get(r->data, "page")) && !json_is_null(v)){
			if(!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > CONTENT_ID_INT_MAX){
				*msg = "data.page must be an integer from 1";
				return CONTENT_E_SHAPE;
			}
			r->page = (long)json_integer_value(v);
		}
		return 0;
	case CONTENT_PATCH_CONTENT:
		if((rc = parse_target(r, true, false, msg))) return rc;
		if(!json_object_get(r->data, "ver")){
			*msg = "patch_content needs data.ver (the version patched, or null for the current one)";
			return CONTENT_E_SHAPE;
		}
		if(!(v = json_object_get(r->data, "patch"))){
			*msg = "patch_content needs data.patch";
			return CONTENT_E_SHAPE;
		}
		if(!(r->patch = jsonpatch_normalise((json_t *)v))){
			*msg = "data.patch must be a list of operations or one operation object";
			return CONTENT_E_PATCH;
		}
		return 0;
	case CONTENT_ADD_CHILD:
		if((rc = parse_target(r, false, false, msg))) return rc;
		r->obj = json_object_get(r->data, "obj");
		if(!json_is_object(r->obj)){
			*msg = "add_child needs data.obj (an object)";
			return CONTENT_E_SHAPE;
		}
		v = json_object_get(r->obj, "key");
		if(!json_is_object(v)){
			*msg = "data.obj.key must be an object {\"type\"}";
			return CONTENT_E_KEY;
		}
		if(json_object_get(v, "id")){
			*msg = "data.obj.key.id is assigned by the server: leave it out";
			return CONTENT_E_KEY;
		}
		v = json_object_get(v, "type");
		if(!json_is_string(v) || !type_valid(json_string_value(v), json_string_length(v))){
			*msg = "data.obj.key.type must be 1 to 64 characters of A-Z a-z 0-9 _ . -";
			return CONTENT_E_KEY;
		}
		memcpy(r->child_type, json_string_value(v), json_string_length(v) + 1);
		return 0;
	}
	return 0;
}

int content_parse(const char *buf, size_t len, size_t max_frame, struct content_request *r, const char **msg)
{
	json_t *root, *id, *type, *cls;
	size_t i;

	memset(r, 0, sizeof(*r));
	if(max_frame && len > max_frame){
		*msg = "the frame is larger than content_max_frame";
		return CONTENT_E_TOO_LARGE;
	}
	root = jsonutil_parse_msg(buf, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, msg);
	if(!root) return CONTENT_E_JSON;
	r->root = root;
	if(!json_is_object(root)){
		*msg = "a frame must be a JSON object";
		return CONTENT_E_SHAPE;
	}
	id = json_object_get(root, "id");
	if(json_is_string(id) || json_is_number(id)) r->id = id;
	cls = json_object_get(root, "cls");
	r->cls_name = json_string_value(cls);
	type = json_object_get(root, "type");
	if(type && (!json_is_string(type) || strcmp(json_string_value(type), "request"))){
		*msg = "type must be \"request\" (or left out)";
		return CONTENT_E_SHAPE;
	}
	if(!r->id){
		*msg = "id must be a string or a number";
		return CONTENT_E_SHAPE;
	}
	if(!r->cls_name){
		*msg = "cls must be a string";
		return CONTENT_E_SHAPE;
	}
	for(i = 0; i < sizeof(cls_names) / sizeof(cls_names[0]); i++){
		if(!strcmp(r->cls_name, cls_names[i])) break;
	}
	if(i == sizeof(cls_names) / sizeof(cls_names[0])){
		*msg = "unknown cls (login, logout, reconnect, get_content, get_children, patch_content, add_child)";
		return CONTENT_E_CLS;
	}
	r->cls = (enum content_cls)i;
	r->data = json_object_get(root, "data");
	if(r->data && !json_is_object(r->data) && !(r->cls == CONTENT_LOGOUT && json_is_null(r->data))){
		*msg = "data must be an object";
		return CONTENT_E_SHAPE;
	}
	if(!r->data && r->cls != CONTENT_LOGOUT){
		*msg = "data must be an object";
		return CONTENT_E_SHAPE;
	}
	return parse_data(r, msg);
}

void content_request_clear(struct content_request *r)
{
	json_decref(r->patch);
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

/* ---- replies and notifications ---- */

static json_t *frame(const char *type, const char *cls, const json_t *id, bool with_id)
{
	json_t *o = json_pack("{s:s}", "type", type);

	if(!o) return NULL;
	if((with_id && json_object_set(o, "id", id ? (json_t *)id : json_null()))
			|| json_object_set_new(o, "cls", cls ? json_string(cls) : json_null())){
		json_decref(o);
		return NULL;
	}
	return o;
}

char *content_result(const char *cls, const json_t *id, int status, json_t *data)
{
	json_t *o = frame("result", cls, id, true);

	if(o && json_object_set_new(o, "status", json_integer(status))) o = (json_decref(o), NULL);
	if(o && data && json_object_set(o, "data", data)) o = (json_decref(o), NULL);
	json_decref(data);
	return jsonutil_dump_take(o);
}

char *content_error(const char *cls, const json_t *id, int code, const char *msg)
{
	json_t *o = frame("error", cls, id, true);

	if(!msg) msg = content_error_msg(code);
	if(o && json_object_set_new(o, "status", json_integer(content_error_status(code)))) o = (json_decref(o), NULL);
	if(o && json_object_set_new(o, "data", json_pack("{s:i,s:s}", "code", code, "msg", msg ? msg : "Error"))){
		json_decref(o);
		o = NULL;
	}
	return jsonutil_dump_take(o);
}

char *content_notify(const char *cls, json_t *data)
{
	json_t *o = frame("notify", cls, NULL, false);

	if(o && json_object_set(o, "data", data ? data : json_null())) o = (json_decref(o), NULL);
	json_decref(data);
	return jsonutil_dump_take(o);
}

/* o with "key" and "ver", or NULL (o released). */
static json_t *key_ver(json_t *o, const struct content_key *k, const struct content_ver *ver)
{
	if(o && (json_object_set_new(o, "key", content_key_json(k)) || json_object_set_new(o, "ver", content_ver_json(ver)))){
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *content_changed_entry(const struct content_key *k, const struct content_ver *ver, bool content,
		bool children, json_t *patch)
{
	json_t *o = key_ver(json_object(), k, ver);

	if(o && (json_object_set_new(o, "content", json_boolean(content))
			|| json_object_set_new(o, "children", json_boolean(children))
			|| (patch && json_object_set(o, "patch", patch)))){
		json_decref(o);
		o = NULL;
	}
	json_decref(patch);
	return o;
}

json_t *content_doc_data(const struct content_key *k, const struct content_ver *ver, json_t *content,
		json_t *patch)
{
	json_t *o = key_ver(json_object(), k, ver);

	if(o && ((content && json_object_set(o, "content", content)) || (patch && json_object_set(o, "patch", patch)))){
		json_decref(o);
		o = NULL;
	}
	json_decref(content);
	json_decref(patch);
	return o;
}

json_t *content_page_data(const struct content_key *k, const struct content_ver *ver, enum content_view view,
		long page, long size, size_t total, json_t *items, json_t *patch)
{
	json_t *o = key_ver(json_object(), k, ver);

	if(o && (json_object_set_new(o, "view", json_string(content_view_name(view)))
			|| json_object_set_new(o, "page", json_integer(page))
			|| json_object_set_new(o, "size", json_integer(size))
			|| json_object_set_new(o, "total", json_integer((json_int_t)total))
			|| (items && json_object_set(o, "items", items))
			|| (patch && json_object_set(o, "patch", patch)))){
		json_decref(o);
		o = NULL;
	}
	json_decref(items);
	json_decref(patch);
	return o;
}

/* ---- options ---- */

#define O(f) offsetof(struct content_config, f)

/* Keep in step with the option table in README.md. The login templates are
 * WSGW_OPT_PREFIX because that type refuses wildcards and '/'; content_check
 * validates them as keys. "none" leaves the key out of the reply (mosquitto
 * refuses an empty option value; the empty value the table takes is the
 * same for code that sets options itself). */
static const struct wsgw_option content_options[] = {
	{"root",           WSGW_OPT_PREFIX, O(root),           0, 0, "content"},
	{"session_expiry", WSGW_OPT_DOUBLE, O(session_expiry), 1, 86400, "60"},
	{"history",        WSGW_OPT_INT,    O(history),        0, 4096, "16"},
	{"page_size",      WSGW_OPT_INT,    O(page_size),      1, 1000, "20"},
	{"max_children",   WSGW_OPT_INT,    O(max_children),   1, 1000000, "10000"},
	{"max_frame",      WSGW_OPT_LONG,   O(max_frame),      256, 16777216, "65536"},
	{"max_doc",        WSGW_OPT_LONG,   O(max_doc),        256, 16777216, "262144"},
	{"sort_field",     WSGW_OPT_STRING, O(sort_field),     0, 0, "display_name"},
	{"user_type",      WSGW_OPT_STRING, O(user_type),      0, 0, "user"},
	{"self",           WSGW_OPT_PREFIX, O(self),           0, 0, "user:{username}"},
	{"rooms",          WSGW_OPT_PREFIX, O(rooms),          0, 0, "rooms:{username}"},
	{"fav",            WSGW_OPT_PREFIX, O(fav),            0, 0, "fav:{username}"},
	{"root_key",       WSGW_OPT_PREFIX, O(root_key),       0, 0, "index:root"},
	{"home",           WSGW_OPT_PREFIX, O(home),           0, 0, "unit:{username}"},
	{"config",         WSGW_OPT_STRING, O(config),         0, 0, "{}"},
};

static int content_check(void *conf, char *err, size_t errlen)
{
	const struct content_config *c = conf;
	const struct {
		const char *name, *value;
	} tmpl[] = {
		{"self", c->self}, {"rooms", c->rooms}, {"fav", c->fav}, {"root_key", c->root_key}, {"home", c->home},
	};
	struct content_key k;
	json_t *j;

	if(!c->root || !c->root[0]){
		snprintf(err, errlen, "plugin_opt_content_root must not be empty: documents would share the topic_prefix with everything else");
		return -1;
	}
	if(content_key_from_levels(c->user_type, "x", &k)){
		snprintf(err, errlen, "plugin_opt_content_user_type \"%s\" is not a key type (1..64 of A-Z a-z 0-9 _ . -)",
				c->user_type);
		return -1;
	}
	for(size_t i = 0; i < sizeof(tmpl) / sizeof(tmpl[0]); i++){
		/* "u" stands for any username a key can hold */
		if(!content_template_none(tmpl[i].value) && content_template_key(tmpl[i].value, "u", &k)){
			snprintf(err, errlen, "plugin_opt_content_%s \"%s\" is not \"<type>:<id>\" (with {username} "
					"for the user's name), or none", tmpl[i].name, tmpl[i].value);
			return -1;
		}
	}
	j = jsonutil_parse(c->config, strlen(c->config), 0, NULL, 0);
	if(!json_is_object(j)){
		json_decref(j);
		snprintf(err, errlen, "plugin_opt_content_config must be a JSON object");
		return -1;
	}
	json_decref(j);
	return 0;
}

/* Presence entries are <presence_prefix>/<root>/<username>/<member>: only
 * gateways write those of their members (docs/SECURITY.md). */
static const struct wsgw_guard content_guards[] = {
	{WSGW_GUARD_MEMBER, true,  "#"},
	{.tail = NULL},
};

const struct wsgw_dialect_conf content_conf = {
	.name = "content",
	.mount = "/content",
	.enable = true,
	.options = content_options,
	.noptions = sizeof(content_options) / sizeof(content_options[0]),
	.size = sizeof(struct content_config),
	.check = content_check,
	.member_prefix = CONTENT_MEMBER_PREFIX,
	.root = O(root),
	.guards = content_guards,
};
