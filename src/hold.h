/*
 * hold: the last rows written, held back before they reach the sink.
 *
 * When convert reads its input backward (--order oldest), a message seen
 * twice is met last copy first, but the rule of SPEC §5.2 as this tool
 * applies it everywhere is that the first copy in input order is the one
 * written, in its place. Rows wait here for a while; a later duplicate
 * (earlier in the input) cancels the held copy and is written instead, so
 * the output is the same byte for byte as reading forward. Copies further
 * apart than the hold are rare (the API repeats a message across adjacent
 * pages); for them the copy nearer the end of the input is kept.
 *
 * Two buffers take turns, so no row is copied: the newer one fills while
 * the older one waits; when the newer is full, the older leaves whole.
 */
#ifndef WAEXPORT_HOLD_H
#define WAEXPORT_HOLD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

struct hold;

/* Returns NULL when out of memory. */
struct hold *hold_new(void);
void hold_free(struct hold *h);

/* Format the next row by appending to this buffer, then call hold_row. */
struct buf *hold_buf(struct hold *h);

/*
 * Rows leave a buffer at a time: out takes full's bytes (and may swap its
 * own emptied buffer in, as sink_chunk does); full is empty afterwards.
 */
typedef int (*hold_out_fn)(void *ctx, struct buf *full, struct err *e);

/* What a held row is, besides its bytes. */
struct hold_tag {
	const uint64_t *hash;        /* its message (NULL: no `unique`, never cancelled) */
	unsigned long long note_first, note_end; /* the warnings writing it gave (warn seq) */
};

/* The row appended since the last call ends here. When the hold is full, its oldest rows go to out. */
int hold_row(struct hold *h, const struct hold_tag *tag, hold_out_fn out, void *ctx, struct err *e);

/*
 * Drop the held row of this message: 1 if one was held (and *notes_first,
 * *notes_end say which warnings it gave), 0 if not.
 */
int hold_cancel(struct hold *h, uint64_t hash, unsigned long long *notes_first,
		unsigned long long *notes_end);

/* Every held row to out, oldest first. */
int hold_drain(struct hold *h, hold_out_fn out, void *ctx, struct err *e);

#endif
