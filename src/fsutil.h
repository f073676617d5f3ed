/*
 * fsutil: the small file-system steps atomic output is made of, shared by
 * every file the tool writes (outputs, spools, state, metrics), and the
 * directories those files need (--create-dirs, SPEC §2).
 */
#ifndef WAEXPORT_FSUTIL_H
#define WAEXPORT_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Close *fd if it is open (>= 0), and mark it closed (-1). */
void fsutil_close(int *fd);

/*
 * A second descriptor for fd (close-on-exec), which keeps the file's lock
 * once fd is closed, if taking it leaves FSUTIL_FD_RESERVE descriptors free
 * under RLIMIT_NOFILE; -1 otherwise. Many files finished before any is
 * renamed hold theirs this way until the descriptors run short.
 */
#define FSUTIL_FD_RESERVE 64
int fsutil_hold(int fd);

/* write(2) until done, retrying EINTR and short writes. 0, or -1 with errno. */
int fsutil_write_all(int fd, const void *p, size_t n);

/* pread(2) exactly n bytes at off, retrying EINTR; end of file is EIO. 0, or -1 with errno. */
int fsutil_pread_all(int fd, void *p, size_t n, unsigned long long off);

/*
 * Create a temporary file beside `path` (same directory, so rename is
 * atomic), mode 0600, O_CLOEXEC, locked (flock) for as long as the fd is
 * open, so no other run takes it for a leftover. Returns the fd and its name
 * in *tmp (caller frees), or -1 with errno.
 */
int fsutil_temp_beside(const char *path, char **tmp);

/* Whether tmp is a name fsutil_temp_beside makes for path (same directory, same prefix). */
int fsutil_is_temp_of(const char *tmp, const char *path);

/*
 * Whether tmp is a file staged for path: a temporary file beside it, or a
 * file in a temporary directory beside it (fsutil_temp_dir_file). After the
 * rename, fsutil_unstaged removes such a directory (empty, or with what a
 * library left there).
 */
int fsutil_is_staged_for(const char *tmp, const char *path);
void fsutil_unstaged(const char *tmp, const char *path);

/*
 * A temporary directory beside path, mode 0700, named as fsutil_temp_beside
 * names files (so the cleanups below know it), for what a library reopens
 * by name: in a directory no one else can write to, no link can be swapped
 * in (SPEC §5.6). Returns its fd, locked (flock) while open, and its name
 * in *dir (caller frees), or -1 with errno.
 */
int fsutil_temp_dir_beside(const char *path, char **dir);

/* Remove such a directory and the files in it. */
void fsutil_remove_temp_dir(const char *dir);

/*
 * An empty file `name` (mode `mode`) in a new fsutil_temp_dir_beside(path):
 * returns the directory's fd (locked) with *dir and *file (caller frees),
 * or -1 with errno and nothing left behind.
 */
int fsutil_temp_dir_file(const char *path, const char *name, mode_t mode, char **dir, char **file);

/*
 * A file without a name in dir, mode 0600, for a spool: O_TMPFILE, or where
 * the file system has none, a temporary file named after dir/hint and
 * unlinked at once (one a kill leaves in between is a stale temporary file
 * of dir/hint). -1 with errno.
 */
int fsutil_unnamed_file(const char *dir, const char *hint);

/*
 * Remove the temporary files (and directories, fsutil_temp_dir_beside, once
 * two hours old) made for path that are still there (a run killed with
 * SIGKILL cannot remove its own), except
 * `mine` (the caller's own, or NULL) and those a live run holds open (its
 * lock): *live (if not NULL) is increased by their number. For a caller
 * that holds the --state lock: runs on other state files may still write
 * the same path. Returns how many were removed.
 */
int fsutil_remove_stale_temps(const char *path, const char *mine, int *live);

/*
 * Remove from dir every temporary file fsutil_temp_beside made there that
 * has not been written to for max_age seconds, no live run holds, and
 * whose target's name `of` says is one of the caller's (NULL: any): a file
 * being written now is younger, so no other run's loses its file (media
 * directories, which runs on other state files may share; outputs of other
 * days). Returns how many were removed.
 */
int fsutil_remove_old_temps(const char *dir, long max_age, int (*of)(void *ctx, const char *name),
			    void *ctx);

/*
 * Replace the file at `path` with data[0..n) atomically: a temporary file
 * beside it (fsutil_temp_beside), mode `mode`, written, fsynced, renamed over
 * path, the directory synced; nothing is left behind on failure. 0, or -1
 * with errno and *step naming what failed ("create", "write", "rename").
 */
int fsutil_replace(const char *path, const void *data, size_t n, unsigned mode, const char **step);

/*
 * The same in two steps, for a run that must have every file of its own
 * written before it moves any into place: fsutil_stage leaves the fsynced
 * temporary file in *s (path is not copied: it must outlive *s),
 * fsutil_publish renames it over path (a failed rename leaves it staged),
 * fsutil_unstage removes it (nothing staged: nothing done), fsutil_keep
 * forgets it without removing it (a commit plan's file for the next run:
 * plan.h). Same returns as fsutil_replace.
 */
struct fsutil_staged {
	const char *path;
	char *tmp; /* NULL: nothing staged */
};
int fsutil_stage(const char *path, const void *data, size_t n, unsigned mode,
		 struct fsutil_staged *s, const char **step);
int fsutil_publish(struct fsutil_staged *s, const char **step);
void fsutil_unstage(struct fsutil_staged *s);
void fsutil_keep(struct fsutil_staged *s);

/* A temporary file's name freed and set NULL, the file removed (NULL: nothing); errno kept. */
void fsutil_drop_temp(char **tmp);

/*
 * Rename *tmp over target (a file's publish), fsync the directory, free
 * *tmp and set it NULL. A failed rename is ERR_CANTCREAT and leaves *tmp.
 */
int fsutil_move_into_place(char **tmp, const char *target, struct err *e);

/* fsync the directory holding `path`, so a rename survives a crash. */
void fsutil_sync_dir(const char *path);

/* Where a file with no directory of its own goes: $TMPDIR, or /tmp when unset or empty. */
const char *fsutil_tmpdir(void);

/* Directory part of path into out (at least PATH_MAX), "." when none. */
void fsutil_dirname(const char *path, char *out, size_t size);

/*
 * The directory a file of path lands in, before it is written: the part of
 * path before any "{chat}" (expanded only when the run commits) up to its
 * last '/', "." when there is none.
 */
void fsutil_fixed_dir(const char *path, char *out, size_t size);

/*
 * mkdir -p with mode: every missing component of dir is created. Another
 * process creating the same directory at the same time is fine (EEXIST).
 * 0, or -1 with errno (ENOTDIR when a component is not a directory).
 */
int fsutil_make_dirs(const char *dir, mode_t mode);

/*
 * SPEC §2: make sure directory dir exists before anything is written in
 * it. With create, missing components are made (mode 0700); without, a
 * missing one is ERR_CANTCREAT naming it and --create-dirs. `what` names
 * the option in messages ("-o", "--state"). NULL dir: nothing to do.
 */
int fsutil_need_dir(const char *dir, int create, const char *what, struct err *e);

/* The same for the directory that holds path (fsutil_fixed_dir); NULL or "-": nothing. */
int fsutil_need_parent(const char *path, int create, const char *what, struct err *e);

#endif
