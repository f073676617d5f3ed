#include "journal.h"
#include "buf.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define JOURNAL_MAGIC "waexport-journal 1\n"
#define MAGIC_LEN (sizeof(JOURNAL_MAGIC) - 1)
#define RECORD_MAGIC "WJR1"
#define HEADER_LEN 28        /* magic 4, page 8, len 8, header CRC 4, body CRC 4 */
#define READ_STEP (1u << 20) /* a body is read this much at a time */

struct journal {
	char *path;
	int fd;
	struct buf rec; /* one record being written, reused */
};

static void put_le(unsigned char *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static unsigned long crc(const void *p, size_t n)
{
	return crc32_z(0, p, n);
}

/* ------------------------------------------------------------------ writing */

int journal_open(struct journal **out, const char *path, unsigned long long keep, struct err *e)
{
	struct journal *j = calloc(1, sizeof(*j));
	struct stat sb;

	if (!j || !(j->path = strdup(path))) {
		free(j);
		return err_nomem(e);
	}
	j->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (j->fd < 0) {
		err_set(e, err_file_kind(errno), "journal %s: cannot open: %s%s", path,
			strerror(errno),
			errno == ELOOP ? " (it is a symbolic link; remove it)" : "");
		goto fail;
	}
	if (fstat(j->fd, &sb) || !S_ISREG(sb.st_mode) || sb.st_nlink > 1) {
		err_set(e, ERR_IO, "journal %s: not a regular file of its own; remove it", path);
		goto fail;
	}
	if (keep > (unsigned long long)sb.st_size) {
		err_set(e, ERR_IO,
			"journal %s: shorter than when it was read; is another program "
			"writing it?",
			path);
		goto fail;
	}
	if (keep < MAGIC_LEN)
		keep = 0; /* nothing worth keeping: start again */
	if (ftruncate(j->fd, (off_t)keep) || lseek(j->fd, (off_t)keep, SEEK_SET) < 0 ||
	    (!keep && fsutil_write_all(j->fd, JOURNAL_MAGIC, MAGIC_LEN)) || fdatasync(j->fd)) {
		err_set(e, ERR_IO, "journal %s: cannot prepare it: %s", path, strerror(errno));
		goto fail;
	}
	fsutil_sync_dir(path); /* so the journal itself survives a crash */
	*out = j;
	return 0;
fail:
	journal_close(j);
	return -1;
}

int journal_append(struct journal *j, unsigned long long page, const void *body, size_t len,
		   struct err *e)
{
	unsigned char *h;

	if (len > JOURNAL_MAX_BODY)
		return err_set(e, ERR_IO,
			       "journal %s: a page of %zu bytes is more than a record "
			       "can hold",
			       j->path, len);
	j->rec.len = 0;
	if (buf_reserve(&j->rec, HEADER_LEN + len))
		return err_nomem(e);
	h = (unsigned char *)j->rec.data;
	memcpy(h, RECORD_MAGIC, 4);
	put_le(h + 4, page, 8);
	put_le(h + 12, len, 8);
	put_le(h + 20, crc(h, 20), 4);
	put_le(h + 24, crc(body, len), 4);
	if (len)
		memcpy(h + HEADER_LEN, body, len);
	j->rec.len = HEADER_LEN + len;
	/* One write per record: a crash leaves at most this one torn. */
	if (fsutil_write_all(j->fd, j->rec.data, j->rec.len) || fdatasync(j->fd))
		return err_set(e, ERR_IO, "journal %s: write failed: %s", j->path, strerror(errno));
	return 0;
}

void journal_close(struct journal *j)
{
	if (!j)
		return;
	if (j->fd >= 0)
		close(j->fd);
	buf_free(&j->rec);
	free(j->path);
	free(j);
}

int journal_remove(const char *path, struct err *e)
{
	if (unlink(path) && errno != ENOENT)
		return err_set(e, ERR_IO, "journal %s: cannot remove it: %s", path,
			       strerror(errno));
	fsutil_sync_dir(path);
	return 0;
}

/* ------------------------------------------------------------------ reading */

/* fread exactly n, or fewer at the end of the file. -1 with errno on a read error. */
static ssize_t read_up_to(FILE *f, void *p, size_t n)
{
	size_t got = fread(p, 1, n, f);

	if (got < n && ferror(f))
		return -1;
	return (ssize_t)got;
}

static void bad_tail(struct journal_report *rep, enum journal_tail tail, const char *why)
{
	rep->tail = tail;
	rep->bad_offset = rep->good_bytes;
	rep->why = why;
}

/*
 * One record at rep->good_bytes into body. 1: delivered-worthy record in
 * *page/body; 0: the end (clean, or a bad tail recorded in rep); -1: I/O.
 */
static int next_record(FILE *f, struct buf *body, unsigned long long *page,
		       struct journal_report *rep)
{
	unsigned char h[HEADER_LEN];
	ssize_t n = read_up_to(f, h, HEADER_LEN);
	uint64_t len;
	int more;

	if (n <= 0)
		return (int)n;
	if (n < HEADER_LEN) {
		bad_tail(rep, JOURNAL_TORN, "the last record is cut inside its header");
		return 0;
	}
	len = get_le(h + 12, 8);
	if (memcmp(h, RECORD_MAGIC, 4) || get_le(h + 20, 4) != crc(h, 20) ||
	    len > JOURNAL_MAX_BODY) {
		bad_tail(rep, JOURNAL_CORRUPT, "a record header is damaged");
		return 0;
	}
	/* The buffer grows with what the file holds, not with what a header claims. */
	body->len = 0;
	do {
		size_t want =
			(size_t)len - body->len < READ_STEP ? (size_t)len - body->len : READ_STEP;

		if (buf_reserve(body, want + 1)) {
			errno = ENOMEM;
			return -1;
		}
		if ((n = read_up_to(f, body->data + body->len, want)) < 0)
			return -1;
		if ((size_t)n < want) {
			bad_tail(rep, JOURNAL_TORN, "the last record is cut inside its page");
			return 0;
		}
		body->len += want;
	} while (body->len < len);
	if (get_le(h + 24, 4) != crc(body->data, (size_t)len)) {
		/* Damaged where it ends the file: a torn write; before more data: corruption. */
		more = fgetc(f) != EOF;
		bad_tail(rep, more ? JOURNAL_CORRUPT : JOURNAL_TORN,
			 "a record's page does not "
			 "match its checksum");
		return 0;
	}
	body->len = (size_t)len;
	body->data[len] = '\0';
	*page = get_le(h + 4, 8);
	return 1;
}

int journal_read(const char *path, journal_record_fn fn, void *ctx, struct journal_report *rep,
		 struct err *e)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = -1, more;
	char magic[MAGIC_LEN];
	struct buf body = BUF_INIT;
	unsigned long long page = 0;
	ssize_t n;
	FILE *f;

	memset(rep, 0, sizeof(*rep));
	if (fd < 0 && errno == ENOENT) {
		rep->missing = 1;
		return 0;
	}
	if (fd < 0 || !(f = fdopen(fd, "rb"))) {
		err_set(e, ERR_IO, "journal %s: cannot read: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	n = read_up_to(f, magic, MAGIC_LEN);
	if (n < 0) {
		err_set(e, ERR_IO, "journal %s: read failed: %s", path, strerror(errno));
		goto out;
	}
	if (n < (ssize_t)MAGIC_LEN || memcmp(magic, JOURNAL_MAGIC, MAGIC_LEN)) {
		/* A prefix of the first line: the run died as it began the journal. */
		if (n < (ssize_t)MAGIC_LEN && !memcmp(magic, JOURNAL_MAGIC, (size_t)n))
			bad_tail(rep, JOURNAL_TORN, "the file is cut inside its first line");
		else
			bad_tail(rep, JOURNAL_CORRUPT,
				 "the file does not start as a waexport journal");
		rc = 0;
		goto out;
	}
	rep->good_bytes = MAGIC_LEN;
	while ((more = next_record(f, &body, &page, rep)) > 0) {
		if (fn && fn(ctx, page, body.data, body.len, e))
			goto out;
		rep->records++;
		rep->good_bytes += HEADER_LEN + body.len;
	}
	if (more < 0) {
		err_set(e, ERR_IO, "journal %s: read failed: %s", path, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	buf_free(&body);
	fclose(f);
	return rc;
}
