#include "sink_impl.h"
#include "digest.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int sink_io_error(struct sink *s, int errnum, const char *what, struct err *e)
{
	const char *where = s->is_stdout ? "standard output" : s->target;
	/* What to do; for a file, also that the previous one is untouched (not for a pipe). */
	const char *hint =
		errnum == ENOSPC ? " (free some space and run again"
		: errnum == EFBIG
			? " (a limit on file size: ulimit -f, or the file system's largest file"
		: errnum == EPIPE
			? " (its reader went away before the end: what it read is incomplete"
			: NULL;

	if (errnum == ENOMEM)
		return err_nomem(e);
	err_set(e, err_file_kind(errnum), "%s: %s failed: %s%s%s", where, what, strerror(errnum),
		hint ? hint : "",
		!hint                             ? ""
		: s->is_stdout || errnum == EPIPE ? ")"
						  : "; the previous file is untouched)");
	e->errnum = errnum;
	if (errnum == EPIPE && s->is_stdout)
		e->signo = SIGPIPE; /* | head: main ends quietly; a pipe named as a file is 74 */
	return -1;
}

/* SPEC §4.7: the sum of the bytes on disk (carried ones first; a workbook as read back). */
int sink_sum_bytes(void *md, const void *p, size_t n, struct err *e)
{
	return digest_update(md, p, n, e);
}

/* Append mode: a non-empty target's bytes carried over (to < 0: only checked). */
int sink_carry_target(struct sink *s, int to, struct err *e)
{
	struct carry_want w = s->last;
	unsigned long long size;
	const char *what;
	int got;

	w.fn = s->md ? sink_sum_bytes : NULL; /* the manifest's sum sees the carried bytes */
	w.ctx = s->md;
	if ((got = carry_file(s->target, to, &w, &size, &what, e)) < 0)
		return sink_io_error(s, errno, what, e);
	if (got || to < 0)
		return got ? -1 : 0;
	s->fig.carried = size;
	s->fig.appending = size > 0;
	/* A copy dirties the page cache like any write: start its writeback too. */
	flush_grown(&s->flush, s->fig.carried + s->fig.out);
	return 0;
}

/* open_once: another run is adding to the target now (its temporary file is live). */
#define BUSY 1

/* The target opened through a temporary file beside it; BUSY, or -1 with e set. */
static int open_once(struct sink *s, const struct sink_opts *o, struct err *e)
{
	struct stat st;
	int have = stat(o->path, &st) == 0, live = 0;

	/* Through a symlink, write what it points to: never replace the link. */
	s->target = have ? realpath(o->path, NULL) : NULL;
	if (!s->target)
		s->target = strdup(o->path);
	if (!s->target)
		return err_nomem(e);
	if (have && S_ISDIR(st.st_mode))
		return err_set(e, ERR_CANTCREAT, "%s: is a directory; give a file name", o->path);
	if (have && !S_ISREG(st.st_mode)) {
		s->in_place = 1;
		s->fd = open(o->path, O_WRONLY | O_CLOEXEC);
		if (s->fd < 0)
			return err_set(e, ERR_CANTCREAT, "%s: cannot open: %s", o->path,
				       strerror(errno));
		return 0;
	}
	/* mkostemp opens with O_CREAT|O_EXCL, which never follows a symlink planted there. */
	s->fd = fsutil_temp_beside(s->target, &s->tmp);
	if (s->fd < 0)
		return err_set(e, err_file_kind(errno),
			       "%s: cannot create a file in its directory: %s (%s)", o->path,
			       strerror(errno),
			       err_file_kind(errno) == ERR_IO
				       ? "free some space or inodes and run again"
				       : "check that the directory exists and is writable");
	/*
	 * Ours made (and locked) first, then what killed runs left is cleared:
	 * two runs adding to one file at once would each add to it as it was,
	 * and the later rename would drop the other's rows. Started together,
	 * each sees the other's: neither goes on (sink_open_target).
	 */
	if (o->append && (fsutil_remove_stale_temps(s->target, s->tmp, &live), live))
		return BUSY;
	flush_open(&s->flush, s->fd);
	/* New files are 0600 whatever the umask (SPEC §4.4); a replaced one keeps its mode. */
	if (fchmod(s->fd, have ? st.st_mode & 07777 : 0600))
		return err_set(e, ERR_CANTCREAT, "%s: cannot set mode: %s", s->tmp,
			       strerror(errno));
	if (!have || !o->append)
		return 0;
	memcpy(s->columns, o->columns, sizeof(s->columns));
	s->last = (struct carry_want){ .name = o->path,
				       .gzip = o->gzip,
				       .csv = o->csv,
				       .head = o->head,
				       .head_len = o->head_len,
				       .check_row = o->check_row,
				       .row_ctx = o->row_ctx,
				       .columns = s->columns,
				       .ncolumns = o->ncolumns,
				       .option = o->option };
	s->fig.appending = (s->carry_last = o->older_after) && st.st_size > 0;
	/* older_after: checked now, before any page is asked for; carried at the finish */
	return sink_carry_target(s, o->older_after ? -1 : s->fd, e);
}

/* A wait of 50-300 ms, different in every run. */
static unsigned jitter_ms(void)
{
	unsigned v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t)sizeof(v))
		v = (unsigned)getpid() * 2654435761u;
	return 50 + v % 251;
}

/*
 * A run that finds another adding to its target gives its own temporary
 * file up and tries again after a random wait, for SINK_WAIT_MS at most.
 * Two runs started together (two cron lines, one output) see each other:
 * refused at once, both were refused night after night; waiting apart, one
 * goes on and the other follows once it is done, or is refused (75) if it
 * holds the file longer. Only its own file is ever given up, so the rule
 * that keeps rows safe is unchanged: a run goes on only when, its own
 * temporary file there, no other run's is live.
 */
#define SINK_WAIT_MS 10000

int sink_open_target(struct sink *s, const struct sink_opts *o, struct err *e)
{
	/*
	 * 10-15 s: two runs with {chat} files, each holding a file the other
	 * waits for, do not give up together; the first to go lets the other on.
	 */
	unsigned waited = 0, limit = SINK_WAIT_MS + (jitter_ms() - 50) * 20;
	int rc;

	while ((rc = open_once(s, o, e)) == BUSY) {
		unsigned ms = jitter_ms();

		fsutil_drop_temp(&s->tmp); /* gone while still locked: no run takes it for live */
		fsutil_close(&s->fd);
		free(s->target);
		s->target = NULL;
		if (err_stopped(o->stop, e))
			return -1;
		if (waited >= limit)
			return err_set(e, ERR_LOCKED,
				       "%s: another run is adding to this file now; run again when "
				       "it has finished, or give each --state its own output file",
				       o->path);
		usleep(ms * 1000);
		waited += ms;
	}
	return rc;
}
