/*
 * hash: a 64-bit hash of bytes, for the tables keyed by names and ids
 * (de-duplication, chats, keys of a message) and for file names that must
 * stay the same from run to run (a long media or chat name ends in it):
 * its values are part of the contract, and a test pins them.
 */
#ifndef WAEXPORT_HASH_H
#define WAEXPORT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Never 0 (tables use 0 for an empty slot). */
uint64_t hash_bytes(const char *p, size_t len);

#endif
