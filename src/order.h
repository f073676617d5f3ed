/*
 * order: --order oldest without holding the history. The API gives pages
 * newest first; the consumer hands over finished chunks (formatted rows,
 * plain or already deflated) in that order, the order spools them to an
 * unlinked temporary file, and order_replay gives them back last chunk
 * first. Each chunk is replayed whole, so a chunk's rows must already be
 * in their final order inside it.
 *
 * The spool file is unlinked from the start (O_TMPFILE where the file
 * system has it), so nothing is ever left behind, even after SIGKILL.
 * Memory: one write buffer and the replay's block (256 KiB, or the largest
 * chunk when that is larger), whatever their number.
 * The order owns its file and buffers; order_close frees them.
 */
#ifndef WAEXPORT_ORDER_H
#define WAEXPORT_ORDER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct order;

/* Spool in dir; NULL: $TMPDIR, else /tmp. ERR_CANTCREAT when it cannot be made. */
int order_open(struct order **out, const char *dir, struct err *e);
/* Spool beside the output, where its space is (NULL or "-", stdout: as order_open's NULL). */
int order_open_beside(struct order **out, const char *output, struct err *e);

/*
 * One chunk: plain bytes (crc 0, raw_len = n) or a chunk from
 * gz_deflate_chunk (its crc and raw_len), kept with it for the replay.
 * ERR_IO when the spool cannot be written (a full disk).
 */
int order_add(struct order *o, const void *p, size_t n, uint32_t crc, unsigned long long raw_len,
	      struct err *e);

/* Receives one chunk at a time; p is valid until the call returns. */
typedef int (*order_emit_fn)(void *ctx, const void *p, size_t n, uint32_t crc,
			     unsigned long long raw_len, struct err *e);

/*
 * Every chunk added so far to emit, last first; then the order is empty and
 * takes new chunks. Stops at emit's first
 * error and returns it, or with ERR_INTERRUPTED once *stop (if not NULL) is set.
 */
int order_replay(struct order *o, const volatile int *stop, order_emit_fn emit, void *ctx,
		 struct err *e);

/* NULL is fine. */
void order_close(struct order *o);

#endif
