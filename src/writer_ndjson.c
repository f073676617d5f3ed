/*
 * NDJSON rows (SPEC §4.1): one compact object per line, the §4.1 keys in
 * order with stable types (integers for codes and timestamps, strings for
 * ids, null for what is absent), then the fields the API sent that §4.1
 * does not name. Text is recoded straight from the page body: non-ASCII as
 * UTF-8, only the escapes RFC 8259 §7 requires, plus U+2028/U+2029.
 */
#include "writer_impl.h"
#include "text.h"

#include <string.h>

static int put_key(struct buf *out, int first, const char *key)
{
	size_t n = strlen(key);

	if (buf_reserve(out, n + 4))
		return -1;
	if (!first)
		out->data[out->len++] = ',';
	out->data[out->len++] = '"';
	memcpy(buf_tail(out), key, n);
	out->len += n;
	out->data[out->len++] = '"';
	out->data[out->len++] = ':';
	return 0;
}

static int put_string_raw(struct buf *out, const char *s, size_t len, int recode, unsigned *bad)
{
	if (buf_reserve(out, TEXT_RECODE_MAX(len) + 2))
		return -1;
	out->data[out->len++] = '"';
	if (recode)
		out->len += text_json_recode(buf_tail(out), s, len, bad);
	else
		out->len += text_json_escape(buf_tail(out), s, len);
	out->data[out->len++] = '"';
	return 0;
}

/* A field as a JSON string (numbers become their digits, SPEC: never reformat), or null. */
static int put_string_field(const struct page *pg, const char *body, const struct field *f,
			    struct buf *out, unsigned *bad)
{
	switch (f->kind) {
	case FIELD_ABSENT:
		return buf_add(out, "null", 4);
	case FIELD_STRING:
		return put_string_raw(out, f->p, f->len, 1, bad);
	case FIELD_COMPOUND: {
		struct buf json = BUF_INIT;
		int rc = page_value_json(pg, body, f->tok, &json, bad);

		if (!rc)
			rc = put_string_raw(out, json.data, json.len, 0, bad);
		buf_free(&json);
		return rc;
	}
	default:
		return put_string_raw(out, f->p, f->len, 0, bad);
	}
}

static int put_code(struct writer *w, const struct record *r, const struct field *f, int ok,
		    long long v, const char *what, struct buf *out)
{
	if (ok)
		return writer_put_int(out, f, v);
	if (f->kind != FIELD_ABSENT)
		writer_warn(w, r, what);
	return buf_add(out, "null", 4);
}

static int is_output_key(const char *raw, size_t raw_len)
{
	char p[64 * 3];
	size_t len;
	unsigned bad = 0;

	if (raw_len > 64)
		return 0;
	len = text_decode(p, raw, raw_len, &bad); /* "tim\u0065" is "time" */
	for (int c = 0; c < COL_COUNT; c++) {
		const char *name = writer_column_name((enum column)c);

		if (strlen(name) == len && !memcmp(name, p, len))
			return 1;
	}
	return 0;
}

/* Unknown fields, after the known keys; one that would clash with ours gets an api_ prefix. */
static int put_extras(const struct page *pg, const char *body, const struct record *r,
		      struct buf *out, unsigned *bad)
{
	for (size_t i = 0; i < r->n_extra; i++) {
		const struct extra *x = &r->extra[i];

		if (buf_addc(out, ',') || buf_addc(out, '"') ||
		    (is_output_key(x->key.p, x->key.len) && buf_add(out, "api_", 4)) ||
		    buf_reserve(out, TEXT_RECODE_MAX(x->key.len) + 2))
			return -1;
		out->len += text_json_recode(buf_tail(out), x->key.p, x->key.len, bad);
		if (buf_add(out, "\":", 2) || page_value_json(pg, body, x->value.tok, out, bad))
			return -1;
	}
	return 0;
}

static int ndjson_begin(struct writer *w, struct buf *out)
{
	(void)w;
	(void)out;
	return 0;
}

static int ndjson_row(struct writer *w, const struct page *pg, const char *body,
		      const struct record *r, const struct row *row, const char *media_file,
		      struct buf *out)
{
	unsigned bad = 0;
	int rc = 0;

	if (buf_addc(out, '{'))
		return -1;
	for (size_t i = 0; i < w->opts.ncolumns && !rc; i++) {
		enum column c = w->opts.columns[i];

		if (put_key(out, i == 0, writer_column_name(c)))
			return -1;
		switch (c) {
		case COL_UNIQUE:
			rc = put_string_field(pg, body, &r->f[REC_UNIQUE], out, &bad);
			break;
		case COL_TIMESTAMP:
			if (row->ts_ok)
				rc = writer_put_int(out, &r->f[REC_TIMESTAMP], row->ts);
			else /* SPEC §4.1: a timestamp that is not a number keeps its raw value */
				rc = put_string_field(pg, body, &r->f[REC_TIMESTAMP], out, &bad);
			break;
		case COL_TIME:
			if (row->time_len)
				rc = put_string_raw(out, row->time, row->time_len, 0, &bad);
			else
				rc = buf_add(out, "null", 4);
			break;
		case COL_DIRECTION:
			rc = put_string_raw(out, row->dir_label, strlen(row->dir_label), 0, &bad);
			break;
		case COL_DIRECTION_CODE:
			rc = put_code(w, r, &r->f[REC_DIRECTION], row->dir_ok, row->dir,
				      "direction is not an integer code; direction_code is null", out);
			break;
		case COL_FROM:
			rc = put_string_field(pg, body, &r->f[REC_FROM], out, &bad);
			break;
		case COL_TO:
			rc = put_string_field(pg, body, &r->f[REC_TO], out, &bad);
			break;
		case COL_TYPE:
			rc = put_string_field(pg, body, &r->f[REC_TYPE], out, &bad);
			break;
		case COL_STATE:
			rc = put_string_raw(out, row->state_label ? row->state_label : "",
					    row->state_label ? strlen(row->state_label) : 0, 0, &bad);
			break;
		case COL_STATE_CODE:
			rc = put_code(w, r, &r->f[REC_STATE], row->state_ok, row->state,
				      "state is not an integer code; state_code is null", out);
			break;
		case COL_REASON:
			rc = put_string_field(pg, body, &r->f[REC_REASON], out, &bad);
			break;
		case COL_MESSAGE:
			rc = put_string_field(pg, body, &r->f[REC_MESSAGE], out, &bad);
			break;
		case COL_MEDIA_FILE:
			if (media_file)
				rc = put_string_raw(out, media_file, strlen(media_file), 0, &bad);
			else
				rc = buf_add(out, "null", 4);
			break;
		case COL_COUNT:
			break;
		}
	}
	if (rc || (w->opts.extras && put_extras(pg, body, r, out, &bad)) || buf_add(out, "}\n", 2))
		return -1;
	if (bad)
		writer_warn_bad_text(w, r, bad);
	return 0;
}

const struct writer_ops writer_ndjson_ops = { ndjson_begin, ndjson_row };
