/*
 * nextcp: the earlier checkpoint turned into what select skips and what ends
 * the paging. The --lookback window's floor near the ends of the int64 range
 * (a checkpoint a wrong clock dated near LLONG_MIN) saturates instead of
 * wrapping to the far future, so the window is still written again.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>

#include "nextcp.h"
#include "walk.h"

#define TWO_DAYS (2 * 86400LL)

static const long long NOW = 1733000000;

/* The floor of a checkpoint at ts with lookback, as nextcp_begin sets it. */
static long long floor_of(long long ts, long long lookback, struct nextcp_walk *w)
{
	struct checkpoint cp = { .from = "1", .ts = ts };
	struct select_checkpoint pc;

	nextcp_begin(w, &cp, lookback, NOW, 0, &pc);
	assert_true(pc.earlier);
	assert_true(pc.floor == w->floor);
	return pc.floor;
}

static void test_the_floor_is_the_checkpoint_minus_the_lookback(void **state)
{
	struct nextcp_walk w;

	(void)state;
	assert_true(floor_of(1731999000, TWO_DAYS, &w) == 1731999000 - TWO_DAYS);
	assert_true(floor_of(1731999000, 0, &w) == 1731999000);
	assert_true(floor_of(LLONG_MAX, TWO_DAYS, &w) == LLONG_MAX - TWO_DAYS);
	assert_true(floor_of(LLONG_MIN, 0, &w) == LLONG_MIN);
	assert_true(floor_of(LLONG_MIN + TWO_DAYS, TWO_DAYS, &w) == LLONG_MIN);
}

static void test_a_floor_below_llong_min_saturates_and_keeps_the_window(void **state)
{
	struct select_page page = { .has_oldest = 1, .oldest = LLONG_MIN + 1 };
	struct nextcp_walk w;

	(void)state;
	assert_true(floor_of(LLONG_MIN + 1, TWO_DAYS, &w) == LLONG_MIN);
	assert_true(floor_of(LLONG_MIN, TWO_DAYS, &w) == LLONG_MIN);
	assert_true(floor_of(LLONG_MIN + TWO_DAYS - 1, LLONG_MAX, &w) == LLONG_MIN);
	/* A version-1 checkpoint (no head): the message at its time is inside the window. */
	floor_of(LLONG_MIN + 1, TWO_DAYS, &w);
	assert_int_equal(nextcp_verdict(&w, &page), WALK_MORE);
}

/* Pages wholly older than the checkpoint, the head not met: late deliveries, or a head the API deleted. */
static void test_old_pages_end_the_walk_only_when_the_head_may_have_expired(void **state)
{
	struct state_head head = { .unique = "h", .len = 1, .ts = 1000, .ts_ok = 1 };
	struct checkpoint cp = { .from = "1", .ts = 1000, .head = &head, .nhead = 1 };
	struct select_page old = { .has_newest = 1, .newest = 10, .has_oldest = 1, .oldest = 5 };
	struct select_checkpoint pc;
	struct nextcp_walk w;

	(void)state;
	nextcp_begin(&w, &cp, 0, NOW, 0, &pc);
	for (int i = 0; i < 10 * NEXTCP_GONE_PAGES; i++)
		assert_int_equal(nextcp_verdict(&w, &old), WALK_MORE);
	nextcp_begin(&w, &cp, 0, NOW, 1, &pc);
	for (int i = 1; i < NEXTCP_GONE_PAGES; i++)
		assert_int_equal(nextcp_verdict(&w, &old), WALK_MORE);
	assert_int_equal(nextcp_verdict(&w, &old), WALK_END);
}

/*
 * --lookback: the walk ends when NEXTCP_WINDOW_LEFT messages in a row from
 * the head on lie behind the window, across pages, not at the first few:
 * late deliveries (old-dated, after an outage) sit among the window's.
 */
static void test_the_window_ends_after_a_run_of_messages_behind_it(void **state)
{
	struct state_head head = { .unique = "h", .len = 1, .ts = 1000, .ts_ok = 1 };
	struct checkpoint cp = { .from = "1", .ts = 1000, .head = &head, .nhead = 1 };
	struct select_page met = { .records = 50, .head_met = 1, .from_head = 20, .tail_out = 20 };
	struct select_page late = {
		.records = 50, .head_met = 1, .from_head = 50, .tail_out = 20, .in_window = 30
	};
	struct select_page behind = {
		.records = 50, .head_met = 1, .from_head = 50, .tail_out = 50
	};
	struct select_checkpoint pc;
	struct nextcp_walk w;
	size_t run;

	(void)state;
	/* the head, then late deliveries: not the window's edge */
	nextcp_begin(&w, &cp, TWO_DAYS, NOW, 0, &pc);
	assert_int_equal(nextcp_verdict(&w, &met), WALK_MORE);
	/* window messages again, each page ending with 20 behind: the run starts over */
	for (int i = 0; i < 10; i++)
		assert_int_equal(nextcp_verdict(&w, &late), WALK_MORE);
	/* then pages wholly behind, until the run is long enough */
	for (run = 20; run + 50 < NEXTCP_WINDOW_LEFT; run += 50)
		assert_int_equal(nextcp_verdict(&w, &behind), WALK_MORE);
	assert_int_equal(nextcp_verdict(&w, &behind), WALK_END);
	/* without --lookback the head ends the walk at once */
	nextcp_begin(&w, &cp, 0, NOW, 0, &pc);
	assert_int_equal(nextcp_verdict(&w, &met), WALK_END);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_floor_is_the_checkpoint_minus_the_lookback),
		cmocka_unit_test(test_a_floor_below_llong_min_saturates_and_keeps_the_window),
		cmocka_unit_test(test_old_pages_end_the_walk_only_when_the_head_may_have_expired),
		cmocka_unit_test(test_the_window_ends_after_a_run_of_messages_behind_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
