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

/*
 * --order oldest without a spool: read a regular, uncompressed file from its
 * last line to its first, so pages come out oldest first. Each line that is
 * not blank goes to on_line (valid for the call), unparsed: the caller
 * parses it, and a line that is not one whole JSON value means the file is
 * not one page per line (INPUT_NOT_LINES: read it forward instead). on_line
 * returns 0 to go on, 1 to stop quietly, -1 with e set to fail. Returns 0
 * or -1 with e set.
 */
#define INPUT_NOT_LINES 2
typedef int (*input_line_fn)(void *ctx, const char *line, size_t len, struct err *e);
int input_read_backward(const char *path, input_line_fn on_line, void *ctx,
			unsigned long long *bytes_in, const volatile int *stop, struct err *e);

/* Whether every file can be read backward: regular files, not gzip. */
int input_backward_ok(char *const *files, size_t nfiles);

#endif

/*
 * A reader thread over all convert inputs: it reads, tokenizes and extracts
 * pages ahead of the consumer (a ring of a few pages), so jsmn runs on one
 * core while the writers run on the other. Pages come out in input order.
 */
struct input_feed;

/* backward: files last to first, each read backward (input_read_backward). */
int input_feed_start(struct input_feed **out, char **files, size_t nfiles, int backward,
		     struct err *e);

/*
 * The next page: 1 with *pg, *body and *file set (valid until the next
 * call), 0 after the last page, -1 with e set (the reader's error, or
 * ERR_INTERRUPTED once *stop is set), INPUT_NOT_LINES when backward reading
 * met input it cannot read that way (every page before was delivered).
 */
int input_feed_next(struct input_feed *f, struct page **pg, const char **body,
		    const char **file, const volatile int *stop, struct err *e);

/* Input bytes read (as on disk): the total once input_feed_next has returned 0. */
unsigned long long input_feed_bytes(const struct input_feed *f);

/* Stop the reader (interrupting a blocked read), join it, free. NULL is fine. */
void input_feed_stop(struct input_feed *f);
