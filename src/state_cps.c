/* The checkpoints of a state in memory (state_impl.h): growing, finding, freeing. */
#include "state_impl.h"

#include <stdlib.h>
#include <string.h>

void state_cp_free(struct checkpoint *c)
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
		state_cp_free(&l->cp[i]);
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
