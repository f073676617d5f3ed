#include "select_head.h"

#include <stdlib.h>
#include <string.h>

void select_head_free(struct state_head *h, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(h[i].unique);
}

/* r's unique and time into h. */
static int head_copy(struct state_head *h, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];
	char *p = malloc(u->len + 1);

	if (!p)
		return -1;
	memcpy(p, u->p, u->len);
	p[u->len] = '\0';
	*h = (struct state_head){ .unique = p, .len = u->len, .ts = r->ts, .ts_ok = r->ts_ok };
	return 0;
}

int select_head_note(struct select_next *n, const struct record *r, uint64_t key, int gap)
{
	if (n->head_done || !record_has_unique(r))
		return 0;
	if (gap) {
		n->head_done = n->nhead > 0;
		return 0;
	}
	if (!n->head && !(n->head = calloc(STATE_HEAD_MAX, sizeof(*n->head))))
		return -1;
	if (head_copy(&n->head[n->nhead], r))
		return -1;
	n->keys[n->nkeys++] = key; /* in step with n->nhead */
	n->head_done = ++n->nhead == STATE_HEAD_MAX;
	return 0;
}

_Static_assert(SELECT_PAGE_MARKS < STATE_HEAD_MAX, "the head keeps some of its first messages");

/*
 * A message held back by --until (newer than it): the next run, without
 * --until, must find it above its head, so the head begins below it. A head
 * begun above it (late deliveries on top, old-dated) would have the next
 * run take it for exported: lost. A message dated past the horizon (a
 * sender's clock days or years ahead) is held back by every --until while
 * it stays ahead: the head moved below it each night would have each night
 * write again all above it. So one is followed only while the head is not
 * done (within the walk's first STATE_HEAD_MAX messages written); one deeper
 * down stays below the head (README: the one exception).
 */
void select_head_restart(struct select_next *n)
{
	select_head_free(n->head, n->nhead);
	select_head_free(n->marks, n->nmarks);
	n->nhead = n->nmarks = n->nkeys = 0;
	n->head_done = 0;
	n->restarted = 1;
}

/*
 * With --lookback a page's mark must lie below page 1's head (select_head.h): one of
 * the head's messages met again (1) says a flood pushed the pages down under
 * the walk, so the marks taken before lie among the newcomers (late deliveries,
 * old-dated) and would end the next window's re-export there. They go.
 */
int select_head_pushed_down(struct select_next *n, uint64_t key)
{
	for (size_t i = 0; key && n->head_done && i < n->nkeys; i++)
		if (n->keys[i] == key) {
			select_head_free(n->marks, n->nmarks);
			n->nmarks = 0;
			return 1;
		}
	return 0;
}

int select_head_mark(struct select_next *n, const struct record *r)
{
	if (!n->head_done || n->nmarks == SELECT_PAGE_MARKS || !record_has_unique(r))
		return 0;
	if (!n->marks && !(n->marks = calloc(SELECT_PAGE_MARKS, sizeof(*n->marks))))
		return -1;
	if (head_copy(&n->marks[n->nmarks], r))
		return -1;
	n->nmarks++;
	return 0;
}

/*
 * The earlier checkpoint's entries that lie below this run's head: they were
 * there before the walk began, and the run that kept them had exported what
 * lies below them (by the same rule, back to the first). A night that walks
 * one page keeps no mark of its own; without these, fifty of the newest
 * deleted on the server would leave the next night nothing to meet (it would
 * walk and write the whole history again). The earlier second half first:
 * its marks lie deepest. Not a duplicate of this run's own entries.
 */
static int carry_one(struct select_next *n, const struct state_head *h)
{
	char *p;

	for (size_t i = 0; i < n->nhead + n->nmarks; i++) {
		const struct state_head *o = i < n->nhead ? &n->head[i] : &n->marks[i - n->nhead];

		if (o->len == h->len && !memcmp(o->unique, h->unique, h->len))
			return 0;
	}
	if (!(p = malloc(h->len + 1)))
		return -1;
	memcpy(p, h->unique, h->len + 1);
	n->marks[n->nmarks] = *h;
	n->marks[n->nmarks++].unique = p;
	return 0;
}

static void carry(struct select_next *n, const struct state_head *earlier, size_t nearlier)
{
	size_t half = STATE_HEAD_MAX - SELECT_PAGE_MARKS, from = nearlier > half ? half : 0;

	if (!nearlier || !n->nhead || n->restarted ||
	    (!n->marks && !(n->marks = calloc(SELECT_PAGE_MARKS, sizeof(*n->marks)))))
		return;
	for (size_t k = 0; k < nearlier && n->nmarks < SELECT_PAGE_MARKS; k++)
		if (carry_one(n, &earlier[(from + k) % nearlier]))
			return;
}

/*
 * The head the state keeps: page 1's first messages, as many as leave room
 * (at least STATE_HEAD_MAX - SELECT_PAGE_MARKS), then the marks, then what
 * was carried.
 */
void select_head_finish(struct select_next *n, const struct state_head *earlier, size_t nearlier)
{
	size_t room;

	carry(n, earlier, nearlier);
	if (!n->nmarks)
		return;
	room = STATE_HEAD_MAX - n->nmarks;
	if (n->nhead > room) {
		select_head_free(n->head + room, n->nhead - room);
		n->nhead = room;
	}
	memcpy(n->head + n->nhead, n->marks, n->nmarks * sizeof(*n->marks));
	n->nhead += n->nmarks;
	free(n->marks);
	n->marks = NULL;
	n->nmarks = 0;
}
