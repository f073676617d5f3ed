/*
 * record: key lookup, integer fields with type drift, and the SPEC §4.3
 * label table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "record.h"

static int key_of(const char *s)
{
	return record_key_of(s, strlen(s));
}

static void test_key_of_every_key(void **state)
{
	(void)state;
	assert_int_equal(key_of("unique"), REC_UNIQUE);
	assert_int_equal(key_of("timestamp"), REC_TIMESTAMP);
	assert_int_equal(key_of("direction"), REC_DIRECTION);
	assert_int_equal(key_of("from"), REC_FROM);
	assert_int_equal(key_of("to"), REC_TO);
	assert_int_equal(key_of("type"), REC_TYPE);
	assert_int_equal(key_of("state"), REC_STATE);
	assert_int_equal(key_of("message"), REC_MESSAGE);
	assert_int_equal(key_of("reason"), REC_REASON);
	for (int k = 0; k < REC_NKEYS; k++) {
		const char *name = record_key_name((enum record_key)k);

		assert_non_null(name);
		assert_int_equal(key_of(name), k);
	}
}

static void test_key_of_near_misses(void **state)
{
	static const char *const misses[] = {
		"",           "t",          "To",
		"TO",         "tO",         "ot",
		"tos",        "from ",      " from",
		"fro",        "frum",       "From",
		"type ",      "typ",        "tipe",
		"types",      "Type",       "stat",
		"states",     "State",      "stats",
		"uniqu",      "uniquE",     "uniques",
		"Unique",     "unique_id",  "reaso",
		"reasons",    "rEason",     "messag",
		"messages",   "Message",    "mesage",
		"timestam",   "timestamps", "Timestamp",
		"directio",   "directions", "Direction",
		"time",       "date",       "id",
		"abcdefghi",  "abcdef",     "abcde",
		"abcd",       "ab",         "chat",
		"media_file", "state_code", "direction_code",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(misses) / sizeof(misses[0]); i++)
		assert_int_equal(key_of(misses[i]), -1);
	/* The length is what counts, not a NUL terminator. */
	assert_int_equal(record_key_of("tofu", 2), REC_TO);
	assert_int_equal(record_key_of("to", 1), -1);
	assert_int_equal(record_key_of("message\0", 8), -1);
	assert_int_equal(record_key_of("unique\0x", 6), REC_UNIQUE);
}

typedef int parse_fn(const struct field *f, long long *out);

static int parse_of(parse_fn *parse, enum field_kind kind, const char *s, long long *out)
{
	struct field f = { s, strlen(s), kind };

	return parse(&f, out);
}

static int int_of(enum field_kind kind, const char *s, long long *out)
{
	return parse_of(record_int, kind, s, out);
}

static void parses_to(parse_fn *parse, enum field_kind kind, const char *s, long long want)
{
	long long v = 12345;

	assert_int_equal(parse_of(parse, kind, s, &v), 0);
	if (v != want)
		fprintf(stderr, "%.60s: got %lld, want %lld\n", s, v, want);
	assert_true(v == want);
}

static void ok_int(enum field_kind kind, const char *s, long long want)
{
	parses_to(record_int, kind, s, want);
}

static void bad_int(enum field_kind kind, const char *s)
{
	long long v = 0;

	assert_int_equal(int_of(kind, s, &v), -1);
}

static void test_record_int(void **state)
{
	(void)state;
	ok_int(FIELD_STRING, "123", 123);
	ok_int(FIELD_NUMBER, "123", 123);
	ok_int(FIELD_STRING, "-5", -5);
	ok_int(FIELD_NUMBER, "-5", -5);
	ok_int(FIELD_STRING, "0", 0);
	ok_int(FIELD_NUMBER, "-0", 0);
	ok_int(FIELD_STRING, "1614198777", 1614198777LL);
	ok_int(FIELD_STRING, "9223372036854775807", LLONG_MAX);
	ok_int(FIELD_NUMBER, "9223372036854775807", LLONG_MAX);
	ok_int(FIELD_STRING, "-9223372036854775808", LLONG_MIN);
	ok_int(FIELD_STRING, "007", 7);
	/* 18 digits take the unchecked path, 19 the checked one. */
	ok_int(FIELD_STRING, "999999999999999999", 999999999999999999LL);
	ok_int(FIELD_NUMBER, "-999999999999999999", -999999999999999999LL);
	ok_int(FIELD_STRING, "1000000000000000000", 1000000000000000000LL);
	bad_int(FIELD_STRING, "99999999999999999x");

	bad_int(FIELD_STRING, "");
	bad_int(FIELD_STRING, "-");
	bad_int(FIELD_STRING, "12a");
	bad_int(FIELD_STRING, "a12");
	bad_int(FIELD_STRING, " 1");
	bad_int(FIELD_STRING, "1 ");
	bad_int(FIELD_STRING, "+5");
	bad_int(FIELD_STRING, "--5");
	bad_int(FIELD_STRING, "0x10");
	bad_int(FIELD_STRING, "9223372036854775808");
	bad_int(FIELD_NUMBER, "9223372036854775808");
	bad_int(FIELD_STRING, "-9223372036854775809");
	bad_int(FIELD_STRING, "99999999999999999999");
	bad_int(FIELD_STRING, "18446744073709551616");
	bad_int(FIELD_NUMBER, "1.5");
	bad_int(FIELD_STRING, "1.5");
	bad_int(FIELD_NUMBER, "1e-3");
	bad_int(FIELD_NUMBER, "1.");
	bad_int(FIELD_NUMBER, ".");
	bad_int(FIELD_NUMBER, "1e");
	bad_int(FIELD_NUMBER, "1e+");
	bad_int(FIELD_NUMBER, "1e999");
	bad_int(FIELD_NUMBER, "1.2.3");
	bad_int(FIELD_NUMBER, "1e19");
	bad_int(FIELD_STRING, "1.0x");
	/* A number whose value is whole is that number, however it is written (SPEC §1: types drift). */
	ok_int(FIELD_NUMBER, "1e3", 1000);
	ok_int(FIELD_NUMBER, "1.5e9", 1500000000LL);
	ok_int(FIELD_NUMBER, "1614198777.0", 1614198777LL);
	ok_int(FIELD_STRING, "1614198777.000000000", 1614198777LL);
	ok_int(FIELD_NUMBER, "2.0", 2);
	ok_int(FIELD_NUMBER, "-2.0E0", -2);
	ok_int(FIELD_NUMBER, "0.0", 0);
	ok_int(FIELD_NUMBER, "1500e-2", 15);
	bad_int(FIELD_NUMBER, "150e-2");
	bad_int(FIELD_NUMBER, ".5e1");
	bad_int(FIELD_BOOL, "true");
	bad_int(FIELD_BOOL, "false");
	bad_int(FIELD_ABSENT, "");
	bad_int(FIELD_ABSENT, "null");
	bad_int(FIELD_ABSENT, "1");
	bad_int(FIELD_COMPOUND, "[1]");
	bad_int(FIELD_COMPOUND, "1");
	/* A string is read decoded: "\u0031" is the string "1" (SPEC §1: direction "1"). */
	ok_int(FIELD_STRING, "\\u0031", 1);
	ok_int(FIELD_STRING, "\\u002d5", -5);
	ok_int(FIELD_STRING, "-\\u0035", -5);
	ok_int(FIELD_STRING, "0\\u0032", 2);
	ok_int(FIELD_STRING, "1\\u0065\\u0033", 1000);
	ok_int(FIELD_STRING, "\\u0039223372036854775807", LLONG_MAX);
	/* Longer than the decoder's space on the stack. */
	ok_int(FIELD_STRING,
	       "\\u0031\\u0032\\u0033\\u0034\\u0035\\u0036\\u0037\\u0038\\u0039\\u0030\\u0031\\u0032",
	       123456789012LL);
	bad_int(FIELD_STRING, "\\u0031x");
	bad_int(FIELD_STRING, "\\u0000");
	bad_int(FIELD_STRING, "\\\\1");
	bad_int(FIELD_STRING, "\\u00311\\ud800");
	bad_int(FIELD_STRING, "\\u0039223372036854775808");
	bad_int(FIELD_STRING, "\\u0031.5");
	bad_int(FIELD_STRING, "\\n1");
}

static int epoch_of(enum field_kind kind, const char *s, long long *out)
{
	return parse_of(record_epoch, kind, s, out);
}

static void ok_epoch(enum field_kind kind, const char *s, long long want)
{
	parses_to(record_epoch, kind, s, want);
}

static void test_record_epoch(void **state)
{
	long long v = 0;

	(void)state;
	/* Whatever record_int takes, the same value. */
	ok_epoch(FIELD_STRING, "1614198777", 1614198777LL);
	ok_epoch(FIELD_NUMBER, "1.5e9", 1500000000LL);
	ok_epoch(FIELD_NUMBER, "1614198777.0", 1614198777LL);
	ok_epoch(FIELD_STRING, "-9223372036854775808", LLONG_MIN);
	/* A fraction of a second: the second it lies in, as a number or a string. */
	ok_epoch(FIELD_NUMBER, "1614198777.5", 1614198777LL);
	ok_epoch(FIELD_STRING, "1614198777.999999", 1614198777LL);
	ok_epoch(FIELD_NUMBER, "1614198777123e-3", 1614198777LL);
	ok_epoch(FIELD_NUMBER, "0.5", 0);
	ok_epoch(FIELD_NUMBER, "1e-3", 0);
	ok_epoch(FIELD_NUMBER, "0.05", 0);
	/* Before 1970 the second starts below: -0.5 is 23:59:59 of the day before. */
	ok_epoch(FIELD_NUMBER, "-0.5", -1);
	ok_epoch(FIELD_NUMBER, "-1.5", -2);
	ok_epoch(FIELD_NUMBER, "-2.0", -2);
	ok_epoch(FIELD_NUMBER, "-1e-300", -1);
	/* More digits than are held: those far past the point still decide. */
	ok_epoch(FIELD_NUMBER, "1614198777.0000000000000000000000000000000000000000001",
		 1614198777LL);
	ok_epoch(FIELD_NUMBER, "-1614198777.0000000000000000000000000000000000000000001",
		 -1614198778LL);
	ok_epoch(FIELD_NUMBER, "-1614198777.00000000000000000000000000000000000000000000",
		 -1614198777LL);
	/* Leading zeros offset by a long exponent; an exponent of any length. */
	{
		static char big[20100] = "0.";

		memset(big + 2, '0', 20000);
		strcpy(big + 20002, "1e20005");
		ok_epoch(FIELD_NUMBER, big, 10000);
		ok_int(FIELD_NUMBER, big, 10000);
	}
	ok_epoch(FIELD_NUMBER, "1e-99999999999999999999999", 0);
	ok_epoch(FIELD_NUMBER, "-1e-99999999999999999999999", -1);
	assert_int_equal(epoch_of(FIELD_NUMBER, "1e99999999999999999999999", &v), -1);
	assert_int_equal(int_of(FIELD_NUMBER, "1e-99999999999999999999999", &v), -1);
	/* Still not numbers, or out of range. */
	assert_int_equal(epoch_of(FIELD_NUMBER, "1e19", &v), -1);
	assert_int_equal(epoch_of(FIELD_NUMBER, "1e400", &v), -1);
	assert_int_equal(epoch_of(FIELD_STRING, "1.", &v), -1);
	assert_int_equal(epoch_of(FIELD_STRING, ".5", &v), -1);
	assert_int_equal(epoch_of(FIELD_STRING, "1.5x", &v), -1);
	assert_int_equal(epoch_of(FIELD_STRING, "never", &v), -1);
	/* Escaped as a string: decoded first, a fraction floored as unescaped. */
	ok_epoch(FIELD_STRING, "\\u0031614198777", 1614198777LL);
	ok_epoch(FIELD_STRING, "1614198777\\u002e5", 1614198777LL);
	ok_epoch(FIELD_STRING, "-\\u0030.5", -1);
	assert_int_equal(epoch_of(FIELD_STRING, "\\u0031614198777x", &v), -1);
	assert_int_equal(epoch_of(FIELD_BOOL, "true", &v), -1);
	assert_int_equal(epoch_of(FIELD_ABSENT, "", &v), -1);
}

static void test_direction_labels(void **state)
{
	(void)state;
	assert_string_equal(record_direction_label(1, 1), "incoming");
	assert_string_equal(record_direction_label(1, 2), "outgoing");
	assert_string_equal(record_direction_label(1, 0), "unknown");
	assert_string_equal(record_direction_label(1, 3), "unknown");
	assert_string_equal(record_direction_label(1, -1), "unknown");
	assert_string_equal(record_direction_label(1, 4294967297LL), "unknown");
	/* Absent or not a number: unknown, whatever the leftover code. */
	assert_string_equal(record_direction_label(0, 1), "unknown");
	assert_string_equal(record_direction_label(0, 2), "unknown");
	assert_int_equal(DIRECTION_INCOMING, 1);
	assert_int_equal(DIRECTION_OUTGOING, 2);
}

static void test_state_labels_outgoing(void **state)
{
	(void)state;
	assert_string_equal(record_state_label(1, 2, 1, 0), "failed");
	assert_string_equal(record_state_label(1, 2, 1, 1), "sent");
	assert_string_equal(record_state_label(1, 2, 1, 2), "delivered");
	assert_string_equal(record_state_label(1, 2, 1, 3), "read");
	assert_string_equal(record_state_label(1, 2, 1, 4), "unknown");
	assert_string_equal(record_state_label(1, 2, 1, 7), "unknown");
	assert_string_equal(record_state_label(1, 2, 1, -1), "unknown");
	assert_string_equal(record_state_label(1, 2, 1, LLONG_MAX), "unknown");
	assert_string_equal(record_state_label(1, 2, 1, LLONG_MIN), "unknown");
	/* A state that is not a code. */
	assert_string_equal(record_state_label(1, 2, 0, 1), "unknown");
}

static void test_state_labels_incoming_and_unknown_direction(void **state)
{
	(void)state;
	/* Incoming: the label stays empty whatever the state. */
	for (long long s = -1; s <= 7; s++) {
		assert_null(record_state_label(1, 1, 1, s));
		assert_null(record_state_label(1, 1, 0, s));
	}
	/* Direction unknown or absent: the label comes from the table. */
	assert_string_equal(record_state_label(1, 5, 1, 0), "failed");
	assert_string_equal(record_state_label(1, 0, 1, 3), "read");
	assert_string_equal(record_state_label(1, -1, 1, 2), "delivered");
	assert_string_equal(record_state_label(0, 0, 1, 1), "sent");
	assert_string_equal(record_state_label(0, 1, 1, 1), "sent"); /* code 1 but not known */
	assert_string_equal(record_state_label(0, 0, 1, 9), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_key_of_every_key),
		cmocka_unit_test(test_key_of_near_misses),
		cmocka_unit_test(test_record_int),
		cmocka_unit_test(test_record_epoch),
		cmocka_unit_test(test_direction_labels),
		cmocka_unit_test(test_state_labels_outgoing),
		cmocka_unit_test(test_state_labels_incoming_and_unknown_direction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
