/*
 * keyline: the keys of an NDJSON file's first line against a run's columns
 * (keyline.h). Every case is also fed one byte at a time, as a gzip member
 * inflated in small pieces may hand it over, and must give the same verdict.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "keyline.h"

static const enum column THREE[] = { COL_UNIQUE, COL_TIME, COL_MESSAGE };

enum verdict { OK, BAD, OPEN }; /* OPEN: the line has not ended, no verdict yet */

static enum verdict check_in(const char *text, size_t piece)
{
	struct keyline k;
	size_t n = strlen(text);

	keyline_init(&k, THREE, 3);
	for (size_t at = 0; at < n; at += piece)
		keyline_take(&k, text + at, n - at < piece ? n - at : piece);
	if (!keyline_known(&k))
		return OPEN;
	return keyline_bad(&k) ? BAD : OK;
}

static void expect(const char *text, enum verdict v)
{
	assert_int_equal(check_in(text, strlen(text) + 1), v);
	assert_int_equal(check_in(text, 1), v);
	assert_int_equal(check_in(text, 7), v);
}

static void test_the_run_s_keys_in_order_pass(void **state)
{
	(void)state;
	expect("{\"unique\":\"A\",\"time\":null,\"message\":\"hi\"}\n{\"x\":1}\n", OK);
	expect("  {\"unique\": \"A\" , \"time\" : 1, \"message\":\"\"}\r\n", OK);
	/* only the first line counts: what follows is not read */
	expect("{\"unique\":\"A\",\"time\":null,\"message\":\"hi\"}\n[garbage\n", OK);
}

static void test_values_that_look_like_syntax_are_values(void **state)
{
	(void)state;
	expect("{\"unique\":\"{\\\"time\\\":,}\",\"time\":\"a\\\\\",\"message\":\"}\\n\"}\n", OK);
}

static void test_extra_fields_may_follow_the_run_s_keys(void **state)
{
	(void)state;
	expect("{\"unique\":\"A\",\"time\":1,\"message\":\"m\",\"custom\":{\"from\":[1,{\"to\":2}]}"
	       ",\"api_time\":3}\n",
	       OK);
}

static void test_other_columns_are_refused(void **state)
{
	(void)state;
	/* one key fewer, one more, another order, another one */
	expect("{\"unique\":\"A\",\"time\":1}\n", BAD);
	expect("{\"unique\":\"A\",\"time\":1,\"message\":\"m\",\"media_file\":null}\n", BAD);
	expect("{\"time\":1,\"unique\":\"A\",\"message\":\"m\"}\n", BAD);
	expect("{\"unique\":\"A\",\"timestamp\":1,\"message\":\"m\"}\n", BAD);
	/* a key spelled with an escape is not one the writer wrote */
	expect("{\"uniqu\\u0065\":\"A\",\"time\":1,\"message\":\"m\"}\n", BAD);
	/* a key longer than any column's name that starts like one */
	expect("{\"unique_and_then_some\":\"A\",\"time\":1,\"message\":\"m\"}\n", BAD);
}

static void test_a_line_that_is_not_an_object_is_refused(void **state)
{
	(void)state;
	expect("[{\"unique\":\"A\",\"time\":1,\"message\":\"m\"}]\n", BAD);
	expect("unique,time,message\r\n", BAD);
	expect("\n{\"unique\":\"A\",\"time\":1,\"message\":\"m\"}\n", BAD);
	expect("{\"unique\":\"A\n\",\"time\":1,\"message\":\"m\"}\n", BAD);
}

static void test_a_first_line_not_yet_ended_has_no_verdict(void **state)
{
	(void)state;
	expect("{\"unique\":\"A\",\"time\":1,\"mess", OPEN);
	expect("", OPEN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_run_s_keys_in_order_pass),
		cmocka_unit_test(test_values_that_look_like_syntax_are_values),
		cmocka_unit_test(test_extra_fields_may_follow_the_run_s_keys),
		cmocka_unit_test(test_other_columns_are_refused),
		cmocka_unit_test(test_a_line_that_is_not_an_object_is_refused),
		cmocka_unit_test(test_a_first_line_not_yet_ended_has_no_verdict),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
