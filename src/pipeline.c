#include "pipeline.h"
#include "fsutil.h"
#include "hold.h"
#include "outpath.h"
#include "seen.h"
#include "split.h"
#include "state.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

struct pipeline {
	struct pipeline_opts opts;
	struct warn *warn;
	struct writer *writer;
	struct sink *sink;
	struct seen *seen;
	struct split *split;        /* {chat}: rows per conversation */
	struct sink **chat_sinks;   /* {chat}: finished files waiting to be published */
	size_t nchat_sinks;
	unsigned long long chat_bytes;
	unsigned long long made_split; /* rows spooled for {chat} or a merge */
	struct buf chat_name;
	int merge;                  /* merge_segments: rows spooled per segment */
	unsigned segment;
	long long segment_ts;       /* the last valid time seen in this segment */
	/* ORDER_OLDEST: pages' rows, each page's oldest first, in page order... */
	struct buf batch;
	size_t *ends;               /* ...with where each page's rows end */
	size_t nends, ends_cap;
	struct buf chunk;           /* the batch with its pages reversed, for the sink */
	struct hold *hold;          /* ascending pages: the last rows, until no earlier copy comes */
	unsigned char *keep;        /* per element of the current page */
	uint64_t *hash;             /* per element: its unique's hash */
	size_t keep_cap;
	struct pipeline_stats stats;
	struct pipeline_checkpoint cp;
	int has_cp;
	const char *const *media;   /* per element of the next page, or NULL */
	struct pipeline_newest newest, taken;
};

static void newest_clear(struct pipeline_newest *n)
{
	for (size_t i = 0; i < n->nuniques; i++)
		free(n->uniques[i]);
	free(n->uniques);
	memset(n, 0, sizeof(*n));
}

/* Remember the newest written message(s); uniques with control bytes are left out. */
static int newest_note(struct pipeline_newest *n, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];
	char *copy;

	if (!r->ts_ok || u->kind != FIELD_STRING || (n->have && r->ts < n->ts))
		return 0;
	if (n->have && r->ts > n->ts)
		newest_clear(n);
	n->have = 1;
	n->ts = r->ts;
	for (size_t i = 0; i < u->len; i++)
		if ((unsigned char)u->p[i] < 0x20)
			return 0;
	if (n->nuniques == STATE_MAX_UNIQUES)
		return 0; /* beyond this, the rest of that second is exported again: at least once */
	if (n->nuniques == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 16;
		char **grown = realloc(n->uniques, cap * sizeof(*grown));

		if (!grown)
			return -1;
		n->uniques = grown;
		n->cap = cap;
	}
	copy = malloc(u->len + 1);
	if (!copy)
		return -1;
	memcpy(copy, u->p, u->len);
	copy[u->len] = '\0';
	n->uniques[n->nuniques++] = copy;
	return 0;
}

/* Did an earlier run (the checkpoint) export this message? */
static int covered(const struct pipeline *pl, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];

	if (!pl->has_cp || !r->ts_ok)
		return 0;
	if (r->ts < pl->cp.floor)
		return 1;
	if (r->ts != pl->cp.skip_ts || u->kind == FIELD_ABSENT)
		return 0;
	for (size_t i = 0; i < pl->cp.nskip; i++)
		if (strlen(pl->cp.skip[i]) == u->len && !memcmp(pl->cp.skip[i], u->p, u->len))
			return 1;
	return 0;
}

void pipeline_set_media(struct pipeline *pl, const char *const *files)
{
	pl->media = files;
}

void pipeline_set_checkpoint(struct pipeline *pl, const struct pipeline_checkpoint *cp)
{
	pl->has_cp = cp != NULL;
	if (cp)
		pl->cp = *cp;
}

const struct pipeline_newest *pipeline_take_newest(struct pipeline *pl)
{
	newest_clear(&pl->taken);
	pl->taken = pl->newest;
	memset(&pl->newest, 0, sizeof(pl->newest));
	return &pl->taken;
}

/* Rows are handed to the sink in chunks of about this size (oldest order). */
#define BATCH_BYTES (256u * 1024u)

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
	/* Oldest order from newest-first pages: the sink turns the batches around. */
	pl->opts.sink.reverse = opts->order == ORDER_OLDEST && !opts->ascending;
	if (opts->split_chats || opts->merge_segments) {
		char dir[4096];
		const char *t = getenv("TMPDIR");

		if (strchr(opts->sink.path, '/'))
			fsutil_dirname(opts->sink.path, dir, sizeof(dir));
		else
			snprintf(dir, sizeof(dir), "%s", strcmp(opts->sink.path, "-") ? "." : t && *t ? t : "/tmp");
		if (opts->split_chats && !strcmp(opts->sink.path, "-")) {
			err_set(e, ERR_USAGE, "{chat} needs a file name in -o, not standard output");
			goto fail;
		}
		if (split_open(&pl->split, dir, e))
			goto fail;
		if (opts->split_chats) {
			*out = pl;
			return 0;
		}
		pl->merge = 1;
		pl->opts.sink.reverse = 0; /* the merge writes rows in their final order */
	}
	if (sink_open(&pl->sink, &pl->opts.sink, e))
		goto fail;
	if (opts->ascending && !(pl->hold = hold_new())) {
		err_nomem(e);
		goto fail;
	}
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

/* pl->keep[i]: not written, or written with or without a `unique` to tell it by. */
enum { KEEP_NOT, KEEP_KEYED, KEEP_UNKEYED };

/* The decision of §5.2, made in page order (newest first): first sighting wins. */
static int mark_fresh(struct pipeline *pl, struct page *pg, const char *body, size_t n,
		      struct pipeline_page_result *res, struct err *e)
{
	if (n > pl->keep_cap) {
		unsigned char *k = realloc(pl->keep, n);
		uint64_t *h = realloc(pl->hash, n * sizeof(*h));

		if (k)
			pl->keep = k;
		if (h)
			pl->hash = h;
		if (!k || !h)
			return err_nomem(e);
		pl->keep_cap = n;
	}
	if (page_extract(pg, body))
		return err_nomem(e);
	/* Prefetch the slots of every unique first (hashed by extraction): the misses overlap. */
	for (size_t i = 0; i < n; i++) {
		const struct record *r = page_rec(pg, body, i);

		pl->keep[i] = r && r->f[REC_UNIQUE].kind != FIELD_ABSENT;
		if (pl->keep[i]) {
			pl->hash[i] = r->unique_hash;
			seen_prefetch(pl->seen, pl->hash[i]);
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct record *r = page_rec(pg, body, i);
		int has_unique = pl->keep[i];

		pl->keep[i] = 0;
		if (!r) {
			struct record any;

			page_record(pg, body, i, &any);
			warn_note(pl->warn, "byte %zu: array element is not a message object; skipped",
				  any.offset);
			pl->stats.skipped++;
			continue;
		}
		res->records++;
		if (r->ts_ok) {
			if (!res->has_oldest || r->ts < res->oldest)
				res->oldest = r->ts;
			res->has_oldest = 1;
			if ((pl->opts.has_since && r->ts < pl->opts.since) ||
			    (pl->opts.has_until && r->ts >= pl->opts.until)) {
				pl->stats.filtered++;
				continue;
			}
			if (covered(pl, r)) {
				pl->stats.checkpointed++;
				continue;
			}
		}
		if (!has_unique) {
			warn_note(pl->warn, "byte %zu: message without 'unique'; written, but it cannot "
				  "be de-duplicated", r->offset);
		} else if (seen_check(pl->seen, pl->hash[i])) {
			unsigned long long first, end;

			pl->stats.duplicates++;
			res->repeated++;
			/* Backward reading: this copy comes first in the input; it wins if it can. */
			if (!pl->hold || !hold_cancel(pl->hold, pl->hash[i], &first, &end))
				continue;
			pl->stats.messages--;
			warn_forget(pl->warn, first, end); /* forward reading never wrote that copy */
		}
		pl->keep[i] = has_unique ? KEEP_KEYED : KEEP_UNKEYED;
		res->fresh++;
		if (newest_note(&pl->newest, r))
			return err_nomem(e);
	}
	return 0;
}

static int write_row(struct pipeline *pl, struct page *pg, const char *body, size_t i,
		     struct buf *out, struct err *e)
{
	const struct record *r = page_rec(pg, body, i); /* kept rows are objects */

	if (!r || writer_row(pl->writer, r, pl->media ? pl->media[i] : NULL, out))
		return err_nomem(e);
	pl->stats.messages++;
	return 0;
}

/*
 * The conversation of a message (SPEC §4.5): its counterpart — the `to` of
 * an outgoing message, the `from` of an incoming one; `to` when the
 * direction is unknown.
 */
static int chat_of(struct pipeline *pl, const struct record *r, struct err *e)
{
	const struct field *f = &r->f[r->dir_ok && r->dir == DIRECTION_INCOMING ? REC_FROM : REC_TO];
	unsigned bad = 0;

	pl->chat_name.len = 0;
	if (f->kind == FIELD_ABSENT || f->kind == FIELD_COMPOUND || !f->len)
		return buf_adds(&pl->chat_name, "unknown") ? err_nomem(e) : 0;
	if (buf_reserve(&pl->chat_name, TEXT_DECODE_MAX(f->len)))
		return err_nomem(e);
	if (f->kind == FIELD_STRING)
		pl->chat_name.len = text_decode(pl->chat_name.data, f->p, f->len, &bad);
	else
		memcpy(pl->chat_name.data, f->p, pl->chat_name.len = f->len);
	return 0;
}

static int split_page(struct pipeline *pl, struct page *pg, const char *body, size_t n,
		      struct err *e)
{
	struct record r;

	for (size_t i = 0; i < n; i++) {
		if (!pl->keep[i])
			continue;
		pl->chunk.len = 0;
		if (write_row(pl, pg, body, i, &pl->chunk, e) || page_record(pg, body, i, &r) < 0 ||
		    chat_of(pl, &r, e) ||
		    split_add(pl->split, pl->chat_name.data, pl->chat_name.len, pl->chunk.data,
			      pl->chunk.len, e))
			return -1;
		pl->made_split += pl->chunk.len;
	}
	return 0;
}

/*
 * Several --to contacts in one file: each contact's rows are spooled as a
 * segment, prefixed with their time, and merged by time at commit so the
 * whole file is in --order (SPEC §2).
 */
static int merge_page(struct pipeline *pl, struct page *pg, const char *body, size_t n,
		      struct err *e)
{
	char name[16];
	struct record r;

	snprintf(name, sizeof(name), "%u", pl->segment);
	for (size_t i = 0; i < n; i++) {
		long long ts;

		if (!pl->keep[i])
			continue;
		if (page_record(pg, body, i, &r) < 0)
			return err_nomem(e);
		if (r.ts_ok)
			pl->segment_ts = r.ts;
		ts = pl->segment_ts; /* a row without a time stays beside its neighbours */
		pl->chunk.len = 0;
		if (buf_add(&pl->chunk, &ts, sizeof(ts)) || write_row(pl, pg, body, i, &pl->chunk, e) ||
		    split_add(pl->split, name, strlen(name), pl->chunk.data, pl->chunk.len, e))
			return -1;
		pl->made_split += pl->chunk.len - sizeof(ts);
	}
	return 0;
}

static int commit_merge(struct pipeline *pl, struct err *e)
{
	size_t k;
	struct split_cursor **cur = NULL;
	const char **row = NULL;
	size_t *len = NULL;
	int oldest = pl->opts.order == ORDER_OLDEST, rc = -1;

	if (split_scatter(pl->split, e))
		return -1;
	k = split_count(pl->split);
	cur = calloc(k + 1, sizeof(*cur));
	row = calloc(k + 1, sizeof(*row));
	len = calloc(k + 1, sizeof(*len));
	if (!cur || !row || !len) {
		err_nomem(e);
		goto out;
	}
	/* Segments were added in --to order: chat i is segment i. */
	for (size_t i = 0; i < k; i++) {
		int got;

		if (split_cursor_open(pl->split, i, oldest, &cur[i], e) ||
		    (got = split_cursor_next(cur[i], &row[i], &len[i], e)) < 0)
			goto out;
		if (!got)
			row[i] = NULL;
	}
	for (;;) {
		size_t best = k;
		long long bt = 0;

		for (size_t i = 0; i < k; i++) {
			long long t;

			if (!row[i])
				continue;
			memcpy(&t, row[i], sizeof(t));
			if (best == k || (oldest ? t < bt : t > bt)) {
				best = i;
				bt = t;
			}
		}
		if (best == k)
			break;
		if (sink_write(pl->sink, row[best] + sizeof(long long), len[best] - sizeof(long long), e))
			goto out;
		switch (split_cursor_next(cur[best], &row[best], &len[best], e)) {
		case -1:
			goto out;
		case 0:
			row[best] = NULL;
			break;
		default:
			break;
		}
	}
	rc = sink_commit(pl->sink, e);
out:
	for (size_t i = 0; cur && i < k; i++)
		split_cursor_close(cur[i]);
	free(cur);
	free(row);
	free(len);
	return rc;
}

static int emit_row(void *ctx, const char *row, size_t len, struct err *e)
{
	return sink_write(ctx, row, len, e);
}

/*
 * {chat} at commit: one file at a time, each finished (fsynced) but left
 * under its temporary name; only when every one is done are they renamed
 * into place (SPEC §4.5).
 */
static int commit_chats(struct pipeline *pl, struct err *e)
{
	size_t n;
	struct seen *names = seen_new();
	int rc = -1;

	if (!names)
		return err_nomem(e);
	if (split_scatter(pl->split, e))
		goto out;
	n = split_count(pl->split);
	pl->chat_sinks = calloc(n ? n : 1, sizeof(*pl->chat_sinks));
	if (!pl->chat_sinks) {
		err_nomem(e);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct outpath_vars v = { 0 };
		struct sink_opts so = pl->opts.sink;
		char *path = NULL, unique_name[300];
		const char *chat = split_chat(pl->split, i);
		int k = 1;

		v.chat = chat;
		so.reverse = 0;
		/* Two ids that sanitise alike (IL.1 and IL/1) must not share a file. */
		for (;;) {
			if (outpath_expand(pl->opts.sink.path, &v, &path, e))
				goto out;
			if (!seen_check(names, seen_hash(path, strlen(path))))
				break;
			free(path);
			snprintf(unique_name, sizeof(unique_name), "%.200s-%d", chat, ++k);
			v.chat = unique_name;
		}
		so.path = path;
		rc = sink_open(&pl->chat_sinks[i], &so, e);
		free(path);
		if (rc)
			goto out;
		rc = -1;
		pl->nchat_sinks = i + 1;
		if (writer_begin(pl->writer, sink_buf(pl->chat_sinks[i])) ||
		    split_read_chat(pl->split, i, pl->opts.order == ORDER_OLDEST, emit_row,
				    pl->chat_sinks[i], e) ||
		    sink_finish(pl->chat_sinks[i], e))
			goto out;
		pl->chat_bytes += sink_bytes_out(pl->chat_sinks[i]);
	}
	for (size_t i = 0; i < n; i++)
		if (sink_publish(pl->chat_sinks[i], e))
			goto out;
	rc = 0;
out:
	seen_free(names);
	return rc;
}

/*
 * Oldest order: the batch holds pages in arrival order; the chunk gets them
 * last page first, so the chunk reads oldest first. The sink then writes
 * chunks last first.
 */
static int flush_batch(struct pipeline *pl, struct err *e)
{
	size_t end = pl->batch.len;

	if (!pl->batch.len) {
		pl->nends = 0;
		return 0;
	}
	pl->chunk.len = 0;
	if (buf_reserve(&pl->chunk, pl->batch.len))
		return err_nomem(e);
	for (size_t i = pl->nends; i-- > 0;) {
		size_t start = i ? pl->ends[i - 1] : 0;

		memcpy(pl->chunk.data + pl->chunk.len, pl->batch.data + start, end - start);
		pl->chunk.len += end - start;
		end = start;
	}
	pl->batch.len = 0;
	pl->nends = 0;
	return sink_chunk(pl->sink, &pl->chunk, e);
}

static int end_page_in_batch(struct pipeline *pl, struct err *e)
{
	if (pl->nends == pl->ends_cap) {
		size_t cap = pl->ends_cap ? 2 * pl->ends_cap : 64;
		size_t *p = realloc(pl->ends, cap * sizeof(*p));

		if (!p)
			return err_nomem(e);
		pl->ends = p;
		pl->ends_cap = cap;
	}
	pl->ends[pl->nends++] = pl->batch.len;
	return pl->batch.len >= BATCH_BYTES ? flush_batch(pl, e) : 0;
}

int pipeline_select(struct pipeline *pl, struct page *pg, const char *body,
		    struct pipeline_page_result *res, struct err *e)
{
	memset(res, 0, sizeof(*res));
	pl->stats.pages++;
	return mark_fresh(pl, pg, body, page_count(pg), res, e);
}

const unsigned char *pipeline_selected(const struct pipeline *pl)
{
	return pl->keep;
}

/* Held rows leave a buffer at a time, swapped into the sink after what it has. */
static int to_sink(void *ctx, struct buf *full, struct err *e)
{
	struct sink *s = ctx;

	return (sink_buf(s)->len && sink_chunk(s, sink_buf(s), e)) || sink_chunk(s, full, e) ? -1 : 0;
}

static int write_selected(struct pipeline *pl, struct page *pg, const char *body, struct err *e)
{
	size_t n = page_count(pg);

	if (pl->merge)
		return merge_page(pl, pg, body, n, e);
	if (pl->split)
		return split_page(pl, pg, body, n, e);
	if (!pl->opts.sink.reverse) {
		/* Rows go straight out: a page's own order, or turned for oldest first. */
		int turn = pl->opts.order == ORDER_OLDEST;

		for (size_t k = 0; k < n; k++) {
			size_t i = turn ? n - 1 - k : k;

			if (!pl->keep[i])
				continue;
			if (pl->hold) {
				struct hold_tag tag = {
					.hash = pl->keep[i] == KEEP_KEYED ? &pl->hash[i] : NULL,
					.note_first = pl->warn->seq,
				};

				if (write_row(pl, pg, body, i, hold_buf(pl->hold), e))
					return -1;
				tag.note_end = pl->warn->seq;
				if (hold_row(pl->hold, &tag, to_sink, pl->sink, e))
					return -1;
			} else if (write_row(pl, pg, body, i, sink_buf(pl->sink), e) ||
				   sink_flush(pl->sink, e)) {
				return -1;
			}
		}
		return 0;
	}
	for (size_t i = n; i-- > 0;)
		if (pl->keep[i] && write_row(pl, pg, body, i, &pl->batch, e))
			return -1;
	return end_page_in_batch(pl, e);
}

int pipeline_write(struct pipeline *pl, struct page *pg, const char *body, struct err *e)
{
	int rc = write_selected(pl, pg, body, e);

	pl->media = NULL;
	return rc;
}

int pipeline_page(struct pipeline *pl, struct page *pg, const char *body,
		  struct pipeline_page_result *res, struct err *e)
{
	return pipeline_select(pl, pg, body, res, e) || pipeline_write(pl, pg, body, e) ? -1 : 0;
}

int pipeline_segment_end(struct pipeline *pl, struct err *e)
{
	if (pl->merge) {
		pl->segment++;
		return 0;
	}
	if (pl->split)
		return 0;
	if (pl->hold && hold_drain(pl->hold, to_sink, pl->sink, e))
		return -1;
	return flush_batch(pl, e) || sink_segment_end(pl->sink, e) ? -1 : 0;
}

int pipeline_commit(struct pipeline *pl, struct err *e)
{
	if (pl->merge)
		return commit_merge(pl, e);
	if (pl->split)
		return commit_chats(pl, e);
	if (pl->hold && hold_drain(pl->hold, to_sink, pl->sink, e))
		return -1;
	return flush_batch(pl, e) || sink_commit(pl->sink, e) ? -1 : 0;
}

size_t pipeline_files(const struct pipeline *pl)
{
	return pl->split && !pl->merge ? split_count(pl->split) : 1;
}

void pipeline_close(struct pipeline *pl)
{
	if (!pl)
		return;
	sink_close(pl->sink);
	for (size_t i = 0; i < pl->nchat_sinks; i++)
		sink_close(pl->chat_sinks[i]);
	free(pl->chat_sinks);
	split_close(pl->split);
	buf_free(&pl->chat_name);
	writer_free(pl->writer);
	seen_free(pl->seen);
	hold_free(pl->hold);
	buf_free(&pl->batch);
	buf_free(&pl->chunk);
	free(pl->ends);
	free(pl->keep);
	free(pl->hash);
	newest_clear(&pl->newest);
	newest_clear(&pl->taken);
	free(pl);
}

const struct pipeline_stats *pipeline_stats(const struct pipeline *pl)
{
	return &pl->stats;
}

unsigned long long pipeline_bytes_made(const struct pipeline *pl)
{
	return (pl->sink ? sink_bytes_in(pl->sink) : 0) + pl->batch.len + pl->made_split;
}

unsigned long long pipeline_bytes_out(const struct pipeline *pl)
{
	return pl->sink ? sink_bytes_out(pl->sink) : pl->chat_bytes;
}
