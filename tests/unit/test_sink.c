/*
 * sink: atomic file output (SPEC §4.4), gzip through deflate (one member),
 * the worker-thread hand-off, and write errors. Every test works in its own
 * temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "sink.h"

struct fx {
	char dir[256];
	char path[512];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	if (testdir_make(fx->dir, sizeof(fx->dir), "test_sink"))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	testdir_remove(fx->dir);
	free(fx);
	return 0;
}

/* Entries in dir other than . and .., with the first name into first. */
static int count_entries(const char *dir, char *first, size_t size)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	if (first)
		first[0] = '\0';
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!n && first)
			snprintf(first, size, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

static void read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);
	char tmp[65536];
	ssize_t n;

	assert_true(fd >= 0);
	b->len = 0;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		assert_int_equal(buf_add(b, tmp, (size_t)n), 0);
	assert_int_equal(n, 0);
	close(fd);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static struct sink *open_sink(const char *path, int gzip)
{
	struct sink_opts o = { .path = path, .gzip = gzip, .level = 6 };
	struct sink *s = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	if (sink_open(&s, &o, &e))
		fprintf(stderr, "sink_open(%s): %s\n", path, e.msg);
	assert_non_null(s);
	return s;
}

/* Deterministic text rows, n bytes in all. */
static void make_rows(struct buf *b, size_t n)
{
	unsigned long x = 12345;

	b->len = 0;
	assert_int_equal(buf_reserve(b, n), 0);
	while (b->len < n) {
		char row[128];
		int k;

		x = x * 1103515245 + 12345;
		k = snprintf(row, sizeof(row), "%zu,message %lu \xD7\xA9,%lx\r\n", b->len, x % 100000,
			     x);
		if ((size_t)k > n - b->len)
			k = (int)(n - b->len);
		memcpy(b->data + b->len, row, (size_t)k);
		b->len += (size_t)k;
	}
}

static void test_commit_makes_file_visible(void **state)
{
	struct fx *fx = *state;
	struct sink *s = open_sink(fx->path, 0);
	struct err e;
	struct stat st;
	struct buf got = BUF_INIT;
	char name[256];

	assert_int_equal(sink_write(s, "hello,world\r\n", 13, &e), 0);
	/* Nothing at the target yet; a hidden temporary beside it. */
	assert_int_equal(stat(fx->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(count_entries(fx->dir, name, sizeof(name)), 1);
	assert_int_equal(strncmp(name, ".out.csv.", 9), 0);

	assert_int_equal(sink_commit(s, &e), 0);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 13);
	assert_memory_equal(got.data, "hello,world\r\n", 13);
	assert_int_equal(count_entries(fx->dir, name, sizeof(name)), 1);
	assert_string_equal(name, "out.csv");
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(sink_bytes_in(s), 13);
	assert_int_equal(sink_bytes_out(s), 13);
	sink_close(s);
	/* Closing after the commit changes nothing. */
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);
	buf_free(&got);
}

static void test_new_file_mode_ignores_umask(void **state)
{
	struct fx *fx = *state;
	mode_t old = umask(0);
	struct sink *s = open_sink(fx->path, 0);
	struct err e;
	struct stat st;

	umask(old);
	assert_int_equal(sink_write(s, "x", 1, &e), 0);
	assert_int_equal(sink_commit(s, &e), 0);
	sink_close(s);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_existing_target_keeps_mode(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0664 };
	struct fx *fx = *state;
	struct buf got = BUF_INIT;

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct sink *s;
		struct err e;
		struct stat st;

		write_file(fx->path, "old contents\n", modes[i]);
		s = open_sink(fx->path, 0);
		assert_int_equal(sink_write(s, "new\n", 4, &e), 0);
		assert_int_equal(sink_commit(s, &e), 0);
		sink_close(s);
		assert_int_equal(stat(fx->path, &st), 0);
		assert_int_equal(st.st_mode & 07777, modes[i]);
		read_file(fx->path, &got);
		assert_int_equal(got.len, 4);
		assert_memory_equal(got.data, "new\n", 4);
		assert_int_equal(count_entries(fx->dir, NULL, 0), 1);
	}
	buf_free(&got);
}

static void test_close_without_commit_leaves_target(void **state)
{
	struct fx *fx = *state;
	struct buf data = BUF_INIT, got = BUF_INIT;
	struct sink *s;
	struct err e;
	struct stat st;

	write_file(fx->path, "precious\r\n", 0640);
	/* Enough data that the worker has written some of it to the temporary file. */
	make_rows(&data, 3u << 20);
	s = open_sink(fx->path, 0);
	assert_int_equal(sink_write(s, data.data, data.len, &e), 0);
	sink_close(s);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 10);
	assert_memory_equal(got.data, "precious\r\n", 10);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);

	/* And with gzip, and with no existing target: nothing at all is left. */
	unlink(fx->path);
	s = open_sink(fx->path, 1);
	assert_int_equal(sink_write(s, data.data, data.len, &e), 0);
	sink_close(s);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 0);
	buf_free(&data);
	buf_free(&got);
}

/* Inflate one gzip member; *rest gets the bytes left after it. */
static void gunzip(const struct buf *gz, struct buf *out, size_t *rest)
{
	z_stream z;
	int zr;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (unsigned char *)gz->data;
	z.avail_in = (uInt)gz->len;
	out->len = 0;
	do {
		assert_int_equal(buf_reserve(out, 1u << 16), 0);
		z.next_out = (unsigned char *)buf_tail(out);
		z.avail_out = 1u << 16;
		zr = inflate(&z, Z_NO_FLUSH);
		assert_true(zr == Z_OK || zr == Z_STREAM_END);
		out->len += (1u << 16) - z.avail_out;
	} while (zr != Z_STREAM_END);
	*rest = z.avail_in;
	inflateEnd(&z);
}

static void gzip_round_trip(struct fx *fx, size_t n, int via_buf)
{
	struct buf data = BUF_INIT, file = BUF_INIT, plain = BUF_INIT;
	struct sink *s;
	struct err e;
	size_t rest = 99;

	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	make_rows(&data, n);
	s = open_sink(fx->path, 1);
	if (via_buf) {
		/* As the writers do: append rows to sink_buf, flush after each. */
		for (size_t off = 0; off < data.len;) {
			const char *nl = memchr(data.data + off, '\n', data.len - off);
			size_t k = nl ? (size_t)(nl - data.data) + 1 - off : data.len - off;

			assert_int_equal(buf_add(sink_buf(s), data.data + off, k), 0);
			assert_int_equal(sink_flush(s, &e), 0);
			off += k;
		}
	} else {
		assert_int_equal(sink_write(s, data.data, data.len, &e), 0);
	}
	assert_int_equal(sink_commit(s, &e), 0);
	assert_int_equal(sink_bytes_in(s), n);
	read_file(fx->path, &file);
	assert_int_equal(sink_bytes_out(s), file.len);
	sink_close(s);
	assert_true(file.len >= 18);
	assert_int_equal((unsigned char)file.data[0], 0x1f);
	assert_int_equal((unsigned char)file.data[1], 0x8b);
	gunzip(&file, &plain, &rest);
	/* One member: nothing follows the first member's trailer. */
	assert_int_equal(rest, 0);
	assert_int_equal(plain.len, n);
	if (n)
		assert_memory_equal(plain.data, data.data, n);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);
	buf_free(&data);
	buf_free(&file);
	buf_free(&plain);
}

static void test_gzip_small(void **state)
{
	gzip_round_trip(*state, 100, 0);
}

static void test_gzip_empty(void **state)
{
	gzip_round_trip(*state, 0, 0);
}

static void test_gzip_large_crosses_worker(void **state)
{
	gzip_round_trip(*state, (7u << 20) + 12345, 0);
}

static void test_gzip_large_via_sink_buf(void **state)
{
	gzip_round_trip(*state, (5u << 20) + 777, 1);
}

/* Commit, close, and the file holds exactly data. */
static void commit_holds(struct sink *s, const char *path, const struct buf *data)
{
	struct buf file = BUF_INIT;
	struct err e;

	assert_int_equal(sink_commit(s, &e), 0);
	assert_int_equal(sink_bytes_out(s), data->len);
	sink_close(s);
	read_file(path, &file);
	assert_int_equal(file.len, data->len);
	assert_memory_equal(file.data, data->data, data->len);
	buf_free(&file);
}

static void test_plain_large(void **state)
{
	struct fx *fx = *state;
	struct buf data = BUF_INIT;
	struct sink *s;
	struct err e;

	make_rows(&data, (9u << 20) + 3);
	s = open_sink(fx->path, 0);
	/* Mixed: big writes, then rows through sink_buf. */
	assert_int_equal(sink_write(s, data.data, 4u << 20, &e), 0);
	for (size_t off = 4u << 20; off < data.len; off += 1000) {
		size_t k = data.len - off < 1000 ? data.len - off : 1000;

		assert_int_equal(buf_add(sink_buf(s), data.data + off, k), 0);
		assert_int_equal(sink_flush(s, &e), 0);
	}
	assert_int_equal(sink_bytes_in(s), data.len);
	commit_holds(s, fx->path, &data);
	buf_free(&data);
}

static void need_dev_full(void)
{
	if (access("/dev/full", W_OK))
		skip();
}

static void dev_full(size_t n, int gzip)
{
	struct buf data = BUF_INIT;
	struct sink *s;
	struct err e;
	int rc;

	need_dev_full();
	s = open_sink("/dev/full", gzip);

	make_rows(&data, n);
	memset(&e, 0, sizeof(e));
	rc = sink_write(s, data.data, data.len, &e);
	if (!rc)
		rc = sink_commit(s, &e);
	assert_int_equal(rc, -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_int_equal(e.errnum, ENOSPC);
	assert_non_null(strstr(e.msg, "/dev/full"));
	assert_int_equal(sink_broken_pipe(&e), 0);
	sink_close(s);
	buf_free(&data);
}

/*
 * Past two flush steps (32 MiB each, fdatasync from a thread of its own),
 * handed over in whole buffers as the hold hands them (sink_chunk in
 * forward mode, after what sink_buf holds): every byte, in order.
 */
static void test_plain_past_flush_steps_in_chunks(void **state)
{
	struct fx *fx = *state;
	struct buf data = BUF_INIT, chunk = BUF_INIT;
	struct sink *s;
	struct err e;
	char name[256];

	make_rows(&data, (70u << 20) + 11);
	s = open_sink(fx->path, 0);
	assert_int_equal(buf_add(sink_buf(s), data.data, 100), 0);
	for (size_t off = 100; off < data.len; off += 300000) {
		size_t k = data.len - off < 300000 ? data.len - off : 300000;

		if (sink_buf(s)->len)
			assert_int_equal(sink_chunk(s, sink_buf(s), &e), 0);
		chunk.len = 0;
		assert_int_equal(buf_add(&chunk, data.data + off, k), 0);
		assert_int_equal(sink_chunk(s, &chunk, &e), 0);
		assert_int_equal(chunk.len, 0);
	}
	commit_holds(s, fx->path, &data);
	assert_int_equal(count_entries(fx->dir, name, sizeof(name)), 1);
	buf_free(&data);
	buf_free(&chunk);
}

/* sink_finish writes and syncs the temporary file; only sink_publish makes it visible. */
static void test_finish_then_publish(void **state)
{
	struct fx *fx = *state;
	struct buf got = BUF_INIT;
	struct sink *s;
	struct err e;
	char name[256];

	write_file(fx->path, "old\n", 0644);
	s = open_sink(fx->path, 1);
	assert_int_equal(sink_write(s, "new rows\n", 9, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_finish(s, &e), 0);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 4);
	assert_memory_equal(got.data, "old\n", 4);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 2);
	assert_int_equal(sink_publish(s, &e), 0);
	assert_int_equal(count_entries(fx->dir, name, sizeof(name)), 1);
	assert_string_equal(name, "out.csv");
	read_file(fx->path, &got);
	assert_int_equal((unsigned char)got.data[0], 0x1f);
	assert_int_equal(sink_publish(s, &e), 0);  /* a second publish changes nothing */
	sink_close(s);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);

	/* Finished but never published: the old file stays, the temporary goes. */
	write_file(fx->path, "old\n", 0644);
	s = open_sink(fx->path, 0);
	assert_int_equal(sink_write(s, "newer\n", 6, &e), 0);
	assert_int_equal(sink_finish(s, &e), 0);
	sink_close(s);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 4);
	assert_memory_equal(got.data, "old\n", 4);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);
	buf_free(&got);
}

/* -o through a symlink writes the file it points to and keeps the link. */
static void test_symlinked_target(void **state)
{
	struct fx *fx = *state;
	struct buf got = BUF_INIT;
	struct sink *s;
	struct err e;
	struct stat st;
	char real[600], link[600];

	snprintf(real, sizeof(real), "%s/real.csv", fx->dir);
	snprintf(link, sizeof(link), "%s/link.csv", fx->dir);
	write_file(real, "old\n", 0640);
	assert_int_equal(symlink("real.csv", link), 0);
	s = open_sink(link, 0);
	assert_int_equal(sink_write(s, "new\n", 4, &e), 0);
	assert_int_equal(sink_commit(s, &e), 0);
	sink_close(s);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	read_file(real, &got);
	assert_int_equal(got.len, 4);
	assert_memory_equal(got.data, "new\n", 4);
	assert_int_equal(stat(real, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 2);
	buf_free(&got);
}

static void test_dev_full_small(void **state)
{
	(void)state;
	dev_full(10, 0);
}

static void test_dev_full_large(void **state)
{
	(void)state;
	dev_full(6u << 20, 0);
}

static void test_dev_full_gzip(void **state)
{
	(void)state;
	dev_full(10, 1);
	dev_full(6u << 20, 1);
}

static void test_missing_directory(void **state)
{
	struct fx *fx = *state;
	struct sink_opts o = { .path = NULL, .gzip = 0, .level = 6 };
	struct sink *s = NULL;
	struct err e;
	char path[600];

	snprintf(path, sizeof(path), "%s/missing/out.csv", fx->dir);
	o.path = path;
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_open(&s, &o, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, path));
	assert_null(s);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 0);

	/* A directory is not a file. */
	o.path = fx->dir;
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_open(&s, &o, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
}

static void test_bad_gzip_level(void **state)
{
	struct fx *fx = *state;
	struct sink_opts o = { .path = fx->path, .gzip = 1, .level = 10 };
	struct sink *s = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_open(&s, &o, &e), -1);
	assert_true(e.kind != ERR_NONE);
	assert_null(s);
	/* The temporary file was removed again. */
	assert_int_equal(count_entries(fx->dir, NULL, 0), 0);
}

/* ---- reverse mode (--order oldest) -------------------------------------- */

static struct sink *open_reverse(const char *path, int gzip, const char *spool_dir)
{
	struct sink_opts o = { .path = path, .gzip = gzip, .level = 6, .reverse = 1,
			       .spool_dir = spool_dir };
	struct sink *s = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	if (sink_open(&s, &o, &e))
		fprintf(stderr, "sink_open(%s, reverse): %s\n", path, e.msg);
	assert_non_null(s);
	return s;
}

/* Hand `text` over as one chunk, through a buffer the test owns. */
static void chunk(struct sink *s, struct buf *b, const char *p, size_t n)
{
	struct err e;

	b->len = 0;
	assert_int_equal(buf_add(b, p, n), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_chunk(s, b, &e), 0);
	/* The sink took the bytes and gave back an empty buffer. */
	assert_int_equal(b->len, 0);
}

/*
 * Reverse mode: head, then chunks in `segments` groups, each group written
 * last chunk first. Checks the file (gunzipped when gzip) against that.
 */
static void reverse_round_trip(struct fx *fx, int gzip, const size_t *sizes, size_t n,
			       size_t per_segment, const char *head)
{
	struct buf data = BUF_INIT, want = BUF_INIT, file = BUF_INIT, plain = BUF_INIT;
	struct buf b = BUF_INIT;
	size_t total = 0, off, *start = calloc(n + 1, sizeof(size_t));
	struct sink *s;
	struct err e;

	assert_non_null(start);
	for (size_t i = 0; i < n; i++)
		total += sizes[i];
	make_rows(&data, total);
	for (size_t i = 0, o = 0; i <= n; o += i < n ? sizes[i] : 0, i++)
		start[i] = o;
	/* What the file must hold. */
	assert_int_equal(buf_adds(&want, head), 0);
	for (size_t seg = 0; seg < n; seg += per_segment) {
		size_t last = seg + per_segment < n ? seg + per_segment : n;

		for (size_t i = last; i-- > seg;)
			assert_int_equal(buf_add(&want, data.data + start[i], sizes[i]), 0);
	}

	snprintf(fx->path, sizeof(fx->path), "%s/out%s", fx->dir, gzip ? ".csv.gz" : ".csv");
	s = open_reverse(fx->path, gzip, NULL);
	assert_int_equal(buf_adds(sink_buf(s), head), 0);
	off = 0;
	for (size_t i = 0; i < n; i++) {
		chunk(s, &b, data.data + off, sizes[i]);
		off += sizes[i];
		if ((i + 1) % per_segment == 0 && i + 1 < n) {
			memset(&e, 0, sizeof(e));
			if (sink_segment_end(s, &e))
				fprintf(stderr, "sink_segment_end: %s\n", e.msg);
			assert_int_equal(e.kind, ERR_NONE);
		}
	}
	assert_int_equal(sink_bytes_in(s), total + strlen(head));
	memset(&e, 0, sizeof(e));
	if (sink_commit(s, &e))
		fprintf(stderr, "sink_commit: %s\n", e.msg);
	assert_int_equal(e.kind, ERR_NONE);
	sink_close(s);
	buf_free(&b);
	read_file(fx->path, &file);
	if (gzip) {
		size_t rest = 99;

		gunzip(&file, &plain, &rest);
		assert_int_equal(rest, 0);
	} else {
		plain.len = 0;
		assert_int_equal(buf_add(&plain, file.data, file.len), 0);
	}
	assert_int_equal(plain.len, want.len);
	assert_memory_equal(plain.data, want.data, want.len);
	/* Only the target is left: the spool was anonymous. */
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);
	unlink(fx->path);
	free(start);
	buf_free(&data);
	buf_free(&want);
	buf_free(&file);
	buf_free(&plain);
}

static const size_t small_chunks[] = { 10, 1, 200, 33, 4096 };
static const size_t big_chunks[] = { 3u << 20, 1, 700000, 0, 2u << 20, 5 };

static void test_reverse_plain(void **state)
{
	reverse_round_trip(*state, 0, small_chunks, 5, 5, "unique,message\r\n");
}

static void test_reverse_plain_large(void **state)
{
	reverse_round_trip(*state, 0, big_chunks, 6, 6, "\xEF\xBB\xBFunique\r\n");
}

static void test_reverse_gzip(void **state)
{
	reverse_round_trip(*state, 1, small_chunks, 5, 5, "unique,message\r\n");
}

static void test_reverse_gzip_large(void **state)
{
	reverse_round_trip(*state, 1, big_chunks, 6, 6, "h\r\n");
}

static void test_reverse_gzip_no_head(void **state)
{
	reverse_round_trip(*state, 1, small_chunks, 5, 5, "");
}

static void test_reverse_empty(void **state)
{
	reverse_round_trip(*state, 1, NULL, 0, 1, "");
	reverse_round_trip(*state, 0, NULL, 0, 1, "head\r\n");
	reverse_round_trip(*state, 1, NULL, 0, 1, "head\r\n");
}

/* Segments (one per --to contact) are each reversed, in order. */
static void test_reverse_segments(void **state)
{
	reverse_round_trip(*state, 0, small_chunks, 5, 2, "H\r\n");
	reverse_round_trip(*state, 1, small_chunks, 5, 2, "H\r\n");
	reverse_round_trip(*state, 1, big_chunks, 6, 3, "H\r\n");
}

/* Two segments of one 8-byte chunk each: the second must not vanish silently. */
static void test_reverse_segments_small(void **state)
{
	struct fx *fx = *state;
	struct buf b = BUF_INIT, got = BUF_INIT;
	struct sink *s = open_reverse(fx->path, 0, NULL);
	struct err e;

	assert_int_equal(buf_adds(sink_buf(s), "H\n"), 0);
	chunk(s, &b, "AAAAAAA\n", 8);
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_segment_end(s, &e), 0);
	chunk(s, &b, "BBBBBBB\n", 8);
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_commit(s, &e), 0);
	sink_close(s);
	read_file(fx->path, &got);
	if (got.len != 18)
		fprintf(stderr, "file holds '%.*s'\n", (int)got.len, got.data);
	assert_int_equal(got.len, 18);
	assert_memory_equal(got.data, "H\nAAAAAAA\nBBBBBBB\n", 18);
	buf_free(&b);
	buf_free(&got);
}

/* The count of bytes handed in still holds the head after the commit (summary, metrics). */
static void test_reverse_bytes_in_after_commit(void **state)
{
	struct fx *fx = *state;
	struct buf b = BUF_INIT;
	struct sink *s = open_reverse(fx->path, 1, NULL);
	struct err e;
	unsigned long long before;

	assert_int_equal(buf_adds(sink_buf(s), "unique,message\r\n"), 0);
	chunk(s, &b, "a,1\r\n", 5);
	chunk(s, &b, "b,2\r\n", 5);
	before = sink_bytes_in(s);
	assert_int_equal(before, 16 + 10);
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_commit(s, &e), 0);
	assert_int_equal(sink_bytes_in(s), before);
	sink_close(s);
	buf_free(&b);
}

static void test_reverse_close_without_commit(void **state)
{
	struct fx *fx = *state;
	struct buf data = BUF_INIT, b = BUF_INIT, got = BUF_INIT;
	struct sink *s;

	write_file(fx->path, "precious\n", 0644);
	make_rows(&data, 2u << 20);
	s = open_reverse(fx->path, 1, NULL);
	chunk(s, &b, data.data, data.len);
	chunk(s, &b, data.data, 1000);
	sink_close(s);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 9);
	assert_memory_equal(got.data, "precious\n", 9);
	assert_int_equal(count_entries(fx->dir, NULL, 0), 1);
	buf_free(&data);
	buf_free(&b);
	buf_free(&got);
}

static void test_reverse_dev_full(void **state)
{
	struct buf data = BUF_INIT, b = BUF_INIT;
	struct fx *fx = *state;

	need_dev_full();
	make_rows(&data, 1u << 20);
	for (int gzip = 0; gzip <= 1; gzip++) {
		struct sink *s = open_reverse("/dev/full", gzip, fx->dir);
		struct err e;

		assert_int_equal(buf_adds(sink_buf(s), "head\r\n"), 0);
		chunk(s, &b, data.data, data.len);
		memset(&e, 0, sizeof(e));
		assert_int_equal(sink_commit(s, &e), -1);
		assert_int_equal(e.kind, ERR_IO);
		assert_int_equal(e.errnum, ENOSPC);
		sink_close(s);
	}
	/* The spool in fx->dir was anonymous. */
	assert_int_equal(count_entries(fx->dir, NULL, 0), 0);
	buf_free(&data);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_makes_file_visible, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_file_mode_ignores_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_existing_target_keeps_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_without_commit_leaves_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_large_crosses_worker, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gzip_large_via_sink_buf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_plain_past_flush_steps_in_chunks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finish_then_publish, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symlinked_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_full_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_full_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dev_full_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_gzip_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_plain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_plain_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_gzip_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_gzip_no_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_segments_small, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_bytes_in_after_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_close_without_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reverse_dev_full, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
