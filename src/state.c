/*
 * The state's interface (state.h): a run's checkpoints, read at open and
 * written at commit. Calls go one way: this file → state_file.c (the file
 * system) and state_format.c (the bytes) → state_cps.c (the checkpoints in
 * memory).
 */
#include "state.h"
#include "buf.h"
#include "fsutil.h"
#include "plan.h"
#include "state_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct state {
	char *path; /* as the user named it, for messages */
	char *real; /* the file itself, after following links */
	int lock_fd;
	struct state_cps cps;
	struct fsutil_staged staged;
	struct plan_finished finished; /* an earlier run's commit plan, finished by state_open */
};

/* The checkpoint of from/to, made (empty) when there is none. NULL on no memory. */
static struct checkpoint *checkpoint_of(struct state *st, const char *from, const char *to)
{
	struct checkpoint *c = state_cps_find(&st->cps, from, to);

	if (c)
		return c;
	if (state_cps_add(&st->cps, &c))
		return NULL;
	c->from = strdup(from);
	c->to = to ? strdup(to) : NULL;
	if (!c->from || (to && !c->to)) {
		state_cp_free(c);
		st->cps.n--;
		return NULL;
	}
	return c;
}

/* ------------------------------------------------------------------ the interface */

int state_open(struct state **out, const char *path, struct err *e)
{
	struct state *st = calloc(1, sizeof(*st));
	struct buf data = BUF_INIT;
	int missing = 0, rc = -1;

	if (!st || !(st->path = strdup(path))) {
		free(st);
		return err_nomem(e);
	}
	st->lock_fd = -1;
	/* Lock before reading: what is read is what no other run can change under us. */
	if (state_file_resolve(path, &st->real, e) ||
	    state_file_lock(path, st->real, &st->lock_fd, e) ||
	    plan_complete(st->real, &st->finished, e) || /* the state may be among its files */
	    state_file_read(path, st->real, &data, &missing, e))
		goto out;
	if (!missing && state_format_parse(data.data, data.len, path, &st->cps, e))
		goto out;
	/* Locked, the plan finished: a temporary state file beside it is one a killed run left. */
	fsutil_remove_stale_temps(st->real, NULL, NULL);
	*out = st;
	st = NULL;
	rc = 0;
out:
	buf_free(&data);
	state_close(st);
	return rc;
}

const struct checkpoint *state_get(const struct state *st, const char *from, const char *to)
{
	return state_cps_find(&st->cps, from, to);
}

int state_set(struct state *st, const char *from, const char *to, long long ts,
	      char *const *uniques, size_t nuniques, struct err *e)
{
	struct checkpoint *c = checkpoint_of(st, from, to);
	struct checkpoint fresh = { 0 };

	if (!c)
		return err_nomem(e);
	fresh.ts = ts;
	for (size_t i = 0; i < nuniques && i < STATE_MAX_UNIQUES; i++)
		if (state_cp_add_unique(&fresh, uniques[i], strlen(uniques[i]))) {
			state_cp_free(&fresh);
			return err_nomem(e);
		}
	/* The old head goes too: it described where an older export began. */
	fresh.from = c->from;
	fresh.to = c->to;
	c->from = c->to = NULL;
	state_cp_free(c);
	*c = fresh;
	return 0;
}

int state_set_head(struct state *st, const char *from, const char *to,
		   const struct state_head *head, size_t nhead, struct err *e)
{
	struct checkpoint *c = checkpoint_of(st, from, to);
	struct checkpoint fresh = { 0 };

	if (!c)
		return err_nomem(e);
	/* Built aside first: on no memory the old head stays whole. */
	for (size_t i = 0; i < nhead && i < STATE_HEAD_MAX; i++)
		if (state_cp_add_head(&fresh, head[i].unique, head[i].len, head[i].ts,
				      head[i].ts_ok)) {
			state_cp_free(&fresh);
			return err_nomem(e);
		}
	for (size_t i = 0; i < c->nhead; i++)
		free(c->head[i].unique);
	free(c->head);
	c->head = fresh.head;
	c->nhead = fresh.nhead;
	return 0;
}

static int replace_error(const struct state *st, const char *step, struct err *e)
{
	return err_set(e, err_file_kind(errno), "--state %s: cannot replace %s (%s failed): %s",
		       st->path, st->real, step, strerror(errno));
}

int state_stage(struct state *st, struct err *e)
{
	struct buf b = BUF_INIT;
	const char *step;
	int rc = 0;

	fsutil_unstage(&st->staged);
	if (state_format_write(&b, &st->cps))
		rc = err_nomem(e);
	/* Renamed over the real file, so a link at the state path still points to it. */
	else if (fsutil_stage(st->real, b.data, b.len, 0600, &st->staged, &step))
		rc = replace_error(st, step, e);
	buf_free(&b);
	return rc;
}

int state_publish(struct state *st, struct err *e)
{
	const char *step;

	return fsutil_publish(&st->staged, &step) ? replace_error(st, step, e) : 0;
}

const char *state_real(const struct state *st)
{
	return st->real;
}

const char *state_staged(const struct state *st)
{
	return st->staged.tmp;
}

void state_keep(struct state *st)
{
	fsutil_keep(&st->staged);
}

size_t state_completed(const struct state *st)
{
	return st->finished.moved;
}

const char *state_abandoned(const struct state *st)
{
	return st->finished.lost;
}

int state_completed_file(const struct state *st, const char *path)
{
	return plan_finished_has(&st->finished, path);
}

void state_close(struct state *st)
{
	if (!st)
		return;
	state_cps_free(&st->cps);
	plan_finished_free(&st->finished);
	fsutil_unstage(&st->staged);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	free(st->real);
	free(st->path);
	free(st);
}
