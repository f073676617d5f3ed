/*
 * fsutil: the directories a run's files need (--create-dirs, SPEC §2): the
 * fixed part of a path, mkdir -p that tolerates a concurrent mkdir, and the
 * exit-73 message that names the directory and --create-dirs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "testdir.h"

static void fixed_dir_is(const char *path, const char *want)
{
	char out[256];

	fsutil_fixed_dir(path, out, sizeof(out));
	assert_string_equal(out, want);
}

static void fixed_dir_stops_before_chat(void **state)
{
	(void)state;
	fixed_dir_is("out.csv", ".");
	fixed_dir_is("a/b/out.csv", "a/b");
	fixed_dir_is("/abs/out.csv", "/abs");
	fixed_dir_is("/out.csv", "/");
	fixed_dir_is("exports/972501234567/{chat}-2026-01-01.csv", "exports/972501234567");
	fixed_dir_is("exports/{chat}/day.csv", "exports");
	fixed_dir_is("exports/x{chat}/day.csv", "exports");
	fixed_dir_is("{chat}/day.csv", ".");
	fixed_dir_is("a//b.csv", "a");
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

static void make_dirs_makes_every_level_and_tolerates_existing(void **state)
{
	char dir[512], p[600], q[640];
	struct err e = { 0 };

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	assert_int_equal(fsutil_make_dirs(p, 0700), 0);
	assert_int_equal(mode_of(p), 0700);
	/* Made already (another run got there first): fine. */
	assert_int_equal(fsutil_make_dirs(p, 0700), 0);
	snprintf(q, sizeof(q), "%s/a/b/c/f.csv", dir);
	assert_int_equal(fsutil_need_parent(q, 0, "-o", &e), 0);
	/* A file in the way is ENOTDIR, not success. */
	fclose(fopen(q, "w"));
	snprintf(p, sizeof(p), "%s/a/b/c/f.csv/d", dir);
	assert_int_equal(fsutil_make_dirs(p, 0700), -1);
	remove(q);
	snprintf(p, sizeof(p), "%s/a/b/c", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/a/b", dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/a", dir);
	rmdir(p);
	testdir_remove(dir);
}

static void missing_dir_names_it_and_the_option(void **state)
{
	char dir[512], p[600];
	struct err e = { 0 };

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(p, sizeof(p), "%s/x/y/state", dir);
	assert_int_equal(fsutil_need_parent(p, 0, "--state", &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, "--state"));
	assert_non_null(strstr(e.msg, "/x/y does not exist"));
	assert_non_null(strstr(e.msg, "--create-dirs"));
	assert_int_equal(fsutil_need_parent(p, 1, "--state", &e), 0);
	snprintf(p, sizeof(p), "%s/x/y", dir);
	assert_int_equal(mode_of(p), 0700);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/x", dir);
	rmdir(p);
	assert_int_equal(fsutil_need_parent("-", 0, "-o", &e), 0);
	assert_int_equal(fsutil_need_parent(NULL, 0, "-o", &e), 0);
	testdir_remove(dir);
}

/*
 * A file name near the limit (255 bytes, some of them two-byte UTF-8) can
 * be replaced atomically: its temporary name keeps only what fits.
 */
static void longest_names_can_be_replaced(void **state)
{
	char dir[256], path[1024];
	const char *step = NULL;
	char *tmp;
	size_t n;
	int fd;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	for (size_t len = 240; len <= 255; len++) {
		n = (size_t)snprintf(path, sizeof(path), "%s/", dir);
		for (size_t i = 0; i < (len - 5) / 2; i++)
			n += (size_t)snprintf(path + n, sizeof(path) - n, "\xd7\xa9"); /* shin */
		while (n - strlen(dir) - 1 < len - 4)
			path[n++] = 'x';
		snprintf(path + n, sizeof(path) - n, ".csv");
		assert_int_equal(strlen(path) - strlen(dir) - 1, len);
		assert_int_equal(fsutil_replace(path, "a\n", 2, 0600, &step), 0);
		assert_int_equal(access(path, R_OK), 0);
		/* A temporary file left behind (a killed run) is found by its truncated name. */
		fd = fsutil_temp_beside(path, &tmp);
		assert_true(fd >= 0);
		close(fd);
		assert_int_equal(access(tmp, F_OK), 0);
		assert_int_equal(fsutil_remove_stale_temps(path, NULL, NULL), 1);
		assert_int_equal(access(tmp, F_OK), -1);
		free(tmp);
	}
	testdir_remove(dir);
}

static void content_is(const char *path, const char *want)
{
	char got[64] = { 0 };
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, sizeof(got) - 1), (ssize_t)strlen(want));
	close(fd);
	assert_string_equal(got, want);
}

/* A staged file is beside the target, not in it, until published; unstaged, it is gone. */
static void staged_files_move_only_when_published(void **state)
{
	char dir[256], path[512];
	struct fsutil_staged s;
	const char *step;
	char *tmp;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/m.json", dir);
	assert_int_equal(fsutil_replace(path, "old", 3, 0600, &step), 0);
	assert_int_equal(fsutil_stage(path, "new", 3, 0600, &s, &step), 0);
	content_is(path, "old");
	content_is(s.tmp, "new");
	tmp = strdup(s.tmp);
	fsutil_unstage(&s);
	assert_null(s.tmp);
	assert_int_equal(access(tmp, F_OK), -1);
	content_is(path, "old");
	assert_int_equal(fsutil_stage(path, "new", 3, 0600, &s, &step), 0);
	assert_int_equal(fsutil_publish(&s, &step), 0);
	assert_null(s.tmp);
	content_is(path, "new");
	fsutil_unstage(&s); /* nothing staged: nothing done */
	content_is(path, "new");
	/*
	 * A rename that fails says which step failed and leaves the file staged:
	 * removed by fsutil_unstage, or kept for a commit plan (fsutil_keep).
	 */
	assert_int_equal(fsutil_stage(path, "x", 1, 0600, &s, &step), 0);
	s.path = dir; /* a directory cannot be replaced by a file */
	assert_int_equal(fsutil_publish(&s, &step), -1);
	assert_string_equal(step, "rename");
	assert_non_null(s.tmp);
	free(tmp);
	tmp = strdup(s.tmp);
	fsutil_unstage(&s);
	assert_int_equal(access(tmp, F_OK), -1);
	free(tmp);
	assert_int_equal(fsutil_stage(path, "kept", 4, 0600, &s, &step), 0);
	tmp = strdup(s.tmp);
	fsutil_keep(&s);
	assert_null(s.tmp);
	content_is(tmp, "kept");
	unlink(tmp);
	free(tmp);
	/* A failed replace leaves nothing behind. */
	assert_int_equal(fsutil_replace(dir, "x", 1, 0600, &step), -1);
	assert_string_equal(step, "rename");
	testdir_remove(dir);
}

/* The last write to path `age` seconds ago. */
static void age_by(const char *path, long age)
{
	struct timespec t[2];

	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age;
	t[1] = t[0];
	assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
}

/* A file in dir, its last write `age` seconds ago. */
static void make_aged(const char *dir, const char *name, long age)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	age_by(path, age);
}

static int exists(const char *dir, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static int starts_with_a(void *ctx, const char *name)
{
	(void)ctx;
	return name[0] == 'a' && !strcmp(name + 1, "-2026-12-03.csv");
}

/*
 * Downloads a killed run left (SIGKILL) go once nobody can be writing them;
 * a fresh one (another run's, in progress) and every other file stay.
 */
static void old_temps_go_and_nothing_else(void **state)
{
	char dir[256], sub[300], *tmp;
	int fd;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	make_aged(dir, ".M000.jpg.tmp.aB3xYz", 3 * 3600);
	make_aged(dir, ".M001.jpg.tmp.Qq1234", 60);
	make_aged(dir, "M002.jpg", 3 * 3600);
	make_aged(dir, ".M003.jpg.tmp.", 3 * 3600);
	make_aged(dir, ".hidden", 3 * 3600);
	snprintf(sub, sizeof(sub), "%s/M004.jpg", dir);
	fd = fsutil_temp_beside(sub, &tmp); /* the name fsutil itself makes */
	assert_true(fd >= 0);
	close(fd);
	age_by(tmp, 3 * 3600);
	assert_int_equal(fsutil_remove_old_temps(dir, 2 * 3600, NULL, NULL), 2);
	assert_int_equal(access(tmp, F_OK), -1);
	free(tmp);
	assert_false(exists(dir, ".M000.jpg.tmp.aB3xYz"));
	assert_true(exists(dir, ".M001.jpg.tmp.Qq1234"));
	assert_true(exists(dir, "M002.jpg"));
	assert_true(exists(dir, ".M003.jpg.tmp."));
	assert_true(exists(dir, ".hidden"));
	assert_int_equal(fsutil_remove_old_temps(dir, 2 * 3600, NULL, NULL), 0);
	assert_int_equal(fsutil_remove_old_temps(sub, 2 * 3600, NULL, NULL),
			 0); /* not a directory */
	/* With `of`: only the files it names (by their target's name) go. */
	make_aged(dir, ".a-2026-12-03.csv.tmp.aB3xYz", 3 * 3600);
	make_aged(dir, ".b-2026-12-03.csv.tmp.aB3xYz", 3 * 3600);
	assert_int_equal(fsutil_remove_old_temps(dir, 2 * 3600, starts_with_a, NULL), 1);
	assert_false(exists(dir, ".a-2026-12-03.csv.tmp.aB3xYz"));
	assert_true(exists(dir, ".b-2026-12-03.csv.tmp.aB3xYz"));
	testdir_remove(dir);
}

/*
 * A temporary file a live run holds open is its, not a leftover: two runs on
 * other state files may write one target (the second is refused, and must
 * not take the first one's file away), and a media file a live download is
 * writing is old when its host is slow. Once closed, it is a leftover.
 */
static void temps_held_open_are_left_alone(void **state)
{
	char dir[256], path[300], *live, *dead;
	int fd_live, fd_dead, busy = 0;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/night.csv", dir);
	fd_live = fsutil_temp_beside(path, &live);
	fd_dead = fsutil_temp_beside(path, &dead);
	assert_true(fd_live >= 0 && fd_dead >= 0);
	close(fd_dead);
	assert_int_equal(fsutil_remove_stale_temps(path, NULL, &busy), 1);
	assert_int_equal(busy, 1);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(dead, F_OK), -1);
	age_by(live, 3 * 3600);
	assert_int_equal(fsutil_remove_old_temps(dir, 2 * 3600, NULL, NULL), 0);
	assert_int_equal(access(live, F_OK), 0);
	close(fd_live);
	assert_int_equal(fsutil_remove_stale_temps(path, NULL, &busy), 1);
	assert_int_equal(busy, 1);
	free(live);
	free(dead);
	testdir_remove(dir);
}

/*
 * flock(2) as the tests see it: when steal_next is set, the file is first
 * unlinked, as another run's cleanup may do between mkostemp and flock
 * (it is not locked yet, so it looks like a killed run's leftover).
 */
static int steal_next;

int flock(int fd, int op)
{
	if (steal_next && (op & LOCK_EX)) {
		char link[64], path[PATH_MAX];
		ssize_t n;

		steal_next--;
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, path, sizeof(path) - 1);
		if (n > 0) {
			path[n] = '\0';
			unlink(path);
		}
	}
	return (int)syscall(SYS_flock, fd, op);
}

/* A temporary file taken for a leftover before it was locked is made again. */
static void a_temp_taken_before_its_lock_is_made_again(void **state)
{
	char dir[256], path[300], *tmp;
	struct stat st;
	int fd, busy = 0;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/night.csv", dir);
	steal_next = 1;
	fd = fsutil_temp_beside(path, &tmp);
	assert_true(fd >= 0);
	assert_int_equal(steal_next, 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_nlink, 1); /* the rows go to a file that has a name */
	assert_int_equal(access(tmp, F_OK), 0);
	assert_int_equal(fsutil_remove_stale_temps(path, NULL, &busy), 0);
	assert_int_equal(busy, 1);
	close(fd);
	free(tmp);
	testdir_remove(dir);
}

/*
 * A held descriptor keeps the lock once the file's own is closed, while
 * RLIMIT_NOFILE leaves FSUTIL_FD_RESERVE free; past that, none is held.
 * In a child: the limit is lowered for good.
 */
static void held_files_keep_their_lock_while_descriptors_last(void **state)
{
	char dir[256], path[300], *tmp;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/chat.csv", dir);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct rlimit rl = { FSUTIL_FD_RESERVE + 32, FSUTIL_FD_RESERVE + 32 };
		int fd, held, busy = 0, last = -1;

		if (setrlimit(RLIMIT_NOFILE, &rl) || (fd = fsutil_temp_beside(path, &tmp)) < 0)
			_exit(2);
		held = fsutil_hold(fd);
		close(fd);
		if (held < 0 || fsutil_remove_stale_temps(path, NULL, &busy) != 0 || busy != 1)
			_exit(3);
		/* Open files up to the reserve: then no descriptor is held. */
		while ((fd = open("/dev/null", O_RDONLY)) >= 0 && fd + 1 < 32)
			last = fd;
		if (last < 0 || fsutil_hold(held) != -1)
			_exit(4);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	testdir_remove(dir);
}

/*
 * Two long names alike in what a temporary name keeps of them (two {chat}
 * files of one run, an output and its --save-raw): each has its own
 * temporary files, so clearing one's leftovers never takes the other's.
 */
static void long_names_alike_keep_apart(void **state)
{
	char dir[256], a[600], b[600], *ta, *tb;
	int fa, fb;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(a, sizeof(a), "%s/%0250d-a.csv", dir, 0);
	snprintf(b, sizeof(b), "%s/%0250d-b.csv", dir, 0);
	fa = fsutil_temp_beside(a, &ta);
	fb = fsutil_temp_beside(b, &tb);
	assert_true(fa >= 0 && fb >= 0);
	close(fa);
	close(fb);
	assert_true(fsutil_is_temp_of(ta, a) && !fsutil_is_temp_of(ta, b));
	assert_true(fsutil_is_temp_of(tb, b) && !fsutil_is_temp_of(tb, a));
	assert_int_equal(fsutil_remove_stale_temps(b, NULL, NULL), 1);
	assert_int_equal(access(ta, F_OK), 0);
	assert_int_equal(access(tb, F_OK), -1);
	assert_int_equal(fsutil_remove_stale_temps(a, NULL, NULL), 1);
	free(ta);
	free(tb);
	testdir_remove(dir);
}

/* The caller's own temporary file is never taken for another run's, live or not. */
static void my_own_temp_is_skipped(void **state)
{
	char dir[256], path[300], *mine;
	int fd, busy = 0;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/night.csv", dir);
	fd = fsutil_temp_beside(path, &mine);
	assert_true(fd >= 0);
	assert_int_equal(fsutil_remove_stale_temps(path, mine, &busy), 0);
	assert_int_equal(busy, 0);
	assert_int_equal(access(mine, F_OK), 0);
	close(fd);
	free(mine);
	testdir_remove(dir);
}

/*
 * A workbook is built in a directory of the run's (libxlsxwriter reopens it
 * by name): mode 0700, named as the temporary files of its target, so that
 * the next run clears one a killed run left, with what is in it, and leaves
 * a live run's alone: locked while it builds, then (finished, waiting for
 * its rename, unlocked) younger than two hours.
 */
static void temp_dirs_are_private_and_cleared_when_left(void **state)
{
	char dir[256], path[300], file[400], *live, *dead;
	int fd_live, fd_dead, fd, busy = 0;
	struct stat st;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/night.xlsx", dir);
	fd_live = fsutil_temp_dir_beside(path, &live);
	fd_dead = fsutil_temp_dir_beside(path, &dead);
	assert_true(fd_live >= 0 && fd_dead >= 0);
	assert_true(fsutil_is_temp_of(live, path));
	assert_int_equal(stat(live, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(file, sizeof(file), "%s/workbook.xlsx", dead);
	assert_true((fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	close(fd_dead); /* finished, or the run that made it was killed */
	assert_int_equal(fsutil_remove_stale_temps(path, NULL, &busy), 0);
	assert_int_equal(access(dead, F_OK), 0);
	assert_int_equal(busy, 0);
	age_by(dead, 3 * 3600); /* last night's */
	age_by(live, 3 * 3600); /* a long build: still locked */
	assert_int_equal(fsutil_remove_stale_temps(path, NULL, &busy), 1);
	assert_int_equal(busy, 1);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	close(fd_live);
	fsutil_remove_temp_dir(live);
	assert_int_equal(access(live, F_OK), -1);
	assert_int_equal(rmdir(dir), 0); /* nothing else was left */
	free(live);
	free(dead);
}

/*
 * A commit plan may name a file in a temporary directory of its target (a
 * workbook's), nothing else: not a file of another directory, nor deeper.
 */
static void a_file_in_a_temp_dir_is_staged_for_its_target(void **state)
{
	char dir[256], path[300], other[300], deeper[400], *work, *file;
	int fd;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	snprintf(path, sizeof(path), "%s/night.xlsx", dir);
	snprintf(other, sizeof(other), "%s/other.xlsx", dir);
	fd = fsutil_temp_dir_file(path, "workbook.xlsx", 0640, &work, &file);
	assert_true(fd >= 0);
	close(fd);
	assert_true(fsutil_is_staged_for(file, path));
	assert_false(fsutil_is_staged_for(file, other));
	snprintf(deeper, sizeof(deeper), "%s/sub/workbook.xlsx", work);
	assert_false(fsutil_is_staged_for(deeper, path));
	assert_int_equal(rename(file, path), 0);
	fsutil_unstaged(file, path);
	assert_int_equal(access(work, F_OK), -1);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	free(work);
	free(file);
}

/* A spool has no name a kill could leave behind (O_TMPFILE here). */
static void an_unnamed_file_leaves_no_name(void **state)
{
	char dir[256];
	int fd;

	(void)state;
	assert_int_equal(testdir_make(dir, sizeof(dir), "fsutil"), 0);
	fd = fsutil_unnamed_file(dir, "spool");
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(rmdir(dir), 0); /* empty while the file is open */
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fixed_dir_stops_before_chat),
		cmocka_unit_test(make_dirs_makes_every_level_and_tolerates_existing),
		cmocka_unit_test(missing_dir_names_it_and_the_option),
		cmocka_unit_test(longest_names_can_be_replaced),
		cmocka_unit_test(staged_files_move_only_when_published),
		cmocka_unit_test(old_temps_go_and_nothing_else),
		cmocka_unit_test(temps_held_open_are_left_alone),
		cmocka_unit_test(held_files_keep_their_lock_while_descriptors_last),
		cmocka_unit_test(a_temp_taken_before_its_lock_is_made_again),
		cmocka_unit_test(long_names_alike_keep_apart),
		cmocka_unit_test(my_own_temp_is_skipped),
		cmocka_unit_test(temp_dirs_are_private_and_cleared_when_left),
		cmocka_unit_test(an_unnamed_file_leaves_no_name),
		cmocka_unit_test(a_file_in_a_temp_dir_is_staged_for_its_target),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
