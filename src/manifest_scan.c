/*
 * The rows and time range of an appended file's earlier bytes (SPEC §4.7:
 * an appended file's entry describes the whole file). They are read once,
 * after the run, only for files that were appended to; gzip members are
 * inflated one after another (RFC 1952 §2.2: a file may hold several).
 * CSV records are found quote-aware (RFC 4180: a quoted field may hold CRLF);
 * the timestamp column is found by its header cell.
 */
#include "manifest.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

struct scan {
	int ndjson, in_quotes, header_done;
	long ts_col;    /* CSV: the timestamp column, -1 when absent */
	struct buf rec; /* the record being gathered */
	struct manifest_file *f;
};

/* A whole optional-minus-digits number in [p, end), or -1. */
static int parse_ts(const char *p, const char *end, long long *out)
{
	int neg = p < end && *p == '-';
	long long v = 0;

	p += neg;
	if (p >= end || end - p > 18)
		return -1;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	*out = neg ? -v : v;
	return 0;
}

static void note_ts(struct manifest_file *f, long long ts)
{
	if (!f->have_ts || ts < f->ts_min)
		f->ts_min = ts;
	if (!f->have_ts || ts > f->ts_max)
		f->ts_max = ts;
	f->have_ts = 1;
}

/* The known keys come first and a string holds no bare '"': the first match is the key. */
static void ndjson_line(struct scan *s, const char *p, size_t n)
{
	static const char key[] = "\"timestamp\":";
	const char *end = p + n, *v = memmem(p, n, key, sizeof(key) - 1), *q;
	long long ts;

	s->f->rows++;
	if (!v)
		return;
	v += sizeof(key) - 1;
	for (q = v; q < end && *q != ',' && *q != '}'; q++)
		;
	if (!parse_ts(v, q, &ts))
		note_ts(s->f, ts);
}

/* Field i of a CSV record: [*b, *e) without its quotes (a quoted timestamp is no number). */
static int csv_field(const char *p, size_t n, long i, const char **b, const char **e)
{
	const char *end = p + n, *start = p;
	int inq = 0;
	long k = 0;

	for (; p < end; p++) {
		if (*p == '"')
			inq = !inq;
		else if (*p == ',' && !inq) {
			if (k++ == i)
				break;
			start = p + 1;
		}
	}
	if (k < i)
		return -1;
	*b = start;
	*e = p;
	return 0;
}

static void csv_record(struct scan *s, const char *p, size_t n)
{
	const char *b, *e;
	long long ts;

	if (n && p[n - 1] == '\r')
		n--;
	if (!s->header_done) {
		s->header_done = 1;
		if (n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
			p += 3;
			n -= 3;
		}
		s->ts_col = -1;
		for (long i = 0; !csv_field(p, n, i, &b, &e); i++)
			if (e - b == 9 && !memcmp(b, "timestamp", 9))
				s->ts_col = i;
		return;
	}
	s->f->rows++;
	if (s->ts_col >= 0 && !csv_field(p, n, s->ts_col, &b, &e) && !parse_ts(b, e, &ts))
		note_ts(s->f, ts);
}

/* Plain bytes of the file: split into records. */
static int feed(struct scan *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '"' && !s->ndjson)
			s->in_quotes = !s->in_quotes;
		if (c == '\n' && (s->ndjson || !s->in_quotes)) {
			if (s->ndjson)
				ndjson_line(s, s->rec.data, s->rec.len);
			else
				csv_record(s, s->rec.data, s->rec.len);
			s->rec.len = 0;
		} else if (buf_addc(&s->rec, c)) {
			return -1;
		}
	}
	return 0;
}

/* Inflate every gzip member of [p, p+n) into feed. */
static int inflate_all(struct scan *s, z_stream *z, const char *p, size_t n, char *out, size_t cap)
{
	int zr = Z_OK;

	z->next_in = (Bytef *)p;
	z->avail_in = (uInt)n;
	while (z->avail_in) {
		z->next_out = (Bytef *)out;
		z->avail_out = (uInt)cap;
		zr = inflate(z, Z_NO_FLUSH);
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
			return -1;
		if (feed(s, out, cap - z->avail_out))
			return -1;
		if (zr == Z_STREAM_END && inflateReset(z) != Z_OK)
			return -1;
		if (zr == Z_BUF_ERROR && z->avail_out)
			break;
	}
	return 0;
}

int manifest_scan(const char *path, unsigned long long len, int ndjson, int gzip,
		  struct manifest_file *out, struct err *e)
{
	struct scan s = { .ndjson = ndjson, .f = out, .ts_col = -1 };
	z_stream z;
	static const size_t cap = 64 * 1024;
	char *in = malloc(cap), *plain = malloc(cap);
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1, zok = 0;

	memset(&z, 0, sizeof(z));
	if (!in || !plain || (gzip && inflateInit2(&z, 15 + 16) != Z_OK)) {
		err_nomem(e);
		goto out;
	}
	zok = gzip;
	if (fd < 0)
		goto io;
	for (unsigned long long done = 0; done < len;) {
		size_t want = len - done < cap ? (size_t)(len - done) : cap;
		ssize_t r = pread(fd, in, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto io;
		if (gzip ? inflate_all(&s, &z, in, (size_t)r, plain, cap)
			 : feed(&s, in, (size_t)r)) {
			err_set(e, ERR_IO,
				"--manifest: %s: cannot read the rows it held before this "
				"run (corrupt gzip?)",
				path);
			goto out;
		}
		done += (unsigned long long)r;
	}
	rc = 0;
	goto out;
io:
	err_set(e, ERR_IO, "--manifest: %s: cannot read it back: %s", path,
		errno ? strerror(errno) : "short read");
out:
	if (zok)
		inflateEnd(&z);
	if (fd >= 0)
		close(fd);
	buf_free(&s.rec);
	free(in);
	free(plain);
	return rc;
}
