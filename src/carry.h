/*
 * carry: an existing file's bytes into another, as a run that adds to a
 * file (SPEC §4.4, --state) rewrites it whole in a temporary file: shared
 * extents where the file system offers them (FICLONE: btrfs, XFS), a copy
 * in the kernel (copy_file_range) otherwise, read and write as a last
 * resort. Every function retries EINTR and leaves errno set on an I/O failure.
 *
 * carry_checked first makes sure rows can be added after the file's own:
 * a file cut short or damaged, or one of another layout, takes this run's
 * rows where no reader finds them (a member after a broken one, a row glued
 * to the last line, rows under another header). Its checks look at each byte
 * once, in bounded memory: a gzip file is inflated as it is copied (by read
 * and write then); a plain CSV file is read once for its quotes (a cell cut
 * short inside its quotes may end in a line break too), an NDJSON file's
 * first line (its keys) and last byte are all it needs, and a plain file's copy stays the
 * kernel's unless every byte has to pass through the caller too (fn: the
 * manifest's digest).
 */
#ifndef WAEXPORT_CARRY_H
#define WAEXPORT_CARRY_H

#include <stddef.h>

#include "columns.h"
#include "err.h"

/* The first size bytes of from onto the end of to (its offset ends after them). 0 or -1. */
int carry_copy(int from, int to, unsigned long long size);

#define CARRY_ROW_MAX 4096

/* What a file must be for this run to add to it, and who else sees its bytes. */
struct carry_want {
	const char *name; /* the file, as a refusal names it */
	int gzip;         /* whole gzip members one after the other, then this run's */
	int csv;          /* quoted cells: the text must not end inside one */
	const void *head; /* the bytes this run's text starts with (BOM, CSV header) */
	size_t head_len;  /* 0: nothing to compare (NDJSON) */
	/*
	 * NDJSON (ncolumns > 0): the keys the file's first line must open with,
	 * in this order; a key after them may not be a column's name (only an
	 * extra field's, which never is one).
	 */
	const enum column *columns;
	size_t ncolumns;
	/*
	 * CSV: NULL, or what the file's first row (after the head, the first
	 * CARRY_ROW_MAX bytes of it, line break included when it fits) must be
	 * for this run's rows to join it: NULL when they may, else why not.
	 */
	const char *(*check_row)(void *ctx, const char *row, size_t len);
	void *row_ctx;
	/* NULL, or every carried block, in order (the manifest's digest): non-zero stops */
	int (*fn)(void *ctx, const void *p, size_t n, struct err *e);
	void *ctx;
	const char *option; /* the option that named the file, for the refusal (NULL: -o) */
};

/*
 * The first size bytes of from onto the end of to, once they are known to
 * be a file of w whose text ends with a line break (outside a quoted cell). 0; 1 with e set: the
 * file cannot be added to (ERR_CANTCREAT: its name, what is wrong, what to
 * do), or fn failed (its error after the name), some bytes perhaps written
 * to to already; -1 with errno set as the failing call left it.
 */
int carry_checked(int from, int to, unsigned long long size, const struct carry_want *w,
		  struct err *e);

/*
 * The file at path (not followed if a link), as carry_checked takes it, onto
 * the end of to; to < 0: only checked (fn is not called then). *size: the
 * bytes carried, 0 for a file that is not regular or is empty (nothing to
 * carry). Returns as carry_checked does; on -1 (an open or I/O failure,
 * errno set) *what names the step that failed.
 */
int carry_file(const char *path, int to, const struct carry_want *w, unsigned long long *size,
	       const char **what, struct err *e);

#endif
