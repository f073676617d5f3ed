/*
 * The text module's two helpers for whole JSON values (text.h), not string
 * bodies: a body put onto one line for --save-raw, and a compound value
 * re-emitted compact for a cell. Neither needs the decoder's tables; the
 * strings of a compact value go through text_json_recode.
 */
#include "text.h"

size_t text_json_single_line(char *dst, const char *src, size_t len)
{
	int in_string = 0, escaped = 0;
	char *d = dst;

	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '\n' || c == '\r') {
			if (in_string) {
				*d++ = '\\';
				*d++ = c == '\n' ? 'n' : 'r';
			} else {
				*d++ = ' ';
			}
			escaped = 0;
			continue;
		}
		*d++ = c;
		if (escaped)
			escaped = 0;
		else if (in_string && c == '\\')
			escaped = 1;
		else if (c == '"')
			in_string = !in_string;
	}
	return (size_t)(d - dst);
}

size_t text_json_compact(char *dst, const char *src, size_t len, unsigned *bad)
{
	const char *p = src, *end = src + len;
	char *d = dst;

	while (p < end) {
		char c = *p++;

		if (c == '"') {
			const char *s = p;

			/* The value was validated: every escape is complete, so the pair skip stays in. */
			while (p < end && *p != '"')
				p += *p == '\\' ? 2 : 1;
			if (p > end)
				p = end;
			*d++ = '"';
			d += text_json_recode(d, s, (size_t)(p - s), bad);
			*d++ = '"';
			p += p < end;
		} else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
			*d++ = c;
		}
	}
	return (size_t)(d - dst);
}
