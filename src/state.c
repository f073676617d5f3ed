#include "state.h"
#include "buf.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define STATE_MAGIC "waexport-state 1"

struct state {
	char *path;
	int lock_fd;
	struct checkpoint *cp;
	size_t n, cap;
};

static void checkpoint_free(struct checkpoint *c)
{
	free(c->from);
	free(c->to);
	for (size_t i = 0; i < c->nuniques; i++)
		free(c->uniques[i]);
	free(c->uniques);
	memset(c, 0, sizeof(*c));
}

static int lock(struct state *st, struct err *e)
{
	struct buf name = BUF_INIT;
	char pid[32];
	int n;

	if (buf_adds(&name, st->path) || buf_adds(&name, ".lock") || buf_addc(&name, '\0'))
		return err_nomem(e);
	st->lock_fd = open(name.data, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (st->lock_fd < 0) {
		err_set(e, ERR_IO, "--state %s: cannot create the lock file %s: %s", st->path,
			name.data, strerror(errno));
		buf_free(&name);
		return -1;
	}
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
		buf_free(&name);
		return -1;
	}
	buf_free(&name);
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(st->lock_fd, 0) == 0)
		(void)!pwrite(st->lock_fd, pid, (size_t)n, 0);
	return 0;
}

static int corrupt(struct state *st, unsigned line, const char *why, struct err *e)
{
	return err_set(e, ERR_DATA, "--state %s: line %u: %s; the file is not a waexport state "
		       "file or is damaged (fix or remove it; removing it makes the next run export "
		       "the whole history)", st->path, line, why);
}

static int add_unique(struct checkpoint *c, const char *u)
{
	/* Grow by doubling: nuniques is a power of two exactly when full. */
	if (!(c->nuniques & (c->nuniques - 1))) {
		char **p = realloc(c->uniques, (c->nuniques ? 2 * c->nuniques : 1) * sizeof(*p));

		if (!p)
			return -1;
		c->uniques = p;
	}
	if (!(c->uniques[c->nuniques] = strdup(u)))
		return -1;
	c->nuniques++;
	return 0;
}

static int add_cp(struct state *st, struct checkpoint **out)
{
	if (st->n == st->cap) {
		size_t cap = st->cap ? 2 * st->cap : 8;
		struct checkpoint *c = realloc(st->cp, cap * sizeof(*c));

		if (!c)
			return -1;
		st->cp = c;
		st->cap = cap;
	}
	*out = &st->cp[st->n++];
	memset(*out, 0, sizeof(**out));
	return 0;
}

static int parse_line(struct state *st, char *line, unsigned no, struct err *e)
{
	char *field[3];
	char *p = line, *end;
	struct checkpoint *c;
	size_t nf = 0;

	for (; nf < 3; nf++) {
		char *tab = strchr(p, '\t');

		if (!tab)
			return corrupt(st, no, "expected FROM, TO, EPOCH and at least one UNIQUE", e);
		*tab = '\0';
		field[nf] = p;
		p = tab + 1;
	}
	if (!*field[0] || strspn(field[0], "0123456789") != strlen(field[0]))
		return corrupt(st, no, "FROM is not a number", e);
	if (add_cp(st, &c))
		return err_nomem(e);
	c->ts = strtoll(field[2], &end, 10);
	if (!*field[2] || *end)
		return corrupt(st, no, "EPOCH is not a number", e);
	c->from = strdup(field[0]);
	c->to = strcmp(field[1], "*") ? strdup(field[1]) : NULL;
	if (!c->from || (strcmp(field[1], "*") && !c->to))
		return err_nomem(e);
	for (;;) {
		char *tab = strchr(p, '\t');

		if (tab)
			*tab = '\0';
		if (!*p)
			return corrupt(st, no, "empty UNIQUE", e);
		if (c->nuniques == STATE_MAX_UNIQUES)
			return corrupt(st, no, "too many uniques", e);
		if (add_unique(c, p))
			return err_nomem(e);
		if (!tab)
			break;
		p = tab + 1;
	}
	return 0;
}

static int load(struct state *st, struct err *e)
{
	FILE *f = fopen(st->path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned no = 0;
	int rc = 0;

	if (!f) {
		if (errno == ENOENT)
			return 0; /* the first run */
		return err_set(e, ERR_IO, "--state %s: cannot read: %s", st->path, strerror(errno));
	}
	while (!rc && (n = getline(&line, &cap, f)) >= 0) {
		no++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (no == 1)
			rc = strcmp(line, STATE_MAGIC) ? corrupt(st, 1, "missing the '" STATE_MAGIC "' header", e) : 0;
		else if (!memchr(line, '\0', (size_t)n) && n)
			rc = parse_line(st, line, no, e);
		else
			rc = corrupt(st, no, n ? "NUL byte" : "empty line", e);
	}
	if (!rc && ferror(f))
		rc = err_set(e, ERR_IO, "--state %s: read failed: %s", st->path, strerror(errno));
	if (!rc && no == 0)
		rc = corrupt(st, 1, "the file is empty", e);
	free(line);
	fclose(f);
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
	if (lock(st, e) || load(st, e)) {
		state_close(st);
		return -1;
	}
	*out = st;
	return 0;
}

static int same(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

const struct checkpoint *state_get(const struct state *st, const char *from, const char *to)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->cp[i].from, from) && same(st->cp[i].to, to))
			return &st->cp[i];
	return NULL;
}

int state_set(struct state *st, const char *from, const char *to, long long ts,
	      char *const *uniques, size_t nuniques, struct err *e)
{
	struct checkpoint *c = (struct checkpoint *)state_get(st, from, to);

	if (c)
		checkpoint_free(c);
	else if (add_cp(st, &c))
		return err_nomem(e);
	c->from = strdup(from);
	c->to = to ? strdup(to) : NULL;
	c->ts = ts;
	if (!c->from || (to && !c->to))
		return err_nomem(e);
	for (size_t i = 0; i < nuniques && i < STATE_MAX_UNIQUES; i++)
		if (add_unique(c, uniques[i]))
			return err_nomem(e);
	return 0;
}

int state_commit(struct state *st, struct err *e)
{
	struct buf b = BUF_INIT;
	char *tmp = NULL;
	int fd, rc = -1;

	if (buf_adds(&b, STATE_MAGIC "\n"))
		goto nomem;
	for (size_t i = 0; i < st->n; i++) {
		const struct checkpoint *c = &st->cp[i];

		if (!c->nuniques)
			continue;
		if (buf_adds(&b, c->from) || buf_addc(&b, '\t') || buf_adds(&b, c->to ? c->to : "*") ||
		    buf_addc(&b, '\t') || buf_add_i64(&b, c->ts))
			goto nomem;
		for (size_t k = 0; k < c->nuniques; k++)
			if (buf_addc(&b, '\t') || buf_adds(&b, c->uniques[k]))
				goto nomem;
		if (buf_addc(&b, '\n'))
			goto nomem;
	}
	fd = fsutil_temp_beside(st->path, &tmp);
	if (fd < 0) {
		err_set(e, ERR_IO, "--state %s: cannot create a file beside it: %s", st->path,
			strerror(errno));
		goto out;
	}
	if (fsutil_write_all(fd, b.data, b.len) || fsync(fd)) {
		err_set(e, ERR_IO, "--state %s: write failed: %s", st->path, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) || rename(tmp, st->path)) {
		err_set(e, ERR_IO, "--state %s: cannot replace it: %s", st->path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	fsutil_sync_dir(st->path);
	rc = 0;
	goto out;
nomem:
	err_nomem(e);
out:
	free(tmp);
	buf_free(&b);
	return rc;
}

void state_close(struct state *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->n; i++)
		checkpoint_free(&st->cp[i]);
	free(st->cp);
	if (st->lock_fd >= 0)
		close(st->lock_fd); /* releases the flock */
	free(st->path);
	free(st);
}
