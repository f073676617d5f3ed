/*
 * input: saved API responses for `convert` (SPEC §2) — a file holding one
 * JSON array, or one array per line (what --save-raw writes), plain or gzip
 * (detected by its magic bytes, so stdin works too; concatenated gzip
 * members are read as one stream). Each complete value is tokenized by the
 * page stage and handed to on_page. The reader holds one page's bytes at a
 * time, plus a read chunk.
 */
#ifndef WAEXPORT_INPUT_H
#define WAEXPORT_INPUT_H

#include <stddef.h>

#include "err.h"
#include "page.h"

/* Called per page; body stays valid for the call. Non-zero stops the read. */
typedef int (*input_page_fn)(void *ctx, struct page *pg, const char *body, size_t len,
			     unsigned long page_no, struct err *e);

/*
 * Read `path` ("-" for stdin). Errors are prefixed with the file name, and
 * bad data with its byte offset in the (decompressed) file.
 * *bytes_in counts input bytes read as they are on disk.
 */
int input_read(const char *path, struct page *pg, input_page_fn on_page, void *ctx,
	       unsigned long long *bytes_in, const volatile int *stop, struct err *e);

#endif
