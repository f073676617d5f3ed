/*
 * decode: an answer's Content-Encoding undone as its bytes arrive
 * (decode.h). Streams made by zlib here, fed in pieces as libcurl hands
 * them on, must come back byte for byte; a call never adds more than its
 * max, and deflate's largest ratio stays within DECODE_BOUND.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "buf.h"
#include "decode.h"
#include "testgz.h"

/* in compressed with zlib: wbits 16 + 15 gzip, 15 the zlib format, -15 raw deflate. */
static void compress_as(const struct buf *in, int wbits, int level, struct buf *out)
{
	z_stream z;

	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, wbits, 9, Z_DEFAULT_STRATEGY), Z_OK);
	out->len = 0;
	assert_int_equal(buf_reserve(out, deflateBound(&z, in->len)), 0);
	z.next_in = (Bytef *)in->data;
	z.avail_in = (uInt)in->len;
	z.next_out = (Bytef *)out->data;
	z.avail_out = (uInt)(out->cap);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	out->len = z.total_out;
	deflateEnd(&z);
}

/* Feed enc to a decode of kind in pieces of `piece` bytes; 0 or decode_more's first non-0. */
static int feed(struct decode *d, enum decode_kind kind, const struct buf *enc, size_t piece,
		struct buf *out, const char **why)
{
	assert_int_equal(decode_start(d, kind), 0);
	out->len = 0;
	for (size_t at = 0; at < enc->len; at += piece) {
		size_t n = enc->len - at < piece ? enc->len - at : piece;
		int rc = decode_more(d, enc->data + at, n, out, DECODE_BOUND(n), why);

		if (rc)
			return rc;
	}
	return 0;
}

static void test_kinds(void **state)
{
	const enum decode_kind none = DECODE_IDENTITY;

	(void)state;
	assert_int_equal(decode_kind_add(none, NULL), DECODE_IDENTITY);
	assert_int_equal(decode_kind_add(none, ""), DECODE_IDENTITY);
	assert_int_equal(decode_kind_add(none, "\r"), DECODE_IDENTITY); /* libcurl's empty value */
	assert_int_equal(decode_kind_add(none, "identity"), DECODE_IDENTITY);
	assert_int_equal(decode_kind_add(none, "gzip"), DECODE_GZIP);
	assert_int_equal(decode_kind_add(none, " GZip \t"), DECODE_GZIP);
	assert_int_equal(decode_kind_add(none, "x-gzip"), DECODE_GZIP);
	assert_int_equal(decode_kind_add(none, "deflate"), DECODE_DEFLATE);
	assert_int_equal(decode_kind_add(none, "gzip, identity"), DECODE_GZIP);
	assert_int_equal(decode_kind_add(none, "identity,deflate,"), DECODE_DEFLATE);
	assert_int_equal(decode_kind_add(none, "br"), DECODE_OTHER);
	assert_int_equal(decode_kind_add(none, "zstd"), DECODE_OTHER);
	assert_int_equal(decode_kind_add(none, "gzip, br"), DECODE_OTHER);
	assert_int_equal(decode_kind_add(none, "gzip, gzip"), DECODE_OTHER); /* applied twice */
	assert_int_equal(decode_kind_add(none, "gzip gzip"), DECODE_OTHER);
	assert_int_equal(decode_kind_add(none, "gzipx"), DECODE_OTHER);
	/* One header after another, as an answer may send them. */
	assert_int_equal(decode_kind_add(decode_kind_add(none, "identity"), "identity"),
			 DECODE_IDENTITY);
	assert_int_equal(decode_kind_add(decode_kind_add(none, "gzip"), "identity"), DECODE_GZIP);
	assert_int_equal(decode_kind_add(decode_kind_add(none, "gzip"), "gzip"), DECODE_OTHER);
}

/* gzip, zlib and raw deflate, in pieces of 1 byte up to all at once: the same bytes back. */
static void test_round_trip_in_any_pieces(void **state)
{
	static const struct {
		int wbits;
		enum decode_kind kind;
	} forms[] = { { 16 + 15, DECODE_GZIP },
		      { 15, DECODE_DEFLATE },
		      { -15, DECODE_DEFLATE },
		      { 15,
			DECODE_GZIP } }; /* zlib labelled gzip: libcurl read it, servers send it */
	static const size_t pieces[] = { 1, 7, 1024, 16384, 1 << 30 };
	struct buf plain = BUF_INIT, enc = BUF_INIT, out = BUF_INIT;
	struct decode d = { 0 };
	const char *why = NULL;

	(void)state;
	make_rows(&plain, 200000, 3);
	for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
		compress_as(&plain, forms[f].wbits, 6, &enc);
		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			assert_int_equal(feed(&d, forms[f].kind, &enc, pieces[p], &out, &why), 0);
			assert_true(decode_complete(&d));
			assert_int_equal(out.len, plain.len);
			assert_memory_equal(out.data, plain.data, plain.len);
		}
	}
	decode_end(&d);
	buf_free(&plain);
	buf_free(&enc);
	buf_free(&out);
}

/* Members one after another are one answer; bytes after the last that begin none are ignored. */
static void test_gzip_members_and_trailing_bytes(void **state)
{
	struct buf a = BUF_INIT, b = BUF_INIT, enc = BUF_INIT, one = BUF_INIT, out = BUF_INIT;
	struct decode d = { 0 };
	const char *why = NULL;

	(void)state;
	make_rows(&a, 5000, 1);
	make_rows(&b, 7000, 2);
	compress_as(&a, 31, 6, &one);
	assert_int_equal(buf_add(&enc, one.data, one.len), 0);
	compress_as(&b, 31, 6, &one);
	assert_int_equal(buf_add(&enc, one.data, one.len), 0);
	assert_int_equal(buf_add(&enc, "\0\0\n", 3), 0);
	assert_int_equal(feed(&d, DECODE_GZIP, &enc, 100, &out, &why), 0);
	assert_true(decode_complete(&d));
	assert_int_equal(out.len, a.len + b.len);
	assert_memory_equal(out.data, a.data, a.len);
	assert_memory_equal(out.data + a.len, b.data, b.len);
	decode_end(&d);
	buf_free(&a);
	buf_free(&b);
	buf_free(&enc);
	buf_free(&one);
	buf_free(&out);
}

/* A stream cut short is not complete; one with a broken byte says why. */
static void test_cut_and_corrupt(void **state)
{
	struct buf plain = BUF_INIT, enc = BUF_INIT, out = BUF_INIT;
	struct decode d = { 0 };
	const char *why = NULL;

	(void)state;
	make_rows(&plain, 50000, 4);
	compress_as(&plain, 31, 6, &enc);
	enc.len -= 9;
	assert_int_equal(feed(&d, DECODE_GZIP, &enc, 4096, &out, &why), 0);
	assert_false(decode_complete(&d));
	enc.len += 9;
	enc.data[enc.len / 2] ^= 0x55;
	enc.data[enc.len / 2 + 1] ^= 0xaa;
	assert_int_not_equal(feed(&d, DECODE_GZIP, &enc, 4096, &out, &why), 0);
	assert_non_null(why);
	assert_int_equal(feed(&d, DECODE_GZIP, &plain, 4096, &out, &why), -1); /* not gzip */
	/* What was never started, or is not compressed, is complete. */
	assert_int_equal(decode_start(&d, DECODE_IDENTITY), 0);
	assert_true(decode_complete(&d));
	decode_end(&d);
	buf_free(&plain);
	buf_free(&enc);
	buf_free(&out);
}

/*
 * deflate's largest ratio, zeros at level 9, stays within DECODE_BOUND for
 * every read size; with a smaller max a call stops there and says so.
 */
static void test_bound_and_max(void **state)
{
	static const size_t pieces[] = { 1, 2, 100, 1024, 16384 };
	struct buf zeros = BUF_INIT, enc = BUF_INIT, out = BUF_INIT;
	struct decode d = { 0 };
	const char *why = NULL;

	(void)state;
	assert_int_equal(buf_reserve(&zeros, 64u << 20), 0);
	memset(zeros.data, 0, 64u << 20);
	zeros.len = 64u << 20;
	for (int wbits = 15; wbits <= 31; wbits += 16) {
		compress_as(&zeros, wbits, 9, &enc);
		assert_true(enc.len * 1000 < zeros.len); /* a ratio near deflate's largest */
		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			assert_int_equal(feed(&d, wbits == 31 ? DECODE_GZIP : DECODE_DEFLATE, &enc,
					      pieces[p], &out, &why),
					 0);
			assert_int_equal(out.len, zeros.len);
		}
	}
	assert_int_equal(decode_start(&d, DECODE_GZIP), 0);
	out.len = 0;
	assert_int_equal(decode_more(&d, enc.data, enc.len, &out, 1000, &why), 1);
	assert_int_equal(out.len, 1000);
	decode_end(&d);
	buf_free(&zeros);
	buf_free(&enc);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_round_trip_in_any_pieces),
		cmocka_unit_test(test_gzip_members_and_trailing_bytes),
		cmocka_unit_test(test_cut_and_corrupt),
		cmocka_unit_test(test_bound_and_max),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
