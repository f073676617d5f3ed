#include "samefile.h"
#include "buf.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One path of a check, resolved once: its text, its canonical form, its inode. */
struct resolved {
	struct buf full;  /* path + suffix, as given */
	struct buf canon; /* see canonical() */
	struct stat st;
	int exists;
};

/*
 * s without empty and "." components ("a//./b/" is "a/b"), so strings that
 * spell one path differently compare equal even where no directory exists
 * yet. ".." stays: what it means depends on the directories it crosses.
 */
static int normalise(const char *s, struct buf *out)
{
	int absolute = *s == '/';

	out->len = 0;
	while (*s) {
		size_t n = strcspn(s, "/");

		if (n && !(n == 1 && *s == '.')) {
			if ((out->len || absolute) && buf_addc(out, '/'))
				return -1;
			if (buf_add(out, s, n))
				return -1;
		}
		s += n + (s[n] == '/');
	}
	if (!out->len && buf_adds(out, absolute ? "/" : "."))
		return -1;
	return buf_addc(out, '\0');
}

/*
 * The realpath of path's parent directory and its last component; when the
 * parent does not exist yet, the normalised path made absolute from the
 * working directory.
 */
static int canonical(const char *path, struct buf *out)
{
	struct buf norm = BUF_INIT;
	char real[PATH_MAX], cwd[PATH_MAX];
	const char *base;
	char *slash;
	int rc = -1;

	out->len = 0;
	if (normalise(path, &norm))
		goto out;
	slash = strrchr(norm.data, '/');
	base = slash ? slash + 1 : norm.data;
	if (slash == norm.data) { /* "/name" */
		strcpy(real, "/");
	} else if (slash) {
		*slash = '\0';
		if (!realpath(norm.data, real))
			real[0] = '\0';
		*slash = '/';
	} else if (!realpath(".", real)) {
		real[0] = '\0';
	}
	if (real[0]) {
		rc = buf_adds(out, real) || (strcmp(real, "/") && buf_addc(out, '/')) ||
				     buf_adds(out, base) || buf_addc(out, '\0')
			     ? -1
			     : 0;
		goto out;
	}
	if (norm.data[0] != '/' && getcwd(cwd, sizeof(cwd)) &&
	    (buf_adds(out, cwd) || buf_addc(out, '/')))
		goto out;
	rc = buf_adds(out, norm.data) || buf_addc(out, '\0') ? -1 : 0;
out:
	buf_free(&norm);
	return rc;
}

static int resolve(const char *path, const char *suffix, struct resolved *r)
{
	r->full.len = 0;
	if (buf_adds(&r->full, path) || (suffix && buf_adds(&r->full, suffix)) ||
	    buf_addc(&r->full, '\0'))
		return -1;
	r->exists = !stat(r->full.data, &r->st);
	return canonical(r->full.data, &r->canon);
}

static int same(const struct resolved *a, const struct resolved *b)
{
	if (a->exists && b->exists && a->st.st_dev == b->st.st_dev && a->st.st_ino == b->st.st_ino)
		return 1;
	return !strcmp(a->canon.data, b->canon.data);
}

static void resolved_free(struct resolved *r)
{
	buf_free(&r->full);
	buf_free(&r->canon);
}

int samefile_same(const char *a, const char *b)
{
	struct resolved ra = { BUF_INIT, BUF_INIT, { 0 }, 0 };
	struct resolved rb = { BUF_INIT, BUF_INIT, { 0 }, 0 };
	int rc = -1;

	if (resolve(a, NULL, &ra) || resolve(b, NULL, &rb))
		goto out;
	rc = same(&ra, &rb);
out:
	resolved_free(&ra);
	resolved_free(&rb);
	return rc;
}

static int refuse(const struct samefile_path *p, const struct resolved *r, size_t i, size_t j,
		  struct err *e)
{
	const char *a = r[i].full.data, *b = r[j].full.data;

	if (!strcmp(a, "-") && !strcmp(b, "-"))
		return err_set(e, ERR_USAGE,
			       "%s and %s both write to standard output: each needs its own path",
			       p[i].option, p[j].option);
	if (!strcmp(a, b))
		return err_set(e, ERR_USAGE,
			       "%s and %s name the same file (%s): each needs its own path",
			       p[i].option, p[j].option, a);
	return err_set(e, ERR_USAGE,
		       "%s and %s name the same file (%s and %s): each needs its own path",
		       p[i].option, p[j].option, a, b);
}

int samefile_check(const struct samefile_path *p, size_t n, struct err *e)
{
	struct resolved *r = calloc(n ? n : 1, sizeof(*r));
	int rc = -1;

	if (!r)
		return err_nomem(e);
	for (size_t i = 0; i < n; i++)
		if (p[i].path && resolve(p[i].path, p[i].suffix, &r[i])) {
			err_nomem(e);
			goto out;
		}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; p[i].path && j < n; j++)
			if (p[j].path && !(p[i].input && p[j].input) && same(&r[i], &r[j])) {
				refuse(p, r, i, j, e);
				goto out;
			}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		resolved_free(&r[i]);
	free(r);
	return rc;
}

int samefile_check_options(const struct options *o, struct err *e)
{
	/* '-' is standard output, which clashes only with --save-raw's '-'. */
	int to_stdout = !strcmp(o->output, "-");
	const char *output =
		!to_stdout || (o->save_raw && !strcmp(o->save_raw, "-")) ? o->output : NULL;
	/* Each row is one file the run writes; --state's companions are named
	 * as state.c and resume.c name them. */
	const struct samefile_path written[] = {
		{ "-o", output, NULL, 0 },
		{ "--manifest", o->manifest, NULL, 0 },
		{ "--save-raw", o->save_raw, NULL, 0 },
		{ "--metrics-file", o->metrics_file, NULL, 0 },
		{ "--state", o->state, NULL, 0 },
		{ "--state's journal", o->state, ".journal", 0 },
		{ "--state's lock", o->state, ".lock", 0 },
		{ "--log-file", o->log_file, NULL, 0 },
	};
	size_t nw = sizeof(written) / sizeof(written[0]), n = nw;
	struct samefile_path *all = malloc((nw + o->nfiles) * sizeof(*all));
	int rc;

	if (!all)
		return err_nomem(e);
	memcpy(all, written, sizeof(written));
	for (size_t i = 0; o->cmd == CMD_CONVERT && i < o->nfiles; i++)
		if (strcmp(o->files[i], "-")) /* standard input */
			all[n++] = (struct samefile_path){ "the input file", o->files[i], NULL, 1 };
	rc = samefile_check(all, n, e);
	free(all);
	return rc;
}
