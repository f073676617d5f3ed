#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int fsutil_temp_beside(const char *path, char **tmp)
{
	const char *slash = strrchr(path, '/');
	size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
	const char *base = path + dirlen;
	size_t n = strlen(path) + 32;
	char *name = malloc(n);
	int fd;

	if (!name) {
		errno = ENOMEM;
		return -1;
	}
	/* A dot file: tools that watch the directory for *.csv do not see it. */
	snprintf(name, n, "%.*s.%s.tmp.XXXXXX", (int)dirlen, path, base);
	/* mkostemp opens O_CREAT | O_EXCL, mode 0600; O_NOFOLLOW says so once more (SPEC §5.6). */
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

int fsutil_regular_or_new(const char *path)
{
	struct stat st;

	if (!strcmp(path, "-"))
		return 0;
	if (stat(path, &st))
		return errno == ENOENT;
	return S_ISREG(st.st_mode);
}

int fsutil_replace(const char *path, const void *data, size_t n, unsigned mode,
		   const char **step)
{
	char *tmp = NULL;
	int fd = fsutil_temp_beside(path, &tmp), saved;

	*step = "create";
	if (fd < 0)
		return -1;
	*step = "write";
	if (fchmod(fd, (mode_t)mode) || fsutil_write_all(fd, data, n) || fsync(fd)) {
		saved = errno;
		close(fd);
		goto fail;
	}
	if (close(fd))
		goto fail_errno;
	*step = "rename";
	if (rename(tmp, path))
		goto fail_errno;
	free(tmp);
	fsutil_sync_dir(path);
	return 0;
fail_errno:
	saved = errno;
fail:
	unlink(tmp);
	free(tmp);
	errno = saved;
	return -1;
}
