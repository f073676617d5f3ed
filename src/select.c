#include "select.h"
#include "seen.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>

struct select {
	struct seen *seen;
	struct warn *warn;
	struct select_checkpoint cp;
	int has_cp;
	struct select_newest newest, taken;
	struct select_stats stats;
};

int select_new(struct select **out, struct warn *warn, struct err *e)
{
	struct select *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s || !(s->seen = seen_new())) {
		free(s);
		return err_nomem(e);
	}
	s->warn = warn;
	*out = s;
	return 0;
}

static void newest_clear(struct select_newest *n)
{
	for (size_t i = 0; i < n->nuniques; i++)
		free(n->uniques[i]);
	free(n->uniques);
	memset(n, 0, sizeof(*n));
}

void select_free(struct select *s)
{
	if (!s)
		return;
	newest_clear(&s->newest);
	newest_clear(&s->taken);
	seen_free(s->seen);
	free(s);
}

void select_set_checkpoint(struct select *s, const struct select_checkpoint *cp)
{
	s->has_cp = cp != NULL;
	if (cp)
		s->cp = *cp;
}

static int covered(const struct select *s, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];

	if (!s->has_cp || !r->ts_ok)
		return 0;
	if (r->ts < s->cp.floor)
		return 1;
	if (r->ts != s->cp.skip_ts || u->kind == FIELD_ABSENT)
		return 0;
	for (size_t i = 0; i < s->cp.nskip; i++)
		if (strlen(s->cp.skip[i]) == u->len && !memcmp(s->cp.skip[i], u->p, u->len))
			return 1;
	return 0;
}

static int newest_note(struct select_newest *n, const struct record *r)
{
	const struct field *u = &r->f[REC_UNIQUE];
	char *copy;

	if (!r->ts_ok || u->kind != FIELD_STRING || (n->have && r->ts < n->ts))
		return 0;
	if (n->have && r->ts > n->ts)
		newest_clear(n);
	n->have = 1;
	n->ts = r->ts;
	for (size_t i = 0; i < u->len; i++)
		if ((unsigned char)u->p[i] < 0x20)
			return 0;
	if (n->nuniques == STATE_MAX_UNIQUES)
		return 0; /* beyond this, the rest of that second is exported again: at least once */
	if (n->nuniques == n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 16;
		char **grown = realloc(n->uniques, cap * sizeof(*grown));

		if (!grown)
			return -1;
		n->uniques = grown;
		n->cap = cap;
	}
	copy = malloc(u->len + 1);
	if (!copy)
		return -1;
	memcpy(copy, u->p, u->len);
	copy[u->len] = '\0';
	n->uniques[n->nuniques++] = copy;
	return 0;
}

int select_message(struct select *s, const struct record *r, int in_range,
		   struct select_page *page, struct err *e)
{
	const struct field *u = &r->f[REC_UNIQUE];
	int dup;

	page->records++;
	if (r->ts_ok) {
		if (!page->has_oldest || r->ts < page->oldest)
			page->oldest = r->ts;
		page->has_oldest = 1;
	}
	if (!in_range) {
		s->stats.filtered++;
		return 0;
	}
	if (covered(s, r)) {
		s->stats.checkpointed++;
		return 0;
	}
	if (u->kind == FIELD_ABSENT) {
		warn_note(s->warn, "byte %zu: message without 'unique'; written, but it cannot be "
			  "de-duplicated", r->offset);
	} else if ((dup = seen_check(s->seen, u->p, u->len))) {
		if (dup < 0)
			return err_nomem(e);
		s->stats.duplicates++;
		page->repeated++;
		return 0;
	}
	page->fresh++;
	s->stats.messages++;
	if (newest_note(&s->newest, r))
		return err_nomem(e);
	return 1;
}

const struct select_newest *select_take_newest(struct select *s)
{
	newest_clear(&s->taken);
	s->taken = s->newest;
	memset(&s->newest, 0, sizeof(s->newest));
	return &s->taken;
}

const struct select_stats *select_stats(const struct select *s)
{
	return &s->stats;
}
