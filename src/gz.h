/*
 * gz: gzip members built from independently deflated chunks (RFC 1951,
 * RFC 1952), pigz's method. Each worker thread owns a gz_deflater (a raw
 * deflate z_stream kept across chunks to avoid reallocating its 256 KiB);
 * gz_deflate_chunk resets it before every chunk, so a chunk refers to no
 * earlier bytes and ends byte-aligned in a sync flush, never final. Such
 * chunks can be concatenated in any order behind gz_member_header; gz_member_trailer
 * closes the member with a final empty block, the CRC-32 of the whole
 * (joined with gz_crc_combine) and its length.
 *
 * Two deflaters share nothing: each may live in its own thread. The module
 * owns no other state.
 */
#ifndef WAEXPORT_GZ_H
#define WAEXPORT_GZ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct gz_deflater;

/* level 1..9 (zlib's). The caller frees the deflater with gz_deflater_free. */
int gz_deflater_new(struct gz_deflater **out, int level, struct err *e);
void gz_deflater_free(struct gz_deflater *d);

/*
 * Append in[0..n) to out as raw deflate ending in a sync flush (byte-aligned,
 * never final), with no dependency on earlier chunks, so chunks can be
 * concatenated in ANY order; *crc = crc32 of in. n == 0 appends nothing.
 */
int gz_deflate_chunk(struct gz_deflater *d, const void *in, size_t n, struct buf *out,
		     uint32_t *crc, struct err *e);

/*
 * Streaming use of the same deflater (the sink's own plain bytes): continue
 * the stream with in[0..n), appending what deflate gives to out; with sync
 * set, end in a sync flush (nothing buffered, byte-aligned). gz_deflate_reset
 * forgets the history, so what follows refers to nothing before it.
 */
int gz_deflate_more(struct gz_deflater *d, const void *in, size_t n, int sync, struct buf *out,
		    struct err *e);
int gz_deflate_reset(struct gz_deflater *d, struct err *e);

/*
 * (Not gz_header/gz_trailer: zlib.h already defines a type gz_header.)
 * The 10-byte member header: no name, mtime 0, so equal input gives equal
 * bytes. Both return 0, or -1 when out cannot grow (out of memory).
 */
int gz_member_header(struct buf *out);
/* A final empty block, CRC-32 and ISIZE (length mod 2^32), RFC 1952 §2.3.1. */
int gz_member_trailer(struct buf *out, uint32_t crc, unsigned long long isize);

/* CRC-32 of in[0..n) continuing crc (0 to start). */
uint32_t gz_crc(uint32_t crc, const void *in, size_t n);
/* CRC-32 of A followed by B, from the CRCs of both and B's length. */
uint32_t gz_crc_combine(uint32_t crc_a, uint32_t crc_b, unsigned long long len_b);

/*
 * The filter a gzip output writes through: one member, header first, whose
 * plain bytes are deflated here (a stream of the member's own) and whose
 * chunks deflated elsewhere (gz_deflate_chunk) are joined in as they are,
 * under one running CRC and length. Output is appended to a caller's buffer.
 */
struct gz_member {
	int open; /* gz_member_open succeeded */
	int level;
	struct gz_deflater *z; /* the stream for plain bytes, made when the first come */
	int dirty;             /* plain bytes deflated since the last sync flush */
	uint32_t crc;
	unsigned long long isize; /* input bytes so far */
};

/* The member's header into out. */
int gz_member_open(struct gz_member *m, int level, struct buf *out, struct err *e);
/* Plain bytes, deflated into out. */
int gz_member_write(struct gz_member *m, const void *p, size_t n, struct buf *out, struct err *e);
/* A chunk from gz_deflate_chunk of raw_len input bytes with that CRC: appended to out as is. */
int gz_member_chunk(struct gz_member *m, const void *z, size_t zlen, uint32_t crc,
		    unsigned long long raw_len, struct buf *out, struct err *e);
/* The final empty block, CRC-32 and ISIZE into out. */
int gz_member_end(struct gz_member *m, struct buf *out, struct err *e);
void gz_member_close(struct gz_member *m);

#endif
