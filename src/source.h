/*
 * source: the saved API responses `convert` reads (SPEC §2), cut into page
 * bodies in input order. A file holds one JSON array, or one array per line
 * (what --save-raw writes), plain or gzip (told by its magic bytes, so stdin
 * works too; concatenated members are one stream); files are read one after
 * the other, "-" is standard input.
 *
 * The source only finds where each body begins and ends; it does not parse.
 * A file whose first value ends with its first line is read a line at a
 * time (memchr); any other file goes through a small scanner that follows
 * strings and brackets, so a pretty-printed array is one body. Both are
 * linear, and a body is refused (ERR_DATA) as soon as it outgrows
 * JSON_MAX_BODY (jsontext.h), before more is read: memory stays bounded by that limit
 * plus one batch.
 *
 * A source owns the file it has open, its gzip stream, its read buffer and
 * the start of a body a batch could not end; the bodies go into the
 * caller's batches.
 */
#ifndef WAEXPORT_SOURCE_H
#define WAEXPORT_SOURCE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "warn.h"

/* Where one body is: its bytes in the caller's buffer, and where it came from. */
struct source_body {
	size_t off, len;             /* in the buffer source_fill filled */
	unsigned long long file_off; /* byte offset in its (decompressed) file */
	unsigned file;               /* index of the file, for source_file_name */
	int first;                   /* the file's first body */
};

struct source;

/*
 * Open files[0..nfiles) for reading one after the other ("-": stdin).
 * Files that cannot be opened are ERR_NOINPUT (exit 66) before anything is
 * read. Warnings (a UTF-8 byte-order mark skipped, an empty file) go to w.
 */
int source_open(struct source **out, char *const *files, size_t nfiles, const volatile int *stop,
		struct warn *w, struct err *e);

/*
 * Append whole bodies to dst (after dst->len) until it holds at least
 * `want` bytes or the input ends, one entry per body to bodies[] (at most
 * `max` entries). Returns the number of bodies added: 0 at the end of the
 * input. -1 with e set (ERR_DATA with the file and byte offset, ERR_IO,
 * ERR_INTERRUPTED once *stop is set).
 */
int source_fill(struct source *s, struct buf *dst, size_t want, struct source_body *bodies,
		size_t max, struct err *e);

/* The name of file i as the user gave it ("standard input" for "-"). */
const char *source_file_name(const struct source *s, unsigned i);

/* Input bytes read so far, as on disk. */
unsigned long long source_bytes(const struct source *s);

void source_close(struct source *s);

#endif
