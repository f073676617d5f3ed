/*
 * text: the JSON string codec (text.h, SPEC §4.1). Every case compares exact
 * output bytes and the count of replacements; destination buffers are
 * allocated at exactly the bound the header promises, so the sanitizer build
 * catches any write past it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "printable.h"
#include "text.h"

/* A string literal as pointer and length (NUL bytes inside allowed). */
#define S(lit) (lit), (sizeof(lit) - 1)

#define FFFD "\xEF\xBF\xBD"

enum op { DECODE, RECODE, ESCAPE };

static size_t run_op(enum op op, char **out, const char *src, size_t len, unsigned *bad)
{
	size_t cap = op == DECODE ? TEXT_DECODE_MAX(len) : TEXT_RECODE_MAX(len);
	char *dst = malloc(cap ? cap : 1);
	size_t n;

	assert_non_null(dst);
	switch (op) {
	case DECODE: n = text_decode(dst, src, len, bad); break;
	case RECODE: n = text_json_recode(dst, src, len, bad); break;
	default: n = text_json_escape(dst, src, len); break;
	}
	assert_true(n <= cap);
	*out = dst;
	return n;
}

static void check_op(enum op op, const char *src, size_t len, const char *want, size_t want_len,
		     unsigned want_bad, int line)
{
	unsigned bad = 0;
	char *got;
	size_t n = run_op(op, &got, src, len, &bad);

	if (n != want_len || memcmp(got, want, n) || bad != want_bad) {
		fprintf(stderr, "line %d: op %d on %zu bytes: got %zu bytes, bad %u: '", line,
			(int)op, len, n, bad);
		for (size_t i = 0; i < n; i++)
			fprintf(stderr,
				(unsigned char)got[i] < 0x20 || (unsigned char)got[i] >= 0x7f
					? "\\x%02X"
					: "%c",
				(unsigned char)got[i]);
		fprintf(stderr, "'; want %zu bytes, bad %u\n", want_len, want_bad);
	}
	assert_int_equal(n, want_len);
	if (n)
		assert_memory_equal(got, want, n);
	assert_int_equal(bad, want_bad);
	free(got);
}

#define DEC(src, want, bad) check_op(DECODE, S(src), S(want), (bad), __LINE__)
#define REC(src, want, bad) check_op(RECODE, S(src), S(want), (bad), __LINE__)
#define ESC(src, want) check_op(ESCAPE, S(src), S(want), 0, __LINE__)

/* ---- text_decode --------------------------------------------------------- */

static void test_decode_empty_and_plain(void **state)
{
	(void)state;
	DEC("", "", 0);
	DEC("a", "a", 0);
	DEC("abcdefg", "abcdefg", 0);                   /* 7: below one word */
	DEC("abcdefgh", "abcdefgh", 0);                 /* 8: exactly one word */
	DEC("abcdefghi", "abcdefghi", 0);               /* 9: a word and a tail */
	DEC("abcdefghijklmnop", "abcdefghijklmnop", 0); /* 16: two words */
	DEC("abcdefghijklmnopq", "abcdefghijklmnopq", 0);
	DEC("972501234567", "972501234567", 0);
}

/* An escape at every position of strings 0..24 bytes long: the fast path must stop for it. */
static void test_decode_escape_at_every_position(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 24; len++) {
		for (size_t pos = 0; pos <= len; pos++) {
			char src[64], want[64];
			size_t s = 0, w = 0;

			for (size_t i = 0; i < pos; i++)
				src[s++] = want[w++] = (char)('a' + i % 26);
			src[s++] = '\\';
			src[s++] = '/';
			want[w++] = '/';
			for (size_t i = pos; i < len; i++)
				src[s++] = want[w++] = (char)('A' + i % 26);
			check_op(DECODE, src, s, want, w, 0, __LINE__);

			/* And a \u escape of a 2-byte character at the same place. */
			s = w = 0;
			for (size_t i = 0; i < pos; i++)
				src[s++] = want[w++] = 'x';
			memcpy(src + s, "\\u05e9", 6);
			s += 6;
			want[w++] = '\xD7';
			want[w++] = '\xA9';
			for (size_t i = pos; i < len; i++)
				src[s++] = want[w++] = 'y';
			check_op(DECODE, src, s, want, w, 0, __LINE__);

			/* And a raw 2-byte UTF-8 character. */
			s = w = 0;
			for (size_t i = 0; i < pos; i++)
				src[s++] = want[w++] = 'x';
			src[s++] = want[w++] = '\xC3';
			src[s++] = want[w++] = '\xA9';
			for (size_t i = pos; i < len; i++)
				src[s++] = want[w++] = 'y';
			check_op(DECODE, src, s, want, w, 0, __LINE__);
		}
	}
}

static void test_decode_short_escapes(void **state)
{
	(void)state;
	DEC("\\\"", "\"", 0);
	DEC("\\\\", "\\", 0);
	DEC("\\/", "/", 0);
	DEC("\\b", "\b", 0);
	DEC("\\f", "\f", 0);
	DEC("\\n", "\n", 0);
	DEC("\\r", "\r", 0);
	DEC("\\t", "\t", 0);
	DEC("a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti", "a\"b\\c/d\be\ff\ng\rh\ti", 0);
	DEC("http:\\/\\/example.com\\/a.jpg", "http://example.com/a.jpg", 0);
}

static void test_decode_unicode_escapes(void **state)
{
	(void)state;
	DEC("\\u0041", "A", 0);
	DEC("\\u007f", "\x7f", 0);
	DEC("\\u0080", "\xC2\x80", 0);
	DEC("\\u00e9", "\xC3\xA9", 0);
	DEC("\\u00E9", "\xC3\xA9", 0);
	DEC("\\u07ff", "\xDF\xBF", 0);
	DEC("\\u0800", "\xE0\xA0\x80", 0);
	DEC("\\u05e9\\u05dc\\u05d5\\u05dd", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", 0); /* שלום */
	DEC("\\u20ac", "\xE2\x82\xAC", 0);
	DEC("\\ud7ff", "\xED\x9F\xBF", 0);
	DEC("\\ue000", "\xEE\x80\x80", 0);
	DEC("\\uffff", "\xEF\xBF\xBF", 0);
	DEC("\\u0001", "\x01", 0);
	DEC("\\u001F", "\x1f", 0);
}

/*
 * Runs of escaped two-byte letters (what the API sends for Hebrew) take an
 * eight-bytes-at-a-time path: its edges must decode as any escape does —
 * hex in either case, the ends of the 0x80..0x7FF range, an escape too near
 * the end for an eight-byte load, spaces inside and at the ends of a run,
 * and whatever breaks a run off.
 */
static void test_decode_two_byte_runs(void **state)
{
	(void)state;
	DEC("\\u05D0\\u05d0\\u05Da\\u05dA", "\xD7\x90\xD7\x90\xD7\x9A\xD7\x9A", 0);
	DEC("\\u0080\\u07FF\\u07ff\\u0100", "\xC2\x80\xDF\xBF\xDF\xBF\xC4\x80", 0);
	/* Below 0x80 and above 0x7FF: the general path, inside a run. */
	DEC("\\u05d0\\u007f\\u05d0", "\xD7\x90\x7F\xD7\x90", 0);
	DEC("\\u05d0\\u0800\\u05d0", "\xD7\x90\xE0\xA0\x80\xD7\x90", 0);
	DEC("\\u05d0\\u0041\\u05d0",
	    "\xD7\x90"
	    "A"
	    "\xD7\x90",
	    0);
	DEC("\\u05d0\\u0000\\u05d0", "\xD7\x90" FFFD "\xD7\x90", 1);
	DEC("\\u05d0\\ud83d\\ude00\\u05d0", "\xD7\x90\xF0\x9F\x98\x80\xD7\x90", 0);
	/* Not hex: U+FFFD for the escape, the rest as it is. */
	DEC("\\u05g0\\u05d0", FFFD "05g0\xD7\x90", 1);
	DEC("\\u05d0\\u0-d0\\u05d0", "\xD7\x90" FFFD "0-d0\xD7\x90", 1);
	DEC("\\u05d0\\u08d0", "\xD7\x90\xE0\xA3\x90", 0);
	/* Spaces between words, at either end, doubled, before something else. */
	DEC("\\u05e9\\u05dc \\u05d5\\u05dd", "\xD7\xA9\xD7\x9C \xD7\x95\xD7\x9D", 0);
	DEC("\\u05e9 \\u05dc \\u05d5 ", "\xD7\xA9 \xD7\x9C \xD7\x95 ", 0);
	DEC(" \\u05e9\\u05dc\\u05d5\\u05dd", " \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", 0);
	DEC("\\u05e9  \\u05dc\\u05d5\\u05dd", "\xD7\xA9  \xD7\x9C\xD7\x95\xD7\x9D", 0);
	DEC("\\u05e9 x\\u05dc\\u05d5\\u05dd", "\xD7\xA9 x\xD7\x9C\xD7\x95\xD7\x9D", 0);
	DEC("\\u05e9 \\n\\u05dc\\u05d5\\u05dd", "\xD7\xA9 \n\xD7\x9C\xD7\x95\xD7\x9D", 0);
	DEC("\\u05e9 \\u", "\xD7\xA9 " FFFD, 1);
	/* The last escapes, under eight bytes from the end, and cut-off ones. */
	DEC("\\u05d0\\u05d1", "\xD7\x90\xD7\x91", 0);
	DEC("\\u05d0\\u05d1x", "\xD7\x90\xD7\x91x", 0);
	DEC("\\u05d0\\u05d", "\xD7\x90" FFFD "05d", 1);
	DEC("\\u05d0\\u05", "\xD7\x90" FFFD "05", 1);
	/* The NDJSON recoder shares the path: letters come out as UTF-8. */
	REC("\\u05e9\\u05dc \\u05d5\\u05dd", "\xD7\xA9\xD7\x9C \xD7\x95\xD7\x9D", 0);
	REC("\\u05d0\\u0022\\u05D0 \\u000a", "\xD7\x90\\\"\xD7\x90 \\n", 0);
}

static void test_decode_surrogates(void **state)
{
	(void)state;
	DEC("\\ud83d\\ude00", "\xF0\x9F\x98\x80", 0); /* 😀 */
	DEC("\\uD83D\\uDE00", "\xF0\x9F\x98\x80", 0);
	DEC("\\ud800\\udc00", "\xF0\x90\x80\x80", 0); /* U+10000 */
	DEC("\\udbff\\udfff", "\xF4\x8F\xBF\xBF", 0); /* U+10FFFF */
	DEC("a\\ud83d\\ude00b\\ud83d\\ude01",
	    "a\xF0\x9F\x98\x80"
	    "b\xF0\x9F\x98\x81",
	    0);
	/* Lone high: at the end, before text, before a non-low escape. */
	DEC("\\ud83d", FFFD, 1);
	DEC("\\ud83dx", FFFD "x", 1);
	DEC("\\ud83d\\u0041", FFFD "A", 1);
	DEC("\\ud83d\\n", FFFD "\n", 1);
	DEC("\\ud83d\\\\", FFFD "\\", 1);
	DEC("\\ud83d\\ud83d\\ude00", FFFD "\xF0\x9F\x98\x80", 1); /* high, then a good pair */
	/* Lone low, and a reversed pair. */
	DEC("\\ude00", FFFD, 1);
	DEC("x\\udfffy", "x" FFFD "y", 1);
	DEC("\\ude00\\ud83d", FFFD FFFD, 2);
	/* A high surrogate followed by a truncated \u escape. */
	DEC("\\ud83d\\ude0",
	    FFFD "\xEF\xBF\xBD"
		 "de0",
	    2);
}

static void test_decode_nul(void **state)
{
	(void)state;
	DEC("\\u0000", FFFD, 1);
	DEC("a\\u0000b\\u0000", "a" FFFD "b" FFFD, 2);
	/* SPEC §4.1: U+0000 becomes U+FFFD however it arrives, raw bytes included. */
	DEC("a\0b", "a" FFFD "b", 1);
}

static void test_decode_invalid_utf8(void **state)
{
	(void)state;
	DEC("\xFF", FFFD, 1);
	DEC("\xFE", FFFD, 1);
	DEC("a\xFF"
	    "b",
	    "a" FFFD "b", 1);
	DEC("\xC0\xAF", FFFD FFFD, 2); /* overlong '/' */
	DEC("\xC1\xBF", FFFD FFFD, 2);
	DEC("\xE0\x80\xAF", FFFD FFFD FFFD, 3); /* overlong 3-byte */
	DEC("\xF0\x80\x80\xAF", FFFD FFFD FFFD FFFD, 4);
	DEC("\xED\xA0\x80", FFFD FFFD FFFD, 3); /* UTF-8 encoded surrogate */
	DEC("\xED\xBF\xBF", FFFD FFFD FFFD, 3);
	DEC("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD, 4); /* > U+10FFFF */
	DEC("\xF5\x80\x80\x80", FFFD FFFD FFFD FFFD, 4);
	DEC("\x80", FFFD, 1); /* lone continuation */
	DEC("\xBF\xBF", FFFD FFFD, 2);
	/* Truncated sequences, at the end and before more text. */
	DEC("\xC3", FFFD, 1);
	DEC("\xE2\x82", FFFD FFFD, 2);
	DEC("\xF0\x9F\x98", FFFD FFFD FFFD, 3);
	DEC("\xE2\x82"
	    "a",
	    FFFD FFFD "a", 2);
	DEC("\xF0\x9F"
	    "abc",
	    FFFD FFFD "abc", 2);
	DEC("\xC3"
	    "\xC3\xA9",
	    FFFD "\xC3\xA9", 1);
	/* After an ASCII run long enough for the fast path. */
	DEC("abcdefgh\xFF"
	    "ijklmnop",
	    "abcdefgh" FFFD "ijklmnop", 1);
	DEC("abcdefg\xFF", "abcdefg" FFFD, 1);
}

static void test_decode_valid_raw_utf8(void **state)
{
	(void)state;
	DEC("\xC3\xA9", "\xC3\xA9", 0);
	DEC("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", 0);
	DEC("\xE2\x82\xAC", "\xE2\x82\xAC", 0);
	DEC("\xED\x9F\xBF", "\xED\x9F\xBF", 0);
	DEC("\xEF\xBF\xBF", "\xEF\xBF\xBF", 0);
	DEC("\xF0\x90\x80\x80", "\xF0\x90\x80\x80", 0);
	DEC("\xF0\x9F\x98\x80", "\xF0\x9F\x98\x80", 0);
	DEC("\xF4\x8F\xBF\xBF", "\xF4\x8F\xBF\xBF", 0);
	DEC("mixed \xD7\xA9 and \\u05e9 and \xF0\x9F\x98\x80",
	    "mixed \xD7\xA9 and \xD7\xA9 and \xF0\x9F\x98\x80", 0);
}

static void test_decode_raw_control_chars(void **state)
{
	(void)state;
	/* jsmn lets raw control bytes through; decoding keeps them as text. */
	DEC("a\tb", "a\tb", 0);
	DEC("\x01\x1f\x7f", "\x01\x1f\x7f", 0);
	DEC("line1\nline2\r\n", "line1\nline2\r\n", 0);
}

/* The bound TEXT_DECODE_MAX is tight for the worst input: every byte invalid. */
static void test_decode_worst_case_bound(void **state)
{
	char src[64], want[64 * 3];

	(void)state;
	for (size_t len = 1; len <= 20; len++) {
		memset(src, '\xFF', len);
		for (size_t i = 0; i < len; i++)
			memcpy(want + 3 * i, FFFD, 3);
		check_op(DECODE, src, len, want, 3 * len, (unsigned)len, __LINE__);
	}
}

/* ---- text_json_recode ---------------------------------------------------- */

static void test_recode_plain(void **state)
{
	(void)state;
	REC("", "", 0);
	REC("abcdefg", "abcdefg", 0);
	REC("abcdefgh", "abcdefgh", 0);
	REC("abcdefghi", "abcdefghi", 0);
	REC("abcdefghijklmnop", "abcdefghijklmnop", 0);
}

static void test_recode_short_escapes(void **state)
{
	(void)state;
	/* Canonical short escapes stay; \/ becomes a plain slash. */
	REC("\\\"", "\\\"", 0);
	REC("\\\\", "\\\\", 0);
	REC("\\/", "/", 0);
	REC("\\b\\f\\n\\r\\t", "\\b\\f\\n\\r\\t", 0);
	REC("http:\\/\\/x.co\\/a", "http://x.co/a", 0);
	/* The same characters written as \u escapes get the short form. */
	REC("\\u0022", "\\\"", 0);
	REC("\\u005c", "\\\\", 0);
	REC("\\u005C", "\\\\", 0);
	REC("\\u002f", "/", 0);
	REC("\\u0008\\u000c\\u000a\\u000d\\u0009", "\\b\\f\\n\\r\\t", 0);
}

static void test_recode_control_chars(void **state)
{
	(void)state;
	/* RFC 8259 §7: U+0000..U+001F must be escaped; raw or \u, they come out escaped. */
	REC("\\u0001", "\\u0001", 0);
	REC("\\u001f", "\\u001f", 0);
	REC("\\u001F", "\\u001f", 0);
	REC("\x01", "\\u0001", 0);
	REC("\x1f", "\\u001f", 0);
	REC("\x0b", "\\u000b", 0);
	REC("a\tb", "a\\tb", 0);
	REC("a\nb\rc", "a\\nb\\rc", 0);
	REC("\b\f", "\\b\\f", 0);
	/* Space needs nothing; DEL is a control character too (test_recode_del). */
	REC("\\u0020", " ", 0);
	REC("\\u007f\\u0020", "\\u007f ", 0);
	/* U+0000 is replaced, not re-escaped. */
	REC("\\u0000", FFFD, 1);
}

/* A control byte at every position: the fast path must notice it. */
static void test_recode_control_at_every_position(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 24; len++) {
		for (size_t pos = 0; pos <= len; pos++) {
			static const char specials[] = { '\x01', '\x1f', '"', '\n' };
			static const char *const forms[] = { "\\u0001", "\\u001f", "\\\"", "\\n" };

			for (size_t k = 0; k < 4; k++) {
				char src[64], want[64];
				size_t s = 0, w = 0;

				for (size_t i = 0; i < pos; i++)
					src[s++] = want[w++] = (char)('a' + i % 26);
				src[s++] = specials[k];
				memcpy(want + w, forms[k], strlen(forms[k]));
				w += strlen(forms[k]);
				for (size_t i = pos; i < len; i++)
					src[s++] = want[w++] = (char)('A' + i % 26);
				check_op(RECODE, src, s, want, w, 0, __LINE__);
			}
		}
	}
}

static void test_recode_non_ascii_kept_raw(void **state)
{
	(void)state;
	REC("\\u05e9\\u05dc\\u05d5\\u05dd", "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", 0);
	REC("\\ud83d\\ude00", "\xF0\x9F\x98\x80", 0);
	REC("\xD7\xA9\xF0\x9F\x98\x80", "\xD7\xA9\xF0\x9F\x98\x80", 0);
	REC("\\u00e9t\\u00e9", "\xC3\xA9t\xC3\xA9", 0);
}

static void test_recode_line_separators(void **state)
{
	(void)state;
	/* Escaped and raw U+2028/U+2029 both come out escaped. */
	REC("\\u2028", "\\u2028", 0);
	REC("\\u2029", "\\u2029", 0);
	REC("a\xE2\x80\xA8"
	    "b",
	    "a\\u2028b", 0);
	REC("a\xE2\x80\xA9"
	    "b",
	    "a\\u2029b", 0);
	REC("abcdefgh\xE2\x80\xA8", "abcdefgh\\u2028", 0);
	/* Their neighbours do not. */
	REC("\xE2\x80\xA7\xE2\x80\xAA", "\xE2\x80\xA7\xE2\x80\xAA", 0);
	REC("\\u2027\\u202a", "\xE2\x80\xA7\xE2\x80\xAA", 0);
}

/*
 * The C1 controls (U+0080-U+009F), raw or escaped, come out escaped: Python's
 * str.splitlines splits a line at U+0085 (NEL). Their neighbours do not.
 */
static void test_recode_c1_controls(void **state)
{
	(void)state;
	REC("a\xC2\x85"
	    "b",
	    "a\\u0085b", 0);
	REC("\\u0085", "\\u0085", 0);
	REC("\xC2\x80\xC2\x9F", "\\u0080\\u009f", 0);
	REC("\\u0080\\u009f", "\\u0080\\u009f", 0);
	REC("abcdefgh\xC2\x85", "abcdefgh\\u0085", 0);
	REC("\xC2\xA0\xD7\xA9", "\xC2\xA0\xD7\xA9", 0);
	REC("\xC2", FFFD, 1); /* truncated */
}

/* DEL (U+007F) is a control character too (SPEC §4.1): raw or escaped, it comes out escaped. */
static void test_recode_del(void **state)
{
	(void)state;
	REC("a\x7F"
	    "b",
	    "a\\u007fb", 0);
	REC("\\u007f", "\\u007f", 0);
	REC("abcdefgh\x7F", "abcdefgh\\u007f", 0);
	REC("\x7F"
	    "abcdefgh~",
	    "\\u007fabcdefgh~", 0);
	REC("~\x7F\xC2\x80\xC2\xA0", "~\\u007f\\u0080\xC2\xA0", 0);
	/* A byte of 0xFF before a '~' (0x7E): the carry of the DEL test flags only above it. */
	REC("\xFF~abcdefgh", FFFD "~abcdefgh", 1);
	ESC("a\x7F"
	    "b",
	    "a\\u007fb");
	ESC("abcdefgh\x7Fijklmnop", "abcdefgh\\u007fijklmnop");
}

static void test_recode_broken_input(void **state)
{
	(void)state;
	REC("\\ud83d", FFFD, 1);
	REC("\\ude00", FFFD, 1);
	REC("\\ude00\\ud83d", FFFD FFFD, 2);
	REC("\\ud83d\\u0041", FFFD "A", 1);
	REC("\\ud83d\\\"", FFFD "\\\"", 1);
	REC("\xFF", FFFD, 1);
	REC("\xC0\xAF", FFFD FFFD, 2);
	REC("\xED\xA0\x80", FFFD FFFD FFFD, 3);
	REC("\xF4\x90\x80\x80", FFFD FFFD FFFD FFFD, 4);
	REC("\xE2\x80", FFFD FFFD, 2); /* truncated U+2028 */
	REC("a\0b", "a" FFFD "b", 1);  /* raw U+0000 (SPEC §4.1) */
}

/* Worst cases for TEXT_RECODE_MAX: every byte a control char, or every 3 a U+2028. */
static void test_recode_worst_case_bound(void **state)
{
	char src[64], want[64 * 6];

	(void)state;
	for (size_t len = 1; len <= 20; len++) {
		memset(src, '\x01', len);
		for (size_t i = 0; i < len; i++)
			memcpy(want + 6 * i, "\\u0001", 6);
		check_op(RECODE, src, len, want, 6 * len, 0, __LINE__);
	}
	for (size_t k = 1; k <= 7; k++) {
		for (size_t i = 0; i < k; i++) {
			memcpy(src + 3 * i, "\xE2\x80\xA9", 3);
			memcpy(want + 6 * i, "\\u2029", 6);
		}
		check_op(RECODE, src, 3 * k, want, 6 * k, 0, __LINE__);
	}
}

/* ---- text_json_escape ---------------------------------------------------- */

static void test_escape(void **state)
{
	(void)state;
	ESC("", "");
	ESC("plain text", "plain text");
	ESC("abcdefgh", "abcdefgh");
	ESC("a\"b\\c/d", "a\\\"b\\\\c/d");
	ESC("\n\r\t\b\f", "\\n\\r\\t\\b\\f");
	ESC("\x01\x1f", "\\u0001\\u001f");
	ESC("\xD7\xA9\xF0\x9F\x98\x80\xC3\xA9", "\xD7\xA9\xF0\x9F\x98\x80\xC3\xA9");
	ESC("\xE2\x80\xA8\xE2\x80\xA9", "\\u2028\\u2029");
	ESC("\xE2\x82\xAC\xE2\x80\xA7", "\xE2\x82\xAC\xE2\x80\xA7");
	ESC("\xC2\x85\xC2\x9F\xC2\xA0", "\\u0085\\u009f\xC2\xA0");
	ESC("abcdefgh\xC2\x80", "abcdefgh\\u0080");
	ESC("2021-02-24T22:32:57+02:00", "2021-02-24T22:32:57+02:00");
	/* Backslash-u text is text, not an escape. */
	ESC("\\u0041", "\\\\u0041");
}

static void test_escape_at_every_position(void **state)
{
	(void)state;
	for (size_t len = 0; len <= 20; len++) {
		for (size_t pos = 0; pos <= len; pos++) {
			static const char *const specials[] = {
				"\"", "\\", "\x02", "\xE2\x80\xA8", "\xC2\x85", "\x7F"
			};
			static const char *const forms[] = { "\\\"",    "\\\\",    "\\u0002",
							     "\\u2028", "\\u0085", "\\u007f" };

			for (size_t k = 0; k < 6; k++) {
				char src[64], want[64];
				size_t s = 0, w = 0;

				for (size_t i = 0; i < pos; i++)
					src[s++] = want[w++] = 'q';
				memcpy(src + s, specials[k], strlen(specials[k]));
				s += strlen(specials[k]);
				memcpy(want + w, forms[k], strlen(forms[k]));
				w += strlen(forms[k]);
				for (size_t i = pos; i < len; i++)
					src[s++] = want[w++] = 'z';
				check_op(ESCAPE, src, s, want, w, 0, __LINE__);
			}
		}
	}
}

/* ---- text_utf16_len / text_csv_needs_quotes ------------------------------ */

static void test_utf16_len(void **state)
{
	(void)state;
	assert_int_equal(text_utf16_len(S("")), 0);
	assert_int_equal(text_utf16_len(S("abc")), 3);
	assert_int_equal(text_utf16_len(S("\xC3\xA9")), 1);
	assert_int_equal(text_utf16_len(S("\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D")), 4);
	assert_int_equal(text_utf16_len(S("\xE2\x82\xAC")), 1);
	assert_int_equal(text_utf16_len(S("\xEF\xBF\xBF")), 1);
	assert_int_equal(text_utf16_len(S("\xF0\x9F\x98\x80")), 2);
	assert_int_equal(text_utf16_len(S("\xF4\x8F\xBF\xBF")), 2);
	assert_int_equal(text_utf16_len(S("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z")),
			 1 + 1 + 1 + 2 + 1);
}

static void test_csv_needs_quotes(void **state)
{
	(void)state;
	assert_int_equal(text_csv_needs_quotes(S("")), 0);
	assert_int_equal(text_csv_needs_quotes(S("abc")), 0);
	assert_int_equal(text_csv_needs_quotes(S("a b\tc ")), 0);
	assert_int_equal(text_csv_needs_quotes(S(" leading and trailing ")), 0);
	assert_int_equal(text_csv_needs_quotes(S("=1+1'@;|")), 0);
	assert_int_equal(text_csv_needs_quotes(S("\xD7\xA9\xF0\x9F\x98\x80\xC2\xAC\xEC\xAC\xAC")),
			 0);
	assert_int_equal(text_csv_needs_quotes(S("a,b")), 1);
	assert_int_equal(text_csv_needs_quotes(S("a\"b")), 1);
	assert_int_equal(text_csv_needs_quotes(S("a\nb")), 1);
	assert_int_equal(text_csv_needs_quotes(S("a\rb")), 1);
	for (size_t len = 1; len <= 24; len++) {
		for (size_t pos = 0; pos < len; pos++) {
			static const char specials[] = { ',', '"', '\n', '\r' };
			char s[32];

			for (size_t k = 0; k < 4; k++) {
				memset(s, 'x', len);
				assert_int_equal(text_csv_needs_quotes(s, len), 0);
				s[pos] = specials[k];
				if (text_csv_needs_quotes(s, len) != 1)
					fprintf(stderr, "len %zu pos %zu char %d\n", len, pos,
						specials[k]);
				assert_int_equal(text_csv_needs_quotes(s, len), 1);
			}
		}
	}
}

/* ---- randomized round trip ----------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	/* xorshift64*: reproducible from the seed printed on failure. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static size_t put_utf8(char *d, uint32_t cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | cp >> 12);
		d[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | cp >> 18);
	d[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	d[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static uint32_t random_cp(void)
{
	uint32_t cp;

	switch (rng() % 6) {
	case 0: return (uint32_t)(1 + rng() % 0x7F);              /* ASCII incl. controls */
	case 1: return (uint32_t)(0x20 + rng() % 0x5F);           /* printable ASCII */
	case 2: return (uint32_t)(0x80 + rng() % (0x800 - 0x80)); /* 2-byte */
	case 3: return (uint32_t)(0x5D0 + rng() % 27);            /* Hebrew letters */
	case 4:
		do
			cp = (uint32_t)(0x800 + rng() % (0x10000 - 0x800));
		while (cp >= 0xD800 && cp <= 0xDFFF);
		return cp;                                                  /* 3-byte */
	default: return (uint32_t)(0x10000 + rng() % (0x110000 - 0x10000)); /* astral */
	}
}

/* Write cp into a JSON string body in one of the forms a server may use. */
static size_t json_encode_cp(char *d, uint32_t cp)
{
	static const char hex[] = "0123456789abcdef";
	int style = (int)(rng() % 3);

	if (cp == '"' || cp == '\\')
		return (size_t)sprintf(d, "\\%c", (char)cp);
	if (cp == '/' && style == 0)
		return (size_t)sprintf(d, "\\/");
	if (cp < 0x20) {
		const char *shortf = cp == '\n'   ? "\\n"
				     : cp == '\r' ? "\\r"
				     : cp == '\t' ? "\\t"
				     : cp == '\b' ? "\\b"
				     : cp == '\f' ? "\\f"
						  : NULL;

		if (shortf && style != 2)
			return (size_t)sprintf(d, "%s", shortf);
		return (size_t)sprintf(d, "\\u%04x", (unsigned)cp);
	}
	if (cp < 0x80 && style != 2)
		return put_utf8(d, cp);
	if (style == 1 && cp >= 0x80)
		return put_utf8(d, cp); /* raw UTF-8 */
	if (cp >= 0x10000) {
		uint32_t v = cp - 0x10000, hi = 0xD800 + (v >> 10), lo = 0xDC00 + (v & 0x3FF);

		return (size_t)sprintf(d, "\\u%04x\\u%04X", (unsigned)hi, (unsigned)lo);
	}
	d[0] = '\\';
	d[1] = 'u';
	d[2] = hex[cp >> 12 & 0xF];
	d[3] = (char)((rng() & 1) ? hex[cp >> 8 & 0xF] : "0123456789ABCDEF"[cp >> 8 & 0xF]);
	d[4] = hex[cp >> 4 & 0xF];
	d[5] = hex[cp & 0xF];
	return 6;
}

/* Is s a valid UTF-8 JSON string body, escaping U+2028/U+2029 (SPEC §4.1)? */
static int valid_json_body(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		if (*p == '"' || *p < 0x20)
			return 0;
		if (*p == '\\') {
			if (end - p < 2)
				return 0;
			if (strchr("\"\\/bfnrt", p[1]) && p[1]) {
				p += 2;
				continue;
			}
			if (p[1] != 'u' || end - p < 6)
				return 0;
			for (int i = 2; i < 6; i++)
				if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
					return 0;
			p += 6;
			continue;
		}
		if (*p < 0x80) {
			p++;
		} else if (*p >= 0xC2 && *p <= 0xDF) {
			if (end - p < 2 || (p[1] & 0xC0) != 0x80)
				return 0;
			p += 2;
		} else if (*p >= 0xE0 && *p <= 0xEF) {
			if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
			    (*p == 0xE0 && p[1] < 0xA0) || (*p == 0xED && p[1] > 0x9F) ||
			    (*p == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)))
				return 0;
			p += 3;
		} else if (*p >= 0xF0 && *p <= 0xF4) {
			if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
			    (p[3] & 0xC0) != 0x80 || (*p == 0xF0 && p[1] < 0x90) ||
			    (*p == 0xF4 && p[1] > 0x8F))
				return 0;
			p += 4;
		} else {
			return 0;
		}
	}
	return 1;
}

static void test_random_round_trip(void **state)
{
	enum { ROUNDS = 3000, MAXCP = 40 };
	uint64_t seed = 0x5eed1234abcdULL;

	(void)state;
	rng_state = seed;
	for (int round = 0; round < ROUNDS; round++) {
		char json[MAXCP * 12 + 1], utf8[MAXCP * 4 + 1];
		size_t jn = 0, un = 0, ncp = (size_t)(rng() % MAXCP);
		unsigned bad = 0;
		char *dec, *rec, *dec2, *esc, *dec3;
		size_t dn, rn, dn2, en, dn3;

		for (size_t i = 0; i < ncp; i++) {
			uint32_t cp = random_cp();

			jn += json_encode_cp(json + jn, cp);
			un += put_utf8(utf8 + un, cp);
		}
		/* decode: the escaped form gives the UTF-8 back exactly. */
		dn = run_op(DECODE, &dec, json, jn, &bad);
		if (dn != un || (un && memcmp(dec, utf8, un)))
			fprintf(stderr, "seed %llx round %d: decode mismatch\n",
				(unsigned long long)seed, round);
		assert_int_equal(bad, 0);
		assert_int_equal(dn, un);
		if (un)
			assert_memory_equal(dec, utf8, un);
		/* recode: valid JSON, and decoding it gives the same text. */
		rn = run_op(RECODE, &rec, json, jn, &bad);
		assert_int_equal(bad, 0);
		assert_true(valid_json_body(rec, rn));
		dn2 = run_op(DECODE, &dec2, rec, rn, &bad);
		assert_int_equal(bad, 0);
		assert_int_equal(dn2, un);
		if (un)
			assert_memory_equal(dec2, utf8, un);
		/* escape of the clean UTF-8: the same JSON the recoder wrote. */
		en = run_op(ESCAPE, &esc, utf8, un, &bad);
		assert_true(valid_json_body(esc, en));
		assert_int_equal(en, rn);
		if (en)
			assert_memory_equal(esc, rec, en);
		dn3 = run_op(DECODE, &dec3, esc, en, &bad);
		assert_int_equal(dn3, un);
		if (un)
			assert_memory_equal(dec3, utf8, un);
		free(dec);
		free(rec);
		free(dec2);
		free(esc);
		free(dec3);
	}
}

/* Random bytes: recode output is always valid JSON, decode output always valid UTF-8. */
static void test_random_garbage_stays_valid(void **state)
{
	(void)state;
	rng_state = 0xbadc0ffee0ddf00dULL;
	for (int round = 0; round < 3000; round++) {
		char src[48];
		size_t len = (size_t)(rng() % sizeof(src));
		unsigned bad = 0;
		char *out, *esc;
		size_t n, en;

		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng();

			/* Bias toward the interesting bytes; no raw NUL (test_decode_nul has it). */
			src[i] = (char)((r & 3) == 0
						? "\\u\"dD8E0\xED\xF0\xE2\x80\xA8"[(r >> 2) % 13]
						: (char)(r >> 8));
			if (!src[i])
				src[i] = '\x01';
		}
		n = run_op(RECODE, &out, src, len, &bad);
		assert_true(valid_json_body(out, n));
		free(out);
		bad = 0;
		n = run_op(DECODE, &out, src, len, &bad);
		/* Decoded text is valid UTF-8 apart from control characters: escape it and check. */
		en = run_op(ESCAPE, &esc, out, n, &bad);
		assert_true(valid_json_body(esc, en));
		assert_null(memchr(out, '\0', n));
		free(esc);
		free(out);
	}
}

/* ---- text_decode_csv ----------------------------------------------------- */

static void check_csv(const char *src, size_t len, int want_quote, int line)
{
	char *a = malloc(TEXT_DECODE_MAX(len) + 1), *b = malloc(TEXT_DECODE_MAX(len) + 1);
	unsigned bad_a = 0, bad_b = 0;
	int quote = -1;
	size_t na, nb;

	assert_non_null(a);
	assert_non_null(b);
	na = text_decode_csv(a, src, len, &bad_a, &quote);
	nb = text_decode(b, src, len, &bad_b);
	if (quote != want_quote)
		fprintf(stderr, "line %d: quote %d for '%.*s'\n", line, quote, (int)len, src);
	assert_int_equal(quote, want_quote);
	/* Same text and count as text_decode, and the flag agrees with the decoded text. */
	assert_int_equal(na, nb);
	if (na)
		assert_memory_equal(a, b, na);
	assert_int_equal(bad_a, bad_b);
	assert_int_equal(quote, text_csv_needs_quotes(a, na));
	free(a);
	free(b);
}

#define CSV(src, q) check_csv(S(src), (q), __LINE__)

static void test_decode_csv_quote_flag(void **state)
{
	(void)state;
	CSV("", 0);
	CSV("plain text", 0);
	CSV("tab\there; semi 'single' =1", 0);
	CSV("\xD7\xA9\xD7\x9C\\u05d5 \\ud83d\\ude00", 0);
	CSV("a,b", 1);
	CSV("abcdefgh,", 1);
	CSV("abcdefghijklmno,pqrstuvw", 1);
	CSV("a\nb", 1);
	CSV("a\rb", 1);
	CSV("a\\nb", 1);
	CSV("a\\rb", 1);
	CSV("say \\\"hi\\\"", 1);
	CSV("\\u002c", 1);
	CSV("\\u0022", 1);
	CSV("\\u000a", 1);
	CSV("\\u000D", 1);
	CSV("\\u002C\\u05e9", 1);
	CSV("\\t\\b\\f\\/\\\\", 0);
	CSV("\\u0009\\u003b", 0);
	/* A quote character inside a multi-byte sequence is not one. */
	CSV("\xEC\xAC\xAC\xE2\x80\xA2", 0);
}

/* A special character at every position, raw and escaped, around the 8-byte fast path. */
static void test_decode_csv_every_position(void **state)
{
	static const char *const forms[] = { ",", "\n", "\r", "\\\"", "\\n", "\\r", "\\u002c" };

	(void)state;
	for (size_t len = 0; len <= 24; len++) {
		for (size_t pos = 0; pos <= len; pos++) {
			for (size_t k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
				char src[64];
				size_t s = 0;

				for (size_t i = 0; i < pos; i++)
					src[s++] = (char)('a' + i % 26);
				memcpy(src + s, forms[k], strlen(forms[k]));
				s += strlen(forms[k]);
				for (size_t i = pos; i < len; i++)
					src[s++] = 'Z';
				check_csv(src, s, 1, __LINE__);
				/* Without the special: no quotes. */
				s = 0;
				for (size_t i = 0; i < pos; i++)
					src[s++] = (char)('a' + i % 26);
				for (size_t i = pos; i < len; i++)
					src[s++] = 'Z';
				check_csv(src, s, 0, __LINE__);
			}
		}
	}
}

/* Random JSON bodies (no raw '"', which cannot occur inside a string token). */
static void test_decode_csv_random(void **state)
{
	(void)state;
	rng_state = 0x0c5f0c5f12345678ULL;
	for (int round = 0; round < 5000; round++) {
		char src[40];
		size_t len = (size_t)(rng() % sizeof(src));

		for (size_t i = 0; i < len; i++) {
			uint64_t r = rng();

			src[i] = (char)((r & 1) ? "\\u002cn\"r,\n\r\xD7\xA9 abc0"[(r >> 1) % 16]
						: (char)(0x20 + (r >> 8) % 0x5f));
			if (src[i] == '"' && (i == 0 || src[i - 1] != '\\'))
				src[i] = 'q';
		}
		{
			char *a = malloc(TEXT_DECODE_MAX(len) + 1);
			unsigned bad = 0;
			int quote = -1;
			size_t n;

			assert_non_null(a);
			n = text_decode_csv(a, src, len, &bad, &quote);
			if (quote != text_csv_needs_quotes(a, n))
				fprintf(stderr, "round %d: quote %d for '%.*s'\n", round, quote,
					(int)len, src);
			assert_int_equal(quote, text_csv_needs_quotes(a, n));
			free(a);
		}
	}
}

/* text_json_compact into an exact-size heap block (ASan sees any overrun). */
static void compact_is(const char *src, size_t len, const char *want, size_t want_len,
		       unsigned want_bad, int line)
{
	char *dst = malloc(TEXT_RECODE_MAX(len) + 1);
	unsigned bad = 0;
	size_t n;

	assert_non_null(dst);
	n = text_json_compact(dst, src, len, &bad);
	if (n != want_len || memcmp(dst, want, n) || bad != want_bad)
		fprintf(stderr, "line %d: got '%.*s' bad %u\n", line, (int)n, dst, bad);
	assert_int_equal(n, want_len);
	assert_memory_equal(dst, want, n);
	assert_int_equal(bad, want_bad);
	free(dst);
}

#define COMPACT(src, want, bad) compact_is(S(src), S(want), (bad), __LINE__)

static void test_json_compact(void **state)
{
	(void)state;
	COMPACT("{ \"a\" : [ 1 , \"\\u00e9\\/\" ] }", "{\"a\":[1,\"\xC3\xA9/\"]}", 0);
	COMPACT("[true,false,null,-1.5e3,{},[]]", "[true,false,null,-1.5e3,{},[]]", 0);
	COMPACT("\n[\t1,\r\n 2 ]\n", "[1,2]", 0);
	/* White space inside strings stays; escapes are recoded as text_json_recode does. */
	COMPACT("{\"k \\u00e9\\/\":\"\\ud83d\",\"\\u2028\":\"\\u0001\\n\"}",
		"{\"k \xC3\xA9/\":\"" FFFD "\",\"\\u2028\":\"\\u0001\\n\"}", 1);
	/* Escaped quotes and backslashes do not end a string. */
	COMPACT("[\"a\\\"b\\\\\", \"c\"]", "[\"a\\\"b\\\\\",\"c\"]", 0);
	COMPACT("[\"\\\\\"]", "[\"\\\\\"]", 0);
	COMPACT("[]", "[]", 0);
	COMPACT("", "", 0);
}

/* Deep and long values take time linear in their length (no recursion). */
static void test_json_compact_linear(void **state)
{
	size_t depth = 1000000, len = 2 * depth;
	char *src = malloc(len), *dst = malloc(TEXT_RECODE_MAX(len));
	unsigned bad = 0;

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	memset(src, '[', depth);
	memset(src + depth, ']', depth);
	assert_int_equal(text_json_compact(dst, src, len, &bad), len);
	assert_memory_equal(dst, src, len);
	free(src);
	free(dst);
}

static void escaped_is(const char *src, size_t len, size_t size, const char *want, int line)
{
	char dst[256];
	size_t n;

	assert_true(size <= sizeof(dst));
	memset(dst, 'Z', sizeof(dst));
	n = printable(dst, size, src, len);
	if (strcmp(dst, want))
		fprintf(stderr, "line %d: got '%s'\n", line, dst);
	assert_string_equal(dst, want);
	assert_int_equal(n, strlen(want));
	assert_true(n < size);
}

static void test_escape_controls(void **state)
{
	(void)state;
	escaped_is(S("plain \\u001b text"), 64, "plain \\u001b text", __LINE__);
	escaped_is(S("\x1b[31mred\x07"), 64, "\\x1b[31mred\\x07", __LINE__);
	escaped_is(S("a\0b\x7f"), 64, "a\\x00b\\x7f", __LINE__);
	/* C1 controls (CSI is U+009B) and bytes that are not UTF-8; other UTF-8 stays. */
	escaped_is(S("x\xC2\x9B"
		     "1m\xC2\xA0\xD7\xA9\x9B\xFF"),
		   64, "x\\xc2\\x9b1m\xC2\xA0\xD7\xA9\\x9b\\xff", __LINE__);
	/* The bidirectional controls (U+202E, U+2066, U+200F, U+061C); Hebrew stays. */
	escaped_is(S("id\xE2\x80\xAEtxt.exe\xE2\x81\xA6\xE2\x80\x8F\xD8\x9C\xD7\xA9"), 128,
		   "id\\xe2\\x80\\xaetxt.exe\\xe2\\x81\\xa6\\xe2\\x80\\x8f\\xd8\\x9c\xD7\xA9",
		   __LINE__);
	/* Their neighbours stay: U+202F (a no-break space), U+200D (the emoji joiner). */
	escaped_is(S("\xE2\x80\xAF\xE2\x80\x8D"), 64, "\xE2\x80\xAF\xE2\x80\x8D", __LINE__);
	/* Cut to the room given, never half an escape or half a character. */
	escaped_is(S("abc\x1b"), 6, "abc", __LINE__);
	escaped_is(S("abc\x1b"), 8, "abc\\x1b", __LINE__);
	escaped_is(S("ab\xD7\xA9"), 4, "ab", __LINE__);
	escaped_is(S("abc"), 1, "", __LINE__);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_empty_and_plain),
		cmocka_unit_test(test_decode_escape_at_every_position),
		cmocka_unit_test(test_decode_short_escapes),
		cmocka_unit_test(test_decode_unicode_escapes),
		cmocka_unit_test(test_decode_two_byte_runs),
		cmocka_unit_test(test_decode_surrogates),
		cmocka_unit_test(test_decode_nul),
		cmocka_unit_test(test_decode_invalid_utf8),
		cmocka_unit_test(test_decode_valid_raw_utf8),
		cmocka_unit_test(test_decode_raw_control_chars),
		cmocka_unit_test(test_decode_worst_case_bound),
		cmocka_unit_test(test_recode_plain),
		cmocka_unit_test(test_recode_short_escapes),
		cmocka_unit_test(test_recode_control_chars),
		cmocka_unit_test(test_recode_control_at_every_position),
		cmocka_unit_test(test_recode_non_ascii_kept_raw),
		cmocka_unit_test(test_recode_line_separators),
		cmocka_unit_test(test_recode_c1_controls),
		cmocka_unit_test(test_recode_del),
		cmocka_unit_test(test_recode_broken_input),
		cmocka_unit_test(test_recode_worst_case_bound),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_at_every_position),
		cmocka_unit_test(test_utf16_len),
		cmocka_unit_test(test_csv_needs_quotes),
		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_random_garbage_stays_valid),
		cmocka_unit_test(test_decode_csv_quote_flag),
		cmocka_unit_test(test_decode_csv_every_position),
		cmocka_unit_test(test_decode_csv_random),
		cmocka_unit_test(test_json_compact),
		cmocka_unit_test(test_json_compact_linear),
		cmocka_unit_test(test_escape_controls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
