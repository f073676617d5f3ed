/*
 * commit: how a run's files go into place (SPEC §4.4, §4.7, §5.3). Every
 * file is first written and fsynced beside its target: the outputs, the
 * --save-raw pages, the manifest, the state. A --state run then writes its
 * commit plan (plan.h), so that a run stopped among the renames is finished
 * by the next one under the same lock. Then everything is renamed in SPEC
 * order: outputs, manifest, state. A failure before the renames leaves every
 * target as it was; one among them leaves what is not in place yet for the
 * next run. The module owns nothing past a call.
 */
#ifndef WAEXPORT_COMMIT_H
#define WAEXPORT_COMMIT_H

#include <stddef.h>

#include "err.h"
#include "fetch.h"
#include "pipeline.h"
#include "report.h"

struct commit_job {
	struct pipeline *const *pipelines; /* each output's pipeline once */
	size_t npipelines;
	struct fetch *fetch;       /* fetch: --save-raw and the state; NULL for convert */
	const char *manifest_path; /* --manifest, expanded; NULL: none */
	/* The run's figures for the manifest, once the outputs are finished. */
	void (*gather)(void *ctx, struct report *rp);
	void *gather_ctx;
	const volatile int *stop; /* set by a signal: nothing is renamed */
};

/* 0, or -1 with e set: the error of the step that failed (SPEC §3's exit code). */
int commit_run(const struct commit_job *j, struct err *e);

#endif
