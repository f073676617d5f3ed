#include "err.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
{
	va_list ap;

	e->kind = kind;
	e->errnum = 0;
	e->signo = 0;
	e->offset = -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int err_file(struct err *e, int errnum, const char *fmt, ...)
{
	va_list ap;

	e->kind = err_file_kind(errnum);
	e->errnum = errnum;
	e->offset = -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int err_prefix(struct err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	size_t n;
	va_list ap;
	int w;

	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	w = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = w < 0 ? 0 : (size_t)w;
	if (n < sizeof(e->msg) - 1) {
		size_t room = sizeof(e->msg) - 1 - n, k = strnlen(old, sizeof(old));

		if (k > room)
			k = room;
		memcpy(e->msg + n, old, k);
		e->msg[n + k] = '\0';
	}
	return -1;
}

int err_nomem(struct err *e)
{
	return err_set(e, ERR_SOFTWARE, "out of memory");
}

int err_stopped(const volatile int *stop, struct err *e)
{
	return stop && *stop ? err_set(e, ERR_INTERRUPTED, "interrupted") : 0;
}

int err_data(struct err *e, long long offset, const char *fmt, ...)
{
	va_list ap;

	e->kind = ERR_DATA;
	e->errnum = 0;
	e->offset = offset;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int err_broken_pipe(const struct err *e)
{
	return e->kind == ERR_IO && e->errnum == EPIPE && e->signo == SIGPIPE;
}

enum err_kind err_file_kind(int errnum)
{
	switch (errnum) {
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ELOOP:
	case ENAMETOOLONG: return ERR_CANTCREAT;
	default: return ERR_IO;
	}
}
