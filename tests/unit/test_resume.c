/*
 * resume: the plan around the journal (resume.h). A run's pages come back
 * usable; the journal's newest message is found again however many messages
 * arrived on top, the page that must hold its oldest is computed from that
 * count and checked by overlap (a page that does not line up is refused);
 * the pages replay in order, one at a time; a journal of another contact,
 * or one whose pages are not a walk from page 1, is not used (and this run
 * journals afresh), but the answer that ended a run (status FAIL) after its
 * pages is only left out; a successful run removes it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "journal.h"
#include "resume.h"
#include "warn.h"

#define PAGES 3

struct fx {
	char dir[256];
	char state[512];
	char journal[600];
	struct warn warn;
	struct buf body;
};

static void add_messages(struct fx *f, const char *tag, int first, int n)
{
	char one[96];

	for (int i = 0; i < n; i++) {
		snprintf(one, sizeof(one), "%s{\"unique\":\"%s%d\",\"timestamp\":\"%d\"}",
			 f->body.len > 1 ? "," : "", tag, first + i, 1700000000 - first - i);
		assert_int_equal(buf_adds(&f->body, one), 0);
	}
}

/* A page: n1 messages "<tag1><first1>" … then n2 "<tag2><first2>" …, newest first. */
static void page_mix(struct fx *f, const char *tag1, int first1, int n1, const char *tag2,
		     int first2, int n2)
{
	f->body.len = 0;
	assert_int_equal(buf_addc(&f->body, '['), 0);
	add_messages(f, tag1, first1, n1);
	add_messages(f, tag2, first2, n2);
	assert_int_equal(buf_addc(&f->body, ']'), 0);
}

static void page_of(struct fx *f, const char *tag, int first, int n)
{
	page_mix(f, tag, first, n, tag, 0, 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(testdir_make(f->dir, sizeof(f->dir), "test_resume"), 0);
	snprintf(f->state, sizeof(f->state), "%s/st", f->dir);
	snprintf(f->journal, sizeof(f->journal), "%s/st.journal", f->dir);
	warn_init(&f->warn, 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	buf_free(&f->body);
	testdir_remove(f->dir);
	free(f);
	return 0;
}

/* A failed run of PAGES full pages: old0 … old149. */
static void failed_run(struct fx *f, const char *to)
{
	struct resume *r;
	struct err e = { 0 };

	assert_int_equal(resume_open(&r, f->state, "972501234567", to, 0, &f->warn, &e), 0);
	assert_false(resume_usable(r));
	for (int p = 1; p <= PAGES; p++) {
		page_of(f, "old", (p - 1) * API_PAGE_SIZE, API_PAGE_SIZE);
		assert_int_equal(resume_append(r, (unsigned long)p, 0, f->body.data, f->body.len,
					       &e),
				 0);
	}
	resume_free(r);
	assert_int_equal(access(f->journal, F_OK), 0);
}

static int count_pages(void *ctx, unsigned long long page, const char *body, size_t len,
		       struct err *e)
{
	int *n = ctx;

	(void)body;
	(void)len;
	(void)e;
	assert_int_equal(page, (unsigned long long)++*n);
	return 0;
}

static void test_found_again_checked_by_overlap_replayed_removed(void **state)
{
	struct fx *f = *state;
	struct resume *r;
	struct err e = { 0 };
	int n = 0;

	failed_run(f, NULL);
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_true(resume_usable(r));
	/* 57 new messages: page 1 all new, page 2 holds 7 new then old0 … */
	page_of(f, "new", 0, API_PAGE_SIZE);
	assert_int_equal(resume_seek(r, 1, f->body.data, f->body.len, &e), 0);
	page_mix(f, "new", 50, 7, "old", 0, 43);
	assert_int_equal(resume_seek(r, 2, f->body.data, f->body.len, &e), 1);
	/* old149 is now message 57 + 149 = 206: page 5, index 6. */
	assert_int_equal(resume_check_page(r), 5);
	page_of(f, "old", 143, API_PAGE_SIZE);
	assert_int_equal(resume_verify(r, f->body.data, f->body.len, &e), 1);
	page_of(f, "old", 144, API_PAGE_SIZE); /* one message deleted: it does not line up */
	assert_int_equal(resume_verify(r, f->body.data, f->body.len, &e), 0);
	assert_int_equal(resume_replay(r, count_pages, &n, &e), 0);
	assert_int_equal(n, PAGES);
	assert_int_equal(resume_pages(r), PAGES);
	assert_int_equal(resume_finish(r, &e), 0);
	resume_free(r);
	assert_int_not_equal(access(f->journal, F_OK), 0);
}

static void test_another_contact_is_not_used_and_journaled_afresh(void **state)
{
	struct fx *f = *state;
	struct resume *r;
	struct err e = { 0 };
	unsigned long long before = f->warn.count;

	failed_run(f, "972509876543");
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_false(resume_usable(r));
	assert_int_equal(f->warn.count, before + 1);
	resume_free(r);
	/* What is left is this run's own journal: its header alone, nothing to resume. */
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_false(resume_usable(r));
	assert_int_equal(f->warn.count, before + 1);
	resume_free(r);
}

static void test_pages_that_are_not_a_walk_are_not_used(void **state)
{
	struct fx *f = *state;
	struct resume *r;
	struct journal *j;
	struct err e = { 0 };

	assert_int_equal(journal_open(&j, f->journal, 0, &e), 0);
	assert_int_equal(journal_append(j, 0, "972501234567\t*", 14, &e), 0);
	page_of(f, "old", 0, API_PAGE_SIZE);
	assert_int_equal(journal_append(j, 1, f->body.data, f->body.len, &e), 0);
	page_of(f, "old", 100, API_PAGE_SIZE);
	assert_int_equal(journal_append(j, 3, f->body.data, f->body.len, &e), 0); /* no page 2 */
	journal_close(j);
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_false(resume_usable(r));
	resume_free(r);
}

/* A run that ended with exit 77 journaled the FAIL answer after its pages (SPEC §5.3). */
static void test_the_fail_answer_that_ended_a_run_is_left_out(void **state)
{
	static const char fail[] = "{\"status\":\"FAIL\",\"reason\":3}";
	struct fx *f = *state;
	struct resume *r;
	struct journal *j;
	struct err e = { 0 };
	unsigned long long before = f->warn.count;
	struct stat st;
	int n = 0;

	failed_run(f, NULL);
	assert_int_equal(stat(f->journal, &st), 0);
	assert_int_equal(journal_open(&j, f->journal, (unsigned long long)st.st_size, &e), 0);
	assert_int_equal(journal_append(j, PAGES + 1, fail, sizeof(fail) - 1, &e), 0);
	journal_close(j);
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_true(resume_usable(r));
	assert_int_equal(f->warn.count, before);
	assert_int_equal(resume_replay(r, count_pages, &n, &e), 0);
	assert_int_equal(n, PAGES); /* the FAIL answer is not replayed */
	resume_free(r);
}

struct pages_seen {
	unsigned long long page[16];
	int n;
};

static int note_page(void *ctx, unsigned long long page, const char *body, size_t len,
		     struct err *e)
{
	struct pages_seen *s = ctx;

	(void)body;
	(void)len;
	(void)e;
	assert_true(s->n < 16);
	s->page[s->n++] = page;
	return 0;
}

/*
 * A resumed run that fails again keeps what it fetched (SPEC §5.3): after
 * the old pages, a mark (where their newest stood in its numbering), its
 * checked page and the pages after it; then its FAIL answer. The next run
 * finds the newest again, computes the oldest from both walks, and replays
 * both, the FAIL answers left out.
 */
static void test_a_resumed_run_that_fails_too_leaves_a_sequel(void **state)
{
	static const char fail[] = "{\"status\":\"FAIL\",\"reason\":3}";
	struct fx *f = *state;
	struct pages_seen seen = { 0 };
	struct resume *r;
	struct err e = { 0 };

	failed_run(f, NULL); /* old0 … old149 on pages 1-3 */
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	page_mix(f, "new", 0, 7, "old", 0, 43); /* 7 new on top */
	assert_int_equal(resume_seek(r, 1, f->body.data, f->body.len, &e), 1);
	assert_int_equal(resume_check_page(r), 4); /* old149 is message 156 */
	page_mix(f, "old", 143, 7, "old", 150, 43);
	assert_int_equal(resume_verify(r, f->body.data, f->body.len, &e), 1);
	assert_int_equal(resume_replay(r, note_page, &seen, &e), 0);
	/* before the mark nothing is appended: the pages before are the journal's */
	assert_int_equal(resume_append(r, 1, 0, f->body.data, f->body.len, &e), 0);
	assert_int_equal(resume_mark(r, &e), 0);
	assert_int_equal(resume_append(r, 4, 0, f->body.data, f->body.len, &e), 0);
	page_of(f, "old", 193, API_PAGE_SIZE);
	assert_int_equal(resume_append(r, 5, 0, f->body.data, f->body.len, &e), 0);
	assert_int_equal(resume_append(r, 6, 0, fail, sizeof(fail) - 1, &e), 0); /* failed again */
	resume_free(r);

	/* 10 more: old242, the oldest kept, is now message 17 + 242 = 259: page 6, index 9 */
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_true(resume_usable(r));
	f->body.len = 0;
	assert_int_equal(buf_addc(&f->body, '['), 0);
	add_messages(f, "new", 7, 10);
	add_messages(f, "new", 0, 7);
	add_messages(f, "old", 0, 33);
	assert_int_equal(buf_addc(&f->body, ']'), 0);
	assert_int_equal(resume_seek(r, 1, f->body.data, f->body.len, &e), 1);
	assert_int_equal(resume_check_page(r), 6);
	page_mix(f, "old", 233, 10, "old", 243, 40);
	assert_int_equal(resume_verify(r, f->body.data, f->body.len, &e), 1);
	seen.n = 0;
	assert_int_equal(resume_replay(r, note_page, &seen, &e), 0);
	assert_int_equal(seen.n, 5);
	assert_int_equal(seen.page[2], 3);
	assert_int_equal(seen.page[3], 4);
	assert_int_equal(seen.page[4], 5);
	/* Starting over (FETCH_AGAIN) drops this run's own sequel, and only it. */
	assert_int_equal(resume_mark(r, &e), 0);
	assert_int_equal(resume_append(r, 6, 0, f->body.data, f->body.len, &e), 0);
	assert_int_equal(resume_rewind(r, &e), 0);
	resume_free(r);
	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_true(resume_usable(r));
	seen.n = 0;
	assert_int_equal(resume_replay(r, note_page, &seen, &e), 0);
	assert_int_equal(seen.n, 5);
	resume_free(r);
}

/*
 * Messages that arrive while a run walks shift its later pages: the page
 * after them repeats as many as arrived. The journal marks the shift, so
 * the next run still finds where its oldest message is now.
 */
static void test_history_grown_during_the_walk_is_marked(void **state)
{
	struct fx *f = *state;
	struct resume *r;
	struct err e = { 0 };

	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	page_of(f, "old", 0, API_PAGE_SIZE);
	assert_int_equal(resume_append(r, 1, 0, f->body.data, f->body.len, &e), 0);
	page_of(f, "old", 50, API_PAGE_SIZE);
	assert_int_equal(resume_append(r, 2, 0, f->body.data, f->body.len, &e), 0);
	page_of(f, "old", 97, API_PAGE_SIZE); /* 3 arrived: old97-99 again */
	assert_int_equal(resume_append(r, 3, 3, f->body.data, f->body.len, &e), 0);
	resume_free(r);

	assert_int_equal(resume_open(&r, f->state, "972501234567", NULL, 0, &f->warn, &e), 0);
	assert_true(resume_usable(r));
	page_mix(f, "new", 0, 10, "old", 0, 40); /* 10 more on top: old0 is message 10 */
	assert_int_equal(resume_seek(r, 1, f->body.data, f->body.len, &e), 1);
	assert_int_equal(resume_check_page(r), 4); /* old146 is message 156: page 4, index 6 */
	page_of(f, "old", 140, API_PAGE_SIZE);
	assert_int_equal(resume_verify(r, f->body.data, f->body.len, &e), 1);
	resume_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_found_again_checked_by_overlap_replayed_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_another_contact_is_not_used_and_journaled_afresh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages_that_are_not_a_walk_are_not_used, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_the_fail_answer_that_ended_a_run_is_left_out,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_resumed_run_that_fails_too_leaves_a_sequel,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_grown_during_the_walk_is_marked, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
