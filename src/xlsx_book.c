/*
 * The workbook itself, from the spool of encoded rows (xlsx_row.h): one pass,
 * in row order, as libxlsxwriter's constant-memory mode needs. Every
 * libxlsxwriter return code is checked; workbook_close is where the file
 * is really written, so its code decides.
 */
#include "xlsx.h"
#include "xlsx_row.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <xlsxwriter.h>

struct book {
	const struct xlsx_book *b;
	lxw_workbook *wb;
	lxw_worksheet *ws;
	lxw_format *bold, *when;
	lxw_row_t row; /* of the current sheet */
	unsigned sheet;
	unsigned long long left; /* rows not yet written */
	size_t ncols;            /* columns of the sheet, message_N included */
	struct buf cell, link, href, body, full;
	char media_dir[PATH_MAX]; /* the last media directory resolved, and its real path */
	char media_real[PATH_MAX];
};

static int failed(struct book *k, lxw_error rc, const char *what, struct err *e)
{
	return err_set(e, ERR_IO, "%s: %s: %s", k->b->where, what, lxw_strerror(rc));
}

/* A sensible width for a column: wide enough for its usual content. */
static double width_of(enum column c)
{
	switch (c) {
	case COL_UNIQUE: return 24;
	case COL_TIME: return 20;
	case COL_FROM:
	case COL_TO: return 16;
	case COL_REASON: return 24;
	case COL_MESSAGE: return 60;
	case COL_MEDIA_FILE: return 36;
	case COL_TIMESTAMP: return 12;
	default: return 10;
	}
}

/* Columns the i-th column takes: one, and one more for each continuation. */
static unsigned width(const struct xlsx_book *b, size_t i)
{
	return b->parts[i] > 1 ? b->parts[i] : 1;
}

const char *xlsx_library_version(void)
{
	return lxw_version();
}

/* A new sheet: its header, frozen, with an autofilter over its rows. */
static int new_sheet(struct book *k, struct err *e)
{
	const struct xlsx_book *b = k->b;
	lxw_row_t rows = (lxw_row_t)(k->left < b->rows_per_sheet ? k->left : b->rows_per_sheet);
	char name[32];
	lxw_col_t col = 0;
	lxw_error rc;

	k->sheet++;
	if (k->sheet == 1)
		snprintf(name, sizeof(name), "history");
	else
		snprintf(name, sizeof(name), "history %u", k->sheet);
	if (!(k->ws = workbook_add_worksheet(k->wb, name)))
		return err_set(e, ERR_IO, "%s: cannot add sheet '%s'", b->where, name);
	for (size_t i = 0; i < b->ncolumns; i++) {
		enum column c = b->columns[i];

		for (unsigned p = 1; p <= width(b, i); p++, col++) {
			char head[48];

			if (p == 1)
				snprintf(head, sizeof(head), "%s", writer_column_name(c));
			else
				snprintf(head, sizeof(head), "%s_%u", writer_column_name(c), p);
			if ((rc = worksheet_write_string(k->ws, 0, col, head, k->bold)) ||
			    (rc = worksheet_set_column(k->ws, col, col, width_of(c), NULL)))
				return failed(k, rc, "writing the header", e);
		}
	}
	k->ncols = col;
	worksheet_freeze_panes(k->ws, 1, 0);
	if ((rc = worksheet_autofilter(k->ws, 0, 0, rows, (lxw_col_t)(col - 1))))
		return failed(k, rc, "setting the autofilter", e);
	k->row = 0;
	return 0;
}

/*
 * path relative to the workbook's directory (SPEC §4.6: the link survives
 * moving the workbook with its media directory). Both sides are resolved
 * (symlinks, ..), the media directory once for a run of files in it; a
 * path that cannot be resolved is linked as given.
 */
static int media_link(struct book *k, const char *path, size_t n)
{
	const char *slash = memrchr(path, '/', n);
	size_t dlen = slash ? (size_t)(slash - path) : 0, common, i = 0;
	const char *base = k->b->base, *real = k->media_real, *file = slash ? slash + 1 : path;
	char dir[PATH_MAX];

	k->link.len = 0;
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash ? (dlen ? dlen : 1) : 1),
		 slash ? path : ".");
	if (strcmp(dir, k->media_dir)) {
		snprintf(k->media_dir, sizeof(k->media_dir), "%s", dir);
		if (!realpath(dir, k->media_real))
			k->media_real[0] = '\0';
	}
	if (!k->media_real[0] || base[0] != '/')
		return buf_add(&k->link, path, n) || buf_addc(&k->link, '\0');
	/* The longest common prefix of the two directories that ends at a '/' or the end. */
	while (base[i] && base[i] == real[i])
		i++;
	if ((base[i] && base[i] != '/') || (real[i] && real[i] != '/')) {
		while (i && base[i - 1] != '/')
			i--;
		i = i ? i - 1 : 0;
	}
	common = i;
	for (const char *p = base + common; *p; p++)
		if (*p == '/' && p[1] && buf_add(&k->link, "../", 3))
			return -1;
	if (real[common] == '/' && real[common + 1] &&
	    (buf_adds(&k->link, real + common + 1) || buf_addc(&k->link, '/')))
		return -1;
	if (buf_add(&k->link, file, n - (size_t)(file - path)) || buf_addc(&k->link, '\0'))
		return -1;
	return 0;
}

/*
 * The link as a URI reference: bytes other than letters, digits, "-._~" and
 * '/' percent-encoded. Readers decode a link's %XX (a file name holding
 * "%40" would open "@"), libxlsxwriter cuts it at '#', and it leaves a
 * string that holds an escape as it is.
 */
static int percent_encode(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	out->len = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };

		int plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			    (*p >= '0' && *p <= '9') || strchr("-._~/", *p);

		if (plain ? buf_addc(out, (char)*p) : buf_add(out, esc, 3))
			return -1;
	}
	return buf_addc(out, '\0');
}

static int put_text(struct book *k, lxw_col_t col, const char *p, size_t n, struct err *e)
{
	lxw_error rc;

	k->cell.len = 0;
	if (buf_add(&k->cell, p, n) || buf_addc(&k->cell, '\0'))
		return err_nomem(e);
	if ((rc = worksheet_write_string(k->ws, k->row, col, k->cell.data, NULL)))
		return failed(k, rc, "writing a text cell", e);
	return 0;
}

static int put_cell(struct book *k, lxw_col_t col, enum xlsx_cell t, const char *p, size_t n,
		    struct err *e)
{
	struct xlsx_datetime d;
	lxw_datetime dt;
	lxw_error rc = LXW_NO_ERROR;

	switch (t) {
	case XLSX_EMPTY: return 0;
	case XLSX_TEXT: return put_text(k, col, p, n, e);
	case XLSX_NUMBER:
		rc = worksheet_write_number(k->ws, k->row, col, (double)xlsx_payload_number(p),
					    NULL);
		break;
	case XLSX_DATETIME:
		xlsx_payload_datetime(p, &d);
		dt = (lxw_datetime){ (int)d.year, (int)d.month, (int)d.day,
				     (int)d.hour, (int)d.min,   (double)d.sec };
		rc = worksheet_write_datetime(k->ws, k->row, col, &dt, k->when);
		break;
	case XLSX_URL:
		/* media_file names the file under --media-dir. */
		k->cell.len = k->full.len = 0;
		if ((k->b->media_dir && n && p[0] != '/' &&
		     (buf_adds(&k->full, k->b->media_dir) || buf_addc(&k->full, '/'))) ||
		    buf_add(&k->full, p, n) || media_link(k, k->full.data, k->full.len) ||
		    percent_encode(&k->href, k->link.data) || buf_add(&k->cell, p, n) ||
		    buf_addc(&k->cell, '\0'))
			return err_nomem(e);
		rc = worksheet_write_url_opt(k->ws, k->row, col, k->href.data, NULL, k->cell.data,
					     NULL);
		/* Past Excel's link limits (65,530 a sheet, 2,079 characters): the path as text. */
		if (rc == LXW_ERROR_WORKSHEET_MAX_NUMBER_URLS_EXCEEDED ||
		    rc == LXW_ERROR_WORKSHEET_MAX_URL_LENGTH_EXCEEDED)
			return put_text(k, col, p, n, e);
		break;
	}
	return rc ? failed(k, rc, "writing a cell", e) : 0;
}

static int malformed(struct book *k, struct err *e)
{
	return err_set(e, ERR_SOFTWARE, "%s: a spooled row is malformed", k->b->where);
}

/* One encoded row (its body after the length) into the next row of the sheet. */
static int put_row(struct book *k, const char *body, size_t len, struct err *e)
{
	size_t head = 2 * k->b->ncolumns;
	struct xlsx_cursor cur = { (const unsigned char *)body + head,
				   (const unsigned char *)body + len };
	lxw_col_t col = 0;

	if (len < head)
		return malformed(k, e);
	if ((!k->ws || k->row == k->b->rows_per_sheet) && new_sheet(k, e))
		return -1;
	k->row++;
	k->left--;
	for (size_t i = 0; i < k->b->ncolumns; i++) {
		uint16_t n;

		memcpy(&n, body + 2 * i, 2);
		if (!n || n > width(k->b, i))
			return malformed(k, e);
		for (unsigned p = 0; p < n; p++) {
			enum xlsx_cell t;
			const char *v;
			size_t vn;

			if (xlsx_next_cell(&cur, &t, &v, &vn) != 1)
				return malformed(k, e);
			if (put_cell(k, (lxw_col_t)(col + p), t, v, vn, e))
				return -1;
		}
		col = (lxw_col_t)(col + width(k->b, i));
	}
	return 0;
}

static int read_spool(struct book *k, int fd, struct err *e)
{
	FILE *f = fdopen(dup(fd), "rb");
	int rc = -1;

	if (!f || fseeko(f, 0, SEEK_SET)) {
		err_set(e, ERR_IO, "%s: cannot read the spool back: %s", k->b->where,
			strerror(errno));
		goto out;
	}
	for (;;) {
		uint32_t len;
		size_t got = fread(&len, 1, 4, f);

		if (!got && feof(f))
			break;
		k->body.len = 0;
		if (got != 4 || len < 2 || buf_reserve(&k->body, len) ||
		    fread(k->body.data, 1, len, f) != len) {
			err_set(e, ERR_IO, "%s: cannot read the spool back: %s", k->b->where,
				ferror(f) ? strerror(errno) : "short row");
			goto out;
		}
		if (put_row(k, k->body.data, len, e))
			goto out;
		if (err_stopped(k->b->stop, e))
			goto out;
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	return rc;
}

static int open_book(struct book *k, struct err *e)
{
	const struct xlsx_book *b = k->b;
	lxw_workbook_options wo = { .constant_memory = 1,
				    .tmpdir = (char *)b->tmpdir,
				    .use_zip64 = (uint8_t)b->zip64 };
	lxw_doc_properties props = {
		.title = "WhatsApp chat history",
		.author = "waexport",
		.comments = "Written by waexport " WAEXPORT_VERSION " from the 99digital API",
	};
	lxw_error rc;

	if (!(k->wb = workbook_new_opt(b->file, &wo)))
		return err_set(e, ERR_IO, "%s: cannot start the workbook in %s", b->where, b->file);
	if ((rc = workbook_set_properties(k->wb, &props)))
		return failed(k, rc, "setting the workbook's properties", e);
	if (!(k->bold = workbook_add_format(k->wb)) || !(k->when = workbook_add_format(k->wb)))
		return err_nomem(e);
	format_set_bold(k->bold);
	format_set_num_format(k->when, "yyyy-mm-dd hh:mm:ss");
	return 0;
}

/*
 * workbook_close writes the file, and on a failure libxlsxwriter prints its
 * own lines on stderr, -q or not, and keeps the cause (errno) to itself.
 * Its lines go to /dev/null meanwhile (nothing else writes then: the run
 * waits here), and its errno comes back into our one error line (SPEC §3).
 */
static lxw_error close_book(lxw_workbook *wb, int *errnum)
{
	int saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3),
	    null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	lxw_error rc;

	if (saved >= 0 && null >= 0)
		dup2(null, STDERR_FILENO);
	errno = 0;
	rc = workbook_close(wb);
	*errnum = errno;
	if (saved >= 0 && null >= 0)
		dup2(saved, STDERR_FILENO);
	if (saved >= 0)
		close(saved);
	if (null >= 0)
		close(null);
	return rc;
}

int xlsx_book_build(const struct xlsx_book *b, int spool, struct err *e)
{
	struct book k = { .b = b, .left = b->rows };
	lxw_error rc;
	int ret = -1, errnum;

	if (open_book(&k, e) || read_spool(&k, spool, e) || (!k.ws && new_sheet(&k, e)))
		goto out;
	rc = close_book(k.wb, &errnum);
	k.wb = NULL;
	if (rc) {
		if (!errnum || errnum == EINVAL) { /* no system call's cause: libxlsxwriter's */
			failed(&k, rc, "writing the workbook", e);
			goto out;
		}
		err_set(e, ERR_IO, "%s: writing the workbook failed: %s (%s)%s", b->where,
			strerror(errnum), lxw_strerror(rc),
			errnum == ENOSPC ? "; free some space and run again, the previous file "
					   "is untouched"
					 : "");
		e->errnum = errnum;
		goto out;
	}
	if (err_stopped(b->stop, e)) /* zipping is libxlsxwriter's, and takes what it takes */
		goto out;
	ret = 0;
out:
	if (k.wb)
		workbook_close(k.wb); /* frees it; the temporary file is removed by the caller */
	buf_free(&k.cell);
	buf_free(&k.link);
	buf_free(&k.href);
	buf_free(&k.body);
	buf_free(&k.full);
	return ret;
}
