/*
 * The temporary files of fsutil.h: made beside their target and locked
 * while a run has them open, recognised by name, and cleared when a run
 * that died left them.
 */
#include "fsutil.h"
#include "hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* NAME_MAX less the dot before and ".tmp.XXXXXX" after: the longest base a temporary name keeps. */
#define TEMP_BASE_MAX (NAME_MAX - 12)
#define TEMP_RANDOM "XXXXXX"
/*
 * A temporary directory (a workbook's) is unlocked once its workbook is
 * finished, until the rename: a run on another state file writing the same
 * name must not take a live run's for a leftover. Nothing stays there this
 * long but what a killed run left.
 */
#define TEMP_DIR_AGE (2 * 3600)

/*
 * "dir/.base.tmp.", the name of a temporary file beside path up to its
 * random part, with room for it (malloc'd; NULL with errno). A dot file:
 * tools that watch the directory for *.csv do not see it. A name near the
 * file-name limit keeps only what fits of its base (cut at a UTF-8
 * character) and a hash of the whole base after "~": every name a file
 * system takes can be written, and two long names alike in what is kept
 * (two {chat} files of one run) never take each other's files for theirs.
 */
static char *temp_prefix(const char *path, size_t *dirlen)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t keep = strlen(base), n = strlen(path) + 32;
	char *name = malloc(n);

	*dirlen = (size_t)(base - path);
	if (!name) {
		errno = ENOMEM;
		return NULL;
	}
	if (keep <= TEMP_BASE_MAX) {
		snprintf(name, n, "%.*s.%s.tmp.", (int)*dirlen, path, base);
		return name;
	}
	keep = TEMP_BASE_MAX - 9; /* room for "~" and eight hex digits */
	while (keep && ((unsigned char)base[keep] & 0xC0) == 0x80)
		keep--;
	snprintf(name, n, "%.*s.%.*s~%08x.tmp.", (int)*dirlen, path, (int)keep, base,
		 (unsigned)(hash_bytes(base, strlen(base)) & 0xffffffffu));
	return name;
}

int fsutil_temp_beside(const char *path, char **tmp)
{
	size_t dirlen, end;
	char *name = temp_prefix(path, &dirlen);
	struct stat st;
	int fd;

	if (!name)
		return -1;
	end = strlen(name);
	for (;;) {
		strcpy(name + end, TEMP_RANDOM);
		/* mkostemp: O_CREAT | O_EXCL, mode 0600; O_NOFOLLOW once more (SPEC §5.6). */
		fd = mkostemp(name, O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			int saved = errno;

			free(name);
			errno = saved;
			return -1;
		}
		/* Held until the file is closed: a live run's file, which no cleanup removes. */
		(void)flock(fd, LOCK_EX | LOCK_NB);
		/*
		 * Between the two calls another run's cleanup may have taken it,
		 * unlocked, for a killed run's leftover: rows written to it would
		 * be in no file. Gone, it is made again.
		 */
		if (fstat(fd, &st) || st.st_nlink)
			break;
		close(fd);
	}
	*tmp = name;
	return fd;
}

int fsutil_temp_dir_beside(const char *path, char **dir)
{
	size_t dirlen;
	char *name = temp_prefix(path, &dirlen);
	int fd, saved;

	if (!name)
		return -1;
	strcat(name, TEMP_RANDOM);
	if (!mkdtemp(name)) {
		saved = errno;
		free(name);
		errno = saved;
		return -1;
	}
	fd = open(name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		saved = errno;
		rmdir(name);
		free(name);
		errno = saved;
		return -1;
	}
	(void)flock(fd, LOCK_EX | LOCK_NB);
	*dir = name;
	return fd;
}

/* The files in parent's directory name, then the directory (one level: all a run puts there). */
static int clear_dir(int parent, const char *name)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			(void)unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	return unlinkat(parent, name, AT_REMOVEDIR);
}

void fsutil_remove_temp_dir(const char *dir)
{
	(void)clear_dir(AT_FDCWD, dir);
}

int fsutil_temp_dir_file(const char *path, const char *name, mode_t mode, char **dir, char **file)
{
	int dfd = fsutil_temp_dir_beside(path, dir), fd = -1, saved;

	if (dfd < 0)
		return -1;
	*file = malloc(strlen(*dir) + strlen(name) + 2);
	if (*file) {
		sprintf(*file, "%s/%s", *dir, name);
		fd = open(*file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	} else {
		errno = ENOMEM;
	}
	if (fd >= 0 && !fchmod(fd, mode)) {
		if (!close(fd))
			return dfd;
		fd = -1; /* closed all the same (POSIX: the state is unspecified; Linux closes) */
	}
	saved = errno;
	if (fd >= 0)
		close(fd);
	close(dfd);
	fsutil_remove_temp_dir(*dir);
	free(*dir);
	free(*file);
	*dir = *file = NULL;
	errno = saved;
	return -1;
}

/* The directory of a file in a temporary directory beside path, or NULL. */
static char *staged_dir(const char *tmp, const char *path)
{
	const char *slash = strrchr(tmp, '/');
	char *dir;

	if (!slash || slash == tmp || !slash[1] || fsutil_is_temp_of(tmp, path))
		return NULL;
	dir = strndup(tmp, (size_t)(slash - tmp));
	if (dir && !fsutil_is_temp_of(dir, path)) {
		free(dir);
		dir = NULL;
	}
	return dir;
}

int fsutil_is_staged_for(const char *tmp, const char *path)
{
	char *dir = staged_dir(tmp, path);

	free(dir);
	return dir || fsutil_is_temp_of(tmp, path);
}

void fsutil_unstaged(const char *tmp, const char *path)
{
	char *dir = staged_dir(tmp, path);

	if (dir)
		fsutil_remove_temp_dir(dir);
	free(dir);
}

int fsutil_unnamed_file(const char *dir, const char *hint)
{
	char path[PATH_MAX], *tmp = NULL;
	int fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, hint) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = fsutil_temp_beside(path, &tmp);
	if (fd >= 0) {
		unlink(tmp);
		free(tmp);
	}
	return fd;
}

int fsutil_is_temp_of(const char *tmp, const char *path)
{
	size_t dirlen, len;
	char *prefix = temp_prefix(path, &dirlen);
	int yes;

	if (!prefix)
		return 0;
	len = strlen(prefix);
	/* mkostemp's random part: six letters or digits. */
	yes = !strncmp(tmp, prefix, len) && strlen(tmp + len) == strlen(TEMP_RANDOM) &&
	      strspn(tmp + len, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") ==
		      strlen(TEMP_RANDOM);
	free(prefix);
	return yes;
}

/* Whether a temporary file is still open in a run that has not ended (it holds its lock). */
static int in_use(int dir, const char *name)
{
	int fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), busy;

	if (fd < 0)
		return 0;
	busy = flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd);
	return busy;
}

int fsutil_remove_stale_temps(const char *path, const char *mine, int *live)
{
	size_t dirlen, len;
	char *prefix = temp_prefix(path, &dirlen), *dirname;
	const char *base, *own = mine ? strrchr(mine, '/') : NULL;
	DIR *d;
	struct dirent *de;
	int removed = 0;
	time_t now = time(NULL);

	if (!prefix)
		return 0;
	base = prefix + dirlen;
	len = strlen(base);
	dirname = dirlen ? strndup(prefix, dirlen) : strdup(".");
	d = dirname ? opendir(dirname) : NULL;
	while (d && (de = readdir(d))) {
		struct stat st;

		if (strncmp(de->d_name, base, len) ||
		    strlen(de->d_name) != len + strlen(TEMP_RANDOM) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)))
			continue;
		if (mine && !strcmp(de->d_name, own ? own + 1 : mine))
			continue;
		/* A directory of ours is as mkdtemp made it: the run's user's, 0700. */
		if (S_ISDIR(st.st_mode) && (now - st.st_mtime < TEMP_DIR_AGE ||
					    (st.st_mode & 0777) != 0700 || st.st_uid != geteuid()))
			continue;
		if (in_use(dirfd(d), de->d_name)) {
			if (live)
				(*live)++;
			continue;
		}
		removed += S_ISDIR(st.st_mode) ? !clear_dir(dirfd(d), de->d_name)
					       : !unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	free(dirname);
	free(prefix);
	return removed;
}

int fsutil_remove_old_temps(const char *dir, long max_age, int (*of)(void *ctx, const char *name),
			    void *ctx)
{
	const size_t tail = strlen(".tmp." TEMP_RANDOM);
	time_t now = time(NULL);
	DIR *d = opendir(dir);
	struct dirent *de;
	int removed = 0;

	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat st;

		if (de->d_name[0] != '.' || n <= tail + 1 ||
		    strncmp(de->d_name + n - tail, ".tmp.", 5) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
		    !S_ISREG(st.st_mode) || now - st.st_mtime < max_age)
			continue;
		if (of) { /* ".NAME.tmp." and mkostemp's six letters: NAME is its target's */
			char *target = strndup(de->d_name + 1, n - tail - 1);
			int ours = target && of(ctx, target);

			free(target);
			if (!ours)
				continue;
		}
		if (in_use(dirfd(d), de->d_name))
			continue;
		removed += !unlinkat(dirfd(d), de->d_name, 0);
	}
	if (d)
		closedir(d);
	return removed;
}
