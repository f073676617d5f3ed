#include "order.h"
#include "buf.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Small chunks gather here before a write(2); larger ones go straight from the caller. */
#define ORDER_WBUF (256u << 10)
/* The replay reads the spool backwards this much at a time (more when a chunk is larger). */
#define ORDER_RBLOCK (256u << 10)
/* Marks each chunk's tail, so a replay that lands anywhere else says so. */
#define ORDER_MAGIC 0x6f726472u

/*
 * Each chunk is stored as its bytes followed by this tail: reading the file
 * backwards, the tail says how far back the chunk starts.
 */
struct tail {
	uint64_t len;
	uint64_t raw_len;
	uint32_t crc;
	uint32_t magic;
};

struct order {
	int fd;
	char *dir;
	const char *where; /* how dir was chosen, for messages */
	struct buf wbuf;   /* chunks not yet written */
	struct buf rbuf;   /* the block being replayed: file bytes from rbuf_at on */
	unsigned long long rbuf_at;
	unsigned long long size; /* bytes in the file */
};

static int order_io(struct order *o, const char *what, struct err *e)
{
	int errnum = errno ? errno : EIO;

	err_set(e, ERR_IO,
		"temporary spool for --order oldest in %s: %s failed: %s (it needs "
		"about as much free space as the output; %s)",
		o->dir, what, strerror(errnum), o->where);
	e->errnum = errnum;
	return -1;
}

int order_open(struct order **out, const char *dir, struct err *e)
{
	struct order *o = calloc(1, sizeof(*o));

	*out = NULL;
	if (!o)
		return err_nomem(e);
	o->where = dir ? "it is kept beside the output" : "TMPDIR chooses the directory";
	if (!dir)
		dir = fsutil_tmpdir();
	if (!(o->dir = strdup(dir))) {
		free(o);
		return err_nomem(e);
	}
	o->fd = fsutil_unnamed_file(dir, "waexport-order");
	if (o->fd < 0) {
		/* No room or no inode left: 74, worth a retry; no permission: 73. */
		err_file(e, errno,
			 "cannot create a temporary spool for --order oldest in %s: %s (%s)", dir,
			 strerror(errno), o->where);
		order_close(o);
		return -1;
	}
	*out = o;
	return 0;
}

int order_open_beside(struct order **out, const char *output, struct err *e)
{
	char dir[4096];

	if (!output || !strcmp(output, "-"))
		return order_open(out, NULL, e);
	fsutil_dirname(output, dir, sizeof(dir));
	return order_open(out, dir, e);
}

static int flush_wbuf(struct order *o, struct err *e)
{
	if (o->wbuf.len && fsutil_write_all(o->fd, o->wbuf.data, o->wbuf.len))
		return order_io(o, "write", e);
	o->size += o->wbuf.len;
	o->wbuf.len = 0;
	return 0;
}

int order_add(struct order *o, const void *p, size_t n, uint32_t crc, unsigned long long raw_len,
	      struct err *e)
{
	struct tail t = { n, raw_len, crc, ORDER_MAGIC };

	if (n < ORDER_WBUF / 8) {
		if (buf_add(&o->wbuf, p, n) || buf_add(&o->wbuf, &t, sizeof(t)))
			return err_nomem(e);
		return o->wbuf.len >= ORDER_WBUF ? flush_wbuf(o, e) : 0;
	}
	/* A large chunk is not copied: the buffered ones first, then it. */
	if (flush_wbuf(o, e))
		return -1;
	if (fsutil_write_all(o->fd, p, n) || fsutil_write_all(o->fd, &t, sizeof(t)))
		return order_io(o, "write", e);
	o->size += n + sizeof(t);
	return 0;
}

/*
 * The file's bytes [lo, hi) in the replay's block, read when they are not
 * there yet: a block that ends at hi and reaches back ORDER_RBLOCK, or to lo
 * when that is further. Walking backwards, one read serves many chunks.
 */
static const char *span(struct order *o, unsigned long long lo, unsigned long long hi,
			struct err *e)
{
	unsigned long long at;

	if (lo >= o->rbuf_at && hi <= o->rbuf_at + o->rbuf.len)
		return o->rbuf.data + (lo - o->rbuf_at);
	at = hi > ORDER_RBLOCK ? hi - ORDER_RBLOCK : 0;
	if (lo < at)
		at = lo;
	o->rbuf.len = 0;
	if (buf_reserve(&o->rbuf, (size_t)(hi - at))) {
		err_nomem(e);
		return NULL;
	}
	if (fsutil_pread_all(o->fd, o->rbuf.data, (size_t)(hi - at), at)) {
		order_io(o, "read", e);
		return NULL;
	}
	o->rbuf_at = at;
	o->rbuf.len = (size_t)(hi - at);
	return o->rbuf.data + (lo - at);
}

/* Empty the file for the next segment. */
static int truncate_spool(struct order *o, struct err *e)
{
	/* ftruncate keeps the file offset: without the lseek the next write leaves a hole. */
	if (ftruncate(o->fd, 0) || lseek(o->fd, 0, SEEK_SET) < 0)
		return order_io(o, "truncate", e);
	o->size = 0;
	return 0;
}

int order_replay(struct order *o, const volatile int *stop, order_emit_fn emit, void *ctx,
		 struct err *e)
{
	unsigned long long pos;

	if (flush_wbuf(o, e))
		return -1;
	pos = o->size;
	o->rbuf.len = 0;
	o->rbuf_at = 0;
	while (pos) {
		const char *p;
		struct tail t;

		if (pos < sizeof(t))
			return err_set(e, ERR_SOFTWARE, "temporary spool in %s is corrupt", o->dir);
		if (!(p = span(o, pos - sizeof(t), pos, e)))
			return -1;
		memcpy(&t, p, sizeof(t));
		pos -= sizeof(t);
		if (err_stopped(stop, e)) /* a signal: the spool is dropped with the run */
			return -1;
		if (t.magic != ORDER_MAGIC || t.len > pos)
			return err_set(e, ERR_SOFTWARE, "temporary spool in %s is corrupt", o->dir);
		pos -= t.len;
		if (!(p = span(o, pos, pos + t.len, e)) ||
		    emit(ctx, p, (size_t)t.len, t.crc, t.raw_len, e))
			return -1;
	}
	o->rbuf.len = 0;
	return truncate_spool(o, e);
}

void order_close(struct order *o)
{
	if (!o)
		return;
	if (o->fd >= 0)
		close(o->fd);
	buf_free(&o->wbuf);
	buf_free(&o->rbuf);
	free(o->dir);
	free(o);
}
