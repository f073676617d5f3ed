/*
 * state: the --state checkpoint file of incremental runs (SPEC §5.3).
 *
 * Per account/contact it records the newest message exported: its time and
 * the uniques exported at that very second (so a message arriving later in
 * the same second is not lost, and none is written twice without
 * --lookback). The file is locked for the whole run (flock on PATH.lock:
 * a second run on the same state exits 75), read strictly (a corrupt file
 * is an error naming it, never a silent full re-export) and replaced
 * atomically by state_commit, which main calls only after the outputs were
 * committed.
 *
 * Format, one line per checkpoint, tab-separated:
 *     waexport-state 1
 *     FROM  TO|*  EPOCH  UNIQUE [UNIQUE...]
 */
#ifndef WAEXPORT_STATE_H
#define WAEXPORT_STATE_H

#include <stddef.h>

#include "err.h"

/* Uniques kept for the newest second: a broadcast to this many at once is still exact. */
#define STATE_MAX_UNIQUES 100000

struct checkpoint {
	char *from, *to;            /* to: NULL for the whole account */
	long long ts;
	char **uniques;
	size_t nuniques;
};

struct state;

/* Lock and read PATH (missing file: no checkpoints yet). ERR_LOCKED, ERR_DATA, ERR_IO. */
int state_open(struct state **out, const char *path, struct err *e);

/* The checkpoint for from/to, or NULL. */
const struct checkpoint *state_get(const struct state *st, const char *from, const char *to);

/* Record a new checkpoint (replacing the old one for from/to). */
int state_set(struct state *st, const char *from, const char *to, long long ts,
	      char *const *uniques, size_t nuniques, struct err *e);

/* Write the file atomically (temp, fsync, rename). */
int state_commit(struct state *st, struct err *e);

/* Unlock and free. NULL is fine. */
void state_close(struct state *st);

#endif
