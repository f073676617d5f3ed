/*
 * NDJSON rows (SPEC §4.1): one compact object per line, the §4.1 keys in
 * order with stable types (integers for codes and timestamps, strings for
 * ids, null for what is absent), then the fields the API sent that §4.1
 * does not name. Text is recoded straight from the page body: non-ASCII as
 * UTF-8, only the escapes RFC 8259 §7 requires, plus U+2028/U+2029 and the
 * C1 controls (text.h).
 */
#include "writer_impl.h"
#include "text.h"

#include <string.h>

/* The key of the i-th column written, with the '{' or ',' before it. */
static int put_key(struct writer *w, size_t i, struct buf *out)
{
	return buf_add(out, w->key[i].s, w->key[i].len);
}

/* Text we made (a label, a formatted time): ASCII with nothing to escape. */
static int put_ours(struct buf *out, const char *s, size_t len)
{
	if (buf_reserve(out, len + 2))
		return -1;
	out->data[out->len++] = '"';
	memcpy(buf_tail(out), s, len);
	out->len += len;
	out->data[out->len++] = '"';
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
static int put_string_field(struct writer *w, const struct field *f, struct buf *out, unsigned *bad)
{
	switch (f->kind) {
	case FIELD_ABSENT: return buf_add(out, "null", 4);
	case FIELD_STRING: return put_string_raw(out, f->p, f->len, 1, bad);
	case FIELD_COMPOUND:
		if (writer_compound(w, f, bad))
			return -1;
		return put_string_raw(out, w->json.data, w->json.len, 0, bad);
	default: return put_string_raw(out, f->p, f->len, 0, bad);
	}
}

/*
 * A timestamp or code: an integer; null when absent or "" (which would fail
 * an integer column); else its raw value as text (SPEC §4.1: nothing lost;
 * writer_prepare counted the warning).
 */
static int put_code(struct writer *w, const struct field *f, int ok, long long v, struct buf *out,
		    unsigned *bad)
{
	if (ok)
		return writer_put_int(out, f, v);
	if (f->kind == FIELD_ABSENT || (f->kind == FIELD_STRING && !f->len))
		return buf_add(out, "null", 4);
	return put_string_field(w, f, out, bad);
}

/* The column that a decoded key names, or NULL. */
static const char *column_named(const char *p, size_t len)
{
	for (int c = 0; c < COL_COUNT; c++) {
		const char *name = writer_column_name((enum column)c);

		if (strlen(name) == len && !memcmp(name, p, len))
			return name;
	}
	return NULL;
}

/* x's key decoded into w->scratch ("tim\u0065" is "time"). -1 on ENOMEM. */
static int decode_key(struct writer *w, const struct extra *x, unsigned *bad)
{
	w->scratch.len = 0;
	if (buf_reserve(&w->scratch, TEXT_DECODE_MAX(x->key.len)))
		return -1;
	w->scratch.len = text_decode(w->scratch.data, x->key.p, x->key.len, bad);
	return 0;
}

/*
 * How many "api_" prefixes an extra named like column `col` takes: one more
 * than the most any other extra of the row already has before `col`
 * (`time` → `api_time`, or `api_api_time` when `api_time` was sent too).
 * No column name starts with "api_" and the page keeps one field per
 * decoded key, so every NDJSON key of the row stays unique. Linear in the
 * keys' length.
 */
static int api_prefixes(struct writer *w, const struct record *r, const char *col, unsigned *n)
{
	size_t clen = strlen(col);
	unsigned most = 0, ignored = 0;

	for (size_t i = 0; i < r->n_extra; i++) {
		const char *k;
		size_t len;
		unsigned j = 0;

		if (decode_key(w, &r->extra[i], &ignored))
			return -1;
		k = w->scratch.data;
		len = w->scratch.len;
		while (len > clen && len >= 4 && !memcmp(k, "api_", 4)) {
			k += 4;
			len -= 4;
			j++;
		}
		if (j && len == clen && !memcmp(k, col, clen) && j > most)
			most = j;
	}
	*n = most + 1;
	return 0;
}

/* Unknown fields, after the known keys; one that would clash with ours gets api_ prefixes. */
static int put_extras(struct writer *w, const struct record *r, struct buf *out, unsigned *bad)
{
	for (size_t i = 0; i < r->n_extra; i++) {
		const struct extra *x = &r->extra[i];
		const char *col = NULL;
		unsigned prefixes = 0, ignored = 0;

		if (x->key.len <= 6 * COLUMN_NAME_MAX) { /* longer than any column name, escaped */
			if (decode_key(w, x, &ignored))
				return -1;
			col = column_named(w->scratch.data, w->scratch.len);
		}
		if ((col && api_prefixes(w, r, col, &prefixes)) || buf_addc(out, ',') ||
		    buf_addc(out, '"'))
			return -1;
		while (prefixes--)
			if (buf_add(out, "api_", 4))
				return -1;
		if (buf_reserve(out, TEXT_RECODE_MAX(x->key.len) + 2))
			return -1;
		out->len += text_json_recode(buf_tail(out), x->key.p, x->key.len, bad);
		if (buf_add(out, "\":", 2))
			return -1;
		if (x->value.kind == FIELD_COMPOUND) {
			if (writer_compound(w, &x->value, bad) ||
			    buf_add(out, w->json.data, w->json.len))
				return -1;
		} else if (x->value.kind == FIELD_STRING) {
			if (put_string_raw(out, x->value.p, x->value.len, 1, bad))
				return -1;
		} else if (x->value.kind == FIELD_ABSENT) {
			if (buf_add(out, "null", 4))
				return -1;
		} else if (buf_add(out, x->value.p, x->value.len)) {
			return -1;
		}
	}
	return 0;
}

static int ndjson_begin(struct writer *w, struct buf *out)
{
	(void)w;
	(void)out;
	return 0;
}

static int ndjson_row(struct writer *w, const struct record *r, const struct row *row,
		      const char *media_file, struct buf *out)
{
	unsigned bad = 0;
	int rc = 0;

	for (size_t i = 0; i < w->opts.ncolumns && !rc; i++) {
		enum column c = w->opts.columns[i];

		if (put_key(w, i, out))
			return -1;
		switch (c) {
		case COL_UNIQUE: rc = put_string_field(w, &r->f[REC_UNIQUE], out, &bad); break;
		case COL_TIMESTAMP:
			rc = put_code(w, &r->f[REC_TIMESTAMP], row->ts_ok, row->ts, out, &bad);
			break;
		case COL_TIME:
			if (row->time_len)
				rc = put_ours(out, row->time, row->time_len);
			else
				rc = buf_add(out, "null", 4);
			break;
		case COL_DIRECTION:
			rc = put_ours(out, row->dir_label, strlen(row->dir_label));
			break;
		case COL_DIRECTION_CODE:
			rc = put_code(w, &r->f[REC_DIRECTION], row->dir_ok, row->dir, out, &bad);
			break;
		case COL_FROM: rc = put_string_field(w, &r->f[REC_FROM], out, &bad); break;
		case COL_TO: rc = put_string_field(w, &r->f[REC_TO], out, &bad); break;
		case COL_TYPE: rc = put_string_field(w, &r->f[REC_TYPE], out, &bad); break;
		case COL_STATE:
			rc = row->state_label
				     ? put_ours(out, row->state_label, strlen(row->state_label))
				     : put_ours(out, "", 0);
			break;
		case COL_STATE_CODE:
			rc = put_code(w, &r->f[REC_STATE], row->state_ok, row->state, out, &bad);
			break;
		case COL_REASON: rc = put_string_field(w, &r->f[REC_REASON], out, &bad); break;
		case COL_MESSAGE: rc = put_string_field(w, &r->f[REC_MESSAGE], out, &bad); break;
		case COL_MEDIA_FILE:
			if (media_file)
				rc = put_string_raw(out, media_file, strlen(media_file), 0, &bad);
			else
				rc = buf_add(out, "null", 4);
			break;
		case COL_COUNT: break;
		}
	}
	if (rc || (w->opts.extras && put_extras(w, r, out, &bad)) || buf_add(out, "}\n", 2))
		return -1;
	if (bad)
		writer_warn_bad_text(w, r, bad);
	return 0;
}

const struct writer_ops writer_ndjson_ops = { ndjson_begin, ndjson_row };
