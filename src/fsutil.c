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
	fd = mkostemp(name, O_CLOEXEC);
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
