#include "report.h"
#include "log.h"
#include "manifest.h"
#include "metrics.h"
#include "output.h"
#include "outpath.h"
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static int take_file(void *ctx, struct sink *file, const char *chat)
{
	(void)chat;
	*(const struct sink **)ctx = file;
	return 0;
}

/*
 * SPEC §4.4: a --state run into an existing file added its rows after the
 * file's own; M (the rows now in it) counts the earlier ones from the carried
 * bytes. 1 with *now set when the run's one file was appended to.
 */
static int appended_rows(const struct report *rp, unsigned long long *now)
{
	const struct sink *file = NULL;
	struct manifest_file mf = { 0 };
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	int gz, ndjson = output_format(rp->o, rp->path, &gz) == OUTPATH_NDJSON;

	if (rp->files != 1 || rp->targets > 1 || rp->npipelines != 1 || !strcmp(rp->path, "-"))
		return 0;
	pipeline_each_file(rp->pipelines[0], take_file, &file);
	if (!file || !sink_figures(file)->appending)
		return 0;
	if (manifest_scan(rp->path, sink_figures(file)->carried, ndjson, gz, &mf, &e))
		return 0; /* the summary then says what this run wrote, which is still true */
	*now = mf.rows + sink_figures(file)->rows.rows;
	return 1;
}

static int count_appended(void *ctx, struct sink *file, const char *chat)
{
	(void)chat;
	*(size_t *)ctx += sink_figures(file)->appending;
	return 0;
}

/* Several files ({chat}, {to}): did the run add to any that existed (SPEC §4.4)? */
static int appended_any(const struct report *rp)
{
	size_t n = 0;

	for (size_t i = 0; i < rp->npipelines; i++)
		pipeline_each_file(rp->pipelines[i], count_appended, &n);
	return n > 0;
}

/* SPEC §6: the one summary line; under --quiet only the log file gets it. */
void report_summary(const struct report *rp)
{
	const struct options *o = rp->o;
	struct buf line = BUF_INIT;
	unsigned long long now = 0;
	char size[32];
	int bad = 0, added;

	if (o->quiet && !log_enabled())
		return;
	bad |= buf_adds(&line, "waexport: ");
	if (o->cmd == CMD_FETCH)
		bad |= buf_addf(&line, "account %s: ", o->from);
	/* SPEC §4.4: a --state run that added to a file says so, and how many it holds now. */
	added = appended_rows(rp, &now);
	if (added)
		bad |= buf_addf(&line, "added %llu messages to %s (now %llu)", rp->messages,
				rp->path, now);
	else
		bad |= buf_addf(&line, "%s %llu messages", appended_any(rp) ? "added" : "wrote",
				rp->messages);
	bad |= buf_addf(&line, " from %llu pages", rp->pages);
	if (rp->journal_pages) /* a resumed run (SPEC §5.3) */
		bad |= buf_addf(&line, " and %llu of the journal", rp->journal_pages);
	bad |= buf_adds(&line, " (");
	bad |= buf_addf(&line, "%llu duplicates dropped, ", rp->duplicates);
	if (o->cmd == CMD_FETCH)
		bad |= buf_addf(&line, "%llu retries, ", rp->retries);
	if (rp->filtered)
		bad |= buf_addf(&line, "%llu outside --since/--until, ", rp->filtered);
	if (o->media_dir)
		bad |= buf_addf(&line, "%llu media files saved, ", rp->media_downloaded);
	bad |= buf_addf(&line, "%llu warnings)", rp->warnings);
	if (!added && o->output && strcmp(o->output, "-") &&
	    (rp->files != 1 || rp->targets > 1 || strstr(o->output, "{chat}")))
		bad |= buf_addf(&line, " to %zu file%s (%s)", rp->files, rp->files == 1 ? "" : "s",
				o->output);
	else if (!added)
		bad |= buf_addf(&line, " to %s",
				strcmp(rp->path, "-") ? rp->path : "standard output");
	bad |= buf_addf(&line, " (%s) in %.2f s", progress_bytes(rp->bytes, size, sizeof(size)),
			rp->seconds);
	if (!bad)
		log_line(o->quiet ? NULL : stderr, "%s", line.data);
	buf_free(&line);
}

/* SPEC §6: after every run, success or failure. */
void report_metrics(const struct report *rp, int exit_code)
{
	struct metrics mt = { 0 };
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	mt.from = rp->o->from;
	mt.exit_code = exit_code;
	mt.end_time = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	mt.duration = rp->seconds;
	mt.messages = exit_code ? 0 : rp->messages;
	mt.pages = rp->pages;
	mt.retries = rp->retries;
	mt.duplicates = rp->duplicates;
	mt.warnings = rp->warnings;
	mt.media = rp->media_downloaded;
	if (metrics_write(rp->o->metrics_file, &mt, &e))
		log_line(stderr, "waexport: %s", e.msg);
}

/* A path that ends in '/' or names a directory (or a link to one). */
static int names_dir(const char *path)
{
	struct stat st;
	size_t n = strlen(path);

	return (n && path[n - 1] == '/') || (!stat(path, &st) && S_ISDIR(st.st_mode));
}

int report_manifest_path(const struct options *o, struct outpath_vars vars, char **path,
			 struct err *e)
{
	vars.to = o->cmd == CMD_FETCH && o->nto == 1 ? o->to[0] : NULL;
	vars.keep_chat = 0;
	if (outpath_uses(o->manifest, "{chat}") ||
	    (outpath_uses(o->manifest, "{to}") && o->nto > 1))
		return err_set(
			e, ERR_USAGE,
			"--manifest %s: one manifest describes every file of a "
			"run; {chat} (and {to} with several --to) have no single value there",
			o->manifest);
	vars.option = "--manifest";
	if (outpath_expand(o->manifest, &vars, path, e))
		return -1;
	/* Refused now: found at the commit, the plan would retry the rename every night (§4.7). */
	if (names_dir(*path))
		return err_set(e, ERR_CANTCREAT, "--manifest %s: is a directory; give a file name",
			       *path);
	return 0;
}

static int add_file(void *ctx, struct sink *file, const char *chat)
{
	void **pair = ctx;

	return manifest_add(pair[0], file, chat, pair[1]);
}

int report_manifest(const struct report *rp, const char *path, struct fsutil_staged *s,
		    struct err *e)
{
	const struct options *o = rp->o;
	struct manifest m = { 0 };
	struct manifest_run mr = { 0 };
	void *pair[2] = { &m, e };
	int gz, format = output_format(o, rp->path, &gz), rc = -1;

	m.ndjson = format == OUTPATH_NDJSON;
	m.gzip = gz;
	for (size_t i = 0; i < rp->npipelines; i++)
		if (pipeline_each_file(rp->pipelines[i], add_file, pair))
			goto out;
	mr.command = o->cmd == CMD_FETCH ? "fetch" : "convert";
	mr.from = o->cmd == CMD_FETCH ? o->from : NULL;
	mr.to = o->cmd == CMD_FETCH ? o->to : NULL;
	mr.nto = o->cmd == CMD_FETCH ? o->nto : 0;
	mr.started = rp->started;
	mr.finished = (long long)time(NULL);
	mr.format = format == OUTPATH_XLSX ? "xlsx" : m.ndjson ? "ndjson" : "csv";
	mr.gzip = m.gzip;
	mr.tz = o->tz;
	mr.messages = rp->messages;
	mr.pages = rp->pages;
	mr.duplicates = rp->duplicates;
	mr.retries = rp->retries;
	mr.warnings = rp->warnings;
	mr.media_downloaded = rp->media_downloaded;
	mr.media_present = rp->media_present;
	mr.media_failed = rp->media_failed;
	mr.have_before = rp->have_before;
	mr.checkpoint_before = rp->checkpoint_before;
	mr.have_after = rp->have_after;
	mr.checkpoint_after = rp->checkpoint_after;
	rc = manifest_stage(&m, path, &mr, s, e);
out:
	manifest_free(&m);
	return rc;
}
