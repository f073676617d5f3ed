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
static uint64_t hash_with(uint64_t seed, const char *p, size_t len)
{
	uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)len * 0xC2B2AE3D27D4EB4FULL) ^ seed;
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

uint64_t hash_bytes(const char *p, size_t len)
{
	return hash_with(0, p, len);
}

static uint64_t table_seed;
static pthread_once_t table_seed_once = PTHREAD_ONCE_INIT;

static void draw_table_seed(void)
{
	struct timespec t;

	if (getrandom(&table_seed, sizeof(table_seed), GRND_NONBLOCK) == sizeof(table_seed))
		return;
	/* no entropy yet (early boot): the clock, still unknown to a server in advance */
	clock_gettime(CLOCK_MONOTONIC, &t);
	table_seed = mix((uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 32) ^ (uint64_t)getpid());
}

uint64_t hash_table(const char *p, size_t len)
{
	pthread_once(&table_seed_once, draw_table_seed);
	return hash_with(table_seed, p, len);
}
