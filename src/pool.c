#include "pool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * Outstanding jobs live in a ring of `cap` slots, in submission order:
 * [head, next) have gone to a worker or the consumer (mapped or being
 * mapped), [next, tail) wait for one. A slot's `done` is set under the mutex
 * by whoever mapped it.
 */
struct slot {
	void *job;
	int done;
};

struct pool {
	pthread_mutex_t mu;
	pthread_cond_t work; /* workers wait here for a job, or for quit */
	pthread_cond_t done; /* the consumer waits here for the head */
	struct slot *ring;
	size_t cap;
	size_t head, next, tail; /* positions, counted from 0; slot = pos % cap */
	int quit;
	int consumer_waits; /* the consumer sleeps on `done` */
	pool_map_fn map;
	void *ctx;
	pthread_t *threads;
	unsigned nthreads;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct slot *s;

		while (!p->quit && p->next == p->tail)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->quit)
			break;
		s = &p->ring[p->next++ % p->cap];
		pthread_mutex_unlock(&p->mu);
		p->map(p->ctx, s->job);
		pthread_mutex_lock(&p->mu);
		s->done = 1;
		/* Only the head's completion can let the consumer go on. */
		if (p->consumer_waits && s == &p->ring[p->head % p->cap])
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

static void stop_workers(struct pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (unsigned i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	p->nthreads = 0;
}

int pool_new(struct pool **out, unsigned workers, size_t capacity, pool_map_fn map, void *ctx,
	     struct err *e)
{
	struct pool *p = calloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	if (!p)
		return err_nomem(e);
	p->cap = capacity ? capacity : 1;
	p->map = map;
	p->ctx = ctx;
	p->ring = calloc(p->cap, sizeof(*p->ring));
	p->threads = calloc(workers ? workers : 1, sizeof(*p->threads));
	if (!p->ring || !p->threads) {
		free(p->ring);
		free(p->threads);
		free(p);
		return err_nomem(e);
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (unsigned i = 0; i < workers; i++) {
		rc = pthread_create(&p->threads[i], NULL, worker, p);
		if (rc) {
			pool_free(p);
			return err_set(e, ERR_SOFTWARE,
				       "cannot start a worker thread: %s (fewer with --threads, "
				       "down to 1, need less memory)",
				       strerror(rc));
		}
		p->nthreads++;
	}
	*out = p;
	return 0;
}

int pool_full(const struct pool *p)
{
	return p->tail - p->head >= p->cap;
}

size_t pool_capacity(const struct pool *p)
{
	return p->cap;
}

size_t pool_outstanding(const struct pool *p)
{
	return p->tail - p->head;
}

void pool_submit(struct pool *p, void *job)
{
	struct slot *s = &p->ring[p->tail % p->cap];

	if (!p->nthreads) {
		p->map(p->ctx, job);
		s->job = job;
		s->done = 1;
		p->tail++;
		p->next = p->tail;
		return;
	}
	pthread_mutex_lock(&p->mu);
	s->job = job;
	s->done = 0;
	p->tail++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
}

void *pool_take(struct pool *p, int wait)
{
	struct slot *s;
	void *job;

	if (p->head == p->tail)
		return NULL;
	s = &p->ring[p->head % p->cap];
	pthread_mutex_lock(&p->mu);
	while (!s->done && wait) {
		if (p->next != p->tail) {
			/* A job no worker has started: map it here rather than sleep. */
			struct slot *own = &p->ring[p->next++ % p->cap];

			pthread_mutex_unlock(&p->mu);
			p->map(p->ctx, own->job);
			pthread_mutex_lock(&p->mu);
			own->done = 1;
			continue;
		}
		p->consumer_waits = 1;
		pthread_cond_wait(&p->done, &p->mu);
		p->consumer_waits = 0;
	}
	if (!s->done) {
		pthread_mutex_unlock(&p->mu);
		return NULL;
	}
	job = s->job;
	s->job = NULL;
	p->head++;
	pthread_mutex_unlock(&p->mu);
	return job;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	stop_workers(p);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->work);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p->ring);
	free(p);
}

unsigned pool_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 1)
		return 1;
	return n > 8 ? 8 : (unsigned)n;
}
