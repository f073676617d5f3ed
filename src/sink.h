/*
 * sink: where output bytes end up — a file written atomically (SPEC §4.4),
 * or stdout — optionally through gzip (zlib deflate, one member).
 *
 * A file sink writes to a temporary file beside the target, created with
 * mode 0600 (a replaced file keeps its own mode), and only sink_commit makes
 * it visible: fsync, rename over the target, fsync the directory.
 * sink_close without a successful commit removes the temporary file and
 * leaves the target as it was. A target that exists and is not a regular file
 * (/dev/null, a FIFO) is written in place.
 *
 * Producers fill the sink's buffer directly (sink_buf) and call sink_flush
 * after each row; full buffers are handed to a worker thread that
 * compresses and writes them, so deflate runs beside the producer.
 */
#ifndef WAEXPORT_SINK_H
#define WAEXPORT_SINK_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

struct sink_opts {
	const char *path;     /* NULL or "-": stdout */
	int gzip;
	int level;            /* 1..9 */
};

struct sink;

/* ERR_CANTCREAT when the temporary file cannot be made. */
int sink_open(struct sink **out, const struct sink_opts *opts, struct err *e);

/* The buffer to append to; valid until the next sink call. */
struct buf *sink_buf(struct sink *s);

/* Hand the buffer on when it is full. ERR_IO on a failed write. */
int sink_flush(struct sink *s, struct err *e);

int sink_write(struct sink *s, const void *p, size_t n, struct err *e);

/* Finish, fsync, rename into place. The sink still needs sink_close. */
int sink_commit(struct sink *s, struct err *e);

/* Free the sink; if it was not committed, remove its temporary file. NULL is fine. */
void sink_close(struct sink *s);

/* Bytes handed in (before gzip) and bytes written (after gzip) so far. */
unsigned long long sink_bytes_in(const struct sink *s);
unsigned long long sink_bytes_out(const struct sink *s);

/* Was the last error a reader closing our stdout (EPIPE)? */
int sink_broken_pipe(const struct err *e);

#endif
