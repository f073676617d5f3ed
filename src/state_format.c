#include "state_impl.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define MAGIC_V1 "waexport-state 1"
#define MAGIC_V2 "waexport-state 2"
#define TRAILER "crc32 "

#define WHAT_TO_DO "fix or remove it; removing it makes the next run export the whole history"

struct parser {
	const char *name;
	struct state_cps *out;
	struct buf field; /* one unescaped field, reused */
	unsigned no;      /* line number, for messages */
	struct err *e;
};

/* The fields of one line, split on TAB as they are consumed. */
struct fields {
	const char *p, *end;
	int done;
};

static int corrupt(const struct parser *ps, const char *why)
{
	return err_set(ps->e, ERR_DATA,
		       "--state %s: line %u: %s; the file is not a waexport "
		       "state file or is damaged (" WHAT_TO_DO ")",
		       ps->name, ps->no, why);
}

static int cut_or_edited(const struct parser *ps, const char *why)
{
	return err_set(ps->e, ERR_DATA,
		       "--state %s: %s: the file was cut short or changed after "
		       "waexport wrote it; restore it from a backup, or remove it (the next run "
		       "then exports the whole history)",
		       ps->name, why);
}

/* ------------------------------------------------------------------ writing */

static int put_escaped(struct buf *b, const char *s, size_t len, int star)
{
	static const char hex[] = "0123456789abcdef";
	char *o;

	if (star && len == 1 && *s == '*')
		return buf_adds(
			b, "\\x2a"); /* a contact literally named "*" is not the whole account */
	if (buf_reserve(b, 4 * len))
		return -1;
	o = buf_tail(b);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '\\') {
			*o++ = '\\';
			*o++ = '\\';
		} else if (ch < 0x20 || ch == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[ch >> 4];
			*o++ = hex[ch & 15];
		} else {
			*o++ = (char)ch;
		}
	}
	b->len = (size_t)(o - b->data);
	return 0;
}

static int put_checkpoint(struct buf *b, const struct checkpoint *c)
{
	if (put_escaped(b, c->from, strlen(c->from), 0) || buf_addc(b, '\t') ||
	    (c->to ? put_escaped(b, c->to, strlen(c->to), 1) : buf_addc(b, '*')) ||
	    buf_addc(b, '\t') || buf_add_i64(b, c->ts))
		return -1;
	for (size_t k = 0; k < c->nuniques; k++)
		if (buf_addc(b, '\t') || put_escaped(b, c->uniques[k], strlen(c->uniques[k]), 0))
			return -1;
	if (buf_addc(b, '\n'))
		return -1;
	for (size_t k = 0; k < c->nhead; k++) {
		const struct state_head *h = &c->head[k];

		if (buf_adds(b, "+\t") || (h->ts_ok ? buf_add_i64(b, h->ts) : buf_addc(b, '-')) ||
		    buf_addc(b, '\t') || put_escaped(b, h->unique, h->len, 0) || buf_addc(b, '\n'))
			return -1;
	}
	return 0;
}

int state_format_write(struct buf *b, const struct state_cps *l)
{
	size_t start = b->len;
	char trailer[64];
	unsigned long crc;
	int n;

	if (buf_adds(b, MAGIC_V2 "\n"))
		return -1;
	for (size_t i = 0; i < l->n; i++)
		if ((l->cp[i].nuniques || l->cp[i].nhead) && put_checkpoint(b, &l->cp[i]))
			return -1;
	crc = crc32_z(0, (const Bytef *)b->data + start, b->len - start);
	n = snprintf(trailer, sizeof(trailer), TRAILER "%08lx %zu\n", crc, b->len - start);
	return buf_add(b, trailer, (size_t)n);
}

/* ------------------------------------------------------------------ reading */

static int field_next(struct fields *f, const char **s, size_t *len)
{
	const char *tab;

	if (f->done)
		return 0;
	tab = memchr(f->p, '\t', (size_t)(f->end - f->p));
	*s = f->p;
	*len = (size_t)((tab ? tab : f->end) - f->p);
	f->p = tab ? tab + 1 : f->end;
	f->done = !tab;
	return 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode one escaped field into ps->field (NUL-terminated). 0, -1 no memory, 1 bad. */
static int unescape(struct parser *ps, const char *s, size_t len)
{
	char *o;

	ps->field.len = 0;
	if (buf_reserve(&ps->field, len + 1))
		return -1;
	o = ps->field.data;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return 1;
		if (ch != '\\') {
			*o++ = (char)ch;
		} else if (i + 1 < len && s[i + 1] == '\\') {
			*o++ = '\\';
			i++;
		} else if (i + 3 < len && s[i + 1] == 'x' && hexval(s[i + 2]) >= 0 &&
			   hexval(s[i + 3]) >= 0) {
			*o++ = (char)(hexval(s[i + 2]) << 4 | hexval(s[i + 3]));
			i += 3;
		} else {
			return 1;
		}
	}
	*o = '\0';
	ps->field.len = (size_t)(o - ps->field.data);
	return 0;
}

/*
 * A decimal integer that fits a long long, nothing else around it. The
 * whole range, LLONG_MIN too: buf_add_i64 writes any time a message carries,
 * and a file this reader refuses would stop every later run.
 */
static int parse_epoch(const char *s, size_t len, long long *v)
{
	int neg = len && *s == '-';
	unsigned long long limit = neg ? 0ULL - (unsigned long long)LLONG_MIN : LLONG_MAX;
	unsigned long long x = 0;
	size_t i = (size_t)neg;

	if (i == len || len - i > 19)
		return -1;
	for (; i < len; i++) {
		int d = s[i] - '0';

		if (d < 0 || d > 9 || x > (limit - (unsigned)d) / 10)
			return -1;
		x = x * 10 + (unsigned)d;
	}
	/* x - 1 fits a long long even when x is 2^63 (LLONG_MIN has no positive twin). */
	*v = neg ? (x ? -(long long)(x - 1) - 1 : 0) : (long long)x;
	return 0;
}

static int all_digits(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return len > 0;
}

/* FROM, TO and EPOCH of a checkpoint line, the same in both versions but for escaping. */
static int checkpoint_start(struct parser *ps, struct fields *f, int escaped)
{
	const char *s[3];
	size_t n[3];
	struct checkpoint *c;
	int star, bad = 0;

	for (int i = 0; i < 3; i++)
		if (!field_next(f, &s[i], &n[i]) || ((i < 2 || !escaped) && f->done))
			return corrupt(
				ps, escaped ? "expected FROM, TO and EPOCH"
					    : "expected FROM, TO, EPOCH and at least one UNIQUE");
	if (!all_digits(s[0], n[0]))
		return corrupt(ps, "FROM is not a number");
	if (state_cps_add(ps->out, &c))
		return err_nomem(ps->e);
	if (parse_epoch(s[2], n[2], &c->ts))
		return corrupt(ps, "EPOCH is not a number");
	star = n[1] == 1 && *s[1] == '*';
	if (!star && escaped && (bad = unescape(ps, s[1], n[1])) == 0)
		bad = memchr(ps->field.data, '\0', ps->field.len) ? 1 : 0;
	if (bad > 0)
		return corrupt(ps, "TO is not a valid escaped field");
	if (bad < 0 || !(c->from = state_copy_bytes(s[0], n[0])) ||
	    (!star && !(c->to = escaped ? state_copy_bytes(ps->field.data, ps->field.len)
					: state_copy_bytes(s[1], n[1]))))
		return err_nomem(ps->e);
	/* Version 1 too: written back as 2, a second one would make the file unreadable. */
	if (state_cps_find(ps->out, c->from, c->to) != c)
		return corrupt(ps, "a second checkpoint for the same FROM and TO");
	return 0;
}

static int v1_line(struct parser *ps, const char *line, size_t len)
{
	struct fields f = { line, line + len, 0 };
	struct checkpoint *c;
	const char *s;
	size_t n;

	if (!len)
		return corrupt(ps, "empty line");
	if (memchr(line, '\0', len))
		return corrupt(ps, "NUL byte");
	if (checkpoint_start(ps, &f, 0))
		return -1;
	c = &ps->out->cp[ps->out->n - 1];
	while (field_next(&f, &s, &n)) {
		if (!n)
			return corrupt(ps, "empty UNIQUE");
		if (c->nuniques == STATE_MAX_UNIQUES)
			return corrupt(ps, "too many uniques");
		if (state_cp_add_unique(c, s, n))
			return err_nomem(ps->e);
	}
	return 0;
}

/* "+  EPOCH|-  UNIQUE": one message of the head of the checkpoint above. */
static int v2_head_line(struct parser *ps, struct fields *f)
{
	struct checkpoint *c = ps->out->n ? &ps->out->cp[ps->out->n - 1] : NULL;
	const char *s[2];
	size_t n[2];
	long long ts = 0;
	int ts_ok, bad;

	if (!field_next(f, &s[0], &n[0]) || !field_next(f, &s[1], &n[1]) || !f->done)
		return corrupt(ps, "a head line must be '+', EPOCH or '-', and UNIQUE");
	if (!c)
		return corrupt(ps, "a head line before any checkpoint");
	if (c->nhead == STATE_HEAD_MAX)
		return corrupt(ps, "too many head lines for one checkpoint");
	ts_ok = !(n[0] == 1 && *s[0] == '-');
	if (ts_ok && parse_epoch(s[0], n[0], &ts))
		return corrupt(ps, "the head's EPOCH is not a number");
	if ((bad = unescape(ps, s[1], n[1])) > 0)
		return corrupt(ps, "the head's UNIQUE is not a valid escaped field");
	if (bad < 0 || state_cp_add_head(c, ps->field.data, ps->field.len, ts, ts_ok))
		return err_nomem(ps->e);
	return 0;
}

static int v2_line(struct parser *ps, const char *line, size_t len)
{
	struct fields f = { line, line + len, 0 };
	struct checkpoint *c;
	const char *s;
	size_t n;
	int bad;

	if (len >= 2 && line[0] == '+' && line[1] == '\t') {
		f.p += 2;
		return v2_head_line(ps, &f);
	}
	if (checkpoint_start(ps, &f, 1))
		return -1;
	c = &ps->out->cp[ps->out->n - 1];
	while (field_next(&f, &s, &n)) {
		if ((bad = unescape(ps, s, n)) > 0 ||
		    (!bad && memchr(ps->field.data, '\0', ps->field.len)))
			return corrupt(ps, "UNIQUE is not a valid escaped field");
		if (bad < 0)
			return err_nomem(ps->e);
		if (c->nuniques == STATE_MAX_UNIQUES)
			return corrupt(ps, "too many uniques");
		if (state_cp_add_unique(c, ps->field.data, ps->field.len))
			return err_nomem(ps->e);
	}
	return 0;
}

/*
 * The last line, "crc32 XXXXXXXX BYTES\n", must cover exactly the bytes
 * before it. Returns the length of the data it covers, or 0 when it does
 * not match (the header line alone is never 0 bytes long).
 */
static size_t v2_trailer(struct parser *ps, const char *data, size_t len)
{
	const char *last, *p;
	unsigned long crc = 0;
	size_t count = 0;

	if (data[len - 1] != '\n') {
		cut_or_edited(ps, "its last line is not complete");
		return 0;
	}
	for (last = data + len - 1; last > data && last[-1] != '\n'; last--)
		;
	p = last + sizeof(TRAILER) - 1;
	if ((size_t)(data + len - last) < sizeof(TRAILER) + 10 ||
	    memcmp(last, TRAILER, sizeof(TRAILER) - 1) || p[8] != ' ') {
		cut_or_edited(ps, "it does not end with its checksum line");
		return 0;
	}
	for (int i = 0; i < 8; i++) {
		if (hexval(p[i]) < 0) {
			cut_or_edited(ps, "its checksum line is damaged");
			return 0;
		}
		crc = crc << 4 | (unsigned long)hexval(p[i]);
	}
	for (p += 9; p < data + len - 1 && *p >= '0' && *p <= '9' && count < len; p++)
		count = count * 10 + (size_t)(*p - '0');
	if (p != data + len - 1 || count != (size_t)(last - data) ||
	    last[sizeof(TRAILER) + 8] == '0' || crc32_z(0, (const Bytef *)data, count) != crc) {
		cut_or_edited(ps, "its checksum line does not match its content");
		return 0;
	}
	return count;
}

int state_format_parse(const char *data, size_t len, const char *name, struct state_cps *out,
		       struct err *e)
{
	struct parser ps = { name, out, BUF_INIT, 1, e };
	const char *nl = len ? memchr(data, '\n', len) : NULL;
	size_t hlen = nl ? (size_t)(nl - data) : len, end = len, pos;
	int v2 = hlen == sizeof(MAGIC_V2) - 1 && !memcmp(data, MAGIC_V2, hlen);
	int rc = 0;

	if (!len)
		return corrupt(&ps, "the file is empty");
	if (!v2 && !(hlen == sizeof(MAGIC_V1) - 1 && !memcmp(data, MAGIC_V1, hlen)))
		return corrupt(&ps, "missing the '" MAGIC_V2 "' header");
	if (v2 && !(end = v2_trailer(&ps, data, len)))
		return -1;
	for (pos = hlen + 1; !rc && pos < end;) {
		const char *line = data + pos, *lf = memchr(line, '\n', end - pos);
		size_t n = lf ? (size_t)(lf - line) : end - pos;

		ps.no++;
		rc = v2 ? v2_line(&ps, line, n) : v1_line(&ps, line, n);
		pos += n + 1;
	}
	buf_free(&ps.field);
	return rc;
}
