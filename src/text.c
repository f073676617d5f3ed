#include "text.h"
#include "swar.h"

#include <stdint.h>
#include <string.h>

/* Hex digit value + 1; 0 for anything else. */
static const signed char hexval[256] = {
	['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
	['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
	['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16, ['A'] = 11, ['B'] = 12,
	['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

/* Four hex digits at p (end-bounded) → 0..0xFFFF, or -1; one branch. */
static inline long hex4(const char *p, const char *end)
{
	int a, b, c, d;

	if (end - p < 4)
		return -1;
	a = hexval[(unsigned char)p[0]] - 1;
	b = hexval[(unsigned char)p[1]] - 1;
	c = hexval[(unsigned char)p[2]] - 1;
	d = hexval[(unsigned char)p[3]] - 1;
	if ((a | b | c | d) < 0) /* a non-digit gave -1 */
		return -1;
	return (long)(a << 12 | b << 8 | c << 4 | d);
}

static inline size_t put_utf8(char *dst, unsigned long cp)
{
	unsigned char *d = (unsigned char *)dst;

	if (cp < 0x80) {
		d[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (unsigned char)(0xC0 | cp >> 6);
		d[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (unsigned char)(0xE0 | cp >> 12);
		d[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		d[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (unsigned char)(0xF0 | cp >> 18);
	d[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	d[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	d[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

#define REPLACEMENT 0xFFFDUL

/*
 * One escape sequence at p (p[0] == '\\'). Sets *cp to the code point, with
 * U+FFFD for what SPEC §4.1 replaces (and *bad counted), and returns the
 * number of source bytes consumed.
 */
static size_t decode_escape(const char *p, const char *end, unsigned long *cp, unsigned *bad)
{
	long hi, lo;

	if (end - p < 2) {
		*cp = REPLACEMENT;
		++*bad;
		return 1;
	}
	switch (p[1]) {
	case '"': *cp = '"'; return 2;
	case '\\': *cp = '\\'; return 2;
	case '/': *cp = '/'; return 2;
	case 'b': *cp = '\b'; return 2;
	case 'f': *cp = '\f'; return 2;
	case 'n': *cp = '\n'; return 2;
	case 'r': *cp = '\r'; return 2;
	case 't': *cp = '\t'; return 2;
	case 'u': break;
	default:
		*cp = REPLACEMENT;
		++*bad;
		return 2;
	}
	hi = hex4(p + 2, end);
	if (hi < 0) {
		*cp = REPLACEMENT;
		++*bad;
		return 2;
	}
	if (hi == 0 || (hi >= 0xDC00 && hi <= 0xDFFF)) {
		*cp = REPLACEMENT;
		++*bad;
		return 6;
	}
	if (hi < 0xD800 || hi > 0xDBFF) {
		*cp = (unsigned long)hi;
		return 6;
	}
	if (end - p >= 12 && p[6] == '\\' && p[7] == 'u') {
		lo = hex4(p + 8, end);
		if (lo >= 0xDC00 && lo <= 0xDFFF) {
			*cp = 0x10000 + (((unsigned long)hi - 0xD800) << 10) +
			      ((unsigned long)lo - 0xDC00);
			return 12;
		}
	}
	*cp = REPLACEMENT; /* high surrogate not followed by a low one */
	++*bad;
	return 6;
}

/*
 * Length of the valid UTF-8 sequence at p (RFC 3629 §4: no overlongs, no
 * surrogates, nothing above U+10FFFF), or 0 when it is invalid.
 */
static inline size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		return end - p >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c >= 0xE0 && c <= 0xEF) {
		unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;

		return end - p >= 3 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xF0 && c <= 0xF4) {
		unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;

		return end - p >= 4 && p[1] >= lo && p[1] <= hi && (p[2] & 0xC0) == 0x80 &&
				       (p[3] & 0xC0) == 0x80
			       ? 4
			       : 0;
	}
	return 0;
}

/*
 * A run of escaped two-byte letters (U+00A0..U+07FF: Hebrew, Arabic, Cyrillic,
 * Greek; not the C1 controls, which JSON keeps escaped) and the spaces between
 * them, as the API writes a word of Hebrew: eight bytes loaded at once, `\u0`
 * and a digit 0-7 telling the range, two table loads the rest. Returns where
 * it stopped: at anything else, for the general code. Writes only letters and
 * spaces (nothing CSV quotes for), at most as many bytes as it reads.
 */
static inline const char *two_byte_run(const char *p, const char *end, char **dst)
{
	char *d = *dst;

	while (end - p >= 8) {
		uint64_t w = load64(p);
		int hi, lo;
		unsigned u;

		if ((w & 0xF8FFFFFFu) != 0x3030755Cu) {   /* "\\u0" then '0'..'7' */
			if ((w & 0xFFFFFFu) != 0x755C20u) /* " \\u": a space between words */
				break;
			*d++ = ' ';
			p++;
			continue;
		}
		hi = hexval[(unsigned char)(w >> 32)] - 1;
		lo = hexval[(unsigned char)(w >> 40)] - 1;
		u = (unsigned)((w >> 24) & 7) << 8 | (unsigned)hi << 4 | (unsigned)lo;
		if ((hi | lo) < 0 || u < 0xA0)
			break;
		d[0] = (char)(0xC0 | u >> 6);
		d[1] = (char)(0x80 | (u & 0x3F));
		d += 2;
		p += 6;
	}
	*dst = d;
	return p;
}

/* Decoded characters a CSV cell must be quoted for (RFC 4180 §2.6). */
static inline int csv_special(unsigned long cp)
{
	return cp == ',' || cp == '"' || cp == '\n' || cp == '\r';
}

/*
 * The bytes of w that end a plain run: not ASCII, '\\', a control byte, in
 * JSON '"' and DEL (w + 1 sets DEL's high bit; a carry errs only above it).
 */
static inline uint64_t special_bytes(uint64_t w, int json)
{
	return ((json ? w | (w + SWAR_ONES) : w) & SWAR_HIGHS) | has_byte(w, '\\') |
	       has_less(w, 0x20) | (json ? has_byte(w, '"') : 0);
}

static inline uint64_t csv_marks(uint64_t w, int json)
{
	return json ? 0 : has_byte(w, ',') | has_byte(w, '"');
}

/*
 * Copy plain ASCII eight bytes at a time (raw control bytes leave it); at
 * the first special byte, copy the plain bytes before it in one go. The
 * lowest set bit of the SWAR masks is exact. For CSV (json == 0), commas
 * and quotes seen go to *commas; for JSON (json == 1, a constant where it is
 * inlined) a quote ends the run instead. Returns where the plain run ends;
 * *dp advances with it.
 */
static inline const char *plain_run(const char *p, const char *end, const char *src, size_t len,
				    const char *dst, char **dp, uint64_t *commas, int json)
{
	char *d = *dp;

	while (end - p >= 8) {
		uint64_t w = load64(p);
		uint64_t special = special_bytes(w, json);
		unsigned k;

		memcpy(d, &w, 8); /* room: see TEXT_DECODE_MAX */
		if (!special) {
			/* a raw '"' cannot be in a jsmn string, but any bytes may come here */
			*commas |= csv_marks(w, json);
			p += 8;
			d += 8;
			continue;
		}
		k = (unsigned)__builtin_ctzll(special) >> 3;
		if (k)
			*commas |= csv_marks(w, json) & ((1ULL << (8 * k)) - 1);
		*dp = d + k;
		return p + k;
	}
	/*
	 * The last one to seven bytes the same way, by the eight-byte load that
	 * ends at the end, shifted: most cells (ids, numbers, words) end in such
	 * a tail. len >= 8 keeps the load inside src. The zero bytes shifted in
	 * sit above the tail, where the masks do not look (the SWAR tests err
	 * only above a true hit).
	 */
	if (p < end && len >= 8 && (size_t)(d - dst) + 8 <= TEXT_DECODE_MAX(len)) {
		unsigned r = (unsigned)(end - p), k;
		uint64_t w = load64(src + len - 8) >> (8 * (8 - r));
		uint64_t special = special_bytes(w, json) & (~0ULL >> (8 * (8 - r)));

		memcpy(d, &w, 8); /* room: checked above */
		k = special ? (unsigned)__builtin_ctzll(special) >> 3 : r;
		if (k)
			*commas |= csv_marks(w, json) & (~0ULL >> (8 * (8 - k)));
		p += k;
		d += k;
	}
	*dp = d;
	return p;
}

/* An escape at p (and the runs of escapes like it that follow). */
static inline const char *escapes(const char *p, const char *end, char **dp, unsigned *bad,
				  int *quote)
{
	char *d = *dp;
	unsigned long cp;

	p = two_byte_run(p, end, &d);
	if (p >= end || *p != '\\')
		goto out;
	/* Other \uXXXX outside the surrogates and NUL inline, and runs of them. */
	if (end - p >= 6 && p[1] == 'u') {
		long v = hex4(p + 2, end);

		if (v > 0 && (v < 0xD800 || v > 0xDFFF)) {
			do {
				p += 6;
				if (v < 0x80)
					*quote |= csv_special((unsigned long)v);
				d += put_utf8(d, (unsigned long)v);
				if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
					break;
				v = hex4(p + 2, end);
			} while (v > 0 && (v < 0xD800 || v > 0xDFFF));
			goto out;
		}
	}
	p += decode_escape(p, end, &cp, bad);
	*quote |= csv_special(cp);
	d += put_utf8(d, cp);
out:
	*dp = d;
	return p;
}

/* One byte that is not plain ASCII nor an escape: NUL, a control byte, or UTF-8. */
static inline const char *other_byte(const char *p, const char *end, char **dp, unsigned *bad,
				     int *quote)
{
	unsigned char c = (unsigned char)*p;
	size_t n;

	if (c == 0) {
		*dp += put_utf8(*dp, REPLACEMENT); /* SPEC §4.1: U+0000 becomes U+FFFD */
		++*bad;
		return p + 1;
	}
	if (c < 0x80) {
		*quote |= csv_special(c);
		*(*dp)++ = (char)c;
		return p + 1;
	}
	n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);
	if (n) {
		memcpy(*dp, p, n);
		*dp += n;
		return p + n;
	}
	*dp += put_utf8(*dp, REPLACEMENT);
	++*bad;
	return p + 1;
}

/*
 * The decoder behind text_decode and text_decode_csv. *quote is set when
 * the decoded text holds a character CSV must quote for, so the writer need
 * not scan the text again.
 */
static inline size_t decode(char *dst, const char *src, size_t len, unsigned *bad, int *quote)
{
	const char *p = src, *end = src + len;
	char *d = dst;
	uint64_t commas = 0;

	while (p < end) {
		p = plain_run(p, end, src, len, dst, &d, &commas, 0);
		if (p >= end)
			break;
		if (*p == '\\')
			p = escapes(p, end, &d, bad, quote);
		else
			p = other_byte(p, end, &d, bad, quote);
	}
	*quote |= commas != 0;
	return (size_t)(d - dst);
}

size_t text_decode(char *dst, const char *src, size_t len, unsigned *bad)
{
	int quote = 0;

	return decode(dst, src, len, bad, &quote);
}

size_t text_decode_csv(char *dst, const char *src, size_t len, unsigned *bad, int *quote)
{
	*quote = 0;
	return decode(dst, src, len, bad, quote);
}

static const char hexdigit[] = "0123456789abcdef";

/* Short escapes that a normalised JSON string keeps as they are (not \/). */
static const char canonical_escape[256] = {
	['"'] = 1, ['\\'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1, ['r'] = 1, ['t'] = 1,
};

/* The letter of each two-character JSON escape (RFC 8259 §7), by the character it stands for. */
static const char short_escape[128] = {
	['"'] = '"',  ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r',
	['\t'] = 't', ['\b'] = 'b',  ['\f'] = 'f',
};

/* Append the JSON form of one code point that needs care, or its UTF-8. */
static inline size_t put_json_cp(char *d, unsigned long cp)
{
	if (cp < 0x80 && short_escape[cp]) {
		d[0] = '\\';
		d[1] = short_escape[cp];
		return 2;
	}
	if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp == 0x2028 || cp == 0x2029) {
		d[0] = '\\';
		d[1] = 'u';
		d[2] = hexdigit[cp >> 12 & 0xF];
		d[3] = hexdigit[cp >> 8 & 0xF];
		d[4] = hexdigit[cp >> 4 & 0xF];
		d[5] = hexdigit[cp & 0xF];
		return 6;
	}
	return put_utf8(d, cp);
}

/* Is the 3-byte sequence at p U+2028 or U+2029? */
static inline int is_line_sep(const unsigned char *p, size_t n)
{
	return n == 3 && p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9);
}

/*
 * Is the 2-byte sequence at p a C1 control (U+0080-U+009F, whose second
 * byte is the code point)? U+0085 (NEL) ends a line for Python's
 * str.splitlines and for Unicode line breaking, as U+2028 does.
 */
static inline int is_c1(const unsigned char *p, size_t n)
{
	return n == 2 && p[0] == 0xC2 && p[1] < 0xA0;
}

size_t text_json_recode(char *dst, const char *src, size_t len, unsigned *bad)
{
	const char *p = src, *end = src + len;
	char *d = dst;

	uint64_t none = 0;

	while (p < end) {
		p = plain_run(p, end, src, len, dst, &d, &none, 1);
		if (p >= end)
			break;
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			unsigned long cp;

			p = two_byte_run(p, end, &d);
			if (p >= end || *p != '\\')
				continue;
			/* Short escapes other than \/ are already in canonical form. */
			if (end - p >= 2 && canonical_escape[(unsigned char)p[1]]) {
				d[0] = p[0];
				d[1] = p[1];
				d += 2;
				p += 2;
				continue;
			}
			p += decode_escape(p, end, &cp, bad);
			d += put_json_cp(d, cp);
		} else if (c == 0) {
			d += put_utf8(d, REPLACEMENT);
			++*bad;
			p++;
		} else if (c < 0x80) {
			d += put_json_cp(d, c);
			p++;
		} else {
			size_t n = utf8_seq((const unsigned char *)p, (const unsigned char *)end);

			if (!n) {
				d += put_utf8(d, REPLACEMENT);
				++*bad;
				p++;
			} else if (is_line_sep((const unsigned char *)p, n)) {
				d += put_json_cp(d, (unsigned char)p[2] == 0xA8 ? 0x2028 : 0x2029);
				p += n;
			} else if (is_c1((const unsigned char *)p, n)) {
				d += put_json_cp(d, (unsigned char)p[1]);
				p += n;
			} else {
				memcpy(d, p, n);
				d += n;
				p += n;
			}
		}
	}
	return (size_t)(d - dst);
}

size_t text_json_escape(char *dst, const char *src, size_t len)
{
	const char *p = src, *end = src + len;
	char *d = dst;

	while (p < end) {
		while (end - p >= 8) {
			uint64_t w = load64(p);

			if (has_byte(w, 0xE2) | has_byte(w, 0xC2) | has_byte(w, '\\') |
			    has_byte(w, '"') | has_less(w, 0x20) | has_byte(w, 0x7F))
				break;
			memcpy(d, &w, 8);
			p += 8;
			d += 8;
		}
		if (p >= end)
			break;
		unsigned char c = (unsigned char)*p;
		if (c == 0xE2 &&
		    is_line_sep((const unsigned char *)p, (size_t)(end - p) >= 3 ? 3 : 0)) {
			d += put_json_cp(d, (unsigned char)p[2] == 0xA8 ? 0x2028 : 0x2029);
			p += 3;
		} else if (c == 0xC2 && is_c1((const unsigned char *)p, end - p >= 2 ? 2 : 0)) {
			d += put_json_cp(d, (unsigned char)p[1]);
			p += 2;
		} else if (c < 0x80) {
			d += put_json_cp(d, c);
			p++;
		} else {
			*d++ = (char)c;
			p++;
		}
	}
	return (size_t)(d - dst);
}

size_t text_utf16_len(const char *s, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c & 0xC0) != 0x80)
			n++; /* a lead byte or ASCII starts a code point */
		if (c >= 0xF0)
			n++; /* astral: a surrogate pair in UTF-16 */
	}
	return n;
}

int text_csv_needs_quotes(const char *s, size_t len)
{
	const char *p = s, *end = s + len;

	while (end - p >= 8) {
		uint64_t w = load64(p);

		if (has_byte(w, ',') | has_byte(w, '"') | has_byte(w, '\n') | has_byte(w, '\r'))
			return 1;
		p += 8;
	}
	for (; p < end; p++)
		if (*p == ',' || *p == '"' || *p == '\n' || *p == '\r')
			return 1;
	return 0;
}

long text_hex4(const char *p, const char *end)
{
	return hex4(p, end);
}

size_t text_put_utf8(char *dst, unsigned long cp)
{
	return put_utf8(dst, cp);
}

size_t text_utf8_seq(const char *p, const char *end)
{
	return utf8_seq((const unsigned char *)p, (const unsigned char *)end);
}
