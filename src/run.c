#include "run_impl.h"
#include "fsutil.h"
#include "batch.h"
#include "pool.h"
#include "source.h"
#include "metrics.h"
#include "outpath.h"
#include "when.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int run_check_stop(struct run *r, struct err *e)
{
	if (!*r->stop)
		return 0;
	err_set(e, ERR_INTERRUPTED, "interrupted");
	return -1;
}

void run_totals(const struct run *r, struct run_totals *t, unsigned long long *bytes)
{
	memset(t, 0, sizeof(*t));
	*bytes = 0;
	for (size_t i = 0; i < r->ntargets; i++) {
		const struct target *g = &r->targets[i];
		const struct pipeline_stats *s;

		if (!g->pipeline || g->shared)
			continue;
		s = pipeline_stats(g->pipeline);
		t->pages += s->pages;
		t->messages += s->sel.messages;
		t->duplicates += s->sel.duplicates;
		t->filtered += s->sel.filtered;
		*bytes += pipeline_bytes_out(g->pipeline);
	}
}

void run_show_progress(struct run *r)
{
	struct run_totals t;
	struct progress_figures f;

	if (!r->progress.live)
		return;
	run_totals(r, &t, &f.bytes);
	f.bytes = 0;
	for (size_t i = 0; i < r->ntargets; i++)
		if (!r->targets[i].shared)
			f.bytes += pipeline_bytes_made(r->targets[i].pipeline);
	f.pages = t.pages;
	f.messages = t.messages;
	f.duplicates = t.duplicates;
	f.warnings = r->warn.count;
	f.retries = r->fetch.retries;
	f.media = r->media ? media_downloaded(r->media) : 0;
	progress_update(&r->progress, &f);
}

static int build_pipeline_opts(struct run *r, const char *path, struct pipeline_opts *po,
			       struct err *e)
{
	struct options *o = r->opts;
	int format = OUTPATH_CSV, gz = 0, ndjson, xlsx;

	memset(po, 0, sizeof(*po));
	if (strcmp(path, "-"))
		outpath_infer(path, &format, &gz);
	if (o->format)
		format = !strcmp(o->format, "ndjson") ? OUTPATH_NDJSON
			 : !strcmp(o->format, "xlsx") ? OUTPATH_XLSX : OUTPATH_CSV;
	ndjson = format == OUTPATH_NDJSON;
	xlsx = format == OUTPATH_XLSX;
	po->writer.format = ndjson ? WRITER_NDJSON : xlsx ? WRITER_XLSX : WRITER_CSV;
	po->writer.excel = o->excel;
	po->writer.tz = r->tz;
	if (o->excel && ndjson)
		return err_set(e, ERR_USAGE, "--excel is a CSV dialect; it does not apply to NDJSON");
	/* SPEC §4.6: a workbook is typed and compressed already. */
	if (xlsx && o->excel)
		return err_set(e, ERR_USAGE, "--excel is a CSV dialect; an xlsx workbook has typed "
			       "cells and needs no spreadsheet tricks (drop --excel)");
	if (xlsx && (gz || o->gzip > 0))
		return err_set(e, ERR_USAGE, "%s: an xlsx workbook is a zip file already; --gzip, "
			       "--gzip-level and .xlsx.gz do not apply", path);
	if (o->columns) {
		if (writer_parse_columns(&po->writer, o->columns, e))
			return -1;
	} else {
		writer_default_columns(&po->writer, o->media_dir != NULL);
		po->writer.extras = 1;
	}
	po->out.path = path;
	po->out.gzip = o->gzip >= 0 ? o->gzip : gz;
	po->out.level = o->gzip_level;
	if (xlsx) {
		/* --state: a workbook cannot be added to, so an existing one is refused (SPEC §4.4). */
		po->out.xlsx = 1;
		po->out.append = o->state != NULL;
		memcpy(po->out.columns, po->writer.columns, sizeof(po->out.columns));
		po->out.ncolumns = po->writer.ncolumns;
		po->out.media_dir = o->media_dir;
	}
	po->late_format = o->cmd == CMD_FETCH;
	po->quiet = o->quiet;
	po->order = o->order_newest ? ORDER_NEWEST : ORDER_OLDEST;
	return 0;
}

/*
 * One target per --to when the path says {to}, else one file for all.
 * Every pipeline is opened before any page is fetched, so a bad path fails
 * first, and none is committed before the whole run succeeded (SPEC §4.5).
 */
static int open_targets(struct run *r, const struct pipeline_opts *filter,
			struct outpath_vars vars, struct err *e)
{
	struct options *o = r->opts;
	size_t n = o->cmd == CMD_FETCH && o->nto ? o->nto : 1;
	int per_contact = outpath_uses(o->output, "{to}");

	r->targets = calloc(n, sizeof(*r->targets));
	if (!r->targets)
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
		if (outpath_expand(o->output, &vars, &g->path, e) ||
		    build_pipeline_opts(r, g->path, &po, e))
			return -1;
		po.split_chats = outpath_uses(g->path, "{chat}");
		po.merge_segments = n > 1 && !per_contact && !po.split_chats;
		for (size_t k = 0; k < i; k++)
			if (!strcmp(r->targets[k].path, g->path))
				return err_set(e, ERR_USAGE, "-o %s: --to %s and --to %s give the same "
					       "file name", o->output, r->targets[k].to, g->to);
		po.has_since = filter->has_since;
		po.since = filter->since;
		po.has_until = filter->has_until;
		po.until = filter->until;
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
		return err_set(e, ERR_USAGE, "no input: name saved API responses (FILE...) or pipe "
			       "them into standard input (see 'waexport convert --help')");
	if (source_open(&src, files, nfiles, r->stop, &r->warn, e))
		goto out;
	rc = pipeline_source(r->targets[0].pipeline, src, r->stop, e);
	r->bytes_in = source_bytes(src);
out:
	source_close(src);
	return rc;
}

static void summary(struct run *r)
{
	struct run_totals t;
	unsigned long long bytes;
	char size[32];
	double secs = progress_now() - r->started;
	const char *path = r->targets[0].path;
	size_t files = 0;

	progress_clear(&r->progress);
	if (r->opts->quiet)
		return;
	run_totals(r, &t, &bytes);
	fprintf(stderr, "waexport: wrote %llu messages from %llu pages (%llu duplicates dropped, ",
		t.messages, t.pages, t.duplicates);
	if (r->opts->cmd == CMD_FETCH)
		fprintf(stderr, "%llu retries, ", r->fetch.retries);
	if (t.filtered)
		fprintf(stderr, "%llu outside --since/--until, ", t.filtered);
	if (r->media)
		fprintf(stderr, "%llu media files saved, ", media_downloaded(r->media));
	fprintf(stderr, "%llu warnings) to ", r->warn.count);
	for (size_t i = 0; i < r->ntargets; i++)
		if (!r->targets[i].shared)
			files += pipeline_files(r->targets[i].pipeline);
	if (files > 1 || r->ntargets > 1)
		fprintf(stderr, "%zu files (%s)", files, r->opts->output);
	else
		fprintf(stderr, "%s", strcmp(path, "-") ? path : "standard output");
	fprintf(stderr, " (%s) in %.2f s\n", progress_bytes(bytes, size, sizeof(size)), secs);
}

static int commit_all(struct run *r, struct err *e)
{
	for (size_t i = 0; i < r->ntargets; i++)
		if (!r->targets[i].shared && pipeline_commit(r->targets[i].pipeline, e))
			return -1;
	if (r->raw && sink_commit(r->raw, e))
		return err_prefix(e, "--save-raw: ");
	/* SPEC §5.3: the checkpoint moves only once the output is in place. */
	if (r->state && state_commit(r->state, e))
		return -1;
	return 0;
}

/* The output files of one attempt (and --save-raw), opened before any page. */
static int open_outputs(struct run *r, const struct pipeline_opts *filter,
			struct outpath_vars vars, struct err *e)
{
	struct options *o = r->opts;

	if (open_targets(r, filter, vars, e))
		return -1;
	if (o->save_raw) {
		struct sink_opts so = { .level = 6 };
		int ndjson;

		vars.to = o->nto == 1 ? o->to[0] : NULL;
		vars.keep_chat = 0;
		if (outpath_expand(o->save_raw, &vars, &r->raw_path, e))
			return err_prefix(e, "--save-raw: ");
		outpath_infer(r->raw_path, &ndjson, &so.gzip);
		so.path = r->raw_path;
		if (sink_open(&r->raw, &so, e))
			return err_prefix(e, "--save-raw: ");
	}
	return 0;
}

/* Drop every output of an attempt: temporary files removed, targets untouched. */
static void close_outputs(struct run *r)
{
	for (size_t i = 0; i < r->ntargets; i++) {
		struct target *g = &r->targets[i];

		if (!g->shared)
			pipeline_close(g->pipeline);
		free(g->path);
		for (size_t k = 0; k < g->nnewest; k++)
			free(g->newest[k]);
		free(g->newest);
	}
	free(r->targets);
	r->targets = NULL;
	r->ntargets = 0;
	sink_close(r->raw);
	r->raw = NULL;
	free(r->raw_path);
	r->raw_path = NULL;
}

int run_execute(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	struct pipeline_opts filter = { 0 };
	struct outpath_vars vars = { 0 };
	struct buf key = BUF_INIT;
	char today[11];
	unsigned workers;
	int rc = -1;

	if (tz_open(&r->tz, o->tz, e))
		goto out;
	/* --threads N (SPEC §2): N workers; by default one per online CPU, at most 8. */
	workers = o->threads > 0 ? (unsigned)o->threads : pool_default_workers();
	if (pool_new(&r->pool, workers, workers + 2, batch_map, NULL, e))
		goto out;
	if (o->cmd == CMD_FETCH && run_prepare_fetch(r, &filter, &key, e))
		goto out;
	r->page = page_new();
	if (!r->page) {
		err_nomem(e);
		goto out;
	}
	if (tz_date(r->tz, (long long)time(NULL), today)) {
		err_set(e, ERR_SOFTWARE, "cannot read the clock");
		goto out;
	}
	vars.date = today;
	vars.from = o->cmd == CMD_FETCH ? o->from : NULL;
	for (;;) {
		int got;

		if (open_outputs(r, &filter, vars, e))
			goto out;
		got = o->cmd == CMD_FETCH ? run_fetch(r, &key, e) : run_convert(r, e);
		if (got < 0)
			goto out;
		if (got != RUN_AGAIN)
			break;
		close_outputs(r);  /* nothing was committed: start again, sequentially */
		r->sequential = 1;
	}
	if (run_check_stop(r, e) || commit_all(r, e))
		goto out;
	summary(r);
	rc = 0;
out:
	if (key.data)
		memset(key.data, 0, key.cap);
	buf_free(&key);
	return rc;
}

void run_free(struct run *r)
{
	if (!r)
		return;
	close_outputs(r);
	state_close(r->state);
	media_close(r->media);
	buf_free(&r->first_unique);
	buf_free(&r->line);
	page_free(r->page);
	pool_free(r->pool);
	tz_free(r->tz);
	free(r);
}

/* SPEC §6: after every run, success or failure. */
void run_write_metrics(struct run *r, int exit_code)
{
	struct run_totals t = { 0 };
	unsigned long long bytes = 0;
	struct metrics mt = { 0 };
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	struct timespec now;

	if (r->targets)
		run_totals(r, &t, &bytes);
	clock_gettime(CLOCK_REALTIME, &now);
	mt.from = r->opts->from;
	mt.exit_code = exit_code;
	mt.end_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	mt.duration = progress_now() - r->started;
	mt.messages = exit_code ? 0 : t.messages;
	mt.pages = t.pages;
	mt.retries = r->fetch.retries;
	mt.duplicates = t.duplicates;
	mt.warnings = r->warn.count;
	mt.media = r->media ? media_downloaded(r->media) : 0;
	if (metrics_write(r->opts->metrics_file, &mt, &e))
		fprintf(stderr, "waexport: %s\n", e.msg);
}

struct run *run_new(struct options *opts, const volatile int *stop)
{
	struct run *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->opts = opts;
	r->stop = stop;
	r->started = progress_now();
	warn_init(&r->warn, opts->quiet);
	progress_init(&r->progress, opts->progress > 0 || (opts->progress < 0 && !opts->quiet &&
							    isatty(STDERR_FILENO)));
	return r;
}

void run_clear_progress(struct run *r)
{
	progress_clear(&r->progress);
}
