/*
 * fetch: the source of `waexport fetch` (SPEC §5). It checks everything it
 * can before the first connection (URL, --cacert, --since/--until, the key,
 * the --state lock), then walks the API's pages for each target (one --to
 * contact, or the whole account) and hands each body to that target's
 * pipeline, deciding from what the page held whether the history goes on:
 * a short page, the checkpoint, --since, a server that ignores `page`.
 * It keeps the raw pages (--save-raw), downloads media (--media-dir), keeps
 * the pages of a --state run in a journal and resumes from an earlier run's
 * (resume.h), and moves the checkpoint in --state once the run's outputs are
 * committed (nextcp.h: the head of the history in API order, SPEC §5.3).
 * The page callbacks and the resumed walk are in fetch_walk.c.
 *
 * fetch owns the key (wiped when freed), the state lock, the HTTP
 * transfers and the media directory; the pipelines are the caller's.
 */
#ifndef WAEXPORT_FETCH_H
#define WAEXPORT_FETCH_H

#include "err.h"
#include "options.h"
#include "outpath.h"
#include "pipeline.h"
#include "sink.h"
#include "tz.h"
#include "walk.h"
#include "warn.h"
#include "when.h"

/* One walk: a contact (NULL: the whole account) and where its pages go. */
struct fetch_target {
	const char *to;
	struct pipeline *pipeline;
	int shares_file; /* with another target: one file, several contacts */
};

struct fetch;

/* The checks of SPEC §2/§5.6 and the --state lock; nothing is fetched yet. */
int fetch_new(struct fetch **out, const struct options *o, struct tz *tz, const volatile int *stop,
	      struct warn *warn, struct when_window *win, struct err *e);

/*
 * --save-raw: every page body, one line each, in a file of its own that
 * the fetch opens with the outputs (nothing without the option), finishes
 * (publish 0) and publishes (publish 1) with them, or drops.
 */
int fetch_open_raw(struct fetch *f, struct outpath_vars vars, struct err *e);
int fetch_finish_raw(struct fetch *f, int publish, struct err *e);
void fetch_close_raw(struct fetch *f);

struct state;
/* The commit plan (plan.h): --save-raw's output and the --state, each NULL without. */
struct sink *fetch_raw(struct fetch *f);
struct state *fetch_state(struct fetch *f);

/* Called after every page and while a retry is waited for (the progress line). */
void fetch_set_progress(struct fetch *f, void (*fn)(void *ctx), void *ctx);

struct progress_figures;
/*
 * The progress line's figures that fetch knows (SPEC §6): retries, media,
 * the oldest message reached, and the retry waited for (valid until the
 * progress callback returns).
 */
void fetch_figures(const struct fetch *f, struct progress_figures *pf);

/*
 * Walk every target in turn. Returns 0; FETCH_AGAIN when new messages
 * arrived while pages were fetched side by side (the caller starts over
 * with fresh outputs: the next walk goes in checked stretches); -1 with e set.
 */
#define FETCH_AGAIN 1
int fetch_run(struct fetch *f, struct fetch_target *t, size_t n, struct err *e);

/*
 * The new checkpoints: fetch_stage_state writes them beside the --state
 * file once the outputs are finished; fetch_publish_state moves them into
 * place after the outputs (SPEC §5.3) and drops the run's journal.
 */
int fetch_stage_state(struct fetch *f, struct err *e);
int fetch_publish_state(struct fetch *f, struct err *e);

struct report;
/* Retries, media and checkpoints, for the run's report. */
void fetch_report(const struct fetch *f, struct report *rp);

/* NULL is fine. */
void fetch_free(struct fetch *f);

#endif
