#include "sink.h"
#include "fsutil.h"
#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Hand-off size: large enough for deflate and write(2), small for RSS. */
#define SINK_CHUNK (512u * 1024u)
#define ZOUT_SIZE (256u * 1024u)
/* A spooled compressed chunk starts with its CRC-32 and raw length. */
#define CHUNK_HEAD 12

struct sink {
	int fd;
	int is_stdout;
	int in_place;              /* writing the target itself (not regular) */
	int committed;
	char *target;              /* final path */
	char *tmp;                 /* temporary path, NULL when none */
	int gzip, reverse;
	z_stream z;                /* forward: one gzip stream; reverse: raw deflate per chunk */
	int z_ready;
	unsigned char *zout;
	struct buf zchunk;         /* reverse: a compressed chunk on its way to the spool */
	struct spool *spool;       /* reverse */
	int head_done;             /* reverse: head written to the file */
	uLong crc;                 /* reverse gzip: CRC-32 of what the file holds so far */
	unsigned long long isize;

	struct buf cur;            /* the producer fills this */
	struct buf work;           /* the worker drains this */

	pthread_t thread;
	int thread_ready;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy;                  /* work holds bytes for the worker */
	int worker_waits, producer_waits; /* a side sleeps on cv: wake it */
	int stop;
	int werrno;                /* first worker errno, 0 if none */
	struct err werr;           /* a worker spool error */
	int zerr;                  /* deflate failed */

	unsigned long long in;
	_Atomic unsigned long long out; /* the worker adds, progress reads */
	unsigned long long synced;      /* writeback started up to here */

	pthread_t flusher;              /* fdatasync as the file grows (see FLUSH_STEP) */
	int flusher_ready;
	pthread_cond_t fcv;
	int flush_want, flush_stop;
	int flush_errno;                /* a failed fdatasync: the final fsync may not see it */
	unsigned long long flush_asked; /* a flush was asked for up to here */
};

/* Start writing back what is written so far once this much is dirty. */
#define WRITEBACK_STEP (8ull << 20)
/*
 * Ask for durability (fdatasync) once this much more was written back: at
 * 32 MiB the final fsync of a 164 MB CSV still took 20 ms, at 8 MiB 4.5 ms.
 */
#define FLUSH_STEP (8ull << 20)

/*
 * The final fsync (SPEC §4.4) would otherwise wait for the whole file to
 * reach the disk at the very end; asking the kernel to start writeback as
 * the file grows lets the disk work while the pipeline still computes.
 * Best effort: it changes when the bytes are written, never what.
 */
static void ask_flush(struct sink *s);

static void start_writeback(struct sink *s)
{
	unsigned long long out = s->out;

	if (s->is_stdout || s->in_place || out - s->synced < WRITEBACK_STEP)
		return;
	(void)sync_file_range(s->fd, (off64_t)s->synced, (off64_t)(out - s->synced),
			      SYNC_FILE_RANGE_WRITE);
	s->synced = out;
	if (out - s->flush_asked >= FLUSH_STEP) {
		ask_flush(s);
		s->flush_asked = out;
	}
}

/*
 * Writeback alone does not make the bytes durable: on a virtual disk the
 * host may still hold them, and the final fsync then waits for all of them
 * (100 ms for 160 MB here, after every byte had been written back). A
 * thread of its own asks for that every FLUSH_STEP bytes, so the final
 * fsync finds little left; the writers never wait for it.
 */
static void *flusher(void *arg)
{
	struct sink *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->flush_want && !s->flush_stop)
			pthread_cond_wait(&s->fcv, &s->mu);
		if (s->flush_stop)
			break;
		s->flush_want = 0;
		pthread_mutex_unlock(&s->mu);
		int rc = fdatasync(s->fd) ? errno : 0;
		pthread_mutex_lock(&s->mu);
		if (rc && !s->flush_errno)
			s->flush_errno = rc;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Best effort: without the thread, the final fsync does it all. */
static void ask_flush(struct sink *s)
{
	if (!s->flusher_ready) {
		sigset_t all, old;

		/* Signals are for the main thread, which may be the one asking here. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		s->flusher_ready = pthread_create(&s->flusher, NULL, flusher, s) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (!s->flusher_ready)
			return;
		pthread_setname_np(s->flusher, "waexport-sync");
	}
	pthread_mutex_lock(&s->mu);
	s->flush_want = 1;
	pthread_cond_signal(&s->fcv);
	pthread_mutex_unlock(&s->mu);
}

/* After the worker stopped: no more flushes are asked for. */
static void stop_flusher(struct sink *s)
{
	if (!s->flusher_ready)
		return;
	pthread_mutex_lock(&s->mu);
	s->flush_stop = 1;
	pthread_cond_signal(&s->fcv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->flusher, NULL);
	s->flusher_ready = 0;
}

static int write_bytes(struct sink *s, const void *p, size_t n)
{
	if (fsutil_write_all(s->fd, p, n))
		return errno ? errno : EIO;
	s->out += n;
	start_writeback(s);
	return 0;
}

/* Forward mode: compress or copy one buffer to the file. Returns 0 or an errno. */
static int drain(struct sink *s, const char *p, size_t n, int finish)
{
	if (!s->gzip)
		return n ? write_bytes(s, p, n) : 0;
	s->z.next_in = (unsigned char *)p;
	s->z.avail_in = (uInt)n;
	for (;;) {
		int zr;

		s->z.next_out = s->zout;
		s->z.avail_out = ZOUT_SIZE;
		zr = deflate(&s->z, finish ? Z_FINISH : Z_NO_FLUSH);
		if (zr == Z_STREAM_ERROR) {
			s->zerr = 1;
			return EIO;
		}
		if (ZOUT_SIZE - s->z.avail_out) {
			int rc = write_bytes(s, s->zout, ZOUT_SIZE - s->z.avail_out);

			if (rc)
				return rc;
		}
		if (finish ? zr == Z_STREAM_END : s->z.avail_out != 0)
			return 0;
	}
}

/*
 * Raw-deflate p[0..n) on its own, ending in a sync flush (byte-aligned, not
 * final), into s->zchunk after a CRC-32 + length head.
 */
static int compress_chunk(struct sink *s, const char *p, size_t n, int final)
{
	uint32_t crc = (uint32_t)crc32(0L, (const Bytef *)p, (uInt)n);
	uint64_t raw = n;
	size_t bound = deflateBound(&s->z, (uLong)n) + 64;

	s->zchunk.len = 0;
	if (buf_reserve(&s->zchunk, CHUNK_HEAD + bound))
		return ENOMEM;
	memcpy(s->zchunk.data, &crc, 4);
	memcpy(s->zchunk.data + 4, &raw, 8);
	if (deflateReset(&s->z) != Z_OK) {
		s->zerr = 1;
		return EIO;
	}
	s->z.next_in = (unsigned char *)p;
	s->z.avail_in = (uInt)n;
	s->z.next_out = (unsigned char *)s->zchunk.data + CHUNK_HEAD;
	s->z.avail_out = (uInt)bound;
	if (deflate(&s->z, final ? Z_FINISH : Z_SYNC_FLUSH) == Z_STREAM_ERROR || s->z.avail_in) {
		s->zerr = 1;
		return EIO;
	}
	s->zchunk.len = CHUNK_HEAD + bound - s->z.avail_out;
	return 0;
}

/* Reverse mode, in the worker: one chunk into the spool. */
static int spool_chunk(struct sink *s, const char *p, size_t n)
{
	int rc;

	if (!s->gzip)
		return spool_add(s->spool, p, n, &s->werr) ? (s->werr.errnum ? s->werr.errnum : EIO) : 0;
	rc = compress_chunk(s, p, n, 0);
	if (rc)
		return rc;
	if (spool_add(s->spool, s->zchunk.data, s->zchunk.len, &s->werr))
		return s->werr.errnum ? s->werr.errnum : EIO;
	return 0;
}

static void *worker(void *arg)
{
	struct sink *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->busy && !s->stop) {
			s->worker_waits = 1;
			pthread_cond_wait(&s->cv, &s->mu);
			s->worker_waits = 0;
		}
		if (!s->busy && s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		int rc = 0;
		if (!s->werrno)
			rc = s->reverse ? spool_chunk(s, s->work.data, s->work.len)
					: drain(s, s->work.data, s->work.len, 0);
		pthread_mutex_lock(&s->mu);
		if (rc && !s->werrno)
			s->werrno = rc;
		s->work.len = 0;
		s->busy = 0;
		if (s->producer_waits)
			pthread_cond_broadcast(&s->cv);
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int io_error(struct sink *s, int errnum, struct err *e)
{
	const char *where = s->is_stdout ? "standard output" : s->target;

	if (s->zerr)
		return err_set(e, ERR_SOFTWARE, "%s: gzip compression failed", where);
	if (errnum == ENOMEM)
		return err_nomem(e);
	err_set(e, ERR_IO, "%s: write failed: %s%s", where, strerror(errnum),
		errnum == ENOSPC ? " (free some space and run again; the previous file is untouched)" : "");
	e->errnum = errnum;
	return -1;
}

/* Wait for the worker to finish what it holds; returns its first errno. */
static int wait_idle(struct sink *s)
{
	int rc;

	pthread_mutex_lock(&s->mu);
	while (s->busy) {
		s->producer_waits = 1;
		pthread_cond_wait(&s->cv, &s->mu);
		s->producer_waits = 0;
	}
	rc = s->werrno;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* Give `full` to the worker; full gets the worker's emptied buffer back. */
static int hand_off(struct sink *s, struct buf *full, struct err *e)
{
	struct buf t;
	int rc = wait_idle(s), sleeps;

	if (rc)
		return io_error(s, rc, e);
	s->in += full->len;
	pthread_mutex_lock(&s->mu);
	t = s->work;
	s->work = *full;
	*full = t;
	s->busy = 1;
	sleeps = s->worker_waits;
	pthread_mutex_unlock(&s->mu);
	/*
	 * Woken after the unlock: woken inside it, the worker would find the
	 * mutex taken and sleep again on it, a second futex round trip.
	 */
	if (sleeps)
		pthread_cond_broadcast(&s->cv);
	return 0;
}

static int open_target(struct sink *s, const struct sink_opts *opts, struct err *e)
{
	struct stat st;
	int have = stat(opts->path, &st) == 0;

	/* Through a symlink, write what it points to: never replace the link. */
	s->target = have ? realpath(opts->path, NULL) : NULL;
	if (!s->target)
		s->target = strdup(opts->path);
	if (!s->target)
		return err_nomem(e);
	if (have && S_ISDIR(st.st_mode))
		return err_set(e, ERR_CANTCREAT, "%s: is a directory; give a file name with -o",
			       opts->path);
	if (have && !S_ISREG(st.st_mode)) {
		s->in_place = 1;
		s->fd = open(opts->path, O_WRONLY | O_CLOEXEC);
		if (s->fd < 0)
			return err_set(e, ERR_CANTCREAT, "%s: cannot open: %s", opts->path, strerror(errno));
		return 0;
	}
	s->fd = fsutil_temp_beside(s->target, &s->tmp);
	if (s->fd < 0)
		return err_set(e, ERR_CANTCREAT, "%s: cannot create a file in its directory: %s "
			       "(check that the directory exists and is writable)", opts->path,
			       strerror(errno));
	if (have && fchmod(s->fd, st.st_mode & 07777))
		return err_set(e, ERR_CANTCREAT, "%s: cannot set mode: %s", s->tmp, strerror(errno));
	return 0;
}

static int open_zlib(struct sink *s, int level, struct err *e)
{
	/* Forward: one gzip stream (window bits 15 + 16). Reverse: raw deflate. */
	int bits = s->reverse ? -15 : 15 + 16;

	s->zout = malloc(ZOUT_SIZE);
	if (!s->zout)
		return err_nomem(e);
	if (deflateInit2(&s->z, level, Z_DEFLATED, bits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return err_set(e, ERR_SOFTWARE, "gzip: cannot initialise zlib (level %d)", level);
	s->z_ready = 1;
	s->crc = crc32(0L, Z_NULL, 0);
	return 0;
}

static int open_spool(struct sink *s, const struct sink_opts *opts, struct err *e)
{
	char dir[4096];
	const char *t = getenv("TMPDIR");

	if (opts->spool_dir)
		snprintf(dir, sizeof(dir), "%s", opts->spool_dir);
	else if (!s->is_stdout && !s->in_place)
		fsutil_dirname(s->target, dir, sizeof(dir));
	else
		snprintf(dir, sizeof(dir), "%s", t && *t ? t : "/tmp");
	return spool_open(&s->spool, dir, e);
}

int sink_open(struct sink **out, const struct sink_opts *opts, struct err *e)
{
	struct sink *s = calloc(1, sizeof(*s));
	sigset_t all, old;

	if (!s)
		return err_nomem(e);
	s->fd = -1;
	s->gzip = opts->gzip;
	s->reverse = opts->reverse;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_cond_init(&s->fcv, NULL);
	if (!opts->path || !strcmp(opts->path, "-")) {
		s->is_stdout = 1;
		s->fd = STDOUT_FILENO;
	} else if (open_target(s, opts, e)) {
		goto fail;
	}
	if ((s->gzip && open_zlib(s, opts->level, e)) || (s->reverse && open_spool(s, opts, e)))
		goto fail;
	if (buf_reserve(&s->cur, SINK_CHUNK + SINK_CHUNK / 4) ||
	    buf_reserve(&s->work, SINK_CHUNK + SINK_CHUNK / 4)) {
		err_nomem(e);
		goto fail;
	}
	/* Signals are for the main thread: it decides how a run ends. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	s->thread_ready = pthread_create(&s->thread, NULL, worker, s) == 0;
	if (s->thread_ready)
		pthread_setname_np(s->thread, "waexport-write");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!s->thread_ready) {
		err_set(e, ERR_SOFTWARE, "cannot start the output thread");
		goto fail;
	}
	*out = s;
	return 0;
fail:
	sink_close(s);
	return -1;
}

struct buf *sink_buf(struct sink *s)
{
	return &s->cur;
}

int sink_flush(struct sink *s, struct err *e)
{
	return !s->reverse && s->cur.len >= SINK_CHUNK ? hand_off(s, &s->cur, e) : 0;
}

int sink_write(struct sink *s, const void *p, size_t n, struct err *e)
{
	while (n) {
		size_t room = SINK_CHUNK - (s->cur.len < SINK_CHUNK ? s->cur.len : SINK_CHUNK);
		size_t k = n < room ? n : room;

		if (buf_add(&s->cur, p, k))
			return err_nomem(e);
		p = (const char *)p + k;
		n -= k;
		if (sink_flush(s, e))
			return -1;
	}
	return 0;
}

int sink_chunk(struct sink *s, struct buf *chunk, struct err *e)
{
	return chunk->len ? hand_off(s, chunk, e) : 0;
}

/* Reverse gzip: raw deflate a piece that goes straight to the file. */
static int write_compressed(struct sink *s, const char *p, size_t n, int final)
{
	int rc = compress_chunk(s, p, n, final);

	if (rc)
		return rc;
	s->crc = crc32_combine(s->crc, crc32(0L, (const Bytef *)p, (uInt)n), (z_off_t)n);
	s->isize += n;
	return write_bytes(s, s->zchunk.data + CHUNK_HEAD, s->zchunk.len - CHUNK_HEAD);
}

/* Reverse mode: the head once, before the first chunk. */
static int write_head(struct sink *s)
{
	/* RFC 1952 §2.3: magic, deflate, no flags, mtime 0, no extra flags, OS Unix. */
	static const unsigned char gz_header[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	int rc;

	if (s->head_done)
		return 0;
	s->head_done = 1;
	s->in += s->cur.len;
	if (!s->gzip)
		return write_bytes(s, s->cur.data, s->cur.len);
	rc = write_bytes(s, gz_header, sizeof(gz_header));
	return rc ? rc : write_compressed(s, s->cur.data, s->cur.len, 0);
}

/*
 * Copy len bytes at off in the spool to the output. copy_file_range keeps
 * the bytes in the kernel (no round trip through a user buffer); where it
 * is not supported, read and write.
 */
static int copy_out(struct sink *s, unsigned long long off, size_t len, struct err *e)
{
	loff_t in = (loff_t)off;

	while (len) {
		ssize_t n = copy_file_range(spool_fd(s->spool), &in, s->fd, NULL, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len -= (size_t)n;
		s->out += (unsigned long long)n;
		start_writeback(s);
	}
	while (len) {
		char tmp[64 * 1024];
		size_t k = len < sizeof(tmp) ? len : sizeof(tmp);
		ssize_t r = pread(spool_fd(s->spool), tmp, k, in);
		int rc;

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return io_error(s, r ? errno : EIO, e);
		rc = write_bytes(s, tmp, (size_t)r);
		if (rc)
			return io_error(s, rc, e);
		in += r;
		len -= (size_t)r;
	}
	return 0;
}

int sink_segment_end(struct sink *s, struct err *e)
{
	unsigned long long pos, off;
	size_t len;
	int rc;

	if (!s->reverse)
		return 0;
	rc = wait_idle(s);
	if (!rc)
		rc = write_head(s);
	if (rc)
		return io_error(s, rc, e);
	if (spool_flush(s->spool, e))
		return -1;
	pos = spool_end(s->spool);
	while ((rc = spool_prev(s->spool, &pos, &off, &len, e)) > 0) {
		if (s->gzip) {
			unsigned char head[CHUNK_HEAD];
			uint32_t crc;
			uint64_t raw;

			if (len < CHUNK_HEAD || pread(spool_fd(s->spool), head, CHUNK_HEAD, (off_t)off) != CHUNK_HEAD)
				return err_set(e, ERR_SOFTWARE, "spool is corrupt");
			memcpy(&crc, head, 4);
			memcpy(&raw, head + 4, 8);
			s->crc = crc32_combine(s->crc, crc, (z_off_t)raw);
			s->isize += raw;
			off += CHUNK_HEAD;
			len -= CHUNK_HEAD;
		}
		if (copy_out(s, off, len, e))
			return -1;
	}
	return rc < 0 || spool_truncate(s->spool, e) ? -1 : 0;
}

/* Reverse gzip: the final empty block and the trailer (CRC-32, ISIZE, little-endian). */
static int write_trailer(struct sink *s)
{
	unsigned char t[8];
	int rc = write_compressed(s, "", 0, 1);

	if (rc)
		return rc;
	for (int i = 0; i < 4; i++) {
		t[i] = (unsigned char)(s->crc >> (8 * i));
		t[4 + i] = (unsigned char)(s->isize >> (8 * i));
	}
	return write_bytes(s, t, sizeof(t));
}

static void stop_thread(struct sink *s)
{
	if (s->thread_ready) {
		pthread_mutex_lock(&s->mu);
		s->stop = 1;
		pthread_cond_broadcast(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		s->thread_ready = 0;
	}
	stop_flusher(s);
}

static int finish(struct sink *s, struct err *e)
{
	int rc;

	if (s->reverse) {
		if (sink_segment_end(s, e))
			return -1;
		rc = s->gzip ? write_trailer(s) : 0;
	} else {
		rc = wait_idle(s);
		if (!rc) {
			s->in += s->cur.len;
			rc = drain(s, s->cur.data, s->cur.len, 1);
			s->cur.len = 0;
		}
	}
	return rc ? io_error(s, rc, e) : 0;
}

/* Release what only writing needed: a finished sink waiting to be published is small. */
static void release_buffers(struct sink *s)
{
	stop_thread(s);
	if (s->z_ready)
		deflateEnd(&s->z);
	s->z_ready = 0;
	free(s->zout);
	s->zout = NULL;
	buf_free(&s->zchunk);
	buf_free(&s->cur);
	buf_free(&s->work);
	spool_close(s->spool);
	s->spool = NULL;
}

int sink_finish(struct sink *s, struct err *e)
{
	if (finish(s, e))
		goto fail;
	stop_thread(s);
	if (s->is_stdout || s->in_place) {
		if (!s->is_stdout && close(s->fd)) {
			s->fd = -1;
			io_error(s, errno, e);
			goto fail;
		}
		s->fd = -1;
		s->committed = 1;
		return 0;
	}
	if (s->flush_errno || fsync(s->fd)) {
		int errnum = s->flush_errno ? s->flush_errno : errno;

		close(s->fd);
		s->fd = -1;
		io_error(s, errnum, e);
		goto fail;
	}
	if (close(s->fd)) {
		s->fd = -1;
		io_error(s, errno, e);
		goto fail;
	}
	s->fd = -1;
	release_buffers(s);
	return 0;
fail:
	if (s->tmp)
		unlink(s->tmp);
	return -1;
}

int sink_publish(struct sink *s, struct err *e)
{
	if (s->committed || !s->tmp)
		return 0;
	if (rename(s->tmp, s->target)) {
		err_set(e, ERR_CANTCREAT, "%s: cannot rename %s into place: %s", s->target, s->tmp,
			strerror(errno));
		goto fail;
	}
	free(s->tmp);
	s->tmp = NULL;
	fsutil_sync_dir(s->target);
	s->committed = 1;
	return 0;
fail:
	if (s->tmp)
		unlink(s->tmp);
	return -1;
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
	if (s->fd >= 0 && !s->is_stdout)
		close(s->fd);
	if (s->tmp)
		unlink(s->tmp);
	free(s->tmp);
	free(s->target);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	pthread_cond_destroy(&s->fcv);
	free(s);
}

unsigned long long sink_bytes_in(const struct sink *s)
{
	return s->in + (s->head_done ? 0 : s->cur.len);
}

unsigned long long sink_bytes_out(const struct sink *s)
{
	return s->out;
}

int sink_broken_pipe(const struct err *e)
{
	return e->kind == ERR_IO && e->errnum == EPIPE;
}
