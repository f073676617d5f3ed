/*
 * warn: the run's warnings. Every warning is counted; the first few are
 * shown on stderr with where they happened (the pipeline sets the place per
 * page), the rest only counted for the summary and metrics (SPEC §6).
 * Threads never share one: a worker notes into a collector of its own.
 */
#ifndef WAEXPORT_WARN_H
#define WAEXPORT_WARN_H

#include <stdio.h>

#define WARN_SHOWN_MAX 5

#define WARN_TEXT_MAX 320

struct warn {
	unsigned long long count;
	unsigned shown;
	int quiet;            /* count only */
	char where[256];      /* "file.json, page 3" */
	FILE *to;             /* stderr, or a test's stream */
	int collect;          /* a collector: notes are kept for warn_merge, not shown */
	unsigned nkept;
	char kept[WARN_SHOWN_MAX][WARN_TEXT_MAX];
};

void warn_init(struct warn *w, int quiet);
void warn_where(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn_note(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A collector: a worker's notes, counted and the first few kept, so that
 * the consumer can add them to the run's in input order (warn_merge, which
 * empties the collector).
 */
void warn_collect(struct warn *w);
void warn_merge(struct warn *into, struct warn *from);

#endif
