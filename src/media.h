/*
 * media: --media-dir (SPEC §5.4). Before a page's rows are written, the
 * files its media messages link to are downloaded into DIR as
 * <unique>.<ext> (the name sanitised so nothing can leave DIR), through
 * http's downloads: concurrently, skipping files already there, each
 * capped in size. A dead link (they expire after 7 days: 404, 410, another
 * 4xx) is a warning; its row keeps an empty media_file. A host that fails
 * (5xx, 429, a timeout) is retried as the page requests are (SPEC §5.5);
 * after the last retry it is a warning too (one file must not hold back
 * every night's messages; --lookback asks again). A file that cannot be
 * saved here (disk full, permissions) fails the run (ERR_IO): the
 * checkpoint stays, so the next run fetches the file while its link works.
 * Under a low descriptor limit fewer files download at once (http.c).
 *
 * A media owns one page's downloads and file names (valid until the next
 * page) and the run's counts; the page's records are lent to it.
 */
#ifndef WAEXPORT_MEDIA_H
#define WAEXPORT_MEDIA_H

#include "err.h"
#include "http.h"
#include "page.h"
#include "walk.h"
#include "warn.h"

/* Files larger than this are not kept. */
#define MEDIA_MAX_BYTES (256ull * 1024 * 1024)

/*
 * A temporary download untouched this long was left by a killed run: every
 * live transfer ends within --timeout (an hour at most), so twice that is
 * safe even when another run shares the directory.
 */
#define MEDIA_TEMP_AGE (2 * 3600L)

struct media;

/*
 * retry: the page walk's options; its retries and retry_base are copied.
 * stats: where the downloads' retries are added (the run's summary), or NULL;
 * it must outlive m.
 */
int media_open(struct media **out, const char *dir, const struct walk_opts *retry,
	       struct walk_stats *stats, struct warn *w, struct err *e);
void media_close(struct media *m);

/*
 * Fetch the media of the page's elements whose flag in `wanted` is set (the
 * messages being written) over h, whose page requests go on meanwhile.
 * *files gets one entry per page element: the file
 * name relative to DIR, or NULL (valid until the next call). Names are
 * <unique>.<ext> with every byte outside [A-Za-z0-9_-] (and a leading dot)
 * written as %XX; a long or undecodable unique keeps what fits of it and
 * ends with ~<hash>, so every name fits NAME_MAX: distinct uniques never
 * share a file, none leaves DIR.
 */
int media_page(struct media *m, struct http *h, struct page *pg, const char *body,
	       const unsigned char *wanted, const char *const **files, struct err *e);

unsigned long long media_downloaded(const struct media *m);
/* Files kept from an earlier run; downloads that failed (a warning each). */
unsigned long long media_present(const struct media *m);
unsigned long long media_failed(const struct media *m);

#endif
