/*
 * carry: an existing file's bytes into another, as a run that adds to a
 * file (SPEC §4.4, --state) rewrites it whole in a temporary file: shared
 * extents where the file system offers them (FICLONE: btrfs, XFS), a copy
 * in the kernel (copy_file_range) otherwise, read and write as a last
 * resort. Both functions retry EINTR and leave errno set on failure.
 */
#ifndef WAEXPORT_CARRY_H
#define WAEXPORT_CARRY_H

#include <stddef.h>

/* The first size bytes of from onto the end of to (its offset ends after them). 0 or -1. */
int carry_copy(int from, int to, unsigned long long size);

/* The first size bytes of from, a block at a time, to fn (non-zero from fn stops: -1). */
int carry_read(int from, unsigned long long size, int (*fn)(void *ctx, const void *p, size_t n),
	       void *ctx);

#endif
