/*
 * keyset: which JSON object keys have been seen, compared decoded ("a" and
 * "\u0061" are one key), in time linear in the keys' length whatever their
 * number: a hash table of spans into one buffer of decoded text. The page
 * stage uses it to keep the first of repeated keys (SPEC §5.7). A keyset
 * owns its memory and is confined to its owner's thread.
 */
#ifndef WAEXPORT_KEYSET_H
#define WAEXPORT_KEYSET_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct keyset {
	struct buf text;   /* the decoded keys, end to end */
	size_t *off, *len; /* span of each key kept */
	size_t cap;        /* keys the spans have room for */
	uint32_t *slot;    /* hash table: index of a key, or UINT32_MAX */
	size_t nslot, slot_cap;
	size_t n;
};

/* Empty the set for up to n raw keys of `bytes` bytes in all. -1 on ENOMEM. */
int keyset_start(struct keyset *ks, size_t n, size_t bytes);

/* Add a raw key (a JSON string body): 1 when it is new, 0 when seen before. */
int keyset_add(struct keyset *ks, const char *raw, size_t len);

void keyset_free(struct keyset *ks);

#endif
