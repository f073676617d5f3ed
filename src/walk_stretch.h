/*
 * walk_stretch: a page walk that cannot miss a message while new ones
 * arrive (SPEC §5.2). New messages arriving while pages are in flight
 * together mean a page answered before them may sit next to one answered
 * after them, and the messages pushed across that boundary are in neither
 * (probe.h). A plain walk_run finds that out at its end and must be done
 * again; this one asks for pages side by side too, but a stretch at a
 * time, each between two looks at page 1:
 *
 *   look → the stretch's pages, side by side → look → hand them on
 *
 * (page 1 comes first, alone, and is its own look: a single answer is one
 * state of the history, so it is handed on at once).
 *
 * When page 1 is led by the same message at both looks, no message arrived
 * while the stretch's pages were answered: they all show one state of the
 * history, so they tile it without a gap. The stretch before was answered
 * before the first look, in an older state: against this one it can only
 * repeat messages (the pipeline drops them as duplicates), never miss one.
 * When page 1 changed, the stretch's pages are thrown away and asked for
 * again; the second look is the next try's first.
 *
 * It owns the stretches' bodies while they wait for their second look;
 * the pages, their order and retries are walk.c's, the looks probe.c's.
 */
#ifndef WAEXPORT_WALK_STRETCH_H
#define WAEXPORT_WALK_STRETCH_H

#include "err.h"
#include "walk.h"

/*
 * As walk_run, from page 1: pages handed to on_page in order, each at most
 * once, until it says WALK_END, the history ends or o->max_pages; the looks
 * and every stretch asked are counted in stats. 0, or -1 with e set.
 */
int walk_stretches(const struct walk_opts *o, const struct walk_transport *t, walk_page_fn on_page,
		   void *ctx, struct walk_stats *stats, struct err *e);

#endif
