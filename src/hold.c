#include "hold.h"

#include <stdlib.h>
#include <string.h>

/*
 * Each of the two buffers holds at most this many rows or about this many
 * bytes, so between one and two of these stay held. Page shifts repeat a
 * message within a page or two (50 messages each); the byte budget usually
 * fills a half first (256 KiB is ~1,500 rows of the API's messages, 30
 * pages), and each full half is one hand-over to the sink.
 */
#define HALF_ROWS 4096
#define HALF_BYTES (256u * 1024u)

enum { HELD_KEYED, HELD_UNKEYED, HELD_CANCELLED };

struct held {
	uint64_t hash;
	size_t end;         /* the row is text[previous end, end) */
	int what;
	unsigned long long note_first, note_end;
};

struct half {
	struct buf text;
	struct held row[HALF_ROWS];
	size_t nrows;
	int cancelled;      /* some row here is cancelled */
};

struct hold {
	struct half h[2];
	int newer;          /* index of the half rows are added to */
};

struct hold *hold_new(void)
{
	return calloc(1, sizeof(struct hold));
}

void hold_free(struct hold *h)
{
	if (!h)
		return;
	buf_free(&h->h[0].text);
	buf_free(&h->h[1].text);
	free(h);
}

struct buf *hold_buf(struct hold *h)
{
	return &h->h[h->newer].text;
}

/* Squeeze the cancelled rows out of a half (rare: a duplicate was met). */
static void compact(struct half *x)
{
	size_t from = 0, to = 0;

	for (size_t i = 0; i < x->nrows; i++) {
		size_t len = x->row[i].end - from;

		if (x->row[i].what != HELD_CANCELLED) {
			memmove(x->text.data + to, x->text.data + from, len);
			to += len;
		}
		from = x->row[i].end;
	}
	x->text.len = to;
	x->cancelled = 0;
}

/* Every row of half x to out. */
static int release(struct half *x, hold_out_fn out, void *ctx, struct err *e)
{
	int rc = 0;

	if (x->cancelled)
		compact(x);
	if (x->text.len)
		rc = out(ctx, &x->text, e);
	x->text.len = 0;
	x->nrows = 0;
	return rc;
}

int hold_row(struct hold *h, const struct hold_tag *tag, hold_out_fn out, void *ctx, struct err *e)
{
	struct half *x = &h->h[h->newer];
	struct held *r = &x->row[x->nrows++];

	r->hash = tag->hash ? *tag->hash : 0;
	r->end = x->text.len;
	r->what = tag->hash ? HELD_KEYED : HELD_UNKEYED;
	r->note_first = tag->note_first;
	r->note_end = tag->note_end;
	if (x->nrows < HALF_ROWS && x->text.len < HALF_BYTES)
		return 0;
	/* The newer half is full: the older leaves, and takes the newer's place. */
	h->newer ^= 1;
	return release(&h->h[h->newer], out, ctx, e);
}

int hold_cancel(struct hold *h, uint64_t hash, unsigned long long *notes_first,
		unsigned long long *notes_end)
{
	for (int k = 0; k < 2; k++) {
		struct half *x = &h->h[h->newer ^ k];

		for (size_t i = x->nrows; i-- > 0;)
			if (x->row[i].hash == hash && x->row[i].what == HELD_KEYED) {
				x->row[i].what = HELD_CANCELLED;
				x->cancelled = 1;
				*notes_first = x->row[i].note_first;
				*notes_end = x->row[i].note_end;
				return 1;
			}
	}
	return 0;
}

int hold_drain(struct hold *h, hold_out_fn out, void *ctx, struct err *e)
{
	return release(&h->h[h->newer ^ 1], out, ctx, e) ||
	       release(&h->h[h->newer], out, ctx, e) ? -1 : 0;
}
