#include "flush.h"
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void run_fdatasync(void *ctx, void *job)
{
	struct flush_job *j = job;

	(void)ctx;
	j->errnum = fdatasync(j->fd) ? errno : 0;
}

/* Take the outstanding flush back; wait for it when `wait`. */
static void reap(struct flush *f, int wait)
{
	struct flush_job *j;

	if (!f->pending || !(j = pool_take(f->pool, wait)))
		return;
	f->pending = 0;
	if (j->errnum == EINVAL)
		f->refused = 1; /* no fsync for this file: the final one reports it */
	else if (j->errnum && !f->errnum)
		f->errnum = j->errnum;
}

void flush_open(struct flush *f, int fd)
{
	memset(f, 0, sizeof(*f));
	f->on = 1;
	f->fd = fd;
	f->job.fd = fd;
}

/* One more fdatasync, unless one is still running. */
static void ask(struct flush *f)
{
	struct err e;

	if (f->refused)
		return;
	if (!f->pool && pool_new(&f->pool, 1, 1, run_fdatasync, NULL, &e)) {
		f->refused = 1;
		return;
	}
	reap(f, 0);
	if (f->pending || f->refused)
		return;
	pool_submit(f->pool, &f->job);
	f->pending = 1;
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
	reap(f, 1);
	return f->errnum;
}

void flush_close(struct flush *f)
{
	reap(f, 1);
	pool_free(f->pool);
	f->pool = NULL;
}
