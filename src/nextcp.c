#include "nextcp.h"
#include "walk.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/*
 * The checkpoint's time minus --lookback (a duration, never negative),
 * saturated: a checkpoint near LLONG_MIN (a sender's wrong clock) must not
 * wrap the floor to the far future and leave out the window it should write.
 */
static long long window_floor(long long ts, long long lookback)
{
	return lookback > 0 && ts < LLONG_MIN + lookback ? LLONG_MIN : ts - lookback;
}

void nextcp_begin(struct nextcp_walk *w, const struct checkpoint *cp, long long lookback,
		  long long now, int head_may_expire, struct select_checkpoint *pc)
{
	memset(w, 0, sizeof(*w));
	memset(pc, 0, sizeof(*pc));
	pc->horizon = now + NEXTCP_FUTURE_SLACK;
	w->lookback_on = lookback > 0;
	pc->marks = w->lookback_on ? SELECT_MARK_LAST : SELECT_MARK_FIRST;
	w->head_may_expire = head_may_expire;
	if (!cp)
		return;
	w->has_floor = 1;
	w->has_head = cp->nhead > 0;
	pc->earlier = 1;
	pc->lookback = w->lookback_on;
	pc->floor = w->floor = window_floor(cp->ts, lookback);
	/* Without --lookback, skip exactly what the last run wrote at its newest second. */
	pc->skip_ts = cp->ts;
	pc->skip = cp->uniques;
	pc->nskip = lookback ? 0 : cp->nuniques;
	pc->head = cp->head;
	pc->nhead = cp->nhead;
}

/*
 * With a head, paging ends at the head; with --lookback, at the page where
 * the messages from the head on have left the window: NEXTCP_WINDOW_LEFT of
 * them in a row outside it.
 * Everything behind was exported by an earlier run (new messages arrive above
 * the head in API order), and one misdated message (a timestamp of 0, a late
 * delivery) does not cut the window's re-export short. While the head is not
 * met, the walk goes on (late deliveries and timestamps of 0 above it are
 * written, however many); only when the API may have deleted the head (the
 * last run is almost a year old) do NEXTCP_GONE_PAGES pages in a row wholly
 * at or before the checkpoint's time end it.
 */
int nextcp_verdict(struct nextcp_walk *w, const struct select_page *res)
{
	int below_floor = res->has_oldest && res->oldest < w->floor;

	if (!w->has_floor)
		return WALK_MORE;
	if (!w->has_head) /* a version-1 checkpoint: its first night keeps the time rule */
		return below_floor ? WALK_END : WALK_MORE;
	if (res->head_met) {
		if (!w->lookback_on)
			return WALK_END;
		w->out_run = res->in_window ? res->tail_out : w->out_run + res->from_head;
		return w->out_run >= NEXTCP_WINDOW_LEFT ? WALK_END : WALK_MORE;
	}
	if (!w->head_may_expire || !res->has_newest || res->newest > w->floor) {
		w->old_pages = 0;
		return WALK_MORE;
	}
	return ++w->old_pages >= NEXTCP_GONE_PAGES ? WALK_END : WALK_MORE;
}

static int copy_head(struct nextcp_entry *k, const struct select_next *n)
{
	if (n->nhead && !(k->head = calloc(n->nhead, sizeof(*k->head))))
		return -1;
	for (size_t i = 0; i < n->nhead; i++, k->nhead++) {
		k->head[i] = n->head[i];
		if (!(k->head[i].unique = malloc(n->head[i].len + 1)))
			return -1;
		memcpy(k->head[i].unique, n->head[i].unique, n->head[i].len + 1);
	}
	return 0;
}

int nextcp_keep(struct nextcp *l, const char *to, const struct checkpoint *old,
		const struct select_next *n, struct err *e)
{
	struct nextcp_entry *k;

	if (!(n->have && n->nuniques) && !n->nhead)
		return 0;
	k = realloc(l->v, (l->n + 1) * sizeof(*k));
	if (!k)
		return err_nomem(e);
	l->v = k;
	k = &l->v[l->n++];
	*k = (struct nextcp_entry){ .to = to, .ts = old ? old->ts : 0 };
	if (copy_head(k, n))
		return err_nomem(e);
	if (!n->have || !n->nuniques || (old && old->ts > n->ts))
		return 0; /* late-dated news: the time stays where it was */
	k->set_time = 1;
	k->ts = n->ts;
	if (!(k->uniques = calloc(n->nuniques, sizeof(*k->uniques))))
		return err_nomem(e);
	for (size_t i = 0; i < n->nuniques; i++, k->n++)
		if (!(k->uniques[i] = strdup(n->uniques[i])))
			return err_nomem(e);
	return 0;
}

int nextcp_apply(const struct nextcp *l, struct state *st, const char *from, struct err *e)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct nextcp_entry *k = &l->v[i];

		if (k->set_time && state_set(st, from, k->to, k->ts, k->uniques, k->n, e))
			return -1;
		/* After state_set, which drops the old head. */
		if (k->nhead && state_set_head(st, from, k->to, k->head, k->nhead, e))
			return -1;
	}
	return 0;
}

void nextcp_clear(struct nextcp *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct nextcp_entry *k = &l->v[i];

		for (size_t j = 0; j < k->n; j++)
			free(k->uniques[j]);
		free(k->uniques);
		for (size_t j = 0; j < k->nhead; j++)
			free(k->head[j].unique);
		free(k->head);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}
