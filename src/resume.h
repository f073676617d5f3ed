/*
 * resume: resumable --state runs (SPEC §5.3 "Resumable runs", issue 13
 * item 3), the plan around journal.h. A run with --state keeps every page
 * body it takes in STATE.journal (page 0: which account/contact the pages
 * are of), so a run that fails or is interrupted (69, 74, 77, 129, 130, 143, a
 * kill) leaves its pages behind; a run that succeeds removes the journal.
 *
 * The next run finds the pages shifted by the messages that arrived since
 * (k of them, on top). It walks from page 1 until it meets the journal's
 * newest message (resume_seek: k is where it stands), then works out where
 * the journal's oldest message must be now, asks for that one page and
 * checks that the message is really there (resume_verify: by overlap, never
 * by trust). Only then are the journal's pages replayed, streamed one at a
 * time (resume_replay), and the walk goes on after the checked page. When
 * the check fails, the journal is left out and the walk goes on from the
 * page after the newest message: slower, never wrong. Every message goes
 * through the one dedupe (select.h), so the overlaps are written once.
 *
 * A resumed run extends the journal: after the old pages it writes a mark
 * (where their newest message stands in its own page numbers), then the
 * checked page and every page it fetches after it. A run that fails again
 * thus keeps what it fetched, and the next one resumes from further on: the
 * marks make the page numbers of each sequel line up with the one before.
 *
 * A journal that is corrupt, or of another account or contact, is a warning
 * and a full walk; a torn last record (a kill mid-append) loses only that
 * page. With several --to in one run each contact's walk has a journal of
 * its own, STATE.journal-TO.
 *
 * resume owns the journal file (under the state's lock, which the caller
 * holds) and a copy of the two uniques it needs; never the journal's pages.
 */
#ifndef WAEXPORT_RESUME_H
#define WAEXPORT_RESUME_H

#include <stddef.h>

#include "err.h"
#include "journal.h"
#include "record.h"
#include "warn.h"

/* The page number of a sequel's mark: no walk has that many pages. */
#define RESUME_MARK (1ull << 62)

struct resume;

/*
 * Read STATE.journal (a stream: counts and two uniques are kept) for the walk
 * of from/to (to NULL: the whole account); with `own` (a run of several --to
 * walks), STATE.journal-TO, a journal for each. Returns 0 with *out set; a
 * journal unfit to resume from is a warning, and this run journals afresh.
 */
int resume_open(struct resume **out, const char *state_path, const char *from, const char *to,
		int own, struct warn *w, struct err *e);

/*
 * The walk is over (done, or failed): the journal's file is closed, its
 * pages kept; resume_finish or resume_rewind as before.
 */
void resume_pause(struct resume *r);

/*
 * A successful run on the state at state_path: the journals of walks it did
 * not make (another --to set before) are of no use now; removed. Under the
 * state's lock, every journal beside it is this account's.
 */
void resume_clear_others(const char *state_path);

/* 1 when the journal's pages can be resumed from. */
int resume_usable(const struct resume *r);

/*
 * Keep a page this run took (resuming: only once marked, the pages after the
 * mark). grown: its messages written before, on the page before (history
 * that grew on top meanwhile): a mark re-bases the page numbers first.
 */
int resume_append(struct resume *r, unsigned long page_no, size_t grown, const char *body,
		  size_t len, struct err *e);

/*
 * Resuming, once the journal's pages were checked and replayed: what this
 * run fetches from the checked page on is appended after a mark that says
 * where the journal's newest message stands in this run's page numbers.
 */
int resume_mark(struct resume *r, struct err *e);

/* Starting the walk over (FETCH_AGAIN): a sequel written so far goes. */
int resume_rewind(struct resume *r, struct err *e);

/*
 * Phase 1: does this page (page_no of this run, from page 1 on) hold the
 * journal's newest message? 1 (and k is known), 0, or -1 with e set.
 */
int resume_seek(struct resume *r, unsigned long page_no, const char *body, size_t len,
		struct err *e);

/* Phase 2: the page of this run that must hold the journal's oldest message. */
unsigned long resume_check_page(const struct resume *r);

/* Is the journal's oldest message where it must be on that page? 1, 0, -1 (e). */
int resume_verify(struct resume *r, const char *body, size_t len, struct err *e);

/* Phase 3: the journal's pages in order, one at a time, to fn. */
int resume_replay(struct resume *r, journal_record_fn fn, void *ctx, struct err *e);

/* The run succeeded: the journal goes. */
int resume_finish(struct resume *r, struct err *e);

/* Journal pages replayed, for the log line. */
unsigned long long resume_pages(const struct resume *r);

/*
 * 1 the first time it is asked, then 0: the log line of a walk resumed from
 * this journal is printed once, though a walk started over replays it again.
 */
int resume_tell_once(struct resume *r);

/* Close; the journal stays. NULL is fine. */
void resume_free(struct resume *r);

#endif
