#include "warn.h"

#include <stdarg.h>
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

static void show(struct warn *w, const char *text)
{
	if (w->quiet || !w->to || w->shown >= WARN_SHOWN_MAX)
		return;
	w->shown++;
	fprintf(w->to, "waexport: warning: %s\n", text);
	if (w->shown == WARN_SHOWN_MAX)
		fputs("waexport: warning: further warnings are only counted (see the summary)\n", w->to);
}

void warn_note(struct warn *w, const char *fmt, ...)
{
	char text[WARN_TEXT_MAX];
	size_t n = 0;
	va_list ap;

	w->count++;
	if (w->collect ? w->nkept >= WARN_SHOWN_MAX
		       : w->quiet || !w->to || w->shown >= WARN_SHOWN_MAX)
		return;
	if (w->where[0])
		n = (size_t)snprintf(text, sizeof(text), "%s: ", w->where);
	if (n < sizeof(text)) {
		va_start(ap, fmt);
		vsnprintf(text + n, sizeof(text) - n, fmt, ap);
		va_end(ap);
	}
	if (w->collect)
		memcpy(w->kept[w->nkept++], text, sizeof(text));
	else
		show(w, text);
}

void warn_collect(struct warn *w)
{
	memset(w, 0, sizeof(*w));
	w->collect = 1;
}

void warn_merge(struct warn *into, struct warn *from)
{
	for (unsigned i = 0; i < from->nkept; i++)
		show(into, from->kept[i]);
	into->count += from->count;
	from->count = 0;
	from->nkept = 0;
}
