/* JSON Pointer (RFC 6901), JSON Patch (RFC 6902) and a diff that writes a
 * patch, on jansson. Pure code: no I/O, no globals.
 *
 * One module rather than a pointer module and a patch module: the pointer is
 * only ever the patch's and the diff's addressing, both share the limits and
 * the error report below, and the patch walks a parsed pointer's segments
 * itself (the parent of the last one, "-" for an array's end), which a
 * separate module would have to export as internals anyway.
 *
 * Hostile input: every walk over a document is recursive only to a depth the
 * caller bounds (struct jsonpatch_limits), and every document or value is
 * measured against those bounds before anything recurses into it; jansson's
 * own parse depth (2048) applies before that. A patch can grow a document
 * (copy "" into "/a" doubles it), so the bounds hold for the document after
 * every operation, not only for the input. */
#ifndef WSGW_JSONPATCH_H
#define WSGW_JSONPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Defaults of struct jsonpatch_limits (used for a NULL limits pointer). */
#define JSONPATCH_MAX_OPS   1000     /* operations in one patch */
#define JSONPATCH_MAX_DEPTH 64       /* nesting of a document; segments of a pointer */
#define JSONPATCH_MAX_NODES 100000   /* values in a document (every member and element) */
/* A caller's max_depth is clamped to this (the recursion's stack use). */
#define JSONPATCH_DEPTH_CAP 1024

/* Depth: a scalar is 0 deep, a container one more than its deepest member
 * (an empty one 1). A value at a pointer of k segments adds k. */
struct jsonpatch_limits {
	size_t max_ops;
	size_t max_depth;
	size_t max_nodes;
};

/* Why a patch failed. */
enum jsonpatch_code {
	JSONPATCH_OK = 0,
	JSONPATCH_E_INVALID,     /* the patch is not a list, an operation not an object, a member missing or of the wrong type */
	JSONPATCH_E_UNKNOWN_OP,  /* "op" is none of the six */
	JSONPATCH_E_POINTER,     /* "path" or "from" is not a JSON Pointer */
	JSONPATCH_E_NOT_FOUND,   /* a member the pointer names is missing */
	JSONPATCH_E_RANGE,       /* an array index out of range, or "-" where it names no element */
	JSONPATCH_E_TYPE,        /* the pointer goes into a value that is not an array or object */
	JSONPATCH_E_TEST,        /* a test operation found a different value */
	JSONPATCH_E_MOVE_CHILD,  /* a move into its own child */
	JSONPATCH_E_LIMIT,       /* over a struct jsonpatch_limits bound */
	JSONPATCH_E_NOMEM,
};

/* Room for jsonpatch_error's sentence. */
#define JSONPATCH_ERR_SIZE 256

struct jsonpatch_error {
	enum jsonpatch_code code;
	long index;   /* the failing operation, from 0; -1 for the patch or a document as a whole */
	/* "operation 2 (remove \"/rows/5\"): index 5 is out of range (the array has 5 elements)";
	 * whole UTF-8 characters, a long pointer cut short */
	char text[JSONPATCH_ERR_SIZE];
};

/* A short stable name of a code ("invalid", "unknown_op", "pointer",
 * "not_found", "range", "type", "test", "move_child", "limit", "nomem", "ok"). */
const char *jsonpatch_code_name(enum jsonpatch_code code);

/* ---- JSON Pointer ---- */

/* One reference token, unescaped (~1 is '/', ~0 is '~'); s[len] is '\0', and
 * s may hold a NUL before it (a key decoded from "\u0000"). */
struct jsonpatch_seg {
	const char *s;
	size_t len;
};

/* A parsed pointer: n segments; "" (the whole document) has none. */
struct jsonpatch_ptr {
	struct jsonpatch_seg *seg;
	size_t n;
	char *buf;   /* the segments' bytes */
};

/* Parses text[0..len) (bytes in: any length, NULs allowed) as an RFC 6901
 * pointer of at most max_depth segments: "" or "/"-separated tokens where '~'
 * is followed by '0' or '1'. Whether a token is an array index is decided
 * when the pointer meets an array (jsonpatch_seg_index). 0, or -EINVAL (not
 * a pointer), -E2BIG (more segments than max_depth) or -ENOMEM, with *why
 * (when why is not NULL) a static sentence; *p is then empty, and
 * jsonpatch_ptr_clear is harmless on it either way. */
int jsonpatch_ptr_parse(const char *text, size_t len, size_t max_depth, struct jsonpatch_ptr *p,
		const char **why);
void jsonpatch_ptr_clear(struct jsonpatch_ptr *p);

/* True if seg is an array index: "0" or digits without a leading zero, that
 * fit a size_t (into *idx). "-" is not one (callers that allow it test it). */
bool jsonpatch_seg_index(const struct jsonpatch_seg *seg, size_t *idx);

/* The value p names in doc (borrowed), or NULL if there is none ("-" names
 * nothing). */
json_t *jsonpatch_ptr_get(const json_t *doc, const struct jsonpatch_ptr *p);

/* jsonpatch_ptr_get from the pointer's text; NULL also for a bad pointer or
 * one deeper than JSONPATCH_MAX_DEPTH. */
json_t *jsonpatch_get(const json_t *doc, const char *text, size_t len);

/* The escaped text of the pointer to seg[0..n) (caller frees; its length in
 * *len when len is not NULL), or NULL out of memory. No segments: "". */
char *jsonpatch_ptr_build(const struct jsonpatch_seg *seg, size_t n, size_t *len);

/* ---- JSON Patch ---- */

/* The seed's slip: a client may send one operation object where a list is
 * due ("patch": {"op": "add", ...}). Returns a new reference to a patch list:
 * patch itself when it is an array, a list of that one operation when it is
 * an object, NULL for anything else (apply then reports it as not a list). */
json_t *jsonpatch_normalise(json_t *patch);

/* Applies the operations of patch (a JSON array; see jsonpatch_normalise) to
 * a copy of doc, in order, and returns the result (a new reference that
 * shares nothing with doc or patch). The whole patch or nothing: on the first
 * failing operation it returns NULL and fills *err (when err is not NULL);
 * doc is never modified. lim NULL: the JSONPATCH_MAX_* defaults.
 * A new member whose name holds a NUL ("/a\u0000") is refused as a bad
 * pointer: jansson holds such a key but cannot parse it back, so the
 * document could not be stored and read again.
 * "test" compares as RFC 6902 section 4.6 says: numbers by value (1 and 1.0
 * are equal, unlike jansson's json_equal, which also tells integer from
 * real), strings, arrays and objects as json_equal does, and true/false/null
 * only equal themselves (a boolean is never a number). */
json_t *jsonpatch_apply(const json_t *doc, const json_t *patch, const struct jsonpatch_limits *lim,
		struct jsonpatch_error *err);

/* ---- diff ---- */

/* A patch (new reference: a JSON array, empty when the two are the same)
 * that turns old into new exactly: jsonpatch_apply(old, diff) is json_equal
 * to new (an integer 1 that became a real 1.0 is a change here). Objects are
 * compared member by member, arrays by an edit script (common head and tail,
 * then the cheapest add/remove/replace by index for a middle whose two
 * lengths multiply to at most 4096, pairs by position past that); a container is replaced whole
 * where that patch is shorter. The values share nothing with new. NULL with
 * *err filled when old or new is over the limits, or out of memory. */
json_t *jsonpatch_diff(const json_t *old, const json_t *new, const struct jsonpatch_limits *lim,
		struct jsonpatch_error *err);

#endif
