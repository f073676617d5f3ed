/*
 * sink: where output bytes end up: a file written atomically (SPEC §4.4) or
 * stdout, gzip or not. The caller's thread writes and deflates the bytes it
 * is given as plain text; as the file grows, flush.h has the kernel write it
 * back and flush it, so that the final fsync is short (and a digest made
 * SINK_DIGEST_BESIDE hashes on a worker of its own: digest.h).
 *
 * A file output goes to a temporary file beside the target
 * (.NAME.tmp.XXXXXX, mode 0600; a replaced file keeps its own mode) and
 * only sink_publish makes it visible: rename over the target, fsync the
 * directory. sink_close without a commit removes the temporary file and
 * leaves the target as it was. A target that exists and is not a regular
 * file (/dev/null, a FIFO) is written in place.
 *
 * A gzip output is one member per run: the sink's own raw-deflate stream
 * for plain bytes (sink_write) and chunks deflated elsewhere with
 * gz_deflate_chunk (sink_write_deflated) mix freely, under one running CRC
 * and length (gz.h explains why such chunks can be joined).
 *
 * Append (SPEC §4.4, --state): with `append` and a non-empty regular target,
 * the temporary file first receives the target's bytes (carry.h: shared
 * extents or an in-kernel copy where it can), then this run's; a gzip output
 * starts a new member after them. A target rows cannot safely follow (cut
 * short, a damaged gzip member, another head than `head`) is refused before
 * anything is added. The head (CSV header, BOM) goes only into a file that
 * does not have it yet; sink_figures' `appending` says which it was.
 *
 * With `digest`, the bytes are hashed (SHA-256, digest.h) on their way to
 * the file descriptor (SINK_DIGEST_BESIDE: on a worker of the digest's own);
 * an appended file's carried bytes are hashed in the pass that copies and
 * checks them.
 *
 * Workbook (SPEC §4.6): with `xlsx`, the bytes are encoded rows
 * (writer_xlsx.c) and every call goes to the workbook backend (xlsx.h),
 * which builds the workbook at sink_finish; gzip and append do not apply.
 *
 * The output owns its file descriptor (not stdout's), its buffers and its
 * temporary file; sink_close frees them all.
 */
#ifndef WAEXPORT_SINK_H
#define WAEXPORT_SINK_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "writer.h"

/* Whether and where the bytes are hashed (digest.h): by the caller, or beside it. */
enum sink_digest { SINK_DIGEST_NONE, SINK_DIGEST_CALLER, SINK_DIGEST_BESIDE };

struct sink_opts {
	const char *path; /* NULL or "-": stdout */
	int gzip;
	int level;          /* 1..9, with gzip */
	int append;         /* keep a non-empty target's bytes and add after them */
	int older_after;    /* append: ... before them instead (a newest-first file: --save-raw) */
	const char *option; /* the option that named the file, for messages (NULL: -o) */
	/* What the file opens with (BOM, CSV header): written first, or, when the
	 * target is appended to, what its text must start with already. */
	const void *head;
	size_t head_len; /* 0: no head (NDJSON) */
	int csv;         /* append: quoted cells, which the target must not end inside */
	/* CSV append: whether the target's first row may take this run's rows (carry.h) */
	const char *(*check_row)(void *ctx, const char *row, size_t len);
	void *row_ctx;
	int xlsx; /* a workbook of these columns; append: refuse an existing one */
	/* xlsx: the workbook's columns; NDJSON append: the keys the target's lines open with */
	enum column columns[COL_COUNT];
	size_t ncolumns;
	const char *media_dir;   /* xlsx: what media_file names are relative to */
	enum sink_digest digest; /* SHA-256 of the bytes on disk, for the manifest (SPEC §4.7) */
	/* Set by a signal: a commit's long work (the workbook) gives up, and nothing is renamed. */
	const volatile int *stop;
};

/* The rows a file received, as its producer counted them (the manifest's figures). */
struct sink_rows {
	unsigned long long rows;
	int have_ts; /* some row had a valid timestamp */
	long long ts_min, ts_max;
};

struct sink;

/*
 * ERR_CANTCREAT when the temporary file cannot be made, or when an appended
 * target cannot be added to (carry.h); ERR_IO when its bytes cannot be
 * carried over. On failure nothing is left behind and *res is NULL.
 */
int sink_open(struct sink **res, const struct sink_opts *o, struct err *e);

/* Append bytes (deflated here when gzip). ERR_IO on a failed write. */
int sink_write(struct sink *s, const void *p, size_t n, struct err *e);

/*
 * Gzip outputs only: a chunk made by gz_deflate_chunk from raw_len input
 * bytes with that CRC, written as is after what came before.
 */
int sink_write_deflated(struct sink *s, const void *z, size_t zlen, uint32_t crc,
			unsigned long long raw_len, struct err *e);

/*
 * sink_finish ends the gzip member, writes everything out and fsyncs the
 * temporary file; sink_publish renames it over the target and fsyncs the
 * directory (runs that publish many files finish them all first);
 * sink_commit does both. The output still needs sink_close.
 */
int sink_finish(struct sink *s, struct err *e);
int sink_publish(struct sink *s, struct err *e);
int sink_commit(struct sink *s, struct err *e);

/*
 * After sink_finish, the temporary file waiting for its rename (NULL: none,
 * or in place already) and, in *target, where it goes: a commit plan's pair
 * (plan.h). sink_keep forgets it, so that sink_close leaves it for the run
 * that finishes the plan.
 */
const char *sink_staged(const struct sink *s, const char **target);
void sink_keep(struct sink *s);

/* Free the output; without a commit, its temporary file goes (unless kept). NULL is fine. */
void sink_close(struct sink *s);

/* What a sink has done, kept current as it works. */
struct sink_figures {
	unsigned long long in;  /* bytes handed in (before gzip) */
	unsigned long long out; /* bytes this run wrote (after gzip; carried ones not counted) */
	unsigned long long carried; /* bytes carried over from the target (append) */
	int appending;              /* append found a non-empty target: it has its header already */
	const char *path;           /* the path as given to sink_open ("-": stdout) */
	int streams;                /* standard output, not a workbook: written is sent, for good */
	struct sink_rows rows;      /* as the producer counted them (sink_count_row) */
	int have_sha256;            /* with opts.digest, after sink_finish: */
	unsigned char sha256[32];   /* the SHA-256 of every byte of the file, carried ones too */
};

const struct sink_figures *sink_figures(const struct sink *s);

/* The manifest's rows: the producer says a row went in (with its time when it has one). */
void sink_count_row(struct sink *s, int ts_ok, long long ts);

#endif
