/*
 * select_head: the head the next checkpoint keeps (select.h, SPEC §5.3), as
 * select decides the messages of a walk in API order: page 1's first
 * messages without a gap, one mark of each later page (SELECT_PAGE_MARKS),
 * and, when the walk is done, room left in the head's second half, the
 * earlier checkpoint's entries carried forward. select calls it for every
 * message it writes; the entries live in struct select_next, which this
 * module fills and frees and select hands on (select_take_next) with its
 * time and the uniques at the newest second, for nextcp to keep.
 */
#ifndef WAEXPORT_SELECT_HEAD_H
#define WAEXPORT_SELECT_HEAD_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "state.h"

/*
 * Besides page 1's first messages, the head keeps one message of each later
 * page, at most SELECT_PAGE_MARKS (pages 2 to 26), where the next run may
 * stop when page 1's are gone (deleted on the server). Any message the walk
 * saw will do (SPEC §5.1: every page below it was walked); which one depends
 * on what the next run does at it:
 *
 * - Without --lookback it stops there, and the topmost is best: a page's
 *   first element, when it is written (SELECT_MARK_FIRST: a page led by a
 *   repeat gives none). Messages that arrive while a
 *   walk waits for a retry push new ones onto its later pages, above page
 *   1's head, and a next run that stopped at page 1's head would write those
 *   again. A flood puts them on page k only when more than 50 (k - 1)
 *   arrive: pages 2 to 26 hold every first of a flood of up to 1,250 (a
 *   greater one is written again the next night).
 * - With --lookback it writes the window again from there, and ends it
 *   where the messages have left the window: a mark must lie below page 1's
 *   head, never among a flood of late deliveries (old-dated, as after an
 *   outage) above it, which would end the window before it began. A page's
 *   last message (SELECT_MARK_LAST, the API_PAGE_SIZEth) is one of those
 *   pushed down from above only when 50 k or more arrived during the walk.
 *   Without these, a head deleted on the server made the next night walk
 *   and write the whole history again.
 *
 * The other half of the head stays page 1's, so that messages deleted at the
 * top cost few duplicates. A walk of fewer pages fills the rest of its half
 * with the earlier checkpoint's entries (select_head.c).
 */
#define SELECT_MARK_FIRST 1
#define SELECT_MARK_LAST 2
#define SELECT_PAGE_MARKS 25

/* The next checkpoint: the newest plausible message written, and the head. */
struct select_next {
	int have;
	long long ts;
	char **uniques; /* raw uniques written at ts */
	size_t cap;
	size_t nuniques;
	/*
	 * The first messages exported, API order (taken: then the pages'
	 * marks and what was carried, at most SELECT_PAGE_MARKS, in order).
	 */
	struct state_head *head;
	size_t nhead;
	int head_done;            /* the head stopped growing (full, or a gap) */
	struct state_head *marks; /* one message of each later page (SELECT_PAGE_MARKS) */
	size_t nmarks;
	/* While the walk goes (select_head.c): the head's seen_keys, and whether --until restarted it. */
	uint64_t keys[STATE_HEAD_MAX];
	size_t nkeys;
	int restarted;
};

/* Free the uniques of h[0..n) (not h). */
void select_head_free(struct state_head *h, size_t n);

/*
 * r (key: its seen_key) into the head while it grows: it stops at its
 * STATE_HEAD_MAX-th message or at the first gap (a message not exported:
 * outside --since/--until). -1 on ENOMEM.
 */
int select_head_note(struct select_next *n, const struct record *r, uint64_t key, int gap);

/* Start the head again below a message --until held back (select.c says when). */
void select_head_restart(struct select_next *n);

/*
 * Whether key is one of the head's messages met again further down (new
 * messages pushed the pages down under the walk); if so, the marks taken so
 * far are dropped (select_head.c says why).
 */
int select_head_pushed_down(struct select_next *n, uint64_t key);

/* r as a page's mark, on a page after the head's. -1 on ENOMEM. */
int select_head_mark(struct select_next *n, const struct record *r);

/*
 * The walk is done: the marks join the head, then what room the second half
 * has left takes entries of the earlier checkpoint's head (earlier[0..n)),
 * unless the head was started again (restarted). Best effort: without
 * memory, fewer are carried.
 */
void select_head_finish(struct select_next *n, const struct state_head *earlier, size_t nearlier);

#endif
