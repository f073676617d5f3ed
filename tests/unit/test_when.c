/*
 * when: the times a user types for --since/--until (SPEC §2), each form
 * and each refusal, in UTC and in a zone with an offset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "when.h"

static const long long NOW = 1733000000;

static long long parse_in(const char *zone, const char *s)
{
	struct tz *z = NULL;
	struct err e;
	long long t = -1;

	memset(&e, 0, sizeof(e));
	assert_int_equal(tz_open(&z, zone, &e), 0);
	assert_int_equal(when_parse("--since", s, z, NOW, &t, &e), 0);
	tz_free(z);
	return t;
}

static void assert_refused(const char *s, const char *words)
{
	struct tz *z = NULL;
	struct err e;
	long long t;

	memset(&e, 0, sizeof(e));
	assert_int_equal(tz_open(&z, "UTC", &e), 0);
	assert_int_equal(when_parse("--since", s, z, NOW, &t, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, words));
	tz_free(z);
}

/* Digits alone are epoch seconds, however few. */
static void test_epoch_seconds_of_any_length(void **state)
{
	(void)state;
	assert_int_equal(parse_in("UTC", "0"), 0);
	assert_int_equal(parse_in("UTC", "86400"), 86400);
	assert_int_equal(parse_in("UTC", "1732000000"), 1732000000);
	assert_int_equal(parse_in("Asia/Jerusalem", "1732000000"), 1732000000);
	assert_int_equal(parse_in("UTC", "99999999999"), 99999999999LL);
}

/* Eight digits that read as a date are refused with the form that works. */
static void test_a_date_without_dashes_is_refused(void **state)
{
	(void)state;
	assert_refused("20240501", "2024-05-01");
	assert_int_equal(parse_in("UTC", "20241301"), 20241301); /* no month 13: seconds */
	assert_refused("123456789012", "more digits");
}

static void test_dates_and_times(void **state)
{
	(void)state;
	assert_int_equal(parse_in("UTC", "2024-05-01"), 1714521600);
	assert_int_equal(parse_in("Asia/Jerusalem", "2024-05-01"), 1714521600 - 3 * 3600);
	assert_int_equal(parse_in("UTC", "2024-05-01T08:00:00+03:00"), 1714521600 + 5 * 3600);
	assert_int_equal(parse_in("UTC", "2024-05-01T08:00Z"), 1714521600 + 8 * 3600);
	assert_int_equal(parse_in("UTC", "36h"), NOW - 36 * 3600);
}

/*
 * A fraction of a second: messages carry whole seconds, so the window
 * starts (or ends) at the next whole one; a zero fraction changes nothing.
 */
static void test_fractional_seconds(void **state)
{
	(void)state;
	assert_int_equal(parse_in("UTC", "2024-05-01T00:00:00.000Z"), 1714521600);
	assert_int_equal(parse_in("UTC", "2024-05-01T00:00:00.5Z"), 1714521601);
	assert_int_equal(parse_in("UTC", "2024-05-01T00:00:59.999999+00:00"), 1714521660);
	assert_refused("2024-05-01T00:00:00.Z", "expected YYYY-MM-DD");
	assert_refused("2024-05-01T00:00.5Z", "expected YYYY-MM-DD");
}

static void test_bad_values(void **state)
{
	(void)state;
	assert_refused("", "expected YYYY-MM-DD");
	assert_refused("yesterday", "expected YYYY-MM-DD");
	assert_refused("2024-02-30", "expected YYYY-MM-DD");
	assert_refused("-5", "expected YYYY-MM-DD");
}

/*
 * Around a change of offset every zone follows one rule (Python's fold=0):
 * a wall time that happens twice is its first instant; one that never
 * happens is read with the offset before the change. Values from Python's
 * zoneinfo. Before the fix, zones west of UTC took the offset after the
 * change: Santiago's midnight fell at 23:00 of the day before.
 */
static void test_changes_of_offset(void **state)
{
	(void)state;
	/* Days that start at 01:00: the day begins at that 01:00. */
	assert_int_equal(parse_in("America/Santiago", "2026-09-06"), 1788667200);
	assert_int_equal(parse_in("America/Havana", "2026-03-08"), 1772946000);
	/* 02:30 does not exist in New York or Jerusalem that night: it is 03:30. */
	assert_int_equal(parse_in("America/New_York", "2026-03-08T02:30"), 1772955000);
	assert_int_equal(parse_in("Asia/Jerusalem", "2026-03-27T02:30"), 1774571400);
	/* 01:30 happens twice: the first, east and west of UTC alike. */
	assert_int_equal(parse_in("Asia/Jerusalem", "2026-10-25T01:30"), 1792881000);
	assert_int_equal(parse_in("America/New_York", "2026-11-01T01:30"), 1793511000);
	/* Two changes 3.99 days apart: a wall time between them has one offset only. */
	assert_int_equal(parse_in("Africa/Freetown", "1939-09-03T00:40"), -957134400);
}

/* Fields are exactly their digits: no spaces, signs or short forms. */
static void test_fields_are_digits(void **state)
{
	(void)state;
	assert_refused("2026- 5-01", "expected YYYY-MM-DD");
	assert_refused("2026-05-01T-1:00", "expected YYYY-MM-DD");
	assert_refused("-002-05-01", "expected YYYY-MM-DD");
	assert_refused("2026-05-01T08:00+-3:00", "expected YYYY-MM-DD");
	assert_refused("2026-05-01T08:00: 5", "expected YYYY-MM-DD");
	assert_refused("2026-5-1", "expected YYYY-MM-DD");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_seconds_of_any_length),
		cmocka_unit_test(test_a_date_without_dashes_is_refused),
		cmocka_unit_test(test_dates_and_times),
		cmocka_unit_test(test_fractional_seconds),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_changes_of_offset),
		cmocka_unit_test(test_fields_are_digits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
