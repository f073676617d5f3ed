#include "sink.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Hand-off size: large enough for deflate and write(2), small for RSS. */
#define SINK_CHUNK (512u * 1024u)
#define ZOUT_SIZE (256u * 1024u)

struct sink {
	int fd;
	int is_stdout;
	int in_place;              /* writing the target itself (not regular) */
	char *target;              /* final path */
	char *tmp;                 /* temporary path, NULL when none */
	int gzip;
	z_stream z;
	int z_ready;
	unsigned char *zout;

	struct buf cur;            /* the producer fills this */
	struct buf work;           /* the worker drains this */

	pthread_t thread;
	int thread_ready;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int busy;                  /* work holds bytes for the worker */
	int stop;
	int werrno;                /* first write errno (worker), 0 if none */
	int zerr;                  /* deflate failed */

	unsigned long long in;
	_Atomic unsigned long long out; /* the worker adds, progress reads */
};

static int write_bytes(struct sink *s, const void *p, size_t n)
{
	if (fsutil_write_all(s->fd, p, n))
		return errno ? errno : EIO;
	s->out += n;
	return 0;
}

/* Compress or copy one chunk to the file. Returns 0 or an errno. */
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

static void *worker(void *arg)
{
	struct sink *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->busy && !s->stop)
			pthread_cond_wait(&s->cv, &s->mu);
		if (!s->busy && s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		int rc = s->werrno ? 0 : drain(s, s->work.data, s->work.len, 0);
		pthread_mutex_lock(&s->mu);
		if (rc && !s->werrno)
			s->werrno = rc;
		s->work.len = 0;
		s->busy = 0;
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
	while (s->busy)
		pthread_cond_wait(&s->cv, &s->mu);
	rc = s->werrno;
	pthread_mutex_unlock(&s->mu);
	return rc;
}

static int hand_off(struct sink *s, struct err *e)
{
	struct buf t;
	int rc = wait_idle(s);

	if (rc)
		return io_error(s, rc, e);
	s->in += s->cur.len;
	pthread_mutex_lock(&s->mu);
	t = s->work;
	s->work = s->cur;
	s->cur = t;
	s->busy = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static int open_target(struct sink *s, const struct sink_opts *opts, struct err *e)
{
	struct stat st;
	int have = stat(opts->path, &st) == 0;

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
	s->fd = fsutil_temp_beside(opts->path, &s->tmp);
	if (s->fd < 0)
		return err_set(e, ERR_CANTCREAT, "%s: cannot create a file in its directory: %s "
			       "(check that the directory exists and is writable)", opts->path,
			       strerror(errno));
	if (have && fchmod(s->fd, st.st_mode & 07777))
		return err_set(e, ERR_CANTCREAT, "%s: cannot set mode: %s", s->tmp, strerror(errno));
	return 0;
}

int sink_open(struct sink **out, const struct sink_opts *opts, struct err *e)
{
	struct sink *s = calloc(1, sizeof(*s));
	sigset_t all, old;

	if (!s)
		return err_nomem(e);
	s->fd = -1;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	if (!opts->path || !strcmp(opts->path, "-")) {
		s->is_stdout = 1;
		s->fd = STDOUT_FILENO;
	} else if (open_target(s, opts, e)) {
		goto fail;
	}
	s->gzip = opts->gzip;
	if (s->gzip) {
		s->zout = malloc(ZOUT_SIZE);
		if (!s->zout) {
			err_nomem(e);
			goto fail;
		}
		if (deflateInit2(&s->z, opts->level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			err_set(e, ERR_SOFTWARE, "gzip: cannot initialise zlib (level %d)", opts->level);
			goto fail;
		}
		s->z_ready = 1;
	}
	if (buf_reserve(&s->cur, SINK_CHUNK + SINK_CHUNK / 4) || buf_reserve(&s->work, SINK_CHUNK + SINK_CHUNK / 4)) {
		err_nomem(e);
		goto fail;
	}
	/* Signals are for the main thread: it decides how a run ends. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	s->thread_ready = pthread_create(&s->thread, NULL, worker, s) == 0;
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
	return s->cur.len >= SINK_CHUNK ? hand_off(s, e) : 0;
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

static void stop_thread(struct sink *s)
{
	if (!s->thread_ready)
		return;
	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	pthread_join(s->thread, NULL);
	s->thread_ready = 0;
}

static void sink_free(struct sink *s)
{
	stop_thread(s);
	if (s->z_ready)
		deflateEnd(&s->z);
	if (s->fd >= 0 && !s->is_stdout)
		close(s->fd);
	if (s->tmp)
		unlink(s->tmp);
	free(s->tmp);
	free(s->target);
	free(s->zout);
	buf_free(&s->cur);
	buf_free(&s->work);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
}

int sink_commit(struct sink *s, struct err *e)
{
	int rc = wait_idle(s);

	stop_thread(s);
	if (!rc) {
		s->in += s->cur.len;
		rc = drain(s, s->cur.data, s->cur.len, 1);
		s->cur.len = 0;
	}
	if (rc) {
		io_error(s, rc, e);
		goto fail;
	}
	if (s->is_stdout || s->in_place) {
		if (!s->is_stdout && close(s->fd)) {
			s->fd = -1;
			io_error(s, errno, e);
			goto fail;
		}
		s->fd = -1;
		return 0;
	}
	if (fsync(s->fd) || close(s->fd)) {
		s->fd = -1;
		io_error(s, errno, e);
		goto fail;
	}
	s->fd = -1;
	if (rename(s->tmp, s->target)) {
		err_set(e, ERR_CANTCREAT, "%s: cannot rename %s into place: %s", s->target, s->tmp,
			strerror(errno));
		goto fail;
	}
	free(s->tmp);
	s->tmp = NULL;
	fsutil_sync_dir(s->target);
	return 0;
fail:
	if (s->tmp)
		unlink(s->tmp);
	return -1;
}

void sink_close(struct sink *s)
{
	if (s)
		sink_free(s);
}

unsigned long long sink_bytes_in(const struct sink *s)
{
	return s->in + s->cur.len;
}

unsigned long long sink_bytes_out(const struct sink *s)
{
	return s->out;
}

int sink_broken_pipe(const struct err *e)
{
	return e->kind == ERR_IO && e->errnum == EPIPE;
}
