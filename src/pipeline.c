#include "pipeline.h"
#include "fsutil.h"
#include "seen.h"
#include "spool.h"

#include <stdlib.h>
#include <string.h>

struct pipeline {
	struct pipeline_opts opts;
	struct warn *warn;
	struct writer *writer;
	struct sink *sink;
	struct spool *spool;        /* ORDER_OLDEST only */
	struct seen *seen;
	struct buf chunk;           /* a page's rows on their way to the spool */
	unsigned char *keep;        /* per element of the current page */
	size_t keep_cap;
	struct pipeline_stats stats;
};

static int spool_dir(const struct pipeline_opts *opts, char *dir, size_t size)
{
	const char *t = getenv("TMPDIR");

	if (opts->sink.path && strcmp(opts->sink.path, "-"))
		fsutil_dirname(opts->sink.path, dir, size);
	else
		snprintf(dir, size, "%s", t && *t ? t : "/tmp");
	return 0;
}

int pipeline_open(struct pipeline **out, const struct pipeline_opts *opts, struct warn *warn,
		  struct err *e)
{
	struct pipeline *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return err_nomem(e);
	pl->opts = *opts;
	pl->warn = warn;
	pl->writer = writer_new(&opts->writer, warn);
	pl->seen = seen_new();
	if (!pl->writer || !pl->seen) {
		err_nomem(e);
		goto fail;
	}
	if (opts->order == ORDER_OLDEST) {
		char dir[4096];

		spool_dir(opts, dir, sizeof(dir));
		if (spool_open(&pl->spool, dir, e))
			goto fail;
	}
	if (sink_open(&pl->sink, &opts->sink, e))
		goto fail;
	if (writer_begin(pl->writer, sink_buf(pl->sink))) {
		err_nomem(e);
		goto fail;
	}
	*out = pl;
	return 0;
fail:
	pipeline_close(pl);
	return -1;
}

/* The decision of §5.2, made in page order (newest first): first sighting wins. */
static int mark_fresh(struct pipeline *pl, struct page *pg, const char *body, size_t n,
		      struct pipeline_page_result *res, struct err *e)
{
	struct record r;
	long long ts;

	if (n > pl->keep_cap) {
		unsigned char *k = realloc(pl->keep, n);

		if (!k)
			return err_nomem(e);
		pl->keep = k;
		pl->keep_cap = n;
	}
	for (size_t i = 0; i < n; i++) {
		int rc = page_record(pg, body, i, &r);
		const struct field *u = &r.f[REC_UNIQUE];

		pl->keep[i] = 0;
		if (rc < 0)
			return err_nomem(e);
		if (rc > 0) {
			warn_note(pl->warn, "byte %zu: array element is not a message object; skipped",
				  r.offset);
			pl->stats.skipped++;
			continue;
		}
		res->records++;
		if (!record_int(&r.f[REC_TIMESTAMP], &ts)) {
			if (!res->has_oldest || ts < res->oldest)
				res->oldest = ts;
			res->has_oldest = 1;
			if ((pl->opts.has_since && ts < pl->opts.since) ||
			    (pl->opts.has_until && ts >= pl->opts.until)) {
				pl->stats.filtered++;
				continue;
			}
		}
		if (u->kind == FIELD_ABSENT) {
			warn_note(pl->warn, "byte %zu: message without 'unique'; written, but it cannot "
				  "be de-duplicated", r.offset);
		} else if (seen_check(pl->seen, seen_hash(u->p, u->len))) {
			pl->stats.duplicates++;
			continue;
		}
		pl->keep[i] = 1;
		res->fresh++;
	}
	return 0;
}

static int write_row(struct pipeline *pl, struct page *pg, const char *body, size_t i,
		     struct buf *out, struct err *e)
{
	struct record r;

	if (page_record(pg, body, i, &r) < 0 || writer_row(pl->writer, pg, body, &r, NULL, out))
		return err_nomem(e);
	pl->stats.messages++;
	return 0;
}

int pipeline_page(struct pipeline *pl, struct page *pg, const char *body,
		  struct pipeline_page_result *res, struct err *e)
{
	size_t n = page_count(pg);

	memset(res, 0, sizeof(*res));
	pl->stats.pages++;
	if (mark_fresh(pl, pg, body, n, res, e))
		return -1;
	if (pl->opts.order == ORDER_NEWEST) {
		for (size_t i = 0; i < n; i++) {
			if (!pl->keep[i])
				continue;
			if (write_row(pl, pg, body, i, sink_buf(pl->sink), e) || sink_flush(pl->sink, e))
				return -1;
		}
		return 0;
	}
	pl->chunk.len = 0;
	for (size_t i = n; i-- > 0;)
		if (pl->keep[i] && write_row(pl, pg, body, i, &pl->chunk, e))
			return -1;
	return pl->chunk.len ? spool_add(pl->spool, pl->chunk.data, pl->chunk.len, e) : 0;
}

static int emit_to_sink(void *ctx, const char *p, size_t n, struct err *e)
{
	return sink_write(ctx, p, n, e);
}

int pipeline_segment_end(struct pipeline *pl, struct err *e)
{
	if (pl->spool && (spool_replay(pl->spool, emit_to_sink, pl->sink, e) ||
			  spool_truncate(pl->spool, e)))
		return -1;
	return 0;
}

int pipeline_commit(struct pipeline *pl, struct err *e)
{
	return pipeline_segment_end(pl, e) ? -1 : sink_commit(pl->sink, e);
}

void pipeline_close(struct pipeline *pl)
{
	if (!pl)
		return;
	sink_close(pl->sink);
	spool_close(pl->spool);
	writer_free(pl->writer);
	seen_free(pl->seen);
	buf_free(&pl->chunk);
	free(pl->keep);
	free(pl);
}

const struct pipeline_stats *pipeline_stats(const struct pipeline *pl)
{
	return &pl->stats;
}

unsigned long long pipeline_bytes_out(const struct pipeline *pl)
{
	return sink_bytes_out(pl->sink);
}
