#include "progress.h"
#include "monotonic.h"
#include "printable.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

void progress_init(struct progress *p, int live)
{
	p->live = live;
	p->start = p->last = monotonic_s();
	p->drawn = 0;
	p->waiting = 0;
	p->to = stderr;
}

const char *progress_bytes(unsigned long long n, char *out, size_t size)
{
	if (n < 1000)
		snprintf(out, size, "%llu B", n);
	else if (n < 1000000)
		snprintf(out, size, "%.1f kB", (double)n / 1e3);
	else if (n < 1000000000)
		snprintf(out, size, "%.1f MB", (double)n / 1e6);
	else
		snprintf(out, size, "%.2f GB", (double)n / 1e9);
	return out;
}

/* Append to the line (cut at its end). */
static void add(char *out, size_t size, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add(char *out, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;

	if (*n >= size)
		return;
	va_start(ap, fmt);
	*n += (size_t)vsnprintf(out + *n, size - *n, fmt, ap);
	va_end(ap);
}

void progress_format(char *out, size_t size, const struct progress_figures *f, double elapsed)
{
	const struct walk_wait *w = f->wait;
	char bytes[32], when[32];
	size_t n = 0;
	unsigned secs = elapsed > 0 ? (unsigned)elapsed : 0;
	struct tm tm;
	time_t t;

	out[0] = '\0';
	/* First, so that a narrow terminal still shows why nothing moves. */
	if (w && w->status)
		add(out, size, &n, "waiting %.0f s: page %lu answered HTTP %ld (retry %d of %d); ",
		    ceil(w->left), w->page_no, w->status, w->retry, w->retries);
	else if (w) {
		char why[256]; /* libcurl's words may quote what the server sent */

		printable(why, sizeof(why), w->why ? w->why : "no answer",
			  strlen(w->why ? w->why : "no answer"));
		add(out, size, &n, "waiting %.0f s: page %lu: %s (retry %d of %d); ", ceil(w->left),
		    w->page_no, why, w->retry, w->retries);
	}
	add(out, size, &n, "%llu pages, ", f->pages);
	if (f->journal_pages) /* worded as the summary words it */
		add(out, size, &n, "%llu of the journal, ", f->journal_pages);
	add(out, size, &n, "%llu messages, %.0f msg/s, %s of output", f->messages,
	    (double)f->messages / (elapsed + 1e-9), progress_bytes(f->bytes, bytes, sizeof(bytes)));
	t = (time_t)f->oldest;
	if (f->has_oldest && gmtime_r(&t, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm))
		add(out, size, &n, ", back to %s UTC", when);
	if (f->media)
		add(out, size, &n, ", %llu media files", f->media);
	if (f->retries)
		add(out, size, &n, ", %llu retries", f->retries);
	add(out, size, &n, ", %u:%02u elapsed", secs / 60, secs % 60);
}

void progress_update(struct progress *p, const struct progress_figures *f)
{
	double now;
	char line[512];

	if (!p->live)
		return;
	now = monotonic_s();
	/* A wait that starts or ends is shown at once; the rest five times a second. */
	if (now - p->last < 0.2 && (f->wait != NULL) == p->waiting)
		return;
	p->waiting = f->wait != NULL;
	p->last = now;
	progress_format(line, sizeof(line), f, now - p->start);
	fprintf(p->to, "\r\033[K%s", line);
	fflush(p->to);
	p->drawn = 1;
}

void progress_clear(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", p->to);
		fflush(p->to);
		p->drawn = 0;
	}
}
