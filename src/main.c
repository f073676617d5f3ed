/*
 * main: wires the stages together (cli → input|fetch → page → pipeline →
 * writer → sink), owns the signals, the summary line and the exit code.
 * Exit codes are SPEC §3; every non-zero exit says on one stderr line what
 * failed and what to do.
 */
#include "cli.h"
#include "err.h"
#include "fetch.h"
#include "input.h"
#include "media.h"
#include "metrics.h"
#include "outpath.h"
#include "page.h"
#include "pipeline.h"
#include "progress.h"
#include "state.h"
#include "text.h"
#include "tz.h"
#include "warn.h"
#include "when.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
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

/* What the whole run shares, whichever command feeds the pipelines. */
struct run {
	struct options *opts;
	struct tz *tz;
	struct warn warn;
	struct progress progress;
	struct page *page;
	struct target *targets;
	size_t ntargets;
	struct target *current;
	struct sink *raw;            /* --save-raw */
	char *raw_path;
	struct buf line;             /* a raw page made single-line */
	struct fetch_stats fetch;
	unsigned consecutive_seen;   /* full pages with nothing new (SPEC §5.2) */
	long long fetch_since;       /* --since, for the early end of paging */
	struct state *state;         /* --state */
	struct media *media;         /* --media-dir */
	long long lookback;
	int has_floor;               /* the current target has a checkpoint */
	long long floor;
	int probe_grew;
	struct buf first_unique;     /* page 1's newest message: did history grow meanwhile? */
	int sequential;              /* growth seen: one page at a time */
	unsigned long long bytes_in;
	double started;
};

#define API_PAGE_SIZE 50

static int check_stop(struct err *e)
{
	if (!stop_flag)
		return 0;
	err_set(e, ERR_INTERRUPTED, "interrupted");
	return -1;
}

static void totals(const struct run *r, struct pipeline_stats *t, unsigned long long *bytes)
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
		t->messages += s->messages;
		t->duplicates += s->duplicates;
		t->filtered += s->filtered;
		*bytes += pipeline_bytes_out(g->pipeline);
	}
}

static void show_progress(struct run *r)
{
	struct pipeline_stats t;
	struct progress_figures f;

	if (!r->progress.live)
		return;
	totals(r, &t, &f.bytes);
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
	int ndjson = 0, gz = 0;

	memset(po, 0, sizeof(*po));
	if (strcmp(path, "-"))
		outpath_infer(path, &ndjson, &gz);
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
		writer_default_columns(&po->writer, o->media_dir != NULL);
		po->writer.extras = 1;
	}
	po->sink.path = path;
	po->sink.gzip = o->gzip >= 0 ? o->gzip : gz;
	po->sink.level = o->gzip_level;
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
		if (pipeline_open(&g->pipeline, &po, &r->warn, e))
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
	struct input_feed *feed = NULL;
	struct page *pg;
	const char *body, *file, *last_file = NULL;
	int got;

	if (!o->nfiles && isatty(STDIN_FILENO))
		return err_set(e, ERR_USAGE, "no input: name saved API responses (FILE...) or pipe "
			       "them into standard input (see 'waexport convert --help')");
	/* Fail before writing anything when an input cannot be read. */
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i], "-") && access(files[i], R_OK))
			return err_set(e, ERR_USAGE, "%s: cannot read: %s", files[i], strerror(errno));
	if (input_feed_start(&feed, files, nfiles, e))
		return -1;
	r->current = &r->targets[0];
	while ((got = input_feed_next(feed, &pg, &body, &file, &stop_flag, e)) > 0) {
		struct pipeline_page_result res;

		if (file != last_file) {
			warn_where(&r->warn, "%s", file);
			last_file = file;
		}
		if (pipeline_page(r->current->pipeline, pg, body, &res, e)) {
			got = -1;
			break;
		}
		show_progress(r);
	}
	input_feed_stop(feed);
	return got < 0 ? -1 : 0;
}

static int save_raw(struct run *r, const char *body, size_t len, struct err *e)
{
	if (!r->raw)
		return 0;
	r->line.len = 0;
	if (buf_reserve(&r->line, 2 * len + 1))
		return err_nomem(e);
	r->line.len = text_json_single_line(r->line.data, body, len);
	r->line.data[r->line.len++] = '\n';
	if (sink_write(r->raw, r->line.data, r->line.len, e))
		return err_prefix(e, "--save-raw: ");
	return 0;
}

static int on_fetch_page(void *ctx, unsigned long page_no, const char *body, size_t len,
			 struct err *e)
{
	struct run *r = ctx;
	struct pipeline_page_result res;
	size_t n;

	if (check_stop(e))
		return -1;
	warn_where(&r->warn, "page %lu", page_no);
	page_reset(r->page);
	if (page_parse(r->page, body, len, 1, e) < 0) {
		if (e->kind == ERR_DATA && e->offset >= 0)
			err_prefix(e, "byte %lld: ", e->offset);
		if (e->kind == ERR_DATA)
			return err_prefix(e, "the API answered something that is not a page of "
					  "messages: ");
		return -1;
	}
	if (page_no == 1) {
		struct record first;

		r->first_unique.len = 0;
		if (page_count(r->page) && page_record(r->page, body, 0, &first) == 0 &&
		    first.f[REC_UNIQUE].kind == FIELD_STRING &&
		    buf_add(&r->first_unique, first.f[REC_UNIQUE].p, first.f[REC_UNIQUE].len))
			return err_nomem(e);
	}
	if (save_raw(r, body, len, e))
		return -1;
	if (pipeline_select(r->current->pipeline, r->page, body, &res, e))
		return -1;
	if (r->media) {
		const char *const *files;

		/* Only the messages being written: not duplicates, not outside --since. */
		if (media_page(r->media, r->page, body, pipeline_selected(r->current->pipeline),
			       &files, e))
			return -1;
		pipeline_set_media(r->current->pipeline, files);
	}
	if (pipeline_write(r->current->pipeline, r->page, body, e))
		return -1;
	show_progress(r);
	n = page_count(r->page);
	if (n < API_PAGE_SIZE)
		return FETCH_END; /* SPEC §5.1: an empty or short page is the last */
	/* SPEC §5.2: only messages already written count, not ones filtered out. */
	if (res.repeated == res.records) {
		if (++r->consecutive_seen >= 2)
			return err_set(e, ERR_DATA, "a second full page of messages already seen; the "
				       "server seems to ignore 'page' (stopping so the run cannot loop "
				       "forever)");
	} else {
		r->consecutive_seen = 0;
	}
	if (res.has_oldest && r->opts->since && res.oldest < r->fetch_since)
		return FETCH_END; /* older pages hold only messages before --since */
	if (res.has_oldest && r->has_floor && res.oldest < r->floor)
		return FETCH_END; /* SPEC §5.3: the rest was exported by an earlier run */
	return FETCH_MORE;
}
#define DEFAULT_URL "https://api.99digital.co.il/whatsapp/v2/getHistory"

/* The key: --api-key-file, else $WAEXPORT_API_KEY; never an option (SPEC §2). */
static int load_key(struct run *r, struct buf *key, struct err *e)
{
	const char *file = r->opts->api_key_file, *env = getenv("WAEXPORT_API_KEY");

	key->len = 0;
	if (file) {
		FILE *f = fopen(file, "r");
		struct stat st;
		char chunk[4096];
		size_t n;

		if (!f)
			return err_set(e, ERR_USAGE, "--api-key-file %s: cannot read: %s", file,
				       strerror(errno));
		if (!fstat(fileno(f), &st) && (st.st_mode & 077))
			warn_note(&r->warn, "--api-key-file %s is readable by other users; "
				  "run 'chmod 600 %s'", file, file);
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			if (key->len + n > 4096 || buf_add(key, chunk, n)) {
				fclose(f);
				return err_set(e, ERR_USAGE, "--api-key-file %s: too large for a key", file);
			}
		fclose(f);
		memset(chunk, 0, sizeof(chunk));
	} else if (env) {
		if (buf_adds(key, env))
			return err_nomem(e);
	}
	while (key->len && strchr(" \t\r\n", key->data[key->len - 1]))
		key->len--;
	if (buf_addc(key, '\0'))
		return err_nomem(e);
	key->len--;
	if (!key->len) {
		if (file)
			return err_set(e, ERR_USAGE, "--api-key-file %s holds no key", file);
		return err_set(e, ERR_USAGE, "no API key: set WAEXPORT_API_KEY or use --api-key-file PATH");
	}
	if (strpbrk(key->data, "\r\n"))
		return err_set(e, ERR_USAGE, "the API key holds a line break; put only the key in the file");
	return 0;
}

static const char *fetch_url(const struct options *o)
{
	const char *env_url = getenv("WAEXPORT_URL");

	return o->url ? o->url : env_url && *env_url ? env_url : DEFAULT_URL;
}

/* The probe's answer: is page 1 still led by the message that led it at the start? */
static int on_probe(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	struct run *r = ctx;
	struct record first;
	const struct field *u;

	(void)page_no;
	page_reset(r->page);
	if (page_parse(r->page, body, len, 1, e) < 0)
		return -1;
	r->probe_grew = 0;
	if (!page_count(r->page) || page_record(r->page, body, 0, &first) != 0)
		return FETCH_END;
	u = &first.f[REC_UNIQUE];
	r->probe_grew = u->kind != FIELD_STRING || u->len != r->first_unique.len ||
			memcmp(u->p, r->first_unique.data, u->len);
	return FETCH_END;
}

/*
 * SPEC §5.2: pages fetched together may be answered on either side of new
 * messages arriving, and a page answered before a shift next to one
 * answered after it leaves a gap no page shows. So when pages were in
 * flight together, page 1 is asked again at the end: if new messages came
 * in meanwhile, the walk may have skipped some, and the run is redone one
 * page at a time (each page asked for after the previous one arrived,
 * which can only repeat messages, and repeats are dropped).
 */
static int history_grew(struct run *r, const struct fetch_opts *walk, struct err *e)
{
	struct fetch_opts fo = *walk;
	struct fetch_stats st = { 0 };

	fo.concurrency = 1;
	fo.max_pages = 1;
	fo.slow_start = 0;
	r->probe_grew = 0;
	if (fetch_run(&fo, on_probe, r, &st, e))
		return -1;
	r->fetch.requests += st.requests;
	r->fetch.retries += st.retries;
	return r->probe_grew;
}

#define RUN_AGAIN 1

static int run_fetch(struct run *r, struct buf *key, struct err *e)
{
	struct options *o = r->opts;
	struct fetch_opts fo = { 0 };
	const char *base = getenv("WAEXPORT_RETRY_BASE"); /* tests: shorter backoff */

	fo.url = fetch_url(o);
	fo.api_key = key->data;
	fo.from = o->from;
	fo.concurrency = r->sequential ? 1 : o->concurrency;
	fo.retries = o->retries;
	fo.timeout = o->timeout;
	fo.max_pages = o->max_pages;
	fo.cacert = o->cacert;
	fo.stop = &stop_flag;
	fo.retry_base = base ? atof(base) : 0;
	if (o->media_dir && !r->media && media_open(&r->media, o->media_dir, &fo, &r->warn, e))
		return -1;
	for (size_t i = 0; i < r->ntargets; i++) {
		struct target *g = &r->targets[i];
		const struct checkpoint *cp = r->state ? state_get(r->state, o->from, g->to) : NULL;
		struct pipeline_checkpoint pc;
		int before = r->fetch.max_in_flight, grew;
		unsigned long long pages = r->fetch.pages;

		r->current = g;
		r->consecutive_seen = 0;
		r->first_unique.len = 0;
		r->fetch.max_in_flight = 0;
		fo.to = g->to;
		r->has_floor = cp != NULL;
		fo.slow_start = cp != NULL;
		if (cp) {
			/* Without --lookback, skip exactly what the last run wrote at its newest second. */
			pc.floor = r->floor = cp->ts - r->lookback;
			pc.skip_ts = cp->ts;
			pc.skip = cp->uniques;
			pc.nskip = r->lookback ? 0 : cp->nuniques;
		}
		pipeline_set_checkpoint(g->pipeline, cp ? &pc : NULL);
		if (fetch_run(&fo, on_fetch_page, r, &r->fetch, e)) {
			if (g->to && (e->kind == ERR_UNAVAILABLE || e->kind == ERR_DATA ||
				      e->kind == ERR_REFUSED))
				err_prefix(e, "--to %s: ", g->to);
			return -1;
		}
		grew = 0;
		if (r->fetch.max_in_flight > 1 && r->fetch.pages - pages > 1 && r->first_unique.len) {
			grew = history_grew(r, &fo, e);
			if (grew < 0)
				return -1;
		}
		if (r->fetch.max_in_flight < before)
			r->fetch.max_in_flight = before;
		if (grew) {
			warn_note(&r->warn, "%s%snew messages arrived while pages were fetched side by "
				  "side; fetching again one page at a time so none is missed",
				  g->to ? "--to " : "", g->to ? g->to : "");
			return RUN_AGAIN;
		}
		if (r->state) {
			const struct pipeline_newest *n = pipeline_take_newest(g->pipeline);

			g->newest_ts = n->ts;
			if (n->have && n->nuniques) {
				g->newest = calloc(n->nuniques, sizeof(*g->newest));
				if (!g->newest)
					return err_nomem(e);
			}
			for (size_t k = 0; n->have && k < n->nuniques; k++)
				if (!(g->newest[g->nnewest++] = strdup(n->uniques[k])))
					return err_nomem(e);
		}
		if (g->shared || (i + 1 < r->ntargets && r->targets[i + 1].shared))
			if (pipeline_segment_end(g->pipeline, e))
				return -1;
	}
	/* The checkpoints move in memory now; the file is replaced after the outputs. */
	for (size_t i = 0; r->state && i < r->ntargets; i++) {
		struct target *g = &r->targets[i];

		if (g->nnewest && state_set(r->state, o->from, g->to, g->newest_ts, g->newest,
					    g->nnewest, e))
			return -1;
	}
	return 0;
}

static void summary(struct run *r)
{
	struct pipeline_stats t;
	unsigned long long bytes;
	char size[32];
	double secs = progress_now() - r->started;
	const char *path = r->targets[0].path;
	size_t files = 0;

	progress_clear(&r->progress);
	if (r->opts->quiet)
		return;
	totals(r, &t, &bytes);
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

/* Everything checkable is checked before the first connection or file. */
static int prepare_fetch(struct run *r, struct pipeline_opts *filter, struct buf *key,
			 struct err *e)
{
	struct options *o = r->opts;
	long long now = (long long)time(NULL);

	if (fetch_check_url(fetch_url(o), e))
		return -1;
	if (o->cacert && access(o->cacert, R_OK))
		return err_set(e, ERR_USAGE, "--cacert %s: cannot read: %s", o->cacert, strerror(errno));
	if (o->since && when_parse("--since", o->since, r->tz, now, &filter->since, e))
		return -1;
	if (o->until && when_parse("--until", o->until, r->tz, now, &filter->until, e))
		return -1;
	filter->has_since = o->since != NULL;
	filter->has_until = o->until != NULL;
	r->fetch_since = filter->since;
	if (o->lookback && when_duration("--lookback", o->lookback, &r->lookback, e))
		return -1;
	if (load_key(r, key, e))
		return -1;
	/* Lock before any output is touched: a concurrent run must change nothing. */
	return o->state ? state_open(&r->state, o->state, e) : 0;
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

static int run(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	struct pipeline_opts filter = { 0 };
	struct outpath_vars vars = { 0 };
	struct buf key = BUF_INIT;
	char today[11];
	int rc = -1;

	if (tz_open(&r->tz, o->tz, e))
		goto out;
	if (o->cmd == CMD_FETCH && prepare_fetch(r, &filter, &key, e))
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
	if (check_stop(e) || commit_all(r, e))
		goto out;
	summary(r);
	rc = 0;
out:
	if (key.data)
		memset(key.data, 0, key.cap);
	buf_free(&key);
	return rc;
}

static void close_run(struct run *r)
{
	close_outputs(r);
	state_close(r->state);
	media_close(r->media);
	buf_free(&r->first_unique);
	buf_free(&r->line);
	page_free(r->page);
	tz_free(r->tz);
}

/* SPEC §6: after every run, success or failure. */
static void write_metrics(struct run *r, int exit_code)
{
	struct pipeline_stats t = { 0 };
	unsigned long long bytes = 0;
	struct metrics mt = { 0 };
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	struct timespec now;

	if (r->targets)
		totals(r, &t, &bytes);
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

int main(int argc, char **argv)
{
	struct options opts;
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	struct run r;
	int rc;

	install_signals();
	if (fetch_global_init(&e)) {
		fprintf(stderr, "waexport: %s\n", e.msg);
		return exit_code(&e);
	}
	if (cli_parse(&opts, argc, argv, &e)) {
		fprintf(stderr, "waexport: %s\n", e.msg);
		cli_free(&opts);
		fetch_global_cleanup();
		return exit_code(&e);
	}
	if (opts.cmd == CMD_HELP) {
		fputs(cli_help(opts.help_for), stdout);
		cli_free(&opts);
		return fflush(stdout) ? 74 : 0;
	}
	if (opts.cmd == CMD_VERSION) {
		printf("waexport %s (libcurl/%s, zlib/%s, jsmn/1.1.0, libcsv/3.0.3)\n",
		       WAEXPORT_VERSION, curl_version_info(CURLVERSION_NOW)->version, zlibVersion());
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
	if (opts.metrics_file)
		write_metrics(&r, rc);
	close_run(&r);
	fetch_global_cleanup();
	cli_free(&opts);
	return rc;
}
