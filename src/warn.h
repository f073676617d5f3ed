/*
 * warn: the run's warnings. Every warning is counted; the first few are
 * shown on stderr with where they happened (the pipeline sets the place per
 * page), the rest only counted for the summary and metrics (SPEC §6).
 *
 * A pass whose work may yet be taken back (convert reading backward: a held
 * row can be replaced by an earlier copy, the pass can give up and start
 * again forward) holds its warnings: they are counted, the first few are
 * kept, and they are shown at warn_release — or forgotten.
 */
#ifndef WAEXPORT_WARN_H
#define WAEXPORT_WARN_H

#include <stdio.h>

#define WARN_SHOWN_MAX 5
/* Lines kept while holding: a few more than shown, for the ones forgotten. */
#define WARN_HELD_MAX 16

struct warn_line {
	unsigned long long seq;
	char text[320];
};

struct warn {
	unsigned long long count;
	unsigned long long seq;  /* notes so far, never taken back: names each note */
	unsigned shown;
	int quiet;            /* count only */
	char where[256];      /* "file.json, page 3" */
	FILE *to;             /* stderr, or a test's stream */
	int holding;
	unsigned long long count_before_hold;
	unsigned nheld;
	struct warn_line held[WARN_HELD_MAX];
};

void warn_init(struct warn *w, int quiet);
void warn_where(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn_note(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* From now on, notes are counted but shown only at warn_release. */
void warn_hold(struct warn *w);
/* Notes [first, end) by seq are void: no longer counted, never shown. */
void warn_forget(struct warn *w, unsigned long long first, unsigned long long end);
/* Show the notes held (as many as may be shown) and show new ones at once again. */
void warn_release(struct warn *w);
/* Drop everything held and counted: the pass is thrown away. */
void warn_discard(struct warn *w);

#endif
