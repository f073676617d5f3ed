/*
 * gz: gzip members from chunks deflated on their own (gz.h). Chunks joined
 * in any order must make one member that zlib's inflate, gzip -t and
 * Python's gzip read back; two deflaters in two threads share nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "gz.h"
#include "testgz.h"

/* Inflate one gzip member from gz; *rest gets the bytes left after it. */
static void gunzip(const struct buf *gz, struct buf *out, size_t *rest)
{
	size_t at = 0;

	gunzip_member(gz, &at, out);
	*rest = gz->len - at;
}

static struct gz_deflater *deflater(int level)
{
	struct gz_deflater *d = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(gz_deflater_new(&d, level, &e), 0);
	assert_non_null(d);
	return d;
}

/* Write b to a file in a scratch dir, run cmd (with %s for the file), return its status. */
static int run_on_file(const struct buf *b, const char *cmd_fmt)
{
	char dir[256], path[300], cmd[1024];
	int fd, rc;

	assert_int_equal(testdir_make(dir, sizeof(dir), "test_gz"), 0);
	snprintf(path, sizeof(path), "%s/f.gz", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b->data, b->len), (ssize_t)b->len);
	assert_int_equal(close(fd), 0);
	snprintf(cmd, sizeof(cmd), cmd_fmt, path, path);
	rc = system(cmd);
	testdir_remove(dir);
	return rc;
}

static void test_member_header_is_fixed(void **state)
{
	static const unsigned char want[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	struct buf b = BUF_INIT;

	(void)state;
	assert_int_equal(gz_member_header(&b), 0);
	assert_int_equal(b.len, 10);
	assert_memory_equal(b.data, want, 10);
	buf_free(&b);
}

/* No chunks at all: header and trailer make a valid empty member. */
static void test_empty_member(void **state)
{
	struct gz_deflater *d = deflater(6);
	struct buf gz = BUF_INIT, plain = BUF_INIT;
	struct err e;
	uint32_t crc = 99;
	size_t rest = 99;

	(void)state;
	assert_int_equal(gz_member_header(&gz), 0);
	assert_int_equal(gz_deflate_chunk(d, "", 0, &gz, &crc, &e), 0);
	assert_int_equal(crc, 0);
	assert_int_equal(gz.len, 10);
	assert_int_equal(gz_member_trailer(&gz, 0, 0), 0);
	gunzip(&gz, &plain, &rest);
	assert_int_equal(rest, 0);
	assert_int_equal(plain.len, 0);
	assert_int_equal(run_on_file(&gz, "gzip -t %s"), 0);
	gz_deflater_free(d);
	buf_free(&gz);
	buf_free(&plain);
}

static void test_crc_combine(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT, ab = BUF_INIT;

	(void)state;
	make_rows(&a, 1000, 1);
	make_rows(&b, 77777, 2);
	assert_int_equal(buf_add(&ab, a.data, a.len), 0);
	assert_int_equal(buf_add(&ab, b.data, b.len), 0);
	assert_int_equal(gz_crc_combine(gz_crc(0, a.data, a.len), gz_crc(0, b.data, b.len), b.len),
			 (uint32_t)crc32(0, (const Bytef *)ab.data, (uInt)ab.len));
	assert_int_equal(gz_crc(gz_crc(0, a.data, a.len), b.data, b.len),
			 gz_crc(0, ab.data, ab.len));
	assert_int_equal(gz_crc_combine(7, 0, 0), 7);
	buf_free(&a);
	buf_free(&b);
	buf_free(&ab);
}

/*
 * The pigz property: chunks deflated one by one with the same deflater,
 * joined last first, decompress to the chunks' text last first, with the
 * CRC joined by gz_crc_combine, for inflate, gzip -t and Python alike.
 */
static void test_chunks_joined_in_reverse(void **state)
{
	static const size_t sizes[] = { 10, 1, 200000, 33, 0, 4096, 3u << 20, 5 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct gz_deflater *d = deflater(6);
	struct buf text = BUF_INIT, want = BUF_INIT, chunk[N], gz = BUF_INIT, plain = BUF_INIT;
	size_t start[N + 1] = { 0 }, rest = 99;
	uint32_t crc[N], all = 0;
	unsigned long long isize = 0;
	char cmd[512];
	struct err e;

	(void)state;
	for (size_t i = 0; i < N; i++)
		start[i + 1] = start[i] + sizes[i];
	/* Rows repeat their words, so deflate would refer back across chunks if it could. */
	make_rows(&text, start[N], 5);
	for (size_t i = 0; i < N; i++) {
		chunk[i] = (struct buf)BUF_INIT;
		assert_int_equal(gz_deflate_chunk(d, text.data + start[i], sizes[i], &chunk[i],
						  &crc[i], &e),
				 0);
	}
	assert_int_equal(chunk[4].len, 0);
	assert_int_equal(gz_member_header(&gz), 0);
	for (size_t i = N; i-- > 0;) {
		assert_int_equal(buf_add(&gz, chunk[i].data, chunk[i].len), 0);
		assert_int_equal(buf_add(&want, text.data + start[i], sizes[i]), 0);
		all = gz_crc_combine(all, crc[i], sizes[i]);
		isize += sizes[i];
	}
	assert_int_equal(gz_member_trailer(&gz, all, isize), 0);
	gunzip(&gz, &plain, &rest);
	assert_int_equal(rest, 0);
	assert_int_equal(plain.len, want.len);
	assert_memory_equal(plain.data, want.data, want.len);
	assert_int_equal(run_on_file(&gz, "gzip -t %s"), 0);
	/* Python's reader checks the CRC and length too; compare its output with gzip's. */
	snprintf(
		cmd, sizeof(cmd),
		"/usr/bin/python3 -c 'import gzip,sys,subprocess;"
		"a=gzip.open(sys.argv[1]).read();"
		"b=subprocess.run([\"gzip\",\"-dc\",sys.argv[1]],capture_output=True,check=True).stdout;"
		"sys.exit(0 if a==b and len(a)==%zu else 1)' %%s",
		want.len);
	assert_int_equal(run_on_file(&gz, cmd), 0);
	for (size_t i = 0; i < N; i++)
		buf_free(&chunk[i]);
	gz_deflater_free(d);
	buf_free(&text);
	buf_free(&want);
	buf_free(&gz);
	buf_free(&plain);
}

/* A chunk's bytes do not depend on what the deflater compressed before. */
static void test_chunk_independent_of_history(void **state)
{
	struct gz_deflater *d = deflater(6), *fresh = deflater(6);
	struct buf text = BUF_INIT, a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;
	uint32_t ca, cb, cc;
	struct err e;

	(void)state;
	make_rows(&text, 100000, 9);
	assert_int_equal(gz_deflate_chunk(d, text.data, 60000, &a, &ca, &e), 0);
	assert_int_equal(gz_deflate_chunk(d, text.data + 50000, 50000, &b, &cb, &e), 0);
	assert_int_equal(gz_deflate_chunk(fresh, text.data + 50000, 50000, &c, &cc, &e), 0);
	assert_int_equal(cb, cc);
	assert_int_equal(b.len, c.len);
	assert_memory_equal(b.data, c.data, b.len);
	/* Byte-aligned and not final: a sync flush ends in an empty stored block. */
	assert_true(b.len >= 4);
	assert_memory_equal(b.data + b.len - 4, "\x00\x00\xff\xff", 4);
	gz_deflater_free(d);
	gz_deflater_free(fresh);
	buf_free(&text);
	buf_free(&a);
	buf_free(&b);
	buf_free(&c);
}

/* The streaming calls: one stream cut anywhere, synced at the end, is one member. */
static void test_stream_more_and_reset(void **state)
{
	struct gz_deflater *d = deflater(1);
	struct buf text = BUF_INIT, gz = BUF_INIT, plain = BUF_INIT;
	size_t rest = 99;
	struct err e;

	(void)state;
	make_rows(&text, 500000, 3);
	assert_int_equal(gz_member_header(&gz), 0);
	for (size_t off = 0; off < text.len; off += 7777) {
		size_t k = text.len - off < 7777 ? text.len - off : 7777;

		assert_int_equal(gz_deflate_more(d, text.data + off, k, 0, &gz, &e), 0);
	}
	assert_int_equal(gz_deflate_more(d, NULL, 0, 1, &gz, &e), 0);
	/* A second sync with nothing new is harmless. */
	assert_int_equal(gz_deflate_more(d, NULL, 0, 1, &gz, &e), 0);
	assert_int_equal(gz_deflate_reset(d, &e), 0);
	assert_int_equal(gz_member_trailer(&gz, gz_crc(0, text.data, text.len), text.len), 0);
	gunzip(&gz, &plain, &rest);
	assert_int_equal(rest, 0);
	assert_int_equal(plain.len, text.len);
	assert_memory_equal(plain.data, text.data, text.len);
	gz_deflater_free(d);
	buf_free(&text);
	buf_free(&gz);
	buf_free(&plain);
}

static void test_bad_level(void **state)
{
	struct gz_deflater *d = (struct gz_deflater *)&d;
	struct err e;

	(void)state;
	memset(&e, 0, sizeof(e));
	assert_int_equal(gz_deflater_new(&d, 10, &e), -1);
	assert_null(d);
	assert_int_equal(e.kind, ERR_SOFTWARE);
	assert_int_equal(gz_deflater_new(&d, 0, &e), -1);
	gz_deflater_free(NULL);
}

struct job {
	const struct buf *text;
	struct buf out;
	uint32_t crc;
	int rc;
};

static void *deflate_job(void *arg)
{
	struct job *j = arg;
	struct gz_deflater *d = NULL;
	struct err e;

	j->rc = gz_deflater_new(&d, 6, &e);
	for (int i = 0; !j->rc && i < 3; i++) {
		j->out.len = 0;
		j->rc = gz_deflate_chunk(d, j->text->data, j->text->len, &j->out, &j->crc, &e);
	}
	gz_deflater_free(d);
	return NULL;
}

/* Two deflaters in two threads at once give what one gives alone (run under TSan too). */
static void test_two_threads_share_nothing(void **state)
{
	struct buf text = BUF_INIT;
	struct job jobs[2] = { { &text, BUF_INIT, 0, 0 }, { &text, BUF_INIT, 0, 0 } },
		   alone = jobs[0];
	pthread_t t[2];

	(void)state;
	make_rows(&text, 1u << 20, 11);
	deflate_job(&alone);
	assert_int_equal(alone.rc, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, deflate_job, &jobs[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(jobs[i].rc, 0);
		assert_int_equal(jobs[i].crc, alone.crc);
		assert_int_equal(jobs[i].out.len, alone.out.len);
		assert_memory_equal(jobs[i].out.data, alone.out.data, alone.out.len);
		buf_free(&jobs[i].out);
	}
	buf_free(&alone.out);
	buf_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member_header_is_fixed),
		cmocka_unit_test(test_empty_member),
		cmocka_unit_test(test_crc_combine),
		cmocka_unit_test(test_chunks_joined_in_reverse),
		cmocka_unit_test(test_chunk_independent_of_history),
		cmocka_unit_test(test_stream_more_and_reset),
		cmocka_unit_test(test_bad_level),
		cmocka_unit_test(test_two_threads_share_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
