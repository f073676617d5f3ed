#include "hold.h"

#include <stdlib.h>
#include <string.h>

/*
 * Held rows, at most this many or about this many bytes. Page shifts repeat
 * a message within a page or two (50 messages each): 2048 rows are 40 pages.
 */
#define HOLD_ROWS 2048
#define HOLD_BYTES (1u << 20)

enum { HELD_KEYED, HELD_UNKEYED, HELD_CANCELLED };

struct held {
	uint64_t hash;
	size_t end;         /* the row is text[previous end, end) */
	int what;
};

struct hold {
	struct buf text;
	struct held row[HOLD_ROWS];
	size_t nrows;
};

struct hold *hold_new(void)
{
	return calloc(1, sizeof(struct hold));
}

void hold_free(struct hold *h)
{
	if (!h)
		return;
	buf_free(&h->text);
	free(h);
}

struct buf *hold_buf(struct hold *h)
{
	return &h->text;
}

/* Rows [0, n) to out (cancelled ones left out); the rest move to the front. */
static int release(struct hold *h, size_t n, hold_out_fn out, void *ctx, struct err *e)
{
	size_t start = 0, run = 0, cut = n ? h->row[n - 1].end : 0;

	for (size_t i = 0; i < n; i++) {
		if (h->row[i].what == HELD_CANCELLED) {
			if (run < start && out(ctx, h->text.data + run, start - run, e))
				return -1;
			run = h->row[i].end;
		}
		start = h->row[i].end;
	}
	if (run < cut && out(ctx, h->text.data + run, cut - run, e))
		return -1;
	memmove(h->text.data, h->text.data + cut, h->text.len - cut);
	h->text.len -= cut;
	memmove(h->row, h->row + n, (h->nrows - n) * sizeof(h->row[0]));
	h->nrows -= n;
	for (size_t i = 0; i < h->nrows; i++)
		h->row[i].end -= cut;
	return 0;
}

int hold_row(struct hold *h, const uint64_t *hash, hold_out_fn out, void *ctx, struct err *e)
{
	h->row[h->nrows].hash = hash ? *hash : 0;
	h->row[h->nrows].end = h->text.len;
	h->row[h->nrows].what = hash ? HELD_KEYED : HELD_UNKEYED;
	h->nrows++;
	/* Full: the older half leaves, so each row is moved at most once or twice. */
	if (h->nrows == HOLD_ROWS || h->text.len >= HOLD_BYTES) {
		size_t n = h->nrows / 2;

		return release(h, n ? n : 1, out, ctx, e);
	}
	return 0;
}

int hold_cancel(struct hold *h, uint64_t hash)
{
	for (size_t i = h->nrows; i-- > 0;)
		if (h->row[i].hash == hash && h->row[i].what == HELD_KEYED) {
			h->row[i].what = HELD_CANCELLED;
			return 1;
		}
	return 0;
}

int hold_drain(struct hold *h, hold_out_fn out, void *ctx, struct err *e)
{
	return release(h, h->nrows, out, ctx, e);
}
