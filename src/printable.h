/*
 * printable: text from outside (a server's FAIL reason, a unique, a file
 * name) made safe to print on a terminal (SPEC §5.6): C0 controls, DEL, C1
 * controls, bytes that are not UTF-8 and the bidirectional controls
 * (U+202E and its kin) become \xHH, so no terminal escape gets through and
 * no line is shown reordered. Every line waexport prints on stderr goes through it.
 */
#ifndef WAEXPORT_PRINTABLE_H
#define WAEXPORT_PRINTABLE_H

#include <stddef.h>

/*
 * Writes at most size - 1 bytes of src[0..len) (never half an escape or
 * half a character) and a NUL; returns the length written.
 */
size_t printable(char *dst, size_t size, const char *src, size_t len);

#endif
