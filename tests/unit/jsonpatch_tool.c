/* mapping/jsonpatch.c from the command line, for tests/integration/
 * test_jsonpatch_oracle.py (which holds it against python3-jsonpatch) and
 * by hand. Reads stdin, one case per line, each a JSON object:
 *   {"doc": D, "patch": P}   -> {"ok": true, "doc": result}
 *                             | {"ok": false, "code": "...", "index": i, "error": "..."}
 *   {"old": A, "new": B}     -> {"ok": true, "patch": diff(A, B)}
 * and writes one line per case in the same order. With "normalise": true a
 * patch that is one operation object is taken as a list of it. A line that is
 * not such an object gets {"ok": false, "code": "input", ...}. Bytes in, as
 * a fuzzer would give them: every line goes through jsonutil_parse. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jsonpatch.h"
#include "jsonutil.h"

static json_t *failure(const char *code, long index, const char *text)
{
	return json_pack("{s:b,s:s,s:I,s:s}", "ok", 0, "code", code, "index", (json_int_t)index, "error", text);
}

static json_t *run(const char *line, size_t len)
{
	char why[JSONUTIL_ERR_SIZE];
	struct jsonpatch_error err;
	json_t *in = jsonutil_parse(line, len, JSON_REJECT_DUPLICATES, why, sizeof(why));
	json_t *doc, *patch, *out;

	if(!json_is_object(in)){
		json_decref(in);
		return failure("input", -1, in ? "not an object" : why);
	}
	doc = json_object_get(in, "doc");
	patch = json_object_get(in, "patch");
	if(doc && patch){
		json_t *list = json_is_true(json_object_get(in, "normalise")) ? jsonpatch_normalise(patch)
				: json_incref(patch);
		json_t *res = jsonpatch_apply(doc, list, NULL, &err);
		json_decref(list);
		out = res ? json_pack("{s:b,s:o}", "ok", 1, "doc", res)
				: failure(jsonpatch_code_name(err.code), err.index, err.text);
	}else if(json_object_get(in, "old") && json_object_get(in, "new")){
		json_t *d = jsonpatch_diff(json_object_get(in, "old"), json_object_get(in, "new"), NULL, &err);
		out = d ? json_pack("{s:b,s:o}", "ok", 1, "patch", d)
				: failure(jsonpatch_code_name(err.code), err.index, err.text);
	}else{
		out = failure("input", -1, "neither doc and patch nor old and new");
	}
	json_decref(in);
	return out;
}

int main(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while((n = getline(&line, &cap, stdin)) >= 0){
		json_t *out;
		if(n && line[n - 1] == '\n') n--;
		out = run(line, (size_t)n);
		if(!out || json_dumpf(out, stdout, JSON_COMPACT | JSON_REAL_PRECISION(17)) || fputc('\n', stdout) == EOF){
			fprintf(stderr, "jsonpatch_tool: cannot write a result\n");
			json_decref(out);
			free(line);
			return 1;
		}
		json_decref(out);
	}
	free(line);
	return fflush(stdout) ? 1 : 0;
}
