/*
 * seen: de-duplication by `unique` in a bounded window (SPEC §5.2, seen.h).
 * The guarantee tested precisely: after any number of insertions, every one
 * of the last SEEN_WINDOW distinct uniques is still reported as seen.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "seen.h"

static uint64_t hash_of(const char *s)
{
	return hash_bytes(s, strlen(s));
}

static uint64_t hash_n(unsigned long n)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "wamid.%08lx", n);

	return hash_bytes(tmp, (size_t)len);
}

/* A unique through seen_key and seen_check, as the workers and the consumer use them. */
static int check_bytes(struct seen *s, const char *u, size_t len)
{
	uint64_t key;

	assert_int_equal(seen_key(u, len, &key), 0);
	assert_true(key != 0);
	seen_prefetch(s, key);
	return seen_check(s, key);
}

static int check_n(struct seen *s, unsigned long n)
{
	char tmp[32];
	int len = snprintf(tmp, sizeof(tmp), "wamid.%08lx", n);

	return check_bytes(s, tmp, (size_t)len);
}

static int check_str(struct seen *s, const char *u)
{
	return check_bytes(s, u, strlen(u));
}

/*
 * The values themselves are part of the contract: --media-dir names the
 * file of a long id after its hash, so a changed function would download
 * the same media again under a new name. Tails of every length, and ids of
 * the API's shapes.
 */
static void test_hash_values_are_stable(void **state)
{
	static const struct {
		const char *s;
		uint64_t h;
	} want[] = {
		{ "", 0x9ca066f1a4ab2eeaULL },
		{ "a", 0xc156ad7df1c95db8ULL },
		{ "abcdefg", 0x8676590e1ef8cb4dULL },
		{ "abcdefgh", 0x5975d91f38247779ULL },
		{ "3EB062740078977EA9E5", 0xc84a8814f461980aULL },
		{ "false_972501234567@c.us_3EB0C431C4A4AB8A2E51_972502456323@c.us",
		  0x5918d600e6587d22ULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_true(hash_of(want[i].s) == want[i].h);
}

static void test_hash_determinism_and_differences(void **state)
{
	static const char *const ids[] = {
		"",
		"a",
		"b",
		"ab",
		"ba",
		"abcdefg",
		"abcdefgh",
		"abcdefghi",
		"abcdefgj",
		"3EB0C767D097B7B5E6D1",
		"3EB0C767D097B7B5E6D2",
		"IL.1605856887361213",
	};
	enum { N = sizeof(ids) / sizeof(ids[0]) };
	uint64_t h[N];

	(void)state;
	for (size_t i = 0; i < N; i++) {
		h[i] = hash_of(ids[i]);
		assert_true(h[i] != 0); /* 0 marks an empty slot */
		assert_true(h[i] == hash_of(ids[i]));
	}
	for (size_t i = 0; i < N; i++)
		for (size_t j = i + 1; j < N; j++)
			assert_true(h[i] != h[j]);
	/* The length is part of the key: a NUL byte and a shorter span differ. */
	assert_true(hash_bytes("abc\0", 4) != hash_bytes("abc", 3));
	assert_true(hash_bytes("\0", 1) != hash_bytes("", 0));
	assert_true(hash_bytes("\0\0\0\0\0\0\0\0", 8) != hash_bytes("\0\0\0\0\0\0\0", 7));
	/* Only the span counts, not what lies after it. */
	assert_true(hash_bytes("uniqueXYZ", 6) == hash_of("unique"));
	/* No collisions among many similar ids. */
	{
		enum { M = 200000 };
		static uint64_t all[M];

		for (unsigned long i = 0; i < M; i++)
			all[i] = hash_n(i);
		for (unsigned long i = 0; i < M; i++) {
			/* Cheap check: compare with neighbours in a few strides. */
			for (unsigned long d = 1; d <= 64 && i + d < M; d *= 2)
				assert_true(all[i] != all[i + d]);
		}
	}
}

/*
 * Pages larger than the window (a server may send 256 Ki messages a page):
 * seen_fit grows it to two such pages, keeping what it holds, so a page sent
 * again is still known. Pages of 70,000 were all written again, each time.
 */
static void test_fit_holds_two_pages_of_any_size(void **state)
{
	enum { PAGE = 70000 };
	struct seen *s = seen_new();

	(void)state;
	assert_non_null(s);
	for (unsigned long i = 0; i < 1000; i++)
		assert_int_equal(seen_check(s, hash_n(i)), 0);
	assert_int_equal(seen_fit(s, PAGE), 0);
	assert_int_equal(seen_check(s, hash_n(999)), 1); /* kept across the growth */
	for (unsigned long i = 1000; i < 1000 + 2 * PAGE; i++)
		assert_int_equal(seen_check(s, hash_n(i)), 0);
	for (unsigned long i = 1000; i < 1000 + 2 * PAGE; i++)
		assert_int_equal(seen_check(s, hash_n(i)), 1);
	assert_int_equal(seen_fit(s, 10 * 1000 * 1000), 0); /* capped: SEEN_WINDOW_MAX */
	seen_free(s);
}

/*
 * The tables' hash is seeded per process: ids a server picked so that their
 * fixed hashes share their low bits (one run of slots, every insert walking
 * the others: minutes for one page) spread out under it, and it is the same
 * within the run. seen_key uses it.
 */
static void test_table_hash_is_seeded(void **state)
{
	char id[32];
	unsigned picked = 0, clustered = 0;
	uint64_t key;

	(void)state;
	assert_true(hash_table("abc", 3) == hash_table("abc", 3));
	assert_true(hash_table("abc", 3) != hash_bytes("abc", 3));
	assert_int_equal(seen_key("abc", 3, &key), 0);
	assert_true(key == hash_table("abc", 3));
	for (unsigned long i = 0; i < 2000000 && picked < 200; i++) {
		int n = snprintf(id, sizeof(id), "k%07lx", i);

		if (hash_bytes(id, (size_t)n) & 0xfff)
			continue;
		picked++; /* low 12 bits 0 under the fixed hash */
		clustered += !(hash_table(id, (size_t)n) & 0xfff);
	}
	assert_true(picked >= 100);
	assert_true(clustered <= 3); /* ~0.05 expected by chance */
	/*
	 * Keyed, not merely seeded: under a seed mixed into hash_bytes's start,
	 * bytes 7 and 15 flipped by 0x80 and byte 12 by 0x04 met under every seed.
	 */
	{
		char a[] = "ABCDEFGAIJKLMNOPQRST", b[sizeof(a)];

		memcpy(b, a, sizeof(a));
		b[7] ^= (char)0x80;
		b[12] ^= 0x04;
		b[15] ^= (char)0x80;
		assert_true(hash_table(a, 20) != hash_table(b, 20));
	}
}

static void test_check_first_then_duplicate(void **state)
{
	struct seen *s = seen_new();

	(void)state;
	assert_non_null(s);
	assert_int_equal(check_str(s, "m1"), 0);
	assert_int_equal(check_str(s, "m1"), 1);
	assert_int_equal(check_str(s, "m1"), 1);
	assert_int_equal(check_str(s, "m2"), 0);
	assert_int_equal(check_str(s, "m2"), 1);
	assert_int_equal(check_str(s, "m1"), 1);
	assert_int_equal(check_str(s, ""), 0);
	assert_int_equal(check_str(s, ""), 1);
	seen_free(s);
}

/* Insert n distinct hashes, then check that the last SEEN_WINDOW are all remembered. */
static void window_after(unsigned long n)
{
	struct seen *s = seen_new();
	unsigned long first = n > SEEN_WINDOW ? n - SEEN_WINDOW : 0;

	assert_non_null(s);
	for (unsigned long i = 0; i < n; i++)
		assert_int_equal(check_n(s, i), 0);
	/*
	 * A remembered hash is not inserted again, so checking the window does
	 * not change it; newest first, so a forgotten one would show as the
	 * first failure rather than disturb the rest. Checked once: a second
	 * check_n would find the forgotten one just inserted again.
	 */
	for (unsigned long i = n; i-- > first;) {
		int r = check_n(s, i);

		if (r != 1)
			fprintf(stderr, "after %lu insertions, #%lu (%lu back) is forgotten\n", n,
				i, n - i);
		assert_int_equal(r, 1);
	}
	/* Something never inserted is new. */
	assert_int_equal(check_n(s, n + 1000000), 0);
	seen_free(s);
}

static void test_window_guarantee(void **state)
{
	static const unsigned long counts[] = {
		1,
		100,
		SEEN_WINDOW - 1,
		SEEN_WINDOW,
		SEEN_WINDOW + 1,
		2 * SEEN_WINDOW - 1,
		2 * SEEN_WINDOW,
		2 * SEEN_WINDOW + 1,
		3 * SEEN_WINDOW + 12345,
		7 * SEEN_WINDOW + 3,
	};

	(void)state;
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		window_after(counts[i]);
}

/* Interleaved duplicates (a page shifted by a few messages) never count as new. */
static void test_shifted_pages(void **state)
{
	struct seen *s = seen_new();
	unsigned long next = 0, dups = 0, fresh = 0;

	(void)state;
	assert_non_null(s);
	/* Pages of 50, each repeating the last 3 of the previous page, for 5 windows. */
	for (int page = 0; page < (int)(5 * SEEN_WINDOW / 47); page++) {
		unsigned long startp = next >= 3 ? next - 3 : 0;

		for (unsigned long i = startp; i < startp + 50; i++) {
			int r = check_n(s, i);

			if (i < next) {
				assert_int_equal(r, 1);
				dups++;
			} else {
				assert_int_equal(r, 0);
				fresh++;
			}
		}
		next = startp + 50;
	}
	assert_int_equal(fresh, next);
	assert_true(dups > 0);
	seen_free(s);
}

/*
 * A page shifted by a few messages right after a generation switch: its
 * repeats are in the old generation only, and still seen (the case of a
 * lookup in the current generation alone).
 */
static void test_shifted_page_after_generation_switch(void **state)
{
	(void)state;
	for (unsigned long gens = 1; gens <= 2; gens++) {
		struct seen *s = seen_new();
		unsigned long sw = gens * SEEN_WINDOW; /* the first message of a new generation */

		assert_non_null(s);
		for (unsigned long i = 0; i <= sw; i++)
			assert_int_equal(check_n(s, i), 0);
		/* The next page starts 3 back: the last 3 before the switch, then #sw. */
		for (unsigned long i = sw - 3; i <= sw; i++) {
			int r = check_n(s, i);

			if (r != 1)
				fprintf(stderr,
					"switch at #%lu: #%lu on the shifted page is new again\n",
					sw, i);
			assert_int_equal(r, 1);
		}
		assert_int_equal(check_n(s, sw + 1), 0);
		seen_free(s);
	}
}

/* The early ones may be forgotten: memory is bounded (seen.h). */
static void test_bounded_memory_forgets_old(void **state)
{
	struct seen *s = seen_new();
	unsigned long forgotten = 0;

	(void)state;
	assert_non_null(s);
	for (unsigned long i = 0; i < 4 * SEEN_WINDOW; i++)
		assert_int_equal(check_n(s, i), 0);
	/* The first window is long gone (at most two generations of SEEN_WINDOW are kept). */
	for (unsigned long i = 0; i < 1000; i++)
		forgotten += check_n(s, i) == 0;
	assert_int_equal(forgotten, 1000);
	seen_free(s);
}

/* SPEC §5.7: uniques are compared decoded; strings that differ stay apart. */
static void test_uniques_compare_as_decoded_strings(void **state)
{
	struct seen *s = seen_new();

	(void)state;
	assert_non_null(s);
	assert_int_equal(check_str(s, "d"), 0);
	assert_int_equal(check_str(s, "\\u0064"), 1); /* \u0064 is d */
	assert_int_equal(check_str(s, "\\u05e9x"), 0);
	assert_int_equal(check_str(s, "\xd7\xa9x"), 1); /* the same letter, raw UTF-8 */
	assert_int_equal(check_str(s, "\\ud83d\\ude00"), 0);
	assert_int_equal(check_str(s, "\xf0\x9f\x98\x80"), 1);
	assert_int_equal(check_str(s, "a\\/b"), 0);
	assert_int_equal(check_str(s, "a/b"), 1);
	/* Each of these would be U+FFFD decoded; as uniques they are four messages. */
	assert_int_equal(check_str(s, "a\\u0000b"), 0);
	assert_int_equal(check_str(s, "a\\ufffdb"), 0);
	assert_int_equal(check_str(s, "a\\ud800b"), 0);
	assert_int_equal(check_str(s, "a\\udbffb"), 0);
	assert_int_equal(check_str(s, "a\\uD800b"), 1); /* hex case does not matter */
	/* An escaped backslash followed by "ud800" is another string again. */
	assert_int_equal(check_str(s, "a\\\\ud800b"), 0);
	seen_free(s);
}

/*
 * Whether b is seen after a, in a set holding a alone: nothing else
 * inserted can stand in for a (as "a\ud800b" would for a backslash decoded
 * undoubled).
 */
static int second_seen(const char *a, const char *b)
{
	struct seen *s = seen_new();
	int r;

	assert_non_null(s);
	assert_int_equal(check_str(s, a), 0);
	r = check_str(s, b);
	seen_free(s);
	return r;
}

static void assert_same(const char *a, const char *b)
{
	int r = second_seen(a, b);

	if (r != 1)
		fprintf(stderr, "'%s' then '%s': one string, written twice\n", a, b);
	assert_int_equal(r, 1);
}

static void assert_apart(const char *a, const char *b)
{
	int r = second_seen(a, b);

	if (r != 0)
		fprintf(stderr, "'%s' then '%s': two strings, the second lost\n", a, b);
	assert_int_equal(r, 0);
}

/* A backslash is one string however it is escaped, and never the start of an escape. */
static void test_escaped_backslash(void **state)
{
	(void)state;
	assert_same("a\\\\b", "a\\u005cb"); /* \u005c is a backslash */
	assert_same("a\\u005cb", "a\\\\b");
	assert_same("a\\\\b", "a\\u005Cb");
	assert_same("a\\\\ud800b", "a\\u005cud800b");
	/* A lone surrogate and a backslash followed by "ud800" text. */
	assert_apart("X\\ud800", "X\\u005cud800");
	assert_apart("X\\u005cud800", "X\\ud800");
	assert_apart("X\\ud800", "X\\\\ud800");
}

/* A pair is a high surrogate then a low one, D800-DBFF then DC00-DFFF, nothing else. */
static void test_surrogate_pairs(void **state)
{
	(void)state;
	assert_same("Y\\ud801\\udc00", "Y\xf0\x90\x90\x80"); /* U+10400 */
	assert_same("Y\\udbff\\udfff", "Y\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last pair */
	/* U+E000 is no low surrogate: a lone D800, then U+E000. */
	assert_same("Y\\ud800\\ue000", "Y\\ud800\xee\x80\x80");
	assert_apart("Y\\ud800\\ue000", "Y\\ud801\\udc00");
	assert_apart("Y\\ud801\\udc00", "Y\\ud800\\ue000");
	/* Two high surrogates are two lone ones, not a pair. */
	assert_apart("Y\\ud800\\udbff", "Y\\ud800\\udc00");
}

/* A unique longer than seen_key's stack buffer takes the allocated path: the same keys. */
static void test_long_escaped_uniques(void **state)
{
	struct seen *s = seen_new();
	char plain[1001], escaped[1006];

	(void)state;
	assert_non_null(s);
	memset(plain, 'a', 999);
	plain[999] = 'd';
	plain[1000] = '\0';
	memcpy(escaped, plain, 999);
	memcpy(escaped + 999, "\\u0064", 7); /* \u0064 is d */
	assert_int_equal(check_str(s, plain), 0);
	assert_int_equal(check_bytes(s, escaped, sizeof(escaped) - 1), 1);
	escaped[1004] = '5'; /* \u0065 is e: another string */
	assert_int_equal(check_bytes(s, escaped, sizeof(escaped) - 1), 0);
	seen_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_values_are_stable),
		cmocka_unit_test(test_hash_determinism_and_differences),
		cmocka_unit_test(test_fit_holds_two_pages_of_any_size),
		cmocka_unit_test(test_table_hash_is_seeded),
		cmocka_unit_test(test_check_first_then_duplicate),
		cmocka_unit_test(test_window_guarantee),
		cmocka_unit_test(test_shifted_pages),
		cmocka_unit_test(test_shifted_page_after_generation_switch),
		cmocka_unit_test(test_bounded_memory_forgets_old),
		cmocka_unit_test(test_uniques_compare_as_decoded_strings),
		cmocka_unit_test(test_escaped_backslash),
		cmocka_unit_test(test_surrogate_pairs),
		cmocka_unit_test(test_long_escaped_uniques),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
