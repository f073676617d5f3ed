/*
 * decode: an HTTP answer's Content-Encoding undone as its bytes arrive
 * (RFC 9110 §8.4.1): gzip (RFC 1952; members one after another, as gzip
 * writes them; zlib data sent under that name, as libcurl also accepts) and
 * deflate (the zlib format of RFC 1950, or the raw RFC 1951 stream some
 * servers send under that name), through zlib.
 *
 * The page transport asks for these two only and decodes them itself, not
 * libcurl: libcurl inflates a whole read before the write callback can say
 * "wait", and holds all of it while the answer is paused; here nothing is
 * inflated until the caller has room for what it may become. A call adds at
 * most DECODE_BOUND(n) bytes for n bytes in (deflate's largest ratio, 1032:1,
 * a 258-byte match from one bit and a 1-bit distance), and never more than
 * the caller's max: the caller reserves room against that bound first.
 *
 * A decode owns its zlib stream: decode_end frees it.
 */
#ifndef WAEXPORT_DECODE_H
#define WAEXPORT_DECODE_H

#include "buf.h"

#include <stddef.h>
#include <zlib.h>

enum decode_kind {
	DECODE_IDENTITY, /* no Content-Encoding, or "identity" */
	DECODE_GZIP,     /* "gzip", "x-gzip" */
	DECODE_DEFLATE,  /* "deflate" */
	DECODE_OTHER     /* anything else: not asked for, not readable here */
};

#define DECODE_BOUND(n) ((size_t)(n)*1032 + 1024)

#define DECODE_ENDED_ALL 2 /* struct decode's ended: no second gzip member can follow */

struct decode {
	z_stream z;
	enum decode_kind kind;
	int open; /* z is initialised */
	int raw;  /* deflate without the zlib wrapper */
	int ended; /* the stream (a gzip member) has ended; DECODE_ENDED_ALL: what follows is ignored */
	size_t fed;         /* bytes given to the stream so far */
	unsigned char head; /* the first of them */
};

/*
 * The kind of an answer whose Content-Encoding so far is so_far, given one
 * more header value (a comma list; NULL or "" add nothing): "identity" adds
 * nothing, a second coding makes DECODE_OTHER (applied twice), as does one
 * not asked for. Start from DECODE_IDENTITY (no header).
 */
enum decode_kind decode_kind_add(enum decode_kind so_far, const char *value);

/* Begin an answer of that kind (d may hold an earlier one). 0, or -1: out of memory. */
int decode_start(struct decode *d, enum decode_kind kind);

/*
 * Inflate in[0..n) onto out, adding at most max bytes. 0: done; 1: the
 * stream would give more than max; -1: corrupt (*why says how); -2: out of
 * memory. Bytes after a deflate stream's end, or after a gzip member's that
 * do not begin another member, are ignored (as gzip -d and libcurl do).
 */
int decode_more(struct decode *d, const void *in, size_t n, struct buf *out, size_t max,
		const char **why);

/* The encoded stream has ended (an answer that stops before is cut off). */
int decode_complete(const struct decode *d);

void decode_end(struct decode *d);

#endif
