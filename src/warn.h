/*
 * warn: the run's warnings. Every warning is counted; the first few are
 * shown on stderr with where they happened (the pipeline sets the place per
 * page), the rest only counted for the summary and metrics (SPEC §6).
 */
#ifndef WAEXPORT_WARN_H
#define WAEXPORT_WARN_H

#include <stdio.h>

#define WARN_SHOWN_MAX 5

struct warn {
	unsigned long long count;
	unsigned shown;
	int quiet;            /* count only */
	char where[256];      /* "file.json, page 3" */
	FILE *to;             /* stderr, or a test's stream */
};

void warn_init(struct warn *w, int quiet);
void warn_where(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn_note(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
