/*
 * fetch_walk: the pages of one target's walk (SPEC §5.1-§5.3): each body
 * into --save-raw and the pipeline, then the verdict
 * on whether the history goes on.
 */
#include "fetch_impl.h"
#include "media.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

static int save_raw(struct fetch *f, const char *body, size_t len, struct err *e)
{
	if (!f->raw)
		return 0;
	f->line.len = 0;
	if (buf_reserve(&f->line, 2 * len + 1))
		return err_nomem(e);
	f->line.len = text_json_single_line(f->line.data, body, len);
	f->line.data[f->line.len++] = '\n';
	if (sink_write(f->raw, f->line.data, f->line.len, e))
		return err_prefix(e, "--save-raw: ");
	return 0;
}

/* --media-dir: the files of a page's selected messages, before their rows are made. */
int fetch_on_media(void *ctx, struct page *pg, const char *body, const unsigned char *keep,
		    const char *const **files, struct err *e)
{
	struct fetch *f = ctx;

	return media_page(f->media, f->http, pg, body, keep, files, e);
}

/* What the page held decides whether the history goes on (SPEC §5.1-§5.3). */
static int verdict(struct fetch *f, const struct select_page *res, struct err *e)
{
	if (res->records < API_PAGE_SIZE)
		return WALK_END; /* an empty or short page is the last */
	/* SPEC §5.2: only messages already written count, not ones filtered out. */
	if (res->repeated == res->records) {
		if (++f->consecutive_seen >= 2)
			return err_set(e, ERR_DATA, "a second full page of messages already seen; the "
				       "server seems to ignore 'page' (stopping so the run cannot loop "
				       "forever)");
	} else {
		f->consecutive_seen = 0;
	}
	/*
	 * --since: only a page whose messages ALL lie before it ends the walk.
	 * Timestamps are a sender's claim, so one message dated 0 among new ones
	 * says nothing; a whole page (50) of old-dated messages in a row is what
	 * the history's end looks like. A misdated page is still not written (it
	 * is outside the window); only the pages past it would be lost, and the
	 * time a lone misdated message could cost is none.
	 */
	if (res->has_newest && f->has_since && res->newest < f->since)
		return WALK_END;
	return nextcp_verdict(&f->cpw, res);
}

/* One page into the pipeline; the verdict. */
static int take_page(struct fetch *f, unsigned long page_no, const char *body, size_t len,
		     struct err *e)
{
	struct select_page res;
	const struct record *first;

	if (f->stop && *f->stop)
		return err_set(e, ERR_INTERRUPTED, "interrupted");
	if (save_raw(f, body, len, e))
		return -1;
	snprintf(f->where, sizeof(f->where), "page %lu", page_no);
	if (pipeline_page(f->pl, body, len, f->where, &res, &first, e) < 0) {
		if (e->kind == ERR_DATA && e->offset >= 0)
			err_prefix(e, "byte %lld: ", e->offset);
		if (e->kind == ERR_DATA)
			return err_prefix(e, "the API answered something that is not a page of "
					  "messages: ");
		return -1;
	}
	if (page_no == 1) {
		f->first_unique.len = 0;
		if (first && first->f[REC_UNIQUE].kind == FIELD_STRING &&
		    buf_add(&f->first_unique, first->f[REC_UNIQUE].p, first->f[REC_UNIQUE].len))
			return err_nomem(e);
	}
	if (f->progress)
		f->progress(f->progress_ctx);
	return verdict(f, &res, e);
}

static int on_page(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	return take_page(ctx, page_no, body, len, e);
}

int fetch_walk_pages(struct fetch *f, const struct walk_opts *wo,
		     const struct walk_transport *t, struct err *e)
{
	return walk_run(wo, t, on_page, f, &f->stats, e);
}
