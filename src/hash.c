#include "hash.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

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
uint64_t hash_bytes(const char *p, size_t len)
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

/*
 * hash_table: SipHash-1-3 (Aumasson and Bernstein's keyed hash, one round a
 * word and three at the end) under a key drawn once per process. A seed
 * merely mixed into hash_bytes's start was not enough: a difference in the
 * top bit of one word reaches only two bits of its state, which the next
 * word can cancel, so a server could still make two uniques meet whatever
 * the seed. A keyed hash is built so that it cannot.
 */
static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static inline void sip_round(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = rotl(v[1], 13) ^ v[0];
	v[0] = rotl(v[0], 32);
	v[2] += v[3];
	v[3] = rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = rotl(v[1], 17) ^ v[2];
	v[2] = rotl(v[2], 32);
}

static uint64_t siphash13(const uint64_t key[2], const char *p, size_t len)
{
	uint64_t v[4] = { key[0] ^ 0x736f6d6570736575ULL, key[1] ^ 0x646f72616e646f6dULL,
			  key[0] ^ 0x6c7967656e657261ULL, key[1] ^ 0x7465646279746573ULL };
	uint64_t m, last = (uint64_t)len << 56;

	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&m, p, 8); /* in memory only: the byte order does not matter */
		v[3] ^= m;
		sip_round(v);
		v[0] ^= m;
	}
	for (size_t i = 0; i < len; i++)
		last |= (uint64_t)(unsigned char)p[i] << (8 * i);
	v[3] ^= last;
	sip_round(v);
	v[0] ^= last;
	v[2] ^= 0xff;
	sip_round(v);
	sip_round(v);
	sip_round(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

static uint64_t table_key[2];
static pthread_once_t table_key_once = PTHREAD_ONCE_INIT;

static void draw_table_key(void)
{
	struct timespec t;

	if (getrandom(table_key, sizeof(table_key), GRND_NONBLOCK) == sizeof(table_key))
		return;
	/* no entropy yet (early boot): the clock, still unknown to a server in advance */
	clock_gettime(CLOCK_MONOTONIC, &t);
	table_key[0] = mix((uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 32) ^ (uint64_t)getpid());
	clock_gettime(CLOCK_REALTIME, &t);
	table_key[1] = mix((uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 20) ^ table_key[0]);
}

uint64_t hash_table(const char *p, size_t len)
{
	uint64_t h;

	pthread_once(&table_key_once, draw_table_key);
	h = siphash13(table_key, p, len);
	return h ? h : 1; /* 0 marks an empty slot */
}
