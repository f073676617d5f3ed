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
 * probability of about 3e-8 per run, and a server cannot aim at one. A seen owns its two tables and hashes
 * the uniques it is given itself (seen_key).
 */
#ifndef WAEXPORT_SEEN_H
#define WAEXPORT_SEEN_H

#include <stddef.h>
#include <stdint.h>

#define SEEN_WINDOW (1u << 15)
/* A page's element limit (SPEC §5.7: 256 Ki) twice: 16 MiB of tables at most. */
#define SEEN_WINDOW_MAX (1u << 19)

struct seen;

struct seen *seen_new(void);
void seen_free(struct seen *s);

/*
 * The key of a unique (the body of a JSON string as sent, escapes and all):
 * uniques are compared as the strings they stand for ("\u0064" is "d"), and
 * strings that differ never meet. A pure function of its input within a
 * run (hash_table: seeded per process, so a server cannot pick uniques that
 * meet), so the workers compute it beside the rest of a page's work. 0, or -1 when memory
 * runs out (a long unique with escapes).
 */
int seen_key(const char *unique, size_t len, uint64_t *key);

/*
 * A page of n messages: the window grows to hold at least two such pages
 * (a message a shift pushed to the next page meets itself again), up to
 * SEEN_WINDOW_MAX, remembering what it holds. A server's pages of 50 never
 * grow it. 0, or -1 on no memory (the window stays: at worst written twice).
 */
int seen_fit(struct seen *s, size_t n);

/* Start loading where key will be looked for: a batch's keys first, then seen_check. */
void seen_prefetch(const struct seen *s, uint64_t key);

/*
 * 1 when key was seen among the last SEEN_WINDOW, else remember it and
 * return 0.
 */
int seen_check(struct seen *s, uint64_t key);

#endif
