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
	int quiet;       /* count only */
	char where[256]; /* "file.json, page 3" */
	FILE *to;        /* stderr, or a test's stream */
	int collect;     /* a collector: notes are kept for warn_merge, not shown */
	long tag;        /* collector: what the next notes are about (WARN_UNTAGGED) */
	long *tags;      /* collector: the tag of every note */
	size_t ntags, tags_cap;
	unsigned nkept;
	long kept_tag[WARN_SHOWN_MAX];
	char kept[WARN_SHOWN_MAX][WARN_TEXT_MAX];
};

#define WARN_UNTAGGED (-1L)

void warn_init(struct warn *w, int quiet);
void warn_where(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void warn_note(struct warn *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * A collector: a worker's notes, counted and the first few kept, so that
 * the consumer can add them to the run's in input order. Each note carries
 * the tag set last (the message it is about), and warn_merge passes on the
 * notes whose tag is WARN_UNTAGGED or has keep[tag] set (keep NULL: all):
 * a message the consumer drops as a repeat brings no warning. warn_merge
 * empties the collector (as warn_collect_reset does; where stays);
 * warn_free_collector frees it.
 */
void warn_collect(struct warn *w);
void warn_collect_reset(struct warn *w);
void warn_tag(struct warn *w, long tag);
void warn_merge(struct warn *into, struct warn *from, const unsigned char *keep);
void warn_free_collector(struct warn *w);

#endif
