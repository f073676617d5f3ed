#include "digest.h"
#include "carry.h"

#include <openssl/evp.h>
#include <stdlib.h>

struct digest {
	EVP_MD_CTX *ctx;
	int done;
};

struct digest *digest_new(void)
{
	struct digest *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || EVP_DigestInit_ex(d->ctx, EVP_sha256(), NULL) != 1) {
		digest_free(d);
		return NULL;
	}
	return d;
}

int digest_update(struct digest *d, const void *p, size_t n)
{
	if (d->done)
		return -1;
	return !n || EVP_DigestUpdate(d->ctx, p, n) == 1 ? 0 : -1;
}

int digest_final(struct digest *d, unsigned char out[DIGEST_LEN])
{
	unsigned int len = 0;

	if (d->done || EVP_DigestFinal_ex(d->ctx, out, &len) != 1 || len != DIGEST_LEN)
		return -1;
	d->done = 1;
	return 0;
}

void digest_free(struct digest *d)
{
	if (!d)
		return;
	EVP_MD_CTX_free(d->ctx);
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

static int update(void *ctx, const void *p, size_t n)
{
	return digest_update(ctx, p, n);
}

int digest_fd(struct digest *d, int fd, unsigned long long size)
{
	return carry_read(fd, size, update, d);
}
