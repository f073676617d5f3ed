/*
 * fetch_impl.h: what fetch.c (checks, targets, state) and fetch_walk.c (the
 * pages of one walk, and the resumed walk of resume.h) share: the struct
 * behind struct fetch, and the walk's entry points. Nothing outside fetch.
 */
#ifndef WAEXPORT_FETCH_IMPL_H
#define WAEXPORT_FETCH_IMPL_H

#include <stdint.h>

#include "buf.h"
#include "fetch.h"
#include "nextcp.h"
#include "walk.h"

/*
 * A full page of messages already seen, led by the newest message of one of
 * the walk's last this many pages, is the server going round its pages
 * (SPEC §5.2: two such pages in a row end the run), whatever the round's
 * length up to this.
 */
#define FETCH_FIRSTS_KEPT 64

struct fetch {
	const struct options *o;
	const volatile int *stop;
	struct warn *warn;
	struct buf key;
	struct state *state;
	struct media *media;
	struct http *http;
	int head_may_expire; /* the last success is old enough for the API to have deleted its head */
	struct sink *raw;    /* --save-raw, and its path */
	char *raw_path;
	const struct walk_wait *wait; /* during on_wait: the retry waited for */
	int has_oldest;               /* the oldest message any page reached */
	long long oldest;
	struct buf line; /* a raw page made single-line */
	void (*progress)(void *ctx);
	void *progress_ctx;
	struct walk_stats stats;
	long long since, lookback;
	int has_since;
	int shifted; /* new messages arrived meanwhile: a walk in checked stretches */
	/* The walk of the current target: */
	struct pipeline *pl;
	char where[32];            /* "page N" */
	unsigned consecutive_seen; /* full pages of repeats in a row, each like one before (§5.2) */
	unsigned seen_streak;      /* full pages of repeats in a row, of any kind */
	/* The newest unique of each of the walk's last pages fetched (hashes, a ring). */
	uint64_t firsts[FETCH_FIRSTS_KEPT];
	unsigned nfirsts;
	struct nextcp_walk cpw;   /* what ends the walk (SPEC §5.3) */
	struct buf first_unique;  /* page 1's newest message: did history grow meanwhile? */
	struct nextcp next;       /* the targets' next checkpoints */
	struct resume *resume;    /* --state: the journal of the current walk (resume.h), or NULL */
	struct resume **journals; /* --state: one per target walked, owned */
	size_t njournals;
	int seeking, found; /* looking for the journal's newest message; met it */
	int last_verdict;
	unsigned long seek_page; /* where it was met */
	struct buf check_body;   /* the page that must hold the journal's oldest message */
	int have_before;         /* the oldest checkpoint a target started from */
	long long before;
	unsigned long long last_body; /* the last fetched page's hash, 0: none */
	size_t repeated;              /* the last page taken: its messages written before */
	/* A resumed run's figures (SPEC §6): pages that came from the journal, not
	 * the server, and the duplicates its overlap pages held by design. */
	unsigned long long journal_pages, overlap_duplicates;
};

/*
 * --state: the journal of target i of n opened (resuming one that is usable)
 * as f->resume, at its walk: a run of many walks holds one file at a time.
 */
int fetch_open_journal(struct fetch *f, size_t i, const struct fetch_target *t, size_t n,
		       struct err *e);

/*
 * Whether the current walk must never need doing again, so goes in stretches
 * checked against page 1 (or one page at a time): after a shift, and when
 * its rows go out as they come (-o - newest first), where a walk done again
 * would send them twice.
 */
int fetch_walk_checked(struct fetch *f);

/* The walk of the current target, from page 1 (its pages into the journal). */
int fetch_walk_pages(struct fetch *f, const struct walk_opts *wo, const struct walk_transport *t,
		     struct err *e);

/* The walk of a run that resumes from the journal (resume.h). */
int fetch_walk_resumed(struct fetch *f, const struct walk_opts *wo, const struct walk_transport *t,
		       struct err *e);

/* --media-dir's hook for the pipeline. */
int fetch_on_media(void *ctx, struct page *pg, const char *body, const unsigned char *keep,
		   const char *const **files, struct err *e);

#endif
