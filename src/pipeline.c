#include "pipeline.h"
#include "badinput.h"
#include "gz.h"
#include "order.h"
#include "route.h"

#include <stdlib.h>
#include <string.h>

struct pipeline {
	struct pipeline_opts opts;
	struct batch_opts bo;
	struct pool *pool;
	struct batch **batch; /* as many as the pool holds, made on first use */
	size_t nbatch, next;
	struct batch *last; /* fetch: the page before, trimmed when the next comes */
	size_t inflight;    /* convert: bytes of bodies in the pool (BATCH_INFLIGHT_MAX) */
	struct warn *warn;
	struct select *select;
	struct sink *out;           /* one file: the output */
	struct order *order;        /* one file, oldest first: chunks until commit */
	struct route *route;        /* {chat} or merged --to */
	struct gz_deflater *gz;     /* the consumer's own, for rows it reassembles */
	struct writer *head_writer; /* the head of every file (BOM, header row) */
	struct buf head, z;
	struct buf rows;     /* kept rows of a batch that lost some */
	unsigned char *keep; /* per message of the batch being consumed */
	size_t keep_cap;
	pipeline_media_fn media;
	void *media_ctx;
	void (*progress)(void *ctx);
	void *progress_ctx;
	struct pipeline_stats stats;
	unsigned long long made; /* row bytes handed on (the progress line) */
};

/* The pipeline's one output: a route of files, or a sink (behind the order spool, oldest first). */
static int open_output(struct pipeline *pl, struct err *e)
{
	const struct pipeline_opts *o = &pl->opts;

	if (o->split_chats || o->merge_segments) {
		struct route_opts ro = { .path = o->out.path,
					 .out = o->out,
					 .chats = o->split_chats,
					 .oldest = o->order == ORDER_OLDEST,
					 .create_dirs = o->create_dirs };

		return route_open(&pl->route, &ro, e);
	}
	if (sink_open(&pl->out, &o->out, e))
		return -1;
	return o->order == ORDER_OLDEST ? order_open_beside(&pl->order, o->out.path, e) : 0;
}

int pipeline_open(struct pipeline **out, const struct pipeline_opts *opts, struct pool *pool,
		  struct warn *warn, struct err *e)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));
	int routed = opts->split_chats || opts->merge_segments;

	*out = NULL;
	if (!pl)
		return err_nomem(e);
	pl->opts = *opts;
	pl->pool = pool;
	pl->warn = warn;
	pl->nbatch = pool_capacity(pool);
	pl->bo = (struct batch_opts){
		.writer = opts->writer,
		.format = !opts->format_after_select,
		.oldest_first = !routed && opts->order == ORDER_OLDEST,
		.gzip = !routed && opts->out.gzip,
		.level = opts->out.level,
		.window = opts->window,
	};
	pl->batch = calloc(pl->nbatch, sizeof(*pl->batch));
	pl->head_writer = writer_new(&opts->writer, warn);
	if (!pl->batch || !pl->head_writer || writer_begin(pl->head_writer, &pl->head)) {
		err_nomem(e);
		goto fail;
	}
	pl->opts.out.head = pl->head.data; /* what a file opens with */
	pl->opts.out.head_len = pl->head.len;
	pl->opts.out.check_row = pl->opts.out.csv ? writer_csv_joins : NULL; /* its first row */
	pl->opts.out.row_ctx = pl->head_writer;
	if (select_new(&pl->select, warn, e) || open_output(pl, e))
		goto fail;
	*out = pl;
	return 0;
fail:
	pipeline_close(pl);
	return -1;
}

void pipeline_set_media(struct pipeline *pl, pipeline_media_fn fn, void *ctx)
{
	pl->media = fn;
	pl->media_ctx = ctx;
}

void pipeline_set_progress(struct pipeline *pl, void (*fn)(void *ctx), void *ctx)
{
	pl->progress = fn;
	pl->progress_ctx = ctx;
}

void pipeline_set_checkpoint(struct pipeline *pl, const struct select_checkpoint *cp)
{
	select_set_checkpoint(pl->select, cp);
}

const struct select_next *pipeline_take_checkpoint(struct pipeline *pl)
{
	return select_take_next(pl->select);
}

/* A finished run of rows goes on: to the output, or to the order spool. */
static int emit(struct pipeline *pl, const char *p, size_t n, const struct batch *deflated,
		struct err *e)
{
	uint32_t crc;

	if (!n)
		return 0;
	pl->made += n;
	if (!pl->order)
		return deflated ? sink_write_deflated(pl->out, deflated->z.data, deflated->z.len,
						      deflated->crc, n, e)
				: sink_write(pl->out, p, n, e);
	if (deflated)
		return order_add(pl->order, deflated->z.data, deflated->z.len, deflated->crc, n, e);
	if (!pl->bo.gzip)
		return order_add(pl->order, p, n, 0, n, e);
	pl->z.len = 0;
	/* Made on first use: a batch that lost rows, or made them late, comes here not deflated. */
	if (!pl->gz && gz_deflater_new(&pl->gz, pl->opts.out.level, e))
		return -1;
	return gz_deflate_chunk(pl->gz, p, n, &pl->z, &crc, e) ||
	       order_add(pl->order, pl->z.data, pl->z.len, crc, n, e);
}

/* The decision of SPEC §5.2/§5.3 for every message, in API order. */
static int select_batch(struct pipeline *pl, struct batch *b, struct select_page *res, size_t *kept,
			struct err *e)
{
	if (b->nmsg > pl->keep_cap) {
		unsigned char *k = realloc(pl->keep, b->nmsg);

		if (!k)
			return err_nomem(e);
		pl->keep = k;
		pl->keep_cap = b->nmsg;
	}
	*kept = 0;
	for (size_t i = 0; i < b->parsed; i++) {
		struct select_page page = { 0 };

		warn_where(pl->warn, "%s", b->body[i].where);
		pl->stats.pages++;
		for (size_t m = b->first_msg[i]; m < b->first_msg[i + 1]; m++) /* the page first */
			select_look(pl->select, b->msg[m].r, b->msg[m].key, &page);
		select_page_looked(pl->select, b->body[i].first_of_file ? b->body[i].where : NULL,
				   &page);
		for (size_t m = b->first_msg[i]; m < b->first_msg[i + 1]; m++) {
			int k = select_message(pl->select, b->msg[m].r, b->msg[m].key,
					       b->msg[m].when, &page, e);

			if (k < 0)
				return -1;
			pl->keep[m] = (unsigned char)k;
			*kept += (size_t)k;
		}
		if (res)
			*res = page;
	}
	return 0;
}

static int write_batch(struct pipeline *pl, struct batch *b, size_t kept, struct err *e)
{
	warn_merge(pl->warn, &b->warn, pl->keep);
	if (pl->route) {
		for (size_t m = 0; m < b->nmsg; m++)
			if (pl->keep[m] &&
			    route_add(pl->route, b->msg[m].r, b->rows.data + b->msg[m].row_off,
				      b->msg[m].row_len, e))
				return -1;
		return 0;
	}
	/* The manifest's rows and time range of the file (SPEC §4.7). */
	for (size_t m = 0; m < b->nmsg; m++)
		if (pl->keep[m])
			sink_count_row(pl->out, b->msg[m].r->ts_ok, b->msg[m].r->ts);
	if (kept == b->formatted)
		return emit(pl, b->rows.data, b->rows.len, b->deflated ? b : NULL, e);
	/* Some rows were made for messages now dropped (repeats, or below the last head). */
	pl->rows.len = 0;
	if (batch_kept_rows(b, pl->keep, &pl->rows, e))
		return -1;
	return emit(pl, pl->rows.data, pl->rows.len, NULL, e);
}

/* A spool's or a file's failure: say which output (SPEC §3). */
static int name_output(const struct pipeline *pl, struct err *e)
{
	const char *path = pl->opts.out.path;

	if ((e->kind == ERR_IO || e->kind == ERR_CANTCREAT) && path && strcmp(path, "-") &&
	    !strstr(e->msg, path))
		err_prefix(e, "%s: ", path);
	return -1;
}

/* The batch to fill next (not yet handed on): batches come back in order, so the oldest. */
static int peek_batch(struct pipeline *pl, struct batch **out, struct err *e)
{
	struct batch **b = &pl->batch[pl->next];

	if (!*b && batch_new(b, &pl->bo, e))
		return -1;
	batch_reset(*b);
	*out = *b;
	return 0;
}

static void submit(struct pipeline *pl, struct batch *b)
{
	pl->next = (pl->next + 1) % pl->nbatch;
	pool_submit(pl->pool, b);
}

int pipeline_page(struct pipeline *pl, const char *body, size_t len, const char *where,
		  struct select_page *res, const struct record **first, struct err *e)
{
	struct batch *b;
	size_t kept;

	memset(res, 0, sizeof(*res));
	*first = NULL;
	batch_trim(pl->last); /* the page before: *first was its, and is not looked at now */
	if (peek_batch(pl, &b, e) || batch_add(b, body, len, where, e))
		return -1;
	submit(pl, b);
	pl->last = b = pool_take(pl->pool, 1);
	if (b->parsed < b->n) {
		*e = b->err;
		return -1;
	}
	if (select_batch(pl, b, res, &kept, e))
		return -1;
	if (b->nmsg)
		*first = b->msg[0].r;
	if (!b->opts->format && batch_format_kept(b, pl->keep, pl->media, pl->media_ctx, e))
		return -1;
	return write_batch(pl, b, kept, e) ? name_output(pl, e) : 0;
}

/* convert: bad data is named by file and byte offset in that file. */
static int consume(struct pipeline *pl, struct batch *b, struct err *e)
{
	size_t kept;

	pl->inflight -= b->bodies.len;
	if (b->parsed < b->n) {
		const struct batch_body *at = &b->body[b->parsed];

		*e = b->err;
		return badinput_explain(e, b->bodies.data + at->off, at->len, at->where,
					at->file_off);
	}
	if (select_batch(pl, b, NULL, &kept, e) || write_batch(pl, b, kept, e))
		return name_output(pl, e); /* a file's failure names the file; others pass */
	batch_trim(b);
	if (pl->progress)
		pl->progress(pl->progress_ctx);
	return 0;
}

/* Fill the next batch from the source and hand it on. 0 at the end of the input. */
static int fill(struct pipeline *pl, struct source *src, struct err *e)
{
	struct source_body sb[BATCH_BODIES];
	struct batch *b;
	int got;

	if (peek_batch(pl, &b, e))
		return -1;
	got = source_fill(src, &b->bodies, BATCH_BYTES, sb, BATCH_BODIES, e);
	if (got <= 0)
		return got;
	for (int k = 0; k < got; k++)
		b->body[k] = (struct batch_body){ sb[k].off, sb[k].len, sb[k].file_off,
						  source_file_name(src, sb[k].file), sb[k].first };
	b->n = (size_t)got;
	pl->inflight += b->bodies.len;
	submit(pl, b);
	return 1;
}

int pipeline_source(struct pipeline *pl, struct source *src, const volatile int *stop,
		    struct err *e)
{
	int more = 1, rc = 0;

	for (;;) {
		struct batch *b;

		if ((rc = err_stopped(stop, e)))
			break;
		if (more && !pool_full(pl->pool) && pl->inflight < BATCH_INFLIGHT_MAX) {
			more = fill(pl, src, e);
			if (more < 0) {
				rc = -1;
				break;
			}
			/* Keep the workers fed: take a batch back only when it is ready. */
			b = pool_take(pl->pool, 0);
		} else if (pool_outstanding(pl->pool)) {
			b = pool_take(pl->pool, 1);
		} else {
			break;
		}
		if (b && consume(pl, b, e)) {
			rc = -1;
			break;
		}
	}
	/* After a failure, the batches still in the workers' hands are waited for. */
	while (pool_take(pl->pool, 1))
		;
	return rc;
}

static int replay(void *ctx, const void *p, size_t n, uint32_t crc, unsigned long long raw_len,
		  struct err *e)
{
	struct pipeline *pl = ctx;

	return pl->bo.gzip ? sink_write_deflated(pl->out, p, n, crc, raw_len, e)
			   : sink_write(pl->out, p, n, e);
}

int pipeline_finish(struct pipeline *pl, struct err *e)
{
	int bad = pl->route ? route_finish(pl->route, e)
			    : (pl->order &&
			       order_replay(pl->order, pl->opts.out.stop, replay, pl, e)) ||
				      sink_finish(pl->out, e);

	return bad ? name_output(pl, e) : 0;
}

int pipeline_publish(struct pipeline *pl, struct err *e)
{
	if (pl->route ? route_publish(pl->route, e) : sink_publish(pl->out, e))
		return name_output(pl, e);
	return 0;
}

void pipeline_close(struct pipeline *pl)
{
	if (!pl)
		return;
	for (size_t i = 0; pl->batch && i < pl->nbatch; i++)
		batch_free(pl->batch[i]);
	free(pl->batch);
	route_close(pl->route);
	order_close(pl->order);
	sink_close(pl->out);
	select_free(pl->select);
	gz_deflater_free(pl->gz);
	writer_free(pl->head_writer);
	buf_free(&pl->head);
	buf_free(&pl->rows);
	buf_free(&pl->z);
	free(pl->keep);
	free(pl);
}

void pipeline_stats(const struct pipeline *pl, struct pipeline_stats *out)
{
	*out = pl->stats;
	out->sel = *select_stats(pl->select);
	out->files = pl->route ? route_files(pl->route) : 1;
	out->bytes_out = pl->route ? route_bytes_out(pl->route) : sink_figures(pl->out)->out;
	out->bytes_made = pl->route ? route_bytes_made(pl->route) : pl->made;
	out->streams = !pl->route && !pl->order && sink_figures(pl->out)->streams;
}

int pipeline_each_file(const struct pipeline *pl, pipeline_file_fn fn, void *ctx)
{
	return pl->route ? route_each_file(pl->route, fn, ctx) : fn(ctx, pl->out, NULL);
}

void pipeline_segment_end(struct pipeline *pl)
{
	if (pl->route)
		route_segment_end(pl->route);
}
