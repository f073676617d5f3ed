/*
 * progress: the live line on stderr (SPEC §6) — pages, messages, rate and
 * bytes — redrawn at most five times a second, and the one-line summary at
 * the end. Plain figures only; the caller decides when it is shown.
 */
#ifndef WAEXPORT_PROGRESS_H
#define WAEXPORT_PROGRESS_H

#include <stdio.h>

struct progress_figures {
	unsigned long long pages, messages, duplicates, warnings, retries, bytes, media;
};

struct progress {
	int live;            /* draw the live line */
	double start, last;
	int drawn;
	FILE *to;
};

double progress_now(void);    /* monotonic seconds */
void progress_init(struct progress *p, int live);
void progress_update(struct progress *p, const struct progress_figures *f);
/* Erase the live line (before the summary or an error message). */
void progress_clear(struct progress *p);
/* "1.2 MB" style, into out (at least 16 bytes). */
const char *progress_bytes(unsigned long long n, char *out, size_t size);

#endif
