/*
 * libFuzzer harness: the --state file's parser (state_format.c) on
 * arbitrary bytes (issue 14 item 4).
 *
 * Each input is parsed twice: as it is, and with a checksum line computed
 * for it appended (so that the fuzzer reaches the lines of a version-2 file
 * without having to forge its CRC-32). For each parse:
 *   - it never crashes, and a refusal is ERR_DATA with a message;
 *   - what it accepts, written back (state_format_write) and parsed again,
 *     gives the same checkpoints (from, to, time, uniques, head: every
 *     byte), but for checkpoints with neither uniques nor head, which the
 *     writer leaves out; and writing that again gives the same bytes.
 * Each broken invariant is a __builtin_trap(). Build and run: scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "state_impl.h"

#define CHECK(cond)                                                                              \
	do {                                                                                     \
		if (!(cond)) {                                                                   \
			fprintf(stderr, "fuzz_state: invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                                \
			__builtin_trap();                                                        \
		}                                                                                \
	} while (0)

static int same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static int kept(const struct checkpoint *c)
{
	return c->nuniques || c->nhead;
}

static void check_same_checkpoint(const struct checkpoint *a, const struct checkpoint *b)
{
	CHECK(same_str(a->from, b->from));
	CHECK(a->from != NULL);
	CHECK(same_str(a->to, b->to));
	CHECK(a->ts == b->ts);
	CHECK(a->nuniques == b->nuniques);
	for (size_t k = 0; k < a->nuniques; k++)
		CHECK(same_str(a->uniques[k], b->uniques[k]));
	CHECK(a->nhead == b->nhead && a->nhead <= STATE_HEAD_MAX);
	for (size_t k = 0; k < a->nhead; k++) {
		const struct state_head *x = &a->head[k], *y = &b->head[k];

		CHECK(x->len == y->len && !memcmp(x->unique, y->unique, x->len));
		CHECK(x->unique[x->len] == '\0');
		CHECK(x->ts_ok == y->ts_ok && (!x->ts_ok || x->ts == y->ts));
	}
}

/* The checkpoints of a that the writer keeps are those of b, in order. */
static void check_same_list(const struct state_cps *a, const struct state_cps *b)
{
	size_t j = 0;

	for (size_t i = 0; i < a->n; i++) {
		if (!kept(&a->cp[i]))
			continue;
		CHECK(j < b->n);
		check_same_checkpoint(&a->cp[i], &b->cp[j]);
		j++;
	}
	CHECK(j == b->n);
}

static void parse_and_round_trip(const char *data, size_t len)
{
	struct state_cps first = { 0 }, second = { 0 };
	struct buf out = BUF_INIT, again = BUF_INIT;
	struct err e;

	memset(&e, 0, sizeof(e));
	if (state_format_parse(data, len, "fuzz", &first, &e)) {
		CHECK(e.kind == ERR_DATA && e.msg[0]);
		goto done;
	}
	CHECK(state_format_write(&out, &first) == 0);
	memset(&e, 0, sizeof(e));
	if (state_format_parse(out.data, out.len, "fuzz", &second, &e))
		fprintf(stderr, "fuzz_state: accepted, written back, refused: %s\n", e.msg);
	CHECK(e.kind == ERR_NONE);
	check_same_list(&first, &second);
	CHECK(state_format_write(&again, &second) == 0);
	CHECK(again.len == out.len && !memcmp(again.data, out.data, out.len));
done:
	state_cps_free(&first);
	state_cps_free(&second);
	buf_free(&out);
	buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf sealed = BUF_INIT;
	char trailer[64];
	int n;

	parse_and_round_trip((const char *)data, size);
	/* The same bytes with their checksum line, as the writer would end them. */
	n = snprintf(trailer, sizeof(trailer), "crc32 %08lx %zu\n", crc32_z(0, data, size), size);
	CHECK(n > 0 && buf_add(&sealed, data, size) == 0 &&
	      buf_add(&sealed, trailer, (size_t)n) == 0);
	parse_and_round_trip(sealed.data, sealed.len);
	buf_free(&sealed);
	return 0;
}
