/*
 * digest: SHA-256 of a byte stream through libcrypto's EVP interface, for
 * the manifest's per-file checksums (SPEC §4.7). The sink feeds it the bytes
 * as they go to the file, so no file is read again to checksum it. A digest
 * owns its EVP context.
 */
#ifndef WAEXPORT_DIGEST_H
#define WAEXPORT_DIGEST_H

#include <stddef.h>

#define DIGEST_LEN 32
#define DIGEST_HEX (2 * DIGEST_LEN + 1)

struct digest;

/* A new SHA-256 stream, or NULL (out of memory, or libcrypto refused). */
struct digest *digest_new(void);
/* 0, or -1 when libcrypto failed. */
int digest_update(struct digest *d, const void *p, size_t n);
/* The sum, once: later updates are refused. 0 or -1. */
int digest_final(struct digest *d, unsigned char out[DIGEST_LEN]);
void digest_free(struct digest *d);

/*
 * The first size bytes of an open file into d (an appended file's carried
 * bytes; a workbook libxlsxwriter wrote). 0, or -1 with errno.
 */
int digest_fd(struct digest *d, int fd, unsigned long long size);

/* Lower-case hex of a sum into out. */
void digest_hex(const unsigned char sum[DIGEST_LEN], char out[DIGEST_HEX]);

#endif
