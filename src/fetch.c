#include "fetch.h"
#include "batch.h"
#include "http.h"
#include "key.h"
#include "manifest.h"
#include "media.h"
#include "probe.h"
#include "progress.h"
#include "report.h"
#include "state.h"
#include "text.h"
#include "when.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_URL "https://api.99digital.co.il/whatsapp/v2/getHistory"
#define API_PAGE_SIZE 50

/* A target's next checkpoint, found by its walk, written after the outputs. */
struct newest {
	const char *to;
	long long ts;
	char **uniques;
	size_t n;
};

struct fetch {
	const struct options *o;
	const volatile int *stop;
	struct warn *warn;
	struct buf key;
	struct state *state;
	struct media *media;
	struct http *http;
	struct sink *raw;
	struct buf line;             /* a raw page made single-line */
	void (*progress)(void *ctx);
	void *progress_ctx;
	const struct walk_wait *wait; /* during on_wait: the retry waited for */
	int has_oldest;              /* the oldest message any page reached */
	long long oldest;
	struct walk_stats stats;
	long long since, lookback;
	int has_since;
	int sequential;              /* new messages arrived meanwhile: one page at a time */
	/* The walk of the current target: */
	struct pipeline *pl;
	char where[32];              /* "page N" */
	unsigned consecutive_seen;   /* full pages of repeats in a row (SPEC §5.2) */
	int has_floor;
	long long floor;
	struct buf first_unique;     /* page 1's newest message: did history grow meanwhile? */
	struct newest *newest;
	size_t nnewest;
	int have_before;             /* the oldest checkpoint a target started from */
	long long before;
};

static const char *fetch_url(const struct options *o)
{
	const char *env_url = getenv("WAEXPORT_URL");

	return o->url ? o->url : env_url && *env_url ? env_url : DEFAULT_URL;
}

/* Everything checkable is checked before the first connection or file. */
int fetch_new(struct fetch **out, const struct options *o, struct tz *tz,
	      const volatile int *stop, struct warn *warn, struct fetch_window *win,
	      struct err *e)
{
	struct fetch *f;
	struct stat st;
	long long now = (long long)time(NULL);

	*out = NULL;
	memset(win, 0, sizeof(*win));
	if (http_check_url(fetch_url(o), e))
		return -1;
	if (o->cacert && access(o->cacert, R_OK))
		return err_set(e, ERR_USAGE, "--cacert %s: cannot read: %s", o->cacert, strerror(errno));
	if (o->since && when_parse("--since", o->since, tz, now, &win->since, e))
		return -1;
	if (o->until && when_parse("--until", o->until, tz, now, &win->until, e))
		return -1;
	win->has_since = o->since != NULL;
	win->has_until = o->until != NULL;
	/* An empty window would fetch pages to export nothing and exit 0 (SPEC §2). */
	if (win->has_since && win->has_until && win->since >= win->until)
		return err_set(e, ERR_USAGE, "--since %s is at or after --until %s: no message can "
			       "match; --since is the start of the window, --until its end", o->since,
			       o->until);
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
	/*
	 * SPEC §4.7: a nightly job that stopped for months is about to lose
	 * messages to the API's one-year limit. The state file is rewritten by
	 * every successful run, so its age is the age of the last success (the
	 * newest message's time would also accuse an account that is just quiet).
	 */
	if (!stat(o->state, &st))
		manifest_check_age(warn, "--state: ", (long long)st.st_mtime, now);
	return 0;
}

void fetch_set_raw(struct fetch *f, struct sink *raw)
{
	f->raw = raw;
}

void fetch_set_progress(struct fetch *f, void (*fn)(void *ctx), void *ctx)
{
	f->progress = fn;
	f->progress_ctx = ctx;
}

void fetch_figures(const struct fetch *f, struct progress_figures *pf)
{
	pf->retries = f->stats.retries;
	pf->media = f->media ? media_downloaded(f->media) : 0;
	pf->has_oldest = f->has_oldest;
	pf->oldest = f->oldest;
	pf->wait = f->wait;
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

static int save_raw(struct fetch *f, const char *body, size_t len, struct err *e)
{
	if (!f->raw)
		return 0;
	f->line.len = 0;
	if (buf_reserve(&f->line, 2 * len + 1))
		return err_nomem(e);
	f->line.len = text_json_single_line(f->line.data, body, len);
	f->line.data[f->line.len++] = '\n';
	if (sink_write(f->raw, f->line.data, f->line.len, e))
		return err_prefix(e, "--save-raw: ");
	return 0;
}

/* --media-dir: the files of a page's selected messages, before their rows are made. */
static int on_media(void *ctx, struct page *pg, const char *body, const unsigned char *keep,
		    const char *const **files, struct err *e)
{
	struct fetch *f = ctx;

	return media_page(f->media, f->http, pg, body, keep, files, e);
}

/* What the page held decides whether the history goes on (SPEC §5.1-§5.3). */
static int verdict(struct fetch *f, const struct select_page *res, struct err *e)
{
	if (res->records < API_PAGE_SIZE)
		return WALK_END; /* an empty or short page is the last */
	/* SPEC §5.2: only messages already written count, not ones filtered out. */
	if (res->repeated == res->records) {
		if (++f->consecutive_seen >= 2)
			return err_set(e, ERR_DATA, "a second full page of messages already seen; the "
				       "server seems to ignore 'page' (stopping so the run cannot loop "
				       "forever)");
	} else {
		f->consecutive_seen = 0;
	}
	if (res->has_oldest && f->has_since && res->oldest < f->since)
		return WALK_END; /* older pages hold only messages before --since */
	if (res->has_oldest && f->has_floor && res->oldest < f->floor)
		return WALK_END; /* SPEC §5.3: the rest was exported by an earlier run */
	return WALK_MORE;
}

static int on_page(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	struct fetch *f = ctx;
	struct select_page res;
	const struct record *first;

	if (f->stop && *f->stop)
		return err_set(e, ERR_INTERRUPTED, "interrupted");
	if (save_raw(f, body, len, e))
		return -1;
	snprintf(f->where, sizeof(f->where), "page %lu", page_no);
	if (pipeline_page(f->pl, body, len, f->where, &res, &first, e) < 0) {
		if (e->kind == ERR_DATA && e->offset >= 0)
			err_prefix(e, "byte %lld: ", e->offset);
		if (e->kind == ERR_DATA)
			return err_prefix(e, "the API answered something that is not a page of "
					  "messages: ");
		return -1;
	}
	if (page_no == 1) {
		f->first_unique.len = 0;
		if (first && first->f[REC_UNIQUE].kind == FIELD_STRING &&
		    buf_add(&f->first_unique, first->f[REC_UNIQUE].p, first->f[REC_UNIQUE].len))
			return err_nomem(e);
	}
	if (res.has_oldest && (!f->has_oldest || res.oldest < f->oldest)) {
		f->oldest = res.oldest;
		f->has_oldest = 1;
	}
	if (f->progress)
		f->progress(f->progress_ctx);
	return verdict(f, &res, e);
}

/* The newest message a target's walk wrote: its next checkpoint, kept until the commit. */
static int keep_newest(struct fetch *f, const char *to, struct pipeline *pl, struct err *e)
{
	const struct select_newest *n = pipeline_take_newest(pl);
	struct newest *k;

	if (!n->have || !n->nuniques)
		return 0;
	k = realloc(f->newest, (f->nnewest + 1) * sizeof(*k));
	if (!k)
		return err_nomem(e);
	f->newest = k;
	k = &f->newest[f->nnewest++];
	*k = (struct newest){ .to = to, .ts = n->ts };
	if (!(k->uniques = calloc(n->nuniques, sizeof(*k->uniques))))
		return err_nomem(e);
	for (size_t i = 0; i < n->nuniques; i++, k->n++)
		if (!(k->uniques[i] = strdup(n->uniques[i])))
			return err_nomem(e);
	return 0;
}

/* Where the last successful run stopped, for this target's pipeline and walk. */
static void set_checkpoint(struct fetch *f, const char *to, struct walk_opts *wo)
{
	const struct checkpoint *cp = f->state ? state_get(f->state, f->o->from, to) : NULL;
	struct select_checkpoint pc;

	f->has_floor = cp != NULL;
	wo->slow_start = cp != NULL;
	if (cp) {
		if (!f->have_before || cp->ts < f->before)
			f->before = cp->ts;
		f->have_before = 1;
		/* Without --lookback, skip exactly what the last run wrote at its newest second. */
		pc.floor = f->floor = cp->ts - f->lookback;
		pc.skip_ts = cp->ts;
		pc.skip = cp->uniques;
		pc.nskip = f->lookback ? 0 : cp->nuniques;
	}
	pipeline_set_checkpoint(f->pl, cp ? &pc : NULL);
}

/* One target's walk. FETCH_AGAIN when history grew under a walk with pages side by side. */
static int walk_target(struct fetch *f, struct fetch_target *g, struct walk_opts *wo,
		       const struct walk_transport *t, struct http_page_query *q, struct err *e)
{
	int before = f->stats.max_in_flight, grew = 0;
	unsigned long long pages = f->stats.pages;

	f->pl = g->pipeline;
	if (f->media)
		pipeline_set_media(f->pl, on_media, f);
	f->consecutive_seen = 0;
	f->first_unique.len = 0;
	f->stats.max_in_flight = 0;
	q->to = g->to;
	set_checkpoint(f, g->to, wo);
	if (walk_run(wo, t, on_page, f, &f->stats, e)) {
		if (g->to && (e->kind == ERR_UNAVAILABLE || e->kind == ERR_DATA ||
			      e->kind == ERR_REFUSED))
			err_prefix(e, "--to %s: ", g->to);
		return -1;
	}
	if (f->stats.max_in_flight > 1 && f->stats.pages - pages > 1 && f->first_unique.len) {
		grew = probe_page_one(wo, t, f->first_unique.data, f->first_unique.len, &f->stats, e);
		if (grew < 0)
			return -1;
	}
	if (f->stats.max_in_flight < before)
		f->stats.max_in_flight = before;
	if (grew) {
		warn_note(f->warn, "%s%snew messages arrived while pages were fetched side by side; "
			  "fetching again one page at a time so none is missed",
			  g->to ? "--to " : "", g->to ? g->to : "");
		f->sequential = 1;
		return FETCH_AGAIN;
	}
	if (f->state && keep_newest(f, g->to, g->pipeline, e))
		return -1;
	if (g->shares_file)
		pipeline_segment_end(g->pipeline);
	return 0;
}

static void free_newest(struct fetch *f)
{
	for (size_t i = 0; i < f->nnewest; i++) {
		for (size_t k = 0; k < f->newest[i].n; k++)
			free(f->newest[i].uniques[k]);
		free(f->newest[i].uniques);
	}
	free(f->newest);
	f->newest = NULL;
	f->nnewest = 0;
}

int fetch_run(struct fetch *f, struct fetch_target *t, size_t n, struct err *e)
{
	const struct options *o = f->o;
	struct http_opts ho = { .timeout = o->timeout, .cacert = o->cacert,
				.concurrency = o->concurrency, .stop = f->stop };
	struct http_page_query q = { .url = fetch_url(o), .api_key = f->key.data, .from = o->from };
	struct walk_opts wo = { .concurrency = f->sequential ? 1 : o->concurrency,
				.retries = o->retries, .max_pages = o->max_pages, .stop = f->stop,
				.on_wait = on_wait, .wait_ctx = f };
	struct walk_transport tr;
	const char *base = getenv("WAEXPORT_RETRY_BASE"); /* tests: shorter backoff */
	int rc = 0;

	free_newest(f);
	if (o->media_dir && !f->media && media_open(&f->media, o->media_dir, f->warn, e))
		return -1;
	if (http_new(&f->http, &ho, e))
		return -1;
	wo.retry_base = base ? atof(base) : 0;
	http_pages(f->http, &q, &tr);
	for (size_t i = 0; i < n && !rc; i++)
		rc = walk_target(f, &t[i], &wo, &tr, &q, e);
	http_free(f->http);
	f->http = NULL;
	return rc;
}

int fetch_commit_state(struct fetch *f, struct err *e)
{
	if (!f->state)
		return 0;
	/* SPEC §5.3: the checkpoints move only once the outputs are in place. */
	for (size_t i = 0; i < f->nnewest; i++) {
		struct newest *k = &f->newest[i];

		if (state_set(f->state, f->o->from, k->to, k->ts, k->uniques, k->n, e))
			return -1;
	}
	return state_commit(f->state, e);
}

void fetch_report(const struct fetch *f, struct report *rp)
{
	size_t targets = f->o->nto ? f->o->nto : 1;

	rp->retries = f->stats.retries;
	if (f->media) {
		rp->media_downloaded = media_downloaded(f->media);
		rp->media_present = media_present(f->media);
		rp->media_failed = media_failed(f->media);
	}
	rp->have_before = f->have_before;
	rp->checkpoint_before = f->before;
	/* After: the oldest among the targets, where the next run starts for the laggard. */
	rp->have_after = f->state && f->have_before && f->nnewest < targets;
	rp->checkpoint_after = f->before;
	for (size_t k = 0; f->state && k < f->nnewest; k++)
		if (!rp->have_after || f->newest[k].ts < rp->checkpoint_after) {
			rp->checkpoint_after = f->newest[k].ts;
			rp->have_after = 1;
		}
}

void fetch_free(struct fetch *f)
{
	if (!f)
		return;
	free_newest(f);
	state_close(f->state);
	media_close(f->media);
	http_free(f->http);
	key_wipe(&f->key);
	buf_free(&f->line);
	buf_free(&f->first_unique);
	free(f);
}
