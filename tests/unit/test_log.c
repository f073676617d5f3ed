/*
 * log: --log-file (SPEC §2): every line appended with an RFC 3339 UTC time
 * and the account, whether or not it is shown; the file survives being
 * truncated or moved away between lines (logrotate).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <regex.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "testdir.h"

static size_t read_all(const char *path, char *out, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
	return n;
}

static void lines_carry_time_and_account_and_survive_rotation(void **state)
{
	char dir[512], path[600], moved[600], text[4096];
	struct err e = { 0 };
	struct stat st;
	regex_t re;
	size_t n;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "log"), 0);
	snprintf(path, sizeof(path), "%s/w.log", dir);
	snprintf(moved, sizeof(moved), "%s/w.log.1", dir);
	assert_false(log_enabled());
	assert_int_equal(log_open(path, "from=972501234567", 0, &e), 0);
	assert_true(log_enabled());
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	log_line(NULL, "waexport: warning: %s", "page 3: odd");
	log_line(NULL, "waexport: wrote %d messages", 50);
	read_all(path, text, sizeof(text));
	assert_int_equal(regcomp(&re,
				 "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z "
				 "from=972501234567 waexport: warning: page 3: odd\n"
				 "[0-9T:Z-]+ from=972501234567 waexport: wrote 50 messages\n$",
				 REG_EXTENDED),
			 0);
	assert_int_equal(regexec(&re, text, 0, NULL, 0), 0);
	regfree(&re);

	/* copytruncate: the next line lands at the new end, no hole before it. */
	assert_int_equal(truncate(path, 0), 0);
	log_line(NULL, "waexport: one");
	n = read_all(path, text, sizeof(text));
	assert_int_equal(n, strlen(text)); /* no NUL bytes: nothing written past the end */
	assert_non_null(strstr(text, "from=972501234567 waexport: one\n"));
	assert_int_equal(text[0], '2');

	/* Move and create: the next line makes the file anew. */
	assert_int_equal(rename(path, moved), 0);
	log_line(NULL, "waexport: two");
	read_all(path, text, sizeof(text));
	assert_non_null(strstr(text, "waexport: two\n"));
	assert_null(strstr(text, "one"));
	log_close();
	assert_false(log_enabled());
	unlink(moved);
	testdir_remove(dir);
}

static void a_path_that_cannot_be_opened_is_cantcreat(void **state)
{
	char dir[512], path[600];
	struct err e = { 0 };

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "log"), 0);
	assert_int_equal(log_open(dir, "convert", 0, &e), -1); /* a directory */
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, "--log-file"));
	snprintf(path, sizeof(path), "%s/no/such/w.log", dir);
	assert_int_equal(log_open(path, "convert", 0, &e), -1);
	assert_non_null(strstr(e.msg, "--create-dirs"));
	assert_false(log_enabled());
	testdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_carry_time_and_account_and_survive_rotation),
		cmocka_unit_test(a_path_that_cannot_be_opened_is_cantcreat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
