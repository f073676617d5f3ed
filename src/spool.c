#include "spool.h"
#include "buf.h"
#include "fsutil.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define SPOOL_WBUF (1u << 20)

struct spool {
	int fd;
	char *dir;
	struct buf wbuf;       /* pending writes */
	struct buf rbuf;       /* one record while replaying */
	unsigned long long size;
};

static int spool_io(struct spool *sp, const char *what, struct err *e)
{
	err_set(e, ERR_IO, "temporary spool in %s: %s failed: %s (it needs about as much free "
		"space as the output)", sp->dir, what, strerror(errno));
	e->errnum = errno;
	return -1;
}

int spool_open(struct spool **out, const char *dir, struct err *e)
{
	struct spool *sp = calloc(1, sizeof(*sp));
	char path[4096];
	char *tmp = NULL;

	if (!sp || !(sp->dir = strdup(dir))) {
		free(sp);
		return err_nomem(e);
	}
	snprintf(path, sizeof(path), "%s/waexport-spool", dir);
	sp->fd = fsutil_temp_beside(path, &tmp);
	if (sp->fd < 0) {
		err_set(e, ERR_CANTCREAT, "cannot create a temporary spool in %s: %s", dir, strerror(errno));
		free(sp->dir);
		free(sp);
		return -1;
	}
	unlink(tmp);
	free(tmp);
	*out = sp;
	return 0;
}

static int flush_wbuf(struct spool *sp, struct err *e)
{
	if (fsutil_write_all(sp->fd, sp->wbuf.data, sp->wbuf.len))
		return spool_io(sp, "write", e);
	sp->size += sp->wbuf.len;
	sp->wbuf.len = 0;
	return 0;
}

static int read_at(struct spool *sp, void *p, size_t n, unsigned long long off, struct err *e);

int spool_add(struct spool *sp, const void *p, size_t n, struct err *e)
{
	uint64_t len = n;

	if (n >= SPOOL_WBUF / 8) {
		/* A large record goes straight from the caller's buffer. */
		struct iovec iov[2] = { { (void *)p, n }, { &len, sizeof(len) } };
		size_t total = n + sizeof(len);
		ssize_t w;

		if (sp->wbuf.len && flush_wbuf(sp, e))
			return -1;
		while ((w = writev(sp->fd, iov, 2)) < 0 && errno == EINTR)
			;
		if (w < 0)
			return spool_io(sp, "write", e);
		sp->size += (unsigned long long)w;
		if ((size_t)w < total) { /* a short write: the rest by hand */
			size_t done = (size_t)w;

			if (done < n && fsutil_write_all(sp->fd, (const char *)p + done, n - done))
				return spool_io(sp, "write", e);
			if (fsutil_write_all(sp->fd, (const char *)&len + (done > n ? done - n : 0),
					     sizeof(len) - (done > n ? done - n : 0)))
				return spool_io(sp, "write", e);
			sp->size += total - done;
		}
		return 0;
	}
	if (buf_add(&sp->wbuf, p, n) || buf_add(&sp->wbuf, &len, sizeof(len)))
		return err_nomem(e);
	return sp->wbuf.len >= SPOOL_WBUF ? flush_wbuf(sp, e) : 0;
}

int spool_flush(struct spool *sp, struct err *e)
{
	return sp->wbuf.len ? flush_wbuf(sp, e) : 0;
}

unsigned long long spool_end(const struct spool *sp)
{
	return sp->size;
}

int spool_fd(const struct spool *sp)
{
	return sp->fd;
}

int spool_prev(struct spool *sp, unsigned long long *pos, unsigned long long *off, size_t *len,
	       struct err *e)
{
	uint64_t n;

	if (!*pos)
		return 0;
	if (*pos < sizeof(n) || read_at(sp, &n, sizeof(n), *pos - sizeof(n), e))
		return *pos < sizeof(n) ? err_set(e, ERR_SOFTWARE, "spool is corrupt") : -1;
	if (n > *pos - sizeof(n))
		return err_set(e, ERR_SOFTWARE, "spool is corrupt");
	*off = *pos - sizeof(n) - n;
	*len = (size_t)n;
	*pos = *off;
	return 1;
}

static int read_at(struct spool *sp, void *p, size_t n, unsigned long long off, struct err *e)
{
	return fsutil_pread_all(sp->fd, p, n, off) ? spool_io(sp, "read", e) : 0;
}

int spool_replay(struct spool *sp, spool_emit_fn emit, void *ctx, struct err *e)
{
	unsigned long long pos;

	if (sp->wbuf.len && flush_wbuf(sp, e))
		return -1;
	pos = sp->size;
	while (pos) {
		uint64_t len;

		if (pos < sizeof(len) || read_at(sp, &len, sizeof(len), pos - sizeof(len), e))
			return pos < sizeof(len) ? err_set(e, ERR_SOFTWARE, "spool is corrupt") : -1;
		pos -= sizeof(len);
		if (len > pos)
			return err_set(e, ERR_SOFTWARE, "spool is corrupt");
		sp->rbuf.len = 0;
		if (buf_reserve(&sp->rbuf, (size_t)len))
			return err_nomem(e);
		if (read_at(sp, sp->rbuf.data, (size_t)len, pos - len, e))
			return -1;
		pos -= len;
		if (emit(ctx, sp->rbuf.data, (size_t)len, e))
			return -1;
	}
	return 0;
}

int spool_truncate(struct spool *sp, struct err *e)
{
	sp->wbuf.len = 0;
	/* ftruncate keeps the file offset: without the lseek the next write leaves a hole. */
	if (ftruncate(sp->fd, 0) || lseek(sp->fd, 0, SEEK_SET) < 0)
		return spool_io(sp, "truncate", e);
	sp->size = 0;
	return 0;
}

void spool_close(struct spool *sp)
{
	if (!sp)
		return;
	close(sp->fd);
	buf_free(&sp->wbuf);
	buf_free(&sp->rbuf);
	free(sp->dir);
	free(sp);
}
