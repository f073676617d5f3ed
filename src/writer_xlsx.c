/*
 * Workbook rows (SPEC §4.6): each record as typed cells in the encoding
 * xlsx_row.h describes, made in the workers so that the consumer only copies
 * cells into the sheet. Ids and text are TEXT whatever they look like;
 * `timestamp` and the codes NUMBER when they are integers (their raw text
 * otherwise); `time` a DATETIME in the writer's zone, broken down here so
 * the consumer does no zone work; `media_file` a URL.
 *
 * Text is made safe for the workbook here (LIBRARY-NOTES §6):
 * - a literal `_xHHHH_` would be read back as the character U+HHHH, so its
 *   underscore is written as the OOXML escape `_x005F_`; so is that of an
 *   `_xHHHH` before a character written as an escape (a control character,
 *   which libxlsxwriter writes as `_x0001_`, or U+FFFE/U+FFFF below), whose
 *   escape's `_` would close it;
 * - U+FFFE and U+FFFF are not XML characters (LibreOffice stops reading the
 *   sheet at them), so they are written as `_xFFFE_` and `_xFFFF_`;
 * - a cell holds 32,767 UTF-16 units in Excel, and libxlsxwriter refuses more
 *   than 32,767 code points (escapes included): longer text continues in
 *   further cells (columns message_2, message_3 …; type_2 … for a `type`
 *   that long), cut between characters and never inside an escape, one
 *   warning per continuation. Nothing is cut.
 */
#include "writer_impl.h"
#include "text.h"
#include "xlsx_row.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- text ---------------------------------------------------------------- */

static int is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* U+FFFE or U+FFFF at s[i..n): not XML characters, written as OOXML escapes. */
static const char *noncharacter_at(const char *s, size_t i, size_t n)
{
	unsigned char last;

	if (n - i < 3 || memcmp(s + i, "\xEF\xBF", 2))
		return NULL;
	last = (unsigned char)s[i + 2];
	return last == 0xBE ? "_xFFFE_" : last == 0xBF ? "_xFFFF_" : NULL;
}

/*
 * Does s[i..n) start with what a reader would take for an OOXML escape: a
 * literal `_xHHHH_`, or `_xHHHH` before a character written as an escape
 * (a control character, U+FFFE, U+FFFF), whose escape's `_` closes it?
 */
static int escape_at(const char *s, size_t i, size_t n)
{
	if (n - i < 7 || s[i] != '_' || s[i + 1] != 'x' || !is_hex(s[i + 2]) || !is_hex(s[i + 3]) ||
	    !is_hex(s[i + 4]) || !is_hex(s[i + 5]))
		return 0;
	return s[i + 6] == '_' || (unsigned char)s[i + 6] < 0x20 || noncharacter_at(s, i + 6, n);
}

static size_t utf8_len(unsigned char lead)
{
	return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

/*
 * Clean UTF-8 s (decoded) as TEXT cells of at most `limit` UTF-16 units and
 * `limit` code points once escaped. Returns the number of cells (1 for
 * empty text), 0 on ENOMEM.
 */
static unsigned put_cells(struct buf *out, const char *s, size_t n, size_t limit)
{
	unsigned cells = 0;
	size_t i = 0;

	do {
		size_t units = 0, start;
		long off = xlsx_cell_begin(out, XLSX_TEXT, 0);

		if (off < 0 || buf_reserve(out, 7))
			return 0;
		start = (size_t)off;
		cells++;
		while (i < n) {
			const char *esc = NULL;
			size_t k = utf8_len((unsigned char)s[i]), cost = 1, u = k == 4 ? 2 : 1;

			if (escape_at(s, i, n))
				esc = "_x005F_";
			else
				esc = noncharacter_at(s, i, n);
			if (esc)
				cost = 7;
			/*
			 * One budget for both limits: a character adds u UTF-16 units
			 * (Excel's count) and `cost` code points once escaped
			 * (libxlsxwriter's), so adding the larger bounds both.
			 */
			if (units + (cost > u ? cost : u) > limit)
				break;
			units += cost > u ? cost : u;
			if (buf_reserve(out, 7))
				return 0;
			if (esc) {
				memcpy(buf_tail(out), esc, 7);
				out->len += 7;
				i += esc[2] == '0' ? 1 : 3;
			} else {
				memcpy(buf_tail(out), s + i, k);
				out->len += k;
				i += k;
			}
		}
		{
			uint32_t len = (uint32_t)(out->len - start);

			memcpy(out->data + start - 4, &len, 4);
		}
	} while (i < n);
	return cells;
}

/* ---- rows ---------------------------------------------------------------- */

/*
 * A text field as cells: decoded (JSON strings), compacted (objects and
 * arrays), or as is (numbers, booleans: an id sent as a JSON number is
 * still an id) in column c. Returns the cells written, 0 on ENOMEM.
 */
static unsigned put_field(struct writer *w, const struct record *r, const struct field *f,
			  enum column c, struct buf *out, unsigned *bad)
{
	const char *s = f->p;
	size_t n = f->len;
	unsigned cells;

	if (f->kind == FIELD_ABSENT)
		return xlsx_cell(out, XLSX_EMPTY, NULL, 0) ? 0 : 1;
	if (f->kind == FIELD_STRING) {
		w->scratch.len = 0;
		if (buf_reserve(&w->scratch, TEXT_DECODE_MAX(n)))
			return 0;
		n = text_decode(w->scratch.data, f->p, f->len, bad);
		s = w->scratch.data;
	} else if (f->kind == FIELD_COMPOUND) {
		if (writer_compound(w, f, bad))
			return 0;
		s = w->json.data;
		n = w->json.len;
	}
	cells = put_cells(out, s, n, XLSX_CELL_MAX);
	for (unsigned k = 2; k <= cells; k++) {
		char what[128];

		snprintf(what, sizeof(what),
			 "%s longer than a spreadsheet cell (32,767 characters) continues in "
			 "column %s_%u",
			 writer_column_name(c), writer_column_name(c), k);
		writer_warn(w, r, what);
	}
	return cells;
}

/* The field behind each column that holds one as it came (text, or a code's raw value). */
static const enum record_key field_of[COL_COUNT] = {
	[COL_UNIQUE] = REC_UNIQUE,
	[COL_TIMESTAMP] = REC_TIMESTAMP,
	[COL_DIRECTION_CODE] = REC_DIRECTION,
	[COL_STATE_CODE] = REC_STATE,
	[COL_FROM] = REC_FROM,
	[COL_TO] = REC_TO,
	[COL_TYPE] = REC_TYPE,
	[COL_REASON] = REC_REASON,
	[COL_MESSAGE] = REC_MESSAGE,
};

/* Excel shows 15 significant digits: a larger integer would read back changed. */
#define EXACT_IN_EXCEL 1000000000000000LL

/*
 * A code in column c: a NUMBER when it is an integer Excel shows exactly,
 * else text (its digits, or raw). Returns the cells written, 0 on ENOMEM.
 */
static unsigned put_code(struct writer *w, const struct record *r, int ok, long long v,
			 enum column c, struct buf *out, unsigned *bad)
{
	char text[24];

	if (ok && v > -EXACT_IN_EXCEL && v < EXACT_IN_EXCEL)
		return !xlsx_cell_number(out, v);
	if (ok)
		return !xlsx_cell(out, XLSX_TEXT, text,
				  (size_t)snprintf(text, sizeof(text), "%lld", v));
	return put_field(w, r, &r->f[field_of[c]], c, out, bad);
}

static unsigned digits(const char *p, size_t n)
{
	unsigned v = 0;

	while (n--)
		v = v * 10 + (unsigned)(*p++ - '0');
	return v;
}

/*
 * `time`: the ISO 8601 local time writer_prepare made (tz_format:
 * YYYY-MM-DDTHH:MM:SS, years 1..9999 on four digits), broken down.
 */
static int put_time(const struct row *row, struct buf *out)
{
	const char *t = row->time;
	struct xlsx_datetime d;

	if (!row->time_len)
		return xlsx_cell(out, XLSX_EMPTY, NULL, 0);
	d = (struct xlsx_datetime){ digits(t, 4),      digits(t + 5, 2),  digits(t + 8, 2),
				    digits(t + 11, 2), digits(t + 14, 2), digits(t + 17, 2) };
	if (row->time_len < 19 || t[4] != '-' || t[10] != 'T' || d.year < 1900)
		/* Before Excel's calendar (1900): the time as text, nothing lost. */
		return xlsx_cell(out, XLSX_TEXT, row->time, row->time_len);
	return xlsx_cell_datetime(out, &d);
}

static int put_label(struct buf *out, const char *label)
{
	if (!label)
		return xlsx_cell(out, XLSX_EMPTY, NULL, 0);
	return xlsx_cell(out, XLSX_TEXT, label, strlen(label));
}

/* Column c of the row; returns its cells, 0 on ENOMEM. */
static unsigned put_column(struct writer *w, const struct record *r, const struct row *row,
			   enum column c, const char *media_file, struct buf *out, unsigned *bad)
{
	switch (c) {
	case COL_TIMESTAMP: return put_code(w, r, row->ts_ok, row->ts, c, out, bad);
	case COL_TIME: return !put_time(row, out);
	case COL_DIRECTION: return !put_label(out, row->dir_label);
	case COL_DIRECTION_CODE: return put_code(w, r, row->dir_ok, row->dir, c, out, bad);
	case COL_STATE: return !put_label(out, row->state_label);
	case COL_STATE_CODE: return put_code(w, r, row->state_ok, row->state, c, out, bad);
	case COL_MEDIA_FILE:
		if (!media_file || !*media_file)
			return !xlsx_cell(out, XLSX_EMPTY, NULL, 0);
		return !xlsx_cell(out, XLSX_URL, media_file, strlen(media_file));
	case COL_COUNT: return 0;
	default: return put_field(w, r, &r->f[field_of[c]], c, out, bad);
	}
}

static int xlsx_begin(struct writer *w, struct buf *out)
{
	/* The workbook writes its own header (xlsx.c): it names the continuation columns. */
	(void)w;
	(void)out;
	return 0;
}

static int xlsx_row(struct writer *w, const struct record *r, const struct row *row,
		    const char *media_file, struct buf *out)
{
	size_t start = out->len;
	unsigned bad = 0;

	if (xlsx_row_begin(out, w->opts.ncolumns))
		return -1;
	for (size_t i = 0; i < w->opts.ncolumns; i++) {
		unsigned cells = put_column(w, r, row, w->opts.columns[i], media_file, out, &bad);

		if (!cells)
			return -1;
		if (cells > 1)
			xlsx_row_parts(out, start, i, cells);
	}
	xlsx_row_end(out, start);
	if (bad)
		writer_warn_bad_text(w, r, bad);
	return 0;
}

const struct writer_ops writer_xlsx_ops = { xlsx_begin, xlsx_row };
