/*
 * report: what a run tells when it ends — the summary line on stderr
 * (SPEC §6), the --metrics-file (after every run, failed or not) and the
 * --manifest (after a successful run, before the state moves: SPEC §4.7) —
 * from the figures the run hands over. report knows nothing of how they
 * were made; the files come from the pipelines.
 */
#ifndef WAEXPORT_REPORT_H
#define WAEXPORT_REPORT_H

#include <stddef.h>

#include "err.h"
#include "fsutil.h"
#include "options.h"
#include "outpath.h"
#include "pipeline.h"

struct report {
	const struct options *o;
	unsigned long long pages, messages, duplicates, filtered, retries, warnings;
	unsigned long long
		journal_pages;    /* a resumed run's pages from the journal (not in pages) */
	unsigned long long bytes; /* written to the output files */
	unsigned long long media_downloaded, media_present, media_failed;
	size_t files;
	int targets;                 /* outputs the run was given (several --to with {to}) */
	const char *path;            /* the output, when there is one */
	double seconds;              /* elapsed */
	long long started, finished; /* epoch seconds */
	int have_before, have_after; /* --state checkpoints, oldest of the targets */
	long long checkpoint_before, checkpoint_after;
	struct pipeline *const *pipelines;
	size_t npipelines;
};

/* The one summary line (nothing with --quiet). */
void report_summary(const struct report *rp);

/* --metrics-file; a failure to write it is said on stderr. */
void report_metrics(const struct report *rp, int exit_code);

/* --manifest's path, expanded like -o before any page. */
int report_manifest_path(const struct options *o, struct outpath_vars vars, char **path,
			 struct err *e);

/* The manifest of a run whose outputs are finished, staged for path (manifest_stage). */
int report_manifest(const struct report *rp, const char *path, struct fsutil_staged *s,
		    struct err *e);

#endif
