/*
 * The pre-scan (json_scan.h). Whole 64-byte blocks are classified with SSE2
 * compares and the bytes left at the end go one at a time; the two ways
 * agree byte for byte, which a unit test holds them to.
 */
#include "json_scan.h"
#include "swar.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>

/* The sixteen byte masks of a compare, as bits. */
static inline uint64_t mask16(__m128i m)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(m);
}
#endif

/*
 * A NUL byte, a control byte inside a string, or a backslash outside one:
 * no more input can make it valid. (The block scanners take a backslash
 * anywhere as an escape; refusing it outside strings keeps them exact.)
 */
static void scan_bad_byte(const char *body, size_t p, int in_string, struct err *e)
{
	unsigned char c = (unsigned char)body[p];

	if (c == '\\')
		err_data(e, (long long)p, "unexpected '\\' in JSON (outside a string)");
	else if (!c)
		err_data(e, (long long)p,
			 in_string ? "NUL byte in a JSON string" : "NUL byte in JSON");
	else
		err_data(e, (long long)p,
			 "raw control character 0x%02x inside a JSON string (invalid "
			 "JSON: it must be escaped)",
			 c);
}

/* Inside a string from p: returns where the scan stopped, or SIZE_MAX with e set. */
static size_t scan_string(struct json_scan *s, const char *body, size_t p, size_t len,
			  struct err *e)
{
	while (p < len) {
		unsigned char c;

		/*
		 * Eight bytes at a time: a word without a quote or a control byte
		 * is passed whole unless it ends in a backslash (which escapes the
		 * next word's first byte); otherwise jump to its first special byte.
		 */
		while (!s->escaped && len - p >= 8) {
			uint64_t w = load64(body + p);
			uint64_t stop = has_byte(w, '"') | has_less(w, 0x20),
				 esc = has_byte(w, '\\');

			if (!stop && (!esc || body[p + 7] != '\\')) {
				p += 8;
				continue;
			}
			p += (unsigned)__builtin_ctzll(stop | esc) >> 3;
			break;
		}
		if (p >= len)
			break;
		c = (unsigned char)body[p];
		if (c < 0x20) {
			scan_bad_byte(body, p, 1, e);
			return SIZE_MAX;
		}
		p++;
		if (s->escaped) {
			s->escaped = 0;
		} else if (c == '\\') {
			s->escaped = 1;
		} else if (c == '"') {
			s->in_string = 0;
			return p;
		}
	}
	return p;
}

/* The bytes that matter outside strings: where strings and containers begin and end. */
static const unsigned char structural[256] = {
	['"'] = 1, ['['] = 1, ['{'] = 1, [']'] = 1, ['}'] = 1, ['\0'] = 1, ['\\'] = 1,
};

/* A bracket outside strings: the depth, and the end of the root. -1 with e set. */
static int scan_bracket(struct json_scan *s, char c, size_t p, struct err *e)
{
	if (c == '[' || c == '{') {
		if (++s->depth > JSON_MAX_DEPTH)
			return err_data(e, (long long)p,
					"JSON nested deeper than %u levels (the depth "
					"limit)",
					JSON_MAX_DEPTH);
		return 0;
	}
	if (!s->depth)
		return err_data(e, (long long)p, "unexpected '%c' in JSON", c);
	if (!--s->depth)
		s->root_end = p + 1; /* the root is complete: jsmn checks the rest */
	return 0;
}

/* Outside strings from p: returns where the scan stopped, or SIZE_MAX with e set. */
static size_t scan_outside(struct json_scan *s, const char *body, size_t p, size_t len,
			   struct err *e)
{
	for (; p < len; p++) {
		char c = body[p];

		if (!structural[(unsigned char)c])
			continue;
		if (c == '"') {
			s->in_string = 1;
			return p + 1;
		}
		if (c == '\0' || c == '\\') {
			scan_bad_byte(body, p, 0, e);
			return SIZE_MAX;
		}
		if (scan_bracket(s, c, p, e))
			return SIZE_MAX;
		if (s->root_end)
			return p + 1;
	}
	return p;
}

/* What the bytes of a 64-byte block are, one bit per byte (bit i: byte i). */
struct block {
	uint64_t quote, backslash, control, brackets;
};

/*
 * Which bytes of a block a backslash escapes: the odd-length runs of
 * backslashes, found with one addition (simdjson's find_escaped). *carry
 * says that the block's first byte is escaped, and is set for the next.
 */
static inline uint64_t escaped_bytes(uint64_t bs, uint64_t *carry)
{
	const uint64_t even = 0x5555555555555555ULL;
	uint64_t follows, odd_starts, sum;

	bs &= ~*carry;
	follows = (bs << 1) | *carry;
	odd_starts = bs & ~even & ~follows;
	*carry = __builtin_add_overflow(odd_starts, bs, &sum);
	return (even ^ (sum << 1)) & follows;
}

/* Bit i set when an odd number of bits 0..i of q are: the bytes from a quote on, to the next. */
static inline uint64_t prefix_xor(uint64_t q)
{
	q ^= q << 1;
	q ^= q << 2;
	q ^= q << 4;
	q ^= q << 8;
	q ^= q << 16;
	return q ^ (q << 32);
}

/*
 * The first NUL among the control bytes outside strings (white space
 * between values is all most blocks have there), as a bit, or 0.
 */
static uint64_t first_nul(const char *block, uint64_t outside_controls)
{
	for (; outside_controls; outside_controls &= outside_controls - 1) {
		unsigned i = (unsigned)__builtin_ctzll(outside_controls);

		if (!block[i])
			return 1ULL << i;
	}
	return 0;
}

/*
 * A classified block, what scan_string and scan_outside do one byte at a
 * time, given which bytes are inside strings and whether the next block's
 * first byte is escaped: the brackets outside strings are taken in order.
 * Returns where the scan goes on, or SIZE_MAX with e set.
 */
static inline size_t scan_block(struct json_scan *s, const char *body, size_t p,
				const struct block *b, uint64_t inside, uint64_t carry,
				struct err *e)
{
	uint64_t brackets = b->brackets & ~inside, bad = b->backslash & ~inside;
	unsigned stop = 64;

	/*
	 * Bytes up to 0x1f inside strings, NUL anywhere and a backslash outside
	 * strings end the scan. Bytes before the first such backslash are
	 * classified right: it escapes nothing before it.
	 */
	if (b->control)
		bad |= (b->control & inside) | first_nul(body + p, b->control & ~inside);
	if (bad) {
		stop = (unsigned)__builtin_ctzll(bad);
		brackets &= (1ULL << stop) - 1;
	}
	for (; brackets; brackets &= brackets - 1) {
		unsigned i = (unsigned)__builtin_ctzll(brackets);

		if (scan_bracket(s, body[p + i], p + i, e))
			return SIZE_MAX;
		if (s->root_end) {
			s->in_string = s->escaped = 0; /* a bracket outside strings */
			return p + i + 1;
		}
	}
	if (bad) {
		scan_bad_byte(body, p + stop, (int)((inside >> stop) & 1), e);
		return SIZE_MAX;
	}
	s->in_string = (unsigned char)(inside >> 63);
	s->escaped = (unsigned char)carry;
	return p + 64;
}

#ifdef __SSE2__
/*
 * One bit per byte of a 64-byte block for each class the scan tells apart.
 * The brackets are one compare each way: ASCII '[' and ']' with bit 5 set
 * are '{' and '}', and no other byte becomes either.
 */
static inline void classify(const char *p, struct block *b)
{
	const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'),
		      ctl = _mm_set1_epi8(0x1f), bit5 = _mm_set1_epi8(0x20),
		      open = _mm_set1_epi8('{'), close = _mm_set1_epi8('}');

	memset(b, 0, sizeof(*b));
	for (unsigned k = 0; k < 64; k += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + k));
		__m128i lower = _mm_or_si128(v, bit5);
		__m128i brackets =
			_mm_or_si128(_mm_cmpeq_epi8(lower, open), _mm_cmpeq_epi8(lower, close));

		b->quote |= mask16(_mm_cmpeq_epi8(v, quote)) << k;
		b->backslash |= mask16(_mm_cmpeq_epi8(v, backslash)) << k;
		b->control |= mask16(_mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl)) << k;
		b->brackets |= mask16(brackets) << k;
	}
}
#endif

/*
 * The whole blocks from p while the root is open (p as it is without SSE2,
 * or when j->blocks is off): the quotes that are not escaped tell, through
 * a prefix XOR, which bytes are inside strings.
 */
static size_t scan_blocks(struct json_scan *s, int blocks, const char *body, size_t p, size_t len,
			  struct err *e)
{
#ifdef __SSE2__
	while (blocks && p != SIZE_MAX && len - p >= 64 && !s->root_end) {
		struct block b;
		uint64_t carry = s->escaped, inside;

		classify(body + p, &b);
		inside = prefix_xor(b.quote & ~escaped_bytes(b.backslash, &carry));
		if (s->in_string)
			inside = ~inside;
		p = scan_block(s, body, p, &b, inside, carry, e);
	}
#else
	(void)s, (void)blocks, (void)body, (void)len, (void)e;
#endif
	return p;
}

void json_scan_reset(struct json_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->root_start = SIZE_MAX;
}

int json_scan(struct json_scan *s, int blocks, const char *body, size_t len, struct err *e)
{
	size_t p = s->pos;

	if (len > JSON_MAX_BODY)
		return err_data(e, (long long)JSON_MAX_BODY,
				"body of %zu bytes is larger than the "
				"%u-byte limit (64 MiB)",
				len, JSON_MAX_BODY);
	if (s->root_start == SIZE_MAX) {
		while (p < len && json_is_space(body[p]))
			p++;
		if (p < len)
			s->root_start = p;
	}
	while (p < len && !s->root_end) {
		p = scan_blocks(s, blocks, body, p, len, e);
		if (p != SIZE_MAX && p < len && !s->root_end)
			p = s->in_string ? scan_string(s, body, p, len, e)
					 : scan_outside(s, body, p, len, e);
		if (p == SIZE_MAX)
			return -1;
	}
	s->pos = p > len ? len : p;
	return 0;
}
