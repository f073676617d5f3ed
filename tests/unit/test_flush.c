/*
 * flush: fdatasync run on a worker of its own as a file grows; its result
 * is kept for the final fsync (flush.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "flush.h"

/* An empty temporary file, already unlinked. */
static int unlinked_file(void)
{
	char path[] = "/tmp/waexport-flush-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void test_flushes_of_a_growing_file_succeed(void **state)
{
	static char block[1 << 16];
	struct flush f;
	int fd = unlinked_file();

	(void)state;
	memset(block, 'x', sizeof(block));
	flush_open(&f, fd);
	for (unsigned long long i = 1; i <= 3 * FLUSH_STEP / sizeof(block); i++) {
		assert_int_equal(write(fd, block, sizeof(block)), (ssize_t)sizeof(block));
		flush_grown(&f, i * sizeof(block));
	}
	assert_int_equal(f.synced, 3 * FLUSH_STEP);
	assert_non_null(f.pool);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(f.pending, 0);
	assert_int_equal(f.refused, 0);
	flush_close(&f);
	assert_null(f.pool);
	close(fd);
}

/* A file that never reaches FLUSH_STEP (one per chat) starts no thread. */
static void test_a_small_file_starts_no_worker(void **state)
{
	struct flush f;
	int fd = unlinked_file();

	(void)state;
	flush_open(&f, fd);
	flush_grown(&f, FLUSH_STEP - 1);
	assert_null(f.pool);
	assert_int_equal(f.pending, 0);
	assert_int_equal(flush_wait(&f), 0);
	flush_close(&f);
	close(fd);
}

/*
 * What the kernel refuses to flush (a pipe: fdatasync is EINVAL there) is
 * not asked again and leaves no error behind: the sink's own fsync is then
 * what reports it, as it would without asynchronous flushes.
 */
static void test_a_refused_flush_leaves_the_final_fsync(void **state)
{
	struct flush f;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	flush_open(&f, p[1]);
	flush_grown(&f, FLUSH_STEP);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(f.refused, 1);
	flush_grown(&f, 2 * FLUSH_STEP);
	assert_int_equal(f.pending, 0);
	assert_int_equal(flush_wait(&f), 0);
	assert_int_equal(fsync(p[1]), -1);
	assert_int_equal(errno, EINVAL);
	flush_close(&f);
	close(p[0]);
	close(p[1]);
}

/* Closing with a flush still running waits for it; closing twice is harmless. */
static void test_close_waits_and_is_idempotent(void **state)
{
	struct flush f;
	int fd = unlinked_file();

	(void)state;
	assert_int_equal(write(fd, "abc", 3), 3);
	flush_open(&f, fd);
	flush_grown(&f, FLUSH_STEP); /* only 3 bytes there: flushed all the same */
	assert_int_equal(f.pending, 1);
	flush_close(&f);
	assert_int_equal(f.pending, 0);
	assert_null(f.pool);
	flush_close(&f);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flushes_of_a_growing_file_succeed),
		cmocka_unit_test(test_a_small_file_starts_no_worker),
		cmocka_unit_test(test_a_refused_flush_leaves_the_final_fsync),
		cmocka_unit_test(test_close_waits_and_is_idempotent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
