#include "flush.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* glibc has no wrappers for the kernel's own AIO calls. */
static long aio_setup(aio_context_t *ctx)
{
	return syscall(SYS_io_setup, 1, ctx);
}

static long aio_submit(aio_context_t ctx, struct iocb *cb)
{
	struct iocb *list[1] = { cb };

	return syscall(SYS_io_submit, ctx, 1, list);
}

/* Reap the outstanding flush; wait for it when `wait`. */
static void reap(struct flush *f, int wait)
{
	struct io_event ev;
	struct timespec now = { 0, 0 };
	long got;

	if (!f->pending)
		return;
	do
		got = syscall(SYS_io_getevents, f->ctx, 1, 1, &ev, wait ? NULL : &now);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		/* The context is unusable: the final fsync stands alone. */
		f->pending = 0;
		return;
	}
	if (got == 1) {
		f->pending = 0;
		if (ev.res < 0 && !f->errnum)
			f->errnum = (int)-ev.res;
	}
}

void flush_open(struct flush *f, int fd)
{
	memset(f, 0, sizeof(*f));
	f->on = 1;
	f->fd = fd;
	if (aio_setup(&f->ctx))
		f->ctx = 0;
}

/* One more fdatasync, unless one is still running. */
static void ask(struct flush *f)
{
	if (!f->ctx)
		return;
	reap(f, 0);
	if (f->pending)
		return;
	memset(&f->cb, 0, sizeof(f->cb));
	f->cb.aio_fildes = (unsigned)f->fd;
	f->cb.aio_lio_opcode = IOCB_CMD_FDSYNC;
	if (aio_submit(f->ctx, &f->cb) == 1) {
		f->pending = 1;
	} else if (errno != EAGAIN) {
		/* Refused for this file (no fsync there): the final fsync stands alone. */
		syscall(SYS_io_destroy, f->ctx);
		f->ctx = 0;
	}
}

void flush_grown(struct flush *f, unsigned long long size)
{
	if (!f->on || size < f->synced + FLUSH_STEP)
		return;
	(void)sync_file_range(f->fd, (off64_t)f->synced, (off64_t)(size - f->synced),
			      SYNC_FILE_RANGE_WRITE);
	f->synced = size;
	ask(f);
}

int flush_wait(struct flush *f)
{
	if (f->ctx)
		reap(f, 1);
	return f->errnum;
}

void flush_close(struct flush *f)
{
	if (!f->ctx)
		return;
	reap(f, 1);
	syscall(SYS_io_destroy, f->ctx);
	f->ctx = 0;
}
