/*
 * tz: decoded time in an IANA zone (SPEC §4.1 `time`, §4.2 --excel form).
 * tz_open sets TZ for the process, so each test opens one zone at a time
 * and frees it before the next.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "tz.h"

static struct tz *open_zone(const char *name)
{
	struct tz *z = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	if (tz_open(&z, name, &e))
		fprintf(stderr, "tz_open(%s): %s\n", name, e.msg);
	assert_non_null(z);
	return z;
}

static void fmt_is(struct tz *z, long long t, enum tz_style style, const char *want)
{
	char out[TZ_FORMAT_MAX + 8];
	size_t n;

	memset(out, '#', sizeof(out));
	n = tz_format(z, t, style, out);
	if (n != strlen(want) || memcmp(out, want, n))
		fprintf(stderr, "t=%lld style %d: got '%.*s' want '%s'\n", t, (int)style, (int)n,
			out, want);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(out, want, n);
	assert_true(n <= TZ_FORMAT_MAX);
}

static void iso_is(struct tz *z, long long t, const char *want)
{
	fmt_is(z, t, TZ_ISO8601, want);
}

static void sheet_is(struct tz *z, long long t, const char *want)
{
	fmt_is(z, t, TZ_SPREADSHEET, want);
}

static void date_is(struct tz *z, long long t, const char *want)
{
	char out[11];

	memset(out, '#', sizeof(out));
	assert_int_equal(tz_date(z, t, out), 0);
	assert_string_equal(out, want);
}

static void out_of_range(struct tz *z, long long t)
{
	char out[TZ_FORMAT_MAX], date[11];

	assert_int_equal(tz_format(z, t, TZ_ISO8601, out), 0);
	assert_int_equal(tz_format(z, t, TZ_SPREADSHEET, out), 0);
	assert_int_not_equal(tz_date(z, t, date), 0);
}

static void test_utc(void **state)
{
	struct tz *z = open_zone("UTC");

	(void)state;
	iso_is(z, 1614198777, "2021-02-24T20:32:57Z");  /* SPEC §4.1 */
	sheet_is(z, 1614198777, "2021-02-24 20:32:57"); /* SPEC §4.2 */
	date_is(z, 1614198777, "2021-02-24");
	assert_int_equal(tz_offset(z, 1614198777), 0);
	iso_is(z, 0, "1970-01-01T00:00:00Z");
	iso_is(z, 59, "1970-01-01T00:00:59Z");
	iso_is(z, 86399, "1970-01-01T23:59:59Z");
	iso_is(z, -1, "1969-12-31T23:59:59Z");
	iso_is(z, -86400, "1969-12-31T00:00:00Z");
	iso_is(z, -31536000, "1969-01-01T00:00:00Z");
	sheet_is(z, -1, "1969-12-31 23:59:59");
	date_is(z, -1, "1969-12-31");
	iso_is(z, 1709164800, "2024-02-29T00:00:00Z");  /* leap day */
	iso_is(z, 951825600, "2000-02-29T12:00:00Z");   /* 400-year leap */
	iso_is(z, -2203891200, "1900-03-01T00:00:00Z"); /* 1900: no Feb 29 */
	iso_is(z, 4107542400LL, "2100-03-01T00:00:00Z");
	iso_is(z, 2147483647LL, "2038-01-19T03:14:07Z");
	iso_is(z, 2147483648LL, "2038-01-19T03:14:08Z");
	tz_free(z);
}

static void test_utc_limits(void **state)
{
	struct tz *z = open_zone("UTC");

	(void)state;
	iso_is(z, -62135596800LL, "0001-01-01T00:00:00Z");
	iso_is(z, 253402300799LL, "9999-12-31T23:59:59Z");
	sheet_is(z, 253402300799LL, "9999-12-31 23:59:59");
	date_is(z, 253402300799LL, "9999-12-31");
	out_of_range(z, 253402300800LL);
	out_of_range(z, -62135596801LL);
	out_of_range(z, 999999999999999LL);
	out_of_range(z, LLONG_MAX);
	out_of_range(z, LLONG_MIN);
	out_of_range(z, -LLONG_MAX);
	tz_free(z);
}

static void test_utc_aliases(void **state)
{
	struct tz *z;

	(void)state;
	z = open_zone("Etc/UTC");
	iso_is(z, 1614198777, "2021-02-24T20:32:57Z");
	tz_free(z);
}

static void test_jerusalem(void **state)
{
	struct tz *z = open_zone("Asia/Jerusalem");

	(void)state;
	iso_is(z, 1614198777, "2021-02-24T22:32:57+02:00"); /* SPEC §4.1 */
	sheet_is(z, 1614198777, "2021-02-24 22:32:57");
	date_is(z, 1614198777, "2021-02-24");
	assert_int_equal(tz_offset(z, 1614198777), 7200);
	/* 2024-03-29 02:00 local: clocks jump to 03:00, +03:00. */
	iso_is(z, 1711670399, "2024-03-29T01:59:59+02:00");
	iso_is(z, 1711670400, "2024-03-29T03:00:00+03:00");
	assert_int_equal(tz_offset(z, 1711670399), 7200);
	assert_int_equal(tz_offset(z, 1711670400), 10800);
	/* 2024-10-27 02:00 local: clocks fall back to 01:00, +02:00. */
	iso_is(z, 1729983599, "2024-10-27T01:59:59+03:00");
	iso_is(z, 1729983600, "2024-10-27T01:00:00+02:00");
	sheet_is(z, 1729983599, "2024-10-27 01:59:59");
	sheet_is(z, 1729983600, "2024-10-27 01:00:00");
	/* Going back and forth across the transition: the cache must follow. */
	iso_is(z, 1711670399, "2024-03-29T01:59:59+02:00");
	iso_is(z, 1729983599, "2024-10-27T01:59:59+03:00");
	iso_is(z, 1711670400, "2024-03-29T03:00:00+03:00");
	/* The local date, not the UTC one. */
	date_is(z, 1711665000, "2024-03-29"); /* 2024-03-28T22:30Z */
	iso_is(z, 1711665000, "2024-03-29T00:30:00+02:00");
	/* Before 1970 and the zone's local mean time (offset with seconds). */
	iso_is(z, -1, "1970-01-01T01:59:59+02:00");
	/*
	 * 1900 is Jerusalem Mean Time, an offset with seconds (+02:20:40 in
	 * today's tzdata), which RFC 3339 cannot write: the offset is rounded
	 * to the minute and the clock follows it, so the instant stays exact.
	 */
	{
		char out[TZ_FORMAT_MAX];
		long off = tz_offset(z, -2208988800LL);
		long rounded = (off + 30) / 60 * 60;
		char want[128];

		assert_true(off % 60 != 0);
		assert_in_range(off, 7200, 10800);
		snprintf(want, sizeof(want), "1900-01-01T%02ld:%02ld:00+%02ld:%02ld",
			 rounded / 3600, rounded / 60 % 60, rounded / 3600, rounded / 60 % 60);
		assert_int_equal(tz_format(z, -2208988800LL, TZ_ISO8601, out), strlen(want));
		assert_memory_equal(out, want, strlen(want));
		/* The spreadsheet form writes no offset: the true local mean time. */
		snprintf(want, sizeof(want), "1900-01-01 %02ld:%02ld:%02ld", off / 3600,
			 off / 60 % 60, off % 60);
		assert_int_equal(tz_format(z, -2208988800LL, TZ_SPREADSHEET, out), strlen(want));
		assert_memory_equal(out, want, strlen(want));
	}
	/* Year 9999 ends two hours earlier in UTC. */
	iso_is(z, 253402300799LL - 7200, "9999-12-31T23:59:59+02:00");
	out_of_range(z, 253402300799LL);
	out_of_range(z, 253402300800LL);
	tz_free(z);
}

static void test_new_york(void **state)
{
	struct tz *z = open_zone("America/New_York");

	(void)state;
	iso_is(z, 1614198777, "2021-02-24T15:32:57-05:00");
	/* 2024-03-10 02:00 EST → 03:00 EDT. */
	iso_is(z, 1710053999, "2024-03-10T01:59:59-05:00");
	iso_is(z, 1710054000, "2024-03-10T03:00:00-04:00");
	/* 2024-11-03 02:00 EDT → 01:00 EST: 01:xx happens twice. */
	iso_is(z, 1730613599, "2024-11-03T01:59:59-04:00");
	iso_is(z, 1730613600, "2024-11-03T01:00:00-05:00");
	sheet_is(z, 1730613600, "2024-11-03 01:00:00");
	assert_int_equal(tz_offset(z, 1730613599), -14400);
	assert_int_equal(tz_offset(z, 1730613600), -18000);
	iso_is(z, 0, "1969-12-31T19:00:00-05:00");
	iso_is(z, -1, "1969-12-31T18:59:59-05:00");
	date_is(z, 0, "1969-12-31");
	date_is(z, 1614198777, "2021-02-24");
	iso_is(z, -2208988800LL, "1899-12-31T19:00:00-05:00");
	/* The first second of year 1 is still year 0 in New York. */
	out_of_range(z, -62135596800LL);
	iso_is(z, 253402300799LL, "9999-12-31T18:59:59-05:00");
	tz_free(z);
}

/* Lord Howe shifts by 30 minutes at 15:30 UTC: a transition inside an hour. */
static void test_transition_inside_an_hour(void **state)
{
	struct tz *z = open_zone("Australia/Lord_Howe");

	(void)state;
	iso_is(z, 1728140400, "2024-10-06T01:30:00+10:30"); /* 15:00Z */
	iso_is(z, 1728142199, "2024-10-06T01:59:59+10:30"); /* 15:29:59Z */
	iso_is(z, 1728142200, "2024-10-06T02:30:00+11:00"); /* 15:30Z */
	iso_is(z, 1728143999, "2024-10-06T02:59:59+11:00"); /* 15:59:59Z */
	iso_is(z, 1728142199, "2024-10-06T01:59:59+10:30");
	iso_is(z, 1728140400, "2024-10-06T01:30:00+10:30");
	assert_int_equal(tz_offset(z, 1728142199), 37800);
	assert_int_equal(tz_offset(z, 1728142200), 39600);
	/* DST ends on the hour in April: 02:00 +11 → 01:30 +10:30. */
	iso_is(z, 1712415599, "2024-04-07T01:59:59+11:00");
	iso_is(z, 1712415600, "2024-04-07T01:30:00+10:30");
	tz_free(z);
}

/* The offset cache belongs to one struct tz: a new zone must not see the old one's hour. */
static void test_cache_per_struct(void **state)
{
	struct tz *z;

	(void)state;
	z = open_zone("Asia/Jerusalem");
	iso_is(z, 1614198777, "2021-02-24T22:32:57+02:00");
	tz_free(z);
	z = open_zone("America/New_York");
	iso_is(z, 1614198777, "2021-02-24T15:32:57-05:00");
	iso_is(z, 1614198778, "2021-02-24T15:32:58-05:00");
	tz_free(z);
	z = open_zone("Asia/Jerusalem");
	iso_is(z, 1614198777, "2021-02-24T22:32:57+02:00");
	tz_free(z);
}

/* The date is cached per local day: going back and forth across midnight. */
static void test_day_cache_across_midnight(void **state)
{
	struct tz *z;

	(void)state;
	z = open_zone("Asia/Jerusalem");
	iso_is(z, 1731967200, "2024-11-19T00:00:00+02:00");
	iso_is(z, 1731967199, "2024-11-18T23:59:59+02:00");
	iso_is(z, 1731967200, "2024-11-19T00:00:00+02:00");
	iso_is(z, 1763589600, "2025-11-20T00:00:00+02:00");
	iso_is(z, 1731961200, "2024-11-18T22:20:00+02:00");
	fmt_is(z, 1731961200, TZ_SPREADSHEET, "2024-11-18 22:20:00");
	tz_free(z);
	z = open_zone("UTC");
	iso_is(z, 1731974399, "2024-11-18T23:59:59Z");
	iso_is(z, 1731974400, "2024-11-19T00:00:00Z");
	iso_is(z, -1, "1969-12-31T23:59:59Z");
	iso_is(z, 0, "1970-01-01T00:00:00Z");
	tz_free(z);
}

/* A UTC struct does not depend on the process's TZ. */
static void test_utc_beside_another_zone(void **state)
{
	struct tz *utc = open_zone("UTC"), *jlm = open_zone("Asia/Jerusalem");

	(void)state;
	iso_is(utc, 1614198777, "2021-02-24T20:32:57Z");
	iso_is(jlm, 1614198777, "2021-02-24T22:32:57+02:00");
	iso_is(utc, 1711670400, "2024-03-29T00:00:00Z");
	tz_free(jlm);
	tz_free(utc);
}

static void refused(const char *name)
{
	struct tz *z = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(tz_open(&z, name, &e), -1);
	if (e.kind != ERR_USAGE)
		fprintf(stderr, "'%s': kind %d\n", name, (int)e.kind);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_true(e.msg[0] != '\0');
	assert_null(z);
}

static void test_open_refuses(void **state)
{
	struct tz *z = NULL;
	struct err e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(tz_open(&z, "Nope/Zone", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "Nope/Zone"));
	refused("../etc/passwd");
	refused("../../../../etc/passwd");
	refused("Asia/../Asia/Jerusalem");
	refused("/etc/localtime");
	refused("/usr/share/zoneinfo/Asia/Jerusalem");
	refused("");
	refused("Asia");     /* a directory */
	refused("zone.tab"); /* a file that is not a zone */
	refused("iso3166.tab");
	refused("Asia/Jerusalem/");
	refused("EST5EDT,M3.2.0,M11.1.0"); /* a POSIX rule, not an IANA name */
	/* Files of the zone directory that are no IANA name (an adversarial pass found them taken) */
	refused("localtime");            /* the host's zone: output would follow the host */
	refused("posixrules");           /* glibc's rule file */
	refused("right/Asia/Jerusalem"); /* counts leap seconds: every time 27 s early */
	refused("./Asia/Jerusalem");
	refused("Asia//Jerusalem");
	refused("Asia/./Jerusalem");
}

/* Without a zone database (a container without tzdata) the message says so. */
static void test_no_zone_database(void **state)
{
	struct tz *z = NULL;
	struct err e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(setenv("TZDIR", "/nonexistent", 1), 0);
	assert_int_equal(tz_open(&z, "Asia/Jerusalem", &e), -1);
	unsetenv("TZDIR");
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "no time zone database in /nonexistent"));
	assert_non_null(strstr(e.msg, "tzdata"));
	memset(&e, 0, sizeof(e));
	assert_int_equal(tz_open(&z, "Nope/Zone", &e), -1);
	assert_non_null(strstr(e.msg, "unknown time zone"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc),
		cmocka_unit_test(test_utc_limits),
		cmocka_unit_test(test_utc_aliases),
		cmocka_unit_test(test_jerusalem),
		cmocka_unit_test(test_new_york),
		cmocka_unit_test(test_transition_inside_an_hour),
		cmocka_unit_test(test_cache_per_struct),
		cmocka_unit_test(test_day_cache_across_midnight),
		cmocka_unit_test(test_utc_beside_another_zone),
		cmocka_unit_test(test_open_refuses),
		cmocka_unit_test(test_no_zone_database),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
