/*
 * The fetch side of a run (SPEC §5): the key, the checks made before any
 * connection, the walk per target with checkpoints and media, and the
 * probe that redoes a walk one page at a time when pages shifted under it.
 */
#include "run_impl.h"
#include "outpath.h"
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

/* --media-dir: the files of a page's selected messages, before their rows are made. */
static int on_media(void *ctx, struct page *pg, const char *body, const unsigned char *keep,
		    const char *const **files, struct err *e)
{
	struct run *r = ctx;

	return media_page(r->media, r->http, pg, body, keep, files, e);
}

static int on_fetch_page(void *ctx, unsigned long page_no, const char *body, size_t len,
			 struct err *e)
{
	struct run *r = ctx;
	struct select_page res;
	const struct record *first;

	if (run_check_stop(r, e))
		return -1;
	if (save_raw(r, body, len, e))
		return -1;
	snprintf(r->where, sizeof(r->where), "page %lu", page_no);
	if (pipeline_page(r->current->pipeline, body, len, r->where, &res, &first, e) < 0) {
		if (e->kind == ERR_DATA && e->offset >= 0)
			err_prefix(e, "byte %lld: ", e->offset);
		if (e->kind == ERR_DATA)
			return err_prefix(e, "the API answered something that is not a page of "
					  "messages: ");
		return -1;
	}
	if (page_no == 1) {
		r->first_unique.len = 0;
		if (first && first->f[REC_UNIQUE].kind == FIELD_STRING &&
		    buf_add(&r->first_unique, first->f[REC_UNIQUE].p, first->f[REC_UNIQUE].len))
			return err_nomem(e);
	}
	run_show_progress(r);
	if (res.records < API_PAGE_SIZE)
		return WALK_END; /* SPEC §5.1: an empty or short page is the last */
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
		return WALK_END; /* older pages hold only messages before --since */
	if (res.has_oldest && r->has_floor && res.oldest < r->floor)
		return WALK_END; /* SPEC §5.3: the rest was exported by an earlier run */
	return WALK_MORE;
}

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
		return WALK_END;
	u = &first.f[REC_UNIQUE];
	r->probe_grew = u->kind != FIELD_STRING || u->len != r->first_unique.len ||
			memcmp(u->p, r->first_unique.data, u->len);
	return WALK_END;
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
static int history_grew(struct run *r, const struct walk_opts *walk,
			const struct walk_transport *t, struct err *e)
{
	struct walk_opts wo = *walk;
	struct walk_stats st = { 0 };

	wo.concurrency = 1;
	wo.max_pages = 1;
	wo.slow_start = 0;
	r->probe_grew = 0;
	if (walk_run(&wo, t, on_probe, r, &st, e))
		return -1;
	r->fetch.requests += st.requests;
	r->fetch.retries += st.retries;
	return r->probe_grew;
}

/* The walk of every target, through t: page requests on the transfers of r->http. */
static int fetch_targets(struct run *r, struct walk_opts *wo, const struct walk_transport *t,
			 struct http_page_query *q, struct err *e)
{
	struct options *o = r->opts;

	for (size_t i = 0; i < r->ntargets; i++) {
		struct target *g = &r->targets[i];
		const struct checkpoint *cp = r->state ? state_get(r->state, o->from, g->to) : NULL;
		struct select_checkpoint pc;
		int before = r->fetch.max_in_flight, grew;
		unsigned long long pages = r->fetch.pages;

		r->current = g;
		if (r->media)
			pipeline_set_media(g->pipeline, on_media, r);
		r->consecutive_seen = 0;
		r->first_unique.len = 0;
		r->fetch.max_in_flight = 0;
		q->to = g->to;
		r->has_floor = cp != NULL;
		wo->slow_start = cp != NULL;
		if (cp) {
			/* Without --lookback, skip exactly what the last run wrote at its newest second. */
			pc.floor = r->floor = cp->ts - r->lookback;
			pc.skip_ts = cp->ts;
			pc.skip = cp->uniques;
			pc.nskip = r->lookback ? 0 : cp->nuniques;
			run_note_checkpoint(r, g->to, cp->ts);
		}
		pipeline_set_checkpoint(g->pipeline, cp ? &pc : NULL);
		if (walk_run(wo, t, on_fetch_page, r, &r->fetch, e)) {
			if (g->to && (e->kind == ERR_UNAVAILABLE || e->kind == ERR_DATA ||
				      e->kind == ERR_REFUSED))
				err_prefix(e, "--to %s: ", g->to);
			return -1;
		}
		grew = 0;
		if (r->fetch.max_in_flight > 1 && r->fetch.pages - pages > 1 && r->first_unique.len) {
			grew = history_grew(r, wo, t, e);
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
			const struct select_newest *n = pipeline_take_newest(g->pipeline);

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
			pipeline_segment_end(g->pipeline);
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

int run_fetch(struct run *r, struct buf *key, struct err *e)
{
	struct options *o = r->opts;
	struct http_opts ho = { .timeout = o->timeout, .cacert = o->cacert,
				.concurrency = o->concurrency, .stop = r->stop };
	struct http_page_query q = { .url = fetch_url(o), .api_key = key->data, .from = o->from };
	struct walk_opts wo = { .concurrency = r->sequential ? 1 : o->concurrency,
				.retries = o->retries, .max_pages = o->max_pages, .stop = r->stop };
	struct walk_transport t;
	const char *base = getenv("WAEXPORT_RETRY_BASE"); /* tests: shorter backoff */
	int rc;

	if (o->media_dir && !r->media && media_open(&r->media, o->media_dir, &r->warn, e))
		return -1;
	if (http_new(&r->http, &ho, e))
		return -1;
	wo.retry_base = base ? atof(base) : 0;
	http_pages(r->http, &q, &t);
	rc = fetch_targets(r, &wo, &t, &q, e);
	http_free(r->http);
	r->http = NULL;
	return rc;
}

/* Everything checkable is checked before the first connection or file. */
int run_prepare_fetch(struct run *r, struct pipeline_opts *filter, struct buf *key,
			 struct err *e)
{
	struct options *o = r->opts;
	long long now = (long long)time(NULL);

	if (http_check_url(fetch_url(o), e))
		return -1;
	if (o->cacert && access(o->cacert, R_OK))
		return err_set(e, ERR_USAGE, "--cacert %s: cannot read: %s", o->cacert, strerror(errno));
	if (o->since && when_parse("--since", o->since, r->tz, now, &filter->since, e))
		return -1;
	if (o->until && when_parse("--until", o->until, r->tz, now, &filter->until, e))
		return -1;
	filter->has_since = o->since != NULL;
	filter->has_until = o->until != NULL;
	/* An empty window would fetch pages to export nothing and exit 0 (SPEC §2). */
	if (filter->has_since && filter->has_until && filter->since >= filter->until)
		return err_set(e, ERR_USAGE, "--since %s is at or after --until %s: no message can "
			       "match; --since is the start of the window, --until its end", o->since,
			       o->until);
	r->fetch_since = filter->since;
	if (o->lookback && when_duration("--lookback", o->lookback, &r->lookback, e))
		return -1;
	if (load_key(r, key, e))
		return -1;
	/* Lock before any output is touched: a concurrent run must change nothing. */
	return o->state ? state_open(&r->state, o->state, e) : 0;
}

