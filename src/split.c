#include "split.h"
#include "buf.h"
#include "fsutil.h"
#include "hash.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IO_BUF (1u << 20)
#define SCATTER_MEMORY (8u << 20)

struct chat {
	size_t name; /* offset in names */
	uint64_t hash;
	unsigned long long bytes; /* its rows in the sorted spool, trailers included */
	unsigned long long start, cursor;
	struct buf pending; /* scatter: rows waiting for a pwrite */
};

struct split {
	char *dir;
	int in_fd, out_fd; /* tagged rows; rows sorted by chat */
	unsigned long long in_size;
	struct buf wbuf;
	struct buf names;
	struct chat *chat;
	size_t nchat, chat_cap;
	uint32_t *index; /* open addressing: chat number + 1, 0 empty */
	size_t index_cap;
	struct buf rbuf;
};

static int io_fail(struct split *sp, const char *what, struct err *e)
{
	err_set(e, ERR_IO, "temporary chat spool in %s: %s failed: %s%s", sp->dir, what,
		strerror(errno),
		errno == ENOSPC ? " (the files per chat are made from a spool of their rows, "
				  "not compressed: it needs about as much free space as the "
				  "output uncompressed)"
				: "");
	e->errnum = errno;
	return -1;
}

/* No name a kill could leave behind (O_TMPFILE where the file system has it). */
static int anon_file(const char *dir, struct err *e)
{
	int fd = fsutil_unnamed_file(dir, "waexport-chats");

	if (fd < 0)
		err_file(e, errno, "cannot create a temporary spool in %s: %s", dir,
			 strerror(errno));
	return fd;
}

int split_open(struct split **out, const char *spool_dir, struct err *e)
{
	struct split *sp = calloc(1, sizeof(*sp));

	if (!sp || !(sp->dir = strdup(spool_dir))) {
		free(sp);
		return err_nomem(e);
	}
	sp->in_fd = sp->out_fd = -1;
	sp->in_fd = anon_file(spool_dir, e);
	if (sp->in_fd < 0) {
		split_close(sp);
		return -1;
	}
	*out = sp;
	return 0;
}

void split_close(struct split *sp)
{
	if (!sp)
		return;
	if (sp->in_fd >= 0)
		close(sp->in_fd);
	if (sp->out_fd >= 0)
		close(sp->out_fd);
	for (size_t i = 0; i < sp->nchat; i++)
		buf_free(&sp->chat[i].pending);
	free(sp->chat);
	free(sp->index);
	buf_free(&sp->wbuf);
	buf_free(&sp->rbuf);
	buf_free(&sp->names);
	free(sp->dir);
	free(sp);
}

static int grow_index(struct split *sp)
{
	size_t cap = sp->index_cap ? 2 * sp->index_cap : 256;
	uint32_t *idx = calloc(cap, sizeof(*idx));

	if (!idx)
		return -1;
	for (size_t i = 0; i < sp->nchat; i++) {
		size_t s = (size_t)sp->chat[i].hash & (cap - 1);

		while (idx[s])
			s = (s + 1) & (cap - 1);
		idx[s] = (uint32_t)i + 1;
	}
	free(sp->index);
	sp->index = idx;
	sp->index_cap = cap;
	return 0;
}

/* The number of chat `name`, added if new; -1 on ENOMEM. */
static long chat_number(struct split *sp, const char *name, size_t len)
{
	uint64_t h = hash_table(name, len);
	size_t s;
	struct chat *c;

	if (2 * (sp->nchat + 1) > sp->index_cap && grow_index(sp))
		return -1;
	for (s = (size_t)h & (sp->index_cap - 1); sp->index[s]; s = (s + 1) & (sp->index_cap - 1)) {
		c = &sp->chat[sp->index[s] - 1];
		if (c->hash == h && !strncmp(sp->names.data + c->name, name, len) &&
		    sp->names.data[c->name + len] == '\0')
			return (long)(sp->index[s] - 1);
	}
	if (sp->nchat == sp->chat_cap) {
		size_t cap = sp->chat_cap ? 2 * sp->chat_cap : 64;
		struct chat *p = realloc(sp->chat, cap * sizeof(*p));

		if (!p)
			return -1;
		sp->chat = p;
		sp->chat_cap = cap;
	}
	c = &sp->chat[sp->nchat];
	memset(c, 0, sizeof(*c));
	c->name = sp->names.len;
	c->hash = h;
	if (buf_add(&sp->names, name, len) || buf_addc(&sp->names, '\0'))
		return -1;
	sp->index[s] = (uint32_t)++sp->nchat;
	return (long)sp->nchat - 1;
}

static int flush_in(struct split *sp, struct err *e)
{
	if (fsutil_write_all(sp->in_fd, sp->wbuf.data, sp->wbuf.len))
		return io_fail(sp, "write", e);
	sp->in_size += sp->wbuf.len;
	sp->wbuf.len = 0;
	return 0;
}

int split_add(struct split *sp, const char *chat, size_t chat_len, const char *row, size_t len,
	      struct err *e)
{
	long n = chat_number(sp, chat, chat_len);
	uint32_t head[2];

	if (n < 0 || len > UINT32_MAX)
		return err_nomem(e);
	head[0] = (uint32_t)n;
	head[1] = (uint32_t)len;
	/* In the sorted spool a row is framed by its length: [len][row][len]. */
	sp->chat[n].bytes += len + 2 * sizeof(uint32_t);
	if (buf_add(&sp->wbuf, head, sizeof(head)) || buf_add(&sp->wbuf, row, len))
		return err_nomem(e);
	return sp->wbuf.len >= IO_BUF ? flush_in(sp, e) : 0;
}

size_t split_count(const struct split *sp)
{
	return sp->nchat;
}

const char *split_chat(const struct split *sp, size_t i)
{
	return sp->names.data + sp->chat[i].name;
}

static int flush_chat(struct split *sp, struct chat *c, struct err *e)
{
	const char *p = c->pending.data;
	size_t n = c->pending.len;

	while (n) {
		ssize_t w = pwrite(sp->out_fd, p, n, (off_t)c->cursor);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return io_fail(sp, "write", e);
		p += w;
		n -= (size_t)w;
		c->cursor += (unsigned long long)w;
	}
	c->pending.len = 0;
	return 0;
}

static int read_at(struct split *sp, int fd, char *p, size_t n, unsigned long long off,
		   struct err *e)
{
	return fsutil_pread_all(fd, p, n, off) ? io_fail(sp, "read", e) : 0;
}

/* Make n bytes of the tagged spool available at sp->rbuf.data + *at (buffered reads). */
static int need(struct split *sp, size_t *at, unsigned long long *file_pos, size_t n, struct err *e)
{
	size_t have = sp->rbuf.len - *at;

	if (have >= n)
		return 0;
	if (have)
		memmove(sp->rbuf.data, sp->rbuf.data + *at, have);
	sp->rbuf.len = have;
	*at = 0;
	while (sp->rbuf.len < n) {
		size_t want = n - sp->rbuf.len > IO_BUF ? n - sp->rbuf.len : IO_BUF;
		unsigned long long left = sp->in_size - *file_pos;

		if (want > left)
			want = (size_t)left;
		if (!want)
			return err_set(e, ERR_SOFTWARE, "chat spool is corrupt");
		if (buf_reserve(&sp->rbuf, want))
			return err_nomem(e);
		if (read_at(sp, sp->in_fd, buf_tail(&sp->rbuf), want, *file_pos, e))
			return -1;
		sp->rbuf.len += want;
		*file_pos += want;
	}
	return 0;
}

int split_scatter(struct split *sp, const volatile int *stop, struct err *e)
{
	unsigned long long pos = 0, start = 0, consumed = 0;
	size_t per_chat, at = 0;

	if (sp->wbuf.len && flush_in(sp, e))
		return -1;
	buf_free(&sp->wbuf);
	sp->out_fd = anon_file(sp->dir, e);
	if (sp->out_fd < 0)
		return -1;
	per_chat = sp->nchat ? SCATTER_MEMORY / sp->nchat : 0;
	per_chat = per_chat < 512 ? 512 : per_chat > 65536 ? 65536 : per_chat;
	for (size_t i = 0; i < sp->nchat; i++) {
		sp->chat[i].start = sp->chat[i].cursor = start;
		start += sp->chat[i].bytes;
	}
	sp->rbuf.len = 0;
	while (consumed < sp->in_size) {
		uint32_t head[2];
		struct chat *c;

		if (err_stopped(stop, e)) /* a signal: the spools go with the run */
			return -1;
		if (need(sp, &at, &pos, sizeof(head), e))
			return -1;
		memcpy(head, sp->rbuf.data + at, sizeof(head));
		if (head[0] >= sp->nchat || head[1] > sp->in_size - consumed - sizeof(head))
			return err_set(e, ERR_SOFTWARE, "chat spool is corrupt");
		if (need(sp, &at, &pos, sizeof(head) + head[1], e))
			return -1;
		c = &sp->chat[head[0]];
		if (c->pending.len + head[1] + 2 * sizeof(uint32_t) > per_chat && c->pending.len &&
		    flush_chat(sp, c, e))
			return -1;
		if (buf_add(&c->pending, &head[1], sizeof(uint32_t)) ||
		    buf_add(&c->pending, sp->rbuf.data + at + sizeof(head), head[1]) ||
		    buf_add(&c->pending, &head[1], sizeof(uint32_t)))
			return err_nomem(e);
		at += sizeof(head) + head[1];
		consumed += sizeof(head) + head[1];
		if (c->pending.len >= per_chat && flush_chat(sp, c, e))
			return -1;
	}
	for (size_t i = 0; i < sp->nchat; i++) {
		if (sp->chat[i].pending.len && flush_chat(sp, &sp->chat[i], e))
			return -1;
		buf_free(&sp->chat[i].pending);
	}
	close(sp->in_fd);
	sp->in_fd = -1;
	return 0;
}

struct split_cursor {
	struct split *sp;
	unsigned long long lo, hi;
	int oldest_first;
	struct buf row;
};

int split_cursor_open(struct split *sp, size_t i, int oldest_first, struct split_cursor **out,
		      struct err *e)
{
	struct split_cursor *c = calloc(1, sizeof(*c));

	if (!c)
		return err_nomem(e);
	c->sp = sp;
	c->lo = sp->chat[i].start;
	c->hi = sp->chat[i].start + sp->chat[i].bytes;
	c->oldest_first = oldest_first;
	*out = c;
	return 0;
}

/* Each row is framed by its length on both sides: [len][row][len]. */
int split_cursor_next(struct split_cursor *c, const char **row, size_t *len, struct err *e)
{
	struct split *sp = c->sp;
	uint32_t n;
	unsigned long long at;

	if (c->lo >= c->hi)
		return 0;
	if (read_at(sp, sp->out_fd, (char *)&n, sizeof(n),
		    c->oldest_first ? c->hi - sizeof(n) : c->lo, e))
		return -1;
	if ((unsigned long long)n + 2 * sizeof(n) > c->hi - c->lo)
		return err_set(e, ERR_SOFTWARE, "chat spool is corrupt");
	if (c->oldest_first) {
		at = c->hi - sizeof(n) - n;
		c->hi = at - sizeof(n);
	} else {
		at = c->lo + sizeof(n);
		c->lo = at + n + sizeof(n);
	}
	c->row.len = 0;
	if (buf_reserve(&c->row, n ? n : 1))
		return err_nomem(e);
	if (read_at(sp, sp->out_fd, c->row.data, n, at, e))
		return -1;
	c->row.len = n;
	*row = c->row.data;
	*len = n;
	return 1;
}

void split_cursor_close(struct split_cursor *c)
{
	if (!c)
		return;
	buf_free(&c->row);
	free(c);
}

int split_read_chat(struct split *sp, size_t i, int oldest_first, split_emit_fn emit, void *ctx,
		    struct err *e)
{
	struct split_cursor *c = NULL;
	const char *row;
	size_t len;
	int rc;

	if (split_cursor_open(sp, i, oldest_first, &c, e))
		return -1;
	while ((rc = split_cursor_next(c, &row, &len, e)) > 0)
		if (emit(ctx, row, len, e)) {
			rc = -1;
			break;
		}
	split_cursor_close(c);
	return rc;
}
