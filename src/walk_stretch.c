/*
 * Page 1 is asked alone and handed on as it comes (one answer is one state
 * of the history), so a nightly walk that ends on page 1 asks no more than a
 * plain walk; its lead is the first look of the stretch after it. Stretches
 * start at two pages and double up to STRETCH_MAX; one that failed is
 * halved. When messages arrive faster than that, the rest of the walk goes
 * one page at a time, each page asked after the one before arrived, which
 * can only repeat messages and needs no look: after STRETCH_TRIES failures
 * with no stretch of STRETCH_MIN pages or more handed on between them (a
 * stretch costs two round trips more than its pages side by side, so short
 * ones are no faster).
 *
 * A stretch's bodies are held until it is handed on: a stretch ends at the
 * body that takes them past STRETCH_BYTES, so they stay under that plus one
 * body's limit (JSON_MAX_BODY), whatever the pages hold.
 */
#include "walk_stretch.h"
#include "probe.h"

#include <stdlib.h>
#include <string.h>

#define STRETCH_MAX 64
#define STRETCH_MIN 8
#define STRETCH_TRIES 3
#define STRETCH_BYTES (16u << 20)

struct stretch {
	struct buf bodies;
	size_t off[STRETCH_MAX + 1]; /* body i is bodies[off[i], off[i + 1]) */
	size_t n;
};

/* A page of the stretch, kept; an empty one ends it, as it ends the history. */
static int keep_page(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	struct stretch *s = ctx;

	(void)page_no;
	if (buf_add(&s->bodies, body, len))
		return err_nomem(e);
	s->off[++s->n] = s->bodies.len;
	if (walk_empty_page(body, len) || s->n == STRETCH_MAX || s->bodies.len >= STRETCH_BYTES)
		return WALK_END;
	return WALK_MORE;
}

static int same_buf(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (!a->len || !memcmp(a->data, b->data, a->len));
}

/* Pages first.. of one stretch, at most `want`, side by side into s. */
static int ask_pages(const struct walk_opts *wo, const struct walk_transport *t,
		     unsigned long first, size_t want, struct stretch *s, struct walk_stats *stats,
		     struct err *e)
{
	struct walk_opts so = *wo;
	struct walk_stats st = { 0 };

	so.first_page = first;
	so.max_pages = (long)want;
	so.slow_start = so.first_alone = 0; /* between two looks: any order will do */
	s->n = 0;
	s->bodies.len = 0;
	if (walk_run(&so, t, keep_page, s, &st, e))
		return -1;
	walk_stats_add_requests(stats, &st);
	return 0;
}

/*
 * Pages first.. of one stretch, at most `want`, into s; then the look at
 * page 1 after it, into *after. 1: page 1 is led as in *before.
 */
static int ask_stretch(const struct walk_opts *wo, const struct walk_transport *t,
		       unsigned long first, size_t want, struct stretch *s,
		       const struct buf *before, struct buf *after, struct walk_stats *stats,
		       struct err *e)
{
	if (ask_pages(wo, t, first, want, s, stats, e))
		return -1;
	if (probe_page_one(wo, t, NULL, 0, after, stats, e) < 0)
		return -1;
	return same_buf(before, after);
}

/* The stretch's pages on, in order, as walk_run hands its own; the verdict of the last. */
static int hand_on(const struct stretch *s, unsigned long first, walk_page_fn on_page, void *ctx,
		   struct walk_stats *stats, struct err *e)
{
	int v = WALK_MORE;

	for (size_t i = 0; i < s->n && v == WALK_MORE; i++) {
		size_t len = s->off[i + 1] - s->off[i];

		stats->pages++;
		stats->bytes += len;
		v = walk_hand_on(on_page, ctx, first + i, s->bodies.data + s->off[i], len, e);
	}
	return v;
}

int walk_stretches(const struct walk_opts *wo, const struct walk_transport *t, walk_page_fn on_page,
		   void *ctx, struct walk_stats *stats, struct err *e)
{
	struct stretch s = { 0 };
	struct buf before = { 0 }, after = { 0 }, tmp;
	unsigned long next = 1;
	long left = wo->max_pages; /* 0: no limit */
	size_t want = 1;
	int tries = 0, v = WALK_MORE, same;

	/*
	 * Page 1 alone is one state of the history: it is handed on as it comes,
	 * and its lead is the first stretch's first look.
	 */
	if (ask_pages(wo, t, 1, 1, &s, stats, e) ||
	    (v = s.n ? hand_on(&s, next, on_page, ctx, stats, e) : WALK_END) < 0 ||
	    (v == WALK_MORE && probe_lead(s.bodies.data, s.off[1], &before, e))) {
		v = -1;
	} else {
		next = 2;
		want = 2;
		if (left && !--left) {
			stats->capped = v == WALK_MORE;
			v = WALK_END;
		}
	}
	while (v == WALK_MORE && tries < STRETCH_TRIES) {
		if (left && (long)want > left)
			want = (size_t)left;
		if ((same = ask_stretch(wo, t, next, want, &s, &before, &after, stats, e)) < 0) {
			v = -1;
			break;
		}
		tmp = before, before = after, after = tmp; /* this look is the next one's first */
		if (!same) {
			tries++;
			want = want > 1 ? want / 2 : 1;
			continue;
		}
		if (s.n >= STRETCH_MIN)
			tries = 0;
		if ((v = hand_on(&s, next, on_page, ctx, stats, e)) < 0)
			break;
		next += s.n;
		if (left && !(left -= (long)s.n)) {
			stats->capped = v == WALK_MORE;
			break;
		}
		want = want < STRETCH_MAX ? 2 * want : STRETCH_MAX;
	}
	if (v == WALK_MORE && tries >= STRETCH_TRIES) {
		struct walk_opts one = *wo;

		one.concurrency = 1;
		one.first_page = next;
		one.max_pages = left;
		v = walk_run(&one, t, on_page, ctx, stats, e);
	}
	buf_free(&s.bodies);
	buf_free(&before);
	buf_free(&after);
	return v < 0 ? -1 : 0;
}
