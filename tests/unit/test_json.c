/*
 * json: the pre-scan's block scanner (json_scan.c) against its byte-by-byte
 * scanner, which the limit and refusal tests in test_page.c pin to the SPEC.
 * Taking whole blocks must stop at the same byte with the same message and
 * leave the same state, on whole bodies and on bodies that arrive a piece
 * at a time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* What one scan ended with. */
struct outcome {
	int rc;
	long long offset;
	char msg[sizeof(((struct err *)0)->msg)];
	struct json_scan scan;
};

static unsigned long long rng = 0x9e3779b97f4a7c15ULL;

static unsigned next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned)(rng >> 32);
}

/*
 * Bodies of the bytes the scanners tell apart, weighted towards strings
 * and brackets, with NUL, control bytes and UTF-8 now and then.
 */
static size_t random_body(char *b, size_t cap)
{
	static const char alphabet[] = "\"\"\"\"\\\\\\[[]]{{}}abcu0,: \n\t\x01\x1f\xd7\x90\x7f";
	size_t n = next() % cap;

	for (size_t i = 0; i < n; i++)
		b[i] = (next() % 97) ? alphabet[next() % (sizeof(alphabet) - 1)] : '\0';
	return n;
}

/* Scan body in pieces of at most `step` bytes (all of it at once when step is 0). */
static void scan(int blocks, const char *body, size_t len, size_t step, struct outcome *o)
{
	struct json j;
	struct err e;
	size_t have = 0;

	assert_int_equal(json_init(&j), 0);
	j.blocks = blocks;
	memset(&e, 0, sizeof(e));
	memset(o, 0, sizeof(*o));
	do {
		have = step && len - have > step ? have + 1 + next() % step : len;
		o->rc = json_scan(&j.scan, j.blocks, body, have, &e);
	} while (!o->rc && have < len);
	if (o->rc) {
		o->offset = e.offset;
		snprintf(o->msg, sizeof(o->msg), "%s", e.msg);
	}
	o->scan = j.scan;
	json_free(&j);
}

static void assert_same(const struct outcome *a, const struct outcome *b, const char *body,
			size_t len)
{
	/* After a refusal the state is dropped with the body: only where and why count. */
	int state_differs =
		!a->rc &&
		(a->scan.pos != b->scan.pos || a->scan.root_start != b->scan.root_start ||
		 a->scan.root_end != b->scan.root_end || a->scan.depth != b->scan.depth ||
		 a->scan.in_string != b->scan.in_string || a->scan.escaped != b->scan.escaped);

	if (a->rc != b->rc || a->offset != b->offset || strcmp(a->msg, b->msg) || state_differs) {
		fprintf(stderr, "body of %zu bytes:", len);
		for (size_t i = 0; i < len; i++)
			fprintf(stderr, " %02x", (unsigned char)body[i]);
		fprintf(stderr,
			"\nrc %d/%d offset %lld/%lld msg '%s'/'%s' pos %zu/%zu end %zu/%zu depth %u/%u str %d/%d esc %d/%d start %zu/%zu\n",
			a->rc, b->rc, a->offset, b->offset, a->msg, b->msg, a->scan.pos,
			b->scan.pos, a->scan.root_end, b->scan.root_end, a->scan.depth,
			b->scan.depth, a->scan.in_string, b->scan.in_string, a->scan.escaped,
			b->scan.escaped, a->scan.root_start, b->scan.root_start);
		fail();
	}
}

/* Blocks and bytes, and bytes against themselves in pieces, on random bodies. */
static void test_block_scanners_agree_with_bytes(void **state)
{
	char body[700];
	unsigned compared = 0;

	(void)state;
	for (int n = 0; n < 40000; n++) {
		size_t len = random_body(body, sizeof(body));
		struct outcome bytes, other;

		scan(0, body, len, 0, &bytes);
		for (int blocks = 0; blocks <= 1; blocks++) {
			scan(blocks, body, len, 0, &other);
			assert_same(&bytes, &other, body, len);
			scan(blocks, body, len, 1 + next() % 150, &other);
			assert_same(&bytes, &other, body, len);
			compared++;
		}
	}
	assert_int_equal(compared, 80000);
}

/* A long valid body: every scanner finds its end, and the blocks run over most of it. */
static void test_block_scanners_find_the_end(void **state)
{
	char body[4096];
	size_t n = 0;

	(void)state;
	body[n++] = '[';
	while (n < sizeof(body) - 80) {
		n += (size_t)snprintf(body + n, sizeof(body) - n,
				      "{\"m\":\"a \\\\\\\"b\\u05e9 [{\",\"n\":[1,{}]},");
	}
	body[n - 1] = ']';
	for (int blocks = 0; blocks <= 1; blocks++) {
		struct outcome o;

		scan(blocks, body, n, 0, &o);
		assert_int_equal(o.rc, 0);
		assert_int_equal(o.scan.root_end, n);
		assert_int_equal(o.scan.depth, 0);
	}
}

/*
 * A backslash outside strings is refused where it stands, in both scanners
 * (the block scanner would otherwise take it as escaping the next quote).
 */
static void test_backslash_outside_strings(void **state)
{
	char body[200];

	(void)state;
	memset(body, ' ', sizeof(body));
	memcpy(body, "[1,\\\"a\"", 7);
	body[sizeof(body) - 1] = ']';
	for (int blocks = 0; blocks <= 1; blocks++) {
		struct outcome o;

		scan(blocks, body, sizeof(body), 0, &o);
		assert_int_equal(o.rc, -1);
		assert_int_equal(o.offset, 3);
		assert_non_null(strstr(o.msg, "unexpected '\\'"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_scanners_agree_with_bytes),
		cmocka_unit_test(test_block_scanners_find_the_end),
		cmocka_unit_test(test_backslash_outside_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
