#include "digest.h"
#include "buf.h"
#include "pool.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

/* Bytes gathered before a buffer goes to the worker: hand-offs cost nothing next to them. */
#define DIGEST_PIECE (256u * 1024)

/* A buffer on its way through the worker. */
struct piece {
	struct digest *d;
	struct buf b;
	int failed; /* libcrypto refused it */
};

struct digest {
	EVP_MD_CTX *ctx;
	int done, failed;
	struct pool *pool; /* beside: one worker */
	struct piece piece[2];
	int fill; /* the piece being filled */
	int busy; /* the other one is with the worker */
};

static int hash(struct digest *d, const void *p, size_t n)
{
	return !n || EVP_DigestUpdate(d->ctx, p, n) == 1 ? 0 : -1;
}

/* The pool's map: one full piece into the running sum. */
static void hash_piece(void *ctx, void *job)
{
	struct piece *pc = job;

	(void)ctx;
	pc->failed = hash(pc->d, pc->b.data, pc->b.len);
}

static int refused(struct err *e)
{
	return err_set(e, ERR_SOFTWARE, "SHA-256 failed (libcrypto)");
}

int digest_new(struct digest **out, int beside, struct err *e)
{
	struct digest *d = calloc(1, sizeof(*d));

	*out = NULL;
	if (!d)
		return err_nomem(e);
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		digest_free(d);
		return refused(e);
	}
	if (beside && (buf_reserve(&d->piece[0].b, DIGEST_PIECE) ||
		       buf_reserve(&d->piece[1].b, DIGEST_PIECE))) {
		digest_free(d);
		return err_nomem(e);
	}
	if (beside && pool_new(&d->pool, 1, 1, hash_piece, NULL, e)) {
		digest_free(d);
		return -1;
	}
	d->piece[0].d = d->piece[1].d = d;
	*out = d;
	return 0;
}

/* The piece with the worker, back (waits for it): its bytes are in the sum. */
static int wait_worker(struct digest *d, struct err *e)
{
	struct piece *pc;

	if (!d->busy)
		return 0;
	pc = pool_take(d->pool, 1);
	d->busy = 0;
	pc->b.len = 0;
	if (pc->failed)
		d->failed = 1;
	return d->failed ? refused(e) : 0;
}

/* The piece being filled goes to the worker (once the other is back); the caller fills the other. */
static int hand_on(struct digest *d, struct err *e)
{
	struct piece *pc = &d->piece[d->fill];

	if (wait_worker(d, e))
		return -1;
	pool_submit(d->pool, pc);
	d->busy = 1;
	d->fill ^= 1;
	return 0;
}

int digest_update(struct digest *d, const void *p, size_t n, struct err *e)
{
	const char *c = p;

	if (d->done || d->failed)
		return refused(e);
	if (!d->pool && hash(d, p, n)) {
		d->failed = 1;
		return refused(e);
	}
	while (d->pool && n) {
		struct buf *b = &d->piece[d->fill].b;
		size_t k = DIGEST_PIECE - b->len < n ? DIGEST_PIECE - b->len : n;

		if (buf_add(b, c, k))
			return err_nomem(e);
		c += k;
		n -= k;
		if (b->len == DIGEST_PIECE && hand_on(d, e))
			return -1;
	}
	return 0;
}

/* Every byte given so far in the sum, in order: what is pending first. */
static int settle(struct digest *d, struct err *e)
{
	struct buf *b;

	if (!d->pool)
		return 0;
	if (wait_worker(d, e))
		return -1;
	b = &d->piece[d->fill].b;
	if (hash(d, b->data, b->len)) {
		d->failed = 1;
		return refused(e);
	}
	b->len = 0;
	return 0;
}

int digest_final(struct digest *d, unsigned char out[DIGEST_LEN], struct err *e)
{
	unsigned int len = 0;

	if (d->done || d->failed)
		return refused(e);
	if (settle(d, e))
		return -1;
	if (EVP_DigestFinal_ex(d->ctx, out, &len) != 1 || len != DIGEST_LEN)
		return refused(e);
	d->done = 1;
	return 0;
}

void digest_free(struct digest *d)
{
	if (!d)
		return;
	pool_free(d->pool); /* a piece still with the worker is finished first */
	EVP_MD_CTX_free(d->ctx);
	buf_free(&d->piece[0].b);
	buf_free(&d->piece[1].b);
	free(d);
}

void digest_hex(const unsigned char sum[DIGEST_LEN], char out[DIGEST_HEX])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < DIGEST_LEN; i++) {
		out[2 * i] = hex[sum[i] >> 4];
		out[2 * i + 1] = hex[sum[i] & 15];
	}
	out[2 * DIGEST_LEN] = '\0';
}

const char *digest_library_version(void)
{
	return OpenSSL_version(OPENSSL_VERSION_STRING);
}
