#include "run.h"
#include "batch.h"
#include "commit.h"
#include "fetch.h"
#include "output.h"
#include "fsutil.h"
#include "log.h"
#include "monotonic.h"
#include "outpath.h"
#include "pipeline.h"
#include "pool.h"
#include "progress.h"
#include "report.h"
#include "sink.h"
#include "source.h"
#include "state.h"
#include "tz.h"
#include "warn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static void clear_progress(void *ctx)
{
	struct run *r = ctx;

	progress_clear(&r->progress);
}

static int check_stop(struct run *r, struct err *e)
{
	return err_stopped(r->stop, e);
}

static void run_totals(const struct run *r, struct run_totals *t, unsigned long long *bytes)
{
	memset(t, 0, sizeof(*t));
	*bytes = 0;
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct target *g = &r->targets[i];
		struct pipeline_stats s;

		if (!g->pipeline || g->shared)
			continue;
		pipeline_stats(g->pipeline, &s);
		t->pages += s.pages;
		t->messages += s.sel.messages;
		t->duplicates += s.sel.duplicates;
		t->filtered += s.sel.filtered;
		*bytes += s.bytes_out;
		t->made += s.bytes_made;
		t->files += s.files;
	}
}

static void show_progress(void *ctx)
{
	struct run *r = ctx;
	struct run_totals t;
	struct progress_figures f = { 0 };
	unsigned long long written;

	if (!r->progress.live)
		return;
	run_totals(r, &t, &written);
	f.bytes = t.made; /* made, not yet written: a spool writes its file at the end */
	f.pages = t.pages;
	f.messages = t.messages;
	f.duplicates = t.duplicates;
	f.warnings = r->warn.count;
	if (r->fetch)
		fetch_figures(r->fetch, &f); /* retries, media, the oldest reached, a wait */
	progress_update(&r->progress, &f);
}

/* open_targets: this target is the workbook of the earlier run state_open finished. */
#define OPEN_FINISHED 1

/*
 * One target per --to when the path says {to}, else one file for all.
 * Every pipeline is opened before any page is fetched, so a bad path fails
 * first, and none is committed before the whole run succeeded (SPEC §4.5).
 */
static int open_targets(struct run *r, struct outpath_vars vars, struct err *e)
{
	struct options *o = r->opts;
	size_t n = o->cmd == CMD_FETCH && o->nto ? o->nto : 1;
	int per_contact = outpath_uses(o->output, "{to}");

	r->targets = calloc(n, sizeof(*r->targets));
	r->live = calloc(n, sizeof(*r->live));
	if (!r->targets || !r->live)
		return err_nomem(e);
	r->ntargets = n;
	for (size_t i = 0; i < n; i++) {
		struct target *g = &r->targets[i];
		struct pipeline_opts po;

		g->to = o->cmd == CMD_FETCH && o->nto ? o->to[i] : NULL;
		if (i > 0 && !per_contact) {
			g->pipeline = r->targets[0].pipeline;
			g->shared = 1;
			continue;
		}
		vars.to = g->to;
		vars.keep_chat = 1;
		if (o->state) /* locked: killed runs' files of other days (sink.c: this one's) */
			output_clear_family(o->output, NULL, &vars);
		if (outpath_expand(o->output, &vars, &g->path, e) ||
		    fsutil_need_parent(g->path, o->create_dirs, "-o", e) ||
		    output_opts(r->opts, r->tz, g->path, &po, e))
			return -1;
		/* That of a killed run this one finished (state_open): complete, never added to. */
		if (po.out.xlsx && po.out.append && r->fetch &&
		    state_completed_file(fetch_state(r->fetch), g->path)) {
			warn_note(&r->warn,
				  "%s: the workbook of the earlier run whose commit this run "
				  "finished; a workbook cannot be added to, so this run ends here "
				  "(the next run, with another {date}, exports what is new)",
				  g->path);
			return OPEN_FINISHED;
		}
		po.out.stop = r->stop;
		po.split_chats = outpath_uses(g->path, "{chat}");
		po.merge_segments = n > 1 && !per_contact && !po.split_chats;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(r->targets[k].path, g->path))
				return err_set(e, ERR_USAGE,
					       "-o %s: --to %s and --to %s give the same "
					       "file name",
					       o->output, r->targets[k].to, g->to);
		po.window = r->window;
		if (pipeline_open(&g->pipeline, &po, r->pool, &r->warn, e))
			return -1;
	}
	return 0;
}

static int run_convert(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	char *stdin_only[] = { "-" };
	char **files = o->nfiles ? o->files : stdin_only;
	size_t nfiles = o->nfiles ? o->nfiles : 1;
	struct source *src = NULL;
	int rc = -1;

	if (!o->nfiles && isatty(STDIN_FILENO))
		return err_set(e, ERR_USAGE,
			       "no input: name saved API responses (FILE...) or pipe "
			       "them into standard input (see 'waexport convert --help')");
	if (source_open(&src, files, nfiles, r->stop, &r->warn, e))
		goto out;
	pipeline_set_progress(r->targets[0].pipeline, show_progress, r);
	rc = pipeline_source(r->targets[0].pipeline, src, r->stop, e);
	r->bytes_in = source_bytes(src);
out:
	source_close(src);
	return rc;
}

/* The run's figures, for the summary, the metrics and the manifest. */
static void gather(struct run *r, struct report *rp)
{
	struct run_totals t = { 0 };

	memset(rp, 0, sizeof(*rp));
	rp->o = r->opts;
	if (r->targets)
		run_totals(r, &t, &rp->bytes);
	rp->pages = t.pages;
	rp->messages = t.messages;
	rp->duplicates = t.duplicates;
	rp->filtered = t.filtered;
	rp->warnings = r->warn.count;
	rp->seconds = monotonic_s() - r->started;
	rp->started = r->wall_started;
	rp->targets = (int)r->ntargets;
	rp->path = r->targets ? r->targets[0].path : "-";
	rp->pipelines = r->live;
	for (size_t i = 0; i < r->ntargets; i++)
		if (!r->targets[i].shared && r->targets[i].pipeline)
			r->live[rp->npipelines++] = r->targets[i].pipeline;
	rp->files = t.files;
	if (r->fetch)
		fetch_report(r->fetch, rp);
}

static void gather_for(void *ctx, struct report *rp)
{
	gather(ctx, rp);
}

/* Every file of the run into place (commit.h). */
static int commit(struct run *r, struct err *e)
{
	struct report rp;
	struct commit_job j = { .fetch = r->fetch,
				.manifest_path = r->manifest_path,
				.gather = gather_for,
				.gather_ctx = r,
				.stop = r->stop };

	gather(r, &rp); /* r->live: each output's pipeline once */
	j.pipelines = r->live;
	j.npipelines = rp.npipelines;
	return commit_run(&j, e);
}

/* The output files of one attempt (and --save-raw), opened before any page; or OPEN_FINISHED. */
static int open_outputs(struct run *r, struct outpath_vars vars, struct err *e)
{
	int rc = open_targets(r, vars, e);

	if (rc)
		return rc;
	return r->fetch ? fetch_open_raw(r->fetch, vars, e) : 0;
}

/* Drop every output of an attempt: temporary files removed, targets untouched. */
static void close_outputs(struct run *r)
{
	for (size_t i = 0; i < r->ntargets; i++) {
		struct target *g = &r->targets[i];

		if (!g->shared)
			pipeline_close(g->pipeline);
		free(g->path);
	}
	free(r->targets);
	r->targets = NULL;
	free(r->live);
	r->live = NULL;
	r->ntargets = 0;
	if (r->fetch)
		fetch_close_raw(r->fetch);
}

/* fetch: every target's walk, each into its pipeline. */
static int run_fetch(struct run *r, struct err *e)
{
	struct fetch_target *t = calloc(r->ntargets, sizeof(*t));
	int rc;

	if (!t)
		return err_nomem(e);
	for (size_t i = 0; i < r->ntargets; i++) {
		t[i].to = r->targets[i].to;
		t[i].pipeline = r->targets[i].pipeline;
		t[i].shares_file =
			r->targets[i].shared || (i + 1 < r->ntargets && r->targets[i + 1].shared);
	}
	rc = fetch_run(r->fetch, t, r->ntargets, e);
	free(t);
	return rc;
}

int run_execute(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	struct outpath_vars vars = { 0 };
	struct report rp;
	char today[11], why[512];
	unsigned workers;

	if (tz_open(&r->tz, o->tz, e))
		return -1;
	if (output_name_disagrees(o, o->output, why, sizeof(why)))
		warn_note(&r->warn, "%s", why);
	/* SPEC §2: a missing directory fails (or is made) before any lock, page or file. */
	if (fsutil_need_parent(o->metrics_file, o->create_dirs, "--metrics-file", e)) {
		r->no_metrics = 1; /* that one line says it all: no second about the file */
		return -1;
	}
	if (fsutil_need_parent(o->state, o->create_dirs, "--state", e) ||
	    (o->create_dirs ? fsutil_need_dir(o->media_dir, 1, "--media-dir", e)
			    : fsutil_need_parent(o->media_dir, 0, "--media-dir",
						 e))) /* media.c makes the last */
		return -1;
	/*
	 * --threads N (SPEC §2): N threads parse and format, this one (which also
	 * reads and writes, and maps batches while it waits: pool.h) and N - 1
	 * workers; by default one per online CPU, at most 8. Two batches a thread
	 * in flight keep them all fed.
	 */
	workers = (o->threads > 0 ? (unsigned)o->threads : pool_default_threads()) - 1;
	if (pool_new(&r->pool, workers, 2 * workers + 4, batch_map, NULL, e))
		return -1;
	if (o->cmd == CMD_FETCH) {
		if (fetch_new(&r->fetch, o, r->tz, r->stop, &r->warn, &r->window, e))
			return -1;
		fetch_set_progress(r->fetch, show_progress, r);
	}
	if (o->today[0]) /* the day the command line's paths were checked for */
		memcpy(today, o->today, sizeof(today));
	else if (tz_date(r->tz, (long long)time(NULL), today))
		return err_set(e, ERR_SOFTWARE, "cannot read the clock");
	vars.date = today;
	vars.from = o->cmd == CMD_FETCH ? o->from : NULL;
	if (o->manifest && (report_manifest_path(o, vars, &r->manifest_path, e) ||
			    fsutil_need_parent(r->manifest_path, o->create_dirs, "--manifest", e)))
		return -1;
	if (r->manifest_path && o->state) /* locked: as for the outputs (sink.c) */
		output_clear_family(o->manifest, r->manifest_path, &vars);
	for (int got;;) {
		if ((got = open_outputs(r, vars, e)) < 0)
			return -1;
		if (got == OPEN_FINISHED)
			return 0; /* nothing of this run's to commit or report */
		got = r->fetch ? run_fetch(r, e) : run_convert(r, e);
		if (got < 0)
			return -1;
		if (got != FETCH_AGAIN)
			break;
		close_outputs(r); /* nothing was committed: start again, in checked stretches */
	}
	if (check_stop(r, e) || commit(r, e))
		return -1;
	progress_clear(&r->progress);
	gather(r, &rp);
	report_summary(&rp);
	return 0;
}

void run_free(struct run *r)
{
	if (!r)
		return;
	log_before_lines(NULL, NULL);
	close_outputs(r);
	fetch_free(r->fetch);
	free(r->manifest_path);
	pool_free(r->pool);
	tz_free(r->tz);
	free(r);
}

/* SPEC §6: after every run, success or failure. */
void run_write_metrics(struct run *r, int exit_code)
{
	struct report rp;

	if (r->no_metrics)
		return;
	gather(r, &rp);
	report_metrics(&rp, exit_code);
}

struct run *run_new(struct options *opts, const volatile int *stop)
{
	struct run *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->opts = opts;
	r->stop = stop;
	r->started = monotonic_s();
	r->wall_started = (long long)time(NULL);
	warn_init(&r->warn, opts->quiet);
	progress_init(&r->progress, opts->progress > 0 || (opts->progress < 0 && !opts->quiet &&
							   isatty(STDERR_FILENO)));
	log_before_lines(clear_progress, r);
	return r;
}
