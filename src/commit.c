/* commit.h: every file staged, the plan of a --state run, then the renames. */
#include "commit.h"
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
static int each_output(const struct commit_job *j, enum step step, struct plan *plan, struct err *e)
{
	struct sink *raw = j->fetch ? fetch_raw(j->fetch) : NULL;
	pipeline_file_fn fn = step == STEP_PLAN ? plan_add_file : plan_keep_file;

	for (size_t i = 0; i < j->npipelines; i++) {
		struct pipeline *pl = j->pipelines[i];

		if (step >= STEP_PLAN)
			pipeline_each_file(pl, fn, plan);
		else if ((step == STEP_PUBLISH ? pipeline_publish : pipeline_finish)(pl, e))
			return -1;
	}
	if (step >= STEP_PLAN)
		return raw ? fn(plan, raw, NULL) : 0;
	return j->fetch ? fetch_finish_raw(j->fetch, step == STEP_PUBLISH, e) : 0;
}

/* A --state run's commit plan (plan.h): every staged file in publish order, on disk. */
static int write_plan(const struct commit_job *j, struct fsutil_staged *manifest,
		      struct plan **plan, struct err *e)
{
	struct state *st = j->fetch ? fetch_state(j->fetch) : NULL;

	if (!st)
		return 0;
	if (plan_new(plan, state_real(st), e))
		return -1;
	each_output(j, STEP_PLAN, *plan, e);
	plan_add(*plan, manifest->tmp, manifest->path);
	plan_add(*plan, state_staged(st), state_real(st));
	return plan_write(*plan, e);
}

/* A rename failed after the plan was written: what is not in place yet stays for the next run. */
static void keep_staged(const struct commit_job *j, struct fsutil_staged *manifest, struct err *e)
{
	size_t n = strlen(e->msg);

	each_output(j, STEP_KEEP, NULL, e);
	fsutil_keep(manifest);
	state_keep(fetch_state(j->fetch));
	snprintf(e->msg + n, sizeof(e->msg) - n,
		 "; the next run with this --state finishes moving the files into place");
}

int commit_run(const struct commit_job *j, struct err *e)
{
	struct fsutil_staged manifest = { NULL, NULL };
	struct plan *plan = NULL;
	struct report rp;
	int rc = -1;

	if (each_output(j, STEP_FINISH, NULL, e))
		goto out;
	if (j->manifest_path &&
	    (j->gather(j->gather_ctx, &rp), report_manifest(&rp, j->manifest_path, &manifest, e)))
		goto out;
	if ((j->fetch && fetch_stage_state(j->fetch, e)) || err_stopped(j->stop, e) ||
	    write_plan(j, &manifest, &plan, e) || each_output(j, STEP_PUBLISH, NULL, e) ||
	    (j->manifest_path && manifest_publish(&manifest, e)) ||
	    (j->fetch && fetch_publish_state(j->fetch, e)))
		goto out;
	plan_done(plan);
	rc = 0;
out:
	if (rc && plan_written(plan))
		keep_staged(j, &manifest, e);
	fsutil_unstage(&manifest);
	plan_free(plan);
	return rc;
}
