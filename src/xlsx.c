#include "xlsx.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Encoded rows gathered before a write to the spool. */
#define SPOOL_BUF (256u * 1024u)
/*
 * Past this much spooled, a sheet's XML may pass 4 GiB: ZIP64 records then.
 * A spooled byte can grow sevenfold in the XML (a control character is
 * `_x0001_`, '&' is `&amp;`), so an eighth of 4 GiB is where that can begin.
 */
#define ZIP64_FROM (512ull << 20)

struct xlsx {
	struct xlsx_opts o;
	enum column columns[COL_COUNT];
	int is_stdout;
	int copy_fd; /* stdout or a device/FIFO target: the workbook is copied there */
	int finished, committed;
	mode_t mode;  /* of the workbook: 0600, or the replaced file's */
	char *target; /* final path ("standard output" for stdout) */
	char *tmp;    /* the temporary workbook, in: */
	char *work;   /* a directory of this run's beside the target (0700) */
	int work_fd;  /* open (locked) while the workbook is built */
	/* Until finished (a run of {chat} keeps every finished workbook until the renames): */
	char *base; /* the target's directory, resolved (relative links) */
	int spool;  /* encoded rows, unlinked */
	struct buf pend;
	unsigned char head[XLSX_ROW_HEAD(COL_COUNT)]; /* the row head being read (xlsx_write) */
	size_t head_have;
	unsigned long long body_left;
	unsigned long long in, out, rows;
	unsigned parts[COL_COUNT]; /* per column: the most cells in one row */
};

static int io_error(struct xlsx *x, int errnum, const char *what, struct err *e)
{
	if (errnum == ENOMEM)
		return err_nomem(e);
	err_set(e, ERR_IO, "%s: %s failed: %s%s", x->target, what, strerror(errnum),
		errnum == ENOSPC
			? " (free some space and run again; the previous file is untouched)"
			: "");
	e->errnum = errnum;
	if (errnum == EPIPE && x->copy_fd == STDOUT_FILENO)
		e->signo = SIGPIPE; /* | head: main ends quietly (err.h) */
	return -1;
}

/*
 * Where the workbook is built: in a temporary directory beside the target
 * (the file mode 0600; a replaced file keeps its mode), or in $TMPDIR for
 * stdout and for a target that is not a regular file (/dev/null, a FIFO),
 * which get a copy.
 */
static int place_workbook(struct xlsx *x, const char *path, struct err *e)
{
	char stdout_name[PATH_MAX], dir[PATH_MAX];
	struct stat st;
	int have = 0;

	x->mode = 0600;
	if (!x->is_stdout && stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
		x->copy_fd = open(path, O_WRONLY | O_CLOEXEC);
		if (x->copy_fd < 0)
			return err_set(e, ERR_CANTCREAT, "%s: cannot open: %s", path,
				       strerror(errno));
		x->target = strdup(path);
		x->is_stdout = 1;
	} else if (x->is_stdout) {
		x->target = strdup("standard output");
	}
	if (x->is_stdout) {
		snprintf(stdout_name, sizeof(stdout_name), "%s/waexport.xlsx", fsutil_tmpdir());
		path = stdout_name;
	} else {
		have = stat(path, &st) == 0;
		if (have && S_ISDIR(st.st_mode))
			return err_set(e, ERR_CANTCREAT,
				       "%s: is a directory; give a file name with -o", path);
		/* SPEC §4.4: with --state no run may replace what an earlier one exported. */
		if (have && x->o.refuse_existing)
			return err_set(e, ERR_CANTCREAT,
				       "%s: exists, and a workbook cannot be added "
				       "to; with --state give each run its own file (-o "
				       "'history-{date}.xlsx' for one run a day) or move this "
				       "one aside first",
				       path);
		/* Through a symlink, write what it points to: never replace the link. */
		x->target = have ? realpath(path, NULL) : NULL;
		if (!x->target)
			x->target = strdup(path);
		if (have && S_ISREG(st.st_mode))
			x->mode = st.st_mode & 07777;
	}
	if (!x->target)
		return err_nomem(e);
	fsutil_dirname(x->is_stdout ? path : x->target, dir, sizeof(dir));
	/* Media links are relative to where the workbook is read: its directory, or here. */
	if (!(x->base = realpath(x->is_stdout ? "." : dir, NULL)) &&
	    !(x->base = strdup(x->is_stdout ? "." : dir)))
		return err_nomem(e);
	/* --state: what a killed run left (a workbook's directory once two hours old). */
	if (x->o.refuse_existing)
		fsutil_remove_stale_temps(x->is_stdout ? path : x->target, NULL, NULL);
	/*
	 * libxlsxwriter reopens the workbook by name, and makes its own files in
	 * its tmpdir: both in a directory of this run's, where no one else can
	 * swap in a link (SPEC §5.6) and which the next run clears if this one
	 * is killed.
	 */
	x->work_fd =
		fsutil_temp_dir_file(x->is_stdout ? path : x->target, "workbook.xlsx", x->mode,
				     &x->work, &x->tmp); /* reopened: truncated, the mode stays */
	if (x->work_fd < 0)
		return err_file(e, errno,
				"%s: cannot create a file in its directory: %s "
				"(check that the directory exists and is writable)",
				path, strerror(errno));
	return 0;
}

int xlsx_open(struct xlsx **res, const struct xlsx_opts *o, struct err *e)
{
	struct xlsx *x = calloc(1, sizeof(*x));

	*res = NULL;
	if (!x)
		return err_nomem(e);
	x->o = *o;
	x->spool = x->work_fd = -1;
	x->is_stdout = !o->path || !strcmp(o->path, "-");
	x->copy_fd = x->is_stdout ? STDOUT_FILENO : -1;
	if (!x->o.rows_per_sheet)
		x->o.rows_per_sheet = XLSX_SHEET_ROWS - 1;
	if (o->ncolumns > COL_COUNT) {
		err_set(e, ERR_SOFTWARE, "xlsx: too many columns");
		goto fail;
	}
	memcpy(x->columns, o->columns, o->ncolumns * sizeof(*o->columns));
	x->o.columns = x->columns;
	x->o.path = NULL;
	if (place_workbook(x, o->path, e))
		goto fail;
	x->spool = fsutil_unnamed_file(x->work, "spool");
	if (x->spool < 0) {
		err_file(e, errno, "%s: cannot create a spool file beside it: %s", x->target,
			 strerror(errno));
		goto fail;
	}
	if (buf_reserve(&x->pend, SPOOL_BUF)) {
		err_nomem(e);
		goto fail;
	}
	*res = x;
	return 0;
fail:
	xlsx_close(x);
	return -1;
}

static int flush_pend(struct xlsx *x, struct err *e)
{
	if (x->pend.len && fsutil_write_all(x->spool, x->pend.data, x->pend.len))
		return io_error(x, errno ? errno : EIO, "writing the spool", e);
	x->pend.len = 0;
	return 0;
}

/* Follow the rows through the bytes: how many, and the most cells of each column in one. */
static void scan(struct xlsx *x, const unsigned char *p, size_t n)
{
	while (n) {
		if (x->body_left) {
			size_t k = x->body_left < n ? (size_t)x->body_left : n;

			x->body_left -= k;
			p += k;
			n -= k;
			continue;
		}
		x->head[x->head_have++] = *p++;
		n--;
		if (x->head_have == XLSX_ROW_HEAD(x->o.ncolumns)) {
			uint32_t len;

			memcpy(&len, x->head, 4);
			x->body_left = len - 2 * x->o.ncolumns;
			x->head_have = 0;
			x->rows++;
			for (size_t i = 0; i < x->o.ncolumns; i++) {
				uint16_t parts;

				memcpy(&parts, x->head + 4 + 2 * i, 2);
				if (parts > x->parts[i])
					x->parts[i] = parts;
			}
		}
	}
}

int xlsx_write(struct xlsx *x, const void *p, size_t n, struct err *e)
{
	x->in += n;
	scan(x, p, n);
	if (x->pend.len + n > SPOOL_BUF && flush_pend(x, e))
		return -1;
	if (n >= SPOOL_BUF)
		return fsutil_write_all(x->spool, p, n)
			       ? io_error(x, errno ? errno : EIO, "writing the spool", e)
			       : 0;
	return buf_add(&x->pend, p, n) ? err_nomem(e) : 0;
}

/*
 * The finished workbook read back: copied to `to` unless that is -1 (stdout, a
 * device: where a rename cannot take it), and handed to o.sum.
 */
static int read_back(struct xlsx *x, int to, struct err *e)
{
	char tmp[64 * 1024];
	int fd = open(x->tmp, O_RDONLY | O_CLOEXEC), rc = -1;

	if (fd < 0)
		return io_error(x, errno, "reading the workbook back", e);
	for (;;) {
		ssize_t n = read(fd, tmp, sizeof(tmp));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			io_error(x, errno, "reading the workbook back", e);
			goto out;
		}
		if (!n)
			break;
		if (to >= 0 && fsutil_write_all(to, tmp, (size_t)n)) {
			io_error(x, errno ? errno : EIO, "write", e);
			goto out;
		}
		if (x->o.sum && x->o.sum(x->o.sum_ctx, tmp, (size_t)n, e))
			goto out;
		if (to >= 0)
			x->out += (unsigned long long)n;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* A temporary workbook must reach the disk before the rename makes it the target. */
static int sync_workbook(struct xlsx *x, struct err *e)
{
	struct stat st;
	int fd = open(x->tmp, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return io_error(x, errno, "reopening the workbook", e);
	if (fstat(fd, &st) || fsync(fd)) {
		int errnum = errno;

		close(fd);
		return io_error(x, errnum, "fsync", e);
	}
	x->out = (unsigned long long)st.st_size;
	return close(fd) ? io_error(x, errno, "close", e) : 0;
}

/* What only building needed. */
static void release(struct xlsx *x)
{
	if (x->spool >= 0)
		close(x->spool);
	x->spool = -1;
	if (x->work_fd >= 0)
		close(x->work_fd); /* a run of {chat} holds no descriptor a finished workbook */
	x->work_fd = -1;
	buf_free(&x->pend);
	free(x->base);
	x->base = NULL;
}

static void drop_tmp(struct xlsx *x)
{
	if (x->tmp) {
		unlink(x->tmp);
		free(x->tmp);
		x->tmp = NULL;
	}
	if (x->work) {
		fsutil_remove_temp_dir(x->work); /* and what libxlsxwriter left there */
		free(x->work);
		x->work = NULL;
	}
}

int xlsx_finish(struct xlsx *x, struct err *e)
{
	struct xlsx_book b = {
		.file = x->tmp,
		.tmpdir = x->work,
		.base = x->base,
		.where = x->target,
		.media_dir = x->o.media_dir,
		.columns = x->columns,
		.ncolumns = x->o.ncolumns,
		.parts = x->parts,
		.rows = x->rows,
		.rows_per_sheet = x->o.rows_per_sheet,
		.zip64 = x->in >= ZIP64_FROM,
		.stop = x->o.stop,
	};

	if (x->finished)
		return 0;
	if (x->head_have || x->body_left)
		return err_set(e, ERR_SOFTWARE, "%s: the last row is incomplete", x->target);
	if (flush_pend(x, e) || xlsx_book_build(&b, x->spool, e))
		goto fail;
	if (x->copy_fd >= 0) {
		if (read_back(x, x->copy_fd, e))
			goto fail;
		drop_tmp(x);
		x->committed = 1;
	} else if (sync_workbook(x, e) || (x->o.sum && read_back(x, -1, e))) {
		goto fail;
	}
	x->finished = 1;
	release(x);
	return 0;
fail:
	drop_tmp(x);
	return -1;
}

int xlsx_publish(struct xlsx *x, struct err *e)
{
	if (x->committed)
		return 0;
	if (!x->finished || !x->tmp)
		return err_set(e, ERR_SOFTWARE, "%s: published before it was finished", x->target);
	if (fsutil_move_into_place(&x->tmp, x->target, e))
		return -1;
	x->committed = 1;
	drop_tmp(x); /* the directory it was built in, empty now */
	return 0;
}

const char *xlsx_staged(const struct xlsx *x, const char **target)
{
	*target = x->target;
	return x->finished && !x->committed ? x->tmp : NULL;
}

void xlsx_keep(struct xlsx *x)
{
	if (!x)
		return;
	free(x->tmp);
	x->tmp = NULL;
	free(x->work); /* the workbook stays in it for the commit plan */
	x->work = NULL;
}

void xlsx_close(struct xlsx *x)
{
	if (!x)
		return;
	release(x);
	if (x->copy_fd >= 0 && x->copy_fd != STDOUT_FILENO)
		close(x->copy_fd);
	drop_tmp(x);
	free(x->target);
	free(x);
}

unsigned long long xlsx_bytes_out(const struct xlsx *x)
{
	return x->out;
}

unsigned long long xlsx_rows(const struct xlsx *x)
{
	return x->rows;
}
