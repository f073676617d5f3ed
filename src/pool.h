/*
 * pool: the one place where waexport runs threads — an ordered parallel map,
 * the shape pigz gives its compression threads.
 *
 * A producer submits jobs in order; N worker threads run the map function on
 * them, several at once and in any order; the consumer takes them back with
 * pool_take strictly in the order they were submitted. The pool moves only
 * pointers: the caller owns the jobs (it allocates them, usually recycles a
 * fixed set of them, and frees them after pool_free), and a job is touched by
 * one thread at a time: the producer until pool_submit, one worker while it
 * runs, the consumer from pool_take on. Anything a job needs (a parser, a
 * writer, a compressor) travels inside it, so workers share nothing.
 *
 * Why this design: whole jobs (a batch of pages, some 128 KiB of input: batch.h) cross
 * threads under one mutex and two condition variables. A wake-up costs tens
 * of microseconds on a virtual machine and a batch costs milliseconds, so
 * plain blocking hand-offs lose nothing, and there are no spins, naps or
 * atomics to reason about. At most `capacity` jobs are outstanding; the
 * producer takes the oldest back before it submits more, which bounds memory.
 *
 * The consumer is a worker too: when pool_take must wait for the oldest job,
 * it first maps jobs no worker has started yet, so N threads in all (N - 1
 * workers and the consumer) keep N cores busy, with no third runner competing
 * for two cores while the consumer sleeps half the time. With zero workers the
 * map runs inline in pool_submit: the same results in the same order, on the
 * caller's thread (--threads 1, and tests).
 */
#ifndef WAEXPORT_POOL_H
#define WAEXPORT_POOL_H

#include <stddef.h>

#include "err.h"

/* Runs in a worker (or inline): transforms one job. ctx is pool_new's ctx. */
typedef void (*pool_map_fn)(void *ctx, void *job);

struct pool;

/*
 * Start `workers` threads (0: run inline) for at most `capacity` outstanding
 * jobs (capacity >= 1). ERR_SOFTWARE when a thread cannot be made.
 */
int pool_new(struct pool **out, unsigned workers, size_t capacity, pool_map_fn map, void *ctx,
	     struct err *e);

/* Hand job on. The caller must first pool_take when pool_full. */
void pool_submit(struct pool *p, void *job);

/* Are `capacity` jobs outstanding? */
int pool_full(const struct pool *p);

/* The most jobs that can be outstanding. */
size_t pool_capacity(const struct pool *p);

/* Jobs submitted and not yet taken. */
size_t pool_outstanding(const struct pool *p);

/*
 * The oldest outstanding job, once it is mapped (waits for it, mapping jobs
 * no worker has started meanwhile); NULL when none is outstanding. With
 * wait == 0, NULL also when it is not mapped yet.
 */
void *pool_take(struct pool *p, int wait);

/*
 * Stop the workers (a job being mapped is finished first) and free the pool.
 * Jobs still outstanding are the caller's, mapped or not. NULL is fine.
 */
void pool_free(struct pool *p);

/* The default number of threads that map (workers and consumer): online CPUs, 1 to 8. */
unsigned pool_default_threads(void);

#endif
