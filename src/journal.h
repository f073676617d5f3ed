/*
 * journal: the pages of a --state run kept on disk as they arrive, so a run
 * that fails or is interrupted does not throw them away (SPEC §5.3
 * "Resumable runs", issue 13 item 3). It lives beside the state file
 * (STATE.journal), under the state's lock (the caller holds it: the journal
 * takes none of its own), mode 0600, and is never opened through a link.
 *
 * This module owns the file and its bytes, nothing of their meaning: a
 * record is a page number and the page body, both the caller's (page 0 is
 * free for a header of the caller's own, e.g. what the run was asked for).
 * Each record checks itself, and is flushed (fdatasync) before append
 * returns, so after a crash or a kill every record but a torn last one is
 * whole. Reading is a stream, one record in memory at a time: the records
 * of the good prefix are delivered, and a torn or corrupt tail is ignored
 * and reported (journal_report), never an error: the run decides what a
 * damaged journal means (a warning and a full walk).
 *
 * Format: the line "waexport-journal 1\n", then records of
 *     "WJR1"  page (u64 LE)  len (u64 LE)  header CRC-32 (u32 LE)  body CRC-32 (u32 LE)  body
 * the header CRC over the 20 bytes before it, the body CRC over the body
 * (zlib's CRC-32: against torn writes and bit rot, not against forgery).
 */
#ifndef WAEXPORT_JOURNAL_H
#define WAEXPORT_JOURNAL_H

#include <stddef.h>

#include "err.h"

/* A record claiming a longer body is corrupt: no page body the fetch accepts is longer. */
#define JOURNAL_MAX_BODY (1024ull * 1024ull * 1024ull)

struct journal;

enum journal_tail {
	JOURNAL_CLEAN = 0, /* the file ends after a whole record (or is missing) */
	JOURNAL_TORN,      /* the last record is incomplete: a crash or kill mid-append */
	JOURNAL_CORRUPT,   /* a damaged record with data after it, or a bad file header */
};

struct journal_report {
	unsigned long long records;    /* whole records delivered */
	unsigned long long good_bytes; /* where the good prefix ends: pass to journal_open */
	enum journal_tail tail;
	unsigned long long bad_offset; /* with TORN/CORRUPT: where the bad record starts */
	const char *why;               /* with TORN/CORRUPT: what was wrong, for a warning */
	int missing;                   /* there was no journal */
};

/* Called per whole record in file order; body is valid only during the call. Nonzero stops. */
typedef int (*journal_record_fn)(void *ctx, unsigned long long page, const char *body, size_t len,
				 struct err *e);

/*
 * Read path as a stream. Returns 0 with *rep filled (a missing file is no
 * record, CLEAN, missing set), or -1: an I/O error (ERR_IO), or what fn
 * returned (its e).
 */
int journal_read(const char *path, journal_record_fn fn, void *ctx, struct journal_report *rep,
		 struct err *e);

/*
 * Open path to append, keeping its first `keep` bytes (a report's
 * good_bytes: the torn or corrupt tail goes) or, with keep 0, starting a
 * new journal. Created 0600 if missing, never through a link or onto a
 * file that is not regular. ERR_IO.
 */
int journal_open(struct journal **out, const char *path, unsigned long long keep, struct err *e);

/* Append one record and fdatasync it. ERR_IO (the journal is then unusable). */
int journal_append(struct journal *j, unsigned long long page, const void *body, size_t len,
		   struct err *e);

/* Close (the file stays). NULL is fine. */
void journal_close(struct journal *j);

/* Remove the journal after a successful run; a missing one is fine. ERR_IO. */
int journal_remove(const char *path, struct err *e);

#endif
