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

void warn_note(struct warn *w, const char *fmt, ...)
{
	va_list ap;

	w->count++;
	if (w->quiet || !w->to || w->shown >= WARN_SHOWN_MAX)
		return;
	w->shown++;
	fputs("waexport: warning: ", w->to);
	if (w->where[0])
		fprintf(w->to, "%s: ", w->where);
	va_start(ap, fmt);
	vfprintf(w->to, fmt, ap);
	va_end(ap);
	fputc('\n', w->to);
	if (w->shown == WARN_SHOWN_MAX)
		fputs("waexport: warning: further warnings are only counted (see the summary)\n", w->to);
}
