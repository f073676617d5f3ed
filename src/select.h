/*
 * select: which messages are written, decided by the consumer in API order
 * (newest first), one message at a time: each once per run by its unique
 * (SPEC §5.2, through seen), none that an earlier run exported (--state, the
 * checkpoint of SPEC §5.3), and the newest message written, which becomes
 * the next checkpoint. --since/--until is decided earlier, by the workers
 * (batch.h): select only counts what they left out.
 */
#ifndef WAEXPORT_SELECT_H
#define WAEXPORT_SELECT_H

#include <stddef.h>

#include "err.h"
#include "record.h"
#include "warn.h"

/* What an earlier run exported: messages before floor, and at skip_ts those listed. */
struct select_checkpoint {
	long long floor;
	long long skip_ts;
	char *const *skip;
	size_t nskip;
};

/* The newest message written: the next checkpoint. */
struct select_newest {
	int have;
	long long ts;
	char **uniques;             /* raw uniques written at ts */
	size_t cap;
	size_t nuniques;
};

/* What one page held (fetch's paging decisions, SPEC §5.1-§5.3). */
struct select_page {
	size_t records;
	size_t fresh;               /* written */
	size_t repeated;            /* already written earlier in this run */
	int has_oldest;
	long long oldest;           /* the page's oldest timestamp */
};

struct select_stats {
	unsigned long long messages;     /* selected for writing */
	unsigned long long duplicates;   /* dropped as already written */
	unsigned long long filtered;     /* outside --since/--until */
	unsigned long long checkpointed; /* exported by an earlier run */
};

struct select;

int select_new(struct select **out, struct warn *warn, struct err *e);
void select_free(struct select *s);

/* Skip what a checkpoint covers from now on (NULL: nothing). */
void select_set_checkpoint(struct select *s, const struct select_checkpoint *cp);

/* Decide one message: 1 to write it, 0 to drop it, -1 on ENOMEM. */
int select_message(struct select *s, const struct record *r, int in_range,
		   struct select_page *page, struct err *e);

/* The newest message selected since the last call, and forget it. */
const struct select_newest *select_take_newest(struct select *s);

const struct select_stats *select_stats(const struct select *s);

#endif
