#include "fetch.h"
#include "fetch_impl.h"
#include "output.h"
#include "fsutil.h"
#include "http.h"
#include "key.h"
#include "manifest.h"
#include "nextcp.h"
#include "media.h"
#include "outpath.h"
#include "probe.h"
#include "progress.h"
#include "report.h"
#include "resume.h"
#include "state.h"
#include "when.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_URL "https://api.99digital.co.il/whatsapp/v2/getHistory"

static const char *fetch_url(const struct options *o)
{
	const char *env_url = getenv("WAEXPORT_URL");

	return o->url ? o->url : env_url && *env_url ? env_url : DEFAULT_URL;
}

/* Everything checkable is checked before the first connection or file. */
int fetch_new(struct fetch **out, const struct options *o, struct tz *tz, const volatile int *stop,
	      struct warn *warn, struct when_window *win, struct err *e)
{
	struct fetch *f;
	struct stat st;
	long long now = (long long)time(NULL);

	*out = NULL;
	memset(win, 0, sizeof(*win));
	if (http_check_url(fetch_url(o), e))
		return -1;
	if (o->cacert && access(o->cacert, R_OK))
		return err_set(e, ERR_USAGE, "--cacert %s: cannot read: %s", o->cacert,
			       strerror(errno));
	if (o->since && when_parse("--since", o->since, tz, now, &win->since, e))
		return -1;
	if (o->until && when_parse("--until", o->until, tz, now, &win->until, e))
		return -1;
	win->has_since = o->since != NULL;
	win->has_until = o->until != NULL;
	/* An empty window would fetch pages to export nothing and exit 0 (SPEC §2). */
	if (win->has_since && win->has_until && win->since >= win->until)
		return err_set(e, ERR_USAGE,
			       "--since %s is at or after --until %s: no message can "
			       "match; --since is the start of the window, --until its end",
			       o->since, o->until);
	if (!(f = calloc(1, sizeof(*f))))
		return err_nomem(e);
	*out = f;
	f->o = o;
	f->stop = stop;
	f->warn = warn;
	f->since = win->since;
	f->has_since = win->has_since;
	if (o->lookback && when_duration("--lookback", o->lookback, &f->lookback, e))
		return -1;
	if (key_load(o->api_key_file, warn, &f->key, e))
		return -1;
	/* Lock before any output is touched: a concurrent run must change nothing. */
	if (!o->state || state_open(&f->state, o->state, e))
		return o->state ? -1 : 0;
	if (state_completed(f->state))
		warn_note(warn,
			  "--state %s: completed the commit of an earlier run that stopped while "
			  "moving its files into place: %zu files",
			  o->state, state_completed(f->state));
	if (state_abandoned(f->state))
		warn_note(warn,
			  "--state %s: a file an earlier run had staged is gone: nothing of that "
			  "run was moved into place, its messages are exported again (%s)",
			  o->state, state_abandoned(f->state));
	/*
	 * SPEC §4.7: a nightly job that stopped for months is about to lose
	 * messages to the API's one-year limit. The state file is rewritten by
	 * every successful run, so its age is the age of the last success; the
	 * checkpoint's own time (the newest message exported) says it too, and
	 * also for a state restored or copied since (where the file is new).
	 */
	if (!stat(o->state, &st)) {
		const struct checkpoint *cp, *oldest = NULL;

		for (size_t i = 0; i < (o->nto ? o->nto : 1); i++)
			if ((cp = state_get(f->state, o->from, o->nto ? o->to[i] : NULL)) &&
			    (!oldest || cp->ts < oldest->ts))
				oldest = cp;
		manifest_check_age(warn, "--state: ", (long long)st.st_mtime, oldest != NULL,
				   oldest ? oldest->ts : 0, now);
		/*
		 * Only the last success's age lets a few old pages end the walk: an
		 * old checkpoint alone may be a quiet account, and pages of late
		 * deliveries above its head must still be walked (a slow night at
		 * worst: a deleted head then costs a full walk, not a message).
		 */
		f->head_may_expire =
			now - (long long)st.st_mtime > MANIFEST_CHECKPOINT_WARN_DAYS * 86400LL;
	}
	return 0;
}

void fetch_close_raw(struct fetch *f)
{
	sink_close(f->raw);
	f->raw = NULL;
	free(f->raw_path);
	f->raw_path = NULL;
}

int fetch_open_raw(struct fetch *f, struct outpath_vars vars, struct err *e)
{
	const struct options *o = f->o;
	struct sink_opts so = { .level = 6 };

	fetch_close_raw(f);
	if (!o->save_raw)
		return 0;
	vars.to = o->nto == 1 ? o->to[0] : NULL;
	vars.no_to = o->nto > 1; /* one file for every --to: {to} has no value */
	vars.keep_chat = 0;
	vars.option = "--save-raw";
	if (outpath_expand(o->save_raw, &vars, &f->raw_path, e))
		return -1;
	if (fsutil_need_parent(f->raw_path, o->create_dirs, "--save-raw", e))
		return -1;
	if (o->state) /* under its lock: what a killed run left (sink.c does so for appends) */
		output_clear_family(o->save_raw, f->raw_path, &vars);
	outpath_infer(f->raw_path, NULL, &so.gzip); /* page bodies, one a line */
	so.path = f->raw_path;
	/*
	 * SPEC §4.4: under --state no run replaces what an earlier one kept (a
	 * rerun, {date}). Its pages go before the earlier runs', so the file stays
	 * newest first, as convert reads a history.
	 */
	so.append = so.older_after = o->state != NULL;
	so.option = "--save-raw";
	return sink_open(&f->raw, &so, e) ? err_prefix(e, "--save-raw: ") : 0;
}

int fetch_finish_raw(struct fetch *f, int publish, struct err *e)
{
	if (f->raw && (publish ? sink_publish : sink_finish)(f->raw, e))
		return err_prefix(e, "--save-raw: ");
	return 0;
}

struct sink *fetch_raw(struct fetch *f)
{
	return f->raw;
}

struct state *fetch_state(struct fetch *f)
{
	return f->state;
}

void fetch_set_progress(struct fetch *f, void (*fn)(void *ctx), void *ctx)
{
	f->progress = fn;
	f->progress_ctx = ctx;
}

/* Where the last successful run stopped, for this target's pipeline and walk. */
static void set_checkpoint(struct fetch *f, const char *to, struct walk_opts *wo)
{
	const struct checkpoint *cp = f->state ? state_get(f->state, f->o->from, to) : NULL;
	long long now = (long long)time(NULL);
	struct select_checkpoint pc;

	nextcp_begin(&f->cpw, cp, f->lookback, now, f->head_may_expire, &pc);
	wo->slow_start = cp != NULL;
	wo->first_alone = 1; /* page 1's head is what the walk's end compares with (probe.h) */
	if (cp) {
		if (!f->have_before || cp->ts < f->before)
			f->before = cp->ts;
		f->have_before = 1;
	}
	/* Without --state there is no next checkpoint to find: nothing to select by. */
	pipeline_set_checkpoint(f->pl, f->state ? &pc : NULL);
}

/*
 * --max-pages ended the walk before the history (or the last run's head)
 * did: what lies beyond was not exported, so the checkpoint stays where it
 * was and the next run walks to it again (these pages are written twice:
 * at least once).
 */
static void keep_checkpoint(struct fetch *f, const char *to)
{
	warn_note(f->warn,
		  "%s%s%sstopped at --max-pages %ld before %s; the checkpoint does not move, "
		  "so the next run exports what lies beyond (and these pages again)",
		  to ? "--to " : "", to ? to : "", to ? ": " : "", f->o->max_pages,
		  state_get(f->state, f->o->from, to) ? "the last run's checkpoint"
						      : "the end of the history");
}

/* One target's walk. FETCH_AGAIN when history grew under a walk with pages side by side. */
static int walk_target(struct fetch *f, struct fetch_target *g, struct walk_opts *wo,
		       const struct walk_transport *t, struct http_page_query *q, struct err *e)
{
	int before = f->stats.max_in_flight, grew = 0;
	unsigned long long pages = f->stats.pages;

	f->pl = g->pipeline;
	if (f->media)
		pipeline_set_media(f->pl, fetch_on_media, f);
	f->consecutive_seen = f->seen_streak = 0;
	f->first_unique.len = 0;
	f->stats.max_in_flight = 0;
	f->stats.capped = 0;
	q->to = g->to;
	set_checkpoint(f, g->to, wo);
	if (f->resume && resume_usable(f->resume) ? fetch_walk_resumed(f, wo, t, e)
						  : fetch_walk_pages(f, wo, t, e)) {
		if (g->to &&
		    (e->kind == ERR_UNAVAILABLE || e->kind == ERR_DATA || e->kind == ERR_REFUSED))
			err_prefix(e, "--to %s: ", g->to);
		return -1;
	}
	/* A checked walk checked each stretch as it went (fetch_walk_pages). */
	if (!fetch_walk_checked(f) && f->stats.max_in_flight > 1 && f->stats.pages - pages > 1 &&
	    f->first_unique.len) {
		if ((grew = probe_page_one(wo, t, f->first_unique.data, f->first_unique.len, NULL,
					   &f->stats, e)) < 0)
			return -1;
	}
	if (f->stats.max_in_flight < before)
		f->stats.max_in_flight = before;
	if (grew) {
		warn_note(f->warn,
			  "%s%s%snew messages arrived while pages were fetched side by side; "
			  "fetching again, each stretch of pages checked against page 1, so "
			  "none is missed",
			  g->to ? "--to " : "", g->to ? g->to : "", g->to ? ": " : "");
		f->shifted = 1;
		return FETCH_AGAIN;
	}
	if (f->state && f->stats.capped)
		keep_checkpoint(f, g->to);
	else if (f->state && nextcp_keep(&f->next, g->to, state_get(f->state, f->o->from, g->to),
					 pipeline_take_checkpoint(g->pipeline), e))
		return -1;
	if (g->shares_file)
		pipeline_segment_end(g->pipeline);
	return 0;
}

/* The walk waits for a retry (NULL: no more): the progress line says why (SPEC §6). */
static void on_wait(void *ctx, const struct walk_wait *w)
{
	struct fetch *f = ctx;

	f->wait = w;
	if (f->progress)
		f->progress(f->progress_ctx);
	f->wait = NULL;
}

int fetch_run(struct fetch *f, struct fetch_target *t, size_t n, struct err *e)
{
	const struct options *o = f->o;
	struct http_opts ho = { .timeout = o->timeout,
				.cacert = o->cacert,
				.concurrency = o->concurrency,
				.stop = f->stop };
	struct http_page_query q = { .url = fetch_url(o), .api_key = f->key.data, .from = o->from };
	struct walk_opts wo = { .concurrency = o->concurrency,
				.retries = o->retries,
				.max_pages = o->max_pages,
				.stop = f->stop,
				.on_wait = on_wait,
				.wait_ctx = f,
				.confirm_empty = 1 };
	struct walk_transport tr;
	const char *base = getenv("WAEXPORT_RETRY_BASE"); /* tests: shorter backoff */
	int rc = 0;

	nextcp_clear(&f->next);
	f->journal_pages = f->overlap_duplicates = 0; /* FETCH_AGAIN starts the figures over */
	wo.retry_base = base ? atof(base) : 0;
	if (o->media_dir && !f->media &&
	    media_open(&f->media, o->media_dir, &wo, &f->stats, f->warn, e))
		return -1;
	if (http_new(&f->http, &ho, e))
		return -1;
	if (wo.concurrency > http_page_max(f->http))
		wo.concurrency = http_page_max(f->http);
	http_pages(f->http, &q, &tr);
	for (size_t i = 0; i < n && !rc; i++) {
		if (f->state && fetch_open_journal(f, i, &t[i], n, e))
			rc = -1;
		else
			rc = walk_target(f, &t[i], &wo, &tr, &q, e);
		if (f->resume)
			resume_pause(f->resume);
	}
	f->resume = NULL;
	http_free(f->http);
	f->http = NULL;
	return rc;
}

int fetch_stage_state(struct fetch *f, struct err *e)
{
	if (!f->state)
		return 0;
	return nextcp_apply(&f->next, f->state, f->o->from, e) || state_stage(f->state, e) ? -1 : 0;
}

int fetch_publish_state(struct fetch *f, struct err *e)
{
	struct err gone;

	if (!f->state)
		return 0;
	if (state_publish(f->state, e))
		return -1;
	/*
	 * Only now is every page of the journal in an output and past the
	 * checkpoint. Everything is in place: a journal that stays is one the
	 * next run finds behind its checkpoint, not a reason to fail this one.
	 */
	for (size_t i = 0; i < f->njournals; i++)
		if (f->journals[i] && resume_finish(f->journals[i], &gone))
			warn_note(f->warn, "%s", gone.msg);
	resume_clear_others(f->o->state);
	return 0;
}

void fetch_report(const struct fetch *f, struct report *rp)
{
	size_t targets = f->o->nto ? f->o->nto : 1;

	rp->retries = f->stats.retries;
	/* Pages and duplicates are the pipelines' counts; a resume's journal is not the server's. */
	rp->journal_pages = f->journal_pages;
	rp->pages -= f->journal_pages;
	rp->duplicates -= f->overlap_duplicates;
	if (f->media) {
		rp->media_downloaded = media_downloaded(f->media);
		rp->media_present = media_present(f->media);
		rp->media_failed = media_failed(f->media);
	}
	rp->have_before = f->have_before;
	rp->checkpoint_before = f->before;
	/* After: the oldest among the targets, where the next run starts for the laggard. */
	rp->have_after = f->state && f->have_before && f->next.n < targets;
	rp->checkpoint_after = f->before;
	for (size_t k = 0; f->state && k < f->next.n; k++)
		if (!rp->have_after || f->next.v[k].ts < rp->checkpoint_after) {
			rp->checkpoint_after = f->next.v[k].ts;
			rp->have_after = 1;
		}
}

void fetch_figures(const struct fetch *f, struct progress_figures *pf)
{
	pf->retries = f->stats.retries;
	/* The pipelines count a resume's journal pages too: the server's pages are the rest. */
	pf->journal_pages = f->journal_pages;
	pf->pages -= f->journal_pages < pf->pages ? f->journal_pages : pf->pages;
	pf->media = f->media ? media_downloaded(f->media) : 0;
	pf->has_oldest = f->has_oldest;
	pf->oldest = f->oldest;
	pf->wait = f->wait;
}

void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	nextcp_clear(&f->next);
	fetch_close_raw(f);
	state_close(f->state);
	media_close(f->media);
	http_free(f->http);
	key_wipe(&f->key);
	buf_free(&f->line);
	buf_free(&f->first_unique);
	buf_free(&f->check_body);
	for (size_t i = 0; i < f->njournals; i++)
		resume_free(f->journals[i]);
	free(f->journals);
	free(f);
}
