/*
 * writer: one record → one row of bytes, in CSV (RFC 4180 through libcsv,
 * SPEC §4.2), NDJSON (SPEC §4.1) or the typed cells of a workbook row
 * (SPEC §4.6, encoded as xlsx.h describes). Writers append to a caller's buffer and
 * know nothing of files, gzip or HTTP; the pipeline and the sink decide
 * where the bytes go. A writer owns its scratch buffer and nothing else.
 */
#ifndef WAEXPORT_WRITER_H
#define WAEXPORT_WRITER_H

#include <stddef.h>

#include "buf.h"
#include "columns.h"
#include "err.h"
#include "record.h"
#include "tz.h"
#include "warn.h"

enum writer_format { WRITER_CSV, WRITER_NDJSON, WRITER_XLSX };

struct writer_opts {
	enum writer_format format;
	int excel; /* SPEC §4.2 spreadsheet dialect (CSV) */
	enum column columns[COL_COUNT];
	size_t ncolumns;
	int extras; /* NDJSON: carry unknown fields through */
	struct tz *tz;
};

struct writer;

/* A writer for opts (copied). NULL on ENOMEM. */
struct writer *writer_new(const struct writer_opts *opts, struct warn *warn);
void writer_free(struct writer *w);

/* Give back a scratch buffer grown past keep bytes (a huge cell): the writer stays usable. */
void writer_trim(struct writer *w, size_t keep);

/* Bytes that open the output: BOM (--excel) and header row (CSV); none for xlsx. */
int writer_begin(struct writer *w, struct buf *out);

/* Append one row. media_file may be NULL. -1 only on ENOMEM. */
int writer_row(struct writer *w, const struct record *r, const char *media_file, struct buf *out);

const char *writer_column_name(enum column c);

/*
 * carry.h's check_row (ctx: the writer) for a CSV file this run adds to:
 * NULL when the file's first row (its first bytes) may take this writer's
 * rows, else why not. An --excel time has no offset, so a file of another
 * --tz would mix two zones with nothing to tell them apart: its first row's
 * `time` must be what this writer makes of that row's `timestamp`.
 */
const char *writer_csv_joins(void *ctx, const char *row, size_t len);

/*
 * Parse a --columns list ("unique,time,message") into opts. Returns 0, or
 * -1 with e set (ERR_USAGE naming the unknown column).
 */
int writer_parse_columns(struct writer_opts *opts, const char *list, struct err *e);

/*
 * SPEC §4.1: media_file is filled only with --media-dir (with_media); named
 * in --columns without it, every cell would be empty. ERR_USAGE then.
 */
int writer_check_media(const struct writer_opts *opts, int with_media, struct err *e);

/* The default columns: all of §4.1, media_file only with --media-dir. */
void writer_default_columns(struct writer_opts *opts, int with_media);

#endif
