/* pool: results come back in submission order whatever the workers' speed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "pool.h"

struct job {
	unsigned long n;
	unsigned long result;
	int mapped;
};

struct ctx {
	int slow_worker; /* every 3rd job sleeps */
};

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

static void square(void *c, void *j)
{
	struct ctx *ctx = c;
	struct job *job = j;

	if (ctx->slow_worker && job->n % 3 == 0)
		nap_us(200 + (long)(job->n % 7) * 100);
	job->result = job->n * job->n;
	job->mapped++;
}

/* Submit `count` jobs through `cap` recycled ones, check order and values. */
static void run_jobs(unsigned workers, size_t cap, int slow_worker, int slow_consumer,
		     unsigned long count)
{
	struct ctx ctx = { slow_worker };
	struct pool *p = NULL;
	struct err e = { 0 };
	struct job *jobs = calloc(cap, sizeof(*jobs));
	unsigned long submitted = 0, taken = 0;

	assert_non_null(jobs);
	assert_int_equal(pool_new(&p, workers, cap, square, &ctx, &e), 0);
	while (taken < count) {
		struct job *j;

		if (submitted < count && !pool_full(p)) {
			j = &jobs[submitted % cap];
			j->n = submitted++;
			j->mapped = 0;
			pool_submit(p, j);
			continue;
		}
		j = pool_take(p, 1);
		assert_non_null(j);
		assert_int_equal(j->n, taken);
		assert_int_equal(j->result, taken * taken);
		assert_int_equal(j->mapped, 1);
		taken++;
		if (slow_consumer && taken % 5 == 0)
			nap_us(300);
	}
	assert_null(pool_take(p, 1));
	assert_int_equal(pool_outstanding(p), 0);
	pool_free(p);
	free(jobs);
}

static void test_inline_pool_keeps_order(void **state)
{
	(void)state;
	run_jobs(0, 1, 0, 0, 100);
	run_jobs(0, 4, 0, 0, 100);
}

static void test_workers_keep_order(void **state)
{
	(void)state;
	run_jobs(1, 1, 0, 0, 200);
	run_jobs(2, 5, 0, 0, 2000);
	run_jobs(4, 9, 0, 0, 2000);
}

static void test_slow_worker_keeps_order(void **state)
{
	(void)state;
	run_jobs(3, 7, 1, 0, 300);
}

static void test_slow_consumer_keeps_order(void **state)
{
	(void)state;
	run_jobs(3, 7, 0, 1, 300);
	run_jobs(2, 3, 1, 1, 200);
}

static void test_take_without_wait_returns_null_until_mapped(void **state)
{
	struct ctx ctx = { 0 };
	struct pool *p = NULL;
	struct err e = { 0 };
	struct job j = { 3, 0, 0 };
	void *got;

	(void)state;
	assert_int_equal(pool_new(&p, 1, 2, square, &ctx, &e), 0);
	assert_null(pool_take(p, 0)); /* nothing outstanding */
	pool_submit(p, &j);
	while (!(got = pool_take(p, 0)))
		nap_us(100);
	assert_ptr_equal(got, &j);
	assert_int_equal(j.result, 9);
	pool_free(p);
}

static void test_free_with_jobs_outstanding(void **state)
{
	struct ctx ctx = { 1 };
	struct pool *p = NULL;
	struct err e = { 0 };
	struct job jobs[6] = { { 0 } };

	(void)state;
	assert_int_equal(pool_new(&p, 2, 6, square, &ctx, &e), 0);
	for (unsigned long i = 0; i < 6; i++) {
		jobs[i].n = i;
		pool_submit(p, &jobs[i]);
	}
	assert_true(pool_full(p));
	pool_free(p); /* must not hang, leak or touch freed memory */
	for (int i = 0; i < 6; i++)
		assert_true(jobs[i].mapped <= 1);
}

/*
 * The consumer maps while it waits: job 0 holds the only worker until the
 * consumer has mapped jobs 1-3 itself (a pool without that would wait out the
 * bound and fail).
 */
struct helped {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t consumer;
	int started; /* a worker holds job 0 */
	int by_consumer;
};

static void held_square(void *c, void *j)
{
	struct helped *h = c;
	struct job *job = j;

	if (job->n == 0) {
		struct timespec until;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 5;
		pthread_mutex_lock(&h->mu);
		h->started = 1;
		pthread_cond_broadcast(&h->cv);
		while (h->by_consumer < 3 && pthread_cond_timedwait(&h->cv, &h->mu, &until) == 0)
			;
		pthread_mutex_unlock(&h->mu);
	} else if (pthread_equal(pthread_self(), h->consumer)) {
		pthread_mutex_lock(&h->mu);
		h->by_consumer++;
		pthread_cond_broadcast(&h->cv);
		pthread_mutex_unlock(&h->mu);
	}
	job->result = job->n * job->n;
	job->mapped++;
}

static void test_waiting_consumer_maps_jobs(void **state)
{
	struct helped h = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, pthread_self(), 0,
			    0 };
	struct job jobs[4] = { { 0 } };
	struct pool *p = NULL;
	struct err e = { 0 };

	(void)state;
	assert_int_equal(pool_new(&p, 1, 4, held_square, &h, &e), 0);
	/* Job 0 first, alone, and wait until the worker holds it. */
	pool_submit(p, &jobs[0]);
	pthread_mutex_lock(&h.mu);
	while (!h.started)
		pthread_cond_wait(&h.cv, &h.mu);
	pthread_mutex_unlock(&h.mu);
	for (unsigned long i = 1; i < 4; i++) {
		jobs[i].n = i;
		pool_submit(p, &jobs[i]);
	}
	for (unsigned long i = 0; i < 4; i++) {
		struct job *j = pool_take(p, 1);

		assert_ptr_equal(j, &jobs[i]);
		assert_int_equal(j->result, i * i);
		assert_int_equal(j->mapped, 1);
	}
	assert_int_equal(h.by_consumer, 3);
	pool_free(p);
}

static void test_default_threads_is_bounded(void **state)
{
	unsigned n = pool_default_threads();

	(void)state;
	assert_true(n >= 1 && n <= 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_inline_pool_keeps_order),
		cmocka_unit_test(test_workers_keep_order),
		cmocka_unit_test(test_slow_worker_keeps_order),
		cmocka_unit_test(test_slow_consumer_keeps_order),
		cmocka_unit_test(test_take_without_wait_returns_null_until_mapped),
		cmocka_unit_test(test_free_with_jobs_outstanding),
		cmocka_unit_test(test_waiting_consumer_maps_jobs),
		cmocka_unit_test(test_default_threads_is_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
