/*
 * libFuzzer harness: an answer's Content-Encoding undone (decode.c) on
 * arbitrary bytes, as a server can send them.
 *
 * The first byte picks the encoding (bit 0: gzip or deflate) and the size
 * of the pieces the rest is fed in (bits 1-7: 1 to 128 bytes, as libcurl's
 * reads may cut it anywhere). For each input:
 *   - it never crashes, and a corrupt stream says why;
 *   - no call adds more than DECODE_BOUND of what it was given: with that
 *     as max a call never stops for it (deflate cannot encode more; the
 *     budget of the pages in flight relies on it);
 *   - fed in pieces or all at once, the same verdict and, when both pass,
 *     the same bytes out and the same completeness.
 * Each broken invariant is a __builtin_trap(). Build and run: scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "decode.h"

#define CHECK(cond)                                                                               \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz_decode: invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                                 \
			__builtin_trap();                                                         \
		}                                                                                 \
	} while (0)

/* Feed data in pieces of `piece` bytes: decode_more's first non-zero answer, or 0. */
static int feed(struct decode *d, enum decode_kind kind, const uint8_t *data, size_t n,
		size_t piece, struct buf *out)
{
	CHECK(decode_start(d, kind) == 0);
	out->len = 0;
	for (size_t at = 0; at < n; at += piece) {
		size_t k = n - at < piece ? n - at : piece, before = out->len;
		const char *why = NULL;
		int rc = decode_more(d, data + at, k, out, DECODE_BOUND(k), &why);

		CHECK(rc != 1); /* the bound holds */
		CHECK(out->len - before <= DECODE_BOUND(k));
		if (rc == -1)
			CHECK(why && *why);
		if (rc)
			return rc;
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct decode a, b;
	struct buf x = BUF_INIT, y = BUF_INIT;
	enum decode_kind kind;
	size_t piece;
	int ra, rb;

	if (!size)
		return 0;
	kind = data[0] & 1 ? DECODE_GZIP : DECODE_DEFLATE;
	piece = (size_t)(data[0] >> 1) + 1;
	ra = feed(&a, kind, data + 1, size - 1, piece, &x);
	rb = feed(&b, kind, data + 1, size - 1, size, &y);
	CHECK(ra != -2 && rb != -2);
	CHECK(!ra == !rb);
	if (!ra) {
		CHECK(x.len == y.len);
		CHECK(!x.len || !memcmp(x.data, y.data, x.len));
		CHECK(decode_complete(&a) == decode_complete(&b));
	}
	buf_free(&x);
	buf_free(&y);
	return 0;
}
