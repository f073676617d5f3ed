/*
 * JSON text → tokens (json.h): the pre-scan with the limits, jsmn, and the
 * strict checks jsmn leaves to its users (LIBRARY-NOTES §1).
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h> /* before json.h, which then takes the declarations as they are */

#include "json.h"
#include "swar.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

int json_init(struct json *j)
{
	memset(j, 0, sizeof(*j));
	j->tok_cap = 1024;
	j->tok = malloc(j->tok_cap * sizeof(*j->tok));
	if (!j->tok)
		return -1;
	json_reset(j);
	return 0;
}

void json_free(struct json *j)
{
	free(j->tok);
	j->tok = NULL;
}

void json_drop_tokens(struct json *j)
{
	free(j->tok);
	j->tok = NULL;
	j->tok_cap = 0;
	j->ntok = 0;
}

void json_reset(struct json *j)
{
	jsmn_init(&j->parser);
	j->ntok = 0;
	j->flat = 0;
	memset(&j->scan, 0, sizeof(j->scan));
	j->scan.root_start = SIZE_MAX;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A NUL byte, or a control byte inside a string: no more input can make it valid. */
static void scan_bad_byte(const char *body, size_t p, int in_string, struct err *e)
{
	unsigned char c = (unsigned char)body[p];

	if (!c)
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
	['"'] = 1, ['['] = 1, ['{'] = 1, [']'] = 1, ['}'] = 1, ['\0'] = 1,
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
		if (c == '\0') {
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

#ifdef __SSE2__
/* The four 16-bit byte masks of a 64-byte block as one (written out: GCC -O2 keeps loops). */
static inline uint64_t join64(__m128i a, __m128i b, __m128i c, __m128i d)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(a) |
	       (uint64_t)(unsigned)_mm_movemask_epi8(b) << 16 |
	       (uint64_t)(unsigned)_mm_movemask_epi8(c) << 32 |
	       (uint64_t)(unsigned)_mm_movemask_epi8(d) << 48;
}

/* One bit per byte of a 64-byte block: which bytes equal c. */
static inline uint64_t eq64(const __m128i v[4], char c)
{
	__m128i k = _mm_set1_epi8(c);

	return join64(_mm_cmpeq_epi8(v[0], k), _mm_cmpeq_epi8(v[1], k), _mm_cmpeq_epi8(v[2], k),
		      _mm_cmpeq_epi8(v[3], k));
}

/* Which bytes are 0x00-0x1f. */
static inline uint64_t control64(const __m128i v[4])
{
	__m128i k = _mm_set1_epi8(0x1f);

	return join64(_mm_cmpeq_epi8(_mm_max_epu8(v[0], k), k),
		      _mm_cmpeq_epi8(_mm_max_epu8(v[1], k), k),
		      _mm_cmpeq_epi8(_mm_max_epu8(v[2], k), k),
		      _mm_cmpeq_epi8(_mm_max_epu8(v[3], k), k));
}

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

/*
 * Sixty-four bytes at once, what scan_string and scan_outside do one at a
 * time: the quotes that are not escaped tell, through a prefix XOR, which
 * bytes are inside strings; the brackets outside strings are then taken in
 * order. Returns where the scan goes on, or SIZE_MAX with e set.
 */
static size_t scan_block(struct json_scan *s, const char *body, size_t p, struct err *e)
{
	__m128i v[4];
	uint64_t carry = s->escaped, quote, inside, brackets, bad;
	unsigned stop;

	v[0] = _mm_loadu_si128((const __m128i *)(const void *)(body + p));
	v[1] = _mm_loadu_si128((const __m128i *)(const void *)(body + p + 16));
	v[2] = _mm_loadu_si128((const __m128i *)(const void *)(body + p + 32));
	v[3] = _mm_loadu_si128((const __m128i *)(const void *)(body + p + 48));
	quote = eq64(v, '"') & ~escaped_bytes(eq64(v, '\\'), &carry);
	inside = quote ^ (quote << 1);
	inside ^= inside << 2;
	inside ^= inside << 4;
	inside ^= inside << 8;
	inside ^= inside << 16;
	inside ^= inside << 32;
	if (s->in_string)
		inside = ~inside;
	/* Bytes up to 0x1f inside strings, and NUL anywhere, end the scan. */
	bad = (control64(v) & inside) | eq64(v, '\0');
	brackets = (eq64(v, '[') | eq64(v, '{') | eq64(v, ']') | eq64(v, '}')) & ~inside;
	stop = bad ? (unsigned)__builtin_ctzll(bad) : 64;
	if (stop < 64)
		brackets &= (1ULL << stop) - 1;
	for (; brackets; brackets &= brackets - 1) {
		unsigned i = (unsigned)__builtin_ctzll(brackets);

		if (scan_bracket(s, body[p + i], p + i, e))
			return SIZE_MAX;
		if (s->root_end)
			return p + i + 1;
	}
	if (bad) {
		scan_bad_byte(body, p + stop, (int)((inside >> stop) & 1), e);
		return SIZE_MAX;
	}
	s->in_string = (unsigned char)(inside >> 63);
	s->escaped = (unsigned char)carry;
	return p + 64;
}
#endif

int json_scan(struct json *j, const char *body, size_t len, struct err *e)
{
	struct json_scan *s = &j->scan;
	size_t p = s->pos;

	if (len > JSON_MAX_BODY)
		return err_data(e, (long long)JSON_MAX_BODY,
				"body of %zu bytes is larger than the "
				"%u-byte limit (64 MiB)",
				len, JSON_MAX_BODY);
	if (s->root_start == SIZE_MAX) {
		while (p < len && is_ws(body[p]))
			p++;
		if (p < len)
			s->root_start = p;
	}
	while (p < len && !s->root_end) {
#ifdef __SSE2__
		if (len - p >= 64) {
			p = scan_block(s, body, p, e);
			if (p == SIZE_MAX)
				return -1;
			continue;
		}
#endif
		p = s->in_string ? scan_string(s, body, p, len, e)
				 : scan_outside(s, body, p, len, e);
		if (p == SIZE_MAX)
			return -1;
	}
	s->pos = p > len ? len : p;
	return 0;
}

int json_skip(const struct json *j, int i)
{
	int pending = 1;

	while (pending && i < j->ntok) {
		pending += j->tok[i].size - 1;
		i++;
	}
	return i;
}

static int grow_tokens(struct json *j, size_t n, struct err *e)
{
	jsmntok_t *t;

	if (n <= j->tok_cap)
		return 0;
	t = realloc(j->tok, n * sizeof(*t));
	if (!t)
		return err_nomem(e);
	j->tok = t;
	j->tok_cap = n;
	return 0;
}

/* jsmn over the whole body, the token array grown up to the token limit. */
static int tokenize(struct json *j, const char *body, size_t len, struct err *e)
{
	int r;

	/* Real pages take about one token per 10 bytes: most bodies need no second call. */
	if (grow_tokens(j, len / 8 + 16 < JSON_MAX_TOKENS ? len / 8 + 16 : JSON_MAX_TOKENS, e))
		return -1;
	for (;;) {
		r = jsmn_parse(&j->parser, body, len, j->tok, (unsigned)j->tok_cap);
		if (r != JSMN_ERROR_NOMEM)
			break;
		/* jsmn resumes where it stopped (LIBRARY-NOTES §1). */
		if (j->tok_cap >= JSON_MAX_TOKENS)
			return err_data(e, (long long)j->parser.pos,
					"more than %u JSON values in one body "
					"(the token limit)",
					JSON_MAX_TOKENS);
		if (grow_tokens(j,
				2 * j->tok_cap < JSON_MAX_TOKENS ? 2 * j->tok_cap : JSON_MAX_TOKENS,
				e))
			return -1;
	}
	if (r == JSMN_ERROR_INVAL)
		return err_data(e, (long long)j->parser.pos, "invalid JSON");
	if (r == JSMN_ERROR_PART || (r > 0 && j->tok[0].end < 0))
		return err_data(e, (long long)len, "JSON ends early (truncated?)");
	if (r == 0)
		return err_data(e, (long long)j->scan.root_start, "invalid JSON");
	j->ntok = r;
	if (j->tok[0].type == JSMN_ARRAY && j->tok[0].size > (int)JSON_MAX_ELEMENTS)
		return err_data(e, j->tok[0].start,
				"more than %u elements in one array (the "
				"per-page element limit)",
				JSON_MAX_ELEMENTS);
	return 0;
}

int json_parse(struct json *j, const char *body, size_t len, int final, struct err *e)
{
	if (json_scan(j, body, len, e))
		return -1;
	if (j->scan.root_start == SIZE_MAX) {
		/* Nothing but white space: a page with nothing in it, once there is no more. */
		j->ntok = 0;
		return final ? JSON_DONE : JSON_MORE;
	}
	if (!j->scan.root_end && !final)
		return JSON_MORE;
	if (tokenize(j, body, len, e))
		return -1;
	for (size_t p = (size_t)j->tok[0].end; p < len; p++)
		if (!is_ws(body[p]))
			return err_data(e, (long long)p, "unexpected data after the JSON value");
	return json_check(j, body, e) ? -1 : JSON_DONE;
}
