/*
 * select: which messages are written, decided by the consumer in API order
 * (newest first), one message at a time: each once per run by its unique
 * (SPEC §5.2, through seen), none that an earlier run exported (--state, the
 * checkpoint of SPEC §5.3), and what the next checkpoint will be: the head
 * of the history as this run saw it and the newest plausible time written.
 * Where a message lies against --since/--until is found by the workers
 * (batch.h): select counts what the window left out, and a message held
 * back by --until moves the head below it (the next run must write it).
 *
 * The checkpoint trusts API order, not timestamps (SPEC §5.3): everything
 * above the earlier run's head is written whatever its time says; from the
 * head on, only --lookback's window is written again. A head deleted on the
 * server is not looked for by time: the walk goes on (nextcp.h decides when
 * it ends) and what it reads is written again, never lost. Each page is
 * looked at whole first (select_look: its oldest and newest times, and the
 * seen slots prefetched). A checkpoint without a head (a version-1 state)
 * keeps the time rule.
 *
 * A select owns its seen set, the earlier checkpoint it was given (a copy)
 * and the next one it works out; records are lent to it for one call.
 */
#ifndef WAEXPORT_SELECT_H
#define WAEXPORT_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "record.h"
#include "select_head.h"
#include "state.h"
#include "warn.h"

/*
 * What an earlier run exported (earlier: there was one): the head in API
 * order (nhead 0: the time rule alone), messages before floor, and at skip_ts
 * those listed. horizon (0: none): a time after it is a sender's wrong clock
 * and never becomes the next checkpoint's time.
 */
struct select_checkpoint {
	int earlier;
	int lookback; /* write the window [floor, ...) below the head again */
	long long floor;
	long long skip_ts;
	char *const *skip;
	size_t nskip;
	const struct state_head *head;
	size_t nhead;
	long long horizon;
	int marks; /* what the next head keeps of later pages: SELECT_MARK_FIRST, _LAST, 0 none */
};

/* What one page held (fetch's paging decisions, SPEC §5.1-§5.3). */
struct select_page {
	size_t looked; /* messages select_look has seen */
	size_t records;
	size_t repeated; /* already written earlier in this run */
	int has_oldest;
	long long oldest; /* the page's oldest timestamp */
	int has_newest;
	long long newest; /* the page's newest timestamp */
	long long last; /* the last valid timestamp looked at, and how the ones before led to it: */
	size_t rises, falls;
	int head_met;     /* the earlier head was reached, here or before */
	size_t from_head; /* messages from the head on (the head included) */
	size_t in_window; /* of those, within --lookback's window */
	size_t tail_out;  /* of those, the last ones in a row outside the window */
};

struct select_stats {
	unsigned long long messages;   /* selected for writing */
	unsigned long long duplicates; /* dropped as already written */
	unsigned long long filtered;   /* outside --since/--until */
};

struct select;

int select_new(struct select **out, struct warn *warn, struct err *e);
void select_free(struct select *s);

/* Skip what a checkpoint covers from now on (NULL: nothing). */
void select_set_checkpoint(struct select *s, const struct select_checkpoint *cp);

/*
 * First pass over a page, every message in API order, before select_message.
 * key is seen_key of the message's unique, 0 when it has none (seen.h).
 */
void select_look(struct select *s, const struct record *r, uint64_t key, struct select_page *page);

/*
 * A page looked at (select_look), before its messages are selected.
 * convert: name is the input file when the page is its first (else NULL).
 * Pages are read as the API sends them, newest first: a page whose valid
 * times all rise (a hand-made dump sorted oldest first) comes out in
 * reverse, and one warning says so. The files are read as one history, newest first; a file
 * whose first page is newer than the one before it (raw-*.jsonl.gz in the
 * shell's order, oldest night first) makes --order oldest not chronological
 * and keeps the older copy of a message: one warning says so.
 */
void select_page_looked(struct select *s, const char *name, const struct select_page *page);

/*
 * Decide one message: 1 to write it, 0 to drop it, -1 on ENOMEM. when
 * (when.h): where its time lies against --since/--until (WHEN_WITHIN for a
 * message without one).
 */
int select_message(struct select *s, const struct record *r, uint64_t key, int when,
		   struct select_page *page, struct err *e);

/* The next checkpoint as selected since the last call, and forget it. */
const struct select_next *select_take_next(struct select *s);

const struct select_stats *select_stats(const struct select *s);

#endif
