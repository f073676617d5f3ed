/*
 * pages: the page stage run in parallel. Page bodies from the convert source
 * are gathered into batches (a few hundred KiB each); the pool's workers
 * tokenize, check and extract every page of a batch; the pages come back in
 * input order, and on_page gets each one on the caller's thread.
 *
 * Each batch owns its bodies and one parsed page per body, recycled from
 * batch to batch, so a worker shares nothing with another and memory stays
 * bounded by the batches in flight (workers + 2), whatever the input.
 */
#ifndef WAEXPORT_PAGES_H
#define WAEXPORT_PAGES_H

#include <stddef.h>

#include "err.h"
#include "page.h"
#include "source.h"

/* One page, in input order; body stays valid for the call. Non-zero stops. */
typedef int (*pages_fn)(void *ctx, struct page *pg, const char *body, size_t len,
			const char *file, struct err *e);

struct pages;

/* workers: 0 parses on the caller's thread. */
int pages_open(struct pages **out, unsigned workers, struct err *e);

/*
 * Every body src gives, parsed, to on_page in input order. Bad data fails
 * with the file name and byte offset, after every page before it was handed
 * on. ERR_INTERRUPTED once *stop is set.
 */
int pages_run(struct pages *p, struct source *src, pages_fn on_page, void *ctx,
	      const volatile int *stop, struct err *e);

void pages_close(struct pages *p);

#endif
