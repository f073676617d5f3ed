#include "sink.h"
#include "sink_impl.h"
#include "carry.h"
#include "buf.h"
#include "digest.h"
#include "flush.h"
#include "fsutil.h"
#include "gz.h"
#include "xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes gathered before a write(2): large enough that system calls cost nothing. */
#define OUT_BUF (256u * 1024u)
/* Bytes written straight from the caller's buffer, not gathered. */
#define OUT_DIRECT (32u * 1024u)
/* Plain bytes deflated per call, so the pending output stays near OUT_BUF. */
#define OUT_PIECE (128u * 1024u)

static int write_fd(struct sink *s, const void *p, size_t n, struct err *e)
{
	if (s->md && digest_update(s->md, p, n, e))
		return err_prefix(e, "%s: ", s->target);
	if (fsutil_write_all(s->fd, p, n))
		return sink_io_error(s, errno ? errno : EIO, "write", e);
	s->fig.out += n;
	flush_grown(&s->flush, s->fig.carried + s->fig.out);
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
	/* A batch's rows are written where they are: copying them costs the consumer more. */
	if ((s->pend.len + n > OUT_BUF || n >= OUT_DIRECT) && flush_pend(s, e))
		return -1;
	if (n >= OUT_DIRECT)
		return write_fd(s, p, n, e);
	return buf_add(&s->pend, p, n) ? err_nomem(e) : 0;
}

int sink_write(struct sink *s, const void *p, size_t n, struct err *e)
{
	const char *c = p;

	s->fig.in += n;
	if (s->x)
		return xlsx_write(s->x, p, n, e);
	if (!s->gz.open)
		return emit(s, p, n, e);
	while (n) {
		size_t k = n < OUT_PIECE ? n : OUT_PIECE;

		/* Straight into the pending buffer: no copy of the compressed bytes. */
		if (gz_member_write(&s->gz, c, k, &s->pend, e))
			return -1;
		c += k;
		n -= k;
		if (s->pend.len >= OUT_BUF && flush_pend(s, e))
			return -1;
	}
	return 0;
}

int sink_write_deflated(struct sink *s, const void *z, size_t zlen, uint32_t crc,
			unsigned long long raw_len, struct err *e)
{
	if (!s->gz.open)
		return err_set(e, ERR_SOFTWARE, "%s: a deflated chunk for an output without gzip",
			       s->is_stdout ? "standard output" : s->target);
	if (gz_member_chunk(&s->gz, z, zlen, crc, raw_len, &s->pend, e) ||
	    (s->pend.len >= OUT_BUF && flush_pend(s, e)))
		return -1;
	s->fig.in += raw_len;
	return 0;
}

int sink_open(struct sink **res, const struct sink_opts *o, struct err *e)
{
	struct sink *s = calloc(1, sizeof(*s));

	*res = NULL;
	if (!s)
		return err_nomem(e);
	s->fd = s->held = -1;
	s->stop = o->stop;
	if (o->path && !(s->given = strdup(o->path)))
		goto nomem;
	s->fig.path = s->given ? s->given : "-";
	if (o->digest && digest_new(&s->md, o->digest == SINK_DIGEST_BESIDE, e))
		goto fail;
	if (o->xlsx) {
		struct xlsx_opts xo = { .path = o->path,
					.columns = o->columns,
					.ncolumns = o->ncolumns,
					.refuse_existing = o->append,
					.media_dir = o->media_dir,
					.stop = o->stop,
					.sum = s->md ? sink_sum_bytes : NULL,
					.sum_ctx = s->md };

		return xlsx_open(&s->x, &xo, e) ? (sink_close(s), -1) : (*res = s, 0);
	}
	/* The level is checked before any file is made. */
	if (o->gzip && gz_member_open(&s->gz, o->level, &s->pend, e))
		goto fail;
	if (!o->path || !strcmp(o->path, "-")) {
		s->is_stdout = s->fig.streams = 1;
		s->fd = STDOUT_FILENO;
	} else if (sink_open_target(s, o, e)) {
		goto fail;
	}
	if (buf_reserve(&s->pend, OUT_BUF))
		goto nomem;
	if (!s->fig.appending && o->head_len && sink_write(s, o->head, o->head_len, e))
		goto fail;
	*res = s;
	return 0;
nomem:
	err_nomem(e);
fail:
	sink_close(s);
	return -1;
}

/* What only writing needed: a finished output waiting to be published is small. */
static void release_buffers(struct sink *s)
{
	gz_member_close(&s->gz);
	buf_free(&s->pend);
	flush_close(&s->flush);
}

/* The gzip trailer and every pending byte out to the file. */
static int drain(struct sink *s, struct err *e)
{
	/*
	 * Appending nothing leaves the file's bytes as they were (issue 13): no
	 * empty member. Only the header waits in pend then, never written.
	 */
	if (s->gz.open && s->fig.appending && !s->gz.isize) {
		s->pend.len = 0;
	} else if (s->gz.open && gz_member_end(&s->gz, &s->pend, e)) {
		return -1;
	}
	return flush_pend(s, e);
}

/* The manifest's SHA-256 of every byte that reached the file, once. */
static int final_sum(struct sink *s, struct err *e)
{
	if (!s->md || s->fig.have_sha256)
		return 0;
	if (digest_final(s->md, s->fig.sha256, e))
		return err_prefix(e, "%s: ", s->target);
	s->fig.have_sha256 = 1;
	return 0;
}

/* A workbook is written by libxlsxwriter, not through us: xlsx reads it back for its sum. */
static int finish_workbook(struct sink *s, struct err *e)
{
	if (xlsx_finish(s->x, e))
		return -1;
	s->fig.out = xlsx_bytes_out(s->x);
	return final_sum(s, e);
}

int sink_finish(struct sink *s, struct err *e)
{
	int fd = s->fd;

	if (s->x)
		return finish_workbook(s, e);
	if (s->finished)
		return 0;
	if (drain(s, e) || (s->carry_last && sink_carry_target(s, s->fd, e)) || final_sum(s, e))
		goto fail;
	if (s->is_stdout) {
		s->finished = s->committed = 1;
		goto done;
	}
	s->fd = -1;
	/* A temporary file must reach the disk before the rename makes it the target. */
	if (!s->in_place && (flush_wait(&s->flush) || fsync(fd))) {
		int errnum = s->flush.errnum ? s->flush.errnum : errno;

		close(fd);
		sink_io_error(s, errnum, "fsync", e);
		goto fail;
	}
	/*
	 * Until the rename the file stays locked as a live run's: no other run
	 * clears it, and one adding to the same target waits for it (then 75)
	 * instead of renaming its file over this one's rows. Many files (one per chat,
	 * all finished before any is renamed) hold theirs while descriptors last.
	 */
	if (!s->in_place)
		s->held = fsutil_hold(fd);
	if (close(fd)) {
		sink_io_error(s, errno, "close", e);
		goto fail;
	}
	s->finished = 1;
	s->committed = s->in_place;
done:
	release_buffers(s);
	return 0;
fail:
	fsutil_drop_temp(&s->tmp);
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
	if (fsutil_move_into_place(&s->tmp, s->target, e))
		return -1;
	s->committed = 1;
	fsutil_close(&s->held);
	return 0;
}

const char *sink_staged(const struct sink *s, const char **target)
{
	*target = s->target;
	return s->x ? xlsx_staged(s->x, target) : s->finished && !s->committed ? s->tmp : NULL;
}

void sink_keep(struct sink *s)
{
	xlsx_keep(s->x);
	free(s->tmp);
	s->tmp = NULL;
}

int sink_commit(struct sink *s, struct err *e)
{
	if (sink_finish(s, e))
		return -1;
	if (err_stopped(s->stop, e)) /* a signal during the finish: the target stays as it was */
		return -1;
	return sink_publish(s, e);
}

void sink_close(struct sink *s)
{
	if (!s)
		return;
	release_buffers(s);
	xlsx_close(s->x);
	if (s->fd >= 0 && !s->is_stdout)
		close(s->fd);
	fsutil_drop_temp(&s->tmp);
	fsutil_close(&s->held);
	digest_free(s->md);
	free(s->target);
	free(s->given);
	free(s);
}

const struct sink_figures *sink_figures(const struct sink *s)
{
	return &s->fig;
}

void sink_count_row(struct sink *s, int ts_ok, long long ts)
{
	s->fig.rows.rows++;
	if (!ts_ok)
		return;
	if (!s->fig.rows.have_ts || ts < s->fig.rows.ts_min)
		s->fig.rows.ts_min = ts;
	if (!s->fig.rows.have_ts || ts > s->fig.rows.ts_max)
		s->fig.rows.ts_max = ts;
	s->fig.rows.have_ts = 1;
}
