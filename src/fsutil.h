/*
 * fsutil: the small file-system steps atomic output is made of, shared by
 * every file the tool writes (outputs, spools, state, metrics).
 */
#ifndef WAEXPORT_FSUTIL_H
#define WAEXPORT_FSUTIL_H

#include <stddef.h>

/* write(2) until done, retrying EINTR and short writes. 0, or -1 with errno. */
int fsutil_write_all(int fd, const void *p, size_t n);

/* pread(2) exactly n bytes at off, retrying EINTR; end of file is EIO. 0, or -1 with errno. */
int fsutil_pread_all(int fd, void *p, size_t n, unsigned long long off);

/*
 * Create a temporary file beside `path` (same directory, so rename is
 * atomic), mode 0600, O_CLOEXEC. Returns the fd and its name in *tmp
 * (caller frees), or -1 with errno.
 */
int fsutil_temp_beside(const char *path, char **tmp);

/*
 * Replace the file at `path` with data[0..n) atomically: a temporary file
 * beside it (fsutil_temp_beside), mode `mode`, written, fsynced, renamed over
 * path, the directory synced; nothing is left behind on failure. 0, or -1
 * with errno and *step naming what failed ("create", "write", "rename").
 */
int fsutil_replace(const char *path, const void *data, size_t n, unsigned mode,
		   const char **step);

/* fsync the directory holding `path`, so a rename survives a crash. */
void fsutil_sync_dir(const char *path);

/*
 * Whether output to path goes through a temporary file (so nothing is seen
 * before the rename): a regular file, or one not there yet. Not for "-",
 * devices, pipes.
 */
int fsutil_regular_or_new(const char *path);

/* Directory part of path into out (at least PATH_MAX), "." when none. */
void fsutil_dirname(const char *path, char *out, size_t size);

#endif
