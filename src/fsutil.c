#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

int fsutil_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

int fsutil_pread_all(int fd, void *p, size_t n, unsigned long long off)
{
	char *c = p;

	while (n) {
		ssize_t r = pread(fd, c, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (!r)
				errno = EIO;
			return -1;
		}
		c += r;
		n -= (size_t)r;
		off += (unsigned long long)r;
	}
	return 0;
}

const char *fsutil_tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t && *t ? t : "/tmp";
}

void fsutil_dirname(const char *path, char *out, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(out, size, ".");
	else if (slash == path)
		snprintf(out, size, "/");
	else
		snprintf(out, size, "%.*s", (int)(slash - path), path);
}

void fsutil_close(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

int fsutil_hold(int fd)
{
	struct rlimit rl;
	int held = fcntl(fd, F_DUPFD_CLOEXEC, 0);

	/* Descriptors are handed out lowest first: the new one's number is how many are open. */
	if (held >= 0 && !getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)held + FSUTIL_FD_RESERVE >= rl.rlim_cur)
		fsutil_close(&held);
	return held;
}

void fsutil_sync_dir(const char *path)
{
	char dir[4096];
	int fd;

	fsutil_dirname(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	fsync(fd); /* best effort: some file systems refuse fsync on directories */
	close(fd);
}

int fsutil_stage(const char *path, const void *data, size_t n, unsigned mode,
		 struct fsutil_staged *s, const char **step)
{
	int fd, saved;

	s->path = path;
	s->tmp = NULL;
	*step = "create";
	if ((fd = fsutil_temp_beside(path, &s->tmp)) < 0)
		return -1;
	*step = "write";
	if (fchmod(fd, (mode_t)mode) || fsutil_write_all(fd, data, n) || fsync(fd)) {
		saved = errno;
		close(fd);
		fsutil_unstage(s);
		errno = saved;
		return -1;
	}
	if (close(fd)) {
		fsutil_unstage(s); /* keeps errno */
		return -1;
	}
	return 0;
}

int fsutil_publish(struct fsutil_staged *s, const char **step)
{
	*step = "rename";
	if (!s->tmp) {
		errno = ENOENT;
		return -1;
	}
	if (rename(s->tmp, s->path))
		return -1; /* still staged: the caller unstages it, or keeps it (plan.h) */
	free(s->tmp);
	s->tmp = NULL;
	fsutil_sync_dir(s->path);
	return 0;
}

void fsutil_unstage(struct fsutil_staged *s)
{
	fsutil_drop_temp(&s->tmp);
}

int fsutil_replace(const char *path, const void *data, size_t n, unsigned mode, const char **step)
{
	struct fsutil_staged s;

	if (fsutil_stage(path, data, n, mode, &s, step))
		return -1;
	if (!fsutil_publish(&s, step))
		return 0;
	fsutil_unstage(&s); /* keeps errno */
	return -1;
}

void fsutil_keep(struct fsutil_staged *s)
{
	free(s->tmp);
	s->tmp = NULL;
}

void fsutil_drop_temp(char **tmp)
{
	int saved = errno; /* the caller's error, to report */

	if (*tmp)
		unlink(*tmp);
	free(*tmp);
	*tmp = NULL;
	errno = saved;
}

int fsutil_move_into_place(char **tmp, const char *target, struct err *e)
{
	if (rename(*tmp, target)) {
		int saved = errno;

		err_set(e, err_file_kind(saved), "%s: cannot rename %s into place: %s", target,
			*tmp, strerror(saved));
		e->errnum = saved;
		return -1;
	}
	free(*tmp);
	*tmp = NULL;
	fsutil_sync_dir(target);
	return 0;
}

void fsutil_fixed_dir(const char *path, char *out, size_t size)
{
	const char *chat = strstr(path, "{chat}");
	size_t len = chat ? (size_t)(chat - path) : strlen(path);

	while (len && path[len - 1] != '/')
		len--;
	while (len > 1 && path[len - 1] == '/')
		len--; /* "a//b": the directory is "a" */
	if (!len)
		snprintf(out, size, ".");
	else
		snprintf(out, size, "%.*s", (int)len, path);
}

int fsutil_make_dirs(const char *dir, mode_t mode)
{
	char *p = strdup(dir);
	struct stat st;
	int rc = -1, saved = 0;

	if (!p) {
		errno = ENOMEM;
		return -1;
	}
	/* Each prefix that ends before a '/', then the whole: mkdir -p. */
	for (char *c = p + 1;; c++) {
		int last = *c == '\0';

		if (*c != '/' && !last)
			continue;
		*c = '\0';
		if (mkdir(p, mode) && errno != EEXIST) {
			saved = errno;
			goto out;
		}
		if (last)
			break;
		*c = '/';
	}
	/* EEXIST said something is there: a directory, or a link to one. */
	if (stat(dir, &st)) {
		saved = errno;
		goto out;
	}
	if (!S_ISDIR(st.st_mode)) {
		saved = ENOTDIR;
		goto out;
	}
	rc = 0;
out:
	free(p);
	if (rc)
		errno = saved;
	return rc;
}

int fsutil_need_dir(const char *dir, int create, const char *what, struct err *e)
{
	struct stat st;
	int missing;

	if (!dir || !*dir)
		return 0;
	if (!stat(dir, &st))
		return 0; /* not a directory: said where the file is opened */
	missing = errno == ENOENT;
	if (create) {
		if (fsutil_make_dirs(dir, 0700))
			return err_set(e, ERR_CANTCREAT, "%s: cannot create the directory %s: %s",
				       what, dir, strerror(errno));
		return 0;
	}
	if (missing)
		return err_set(e, ERR_CANTCREAT,
			       "%s: the directory %s does not exist; create it, or "
			       "add --create-dirs to have it made (mode 0700)",
			       what, dir);
	/* Anything else (no permission) is said where the file is opened. */
	return 0;
}

int fsutil_need_parent(const char *path, int create, const char *what, struct err *e)
{
	char dir[4096];

	if (!path || !strcmp(path, "-"))
		return 0;
	fsutil_fixed_dir(path, dir, sizeof(dir));
	return fsutil_need_dir(dir, create, what, e);
}
