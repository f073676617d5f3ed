#include "carry.h"
#include "fsutil.h"
#include "keyline.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define BLOCK (64 * 1024)
/* Text inflated per inflate call: the checks keep none of it. */
#define TEXT_PIECE (16 * 1024)

static const char NOT_GZIP[] = "it is not a complete gzip file (cut short, or damaged?)";
static const char PLAIN[] = "it is not gzip, and this run writes gzip (--gzip, or a name "
			    "ending in .gz, and not the night before?)";
static const char GZIPPED[] = "it is gzip, and this run does not write gzip (--gzip the "
			      "night before, and not now?)";
static const char NO_NEWLINE[] = "it does not end with a line break (cut short, or edited?)";
static const char IN_QUOTES[] = "it ends inside a quoted cell (cut short, or edited?)";
static const char OTHER_HEAD[] = "its first line is not the CSV header this run writes "
				 "(other --columns, or with or without --excel?)";
static const char OTHER_KEYS[] = "its first line does not have the keys this run writes "
				 "(other --columns, or with or without --media-dir?)";

struct tail {
	int to;
	unsigned long long skip; /* bytes the kernel already copied */
	unsigned long long at;
};

static int carry_read(int from, unsigned long long size,
		      int (*fn)(void *ctx, const void *p, size_t n), void *ctx);

/* carry_read's sink for the read-and-write fallback: what the kernel did not copy. */
static int write_rest(void *ctx, const void *p, size_t n)
{
	struct tail *t = ctx;
	size_t skip = t->at >= t->skip ? 0 : (size_t)(t->skip - t->at < n ? t->skip - t->at : n);

	t->at += n;
	return skip < n && fsutil_write_all(t->to, (const char *)p + skip, n - skip) ? -1 : 0;
}

int carry_copy(int from, int to, unsigned long long size)
{
	struct tail t = { to, 0, 0 };
	struct stat st;

	/* FICLONE makes `to` a copy of the whole of `from`: only into an empty file. */
	if (!fstat(to, &st) && st.st_size == 0 && ioctl(to, FICLONE, from) == 0)
		return lseek(to, 0, SEEK_END) < 0 ? -1 : 0;
	while (t.skip < size) {
		loff_t off = (loff_t)t.skip;
		ssize_t n = copy_file_range(from, &off, to, NULL, size - t.skip, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* not offered here (EXDEV, ENOSYS, EINVAL...): read and write the rest */
		t.skip += (unsigned long long)n;
	}
	return t.skip < size ? carry_read(from, size, write_rest, &t) : 0;
}

/* The first size bytes of from, a block at a time, to fn: -1 from fn stops (-1), 1 stops (0). */
static int carry_read(int from, unsigned long long size,
		      int (*fn)(void *ctx, const void *p, size_t n), void *ctx)
{
	char tmp[BLOCK];

	for (unsigned long long done = 0; done < size;) {
		size_t want = size - done < sizeof(tmp) ? (size_t)(size - done) : sizeof(tmp);
		ssize_t r = pread(from, tmp, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r ? errno : EIO;
			return -1;
		}
		int more = fn(ctx, tmp, (size_t)r);

		if (more)
			return more < 0 ? -1 : 0; /* errno as fn left it */
		done += (unsigned long long)r;
	}
	return 0;
}

/* A carried file being checked (and, in a full pass, copied) block by block. */
struct check {
	const struct carry_want *w;
	struct keyline keys; /* NDJSON: the first line's keys */
	z_stream z;          /* gzip: the member being inflated */
	int member_end;      /* gzip: the last member ended, nothing of another yet */
	const char *why;     /* the first fault found: the pass stops there */
	size_t head_at;      /* text bytes compared with the head */
	int any;             /* some text seen */
	int begun;           /* the file's first bytes were looked at */
	unsigned char last;
	unsigned quotes; /* CSV: '"' seen, mod 2: odd inside a quoted cell ("" inside counts 2) */
	unsigned long long text_at; /* text bytes seen */
	char row[CARRY_ROW_MAX];    /* CSV with check_row: the first row's first bytes */
	size_t row_len;
	int row_done;
	int to;        /* a full pass: where the bytes go */
	struct err *e; /* what fn said when it failed */
	int fn_failed;
};

static int refuse(struct check *c, const char *why)
{
	c->why = why;
	return -1;
}

/* A byte of the first row, which ends at a line break outside quotes (or fills c->row). */
static void take_row(struct check *c, unsigned char b)
{
	if (c->row_len < sizeof(c->row))
		c->row[c->row_len++] = (char)b;
	c->row_done = (b == '\n' && !c->quotes) || c->row_len == sizeof(c->row);
}

/* The file's text (inflated for gzip): its first bytes must be the head. */
static int take_text(struct check *c, const unsigned char *p, size_t n)
{
	const struct carry_want *w = c->w;

	if (!n)
		return 0;
	if (w->ncolumns)
		keyline_take(&c->keys, p, n);
	if (c->head_at < w->head_len) {
		size_t k = n < w->head_len - c->head_at ? n : w->head_len - c->head_at;

		if (memcmp(p, (const unsigned char *)w->head + c->head_at, k))
			return refuse(c, OTHER_HEAD);
		c->head_at += k;
	}
	if (w->csv)
		for (size_t i = 0; i < n; i++) {
			c->quotes ^= p[i] == '"';
			if (w->check_row && !c->row_done && c->text_at + i >= w->head_len)
				take_row(c, p[i]);
		}
	c->text_at += n;
	c->any = 1;
	c->last = p[n - 1];
	return 0;
}

/* gzip: members inflated one after the other; zlib checks each one's CRC and length. */
static int take_gz(struct check *c, const void *p, size_t n)
{
	unsigned char out[TEXT_PIECE];

	c->z.next_in = (Bytef *)(uintptr_t)p;
	c->z.avail_in = (uInt)n; /* a block of carry_read: at most BLOCK */
	for (;;) {
		int rc;

		if (c->member_end) {
			if (!c->z.avail_in)
				return 0;
			if (inflateReset(&c->z) != Z_OK)
				return refuse(c, NOT_GZIP);
			c->member_end = 0;
		}
		c->z.next_out = out;
		c->z.avail_out = sizeof(out);
		rc = inflate(&c->z, Z_NO_FLUSH);
		if (rc == Z_MEM_ERROR) {
			errno = ENOMEM;
			return -1;
		}
		if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
			return refuse(c, NOT_GZIP);
		if (take_text(c, out, sizeof(out) - c->z.avail_out))
			return -1;
		if (rc == Z_STREAM_END)
			c->member_end = 1;
		else if (c->z.avail_out)
			return 0; /* inflate stopped for want of input: the block is taken */
	}
}

/* The file's first bytes: gzip or not, as this run writes (RFC 1952 §2.3.1: 1f 8b)? */
static int take_start(struct check *c, const unsigned char *p, size_t n)
{
	int gz;

	if (c->begun || !n)
		return 0;
	c->begun = 1;
	if (n < 2)
		return 0; /* a one-byte file: the checks below say what is wrong with it */
	gz = p[0] == 0x1f && p[1] == 0x8b;
	if (gz != !!c->w->gzip)
		return refuse(c, gz ? GZIPPED : PLAIN);
	return 0;
}

static int take_plain(void *ctx, const void *p, size_t n)
{
	return take_start(ctx, p, n) || take_text(ctx, p, n) ? -1 : 0;
}

/* A full pass: each block checked, then handed to fn, then written. */
static int take_block(void *ctx, const void *p, size_t n)
{
	struct check *c = ctx;

	if (take_start(c, p, n) || (c->w->gzip ? take_gz(c, p, n) : take_text(c, p, n)))
		return -1;
	if (c->to < 0)
		return 0; /* only checked */
	if (c->w->fn && c->w->fn(c->w->ctx, p, n, c->e)) {
		c->fn_failed = 1;
		return -1;
	}
	return fsutil_write_all(c->to, p, n) ? -1 : 0;
}

/* check_ends' reader: enough once the head and the first line's keys are known. */
static int take_first(void *ctx, const void *p, size_t n)
{
	struct check *c = ctx;

	if (take_start(c, p, n) || take_text(c, p, n))
		return -1;
	return (!c->w->ncolumns || keyline_known(&c->keys)) &&
	       c->head_at >= c->w->head_len; /* 1: stop */
}

/* A plain NDJSON file without fn: only its first line and its last byte are read. */
static int check_ends(int from, unsigned long long size, struct check *c)
{
	unsigned char last;
	ssize_t r;

	if (carry_read(from, size, take_first, c))
		return -1;
	while ((r = pread(from, &last, 1, (off_t)(size - 1))) < 0 && errno == EINTR)
		;
	if (r != 1) {
		errno = r ? errno : EIO;
		return -1;
	}
	return take_text(c, &last, 1);
}

static const char *verdict(const struct check *c)
{
	if (c->why)
		return c->why;
	if (c->w->gzip && !c->member_end)
		return NOT_GZIP; /* the file ends inside a member */
	if (c->head_at < c->w->head_len)
		return OTHER_HEAD; /* shorter than the head */
	if (keyline_bad(&c->keys))
		return OTHER_KEYS; /* (a first line that never ends: no line break, below) */
	if (c->any && c->last != '\n')
		return NO_NEWLINE;
	if (c->quotes)
		return IN_QUOTES;
	return c->row_len ? c->w->check_row(c->w->row_ctx, c->row, c->row_len) : NULL;
}

/* The extension of a file name (".csv.gz", ".ndjson"): the suggested name keeps it. */
static const char *extension(const char *path)
{
	const char *base = strrchr(path, '/'), *dot = "";

	base = base ? base + 1 : path;
	for (const char *p = base + strlen(base); p > base + 1; p--) {
		if (p[-1] != '.')
			continue;
		dot = p - 1;
		if (strcmp(dot, ".gz"))
			break;
	}
	return dot;
}

/* What is wrong with the file, and what to do: the one line the user reads. */
static void refusal(struct err *e, const struct carry_want *w, const char *why)
{
	err_set(e, ERR_CANTCREAT,
		"%s: exists but cannot be added to: %s; move it aside, or write each "
		"night to its own file with %s 'history-{date}%s'",
		w->name, why, w->option ? w->option : "-o", extension(w->name));
}

int carry_checked(int from, int to, unsigned long long size, const struct carry_want *w,
		  struct err *e)
{
	struct check c = { .w = w, .to = to, .e = e };
	int full = w->gzip || w->fn, rc = -1, errnum, got;

	keyline_init(&c.keys, w->columns, w->ncolumns);
	if (w->gzip && inflateInit2(&c.z, 15 + 16) != Z_OK) {
		errno = ENOMEM;
		return -1;
	}
	if (full)
		got = carry_read(from, size, take_block, &c);
	else if (w->csv) /* its quotes: every byte, and the kernel copies them after */
		got = carry_read(from, size, take_plain, &c);
	else
		got = check_ends(from, size, &c);
	if (got) {
		if (c.fn_failed) {
			err_prefix(e, "%s: ", w->name);
			rc = 1;
		}
		goto out;
	}
	c.why = verdict(&c);
	rc = c.why || full || to < 0 ? 0 : carry_copy(from, to, size);
out:
	errnum = errno;
	if (w->gzip)
		inflateEnd(&c.z);
	errno = errnum;
	if (!c.why)
		return rc;
	refusal(e, w, c.why);
	return 1;
}

int carry_file(const char *path, int to, const struct carry_want *w, unsigned long long *size,
	       const char **what, struct err *e)
{
	struct stat st;
	int old = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;

	*size = 0;
	*what = "opening the existing file to add to it";
	if (old < 0 || fstat(old, &st))
		goto out;
	rc = 0;
	if (!S_ISREG(st.st_mode) || st.st_size == 0)
		goto out;
	*what = "copying the existing file";
	rc = carry_checked(old, to, (unsigned long long)st.st_size, w, e);
	if (!rc)
		*size = (unsigned long long)st.st_size;
out:
	if (old >= 0) {
		int errnum = errno;

		close(old);
		errno = errnum;
	}
	return rc;
}
