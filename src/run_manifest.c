/*
 * run_manifest: --manifest for a run (SPEC §4.7) — the path expanded like
 * -o before any page, the checkpoints the run started from (and the
 * checkpoint-age warning), and at commit the run's figures and every file
 * its pipelines wrote, handed to manifest.c to be written.
 */
#include "run_impl.h"
#include "manifest.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

int run_manifest_path(struct run *r, struct outpath_vars vars, struct err *e)
{
	struct options *o = r->opts;

	vars.to = o->cmd == CMD_FETCH && o->nto == 1 ? o->to[0] : NULL;
	vars.keep_chat = 0;
	if (outpath_uses(o->manifest, "{chat}") || (outpath_uses(o->manifest, "{to}") && o->nto > 1))
		return err_set(e, ERR_USAGE, "--manifest %s: one manifest describes every file of a "
			       "run; {chat} (and {to} with several --to) have no single value there",
			       o->manifest);
	if (outpath_expand(o->manifest, &vars, &r->manifest_path, e))
		return err_prefix(e, "--manifest: ");
	return 0;
}

void run_note_checkpoint(struct run *r, const char *to, long long ts)
{
	char who[96];

	if (!r->have_cp_before || ts < r->cp_before)
		r->cp_before = ts;
	r->have_cp_before = 1;
	snprintf(who, sizeof(who), "%s%s%s", to ? "--to " : "", to ? to : "", to ? ": " : "");
	manifest_check_age(&r->warn, who, ts, (long long)time(NULL));
}

static int add_file(void *ctx, const struct sink *file, const char *chat)
{
	void **pair = ctx;

	return manifest_add(pair[0], file, chat, pair[1]);
}

/* The oldest checkpoint after the run: where the next run starts for the laggard target. */
static void checkpoint_after(const struct run *r, struct manifest_run *mr)
{
	mr->have_before = r->have_cp_before;
	mr->checkpoint_before = r->cp_before;
	for (size_t i = 0; r->state && i < r->ntargets; i++) {
		const struct target *g = &r->targets[i];
		long long ts;

		if (g->nnewest)
			ts = g->newest_ts;
		else if (r->have_cp_before)
			ts = r->cp_before;
		else
			continue;
		if (!mr->have_after || ts < mr->checkpoint_after)
			mr->checkpoint_after = ts;
		mr->have_after = 1;
	}
}

int run_manifest(struct run *r, struct err *e)
{
	struct options *o = r->opts;
	struct manifest m = { 0 };
	struct manifest_run mr = { 0 };
	struct run_totals t;
	unsigned long long bytes;
	void *pair[2] = { &m, e };
	const char *first = r->targets[0].path;
	int ndjson = 0, gz = 0, rc = -1;

	if (strcmp(first, "-"))
		outpath_infer(first, &ndjson, &gz);
	m.ndjson = o->format ? !strcmp(o->format, "ndjson") : ndjson;
	m.gzip = o->gzip >= 0 ? o->gzip : gz;
	for (size_t i = 0; i < r->ntargets; i++)
		if (!r->targets[i].shared &&
		    pipeline_each_file(r->targets[i].pipeline, add_file, pair))
			goto out;
	run_totals(r, &t, &bytes);
	mr.command = o->cmd == CMD_FETCH ? "fetch" : "convert";
	mr.from = o->cmd == CMD_FETCH ? o->from : NULL;
	mr.to = o->cmd == CMD_FETCH ? o->to : NULL;
	mr.nto = o->cmd == CMD_FETCH ? o->nto : 0;
	mr.started = r->wall_started;
	mr.finished = (long long)time(NULL);
	mr.format = m.ndjson ? "ndjson" : "csv";
	mr.gzip = m.gzip;
	mr.tz = o->tz;
	mr.messages = t.messages;
	mr.pages = t.pages;
	mr.duplicates = t.duplicates;
	mr.retries = r->fetch.retries;
	mr.warnings = r->warn.count;
	if (r->media) {
		mr.media_downloaded = media_downloaded(r->media);
		mr.media_present = media_present(r->media);
		mr.media_failed = media_failed(r->media);
	}
	checkpoint_after(r, &mr);
	rc = manifest_write(&m, r->manifest_path, &mr, e);
out:
	manifest_free(&m);
	return rc;
}
