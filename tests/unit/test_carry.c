/*
 * carry: an existing file's bytes onto the end of another (carry.h). The
 * file systems that share extents (btrfs, XFS) answer FICLONE, which makes
 * the destination a copy of the WHOLE source; this machine's ext4 refuses
 * it. So ioctl is replaced here by one that does what FICLONE does there,
 * and the test checks that bytes already in the destination survive (the
 * --save-raw of a --state run carries the earlier runs' pages after its
 * own: a clone there would have overwritten this run's pages).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "carry.h"

static int clones; /* FICLONE calls that cloned */

/* FICLONE as a sharing file system does it: dest becomes a copy of the whole source. */
int ioctl(int fd, unsigned long request, ...)
{
	char buf[4096];
	va_list ap;
	int from;
	ssize_t n;
	off_t at = 0;

	if (request != FICLONE) {
		errno = ENOTTY;
		return -1;
	}
	va_start(ap, request);
	from = va_arg(ap, int);
	va_end(ap);
	if (ftruncate(fd, 0))
		return -1;
	while ((n = pread(from, buf, sizeof(buf), at)) > 0) {
		if (pwrite(fd, buf, (size_t)n, at) != n)
			return -1;
		at += n;
	}
	clones++;
	return n < 0 ? -1 : 0;
}

static int file_with(const char *text)
{
	char path[] = "/tmp/waexport-carry-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	return fd;
}

static void assert_holds(int fd, const char *text)
{
	char buf[256] = { 0 };
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)strlen(text));
	assert_int_equal(pread(fd, buf, sizeof(buf) - 1, 0), (ssize_t)strlen(text));
	assert_string_equal(buf, text);
}

/* "older pages\n" carried onto a file holding `there`: the result, and the clones made. */
static void carry_onto(const char *there, const char *expect, int expect_clones)
{
	int from = file_with("older pages\n"), to = file_with(there);

	clones = 0;
	assert_int_equal(carry_copy(from, to, 12), 0);
	assert_holds(to, expect);
	assert_int_equal(clones, expect_clones);
	/* the next write goes after them */
	assert_int_equal(lseek(to, 0, SEEK_CUR), (off_t)strlen(expect));
	close(from);
	close(to);
}

static void test_into_an_empty_file_a_clone_serves(void **state)
{
	(void)state;
	carry_onto("", "older pages\n", 1);
}

static void test_after_bytes_already_there_they_stay(void **state)
{
	(void)state;
	carry_onto("this run's pages, longer\n", "this run's pages, longer\nolder pages\n", 0);
}

static void test_checked_after_bytes_already_there_they_stay(void **state)
{
	struct carry_want w = { .name = "raw.jsonl" };
	struct err e = { 0 };
	int from = file_with("[1]\n[2]\n"), to = file_with("[3]\n");

	(void)state;
	assert_int_equal(carry_checked(from, to, 8, &w, &e), 0);
	assert_holds(to, "[3]\n[1]\n[2]\n");
	close(from);
	close(to);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_into_an_empty_file_a_clone_serves),
		cmocka_unit_test(test_after_bytes_already_there_they_stay),
		cmocka_unit_test(test_checked_after_bytes_already_there_they_stay),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
