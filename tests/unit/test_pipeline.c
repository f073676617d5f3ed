/*
 * pipeline: rows rendered ahead on another thread (pipeline_render) must
 * give the same file and the same warnings, in the same order, as rows the
 * pipeline writes itself — for every format and order, with duplicates,
 * elements that are not messages, replaced characters and odd values.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "page.h"
#include "pipeline.h"
#include "testdir.h"
#include "tz.h"
#include "warn.h"

/* Newest first, as the API pages them; B and D come twice (a page shift). */
static const char *const pages[] = {
	"[{\"unique\":\"A\",\"timestamp\":\"1700000300\",\"direction\":\"2\",\"from\":\"9725\","
	"\"to\":\"9726\",\"type\":\"text\",\"state\":3,\"message\":\"=1+2, \\\"hi\\\"\\n\\ud800x\","
	"\"extra\":{\"x\":[1,true,null]}},"
	"5,"
	"{\"unique\":\"B\",\"timestamp\":\"99999999999999\",\"direction\":1,\"message\":\"nul \\u0000\"},"
	"{\"unique\":\"D\",\"timestamp\":1700000100,\"direction\":2,\"state\":\"7\","
	"\"message\":\"\\u05e9\\u05dc\\u05d5\\u05dd \\ud83d\\udc4d\",\"reason\":null}]",
	"[{\"unique\":\"D\",\"timestamp\":1700000100,\"direction\":2,\"state\":\"2\",\"message\":\"again\"},"
	"{\"timestamp\":1699990000,\"direction\":1,\"message\":\"no unique, \\/ slash\"},"
	"{\"unique\":\"B\",\"timestamp\":\"99999999999999\",\"direction\":1,\"message\":\"dup\"},"
	"{\"unique\":\"E\",\"timestamp\":\"x\",\"from\":[],\"to\":{},\"message\":\"\\udc00\"}]",
	"[]",
	"[{\"unique\":\"F\",\"timestamp\":1600000000,\"direction\":2,\"type\":\"image\",\"state\":0,"
	"\"message\":\"https:\\/\\/example.com\\/a.jpg\",\"caption\":\"\\u2028line\"}]",
};

struct outcome {
	char *file;
	size_t len;
	char *notes;        /* what the warnings printed */
	unsigned long long count;
	unsigned long long messages;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = malloc(1 << 16);

	assert_non_null(f);
	assert_non_null(data);
	*len = fread(data, 1, 1 << 16, f);
	fclose(f);
	return data;
}

/* The whole run: every page through the pipeline, each rendered ahead or not. */
static struct outcome run(const struct pipeline_opts *base, int render, const char *dir)
{
	struct pipeline_opts po = *base;
	struct pipeline *pl;
	struct pipeline_renderer *rn = NULL;
	struct warn warn;
	struct outcome out = { 0 };
	size_t notes_len;
	char path[1100];
	struct err e;
	FILE *notes;

	snprintf(path, sizeof(path), "%s/out-%d", dir, render);
	po.sink.path = path;
	notes = open_memstream(&out.notes, &notes_len);
	assert_non_null(notes);
	warn_init(&warn, 0);
	warn.to = notes;
	assert_int_equal(pipeline_open(&pl, &po, &warn, &e), 0);
	if (render)
		assert_int_equal(pipeline_renderer_new(&rn, pl, &e), 0);
	for (size_t k = 0; k < sizeof(pages) / sizeof(pages[0]); k++) {
		/* Oldest first when the pipeline takes pages ascending (backward reading). */
		size_t i = po.ascending ? sizeof(pages) / sizeof(pages[0]) - 1 - k : k;
		struct pipeline_page_result res;
		struct page *pg = page_new();

		assert_non_null(pg);
		assert_int_equal(page_parse(pg, pages[i], strlen(pages[i]), 1, &e), PAGE_DONE);
		warn_where(&warn, "page %zu", i + 1);
		if (rn) {
			assert_int_equal(pipeline_render(rn, pg, pages[i]), 0);
			assert_true(page_rows(pg)->ready);
		}
		assert_int_equal(pipeline_page(pl, pg, pages[i], &res, &e), 0);
		page_free(pg);
	}
	assert_int_equal(pipeline_commit(pl, &e), 0);
	out.messages = pipeline_stats(pl)->messages;
	pipeline_close(pl);
	pipeline_renderer_free(rn);
	fclose(notes);
	out.count = warn.count;
	out.file = slurp(path, &out.len);
	return out;
}

static void same_either_way(const struct pipeline_opts *po, const char *zone)
{
	char dir[512];
	struct tz *tz;
	struct err e;
	struct pipeline_opts o = *po;
	struct outcome plain, rendered;

	assert_int_equal(tz_open(&tz, zone, &e), 0);
	o.writer.tz = tz;
	assert_int_equal(testdir_make(dir, sizeof(dir), "test_pipeline"), 0);
	plain = run(&o, 0, dir);
	rendered = run(&o, 1, dir);
	assert_true(plain.messages == 6);   /* A B D, no-unique, E, F; the repeats of B and D dropped */
	assert_true(plain.count >= 4);      /* broken surrogates, U+0000, unusable times, no unique */
	assert_true(rendered.count == plain.count);
	assert_true(rendered.messages == plain.messages);
	assert_int_equal(rendered.len, plain.len);
	assert_memory_equal(rendered.file, plain.file, plain.len);
	assert_string_equal(rendered.notes, plain.notes);
	free(plain.file);
	free(plain.notes);
	free(rendered.file);
	free(rendered.notes);
	testdir_remove(dir);
	tz_free(tz);
}

static struct pipeline_opts opts(enum writer_format format, int excel, enum pipeline_order order,
				 int ascending)
{
	struct pipeline_opts po;

	memset(&po, 0, sizeof(po));
	po.writer.format = format;
	po.writer.excel = excel;
	writer_default_columns(&po.writer, 0);
	po.writer.extras = 1;
	po.order = order;
	po.ascending = ascending;
	po.sink.reverse = order == ORDER_OLDEST && !ascending;
	po.sink.level = 6;
	return po;
}

static void test_csv_each_order(void **state)
{
	(void)state;
	for (int order = 0; order < 2; order++) {
		struct pipeline_opts po = opts(WRITER_CSV, 0, (enum pipeline_order)order, 0);

		same_either_way(&po, "UTC");
	}
}

static void test_csv_ascending_pages_and_hold(void **state)
{
	struct pipeline_opts po = opts(WRITER_CSV, 0, ORDER_OLDEST, 1);

	(void)state;
	same_either_way(&po, "Asia/Jerusalem");
}

static void test_excel_gzip(void **state)
{
	struct pipeline_opts po = opts(WRITER_CSV, 1, ORDER_NEWEST, 0);

	(void)state;
	po.sink.gzip = 1;
	same_either_way(&po, "Asia/Jerusalem");
}

static void test_ndjson_each_order(void **state)
{
	(void)state;
	for (int order = 0; order < 2; order++) {
		struct pipeline_opts po = opts(WRITER_NDJSON, 0, (enum pipeline_order)order, 0);

		same_either_way(&po, "America/New_York");
	}
	struct pipeline_opts po = opts(WRITER_NDJSON, 0, ORDER_OLDEST, 1);

	same_either_way(&po, "UTC");
}

/* A render that did not complete leaves the rows to the pipeline: nothing is lost. */
static void test_rows_void_after_parse(void **state)
{
	struct page *pg = page_new();
	struct err e;

	(void)state;
	assert_non_null(pg);
	page_rows(pg)->ready = 1;
	assert_int_equal(page_parse(pg, pages[0], strlen(pages[0]), 1, &e), PAGE_DONE);
	assert_false(page_rows(pg)->ready);
	page_rows(pg)->ready = 1;
	page_reset(pg);
	assert_false(page_rows(pg)->ready);
	page_free(pg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_each_order),
		cmocka_unit_test(test_csv_ascending_pages_and_hold),
		cmocka_unit_test(test_excel_gzip),
		cmocka_unit_test(test_ndjson_each_order),
		cmocka_unit_test(test_rows_void_after_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
