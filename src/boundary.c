#include "boundary.h"
#include "jsontext.h"

/*
 * Follow strings and brackets from where the scanner stopped; the offset
 * just after the value when it ends within p[0..n), else 0. A value that is
 * not an array or object runs to the next white space (the page stage
 * refuses it).
 */
size_t boundary_scan(struct boundary *sc, const char *p, size_t n)
{
	size_t i = sc->pos;

	if (!sc->begun && i < n) {
		sc->begun = 1;
		sc->scalar = p[i] != '[' && p[i] != '{';
	}
	for (; i < n; i++) {
		char c = p[i];

		if (sc->scalar) {
			if (json_is_space(c))
				return i;
		} else if (sc->in_str) {
			if (sc->esc)
				sc->esc = 0;
			else if (c == '\\')
				sc->esc = 1;
			else if (c == '"')
				sc->in_str = 0;
		} else if (c == '"') {
			sc->in_str = 1;
		} else if (c == '[' || c == '{') {
			sc->depth++;
		} else if ((c == ']' || c == '}') && sc->depth && !--sc->depth) {
			return i + 1;
		}
	}
	sc->pos = n;
	return 0;
}
