/*
 * nextcp: fetch's side of the --state checkpoint (SPEC §5.3), both ways.
 * Before a target's walk it turns the earlier run's checkpoint into what
 * select skips (struct select_checkpoint) and what ends the paging
 * (nextcp_verdict); after the walk it keeps the target's next checkpoint
 * (the head of the history as this run saw it, and the newest plausible
 * time written) until the outputs are committed, then hands it to state.
 *
 * API order is the truth, timestamps a sender's claim: a message dated in
 * the future, or before the checkpoint, neither ends the paging nor moves
 * the checkpoint's time backwards or to where the next night would skip.
 *
 * It owns the kept checkpoints (copies); the state is the caller's.
 */
#ifndef WAEXPORT_NEXTCP_H
#define WAEXPORT_NEXTCP_H

#include <stddef.h>

#include "err.h"
#include "select.h"
#include "state.h"

/* A timestamp this far past the run's start is a wrong clock, not the newest message. */
#define NEXTCP_FUTURE_SLACK 86400

/*
 * Pages in a row wholly at or before the checkpoint, the head not met, that
 * say the head is gone: only once the last run is old enough for the API's
 * one-year limit to have deleted it. Until then nothing but a deletion can
 * take the head away, while an outage's late deliveries can fill any number
 * of old-dated pages above it: the walk goes on to the head.
 */
#define NEXTCP_GONE_PAGES 4

/*
 * With --lookback, this many messages in a row behind the window (from the
 * head on, across pages: four pages of them) say the API order has passed
 * the window's edge. Fewer may be misdated: late deliveries after an outage
 * sit among the window's messages with old dates, and must not end the
 * re-export above the rest of the window.
 */
#define NEXTCP_WINDOW_LEFT 200

/* What ends one target's walk. */
struct nextcp_walk {
	int has_floor; /* an earlier run's checkpoint */
	int has_head;  /* ... with a head (not a version-1 state) */
	int lookback_on;
	int head_may_expire; /* the last run is old enough for the API to have deleted the head */
	long long floor;     /* its time minus --lookback */
	unsigned old_pages;  /* pages in a row wholly at or before floor, the head not met */
	size_t out_run;      /* messages in a row behind the window, from the head on */
};

/* One target's next checkpoint. */
struct nextcp_entry {
	const char *to;
	int set_time; /* ts is newer than the earlier checkpoint's */
	long long ts;
	char **uniques;
	size_t n;
	struct state_head *head;
	size_t nhead;
};

struct nextcp {
	struct nextcp_entry *v;
	size_t n;
};

/*
 * cp: the earlier checkpoint or NULL; now: the run's start; head_may_expire:
 * the last run is old enough for the API to have deleted its head. Fills w and pc.
 */
void nextcp_begin(struct nextcp_walk *w, const struct checkpoint *cp, long long lookback,
		  long long now, int head_may_expire, struct select_checkpoint *pc);

/* WALK_END when the page reached what the earlier run exported, else WALK_MORE. */
int nextcp_verdict(struct nextcp_walk *w, const struct select_page *res);

/* Keep what the walk selected (n) as to's next checkpoint; old: the earlier one. */
int nextcp_keep(struct nextcp *l, const char *to, const struct checkpoint *old,
		const struct select_next *n, struct err *e);

/* Record the kept checkpoints in st (the caller commits it). */
int nextcp_apply(const struct nextcp *l, struct state *st, const char *from, struct err *e);

void nextcp_clear(struct nextcp *l);

#endif
