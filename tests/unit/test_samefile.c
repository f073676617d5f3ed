/*
 * samefile: two paths of one command line name the same file when they
 * spell one path differently (./x, dir/../x, a//b), reach one inode (a
 * symbolic or hard link), or name one file-to-be in a directory that does
 * not exist yet; two different files never do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "samefile.h"
#include "testdir.h"

struct scratch {
	char dir[PATH_MAX];
	char back[PATH_MAX];
};

static void touch(const char *name)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(close(fd), 0);
}

/* A scratch directory made the working directory, holding x, y and sub/. */
static int setup(void **state)
{
	struct scratch *s = calloc(1, sizeof(*s));

	if (!s || !getcwd(s->back, sizeof(s->back)) ||
	    testdir_make(s->dir, sizeof(s->dir), "samefile") || chdir(s->dir) || mkdir("sub", 0700))
		return -1;
	touch("x");
	touch("y");
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	struct scratch *s = *state;

	rmdir("sub");
	if (chdir(s->back))
		return -1;
	testdir_remove(s->dir);
	free(s);
	return 0;
}

static void test_the_same_string_is_the_same_file(void **state)
{
	(void)state;
	assert_int_equal(samefile_same("x", "x"), 1);
	assert_int_equal(samefile_same("new.csv", "new.csv"), 1); /* not there yet */
	assert_int_equal(samefile_same("{chat}.csv", "{chat}.csv"), 1);
}

static void test_dot_and_double_slash_are_the_same_file(void **state)
{
	(void)state;
	assert_int_equal(samefile_same("./x", "x"), 1);
	assert_int_equal(samefile_same("sub//./new", "sub/new"), 1);
	assert_int_equal(samefile_same("./sub/", "sub"), 1);
}

static void test_dot_dot_through_a_directory_is_the_same_file(void **state)
{
	(void)state;
	assert_int_equal(samefile_same("sub/../x", "x"), 1);
	assert_int_equal(samefile_same("sub/../new", "new"), 1); /* x not made yet */
}

static void test_an_absolute_path_is_the_same_file(void **state)
{
	struct scratch *s = *state;
	char abs[PATH_MAX + 16];

	snprintf(abs, sizeof(abs), "%s/x", s->dir);
	assert_int_equal(samefile_same(abs, "x"), 1);
	snprintf(abs, sizeof(abs), "%s/nodir/new", s->dir);
	assert_int_equal(samefile_same(abs, "nodir/new"), 1);
}

static void test_a_symbolic_link_is_the_same_file(void **state)
{
	(void)state;
	assert_int_equal(symlink("x", "link"), 0);
	assert_int_equal(samefile_same("link", "x"), 1);
	assert_int_equal(samefile_same("link", "y"), 0);
	assert_int_equal(unlink("link"), 0);
	/* to a file not made yet, relative to the link's own directory */
	assert_int_equal(symlink("../new.csv", "sub/new.log"), 0);
	assert_int_equal(samefile_same("sub/new.log", "new.csv"), 1);
	assert_int_equal(samefile_same("sub/new.log", "sub/new.csv"), 0);
	assert_int_equal(unlink("sub/new.log"), 0);
}

static void test_a_chat_pattern_clashes_with_every_name_it_can_make(void **state)
{
	struct samefile_path p[] = {
		{ "-o", "c-{chat}[1].csv", NULL, 0, 1 },
		{ "--log-file", "./c-x[1].csv", NULL, 0, 0 },
	};
	struct err e = { 0 };

	(void)state;
	assert_int_equal(samefile_check(p, 2, &e), -1);
	assert_string_equal(e.msg, "-o and --log-file can name the same file (c-{chat}[1].csv "
				   "makes ./c-x[1].csv for a chat of that name): each needs its "
				   "own path");
	p[1].path = "c-x1.csv"; /* "[1]" is no fnmatch class here */
	assert_int_equal(samefile_check(p, 2, &e), 0);
	p[1].path = "c-sub/x[1].csv"; /* a chat's name has no '/' */
	assert_int_equal(samefile_check(p, 2, &e), 0);
}

static void test_a_hard_link_is_the_same_file(void **state)
{
	(void)state;
	assert_int_equal(link("x", "hard"), 0);
	assert_int_equal(samefile_same("hard", "x"), 1);
	assert_int_equal(samefile_same("hard", "y"), 0);
	assert_int_equal(unlink("hard"), 0);
}

static void test_two_different_files_are_not(void **state)
{
	(void)state;
	assert_int_equal(samefile_same("x", "y"), 0);
	assert_int_equal(samefile_same("x", "sub/x"), 0);
	assert_int_equal(samefile_same("new.csv", "new.json"), 0);
}

static void test_a_parent_that_does_not_exist_compares_the_strings(void **state)
{
	(void)state;
	assert_int_equal(samefile_same("nodir/a.csv", "nodir/a.csv"), 1);
	assert_int_equal(samefile_same("nodir/./a.csv", "nodir//a.csv"), 1);
	assert_int_equal(samefile_same("nodir/a.csv", "nodir/b.csv"), 0);
	assert_int_equal(samefile_same("nodir/a.csv", "other/a.csv"), 0);
}

/*
 * ".." past directories not made yet is taken lexically: --create-dirs makes
 * them plain directories. Two --to files of -o 'z/{to}/../t.csv' are one.
 */
static void test_dot_dot_past_a_directory_not_made_yet_is_the_same_file(void **state)
{
	(void)state;
	assert_int_equal(samefile_same("z/A/../t.csv", "z/B/../t.csv"), 1);
	assert_int_equal(samefile_same("z/A/../t.csv", "z/t.csv"), 1);
	assert_int_equal(samefile_same("sub/A/B/../../t.csv", "sub/t.csv"), 1); /* sub exists */
	assert_int_equal(samefile_same("nodir/../../up.csv", "../up.csv"), 1);
	assert_int_equal(samefile_same("z/A/../t.csv", "z/A/t.csv"), 0);
}

/* A {chat} pattern whose '..' leads out of {chat}'s directory gives every chat one file. */
static void test_a_chat_pattern_that_loses_its_chat_is_refused(void **state)
{
	struct samefile_path p[] = { { "-o", "y/{chat}/../same.csv", NULL, 0, 1 } };
	struct err e = { 0 };

	(void)state;
	assert_int_equal(samefile_check(p, 1, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "-o y/{chat}/../same.csv: '..' leads out of {chat}'s"));
	p[0].path = "y/{chat}/x/../{chat}.csv";
	assert_int_equal(samefile_check(p, 1, &e), 0);
	p[0].path = "y/{chat}/../{chat}.csv";
	assert_int_equal(samefile_check(p, 1, &e), 0);
}

/* A working directory removed under the run: paths compare as written, not "no memory". */
static void test_a_removed_working_directory_compares_the_strings(void **state)
{
	struct scratch *s = *state;

	assert_int_equal(mkdir("gone", 0700), 0);
	assert_int_equal(chdir("gone"), 0);
	assert_int_equal(rmdir("../gone"), 0);
	assert_int_equal(samefile_same("out.csv", "out.csv"), 1);
	assert_int_equal(samefile_same("out.csv", "rel.log"), 0);
	assert_int_equal(samefile_same("a/../out.csv", "out.csv"), 0); /* nothing to resolve from */
	assert_int_equal(chdir(s->dir), 0);
}

static void test_check_names_both_options_and_skips_two_inputs(void **state)
{
	struct samefile_path p[] = {
		{ "-o", "x", NULL, 0, 0 },
		{ "--manifest", "m.json", NULL, 0, 0 },
		{ "--state", "st", NULL, 0, 0 },
		{ "--state's journal", "st", ".journal", 0, 0 },
		{ "--log-file", NULL, NULL, 0, 0 },
		{ "the input file", "y", NULL, 1, 0 },
		{ "the input file", "./y", NULL, 1, 0 },
	};
	struct err e = { 0 };

	(void)state;
	assert_int_equal(samefile_check(p, 7, &e), 0);
	p[1].path = "st.journal";
	assert_int_equal(samefile_check(p, 7, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_string_equal(e.msg, "--manifest and --state's journal name the same file "
				   "(st.journal): each needs its own path");
	p[1].path = "m.json";
	p[0].path = "./y";
	assert_int_equal(samefile_check(p, 7, &e), -1);
	assert_string_equal(e.msg, "-o and the input file name the same file (./y and y): "
				   "each needs its own path");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_same_string_is_the_same_file),
		cmocka_unit_test(test_dot_and_double_slash_are_the_same_file),
		cmocka_unit_test(test_dot_dot_through_a_directory_is_the_same_file),
		cmocka_unit_test(test_an_absolute_path_is_the_same_file),
		cmocka_unit_test(test_a_symbolic_link_is_the_same_file),
		cmocka_unit_test(test_a_chat_pattern_clashes_with_every_name_it_can_make),
		cmocka_unit_test(test_a_hard_link_is_the_same_file),
		cmocka_unit_test(test_two_different_files_are_not),
		cmocka_unit_test(test_a_parent_that_does_not_exist_compares_the_strings),
		cmocka_unit_test(test_dot_dot_past_a_directory_not_made_yet_is_the_same_file),
		cmocka_unit_test(test_a_chat_pattern_that_loses_its_chat_is_refused),
		cmocka_unit_test(test_a_removed_working_directory_compares_the_strings),
		cmocka_unit_test(test_check_names_both_options_and_skips_two_inputs),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
