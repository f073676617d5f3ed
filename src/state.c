#include "state.h"
#include "buf.h"
#include "fsutil.h"
#include "state_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Links followed from the state path before giving up, as the kernel does (ELOOP). */
#define STATE_MAX_LINKS 40

struct state {
	char *path;                 /* as the user named it, for messages */
	char *real;                 /* the file itself, after following links */
	int lock_fd;
	struct state_cps cps;
};

/*
 * The file the state path names, following symlinks one by one (a relative
 * target is relative to the link's directory). The last one need not exist
 * yet: a link made for the first run points to where the state will be.
 */
static int resolve(struct state *st, struct err *e)
{
	char *cur = strdup(st->path);
	int hops = 0;

	while (cur) {
		struct stat sb;
		char target[PATH_MAX], dir[PATH_MAX];
		ssize_t n;
		size_t size;

		if (lstat(cur, &sb) || !S_ISLNK(sb.st_mode))
			break; /* not a link, or not there (yet): this is the file */
		if (++hops > STATE_MAX_LINKS || (n = readlink(cur, target, sizeof(target) - 1)) < 0) {
			err_set(e, ERR_IO, "--state %s: cannot follow the link %s: %s", st->path, cur,
				hops > STATE_MAX_LINKS ? strerror(ELOOP) : strerror(errno));
			free(cur);
			return -1;
		}
		target[n] = '\0';
		fsutil_dirname(cur, dir, sizeof(dir));
		size = strlen(dir) + (size_t)n + 2;
		free(cur);
		if (target[0] == '/')
			cur = strdup(target);
		else if ((cur = malloc(size)))
			snprintf(cur, size, "%s/%s", dir, target);
	}
	if (!cur)
		return err_nomem(e);
	st->real = cur;
	return 0;
}

static int refuse_lock(struct state *st, const char *name, const char *why, struct err *e)
{
	return err_set(e, ERR_IO, "--state %s: refusing the lock file %s: %s; remove it (no "
		       "waexport run creates one like that) and run again", st->path, name, why);
}

/*
 * flock on REAL.lock. The lock file is opened without following a link
 * (SPEC §5.6): a symlink there would otherwise make us truncate its target.
 */
static int lock_open(struct state *st, const char *name, struct err *e)
{
	struct stat sb;

	st->lock_fd = open(name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (st->lock_fd < 0 && errno == ELOOP)
		return refuse_lock(st, name, "it is a symbolic link", e);
	if (st->lock_fd < 0)
		return err_set(e, ERR_IO, "--state %s: cannot create the lock file %s: %s", st->path,
			       name, strerror(errno));
	if (fstat(st->lock_fd, &sb))
		return err_set(e, ERR_IO, "--state %s: cannot lock %s: %s", st->path, name,
			       strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return refuse_lock(st, name, "it is not a regular file", e);
	if (sb.st_nlink > 1)
		return refuse_lock(st, name, "it has other names (hard links)", e);
	return 0;
}

static int lock(struct state *st, struct err *e)
{
	struct buf name = BUF_INIT;
	char pid[32];
	int n, rc = -1;

	if (buf_adds(&name, st->real) || buf_adds(&name, ".lock") || buf_addc(&name, '\0')) {
		err_nomem(e);
		goto out;
	}
	if (lock_open(st, name.data, e))
		goto out;
	if (flock(st->lock_fd, LOCK_EX | LOCK_NB)) {
		int held = errno == EWOULDBLOCK;
		char other[32] = "";
		ssize_t k = pread(st->lock_fd, other, sizeof(other) - 1, 0);

		other[k > 0 ? k : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		if (held)
			err_set(e, ERR_LOCKED, "--state %s: another waexport run holds its lock%s%s%s; "
				"try again when it has finished", st->path, *other ? " (pid " : "",
				other, *other ? ")" : "");
		else
			err_set(e, ERR_IO, "--state %s: cannot lock %s: %s", st->path, name.data,
				strerror(errno));
		goto out;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) == 0)
		(void)!pwrite(st->lock_fd, pid, (size_t)n, 0); /* only informs the message above */
	rc = 0;
out:
	buf_free(&name);
	return rc;
}

/* Read the real file whole (it is small and bounded) and decode it. */
static int load(struct state *st, struct err *e)
{
	struct buf data = BUF_INIT;
	struct stat sb;
	int fd = open(st->real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0; /* the first run */
		return err_set(e, ERR_IO, "--state %s: cannot read %s: %s", st->path, st->real,
			       strerror(errno));
	}
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		err_set(e, ERR_IO, "--state %s: not a regular file; name a file (it is created "
			"by the first run)", st->path);
		goto out;
	}
	if ((unsigned long long)sb.st_size > STATE_FORMAT_MAX_BYTES) {
		err_set(e, ERR_DATA, "--state %s: %lld bytes, more than a state file can be (%u); "
			"is it the right file?", st->path, (long long)sb.st_size,
			STATE_FORMAT_MAX_BYTES);
		goto out;
	}
	if (buf_reserve(&data, (size_t)sb.st_size + 1)) {
		err_nomem(e);
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf_tail(&data), data.cap - data.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, ERR_IO, "--state %s: read failed: %s", st->path, strerror(errno));
			goto out;
		}
		if (!n)
			break;
		data.len += (size_t)n;
		if (data.len > STATE_FORMAT_MAX_BYTES || buf_reserve(&data, 4096)) {
			err_set(e, ERR_DATA, "--state %s: grew while it was read; is another program "
				"writing it?", st->path);
			goto out;
		}
	}
	rc = state_format_parse(data.data, data.len, st->path, &st->cps, e);
out:
	buf_free(&data);
	close(fd);
	return rc;
}

int state_open(struct state **out, const char *path, struct err *e)
{
	struct state *st = calloc(1, sizeof(*st));

	if (!st || !(st->path = strdup(path))) {
		free(st);
		return err_nomem(e);
	}
	st->lock_fd = -1;
	if (resolve(st, e) || lock(st, e) || load(st, e)) {
		state_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

const struct checkpoint *state_get(const struct state *st, const char *from, const char *to)
{
	return state_cps_find(&st->cps, from, to);
}

/* The checkpoint of from/to, made (empty) when there is none. NULL on no memory. */
static struct checkpoint *checkpoint_of(struct state *st, const char *from, const char *to)
{
	struct checkpoint *c = state_cps_find(&st->cps, from, to);

	if (c)
		return c;
	if (state_cps_add(&st->cps, &c))
		return NULL;
	c->from = strdup(from);
	c->to = to ? strdup(to) : NULL;
	if (!c->from || (to && !c->to)) {
		state_cp_free(c);
		st->cps.n--;
		return NULL;
	}
	return c;
}

int state_set(struct state *st, const char *from, const char *to, long long ts,
	      char *const *uniques, size_t nuniques, struct err *e)
{
	struct checkpoint *c = checkpoint_of(st, from, to);
	struct checkpoint fresh = { 0 };

	if (!c)
		return err_nomem(e);
	fresh.ts = ts;
	for (size_t i = 0; i < nuniques && i < STATE_MAX_UNIQUES; i++)
		if (state_cp_add_unique(&fresh, uniques[i])) {
			state_cp_free(&fresh);
			return err_nomem(e);
		}
	/* The old head goes too: it described where an older export began. */
	fresh.from = c->from;
	fresh.to = c->to;
	c->from = c->to = NULL;
	state_cp_free(c);
	*c = fresh;
	return 0;
}

int state_set_head(struct state *st, const char *from, const char *to,
		   const struct state_head *head, size_t nhead, struct err *e)
{
	struct checkpoint *c = checkpoint_of(st, from, to);

	if (!c || state_cp_set_head(c, head, nhead))
		return err_nomem(e);
	return 0;
}

/* A temporary file beside the real one: exclusive, never through a link (SPEC §5.6). */
static int temp_beside(const char *path, char **tmp)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0, n = strlen(path) + 32;
	char *name = malloc(n);
	int fd;

	if (!name) {
		errno = ENOMEM;
		return -1;
	}
	snprintf(name, n, "%.*s.%s.tmp.XXXXXX", (int)dirlen, path, path + dirlen);
	/* mkostemp opens O_CREAT | O_EXCL, mode 0600; O_NOFOLLOW says so once more. */
	fd = mkostemp(name, O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		int saved = errno;

		free(name);
		errno = saved;
		return -1;
	}
	*tmp = name;
	return fd;
}

int state_commit(struct state *st, struct err *e)
{
	struct buf b = BUF_INIT;
	char *tmp = NULL;
	int fd, rc = -1;

	if (state_format_write(&b, &st->cps)) {
		err_nomem(e);
		goto out;
	}
	fd = temp_beside(st->real, &tmp);
	if (fd < 0) {
		err_set(e, ERR_IO, "--state %s: cannot create a file beside %s: %s", st->path,
			st->real, strerror(errno));
		goto out;
	}
	if (fsutil_write_all(fd, b.data, b.len) || fsync(fd)) {
		err_set(e, ERR_IO, "--state %s: write failed: %s", st->path, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	/* Renamed over the real file, so a link at the state path still points to it. */
	if (close(fd) || rename(tmp, st->real)) {
		err_set(e, ERR_IO, "--state %s: cannot replace %s: %s", st->path, st->real,
			strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsutil_sync_dir(st->real);
	rc = 0;
out:
	free(tmp);
	buf_free(&b);
	return rc;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	state_cps_free(&st->cps);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	free(st->real);
	free(st->path);
	free(st);
}
