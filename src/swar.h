/*
 * swar: eight bytes tested at once in a 64-bit word (SIMD within a
 * register), for the scans over JSON text in text.c and json.c. The tests
 * say whether some byte matches, exactly; the lowest set 0x80 bit marks
 * the first match (bits above it may be false positives).
 */
#ifndef WAEXPORT_SWAR_H
#define WAEXPORT_SWAR_H

#include <stdint.h>
#include <string.h>

#define SWAR_ONES 0x0101010101010101ULL
#define SWAR_HIGHS 0x8080808080808080ULL

/* Nonzero when some byte of w equals c (classic SWAR zero-byte test). */
static inline uint64_t has_byte(uint64_t w, unsigned char c)
{
	uint64_t x = w ^ (SWAR_ONES * c);

	return (x - SWAR_ONES) & ~x & SWAR_HIGHS;
}

/* Nonzero when some byte of w is below n (n <= 128). */
static inline uint64_t has_less(uint64_t w, unsigned char n)
{
	return (w - SWAR_ONES * n) & ~w & SWAR_HIGHS;
}

static inline uint64_t load64(const char *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

#endif
