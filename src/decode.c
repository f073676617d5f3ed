#include "decode.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

/* Output room made at a time (less when max leaves less). */
#define DECODE_STEP ((size_t)16384)

/* One coding of a Content-Encoding list, n bytes at p. */
static enum decode_kind coding(const char *p, size_t n)
{
	static const struct {
		const char *name;
		enum decode_kind kind;
	} names[] = {
		{ "identity", DECODE_IDENTITY },
		{ "gzip", DECODE_GZIP },
		{ "x-gzip", DECODE_GZIP },
		{ "deflate", DECODE_DEFLATE },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strlen(names[i].name) == n && !strncasecmp(p, names[i].name, n))
			return names[i].kind;
	return DECODE_OTHER;
}

enum decode_kind decode_kind_add(enum decode_kind so_far, const char *value)
{
	static const char space[] = " \t\r\n";

	while (value && *value) {
		size_t n;
		enum decode_kind k;

		value += strspn(value, space);
		n = strcspn(value, ",");
		while (n && strchr(space, value[n - 1]))
			n--;
		k = n ? coding(value, n) : DECODE_IDENTITY;
		if (k == DECODE_OTHER || (k != DECODE_IDENTITY && so_far != DECODE_IDENTITY))
			return DECODE_OTHER; /* not asked for, or applied twice */
		if (k != DECODE_IDENTITY)
			so_far = k;
		value += strcspn(value, ",");
		value += *value == ',';
	}
	return so_far;
}

/*
 * zlib's window bits: 32 + 15 a gzip member or the zlib format (zlib tells
 * them apart; libcurl read zlib data labelled gzip so, and servers send it),
 * 15 the zlib format, -15 raw deflate.
 */
static int window_bits(const struct decode *d)
{
	return d->kind == DECODE_GZIP ? 32 + MAX_WBITS : d->raw ? -MAX_WBITS : MAX_WBITS;
}

int decode_start(struct decode *d, enum decode_kind kind)
{
	d->kind = kind;
	d->raw = 0;
	d->ended = 0;
	d->fed = 0;
	if (kind != DECODE_GZIP && kind != DECODE_DEFLATE)
		return 0;
	if (d->open)
		return inflateReset2(&d->z, window_bits(d)) == Z_OK ? 0 : -1;
	memset(&d->z, 0, sizeof(d->z));
	if (inflateInit2(&d->z, window_bits(d)) != Z_OK)
		return -1;
	d->open = 1;
	return 0;
}

/*
 * "deflate" in the zlib format, as RFC 9110 says, unless its first two bytes
 * are no zlib header: then the raw stream some servers send, from the start
 * (the first byte may have come in an earlier call: d->head keeps it; one
 * byte of raw deflate never completes a symbol, so it gives no output).
 */
static int try_raw(struct decode *d, int rc, size_t took)
{
	unsigned char none[1];

	if (rc != Z_DATA_ERROR || d->kind != DECODE_DEFLATE || d->raw || d->z.total_out ||
	    d->fed + took > 2)
		return 0;
	d->raw = 1;
	if (inflateReset2(&d->z, window_bits(d)) != Z_OK)
		return 0;
	if (d->fed == 1) {
		d->z.next_in = &d->head;
		d->z.avail_in = 1;
		d->z.next_out = none;
		d->z.avail_out = sizeof(none);
		if (inflate(&d->z, Z_NO_FLUSH) != Z_OK || d->z.avail_in || d->z.total_out)
			return 0;
	}
	return 1;
}

int decode_more(struct decode *d, const void *in, size_t n, struct buf *out, size_t max,
		const char **why)
{
	size_t limit = out->len + max;
	int full = 0; /* the last inflate filled its room: it may hold more output */

	d->z.next_in = (Bytef *)(uintptr_t)in;
	d->z.avail_in = (uInt)n; /* n is one read of libcurl's: far below 4 GiB */
	while (d->z.avail_in || full) {
		size_t room, took;
		int rc;

		if (d->ended) {
			if (d->ended == DECODE_ENDED_ALL || d->kind != DECODE_GZIP ||
			    *d->z.next_in != 0x1f) {
				d->ended = DECODE_ENDED_ALL; /* bytes after the end: ignored, all */
				break;
			}
			if (inflateReset(&d->z) != Z_OK)
				return -2;
			d->ended = 0;
		}
		if (out->len == limit)
			return 1; /* max reached, and the stream may hold more */
		room = limit - out->len < DECODE_STEP ? limit - out->len : DECODE_STEP;
		if (buf_reserve(out, room))
			return -2;
		room = out->cap - out->len < limit - out->len ? out->cap - out->len
							      : limit - out->len;
		d->z.next_out = (Bytef *)out->data + out->len;
		d->z.avail_out = (uInt)room;
		took = d->z.avail_in;
		rc = inflate(&d->z, Z_NO_FLUSH);
		took -= d->z.avail_in;
		out->len += room - d->z.avail_out;
		if (try_raw(d, rc, took)) {
			d->z.next_in = (Bytef *)(uintptr_t)in;
			d->z.avail_in = (uInt)n;
			continue;
		}
		if (!d->fed && took)
			d->head = *(const unsigned char *)in;
		d->fed += took;
		full = rc == Z_OK && !d->z.avail_out;
		if (rc == Z_STREAM_END)
			d->ended = 1;
		else if (rc == Z_MEM_ERROR)
			return -2;
		else if (rc == Z_BUF_ERROR && !d->z.avail_in)
			break; /* all taken, all given out: the rest comes with the next bytes */
		else if (rc != Z_OK) {
			*why = d->z.msg ? d->z.msg : "not a compressed stream";
			return -1;
		}
	}
	return 0;
}

int decode_complete(const struct decode *d)
{
	return (d->kind != DECODE_GZIP && d->kind != DECODE_DEFLATE) || d->ended;
}

void decode_end(struct decode *d)
{
	if (d->open)
		inflateEnd(&d->z);
	d->open = 0;
}
