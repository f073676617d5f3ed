/*
 * CSV rows: RFC 4180 with CRLF line ends and one header row. libcsv's
 * csv_write quotes every field it is given (LIBRARY-NOTES §2), so we decide:
 * a field is quoted when it holds , " CR or LF, and a present but empty
 * string is written as "" so that loaders such as PostgreSQL's COPY can tell
 * it from an absent value (an unquoted empty field). With --excel (SPEC
 * §4.2): a UTF-8 BOM, spreadsheet date-times, a ' before any text cell
 * that a spreadsheet would run as a formula (OWASP "CSV injection"), and
 * every text cell quoted.
 */
#include "writer_impl.h"
#include "text.h"
#include "tz.h"

#include <csv.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXCEL_CELL_MAX 32767 /* UTF-16 code units per cell */

static int formula_lead(char c)
{
	return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * Append one text cell. Decoded text is written straight at the buffer's
 * tail. A cell that needs quotes but holds no '"' gets them around it in
 * place (that is all csv_write would do); only a cell with a '"' to double
 * goes through scratch and csv_write, whose byte-at-a-time loop is too slow
 * for every cell (docs/performance.md).
 */
static int put_text(struct writer *w, const struct record *r, const char *src, size_t len,
		    int decode, int present, struct buf *out, unsigned *bad)
{
	char *t;
	size_t n;
	int lead, quote;

	if (!present)
		return 0;
	/* Room for the text, a formula's ' and two quotes, so t stays where it is. */
	if (buf_reserve(out, TEXT_DECODE_MAX(len) + 3))
		return -1;
	t = buf_tail(out);
	if (decode) {
		n = text_decode_csv(t, src, len, bad, &quote);
	} else {
		memcpy(t, src, len);
		n = len;
		quote = text_csv_needs_quotes(t, n);
	}
	lead = w->opts.excel && n && formula_lead(t[0]);
	if (w->opts.excel && n + 1 > EXCEL_CELL_MAX / 3 &&
	    text_utf16_len(t, n) + (size_t)lead > EXCEL_CELL_MAX)
		writer_warn(w, r, "a cell is longer than Excel's 32,767-character limit");
	/* --excel: every text cell quoted, so an import that keeps quoted fields as
	 * text (LibreOffice's "format quoted field as text") never turns an id such
	 * as 0541112233 into a number. Generated numbers and times stay unquoted. */
	if (n && !quote && !w->opts.excel) {
		if (lead) {
			memmove(t + 1, t, n);
			t[0] = '\'';
			n++;
		}
		out->len += n;
		return 0;
	}
	if (!n) /* a present empty string: "" (csv_write writes nothing for no bytes) */
		return buf_add(out, "\"\"", 2);
	if (!memchr(t, '"', n)) {
		memmove(t + 1 + lead, t, n);
		t[0] = '"';
		if (lead)
			t[1] = '\'';
		t[1 + lead + n] = '"';
		out->len += n + 2 + (size_t)lead;
		return 0;
	}
	/* Quote: the decoded text moves to scratch, csv_write brings it back. */
	w->scratch.len = 0;
	if ((lead && buf_addc(&w->scratch, '\'')) || buf_add(&w->scratch, t, n) ||
	    buf_reserve(out, 2 * w->scratch.len + 2))
		return -1;
	out->len +=
		csv_write(buf_tail(out), 2 * w->scratch.len + 2, w->scratch.data, w->scratch.len);
	return 0;
}

static int put_field(struct writer *w, const struct record *r, const struct field *f,
		     struct buf *out, unsigned *bad)
{
	switch (f->kind) {
	case FIELD_ABSENT: return 0;
	case FIELD_STRING: return put_text(w, r, f->p, f->len, 1, 1, out, bad);
	case FIELD_COMPOUND:
		/* Lose nothing: an object or array is kept as its JSON text. */
		if (writer_compound(w, f, bad))
			return -1;
		return put_text(w, r, w->json.data, w->json.len, 0, 1, out, bad);
	default: return put_text(w, r, f->p, f->len, 0, 1, out, bad);
	}
}

/*
 * timestamp, direction_code, state_code: the integer, or the raw value
 * (SPEC §4.1). An empty string is an empty cell, as an absent code is:
 * loaders read that as null, where "" is text that no integer column takes.
 */
static int put_code(struct writer *w, const struct record *r, const struct field *f, int ok,
		    long long v, struct buf *out, unsigned *bad)
{
	if (ok)
		return writer_put_int(out, f, v);
	if (f->kind == FIELD_STRING && !f->len)
		return 0;
	return put_field(w, r, f, out, bad);
}

static int csv_begin(struct writer *w, struct buf *out)
{
	if (w->opts.excel && buf_add(out, "\xEF\xBB\xBF", 3))
		return -1;
	for (size_t i = 0; i < w->opts.ncolumns; i++)
		if ((i && buf_addc(out, ',')) ||
		    buf_adds(out, writer_column_name(w->opts.columns[i])))
			return -1;
	return buf_add(out, "\r\n", 2);
}

static int csv_row(struct writer *w, const struct record *r, const struct row *row,
		   const char *media_file, struct buf *out)
{
	unsigned bad = 0;
	size_t start = out->len;
	int rc = 0;

	for (size_t i = 0; i < w->opts.ncolumns && !rc; i++) {
		if (i && buf_addc(out, ','))
			return -1;
		switch (w->opts.columns[i]) {
		case COL_UNIQUE: rc = put_field(w, r, &r->f[REC_UNIQUE], out, &bad); break;
		case COL_TIMESTAMP:
			rc = put_code(w, r, &r->f[REC_TIMESTAMP], row->ts_ok, row->ts, out, &bad);
			break;
		case COL_TIME: rc = buf_add(out, row->time, row->time_len); break;
		case COL_DIRECTION: rc = buf_adds(out, row->dir_label); break;
		case COL_DIRECTION_CODE:
			rc = put_code(w, r, &r->f[REC_DIRECTION], row->dir_ok, row->dir, out, &bad);
			break;
		case COL_FROM: rc = put_field(w, r, &r->f[REC_FROM], out, &bad); break;
		case COL_TO: rc = put_field(w, r, &r->f[REC_TO], out, &bad); break;
		case COL_TYPE: rc = put_field(w, r, &r->f[REC_TYPE], out, &bad); break;
		case COL_STATE: /* an incoming message's is empty: "", as NDJSON's "" */
			rc = row->state_label ? buf_adds(out, row->state_label)
					      : buf_add(out, "\"\"", 2);
			break;
		case COL_STATE_CODE:
			rc = put_code(w, r, &r->f[REC_STATE], row->state_ok, row->state, out, &bad);
			break;
		case COL_REASON: rc = put_field(w, r, &r->f[REC_REASON], out, &bad); break;
		case COL_MESSAGE: rc = put_field(w, r, &r->f[REC_MESSAGE], out, &bad); break;
		case COL_MEDIA_FILE:
			if (media_file)
				rc = put_text(w, r, media_file, strlen(media_file), 0, 1, out,
					      &bad);
			break;
		case COL_COUNT: break;
		}
	}
	/* A row of one empty cell is "", not a blank line that readers skip (Python's csv writes so too). */
	if (!rc && out->len == start)
		rc = buf_add(out, "\"\"", 2);
	if (rc || buf_add(out, "\r\n", 2))
		return -1;
	if (bad)
		writer_warn_bad_text(w, r, bad);
	return 0;
}

const struct writer_ops writer_csv_ops = { csv_begin, csv_row };

static const char OTHER_ZONE[] = "its times are local times of another zone than this run's "
				 "(another --tz the night before?)";

/*
 * The cell of column k in one CSV row: [*cell, *cell + *n), quotes taken
 * off (a cell with a doubled quote is not a time or a number: NULL). NULL
 * when the row ends first (its first bytes only).
 */
static const char *cell_of(const char *row, size_t len, size_t k, size_t *n)
{
	size_t i = 0;

	for (size_t col = 0;; col++) {
		size_t start = i, end;
		int quoted = i < len && row[i] == '"';

		if (quoted) {
			const char *q = memchr(row + i + 1, '"', len - i - 1);

			if (!q)
				return NULL;
			start = i + 1;
			end = (size_t)(q - row);
			i = end + 1;
		} else {
			while (i < len && row[i] != ',' && row[i] != '\r' && row[i] != '\n')
				i++;
			end = i;
		}
		if (i == len || (row[i] != ',' && row[i] != '\r' && row[i] != '\n'))
			return NULL; /* cut off here, or a doubled quote */
		if (col == k) {
			*n = end - start;
			return row + start;
		}
		if (row[i++] != ',')
			return NULL;
	}
}

const char *writer_csv_joins(void *ctx, const char *row, size_t len)
{
	struct writer *w = ctx;
	size_t ts_col = SIZE_MAX, time_col = SIZE_MAX, n_ts, n_time;
	const char *ts, *time;
	char digits[24], made[TZ_FORMAT_MAX], *end;
	long long t;

	if (!w->opts.excel)
		return NULL; /* ISO 8601 times carry their offset: a mix is still exact */
	for (size_t i = 0; i < w->opts.ncolumns; i++) {
		ts_col = w->opts.columns[i] == COL_TIMESTAMP ? i : ts_col;
		time_col = w->opts.columns[i] == COL_TIME ? i : time_col;
	}
	if (ts_col == SIZE_MAX || time_col == SIZE_MAX ||
	    !(ts = cell_of(row, len, ts_col, &n_ts)) ||
	    !(time = cell_of(row, len, time_col, &n_time)) || !n_ts || !n_time ||
	    n_ts >= sizeof(digits))
		return NULL; /* nothing to compare: the row says no time */
	memcpy(digits, ts, n_ts);
	digits[n_ts] = '\0';
	errno = 0;
	t = strtoll(digits, &end, 10);
	if (errno || *end)
		return NULL;
	n_ts = tz_format(w->opts.tz, t, TZ_SPREADSHEET, made);
	return n_ts && (n_ts != n_time || memcmp(made, time, n_time)) ? OTHER_ZONE : NULL;
}
