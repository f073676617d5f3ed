/*
 * The parts of a row every format shares: the column names (columns.h), and each
 * record's decoded time, codes and labels (SPEC §4.1, §4.3).
 */
#include "writer.h"
#include "writer_impl.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *writer_column_name(enum column c)
{
	return column_info(c)->name;
}

void writer_default_columns(struct writer_opts *opts, int with_media)
{
	opts->ncolumns = 0;
	for (int c = 0; c < COL_COUNT; c++)
		if (c != COL_MEDIA_FILE || with_media)
			opts->columns[opts->ncolumns++] = (enum column)c;
}

int writer_parse_columns(struct writer_opts *opts, const char *list, struct err *e)
{
	const char *p = list;

	opts->ncolumns = 0;
	while (*p) {
		size_t n = strcspn(p, ",");
		int found = -1;

		if (!n)
			return err_set(e, ERR_USAGE, "--columns: empty column name in '%s'", list);
		found = column_find(p, n);
		if (found < 0)
			return err_set(e, ERR_USAGE,
				       "--columns: unknown column '%.*s'; the columns are %s",
				       (int)n, p, column_list());
		for (size_t i = 0; i < opts->ncolumns; i++)
			if (opts->columns[i] == (enum column)found)
				return err_set(e, ERR_USAGE, "--columns: '%.*s' is named twice",
					       (int)n, p);
		opts->columns[opts->ncolumns++] = (enum column)found;
		p += n;
		if (*p == ',' && !*++p)
			return err_set(e, ERR_USAGE,
				       "--columns: a column name is missing after the last ','");
	}
	if (!opts->ncolumns)
		return err_set(e, ERR_USAGE, "--columns: name at least one column");
	return 0;
}

int writer_check_media(const struct writer_opts *opts, int with_media, struct err *e)
{
	for (size_t i = 0; i < opts->ncolumns && !with_media; i++)
		if (opts->columns[i] == COL_MEDIA_FILE)
			return err_set(e, ERR_USAGE,
				       "--columns: media_file names the file fetch --media-dir "
				       "downloads; without --media-dir every cell would be empty "
				       "(add --media-dir DIR, or drop media_file)");
	return 0;
}

struct writer *writer_new(const struct writer_opts *opts, struct warn *warn)
{
	struct writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->opts = *opts;
	w->warn = warn;
	w->ops = opts->format == WRITER_CSV    ? &writer_csv_ops
		 : opts->format == WRITER_XLSX ? &writer_xlsx_ops
					       : &writer_ndjson_ops;
	for (size_t i = 0; i < opts->ncolumns; i++) {
		const struct column_info *ci = column_info(opts->columns[i]);

		snprintf(w->key[i].s, sizeof(w->key[i].s), "%c\"%s\":", i ? ',' : '{', ci->name);
		w->key[i].len = strlen(w->key[i].s); /* whole: a unit test bounds the names */
	}
	/* The zone's caches are written as rows are made: each writer has its own. */
	if (opts->tz && !(w->opts.tz = tz_copy(opts->tz))) {
		free(w);
		return NULL;
	}
	return w;
}

void writer_trim(struct writer *w, size_t keep)
{
	if (w->scratch.cap > keep)
		buf_free(&w->scratch);
	if (w->json.cap > keep)
		buf_free(&w->json);
}

void writer_free(struct writer *w)
{
	if (!w)
		return;
	buf_free(&w->scratch);
	buf_free(&w->json);
	tz_free(w->opts.tz);
	free(w);
}

int writer_begin(struct writer *w, struct buf *out)
{
	return w->ops->begin(w, out);
}

void writer_warn_bad_text(struct writer *w, const struct record *r, unsigned bad)
{
	char tmp[64];

	warn_note(w->warn,
		  "message %s: %u invalid character(s) (broken surrogate, invalid UTF-8 "
		  "or U+0000) replaced with U+FFFD",
		  record_unique_shown(&r->f[REC_UNIQUE], tmp, sizeof(tmp)), bad);
}

void writer_warn(struct writer *w, const struct record *r, const char *what)
{
	char tmp[64];

	warn_note(w->warn, "message %s: %s",
		  record_unique_shown(&r->f[REC_UNIQUE], tmp, sizeof(tmp)), what);
}

void writer_prepare(struct writer *w, const struct record *r, struct row *row)
{
	row->ts_ok = r->ts_ok;
	row->ts = r->ts;
	row->time_len = 0;
	if (row->ts_ok)
		row->time_len = tz_format(w->opts.tz, row->ts,
					  w->opts.excel ? TZ_SPREADSHEET : TZ_ISO8601, row->time);
	if (!row->time_len && r->f[REC_TIMESTAMP].kind != FIELD_ABSENT)
		writer_warn(w, r, "timestamp is not a usable epoch time; 'time' left empty");
	/* A code that is not an integer keeps its text in every format (SPEC §1: nothing lost). */
	if (!r->dir_ok && r->f[REC_DIRECTION].kind != FIELD_ABSENT)
		writer_warn(w, r,
			    "direction is not an integer code; direction_code keeps its text");
	if (!r->state_ok && r->f[REC_STATE].kind != FIELD_ABSENT)
		writer_warn(w, r, "state is not an integer code; state_code keeps its text");
	row->dir_ok = r->dir_ok;
	row->dir = r->dir;
	row->state_ok = r->state_ok;
	row->state = r->state;
	row->dir_label = record_direction_label(row->dir_ok, row->dir);
	row->state_label = record_state_label(row->dir_ok, row->dir, row->state_ok, row->state);
	if (r->f[REC_STATE].kind == FIELD_ABSENT && row->state_label && !row->state_ok)
		row->state_label = "unknown";
}

int writer_put_int(struct buf *out, const struct field *f, long long v)
{
	/* Digits already canonical (no sign, no leading zero, no fraction) are copied as they are. */
	size_t i = 0;

	if (f->len && f->len <= 18 && (f->p[0] != '0' || f->len == 1))
		while (i < f->len && f->p[i] >= '0' && f->p[i] <= '9')
			i++;
	if (i && i == f->len)
		return buf_add(out, f->p, f->len);
	return buf_add_i64(out, v);
}

int writer_compound(struct writer *w, const struct field *f, unsigned *bad)
{
	w->json.len = 0;
	if (buf_reserve(&w->json, TEXT_RECODE_MAX(f->len)))
		return -1;
	w->json.len = text_json_compact(w->json.data, f->p, f->len, bad);
	return 0;
}

int writer_row(struct writer *w, const struct record *r, const char *media_file, struct buf *out)
{
	struct row row;

	writer_prepare(w, r, &row);
	if (r->dup_keys)
		writer_warn(w, r, "a key appears more than once in the message; the first is kept");
	return w->ops->row(w, r, &row, media_file, out);
}
