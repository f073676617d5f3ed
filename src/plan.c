#include "plan.h"
#include "buf.h"
#include "fsutil.h"
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* A plan names each file of a run twice (a few kB even for a run of many chats): a bound. */
#define PLAN_MAX (16u << 20)

struct plan {
	char *path;     /* STATE.commit */
	struct buf out; /* the file's bytes */
	int nomem;
	int written;
};

static char *plan_path(const char *state_real)
{
	size_t n = strlen(state_real) + sizeof(".commit");
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s.commit", state_real);
	return p;
}

int plan_new(struct plan **out, const char *state_real, struct err *e)
{
	struct plan *p = calloc(1, sizeof(*p));

	if (!p || !(p->path = plan_path(state_real))) {
		free(p);
		return err_nomem(e);
	}
	if (buf_add(&p->out, PLAN_MAGIC_2, strlen(PLAN_MAGIC_2)))
		p->nomem = 1;
	*out = p;
	return 0;
}

/* path, absolute, and its NUL. */
static int add_path(struct buf *b, const char *path)
{
	char cwd[PATH_MAX];

	if (path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) || buf_add(b, cwd, strlen(cwd)) || buf_add(b, "/", 1))
			return -1;
	}
	return buf_add(b, path, strlen(path) + 1);
}

/*
 * A file's identity, "DEV:INO:B<birth time>" (seconds.nanoseconds; "DEV:INO"
 * where the filesystem keeps no birth time), or "" when it cannot be had.
 * A rename keeps all three, and so does touching or adding to the file; a
 * file put at the target after the staged one was removed by hand may get
 * its inode number again, never its birth time.
 */
#define ID_MAX 128
static void file_id(const char *path, char *out, size_t size)
{
	struct statx st;

	out[0] = '\0';
	if (statx(AT_FDCWD, path, 0, STATX_INO | STATX_BTIME, &st))
		return;
	if (st.stx_mask & STATX_BTIME)
		snprintf(out, size, "%llu:%llu:B%lld.%09u",
			 (unsigned long long)makedev(st.stx_dev_major, st.stx_dev_minor),
			 (unsigned long long)st.stx_ino, (long long)st.stx_btime.tv_sec,
			 st.stx_btime.tv_nsec);
	else
		snprintf(out, size, "%llu:%llu",
			 (unsigned long long)makedev(st.stx_dev_major, st.stx_dev_minor),
			 (unsigned long long)st.stx_ino);
}

/*
 * Whether the file at path is the one planned as `id`. Only DEV:INO is
 * compared where either side has no birth time (a plan of an earlier
 * version, or a filesystem that keeps none).
 */
static int is_file(const char *path, const char *id)
{
	char now[ID_MAX];
	size_t n = strcspn(id, "B"), k;

	file_id(path, now, sizeof(now));
	k = strcspn(now, "B");
	if (!id[n] || !now[k]) {
		n -= n && id[n] ? 1 : 0; /* "DEV:INO:" without its ':' */
		k -= k && now[k] ? 1 : 0;
		return n == k && !strncmp(now, id, n) && *now;
	}
	return !strcmp(now, id);
}

void plan_add(struct plan *p, const char *tmp, const char *target)
{
	char id[ID_MAX];

	if (!p || !tmp)
		return;
	file_id(tmp, id, sizeof(id));
	if (add_path(&p->out, tmp) || add_path(&p->out, target) ||
	    buf_add(&p->out, id, strlen(id) + 1))
		p->nomem = 1;
}

int plan_add_file(void *plan, struct sink *file, const char *chat)
{
	const char *target, *tmp = sink_staged(file, &target);

	(void)chat;
	plan_add(plan, tmp, target);
	return 0;
}

int plan_keep_file(void *unused, struct sink *file, const char *chat)
{
	(void)unused;
	(void)chat;
	sink_keep(file);
	return 0;
}

int plan_write(struct plan *p, struct err *e)
{
	const char *step;

	if (p->nomem)
		return err_set(e, ERR_IO, "%s: cannot make the commit plan: %s", p->path,
			       strerror(ENOMEM));
	if (fsutil_replace(p->path, p->out.data, p->out.len, 0600, &step))
		return err_set(e, ERR_IO, "%s: cannot write the commit plan (%s failed): %s",
			       p->path, step, strerror(errno));
	p->written = 1;
	return 0;
}

void plan_done(struct plan *p)
{
	if (!p || !p->written)
		return;
	if (!unlink(p->path))
		fsutil_sync_dir(p->path);
	p->written = 0;
}

int plan_written(const struct plan *p)
{
	return p && p->written;
}

void plan_free(struct plan *p)
{
	if (!p)
		return;
	buf_free(&p->out);
	free(p->path);
	free(p);
}

/* The whole plan file into b; a missing one is *missing. */
static int read_plan(const char *path, struct buf *b, int *missing, struct err *e)
{
	char chunk[16384];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	*missing = fd < 0 && errno == ENOENT;
	if (fd < 0)
		return *missing ? 0
				: err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0 && b->len + (size_t)n > PLAN_MAX) {
			close(fd);
			return err_set(
				e, ERR_DATA,
				"%s: larger than any commit plan (%u MiB); check it and remove it",
				path, PLAN_MAX >> 20);
		}
		if (n < 0 || buf_add(b, chunk, (size_t)n)) {
			int saved = n < 0 ? errno : ENOMEM;

			close(fd);
			return err_set(e, ERR_IO, "%s: cannot read: %s", path, strerror(saved));
		}
	}
	close(fd);
	return 0;
}

/* One entry of a plan at *p: its fields (id "" in a version-1 plan); 0 past its end. */
struct entry {
	const char *tmp, *target, *id;
};

static int next_entry(const char **p, const char *end, int v2, struct entry *en)
{
	const char *q = *p;

	if (q >= end)
		return 0;
	en->tmp = q;
	q += strlen(q) + 1;
	en->target = q < end ? q : "";
	q = q < end ? q + strlen(q) + 1 : end;
	en->id = v2 && q < end ? q : "";
	if (v2)
		q = q < end ? q + strlen(q) + 1 : end + 1;
	*p = q;
	return 1;
}

/* Every entry renames a temporary file of its target, absolute, in its directory. */
static int check_pairs(const char *path, const char *p, const char *end, int v2, struct err *e)
{
	struct entry en;

	if (p < end && end[-1] != '\0')
		return err_set(e, ERR_DATA, "%s: not a commit plan of waexport (cut short)", path);
	for (size_t i = 1; next_entry(&p, end, v2, &en); i++)
		if (p > end || en.tmp[0] != '/' || en.target[0] != '/' ||
		    !fsutil_is_staged_for(en.tmp, en.target))
			return err_set(e, ERR_DATA,
				       "%s: file %zu of the commit plan is not a temporary file "
				       "beside its target; nothing was renamed (check the plan and "
				       "remove it)",
				       path, i);
	return 0;
}

/*
 * A staged file that is gone, and not because it was renamed over its
 * target (the target is another file): removed by hand, or by a cleanup of
 * old temporary files. Then nothing of the plan may move: the state would
 * pass messages no file holds.
 */
static const char *lost_file(const char *p, const char *end, int v2)
{
	struct entry en;
	struct stat st;

	while (next_entry(&p, end, v2, &en)) {
		if (!lstat(en.tmp, &st) && S_ISREG(st.st_mode))
			continue;
		/*
		 * No identity: format 1 has none (nothing to say), but in format 2
		 * the file was already gone when the plan was written.
		 */
		if (!*en.id) {
			if (v2)
				return en.tmp;
			continue;
		}
		if (!is_file(en.target, en.id))
			return en.tmp;
	}
	return NULL;
}

/* The target a pair put in place, by identity (a missing one is nothing to say). */
static int note_target(struct plan_finished *done, const char *target)
{
	struct plan_file *t;
	struct stat st;

	if (stat(target, &st))
		return 0;
	if (!(t = realloc(done->targets, (done->ntargets + 1) * sizeof(*t))))
		return -1;
	done->targets = t;
	t[done->ntargets].dev = st.st_dev;
	t[done->ntargets++].ino = st.st_ino;
	return 0;
}

/* Each temporary file still there over its target, in order. */
static int rename_pairs(const char *path, const char *p, const char *end, int v2,
			struct plan_finished *done, struct err *e)
{
	struct entry en;

	while (next_entry(&p, end, v2, &en)) {
		const char *tmp = en.tmp, *target = en.target;
		struct stat st;

		if (!lstat(tmp, &st) && S_ISREG(st.st_mode)) { /* else in place already */
			if (rename(tmp, target))
				return err_set(e, ERR_IO,
					       "%s: cannot rename %s over %s: %s; the next run "
					       "tries again",
					       path, tmp, target, strerror(errno));
			fsutil_sync_dir(target);
			done->moved++;
		}
		fsutil_unstaged(tmp, target); /* a workbook's directory, left empty */
		if (note_target(done, target))
			return err_nomem(e);
	}
	return 0;
}

int plan_complete(const char *state_real, struct plan_finished *done, struct err *e)
{
	char *path = plan_path(state_real);
	struct buf b = BUF_INIT;
	const char *body, *lost;
	int missing = 0, rc = -1, v2;

	memset(done, 0, sizeof(*done));
	if (!path)
		return err_nomem(e);
	if (read_plan(path, &b, &missing, e))
		goto out;
	rc = 0;
	if (missing)
		goto out;
	rc = -1;
	v2 = b.len >= strlen(PLAN_MAGIC_2) && !memcmp(b.data, PLAN_MAGIC_2, strlen(PLAN_MAGIC_2));
	if (!v2 && (b.len < strlen(PLAN_MAGIC) || memcmp(b.data, PLAN_MAGIC, strlen(PLAN_MAGIC)))) {
		err_set(e, ERR_DATA, "%s: not a commit plan of waexport", path);
		goto out;
	}
	body = b.data + strlen(v2 ? PLAN_MAGIC_2 : PLAN_MAGIC);
	if (check_pairs(path, body, b.data + b.len, v2, e))
		goto out;
	/* One gone: the plan is abandoned whole, its staged files cleared as a killed run's. */
	if ((lost = lost_file(body, b.data + b.len, v2)) && !(done->lost = strdup(lost))) {
		err_nomem(e);
		goto out;
	}
	if (!lost && rename_pairs(path, body, b.data + b.len, v2, done, e))
		goto out;
	if (unlink(path) && errno != ENOENT) {
		err_set(e, ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
		goto out;
	}
	fsutil_sync_dir(path);
	rc = 0;
out:
	if (!rc) /* under the lock: a plan's own temporary file is one a killed run left */
		fsutil_remove_stale_temps(path, NULL, NULL);
	else
		plan_finished_free(done);
	buf_free(&b);
	free(path);
	return rc;
}

int plan_finished_has(const struct plan_finished *done, const char *path)
{
	struct stat st;

	if (!done->ntargets || stat(path, &st))
		return 0;
	for (size_t i = 0; i < done->ntargets; i++)
		if (done->targets[i].dev == st.st_dev && done->targets[i].ino == st.st_ino)
			return 1;
	return 0;
}

void plan_finished_free(struct plan_finished *done)
{
	free(done->targets);
	free(done->lost);
	memset(done, 0, sizeof(*done));
}
