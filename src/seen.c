#include "seen.h"

#include <stdlib.h>
#include <string.h>

/* Each generation's table is twice the window: load factor at most 1/2. */
#define TABLE_SIZE (2 * SEEN_WINDOW)

struct seen {
	uint64_t *cur, *old;
	size_t ncur;
	char *key;               /* a unique with escapes, in its canonical form */
	size_t key_cap;
};

struct seen *seen_new(void)
{
	struct seen *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cur = calloc(TABLE_SIZE, sizeof(uint64_t));
	s->old = calloc(TABLE_SIZE, sizeof(uint64_t));
	if (!s->cur || !s->old) {
		seen_free(s);
		return NULL;
	}
	return s;
}

void seen_free(struct seen *s)
{
	if (!s)
		return;
	free(s->cur);
	free(s->old);
	free(s->key);
	free(s);
}

static inline uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

/*
 * One multiply per eight bytes, one full mix at the end: uniques are short
 * (20 hex digits), and this runs for every message.
 */
uint64_t seen_hash(const char *p, size_t len)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)len * 0xC2B2AE3D27D4EB4FULL);
	int whole = len >= 8;

	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		h = (h ^ w) * 0x87C37B91114253D5ULL;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	if (len) {
		uint64_t w = 0;

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		/*
		 * The same value as the copy below, without its byte stores that
		 * the 8-byte load then waits for (a failed store forwarding, 1 in
		 * 30 of the writing thread's samples): the last eight bytes,
		 * shifted so the tail's lie low.
		 */
		if (whole) {
			memcpy(&w, p + len - 8, 8);
			w >>= 8 * (8 - len);
		} else
#endif
			memcpy(&w, p, len);
		h = (h ^ w) * 0x4CF5AD432745937FULL;
		h ^= h >> 29;
	}
	h = mix(h);
	return h ? h : 1; /* 0 marks an empty slot */
}

static int lookup(const uint64_t *t, uint64_t h, size_t *slot)
{
	size_t i = (size_t)h & (TABLE_SIZE - 1);

	while (t[i]) {
		if (t[i] == h)
			return 1;
		i = (i + 1) & (TABLE_SIZE - 1);
	}
	*slot = i;
	return 0;
}

static int hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (unsigned)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *d, unsigned cp)
{
	if (cp < 0x80) {
		d[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		d[0] = (char)(0xC0 | cp >> 6);
		d[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		d[0] = (char)(0xE0 | cp >> 12);
		d[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		d[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | cp >> 18);
	d[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	d[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	d[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/*
 * The unique as the string it stands for, one form per string: escapes of
 * valid characters decoded, so "\u0064" is "d" (SPEC §5.7). What decodes to
 * nothing valid (a lone surrogate) or to NUL keeps a \uxxxx form, and a real
 * backslash is written doubled, so no two different strings meet, as they
 * would if both became U+FFFD. Never longer than the escaped text.
 */
static size_t canonical(char *d, const char *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned cp, lo;

		if (p[i] != '\\' || i + 1 == len) {
			d[n++] = p[i];
			continue;
		}
		i++;
		if (p[i] != 'u' || i + 4 >= len || hex4(p + i + 1, &cp)) {
			static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
			const char *k = strchr(from, p[i]);

			if (p[i] == '\\') {
				d[n++] = '\\';
				d[n++] = '\\';
			} else {
				d[n++] = k && *k ? to[k - from] : p[i];
			}
			continue;
		}
		i += 4;
		if (cp >= 0xD800 && cp < 0xDC00 && i + 6 < len && p[i + 1] == '\\' &&
		    p[i + 2] == 'u' && !hex4(p + i + 3, &lo) && lo >= 0xDC00 && lo < 0xE000) {
			n += put_utf8(d + n, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
			i += 6;
		} else if ((cp >= 0xD800 && cp < 0xE000) || cp == 0) {
			static const char hexd[] = "0123456789abcdef";

			d[n++] = '\\';
			d[n++] = 'u';
			for (int k = 12; k >= 0; k -= 4)
				d[n++] = hexd[(cp >> k) & 0xF];
		} else if (cp == '\\') {
			d[n++] = '\\';
			d[n++] = '\\';
		} else {
			n += put_utf8(d + n, cp);
		}
	}
	return n;
}

static int check_hash(struct seen *s, uint64_t h)
{
	size_t slot, unused;

	if (lookup(s->old, h, &unused) || lookup(s->cur, h, &slot))
		return 1;
	if (s->ncur == SEEN_WINDOW) {
		uint64_t *t = s->old;

		s->old = s->cur;
		s->cur = t;
		memset(s->cur, 0, TABLE_SIZE * sizeof(uint64_t));
		s->ncur = 0;
		lookup(s->cur, h, &slot);
	}
	s->cur[slot] = h;
	s->ncur++;
	return 0;
}

int seen_check(struct seen *s, const char *unique, size_t len)
{
	if (!memchr(unique, '\\', len))
		return check_hash(s, seen_hash(unique, len));
	if (len > s->key_cap) {
		char *k = realloc(s->key, len);

		if (!k)
			return -1;
		s->key = k;
		s->key_cap = len;
	}
	return check_hash(s, seen_hash(s->key, canonical(s->key, unique, len)));
}

int seen_check_bytes(struct seen *s, const char *p, size_t len)
{
	return check_hash(s, seen_hash(p, len));
}
