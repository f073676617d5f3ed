/*
 * digest: SHA-256 of a byte stream through libcrypto's EVP interface, for
 * the manifest's per-file checksums (SPEC §4.7). The sink feeds it the bytes
 * as they go to the file, so no file is read again to checksum it.
 *
 * Hashing is serial and costs about as much as writing the bytes, so a digest
 * made with `beside` hashes on a worker of its own (a one-worker pool.h):
 * digest_update copies the bytes into one of two buffers, and a full buffer
 * is hashed by the worker while the caller goes on writing and fills the
 * other. At most one buffer is being hashed at a time, which keeps the bytes
 * in order. Where the caller's thread is the only one working (writing an
 * `--order oldest` file last chunk first), the hash then costs no wall time.
 * Without `beside` (many small files at once: {chat}) the caller hashes.
 *
 * A digest owns its EVP context, its worker and its buffers.
 */
#ifndef WAEXPORT_DIGEST_H
#define WAEXPORT_DIGEST_H

#include <stddef.h>

#include "err.h"

#define DIGEST_LEN 32
#define DIGEST_HEX (2 * DIGEST_LEN + 1)

struct digest;

/* A new SHA-256 stream. ERR_SOFTWARE when libcrypto refused or no worker could start. */
int digest_new(struct digest **out, int beside, struct err *e);
/* The crypto library's version (OpenSSL), for --version. */
const char *digest_library_version(void);

/* 0, or -1 with e set (libcrypto failed). */
int digest_update(struct digest *d, const void *p, size_t n, struct err *e);

/* The sum, once: later updates are refused. 0, or -1 with e set. */
int digest_final(struct digest *d, unsigned char out[DIGEST_LEN], struct err *e);

void digest_free(struct digest *d);

/* Lower-case hex of a sum into out. */
void digest_hex(const unsigned char sum[DIGEST_LEN], char out[DIGEST_HEX]);

#endif
