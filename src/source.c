#include "source.h"
#include "boundary.h"
#include "jsontext.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (64u * 1024)

enum mode { MODE_FIRST, MODE_LINES, MODE_SCAN };

struct source {
	char *const *files;
	size_t nfiles;
	size_t cur; /* the file being read */
	int fd;     /* -1: no file open */
	const char *name;
	int gzip; /* -1: not known yet */
	z_stream z;
	int z_ready;
	unsigned char raw[READ_CHUNK];
	size_t raw_pos, raw_len;
	int eof;  /* the fd gave everything */
	int done; /* and every byte of it is in the buffer */
	enum mode mode;
	struct boundary sc;
	struct buf carry;             /* the start of a body the last batch could not end */
	unsigned long long carry_off; /* file offset of carry.data[0] */
	unsigned long bodies_in_file;
	unsigned long long bytes_in;
	const volatile int *stop;
	struct warn *warn;
};

static int stopped(const struct source *s, struct err *e)
{
	return err_stopped(s->stop, e);
}

/* SPEC §3: an input that cannot be opened or read is 66, naming it. */
static int open_file(struct source *s, const char *path, struct err *e)
{
	struct stat st;

	s->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (s->fd < 0)
		return err_set(e, ERR_NOINPUT, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(s->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(s->fd);
		s->fd = -1;
		return err_set(e, ERR_NOINPUT,
			       "%s: is a directory; convert reads files of saved API "
			       "pages (name the files, e.g. %s/*.jsonl.gz)",
			       path, path);
	}
	return 0;
}

static int next_file(struct source *s, struct err *e)
{
	const char *path = s->files[s->cur];

	s->name = strcmp(path, "-") ? path : "standard input";
	s->gzip = -1;
	s->raw_pos = s->raw_len = 0;
	s->eof = s->done = 0;
	s->mode = MODE_FIRST;
	memset(&s->sc, 0, sizeof(s->sc));
	s->carry.len = 0;
	s->carry_off = 0;
	s->bodies_in_file = 0;
	if (!strcmp(path, "-")) {
		s->fd = STDIN_FILENO;
		return 0;
	}
	return open_file(s, path, e);
}

static void close_file(struct source *s)
{
	if (s->fd > STDIN_FILENO)
		close(s->fd);
	s->fd = -1;
	if (s->z_ready)
		inflateEnd(&s->z);
	s->z_ready = 0;
}

int source_open(struct source **out, char *const *files, size_t nfiles, const volatile int *stop,
		struct warn *w, struct err *e)
{
	struct source *s;

	*out = NULL;
	/* Every input is checked before the first byte is read (SPEC §3: 66). */
	for (size_t i = 0; i < nfiles; i++) {
		struct source probe = { .fd = -1 };
		struct stat st;

		if (!strcmp(files[i], "-"))
			continue;
		if (stat(files[i], &st))
			return err_set(e, ERR_NOINPUT, "%s: cannot open: %s", files[i],
				       strerror(errno));
		/* A FIFO is not opened to look at it: that would cut its writer off. */
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;
		if (open_file(&probe, files[i], e))
			return -1;
		close(probe.fd);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return err_nomem(e);
	s->files = files;
	s->nfiles = nfiles;
	s->stop = stop;
	s->warn = w;
	s->fd = -1;
	*out = s;
	if (nfiles && next_file(s, e))
		return -1;
	return 0;
}

static int read_raw(struct source *s, void *to, size_t cap, size_t *got, struct err *e)
{
	ssize_t n;

	do
		n = read(s->fd, to, cap);
	while (n < 0 && errno == EINTR && !(s->stop && *s->stop));
	if (n < 0 && errno == EINTR)
		return err_set(e, ERR_INTERRUPTED, "interrupted");
	if (n < 0) /* SPEC §3: an input that cannot be read is 66, whatever the reason */
		return err_set(e, ERR_NOINPUT, "%s: cannot read: %s", s->name, strerror(errno));
	*got = (size_t)n;
	s->bytes_in += (unsigned long long)n;
	if (!n)
		s->eof = 1;
	return 0;
}

/* Inflate what the raw buffer holds (and more) into dst: at least one byte, or the end. */
static int inflate_some(struct source *s, struct buf *dst, struct err *e)
{
	for (;;) {
		size_t produced;
		int zr;

		if (s->raw_pos == s->raw_len && !s->eof) {
			if (read_raw(s, s->raw, sizeof(s->raw), &s->raw_len, e))
				return -1;
			s->raw_pos = 0;
		}
		s->z.next_in = s->raw + s->raw_pos;
		s->z.avail_in = (uInt)(s->raw_len - s->raw_pos);
		s->z.next_out = (unsigned char *)buf_tail(dst);
		s->z.avail_out = READ_CHUNK;
		zr = inflate(&s->z, Z_NO_FLUSH);
		s->raw_pos = s->raw_len - s->z.avail_in;
		produced = READ_CHUNK - s->z.avail_out;
		dst->len += produced;
		if (zr == Z_STREAM_END) {
			/* RFC 1952 §2.2: members may follow one another. */
			if (s->raw_pos == s->raw_len && !s->eof) {
				if (read_raw(s, s->raw, sizeof(s->raw), &s->raw_len, e))
					return -1;
				s->raw_pos = 0;
			}
			if (s->raw_pos == s->raw_len) {
				s->done = 1;
				return 0;
			}
			if (s->raw[s->raw_pos] != 0x1f)
				return err_set(e, ERR_DATA,
					       "%s: unexpected bytes after the gzip data", s->name);
			inflateReset(&s->z);
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return err_set(e, ERR_DATA, "%s: corrupt gzip data (%s)", s->name,
				       s->z.msg ? s->z.msg : "inflate failed");
		} else if (!produced && s->raw_pos == s->raw_len && s->eof) {
			return err_set(e, ERR_DATA, "%s: gzip data ends early (truncated file?)",
				       s->name);
		}
		if (produced)
			return 0;
	}
}

/* Read more of the current file into dst. */
static int read_more(struct source *s, struct buf *dst, struct err *e)
{
	size_t got = 0;

	if (stopped(s, e))
		return -1;
	if (buf_reserve(dst, READ_CHUNK))
		return err_nomem(e);
	if (s->gzip < 0) {
		/* The first bytes tell gzip from text: read them into the raw buffer. */
		if (read_raw(s, s->raw, sizeof(s->raw), &s->raw_len, e))
			return -1;
		s->raw_pos = 0;
		s->gzip = s->raw_len >= 2 && s->raw[0] == 0x1f && s->raw[1] == 0x8b;
		if (s->gzip) {
			if (inflateInit2(&s->z, 15 + 16) != Z_OK)
				return err_set(e, ERR_SOFTWARE, "cannot initialise zlib");
			s->z_ready = 1;
			return inflate_some(s, dst, e);
		}
		memcpy(buf_tail(dst), s->raw, s->raw_len);
		dst->len += s->raw_len;
		s->done = s->eof;
		return 0;
	}
	if (s->gzip)
		return inflate_some(s, dst, e);
	if (read_raw(s, buf_tail(dst), READ_CHUNK, &got, e))
		return -1;
	dst->len += got;
	s->done = s->eof;
	return 0;
}

/*
 * The end of the body that starts at p[0], within p[0..n), or 0. The first
 * body of a file is scanned; when it is on one line and the rest of that
 * line is blank, the file is taken to hold one body per line and later
 * bodies end at a newline.
 */
static size_t body_end(struct source *s, const char *p, size_t n)
{
	size_t end, i;

	if (s->mode == MODE_LINES) {
		const char *nl = memchr(p + s->sc.pos, '\n', n - s->sc.pos);

		if (nl)
			return (size_t)(nl - p) + 1;
		s->sc.pos = n;
		return 0;
	}
	end = boundary_scan(&s->sc, p, n);
	if (!end || s->mode != MODE_FIRST)
		return end;
	for (i = end; i < n && p[i] != '\n' && json_is_space(p[i]); i++)
		;
	/* A first body on lines of its own (jq's pretty print) says nothing of the next ones. */
	s->mode = i < n && p[i] == '\n' && !memchr(p, '\n', end) ? MODE_LINES : MODE_SCAN;
	return end;
}

static int add_body(struct source *s, struct source_body *b, size_t off, size_t len,
		    unsigned long long file_off)
{
	b->off = off;
	b->len = len;
	b->file_off = file_off;
	b->file = (unsigned)s->cur;
	b->first = !s->bodies_in_file;
	memset(&s->sc, 0, sizeof(s->sc));
	s->bodies_in_file++;
	return 1;
}

/* The current file is read whole: on to the next. 1 when there is none. */
static int end_file(struct source *s, struct err *e)
{
	if (!s->bodies_in_file)
		warn_note(s->warn, "%s: empty input, no pages in it", s->name);
	close_file(s);
	if (++s->cur == s->nfiles)
		return 1;
	return next_file(s, e) ? -1 : 0;
}

/* A UTF-8 byte-order mark before the first body is skipped (SPEC §5.7). -1: need more bytes. */
static int skip_bom(struct source *s, const char *p, size_t n)
{
	if (n < 3 && !s->done && !memcmp(p, "\xef\xbb\xbf", n)) /* a mark's first bytes */
		return -1;
	if (json_bom_len(p, n)) {
		warn_note(s->warn, "%s: skipped a UTF-8 byte-order mark at the start", s->name);
		return 3;
	}
	return 0;
}

int source_fill(struct source *s, struct buf *dst, size_t want, struct source_body *bodies,
		size_t max, struct err *e)
{
	size_t base = dst->len, pos = base, count = 0;
	unsigned long long off = s->carry_off; /* file offset of dst->data[pos] */

	if (s->cur >= s->nfiles)
		return 0;
	if (buf_add(dst, s->carry.data, s->carry.len))
		return err_nomem(e);
	s->carry.len = 0;
	/* Skipped bytes (a BOM) count toward want: without a body yet, go on, 0 is the end. */
	while (count < max && (pos - base < want || !count)) {
		while (pos < dst->len && json_is_space(dst->data[pos]) && !s->sc.begun) {
			pos++;
			off++;
		}
		if (pos < dst->len) {
			size_t end;
			int bom = off == 0 ? skip_bom(s, dst->data + pos, dst->len - pos) : 0;

			if (bom > 0) {
				pos += 3;
				off += 3;
				continue;
			}
			end = bom ? 0 : body_end(s, dst->data + pos, dst->len - pos);
			if (end) {
				count += add_body(s, &bodies[count], pos, end, off);
				pos += end;
				off += end;
				continue;
			}
			if (dst->len - pos > JSON_MAX_BODY)
				return err_set(e, ERR_DATA,
					       "%s: byte %llu: a page longer than %u MiB "
					       "(the limit of one page)",
					       s->name, off, JSON_MAX_BODY >> 20);
		}
		if (!count && pos > base) {
			/* Only white space so far: drop it, so blank input cannot grow the buffer. */
			memmove(dst->data + base, dst->data + pos, dst->len - pos);
			dst->len -= pos - base;
			pos = base;
		}
		if (!s->done) {
			if (read_more(s, dst, e))
				return -1;
			continue;
		}
		if (pos < dst->len) /* the last body of the file has no newline after it */
			count += add_body(s, &bodies[count], pos, dst->len - pos, off);
		pos = dst->len;
		switch (end_file(s, e)) {
		case 1: return (int)count;
		case -1: return -1;
		default: off = 0; break;
		}
	}
	if (buf_add(&s->carry, dst->data + pos, dst->len - pos))
		return err_nomem(e);
	s->carry_off = off;
	dst->len = pos;
	return (int)count;
}

const char *source_file_name(const struct source *s, unsigned i)
{
	return strcmp(s->files[i], "-") ? s->files[i] : "standard input";
}

unsigned long long source_bytes(const struct source *s)
{
	return s->bytes_in;
}

void source_close(struct source *s)
{
	if (!s)
		return;
	if (s->cur < s->nfiles)
		close_file(s);
	buf_free(&s->carry);
	free(s);
}
