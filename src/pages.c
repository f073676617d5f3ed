#include "pages.h"
#include "pool.h"

#include <stdlib.h>
#include <string.h>

/* A batch is handed to a worker once it holds this much input, or this many bodies. */
#define BATCH_BYTES (256u * 1024)
#define BATCH_BODIES 64

struct batch {
	struct buf bodies;
	struct source_body body[BATCH_BODIES];
	struct page *page[BATCH_BODIES];   /* made on first use, kept for the next batches */
	size_t n;                          /* bodies in this batch */
	size_t parsed;                     /* bodies parsed; < n when one failed */
	struct err err;                    /* why body[parsed] failed */
};

struct pages {
	struct pool *pool;
	struct batch *batch;
	size_t nbatch;
	size_t next;                       /* the batch to fill next (round robin) */
};

/* The pool's map: parse every body of the batch, stopping at the first bad one. */
static void parse_batch(void *ctx, void *job)
{
	struct batch *b = job;

	(void)ctx;
	for (b->parsed = 0; b->parsed < b->n; b->parsed++) {
		size_t i = b->parsed;
		const char *body = b->bodies.data + b->body[i].off;

		if (!b->page[i] && !(b->page[i] = page_new())) {
			err_nomem(&b->err);
			return;
		}
		page_reset(b->page[i]);
		if (page_parse(b->page[i], body, b->body[i].len, 1, &b->err) < 0 ||
		    page_extract(b->page[i], body)) {
			if (b->err.kind == ERR_NONE)
				err_nomem(&b->err);
			return;
		}
	}
}

int pages_open(struct pages **out, unsigned workers, struct err *e)
{
	struct pages *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return err_nomem(e);
	p->nbatch = workers + 2;
	p->batch = calloc(p->nbatch, sizeof(*p->batch));
	if (!p->batch) {
		free(p);
		return err_nomem(e);
	}
	if (pool_new(&p->pool, workers, p->nbatch, parse_batch, NULL, e)) {
		free(p->batch);
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

/* The error of a bad body, with where it is: file and byte offset in that file. */
static int batch_error(const struct batch *b, struct source *src, struct err *e)
{
	const struct source_body *at = &b->body[b->parsed];
	const char *file = source_file_name(src, at->file);

	*e = b->err;
	if (e->kind == ERR_DATA && e->offset >= 0)
		return err_prefix(e, "%s: byte %llu: ", file,
				  at->file_off + (unsigned long long)e->offset);
	return err_prefix(e, "%s: ", file);
}

/* Hand the pages of a parsed batch on, in order. */
static int consume(struct batch *b, struct source *src, pages_fn on_page, void *ctx,
		   struct err *e)
{
	for (size_t i = 0; i < b->parsed; i++) {
		const struct source_body *at = &b->body[i];

		if (on_page(ctx, b->page[i], b->bodies.data + at->off, at->len,
			    source_file_name(src, at->file), e)) {
			if (e->kind == ERR_DATA && e->offset >= 0)
				return err_prefix(e, "%s: byte %llu: ", source_file_name(src, at->file),
						  at->file_off + (unsigned long long)e->offset);
			return -1;
		}
	}
	return b->parsed < b->n ? batch_error(b, src, e) : 0;
}

/* Fill the next batch from the source and hand it to the pool. 0 at the end of the input. */
static int submit_next(struct pages *p, struct source *src, struct err *e)
{
	struct batch *b = &p->batch[p->next];
	int got;

	b->bodies.len = 0;
	b->err = (struct err){ .kind = ERR_NONE, .offset = -1 };
	got = source_fill(src, &b->bodies, BATCH_BYTES, b->body, BATCH_BODIES, e);
	if (got <= 0)
		return got;
	b->n = (size_t)got;
	/* Batches are taken back in the order given, so the next to fill is the oldest. */
	p->next = (p->next + 1) % p->nbatch;
	pool_submit(p->pool, b);
	return 1;
}

int pages_run(struct pages *p, struct source *src, pages_fn on_page, void *ctx,
	      const volatile int *stop, struct err *e)
{
	int more = 1, rc = 0;

	for (;;) {
		struct batch *b;

		if (stop && *stop) {
			rc = err_set(e, ERR_INTERRUPTED, "interrupted");
			break;
		}
		if (more && !pool_full(p->pool)) {
			more = submit_next(p, src, e);
			if (more < 0) {
				rc = -1;
				break;
			}
			/* Keep the workers fed; take a batch back only when it is ready. */
			b = pool_take(p->pool, 0);
		} else if (pool_outstanding(p->pool)) {
			b = pool_take(p->pool, 1);
		} else {
			break;
		}
		if (b && consume(b, src, on_page, ctx, e)) {
			rc = -1;
			break;
		}
	}
	/* On failure, wait for the batches still being parsed: they are ours to free. */
	while (pool_take(p->pool, 1))
		;
	return rc;
}

void pages_close(struct pages *p)
{
	if (!p)
		return;
	pool_free(p->pool);
	for (size_t i = 0; i < p->nbatch; i++) {
		for (size_t k = 0; k < BATCH_BODIES; k++)
			page_free(p->batch[i].page[k]);
		buf_free(&p->batch[i].bodies);
	}
	free(p->batch);
	free(p);
}
