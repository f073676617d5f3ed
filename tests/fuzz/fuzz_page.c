/*
 * libFuzzer harness: one input is one page body (issue 6 item 1).
 *
 * What runs on every input:
 *   - the text codec over the raw bytes (as if they were a JSON string
 *     body): text_decode, text_decode_csv, text_json_recode,
 *     text_json_escape, text_json_single_line, text_utf16_len;
 *   - page_parse (final = 1) on a fresh page, then page_record for every
 *     element (each an object), text_json_compact on every compound field,
 *     and every record written by three writers into one buffer
 *     each: CSV, CSV --excel, NDJSON with extras (all columns + media_file);
 *   - the same body fed again as growing prefixes (final = 0), split at its
 *     line ends as `convert` reads it, then at fixed-size chunks; the
 *     outcome must agree with the one-shot parse.
 *
 * Every invariant below ends in __builtin_trap() (a crash libFuzzer keeps),
 * so a wrong byte is reported like a sanitizer error. The text codec is run
 * again over each string field of each record.
 *
 * Build and run: scripts/fuzz.sh [SECONDS]. FUZZ_TZ=<IANA name> picks the
 * zone (default UTC; one per process, tz_open sets TZ).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>

#include "buf.h"
#include "err.h"
#include "page.h"
#include "record.h"
#include "text.h"
#include "tz.h"
#include "warn.h"
#include "writer.h"

#define CHECK(cond)                                                                             \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "fuzz_page: invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                               \
			__builtin_trap();                                                       \
		}                                                                               \
	} while (0)

static const char MEDIA_FILE[] = "media/2024-01-01/a,b \"c\"\xE2\x80\xA8.jpg";

/* memchr / memcmp that take (NULL, 0), as an empty struct buf is. */
static int has_byte(const char *s, size_t len, char c)
{
	return len && memchr(s, c, len) != NULL;
}

static int same(const char *a, size_t alen, const char *b, size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

/* ---------------------------------------------------------------------------
 * Independent validators (deliberately not sharing code with src/).
 */

/* Length of one strict UTF-8 sequence at p (RFC 3629), or 0. Sets *cp. */
static size_t utf8_one(const unsigned char *p, const unsigned char *end, unsigned long *cp)
{
	unsigned long c = p[0], min;
	size_t n;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		n = 2;
		c &= 0x1F;
		min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3;
		c &= 0x0F;
		min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

static int utf8_valid(const char *s, size_t len)
{
	const unsigned char *p, *end;
	unsigned long cp;

	if (!len)
		return 1;
	p = (const unsigned char *)s;
	end = p + len;

	while (p < end) {
		size_t n = utf8_one(p, end, &cp);

		if (!n)
			return 0;
		p += n;
	}
	return 1;
}

/* UTF-16 code units of valid UTF-8 (reference for text_utf16_len). */
static size_t utf16_units(const char *s, size_t len)
{
	const unsigned char *p, *end;
	unsigned long cp;
	size_t units = 0;

	if (!len)
		return 0;
	p = (const unsigned char *)s;
	end = p + len;

	while (p < end) {
		size_t n = utf8_one(p, end, &cp);

		if (!n)
			return (size_t)-1;
		units += cp >= 0x10000 ? 2 : 1;
		p += n;
	}
	return units;
}

static int hexdig(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static unsigned long hexval4(const char *p)
{
	unsigned long v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v = v << 4 | (unsigned long)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

/*
 * Is s[0..len) the body of a JSON string as the NDJSON writer must produce
 * it: RFC 8259 §7 escapes only (surrogate escapes paired), no raw control
 * character (C0, DEL, C1), no raw '"', valid UTF-8, no raw U+2028/U+2029, and no U+0000 in any
 * form (SPEC §4.1 replaces it). Returns the number of bytes consumed when
 * `stop_at_quote` (a whole JSON text is being checked), else 1/0.
 */
static size_t json_string_body(const char *s, size_t len, int stop_at_quote)
{
	const unsigned char *p, *end;
	unsigned long cp;

	if (!len)
		return stop_at_quote ? 0 : 1;
	p = (const unsigned char *)s;
	end = p + len;

	while (p < end) {
		unsigned char c = *p;

		if (c == '"')
			return stop_at_quote ? (size_t)((const char *)p - s) : 0;
		if (c < 0x20 || c == 0x7F)
			return 0;
		if (c == '\\') {
			if (end - p < 2)
				return 0;
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't': p += 2; continue;
			case 'u': break;
			default: return 0;
			}
			if (end - p < 6 || !hexdig((char)p[2]) || !hexdig((char)p[3]) ||
			    !hexdig((char)p[4]) || !hexdig((char)p[5]))
				return 0;
			cp = hexval4((const char *)p + 2);
			if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
				return 0;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				if (end - p < 12 || p[6] != '\\' || p[7] != 'u' ||
				    !hexdig((char)p[8]) || !hexdig((char)p[9]) ||
				    !hexdig((char)p[10]) || !hexdig((char)p[11]))
					return 0;
				cp = hexval4((const char *)p + 8);
				if (cp < 0xDC00 || cp > 0xDFFF)
					return 0;
				p += 12;
				continue;
			}
			p += 6;
			continue;
		}
		size_t n = utf8_one(p, end, &cp);

		if (!n || cp == 0x2028 || cp == 0x2029 || (cp >= 0x80 && cp < 0xA0))
			return 0;
		p += n;
	}
	return stop_at_quote ? 0 : 1; /* a whole text needs its closing quote */
}

/* A strict RFC 8259 recursive-descent validator over [*pp, end). */
struct jv {
	const char *p, *end;
	int depth;
};

static void jv_ws(struct jv *v)
{
	while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
		v->p++;
}

static int jv_value(struct jv *v, size_t *members);

static int jv_string(struct jv *v)
{
	size_t n;

	if (v->p >= v->end || *v->p != '"')
		return 0;
	v->p++;
	n = json_string_body(v->p, (size_t)(v->end - v->p), 1);
	if (v->p + n >= v->end || v->p[n] != '"')
		return 0;
	v->p += n + 1;
	return 1;
}

static int jv_number(struct jv *v)
{
	const char *p = v->p, *end = v->end;

	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return 0;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	v->p = p;
	return 1;
}

static int jv_lit(struct jv *v, const char *lit)
{
	size_t n = strlen(lit);

	if ((size_t)(v->end - v->p) < n || memcmp(v->p, lit, n))
		return 0;
	v->p += n;
	return 1;
}

static int jv_value(struct jv *v, size_t *members)
{
	size_t count = 0;

	jv_ws(v);
	if (v->p >= v->end)
		return 0;
	switch (*v->p) {
	case '"': return jv_string(v);
	case 't': return jv_lit(v, "true");
	case 'f': return jv_lit(v, "false");
	case 'n': return jv_lit(v, "null");
	case '{':
	case '[': {
		int obj = *v->p == '{';

		if (++v->depth > 512)
			return 0;
		v->p++;
		jv_ws(v);
		if (v->p < v->end && *v->p == (obj ? '}' : ']')) {
			v->p++;
			v->depth--;
			if (members)
				*members = 0;
			return 1;
		}
		for (;;) {
			jv_ws(v);
			if (obj) {
				if (!jv_string(v))
					return 0;
				jv_ws(v);
				if (v->p >= v->end || *v->p != ':')
					return 0;
				v->p++;
			}
			if (!jv_value(v, NULL))
				return 0;
			count++;
			jv_ws(v);
			if (v->p >= v->end)
				return 0;
			if (*v->p == ',') {
				v->p++;
				continue;
			}
			if (*v->p != (obj ? '}' : ']'))
				return 0;
			v->p++;
			v->depth--;
			if (members)
				*members = count;
			return 1;
		}
	}
	default: return jv_number(v);
	}
}

/* Is s one whole JSON value (nothing after it)? *members: an object's size. */
static int json_valid(const char *s, size_t len, char want_open, size_t *members)
{
	struct jv v;

	if (!len)
		return 0;
	v.p = s;
	v.end = s + len;
	v.depth = 0;
	jv_ws(&v);
	if (want_open && (v.p >= v.end || *v.p != want_open))
		return 0;
	if (!jv_value(&v, members))
		return 0;
	return v.p == v.end;
}

/* ---------------------------------------------------------------------------
 * The text codec over any bytes.
 */

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		abort();
	return p;
}

/*
 * Outputs go into exactly the room each contract promises, so ASan sees a
 * write past the bound as a heap overflow.
 */
static void check_text(const char *src, size_t len)
{
	char *dec = xmalloc(TEXT_DECODE_MAX(len));
	char *dec_csv = xmalloc(TEXT_DECODE_MAX(len));
	char *rec = xmalloc(TEXT_RECODE_MAX(len));
	char *line = xmalloc(2 * len);
	unsigned bad_dec = 0, bad_csv = 0, bad_rec = 0, bad_again = 0;
	int quote = -1;
	size_t n_dec, n_csv, n_rec, n_esc, n_line, n_again;

	/* text_decode: clean UTF-8, no NUL byte (U+0000 becomes U+FFFD). */
	n_dec = text_decode(dec, src, len, &bad_dec);
	CHECK(n_dec <= TEXT_DECODE_MAX(len));
	CHECK(utf8_valid(dec, n_dec));
	CHECK(!has_byte(dec, n_dec, '\0'));
	CHECK(bad_dec <= len);

	/* text_decode_csv: the same bytes, and a quote flag that is right. */
	n_csv = text_decode_csv(dec_csv, src, len, &bad_csv, &quote);
	CHECK(same(dec_csv, n_csv, dec, n_dec));
	CHECK(bad_csv == bad_dec);
	CHECK(quote == 0 || quote == 1);
	/*
	 * The flag is exact only for what the contract covers, a string body
	 * between quotes: a raw '"' (which jsmn never leaves in a string token)
	 * in an all-ASCII run of eight bytes is not looked for.
	 */
	if (!has_byte(src, len, '"'))
		CHECK(quote == text_csv_needs_quotes(dec, n_dec));

	/* text_utf16_len against an independent count. */
	CHECK(text_utf16_len(dec, n_dec) == utf16_units(dec, n_dec));

	/* text_json_recode: a valid JSON string body, same replacements. */
	n_rec = text_json_recode(rec, src, len, &bad_rec);
	CHECK(n_rec <= TEXT_RECODE_MAX(len));
	CHECK(json_string_body(rec, n_rec, 0));
	CHECK(bad_rec == bad_dec);

	/* text_json_escape(decoded) must be what recode made in one pass. */
	{
		char *esc = xmalloc(TEXT_RECODE_MAX(n_dec));

		n_esc = text_json_escape(esc, dec, n_dec);
		CHECK(n_esc <= TEXT_RECODE_MAX(n_dec));
		CHECK(same(esc, n_esc, rec, n_rec));
		free(esc);
	}

	/* Decoding the recoded text gives the decoded text back, nothing bad. */
	{
		char *again = xmalloc(TEXT_DECODE_MAX(n_rec));

		n_again = text_decode(again, rec, n_rec, &bad_again);
		CHECK(bad_again == 0);
		CHECK(same(again, n_again, dec, n_dec));
		free(again);
	}

	/* text_json_single_line: one line, and only line breaks changed. */
	n_line = text_json_single_line(line, src, len);
	CHECK(n_line <= 2 * len);
	CHECK(!has_byte(line, n_line, '\n') && !has_byte(line, n_line, '\r'));
	if (!has_byte(src, len, '\n') && !has_byte(src, len, '\r'))
		CHECK(same(line, n_line, src, len));

	free(dec);
	free(dec_csv);
	free(rec);
	free(line);
}

/* ---------------------------------------------------------------------------
 * Writers.
 */

static struct tz *zone;
static struct warn warns;

static void init_once(void)
{
	struct err e;
	const char *name = getenv("FUZZ_TZ");

	if (zone)
		return;
	memset(&e, 0, sizeof(e));
	if (tz_open(&zone, name && *name ? name : "UTC", &e)) {
		fprintf(stderr, "fuzz_page: tz_open: %s\n", e.msg);
		abort();
	}
	warn_init(&warns, 1);
	warns.to = NULL;
}

struct csv_count {
	size_t fields; /* in the current row */
	size_t rows;
	size_t want; /* fields every row must have */
	int bad;
};

static void csv_field_cb(void *s, size_t len, void *ctx)
{
	(void)s;
	(void)len;
	((struct csv_count *)ctx)->fields++;
}

static void csv_row_cb(int c, void *ctx)
{
	struct csv_count *cc = ctx;

	(void)c;
	if (cc->fields != cc->want)
		cc->bad = 1;
	cc->fields = 0;
	cc->rows++;
}

/* The CSV text parses (libcsv, strict) into rows of ncolumns fields each. */
static void check_csv(const struct buf *out, size_t ncolumns, size_t rows)
{
	struct csv_parser p;
	struct csv_count cc = { 0, 0, ncolumns, 0 };

	CHECK(utf8_valid(out->data, out->len));
	CHECK(csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) == 0);
	CHECK(csv_parse(&p, out->data, out->len, csv_field_cb, csv_row_cb, &cc) == out->len);
	CHECK(csv_fini(&p, csv_field_cb, csv_row_cb, &cc) == 0);
	csv_free(&p);
	CHECK(!cc.bad);
	CHECK(cc.rows == rows + 1); /* the header row, then one per record */
}

/* One NDJSON row: a JSON object on one line with the expected members. */
static void check_ndjson_row(const char *s, size_t len, size_t members_want)
{
	size_t members = (size_t)-1;

	CHECK(len >= 3 && s[0] == '{' && s[len - 2] == '}' && s[len - 1] == '\n');
	CHECK(!has_byte(s, len - 1, '\n') && !has_byte(s, len - 1, '\r'));
	CHECK(utf8_valid(s, len));
	CHECK(json_valid(s, len - 1, '{', &members));
	CHECK(members == members_want);
}

enum { W_CSV, W_EXCEL, W_NDJSON, W_N };

static struct writer *make_writer(int which)
{
	struct writer_opts o;
	struct writer *w;

	memset(&o, 0, sizeof(o));
	o.format = which == W_NDJSON ? WRITER_NDJSON : WRITER_CSV;
	o.excel = which == W_EXCEL;
	o.extras = which == W_NDJSON;
	o.tz = zone;
	writer_default_columns(&o, 1);
	w = writer_new(&o, &warns);
	CHECK(w != NULL);
	return w;
}

/* Write every record of a parsed page with the three writers; out[W_N]. */
static void write_page(struct page *pg, const char *body, struct buf out[W_N])
{
	struct writer *w[W_N];
	size_t n = page_count(pg), rows = 0;
	size_t ncol = COL_COUNT; /* writer_default_columns(.., 1): every column */

	for (int k = 0; k < W_N; k++) {
		w[k] = make_writer(k);
		CHECK(writer_begin(w[k], &out[k]) == 0);
	}
	if (out[W_EXCEL].len >= 3)
		CHECK(!memcmp(out[W_EXCEL].data, "\xEF\xBB\xBF", 3));
	for (size_t i = 0; i < n; i++) {
		struct record r;
		int rc = page_record(pg, body, i, &r);
		const char *media = (i & 1) ? MEDIA_FILE : NULL;

		CHECK(rc == 0); /* page_parse refuses elements that are not objects */
		CHECK(r.offset < page_root_end(pg));
		CHECK(body[r.offset] == '{');
		for (int k = 0; k < REC_NKEYS; k++) {
			const struct field *f = &r.f[k];

			if (f->kind == FIELD_STRING)
				check_text(f->p, f->len);
			if (f->kind != FIELD_ABSENT)
				CHECK(f->p >= body && f->p + f->len <= body + page_root_end(pg));
		}
		for (size_t x = 0; x < r.n_extra; x++)
			check_text(r.extra[x].key.p, r.extra[x].key.len);
		for (int k = 0; k < W_N; k++) {
			size_t before = out[k].len;

			CHECK(writer_row(w[k], &r, media, &out[k]) == 0);
			CHECK(out[k].len > before);
			if (k == W_NDJSON)
				check_ndjson_row(out[k].data + before, out[k].len - before,
						 COL_COUNT + r.n_extra);
			else
				CHECK(out[k].len - before >= 2 &&
				      !memcmp(out[k].data + out[k].len - 2, "\r\n", 2));
		}
		rows++;
	}
	check_csv(&out[W_CSV], ncol, rows);
	check_csv(&out[W_EXCEL], ncol, rows);
	CHECK(utf8_valid(out[W_NDJSON].data, out[W_NDJSON].len));
	for (int k = 0; k < W_N; k++)
		writer_free(w[k]);
}

/* ---------------------------------------------------------------------------
 * Parsing: one shot, then as growing prefixes.
 */

struct outcome {
	int rc; /* PAGE_DONE or -1 */
	enum err_kind kind;
	size_t count, root_end, at; /* at: prefix length the outcome came at */
};

static void check_err(const struct err *e, size_t len)
{
	CHECK(e->kind == ERR_DATA || e->kind == ERR_REFUSED || e->kind == ERR_SOFTWARE);
	CHECK(memchr(e->msg, '\0', sizeof(e->msg)) != NULL);
	if (e->kind == ERR_DATA)
		CHECK(e->offset >= -1 && e->offset <= (long long)len);
}

static struct outcome parse_once(struct page *pg, const char *body, size_t len)
{
	struct err e;
	struct outcome o = { 0, ERR_NONE, 0, 0, len };

	memset(&e, 0, sizeof(e));
	e.offset = -1;
	o.rc = page_parse(pg, body, len, 1, &e);
	CHECK(o.rc == PAGE_DONE || o.rc == -1);
	if (o.rc < 0) {
		check_err(&e, len);
		o.kind = e.kind;
		return o;
	}
	o.count = page_count(pg);
	o.root_end = page_root_end(pg);
	CHECK(o.root_end <= len);
	return o;
}

/*
 * Feed body in growing prefixes ending at the cut points (each cut is a
 * prefix length, increasing), then the whole body with final set. Stops at
 * the first outcome that is not PAGE_MORE, as input.c does.
 */
static struct outcome parse_prefixes(struct page *pg, const char *body, size_t len,
				     const size_t *cuts, size_t ncuts)
{
	struct err e;
	struct outcome o = { 0, ERR_NONE, 0, 0, 0 };

	page_reset(pg);
	for (size_t c = 0; c <= ncuts; c++) {
		size_t at = c < ncuts ? cuts[c] : len;
		int final = c == ncuts;

		memset(&e, 0, sizeof(e));
		e.offset = -1;
		o.rc = page_parse(pg, body, at, final, &e);
		o.at = at;
		if (o.rc == PAGE_MORE) {
			CHECK(!final);
			continue;
		}
		CHECK(o.rc == PAGE_DONE || o.rc == -1);
		if (o.rc < 0) {
			check_err(&e, at);
			o.kind = e.kind;
		} else {
			o.count = page_count(pg);
			o.root_end = page_root_end(pg);
			CHECK(o.root_end <= at);
		}
		return o;
	}
	CHECK(0); /* the final call cannot say PAGE_MORE */
	return o;
}

static int only_ws(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
	return 1;
}

/*
 * The prefix parse must agree with the one-shot parse: a value complete at
 * a prefix with only white space after it is the same page; an error in a
 * prefix is an error of the whole body; reaching the end, both end alike.
 * A page that parsed both ways must write the same bytes.
 */
static void check_agree(const struct outcome *one, struct page *whole, struct page *inc,
			const char *body, size_t len, const struct outcome *pre,
			const struct buf *want_ndjson)
{
	if (pre->rc < 0) {
		CHECK(one->rc < 0);
		if (pre->at == len)
			CHECK(pre->kind == one->kind);
		return;
	}
	/* The prefix parse found a complete page. */
	if (!only_ws(body + pre->at, len - pre->at)) {
		CHECK(one->rc < 0); /* the whole body has data after that value */
		return;
	}
	CHECK(one->rc == PAGE_DONE);
	CHECK(pre->count == one->count);
	CHECK(pre->root_end == one->root_end);
	(void)whole;
	if (want_ndjson) {
		struct buf out[W_N] = { BUF_INIT, BUF_INIT, BUF_INIT };

		write_page(inc, body, out);
		CHECK(same(out[W_NDJSON].data, out[W_NDJSON].len, want_ndjson->data,
			   want_ndjson->len));
		for (int k = 0; k < W_N; k++)
			buf_free(&out[k]);
	}
}

#define MAX_CUTS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A copy of exactly `size` bytes (never NULL): ASan bounds every read. */
	char *body = xmalloc(size);
	struct page *whole, *inc;
	struct outcome one, pre;
	struct buf out[W_N] = { BUF_INIT, BUF_INIT, BUF_INIT };
	size_t cuts[MAX_CUTS], ncuts;

	if (size)
		memcpy(body, data, size);
	init_once();
	check_text(body, size);

	whole = page_new();
	inc = page_new();
	CHECK(whole && inc);

	one = parse_once(whole, body, size);
	if (one.rc == PAGE_DONE) {
		CHECK(only_ws(body + one.root_end, size - one.root_end));
		CHECK(page_extract(whole, body) == 0);
		write_page(whole, body, out);
		/* Values the writers turned into JSON must be valid JSON. */
		for (size_t i = 0; i < one.count && i < 64; i++) {
			struct record r;
			unsigned bad = 0;

			if (page_record(whole, body, i, &r))
				continue;
			for (int k = 0; k < REC_NKEYS; k++) {
				struct buf j = BUF_INIT;

				if (r.f[k].kind != FIELD_COMPOUND)
					continue;
				CHECK(buf_reserve(&j, TEXT_RECODE_MAX(r.f[k].len)) == 0);
				j.len = text_json_compact(j.data, r.f[k].p, r.f[k].len, &bad);
				CHECK(j.len <= TEXT_RECODE_MAX(r.f[k].len));
				CHECK(json_valid(j.data, j.len, 0, NULL));
				buf_free(&j);
			}
		}
	}

	/* As convert reads it: a prefix at every line end. */
	ncuts = 0;
	for (size_t i = 0; i < size && ncuts < MAX_CUTS; i++)
		if (body[i] == '\n' && i + 1 < size)
			cuts[ncuts++] = i + 1;
	pre = parse_prefixes(inc, body, size, cuts, ncuts);
	check_agree(&one, whole, inc, body, size, &pre,
		    one.rc == PAGE_DONE ? &out[W_NDJSON] : NULL);

	/* Any prefix will do (page.h): fixed-size chunks, size from the data. */
	if (size > 1) {
		size_t step = 1 + (size_t)((unsigned char)body[size / 2] % 61);

		if (size / step >= MAX_CUTS)
			step = size / MAX_CUTS + 1;
		ncuts = 0;
		for (size_t at = step; at < size && ncuts < MAX_CUTS; at += step)
			cuts[ncuts++] = at;
		pre = parse_prefixes(inc, body, size, cuts, ncuts);
		check_agree(&one, whole, inc, body, size, &pre,
			    one.rc == PAGE_DONE ? &out[W_NDJSON] : NULL);
	}

	for (int k = 0; k < W_N; k++)
		buf_free(&out[k]);
	page_free(whole);
	page_free(inc);
	free(body);
	return 0;
}
