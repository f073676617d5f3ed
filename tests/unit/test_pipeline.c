/*
 * pipeline: the bytes of an output do not depend on the number of workers;
 * repeats across pages are written once (the first copy, in its place);
 * a bad page fails the run with its file and offset. Run under TSan too.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "batch.h"
#include "pipeline.h"
#include "testdir.h"
#include "tz.h"

#define PAGES 300

static char dir[256];

/* PAGES pages of 50 messages, newest first; every 7th page repeats the last two of the one before. */
static void write_history(const char *path)
{
	FILE *f = fopen(path, "w");
	long long ts = 1720000000;
	int id = 0;

	assert_non_null(f);
	for (int p = 0; p < PAGES; p++) {
		int n = 0;

		fputc('[', f);
		if (p % 7 == 6) {
			fprintf(f,
				"{\"unique\":\"m%d\",\"timestamp\":\"%lld\",\"direction\":\"1\",\"message\":"
				"\"repeat \\u05e9\"}",
				id - 1, ts + 1);
			n++;
		}
		for (; n < 50; n++, id++, ts--)
			fprintf(f,
				"%s{\"unique\":\"m%d\",\"timestamp\":\"%lld\",\"direction\":\"%d\","
				"\"from\":\"9725%d\",\"to\":\"9726\",\"type\":\"text\",\"state\":%d,"
				"\"message\":\"hello \\u05e9\\u05dc\\u05d5\\u05dd %d\"}",
				n ? "," : "", id, ts, 1 + id % 2, id % 5, id % 4, id);
		fputs("]\n", f);
	}
	fclose(f);
}

/* Convert `in` to `out` with `workers` workers; returns the exit-style status. */
static int convert(const char *in, const char *out, unsigned workers, int oldest, int gzip,
		   int ndjson, struct err *e)
{
	struct pipeline_opts po = { 0 };
	struct pool *pool = NULL;
	struct pipeline *pl = NULL;
	struct source *src = NULL;
	struct warn w;
	struct tz *tz = NULL;
	char *files[] = { (char *)in };
	int rc = -1;

	warn_init(&w, 1);
	assert_int_equal(tz_open(&tz, "UTC", e), 0);
	po.writer.format = ndjson ? WRITER_NDJSON : WRITER_CSV;
	po.writer.tz = tz;
	writer_default_columns(&po.writer, 0);
	po.out.path = out;
	po.out.gzip = gzip;
	po.out.level = 1;
	po.order = oldest ? ORDER_OLDEST : ORDER_NEWEST;
	if (pool_new(&pool, workers, workers + 2, batch_map, NULL, e) ||
	    pipeline_open(&pl, &po, pool, &w, e) || source_open(&src, files, 1, NULL, &w, e) ||
	    pipeline_source(pl, src, NULL, e) || pipeline_finish(pl, e) || pipeline_publish(pl, e))
		goto out;
	rc = 0;
out:
	source_close(src);
	pipeline_close(pl);
	pool_free(pool);
	tz_free(tz);
	return rc;
}

static char *slurp(const char *path, size_t *len)
{
	gzFile g = gzopen(path, "rb");
	char *data = NULL;
	size_t cap = 0;
	int n;

	assert_non_null(g);
	*len = 0;
	do {
		if (cap - *len < 65536) {
			cap = cap ? 2 * cap : 1 << 20;
			data = realloc(data, cap);
			assert_non_null(data);
		}
		n = gzread(g, data + *len, 65536);
		assert_true(n >= 0);
		*len += (size_t)n;
	} while (n > 0);
	gzclose(g);
	return data;
}

static int setup(void **state)
{
	char in[300];

	(void)state;
	if (testdir_make(dir, sizeof(dir), "test_pipeline"))
		return -1;
	snprintf(in, sizeof(in), "%s/pages.jsonl", dir);
	write_history(in);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	testdir_remove(dir);
	return 0;
}

static void same_bytes_whatever_the_workers(int oldest, int gzip, int ndjson)
{
	char in[300], a[300], b[300];
	struct err e = { .offset = -1 };
	size_t la, lb;
	char *da, *db;

	snprintf(in, sizeof(in), "%s/pages.jsonl", dir);
	snprintf(a, sizeof(a), "%s/a.out", dir);
	snprintf(b, sizeof(b), "%s/b.out", dir);
	if (convert(in, a, 0, oldest, gzip, ndjson, &e))
		fail_msg("%s", e.msg);
	for (unsigned workers = 1; workers <= 4; workers += 3) {
		assert_int_equal(convert(in, b, workers, oldest, gzip, ndjson, &e), 0);
		da = slurp(a, &la);
		db = slurp(b, &lb);
		assert_int_equal(la, lb);
		assert_memory_equal(da, db, la);
		free(da);
		free(db);
	}
}

static void test_csv_newest(void **state)
{
	(void)state;
	same_bytes_whatever_the_workers(0, 0, 0);
}

static void test_csv_oldest_gzip(void **state)
{
	(void)state;
	same_bytes_whatever_the_workers(1, 1, 0);
}

static void test_ndjson_newest_gzip(void **state)
{
	(void)state;
	same_bytes_whatever_the_workers(0, 1, 1);
}

/* Every message once, the first copy in its place; oldest is newest backwards. */
static void test_repeats_written_once_in_order(void **state)
{
	char in[300], a[300], b[300];
	struct err e = { .offset = -1 };
	size_t la, lb, rows = 0;
	char *da, *db;

	(void)state;
	snprintf(in, sizeof(in), "%s/pages.jsonl", dir);
	snprintf(a, sizeof(a), "%s/new.csv", dir);
	snprintf(b, sizeof(b), "%s/old.csv", dir);
	assert_int_equal(convert(in, a, 2, 0, 0, 0, &e), 0);
	assert_int_equal(convert(in, b, 2, 1, 0, 0, &e), 0);
	da = slurp(a, &la);
	db = slurp(b, &lb);
	assert_int_equal(la, lb);
	for (size_t i = 0; i < la; i++)
		rows += da[i] == '\n';
	/* 300 pages of 50, less the 42 repeats (each page 7k+6 opens with one), plus the header. */
	assert_int_equal(rows, 300 * 50 - 42 + 1);
	assert_null(memmem(da, la, "repeat", 6));
	free(da);
	free(db);
}

static void test_bad_page_names_file_and_offset(void **state)
{
	char in[300], out[300];
	struct err e = { .offset = -1 };
	FILE *f;

	(void)state;
	snprintf(in, sizeof(in), "%s/bad.jsonl", dir);
	snprintf(out, sizeof(out), "%s/bad.csv", dir);
	f = fopen(in, "w");
	assert_non_null(f);
	fputs("[{\"unique\":\"a\",\"timestamp\":\"1\"}]\n[{\"unique\":01}]\n", f);
	fclose(f);
	assert_int_equal(convert(in, out, 2, 0, 0, 0, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	if (!strstr(e.msg, "bad.jsonl: byte 44:"))
		fail_msg("%s", e.msg);
	assert_int_equal(access(out, F_OK), -1); /* nothing committed */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_newest),
		cmocka_unit_test(test_csv_oldest_gzip),
		cmocka_unit_test(test_ndjson_newest_gzip),
		cmocka_unit_test(test_repeats_written_once_in_order),
		cmocka_unit_test(test_bad_page_names_file_and_offset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
