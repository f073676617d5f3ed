/*
 * seen: which messages this run has written, by `unique` (SPEC §5.2).
 *
 * Duplicates come from pages shifting while the export runs: a message
 * pushed across a page boundary shows up again a little later in page
 * order. So the set remembers the most recent uniques, not all of them:
 * two generations of 64-bit hashes, each of SEEN_WINDOW entries, so every
 * one of the last SEEN_WINDOW messages is always remembered, in bounded
 * memory (1 MiB, small enough to stay in cache) whatever the size of the history. A duplicate more
 * than SEEN_WINDOW messages after its first sighting would need that many
 * new messages to arrive during one run; it would be written twice, never
 * lost. Hashes are 64-bit: a false match among a million messages has a
 * probability of about 3e-8 per run.
 */
#ifndef WAEXPORT_SEEN_H
#define WAEXPORT_SEEN_H

#include <stddef.h>
#include <stdint.h>

#define SEEN_WINDOW (1u << 15)

struct seen;

struct seen *seen_new(void);
void seen_free(struct seen *s);

uint64_t seen_hash(const char *p, size_t len);

/*
 * Start loading the slots a later seen_check(h) will probe: a page's hashes
 * are prefetched together, so the cache misses overlap instead of queueing.
 */
void seen_prefetch(const struct seen *s, uint64_t h);

/* 1 if the hash was seen (a duplicate), else remember it and return 0. */
int seen_check(struct seen *s, uint64_t h);

#endif
