/*
 * The commit of a run (run_impl.h): every file staged beside its target,
 * then, for a --state run, the commit plan (plan.h), then the renames in
 * SPEC order.
 */
#include "run_impl.h"
#include "fetch.h"
#include "fsutil.h"
#include "manifest.h"
#include "pipeline.h"
#include "plan.h"
#include "report.h"
#include "sink.h"
#include "state.h"

#include <stdio.h>
#include <string.h>

enum step { STEP_FINISH, STEP_PUBLISH, STEP_PLAN, STEP_KEEP };

/*
 * Every output's files and --save-raw: finished (fsynced beside their
 * targets), published, added to the commit plan, or kept for its next run.
 */
static int each_output(struct run *r, enum step step, struct plan *plan, struct err *e)
{
	struct sink *raw = r->fetch ? fetch_raw(r->fetch) : NULL;
	pipeline_file_fn fn = step == STEP_PLAN ? plan_add_file : plan_keep_file;

	for (size_t i = 0; i < r->ntargets; i++) {
		struct pipeline *pl = r->targets[i].pipeline;

		if (r->targets[i].shared)
			continue;
		if (step >= STEP_PLAN)
			pipeline_each_file(pl, fn, plan);
		else if ((step == STEP_PUBLISH ? pipeline_publish : pipeline_finish)(pl, e))
			return -1;
	}
	if (step >= STEP_PLAN)
		return raw ? fn(plan, raw, NULL) : 0;
	return r->fetch ? fetch_finish_raw(r->fetch, step == STEP_PUBLISH, e) : 0;
}

/* A --state run's commit plan (plan.h): every staged file in publish order, on disk. */
static int write_plan(struct run *r, struct fsutil_staged *manifest, struct plan **plan,
		      struct err *e)
{
	struct state *st = r->fetch ? fetch_state(r->fetch) : NULL;

	if (!st)
		return 0;
	if (plan_new(plan, state_real(st), e))
		return -1;
	each_output(r, STEP_PLAN, *plan, e);
	plan_add(*plan, manifest->tmp, manifest->path);
	plan_add(*plan, state_staged(st), state_real(st));
	return plan_write(*plan, e);
}

/* A rename failed after the plan was written: what is not in place yet stays for the next run. */
static void keep_staged(struct run *r, struct fsutil_staged *manifest, struct err *e)
{
	size_t n = strlen(e->msg);

	each_output(r, STEP_KEEP, NULL, e);
	fsutil_keep(manifest);
	state_keep(fetch_state(r->fetch));
	snprintf(e->msg + n, sizeof(e->msg) - n,
		 "; the next run with this --state finishes moving the files into place");
}

/* run_impl.h. */
int run_commit(struct run *r, struct err *e)
{
	struct fsutil_staged manifest = { NULL, NULL };
	struct plan *plan = NULL;
	struct report rp;
	int rc = -1;

	if (each_output(r, STEP_FINISH, NULL, e))
		goto out;
	if (r->manifest_path &&
	    (run_gather(r, &rp), report_manifest(&rp, r->manifest_path, &manifest, e)))
		goto out;
	if ((r->fetch && fetch_stage_state(r->fetch, e)) ||
	    (*r->stop && err_set(e, ERR_INTERRUPTED, "interrupted")) ||
	    write_plan(r, &manifest, &plan, e) || each_output(r, STEP_PUBLISH, NULL, e) ||
	    (r->manifest_path && manifest_publish(&manifest, e)) ||
	    (r->fetch && fetch_publish_state(r->fetch, e)))
		goto out;
	plan_done(plan);
	rc = 0;
out:
	if (rc && plan_written(plan))
		keep_staged(r, &manifest, e);
	fsutil_unstage(&manifest);
	plan_free(plan);
	return rc;
}
