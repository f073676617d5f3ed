/*
 * run_impl.h: what run.c (the stages wired, the figures) and run_commit.c
 * (the run's files moved into place) share: the struct behind struct run.
 * Nothing outside run.
 */
#ifndef WAEXPORT_RUN_IMPL_H
#define WAEXPORT_RUN_IMPL_H

#include "run.h"
#include "options.h"
#include "pool.h"
#include "progress.h"
#include "tz.h"
#include "warn.h"
#include "when.h"

struct report;

/* One output file and the contact(s) that feed it. */
struct target {
	const char *to; /* fetch: the contact, NULL for the whole account */
	char *path;
	struct pipeline *pipeline;
	int shared; /* the pipeline belongs to an earlier target */
};

/* Figures of every output together. */
struct run_totals {
	unsigned long long pages, messages, duplicates, filtered, made;
	size_t files;
};

struct run {
	struct options *opts;
	const volatile int *stop; /* set by a signal */
	struct tz *tz;
	struct warn warn;
	struct progress progress;
	struct pool *pool;         /* the workers every pipeline shares */
	struct fetch *fetch;       /* fetch: the API source */
	struct when_window window; /* --since/--until */
	struct target *targets;
	size_t ntargets;
	struct pipeline **live; /* each output's pipeline once (for the report) */
	char *manifest_path;    /* --manifest, expanded */
	unsigned long long bytes_in;
	double started;
	long long wall_started; /* epoch seconds, for the manifest */
	int no_metrics;         /* --metrics-file's directory is missing: the run said so */
};

/* The run's figures, for the summary, the metrics and the manifest. */
void run_gather(struct run *r, struct report *rp);

/*
 * Every file of the run is written and fsynced beside its target first: the
 * outputs, --save-raw, the manifest, the state. Only then are they renamed
 * into place, the outputs first, then the manifest, the state last (SPEC
 * §4.7, §5.3). A full disk, an I/O error or a signal before the renames
 * leaves every target as it was, so the next run repeats nothing; a --state
 * run stopped during the renames is finished by the next one (plan.h).
 */
int run_commit(struct run *r, struct err *e);

#endif
