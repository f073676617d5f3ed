/*
 * text: the JSON string codec, the hot path of every export.
 *
 * jsmn hands us string tokens raw, escapes and all (LIBRARY-NOTES §1). This
 * module turns them into clean UTF-8 for CSV (text_decode), or straight into
 * the body of a normalised JSON string for NDJSON (text_json_recode), in one
 * pass without a tree. Both apply SPEC §4.1: `\uXXXX` and surrogate pairs
 * become UTF-8, `\/` becomes `/`; a lone or broken surrogate, invalid UTF-8
 * and U+0000 each become U+FFFD and add one to *bad.
 *
 * Functions write into caller-provided space; the bound on that space is
 * part of each contract below. Nothing here allocates.
 */
#ifndef WAEXPORT_TEXT_H
#define WAEXPORT_TEXT_H

#include <stddef.h>

/* Room text_decode may need for `len` source bytes (an invalid byte → 3). */
#define TEXT_DECODE_MAX(len) ((len)*3)
/* Room text_json_recode / text_json_escape may need (control byte → \u00XX). */
#define TEXT_RECODE_MAX(len) ((len)*6)

/* Decode a raw JSON string body (between the quotes) to UTF-8. */
size_t text_decode(char *dst, const char *src, size_t len, unsigned *bad);

/* text_decode that also says whether the text needs CSV quotes (, " CR LF). */
size_t text_decode_csv(char *dst, const char *src, size_t len, unsigned *bad, int *quote);

/*
 * Recode a raw JSON string body into a JSON string body that is valid UTF-8,
 * keeps non-ASCII as raw UTF-8, and escapes only what RFC 8259 §7 requires
 * plus U+2028/U+2029 and the other control characters, DEL and C1
 * (U+007F-U+009F; SPEC §4.1; line readers split on U+2028, U+2029, U+0085).
 */
size_t text_json_recode(char *dst, const char *src, size_t len, unsigned *bad);

/* Escape already clean UTF-8 as a JSON string body (same rules as recode). */
size_t text_json_escape(char *dst, const char *src, size_t len);

/*
 * Copy a JSON text onto one line (what --save-raw writes): line breaks
 * between tokens become spaces, raw ones inside strings (invalid JSON, but
 * lenient servers send them) become \n and \r escapes. dst: 2 * len bytes.
 */
size_t text_json_single_line(char *dst, const char *src, size_t len);

/*
 * Canonical compact JSON of an already validated JSON value (an object or
 * array from a page): white space outside strings dropped, each string
 * recoded as text_json_recode does, numbers and literals copied. Linear in
 * len, no recursion. dst: TEXT_RECODE_MAX(len) bytes.
 */
size_t text_json_compact(char *dst, const char *src, size_t len, unsigned *bad);

/* The four hex digits at p (before end) as 0..0xFFFF, or -1 when they are not four. */
long text_hex4(const char *p, const char *end);

/* Code point cp (at most 0x10FFFF) as UTF-8 at dst: 1 to 4 bytes, their count. */
size_t text_put_utf8(char *dst, unsigned long cp);

/* Length of the valid UTF-8 sequence at p (RFC 3629), or 0 when there is none. */
size_t text_utf8_seq(const char *p, const char *end);

/* Length of valid UTF-8 text in UTF-16 code units (Excel's cell limit). */
size_t text_utf16_len(const char *s, size_t len);

/* Does this decoded text need quoting in CSV (RFC 4180 §2.6)? */
int text_csv_needs_quotes(const char *s, size_t len);

#endif
