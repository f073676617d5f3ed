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
	struct warn_line line;
	size_t n = 0;
	va_list ap;

	w->count++;
	line.seq = w->seq++;
	if (w->quiet || !w->to || w->shown >= WARN_SHOWN_MAX ||
	    (w->holding && w->nheld == WARN_HELD_MAX))
		return;
	if (w->where[0])
		n = (size_t)snprintf(line.text, sizeof(line.text), "%s: ", w->where);
	if (n < sizeof(line.text)) {
		va_start(ap, fmt);
		vsnprintf(line.text + n, sizeof(line.text) - n, fmt, ap);
		va_end(ap);
	}
	if (w->holding)
		w->held[w->nheld++] = line;
	else
		show(w, line.text);
}

void warn_hold(struct warn *w)
{
	w->holding = 1;
	w->count_before_hold = w->count;
}

void warn_forget(struct warn *w, unsigned long long first, unsigned long long end)
{
	unsigned k = 0;

	w->count -= end - first;
	for (unsigned i = 0; i < w->nheld; i++)
		if (w->held[i].seq < first || w->held[i].seq >= end)
			w->held[k++] = w->held[i];
	w->nheld = k;
}

void warn_release(struct warn *w)
{
	w->holding = 0;
	for (unsigned i = 0; i < w->nheld; i++)
		show(w, w->held[i].text);
	w->nheld = 0;
}

void warn_discard(struct warn *w)
{
	w->holding = 0;
	w->nheld = 0;
	w->count = w->count_before_hold;
}
