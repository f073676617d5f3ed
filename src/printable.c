#include "printable.h"
#include "text.h"

#include <string.h>

/*
 * The bidirectional formatting characters (U+061C, U+200E-U+200F,
 * U+202A-U+202E, U+2066-U+2069): printed raw they reorder the rest of the
 * line on a terminal or in a log viewer, so an id could make a message
 * read as another one (the "Trojan Source" attack). n is the length of the
 * UTF-8 sequence at p.
 */
static int is_bidi_control(const unsigned char *p, size_t n)
{
	if (n == 2)
		return p[0] == 0xD8 && p[1] == 0x9C;
	if (n != 3 || p[0] != 0xE2)
		return 0;
	if (p[1] == 0x80)
		return p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xAA && p[2] <= 0xAE);
	return p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9;
}

/* Append "\xHH" for byte c if it fits before end; 0 when it does not. */
static size_t put_hex_escape(char *d, const char *end, unsigned char c)
{
	static const char hex[] = "0123456789abcdef";

	if (end - d < 4)
		return 0;
	d[0] = '\\';
	d[1] = 'x';
	d[2] = hex[c >> 4];
	d[3] = hex[c & 15];
	return 4;
}

size_t printable(char *dst, size_t size, const char *src, size_t len)
{
	const unsigned char *p = (const unsigned char *)src, *e = p + len;
	char *d = dst, *end = dst + (size ? size - 1 : 0);

	if (!size)
		return 0;
	while (p < e && d < end) {
		size_t n = *p < 0x80 ? 1 : text_utf8_seq((const char *)p, (const char *)e);
		/*
		 * C0, DEL, C1 (U+0080-U+009F: 0x9b is a CSI), bytes that are
		 * not UTF-8, and the bidirectional controls, byte by byte.
		 */
		int escape = *p < 0x20 || *p == 0x7f || n == 0 ||
			     (n == 2 && p[0] == 0xC2 && p[1] < 0xA0) || is_bidi_control(p, n);

		if (!escape) {
			if ((size_t)(end - d) < n)
				break;
			memcpy(d, p, n);
			d += n;
			p += n;
			continue;
		}
		for (size_t k = 0; k < (n ? n : 1); k++) {
			size_t w = put_hex_escape(d, end, p[k]);

			if (!w)
				goto out;
			d += w;
		}
		p += n ? n : 1;
	}
out:
	*d = '\0';
	return (size_t)(d - dst);
}
