#include "suggest.h"
#include "options.h"

#include <stdio.h>
#include <string.h>

#define SUGGEST_LONGEST 40

/* Optimal string alignment distance (Damerau-Levenshtein without reusing a
 * transposed pair): one typo, one edit, so `fecth` is 1 from `fetch`. */
static size_t distance(const char *a, size_t n, const char *b, size_t m)
{
	size_t d[SUGGEST_LONGEST + 1][SUGGEST_LONGEST + 1];

	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++) {
		for (size_t j = 1; j <= m; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			size_t best = d[i - 1][j - 1] + cost;

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[n][m];
}

struct candidates {
	const char *typed;
	size_t len, limit, best;
	const char **names;
	size_t n, max;
};

static void keep(struct candidates *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (!strcmp(c->names[i], name))
			return;
	if (c->n < c->max)
		c->names[c->n++] = name;
}

/* Score `word` (a name, or one word of a hint) as a way of writing `name`. */
static void consider(struct candidates *c, const char *word, size_t wlen, const char *name)
{
	size_t d;

	if (wlen > SUGGEST_LONGEST)
		return;
	d = distance(c->typed, c->len, word, wlen);
	if (d > c->limit || d > c->best)
		return;
	if (d < c->best) {
		c->best = d;
		c->n = 0;
	}
	keep(c, name);
}

static void consider_hints(struct candidates *c, const char *hint, const char *name)
{
	while (hint && *hint) {
		size_t n = strcspn(hint, " ");

		consider(c, hint, n, name);
		hint += n + (hint[n] == ' ');
	}
}

/* Names that `typed` begins (`--form` → `--format`), after the nearest ones. */
static void add_prefixed(struct candidates *c, const char *name)
{
	if (c->len >= 2 && strlen(name) > c->len && !strncmp(name, c->typed, c->len))
		keep(c, name);
}

static void candidates_init(struct candidates *c, const char *typed, size_t len, const char **names,
			    size_t max)
{
	c->typed = typed;
	c->len = len;
	c->limit = len / 3 > 2 ? 2 : len / 3 < 1 ? 1 : len / 3;
	c->best = (size_t)-1;
	c->names = names;
	c->n = 0;
	c->max = max;
}

size_t suggest_command(const char *typed, size_t len, const char **names, size_t max)
{
	struct candidates c;

	if (len > SUGGEST_LONGEST)
		return 0;
	candidates_init(&c, typed, len, names, max);
	for (size_t i = 0; i < options_ncommands; i++)
		consider(&c, options_commands[i].name, strlen(options_commands[i].name),
			 options_commands[i].name);
	for (size_t i = 0; i < options_ncommands; i++)
		add_prefixed(&c, options_commands[i].name);
	return c.n;
}

static int offered(const struct options_row *r, unsigned commands)
{
	return !(r->flags & OPTIONS_HIDDEN) && (r->commands & commands);
}

size_t suggest_option(const char *typed, size_t len, unsigned commands, const char **names,
		      size_t max)
{
	struct candidates c;

	if (len > SUGGEST_LONGEST)
		return 0;
	candidates_init(&c, typed, len, names, max);
	for (size_t i = 0; i < OPT_COUNT; i++) {
		if (!offered(&options_table[i], commands))
			continue;
		consider(&c, options_table[i].name, strlen(options_table[i].name),
			 options_table[i].name);
		consider_hints(&c, options_table[i].hint, options_table[i].name);
	}
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (offered(&options_table[i], commands))
			add_prefixed(&c, options_table[i].name);
	return c.n;
}

void suggest_phrase(char *out, size_t size, const char **names, size_t n, const char *dashes)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && used < size; i++) {
		int w = snprintf(out + used, size - used, "%s%s%s",
				 i == 0       ? "; did you mean "
				 : i + 1 == n ? " or "
					      : ", ",
				 dashes, names[i]);

		used += w > 0 ? (size_t)w : 0;
	}
	if (n && used < size)
		snprintf(out + used, size - used, "?");
}
