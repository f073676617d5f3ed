#include "gz.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/*
 * deflate's counters are 32-bit (uInt): larger inputs go in pieces of this
 * size, and each piece's output room (deflateBound of it) stays far below
 * the limit too.
 */
#define GZ_PIECE (64u << 20)
/* A sync flush adds an empty stored block (5 bytes) to deflateBound's figure. */
#define GZ_FLUSH_ROOM 64u

struct gz_deflater {
	z_stream z;
};

static int zlib_failed(struct err *e, const char *what, int zr)
{
	return err_set(e, ERR_SOFTWARE, "gzip: %s failed (zlib error %d)", what, zr);
}

int gz_deflater_new(struct gz_deflater **out, int level, struct err *e)
{
	struct gz_deflater *d = calloc(1, sizeof(*d));
	int zr;

	*out = NULL;
	if (!d)
		return err_nomem(e);
	if (level < 1 || level > 9) {
		free(d);
		return err_set(e, ERR_SOFTWARE, "gzip: compression level %d is not 1 to 9", level);
	}
	/* Negative window bits: raw deflate, header and trailer are ours. */
	zr = deflateInit2(&d->z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	if (zr != Z_OK) {
		free(d);
		return zr == Z_MEM_ERROR ? err_nomem(e)
					 : zlib_failed(e, "initialising deflate", zr);
	}
	*out = d;
	return 0;
}

void gz_deflater_free(struct gz_deflater *d)
{
	if (!d)
		return;
	deflateEnd(&d->z);
	free(d);
}

/* Run deflate on what next_in/avail_in hold, appending to out until it has all. */
static int pump(z_stream *z, int flush, struct buf *out, struct err *e)
{
	for (;;) {
		uLong room = deflateBound(z, z->avail_in) + GZ_FLUSH_ROOM;
		int zr;

		if (buf_reserve(out, room))
			return err_nomem(e);
		z->next_out = (Bytef *)buf_tail(out);
		z->avail_out = (uInt)room;
		zr = deflate(z, flush);
		out->len += room - z->avail_out;
		/* Z_BUF_ERROR: nothing left to do (a flush with nothing pending). */
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return zlib_failed(e, "deflate", zr);
		/* Room left over means deflate took all input and flushed what was asked. */
		if (z->avail_out)
			return 0;
	}
}

int gz_deflate_more(struct gz_deflater *d, const void *in, size_t n, int sync, struct buf *out,
		    struct err *e)
{
	const Bytef *p = in;

	do {
		size_t k = n < GZ_PIECE ? n : GZ_PIECE;

		d->z.next_in = (Bytef *)p;
		d->z.avail_in = (uInt)k;
		p += k;
		n -= k;
		if (pump(&d->z, n || !sync ? Z_NO_FLUSH : Z_SYNC_FLUSH, out, e))
			return -1;
	} while (n);
	d->z.next_in = NULL;
	return 0;
}

int gz_deflate_reset(struct gz_deflater *d, struct err *e)
{
	int zr = deflateReset(&d->z);

	return zr == Z_OK ? 0 : zlib_failed(e, "resetting deflate", zr);
}

int gz_deflate_chunk(struct gz_deflater *d, const void *in, size_t n, struct buf *out,
		     uint32_t *crc, struct err *e)
{
	*crc = 0;
	if (!n)
		return 0;
	/* The reset is what lets chunks be concatenated in any order. */
	if (gz_deflate_reset(d, e) || gz_deflate_more(d, in, n, 1, out, e))
		return -1;
	*crc = gz_crc(0, in, n);
	return 0;
}

int gz_member_header(struct buf *out)
{
	/* RFC 1952 §2.3: magic, deflate, no flags, mtime 0, no extra flags, OS Unix. */
	static const unsigned char head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };

	return buf_add(out, head, sizeof(head));
}

int gz_member_trailer(struct buf *out, uint32_t crc, unsigned long long isize)
{
	/*
	 * After a sync flush the stream is byte-aligned, so two bytes make a
	 * final fixed-Huffman block holding only end-of-block (BFINAL 1, BTYPE
	 * 01, code 256 = seven zero bits), RFC 1951 §3.2.6.
	 */
	unsigned char t[10] = { 0x03, 0x00 };

	for (int i = 0; i < 4; i++) {
		t[2 + i] = (unsigned char)(crc >> (8 * i));
		t[6 + i] = (unsigned char)(isize >> (8 * i));
	}
	return buf_add(out, t, sizeof(t));
}

uint32_t gz_crc(uint32_t crc, const void *in, size_t n)
{
	return (uint32_t)crc32_z(crc, in, n);
}

uint32_t gz_crc_combine(uint32_t crc_a, uint32_t crc_b, unsigned long long len_b)
{
	return (uint32_t)crc32_combine64(crc_a, crc_b, (z_off64_t)len_b);
}

int gz_member_open(struct gz_member *m, int level, struct buf *out, struct err *e)
{
	memset(m, 0, sizeof(*m));
	if (level < 1 || level > 9)
		return err_set(e, ERR_SOFTWARE, "gzip: compression level %d is not 1 to 9", level);
	m->level = level;
	if (gz_member_header(out))
		return err_nomem(e);
	m->open = 1;
	return 0;
}

int gz_member_write(struct gz_member *m, const void *p, size_t n, struct buf *out, struct err *e)
{
	m->crc = gz_crc(m->crc, p, n);
	m->isize += n;
	if (!n)
		return 0;
	/* Made on first use: an output whose rows all come deflated by the workers needs none. */
	if (!m->z && gz_deflater_new(&m->z, m->level, e))
		return -1;
	m->dirty = 1;
	return gz_deflate_more(m->z, p, n, 0, out, e);
}

/*
 * End the member's own stream byte-aligned and forget its history: bytes
 * deflated later must not refer back across a foreign chunk, whose text
 * sits between them in the output but was never in this stream's window.
 */
static int sync_own_stream(struct gz_member *m, struct buf *out, struct err *e)
{
	if (!m->dirty)
		return 0;
	if (gz_deflate_more(m->z, NULL, 0, 1, out, e) || gz_deflate_reset(m->z, e))
		return -1;
	m->dirty = 0;
	return 0;
}

int gz_member_chunk(struct gz_member *m, const void *z, size_t zlen, uint32_t crc,
		    unsigned long long raw_len, struct buf *out, struct err *e)
{
	if (sync_own_stream(m, out, e))
		return -1;
	if (buf_add(out, z, zlen))
		return err_nomem(e);
	m->crc = gz_crc_combine(m->crc, crc, raw_len);
	m->isize += raw_len;
	return 0;
}

int gz_member_end(struct gz_member *m, struct buf *out, struct err *e)
{
	if (sync_own_stream(m, out, e))
		return -1;
	return gz_member_trailer(out, m->crc, m->isize) ? err_nomem(e) : 0;
}

void gz_member_close(struct gz_member *m)
{
	gz_deflater_free(m->z);
	m->z = NULL;
	m->open = 0;
}
