#include "input.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (256u * 1024u)

struct reader {
	int fd;
	const char *name;
	int gzip;                 /* -1 undecided, 0 plain, 1 gzip */
	int eof;                  /* read(2) said end of file */
	int done;                 /* no more decoded bytes */
	z_stream z;
	int z_ready;
	unsigned char raw[READ_CHUNK];
	size_t raw_len, raw_pos;
	unsigned long long *bytes_in;
	const volatile int *stop; /* a signal arrived: give up a blocked read */
};

static int read_raw(struct reader *rd, struct err *e)
{
	ssize_t n;

	do
		n = read(rd->fd, rd->raw, sizeof(rd->raw));
	while (n < 0 && errno == EINTR && !(rd->stop && *rd->stop));
	if (n < 0 && errno == EINTR)
		return err_set(e, ERR_INTERRUPTED, "interrupted");
	if (n < 0)
		return err_set(e, ERR_IO, "%s: read failed: %s", rd->name, strerror(errno));
	rd->raw_len = (size_t)n;
	rd->raw_pos = 0;
	*rd->bytes_in += (unsigned long long)n;
	if (n == 0)
		rd->eof = 1;
	return 0;
}

/* Append up to READ_CHUNK decoded bytes to b; sets rd->done after the last. */
static int fill(struct reader *rd, struct buf *b, struct err *e)
{
	if (rd->raw_pos == rd->raw_len && !rd->eof && read_raw(rd, e))
		return -1;
	if (rd->gzip < 0) {
		rd->gzip = rd->raw_len - rd->raw_pos >= 2 && rd->raw[rd->raw_pos] == 0x1f &&
			   rd->raw[rd->raw_pos + 1] == 0x8b;
		if (rd->gzip) {
			if (inflateInit2(&rd->z, 15 + 16) != Z_OK)
				return err_set(e, ERR_SOFTWARE, "%s: cannot initialise zlib", rd->name);
			rd->z_ready = 1;
		}
	}
	if (!rd->gzip) {
		size_t n = rd->raw_len - rd->raw_pos;

		if (buf_add(b, rd->raw + rd->raw_pos, n))
			return err_nomem(e);
		rd->raw_pos = rd->raw_len;
		rd->done = rd->eof;
		return 0;
	}
	if (buf_reserve(b, READ_CHUNK))
		return err_nomem(e);
	for (;;) {
		size_t produced;
		int zr;

		if (rd->raw_pos == rd->raw_len && !rd->eof && read_raw(rd, e))
			return -1;
		rd->z.next_in = rd->raw + rd->raw_pos;
		rd->z.avail_in = (uInt)(rd->raw_len - rd->raw_pos);
		rd->z.next_out = (unsigned char *)buf_tail(b);
		rd->z.avail_out = READ_CHUNK;
		zr = inflate(&rd->z, Z_NO_FLUSH);
		rd->raw_pos = rd->raw_len - rd->z.avail_in;
		produced = READ_CHUNK - rd->z.avail_out;
		b->len += produced;
		if (zr == Z_STREAM_END) {
			/* RFC 1952 §2.2: members may follow one another. */
			if (rd->raw_pos == rd->raw_len && !rd->eof && read_raw(rd, e))
				return -1;
			if (rd->raw_pos == rd->raw_len) {
				rd->done = 1;
				return 0;
			}
			if (rd->raw[rd->raw_pos] != 0x1f)
				return err_data(e, -1, "unexpected bytes after the gzip data");
			inflateReset(&rd->z);
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return err_data(e, -1, "corrupt gzip data (%s)",
					rd->z.msg ? rd->z.msg : "inflate failed");
		} else if (!produced && rd->raw_pos == rd->raw_len && rd->eof) {
			return err_data(e, -1, "gzip data ends early (truncated file?)");
		}
		if (produced)
			return 0;
	}
}

static int only_ws(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
	return 1;
}

/* The read loop: values end at a line end, and jsmn resumes across lines. */
static int read_pages(struct reader *rd, struct page *pg, input_page_fn on_page, void *ctx,
		      const volatile int *stop, struct err *e)
{
	struct buf b = BUF_INIT;
	size_t start = 0, scan = 0;
	unsigned long long base = 0;   /* file offset of b.data[0] */
	unsigned long page_no = 0;
	int rc = -1, begun = 0;

	page_reset(pg);
	for (;;) {
		char *nl = scan < b.len ? memchr(b.data + scan, '\n', b.len - scan) : NULL;
		size_t end;
		int final = 0, r;

		if (stop && *stop) {
			err_set(e, ERR_INTERRUPTED, "interrupted");
			goto out;
		}
		if (nl) {
			end = (size_t)(nl - b.data) + 1;
		} else if (!rd->done) {
			/* Keep only the unfinished value, then read on. */
			if (start) {
				memmove(b.data, b.data + start, b.len - start);
				b.len -= start;
				scan -= start;
				base += start;
				start = 0;
			}
			if (fill(rd, &b, e)) {
				if (e->kind == ERR_DATA && e->offset < 0)
					e->offset = (long long)(base + b.len);
				goto out;
			}
			continue;
		} else {
			end = b.len;
			final = 1;
		}
		if (!begun && only_ws(b.data + start, end - start)) {
			start = scan = end;
			if (final)
				break;
			continue;
		}
		begun = 1;
		r = page_parse(pg, b.data + start, end - start, final, e);
		if (r == PAGE_MORE) {
			scan = end;
			continue;
		}
		if (r < 0) {
			if (e->offset >= 0)
				e->offset += (long long)(base + start);
			goto out;
		}
		page_no++;
		if (on_page(ctx, pg, b.data + start, end - start, page_no, e)) {
			if (e->kind == ERR_DATA && e->offset >= 0)
				e->offset += (long long)(base + start);
			goto out;
		}
		page_reset(pg);
		begun = 0;
		start = scan = end;
		if (final)
			break;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int input_read(const char *path, struct page *pg, input_page_fn on_page, void *ctx,
	       unsigned long long *bytes_in, const volatile int *stop, struct err *e)
{
	static struct reader rd_storage; /* 256 KiB: keep it off the stack */
	struct reader *rd = &rd_storage;
	int is_stdin = !strcmp(path, "-");
	int rc;

	memset(rd, 0, sizeof(*rd));
	rd->name = is_stdin ? "standard input" : path;
	rd->gzip = -1;
	rd->bytes_in = bytes_in;
	rd->stop = stop;
	rd->fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0)
		return err_set(e, ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
	rc = read_pages(rd, pg, on_page, ctx, stop, e);
	if (rd->z_ready)
		inflateEnd(&rd->z);
	if (!is_stdin)
		close(rd->fd);
	if (rc && e->kind == ERR_DATA) {
		if (e->offset >= 0)
			err_prefix(e, "%s: byte %lld: ", rd->name, e->offset);
		else
			err_prefix(e, "%s: ", rd->name);
	} else if (rc && e->kind != ERR_IO && e->kind != ERR_INTERRUPTED &&
		   strncmp(e->msg, rd->name, strlen(rd->name))) {
		err_prefix(e, "%s: ", rd->name);
	}
	return rc;
}
