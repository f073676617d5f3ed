/*
 * xlsx: the spreadsheet workbook as an output (SPEC §4.6), built with
 * libxlsxwriter in its constant-memory mode.
 *
 * The writer stage (writer_xlsx.c) turns each record into a compact,
 * self-delimiting row of typed cells, in the workers; this module receives
 * those rows as the bytes of an output, in order, and owns everything the
 * workbook needs: the spool of encoded rows (an unlinked temporary file
 * beside the target), the temporary workbook beside the target and its
 * rename into place. The rows are spooled because the number of
 * continuation columns (`message_2`, … and `type_2`, … for any text too
 * long for one cell), which the header names, is known only once the
 * longest value of each column has been seen, and libxlsxwriter's
 * constant-memory mode writes rows strictly in order. At xlsx_finish the
 * workbook is built in one pass over the spool: a bold frozen header with an
 * autofilter on every sheet, a new sheet `history 2`, `history 3`, … after
 * each 1,048,575 data rows, date-time cells formatted yyyy-mm-dd hh:mm:ss,
 * media files as hyperlinks relative to the workbook.
 *
 * The encoded row (host byte order; it never leaves the process):
 *   u32 length of what follows, one u16 per column: its number of cells
 *   (1, more for text that continues), then the cells of every column in
 *   turn, each u8 type, u32 length, payload.
 * Payloads: TEXT, URL: UTF-8, already escaped for OOXML (see writer_xlsx.c),
 * at most 32,767 code points; NUMBER: an int64; DATETIME: u16 year, u8
 * month, day, hour, minute, second (local time); EMPTY: nothing.
 */
#ifndef WAEXPORT_XLSX_H
#define WAEXPORT_XLSX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "writer.h"

/* Excel's limits: characters (UTF-16 units) per cell, rows per sheet. */
#define XLSX_CELL_MAX 32767
#define XLSX_SHEET_ROWS 1048576u

enum xlsx_cell { XLSX_EMPTY, XLSX_TEXT, XLSX_NUMBER, XLSX_DATETIME, XLSX_URL };

/* u32 length + u16 cells per column */
#define XLSX_ROW_HEAD(ncolumns) (4 + 2 * (size_t)(ncolumns))
#define XLSX_CELL_HEAD 5 /* u8 type + u32 length */
#define XLSX_DATETIME_LEN 7

struct xlsx_datetime {
	unsigned year, month, day, hour, min, sec;
};

/*
 * Encoding, for the writer: a row of ncolumns begins at out->len (each
 * column one cell until xlsx_row_parts says more); xlsx_row_end closes it.
 */
int xlsx_row_begin(struct buf *out, size_t ncolumns);
void xlsx_row_parts(struct buf *out, size_t row_start, size_t column, unsigned parts);
void xlsx_row_end(struct buf *out, size_t row_start);
/* A cell of type t with n payload bytes; returns the payload's offset in out, or -1. */
long xlsx_cell_begin(struct buf *out, enum xlsx_cell t, size_t n);
int xlsx_cell(struct buf *out, enum xlsx_cell t, const void *p, size_t n);
int xlsx_cell_number(struct buf *out, long long v);
int xlsx_cell_datetime(struct buf *out, const struct xlsx_datetime *d);

/* Decoding: a cursor over one row's cells (the bytes after the row head). */
struct xlsx_cursor {
	const unsigned char *p, *end;
};

/* The next cell: 1 and its type and payload, 0 at the row's end, -1 when malformed. */
int xlsx_next_cell(struct xlsx_cursor *c, enum xlsx_cell *t, const char **p, size_t *n);
long long xlsx_payload_number(const char *p);
void xlsx_payload_datetime(const char *p, struct xlsx_datetime *d);

struct xlsx_opts {
	const char *path; /* NULL or "-": stdout, through a temporary file */
	const enum column *columns;
	size_t ncolumns;
	int refuse_existing;          /* --state: an existing workbook is not replaced */
	const char *media_dir;        /* --media-dir: media_file names are relative to it */
	unsigned long rows_per_sheet; /* data rows on one sheet; 0: Excel's (1,048,575) */
	const volatile int *stop;     /* set by a signal: the build gives up (ERR_INTERRUPTED) */
	/* The finished workbook, block by block (the manifest's sum); non-zero stops. */
	int (*sum)(void *ctx, const void *p, size_t n, struct err *e);
	void *sum_ctx;
};

struct xlsx;

/*
 * Make the temporary workbook and spool beside the target (mode 0600; a
 * replaced file keeps its mode). ERR_CANTCREAT when they cannot be made, or
 * when refuse_existing and the target exists. On failure *res is NULL.
 */
int xlsx_open(struct xlsx **res, const struct xlsx_opts *o, struct err *e);

/* Encoded rows, in order; a row may be split across calls. ERR_IO on a failed write. */
int xlsx_write(struct xlsx *x, const void *p, size_t n, struct err *e);

/* Build the workbook and fsync it (stdout: copy it there). ERR_IO on failure. */
int xlsx_finish(struct xlsx *x, struct err *e);
/* Rename the workbook over the target and fsync the directory. */
int xlsx_publish(struct xlsx *x, struct err *e);
/* After xlsx_finish, as sink_staged and sink_keep (sink.h); xlsx_keep takes NULL. */
const char *xlsx_staged(const struct xlsx *x, const char **target);
void xlsx_keep(struct xlsx *x);
/* Free; without a publish, the temporary files go. NULL is fine. */
void xlsx_close(struct xlsx *x);

unsigned long long xlsx_bytes_in(const struct xlsx *x);
/* libxlsxwriter's version, for --version. */
const char *xlsx_library_version(void);
unsigned long long xlsx_bytes_out(const struct xlsx *x);
/* Data rows received so far. */
unsigned long long xlsx_rows(const struct xlsx *x);

/* The workbook from a spool of encoded rows (xlsx_book.c; xlsx_finish calls it). */
struct xlsx_book {
	const char *file;      /* the workbook to write */
	const char *tmpdir;    /* libxlsxwriter's own temporary files */
	const char *base;      /* resolved directory media links are relative to */
	const char *media_dir; /* media_file names are relative to it (NULL: to .) */
	const char *where;     /* the output's name, for messages */
	const enum column *columns;
	size_t ncolumns;
	const unsigned *parts; /* per column: the most cells one row gave it */
	unsigned long long rows;
	unsigned long rows_per_sheet;
	int zip64;
	const volatile int *stop; /* set by a signal: give up between rows */
};
int xlsx_book_build(const struct xlsx_book *b, int spool, struct err *e);

#endif
