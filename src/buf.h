/*
 * buf: the one growable byte buffer of the project (length + capacity, like
 * git's strbuf). Everything whose size comes from outside lives in one.
 * The buffer owns its bytes; buf_free releases them. Growth failures are
 * reported (-1), never hidden: callers turn them into an error.
 */
#ifndef WAEXPORT_BUF_H
#define WAEXPORT_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

#define BUF_INIT           \
	{                  \
		NULL, 0, 0 \
	}

/* Make room for at least `extra` more bytes. 0 on success, -1 on ENOMEM. */
int buf_grow(struct buf *b, size_t extra);
void buf_free(struct buf *b);

static inline int buf_reserve(struct buf *b, size_t extra)
{
	return b->cap - b->len >= extra ? 0 : buf_grow(b, extra);
}

static inline int buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n))
		return -1;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static inline int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

static inline int buf_addc(struct buf *b, char c)
{
	if (buf_reserve(b, 1))
		return -1;
	b->data[b->len++] = c;
	return 0;
}

/* Append printf-formatted text. 0, or -1 on ENOMEM. */
int buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Append a decimal integer. */
int buf_add_i64(struct buf *b, long long v);

/* Pointer to the free space after reserving; caller advances len. */
static inline char *buf_tail(struct buf *b)
{
	return b->data + b->len;
}

#endif
