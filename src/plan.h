/*
 * plan: the commit plan of a --state run (SPEC §4.7, §5.3), so that a run
 * stopped while it moves its files into place is finished by the next one
 * (roll-forward) instead of leaving some outputs in place and the state
 * behind (the next night would append the same rows again).
 *
 * Once every file of the run is staged beside its target, plan_write puts
 * STATE.commit beside the state's real file (atomically, fsutil_replace):
 * the pairs (temporary file, target) in publish order, absolute. The run
 * then renames them as before and plan_done removes the plan. A run that
 * fails after plan_write keeps its staged files (sink_keep, state_keep,
 * fsutil_keep). The next run, under the same lock and before it reads the
 * state, calls plan_complete: every temporary file still there is renamed
 * over its target, and the plan goes. If a staged file is gone without
 * being in place (removed by hand or by a cleanup), none is: the state stays
 * behind and the messages are exported again, never lost.
 *
 * The plan owns its pairs (copies) and its path. The format survives any
 * byte of a path but NUL: the line PLAN_MAGIC_2, then for each file its
 * temporary file, its target and the temporary file's identity
 * "DEV:INO:B<birth time>" (how a target the file was renamed over is known;
 * "DEV:INO" where the filesystem keeps no birth time, as format 1 plans
 * had it), each followed by a NUL. A plan whose identities are neither is
 * abandoned like a lost file: its rows are exported again, never lost.
 */
#ifndef WAEXPORT_PLAN_H
#define WAEXPORT_PLAN_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

#define PLAN_MAGIC "waexport commit plan 1\n"   /* pairs: still read */
#define PLAN_MAGIC_2 "waexport commit plan 2\n" /* each pair and its staged file's identity */

struct plan;

/* An empty plan for the state whose real file is state_real (STATE.commit beside it). */
int plan_new(struct plan **out, const char *state_real, struct err *e);

/*
 * One more file: tmp is renamed over target (relative paths are taken from
 * the working directory now). Running out of memory here is reported by
 * plan_write.
 */
void plan_add(struct plan *p, const char *tmp, const char *target);

struct sink;
/*
 * pipeline_each_file callbacks (ctx: the plan, NULL for keep): a staged
 * output's pair; after a failed rename, its temporary file kept (sink_keep).
 */
int plan_add_file(void *plan, struct sink *file, const char *chat);
int plan_keep_file(void *unused, struct sink *file, const char *chat);

/* The plan on disk (ERR_IO), before the first rename. */
int plan_write(struct plan *p, struct err *e);

/* Every rename done: remove the plan (a failure to is only a leftover the next run clears). */
void plan_done(struct plan *p);

/* Whether plan_write succeeded (and plan_done has not run): a failure now keeps the files. */
int plan_written(const struct plan *p);

/* Free. NULL is fine. */
void plan_free(struct plan *p);

/* What plan_complete finished: the files it renamed, and every target of the plan (in place now). */
struct plan_finished {
	/*
	 * A staged file that is gone and not in place (not renamed over its
	 * target): nothing was moved, and the state stays where it was, so the
	 * run's messages are exported again. NULL: none.
	 */
	char *lost;
	size_t moved;
	size_t ntargets;
	struct plan_file {
		dev_t dev;
		ino_t ino;
	} * targets; /* by identity: a target's name may reach it by another path */
};

/*
 * The next run, under the state's lock, before it reads the state: finish
 * the plan beside state_real, if there is one, into *done (zeroed when there
 * is none; plan_finished_free). A plan that is not one (a pair in two
 * directories, a name that is not a temporary file of its target) is
 * ERR_DATA naming it, and nothing is renamed; a failed rename is ERR_IO, and
 * the plan stays.
 */
int plan_complete(const char *state_real, struct plan_finished *done, struct err *e);

/* Whether path is now one of the targets a finished plan put in place. */
int plan_finished_has(const struct plan_finished *done, const char *path);

void plan_finished_free(struct plan_finished *done);

#endif
