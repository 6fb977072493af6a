/* mapping/op_proto.c, the op dialect: what clients send. The first byte
 * picks the entry point:
 *   0  a client frame (op_parse)
 *   1  a topic name (op_topic_path), user id after the first NUL byte */
#include "fuzz.h"
#include "jsonutil.h"
#include "op_proto.h"

static void frame(const uint8_t *data, size_t size)
{
	char *buf = fuzz_copy(data, size);
	struct op_request r;
	const char *msg = NULL;
	int code = op_parse(buf, size, &r, &msg);

	if(code) FUZZ_CHECK(msg && *msg);
	else{
		FUZZ_CHECK(r.op_name != NULL);
		if(r.op == OP_SUB || r.op == OP_UNSUB || r.op == OP_PUB){
			size_t i;
			json_t *t;
			FUZZ_CHECK(json_array_size(r.topics) > 0 && json_array_size(r.topics) <= OP_TOPICS_MAX);
			/* every name the parser passed maps to a path */
			json_array_foreach(r.topics, i, t){
				bool pres;
				char *p = op_topic_path(json_string_value(t), "user", &pres);
				FUZZ_CHECK(p != NULL);
				free(p);
			}
		}
	}
	op_request_clear(&r);
	free(buf);
}

static void topic(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t nlen = nul ? (size_t)(nul - data) : size;
	char *name = fuzz_cstr(data, nlen);
	char *user = nul ? fuzz_cstr(nul + 1, size - nlen - 1) : fuzz_cstr((const uint8_t *)"u1", 2);
	bool pres = false;
	char *path = op_topic_path(name, user, &pres);

	/* a path the broker would refuse (wildcards, control characters) costs
	 * the client its session: a name that maps maps to a publishable topic */
	if(path) FUZZ_CHECK(!strpbrk(path, "+#") && jsonutil_topic_text_ok(path, strlen(path)));
	free(path);
	free(user);
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if(size < 1) return 0;
	if(data[0] % 2 == 0) frame(data + 1, size - 1);
	else topic(data + 1, size - 1);
	return 0;
}
