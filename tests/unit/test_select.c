/*
 * select: the head the next checkpoint keeps (SPEC §5.3). It is the first
 * messages written, page 1 first, then a mark of each later page: its first
 * message written (messages that arrived while the walk waited for a retry
 * can sit on a later page above page 1's head, and the next run must be able
 * to stop there instead of writing them again), or with --lookback its last
 * (select.h). The pages' marks never crowd out more than half of the head.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "seen.h"
#include "select.h"
#include "when.h"

#define PAGE 50
#define NEWEST 2000000000LL      /* the time of message m0 */
#define HORIZON (NEWEST + 86400) /* the run's start and a day */
#define AHEAD 1000000u           /* message numbers from here on are dated a year past it */

/* Message number i of a walk: unique "m<i>", newest first. */
struct msg {
	char unique[16];
	struct record r;
	uint64_t key;
};

static void make(struct msg *m, unsigned i)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->unique, sizeof(m->unique), "m%u", i);
	m->r.f[REC_UNIQUE] = (struct field){ m->unique, strlen(m->unique), FIELD_STRING };
	m->r.ts = i >= AHEAD ? HORIZON + 365 * 86400LL : NEWEST - (long long)i;
	m->r.ts_ok = 1;
	assert_int_equal(seen_key(m->unique, strlen(m->unique), &m->key), 0);
}

/* One page of the messages numbered ids[0..n), within --since/--until unless when says. */
static size_t page(struct select *s, const unsigned *ids, size_t n, const unsigned char *when)
{
	struct select_page pg = { 0 };
	struct msg m[PAGE];
	struct err e;
	size_t written = 0;

	assert_true(n <= PAGE);
	for (size_t i = 0; i < n; i++) {
		make(&m[i], ids[i]);
		select_look(s, &m[i].r, m[i].key, &pg);
	}
	for (size_t i = 0; i < n; i++) {
		int k = select_message(s, &m[i].r, m[i].key, when ? when[i] : WHEN_WITHIN, &pg, &e);

		assert_true(k >= 0);
		written += (size_t)k;
	}
	return written;
}

/* Page p (from 1) of a history that does not move: messages 50 (p - 1) ... */
static void plain_page(struct select *s, unsigned p)
{
	unsigned ids[PAGE];

	for (unsigned i = 0; i < PAGE; i++)
		ids[i] = PAGE * (p - 1) + i;
	assert_int_equal(page(s, ids, PAGE, NULL), PAGE);
}

/* A first run under --state (no earlier checkpoint), with --lookback or not. */
static struct select *run_with(int lookback)
{
	static const struct select_checkpoint plain = { .marks = SELECT_MARK_FIRST,
							.horizon = HORIZON },
					      window = { .marks = SELECT_MARK_LAST,
							 .horizon = HORIZON };
	struct select *s;
	struct err e;

	assert_int_equal(select_new(&s, NULL, &e), 0);
	select_set_checkpoint(s, lookback ? &window : &plain);
	return s;
}

static struct select *first_run(void)
{
	return run_with(0);
}

static void assert_head(const struct state_head *h, unsigned i)
{
	char want[16];

	snprintf(want, sizeof(want), "m%u", i);
	assert_string_equal(h->unique, want);
	assert_int_equal(h->len, strlen(want));
}

static void test_a_long_walk_keeps_half_of_page_one_and_the_pages_firsts(void **state)
{
	struct select *s = first_run();
	const struct select_next *n;

	(void)state;
	for (unsigned p = 1; p <= 45; p++)
		plain_page(s, p);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	for (unsigned i = 0; i < STATE_HEAD_MAX - SELECT_PAGE_MARKS; i++)
		assert_head(&n->head[i], i);
	for (unsigned k = 0; k < SELECT_PAGE_MARKS; k++) /* pages 2 to 26 */
		assert_head(&n->head[STATE_HEAD_MAX - SELECT_PAGE_MARKS + k], PAGE * (k + 1));
	select_free(s);
}

static void test_a_short_walk_keeps_the_head_whole_but_one(void **state)
{
	struct select *s = first_run();
	const struct select_next *n;
	unsigned ids[20];

	(void)state;
	plain_page(s, 1);
	for (unsigned i = 0; i < 20; i++)
		ids[i] = PAGE + i;
	assert_int_equal(page(s, ids, 20, NULL), 20);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	for (unsigned i = 0; i < STATE_HEAD_MAX - 1; i++)
		assert_head(&n->head[i], i);
	assert_head(&n->head[STATE_HEAD_MAX - 1], PAGE);
	select_free(s);
}

/*
 * Only a page's first message written by this run: a repeat (the pages
 * shifted) or one outside --since/--until at the top of a page is no place
 * the next run may stop at.
 */
static void test_a_page_that_begins_with_a_repeat_or_a_filtered_message_adds_nothing(void **state)
{
	struct select *s = first_run();
	const struct select_next *n;
	unsigned shifted[PAGE], filtered[PAGE];
	unsigned char out[PAGE];

	(void)state;
	plain_page(s, 1);
	memset(out, WHEN_WITHIN, sizeof(out));
	out[0] = WHEN_BEFORE;
	for (unsigned i = 0; i < PAGE; i++) {
		shifted[i] = PAGE - 3 + i; /* three of page 1 again, then new ones */
		filtered[i] = 2 * PAGE - 3 + i;
	}
	assert_int_equal(page(s, shifted, PAGE, NULL), PAGE - 3);
	assert_int_equal(page(s, filtered, PAGE, out), PAGE - 1);
	plain_page(s, 4);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	assert_head(&n->head[STATE_HEAD_MAX - 2], PAGE - 2); /* page 1's 49th */
	assert_head(&n->head[STATE_HEAD_MAX - 1], 3 * PAGE);
	select_free(s);
}

/*
 * --lookback's next run writes the window again from the first mark it
 * meets: a page's first could be a late delivery above page 1's head and end
 * the window there, so the marks are the pages' last messages (written or
 * not: page 4's were all exported by an earlier run), below the head.
 */
static void test_with_lookback_the_marks_are_the_pages_lasts(void **state)
{
	struct select *s = run_with(1);
	const struct select_next *n;

	(void)state;
	for (unsigned p = 1; p <= 5; p++)
		plain_page(s, p);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	for (unsigned i = 0; i < STATE_HEAD_MAX - 4; i++)
		assert_head(&n->head[i], i);
	for (unsigned k = 0; k < 4; k++) /* pages 2 to 5 */
		assert_head(&n->head[STATE_HEAD_MAX - 4 + k], PAGE * (k + 2) - 1);
	select_free(s);
}

/*
 * With --lookback, a flood arrived while the walk waited before page 2 (100
 * messages, numbered from 5000 on: pages 2 and 3 are theirs), and page 4 is
 * page 1 again: the marks of pages 2 and 3 lie above page 1's head in the
 * next night's order and are dropped; page 5's, below it, is kept.
 */
static void test_with_lookback_marks_above_the_head_are_dropped(void **state)
{
	struct select *s = run_with(1);
	const struct select_next *n;
	unsigned ids[PAGE];

	(void)state;
	plain_page(s, 1);
	for (unsigned p = 0; p < 2; p++) {
		for (unsigned i = 0; i < PAGE; i++)
			ids[i] = 5000 + PAGE * p + i;
		assert_int_equal(page(s, ids, PAGE, NULL), PAGE);
	}
	for (unsigned i = 0; i < PAGE; i++)
		ids[i] = i;
	assert_int_equal(page(s, ids, PAGE, NULL), 0); /* repeats */
	plain_page(s, 2);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	for (unsigned i = 0; i < STATE_HEAD_MAX - 1; i++)
		assert_head(&n->head[i], i);
	assert_head(&n->head[STATE_HEAD_MAX - 1], 2 * PAGE - 1);
	select_free(s);
}

/* With --lookback, a page's 50th that --since leaves out is no mark: the next page's is. */
static void test_with_lookback_a_message_left_out_is_no_mark(void **state)
{
	struct select *s = run_with(1);
	const struct select_next *n;
	unsigned ids[PAGE];
	unsigned char when[PAGE];

	(void)state;
	plain_page(s, 1);
	for (unsigned i = 0; i < PAGE; i++) {
		ids[i] = PAGE + i;
		when[i] = i == PAGE - 1 ? WHEN_BEFORE : WHEN_WITHIN;
	}
	assert_int_equal(page(s, ids, PAGE, when), PAGE - 1);
	plain_page(s, 3);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	assert_head(&n->head[STATE_HEAD_MAX - 2], STATE_HEAD_MAX - 2);
	assert_head(&n->head[STATE_HEAD_MAX - 1], 3 * PAGE - 1);
	select_free(s);
}

/*
 * A night of one page after an earlier checkpoint keeps no mark of its own:
 * the head's second half is then the earlier head's entries, its second half
 * (the deepest) first, and none this run holds itself twice.
 */
static void carried(unsigned first, unsigned own, unsigned from, unsigned n)
{
	static char names[STATE_HEAD_MAX][16];
	struct state_head earlier[STATE_HEAD_MAX];
	struct select_checkpoint cp = { .earlier = 1,
					.marks = SELECT_MARK_FIRST,
					.horizon = HORIZON };
	const struct select_next *got;
	struct select *s;
	struct err e;
	unsigned ids[PAGE];

	for (unsigned i = 0; i < STATE_HEAD_MAX; i++) {
		snprintf(names[i], sizeof(names[i]), "m%u", first + i);
		earlier[i] = (struct state_head){ names[i], strlen(names[i]), NEWEST, 1 };
	}
	cp.head = earlier;
	cp.nhead = STATE_HEAD_MAX;
	assert_int_equal(select_new(&s, NULL, &e), 0);
	select_set_checkpoint(s, &cp);
	for (unsigned i = 0; i < PAGE; i++)
		ids[i] = i;
	(void)page(s, ids, PAGE, NULL);
	got = select_take_next(s);
	assert_int_equal(got->nhead, own + n);
	for (unsigned i = 0; i < own; i++)
		assert_head(&got->head[i], i);
	for (unsigned k = 0; k < n; k++)
		assert_head(&got->head[own + k], from + k);
	select_free(s);
}

static void test_a_one_page_night_carries_the_earlier_head(void **state)
{
	(void)state;
	carried(40, STATE_HEAD_MAX - SELECT_PAGE_MARKS, 65, SELECT_PAGE_MARKS);
	carried(10, 40, 50, 10); /* m35-m49 and m10-m34 are its own */
}

/*
 * A message newer than --until, held back, below messages written (late
 * deliveries, old-dated, on top): the head begins below it, so the next run
 * without --until finds it above the head and writes it. Before, the head
 * was the late deliveries: the held-back message was taken for exported.
 */
static void test_a_message_held_back_by_until_starts_the_head_below_it(void **state)
{
	struct select *s = first_run();
	const struct select_next *n;
	unsigned ids[6] = { 0, 1, 2, 3, 4, 5 };
	unsigned char when[6] = { WHEN_WITHIN, WHEN_AFTER, WHEN_WITHIN,
				  WHEN_WITHIN, WHEN_AFTER, WHEN_WITHIN };

	(void)state;
	assert_int_equal(page(s, ids, 6, when), 4);
	n = select_take_next(s);
	assert_int_equal(n->nhead, 1);
	assert_head(&n->head[0], 5);
	select_free(s);
}

/*
 * One dated past the horizon (a clock days or years ahead) is held back by
 * every --until while it stays ahead: near the top the head still begins
 * below it (else the next night without --until would lose it); below a
 * whole head it leaves the head, or each night would walk down to it and
 * write again all above it.
 */
static void test_a_far_future_message_held_back_moves_only_a_head_not_done(void **state)
{
	struct select *s = first_run();
	const struct select_next *n;
	unsigned near[3] = { 0, AHEAD, 2 }, deep[PAGE];
	unsigned char when[PAGE];

	(void)state;
	memset(when, WHEN_WITHIN, sizeof(when));
	when[1] = WHEN_AFTER;
	assert_int_equal(page(s, near, 3, when), 2);
	n = select_take_next(s);
	assert_int_equal(n->nhead, 1);
	assert_head(&n->head[0], 2);
	select_free(s);

	s = first_run();
	plain_page(s, 1);
	for (unsigned i = 0; i < PAGE; i++)
		deep[i] = i == 1 ? AHEAD : PAGE + i;
	assert_int_equal(page(s, deep, PAGE, when), PAGE - 1);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	assert_head(&n->head[0], 0);
	select_free(s);
}

/* What was taken is gone: the next target (or a later walk) starts its own head. */
static void test_taking_the_head_starts_a_new_one(void **state)
{
	struct select *s = first_run();
	const struct select_next *n;
	unsigned later[1] = { 500 };

	(void)state;
	for (unsigned p = 1; p <= 3; p++)
		plain_page(s, p);
	n = select_take_next(s);
	assert_int_equal(n->nhead, STATE_HEAD_MAX);
	assert_int_equal(page(s, later, 1, NULL), 1);
	n = select_take_next(s);
	assert_int_equal(n->nhead, 1);
	assert_head(&n->head[0], 500);
	select_free(s);
}

/* Without --state there is no next checkpoint: no head is kept at all. */
static void test_without_a_checkpoint_no_head_is_kept(void **state)
{
	struct select *s;
	struct err e;

	(void)state;
	assert_int_equal(select_new(&s, NULL, &e), 0);
	for (unsigned p = 1; p <= 3; p++)
		plain_page(s, p);
	assert_int_equal(select_take_next(s)->nhead, 0);
	select_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_long_walk_keeps_half_of_page_one_and_the_pages_firsts),
		cmocka_unit_test(test_a_short_walk_keeps_the_head_whole_but_one),
		cmocka_unit_test(
			test_a_page_that_begins_with_a_repeat_or_a_filtered_message_adds_nothing),
		cmocka_unit_test(test_with_lookback_the_marks_are_the_pages_lasts),
		cmocka_unit_test(test_with_lookback_marks_above_the_head_are_dropped),
		cmocka_unit_test(test_with_lookback_a_message_left_out_is_no_mark),
		cmocka_unit_test(test_a_one_page_night_carries_the_earlier_head),
		cmocka_unit_test(test_a_message_held_back_by_until_starts_the_head_below_it),
		cmocka_unit_test(test_a_far_future_message_held_back_moves_only_a_head_not_done),
		cmocka_unit_test(test_taking_the_head_starts_a_new_one),
		cmocka_unit_test(test_without_a_checkpoint_no_head_is_kept),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
