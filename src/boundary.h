/*
 * boundary: where one JSON value ends in a stream of bytes, found without
 * parsing it: the scanner follows strings (and their escapes) and brackets,
 * and can be fed the bytes in pieces (it resumes where it stopped), so
 * finding the ends of n bytes of values costs O(n) whatever their shape.
 * A value that is not an array or object runs to the next white space.
 */
#ifndef WAEXPORT_BOUNDARY_H
#define WAEXPORT_BOUNDARY_H

#include <stddef.h>

/* Zeroed to start on a new value at p[0] (not white space). */
struct boundary {
	size_t pos; /* bytes of the value scanned so far */
	unsigned depth;
	int in_str, esc, begun, scalar;
};

/* The offset just after the value that starts at p[0], when it ends within p[0..n); else 0. */
size_t boundary_scan(struct boundary *b, const char *p, size_t n);

#endif
