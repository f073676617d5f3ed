#include "select.h"
#include "select_head.h"
#include "seen.h"
#include "state.h"
#include "when.h"

#include <stdlib.h>
#include <string.h>

struct select {
	struct seen *seen;
	struct warn *warn;
	struct select_checkpoint cp;
	int has_cp;
	int below; /* the earlier head was reached: what follows was exported */
	struct select_next next, taken; /* the next checkpoint, and the one handed out */
	struct select_stats stats;
	const char *file;      /* the input file read last (convert), and */
	long long file_newest; /* the newest time of its first page */
	int file_has_newest, file_warned;
	int rising_warned; /* a page whose times only rise (select_page_looked) */
};

int select_new(struct select **out, struct warn *warn, struct err *e)
{
	struct select *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || !(s->seen = seen_new())) {
		free(s);
		return err_nomem(e);
	}
	s->warn = warn;
	*out = s;
	return 0;
}

/* The uniques written at the newest second (a newer second starts them again). */
static void uniques_clear(struct select_next *n)
{
	for (size_t i = 0; i < n->nuniques; i++)
		free(n->uniques[i]);
	free(n->uniques);
	n->uniques = NULL;
	n->nuniques = n->cap = 0;
}

static void next_clear(struct select_next *n)
{
	uniques_clear(n);
	select_head_free(n->head, n->nhead);
	free(n->head);
	select_head_free(n->marks, n->nmarks);
	free(n->marks);
	memset(n, 0, sizeof(*n));
}

void select_free(struct select *s)
{
	if (!s)
		return;
	next_clear(&s->next);
	next_clear(&s->taken);
	seen_free(s->seen);
	free(s);
}

void select_set_checkpoint(struct select *s, const struct select_checkpoint *cp)
{
	s->has_cp = cp != NULL;
	s->below = 0;
	if (cp)
		s->cp = *cp;
}

/* Exported at the checkpoint's own second, by unique. */
static int at_skip(const struct select *s, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];

	if (!r->ts_ok || r->ts != s->cp.skip_ts || !record_has_unique(r))
		return 0;
	for (size_t i = 0; i < s->cp.nskip; i++)
		if (strlen(s->cp.skip[i]) == u->len && !memcmp(s->cp.skip[i], u->p, u->len))
			return 1;
	return 0;
}

/* The time rule: version-1 states (a checkpoint without a head). */
static int covered_by_time(const struct select *s, const struct record *r)
{
	return r->ts_ok && (r->ts < s->cp.floor || at_skip(s, r));
}

static int in_head(const struct select *s, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];

	if (!record_has_unique(r))
		return 0;
	for (size_t i = 0; i < s->cp.nhead; i++)
		if (s->cp.head[i].len == u->len && !memcmp(s->cp.head[i].unique, u->p, u->len))
			return 1;
	return 0;
}

void select_look(struct select *s, const struct record *r, uint64_t key, struct select_page *page)
{
	/* A page of more messages than half the window: grown to hold two (no memory: as is). */
	if (++page->looked > SEEN_WINDOW / 2)
		(void)seen_fit(s->seen, page->looked);
	if (key)
		seen_prefetch(s->seen, key);
	if (r->ts_ok) {
		page->rises += page->has_oldest && r->ts > page->last;
		page->falls += page->has_oldest && r->ts < page->last;
		page->last = r->ts;
		if (!page->has_oldest || r->ts < page->oldest)
			page->oldest = r->ts;
		if (!page->has_newest || r->ts > page->newest)
			page->newest = r->ts;
		page->has_oldest = page->has_newest = 1;
	}
}

/*
 * Five messages or more whose times only rise: no page the API sends, even
 * with a few misdated (a timestamp of 0 on top, one of 2100 below).
 */
#define SELECT_RISING_MIN 4

void select_page_looked(struct select *s, const char *name, const struct select_page *page)
{
	int convert = name || s->file; /* fetch's pages are the API's order, whatever it is */

	if (convert && page->rises >= SELECT_RISING_MIN && !page->falls && !s->rising_warned) {
		s->rising_warned = 1; /* warn_note's prefix names the page */
		warn_note(s->warn,
			  "its messages run oldest first, but a page is read as the API sends it, "
			  "newest first, so its rows come out in reverse time order (for files "
			  "sorted oldest first, --order newest keeps their order)");
	}
	if (!name)
		return; /* below, warn_note's prefix names this file (warn_where) */
	if (s->file && s->file_has_newest && page->has_newest && page->newest > s->file_newest &&
	    !s->file_warned) {
		s->file_warned = 1;
		warn_note(s->warn,
			  "newer messages than %s, named before it: convert takes its files as "
			  "one history, newest first; name them newest first (ls -r), or the rows "
			  "are out of time order and older copies win",
			  s->file);
	}
	s->file = name;
	s->file_newest = page->newest;
	s->file_has_newest = page->has_newest;
}

/*
 * Did an earlier run export r? Above the head, only what it names by unique,
 * whatever r's time says (when the head is gone, the pages the walk takes to
 * find that out are written again: at least once); from the head on, all but
 * --lookback's window.
 */
static int exported(struct select *s, const struct record *r, struct select_page *page)
{
	if (!s->has_cp || !s->cp.earlier)
		return 0;
	if (!s->cp.nhead)
		return covered_by_time(s, r);
	if (!s->below && in_head(s, r))
		s->below = 1;
	page->head_met = s->below;
	if (s->below) {
		int in = s->cp.lookback && r->ts_ok && r->ts >= s->cp.floor;

		page->from_head++;
		page->in_window += (size_t)in;
		page->tail_out = in ? 0 : page->tail_out + 1;
		return !in;
	}
	return at_skip(s, r);
}

static int newest_note(struct select_next *n, const struct record *r, long long horizon)
{
	const struct field *u = &r->f[REC_UNIQUE];
	char *copy;

	if (!r->ts_ok || u->kind != FIELD_STRING || !record_has_unique(r) ||
	    (n->have && r->ts < n->ts))
		return 0;
	if (horizon && r->ts > horizon)
		return 0; /* a wrong clock must not become the time the next night trusts */
	if (n->have && r->ts > n->ts)
		uniques_clear(n); /* a newer second (the time kept; the head follows API order) */
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

/*
 * --lookback: a full page's last message is its mark (select_head.h), written
 * or not, but within --since/--until: a message they leave out is no place
 * to stop (one --until holds back below a mark drops it: select_head_restart).
 * -1 on ENOMEM.
 */
static int mark_last(struct select *s, const struct record *r, uint64_t key, int when,
		     const struct select_page *page)
{
	if (!s->has_cp || s->cp.marks != SELECT_MARK_LAST)
		return 0;
	/* every message: one of the head's met again drops the marks so far */
	if (select_head_pushed_down(&s->next, key) || page->records != API_PAGE_SIZE ||
	    when != WHEN_WITHIN)
		return 0;
	return select_head_mark(&s->next, r);
}

/* A message to be written, into the next checkpoint: its time, a page's first as a mark, the head. */
static int note_written(struct select *s, const struct record *r, uint64_t key,
			const struct select_page *page)
{
	if (newest_note(&s->next, r, s->has_cp ? s->cp.horizon : 0))
		return -1;
	if (!s->has_cp)
		return 0;
	if (s->cp.marks == SELECT_MARK_FIRST && page->records == 1 && select_head_mark(&s->next, r))
		return -1;
	return select_head_note(&s->next, r, key, 0);
}

int select_message(struct select *s, const struct record *r, uint64_t key, int when,
		   struct select_page *page, struct err *e)
{
	page->records++;
	if (mark_last(s, r, key, when, page))
		return err_nomem(e);
	if (when != WHEN_WITHIN) {
		/* A second copy (pages shifted) is a duplicate here too, not a second "outside". */
		if (key && seen_check(s->seen, key)) {
			s->stats.duplicates++;
			page->repeated++;
			return 0;
		}
		s->stats.filtered++;
		if (s->has_cp && when == WHEN_AFTER &&
		    (!s->next.head_done || r->ts <= s->cp.horizon))
			select_head_restart(&s->next);
		return s->has_cp && select_head_note(&s->next, r, key, 1) ? err_nomem(e) : 0;
	}
	if (exported(s, r, page))
		return s->has_cp && select_head_note(&s->next, r, key, 0) ? err_nomem(e) : 0;
	if (!key) {
		warn_note(s->warn,
			  "byte %zu: message without 'unique' (or with an empty one); written, "
			  "but it cannot be de-duplicated",
			  r->offset);
	} else if (seen_check(s->seen, key)) {
		s->stats.duplicates++;
		page->repeated++;
		return 0;
	}
	s->stats.messages++;
	return note_written(s, r, key, page) ? err_nomem(e) : 1;
}

const struct select_next *select_take_next(struct select *s)
{
	next_clear(&s->taken);
	if (s->has_cp)
		select_head_finish(&s->next, s->cp.earlier ? s->cp.head : NULL,
				   s->cp.earlier ? s->cp.nhead : 0);
	s->taken = s->next;
	memset(&s->next, 0, sizeof(s->next));
	return &s->taken;
}

const struct select_stats *select_stats(const struct select *s)
{
	return &s->stats;
}
