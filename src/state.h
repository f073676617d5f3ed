/*
 * state: the --state checkpoint file of incremental runs (SPEC §5.3, §5.6).
 *
 * Per account/contact (from/to) a checkpoint records where the last
 * successful run's export began: the head of the history (the first
 * messages as that run saw them, page 1 first, then one message of each
 * later page, or the earlier checkpoint's where the walk had fewer
 * (select_head.h), at most STATE_HEAD_MAX in all, each with its unique and
 * time: the next run stops at whichever it meets first), and, kept for the
 * time fallback and for today's run, the newest exported time with the
 * uniques exported at that very second. This module owns the file: it locks it for the whole run (flock on
 * PATH.lock, opened without following links: a second run on the same state
 * exits 75, a symlink at PATH.lock is refused), reads it strictly (a file
 * whose checksum does not match, cut or edited, is ERR_DATA naming it and is
 * left as it was, never a silent full re-export) and replaces it atomically
 * in two steps: state_stage writes it beside the real file with the run's
 * other files, state_publish renames it once the outputs are in place.
 *
 * A state path that is itself a symlink is followed on purpose: the real
 * file is read, locked beside, written beside and renamed over, so the link
 * keeps pointing to the current state.
 *
 * The parts (memory, file system, bytes) and the file format (versions 1
 * and 2, escaping, checksum) are described in state_impl.h.
 */
#ifndef WAEXPORT_STATE_H
#define WAEXPORT_STATE_H

#include <stddef.h>

#include "err.h"

/* Uniques kept for the newest second: a broadcast to this many at once is still exact. */
#define STATE_MAX_UNIQUES 100000

/*
 * Messages of the head kept per checkpoint: a page of the API (50) is enough
 * to recognise the head again even when some of it was deleted on the server
 * (select_head.h keeps half of it for one message of each later page).
 */
#define STATE_HEAD_MAX 50

/* One message of the head: its unique (raw server bytes, any byte, len long,
 * NUL-terminated after len for convenience) and its time when it had one. */
struct state_head {
	char *unique;
	size_t len;
	long long ts;
	int ts_ok;
};

struct checkpoint {
	char *from, *to; /* to: NULL for the whole account */
	long long ts;    /* the newest exported time */
	char **uniques;  /* exported at second ts */
	size_t nuniques;
	struct state_head *head; /* API order, page 1 first; nhead 0 for a */
	size_t nhead;            /* checkpoint read from a version-1 file */
};

struct state;

/* Lock and read PATH (missing file: no checkpoints yet). ERR_LOCKED, ERR_DATA, ERR_IO. */
int state_open(struct state **out, const char *path, struct err *e);

/* The checkpoint for from/to, or NULL. Valid until the next state_set*. */
const struct checkpoint *state_get(const struct state *st, const char *from, const char *to);

/*
 * Record a new checkpoint for from/to (time and the uniques at that second),
 * replacing the old one, head included: a checkpoint set this way has no
 * head until state_set_head gives it one. The strings are copied.
 */
int state_set(struct state *st, const char *from, const char *to, long long ts,
	      char *const *uniques, size_t nuniques, struct err *e);

/*
 * Replace the head of from/to's checkpoint (created with ts 0 and no uniques
 * when there is none yet; call state_set first to set those). At most
 * STATE_HEAD_MAX entries are kept, the first ones. The uniques are copied.
 */
int state_set_head(struct state *st, const char *from, const char *to,
		   const struct state_head *head, size_t nhead, struct err *e);

/*
 * Write the file (version 2) to a temporary file beside the real one,
 * fsynced; state_publish renames it over the real file (SPEC §5.3: only
 * once the outputs are in place). Until then the file on disk is the old
 * one; state_close removes a state staged and not published.
 */
int state_stage(struct state *st, struct err *e);
int state_publish(struct state *st, struct err *e);

/*
 * The commit plan (plan.h): the real file the state is renamed over (the
 * plan lies beside it), the staged temporary file or NULL, and state_keep,
 * which leaves that file for the next run instead of removing it. How many
 * files state_open moved into place finishing an earlier run's plan, and
 * whether path is one of that plan's targets (in place now).
 */
const char *state_real(const struct state *st);
const char *state_staged(const struct state *st);
void state_keep(struct state *st);
size_t state_completed(const struct state *st);
/* The staged file whose loss made state_open abandon the plan (plan.h), or NULL. */
const char *state_abandoned(const struct state *st);
int state_completed_file(const struct state *st, const char *path);

/* Unlock and free. NULL is fine. */
void state_close(struct state *st);

#endif
