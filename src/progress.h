/*
 * progress: the live line on stderr (SPEC §6) — pages, messages, rate,
 * bytes, how far back in time the walk has come and the elapsed time, and
 * while the run waits for a retry, why and for how long ("waiting 12 s: page
 * 37 answered HTTP 429 (retry 2 of 5)") — redrawn at most five times a
 * second. Plain figures only; the caller decides when it is shown. The line
 * is never logged (log.h): it is redrawn in place.
 */
#ifndef WAEXPORT_PROGRESS_H
#define WAEXPORT_PROGRESS_H

#include <stdio.h>

#include "walk.h"

struct progress_figures {
	unsigned long long pages, messages, duplicates, warnings, retries, bytes, media;
	unsigned long long journal_pages; /* a resumed run's pages read back, not fetched */
	int has_oldest;
	long long oldest;             /* the oldest message reached (epoch seconds) */
	const struct walk_wait *wait; /* the retry the run waits for, NULL: none */
};

struct progress {
	int live; /* draw the live line */
	double start, last;
	int drawn;
	int waiting; /* the last line drawn said "waiting" */
	FILE *to;
};

void progress_init(struct progress *p, int live);
void progress_update(struct progress *p, const struct progress_figures *f);
/* Erase the live line (before the summary or an error message). */
void progress_clear(struct progress *p);
/* The live line's text for f at `elapsed` seconds into the run (no \r), into out. */
void progress_format(char *out, size_t size, const struct progress_figures *f, double elapsed);
/* "1.2 MB" style, into out (at least 16 bytes). */
const char *progress_bytes(unsigned long long n, char *out, size_t size);

#endif
