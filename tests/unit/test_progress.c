/*
 * progress: the live line's text (SPEC §6): figures, how far back the walk
 * has come, elapsed time, and while waiting why and for how long.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "progress.h"

static void plain_line_shows_oldest_and_elapsed(void **state)
{
	struct progress_figures f = { .pages = 37,
				      .messages = 1850,
				      .bytes = 1200000,
				      .has_oldest = 1,
				      .oldest = 1714564800 /* 2024-05-01 12:00 */ };
	char line[512];

	(void)state;
	progress_format(line, sizeof(line), &f, 83.4);
	assert_string_equal(line, "37 pages, 1850 messages, 22 msg/s, 1.2 MB of output, back to "
				  "2024-05-01 12:00 UTC, 1:23 elapsed");
}

static void a_wait_comes_first_with_reason_and_seconds(void **state)
{
	struct walk_wait w = {
		.page_no = 37, .retry = 2, .retries = 5, .status = 429, .left = 11.2
	};
	struct walk_wait t = {
		.page_no = 4, .retry = 1, .retries = 5, .why = "Operation timed out", .left = 0.4
	};
	struct progress_figures f = { .pages = 36, .messages = 1800, .retries = 3, .wait = &w };
	char line[512];

	(void)state;
	progress_format(line, sizeof(line), &f, 5);
	assert_non_null(
		strstr(line, "waiting 12 s: page 37 answered HTTP 429 (retry 2 of 5); 36 pages"));
	assert_non_null(strstr(line, ", 3 retries, 0:05 elapsed"));
	assert_null(strstr(line, "back to"));
	f.wait = &t;
	progress_format(line, sizeof(line), &f, 5);
	assert_non_null(strstr(line, "waiting 1 s: page 4: Operation timed out (retry 1 of 5); "));
	/* The transport's words may quote the server: escaped like every stderr line. */
	t.why = "bad \x1b[2J\xe2\x80\xae here";
	progress_format(line, sizeof(line), &f, 5);
	assert_non_null(strstr(line, "page 4: bad \\x1b[2J\\xe2\\x80\\xae here (retry"));
}

/* A resumed run reads pages back from its journal: they are not the server's. */
static void journal_pages_are_named_apart(void **state)
{
	struct progress_figures f = { .pages = 53, .journal_pages = 99, .messages = 7600 };
	char line[512];

	(void)state;
	progress_format(line, sizeof(line), &f, 10);
	assert_non_null(strstr(line, "53 pages, 99 of the journal, 7600 messages, "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_line_shows_oldest_and_elapsed),
		cmocka_unit_test(a_wait_comes_first_with_reason_and_seconds),
		cmocka_unit_test(journal_pages_are_named_apart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
