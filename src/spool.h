/*
 * spool: keeps formatted pages on disk so that `--order oldest` can write
 * them in reverse without holding the history in memory (issue 3, item 6).
 * Each page's rows go in as one record followed by its 8-byte length; the
 * replay reads records back from the end. The spool file is unlinked as
 * soon as it is created, so nothing is ever left behind.
 */
#ifndef WAEXPORT_SPOOL_H
#define WAEXPORT_SPOOL_H

#include <stddef.h>

#include "err.h"

struct spool;

/* Create an anonymous spool in directory dir. */
int spool_open(struct spool **out, const char *dir, struct err *e);
int spool_add(struct spool *sp, const void *p, size_t n, struct err *e);

/*
 * Walk the records last first without reading them: *pos starts at
 * spool_end(sp); each call gives the next record's offset and length in
 * the spool's file (spool_fd) and returns 1, or 0 at the start.
 */
int spool_flush(struct spool *sp, struct err *e);
unsigned long long spool_end(const struct spool *sp);
int spool_prev(struct spool *sp, unsigned long long *pos, unsigned long long *off, size_t *len,
	       struct err *e);
int spool_fd(const struct spool *sp);

/* Feed every record, last first, to emit. Stops at emit's first error. */
typedef int (*spool_emit_fn)(void *ctx, const char *p, size_t n, struct err *e);
int spool_replay(struct spool *sp, spool_emit_fn emit, void *ctx, struct err *e);
/* Empty the spool for reuse. */
int spool_truncate(struct spool *sp, struct err *e);
void spool_close(struct spool *sp);

#endif
