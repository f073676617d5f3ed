/*
 * main: wires the stages together (cli → input|fetch → page → pipeline →
 * writer → sink), owns the signals, the summary line and the exit code.
 * Exit codes are SPEC §3; every non-zero exit says on one stderr line what
 * failed and what to do.
 */
#include "cli.h"
#include "err.h"
#include "input.h"
#include "outpath.h"
#include "page.h"
#include "pipeline.h"
#include "progress.h"
#include "tz.h"
#include "warn.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static volatile sig_atomic_t got_signal;
static volatile int stop_flag; /* what the stages poll */

static void on_signal(int signo)
{
	got_signal = signo;
	stop_flag = 1;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a blocked read returns EINTR and the run can end. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int exit_code(const struct err *e)
{
	switch (e->kind) {
	case ERR_NONE: return 0;
	case ERR_USAGE: return 64;
	case ERR_DATA: return 65;
	case ERR_UNAVAILABLE: return 69;
	case ERR_SOFTWARE: return 70;
	case ERR_CANTCREAT: return 73;
	case ERR_IO: return 74;
	case ERR_LOCKED: return 75;
	case ERR_REFUSED: return 77;
	case ERR_INTERRUPTED: return e->signo == SIGTERM ? 143 : 130;
	}
	return 70;
}

/* What the whole run shares, whichever command feeds the pipeline. */
struct run {
	struct options *opts;
	struct tz *tz;
	struct warn warn;
	struct progress progress;
	struct page *page;
	struct pipeline *pipeline;
	char *path;
	unsigned long long bytes_in;
	double started;
};

static int check_stop(struct err *e)
{
	if (!stop_flag)
		return 0;
	err_set(e, ERR_INTERRUPTED, "interrupted");
	return -1;
}

static void show_progress(struct run *r)
{
	const struct pipeline_stats *s = pipeline_stats(r->pipeline);
	struct progress_figures f = {
		.pages = s->pages, .messages = s->messages, .duplicates = s->duplicates,
		.warnings = r->warn.count, .bytes = pipeline_bytes_out(r->pipeline),
	};

	progress_update(&r->progress, &f);
}

static int build_pipeline_opts(struct run *r, const struct outpath_vars *vars,
			       struct pipeline_opts *po, struct err *e)
{
	struct options *o = r->opts;
	int ndjson = 0, gz = 0;

	memset(po, 0, sizeof(*po));
	if (outpath_expand(o->output, vars, &r->path, e))
		return -1;
	if (strcmp(r->path, "-"))
		outpath_infer(r->path, &ndjson, &gz);
	if (o->format)
		ndjson = !strcmp(o->format, "ndjson");
	po->writer.format = ndjson ? WRITER_NDJSON : WRITER_CSV;
	po->writer.excel = o->excel;
	po->writer.tz = r->tz;
	if (o->excel && ndjson)
		return err_set(e, ERR_USAGE, "--excel is a CSV dialect; it does not apply to NDJSON");
	if (o->columns) {
		if (writer_parse_columns(&po->writer, o->columns, e))
			return -1;
	} else {
		writer_default_columns(&po->writer, 0);
		po->writer.extras = 1;
	}
	po->sink.path = r->path;
	po->sink.gzip = o->gzip >= 0 ? o->gzip : gz;
	po->sink.level = o->gzip_level;
	po->order = o->order_newest ? ORDER_NEWEST : ORDER_OLDEST;
	return 0;
}

static int on_page(void *ctx, struct page *pg, const char *body, size_t len,
		   unsigned long page_no, struct err *e)
{
	struct run *r = ctx;
	struct pipeline_page_result res;

	(void)len;
	(void)page_no;
	if (check_stop(e) || pipeline_page(r->pipeline, pg, body, &res, e))
		return -1;
	show_progress(r);
	return 0;
}

static int run_convert(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	char *stdin_only[] = { "-" };
	char **files = o->nfiles ? o->files : stdin_only;
	size_t nfiles = o->nfiles ? o->nfiles : 1;

	if (!o->nfiles && isatty(STDIN_FILENO))
		return err_set(e, ERR_USAGE, "no input: name saved API responses (FILE...) or pipe "
			       "them into standard input (see 'waexport convert --help')");
	/* Fail before writing anything when an input cannot be read. */
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i], "-") && access(files[i], R_OK))
			return err_set(e, ERR_USAGE, "%s: cannot read: %s", files[i], strerror(errno));
	for (size_t i = 0; i < nfiles; i++) {
		warn_where(&r->warn, "%s", strcmp(files[i], "-") ? files[i] : "standard input");
		if (input_read(files[i], r->page, on_page, r, &r->bytes_in, &stop_flag, e))
			return -1;
	}
	return 0;
}

static void summary(struct run *r, const char *verb)
{
	const struct pipeline_stats *s = pipeline_stats(r->pipeline);
	char size[32];
	double secs = progress_now() - r->started;

	progress_clear(&r->progress);
	if (r->opts->quiet)
		return;
	fprintf(stderr, "waexport: %s %llu messages from %llu pages (%llu duplicates dropped, "
		"%llu warnings) to %s (%s) in %.2f s\n", verb, s->messages, s->pages, s->duplicates,
		r->warn.count, strcmp(r->path, "-") ? r->path : "standard output",
		progress_bytes(pipeline_bytes_out(r->pipeline), size, sizeof(size)), secs);
}

static int run(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	struct outpath_vars vars = { 0 };
	struct pipeline_opts po;
	char today[11];

	if (tz_open(&r->tz, o->tz, e))
		return -1;
	if (tz_date(r->tz, (long long)time(NULL), today))
		return err_set(e, ERR_SOFTWARE, "cannot read the clock");
	vars.date = today;
	if (build_pipeline_opts(r, &vars, &po, e))
		return -1;
	r->page = page_new();
	if (!r->page)
		return err_nomem(e);
	if (pipeline_open(&r->pipeline, &po, &r->warn, e))
		return -1;
	if (run_convert(r, e) || check_stop(e) || pipeline_commit(r->pipeline, e))
		return -1;
	summary(r, "wrote");
	return 0;
}

int main(int argc, char **argv)
{
	struct options opts;
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	struct run r;
	int rc;

	install_signals();
	if (cli_parse(&opts, argc, argv, &e)) {
		fprintf(stderr, "waexport: %s\n", e.msg);
		cli_free(&opts);
		return exit_code(&e);
	}
	if (opts.cmd == CMD_HELP) {
		fputs(cli_help(opts.help_for), stdout);
		cli_free(&opts);
		return fflush(stdout) ? 74 : 0;
	}
	if (opts.cmd == CMD_VERSION) {
		printf("waexport %s (jsmn 1.1.0, libcsv 3.0.3, zlib %s)\n", WAEXPORT_VERSION, zlibVersion());
		cli_free(&opts);
		return fflush(stdout) ? 74 : 0;
	}
	memset(&r, 0, sizeof(r));
	r.opts = &opts;
	r.started = progress_now();
	warn_init(&r.warn, opts.quiet);
	progress_init(&r.progress, opts.progress > 0 || (opts.progress < 0 && !opts.quiet &&
							 isatty(STDERR_FILENO)));
	rc = run(&r, &e);
	if (rc) {
		progress_clear(&r.progress);
		if (got_signal) {
			e.kind = ERR_INTERRUPTED;
			e.signo = got_signal;
			snprintf(e.msg, sizeof(e.msg), "interrupted by %s; nothing was written (any "
				 "previous output is untouched)", got_signal == SIGTERM ? "SIGTERM" : "SIGINT");
		}
		if (sink_broken_pipe(&e)) {
			rc = 141; /* the reader closed our stdout (| head): end quietly, like cat */
		} else {
			fprintf(stderr, "waexport: %s\n", e.msg);
			rc = exit_code(&e);
		}
	}
	pipeline_close(r.pipeline);
	page_free(r.page);
	tz_free(r.tz);
	free(r.path);
	cli_free(&opts);
	return rc;
}
