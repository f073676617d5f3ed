/*
 * order: chunks spooled to an unlinked file and replayed last first
 * (order.h). Nothing may appear in the spool's directory; chunks keep their
 * CRC and raw length; a replay empties the order for the next segment.
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
#include <sys/mount.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "gz.h"
#include "order.h"
#include "sink.h"

struct fx {
	char dir[256];
	char mnt[256]; /* a small tmpfs, when a test mounted one */
	struct order *o;
};

/* What a replay gave: the chunks one after another, and their tails. */
struct seen {
	struct buf bytes;
	size_t chunks;
	uint32_t crc[64];
	unsigned long long raw[64];
	size_t fail_at; /* emit fails at this chunk (0: never) */
};

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct err e;

	if (!fx || testdir_make(fx->dir, sizeof(fx->dir), "test_order") ||
	    order_open(&fx->o, fx->dir, &e))
		return -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	order_close(fx->o);
	if (fx->mnt[0]) {
		umount2(fx->mnt, MNT_DETACH);
		testdir_remove(fx->mnt);
	}
	testdir_remove(fx->dir);
	free(fx);
	return 0;
}

static int collect(void *ctx, const void *p, size_t n, uint32_t crc, unsigned long long raw_len,
		   struct err *e)
{
	struct seen *s = ctx;

	if (s->fail_at && s->chunks + 1 == s->fail_at)
		return err_set(e, ERR_IO, "emit failed on purpose");
	if (s->chunks < 64) {
		s->crc[s->chunks] = crc;
		s->raw[s->chunks] = raw_len;
	}
	s->chunks++;
	return buf_add(&s->bytes, p, n) ? err_nomem(e) : 0;
}

/* Chunk i is `size` bytes of the letter 'a' + i % 26, a distinct line. */
static void fill(struct buf *b, size_t i, size_t size)
{
	b->len = 0;
	assert_int_equal(buf_reserve(b, size), 0);
	memset(b->data, 'a' + (int)(i % 26), size);
	b->len = size;
}

static void test_empty_replay(void **state)
{
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 0 };
	struct err e;

	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(s.chunks, 0);
	assert_int_equal(count_entries(fx->dir), 0);
}

/* Small and large chunks (the large ones skip the write buffer) come back last first. */
static void test_last_first(void **state)
{
	static const size_t sizes[] = { 10, 1, 0, 200000, 33, 3u << 20, 4096, 5 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 0 };
	struct buf chunk = BUF_INIT, want = BUF_INIT;
	struct err e;

	for (size_t i = 0; i < N; i++) {
		fill(&chunk, i, sizes[i]);
		assert_int_equal(order_add(fx->o, chunk.data, chunk.len, (uint32_t)(1000 + i),
					   7ull * i + (5ull << 32), &e),
				 0);
	}
	/* The spool is anonymous: nothing shows in its directory. */
	assert_int_equal(count_entries(fx->dir), 0);
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(s.chunks, N);
	for (size_t i = N; i-- > 0;) {
		fill(&chunk, i, sizes[i]);
		assert_int_equal(buf_add(&want, chunk.data, chunk.len), 0);
		assert_int_equal(s.crc[N - 1 - i], 1000 + i);
		assert_int_equal(s.raw[N - 1 - i], 7ull * i + (5ull << 32));
	}
	assert_int_equal(s.bytes.len, want.len);
	assert_memory_equal(s.bytes.data, want.data, want.len);
	buf_free(&s.bytes);
	buf_free(&chunk);
	buf_free(&want);
}

/*
 * The replay reads the spool backwards a block (256 KiB) at a time: chunks
 * and tails that straddle a block's start, and chunks larger than a block,
 * come back whole and in order.
 */
static void test_chunks_across_blocks(void **state)
{
	enum { N = 60 };
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 0 };
	struct buf chunk = BUF_INIT, want = BUF_INIT;
	struct err e;
	size_t size[N];

	for (size_t i = 0; i < N; i++) {
		size[i] = i % 7 == 3 ? (1u << 20) + 17 * i : 1 + (i * 104729u) % 250000u;
		fill(&chunk, i, size[i]);
		chunk.data[0] = (char)i; /* chunks of one letter still differ */
		assert_int_equal(order_add(fx->o, chunk.data, chunk.len, (uint32_t)i, size[i], &e),
				 0);
	}
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(s.chunks, N);
	for (size_t i = N; i-- > 0;) {
		fill(&chunk, i, size[i]);
		chunk.data[0] = (char)i;
		assert_int_equal(buf_add(&want, chunk.data, chunk.len), 0);
		assert_int_equal(s.crc[N - 1 - i], i);
		assert_int_equal(s.raw[N - 1 - i], size[i]);
	}
	assert_int_equal(s.bytes.len, want.len);
	assert_memory_equal(s.bytes.data, want.data, want.len);
	buf_free(&s.bytes);
	buf_free(&chunk);
	buf_free(&want);
}

/* A replay empties the order: the next segment replays only its own chunks. */
static void test_segments(void **state)
{
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 0 };
	struct err e;

	assert_int_equal(order_add(fx->o, "1\n", 2, 0, 2, &e), 0);
	assert_int_equal(order_add(fx->o, "2\n", 2, 0, 2, &e), 0);
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(order_add(fx->o, "3\n", 2, 0, 2, &e), 0);
	assert_int_equal(order_add(fx->o, "4\n", 2, 0, 2, &e), 0);
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(s.chunks, 4);
	assert_int_equal(s.bytes.len, 8);
	assert_memory_equal(s.bytes.data, "2\n1\n4\n3\n", 8);
	buf_free(&s.bytes);
}

/* Many small chunks: written in batches, all replayed. */
static void test_many_chunks(void **state)
{
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 0 };
	struct err e;
	char line[32];

	for (int i = 0; i < 100000; i++) {
		int k = snprintf(line, sizeof(line), "%d\n", i);

		assert_int_equal(order_add(fx->o, line, (size_t)k, 0, (unsigned long long)k, &e),
				 0);
	}
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), 0);
	assert_int_equal(s.chunks, 100000);
	assert_int_equal(memcmp(s.bytes.data, "99999\n99998\n", 12), 0);
	assert_int_equal(memcmp(s.bytes.data + s.bytes.len - 4, "1\n0\n", 4), 0);
	buf_free(&s.bytes);
}

static void test_emit_error_stops(void **state)
{
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 2 };
	struct err e;

	assert_int_equal(order_add(fx->o, "a", 1, 0, 1, &e), 0);
	assert_int_equal(order_add(fx->o, "b", 1, 0, 1, &e), 0);
	assert_int_equal(order_add(fx->o, "c", 1, 0, 1, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(order_replay(fx->o, NULL, collect, &s, &e), -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_string_equal(e.msg, "emit failed on purpose");
	assert_int_equal(s.chunks, 1);
	buf_free(&s.bytes);
}

/* A signal during a replay (a long history, oldest first) ends it at the next chunk. */
static void test_stop_ends_replay(void **state)
{
	struct fx *fx = *state;
	struct seen s = { BUF_INIT, 0, { 0 }, { 0 }, 0 };
	volatile int stop = 1;
	struct err e;

	assert_int_equal(order_add(fx->o, "a", 1, 0, 1, &e), 0);
	assert_int_equal(order_add(fx->o, "b", 1, 0, 1, &e), 0);
	memset(&e, 0, sizeof(e));
	assert_int_equal(order_replay(fx->o, &stop, collect, &s, &e), -1);
	assert_int_equal(e.kind, ERR_INTERRUPTED);
	assert_int_equal(s.chunks, 0);
	buf_free(&s.bytes);
}

/* No directory given: $TMPDIR. A directory that is not there: 73. */
static void test_open_dirs(void **state)
{
	struct fx *fx = *state;
	struct order *o = NULL;
	char *old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	char missing[300];
	struct err e;

	assert_int_equal(setenv("TMPDIR", fx->dir, 1), 0);
	assert_int_equal(order_open(&o, NULL, &e), 0);
	assert_int_equal(order_add(o, "x", 1, 0, 1, &e), 0);
	order_close(o);
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	assert_int_equal(count_entries(fx->dir), 0);
	snprintf(missing, sizeof(missing), "%s/missing", fx->dir);
	memset(&e, 0, sizeof(e));
	assert_int_equal(order_open(&o, missing, &e), -1);
	assert_null(o);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, missing));
	/* Given a directory (the output's), TMPDIR has no say: the message says so. */
	assert_non_null(strstr(e.msg, "kept beside the output"));
	assert_null(strstr(e.msg, "TMPDIR"));
	old = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
	assert_int_equal(setenv("TMPDIR", missing, 1), 0);
	assert_int_equal(order_open(&o, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "TMPDIR chooses the directory"));
	if (old)
		setenv("TMPDIR", old, 1);
	else
		unsetenv("TMPDIR");
	free(old);
	order_close(NULL);
}

/* A full file system under the spool: exit 74, naming the directory. */
static void test_full_spool(void **state)
{
	struct fx *fx = *state;
	struct order *o = NULL;
	struct buf chunk = BUF_INIT;
	struct err e;
	int rc = 0;

	assert_int_equal(testdir_make(fx->mnt, sizeof(fx->mnt), "test_order_tmpfs"), 0);
	if (mount("tmpfs", fx->mnt, "tmpfs", 0, "size=1m")) {
		testdir_remove(fx->mnt);
		fx->mnt[0] = '\0';
		skip();
	}
	assert_int_equal(order_open(&o, fx->mnt, &e), 0);
	fill(&chunk, 0, 100000);
	memset(&e, 0, sizeof(e));
	for (int i = 0; i < 40 && !rc; i++)
		rc = order_add(o, chunk.data, chunk.len, 0, chunk.len, &e);
	order_close(o);
	assert_int_equal(rc, -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_int_equal(e.errnum, ENOSPC);
	assert_non_null(strstr(e.msg, fx->mnt));
	assert_int_equal(count_entries(fx->mnt), 0);
	buf_free(&chunk);
}

static int to_out(void *ctx, const void *p, size_t n, uint32_t crc, unsigned long long raw_len,
		  struct err *e)
{
	return sink_write_deflated(ctx, p, n, crc, raw_len, e);
}

/*
 * The lead's use: pages deflated as they come (newest first), spooled, and
 * replayed into one gzip output: the file reads as the pages oldest first.
 */
static void test_deflated_pages_into_gzip_output(void **state)
{
	struct fx *fx = *state;
	struct gz_deflater *d = NULL;
	struct buf page = BUF_INIT, z = BUF_INIT, want = BUF_INIT, file = BUF_INIT,
		   plain = BUF_INIT;
	struct sink_opts oo = { .path = NULL, .gzip = 1, .level = 6 };
	struct sink *s = NULL;
	char path[300];
	struct err e;
	z_stream zs;

	snprintf(path, sizeof(path), "%s/out.csv.gz", fx->dir);
	oo.path = path;
	assert_int_equal(gz_deflater_new(&d, 6, &e), 0);
	assert_int_equal(sink_open(&s, &oo, &e), 0);
	assert_int_equal(sink_write(s, "unique,message\r\n", 16, &e), 0);
	for (int i = 0; i < 50; i++) {
		uint32_t crc;

		fill(&page, (size_t)i, 1000 + 37 * (size_t)i);
		z.len = 0;
		assert_int_equal(gz_deflate_chunk(d, page.data, page.len, &z, &crc, &e), 0);
		assert_int_equal(order_add(fx->o, z.data, z.len, crc, page.len, &e), 0);
	}
	assert_int_equal(order_replay(fx->o, NULL, to_out, s, &e), 0);
	assert_int_equal(sink_commit(s, &e), 0);
	sink_close(s);
	assert_int_equal(buf_adds(&want, "unique,message\r\n"), 0);
	for (int i = 50; i-- > 0;) {
		fill(&page, (size_t)i, 1000 + 37 * (size_t)i);
		assert_int_equal(buf_add(&want, page.data, page.len), 0);
	}
	{
		int fd = open(path, O_RDONLY);
		char tmp[65536];
		ssize_t r;

		assert_true(fd >= 0);
		while ((r = read(fd, tmp, sizeof(tmp))) > 0)
			assert_int_equal(buf_add(&file, tmp, (size_t)r), 0);
		close(fd);
	}
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	assert_int_equal(buf_reserve(&plain, want.len + 1), 0);
	zs.next_in = (unsigned char *)file.data;
	zs.avail_in = (uInt)file.len;
	zs.next_out = (unsigned char *)plain.data;
	zs.avail_out = (uInt)(want.len + 1);
	assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
	assert_int_equal(zs.total_out, want.len);
	assert_int_equal(zs.avail_in, 0);
	inflateEnd(&zs);
	assert_memory_equal(plain.data, want.data, want.len);
	gz_deflater_free(d);
	buf_free(&page);
	buf_free(&z);
	buf_free(&want);
	buf_free(&file);
	buf_free(&plain);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_empty_replay),
		T(test_last_first),
		T(test_segments),
		T(test_many_chunks),
		T(test_chunks_across_blocks),
		T(test_emit_error_stops),
		T(test_stop_ends_replay),
		T(test_open_dirs),
		T(test_full_spool),
		T(test_deflated_pages_into_gzip_output),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
