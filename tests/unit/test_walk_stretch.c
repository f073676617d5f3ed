/*
 * walk_stretch: the walk that cannot miss a message while new ones arrive
 * (walk_stretch.h, SPEC §5.2), against a scripted API with a real history:
 * pages of fifty JSON messages, newest first, cut from the history as it
 * stands when each page is answered. Requests in flight are answered last
 * asked first, so a later page can be answered before an arrival and an
 * earlier one after it: the case that makes a plain walk_run miss the
 * messages pushed across (checked first, so the scenario is known to bite).
 * Checked: every message there at the start is handed on, pages in rising
 * order; a walk with no arrivals asks each page once, and page 1 once more
 * only for each stretch's look (once in all when the walk ends there); a history that grows
 * on every answer falls back to one page at a time and still ends complete;
 * max_pages bounds the walk.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walk.h"
#include "walk_stretch.h"

#define SLOTS 8
#define PER_PAGE 50
#define MAX_MSGS 4096
#define BODY_MAX (PER_PAGE * 200 + 8)

struct api {
	/* The history, newest first: message ids; arrivals get the next id. */
	int hist[MAX_MSGS];
	int n, next_id;
	int initial; /* ids below this were there at the start */
	/* Every `every` answers, `grow` messages arrive on top (0: none). */
	int every, grow;
	unsigned long answers;
	double clock;
	struct {
		int busy;
		unsigned long page, seq;
	} slot[SLOTS];
	unsigned long seq;
	char body[SLOTS][BODY_MAX];
	/* What the walk handed on. */
	int got[MAX_MSGS];
	unsigned long pages[1024];
	size_t npages;
	unsigned long requests[256]; /* per page number */
};

static void arrive(struct api *a, int k)
{
	assert_true(a->n + k <= MAX_MSGS);
	memmove(a->hist + k, a->hist, (size_t)a->n * sizeof(a->hist[0]));
	for (int i = k - 1; i >= 0; i--)
		a->hist[i] = a->next_id++;
	a->n += k;
}

static void setup(struct api *a, int messages, int every, int grow)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < messages; i++)
		a->hist[i] = messages - 1 - i;
	a->n = a->next_id = a->initial = messages;
	a->every = every;
	a->grow = grow;
}

/* Page p of the history as it stands now. */
static size_t page_body(const struct api *a, unsigned long p, char *out)
{
	size_t len = 0, from = (p - 1) * PER_PAGE;

	out[len++] = '[';
	for (size_t i = from; i < from + PER_PAGE && i < (size_t)a->n; i++)
		len += (size_t)
			snprintf(out + len, BODY_MAX - len,
				 "%s{\"unique\":\"M%06d\",\"timestamp\":\"%d\",\"direction\":\"1\","
				 "\"from\":\"972501\",\"to\":\"972502\",\"type\":\"text\","
				 "\"state\":0,\"message\":\"hi\"}",
				 i > from ? "," : "", a->hist[i], 1700000000 + a->hist[i]);
	out[len++] = ']';
	out[len] = 0;
	return len;
}

static int t_start(void *impl, int slot, unsigned long page, struct err *e)
{
	struct api *a = impl;

	(void)e;
	assert_true(slot >= 0 && slot < SLOTS && !a->slot[slot].busy && page < 256);
	a->requests[page]++;
	a->slot[slot].busy = 1;
	a->slot[slot].page = page;
	a->slot[slot].seq = ++a->seq;
	return 0;
}

/* The request asked last is answered first; the history may grow after it. */
static int t_next(void *impl, int timeout_ms, struct walk_answer *w, struct err *e)
{
	struct api *a = impl;
	int best = -1;

	(void)e;
	for (int i = 0; i < SLOTS; i++)
		if (a->slot[i].busy && (best < 0 || a->slot[i].seq > a->slot[best].seq))
			best = i;
	if (best < 0) {
		a->clock += timeout_ms / 1000.0;
		return 0;
	}
	a->clock += 0.01;
	memset(w, 0, sizeof(*w));
	w->slot = best;
	w->outcome = WALK_ANSWERED;
	w->status = 200;
	w->body = a->body[best];
	w->len = page_body(a, a->slot[best].page, a->body[best]);
	a->slot[best].busy = 0;
	if (a->every && ++a->answers % (unsigned long)a->every == 0)
		arrive(a, a->grow);
	return 1;
}

static void t_cancel(void *impl, int slot)
{
	((struct api *)impl)->slot[slot].busy = 0;
}

static double t_now(void *impl)
{
	return ((struct api *)impl)->clock;
}

/* The messages of a page handed on; a page short of fifty ends the history. */
static int on_page(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	struct api *a = ctx;
	const char *p = body, *end = body + len;
	int n = 0;

	(void)e;
	assert_true(a->npages < sizeof(a->pages) / sizeof(a->pages[0]));
	a->pages[a->npages++] = page_no;
	while ((p = memmem(p, (size_t)(end - p), "\"unique\":\"M", 11))) {
		int id = atoi(p + 11);

		assert_true(id >= 0 && id < MAX_MSGS);
		a->got[id]++;
		n++;
		p += 11;
	}
	return n < PER_PAGE ? WALK_END : WALK_MORE;
}

static struct walk_opts opts(int concurrency)
{
	static volatile int stop;
	struct walk_opts o = { 0 };

	o.concurrency = concurrency;
	o.retries = 2;
	o.retry_base = 0.001;
	o.stop = &stop;
	return o;
}

typedef int (*walk_fn)(const struct walk_opts *, const struct walk_transport *, walk_page_fn,
		       void *, struct walk_stats *, struct err *);

static void run(struct api *a, walk_fn fn, const struct walk_opts *o, struct walk_stats *st)
{
	struct walk_transport t = { a, t_start, t_next, t_cancel, t_now, NULL };
	struct err e = { 0 };

	memset(st, 0, sizeof(*st));
	assert_int_equal(fn(o, &t, on_page, a, st, &e), 0);
}

/* Messages there at the start that no page handed on. */
static int missed(const struct api *a)
{
	int n = 0;

	for (int id = 0; id < a->initial; id++)
		n += !a->got[id];
	return n;
}

static void assert_pages_rise(const struct api *a)
{
	for (size_t i = 1; i < a->npages; i++)
		assert_int_equal(a->pages[i], a->pages[i - 1] + 1);
	assert_int_equal(a->pages[0], 1);
}

static void test_a_plain_walk_misses_what_arrivals_push_across(void **state)
{
	static struct api a;
	struct walk_opts o = opts(8);
	struct walk_stats st;

	(void)state;
	setup(&a, 2000, 7, 3);
	run(&a, walk_run, &o, &st);
	assert_true(missed(&a) > 0); /* the scenario the stretches are for */
}

static void test_stretches_miss_nothing_while_messages_arrive(void **state)
{
	static struct api a;
	struct walk_opts o = opts(8);
	struct walk_stats st;

	(void)state;
	setup(&a, 2000, 7, 3);
	run(&a, walk_stretches, &o, &st);
	assert_int_equal(missed(&a), 0);
	assert_pages_rise(&a);
	assert_int_equal(st.pages, a.npages);
	assert_true(st.max_in_flight > 1); /* still side by side */
}

static void test_without_arrivals_each_page_is_asked_once_besides_the_looks(void **state)
{
	static struct api a;
	struct walk_opts o = opts(8);
	struct walk_stats st;

	(void)state;
	setup(&a, 1000, 0, 0); /* 20 full pages, then [] */
	run(&a, walk_stretches, &o, &st);
	assert_int_equal(missed(&a), 0);
	assert_pages_rise(&a);
	assert_int_equal(a.npages, 21);
	for (unsigned long p = 2; p <= 21; p++)
		assert_int_equal(a.requests[p], 1);
	for (int id = 0; id < a.initial; id++)
		assert_int_equal(a.got[id], 1);
	/* Page 1 itself (its own first look), then one look after each stretch: 2-3, 4-7, 8-15, 16-21. */
	assert_int_equal(a.requests[1], 5);
}

static void test_a_walk_that_ends_on_page_one_asks_it_once(void **state)
{
	static struct api a;
	struct walk_opts o = opts(8);
	struct walk_stats st;

	(void)state;
	setup(&a, 30, 0, 0); /* the usual night: its news fit on page 1 */
	run(&a, walk_stretches, &o, &st);
	assert_int_equal(missed(&a), 0);
	assert_int_equal(a.npages, 1);
	assert_int_equal(a.requests[1], 1);
	assert_int_equal(st.requests, 1);
}

static void test_arrivals_on_every_answer_fall_back_to_one_page_at_a_time(void **state)
{
	static struct api a;
	struct walk_opts o = opts(8);
	struct walk_stats st;

	(void)state;
	setup(&a, 1500, 1, 1);
	run(&a, walk_stretches, &o, &st);
	assert_int_equal(missed(&a), 0);
	assert_pages_rise(&a);
	/* 1,500 messages and one more per answer: the walk outruns them one page at a time */
	assert_true(st.requests < 200);
}

static void test_max_pages_bounds_the_walk(void **state)
{
	static struct api a;
	struct walk_opts o = opts(8);
	struct walk_stats st;

	(void)state;
	setup(&a, 2000, 0, 0);
	o.max_pages = 5;
	run(&a, walk_stretches, &o, &st);
	assert_int_equal(a.npages, 5);
	assert_true(st.capped);
	for (unsigned long p = 6; p < 256; p++)
		assert_int_equal(a.requests[p], 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_plain_walk_misses_what_arrivals_push_across),
		cmocka_unit_test(test_stretches_miss_nothing_while_messages_arrive),
		cmocka_unit_test(test_without_arrivals_each_page_is_asked_once_besides_the_looks),
		cmocka_unit_test(test_a_walk_that_ends_on_page_one_asks_it_once),
		cmocka_unit_test(test_arrivals_on_every_answer_fall_back_to_one_page_at_a_time),
		cmocka_unit_test(test_max_pages_bounds_the_walk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
