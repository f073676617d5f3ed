#include "sink.h"
#include "buf.h"
#include "fsutil.h"
#include "gz.h"
#include "xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes gathered before a write(2): large enough that system calls cost nothing. */
#define OUT_BUF (256u * 1024u)
/* Plain bytes deflated per call, so the pending output stays near OUT_BUF. */
#define OUT_PIECE (128u * 1024u)
/* Start writing back what is written so far once this much is dirty. */
#define WRITEBACK_STEP (8ull << 20)

struct sink {
	int fd;
	int is_stdout;
	int in_place;           /* writing the target itself (not a regular file) */
	int appending;          /* the target's bytes were carried over */
	int finished, committed;
	char *target;           /* final path */
	char *tmp;              /* temporary path, NULL when none */
	struct gz_deflater *z;  /* gzip: the stream for plain bytes */
	struct xlsx *x;         /* a workbook: everything goes there */
	int z_dirty;            /* plain bytes deflated since the last sync flush */
	uint32_t crc;           /* gzip: CRC-32 of the member's input so far */
	unsigned long long isize;
	struct buf pend;        /* bytes on their way to fd */
	unsigned long long in, out, carried;
	unsigned long long synced; /* writeback started up to here (file offset) */
};

static int io_error(struct sink *s, int errnum, const char *what, struct err *e)
{
	const char *where = s->is_stdout ? "standard output" : s->target;

	if (errnum == ENOMEM)
		return err_nomem(e);
	err_set(e, ERR_IO, "%s: %s failed: %s%s", where, what, strerror(errnum),
		errnum == ENOSPC ? " (free some space and run again; the previous file is untouched)"
				 : "");
	e->errnum = errnum;
	return -1;
}

/*
 * The final fsync (SPEC §4.4) would otherwise wait for the whole file to
 * reach the disk at the very end; asking the kernel to start writeback as
 * the file grows lets the disk work while the pipeline still computes.
 * Best effort: it changes when the bytes are written, never what.
 */
static void start_writeback(struct sink *s)
{
	unsigned long long end = s->carried + s->out;

	if (s->is_stdout || s->in_place || end - s->synced < WRITEBACK_STEP)
		return;
	(void)sync_file_range(s->fd, (off64_t)s->synced, (off64_t)(end - s->synced),
			      SYNC_FILE_RANGE_WRITE);
	s->synced = end;
}

static int write_fd(struct sink *s, const void *p, size_t n, struct err *e)
{
	if (fsutil_write_all(s->fd, p, n))
		return io_error(s, errno ? errno : EIO, "write", e);
	s->out += n;
	start_writeback(s);
	return 0;
}

static int flush_pend(struct sink *s, struct err *e)
{
	if (s->pend.len && write_fd(s, s->pend.data, s->pend.len, e))
		return -1;
	s->pend.len = 0;
	return 0;
}

/* Bytes that go to the file as they are: gathered, or written at once when large. */
static int emit(struct sink *s, const void *p, size_t n, struct err *e)
{
	if (s->pend.len + n > OUT_BUF && flush_pend(s, e))
		return -1;
	if (n >= OUT_BUF)
		return write_fd(s, p, n, e);
	return buf_add(&s->pend, p, n) ? err_nomem(e) : 0;
}

int sink_write(struct sink *s, const void *p, size_t n, struct err *e)
{
	const char *c = p;

	s->in += n;
	if (s->x)
		return xlsx_write(s->x, p, n, e);
	if (!s->z)
		return emit(s, p, n, e);
	s->crc = gz_crc(s->crc, p, n);
	s->isize += n;
	while (n) {
		size_t k = n < OUT_PIECE ? n : OUT_PIECE;

		/* Straight into the pending buffer: no copy of the compressed bytes. */
		if (gz_deflate_more(s->z, c, k, 0, &s->pend, e))
			return -1;
		s->z_dirty = 1;
		c += k;
		n -= k;
		if (s->pend.len >= OUT_BUF && flush_pend(s, e))
			return -1;
	}
	return 0;
}

/*
 * End the sink's own stream byte-aligned and forget its history: bytes
 * deflated later must not refer back across a foreign chunk, whose text
 * sits between them in the output but was never in this stream's window.
 */
static int sync_own_stream(struct sink *s, struct err *e)
{
	if (!s->z_dirty)
		return 0;
	if (gz_deflate_more(s->z, NULL, 0, 1, &s->pend, e) || gz_deflate_reset(s->z, e))
		return -1;
	s->z_dirty = 0;
	return 0;
}

int sink_write_deflated(struct sink *s, const void *z, size_t zlen, uint32_t crc,
		       unsigned long long raw_len, struct err *e)
{
	if (!s->z)
		return err_set(e, ERR_SOFTWARE, "%s: a deflated chunk for an output without gzip",
			       s->is_stdout ? "standard output" : s->target);
	if (sync_own_stream(s, e) || emit(s, z, zlen, e))
		return -1;
	s->crc = gz_crc_combine(s->crc, crc, raw_len);
	s->isize += raw_len;
	s->in += raw_len;
	return 0;
}

/*
 * The target's bytes into the temporary file, whose offset ends after them.
 * FICLONE shares the extents (btrfs, XFS: nothing is copied);
 * copy_file_range keeps the copy in the kernel; read and write otherwise.
 */
static int carry_bytes(struct sink *s, int old, unsigned long long size, struct err *e)
{
	unsigned long long done = 0;
	char tmp[64 * 1024];

	if (ioctl(s->fd, FICLONE, old) == 0)
		return lseek(s->fd, 0, SEEK_END) < 0 ? io_error(s, errno, "seek", e) : 0;
	while (done < size) {
		loff_t off = (loff_t)done;
		ssize_t n = copy_file_range(old, &off, s->fd, NULL, size - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* not offered here (EXDEV, ENOSYS, EINVAL...): read and write the rest */
		done += (unsigned long long)n;
	}
	while (done < size) {
		size_t want = size - done < sizeof(tmp) ? (size_t)(size - done) : sizeof(tmp);
		ssize_t r = pread(old, tmp, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return io_error(s, r ? errno : EIO, "reading the existing file", e);
		if (fsutil_write_all(s->fd, tmp, (size_t)r))
			return io_error(s, errno, "copying the existing file", e);
		done += (unsigned long long)r;
	}
	return 0;
}

/* Append mode: carry a non-empty target's bytes over, so this run adds after them. */
static int carry_target(struct sink *s, struct err *e)
{
	struct stat st;
	int old = open(s->target, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = -1;

	if (old < 0 || fstat(old, &st)) {
		io_error(s, errno, "opening the existing file to add to it", e);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		rc = 0;
		goto out;
	}
	if (carry_bytes(s, old, (unsigned long long)st.st_size, e))
		goto out;
	s->carried = (unsigned long long)st.st_size;
	s->appending = 1;
	/* A copy dirties the page cache like any write: start its writeback too. */
	start_writeback(s);
	rc = 0;
out:
	if (old >= 0)
		close(old);
	return rc;
}

static int open_target(struct sink *s, const struct sink_opts *o, struct err *e)
{
	struct stat st;
	int have = stat(o->path, &st) == 0;

	/* Through a symlink, write what it points to: never replace the link. */
	s->target = have ? realpath(o->path, NULL) : NULL;
	if (!s->target)
		s->target = strdup(o->path);
	if (!s->target)
		return err_nomem(e);
	if (have && S_ISDIR(st.st_mode))
		return err_set(e, ERR_CANTCREAT, "%s: is a directory; give a file name with -o", o->path);
	if (have && !S_ISREG(st.st_mode)) {
		s->in_place = 1;
		s->fd = open(o->path, O_WRONLY | O_CLOEXEC);
		if (s->fd < 0)
			return err_set(e, ERR_CANTCREAT, "%s: cannot open: %s", o->path, strerror(errno));
		return 0;
	}
	/* mkostemp opens with O_CREAT|O_EXCL, which never follows a symlink planted there. */
	s->fd = fsutil_temp_beside(s->target, &s->tmp);
	if (s->fd < 0)
		return err_set(e, ERR_CANTCREAT, "%s: cannot create a file in its directory: %s "
			       "(check that the directory exists and is writable)", o->path,
			       strerror(errno));
	/* New files are 0600 whatever the umask (SPEC §4.4); a replaced one keeps its mode. */
	if (fchmod(s->fd, have ? st.st_mode & 07777 : 0600))
		return err_set(e, ERR_CANTCREAT, "%s: cannot set mode: %s", s->tmp, strerror(errno));
	return have && o->append ? carry_target(s, e) : 0;
}

int sink_open(struct sink **res, const struct sink_opts *o, struct err *e)
{
	struct sink *s = calloc(1, sizeof(*s));

	*res = NULL;
	if (!s)
		return err_nomem(e);
	s->fd = -1;
	if (o->xlsx) {
		struct xlsx_opts xo = { .path = o->path, .columns = o->columns,
					.ncolumns = o->ncolumns, .refuse_existing = o->append,
					.media_dir = o->media_dir };

		return xlsx_open(&s->x, &xo, e) ? (sink_close(s), -1) : (*res = s, 0);
	}
	/* The level is checked before any file is made. */
	if (o->gzip && gz_deflater_new(&s->z, o->level, e))
		goto fail;
	if (!o->path || !strcmp(o->path, "-")) {
		s->is_stdout = 1;
		s->fd = STDOUT_FILENO;
	} else if (open_target(s, o, e)) {
		goto fail;
	}
	if (buf_reserve(&s->pend, OUT_BUF) || (s->z && gz_member_header(&s->pend))) {
		err_nomem(e);
		goto fail;
	}
	*res = s;
	return 0;
fail:
	sink_close(s);
	return -1;
}

/* What only writing needed: a finished output waiting to be published is small. */
static void release_buffers(struct sink *s)
{
	gz_deflater_free(s->z);
	s->z = NULL;
	buf_free(&s->pend);
}

/* The gzip trailer and every pending byte out to the file. */
static int drain(struct sink *s, struct err *e)
{
	/*
	 * Appending nothing leaves the file's bytes as they were (issue 13): no
	 * empty member. Only the header waits in pend then, never written.
	 */
	if (s->z && s->appending && !s->isize && !s->z_dirty) {
		s->pend.len = 0;
	} else if (s->z) {
		if (sync_own_stream(s, e))
			return -1;
		if (gz_member_trailer(&s->pend, s->crc, s->isize))
			return err_nomem(e);
	}
	return flush_pend(s, e);
}

int sink_finish(struct sink *s, struct err *e)
{
	int fd = s->fd;

	if (s->x)
		return xlsx_finish(s->x, e);
	if (s->finished)
		return 0;
	if (drain(s, e))
		goto fail;
	if (s->is_stdout) {
		s->finished = s->committed = 1;
		goto done;
	}
	s->fd = -1;
	/* A temporary file must reach the disk before the rename makes it the target. */
	if (!s->in_place && fsync(fd)) {
		int errnum = errno;

		close(fd);
		io_error(s, errnum, "fsync", e);
		goto fail;
	}
	if (close(fd)) {
		io_error(s, errno, "close", e);
		goto fail;
	}
	s->finished = 1;
	s->committed = s->in_place;
done:
	release_buffers(s);
	return 0;
fail:
	if (s->tmp) {
		unlink(s->tmp);
		free(s->tmp);
		s->tmp = NULL;
	}
	return -1;
}

int sink_publish(struct sink *s, struct err *e)
{
	if (s->x)
		return xlsx_publish(s->x, e);
	if (s->committed)
		return 0;
	if (!s->finished || !s->tmp)
		return err_set(e, ERR_SOFTWARE, "%s: published before it was finished", s->target);
	if (rename(s->tmp, s->target)) {
		err_set(e, ERR_CANTCREAT, "%s: cannot rename %s into place: %s", s->target, s->tmp,
			strerror(errno));
		e->errnum = errno;
		return -1;
	}
	free(s->tmp);
	s->tmp = NULL;
	fsutil_sync_dir(s->target);
	s->committed = 1;
	return 0;
}

int sink_commit(struct sink *s, struct err *e)
{
	return sink_finish(s, e) || sink_publish(s, e) ? -1 : 0;
}

void sink_close(struct sink *s)
{
	if (!s)
		return;
	release_buffers(s);
	xlsx_close(s->x);
	if (s->fd >= 0 && !s->is_stdout)
		close(s->fd);
	if (s->tmp)
		unlink(s->tmp);
	free(s->tmp);
	free(s->target);
	free(s);
}

int sink_appending(const struct sink *s)
{
	return s->appending;
}

unsigned long long sink_bytes_in(const struct sink *s)
{
	return s->in;
}

unsigned long long sink_bytes_out(const struct sink *s)
{
	return s->x ? xlsx_bytes_out(s->x) : s->out;
}

unsigned long long sink_bytes_carried(const struct sink *s)
{
	return s->carried;
}

int sink_broken_pipe(const struct err *e)
{
	return e->kind == ERR_IO && e->errnum == EPIPE;
}
