/*
 * run: one command from start to end — checks, outputs opened before any
 * page, the pages fed through the pipelines (from files, or from the API),
 * then every output committed together (and the --state checkpoint after
 * them), the summary line and the metrics file. main.c owns the process:
 * signals and the exit code.
 */
#ifndef WAEXPORT_RUN_H
#define WAEXPORT_RUN_H

#include "cli.h"
#include "err.h"

struct run;

/* A run of the command in opts; `stop` is set by a signal handler. NULL on ENOMEM. */
struct run *run_new(struct options *opts, const volatile int *stop);

/* Do it all. 0 on success (summary printed), -1 with e set. */
int run_execute(struct run *r, struct err *e);

/* --metrics-file, after every run (SPEC §6); a failure to write it is reported on stderr. */
void run_write_metrics(struct run *r, int exit_code);

/* Free everything; outputs not committed leave no trace. NULL is fine. */
void run_free(struct run *r);

#endif
