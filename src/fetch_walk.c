/*
 * fetch_walk: the pages of one target's walk (SPEC §5.1-§5.3): each body
 * into the journal (resume.h), --save-raw and the pipeline, then the verdict
 * on whether the history goes on; and the walk of a run that resumes from
 * an earlier run's journal, in the four steps resume.h describes (each
 * walk's journal opened here too).
 */
#include "fetch_impl.h"
#include "log.h"
#include "hash.h"
#include "jsontext.h"
#include "media.h"
#include "resume.h"
#include "text.h"
#include "walk_stretch.h"

#include <stdio.h>
#include <stdlib.h>
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

/*
 * --since: only a page whose messages ALL lie before it ends the walk.
 * Timestamps are a sender's claim, so one message dated 0 among new ones
 * says nothing; a whole page (50) of old-dated messages in a row is what
 * the history's end looks like. A misdated page is still not written (it
 * is outside the window), and a lone misdated message among others ends
 * nothing. Within --since, the checkpoint decides (nextcp_verdict).
 */
static int goes_on(struct fetch *f, const struct select_page *res)
{
	if (res->has_newest && f->has_since && res->newest < f->since)
		return WALK_END;
	return nextcp_verdict(&f->cpw, res);
}

/*
 * Full pages of (nine tenths or more) messages already seen in a row, of
 * any content, that end a walk too: a server that cycles through its pages
 * whatever 'page' says, or ignores 'page' while a few messages arrive at a
 * time. New messages arriving during a retry's wait (up to 5 minutes) shift
 * the pages by as many: this is two thousand of them.
 */
#define SEEN_STREAK_MAX 40

/*
 * What the page held decides whether the history goes on (SPEC §5.1-§5.3).
 * overlap: a journal page, or the page checked against the journal, which
 * repeat what was written by design: they say nothing of a server that
 * ignores 'page'. same: the page's bytes are those of the page before it;
 * alike: its newest message led page 1 or one of the walk's last pages.
 */
static int verdict(struct fetch *f, const struct select_page *res, int overlap, int same, int alike,
		   struct err *e)
{
	if (res->records < API_PAGE_SIZE)
		return WALK_END; /* an empty or short page is the last */
	/*
	 * SPEC §5.2: only messages already written count, not ones filtered out.
	 * Messages without a 'unique' are never "seen", so a server that sends
	 * them on every page again is caught by its bytes instead: a real history
	 * never has two pages of 50 alike, and new messages shift the pages.
	 * A page of repeats that straddles two earlier pages (the history grew
	 * by more than a page while the walk waited for a retry) is such a
	 * shift, not a server ignoring 'page': only pages alike count toward the
	 * two. (A flood of exactly a multiple of 50 lines pages up again: 65,
	 * nothing written, and the next run goes through.)
	 */
	if (overlap) {
		f->consecutive_seen = f->seen_streak = 0;
		return goes_on(f, res);
	}
	if (res->repeated * 10 < res->records * 9 && !same) {
		f->consecutive_seen = f->seen_streak = 0; /* fresh messages: the history goes on */
		return goes_on(f, res);
	}
	f->seen_streak++;
	if (res->repeated < res->records && !same) /* a few new ones: stale, not alike */
		f->consecutive_seen = 0;
	else
		f->consecutive_seen = same || alike ? f->consecutive_seen + 1 : 0;
	if (f->consecutive_seen >= 2)
		return err_set(e, ERR_DATA,
			       "a second full page of messages already seen%s; the "
			       "server seems to ignore 'page' (stopping so the run cannot loop "
			       "forever)",
			       same ? " (the same bytes as the page before)" : "");
	if (f->seen_streak >= SEEN_STREAK_MAX)
		return err_set(
			e, ERR_DATA,
			"%d full pages in a row of messages already seen (nine tenths or more); the "
			"server seems not to follow 'page' (stopping so the run cannot loop forever)",
			SEEN_STREAK_MAX);
	return goes_on(f, res);
}

/* Whether the string field u is the unique held in b. */
static int same_unique(const struct buf *b, const struct field *u)
{
	/* "" against an empty buf: equal, and no memcmp of its NULL data */
	return u->kind == FIELD_STRING && b->len == u->len &&
	       (!u->len || !memcmp(b->data, u->p, u->len));
}

/*
 * A fetched page's newest message against page 1's and the walk's last
 * pages' (*alike: one of them, as a server ignoring 'page', or going round
 * its pages, answers); then it is kept among them. A walk begins at page 1.
 */
static void first_alike(struct fetch *f, const struct record *first, unsigned long page_no,
			int *alike)
{
	const struct field *u = first ? &first->f[REC_UNIQUE] : NULL;
	uint64_t h;

	*alike = 0;
	if (page_no == 1)
		f->nfirsts = 0;
	if (!u || u->kind != FIELD_STRING)
		return;
	h = hash_bytes(u->p, u->len);
	*alike = page_no > 1 && same_unique(&f->first_unique, u);
	for (unsigned i = 0; i < f->nfirsts && i < FETCH_FIRSTS_KEPT; i++)
		*alike |= f->firsts[i] == h;
	f->firsts[f->nfirsts++ % FETCH_FIRSTS_KEPT] = h;
	if (f->nfirsts == 2 * FETCH_FIRSTS_KEPT)
		f->nfirsts = FETCH_FIRSTS_KEPT; /* the ring stays full; no wrap of the count */
}

/* How a page came: fetched, replayed from the journal, or checked against it. */
enum page_kind { PAGE_FETCHED, PAGE_JOURNAL, PAGE_CHECKED };

/*
 * What the walk keeps of a page the pipeline took: a resume's overlap
 * figures, page 1's newest message, the ring of the last pages' (*alike),
 * the oldest time reached (the progress line).
 */
static int note_page(struct fetch *f, unsigned long page_no, enum page_kind kind,
		     const struct select_page *res, const struct record *first, int *alike,
		     struct err *e)
{
	if (kind != PAGE_FETCHED) { /* the resume's overlap: re-read on purpose */
		f->overlap_duplicates += res->repeated;
		f->journal_pages += kind == PAGE_JOURNAL;
	}
	if (page_no == 1 && kind != PAGE_JOURNAL) {
		f->first_unique.len = 0;
		if (first && first->f[REC_UNIQUE].kind == FIELD_STRING &&
		    buf_add(&f->first_unique, first->f[REC_UNIQUE].p, first->f[REC_UNIQUE].len))
			return err_nomem(e);
	}
	if (kind == PAGE_FETCHED)
		first_alike(f, first, page_no, alike);
	f->repeated = res->repeated;
	if (res->has_oldest && (!f->has_oldest || res->oldest < f->oldest)) {
		f->oldest = res->oldest;
		f->has_oldest = 1;
	}
	return 0;
}

/* One page: --save-raw, into the pipeline, noted; the verdict. */
static int take_page(struct fetch *f, unsigned long page_no, enum page_kind kind, const char *body,
		     size_t len, struct err *e)
{
	struct select_page res;
	const struct record *first;
	unsigned long long last;
	int alike = 0;

	if (err_stopped(f->stop, e))
		return -1;
	if (save_raw(f, body, len, e))
		return -1;
	last = f->last_body;
	f->last_body = kind == PAGE_FETCHED ? hash_bytes(body, len) : 0;
	snprintf(f->where, sizeof(f->where), "%spage %lu", kind == PAGE_JOURNAL ? "journal " : "",
		 page_no);
	if (pipeline_page(f->pl, body, len, f->where, &res, &first, e) < 0) {
		if (e->kind == ERR_DATA && e->offset >= 0)
			err_prefix(e, "byte %lld: ", e->offset);
		if (e->kind == ERR_DATA)
			return err_prefix(e, "the API answered something that is not a page of "
					     "messages: ");
		return -1;
	}
	if (note_page(f, page_no, kind, &res, first, &alike, e))
		return -1;
	if (f->progress)
		f->progress(f->progress_ctx);
	return f->last_verdict = verdict(f, &res, kind != PAGE_FETCHED,
					 kind == PAGE_FETCHED && last == f->last_body, alike, e);
}

/*
 * SPEC §5.7 and §2: a leading UTF-8 byte-order mark is skipped with a
 * warning, in a page the API sent as in a file convert reads (source.c
 * says it the same way). Once per body, before the journal and --save-raw
 * see it: what they keep is the page without it.
 */
static void skip_bom(struct fetch *f, unsigned long page_no, const char **body, size_t *len)
{
	if (!json_bom_len(*body, *len))
		return;
	warn_where(f->warn, "page %lu", page_no);
	warn_note(f->warn, "skipped a UTF-8 byte-order mark at the start");
	*body += 3;
	*len -= 3;
}

/* A fetched page of the current walk, taken (walk_page_fn, ctx: the fetch). */
static int on_fetched_page(void *ctx, unsigned long page_no, const char *body, size_t len,
			   struct err *e)
{
	struct fetch *f = ctx;
	int v, met;

	skip_bom(f, page_no, &body, &len);
	/*
	 * Journaled once taken (an answer that is no page of messages is not: it
	 * ends the run). Its repeats are the messages that arrived on top since
	 * the page before was fetched: the journal marks the shift.
	 */
	if ((v = take_page(f, page_no, PAGE_FETCHED, body, len, e)) < 0 ||
	    (f->resume && resume_append(f->resume, page_no, f->repeated, body, len, e)))
		return -1;
	if (!f->seeking)
		return v;
	if ((met = resume_seek(f->resume, page_no, body, len, e)) <= 0)
		return met < 0 ? -1 : v;
	f->found = 1;
	f->seek_page = page_no;
	return WALK_END; /* what follows is the journal's, until it is checked */
}

static int on_check_page(void *ctx, unsigned long page_no, const char *body, size_t len,
			 struct err *e)
{
	struct fetch *f = ctx;

	skip_bom(f, page_no, &body, &len);
	f->check_body.len = 0;
	return buf_add(&f->check_body, body, len) ? err_nomem(e) : WALK_END;
}

static int on_journal_page(void *ctx, unsigned long long page_no, const char *body, size_t len,
			   struct err *e)
{
	int v = take_page(ctx, (unsigned long)page_no, PAGE_JOURNAL, body, len, e);

	return v < 0 ? -1 : v == WALK_END; /* 1: the history ends here, stop the replay */
}

/* The walk from page offset + 1 on: its pages, and what it says of them, by their real numbers. */
static int walk_from(struct fetch *f, const struct walk_opts *wo, const struct walk_transport *t,
		     unsigned long offset, walk_page_fn fn, struct err *e)
{
	struct walk_opts from = *wo;

	from.first_page = offset + 1;
	return walk_run(&from, t, fn, f, &f->stats, e);
}

/*
 * SPEC §5.3 "Resumable runs", the plan of resume.h: from page 1 to the
 * journal's newest message; the one page that must hold its oldest, checked;
 * the journal's pages replayed; then on after the checked page. A check that
 * fails leaves the journal out: the walk goes on after the newest message.
 */
int fetch_walk_resumed(struct fetch *f, const struct walk_opts *walk,
		       const struct walk_transport *t, struct err *e)
{
	struct walk_opts side = *walk, *wo = &side, one, first;
	unsigned long check;
	int ok;

	if (fetch_walk_checked(f)) /* one page at a time, which cannot miss a message */
		side.concurrency = 1;
	one = first = side;
	f->seeking = 1;
	f->found = 0;
	f->last_body = 0;
	first.slow_start = 1; /* the newest message is on page 1 unless much arrived since */
	ok = walk_from(f, &first, t, 0, on_fetched_page, e);
	f->seeking = 0;
	if (ok || !f->found || f->last_verdict == WALK_END)
		return ok; /* the walk ended before the journal's pages were needed */
	check = resume_check_page(f->resume);
	one.concurrency = 1;
	one.max_pages = 1;
	one.slow_start = 0;
	f->check_body.len = 0;
	if (walk_from(f, &one, t, check - 1, on_check_page, e))
		return -1;
	if ((ok = f->check_body.len
			  ? resume_verify(f->resume, f->check_body.data, f->check_body.len, e)
			  : 0) < 0)
		return -1;
	if (!ok) {
		warn_note(f->warn,
			  "the journal's pages no longer line up with the server's (page "
			  "%lu); walking on from page %lu instead",
			  check, f->seek_page + 1);
		return walk_from(f, wo, t, f->seek_page, on_fetched_page, e);
	}
	if (resume_replay(f->resume, on_journal_page, f, e))
		return -1;
	if (resume_tell_once(f->resume))
		log_line(f->o->quiet ? NULL : stderr,
			 "waexport: resumed: %llu pages from the journal of an earlier run, "
			 "going on from page %lu",
			 resume_pages(f->resume), check + 1);
	if (f->last_verdict == WALK_END)
		return 0;
	/* From here on this run's pages extend the journal: should it fail too, they stay. */
	if (resume_mark(f->resume, e) ||
	    resume_append(f->resume, check, 0, f->check_body.data, f->check_body.len, e))
		return -1;
	if ((ok = take_page(f, check, PAGE_CHECKED, f->check_body.data, f->check_body.len, e)) !=
	    WALK_MORE)
		return ok < 0 ? -1 : 0;
	return walk_from(f, wo, t, check, on_fetched_page, e);
}

int fetch_walk_checked(struct fetch *f)
{
	struct pipeline_stats st;

	pipeline_stats(f->pl, &st);
	return f->shifted || st.streams;
}

int fetch_walk_pages(struct fetch *f, const struct walk_opts *wo, const struct walk_transport *t,
		     struct err *e)
{
	f->last_body = 0;
	if (fetch_walk_checked(f) && wo->concurrency > 1)
		return walk_stretches(wo, t, on_fetched_page, f, &f->stats, e);
	return walk_from(f, wo, t, 0, on_fetched_page, e);
}

/*
 * --state keeps a journal of each walk (resume.h): STATE.journal, or with
 * several --to one for each contact. Starting over after FETCH_AGAIN, what
 * this run journaled goes first: its pages are stale.
 */
static int open_journal(struct fetch *f, struct resume **r, const char *to, int own, struct err *e)
{
	if (*r && resume_usable(*r))
		return resume_rewind(*r, e);
	if (*r) {
		if (resume_finish(*r, e))
			return -1;
		resume_free(*r);
		*r = NULL;
	}
	return resume_open(r, f->o->state, f->o->from, to, own, f->warn, e);
}

int fetch_open_journal(struct fetch *f, size_t i, const struct fetch_target *t, size_t n,
		       struct err *e)
{
	if (!f->journals) {
		if (!(f->journals = calloc(n, sizeof(*f->journals))))
			return err_nomem(e);
		f->njournals = n;
	}
	f->resume = NULL;
	if (open_journal(f, &f->journals[i], t->to, n > 1, e))
		return -1;
	f->resume = f->journals[i];
	return 0;
}
