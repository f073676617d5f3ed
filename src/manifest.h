/*
 * manifest: `--manifest PATH` (SPEC §4.7) — one JSON object per successful
 * run for the loader or the person checking a night: the run's figures and,
 * for every file written, its rows, bytes, SHA-256 of the bytes on disk,
 * time range and chat. The figures come from the sinks (sink.h: rows counted
 * by their producers, the sum taken as the bytes were written); only an
 * appended file's earlier rows are counted here, from its carried bytes
 * (manifest_scan). The file is written like every output: a temporary file
 * beside PATH, fsync, rename, mode 0600. The module owns its list of files.
 */
#ifndef WAEXPORT_MANIFEST_H
#define WAEXPORT_MANIFEST_H

#include <stddef.h>

#include "err.h"
#include "fsutil.h"
#include "sink.h"
#include "warn.h"

/* The API keeps one year: a checkpoint older than this is about to lose messages. */
#define MANIFEST_CHECKPOINT_WARN_DAYS 350

struct manifest_run {
	const char *command; /* "fetch" or "convert" */
	const char *from;    /* NULL for convert */
	const char *const *to;
	size_t nto;
	long long started, finished; /* epoch seconds */
	const char *format;          /* "csv", "ndjson" or "xlsx" */
	int gzip;
	const char *tz;
	unsigned long long messages, pages, duplicates, retries, warnings;
	unsigned long long media_downloaded, media_present, media_failed;
	int have_before, have_after; /* checkpoints, for fetch --state */
	long long checkpoint_before, checkpoint_after;
};

/* What one file holds: a run's share plus, when appended, what it held before. */
struct manifest_file {
	char *path, *chat;
	unsigned long long rows, rows_added, bytes;
	int appended, have_ts;
	int ts_unknown; /* rows it held before lack the timestamp column: no range */
	long long ts_min, ts_max;
	char sha256[65];
};

struct manifest {
	struct manifest_file *files;
	size_t nfiles;
	int ndjson, gzip; /* the format of the files (for manifest_scan) */
};

/*
 * Record a committed file. An appended file's carried bytes are read once
 * (manifest_scan) to count its earlier rows and times. ERR_IO when they
 * cannot be read, ERR_SOFTWARE when the sink has no sum.
 */
int manifest_add(struct manifest *m, const struct sink *file, const char *chat, struct err *e);

/* The JSON object into PATH, atomically, 0600. ERR_CANTCREAT/ERR_IO. */
int manifest_write(const struct manifest *m, const char *path, const struct manifest_run *run,
		   struct err *e);
/*
 * The same in two steps (fsutil_stage): the run stages its manifest with
 * its other files and moves it into place after its outputs (SPEC §4.7).
 */
int manifest_stage(const struct manifest *m, const char *path, const struct manifest_run *run,
		   struct fsutil_staged *s, struct err *e);
int manifest_publish(struct fsutil_staged *s, struct err *e);

void manifest_free(struct manifest *m);

/*
 * SPEC §4.7: warn when the checkpoint is older than
 * MANIFEST_CHECKPOINT_WARN_DAYS: written that long ago (the last successful
 * run, written_at), or its newest message that old (has_ts, ts). Once.
 */
void manifest_check_age(struct warn *w, const char *who, long long written_at, int has_ts,
			long long ts, long long now);

/*
 * manifest_scan.c: the rows and timestamp range of the first `len` bytes
 * of the file at path (a CSV with its header, or NDJSON; gzip members when
 * gzip). 0, or -1 with ERR_IO.
 */
int manifest_scan(const char *path, unsigned long long len, int ndjson, int gzip,
		  struct manifest_file *out, struct err *e);

#endif
