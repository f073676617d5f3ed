#include "printable.h"
#include "text.h"

#include <string.h>

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
		/* C0, DEL, C1 (U+0080-U+009F: 0x9b is a CSI) and bytes that are not UTF-8. */
		int escape = *p < 0x20 || *p == 0x7f || n == 0 ||
			     (n == 2 && p[0] == 0xC2 && p[1] < 0xA0);

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
