/*
 * run_impl: what the run modules share (run.c: outputs, convert, commit,
 * summary; run_fetch.c: the fetch walk). Not part of the run interface.
 */
#ifndef WAEXPORT_RUN_IMPL_H
#define WAEXPORT_RUN_IMPL_H

#include "run.h"
#include "buf.h"
#include "http.h"
#include "media.h"
#include "outpath.h"
#include "page.h"
#include "sink.h"
#include "pipeline.h"
#include "pool.h"
#include "progress.h"
#include "state.h"
#include "tz.h"
#include "warn.h"

/* One output file and what feeds it. */
struct target {
	const char *to;              /* fetch: the contact, NULL for the whole account */
	char *path;
	struct pipeline *pipeline;
	int shared;                  /* the pipeline belongs to an earlier target */
	long long newest_ts;         /* --state: the checkpoint this run found */
	char **newest;
	size_t nnewest;
};

/* Figures of every output together. */
struct run_totals {
	unsigned long long pages, messages, duplicates, filtered;
};

/* What the whole run shares, whichever command feeds the pipelines. */
struct run {
	struct options *opts;
	const volatile int *stop;    /* set by a signal */
	struct tz *tz;
	struct warn warn;
	struct progress progress;
	struct page *page;
	struct target *targets;
	size_t ntargets;
	struct target *current;
	struct sink *raw;             /* --save-raw */
	struct pool *pool;           /* the workers every pipeline shares */
	char *raw_path;
	struct buf line;             /* a raw page made single-line */
	struct walk_stats fetch;
	unsigned consecutive_seen;   /* full pages with nothing new (SPEC §5.2) */
	long long fetch_since;       /* --since, for the early end of paging */
	struct state *state;         /* --state */
	struct media *media;         /* --media-dir */
	struct http *http;           /* fetch: the transfers of one run_fetch, pages and media */
	long long lookback;
	int has_floor;               /* the current target has a checkpoint */
	long long floor;
	int probe_grew;
	char where[32];              /* "page N", for messages about the page being written */
	struct buf first_unique;     /* page 1's newest message: did history grow meanwhile? */
	int sequential;              /* growth seen: one page at a time */
	const char *last_file;       /* convert: the file of the last page, for warnings */
	unsigned long long bytes_in;
	double started;
	long long wall_started;      /* epoch seconds, for the manifest */
	char *manifest_path;         /* --manifest, expanded */
	int have_cp_before;          /* the oldest checkpoint this run started from */
	long long cp_before;
};

#define API_PAGE_SIZE 50
#define RUN_AGAIN 1

int run_check_stop(struct run *r, struct err *e);
void run_totals(const struct run *r, struct run_totals *t, unsigned long long *bytes);
void run_show_progress(struct run *r);

/* run_manifest.c: --manifest (SPEC §4.7) */
int run_manifest_path(struct run *r, struct outpath_vars vars, struct err *e);
int run_manifest(struct run *r, struct err *e);
void run_note_checkpoint(struct run *r, const char *to, long long ts);

/* run_fetch.c */
int run_prepare_fetch(struct run *r, struct pipeline_opts *filter, struct buf *key, struct err *e);
int run_fetch(struct run *r, struct buf *key, struct err *e);

#endif
