#include "state_impl.h"
#include "fsutil.h"

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

/*
 * Following symlinks one by one (a relative target is relative to the link's
 * directory). The last one need not exist yet: a link made before the first
 * run points to where the state will be.
 */
int state_file_resolve(const char *path, char **real, struct err *e)
{
	char *cur = strdup(path);
	int hops = 0;

	while (cur) {
		struct stat sb;
		char target[PATH_MAX], dir[PATH_MAX];
		ssize_t n;
		size_t size;

		if (lstat(cur, &sb) || !S_ISLNK(sb.st_mode))
			break; /* not a link, or not there (yet): this is the file */
		if (++hops > STATE_MAX_LINKS ||
		    (n = readlink(cur, target, sizeof(target) - 1)) < 0) {
			err_set(e, ERR_IO, "--state %s: cannot follow the link %s: %s", path, cur,
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
	*real = cur;
	return 0;
}

static int refuse_lock(const char *path, const char *name, const char *why, struct err *e)
{
	return err_set(e, ERR_IO,
		       "--state %s: refusing the lock file %s: %s; remove it (no "
		       "waexport run creates one like that) and run again",
		       path, name, why);
}

/*
 * The lock file is opened without following a link (SPEC §5.6): through a
 * symlink we would truncate its target and write our pid into it. A FIFO
 * would block the open (O_NONBLOCK), a hard link is another file's name.
 */
static int lock_open(const char *path, const char *name, int *fd, struct err *e)
{
	struct stat sb;

	*fd = open(name, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (*fd < 0 && errno == ELOOP)
		return refuse_lock(path, name, "it is a symbolic link", e);
	if (*fd < 0)
		return err_set(e, err_file_kind(errno),
			       "--state %s: cannot create the lock file %s: %s", path, name,
			       strerror(errno));
	if (fstat(*fd, &sb))
		return err_set(e, ERR_IO, "--state %s: cannot lock %s: %s", path, name,
			       strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return refuse_lock(path, name, "it is not a regular file", e);
	if (sb.st_nlink > 1)
		return refuse_lock(path, name, "it has other names (hard links)", e);
	return 0;
}

int state_file_lock(const char *path, const char *real, int *fd, struct err *e)
{
	struct buf name = BUF_INIT;
	char pid[32];
	int n, rc = -1;

	if (buf_adds(&name, real) || buf_adds(&name, ".lock") || buf_addc(&name, '\0')) {
		err_nomem(e);
		goto out;
	}
	if (lock_open(path, name.data, fd, e))
		goto out;
	if (flock(*fd, LOCK_EX | LOCK_NB)) {
		int held = errno == EWOULDBLOCK;
		char other[32] = "";
		ssize_t k = pread(*fd, other, sizeof(other) - 1, 0);

		other[k > 0 ? k : 0] = '\0';
		other[strcspn(other, "\n")] = '\0';
		if (held)
			err_set(e, ERR_LOCKED,
				"--state %s: another waexport run holds its lock%s%s%s; "
				"try again when it has finished",
				path, *other ? " (pid " : "", other, *other ? ")" : "");
		else
			err_set(e, ERR_IO, "--state %s: cannot lock %s: %s", path, name.data,
				strerror(errno));
		goto out;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(*fd, 0) == 0)
		(void)!pwrite(*fd, pid, (size_t)n, 0); /* only informs the message above */
	rc = 0;
out:
	buf_free(&name);
	return rc;
}

static int read_all(const char *path, int fd, struct buf *data, struct err *e)
{
	for (;;) {
		ssize_t n = read(fd, buf_tail(data), data->cap - data->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(e, ERR_IO, "--state %s: read failed: %s", path,
				       strerror(errno));
		if (!n)
			return 0;
		data->len += (size_t)n;
		if (data->len > STATE_FORMAT_MAX_BYTES)
			return err_set(e, ERR_DATA,
				       "--state %s: grew while it was read; is another "
				       "program writing it?",
				       path);
		if (buf_reserve(data, 4096))
			return err_nomem(e);
	}
}

int state_file_read(const char *path, const char *real, struct buf *data, int *missing,
		    struct err *e)
{
	struct stat sb;
	int fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1;

	*missing = fd < 0 && errno == ENOENT;
	if (fd < 0)
		return *missing ? 0
				: err_set(e, err_file_kind(errno), "--state %s: cannot read %s: %s",
					  path, real, strerror(errno));
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		err_set(e, ERR_IO,
			"--state %s: not a regular file; name a file (the first run "
			"creates it)",
			path);
		goto out;
	}
	if ((unsigned long long)sb.st_size > STATE_FORMAT_MAX_BYTES) {
		err_set(e, ERR_DATA,
			"--state %s: %lld bytes, more than a state file can be (%u); "
			"is it the right file?",
			path, (long long)sb.st_size, STATE_FORMAT_MAX_BYTES);
		goto out;
	}
	if (buf_reserve(data, (size_t)sb.st_size + 1)) {
		err_nomem(e);
		goto out;
	}
	rc = read_all(path, fd, data, e);
out:
	close(fd);
	return rc;
}
