#include "samefile.h"
#include "buf.h"
#include "outpath.h"

#include <fnmatch.h>
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
	int chats; /* canon is a -o pattern: {chat} stands for any chat's name */
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
 * out (a directory, absolute, NUL-terminated) with the components of rest
 * added, ".." taking the last one off: exact for directories not made yet,
 * which will be plain directories (--create-dirs), never symbolic links.
 */
static int add_lexically(struct buf *out, const char *rest)
{
	out->len = strlen(out->data);
	while (*rest) {
		size_t n = strcspn(rest, "/");

		if (n == 2 && !strncmp(rest, "..", 2)) {
			char *slash = strrchr(out->data, '/');

			out->len = slash && slash != out->data ? (size_t)(slash - out->data) : 1;
		} else if (n && ((out->len > 1 && buf_addc(out, '/')) || buf_add(out, rest, n))) {
			return -1;
		}
		if (buf_addc(out, '\0'))
			return -1;
		out->len--;
		rest += n + (rest[n] == '/');
	}
	return 0;
}

/*
 * The realpath of path's parent directory and its last component; when the
 * parent does not exist yet, the realpath of its longest existing ancestor
 * (or the working directory) and the rest added lexically.
 */
static int canonical(const char *path, struct buf *out)
{
	struct buf norm = BUF_INIT;
	char real[PATH_MAX];
	char *d, *slash, *rest;
	int rc = -1;

	out->len = 0;
	if (normalise(path, &norm))
		goto out;
	d = norm.data;
	for (slash = strrchr(d, '/');;) {
		int found;

		if (!slash || slash == d) { /* no ancestor exists: from "/" or "." */
			if (!realpath(*d == '/' ? "/" : ".",
				      real)) { /* the working directory is gone */
				rc = buf_adds(out, d) || buf_addc(out, '\0') ? -1 : 0;
				goto out;
			}
			rest = *d == '/' ? d + 1 : d;
			break;
		}
		*slash = '\0';
		found = realpath(d, real) != NULL;
		*slash = '/';
		if (found) {
			rest = slash + 1;
			break;
		}
		while (--slash > d && *slash != '/')
			;
		slash = *slash == '/' ? slash : NULL;
	}
	rc = buf_adds(out, real) || buf_addc(out, '\0') || add_lexically(out, rest) ||
			     buf_addc(out, '\0')
		     ? -1
		     : 0;
out:
	buf_free(&norm);
	return rc;
}

/*
 * path with the symbolic links of its last component followed, also to a
 * file that does not exist yet (`ln -s night.csv x.log` before the first
 * night): a link's target is read relative to the link's directory.
 */
static int follow_links(const char *path, struct buf *out)
{
	char target[PATH_MAX];
	struct stat st;

	out->len = 0;
	if (buf_adds(out, path) || buf_addc(out, '\0'))
		return -1;
	for (int hops = 0; hops < 40; hops++) { /* Linux's own limit, MAXSYMLINKS */
		ssize_t n;
		char *slash;

		if (lstat(out->data, &st) || !S_ISLNK(st.st_mode))
			break;
		n = readlink(out->data, target, sizeof(target) - 1);
		if (n <= 0)
			break;
		target[n] = '\0';
		slash = strrchr(out->data, '/');
		out->len = target[0] != '/' && slash ? (size_t)(slash - out->data) + 1 : 0;
		if (buf_adds(out, target) || buf_addc(out, '\0'))
			return -1;
	}
	return 0;
}

static int resolve(const struct samefile_path *p, struct resolved *r)
{
	struct buf linked = BUF_INIT;
	int rc;

	r->full.len = 0;
	r->chats = p->chats && outpath_uses(p->path, "{chat}");
	if (buf_adds(&r->full, p->path) || (p->suffix && buf_adds(&r->full, p->suffix)) ||
	    buf_addc(&r->full, '\0'))
		return -1;
	r->exists = !r->chats && !stat(r->full.data, &r->st);
	rc = follow_links(r->full.data, &linked) || canonical(linked.data, &r->canon) ? -1 : 0;
	buf_free(&linked);
	return rc;
}

/*
 * Whether pattern, a canonical path with {chat} in it, can become path: the
 * pattern as an fnmatch(3) pattern, {chat} as "*" (a chat's name has no '/')
 * and every other character taken as it is.
 */
static int can_become(const char *pattern, const char *path)
{
	struct buf glob = BUF_INIT;
	int rc = -1;

	for (const char *c = pattern; *c; c++) {
		if (!strncmp(c, "{chat}", 6)) {
			c += 5;
			if (buf_addc(&glob, '*'))
				goto out;
		} else if ((strchr("*?[\\", *c) && buf_addc(&glob, '\\')) || buf_addc(&glob, *c)) {
			goto out;
		}
	}
	if (buf_addc(&glob, '\0'))
		goto out;
	rc = !fnmatch(glob.data, path, FNM_PATHNAME);
out:
	buf_free(&glob);
	return rc;
}

static int same(const struct resolved *a, const struct resolved *b)
{
	if (a->chats != b->chats)
		return a->chats ? can_become(a->canon.data, b->canon.data)
				: can_become(b->canon.data, a->canon.data);
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
	struct resolved ra = { BUF_INIT, BUF_INIT, { 0 }, 0, 0 };
	struct resolved rb = { BUF_INIT, BUF_INIT, { 0 }, 0, 0 };
	const struct samefile_path pa = { "", a, NULL, 0, 0 }, pb = { "", b, NULL, 0, 0 };
	int rc = -1;

	if (resolve(&pa, &ra) || resolve(&pb, &rb))
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

	if (r[i].chats != r[j].chats)
		return err_set(e, ERR_USAGE,
			       "%s and %s can name the same file (%s makes %s for a chat of "
			       "that name): each needs its own path",
			       p[r[i].chats ? i : j].option, p[r[i].chats ? j : i].option,
			       r[i].chats ? a : b, r[i].chats ? b : a);
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
	for (size_t i = 0; i < n; i++) {
		if (p[i].path && resolve(&p[i], &r[i])) {
			err_nomem(e);
			goto out;
		}
		if (r[i].chats && !strstr(r[i].canon.data, "{chat}")) { /* y/{chat}/../a.csv */
			err_set(e, ERR_USAGE,
				"%s %s: '..' leads out of {chat}'s directory, so every chat would "
				"have the same file; put {chat} in the part that stays",
				p[i].option, p[i].path);
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; p[i].path && j < n; j++)
			if (p[j].path && !(p[i].input && p[j].input)) {
				int clash = same(&r[i], &r[j]);

				if (clash < 0) {
					err_nomem(e);
					goto out;
				}
				if (clash) {
					refuse(p, r, i, j, e);
					goto out;
				}
			}
	rc = 0;
out:
	for (size_t i = 0; i < n; i++)
		resolved_free(&r[i]);
	free(r);
	return rc;
}

/*
 * tmpl as the run expands it (SPEC §2: today's {date}, --from, to), {chat}
 * kept, into *out (caller frees); *out NULL where the run will refuse the
 * template itself (it says why) or today is not known (a bad --tz).
 */
static int expand(const struct options *o, const char *tmpl, const char *to, const char *today,
		  char **out, struct err *e)
{
	struct outpath_vars v = { 0 };
	struct err why = { 0 };

	*out = NULL;
	if (!tmpl || !today || !*today)
		return 0;
	v.from = o->cmd == CMD_FETCH ? o->from : NULL;
	v.to = to;
	v.date = today;
	v.keep_chat = 1;
	if (outpath_expand(tmpl, &v, out, &why) && why.kind != ERR_USAGE)
		return err_nomem(e);
	return 0;
}

/* The rows of list_paths that are neither -o nor an input. */
#define SAMEFILE_FIXED 11

/* The written files and the read ones, every template expanded into owned[]. */
static int list_paths(const struct options *o, const char *today, struct samefile_path *all,
		      char **owned, size_t *n, struct err *e)
{
	/* '-' is standard output, which clashes only with --save-raw's '-'. */
	int to_stdout = !strcmp(o->output, "-");
	const char *output =
		!to_stdout || (o->save_raw && !strcmp(o->save_raw, "-")) ? o->output : NULL;
	int per_to = o->cmd == CMD_FETCH && o->nto > 1 && outpath_uses(o->output, "{to}");
	const char *one_to = o->cmd == CMD_FETCH && o->nto == 1 ? o->to[0] : NULL;
	/* Each row is one file the run writes or reads; --state's companions
	 * are named as state.c and resume.c name them. */
	const struct samefile_path fixed[SAMEFILE_FIXED] = {
		{ "--manifest", o->manifest, NULL, 0, 0 },
		{ "--save-raw", o->save_raw, NULL, 0, 0 },
		{ "--metrics-file", o->metrics_file, NULL, 0, 0 },
		{ "--state", o->state, NULL, 0, 0 },
		{ "--state's journal", o->state, ".journal", 0, 0 },
		{ "--state's lock", o->state, ".lock", 0, 0 },
		{ "--state's commit plan", o->state, ".commit", 0, 0 },
		{ "--log-file", o->log_file, NULL, 0, 0 },
		{ "--media-dir", o->media_dir, NULL, 0, 0 },
		{ "--api-key-file", o->api_key_file, NULL, 1, 0 },
		{ "--cacert", o->cacert, NULL, 1, 0 },
	};
	size_t k = 0;

	*n = 0;
	for (size_t i = 0; i < (per_to ? o->nto : 1); i++) {
		if (expand(o, output, per_to ? o->to[i] : one_to, today, &owned[k], e))
			return -1;
		all[(*n)++] =
			(struct samefile_path){ "-o", owned[k] ? owned[k] : output, NULL, 0, 1 };
		k++;
	}
	memcpy(all + *n, fixed, sizeof(fixed));
	for (size_t i = 0; i < 2; i++, k++) { /* --manifest and --save-raw are templates too */
		if (expand(o, all[*n + i].path, one_to, today, &owned[k], e))
			return -1;
		if (owned[k])
			all[*n + i].path = owned[k];
	}
	*n += SAMEFILE_FIXED;
	for (size_t i = 0; o->cmd == CMD_CONVERT && i < o->nfiles; i++)
		if (strcmp(o->files[i], "-")) /* standard input */
			all[(*n)++] =
				(struct samefile_path){ "the input file", o->files[i], NULL, 1, 0 };
	return 0;
}

int samefile_check_options(const struct options *o, const char *today, struct err *e)
{
	size_t cap = 1 + o->nto + SAMEFILE_FIXED + o->nfiles, n = 0;
	struct samefile_path *all = malloc(cap * sizeof(*all));
	char **owned = calloc(o->nto + 3, sizeof(*owned));
	int rc = -1;

	if (!all || !owned)
		err_nomem(e);
	else if (!list_paths(o, today, all, owned, &n, e))
		rc = samefile_check(all, n, e);
	for (size_t i = 0; owned && i < o->nto + 3; i++)
		free(owned[i]);
	free(owned);
	free(all);
	return rc;
}
