/*
 * manifest: the SHA-256 the sink takes as bytes go out (plain, gzip, and an
 * appended file whose earlier bytes are carried), the rows and time range
 * of an appended file's earlier rows (CSV with quoted line breaks, NDJSON,
 * gzip members), the JSON written atomically with mode 0600, and the
 * checkpoint-age warning (SPEC §4.7).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "digest.h"
#include "manifest.h"
#include "sink.h"

static char dir[256];

static int setup(void **state)
{
	(void)state;
	return testdir_make(dir, sizeof(dir), "test_manifest");
}

static int teardown(void **state)
{
	(void)state;
	testdir_remove(dir);
	return 0;
}

static size_t slurp(const char *path, char *out, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	n = fread(out, 1, cap, f);
	fclose(f);
	return n;
}

/* The hex SHA-256 of a file's bytes, computed here independently. */
static void file_sha(const char *path, char hex[DIGEST_HEX])
{
	static char data[1 << 16];
	unsigned char sum[DIGEST_LEN];
	unsigned int len;
	size_t n = slurp(path, data, sizeof(data));

	assert_int_equal(EVP_Digest(data, n, sum, &len, EVP_sha256(), NULL), 1);
	digest_hex(sum, hex);
}

/* The hex SHA-256 of a file of any size, read in pieces. */
static void big_file_sha(const char *path, char hex[DIGEST_HEX])
{
	static char data[1 << 16];
	unsigned char sum[DIGEST_LEN];
	unsigned int len;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(ctx);
	assert_non_null(f);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	while ((n = fread(data, 1, sizeof(data), f)) > 0)
		assert_int_equal(EVP_DigestUpdate(ctx, data, n), 1);
	fclose(f);
	assert_int_equal(EVP_DigestFinal_ex(ctx, sum, &len), 1);
	EVP_MD_CTX_free(ctx);
	digest_hex(sum, hex);
}

/*
 * Hashed beside the writes (a worker of the digest's own) or by the caller:
 * the same sum as the bytes on disk, for files of many hashing pieces written
 * in pieces of every size, gzip or not, appended to or not.
 */
static void test_sum_beside_the_writes_is_of_the_bytes_on_disk(void **state)
{
	static char row[4 << 20];
	const size_t sizes[] = { 1, 7, 4096, 100000, 524287, 524288, 524289, 1500000, 3 };
	char path[512], hex[DIGEST_HEX];
	struct err e = { .kind = ERR_NONE };

	(void)state;
	for (size_t i = 0; i < sizeof(row); i++)
		row[i] = (char)('a' + (i * 7 + i / 977) % 26);
	for (int mode = SINK_DIGEST_CALLER; mode <= SINK_DIGEST_BESIDE; mode++) {
		for (int gz = 0; gz < 2; gz++) {
			for (int run = 0; run < 2; run++) {
				struct sink_opts o = { .path = path,
						       .gzip = gz,
						       .level = 1,
						       .append = 1,
						       .digest = (enum sink_digest)mode };
				struct manifest m = { .gzip = gz };
				struct sink *s;
				size_t off = 0;

				snprintf(path, sizeof(path), "%s/big%d%d.csv", dir, mode, gz);
				assert_int_equal(sink_open(&s, &o, &e), 0);
				for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
					assert_int_equal(sink_write(s, row + off, sizes[k], &e), 0);
					off += sizes[k];
				}
				assert_int_equal(sink_write(s, "\n", 1, &e), 0); /* addable */
				assert_int_equal(sink_commit(s, &e), 0);
				assert_int_equal(manifest_add(&m, s, NULL, &e), 0);
				big_file_sha(path, hex);
				assert_string_equal(m.files[0].sha256, hex);
				assert_int_equal(m.files[0].appended, run);
				manifest_free(&m);
				sink_close(s);
			}
		}
	}
}

/* One run writing rows (each with its time) to path; the sink is kept for the manifest. */
static struct sink *write_run(const char *path, int gzip, int append, const char *head,
			      const char *const *rows, const long long *ts, size_t n)
{
	struct sink_opts o = {
		.path = path, .gzip = gzip, .level = 6, .append = append, .digest = 1
	};
	struct err e = { .kind = ERR_NONE };
	struct sink *s;

	assert_int_equal(sink_open(&s, &o, &e), 0);
	if (!sink_figures(s)->appending && head)
		assert_int_equal(sink_write(s, head, strlen(head), &e), 0);
	for (size_t i = 0; i < n; i++) {
		sink_count_row(s, ts[i] >= 0, ts[i]);
		assert_int_equal(sink_write(s, rows[i], strlen(rows[i]), &e), 0);
	}
	assert_int_equal(sink_commit(s, &e), 0);
	return s;
}

static void test_sum_is_of_the_bytes_on_disk(void **state)
{
	const char *rows[] = { "1,a\r\n", "2,b\r\n" };
	const long long ts[] = { 20, 10 };
	char path[512], hex[DIGEST_HEX];
	struct manifest m = { 0 };
	struct err e = { .kind = ERR_NONE };
	struct sink *s;

	(void)state;
	for (int gz = 0; gz < 2; gz++) {
		snprintf(path, sizeof(path), "%s/plain%d.csv", dir, gz);
		s = write_run(path, gz, 0, "timestamp,x\r\n", rows, ts, 2);
		file_sha(path, hex);
		assert_int_equal(manifest_add(&m, s, NULL, &e), 0);
		assert_string_equal(m.files[m.nfiles - 1].sha256, hex);
		assert_int_equal(m.files[m.nfiles - 1].rows, 2);
		assert_int_equal(m.files[m.nfiles - 1].ts_min, 10);
		assert_int_equal(m.files[m.nfiles - 1].ts_max, 20);
		assert_int_equal(m.files[m.nfiles - 1].appended, 0);
		sink_close(s);
	}
	manifest_free(&m);
}

/* SPEC §4.7: an appended file's entry describes the whole file; rows_added the run's share. */
static void test_appended_file_describes_the_whole_file(void **state)
{
	const char *old[] = { "\"x\",5,\"two\r\nlines\"\r\n", "\"y\",7,b\r\n", "\"z\",,c\r\n" };
	const char *new[] = { "\"w\",9,d\r\n" };
	const long long old_ts[] = { 5, 7, -1 }, new_ts[] = { 9 };
	char path[512], hex[DIGEST_HEX];
	struct err e = { .kind = ERR_NONE };

	(void)state;
	for (int gz = 0; gz < 2; gz++) {
		struct manifest m = { .gzip = gz };
		struct sink *s;

		snprintf(path, sizeof(path), "%s/app%d.csv", dir, gz);
		sink_close(write_run(path, gz, 1, "\xEF\xBB\xBFunique,timestamp,message\r\n", old,
				     old_ts, 3));
		s = write_run(path, gz, 1, "unique,timestamp,message\r\n", new, new_ts, 1);
		assert_true(sink_figures(s)->appending);
		assert_int_equal(manifest_add(&m, s, NULL, &e), 0);
		file_sha(path, hex);
		assert_string_equal(m.files[0].sha256, hex);
		assert_int_equal(m.files[0].appended, 1);
		assert_int_equal(m.files[0].rows, 4);
		assert_int_equal(m.files[0].rows_added, 1);
		assert_int_equal(m.files[0].ts_min, 5);
		assert_int_equal(m.files[0].ts_max, 9);
		{
			struct stat st;

			assert_int_equal(stat(path, &st), 0);
			assert_int_equal(m.files[0].bytes, (unsigned long long)st.st_size);
		}
		sink_close(s);
		manifest_free(&m);
	}
}

static void test_appended_ndjson_counts_lines(void **state)
{
	const char *old[] = {
		"{\"unique\":\"a\",\"timestamp\":30,\"message\":\"\\\"timestamp\\\":1\"}\n",
		"{\"unique\":\"b\",\"timestamp\":\"x\"}\n"
	};
	const char *new[] = { "{\"unique\":\"c\",\"timestamp\":40}\n" };
	const long long old_ts[] = { 30, -1 }, new_ts[] = { 40 };
	struct manifest m = { .ndjson = 1, .gzip = 1 };
	struct err e = { .kind = ERR_NONE };
	char path[512];
	struct sink *s;

	(void)state;
	snprintf(path, sizeof(path), "%s/app.ndjson.gz", dir);
	sink_close(write_run(path, 1, 1, NULL, old, old_ts, 2));
	s = write_run(path, 1, 1, NULL, new, new_ts, 1);
	assert_int_equal(manifest_add(&m, s, "972500000001", &e), 0);
	assert_int_equal(m.files[0].rows, 3);
	assert_int_equal(m.files[0].rows_added, 1);
	assert_int_equal(m.files[0].ts_min, 30);
	assert_int_equal(m.files[0].ts_max, 40);
	assert_string_equal(m.files[0].chat, "972500000001");
	sink_close(s);
	manifest_free(&m);
}

/*
 * text, scanned as the earlier bytes of an appended file: its rows and time
 * range, and whether a row lacked the timestamp column (the range unknown).
 */
static void scan_is(const char *name, const char *text, int ndjson, unsigned long long rows,
		    long long ts_min, long long ts_max, int unknown)
{
	char path[512];
	FILE *f;
	size_t n = strlen(text);
	struct manifest_file got;
	struct err e = { .kind = ERR_NONE };

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "wb"));
	assert_int_equal(fwrite(text, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
	memset(&got, 0, sizeof(got));
	assert_int_equal(manifest_scan(path, n, ndjson, 0, &got, &e), 0);
	assert_int_equal(got.rows, rows);
	assert_int_equal(got.ts_min, ts_min);
	assert_int_equal(got.ts_max, ts_max);
	assert_int_equal(got.ts_unknown, unknown);
}

/*
 * The scan keeps no record whole: a timestamp column after a cell longer
 * than anything it captures, and a key after a long id, are still found.
 */
static void test_scan_finds_the_time_past_long_cells(void **state)
{
	size_t big = 200000;
	char *text = malloc(big + 512), *p;

	(void)state;
	assert_non_null(text);
	/* the long cell holds a line break and a comma, then closes */
	p = text + sprintf(text, "message,unique,timestamp\r\n\"");
	memset(p, 'm', big);
	sprintf(p + big, "\r\n,\",u1,20\r\nshort,u2,\"30\"\r\nx,u3,12345678901234567890123\r\n"
			 "y,u4,10\r\n");
	/* "30" is quoted and the long one is no epoch */
	scan_is("scan.csv", text, 0, 4, 10, 20, 0);
	p = text + sprintf(text, "{\"unique\":\"");
	memset(p, 'u', big);
	sprintf(p + big,
		"\",\"timestamp\":7,\"message\":\"x\"}\n{\"unique\":\"v\",\"timestamp\":9}\n"
		"{\"unique\":\"w\",\"timestamp\":null}\n");
	scan_is("scan.ndjson", text, 1, 3, 7, 9, 0);
	free(text);
}

/*
 * Rows written with --columns that leave out timestamp say nothing of their
 * times: the whole file's range is unknown (null in the manifest), not the
 * range of the rows this run adds.
 */
static void test_rows_without_the_timestamp_column_leave_the_range_unknown(void **state)
{
	(void)state;
	scan_is("notime.csv", "unique,time\r\nu1,2021-02-24T20:32:57Z\r\n", 0, 1, 0, 0, 1);
	scan_is("notime.ndjson", "{\"unique\":\"u1\",\"time\":\"2021-02-24T20:32:57Z\"}\n", 1, 1, 0,
		0, 1);
	scan_is("header-only.csv", "unique,time\r\n", 0, 0, 0, 0, 0);
	scan_is("some.ndjson", "{\"timestamp\":5}\n{\"unique\":\"u\"}\n", 1, 2, 5, 5, 1);
}

static void test_written_atomically_with_mode_0600(void **state)
{
	const char *rows[] = { "{}\n" };
	const long long ts[] = { -1 };
	const char *to[] = { "97250\"1" };
	struct manifest_run r = { .command = "fetch",
				  .from = "972501234567",
				  .to = to,
				  .nto = 1,
				  .started = 0,
				  .finished = 86400,
				  .format = "ndjson",
				  .tz = "UTC",
				  .messages = 1,
				  .have_after = 1,
				  .checkpoint_after = 99 };
	struct manifest m = { .ndjson = 1 };
	struct err e = { .kind = ERR_NONE };
	char path[512], out[512], text[4096];
	struct stat st;
	struct sink *s;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/one.ndjson", dir);
	s = write_run(path, 0, 0, NULL, rows, ts, 1);
	assert_int_equal(manifest_add(&m, s, NULL, &e), 0);
	snprintf(out, sizeof(out), "%s/m.json", dir);
	assert_int_equal(manifest_write(&m, out, &r, &e), 0);
	assert_int_equal(stat(out, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	n = slurp(out, text, sizeof(text) - 1);
	text[n] = '\0';
	assert_non_null(strstr(text, "\"to\": [\"97250\\\"1\"]"));
	assert_non_null(strstr(text, "\"started\": \"1970-01-01T00:00:00Z\""));
	assert_non_null(strstr(text, "\"finished\": \"1970-01-02T00:00:00Z\""));
	assert_non_null(strstr(text, "\"checkpoint_before\": null"));
	assert_non_null(strstr(text, "\"checkpoint_after\": 99"));
	assert_non_null(strstr(text, "\"first_timestamp\": null, \"last_timestamp\": null"));
	assert_null(strstr(text, "rows_added"));
	/* A directory that cannot take the file: an error, nothing left behind. */
	snprintf(out, sizeof(out), "%s/missing/m.json", dir);
	assert_int_equal(manifest_write(&m, out, &r, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	sink_close(s);
	manifest_free(&m);
}

static void test_checkpoint_age_warning(void **state)
{
	struct warn w;
	long long now = 1800000000;

	(void)state;
	warn_init(&w, 1);
	manifest_check_age(&w, "", now - 350LL * 86400, 1, now - 350LL * 86400, now);
	assert_int_equal(w.count, 0);
	/* the last success that long ago */
	manifest_check_age(&w, "--to 97250: ", now - 350LL * 86400 - 1, 0, 0, now);
	assert_int_equal(w.count, 1);
	/* or a state written yesterday whose newest message is that old: once, not twice */
	manifest_check_age(&w, "", now - 86400, 1, now - 351LL * 86400, now);
	assert_int_equal(w.count, 2);
	manifest_check_age(&w, "", now - 351LL * 86400, 1, now - 351LL * 86400, now);
	assert_int_equal(w.count, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sum_is_of_the_bytes_on_disk),
		cmocka_unit_test(test_sum_beside_the_writes_is_of_the_bytes_on_disk),
		cmocka_unit_test(test_appended_file_describes_the_whole_file),
		cmocka_unit_test(test_appended_ndjson_counts_lines),
		cmocka_unit_test(test_scan_finds_the_time_past_long_cells),
		cmocka_unit_test(test_rows_without_the_timestamp_column_leave_the_range_unknown),
		cmocka_unit_test(test_written_atomically_with_mode_0600),
		cmocka_unit_test(test_checkpoint_age_warning),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
