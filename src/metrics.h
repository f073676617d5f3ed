/*
 * metrics: the --metrics-file of SPEC §6, in the Prometheus text format for
 * node_exporter's textfile collector, replaced atomically after every run.
 * A failed run keeps waexport_last_success_timestamp_seconds from the
 * previous file, so an alert on its age sees a failed night.
 */
#ifndef WAEXPORT_METRICS_H
#define WAEXPORT_METRICS_H

#include "err.h"

struct metrics {
	const char *from;
	int exit_code;
	double end_time; /* epoch seconds */
	double duration; /* seconds */
	unsigned long long messages, pages, retries, duplicates, warnings, media;
};

int metrics_write(const char *path, const struct metrics *m, struct err *e);

#endif
