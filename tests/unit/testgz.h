/*
 * testgz: what the unit tests of compressed output share — deterministic
 * rows to compress, and an inflate of one gzip member. Include after
 * cmocka.h, buf.h and zlib.h.
 */
#ifndef WAEXPORT_TESTGZ_H
#define WAEXPORT_TESTGZ_H

#include <stdio.h>
#include <string.h>

/* Deterministic rows, n bytes in all; seed varies the text. */
static inline void make_rows(struct buf *b, size_t n, unsigned long seed)
{
	unsigned long x = seed;

	b->len = 0;
	assert_int_equal(buf_reserve(b, n), 0);
	while (b->len < n) {
		char row[128];
		int k;

		x = x * 1103515245 + 12345;
		k = snprintf(row, sizeof(row), "%zu,message %lu \xD7\xA9,%lx\r\n", b->len,
			     x % 100000, x);
		if ((size_t)k > n - b->len)
			k = (int)(n - b->len);
		memcpy(b->data + b->len, row, (size_t)k);
		b->len += (size_t)k;
	}
}

/* Inflate one gzip member starting at *at; *at moves past it. */
static inline void gunzip_member(const struct buf *gz, size_t *at, struct buf *out)
{
	z_stream z;
	int zr;

	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
	z.next_in = (unsigned char *)gz->data + *at;
	z.avail_in = (uInt)(gz->len - *at);
	out->len = 0;
	do {
		assert_int_equal(buf_reserve(out, 1u << 16), 0);
		z.next_out = (unsigned char *)buf_tail(out);
		z.avail_out = 1u << 16;
		zr = inflate(&z, Z_NO_FLUSH);
		assert_true(zr == Z_OK || zr == Z_STREAM_END);
		out->len += (1u << 16) - z.avail_out;
	} while (zr != Z_STREAM_END);
	*at = gz->len - z.avail_in;
	inflateEnd(&z);
}

#endif
