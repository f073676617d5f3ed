/*
 * spool: records on disk, replayed last first (spool.h). The spool file is
 * anonymous: nothing may appear in its directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "spool.h"

struct fx {
	char dir[256];
	struct spool *sp;
};

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct err e;

	if (!fx)
		return -1;
	if (testdir_make(fx->dir, sizeof(fx->dir), "test_spool") || spool_open(&fx->sp, fx->dir, &e))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	spool_close(fx->sp);
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* What replay handed to emit, in order. */
struct seen_records {
	struct buf all;       /* the records' bytes, concatenated */
	size_t len[64];
	size_t n;
	size_t fail_at;       /* emit fails on this call (1-based), 0: never */
};

static int collect(void *ctx, const char *p, size_t n, struct err *e)
{
	struct seen_records *c = ctx;

	if (c->n < 64)
		c->len[c->n] = n;
	c->n++;
	if (c->fail_at && c->n == c->fail_at)
		return err_set(e, ERR_IO, "emit failed on purpose");
	return buf_add(&c->all, p, n) ? err_nomem(e) : 0;
}

static void fill(char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (char)(seed >> 16);
	}
}

static void test_no_file_in_directory(void **state)
{
	struct fx *fx = *state;
	struct err e;

	assert_int_equal(count_entries(fx->dir), 0);
	assert_int_equal(spool_add(fx->sp, "abc", 3, &e), 0);
	assert_int_equal(count_entries(fx->dir), 0);
}

static void test_replay_last_first(void **state)
{
	static const size_t sizes[] = { 0, 1, 3u << 20, 5, 0, 1000, (1u << 20) - 3, 8, 2 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct fx *fx = *state;
	struct seen_records got = { BUF_INIT, { 0 }, 0, 0 };
	char *rec[N];
	size_t total = 0;
	struct err e;

	for (size_t i = 0; i < N; i++) {
		rec[i] = malloc(sizes[i] ? sizes[i] : 1);
		assert_non_null(rec[i]);
		fill(rec[i], sizes[i], (unsigned)i + 7);
		assert_int_equal(spool_add(fx->sp, rec[i], sizes[i], &e), 0);
		total += sizes[i];
	}
	assert_int_equal(count_entries(fx->dir), 0);
	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), 0);
	assert_int_equal(got.n, N);
	assert_int_equal(got.all.len, total);
	for (size_t k = 0, off = 0; k < N; k++) {
		size_t i = N - 1 - k;

		assert_int_equal(got.len[k], sizes[i]);
		if (sizes[i])
			assert_memory_equal(got.all.data + off, rec[i], sizes[i]);
		off += sizes[i];
	}
	for (size_t i = 0; i < N; i++)
		free(rec[i]);
	buf_free(&got.all);
}

static void test_replay_empty(void **state)
{
	struct fx *fx = *state;
	struct seen_records got = { BUF_INIT, { 0 }, 0, 0 };
	struct err e;

	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), 0);
	assert_int_equal(got.n, 0);
}

static void test_replay_twice_and_emit_error(void **state)
{
	struct fx *fx = *state;
	struct seen_records got = { BUF_INIT, { 0 }, 0, 0 };
	struct err e;

	assert_int_equal(spool_add(fx->sp, "one", 3, &e), 0);
	assert_int_equal(spool_add(fx->sp, "two", 3, &e), 0);
	assert_int_equal(spool_add(fx->sp, "three", 5, &e), 0);
	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), 0);
	assert_int_equal(got.all.len, 11);
	assert_memory_equal(got.all.data, "threetwoone", 11);
	/* A replay does not consume: the same records again. */
	got.all.len = 0;
	got.n = 0;
	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), 0);
	assert_int_equal(got.all.len, 11);
	assert_memory_equal(got.all.data, "threetwoone", 11);
	/* emit's first error stops the replay and is passed up. */
	got.all.len = 0;
	got.n = 0;
	got.fail_at = 2;
	memset(&e, 0, sizeof(e));
	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), -1);
	assert_int_equal(got.n, 2);
	assert_int_equal(e.kind, ERR_IO);
	assert_string_equal(e.msg, "emit failed on purpose");
	buf_free(&got.all);
}

/* spool_truncate empties the spool for reuse: only what is added after it replays. */
static void test_truncate_and_reuse(void **state)
{
	struct fx *fx = *state;
	struct seen_records got = { BUF_INIT, { 0 }, 0, 0 };
	char *big = malloc(2u << 20);
	struct err e;

	assert_non_null(big);
	fill(big, 2u << 20, 99);
	assert_int_equal(spool_add(fx->sp, "old1", 4, &e), 0);
	assert_int_equal(spool_add(fx->sp, big, 2u << 20, &e), 0);
	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), 0);
	assert_int_equal(got.n, 2);

	memset(&e, 0, sizeof(e));
	assert_int_equal(spool_truncate(fx->sp, &e), 0);
	got.all.len = 0;
	got.n = 0;
	assert_int_equal(spool_replay(fx->sp, collect, &got, &e), 0);
	assert_int_equal(got.n, 0);

	assert_int_equal(spool_add(fx->sp, "new1", 4, &e), 0);
	assert_int_equal(spool_add(fx->sp, "new22", 5, &e), 0);
	memset(&e, 0, sizeof(e));
	if (spool_replay(fx->sp, collect, &got, &e))
		fprintf(stderr, "replay after truncate: %s\n", e.msg);
	assert_int_equal(e.kind, ERR_NONE);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.all.len, 9);
	assert_memory_equal(got.all.data, "new22new1", 9);
	free(big);
	buf_free(&got.all);
}

static void test_open_in_missing_directory(void **state)
{
	struct fx *fx = *state;
	struct spool *sp = NULL;
	struct err e;
	char dir[512];

	snprintf(dir, sizeof(dir), "%s/missing", fx->dir);
	memset(&e, 0, sizeof(e));
	assert_int_equal(spool_open(&sp, dir, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, dir));
	assert_null(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_no_file_in_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_last_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_twice_and_emit_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate_and_reuse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_in_missing_directory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
