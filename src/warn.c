#include "warn.h"
#include "log.h"
#include "printable.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

void warn_init(struct warn *w, int quiet)
{
	memset(w, 0, sizeof(*w));
	w->quiet = quiet;
	w->to = stderr;
}

void warn_where(struct warn *w, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(w->where, sizeof(w->where), fmt, ap);
	va_end(ap);
}

/* Whether the next warning goes anywhere: stderr, or the log file (also under --quiet). */
static int showing(const struct warn *w)
{
	return w->shown < WARN_SHOWN_MAX && ((!w->quiet && w->to) || log_enabled());
}

static void show(struct warn *w, const char *text)
{
	char shown[WARN_TEXT_MAX * 4];
	FILE *to = w->quiet ? NULL : w->to;

	if (!showing(w))
		return;
	w->shown++;
	printable(shown, sizeof(shown), text, strlen(text));
	log_line(to, "waexport: warning: %s", shown);
	if (w->shown == WARN_SHOWN_MAX)
		log_line(to,
			 "waexport: warning: further warnings are only counted (see the summary)");
}

void warn_note(struct warn *w, const char *fmt, ...)
{
	char text[WARN_TEXT_MAX];
	size_t n = 0;
	va_list ap;

	w->count++;
	if (w->collect && w->ntags == w->tags_cap) {
		size_t cap = w->tags_cap ? 2 * w->tags_cap : 64;
		long *t = realloc(w->tags, cap * sizeof(*t));

		if (t) {
			w->tags = t;
			w->tags_cap = cap;
		}
	}
	if (w->collect && w->ntags < w->tags_cap)
		w->tags[w->ntags++] = w->tag;
	if (w->collect ? w->nkept >= WARN_SHOWN_MAX : !showing(w))
		return;
	if (w->where[0])
		n = (size_t)snprintf(text, sizeof(text), "%s: ", w->where);
	if (n < sizeof(text)) {
		va_start(ap, fmt);
		vsnprintf(text + n, sizeof(text) - n, fmt, ap);
		va_end(ap);
	}
	if (w->collect) {
		w->kept_tag[w->nkept] = w->tag;
		memcpy(w->kept[w->nkept++], text, sizeof(text));
	} else
		show(w, text);
}

void warn_collect(struct warn *w)
{
	memset(w, 0, sizeof(*w));
	w->collect = 1;
	w->tag = WARN_UNTAGGED;
}

void warn_tag(struct warn *w, long tag)
{
	w->tag = tag;
}

static int passes(long tag, const unsigned char *keep)
{
	return !keep || tag == WARN_UNTAGGED || keep[tag];
}

void warn_merge(struct warn *into, struct warn *from, const unsigned char *keep)
{
	for (unsigned i = 0; i < from->nkept; i++)
		if (passes(from->kept_tag[i], keep))
			show(into, from->kept[i]);
	/* Notes whose tag could not be stored (no memory) are counted. */
	into->count += from->count - from->ntags;
	for (size_t i = 0; i < from->ntags; i++)
		into->count += (unsigned long long)passes(from->tags[i], keep);
	warn_collect_reset(from);
}

void warn_collect_reset(struct warn *w)
{
	w->count = 0;
	w->ntags = 0;
	w->nkept = 0;
	w->tag = WARN_UNTAGGED;
}

void warn_free_collector(struct warn *w)
{
	free(w->tags);
	w->tags = NULL;
	w->ntags = w->tags_cap = 0;
}
