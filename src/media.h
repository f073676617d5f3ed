/*
 * media: --media-dir (SPEC §5.4). Before a page's rows are written, the
 * files its media messages link to are downloaded into DIR as
 * <unique>.<ext> (the name sanitised so nothing can leave DIR), through
 * http's downloads: concurrently, skipping files already there, each
 * capped in size. A dead link (they expire after 7 days) is a warning; its
 * row keeps an empty media_file. A file that cannot be saved here (disk
 * full, permissions) is ERR_IO: the run fails and its checkpoint stays.
 */
#ifndef WAEXPORT_MEDIA_H
#define WAEXPORT_MEDIA_H

#include "err.h"
#include "http.h"
#include "page.h"
#include "warn.h"

/* Files larger than this are not kept. */
#define MEDIA_MAX_BYTES (256ull * 1024 * 1024)

struct media;

int media_open(struct media **out, const char *dir, struct warn *w, struct err *e);
void media_close(struct media *m);

/*
 * Fetch the media of the page's elements whose flag in `wanted` is set (the
 * messages being written) over h, whose page requests go on meanwhile.
 * *files gets one entry per page element: the file
 * name relative to DIR, or NULL (valid until the next call). Names are
 * <unique>.<ext> with every byte outside [A-Za-z0-9_-] (and a leading dot)
 * written as %XX: distinct uniques never share a file, none leaves DIR.
 */
int media_page(struct media *m, struct http *h, struct page *pg, const char *body,
	       const unsigned char *wanted, const char *const **files, struct err *e);

unsigned long long media_downloaded(const struct media *m);
/* Files kept from an earlier run; downloads that failed (a warning each). */
unsigned long long media_present(const struct media *m);
unsigned long long media_failed(const struct media *m);

#endif
