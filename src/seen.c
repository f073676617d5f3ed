#include "seen.h"
#include "hash.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

struct seen {
	uint64_t *cur, *old;
	size_t ncur;
	size_t window; /* SEEN_WINDOW, or more for pages that large (seen_fit) */
	size_t size;   /* each generation's table: twice the window, load at most 1/2 */
};

struct seen *seen_new(void)
{
	struct seen *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->window = SEEN_WINDOW;
	s->size = 2 * SEEN_WINDOW;
	s->cur = calloc(s->size, sizeof(uint64_t));
	s->old = calloc(s->size, sizeof(uint64_t));
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
	free(s);
}

static int lookup(const uint64_t *t, size_t size, uint64_t h, size_t *slot)
{
	size_t i = (size_t)h & (size - 1);

	while (t[i]) {
		if (t[i] == h)
			return 1;
		i = (i + 1) & (size - 1);
	}
	*slot = i;
	return 0;
}

/* t's keys in a new table of size slots (a power of two): NULL on no memory. */
static uint64_t *rehash(const uint64_t *t, size_t old_size, size_t size)
{
	uint64_t *n = calloc(size, sizeof(uint64_t));
	size_t slot;

	for (size_t i = 0; n && i < old_size; i++)
		if (t[i] && !lookup(n, size, t[i], &slot))
			n[slot] = t[i];
	return n;
}

int seen_fit(struct seen *s, size_t n)
{
	size_t window = s->window;
	uint64_t *cur, *old;

	while (window < 2 * n && window < SEEN_WINDOW_MAX)
		window *= 2;
	if (window == s->window)
		return 0;
	cur = rehash(s->cur, s->size, 2 * window);
	old = rehash(s->old, s->size, 2 * window);
	if (!cur || !old) {
		free(cur);
		free(old);
		return -1;
	}
	free(s->cur);
	free(s->old);
	s->cur = cur;
	s->old = old;
	s->window = window;
	s->size = 2 * window;
	return 0;
}

/* The \uXXXX digits at p (before end) into *out: 0, or -1 when they are not four. */
static int hex4(const char *p, const char *end, unsigned *out)
{
	long v = text_hex4(p, end);

	*out = (unsigned)v;
	return v < 0 ? -1 : 0;
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
		if (p[i] != 'u' || i + 4 >= len || hex4(p + i + 1, p + len, &cp)) {
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
		    p[i + 2] == 'u' && !hex4(p + i + 3, p + len, &lo) && lo >= 0xDC00 &&
		    lo < 0xE000) {
			n += text_put_utf8(d + n, 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00));
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
			n += text_put_utf8(d + n, cp);
		}
	}
	return n;
}

int seen_key(const char *unique, size_t len, uint64_t *key)
{
	char small[256] = "", *canon; /* zeroed: the compiler cannot see canonical fill it */
	size_t n;

	if (!memchr(unique, '\\', len)) {
		*key = hash_table(unique, len);
		return 0;
	}
	canon = len <= sizeof(small) ? small : malloc(len);
	if (!canon)
		return -1;
	n = canonical(canon, unique, len);
	*key = hash_table(canon, n);
	if (canon != small)
		free(canon);
	return 0;
}

void seen_prefetch(const struct seen *s, uint64_t key)
{
	size_t i = (size_t)key & (s->size - 1);

	__builtin_prefetch(&s->old[i]);
	__builtin_prefetch(&s->cur[i]);
}

int seen_check(struct seen *s, uint64_t key)
{
	size_t slot, unused;

	if (lookup(s->old, s->size, key, &unused) || lookup(s->cur, s->size, key, &slot))
		return 1;
	if (s->ncur >= s->window) {
		uint64_t *t = s->old;

		s->old = s->cur;
		s->cur = t;
		memset(s->cur, 0, s->size * sizeof(uint64_t));
		s->ncur = 0;
		lookup(s->cur, s->size, key, &slot);
	}
	s->cur[slot] = key;
	s->ncur++;
	return 0;
}
