/*
 * writer: records from real parsed pages → CSV (SPEC §4.2) and NDJSON
 * (SPEC §4.1) rows, compared byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "page.h"
#include "record.h"
#include "tz.h"
#include "warn.h"
#include "writer.h"

#define BOM "\xEF\xBB\xBF"
#define HEADER                                                                          \
	"unique,timestamp,time,direction,direction_code,from,to,type,state,state_code," \
	"reason,message\r\n"

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

static void opts_init(struct writer_opts *o, enum writer_format format, int excel,
		      const char *columns)
{
	struct err e;

	memset(o, 0, sizeof(*o));
	o->format = format;
	o->excel = excel;
	o->extras = 1;
	o->tz = utc;
	if (columns)
		assert_int_equal(writer_parse_columns(o, columns, &e), 0);
	else
		writer_default_columns(o, 0);
}

/*
 * Parse body and write every object element through a fresh writer into
 * out (header first when `begin`). Returns the warning count.
 */
static unsigned long long render(const struct writer_opts *o, const char *body, int begin,
				 const char *media, struct buf *out)
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
	if (page_parse(pg, body, strlen(body), 1, &e) != PAGE_DONE)
		fprintf(stderr, "page_parse: %s\n", e.msg);
	out->len = 0;
	if (begin)
		assert_int_equal(writer_begin(w, out), 0);
	for (size_t i = 0; i < page_count(pg); i++) {
		struct record r;

		if (page_record(pg, body, i, &r) == 0)
			assert_int_equal(writer_row(w, &r, media, out), 0);
	}
	writer_free(w);
	page_free(pg);
	return warn.count;
}

static void buf_is(const struct buf *b, const char *want)
{
	size_t n = strlen(want);

	if (b->len != n || memcmp(b->data, want, n)) {
		size_t i = 0;

		while (i < n && i < b->len && b->data[i] == want[i])
			i++;
		fprintf(stderr, "output differs at byte %zu\n got: '%.*s'\nwant: '%s'\n", i,
			(int)b->len, b->data, want);
	}
	assert_int_equal(b->len, n);
	assert_memory_equal(b->data, want, n);
}

static const char normal_page[] =
	"[{\"unique\":\"m1\",\"timestamp\":\"1614198777\",\"direction\":\"1\","
	"\"from\":\"972501234567\",\"to\":\"972509876543\",\"type\":\"text\",\"state\":0,"
	"\"message\":\"\\u05e9\\u05dc\\u05d5\\u05dd \\ud83d\\ude00 http:\\/\\/x\"},\n"
	" {\"unique\":\"m2\",\"timestamp\":1614198700,\"direction\":2,\"from\":\"972509876543\","
	"\"to\":\"972501234567\",\"type\":\"file\",\"state\":\"1\",\"message\":\"hi\","
	"\"reason\":\"quota\"}]\n";

#define SHALOM "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D"
#define GRIN "\xF0\x9F\x98\x80"

/* ---- CSV ----------------------------------------------------------------- */

/* The NDJSON writer keeps each key in a buffer sized by COLUMN_NAME_MAX. */
static void test_column_names_fit_their_bound(void **state)
{
	(void)state;
	for (int c = 0; c < COL_COUNT; c++) {
		const char *name = writer_column_name((enum column)c);

		assert_true(strlen(name) <= COLUMN_NAME_MAX);
		assert_int_equal(column_info((enum column)c)->name_len, strlen(name));
	}
}

static void test_csv_normal_page(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, NULL);
	assert_int_equal(render(&o, normal_page, 1, NULL, &out), 0);
	buf_is(&out, HEADER
	       "m1,1614198777,2021-02-24T20:32:57Z,incoming,1,972501234567,972509876543,text,\"\",0,," SHALOM
	       " " GRIN " http://x\r\n"
	       "m2,1614198700,2021-02-24T20:31:40Z,outgoing,2,972509876543,972501234567,file,sent,1,"
	       "quota,hi\r\n");
	buf_free(&out);
}

static void test_csv_header_and_bom(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 1, NULL);
	render(&o, "[]", 1, NULL, &out);
	buf_is(&out, BOM HEADER);
	opts_init(&o, WRITER_CSV, 0, "message,unique,time");
	render(&o, "[]", 1, NULL, &out);
	buf_is(&out, "message,unique,time\r\n");
	opts_init(&o, WRITER_CSV, 1, "message");
	render(&o, "[]", 1, NULL, &out);
	buf_is(&out, BOM "message\r\n");
	/* With --media-dir the column set ends with media_file. */
	memset(&o, 0, sizeof(o));
	o.format = WRITER_CSV;
	o.tz = utc;
	writer_default_columns(&o, 1);
	render(&o, "[]", 1, NULL, &out);
	buf_is(&out, "unique,timestamp,time,direction,direction_code,from,to,type,state,state_code,"
		     "reason,message,media_file\r\n");
	buf_free(&out);
}

static void test_csv_quoting(void **state)
{
	static const char body[] = "[{\"unique\":\"q1\",\"message\":\"a,b\"},"
				   "{\"unique\":\"q2\",\"message\":\"say \\\"hi\\\"\"},"
				   "{\"unique\":\"q3\",\"message\":\"l1\\nl2\"},"
				   "{\"unique\":\"q4\",\"message\":\"l1\\r\\nl2\"},"
				   "{\"unique\":\"q5\",\"message\":\"tab\\there\"},"
				   "{\"unique\":\"q6\",\"message\":\" sp \"},"
				   "{\"unique\":\"q7\",\"message\":\"\"},"
				   "{\"unique\":\"q8\"},"
				   "{\"unique\":\"q9\",\"message\":\"x\\u002cy\"},"
				   "{\"unique\":\"q10\",\"message\":\"only\\rcr\"},"
				   "{\"unique\":\"q11\",\"message\":\"\\\"\"},"
				   "{\"unique\":\"q12\",\"message\":\"'single'; semi\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,message");
	assert_int_equal(render(&o, body, 0, NULL, &out), 0);
	buf_is(&out, "q1,\"a,b\"\r\n"
		     "q2,\"say \"\"hi\"\"\"\r\n"
		     "q3,\"l1\nl2\"\r\n"
		     "q4,\"l1\r\nl2\"\r\n"
		     "q5,tab\there\r\n"
		     "q6, sp \r\n"
		     "q7,\"\"\r\n"
		     "q8,\r\n"
		     "q9,\"x,y\"\r\n"
		     "q10,\"only\rcr\"\r\n"
		     "q11,\"\"\"\"\r\n"
		     "q12,'single'; semi\r\n");
	buf_free(&out);
}

/* A present empty string is "" even when it is the writer's first quoted cell. */
static void test_csv_empty_string_first(void **state)
{
	static const char body[] = "[{\"unique\":\"u1\",\"from\":\"\",\"message\":\"\"},"
				   "{\"unique\":\"\",\"from\":\"f\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,from,to,message");
	render(&o, body, 0, NULL, &out);
	buf_is(&out, "u1,\"\",,\"\"\r\n"
		     "\"\",f,,\r\n");
	buf_free(&out);
}

/* A row of one empty cell is "": a blank line would be skipped by readers. */
static void test_csv_lone_empty_cell(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "reason");
	render(&o, "[{\"unique\":\"a\"},{\"unique\":\"b\",\"reason\":\"x\"}]", 0, NULL, &out);
	buf_is(&out, "\"\"\r\nx\r\n");
	opts_init(&o, WRITER_CSV, 0, "media_file");
	render(&o, "[{\"unique\":\"a\"}]", 0, NULL, &out);
	buf_is(&out, "\"\"\r\n");
	opts_init(&o, WRITER_CSV, 0, "reason,message");
	render(&o, "[{\"unique\":\"a\"}]", 0, NULL, &out);
	buf_is(&out, ",\r\n");
	buf_free(&out);
}

static void test_csv_types_and_compound(void **state)
{
	static const char body[] =
		"[{\"unique\":\"c1\",\"from\":972501234567,\"to\":true,\"reason\":5,"
		"\"message\":{\"a\":\"\\u00e9\",\"b\":[1,null]},\"type\":[\"x,y\"]}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,from,to,type,reason,message");
	assert_int_equal(render(&o, body, 0, NULL, &out), 0);
	buf_is(&out, "c1,972501234567,true,\"[\"\"x,y\"\"]\",5,"
		     "\"{\"\"a\"\":\"\"\xC3\xA9\"\",\"\"b\"\":[1,null]}\"\r\n");
	buf_free(&out);
}

/*
 * Codes that are not integers keep their raw text (SPEC §4.1); an empty
 * string is an empty cell, which loaders read as null ("" fails an integer column).
 */
static void test_csv_drifted_codes(void **state)
{
	static const char body[] =
		"[{\"unique\":\"d1\",\"timestamp\":\"abc\",\"direction\":\"x\",\"state\":\"s,t\"},"
		"{\"unique\":\"d2\",\"timestamp\":1.5,\"direction\":1.0,\"state\":\"3\"},"
		"{\"unique\":\"d3\",\"timestamp\":\"\",\"direction\":2,\"state\":9},"
		"{\"unique\":\"d4\"},"
		"{\"unique\":\"d5\",\"direction\":\"\",\"state\":\"\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0,
		  "unique,timestamp,time,direction,direction_code,state,state_code");
	/*
	 * Two timestamps that are not usable epoch times, and four codes that
	 * are not integers (d1's and d5's): six warnings. A whole 1.0 is 1; a
	 * timestamp of 1.5 is the second it lies in.
	 */
	assert_int_equal(render(&o, body, 0, NULL, &out), 6);
	buf_is(&out, "d1,abc,,unknown,x,unknown,\"s,t\"\r\n"
		     "d2,1,1970-01-01T00:00:01Z,incoming,1,\"\",3\r\n" /* incoming: state "" */
		     "d3,,,outgoing,2,unknown,9\r\n"
		     "d4,,,unknown,,unknown,\r\n"
		     "d5,,,unknown,,unknown,\r\n");
	buf_free(&out);
}

/* carry.h's first-row check: an --excel file takes rows only of its own zone. */
static void test_csv_joins_only_its_own_zone(void **state)
{
	struct writer_opts o;
	struct writer *w;
	struct warn warn;
	struct tz *jlm;
	struct err e;
#define ROW(t) "\"m1\",1614198777," t ",\"incoming\",1,\"a,b\",\"x\"\r\n"

	(void)state;
	warn_init(&warn, 1);
	opts_init(&o, WRITER_CSV, 1, "unique,timestamp,time,direction,direction_code,from,to");
	assert_non_null(w = writer_new(&o, &warn));
	assert_null(writer_csv_joins(w, ROW("2021-02-24 20:32:57"), strlen(ROW("")) + 19));
	assert_non_null(writer_csv_joins(w, ROW("2021-02-24 22:32:57"), strlen(ROW("")) + 19));
	/* cut before the time ends, or no time: nothing to compare */
	assert_null(writer_csv_joins(w, ROW("2021-02-24 22:32:57"), 30));
	assert_null(writer_csv_joins(w, ROW(""), strlen(ROW(""))));
	assert_null(writer_csv_joins(w, "\"m\",\"a\"\"b\",2021-02-24 22:32:57\r\n", 30));
	writer_free(w);
	assert_int_equal(tz_open(&jlm, "Asia/Jerusalem", &e), 0);
	o.tz = jlm;
	assert_non_null(w = writer_new(&o, &warn));
	assert_null(writer_csv_joins(w, ROW("2021-02-24 22:32:57"), strlen(ROW("")) + 19));
	assert_non_null(writer_csv_joins(w, ROW("2021-02-24 20:32:57"), strlen(ROW("")) + 19));
	writer_free(w);
	/* without --excel a time carries its offset: any zone joins */
	opts_init(&o, WRITER_CSV, 0, "unique,timestamp,time,direction,direction_code,from,to");
	assert_non_null(w = writer_new(&o, &warn));
	assert_null(writer_csv_joins(w, ROW("2021-02-24T22:32:57+02:00"), strlen(ROW("")) + 25));
	writer_free(w);
	tz_free(jlm);
#undef ROW
}

/* Codes and timestamps come out canonical: raw digits only when they already are. */
static void test_integer_fields_canonical(void **state)
{
	static const char body[] =
		"[{\"unique\":\"i1\",\"timestamp\":\"0\",\"direction\":\"02\",\"state\":\"-0\"},"
		"{\"unique\":\"i2\",\"timestamp\":\"007\",\"direction\":2,\"state\":0},"
		"{\"unique\":\"i3\",\"timestamp\":-86400,\"direction\":\"1\",\"state\":\"-3\"},"
		"{\"unique\":\"i4\",\"timestamp\":\"1000000000000000000\",\"direction\":-0,\"state\":12}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,timestamp,direction_code,state_code");
	render(&o, body, 0, NULL, &out);
	buf_is(&out, "i1,0,2,0\r\n"
		     "i2,7,2,0\r\n"
		     "i3,-86400,1,-3\r\n"
		     "i4,1000000000000000000,0,12\r\n");
	out.len = 0;
	opts_init(&o, WRITER_NDJSON, 0, "unique,timestamp,direction_code");
	render(&o, body, 0, NULL, &out);
	buf_is(&out,
	       "{\"unique\":\"i1\",\"timestamp\":0,\"direction_code\":2}\n"
	       "{\"unique\":\"i2\",\"timestamp\":7,\"direction_code\":2}\n"
	       "{\"unique\":\"i3\",\"timestamp\":-86400,\"direction_code\":1}\n"
	       "{\"unique\":\"i4\",\"timestamp\":1000000000000000000,\"direction_code\":0}\n");
	buf_free(&out);
}

static void test_csv_bad_text_warns(void **state)
{
	static const char body[] = "[{\"unique\":\"b1\",\"message\":\"x\\ud800y\"},"
				   "{\"unique\":\"b2\",\"message\":\"fine\"},"
				   "{\"unique\":\"b3\",\"message\":\"nul\\u0000\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,message");
	assert_int_equal(render(&o, body, 0, NULL, &out), 2);
	buf_is(&out, "b1,x\xEF\xBF\xBDy\r\n"
		     "b2,fine\r\n"
		     "b3,nul\xEF\xBF\xBD\r\n");
	buf_free(&out);
}

static void test_csv_excel_formula_prefix(void **state)
{
	static const char body[] =
		"[{\"unique\":\"e1\",\"timestamp\":\"1614198777\",\"direction\":\"2\","
		"\"from\":\"+972501234567\",\"to\":\"@x\",\"type\":\"-t\",\"state\":\"3\","
		"\"message\":\"=1+1\",\"reason\":\"\\tr\"},"
		"{\"unique\":\"-e2\",\"timestamp\":-5,\"direction\":-1,\"state\":-2,"
		"\"message\":\"\\r\\nx\"},"
		"{\"unique\":\"e3\",\"message\":\"\\nx=\",\"direction\":\"=1+2\",\"state\":\"@s\"},"
		"{\"unique\":\"e4\",\"type\":\"a=b\",\"message\":\"=a,b\",\"timestamp\":\"-cmd\"},"
		"{\"unique\":\"e5\",\"message\":\"\\u003dHYPERLINK(1)\",\"from\":\" =x\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 1, NULL);
	render(&o, body, 1, NULL, &out);
	buf_is(&out, BOM HEADER
	       /* --excel quotes every text cell; generated numbers, labels and times stay bare */
	       "\"e1\",1614198777,2021-02-24 20:32:57,outgoing,2,\"'+972501234567\",\"'@x\","
	       "\"'-t\",read,3,\"'\tr\",\"'=1+1\"\r\n"
	       "\"'-e2\",-5,1969-12-31 23:59:55,unknown,-1,,,,unknown,-2,,\"'\r\nx\"\r\n"
	       "\"e3\",,,unknown,\"'=1+2\",,,,unknown,\"'@s\",,\"'\nx=\"\r\n"
	       "\"e4\",\"'-cmd\",,unknown,,,,\"a=b\",unknown,,,\"'=a,b\"\r\n"
	       "\"e5\",,,unknown,,\" =x\",,,unknown,,,\"'=HYPERLINK(1)\"\r\n");
	/* Without --excel nothing is prefixed. */
	opts_init(&o, WRITER_CSV, 0, "unique,message");
	render(&o, body, 0, NULL, &out);
	buf_is(&out,
	       "e1,=1+1\r\n-e2,\"\r\nx\"\r\ne3,\"\nx=\"\r\ne4,\"=a,b\"\r\ne5,=HYPERLINK(1)\r\n");
	buf_free(&out);
}

static void test_csv_excel_time_in_zone(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;
	struct tz *jlm;
	struct err e;

	(void)state;
	assert_int_equal(tz_open(&jlm, "Asia/Jerusalem", &e), 0);
	opts_init(&o, WRITER_CSV, 1, "unique,timestamp,time");
	o.tz = jlm;
	render(&o, normal_page, 0, NULL, &out);
	buf_is(&out,
	       "\"m1\",1614198777,2021-02-24 22:32:57\r\n\"m2\",1614198700,2021-02-24 22:31:40\r\n");
	opts_init(&o, WRITER_CSV, 0, "unique,time");
	o.tz = jlm;
	render(&o, normal_page, 0, NULL, &out);
	buf_is(&out, "m1,2021-02-24T22:32:57+02:00\r\nm2,2021-02-24T22:31:40+02:00\r\n");
	opts_init(&o, WRITER_NDJSON, 0, "unique,time");
	o.tz = jlm;
	o.extras = 0;
	render(&o, normal_page, 0, NULL, &out);
	buf_is(&out, "{\"unique\":\"m1\",\"time\":\"2021-02-24T22:32:57+02:00\"}\n"
		     "{\"unique\":\"m2\",\"time\":\"2021-02-24T22:31:40+02:00\"}\n");
	tz_free(jlm);
	buf_free(&out);
}

/* A message body of n copies of the JSON text `unit`. */
static char *long_message_page(const char *unit, size_t n)
{
	struct buf b = BUF_INIT;

	assert_int_equal(buf_adds(&b, "[{\"unique\":\"L\",\"message\":\""), 0);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_adds(&b, unit), 0);
	assert_int_equal(buf_adds(&b, "\"}]"), 0);
	assert_int_equal(buf_addc(&b, '\0'), 0);
	return b.data;
}

static void excel_long_cell(const char *unit, size_t n, int excel, unsigned long long warnings,
			    size_t cell_bytes)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;
	char *body = long_message_page(unit, n);

	opts_init(&o, WRITER_CSV, excel, "unique,message");
	assert_int_equal(render(&o, body, 0, NULL, &out), warnings);
	/* Never truncated: "L," + cell + CRLF; with --excel both text cells are quoted. */
	assert_int_equal(out.len, 2 + cell_bytes + 2 + (excel ? 4 : 0));
	free(body);
	buf_free(&out);
}

static void test_csv_excel_cell_limit(void **state)
{
	(void)state;
	excel_long_cell("a", 32767, 1, 0, 32767);
	excel_long_cell("a", 32768, 1, 1, 32768);
	/* The ' prefix counts: 32,767 characters after it do not fit. */
	excel_long_cell("=", 32766, 1, 0, 32767);
	excel_long_cell("=", 32767, 1, 1, 32768);
	excel_long_cell("=", 32767, 0, 0, 32767);
	excel_long_cell("a", 40000, 0, 0, 40000); /* only with --excel */
	/* Counted in UTF-16 units, not bytes: 32,767 Hebrew letters fit (65,534 bytes). */
	excel_long_cell("\\u05e9", 32767, 1, 0, 2 * 32767);
	excel_long_cell("\\u05e9", 32768, 1, 1, 2 * 32768);
	/* An emoji is two UTF-16 units. */
	excel_long_cell("\\ud83d\\ude00", 16383, 1, 0, 4 * 16383);
	excel_long_cell("\\ud83d\\ude00", 16384, 1, 1, 4 * 16384);
	/* Three-byte characters: 32,767 of them are 98,301 bytes and still fit. */
	excel_long_cell("\\u20ac", 32767, 1, 0, 3 * 32767);
	excel_long_cell("\\u20ac", 32768, 1, 1, 3 * 32768);
}

static void test_csv_media_file(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,media_file");
	render(&o, "[{\"unique\":\"a\"}]", 0, "a.jpg", &out);
	buf_is(&out, "a,a.jpg\r\n");
	render(&o, "[{\"unique\":\"a\"}]", 0, NULL, &out);
	buf_is(&out, "a,\r\n");
	render(&o, "[{\"unique\":\"a\"}]", 0, "dir,x/a \"b\".jpg", &out);
	buf_is(&out, "a,\"dir,x/a \"\"b\"\".jpg\"\r\n");
	buf_free(&out);
}

/* ---- NDJSON -------------------------------------------------------------- */

static void test_ndjson_normal_page(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, NULL);
	assert_int_equal(render(&o, normal_page, 1, NULL, &out), 0);
	buf_is(&out,
	       "{\"unique\":\"m1\",\"timestamp\":1614198777,\"time\":\"2021-02-24T20:32:57Z\","
	       "\"direction\":\"incoming\",\"direction_code\":1,\"from\":\"972501234567\","
	       "\"to\":\"972509876543\",\"type\":\"text\",\"state\":\"\",\"state_code\":0,"
	       "\"reason\":null,\"message\":\"" SHALOM " " GRIN " http://x\"}\n"
	       "{\"unique\":\"m2\",\"timestamp\":1614198700,\"time\":\"2021-02-24T20:31:40Z\","
	       "\"direction\":\"outgoing\",\"direction_code\":2,\"from\":\"972509876543\","
	       "\"to\":\"972501234567\",\"type\":\"file\",\"state\":\"sent\",\"state_code\":1,"
	       "\"reason\":\"quota\",\"message\":\"hi\"}\n");
	buf_free(&out);
}

static void test_ndjson_types(void **state)
{
	static const char body[] =
		"[{\"unique\":\"n1\",\"timestamp\":1614198777,\"direction\":1,\"from\":972501234567,"
		"\"to\":972509876543,\"type\":\"text\",\"state\":\"0\",\"reason\":5,"
		"\"message\":\"a\\u2028b\xE2\x80\xA9"
		"c\\u0000d\\\"e\\\\f\\/g\\u0001\\n\"},"
		"{\"unique\":\"n2\"},"
		"{\"unique\":\"n3\",\"timestamp\":\"abc\",\"direction\":\"2\",\"state\":1},"
		"{\"unique\":\"n4\",\"timestamp\":999999999999,\"direction\":\"x\",\"state\":\"abc\"},"
		"{\"unique\":\"n5\",\"timestamp\":null,\"direction\":null,\"state\":null,\"reason\":null,"
		"\"from\":\"\",\"message\":{\"k\":[1,\"\\u00e9\"]}},"
		"{\"unique\":\"n6\",\"timestamp\":\"\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, NULL);
	/* n1: one replaced U+0000; n3: timestamp; n4: timestamp, direction, state; n6: timestamp. */
	assert_int_equal(render(&o, body, 0, NULL, &out), 6);
	buf_is(&out,
	       "{\"unique\":\"n1\",\"timestamp\":1614198777,\"time\":\"2021-02-24T20:32:57Z\","
	       "\"direction\":\"incoming\",\"direction_code\":1,\"from\":\"972501234567\","
	       "\"to\":\"972509876543\",\"type\":\"text\",\"state\":\"\",\"state_code\":0,"
	       "\"reason\":\"5\",\"message\":\"a\\u2028b\\u2029c\xEF\xBF\xBD"
	       "d\\\"e\\\\f/g\\u0001\\n\"}\n"
	       "{\"unique\":\"n2\",\"timestamp\":null,\"time\":null,\"direction\":\"unknown\","
	       "\"direction_code\":null,\"from\":null,\"to\":null,\"type\":null,\"state\":\"unknown\","
	       "\"state_code\":null,\"reason\":null,\"message\":null}\n"
	       "{\"unique\":\"n3\",\"timestamp\":\"abc\",\"time\":null,\"direction\":\"outgoing\","
	       "\"direction_code\":2,\"from\":null,\"to\":null,\"type\":null,\"state\":\"sent\","
	       "\"state_code\":1,\"reason\":null,\"message\":null}\n"
	       /* codes that are not integers keep their text, as in CSV (SPEC §4.1) */
	       "{\"unique\":\"n4\",\"timestamp\":999999999999,\"time\":null,\"direction\":\"unknown\","
	       "\"direction_code\":\"x\",\"from\":null,\"to\":null,\"type\":null,\"state\":\"unknown\","
	       "\"state_code\":\"abc\",\"reason\":null,\"message\":null}\n"
	       "{\"unique\":\"n5\",\"timestamp\":null,\"time\":null,\"direction\":\"unknown\","
	       "\"direction_code\":null,\"from\":\"\",\"to\":null,\"type\":null,\"state\":\"unknown\","
	       "\"state_code\":null,\"reason\":null,\"message\":\"{\\\"k\\\":[1,\\\"\xC3\xA9\\\"]}\"}\n"
	       /* an empty string is null: "" would fail the schema's integer column */
	       "{\"unique\":\"n6\",\"timestamp\":null,\"time\":null,\"direction\":\"unknown\","
	       "\"direction_code\":null,\"from\":null,\"to\":null,\"type\":null,\"state\":\"unknown\","
	       "\"state_code\":null,\"reason\":null,\"message\":null}\n");
	buf_free(&out);
}

static void test_ndjson_extras(void **state)
{
	static const char body[] =
		"[{\"unique\":\"x1\",\"time\":\"noon\",\"chat\":{\"id\":\"\\u05e9\",\"n\":[1,true,null]},"
		"\"message\":\"m\",\"direction_code\":\"x\",\"media_file\":\"y\",\"z\":1.5e3,"
		"\"k\\u00e9\\n\":\"v\\/\",\"api_note\":false}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, "unique,message");
	assert_int_equal(render(&o, body, 0, NULL, &out), 0);
	buf_is(&out,
	       "{\"unique\":\"x1\",\"message\":\"m\",\"api_time\":\"noon\","
	       "\"chat\":{\"id\":\"\xD7\xA9\",\"n\":[1,true,null]},\"api_direction_code\":\"x\","
	       "\"api_media_file\":\"y\",\"z\":1.5e3,\"k\xC3\xA9\\n\":\"v/\",\"api_note\":false}\n");
	/* Without extras only the named columns. */
	o.extras = 0;
	render(&o, body, 0, NULL, &out);
	buf_is(&out, "{\"unique\":\"x1\",\"message\":\"m\"}\n");
	buf_free(&out);
}

/*
 * JSON keys are compared after unescaping (RFC 8259 §8.3): "messag\u0065" is
 * the message, and an extra spelled "tim\u0065" still clashes with time.
 */
static void test_ndjson_escaped_keys(void **state)
{
	static const char body[] =
		"[{\"unique\":\"k1\",\"messag\\u0065\":\"hi\",\"tim\\u0065\":\"t\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, "unique,message");
	render(&o, body, 0, NULL, &out);
	buf_is(&out, "{\"unique\":\"k1\",\"message\":\"hi\",\"api_time\":\"t\"}\n");
	buf_free(&out);
}

static void test_ndjson_column_order_and_media(void **state)
{
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, "message,unique,state_code");
	o.extras = 0;
	render(&o, normal_page, 1, NULL, &out);
	buf_is(&out,
	       "{\"message\":\"" SHALOM " " GRIN " http://x\",\"unique\":\"m1\",\"state_code\":0}\n"
	       "{\"message\":\"hi\",\"unique\":\"m2\",\"state_code\":1}\n");
	opts_init(&o, WRITER_NDJSON, 0, "unique,media_file");
	render(&o, "[{\"unique\":\"a\"}]", 0, "a \"1\".jpg", &out);
	buf_is(&out, "{\"unique\":\"a\",\"media_file\":\"a \\\"1\\\".jpg\"}\n");
	render(&o, "[{\"unique\":\"a\"}]", 0, NULL, &out);
	buf_is(&out, "{\"unique\":\"a\",\"media_file\":null}\n");
	buf_free(&out);
}

/* ---- columns ------------------------------------------------------------- */

static void test_parse_columns(void **state)
{
	struct writer_opts o;
	struct err e;

	(void)state;
	memset(&o, 0, sizeof(o));
	assert_int_equal(writer_parse_columns(&o, "unique,time,message", &e), 0);
	assert_int_equal(o.ncolumns, 3);
	assert_int_equal(o.columns[0], COL_UNIQUE);
	assert_int_equal(o.columns[1], COL_TIME);
	assert_int_equal(o.columns[2], COL_MESSAGE);

	assert_int_equal(writer_parse_columns(&o, "message,unique", &e), 0);
	assert_int_equal(o.ncolumns, 2);
	assert_int_equal(o.columns[0], COL_MESSAGE);
	assert_int_equal(o.columns[1], COL_UNIQUE);

	assert_int_equal(
		writer_parse_columns(&o,
				     "media_file,state_code,direction_code,reason,"
				     "state,type,to,from,direction,time,timestamp,unique,message",
				     &e),
		0);
	assert_int_equal(o.ncolumns, COL_COUNT);
	assert_int_equal(o.columns[0], COL_MEDIA_FILE);
	assert_int_equal(o.columns[12], COL_MESSAGE);

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "unique,nope", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "'nope'"));

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "unique,time,unique", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_non_null(strstr(e.msg, "unique"));

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "unique,,time", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, ",unique", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "Unique", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "unique, time", &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);

	memset(&e, 0, sizeof(e));
	assert_int_equal(writer_parse_columns(&o, "times", &e), -1);
	assert_int_equal(writer_parse_columns(&o, "tim", &e), -1);
}

static void test_default_columns_and_names(void **state)
{
	static const char *const names[COL_COUNT] = {
		"unique", "timestamp", "time",       "direction", "direction_code",
		"from",   "to",        "type",       "state",     "state_code",
		"reason", "message",   "media_file",
	};
	struct writer_opts o;

	(void)state;
	for (int c = 0; c < COL_COUNT; c++)
		assert_string_equal(writer_column_name((enum column)c), names[c]);
	memset(&o, 0, sizeof(o));
	writer_default_columns(&o, 0);
	assert_int_equal(o.ncolumns, COL_COUNT - 1);
	for (size_t i = 0; i < o.ncolumns; i++)
		assert_int_equal(o.columns[i], (enum column)i);
	writer_default_columns(&o, 1);
	assert_int_equal(o.ncolumns, COL_COUNT);
	assert_int_equal(o.columns[COL_COUNT - 1], COL_MEDIA_FILE);
}

/*
 * SPEC §5.7: NDJSON keys stay unique. An extra named like a column gets one
 * more "api_" than any other extra of the row already has before that name.
 */
static void test_ndjson_keys_stay_unique(void **state)
{
	static const char body[] =
		"[{\"unique\":\"u1\",\"time\":1,\"api_time\":2,\"api_api_time\":3,\"to\":\"x\","
		"\"state_code\":4,\"api_state_code\":5},"
		"{\"unique\":\"u2\",\"api_time\":6,\"time\":7},"
		"{\"unique\":\"u3\",\"api_\\u0074ime\":8,\"tim\\u0065\":9,\"api_\":10,\"api\":11},"
		/* the longest column name with every letter escaped: 84 bytes as sent */
		"{\"unique\":\"u4\",\"\\u0064\\u0069\\u0072\\u0065\\u0063\\u0074\\u0069\\u006f"
		"\\u006e\\u005f\\u0063\\u006f\\u0064\\u0065\":12}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, "unique");
	assert_int_equal(render(&o, body, 0, NULL, &out), 0);
	buf_is(&out,
	       "{\"unique\":\"u1\",\"api_api_api_time\":1,\"api_time\":2,\"api_api_time\":3,"
	       "\"api_api_state_code\":4,\"api_state_code\":5}\n"
	       "{\"unique\":\"u2\",\"api_time\":6,\"api_api_time\":7}\n"
	       "{\"unique\":\"u3\",\"api_time\":8,\"api_api_time\":9,\"api_\":10,\"api\":11}\n"
	       "{\"unique\":\"u4\",\"api_direction_code\":12}\n");
	buf_free(&out);
}

/* A repeated key keeps its first value and is a warning; the row is written once. */
static void test_duplicate_keys_warn(void **state)
{
	static const char body[] =
		"[{\"unique\":\"d1\",\"message\":\"first\",\"message\":\"second\",\"x\":1,\"x\":2},"
		"{\"unique\":\"d2\",\"message\":\"once\"}]";
	struct writer_opts o;
	struct buf out = BUF_INIT;

	(void)state;
	opts_init(&o, WRITER_NDJSON, 0, "unique,message");
	assert_int_equal(render(&o, body, 0, NULL, &out), 1);
	buf_is(&out, "{\"unique\":\"d1\",\"message\":\"first\",\"x\":1}\n"
		     "{\"unique\":\"d2\",\"message\":\"once\"}\n");
	buf_free(&out);
}

/* The unique a warning names is decoded as the file has it, its control characters escaped. */
static void test_warning_escapes_unique(void **state)
{
	static const char body[] = "[{\"unique\":\"u\xC2\x9B"
				   "2J\\u001b\",\"timestamp\":\"soon\"}]";
	struct writer_opts o;
	struct writer *w;
	struct page *pg = page_new();
	struct warn warn;
	struct err e;
	struct record r;
	struct buf out = BUF_INIT;
	char *text = NULL;
	size_t text_len = 0;

	(void)state;
	opts_init(&o, WRITER_CSV, 0, "unique,time");
	warn_init(&warn, 0);
	warn.to = open_memstream(&text, &text_len);
	assert_non_null(warn.to);
	w = writer_new(&o, &warn);
	assert_non_null(w);
	assert_non_null(pg);
	assert_int_equal(page_parse(pg, body, sizeof(body) - 1, 1, &e), PAGE_DONE);
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_int_equal(writer_row(w, &r, NULL, &out), 0);
	fclose(warn.to);
	assert_non_null(strstr(text, "message u\\xc2\\x9b2J\\x1b: timestamp"));
	assert_null(strchr(text, '\x1b'));
	free(text);
	writer_free(w);
	page_free(pg);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_column_names_fit_their_bound),
		cmocka_unit_test(test_csv_normal_page),
		cmocka_unit_test(test_csv_header_and_bom),
		cmocka_unit_test(test_csv_quoting),
		cmocka_unit_test(test_csv_empty_string_first),
		cmocka_unit_test(test_csv_lone_empty_cell),
		cmocka_unit_test(test_csv_types_and_compound),
		cmocka_unit_test(test_csv_drifted_codes),
		cmocka_unit_test(test_csv_joins_only_its_own_zone),
		cmocka_unit_test(test_integer_fields_canonical),
		cmocka_unit_test(test_csv_bad_text_warns),
		cmocka_unit_test(test_csv_excel_formula_prefix),
		cmocka_unit_test(test_csv_excel_time_in_zone),
		cmocka_unit_test(test_csv_excel_cell_limit),
		cmocka_unit_test(test_csv_media_file),
		cmocka_unit_test(test_ndjson_normal_page),
		cmocka_unit_test(test_ndjson_types),
		cmocka_unit_test(test_ndjson_extras),
		cmocka_unit_test(test_ndjson_escaped_keys),
		cmocka_unit_test(test_ndjson_keys_stay_unique),
		cmocka_unit_test(test_duplicate_keys_warn),
		cmocka_unit_test(test_warning_escapes_unique),
		cmocka_unit_test(test_ndjson_column_order_and_media),
		cmocka_unit_test(test_parse_columns),
		cmocka_unit_test(test_default_columns_and_names),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
