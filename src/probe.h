/*
 * probe: did new messages arrive while pages were fetched side by side?
 * (SPEC §5.2). Pages in flight together may be answered on either side of
 * new messages arriving, and a page answered before a shift next to one
 * answered after it leaves a gap no page shows. So when pages were in
 * flight together, page 1 is asked again at the end: if it is no longer
 * led by the message that led it, the walk may have skipped some, and the
 * run is redone in stretches checked the same way (walk_stretch.h). This
 * holds only if page 1 was answered before every other page: the walk
 * asks for it alone first (walk.h: first_alone).
 */
#ifndef WAEXPORT_PROBE_H
#define WAEXPORT_PROBE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "walk.h"

/*
 * Ask for page 1 again through t (one request, with walk's retries); 1 when
 * its first unique is no longer first[0..len), 0 when it is, -1 with e set.
 * With `now`, page 1's first unique as answered goes there (empty: the page
 * had no message, or none with a string unique). The request and its
 * retries are added to stats.
 */
int probe_page_one(const struct walk_opts *walk, const struct walk_transport *t, const char *first,
		   size_t len, struct buf *now, struct walk_stats *stats, struct err *e);

/* Page 1's first unique, as probe_page_one puts it in `now`, from a body already asked. */
int probe_lead(const char *body, size_t len, struct buf *now, struct err *e);

#endif
