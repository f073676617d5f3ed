/*
 * log: the lines a run says on stderr (SPEC §2 --log-file, §3). Every such
 * line — warnings, the error line, the summary; never the live progress
 * line — goes through log_line, which prints it on a stream (stderr, or
 * nothing under --quiet) and, with --log-file, appends it to that file too,
 * prefixed with an RFC 3339 UTC time and the account ("from=972501234567",
 * or "convert"), also under --quiet.
 *
 * The file is opened for every line (O_APPEND | O_CREAT, mode 0600, never
 * truncated) and each line goes out in one write(2). So runs writing at the
 * same time never mix within a line, and logrotate works either way, even
 * for a run that spans the rotation: after `copytruncate` the next line
 * lands at the new end of the shortened file, after move-and-create it
 * lands in the new file at the path. A run writes a handful of lines, so
 * opening each time costs nothing.
 *
 * The module owns the path and the account for the whole process; main.c
 * sets them once, before any other thread starts.
 */
#ifndef WAEXPORT_LOG_H
#define WAEXPORT_LOG_H

#include <stdio.h>

#include "err.h"

/*
 * Append to path from now on; who is "from=NUMBER" or "convert" (copied).
 * The file is opened once here so a bad path fails the run before any work:
 * ERR_CANTCREAT (its directory is made first with create_dirs).
 */
int log_open(const char *path, const char *who, int create_dirs, struct err *e);

/* Whether a log file is set (a line not shown on stderr may still be logged). */
int log_enabled(void);

/*
 * One line (no newline in fmt): onto `to` unless it is NULL, and into the
 * log file. A log file that cannot be written any more is said once on
 * stderr; the run goes on.
 */
void log_line(FILE *to, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * fn(ctx) runs before each line goes to a stream: the live progress line
 * clears itself there, so a warning starts a line of its own (NULL: none).
 */
void log_before_lines(void (*fn)(void *ctx), void *ctx);

/* Forget the file (the process is ending). */
void log_close(void);

#endif
