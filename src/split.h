/*
 * split: rows routed to one output per conversation ({chat} in -o, SPEC
 * §4.5), or to the segments of several --to merged into one file (route.c
 * names those "0", "1", …), in one pass over the pages, with no limit from
 * open file descriptors: spool, then commit.
 *
 * Rows go into one spool tagged with their chat. When the input is done,
 * split_scatter sorts them by chat into a second spool (a counting sort:
 * each chat gets a region, rows keep their order), and split_read_chat
 * reads one chat's rows forwards or backwards, so the caller writes one
 * file at a time. Memory: the chat names, plus small write buffers capped
 * at 8 MiB in all. A split owns both spools (unnamed files), the chat table
 * and the buffers.
 */
#ifndef WAEXPORT_SPLIT_H
#define WAEXPORT_SPLIT_H

#include <stddef.h>

#include "err.h"

struct split;

int split_open(struct split **out, const char *spool_dir, struct err *e);
void split_close(struct split *sp);

/* Append a row for chat (clean UTF-8, any bytes). */
int split_add(struct split *sp, const char *chat, size_t chat_len, const char *row, size_t len,
	      struct err *e);

/* After the last split_add: group the rows by chat; ERR_INTERRUPTED once *stop is set. */
int split_scatter(struct split *sp, const volatile int *stop, struct err *e);

size_t split_count(const struct split *sp);
/* Chat i's name (NUL-terminated), in order of first appearance. */
const char *split_chat(const struct split *sp, size_t i);

/* Feed chat i's rows to emit, in the order added (newest first) or oldest first. */
typedef int (*split_emit_fn)(void *ctx, const char *row, size_t len, struct err *e);
int split_read_chat(struct split *sp, size_t i, int oldest_first, split_emit_fn emit, void *ctx,
		    struct err *e);

/* Reading one chat's rows a row at a time (for merging several chats). */
struct split_cursor;

int split_cursor_open(struct split *sp, size_t i, int oldest_first, struct split_cursor **out,
		      struct err *e);
/* 1 with the row set (valid until the next call), 0 at the end, -1 on error. */
int split_cursor_next(struct split_cursor *c, const char **row, size_t *len, struct err *e);
void split_cursor_close(struct split_cursor *c);

#endif
