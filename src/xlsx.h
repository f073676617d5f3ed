/*
 * xlsx: the spreadsheet workbook as an output (SPEC §4.6), built with
 * libxlsxwriter in its constant-memory mode.
 *
 * The writer stage (writer_xlsx.c) turns each record into a compact,
 * self-delimiting row of typed cells (xlsx_row.h), in the workers; this module receives
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
 * media files as hyperlinks relative to the workbook. The rows arrive
 * encoded as xlsx_row.h describes.
 */
#ifndef WAEXPORT_XLSX_H
#define WAEXPORT_XLSX_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "writer.h"
#include "xlsx_row.h"

/* Rows per sheet in Excel. */
#define XLSX_SHEET_ROWS 1048576u

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
