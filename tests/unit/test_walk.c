/*
 * walk: the page walk (SPEC §5.1, §5.5, walk.h) against a scripted
 * transport with its own clock. Each request finishes after a delay chosen
 * per page, with an outcome chosen per page and attempt; waiting only moves
 * the clock, so a 300-second Retry-After costs nothing. Checked: pages
 * handed on in order whatever order they finish in, retries of 503, 429
 * (after its Retry-After), timeouts, no retry of a failure or a 404, the end
 * at a short page with later requests cancelled, an empty answer asked
 * once more before it ends the history, --max-pages, slow start, and a
 * stop flag noticed within a second of any wait.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "walk.h"

#define MAX_SLOTS 8
#define MAX_PAGES 64

struct fault {
	unsigned long page;
	int attempt; /* 1-based; 0: every attempt */
	enum walk_outcome outcome;
	long status;
	double retry_after;
};

struct script {
	/* the script */
	unsigned long last;      /* the short page: the history's end */
	double delay[MAX_PAGES]; /* seconds a page's request takes (default 0.01) */
	const struct fault *faults;
	size_t nfaults;
	double stop_at; /* > 0: the signal arrives at this time */
	volatile int *stop;
	/* what happened */
	double clock;
	int attempts[MAX_PAGES];
	double started_at[MAX_PAGES][8];
	struct {
		int busy;
		unsigned long page;
		double ready;
	} inflight[MAX_SLOTS];
	char body[MAX_SLOTS][32];
	unsigned long cancelled[MAX_PAGES];
	size_t ncancelled;
	int max_wait_ms;
	unsigned long emitted[MAX_PAGES];
	size_t nemitted;
	unsigned long fail_on_page; /* on_page fails with ERR_DATA there */
	/* A proxy's empty answer: page empty_page's first empty_tries answers are empty_body. */
	unsigned long empty_page;
	int empty_tries;
	const char *empty_body;
	unsigned long empty_from; /* > 0: this page and every later one answer [] (the real end) */
	unsigned long needed;     /* what the walk last said it hands on next */
};

static int s_start(void *impl, int slot, unsigned long page, struct err *e)
{
	struct script *s = impl;
	double d = page < MAX_PAGES && s->delay[page] > 0 ? s->delay[page] : 0.01;

	(void)e;
	assert_true(slot >= 0 && slot < MAX_SLOTS);
	assert_false(s->inflight[slot].busy);
	assert_true(page < MAX_PAGES);
	if (s->attempts[page] < 8)
		s->started_at[page][s->attempts[page]] = s->clock;
	s->attempts[page]++;
	s->inflight[slot].busy = 1;
	s->inflight[slot].page = page;
	s->inflight[slot].ready = s->clock + d;
	return 0;
}

static void answer(struct script *s, int slot, struct walk_answer *a)
{
	unsigned long page = s->inflight[slot].page;

	memset(a, 0, sizeof(*a));
	a->slot = slot;
	a->outcome = WALK_ANSWERED;
	a->status = 200;
	for (size_t i = 0; i < s->nfaults; i++) {
		const struct fault *f = &s->faults[i];

		if (f->page == page && (!f->attempt || f->attempt == s->attempts[page])) {
			a->outcome = f->outcome;
			a->status = f->status;
			a->retry_after = f->retry_after;
			a->why = f->outcome == WALK_ANSWERED ? NULL : "Operation timed out";
		}
	}
	snprintf(s->body[slot], sizeof(s->body[slot]), "%s %lu",
		 page < s->last    ? "full"
		 : page == s->last ? "short"
				   : "empty",
		 page);
	if (page == s->empty_page && s->attempts[page] <= s->empty_tries)
		snprintf(s->body[slot], sizeof(s->body[slot]), "%s", s->empty_body);
	if (s->empty_from && page >= s->empty_from)
		snprintf(s->body[slot], sizeof(s->body[slot]), "[]");
	a->body = s->body[slot];
	a->len = strlen(s->body[slot]);
	s->inflight[slot].busy = 0;
}

/* The earliest request to finish, if it finishes within the wait; the clock moves. */
static int s_next(void *impl, int timeout_ms, struct walk_answer *a, struct err *e)
{
	struct script *s = impl;
	double until = s->clock + timeout_ms / 1000.0;
	int best = -1;

	(void)e;
	if (timeout_ms > s->max_wait_ms)
		s->max_wait_ms = timeout_ms;
	for (int i = 0; i < MAX_SLOTS; i++)
		if (s->inflight[i].busy &&
		    (best < 0 || s->inflight[i].ready < s->inflight[best].ready))
			best = i;
	if (best >= 0 && s->inflight[best].ready <= until) {
		if (s->inflight[best].ready > s->clock)
			s->clock = s->inflight[best].ready;
		answer(s, best, a);
		return 1;
	}
	s->clock = until;
	if (s->stop_at > 0 && s->clock >= s->stop_at)
		*s->stop = 1;
	return 0;
}

static void s_cancel(void *impl, int slot)
{
	struct script *s = impl;

	assert_true(s->inflight[slot].busy);
	s->inflight[slot].busy = 0;
	s->cancelled[s->ncancelled++] = s->inflight[slot].page;
}

static double s_now(void *impl)
{
	return ((struct script *)impl)->clock;
}

/* The page after the last one handed on, every time (http_pages.c frees what lies below). */
static void s_needed(void *impl, unsigned long page_no)
{
	struct script *s = impl;

	if (page_no == ULONG_MAX) /* the walk ended */
		return;
	if (s->nemitted)
		assert_int_equal(page_no, s->emitted[s->nemitted - 1] + 1);
	assert_true(page_no >= s->needed);
	s->needed = page_no;
}

static int on_page(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	struct script *s = ctx;
	char expect[32];

	snprintf(expect, sizeof(expect), "%lu", page_no);
	assert_int_equal(len, strlen(body));
	s->emitted[s->nemitted++] = page_no;
	if ((page_no == s->empty_page || (s->empty_from && page_no >= s->empty_from)) &&
	    !strstr(body, expect))
		return WALK_END; /* the empty answer, handed on */
	assert_non_null(strstr(body, expect));
	if (page_no == s->fail_on_page)
		return err_set(e, ERR_DATA, "not a page of messages");
	return strncmp(body, "full", 4) ? WALK_END : WALK_MORE;
}

static int walk(struct script *s, struct walk_opts *o, struct walk_stats *st, struct err *e)
{
	static volatile int stop;
	struct walk_transport t = { s, s_start, s_next, s_cancel, s_now, s_needed };

	stop = 0;
	s->stop = &stop;
	o->stop = &stop;
	if (!o->retry_base)
		o->retry_base = 0.001;
	memset(st, 0, sizeof(*st));
	memset(e, 0, sizeof(*e));
	return walk_run(o, &t, on_page, s, st, e);
}

static void assert_in_order(const struct script *s, unsigned long last)
{
	assert_int_equal(s->nemitted, last);
	for (size_t i = 0; i < s->nemitted; i++)
		assert_int_equal(s->emitted[i], i + 1);
}

static void test_pages_finishing_out_of_order_are_handed_on_in_order(void **state)
{
	struct script s = { .last = 9 };
	struct walk_opts o = { .concurrency = 4, .retries = 2 };
	struct walk_stats st;
	struct err e;

	(void)state;
	for (unsigned long p = 1; p < 20; p++)
		s.delay[p] = 0.5 - 0.02 * (double)p; /* later pages answer first */
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 9);
	assert_int_equal(st.pages, 9);
	assert_int_equal(st.retries, 0);
	assert_int_equal(st.max_in_flight, 4);
	assert_int_equal(st.bytes, 8 * strlen("full 1") + strlen("short 9"));
	/* Pages 10..12 were asked while 9 was awaited (the window is 4), never more. */
	assert_int_equal(st.requests, 12);
	assert_int_equal(s.attempts[13], 0);
	for (size_t i = 0; i < s.ncancelled; i++)
		assert_true(s.cancelled[i] > 9 && s.cancelled[i] <= 12);
}

static void test_503_then_200_is_retried(void **state)
{
	static const struct fault f[] = { { 2, 1, WALK_ANSWERED, 503, 0 } };
	struct script s = { .last = 3, .faults = f, .nfaults = 1 };
	struct walk_opts o = { .concurrency = 2, .retries = 3 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 3);
	assert_int_equal(s.attempts[2], 2);
	assert_int_equal(st.retries, 1);
}

static void test_429_waits_for_its_retry_after(void **state)
{
	static const struct fault f[] = { { 1, 1, WALK_ANSWERED, 429, 120 } };
	struct script s = { .last = 1, .faults = f, .nfaults = 1 };
	struct walk_opts o = { .concurrency = 1, .retries = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 1);
	assert_int_equal(s.attempts[1], 2);
	assert_true(s.started_at[1][1] >= 120.0);
	assert_true(s.started_at[1][1] < 121.1);
	assert_true(s.max_wait_ms <= 1000); /* a long wait is made of short ones */
}

/* What the walk told about its waits (SPEC §6: the progress line says why it waits). */
struct told {
	int waits, ends;
	int cleared; /* the last call ended the wait (the progress line is clean) */
	unsigned long page;
	long status;
	int retry, retries;
	double first_left, last_left;
	char why[64];
};

static void on_wait(void *ctx, const struct walk_wait *w)
{
	struct told *t = ctx;

	t->cleared = !w;
	if (!w) {
		t->ends++;
		return;
	}
	if (!t->waits++)
		t->first_left = w->left;
	t->last_left = w->left;
	t->page = w->page_no;
	t->status = w->status;
	t->retry = w->retry;
	t->retries = w->retries;
	snprintf(t->why, sizeof(t->why), "%s", w->why ? w->why : "");
}

static void test_a_wait_is_told_with_its_reason_and_countdown(void **state)
{
	static const struct fault f[] = { { 1, 1, WALK_ANSWERED, 429, 12 } };
	static const struct fault t2[] = { { 2, 0, WALK_TRANSIENT, 0, 0 } };
	struct script s = { .last = 1, .faults = f, .nfaults = 1 };
	struct told told = { 0 };
	struct walk_opts o = {
		.concurrency = 1, .retries = 5, .on_wait = on_wait, .wait_ctx = &told
	};
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_true(told.waits >= 12); /* about once a second */
	assert_true(told.first_left > 11.9 && told.first_left <= 12.0);
	assert_true(told.last_left <= 1.0);
	assert_int_equal(told.ends, 1);
	assert_int_equal(told.page, 1);
	assert_int_equal(told.status, 429);
	assert_int_equal(told.retry, 1);
	assert_int_equal(told.retries, 5);

	/* No answer: the transport's words, and the retry's number grows. */
	memset(&told, 0, sizeof(told));
	memset(&s, 0, sizeof(s));
	s.last = 3;
	s.faults = t2;
	s.nfaults = 1;
	o.retries = 2;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_int_equal(told.page, 2);
	assert_int_equal(told.status, 0);
	assert_int_equal(told.retry, 2);
	assert_string_equal(told.why, "Operation timed out");
	/*
	 * The waits are told ended when no page is waiting: between the two that
	 * is only seen if the retry's answer comes after a turn of the loop (on
	 * a busy machine it can come in the same turn). The last is always told.
	 */
	assert_in_range(told.ends, 1, 2);
	assert_true(told.cleared);
}

static void test_timeouts_are_retried_then_the_walk_gives_up(void **state)
{
	static const struct fault f[] = { { 2, 0, WALK_TRANSIENT, 0, 0 } };
	struct script s = { .last = 5, .faults = f, .nfaults = 1 };
	struct walk_opts o = { .concurrency = 3, .retries = 2 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "page 2: Operation timed out on each of 3 tries"));
	assert_int_equal(s.attempts[2], 3);
	assert_int_equal(st.retries, 2);
	assert_int_equal(s.nemitted, 1); /* page 1 was handed on, nothing after the gap */
}

static void test_a_failure_or_a_404_is_not_retried(void **state)
{
	static const struct fault failed[] = { { 1, 0, WALK_FAILED, 0, 0 } };
	static const struct fault notfound[] = { { 1, 0, WALK_ANSWERED, 404, 0 } };
	struct script s = { .last = 2, .faults = failed, .nfaults = 1 };
	struct script s2 = { .last = 2, .faults = notfound, .nfaults = 1 };
	struct walk_opts o = { .concurrency = 1, .retries = 5 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "page 1: Operation timed out; not retried"));
	assert_int_equal(s.attempts[1], 1);
	assert_int_equal(walk(&s2, &o, &st, &e), -1);
	assert_non_null(strstr(e.msg, "page 1: server answered HTTP 404; not retried (a request "
				      "the server will not take: check --url"));
	assert_int_equal(s2.attempts[1], 1);
}

/*
 * With several pages in flight the walk fails at the first page it cannot
 * hand on, not at the first to fail: a dead server names page 1, whichever
 * answer came first; and a page past the history's end that fails first
 * does not fail a walk that the short page before it ends.
 */
static void test_the_first_page_that_cannot_be_had_is_the_one_named(void **state)
{
	static const struct fault dead[] = { { 1, 0, WALK_TRANSIENT, 0, 0 },
					     { 2, 0, WALK_TRANSIENT, 0, 0 },
					     { 3, 0, WALK_TRANSIENT, 0, 0 },
					     { 4, 0, WALK_TRANSIENT, 0, 0 } };
	static const struct fault past_end[] = { { 4, 0, WALK_ANSWERED, 404, 0 } };
	struct script s = { .last = 9, .faults = dead, .nfaults = 4 };
	struct script s2 = { .last = 3, .faults = past_end, .nfaults = 1 };
	struct walk_opts o = { .concurrency = 4, .retries = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	for (unsigned long p = 1; p <= 4; p++)
		s.delay[p] = s2.delay[p] = 0.5 - 0.1 * (double)p; /* page 4 answers first */
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_int_equal(e.kind, ERR_UNAVAILABLE);
	assert_non_null(strstr(e.msg, "page 1: Operation timed out on each of 2 tries"));
	assert_int_equal(s.nemitted, 0);
	assert_int_equal(walk(&s2, &o, &st, &e), 0);
	assert_in_order(&s2, 3);
}

/* What the one line says: a redirect is not followed (it would carry the key elsewhere). */
static void test_a_redirect_and_a_single_try_are_said_plainly(void **state)
{
	static const struct fault moved[] = { { 2, 0, WALK_ANSWERED, 302, 0 } };
	static const struct fault down[] = { { 1, 0, WALK_TRANSIENT, 0, 0 } };
	struct script s = { .last = 9, .faults = moved, .nfaults = 1 };
	struct script s2 = { .last = 9, .faults = down, .nfaults = 1 };
	struct walk_opts o = { .concurrency = 1, .retries = 0 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_non_null(strstr(e.msg, "page 2: server answered HTTP 302 (a redirect: not "
				      "followed, since the request carries the key; give --url"));
	assert_int_equal(walk(&s2, &o, &st, &e), -1);
	assert_non_null(strstr(e.msg, "page 1: Operation timed out (--retries 0); giving up"));
}

static void test_the_end_cancels_the_requests_past_it(void **state)
{
	struct script s = { .last = 1 };
	struct walk_opts o = { .concurrency = 4, .retries = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	s.delay[1] = 0.3; /* pages 2..4 are answered, unseen, before page 1 */
	s.delay[2] = s.delay[3] = 0.5;
	s.delay[4] = 1.0;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 1);
	assert_int_equal(st.pages, 1);
	assert_int_equal(s.ncancelled, 3);
	for (size_t i = 0; i < s.ncancelled; i++)
		assert_true(s.cancelled[i] >= 2 && s.cancelled[i] <= 4);
}

static void test_max_pages_bounds_the_walk(void **state)
{
	struct script s = { .last = 30 };
	struct walk_opts o = { .concurrency = 4, .retries = 1, .max_pages = 3 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 3);
	assert_int_equal(st.requests, 3);
	assert_int_equal(s.attempts[4], 0);
}

/* SPEC §1, §5.1: an empty page ends the history, but not on a proxy's one empty answer. */
static void test_an_empty_answer_is_asked_once_more_before_it_ends_the_history(void **state)
{
	static const char *const bodies[] = { "[]", "", " [ ]\r\n", "\xef\xbb\xbf[]" };

	(void)state;
	for (size_t b = 0; b < sizeof(bodies) / sizeof(*bodies); b++) {
		struct script s = { .last = 6, .empty_page = 3, .empty_tries = 1 };
		struct walk_opts o = { .concurrency = 2, .retries = 0, .confirm_empty = 1 };
		struct walk_stats st;
		struct err e;

		s.empty_body = bodies[b];
		assert_int_equal(walk(&s, &o, &st, &e), 0);
		assert_in_order(&s, 6); /* the second answer was the page: nothing lost */
		assert_int_equal(s.attempts[3], 2);
		assert_int_equal(st.reasked, 1);
		assert_int_equal(st.retries, 0); /* no retry spent, with none to spend */
	}
}

static void test_an_empty_page_twice_is_the_end(void **state)
{
	struct script s = { .last = 6, .empty_page = 3, .empty_tries = 2, .empty_body = "[]" };
	struct walk_opts o = { .concurrency = 2, .retries = 3, .confirm_empty = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 3);
	assert_int_equal(s.attempts[3], 2);
	assert_int_equal(st.reasked, 1);
}

/* A history that ends on a page boundary: only the page that ends it is asked twice. */
static void test_the_real_end_costs_one_request_more_at_any_concurrency(void **state)
{
	struct script s = { .last = 100, .empty_from = 4 };
	struct walk_opts o = { .concurrency = 4, .retries = 2, .confirm_empty = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	for (unsigned long p = 5; p < 12; p++)
		s.delay[p] = 0.001; /* the pages past the end answer first */
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 4);
	assert_int_equal(s.attempts[4], 2);
	assert_int_equal(st.reasked, 1);
	for (unsigned long p = 5; p < 12; p++)
		assert_true(s.attempts[p] <= 1);
}

static void test_only_an_empty_page_is_asked_again(void **state)
{
	struct script s = { .last = 6, .empty_page = 3, .empty_tries = 1, .empty_body = "[{}]" };
	struct walk_opts o = { .concurrency = 1, .retries = 3, .confirm_empty = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 3); /* a short page is the end, as the API says */
	assert_int_equal(s.attempts[3], 1);
	/* and without confirm_empty (downloads) an empty answer is taken at once */
	memset(&s, 0, sizeof(s));
	s = (struct script){ .last = 6, .empty_page = 3, .empty_tries = 1, .empty_body = "[]" };
	o.confirm_empty = 0;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 3);
	assert_int_equal(st.reasked, 0);
}

/* A resumed walk starts past page 1: its pages, its bound and its errors by their real numbers. */
static void test_a_walk_from_a_later_page_counts_from_there(void **state)
{
	static const struct fault f[] = { { 7, 0, WALK_ANSWERED, 503, 0 } };
	struct script s = { .last = 9 };
	struct walk_opts o = { .concurrency = 3, .retries = 1, .first_page = 5, .max_pages = 2 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_int_equal(s.nemitted, 2);
	assert_int_equal(s.emitted[0], 5);
	assert_int_equal(s.emitted[1], 6);
	assert_int_equal(s.attempts[4], 0);
	assert_int_equal(s.attempts[7], 0); /* max_pages counts from page 5 */
	memset(&s, 0, sizeof(s));
	s = (struct script){ .last = 9, .faults = f, .nfaults = 1 };
	o.max_pages = 0;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_non_null(strstr(e.msg, "page 7: server answered HTTP 503"));
}

static void test_slow_start_asks_once_when_page_one_ends(void **state)
{
	struct script s = { .last = 1 };
	struct walk_opts o = { .concurrency = 8, .retries = 1, .slow_start = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_int_equal(st.requests, 1);
	assert_int_equal(st.max_in_flight, 1);
}

/*
 * first_alone (probe.h): page 1 is answered before any other page is asked
 * for, even when it must be asked again, and then the rest go side by side.
 */
static void test_first_alone_answers_page_one_before_any_other(void **state)
{
	static const struct fault f[] = { { 1, 1, WALK_ANSWERED, 503, 0 } };
	struct script s = { .last = 20, .faults = f, .nfaults = 1 };
	struct walk_opts o = {
		.concurrency = 8, .retries = 2, .first_alone = 1, .retry_base = 0.1
	};
	struct walk_stats st;
	struct err e;
	double one_done;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), 0);
	assert_in_order(&s, 20);
	assert_int_equal(s.attempts[1], 2);
	one_done = s.started_at[1][1] + 0.01; /* its second try's answer */
	for (unsigned long p = 2; p <= 20; p++)
		assert_true(s.started_at[p][0] >= one_done);
	assert_int_equal(st.max_in_flight, 8);
}

static void test_stop_is_noticed_within_a_second_of_a_long_wait(void **state)
{
	static const struct fault f[] = { { 1, 1, WALK_ANSWERED, 429, 300 } };
	struct script s = { .last = 1, .faults = f, .nfaults = 1, .stop_at = 2.5 };
	struct walk_opts o = { .concurrency = 2, .retries = 3 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_int_equal(e.kind, ERR_INTERRUPTED);
	assert_true(s.clock < 2.5 + 1.0);
	assert_int_equal(s.attempts[1], 1);
	assert_int_equal(s.nemitted, 0); /* page 2 came back, but only after page 1 */
	for (int i = 0; i < MAX_SLOTS; i++)
		assert_false(s.inflight[i].busy);
}

static void test_a_page_the_callback_refuses_names_its_number(void **state)
{
	struct script s = { .last = 5, .fail_on_page = 2 };
	struct walk_opts o = { .concurrency = 3, .retries = 1 };
	struct walk_stats st;
	struct err e;

	(void)state;
	assert_int_equal(walk(&s, &o, &st, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_string_equal(e.msg, "page 2: not a page of messages");
	for (int i = 0; i < MAX_SLOTS; i++)
		assert_false(s.inflight[i].busy); /* nothing left running */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_redirect_and_a_single_try_are_said_plainly),
		cmocka_unit_test(test_pages_finishing_out_of_order_are_handed_on_in_order),
		cmocka_unit_test(test_503_then_200_is_retried),
		cmocka_unit_test(test_429_waits_for_its_retry_after),
		cmocka_unit_test(test_a_wait_is_told_with_its_reason_and_countdown),
		cmocka_unit_test(test_timeouts_are_retried_then_the_walk_gives_up),
		cmocka_unit_test(test_a_failure_or_a_404_is_not_retried),
		cmocka_unit_test(test_the_first_page_that_cannot_be_had_is_the_one_named),
		cmocka_unit_test(test_the_end_cancels_the_requests_past_it),
		cmocka_unit_test(test_max_pages_bounds_the_walk),
		cmocka_unit_test(
			test_an_empty_answer_is_asked_once_more_before_it_ends_the_history),
		cmocka_unit_test(test_an_empty_page_twice_is_the_end),
		cmocka_unit_test(test_the_real_end_costs_one_request_more_at_any_concurrency),
		cmocka_unit_test(test_only_an_empty_page_is_asked_again),
		cmocka_unit_test(test_a_walk_from_a_later_page_counts_from_there),
		cmocka_unit_test(test_slow_start_asks_once_when_page_one_ends),
		cmocka_unit_test(test_first_alone_answers_page_one_before_any_other),
		cmocka_unit_test(test_stop_is_noticed_within_a_second_of_a_long_wait),
		cmocka_unit_test(test_a_page_the_callback_refuses_names_its_number),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
