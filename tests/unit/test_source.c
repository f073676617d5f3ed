/*
 * source: convert's reader (source.h), for what fuzz_source found. A call
 * returns 0 only at the end of the input, whatever `want` is: a file that
 * starts with a UTF-8 byte-order mark still gives its bodies when each call
 * asks for fewer bytes than the mark is long.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "source.h"
#include "warn.h"

struct fx {
	char dir[256];
	char path[512];
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || testdir_make(fx->dir, sizeof(fx->dir), "test_source"))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/pages.jsonl", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	testdir_remove(fx->dir);
	free(fx);
	return 0;
}

static void write_file(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, strlen(data), f), strlen(data));
	assert_int_equal(fclose(f), 0);
}

/* Every body of path, read with `want`, joined by '|' into out. */
static void read_bodies(const char *path, size_t want, char *out, size_t cap)
{
	char *files[1] = { (char *)path };
	struct source *s = NULL;
	struct source_body b[8];
	struct buf dst = BUF_INIT;
	struct warn w;
	struct err e = { 0 };
	int got, calls = 0;

	out[0] = '\0';
	warn_init(&w, 1);
	assert_int_equal(source_open(&s, files, 1, NULL, &w, &e), 0);
	while ((got = source_fill(s, &dst, want, b, 8, &e)) > 0) {
		assert_true(++calls < 100);
		for (int k = 0; k < got; k++) {
			assert_true(strlen(out) + b[k].len + 2 < cap);
			strncat(out, dst.data + b[k].off, b[k].len);
			strcat(out, "|");
		}
		dst.len = 0;
	}
	assert_int_equal(got, 0);
	source_close(s);
	buf_free(&dst);
}

/* Found by fuzz_source: with want 1 to 3, the BOM alone ended the call, and 0 meant the end. */
static void test_a_bom_with_a_small_want_loses_no_body(void **state)
{
	struct fx *fx = *state;
	char got[256];

	write_file(fx->path, "\xef\xbb\xbf[1]\n[2]\n");
	for (size_t want = 1; want <= 8; want++) {
		read_bodies(fx->path, want, got, sizeof(got));
		assert_string_equal(got, "[1]|[2]\n|");
	}
	write_file(fx->path, "\xef\xbb\xbf\n;");
	read_bodies(fx->path, 1, got, sizeof(got));
	assert_string_equal(got, ";|");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_bom_with_a_small_want_loses_no_body, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
