/*
 * xlsx: the workbook writer's cells (SPEC §4.6) — typing, splitting at
 * 32,767 UTF-16 units (around surrogate pairs and multi-byte sequences), the
 * OOXML escapes (LIBRARY-NOTES §6), the row encoding's round trip — and the
 * backend's sheet rollover, with the rows-per-sheet limit as a parameter.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "page.h"
#include "record.h"
#include "tz.h"
#include "warn.h"
#include "writer.h"
#include "xlsx.h"
#include "testdir.h"

static struct tz *utc;

static int group_setup(void **state)
{
	struct err e;

	(void)state;
	return tz_open(&utc, "UTC", &e);
}

static int group_teardown(void **state)
{
	(void)state;
	tz_free(utc);
	return 0;
}

static void opts_init(struct writer_opts *o, const char *columns)
{
	struct err e;

	memset(o, 0, sizeof(*o));
	o->format = WRITER_XLSX;
	o->tz = utc;
	if (columns)
		assert_int_equal(writer_parse_columns(o, columns, &e), 0);
	else
		writer_default_columns(o, 0);
}

/* Every object of body as encoded rows into out; returns the warning count. */
static unsigned long long render(const struct writer_opts *o, const char *body, const char *media,
				 struct buf *out)
{
	struct page *pg = page_new();
	struct writer *w;
	struct warn warn;
	struct err e;

	warn_init(&warn, 1);
	assert_non_null(pg);
	w = writer_new(o, &warn);
	assert_non_null(w);
	memset(&e, 0, sizeof(e));
	assert_int_equal(page_parse(pg, body, strlen(body), 1, &e), PAGE_DONE);
	out->len = 0;
	assert_int_equal(writer_begin(w, out), 0);
	assert_int_equal(out->len, 0); /* the workbook writes its own header */
	for (size_t i = 0; i < page_count(pg); i++) {
		struct record r;

		assert_int_equal(page_record(pg, body, i, &r), 0);
		assert_int_equal(writer_row(w, &r, media, out), 0);
	}
	writer_free(w);
	page_free(pg);
	return warn.count;
}

struct cell {
	enum xlsx_cell t;
	const char *p;
	size_t n;
};

/*
 * The cells of the row of ncol columns at *pos (the most cells one column
 * has in *parts); moves *pos on.
 */
static size_t row_cells(const struct buf *b, size_t *pos, size_t ncol, struct cell *cells,
			size_t max, unsigned *parts)
{
	uint32_t len;
	struct xlsx_cursor c;
	size_t n = 0, total = 0;
	int got;

	assert_true(b->len - *pos >= XLSX_ROW_HEAD(ncol));
	memcpy(&len, b->data + *pos, 4);
	*parts = 0;
	for (size_t i = 0; i < ncol; i++) {
		uint16_t np;

		memcpy(&np, b->data + *pos + 4 + 2 * i, 2);
		assert_true(np >= 1);
		total += np;
		if (np > *parts)
			*parts = np;
	}
	c.p = (const unsigned char *)b->data + *pos + XLSX_ROW_HEAD(ncol);
	c.end = (const unsigned char *)b->data + *pos + 4 + len;
	while ((got = xlsx_next_cell(&c, &cells[n].t, &cells[n].p, &cells[n].n)) == 1) {
		n++;
		assert_true(n <= max);
	}
	assert_int_equal(got, 0);
	assert_int_equal(n, total); /* the head counts every cell */
	*pos += 4 + len;
	return n;
}

static void text_is(const struct cell *c, const char *want)
{
	assert_int_equal(c->t, XLSX_TEXT);
	if (c->n != strlen(want) || memcmp(c->p, want, c->n))
		fprintf(stderr, "got '%.*s' want '%s'\n", (int)c->n, c->p, want);
	assert_int_equal(c->n, strlen(want));
	assert_memory_equal(c->p, want, c->n);
}

static void test_cells_are_typed(void **state)
{
	static const char body[] =
		"[{\"unique\":\"00123\",\"timestamp\":\"1614198777\",\"direction\":\"1\","
		"\"from\":972501234567,\"to\":\"12345678901234567890\",\"type\":\"TRUE\","
		"\"state\":\"x\",\"message\":\"=1+1\"},"
		" {\"unique\":\"m2\",\"timestamp\":\"soon\",\"direction\":2,\"from\":\"+972\","
		"\"to\":\"-x\",\"type\":\"1/2\",\"state\":1,\"message\":\"50%\",\"reason\":\"@x\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;
	struct cell c[16];
	struct xlsx_datetime d;
	size_t pos = 0;
	unsigned parts;

	(void)state;
	opts_init(&o, NULL);
	/* the unusable timestamp and the state that is not a code */
	assert_int_equal(render(&o, body, NULL, &out), 2);
	assert_int_equal(row_cells(&out, &pos, 12, c, 16, &parts), 12);
	assert_int_equal(parts, 1);
	text_is(&c[0], "00123");
	assert_int_equal(c[1].t, XLSX_NUMBER);
	assert_int_equal(xlsx_payload_number(c[1].p), 1614198777);
	assert_int_equal(c[2].t, XLSX_DATETIME);
	xlsx_payload_datetime(c[2].p, &d);
	/* 2021-02-24T20:32:57Z */
	assert_int_equal(d.year, 2021);
	assert_int_equal(d.month, 2);
	assert_int_equal(d.day, 24);
	assert_int_equal(d.hour, 20);
	assert_int_equal(d.min, 32);
	assert_int_equal(d.sec, 57);
	text_is(&c[3], "incoming");
	assert_int_equal(c[4].t, XLSX_NUMBER);
	assert_int_equal(xlsx_payload_number(c[4].p), 1);
	text_is(&c[5], "972501234567"); /* an id sent as a JSON number stays text */
	text_is(&c[6], "12345678901234567890");
	text_is(&c[7], "TRUE");
	assert_int_equal(c[8].t, XLSX_EMPTY); /* incoming: no state label */
	text_is(&c[9], "x");                  /* a non-numeric code keeps its text */
	assert_int_equal(c[10].t, XLSX_EMPTY);
	text_is(&c[11], "=1+1");
	assert_int_equal(row_cells(&out, &pos, 12, c, 16, &parts), 12);
	text_is(&c[1], "soon");
	assert_int_equal(c[2].t, XLSX_EMPTY); /* no usable time */
	text_is(&c[5], "+972");
	text_is(&c[6], "-x");
	text_is(&c[7], "1/2");
	text_is(&c[8], "sent");
	text_is(&c[10], "@x");
	text_is(&c[11], "50%");
	assert_int_equal(pos, out.len);
	/* Past Excel's 15 digits an integer is its digits as text: a number would change. */
	assert_int_equal(render(&o,
				"[{\"unique\":\"b\",\"timestamp\":99999999999999999,"
				"\"direction\":\"999999999999999\",\"state\":-1000000000000000}]",
				NULL, &out),
			 1);
	pos = 0;
	assert_int_equal(row_cells(&out, &pos, 12, c, 16, &parts), 12);
	text_is(&c[1], "99999999999999999");
	assert_int_equal(c[4].t, XLSX_NUMBER);
	assert_int_equal(xlsx_payload_number(c[4].p), 999999999999999LL);
	text_is(&c[9], "-1000000000000000");
	buf_free(&out);
}

/* Excel's calendar starts in 1900: an earlier time is kept as its text. */
static void test_time_before_1900_is_text(void **state)
{
	static const char body[] = "[{\"unique\":\"u\",\"timestamp\":-2300000000},"
				   " {\"unique\":\"v\",\"timestamp\":253402300799}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;
	struct cell c[4];
	struct xlsx_datetime d;
	size_t pos = 0;
	unsigned parts;

	(void)state;
	opts_init(&o, "time");
	render(&o, body, NULL, &out);
	assert_int_equal(row_cells(&out, &pos, 1, c, 4, &parts), 1);
	text_is(&c[0], "1897-02-11T15:06:40Z");
	assert_int_equal(row_cells(&out, &pos, 1, c, 4, &parts), 1);
	assert_int_equal(c[0].t, XLSX_DATETIME);
	xlsx_payload_datetime(c[0].p, &d);
	assert_int_equal(d.year, 9999);
	assert_int_equal(d.sec, 59);
	buf_free(&out);
}

static void test_columns_and_media_url(void **state)
{
	static const char body[] = "[{\"unique\":\"u\",\"message\":\"hi\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;
	struct cell c[4];
	size_t pos = 0;
	unsigned parts;

	(void)state;
	opts_init(&o, "media_file,message,unique");
	render(&o, body, "media/u.jpg", &out);
	assert_int_equal(row_cells(&out, &pos, 3, c, 4, &parts), 3);
	assert_int_equal(c[0].t, XLSX_URL);
	assert_int_equal(c[0].n, strlen("media/u.jpg"));
	assert_memory_equal(c[0].p, "media/u.jpg", c[0].n);
	text_is(&c[1], "hi");
	text_is(&c[2], "u");
	render(&o, body, NULL, &out);
	pos = 0;
	row_cells(&out, &pos, 3, c, 4, &parts);
	assert_int_equal(c[0].t, XLSX_EMPTY);
	buf_free(&out);
}

/* A page of one message whose JSON string body is msg. */
static char *page_of(const char *msg)
{
	size_t n = strlen(msg) + 64;
	char *body = malloc(n);

	assert_non_null(body);
	snprintf(body, n, "[{\"unique\":\"u\",\"message\":\"%s\"}]", msg);
	return body;
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t k = strlen(unit), t = strlen(tail);
	char *s = malloc(k * times + t + 1);

	assert_non_null(s);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * k, unit, k);
	memcpy(s + k * times, tail, t + 1);
	return s;
}

/* The message column's cells for the message msg (a JSON string body). */
static unsigned message_cells(const char *msg, struct cell *c, size_t max, struct buf *out,
			      unsigned long long *warnings)
{
	struct writer_opts o;
	char *body = page_of(msg);
	size_t pos = 0, n;
	unsigned parts;

	opts_init(&o, "message");
	*warnings = render(&o, body, NULL, out);
	n = row_cells(out, &pos, 1, c, max, &parts);
	assert_int_equal(n, parts);
	free(body);
	return parts;
}

static size_t utf16_units(const struct cell *c)
{
	size_t u = 0;

	for (size_t i = 0; i < c->n; i++) {
		unsigned char b = (unsigned char)c->p[i];

		if ((b & 0xC0) != 0x80)
			u += b >= 0xF0 ? 2 : 1;
	}
	return u;
}

static void test_split_at_32767_units(void **state)
{
	struct buf out = BUF_INIT;
	struct cell c[4];
	unsigned long long warnings;
	char *msg = repeat("a", 40000, "");

	(void)state;
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 2);
	assert_int_equal(warnings, 1);
	assert_int_equal(c[0].n, 32767);
	assert_int_equal(c[1].n, 40000 - 32767);
	free(msg);
	/* Exactly at the limit: one cell, no warning. */
	msg = repeat("a", 32767, "");
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 1);
	assert_int_equal(warnings, 0);
	free(msg);
	/* Three cells, two warnings. */
	msg = repeat("a", 2 * 32767 + 1, "");
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 3);
	assert_int_equal(warnings, 2);
	assert_int_equal(c[2].n, 1);
	free(msg);
	buf_free(&out);
}

/*
 * Not only the message: any text column continues in further cells
 * (type_2 …), and so does a code's raw value that is not a number. Nothing
 * is cut, and each continuation counts a warning.
 */
static void test_every_text_column_continues(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;
	struct cell c[8];
	size_t pos = 0, n = 40000 + 70000 + 64;
	char *type = repeat("t", 40000, ""), *ts = repeat("9x", 35000, "");
	char *body = malloc(n);
	unsigned parts;
	uint16_t np[4];

	(void)state;
	assert_non_null(body);
	snprintf(body, n, "[{\"unique\":\"u\",\"timestamp\":\"%s\",\"type\":\"%s\"}]", ts, type);
	opts_init(&o, "unique,type,timestamp,message");
	/* type_2, timestamp_2, timestamp_3, and the timestamp that gives no time */
	assert_int_equal(render(&o, body, NULL, &out), 4);
	assert_int_equal(row_cells(&out, &pos, 4, c, 8, &parts), 7);
	assert_int_equal(parts, 3);
	memcpy(np, out.data + 4, sizeof(np));
	assert_int_equal(np[0], 1);
	assert_int_equal(np[1], 2);
	assert_int_equal(np[2], 3);
	assert_int_equal(np[3], 1);
	text_is(&c[0], "u");
	assert_int_equal(c[1].n, 32767);
	assert_int_equal(c[2].n, 40000 - 32767);
	assert_memory_equal(c[3].p, ts, c[3].n);
	assert_int_equal(c[3].n + c[4].n + c[5].n, 70000);
	assert_int_equal(c[4].n, 32767);
	assert_memory_equal(c[5].p, ts + c[3].n + c[4].n, c[5].n);
	assert_int_equal(c[6].t, XLSX_EMPTY); /* no message */
	free(type);
	free(ts);
	free(body);
	buf_free(&out);
}

static void test_split_never_inside_a_surrogate_pair(void **state)
{
	struct buf out = BUF_INIT;
	struct cell c[4];
	unsigned long long warnings;
	/* 32,766 units, then an emoji (2 units, escaped as a JSON surrogate pair) */
	char *msg = repeat("a", 32766, "\\ud83d\\ude00b");

	(void)state;
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 2);
	assert_int_equal(c[0].n, 32766);
	assert_int_equal(c[1].n, 5);
	assert_memory_equal(c[1].p,
			    "\xF0\x9F\x98\x80"
			    "b",
			    5);
	free(msg);
	/* 20,000 emoji: 40,000 units, cut after 16,383 of them (32,766 units). */
	msg = repeat("\xF0\x9F\x98\x80", 20000, "");
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 2);
	assert_int_equal(utf16_units(&c[0]), 32766);
	assert_int_equal(c[0].n, 16383 * 4);
	assert_int_equal(utf16_units(&c[1]), 40000 - 32766);
	free(msg);
	buf_free(&out);
}

static void test_split_never_inside_a_utf8_sequence(void **state)
{
	struct buf out = BUF_INIT;
	struct cell c[4];
	unsigned long long warnings;
	char *msg = repeat("\xD7\xA9", 32767, "x"); /* Hebrew shin: 2 bytes, 1 unit */

	(void)state;
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 2);
	assert_int_equal(c[0].n, 2 * 32767);
	text_is(&c[1], "x");
	free(msg);
	msg = repeat("\xE2\x82\xAC", 32768, ""); /* euro sign: 3 bytes, 1 unit */
	assert_int_equal(message_cells(msg, c, 4, &out, &warnings), 2);
	assert_int_equal(c[0].n, 3 * 32767);
	text_is(&c[1], "\xE2\x82\xAC");
	free(msg);
	buf_free(&out);
}

static void test_literal_escapes_are_escaped(void **state)
{
	struct buf out = BUF_INIT;
	struct cell c[4];
	unsigned long long warnings;

	(void)state;
	message_cells("a_x0041_b", c, 4, &out, &warnings);
	text_is(&c[0], "a_x005F_x0041_b");
	message_cells("_x00e9__X0041_ _x00G1_ _x004_", c, 4, &out, &warnings);
	text_is(&c[0], "_x005F_x00e9__X0041_ _x00G1_ _x004_");
	message_cells("\\ufffe\\uffff\\ufffd", c, 4, &out, &warnings);
	text_is(&c[0], "_xFFFE__xFFFF_\xEF\xBF\xBD");
	buf_free(&out);
}

/* What a spreadsheet reads from escaped text: _xHHHH_ → U+HHHH (BMP only here). */
static size_t unescape(const char *s, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n;) {
		unsigned v;

		if (n - i >= 7 && s[i] == '_' && s[i + 1] == 'x' && s[i + 6] == '_' &&
		    sscanf(s + i + 2, "%4x", &v) == 1) {
			if (v < 0x80) {
				out[o++] = (char)v;
			} else {
				out[o++] = (char)(0xE0 | (v >> 12));
				out[o++] = (char)(0x80 | ((v >> 6) & 0x3F));
				out[o++] = (char)(0x80 | (v & 0x3F));
			}
			i += 7;
		} else {
			out[o++] = s[i++];
		}
	}
	return o;
}

/* Split and escaped, the cells join and unescape back to the text exactly. */
static void test_round_trip_joins_back(void **state)
{
	struct buf out = BUF_INIT, joined = BUF_INIT;
	struct cell c[8];
	unsigned long long warnings;
	char *msg = repeat("ab_x0041_\xD7\xA9\\ud83d\\ude00\\ufffe", 9000, "");
	char *want = repeat("ab_x0041_\xD7\xA9\xF0\x9F\x98\x80\xEF\xBF\xBE", 9000, "");
	unsigned parts;

	(void)state;
	parts = message_cells(msg, c, 8, &out, &warnings);
	assert_true(parts >= 3);
	assert_int_equal(warnings, parts - 1);
	for (unsigned i = 0; i < parts; i++) {
		/* libxlsxwriter's limit: code points of the escaped text */
		size_t cps = 0;

		for (size_t k = 0; k < c[i].n; k++)
			cps += ((unsigned char)c[i].p[k] & 0xC0) != 0x80;
		assert_true(cps <= XLSX_CELL_MAX);
		assert_int_equal(buf_reserve(&joined, c[i].n), 0);
		joined.len += unescape(c[i].p, c[i].n, buf_tail(&joined));
	}
	assert_int_equal(joined.len, strlen(want));
	assert_memory_equal(joined.data, want, joined.len);
	free(msg);
	free(want);
	buf_free(&out);
	buf_free(&joined);
}

static void test_row_encoding_round_trip(void **state)
{
	struct buf b = BUF_INIT;
	struct xlsx_datetime d = { 9999, 12, 31, 23, 59, 58 }, got;
	struct xlsx_cursor c;
	enum xlsx_cell t;
	const char *p;
	size_t n;
	uint16_t parts[4];

	(void)state;
	assert_int_equal(xlsx_row_begin(&b, 4), 0);
	assert_int_equal(xlsx_cell_number(&b, -42), 0);
	assert_int_equal(xlsx_cell_datetime(&b, &d), 0);
	assert_int_equal(xlsx_cell(&b, XLSX_TEXT, "", 0), 0);
	assert_int_equal(xlsx_cell(&b, XLSX_EMPTY, NULL, 0), 0);
	xlsx_row_parts(&b, 0, 2, 3);
	xlsx_row_end(&b, 0);
	/* The head: the length of what follows, then each column's cells (one by default). */
	memcpy(parts, b.data + 4, sizeof(parts));
	assert_int_equal(parts[0], 1);
	assert_int_equal(parts[1], 1);
	assert_int_equal(parts[2], 3);
	assert_int_equal(parts[3], 1);
	c.p = (const unsigned char *)b.data + XLSX_ROW_HEAD(4);
	c.end = (const unsigned char *)b.data + b.len;
	assert_int_equal(xlsx_next_cell(&c, &t, &p, &n), 1);
	assert_int_equal(t, XLSX_NUMBER);
	assert_int_equal(xlsx_payload_number(p), -42);
	assert_int_equal(xlsx_next_cell(&c, &t, &p, &n), 1);
	xlsx_payload_datetime(p, &got);
	assert_memory_equal(&got, &d, sizeof(d));
	assert_int_equal(xlsx_next_cell(&c, &t, &p, &n), 1);
	assert_int_equal(t, XLSX_TEXT);
	assert_int_equal(n, 0);
	assert_int_equal(xlsx_next_cell(&c, &t, &p, &n), 1);
	assert_int_equal(t, XLSX_EMPTY);
	assert_int_equal(xlsx_next_cell(&c, &t, &p, &n), 0);
	/* A truncated cell is malformed, not read past the end. */
	c.p = (const unsigned char *)b.data + XLSX_ROW_HEAD(4);
	c.end = c.p + 6;
	assert_int_equal(xlsx_next_cell(&c, &t, &p, &n), -1);
	buf_free(&b);
}

/* Does the zip file at path hold a member of this name (names are stored plainly)? */
static int zip_has(const char *path, const char *name)
{
	FILE *f = fopen(path, "rb");
	struct buf b = BUF_INIT;
	char tmp[4096];
	size_t n;
	int found;

	assert_non_null(f);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_add(&b, tmp, n), 0);
	fclose(f);
	found = memmem(b.data, b.len, name, strlen(name)) != NULL;
	buf_free(&b);
	return found;
}

static void write_rows(struct xlsx *x, unsigned rows, int byte_by_byte)
{
	struct buf b = BUF_INIT;
	struct err e;

	for (unsigned i = 0; i < rows; i++) {
		size_t start = b.len;

		assert_int_equal(xlsx_row_begin(&b, 2), 0);
		assert_int_equal(xlsx_cell(&b, XLSX_TEXT, "00123", 5), 0);
		assert_int_equal(xlsx_cell_number(&b, i), 0);
		xlsx_row_end(&b, start);
	}
	if (byte_by_byte)
		for (size_t i = 0; i < b.len; i++)
			assert_int_equal(xlsx_write(x, b.data + i, 1, &e), 0);
	else
		assert_int_equal(xlsx_write(x, b.data, b.len, &e), 0);
	buf_free(&b);
}

static void test_sheets_roll_over_with_their_header(void **state)
{
	static const enum column cols[] = { COL_UNIQUE, COL_TIMESTAMP };
	char dir[256], path[300];
	struct xlsx_opts o = { .columns = cols, .ncolumns = 2, .rows_per_sheet = 2 };
	struct xlsx *x;
	struct stat st;
	struct err e;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "test_xlsx"), 0);
	snprintf(path, sizeof(path), "%s/out.xlsx", dir);
	o.path = path;
	assert_int_equal(xlsx_open(&x, &o, &e), 0);
	write_rows(x, 5, 1);
	assert_int_equal(xlsx_rows(x), 5);
	assert_int_equal(xlsx_finish(x, &e), 0);
	assert_int_equal(stat(path, &st), -1); /* not before the publish */
	assert_int_equal(xlsx_publish(x, &e), 0);
	assert_true(xlsx_bytes_out(x) > 0);
	xlsx_close(x);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* 5 rows at 2 a sheet: history, history 2, history 3. */
	assert_true(zip_has(path, "xl/worksheets/sheet3.xml"));
	assert_false(zip_has(path, "xl/worksheets/sheet4.xml"));
	/* Exactly 4 rows: two sheets, no empty third one. */
	assert_int_equal(xlsx_open(&x, &o, &e), 0);
	write_rows(x, 4, 0);
	assert_int_equal(xlsx_finish(x, &e), 0);
	assert_int_equal(xlsx_publish(x, &e), 0);
	xlsx_close(x);
	assert_true(zip_has(path, "xl/worksheets/sheet2.xml"));
	assert_false(zip_has(path, "xl/worksheets/sheet3.xml"));
	/* --state: an existing workbook is refused, and left as it was. */
	o.refuse_existing = 1;
	assert_int_equal(xlsx_open(&x, &o, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, "{date}"));
	assert_non_null(strstr(e.msg, "move this one aside")); /* when {date} was there already */
	assert_null(x);
	/* Closed without a publish: the target stays, no temporary file is left. */
	o.refuse_existing = 0;
	assert_int_equal(xlsx_open(&x, &o, &e), 0);
	write_rows(x, 1, 0);
	assert_int_equal(xlsx_finish(x, &e), 0);
	xlsx_close(x);
	assert_true(zip_has(path, "xl/worksheets/sheet2.xml"));
	testdir_remove(dir);
}

static int collect(void *ctx, const void *p, size_t n, struct err *e)
{
	(void)e;
	return buf_add(ctx, p, n);
}

/*
 * The workbook is summed as it is read back (the manifest's SHA-256), and a
 * signal during the build ends it: ERR_INTERRUPTED, no file, no leftovers.
 */
static void test_sum_and_stop(void **state)
{
	static const enum column cols[] = { COL_UNIQUE, COL_TIMESTAMP };
	char dir[256], path[300];
	volatile int stop = 0;
	struct buf seen = BUF_INIT, file = BUF_INIT;
	struct xlsx_opts o = { .columns = cols, .ncolumns = 2, .stop = &stop, .sum = collect };
	struct xlsx *x;
	struct stat st;
	struct err e;
	FILE *f;
	char tmp[4096];
	size_t n;
	DIR *d;
	struct dirent *de;
	int entries = 0;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "test_xlsx"), 0);
	snprintf(path, sizeof(path), "%s/out.xlsx", dir);
	o.path = path;
	o.sum_ctx = &seen;
	assert_int_equal(xlsx_open(&x, &o, &e), 0);
	write_rows(x, 3000, 0);
	assert_int_equal(xlsx_finish(x, &e), 0);
	assert_int_equal(xlsx_publish(x, &e), 0);
	xlsx_close(x);
	assert_non_null(f = fopen(path, "rb"));
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_add(&file, tmp, n), 0);
	fclose(f);
	assert_int_equal(seen.len, file.len);
	assert_memory_equal(seen.data, file.data, file.len);
	assert_int_equal(unlink(path), 0);

	stop = 1;
	assert_int_equal(xlsx_open(&x, &o, &e), 0);
	write_rows(x, 3000, 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(xlsx_finish(x, &e), -1);
	assert_int_equal(e.kind, ERR_INTERRUPTED);
	xlsx_close(x);
	assert_int_equal(stat(path, &st), -1);
	assert_non_null(d = opendir(dir));
	while ((de = readdir(d)))
		entries += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	assert_int_equal(entries, 0);
	buf_free(&seen);
	buf_free(&file);
	testdir_remove(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cells_are_typed),
		cmocka_unit_test(test_time_before_1900_is_text),
		cmocka_unit_test(test_columns_and_media_url),
		cmocka_unit_test(test_split_at_32767_units),
		cmocka_unit_test(test_every_text_column_continues),
		cmocka_unit_test(test_split_never_inside_a_surrogate_pair),
		cmocka_unit_test(test_split_never_inside_a_utf8_sequence),
		cmocka_unit_test(test_literal_escapes_are_escaped),
		cmocka_unit_test(test_round_trip_joins_back),
		cmocka_unit_test(test_row_encoding_round_trip),
		cmocka_unit_test(test_sheets_roll_over_with_their_header),
		cmocka_unit_test(test_sum_and_stop),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
