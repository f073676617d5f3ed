/*
 * hold: rows held back so an earlier copy of a message can take its place
 * (hold.h). What leaves must be every row not cancelled, in order, once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "hold.h"

static int collect(void *ctx, struct buf *full, struct err *e)
{
	(void)e;
	return buf_add(ctx, full->data, full->len);
}

static void add(struct hold *h, const char *row, uint64_t hash, int keyed, struct buf *out)
{
	struct err e;

	struct hold_tag tag = { keyed ? &hash : NULL, hash * 10, hash * 10 + 1 };

	assert_int_equal(buf_adds(hold_buf(h), row), 0);
	assert_int_equal(hold_row(h, &tag, collect, out, &e), 0);
}

/* hold_cancel, checking the cancelled row's notes are the ones add() gave it. */
static int cancel(struct hold *h, uint64_t hash)
{
	unsigned long long first = 7, end = 7;
	int rc = hold_cancel(h, hash, &first, &end);

	if (rc) {
		assert_int_equal(first, hash * 10);
		assert_int_equal(end, hash * 10 + 1);
	} else {
		assert_int_equal(first, 7);
	}
	return rc;
}

static void test_rows_leave_in_order_without_the_cancelled(void **state)
{
	struct hold *h = hold_new();
	struct buf out = BUF_INIT;
	struct err e;

	(void)state;
	assert_non_null(h);
	add(h, "a\n", 1, 1, &out);
	add(h, "b\n", 2, 1, &out);
	add(h, "c\n", 3, 0, &out);
	add(h, "d\n", 4, 1, &out);
	assert_int_equal(out.len, 0);                 /* all still held */
	assert_int_equal(cancel(h, 2), 1);
	assert_int_equal(cancel(h, 2), 0);       /* once */
	assert_int_equal(cancel(h, 3), 0);       /* no unique: never cancelled */
	assert_int_equal(cancel(h, 99), 0);
	add(h, "b'\n", 2, 1, &out);                   /* the copy that wins */
	assert_int_equal(cancel(h, 1), 1);       /* first and last rows too */
	assert_int_equal(cancel(h, 2), 1);
	assert_int_equal(hold_drain(h, collect, &out, &e), 0);
	assert_int_equal(out.len, strlen("c\nd\n"));
	assert_memory_equal(out.data, "c\nd\n", out.len);
	assert_int_equal(hold_drain(h, collect, &out, &e), 0);
	assert_int_equal(out.len, strlen("c\nd\n"));
	hold_free(h);
	buf_free(&out);
}

/* Many rows: the oldest leave as the hold fills; a cancel reaches only held rows. */
static void test_full_hold_releases_the_oldest(void **state)
{
	struct hold *h = hold_new();
	struct buf out = BUF_INIT, want = BUF_INIT;
	struct err e;
	char row[32];

	(void)state;
	for (uint64_t i = 0; i < 10000; i++) {
		snprintf(row, sizeof(row), "row %llu\n", (unsigned long long)i);
		add(h, row, i, 1, &out);
		if (i != 5 && i != 9990)
			assert_int_equal(buf_adds(&want, row), 0);
	}
	assert_true(out.len > 0);
	assert_int_equal(cancel(h, 5), 0);       /* long gone */
	assert_int_equal(cancel(h, 9990), 1);
	assert_int_equal(hold_drain(h, collect, &out, &e), 0);
	/* row 5 was written before the cancel came: it stays. */
	snprintf(row, sizeof(row), "row 4\n");
	{
		char *at = strstr(want.data, row);

		assert_non_null(at);
		at += strlen(row);
		memmove(at + strlen("row 5\n"), at, want.len - (size_t)(at - want.data));
		memcpy(at, "row 5\n", strlen("row 5\n"));
		want.len += strlen("row 5\n");
	}
	assert_int_equal(out.len, want.len);
	assert_memory_equal(out.data, want.data, want.len);
	hold_free(h);
	buf_free(&out);
	buf_free(&want);
}

/* A row larger than a half's byte budget fills it at once; order is kept. */
static void test_huge_row(void **state)
{
	struct hold *h = hold_new();
	struct buf out = BUF_INIT;
	struct err e;
	size_t big = 3u << 20;

	(void)state;
	add(h, "small\n", 1, 1, &out);
	assert_int_equal(buf_reserve(hold_buf(h), big), 0);
	memset(buf_tail(hold_buf(h)), 'x', big);
	hold_buf(h)->len += big;
	assert_int_equal(hold_row(h, &(struct hold_tag){ NULL, 0, 0 }, collect, &out, &e), 0);
	assert_int_equal(out.len, 0);                 /* the older half was empty */
	add(h, "after\n", 2, 1, &out);
	assert_int_equal(cancel(h, 1), 1);       /* the older half is still held */
	assert_int_equal(hold_drain(h, collect, &out, &e), 0);
	assert_int_equal(out.len, big + strlen("after\n"));
	assert_int_equal(out.data[0], 'x');
	assert_memory_equal(out.data + big, "after\n", strlen("after\n"));
	hold_free(h);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_leave_in_order_without_the_cancelled),
		cmocka_unit_test(test_full_hold_releases_the_oldest),
		cmocka_unit_test(test_huge_row),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
