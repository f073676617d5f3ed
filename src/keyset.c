#include "keyset.h"
#include "hash.h"
#include "text.h"

#include <stdlib.h>
#include <string.h>

int keyset_start(struct keyset *ks, size_t n, size_t bytes)
{
	size_t slots = 16;

	while (slots < 2 * n)
		slots *= 2;
	ks->text.len = 0;
	ks->n = 0;
	if (buf_reserve(&ks->text, TEXT_DECODE_MAX(bytes)))
		return -1;
	if (n > ks->cap) {
		size_t *off = realloc(ks->off, n * sizeof(*off)), *len;

		if (off)
			ks->off = off;
		len = realloc(ks->len, n * sizeof(*len));
		if (len)
			ks->len = len;
		if (!off || !len)
			return -1;
		ks->cap = n;
	}
	if (slots > ks->slot_cap) {
		uint32_t *s = realloc(ks->slot, slots * sizeof(*s));

		if (!s)
			return -1;
		ks->slot = s;
		ks->slot_cap = slots;
	}
	ks->nslot = slots;
	memset(ks->slot, 0xff, slots * sizeof(*ks->slot));
	return 0;
}

int keyset_add(struct keyset *ks, const char *raw, size_t len)
{
	unsigned bad = 0;
	const char *k = ks->text.data + ks->text.len;
	size_t n = text_decode(ks->text.data + ks->text.len, raw, len, &bad);
	size_t mask = ks->nslot - 1, h = (size_t)hash_table(k, n) & mask;

	/* The table is at least twice the keys: a free slot ends every probe. */
	for (; ks->slot[h] != UINT32_MAX; h = (h + 1) & mask) {
		uint32_t i = ks->slot[h];

		if (ks->len[i] == n && (!n || !memcmp(ks->text.data + ks->off[i], k, n)))
			return 0;
	}
	ks->slot[h] = (uint32_t)ks->n;
	ks->off[ks->n] = ks->text.len;
	ks->len[ks->n] = n;
	ks->text.len += n;
	ks->n++;
	return 1;
}

void keyset_free(struct keyset *ks)
{
	buf_free(&ks->text);
	free(ks->off);
	free(ks->len);
	free(ks->slot);
	memset(ks, 0, sizeof(*ks));
}
