/*
 * outpath: the -o template (SPEC §2, §4.5) and what a path's extension
 * implies.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "outpath.h"

static void expands_to(const char *tmpl, const char *from, const char *to, const char *date,
		       const char *want)
{
	struct outpath_vars v = { .from = from, .to = to, .date = date };
	struct err e;
	char *out = NULL;

	memset(&e, 0, sizeof(e));
	if (outpath_expand(tmpl, &v, &out, &e))
		fprintf(stderr, "'%s': %s\n", tmpl, e.msg);
	assert_non_null(out);
	assert_string_equal(out, want);
	free(out);
}

static void refused(const char *tmpl, const char *from, const char *to, const char *date,
		    const char *in_msg)
{
	struct outpath_vars v = { .from = from, .to = to, .date = date };
	struct err e;
	char *out = NULL;

	memset(&e, 0, sizeof(e));
	assert_int_equal(outpath_expand(tmpl, &v, &out, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_null(out);
	if (in_msg && !strstr(e.msg, in_msg))
		fprintf(stderr, "'%s' not in '%s'\n", in_msg, e.msg);
	if (in_msg)
		assert_non_null(strstr(e.msg, in_msg));
}

static void test_expand_plain_and_date(void **state)
{
	(void)state;
	expands_to("out.csv", NULL, NULL, "2024-03-29", "out.csv");
	expands_to("", NULL, NULL, "2024-03-29", "");
	expands_to("/var/exports/chats.ndjson.gz", NULL, NULL, "2024-03-29",
		   "/var/exports/chats.ndjson.gz");
	expands_to("out-{date}.csv", NULL, NULL, "2024-03-29", "out-2024-03-29.csv");
	expands_to("{date}/{date}.csv", NULL, NULL, "2024-03-29", "2024-03-29/2024-03-29.csv");
	expands_to("{date}", "972501234567", NULL, "2021-02-24", "2021-02-24");
}

static void test_expand_from_to(void **state)
{
	(void)state;
	expands_to("{from}/{to}.csv", "972501234567", "972509876543", "2024-03-29",
		   "972501234567/972509876543.csv");
	expands_to("x-{from}-{to}-{date}.csv.gz", "972501234567", "IL.1605856887361213",
		   "2024-03-29", "x-972501234567-IL.1605856887361213-2024-03-29.csv.gz");
	/* No --to: the whole account. */
	expands_to("{from}-{to}.csv", "972501234567", NULL, "2024-03-29", "972501234567-all.csv");
}

static void test_expand_sanitizes_values(void **state)
{
	(void)state;
	/* Nothing in a value can climb out of the directory or add one. */
	expands_to("out/{to}.csv", "1", "../../x", "d", "out/.._.._x.csv");
	expands_to("out/{to}.csv", "1", "..", "d", "out/_.csv");
	expands_to("out/{to}.csv", "1", ".", "d", "out/_.csv");
	expands_to("out/{to}.csv", "1", "...", "d", "out/_.csv");
	expands_to("out/{to}.csv", "1", "/etc/passwd", "d", "out/_etc_passwd.csv");
	expands_to("out/{to}.csv", "1", "a b\\c:d*e?f\"g<h>i|j", "d",
		   "out/a_b_c_d_e_f_g_h_i_j.csv");
	expands_to("out/{to}.csv", "1", "", "d", "out/_.csv");
	expands_to("out/{to}.csv", "1", "+972-50.x_y", "d", "out/+972-50.x_y.csv");
	expands_to("out/{to}.csv", "1", "\xD7\xA9\xD7\x9C", "d", "out/____.csv");
	expands_to("out/{to}.csv", "1", "a\nb", "d", "out/a_b.csv");
	expands_to("out/{from}.csv", "../..", NULL, "d", "out/.._...csv");
	expands_to("out/{date}.csv", NULL, NULL, "../x", "out/.._x.csv");
}

static void test_expand_errors(void **state)
{
	(void)state;
	refused("out-{nope}.csv", "1", "2", "d", "{nope}");
	refused("out-{FROM}.csv", "1", "2", "d", NULL);
	refused("out-{date.csv", "1", "2", "d", NULL);
	refused("out-{}.csv", "1", "2", "d", NULL);
	/* convert knows no account: {from} and {to} are usage errors there. */
	refused("out-{from}.csv", NULL, NULL, "d", "{from}");
	refused("out-{to}.csv", NULL, NULL, "d", "{to}");
	refused("{date}-{from}.csv", NULL, "2", "d", "{from}");
}

/* {chat}: one file per conversation (SPEC §4.5). */
static void test_expand_chat(void **state)
{
	struct outpath_vars v = { .from = "972501234567", .to = NULL, .date = "2024-03-29" };
	struct err e;
	char *out = NULL;

	(void)state;
	/* Kept for later, while the other placeholders expand now. */
	v.keep_chat = 1;
	assert_int_equal(outpath_expand("{from}/{chat}-{date}.csv", &v, &out, &e), 0);
	assert_string_equal(out, "972501234567/{chat}-2024-03-29.csv");
	free(out);
	/* Then per chat, sanitized like the others. */
	v.keep_chat = 0;
	v.chat = "IL.1605856887361213";
	assert_int_equal(outpath_expand("{from}/{chat}.csv", &v, &out, &e), 0);
	assert_string_equal(out, "972501234567/IL.1605856887361213.csv");
	free(out);
	v.chat = "../../etc";
	assert_int_equal(outpath_expand("out/{chat}.csv", &v, &out, &e), 0);
	assert_string_equal(out, "out/.._.._etc.csv");
	free(out);
	v.chat = "..";
	assert_int_equal(outpath_expand("out/{chat}.csv", &v, &out, &e), 0);
	assert_string_equal(out, "out/_.csv");
	free(out);
	out = NULL;
	/* Without a chat to put there, {chat} is a usage error like any unknown name. */
	v.chat = NULL;
	memset(&e, 0, sizeof(e));
	assert_int_equal(outpath_expand("out/{chat}.csv", &v, &out, &e), -1);
	assert_int_equal(e.kind, ERR_USAGE);
	assert_null(out);
}

/* The files of every day and chat of a template, and nothing else. */
static void test_family(void **state)
{
	struct outpath_vars v = { .from = "972501234567", .to = "9725*", .date = "2026-12-05" };
	struct err e;
	char *f = NULL;

	(void)state;
	assert_int_equal(outpath_family("/x/{from}-{to}-{date}.csv", &v, &f, &e), 0);
	assert_string_equal(f, "/x/972501234567-9725_-YYYY-MM-DD.csv");
	assert_true(outpath_matches(f + 3, "972501234567-9725_-2026-12-03.csv"));
	assert_false(outpath_matches(f + 3, "972501234567-9725_-2026-12-03.csv.gz"));
	assert_false(outpath_matches(f + 3, "972501234567-9725_-2026-1-03.csv"));
	assert_false(outpath_matches(f + 3, "111-9725_-2026-12-03.csv"));
	free(f);
	assert_int_equal(outpath_family("{chat}/{date}", &v, &f, &e), 0);
	assert_string_equal(f, "{chat}/YYYY-MM-DD");
	free(f);
	assert_int_equal(outpath_family("night-{chat}-{date}.ndjson", &v, &f, &e), 0);
	assert_true(outpath_matches(f, "night-972509876543-2026-12-03.ndjson"));
	assert_true(outpath_matches(f, "night-IL.160-5-2026-12-03.ndjson")); /* a - in the chat */
	assert_false(outpath_matches(f, "night--2026-12-03.ndjson"));        /* no chat */
	assert_false(outpath_matches(f, "night-a/b-2026-12-03.ndjson"));
	free(f);
}

static void test_uses(void **state)
{
	(void)state;
	assert_true(outpath_uses("out/{to}.csv", "{to}"));
	assert_false(outpath_uses("out/{from}.csv", "{to}"));
	assert_true(outpath_uses("{date}", "{date}"));
	assert_false(outpath_uses("out.csv", "{date}"));
}

static void test_sanitize(void **state)
{
	char out[8];

	(void)state;
	outpath_sanitize("abc", out, sizeof(out));
	assert_string_equal(out, "abc");
	outpath_sanitize("abcdefghijk", out, sizeof(out));
	assert_string_equal(out, "abcdefg");
	outpath_sanitize("..", out, sizeof(out));
	assert_string_equal(out, "_");
	outpath_sanitize("", out, sizeof(out));
	assert_string_equal(out, "_");
	outpath_sanitize("a/b", out, sizeof(out));
	assert_string_equal(out, "a_b");
	/* Cut to a run of dots by the size: still not a directory name. */
	outpath_sanitize("........x", out, 3);
	assert_string_equal(out, "_");
}

static void infers(const char *path, int ndjson, int gzip)
{
	int n = -1, g = -1;

	outpath_infer(path, &n, &g);
	if (n != ndjson || g != gzip)
		fprintf(stderr, "'%s': ndjson %d gzip %d\n", path, n, g);
	assert_int_equal(n, ndjson);
	assert_int_equal(g, gzip);
}

static void test_infer(void **state)
{
	(void)state;
	infers("out.csv", 0, 0);
	infers("out.csv.gz", 0, 1);
	infers("out.ndjson", 1, 0);
	infers("out.ndjson.gz", 1, 1);
	infers("out.jsonl", 1, 0);
	infers("out.jsonl.gz", 1, 1);
	infers("out.txt", 0, 0);
	infers("out.gz", 0, 1);
	infers("out", 0, 0);
	infers("", 0, 0);
	infers("-", 0, 0);
	infers("out.json", 0, 0);
	infers("dir.ndjson/out.csv", 0, 0);
	infers("out.gz.csv", 0, 0);
	infers("/x/{to}-{date}.jsonl.gz", 1, 1);
	infers(".ndjson", 1, 0);
	infers("ndjson", 0, 0);
	infers("out.xlsx", OUTPATH_XLSX, 0);
	infers("dir/Out.XLSX", OUTPATH_XLSX, 0);
	infers("out.xlsx.gz", OUTPATH_XLSX, 1);
	infers("out.xlsx.csv", OUTPATH_CSV, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expand_plain_and_date),
		cmocka_unit_test(test_expand_from_to),
		cmocka_unit_test(test_expand_sanitizes_values),
		cmocka_unit_test(test_expand_errors),
		cmocka_unit_test(test_expand_chat),
		cmocka_unit_test(test_family),
		cmocka_unit_test(test_uses),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_infer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
