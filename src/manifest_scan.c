/*
 * The rows and time range of an appended file's earlier bytes (SPEC §4.7:
 * an appended file's entry describes the whole file). They are read once,
 * after the run, only for files that were appended to; gzip members are
 * inflated one after another (RFC 1952 §2.2: a file may hold several).
 * CSV records are found quote-aware (RFC 4180: a quoted field may hold CRLF);
 * the timestamp column is found by its header cell. Rows written without it
 * (--columns) leave the file's range unknown: null, not this run's range.
 */
#include "manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/*
 * The scan keeps no record whole, only the little it needs (a line may be
 * as long as the file): the field or value being captured, and for NDJSON
 * the last bytes, where the key is looked for. Memory stays flat.
 */
#define CAPTURE_MAX 32 /* longer than any epoch: a longer field is no timestamp */

static const char TS_KEY[] = "\"timestamp\":";
#define TS_KEY_LEN (sizeof(TS_KEY) - 1)

struct scan {
	int ndjson, in_quotes, header_done;
	long ts_col; /* CSV: the timestamp column, -1 when absent */
	long field;  /* CSV: the field being read */
	int have_ts; /* the record's timestamp, once read */
	long long ts;
	char cap[CAPTURE_MAX]; /* CSV: the field (header, or the timestamp column); NDJSON: the value */
	size_t ncap;
	int cap_over;          /* more than CAPTURE_MAX bytes: not one we want */
	char tail[TS_KEY_LEN]; /* NDJSON: the line's last bytes, until the key is found */
	size_t ntail;
	int key_state; /* NDJSON: 0 looking for the key, 1 in its value, 2 done */
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

static void capture(struct scan *s, char c)
{
	if (s->ncap < sizeof(s->cap))
		s->cap[s->ncap++] = c;
	else
		s->cap_over = 1;
}

/* The captured bytes as a timestamp, if they are one. */
static void take_ts(struct scan *s)
{
	s->have_ts = !s->cap_over && !parse_ts(s->cap, s->cap + s->ncap, &s->ts);
	s->ncap = 0;
	s->cap_over = 0;
}

/* has_column: the record has a timestamp column or key, whatever its value. */
static void end_record(struct scan *s, int has_column)
{
	s->f->rows++;
	if (!has_column)
		s->f->ts_unknown = 1; /* other --columns: the earlier rows' times are not known */
	if (s->have_ts)
		note_ts(s->f, s->ts);
	s->have_ts = 0;
	s->ncap = 0;
	s->cap_over = 0;
}

/*
 * NDJSON: the known keys come first and a string holds no bare '"', so the
 * first "timestamp": of a line is the key; its value runs to ',' or '}'.
 */
static void ndjson_byte(struct scan *s, char c)
{
	if (c == '\n') {
		if (s->key_state == 1)
			take_ts(s);
		end_record(s, s->key_state != 0);
		s->key_state = 0;
		s->ntail = 0;
		return;
	}
	if (s->key_state == 1) {
		if (c == ',' || c == '}') {
			take_ts(s);
			s->key_state = 2;
		} else {
			capture(s, c);
		}
		return;
	}
	if (s->key_state)
		return;
	if (s->ntail == TS_KEY_LEN)
		memmove(s->tail, s->tail + 1, --s->ntail);
	s->tail[s->ntail++] = c;
	if (s->ntail == TS_KEY_LEN && !memcmp(s->tail, TS_KEY, TS_KEY_LEN))
		s->key_state = 1;
}

/* CSV: the end of a field (at ',' or the record's end, outside quotes). */
static void csv_field_end(struct scan *s)
{
	if (s->ncap && s->cap[s->ncap - 1] == '\r')
		s->ncap--; /* CRLF: the CR ends the record's last field */
	if (!s->header_done) {
		const char *p = s->cap;
		size_t n = s->ncap;

		if (!s->field && n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
			p += 3;
			n -= 3;
		}
		if (!s->cap_over && n == 9 && !memcmp(p, "timestamp", 9))
			s->ts_col = s->field;
		s->ncap = 0;
		s->cap_over = 0;
	} else if (s->field == s->ts_col) {
		take_ts(s); /* a quoted timestamp keeps its quotes: no number */
	}
	s->field++;
}

/* CSV records are found quote-aware (RFC 4180: a quoted field may hold CRLF). */
static void csv_byte(struct scan *s, char c)
{
	if (c == '"')
		s->in_quotes = !s->in_quotes;
	if (!s->in_quotes && (c == ',' || c == '\n')) {
		csv_field_end(s);
		if (c == ',')
			return;
		if (s->header_done)
			end_record(s, s->ts_col >= 0);
		s->header_done = 1;
		s->field = 0;
		return;
	}
	if (!s->header_done || s->field == s->ts_col)
		capture(s, c);
}

/* Plain bytes of the file. */
static int feed(struct scan *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s->ndjson)
			ndjson_byte(s, p[i]);
		else
			csv_byte(s, p[i]);
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
	free(in);
	free(plain);
	return rc;
}
