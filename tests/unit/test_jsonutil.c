/* Unit tests for mapping/jsonutil.c: the strict JSON decoder every parser of
 * outside text goes through (raw NUL bytes refused, errors with a position),
 * and payload conversion. The contract is jsonutil.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonutil.h"

/* buf[0..n) is refused with exactly want. */
static void parse_bad(const char *buf, size_t n, size_t flags, const char *want)
{
	char err[JSONUTIL_ERR_SIZE];
	json_t *v;

	memset(err, 'X', sizeof(err));
	v = jsonutil_parse(buf, n, flags, err, sizeof(err));
	if(v){
		char *d = jsonutil_dump(v);
		json_decref(v);
		fail_msg("%zu bytes: parsed as %s, expected '%s'", n, d ? d : "?", want);
	}
	if(strcmp(err, want)) fail_msg("%zu bytes: '%s', expected '%s'", n, err, want);
	assert_true(jsonutil_utf8_valid(err, strlen(err)));
}

/* buf[0..n) parses to the value whose compact text is want. */
static void parse_ok(const char *buf, size_t n, size_t flags, const char *want)
{
	char err[JSONUTIL_ERR_SIZE] = "";
	json_t *v = jsonutil_parse(buf, n, flags, err, sizeof(err));
	char *d;
	if(!v) fail_msg("%zu bytes: refused (%s), expected %s", n, err, want);
	d = jsonutil_dump(v);
	assert_non_null(d);
	assert_string_equal(d, want);
	free(d);
	json_decref(v);
}

/* The minimised inputs of issue 11.6: json_loadb alone accepts each, with
 * the NUL skipped. */
static void test_nul_regressions(void **state)
{
	(void)state;

	parse_bad("[1\0,2]", 6, 0, "invalid JSON at line 1 column 3: a raw NUL byte");
	parse_bad("{\"evt\":[3\0]}", 12, JSON_DECODE_ANY, "invalid JSON at line 1 column 10: a raw NUL byte");
	parse_bad("{\"evt\":{\"\":2\0}}", 15, JSON_DECODE_ANY, "invalid JSON at line 1 column 13: a raw NUL byte");
	parse_bad("null\0", 5, JSON_DECODE_ANY | JSON_ALLOW_NUL, "invalid JSON at line 1 column 5: a raw NUL byte");
	/* first byte, last byte, inside a string, after true/false */
	parse_bad("\0{}", 3, 0, "invalid JSON at line 1 column 1: a raw NUL byte");
	parse_bad("{}\0", 3, 0, "invalid JSON at line 1 column 3: a raw NUL byte");
	parse_bad("[\"a\0\"]", 6, JSON_ALLOW_NUL, "invalid JSON at line 1 column 4: a raw NUL byte");
	parse_bad("[true\0,false\0]", 14, 0, "invalid JSON at line 1 column 6: a raw NUL byte");
	parse_bad("\0", 1, JSON_DECODE_ANY, "invalid JSON at line 1 column 1: a raw NUL byte");
	/* lines count from 1, columns in characters from 1 (as jansson's) */
	parse_bad("{\n  \"\xc3\xa9\xc3\xa9\":1\0}", 14, 0, "invalid JSON at line 2 column 9: a raw NUL byte");
	parse_bad("[1,\n2,\n3\0]", 10, 0, "invalid JSON at line 3 column 2: a raw NUL byte");
	/* \u0000 inside a string is not a raw NUL: JSON_ALLOW_NUL decides */
	parse_ok("[\"a\\u0000b\"]", 12, JSON_ALLOW_NUL, "[\"a\\u0000b\"]");
	{
		char err[JSONUTIL_ERR_SIZE];
		assert_null(jsonutil_parse("[\"a\\u0000b\"]", 12, 0, err, sizeof(err)));
		assert_non_null(strstr(err, "invalid JSON at line 1 column 11: "));
	}
}

static void test_messages(void **state)
{
	(void)state;
	/* trailing commas: what is wrong, and where */
	parse_bad("{\"a\":1,}", 8, 0, "invalid JSON at line 1 column 8: string or '}' expected near '}'");
	parse_bad("[1,\n2,\n]", 8, 0, "invalid JSON at line 3 column 1: unexpected token near ']'");
	parse_bad("{\"a\":1,\"a\":2}", 13, JSON_REJECT_DUPLICATES,
			"invalid JSON at line 1 column 10: duplicate object key near '\"a\"'");
	parse_ok("{\"a\":1,\"a\":2}", 13, 0, "{\"a\":2}");   /* the flag is jansson's */
	parse_bad("{\"a\":1} x", 9, 0, "invalid JSON at line 1 column 9: end of file expected near 'x'");
	parse_bad("3", 1, 0, "invalid JSON at line 1 column 1: '[' or '{' expected near '3'");
	parse_ok("3", 1, JSON_DECODE_ANY, "3");
	parse_bad("", 0, JSON_DECODE_ANY, "invalid JSON: the text is empty");
	parse_bad(" \r\n\t", 4, JSON_DECODE_ANY, "invalid JSON: the text is empty");
	parse_bad(NULL, 0, JSON_DECODE_ANY, "invalid JSON: the text is empty");
	parse_bad("\"\xff\"", 3, JSON_DECODE_ANY, "invalid JSON at line 1 column 1: unable to decode byte 0xff near '\"'");
	/* only len bytes are read */
	parse_ok("{\"a\":1}garbage", 7, 0, "{\"a\":1}");
	parse_ok(" [1, 2] ", 8, 0, "[1,2]");
}

/* err may be NULL with errlen 0; a short buffer holds whole characters. */
static void test_error_buffer(void **state)
{
	char small[40];
	const char *msg = NULL;
	json_t *v;
	(void)state;

	assert_null(jsonutil_parse("{", 1, 0, NULL, 0));
	assert_null(jsonutil_parse("[1\0]", 4, 0, NULL, 0));
	v = jsonutil_parse("{}", 2, 0, NULL, 0);
	assert_non_null(v);
	json_decref(v);

	/* the token jansson quotes is the frame's own text: cut at a character */
	for(size_t cap = 1; cap <= sizeof(small); cap++){
		memset(small, 'X', sizeof(small));
		assert_null(jsonutil_parse("{\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\" 1}", 14, 0, small, cap));
		assert_true(strlen(small) < cap);
		if(!jsonutil_utf8_valid(small, strlen(small))) fail_msg("cap %zu: '%s' is not UTF-8", cap, small);
	}

	/* the const char * form */
	assert_null(jsonutil_parse_msg("{\"a\":1,}", 8, 0, &msg));
	assert_string_equal(msg, "invalid JSON at line 1 column 8: string or '}' expected near '}'");
	assert_null(jsonutil_parse_msg("1\0", 2, JSON_DECODE_ANY, NULL));   /* msg optional */
	msg = "untouched";
	v = jsonutil_parse_msg("[]", 2, 0, &msg);
	assert_non_null(v);
	assert_string_equal(msg, "untouched");
	json_decref(v);
}

/* MQTT payloads: JSON when it parses strictly, else a JSON string of the text. */
static void test_from_payload(void **state)
{
	static const struct { const char *in; size_t n; const char *want; } cases[] = {
		{ "{\"a\":1}", 7, "{\"a\":1}" },
		{ "[1\0,2]", 6, "\"[1\\u0000,2]\"" },       /* not [1,2] */
		{ "null\0", 5, "\"null\\u0000\"" },
		{ "{\"a\":1,}", 8, "\"{\\\"a\\\":1,}\"" },
		{ "{\"a\":1,\"a\":2}", 13, "\"{\\\"a\\\":1,\\\"a\\\":2}\"" },
		{ "", 0, "\"\"" },
		{ "hi", 2, "\"hi\"" },
	};
	(void)state;
	for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++){
		json_t *v = jsonutil_from_payload(cases[i].in, cases[i].n);
		char *d;
		assert_non_null(v);
		d = jsonutil_dump(v);
		if(strcmp(d, cases[i].want)) fail_msg("payload %zu: %s, expected %s", i, d, cases[i].want);
		free(d);
		json_decref(v);
	}
	assert_null(jsonutil_from_payload("\xff", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nul_regressions),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_error_buffer),
		cmocka_unit_test(test_from_payload),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
