/*
 * input: saved API responses for `convert` (input.h, SPEC §2): one array per
 * file or per line, plain or gzip, and error messages that name the file and
 * the byte offset. Also the reader thread (input_feed_*).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "input.h"
#include "page.h"
#include "record.h"

#define S(lit) (lit), (sizeof(lit) - 1)
#define MAXPAGES 256

struct fx {
	char dir[256];
	char path[512];
	struct page *pg;
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	if (testdir_make(fx->dir, sizeof(fx->dir), "test_input") || !(fx->pg = page_new()))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	testdir_remove(fx->dir);
	page_free(fx->pg);
	free(fx);
	return 0;
}

/* Write bytes to fx->dir/name; fx->path names it. */
static const char *put_file(struct fx *fx, const char *name, const void *p, size_t n)
{
	int fd;

	snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, name);
	fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(close(fd), 0);
	return fx->path;
}

/* Append the gzip (one member) of p[0..n) to out. */
static void gzip_append(struct buf *out, const void *p, size_t n)
{
	z_stream z;
	int zr;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
	assert_int_equal(buf_reserve(out, deflateBound(&z, (uLong)n) + 64), 0);
	z.next_in = (unsigned char *)p;
	z.avail_in = (uInt)n;
	z.next_out = (unsigned char *)buf_tail(out);
	z.avail_out = (uInt)(out->cap - out->len);
	zr = deflate(&z, Z_FINISH);
	assert_int_equal(zr, Z_STREAM_END);
	out->len += z.total_out;
	deflateEnd(&z);
}

struct got {
	unsigned long pages;
	size_t count[MAXPAGES];
	char first[MAXPAGES][32];
	unsigned long fail_at;   /* on_page fails on this page, 0: never */
};

static int on_page(void *ctx, struct page *pg, const char *body, size_t len,
		   unsigned long page_no, struct err *e)
{
	struct got *g = ctx;
	struct record r;

	(void)len;
	assert_int_equal(page_no, g->pages + 1);
	if (g->pages < MAXPAGES) {
		g->count[g->pages] = page_count(pg);
		g->first[g->pages][0] = '\0';
		if (page_count(pg) && page_record(pg, body, 0, &r) == 0 &&
		    r.f[REC_UNIQUE].kind == FIELD_STRING)
			snprintf(g->first[g->pages], sizeof(g->first[0]), "%.*s",
				 (int)r.f[REC_UNIQUE].len, r.f[REC_UNIQUE].p);
	}
	g->pages++;
	if (g->fail_at && g->pages == g->fail_at)
		return err_set(e, ERR_IO, "stopped on purpose at page %lu", page_no);
	return 0;
}

static int read_path(struct fx *fx, const char *path, struct got *g, unsigned long long *bytes,
		     struct err *e)
{
	unsigned long long b = 0;
	int rc;

	memset(e, 0, sizeof(*e));
	e->offset = -1;
	rc = input_read(path, fx->pg, on_page, g, &b, NULL, e);
	if (bytes)
		*bytes = b;
	return rc;
}

static void expect_pages(const struct got *g, unsigned long n, const size_t *counts,
			 const char *const *first)
{
	assert_int_equal(g->pages, n);
	for (unsigned long i = 0; i < n; i++) {
		assert_int_equal(g->count[i], counts[i]);
		assert_string_equal(g->first[i], first[i]);
	}
}

static const char lines[] =
	"[{\"unique\":\"a\",\"message\":\"x\"}]\n"
	"[{\"unique\":\"b\"},{\"unique\":\"c\"}]\n"
	"[]\n";
static const size_t lines_counts[] = { 1, 2, 0 };
static const char *const lines_first[] = { "a", "b", "" };

static void test_one_array_per_line(void **state)
{
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	unsigned long long bytes;

	assert_int_equal(read_path(fx, put_file(fx, "p.jsonl", S(lines)), &g, &bytes, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);
	assert_int_equal(bytes, sizeof(lines) - 1);
}

static void test_pretty_printed_arrays(void **state)
{
	static const char pretty[] =
		"[\n"
		"  {\n"
		"    \"unique\": \"p1\",\n"
		"    \"message\": \"multi\\nline [with] {brackets}\"\n"
		"  },\n"
		"  {\n"
		"    \"unique\": \"p2\"\n"
		"  }\n"
		"]\n"
		"[\n"
		"  {\"unique\": \"p3\"}\n"
		"]";                                   /* no final newline */
	static const size_t counts[] = { 2, 1 };
	static const char *const first[] = { "p1", "p3" };
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;

	assert_int_equal(read_path(fx, put_file(fx, "pretty.json", S(pretty)), &g, NULL, &e), 0);
	expect_pages(&g, 2, counts, first);
}

static void test_blank_lines_and_crlf(void **state)
{
	static const char text[] =
		"\r\n\n   \n"
		"[{\"unique\":\"a\",\"message\":\"x\"}]\r\n"
		"\r\n  \t \r\n"
		"[{\"unique\":\"b\"},\r\n{\"unique\":\"c\"}]\r\n"
		"[]\r\n\r\n\n";
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;

	assert_int_equal(read_path(fx, put_file(fx, "crlf.json", S(text)), &g, NULL, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);
}

static void test_empty_files(void **state)
{
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;

	assert_int_equal(read_path(fx, put_file(fx, "empty.json", "", 0), &g, NULL, &e), 0);
	assert_int_equal(g.pages, 0);
	assert_int_equal(read_path(fx, put_file(fx, "ws.json", S(" \n\r\n\t\n")), &g, NULL, &e), 0);
	assert_int_equal(g.pages, 0);
}

static void test_gzip_file(void **state)
{
	struct fx *fx = *state;
	struct buf gz = BUF_INIT;
	struct got g = { 0 };
	struct err e;
	unsigned long long bytes;

	gzip_append(&gz, S(lines));
	assert_int_equal(read_path(fx, put_file(fx, "p.jsonl.gz", gz.data, gz.len), &g, &bytes, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);
	/* Bytes as on disk. */
	assert_int_equal(bytes, gz.len);
	/* Detected by magic, not by name. */
	memset(&g, 0, sizeof(g));
	assert_int_equal(read_path(fx, put_file(fx, "noext", gz.data, gz.len), &g, NULL, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);
	buf_free(&gz);
}

static void test_gzip_two_members(void **state)
{
	struct fx *fx = *state;
	struct buf gz = BUF_INIT;
	struct got g = { 0 };
	struct err e;
	/* Split inside the second line: a member boundary is not a line boundary. */
	size_t split = sizeof("[{\"unique\":\"a\",\"message\":\"x\"}]\n[{\"uni") - 1;

	gzip_append(&gz, lines, split);
	gzip_append(&gz, lines + split, sizeof(lines) - 1 - split);
	assert_int_equal(read_path(fx, put_file(fx, "two.gz", gz.data, gz.len), &g, NULL, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);
	/* An empty member in between and at the end changes nothing. */
	gz.len = 0;
	gzip_append(&gz, lines, split);
	gzip_append(&gz, "", 0);
	gzip_append(&gz, lines + split, sizeof(lines) - 1 - split);
	gzip_append(&gz, "", 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(read_path(fx, put_file(fx, "three.gz", gz.data, gz.len), &g, NULL, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);
	buf_free(&gz);
}

static void test_gzip_truncated(void **state)
{
	struct fx *fx = *state;
	struct buf gz = BUF_INIT;
	struct got g = { 0 };
	struct err e;
	const char *path;

	gzip_append(&gz, S(lines));
	/* Cut in the trailer, and cut in the data. */
	for (size_t cut = 1; cut <= gz.len - 12; cut += gz.len / 3) {
		memset(&g, 0, sizeof(g));
		path = put_file(fx, "cut.gz", gz.data, gz.len - cut);
		assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_non_null(strstr(e.msg, path));
	}
	/* Garbage after the member. */
	assert_int_equal(buf_add(&gz, "garbage", 7), 0);
	path = put_file(fx, "junk.gz", gz.data, gz.len);
	assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, path));
	buf_free(&gz);
}

/* The message names the file and the byte offset of the error in it. */
static void bad_line_3(struct fx *fx, const char *line3, const char *bad_at, int gzip)
{
	struct buf text = BUF_INIT, gz = BUF_INIT;
	struct got g = { 0 };
	struct err e;
	const char *path;
	char want[700];
	long long off;

	assert_int_equal(buf_adds(&text, "[{\"unique\":\"a\"}]\n[{\"unique\":\"b\"}]\r\n"), 0);
	off = (long long)text.len + (long long)(strstr(line3, bad_at) - line3);
	assert_int_equal(buf_adds(&text, line3), 0);
	assert_int_equal(buf_adds(&text, "\n[{\"unique\":\"d\"}]\n"), 0);
	if (gzip) {
		gzip_append(&gz, text.data, text.len);
		path = put_file(fx, "bad.jsonl.gz", gz.data, gz.len);
	} else {
		path = put_file(fx, "bad.jsonl", text.data, text.len);
	}
	assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(g.pages, 2);
	snprintf(want, sizeof(want), "%s: byte %lld: ", path, off);
	if (strncmp(e.msg, want, strlen(want)))
		fprintf(stderr, "got  '%s'\nwant '%s...'\n", e.msg, want);
	assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
	buf_free(&text);
	buf_free(&gz);
}

static void test_invalid_json_names_file_and_offset(void **state)
{
	struct fx *fx = *state;

	bad_line_3(fx, "[{\"unique\":\"c\",\"timestamp\":01}]", "01}", 0);
	bad_line_3(fx, "[{\"unique\":\"c\",\"timestamp\":01}]", "01}", 1);
	bad_line_3(fx, "[{\"unique\":\"c\"]", "]", 0);
	bad_line_3(fx, "[{\"unique\":\"c\",\"x\":tru}]", "tru}", 0);
	bad_line_3(fx, "[{\"unique\":\"c\"}] x", "x", 1);
}

/* The offset stays right when the bad value lies beyond the first read chunks. */
static void test_invalid_json_offset_after_large_line(void **state)
{
	struct fx *fx = *state;
	struct buf text = BUF_INIT, gz = BUF_INIT;
	struct got g = { 0 };
	struct err e;
	char want[700];
	long long off;
	const char *path;

	assert_int_equal(buf_adds(&text, "[{\"unique\":\"big\",\"message\":\""), 0);
	for (int i = 0; i < 700000; i++)
		assert_int_equal(buf_addc(&text, (char)('a' + i % 26)), 0);
	assert_int_equal(buf_adds(&text, "\"}]\n[{\"unique\":\"b\"}]\n[\n{\"unique\":\"c\"},\n"), 0);
	off = (long long)text.len + 1;
	assert_int_equal(buf_adds(&text, " -]\n"), 0);
	for (int gzip = 0; gzip <= 1; gzip++) {
		memset(&g, 0, sizeof(g));
		if (gzip) {
			gzip_append(&gz, text.data, text.len);
			path = put_file(fx, "large.gz", gz.data, gz.len);
		} else {
			path = put_file(fx, "large.json", text.data, text.len);
		}
		assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_int_equal(g.pages, 2);
		assert_string_equal(g.first[0], "big");
		snprintf(want, sizeof(want), "%s: byte %lld: ", path, off);
		if (strncmp(e.msg, want, strlen(want)))
			fprintf(stderr, "got  '%s'\nwant '%s...'\n", e.msg, want);
		assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
	}
	buf_free(&text);
	buf_free(&gz);
}

static void test_truncated_plain_file(void **state)
{
	static const char text[] = "[{\"unique\":\"a\"}]\n[{\"unique\":\"b\"},\n{\"uni";
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	char want[700];
	const char *path = put_file(fx, "trunc.json", S(text));

	assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(g.pages, 1);
	snprintf(want, sizeof(want), "%s: byte %zu: ", path, sizeof(text) - 1);
	assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
}

/* A NUL byte is bad data at its own offset, not a truncated file. */
static void test_nul_byte_offset(void **state)
{
	static const char text[] = "[{\"unique\":\"a\"}]\n[\"x\0y\"]\n[{\"unique\":\"c\"}]\n";
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	char want[700];
	const char *path = put_file(fx, "nul.json", S(text));

	assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(g.pages, 1);
	snprintf(want, sizeof(want), "%s: byte %d: ", path, 20);
	if (strncmp(e.msg, want, strlen(want)))
		fprintf(stderr, "got  '%s'\nwant '%s...'\n", e.msg, want);
	assert_int_equal(strncmp(e.msg, want, strlen(want)), 0);
}

static void test_refusal_in_file(void **state)
{
	static const char text[] = "[{\"unique\":\"a\"}]\n{\"status\":\"FAIL\",\"reason\":3}\n";
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	const char *path = put_file(fx, "fail.json", S(text));

	assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_REFUSED);
	assert_int_equal(g.pages, 1);
	assert_non_null(strstr(e.msg, path));
	assert_non_null(strstr(e.msg, "apiKey"));
}

static void test_missing_file(void **state)
{
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	char path[600];

	snprintf(path, sizeof(path), "%s/nope.json", fx->dir);
	assert_int_equal(read_path(fx, path, &g, NULL, &e), -1);
	assert_true(e.kind != ERR_NONE);
	assert_non_null(strstr(e.msg, path));
	assert_int_equal(g.pages, 0);
}

static void test_on_page_error_stops(void **state)
{
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;

	g.fail_at = 2;
	assert_int_equal(read_path(fx, put_file(fx, "p.jsonl", S(lines)), &g, NULL, &e), -1);
	assert_int_equal(g.pages, 2);
	assert_int_equal(e.kind, ERR_IO);
	assert_non_null(strstr(e.msg, "stopped on purpose at page 2"));
}

static void test_stop_flag(void **state)
{
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	volatile int stop = 1;
	unsigned long long b = 0;

	memset(&e, 0, sizeof(e));
	assert_int_equal(input_read(put_file(fx, "p.jsonl", S(lines)), fx->pg, on_page, &g, &b,
				    &stop, &e), -1);
	assert_int_equal(e.kind, ERR_INTERRUPTED);
	assert_int_equal(g.pages, 0);
}

static void test_large_single_array(void **state)
{
	enum { N = 20000 };
	struct fx *fx = *state;
	struct buf text = BUF_INIT, gz = BUF_INIT;
	struct got g = { 0 };
	struct err e;
	char tmp[128];

	assert_int_equal(buf_addc(&text, '['), 0);
	for (int i = 0; i < N; i++) {
		snprintf(tmp, sizeof(tmp), "%s{\"unique\":\"u%d\",\"message\":\"m%d \\u05e9\"}%s",
			 i ? "," : "", i, i, i % 100 == 99 ? "\n" : "");
		assert_int_equal(buf_adds(&text, tmp), 0);
	}
	assert_int_equal(buf_adds(&text, "]\n"), 0);
	assert_true(text.len > 3 * 256 * 1024);
	assert_int_equal(read_path(fx, put_file(fx, "big.json", text.data, text.len), &g, NULL, &e), 0);
	assert_int_equal(g.pages, 1);
	assert_int_equal(g.count[0], N);
	assert_string_equal(g.first[0], "u0");
	gzip_append(&gz, text.data, text.len);
	memset(&g, 0, sizeof(g));
	assert_int_equal(read_path(fx, put_file(fx, "big.json.gz", gz.data, gz.len), &g, NULL, &e), 0);
	assert_int_equal(g.pages, 1);
	assert_int_equal(g.count[0], N);
	buf_free(&text);
	buf_free(&gz);
}

static void test_stdin(void **state)
{
	struct fx *fx = *state;
	struct got g = { 0 };
	struct err e;
	int saved = dup(0), fd;

	assert_true(saved >= 0);
	fd = open(put_file(fx, "stdin.jsonl", S(lines)), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 0), 0);
	close(fd);
	assert_int_equal(read_path(fx, "-", &g, NULL, &e), 0);
	expect_pages(&g, 3, lines_counts, lines_first);

	fd = open(put_file(fx, "stdin_bad.jsonl", S("[{}]\n[01]\n")), O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 0), 0);
	close(fd);
	memset(&g, 0, sizeof(g));
	assert_int_equal(read_path(fx, "-", &g, NULL, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, "standard input: byte 6: "));
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
}

/* ---- the reader thread --------------------------------------------------- */

struct fed {
	unsigned long pages;
	char first[600][32];
	char file[600][600];
	size_t count[600];
};

static int drain_feed(struct input_feed *f, struct fed *out, unsigned long max,
		      const volatile int *stop, struct err *e)
{
	struct page *pg;
	const char *body, *file;
	int rc = 0;

	memset(e, 0, sizeof(*e));
	while (out->pages < max && (rc = input_feed_next(f, &pg, &body, &file, stop, e)) == 1) {
		struct record r;
		unsigned long i = out->pages++;

		out->count[i] = page_count(pg);
		out->first[i][0] = '\0';
		if (page_count(pg) && page_record(pg, body, 0, &r) == 0)
			snprintf(out->first[i], sizeof(out->first[0]), "%.*s",
				 (int)r.f[REC_UNIQUE].len, r.f[REC_UNIQUE].p);
		snprintf(out->file[i], sizeof(out->file[0]), "%s", file);
	}
	return out->pages >= max ? 1 : rc;
}

static void test_feed_files_in_order(void **state)
{
	struct fx *fx = *state;
	struct buf gz = BUF_INIT, many = BUF_INIT;
	static struct fed got;
	char *files[3], tmp[64];
	struct input_feed *f = NULL;
	struct err e;
	struct stat st;
	unsigned long long total = 0;

	memset(&got, 0, sizeof(got));
	files[0] = strdup(put_file(fx, "a.jsonl", S(lines)));
	gzip_append(&gz, S("[{\"unique\":\"g1\"}]\n[{\"unique\":\"g2\"}]\n"));
	files[1] = strdup(put_file(fx, "b.jsonl.gz", gz.data, gz.len));
	/* Enough pages to wrap the ring several times. */
	for (int i = 0; i < 100; i++) {
		snprintf(tmp, sizeof(tmp), "[{\"unique\":\"n%d\"},{\"unique\":\"x\"}]\n", i);
		assert_int_equal(buf_adds(&many, tmp), 0);
	}
	files[2] = strdup(put_file(fx, "c.jsonl", many.data, many.len));
	for (int i = 0; i < 3; i++) {
		assert_non_null(files[i]);
		assert_int_equal(stat(files[i], &st), 0);
		total += (unsigned long long)st.st_size;
	}
	memset(&e, 0, sizeof(e));
	assert_int_equal(input_feed_start(&f, files, 3, 0, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), 0);
	assert_int_equal(got.pages, 3 + 2 + 100);
	assert_string_equal(got.first[0], "a");
	assert_string_equal(got.first[1], "b");
	assert_int_equal(got.count[1], 2);
	assert_string_equal(got.first[2], "");
	assert_string_equal(got.first[3], "g1");
	assert_string_equal(got.first[4], "g2");
	for (int i = 0; i < 100; i++) {
		snprintf(tmp, sizeof(tmp), "n%d", i);
		assert_string_equal(got.first[5 + i], tmp);
		assert_int_equal(got.count[5 + i], 2);
		assert_string_equal(got.file[5 + i], files[2]);
	}
	assert_string_equal(got.file[0], files[0]);
	assert_string_equal(got.file[3], files[1]);
	/* After the last page: 0 again, and every byte was read. */
	assert_int_equal(input_feed_bytes(f), total);
	input_feed_stop(f);
	for (int i = 0; i < 3; i++)
		free(files[i]);
	buf_free(&gz);
	buf_free(&many);
}

static void test_feed_error_after_good_pages(void **state)
{
	struct fx *fx = *state;
	static struct fed got;
	char *files[3];
	struct input_feed *f = NULL;
	struct err e;

	memset(&got, 0, sizeof(got));
	files[0] = strdup(put_file(fx, "ok.jsonl", S(lines)));
	files[1] = strdup(put_file(fx, "bad.jsonl", S("[{\"unique\":\"z\"}]\n[01]\n")));
	files[2] = strdup(put_file(fx, "never.jsonl", S(lines)));
	memset(&e, 0, sizeof(e));
	assert_int_equal(input_feed_start(&f, files, 3, 0, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), -1);
	assert_int_equal(got.pages, 4);
	assert_string_equal(got.first[3], "z");
	assert_int_equal(e.kind, ERR_DATA);
	assert_non_null(strstr(e.msg, files[1]));
	assert_non_null(strstr(e.msg, "byte 18: "));
	input_feed_stop(f);
	for (int i = 0; i < 3; i++)
		free(files[i]);
}

static void test_feed_no_files_and_missing_file(void **state)
{
	struct fx *fx = *state;
	static struct fed got;
	struct input_feed *f = NULL;
	struct err e;
	char missing[600], *files[1] = { missing };

	memset(&got, 0, sizeof(got));
	assert_int_equal(input_feed_start(&f, NULL, 0, 0, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), 0);
	assert_int_equal(got.pages, 0);
	input_feed_stop(f);

	snprintf(missing, sizeof(missing), "%s/missing.json", fx->dir);
	assert_int_equal(input_feed_start(&f, files, 1, 0, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), -1);
	assert_non_null(strstr(e.msg, missing));
	input_feed_stop(f);
}

static void test_feed_stop_early(void **state)
{
	struct fx *fx = *state;
	struct buf many = BUF_INIT;
	static struct fed got;
	char *files[1], tmp[64];
	struct input_feed *f = NULL;
	struct err e;
	volatile int stop = 0;

	memset(&got, 0, sizeof(got));
	for (int i = 0; i < 500; i++) {
		snprintf(tmp, sizeof(tmp), "[{\"unique\":\"n%d\"}]\n", i);
		assert_int_equal(buf_adds(&many, tmp), 0);
	}
	files[0] = strdup(put_file(fx, "many.jsonl", many.data, many.len));
	assert_int_equal(input_feed_start(&f, files, 1, 0, &e), 0);
	assert_int_equal(drain_feed(f, &got, 3, &stop, &e), 1);
	assert_string_equal(got.first[2], "n2");
	/* A signal arrived: the next call says so. */
	stop = 1;
	assert_int_equal(drain_feed(f, &got, 600, &stop, &e), -1);
	assert_int_equal(e.kind, ERR_INTERRUPTED);
	/* Stopping with the reader blocked on a full ring returns and frees everything. */
	input_feed_stop(f);
	free(files[0]);
	buf_free(&many);
}

/* ---- backward reading (--order oldest without a spool) ---- */

static void test_backward_ok_only_for_plain_regular_files(void **state)
{
	struct fx *fx = *state;
	struct buf gz = BUF_INIT;
	char *files[2], missing[600];

	files[0] = strdup(put_file(fx, "plain.jsonl", S(lines)));
	assert_int_equal(input_backward_ok(files, 1), 1);
	gzip_append(&gz, S(lines));
	files[1] = strdup(put_file(fx, "z.jsonl.gz", gz.data, gz.len));
	assert_int_equal(input_backward_ok(files, 2), 0);   /* gzip: forward only */
	files[1][0] = '\0';
	snprintf(missing, sizeof(missing), "%s/missing.json", fx->dir);
	free(files[1]);
	files[1] = strdup(missing);
	assert_int_equal(input_backward_ok(files, 2), 0);
	free(files[1]);
	files[1] = strdup("-");                             /* stdin: forward only */
	assert_int_equal(input_backward_ok(files, 2), 0);
	free(files[1]);
	files[1] = strdup(fx->dir);                          /* a directory */
	assert_int_equal(input_backward_ok(files, 2), 0);
	for (int i = 0; i < 2; i++)
		free(files[i]);
	buf_free(&gz);
}

static void test_feed_backward_last_line_first(void **state)
{
	struct fx *fx = *state;
	struct buf many = BUF_INIT;
	static struct fed got;
	char *files[2], tmp[64];
	struct input_feed *f = NULL;
	struct err e;
	struct stat st;
	unsigned long long total = 0;

	memset(&got, 0, sizeof(got));
	/* Blank lines, CRLF and no final line end. */
	files[0] = strdup(put_file(fx, "a.jsonl", S("\n[{\"unique\":\"a\"}]\r\n\n  \n"
						    "[{\"unique\":\"b\"},{\"unique\":\"c\"}]\n[]")));
	for (int i = 0; i < 100; i++) {
		snprintf(tmp, sizeof(tmp), "[{\"unique\":\"n%d\"},{\"unique\":\"x\"}]\n", i);
		assert_int_equal(buf_adds(&many, tmp), 0);
	}
	files[1] = strdup(put_file(fx, "c.jsonl", many.data, many.len));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(stat(files[i], &st), 0);
		total += (unsigned long long)st.st_size;
	}
	assert_int_equal(input_feed_start(&f, files, 2, 1, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), 0);
	/* The last file first, each from its last line. */
	assert_int_equal(got.pages, 100 + 3);
	for (int i = 0; i < 100; i++) {
		snprintf(tmp, sizeof(tmp), "n%d", 99 - i);
		assert_string_equal(got.first[i], tmp);
		assert_string_equal(got.file[i], files[1]);
	}
	assert_int_equal(got.count[100], 0);
	assert_string_equal(got.first[101], "b");
	assert_int_equal(got.count[101], 2);
	assert_string_equal(got.first[102], "a");
	assert_string_equal(got.file[102], files[0]);
	assert_int_equal(input_feed_bytes(f), total);
	input_feed_stop(f);
	for (int i = 0; i < 2; i++)
		free(files[i]);
	buf_free(&many);
}

/* Lines longer than the backward read chunk (1 MiB), and one line alone. */
static void test_feed_backward_long_lines(void **state)
{
	struct fx *fx = *state;
	struct buf text = BUF_INIT;
	static struct fed got;
	char *files[1];
	struct input_feed *f = NULL;
	struct err e;

	memset(&got, 0, sizeof(got));
	for (int line = 0; line < 3; line++) {
		assert_int_equal(buf_adds(&text, "["), 0);
		for (int i = 0; i < 30000; i++) {
			char tmp[80];

			snprintf(tmp, sizeof(tmp), "%s{\"unique\":\"L%d-%05d\",\"message\":\"xxxxxxxxxxxxxxxxxxxxxxxx\"}",
				 i ? "," : "", line, i);
			assert_int_equal(buf_adds(&text, tmp), 0);
		}
		assert_int_equal(buf_adds(&text, "]\n"), 0);
	}
	assert_true(text.len > 3 * (1u << 20));
	files[0] = strdup(put_file(fx, "long.jsonl", text.data, text.len));
	assert_int_equal(input_feed_start(&f, files, 1, 1, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), 0);
	assert_int_equal(got.pages, 3);
	assert_string_equal(got.first[0], "L2-00000");
	assert_string_equal(got.first[1], "L1-00000");
	assert_string_equal(got.first[2], "L0-00000");
	for (int i = 0; i < 3; i++)
		assert_int_equal(got.count[i], 30000);
	input_feed_stop(f);
	free(files[0]);
	buf_free(&text);
}

/* Not one value per line: every page before is delivered, then INPUT_NOT_LINES. */
static void test_feed_backward_gives_up_on_pretty_json(void **state)
{
	struct fx *fx = *state;
	static struct fed got;
	char *files[2];
	struct input_feed *f = NULL;
	struct err e;

	memset(&got, 0, sizeof(got));
	files[0] = strdup(put_file(fx, "pretty.json", S("[\n  {\"unique\": \"p\"}\n]\n")));
	files[1] = strdup(put_file(fx, "ok.jsonl", S(lines)));
	assert_int_equal(input_feed_start(&f, files, 2, 1, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), INPUT_NOT_LINES);
	assert_int_equal(got.pages, 3);
	assert_string_equal(got.first[2], "a");
	input_feed_stop(f);
	/* Damage is the same: forward reading is what reports it, with its offset. */
	free(files[0]);
	files[0] = strdup(put_file(fx, "bad.jsonl", S("[{\"unique\":\"z\"}]\n[01]\n")));
	memset(&got, 0, sizeof(got));
	assert_int_equal(input_feed_start(&f, files, 1, 1, &e), 0);
	assert_int_equal(drain_feed(f, &got, 600, NULL, &e), INPUT_NOT_LINES);
	assert_int_equal(got.pages, 0);
	input_feed_stop(f);
	for (int i = 0; i < 2; i++)
		free(files[i]);
}

/*
 * Reading backward, a page is parsed by whichever thread claims it first:
 * the reader, or the consumer when it catches up. A consumer that is
 * quick for a while (it catches up and parses pages itself) and slow for a
 * while (the reader runs ahead) must still get every page, in order, each
 * whole: the first and last unique of every page are checked, over rounds.
 */
static void test_feed_backward_fast_and_slow_consumer(void **state)
{
	enum { PAGES = 1500, ROUNDS = 3 };
	struct fx *fx = *state;
	struct buf text = BUF_INIT;
	char *files[1];
	char tmp[96];

	for (int i = 0; i < PAGES; i++) {
		int n = 1 + i % 7;

		assert_int_equal(buf_addc(&text, '['), 0);
		for (int j = 0; j < n; j++) {
			snprintf(tmp, sizeof(tmp), "%s{\"unique\":\"p%d-%d\",\"message\":\"\\u05e9 %d\"}",
				 j ? "," : "", i, j, j);
			assert_int_equal(buf_adds(&text, tmp), 0);
		}
		assert_int_equal(buf_adds(&text, "]\n"), 0);
	}
	files[0] = strdup(put_file(fx, "many.jsonl", text.data, text.len));
	for (int round = 0; round < ROUNDS; round++) {
		struct input_feed *f = NULL;
		struct page *pg;
		const char *body, *file;
		struct err e;
		int rc, k = 0;

		memset(&e, 0, sizeof(e));
		assert_int_equal(input_feed_start(&f, files, 1, 1, &e), 0);
		while ((rc = input_feed_next(f, &pg, &body, &file, NULL, &e)) == 1) {
			int i = PAGES - 1 - k, n = 1 + i % 7;
			struct record r;

			assert_true(k < PAGES);
			assert_int_equal(page_count(pg), n);
			assert_int_equal(page_record(pg, body, 0, &r), 0);
			snprintf(tmp, sizeof(tmp), "p%d-0", i);
			assert_int_equal(r.f[REC_UNIQUE].len, strlen(tmp));
			assert_memory_equal(r.f[REC_UNIQUE].p, tmp, strlen(tmp));
			assert_int_equal(page_record(pg, body, (size_t)n - 1, &r), 0);
			snprintf(tmp, sizeof(tmp), "p%d-%d", i, n - 1);
			assert_int_equal(r.f[REC_UNIQUE].len, strlen(tmp));
			assert_memory_equal(r.f[REC_UNIQUE].p, tmp, strlen(tmp));
			if ((k / 100 + round) % 2)
				usleep(50); /* slow for a hundred pages, then quick */
			k++;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(k, PAGES);
		input_feed_stop(f);
	}
	free(files[0]);
	buf_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_array_per_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pretty_printed_arrays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blank_lines_and_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_two_members, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_json_names_file_and_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_json_offset_after_large_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_plain_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_in_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_page_error_stops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_single_array, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stdin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_files_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_error_after_good_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_no_files_and_missing_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_stop_early, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backward_ok_only_for_plain_regular_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_backward_last_line_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_backward_long_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_backward_gives_up_on_pretty_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_feed_backward_fast_and_slow_consumer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
