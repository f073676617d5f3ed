/*
 * hash: a 64-bit hash of bytes. hash_bytes is for names that must stay the
 * same from run to run (a long media or chat file name ends in it): its
 * values are part of the contract, and a test pins them. hash_table is for
 * the tables keyed by what a server sends (de-duplication by unique, chats,
 * the keys of a message): a keyed hash (SipHash-1-3) under a key drawn at
 * random once per process, so no server can choose ids whose hashes pile up
 * in one run of slots (each insert then walks all the others: minutes for
 * one page) or meet (de-duplication would take a message for one already
 * written).
 */
#ifndef WAEXPORT_HASH_H
#define WAEXPORT_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Never 0 (tables use 0 for an empty slot). */
uint64_t hash_bytes(const char *p, size_t len);
uint64_t hash_table(const char *p, size_t len);

#endif
