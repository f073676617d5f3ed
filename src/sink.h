/*
 * sink: where output bytes end up — a file written atomically (SPEC §4.4),
 * or stdout — optionally through gzip (zlib deflate, always one member).
 *
 * A file sink writes to a temporary file beside the target, created with
 * mode 0600 (a replaced file keeps its own mode), and only sink_commit makes
 * it visible: fsync, rename over the target, fsync the directory.
 * sink_close without a successful commit removes the temporary file and
 * leaves the target as it was. A target that exists and is not a regular
 * file (/dev/null, a FIFO) is written in place.
 *
 * Forward mode: producers append to sink_buf and call sink_flush; full
 * buffers go to a worker thread that deflates and writes them, so
 * compression runs beside the producer on the second core.
 *
 * Reverse mode (--order oldest): the producer hands over chunks with
 * sink_chunk, each already in its final internal order, and the file gets
 * them last chunk first. The worker compresses each chunk on its own (raw
 * deflate ending in a sync flush, so compressed chunks can be concatenated
 * in any order into one valid stream; CRCs are joined with crc32_combine)
 * and spools it; commit writes the head, the chunks in reverse, and the
 * gzip trailer. Compression overlaps parsing even though the first output
 * byte is only known at the end, and memory stays flat.
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
	int reverse;          /* chunks are written last first */
	const char *spool_dir; /* reverse mode: where to spool (NULL: beside path or $TMPDIR) */
};

struct sink;

/* ERR_CANTCREAT when the temporary file cannot be made. */
int sink_open(struct sink **out, const struct sink_opts *opts, struct err *e);

/*
 * The buffer to append to; valid until the next sink call. In reverse mode
 * it holds only the head (BOM, header row), written before every chunk.
 */
struct buf *sink_buf(struct sink *s);

/* Forward mode: hand the buffer on when it is full. ERR_IO on a failed write. */
int sink_flush(struct sink *s, struct err *e);

/* Forward mode: append bytes. */
int sink_write(struct sink *s, const void *p, size_t n, struct err *e);

/*
 * Hand over one chunk (reverse mode: one unit to turn around; forward mode:
 * bytes that follow what sink_buf holds, which the caller hands over first).
 * The sink takes chunk's bytes and leaves an empty buffer of its own in
 * *chunk (no copy).
 */
int sink_chunk(struct sink *s, struct buf *chunk, struct err *e);

/* Reverse mode: write out every chunk handed over so far (a --to segment). */
int sink_segment_end(struct sink *s, struct err *e);

/* Finish, fsync, rename into place. The sink still needs sink_close. */
int sink_commit(struct sink *s, struct err *e);

/*
 * sink_commit in two steps, for runs that publish many files together:
 * sink_finish writes everything and fsyncs the temporary file (and frees
 * the buffers), sink_publish renames it into place.
 */
int sink_finish(struct sink *s, struct err *e);
int sink_publish(struct sink *s, struct err *e);

/* Free the sink; if it was not committed, remove its temporary file. NULL is fine. */
void sink_close(struct sink *s);

/* Bytes handed in (before gzip) and bytes written to the file so far. */
unsigned long long sink_bytes_in(const struct sink *s);
unsigned long long sink_bytes_out(const struct sink *s);

/* Was the error a reader closing our stdout (EPIPE)? */
int sink_broken_pipe(const struct err *e);

#endif
