/*
 * xlsx_row: the encoded row, the bytes a workbook's rows travel in from the
 * writer stage (writer_xlsx.c, which encodes them in the workers) to the
 * workbook (xlsx.c spools them, xlsx_book.c decodes them into the sheet).
 *
 * The encoded row (host byte order; it never leaves the process):
 *   u32 length of what follows, one u16 per column: its number of cells
 *   (1, more for text that continues), then the cells of every column in
 *   turn, each u8 type, u32 length, payload.
 * Payloads: TEXT, URL: UTF-8, already escaped for OOXML (see writer_xlsx.c),
 * at most 32,767 code points; NUMBER: an int64; DATETIME: u16 year, u8
 * month, day, hour, minute, second (local time); EMPTY: nothing.
 */
#ifndef WAEXPORT_XLSX_ROW_H
#define WAEXPORT_XLSX_ROW_H

#include <stddef.h>

#include "buf.h"

/* Excel's limit of characters (UTF-16 units) in a cell. */
#define XLSX_CELL_MAX 32767

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

#endif
