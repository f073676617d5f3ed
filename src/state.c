#include "state.h"
#include "buf.h"
#include "state_impl.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct state {
	char *path; /* as the user named it, for messages */
	char *real; /* the file itself, after following links */
	int lock_fd;
	struct state_cps cps;
};

/* ------------------------------------------------------------------ checkpoints in memory */

static void checkpoint_free(struct checkpoint *c)
{
	free(c->from);
	free(c->to);
	for (size_t i = 0; i < c->nuniques; i++)
		free(c->uniques[i]);
	free(c->uniques);
	for (size_t i = 0; i < c->nhead; i++)
		free(c->head[i].unique);
	free(c->head);
	memset(c, 0, sizeof(*c));
}

void state_cps_free(struct state_cps *l)
{
	for (size_t i = 0; i < l->n; i++)
		checkpoint_free(&l->cp[i]);
	free(l->cp);
	memset(l, 0, sizeof(*l));
}

int state_cps_add(struct state_cps *l, struct checkpoint **out)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 8;
		struct checkpoint *c = realloc(l->cp, cap * sizeof(*c));

		if (!c)
			return -1;
		l->cp = c;
		l->cap = cap;
	}
	*out = &l->cp[l->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

struct checkpoint *state_cps_find(const struct state_cps *l, const char *from, const char *to)
{
	for (size_t i = 0; i < l->n; i++) {
		const char *t = l->cp[i].to;

		if (!strcmp(l->cp[i].from, from) && (t == to || (t && to && !strcmp(t, to))))
			return &l->cp[i];
	}
	return NULL;
}

char *state_copy_bytes(const char *s, size_t len)
{
	char *p = malloc(len + 1);

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

int state_cp_add_unique(struct checkpoint *c, const char *u, size_t len)
{
	/* Grow by doubling: nuniques is a power of two exactly when full. */
	if (!(c->nuniques & (c->nuniques - 1))) {
		char **p = realloc(c->uniques, (c->nuniques ? 2 * c->nuniques : 1) * sizeof(*p));

		if (!p)
			return -1;
		c->uniques = p;
	}
	if (!(c->uniques[c->nuniques] = state_copy_bytes(u, len)))
		return -1;
	c->nuniques++;
	return 0;
}

/* Room for STATE_HEAD_MAX is made at the first message: the head is small and bounded. */
int state_cp_add_head(struct checkpoint *c, const char *u, size_t len, long long ts, int ts_ok)
{
	struct state_head *h;

	if (!c->head && !(c->head = calloc(STATE_HEAD_MAX, sizeof(*c->head))))
		return -1;
	h = &c->head[c->nhead];
	if (!(h->unique = state_copy_bytes(u, len)))
		return -1;
	h->len = len;
	h->ts = ts;
	h->ts_ok = ts_ok;
	c->nhead++;
	return 0;
}

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
		checkpoint_free(c);
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
	    state_file_read(path, st->real, &data, &missing, e))
		goto out;
	if (!missing && state_format_parse(data.data, data.len, path, &st->cps, e))
		goto out;
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
			checkpoint_free(&fresh);
			return err_nomem(e);
		}
	/* The old head goes too: it described where an older export began. */
	fresh.from = c->from;
	fresh.to = c->to;
	c->from = c->to = NULL;
	checkpoint_free(c);
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
			checkpoint_free(&fresh);
			return err_nomem(e);
		}
	for (size_t i = 0; i < c->nhead; i++)
		free(c->head[i].unique);
	free(c->head);
	c->head = fresh.head;
	c->nhead = fresh.nhead;
	return 0;
}

int state_commit(struct state *st, struct err *e)
{
	struct buf b = BUF_INIT;
	int rc = state_format_write(&b, &st->cps) ? err_nomem(e)
						  : state_file_replace(st->path, st->real, &b, e);

	buf_free(&b);
	return rc;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	state_cps_free(&st->cps);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	free(st->real);
	free(st->path);
	free(st);
}
