/*
 * cli, options, suggest, usage: the command line (SPEC §2) read against the
 * one option table: exact names, "did you mean", repeated options, the
 * `=` and short forms, which command takes what, and help and man page
 * rendered from the same rows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outpath.h"
#include "suggest.h"
#include "usage.h"

#define MAX_ARGS 24

struct parsed {
	struct options o;
	struct err e;
	int rc;
	char *argv[MAX_ARGS + 2];
};

/* Parse "waexport" followed by the NULL-terminated arguments. */
static struct parsed *parse_v(const char *first, va_list ap)
{
	struct parsed *p = calloc(1, sizeof(*p));
	int argc = 0;

	assert_non_null(p);
	p->argv[argc++] = (char *)"waexport";
	for (const char *a = first; a; a = va_arg(ap, const char *)) {
		assert_true(argc < MAX_ARGS);
		p->argv[argc++] = (char *)a;
	}
	p->rc = cli_parse(&p->o, argc, p->argv, &p->e);
	return p;
}

static void done(struct parsed *p)
{
	cli_free(&p->o);
	free(p);
}

/* The arguments parse; returns the result for more checks (caller: done). */
static struct parsed *ok(const char *first, ...)
{
	va_list ap;
	struct parsed *p;

	va_start(ap, first);
	p = parse_v(first, ap);
	va_end(ap);
	if (p->rc)
		fprintf(stderr, "unexpected error: %s\n", p->e.msg);
	assert_int_equal(p->rc, 0);
	return p;
}

/* The arguments are a usage error whose message holds `want`. */
static void usage_error(const char *want, const char *first, ...)
{
	va_list ap;
	struct parsed *p;

	va_start(ap, first);
	p = parse_v(first, ap);
	va_end(ap);
	if (p->rc != -1 || !strstr(p->e.msg, want))
		fprintf(stderr, "rc %d, message '%s', wanted '%s'\n", p->rc, p->e.msg, want);
	assert_int_equal(p->rc, -1);
	assert_int_equal(p->e.kind, ERR_USAGE);
	assert_non_null(strstr(p->e.msg, want));
	done(p);
}

/* ---------------------------------------------------------------- the table */

static void test_table_rows_are_well_formed(void **state)
{
	(void)state;
	for (int i = 0; i < OPT_COUNT; i++) {
		const struct options_row *r = &options_table[i];

		assert_int_equal(r->id, i);
		assert_non_null(r->name);
		assert_non_null(r->help);
		assert_true(r->commands != 0);
		assert_true((r->kind == OPTIONS_FLAG) == (r->arg == NULL));
		assert_ptr_equal(options_find(r->name, strlen(r->name)), r);
		if (r->letter)
			assert_ptr_equal(options_find_letter(r->letter), r);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(options_table[j].name, r->name);
	}
}

/* A value each row accepts. */
static const char *sample(const struct options_row *r, char *num, size_t size)
{
	switch (r->id) {
	case OPT_OUTPUT: return "out.csv";
	case OPT_FORMAT: return "ndjson";
	case OPT_ORDER: return "newest";
	case OPT_FROM: return "972501234567";
	case OPT_TO: return "IL.1605856887361213";
	default: break;
	}
	if (r->kind == OPTIONS_NUMBER) {
		snprintf(num, size, "%ld", r->hi);
		return num;
	}
	return "x";
}

/* cmd, what the row needs beside it, then the option itself (one or two words). */
static struct parsed *parse_row(const struct options_row *r, const char *cmd, const char *opt,
				const char *v)
{
	struct parsed *p = calloc(1, sizeof(*p));
	int argc = 0;

	assert_non_null(p);
	p->argv[argc++] = (char *)"waexport";
	p->argv[argc++] = (char *)cmd;
	if (!strcmp(cmd, "fetch") && r->id != OPT_FROM) {
		p->argv[argc++] = (char *)"--from";
		p->argv[argc++] = (char *)"972501234567";
	}
	if (r->id == OPT_LOOKBACK) {
		p->argv[argc++] = (char *)"--state";
		p->argv[argc++] = (char *)"s";
	}
	p->argv[argc++] = (char *)opt;
	if (v)
		p->argv[argc++] = (char *)v;
	p->rc = cli_parse(&p->o, argc, p->argv, &p->e);
	if (p->rc)
		fprintf(stderr, "%s %s %s: %s\n", cmd, opt, v ? v : "", p->e.msg);
	assert_int_equal(p->rc, 0);
	return p;
}

/* Every row parses, as --name value and as --name=value, with each command that takes it. */
static void test_every_row_parses(void **state)
{
	(void)state;
	for (int i = 0; i < OPT_COUNT; i++) {
		const struct options_row *r = &options_table[i];
		char num[32], opt[64], joined[128];
		const char *v = sample(r, num, sizeof(num));
		const char *cmds[] = { "fetch", "convert" };

		if (r->id == OPT_API_KEY)
			continue; /* refused by design, see below */
		snprintf(opt, sizeof(opt), "--%s", r->name);
		snprintf(joined, sizeof(joined), "--%s=%s", r->name, v);
		for (int c = 0; c < 2; c++) {
			if (!(r->commands & (c ? OPTIONS_CONVERT : OPTIONS_FETCH)))
				continue;
			done(parse_row(r, cmds[c], opt, r->kind == OPTIONS_FLAG ? NULL : v));
			if (r->kind != OPTIONS_FLAG)
				done(parse_row(r, cmds[c], joined, NULL));
			if (r->letter) {
				char letter[3] = { '-', r->letter, '\0' };

				done(parse_row(r, cmds[c], letter,
					       r->kind == OPTIONS_FLAG ? NULL : v));
			}
		}
	}
	usage_error("visible to every user", "convert", "--api-key", "secret", NULL);
}

static void test_values_land_in_their_fields(void **state)
{
	struct parsed *p;

	(void)state;
	p = ok("fetch", "--from", "972501234567", "--to", "972509876543", "--to=IL.12", "-o",
	       "x.ndjson.gz", "--threads", "3", "--gzip-level=4", "--order", "newest",
	       "--max-pages", "7", "-q", NULL);
	assert_string_equal(p->o.from, "972501234567");
	assert_int_equal(p->o.nto, 2);
	assert_string_equal(p->o.to[0], "972509876543");
	assert_string_equal(p->o.to[1], "IL.12");
	assert_string_equal(p->o.output, "x.ndjson.gz");
	assert_int_equal(p->o.threads, 3);
	assert_int_equal(p->o.gzip_level, 4);
	assert_int_equal(p->o.gzip, 1);
	assert_int_equal(p->o.order_newest, 1);
	assert_int_equal(p->o.max_pages, 7);
	assert_int_equal(p->o.quiet, 1);
	done(p);

	p = ok("convert", NULL);
	assert_string_equal(p->o.output, "-");
	assert_int_equal(p->o.threads, 0);
	assert_int_equal(p->o.gzip, -1);
	assert_int_equal(p->o.concurrency, 4);
	assert_string_equal(p->o.tz, "UTC");
	done(p);
}

/*
 * A default the help shows is the one a run takes: fetch without the option
 * parses to the same fetch, field by field, as with "--NAME DEFAULT".
 */
static void test_a_shown_default_is_the_value_a_run_takes(void **state)
{
	int rows = 0;

	(void)state;
	for (int i = 0; i < OPT_COUNT; i++) {
		const struct options_row *r = &options_table[i];
		struct parsed *with, *without;
		char name[64];

		if (!r->def)
			continue;
		assert_true(r->commands & OPTIONS_FETCH);
		snprintf(name, sizeof(name), "--%s", r->name);
		with = ok("fetch", "--from", "972501234567", name, r->def, NULL);
		without = ok("fetch", "--from", "972501234567", NULL);
		assert_int_equal(with->o.concurrency, without->o.concurrency);
		assert_int_equal(with->o.retries, without->o.retries);
		assert_int_equal(with->o.timeout, without->o.timeout);
		assert_string_equal(with->o.tz, without->o.tz);
		done(with);
		done(without);
		rows++;
	}
	assert_int_equal(rows, 4); /* --tz, --concurrency, --retries, --timeout */
}

/* ---------------------------------------------------------------- forms */

static void test_short_and_equals_forms(void **state)
{
	struct parsed *p;

	(void)state;
	p = ok("convert", "-oout.csv", "a.json", NULL);
	assert_string_equal(p->o.output, "out.csv");
	done(p);
	p = ok("convert", "-qo", "out.csv", NULL);
	assert_string_equal(p->o.output, "out.csv");
	assert_int_equal(p->o.quiet, 1);
	done(p);
	p = ok("convert", "--output=out.csv", "--tz=Asia/Jerusalem", NULL);
	assert_string_equal(p->o.output, "out.csv");
	assert_string_equal(p->o.tz, "Asia/Jerusalem");
	done(p);
	usage_error("takes no value", "convert", "--excel=yes", NULL);
	usage_error("--format needs a value", "convert", "--format", NULL);
	usage_error("-o needs a value", "convert", "-o", NULL);
	usage_error("unknown option '-x'", "convert", "-x", NULL);
}

static void test_files_dash_and_double_dash(void **state)
{
	struct parsed *p;

	(void)state;
	p = ok("convert", "a.json", "-", "-q", "--", "--excel", "-o", NULL);
	assert_int_equal(p->o.nfiles, 4);
	assert_string_equal(p->o.files[0], "a.json");
	assert_string_equal(p->o.files[1], "-");
	assert_string_equal(p->o.files[2], "--excel");
	assert_string_equal(p->o.files[3], "-o");
	assert_int_equal(p->o.excel, 0);
	assert_int_equal(p->o.quiet, 1);
	done(p);
}

/* ---------------------------------------------------------------- exact names */

static void test_no_prefix_abbreviations(void **state)
{
	(void)state;
	usage_error("unknown option '--form'", "fetch", "--form", "972501234567", NULL);
	usage_error("unknown option '--ex'", "convert", "--ex", NULL);
	usage_error("unknown option '--out'", "convert", "--out", "x.csv", NULL);
	usage_error("unknown option '--formats'", "convert", "--formats", "csv", NULL);
}

static void test_suggestions(void **state)
{
	const char *names[4];

	(void)state;
	assert_int_equal(suggest_option("excell", 6, OPTIONS_CONVERT, names, 4), 1);
	assert_string_equal(names[0], "excel");
	assert_int_equal(suggest_option("concurency", 10, OPTIONS_FETCH, names, 4), 1);
	assert_string_equal(names[0], "concurrency");
	assert_int_equal(suggest_option("timezone", 8, OPTIONS_BOTH, names, 4), 1);
	assert_string_equal(names[0], "tz");
	assert_int_equal(suggest_option("form", 4, OPTIONS_FETCH, names, 4), 2);
	assert_string_equal(names[0], "from");
	assert_string_equal(names[1], "format");
	assert_int_equal(suggest_option("ex", 2, OPTIONS_CONVERT, names, 4), 1);
	assert_string_equal(names[0], "excel");
	assert_int_equal(suggest_option("zzzzzzzz", 8, OPTIONS_BOTH, names, 4), 0);
	assert_int_equal(suggest_option("api-key", 7, OPTIONS_BOTH, names, 4), 1);
	assert_string_equal(names[0], "api-key-file"); /* the hidden row is never offered */
	assert_int_equal(suggest_command("fecth", 5, names, 4), 1);
	assert_string_equal(names[0], "fetch");
	assert_int_equal(suggest_command("cnovert", 7, names, 4), 1);
	assert_string_equal(names[0], "convert");
	assert_int_equal(suggest_command("export", 6, names, 4), 0);

	usage_error("did you mean --excel?", "convert", "--excell", NULL);
	usage_error("did you mean --concurrency?", "fetch", "--concurency", "3", NULL);
	usage_error("did you mean --tz?", "convert", "--timezone", "UTC", NULL);
	usage_error("did you mean --from or --format?", "fetch", "--form", "x", NULL);
	usage_error("did you mean fetch?", "fecth", NULL);
	usage_error("did you mean --version?", "--verison", NULL);
	/* A typo of the other command's option is still suggested. */
	usage_error("did you mean --state?", "convert", "--sate", "x", NULL);
}

static void test_options_of_the_other_command(void **state)
{
	(void)state;
	usage_error("--state is an option of 'fetch', not of 'convert'", "convert", "--state", "s",
		    NULL);
	usage_error("--from is an option of 'fetch'", "convert", "--from=972501234567", NULL);
	/* An option of two commands names both. */
	usage_error("--excel is an option of 'fetch' and 'convert', not of 'schema'", "schema",
		    "--dialect", "postgres", "--excel", NULL);
	usage_error("--from goes after the command: waexport fetch", "--from", "972501234567",
		    NULL);
	done(ok("convert", "--threads", "2", NULL));
}

/* ---------------------------------------------------------------- contradictions */

static void test_repeated_single_value_options(void **state)
{
	(void)state;
	usage_error("--from given twice", "fetch", "--from", "972501234567", "--from",
		    "972501111111", NULL);
	usage_error("--format given twice", "convert", "--format", "csv", "--format=ndjson", NULL);
	usage_error("--output given twice", "convert", "-o", "a.csv", "--output", "b.csv", NULL);
	usage_error("--since given twice", "fetch", "--from", "972501234567", "--since", "1d",
		    "--since", "2d", NULL);
	done(ok("fetch", "--from", "972501234567", "--to", "972509876543", "--to", "972509876544",
		NULL));
	done(ok("convert", "-q", "-q", "--excel", "--excel", NULL));
}

static void test_local_format_numbers(void **state)
{
	(void)state;
	usage_error("972501234567", "fetch", "--from", "0501234567", NULL);
	usage_error("local-format", "fetch", "--from", "972501234567", "--to", "0509876543", NULL);
	usage_error("972509876543", "fetch", "--from", "972501234567", "--to", "0509876543", NULL);
	usage_error("without '+': 972501234567", "fetch", "--from", "+972501234567", NULL);
	usage_error("--from '12'", "fetch", "--from", "12", NULL);
}

static void test_output_extensions(void **state)
{
	struct err e;
	const char *bad[] = { "out.json", "out.parquet", "out.tsv",
			      "out.txt",  "out.xls",     "out.tsv.gz" };
	const char *good[] = { "out.csv",         "out.CSV",   "out.ndjson.gz",
			       "out.jsonl",       "out",       "out.gz",
			       "dir/out.xlsx",    "out.XLSX",  "/dev/full",
			       "dir.d/out",       ".hidden",   "x/{chat}-{date}.csv",
			       "x/{from}/{chat}", "out.{date}" };

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(outpath_check_extension(bad[i], &e), -1);
		assert_non_null(strstr(e.msg, ".csv, .ndjson and .jsonl"));
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&e, 0, sizeof(e));
		if (outpath_check_extension(good[i], &e))
			fprintf(stderr, "'%s': %s\n", good[i], e.msg);
		assert_int_equal(outpath_check_extension(good[i], &e), 0);
	}
	usage_error("unknown extension '.json'", "convert", "-o", "out.json", NULL);
	done(ok("convert", "-o", "out.json", "--format", "ndjson", NULL));
	done(ok("convert", "-o", "-", NULL));
}

static void test_numbers_in_range(void **state)
{
	(void)state;
	usage_error("--threads '0'", "convert", "--threads", "0", NULL);
	usage_error("from 1 to 64", "convert", "--threads=65", NULL);
	usage_error("--concurrency 'x'", "fetch", "--from", "972501234567", "--concurrency", "x",
		    NULL);
	usage_error("--gzip-level '+5'", "convert", "--gzip-level", "+5", NULL);
}

/* ---------------------------------------------------------------- paths */

/* "--save-raw \"$RAW\"" with RAW unset: refused before the run, not after it. */
static void test_an_empty_path_is_a_usage_error(void **state)
{
	static const char *const paths[] = { "output",    "api-key-file", "cacert",
					     "save-raw",  "state",        "metrics-file",
					     "media-dir", "manifest",     "log-file" };
	char arg[64], name[64];

	(void)state;
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		const struct options_row *r = options_find(paths[i], strlen(paths[i]));

		assert_non_null(r);
		assert_true(r->flags & OPTIONS_PATH);
		snprintf(arg, sizeof(arg), "--%s=", paths[i]);
		snprintf(name, sizeof(name), "--%s", paths[i]);
		usage_error(r->letter ? "-o needs a file name" : name, "fetch", "--from",
			    "972501234567", arg, NULL);
	}
	usage_error("--state: the path is empty (an unset shell variable?)", "fetch", "--from",
		    "972501234567", "--state", "", NULL);
}

static void test_two_options_naming_one_file_are_a_usage_error(void **state)
{
	struct parsed *p;

	(void)state;
	usage_error("-o and --manifest name the same file (night.csv): each needs its own path",
		    "fetch", "--from", "972501234567", "-o", "night.csv", "--manifest", "night.csv",
		    NULL);
	usage_error("-o and --save-raw name the same file (night.csv and ./night.csv)", "fetch",
		    "--from", "972501234567", "-o", "night.csv", "--save-raw", "./night.csv", NULL);
	usage_error("--save-raw and --state's journal", "fetch", "--from", "972501234567",
		    "--save-raw", "s.journal", "--state", "s", NULL);
	usage_error("-o and the input file name the same file (raw.jsonl)", "convert", "raw.jsonl",
		    "-o", "raw.jsonl", NULL);
	usage_error("-o and --save-raw both write to standard output", "fetch", "--from",
		    "972501234567", "--save-raw", "-", NULL);
	p = ok("convert", "-", "raw.jsonl", "raw.jsonl", "-o", "-", "--manifest", "m.json", NULL);
	done(p);
	p = ok("fetch", "--from", "972501234567", "-o", "{chat}.csv", "--save-raw", "raw.jsonl",
	       "--state", "night.state", "--metrics-file", "m.prom", "--log-file", "log", NULL);
	done(p);
}

/* ---------------------------------------------------------------- help */

static void test_help_and_version(void **state)
{
	struct parsed *p;

	(void)state;
	p = ok("fetch", "--help", NULL);
	assert_int_equal(p->o.cmd, CMD_HELP);
	assert_int_equal(p->o.help_for, CMD_FETCH);
	done(p);
	p = ok("help", "convert", NULL);
	assert_int_equal(p->o.help_for, CMD_CONVERT);
	done(p);
	p = ok("-h", NULL);
	assert_int_equal(p->o.help_for, CMD_NONE);
	done(p);
	p = ok("--help-man", NULL);
	assert_int_equal(p->o.cmd, CMD_MAN);
	done(p);
	p = ok("convert", "-V", NULL);
	assert_int_equal(p->o.cmd, CMD_VERSION);
	done(p);
	usage_error("no command", NULL);
	usage_error("--output goes after the command", "-o", "x.csv", NULL);
	usage_error("the commands are fetch, convert and schema", "export", NULL);
	usage_error("unknown command 'fecth'", "help", "fecth", NULL);
	p = ok("--help", "fetch", NULL);
	assert_int_equal(p->o.help_for, CMD_FETCH);
	done(p);
}

/* Does the help text list the row (as "      --name" or "  -o, --name" at a line's start)? */
static int lists(const char *text, const struct options_row *r)
{
	char want[64];

	if (r->letter)
		snprintf(want, sizeof(want), "\n  -%c, --%s ", r->letter, r->name);
	else
		snprintf(want, sizeof(want), "\n      --%s", r->name);
	for (const char *p = strstr(text, want); p; p = strstr(p + 1, want)) {
		char after = p[strlen(want)];

		if (r->letter || after == ' ' || after == '\n')
			return 1;
	}
	return 0;
}

static void test_help_and_man_come_from_the_table(void **state)
{
	struct buf all = BUF_INIT, fetch = BUF_INIT, convert = BUF_INIT, man = BUF_INIT;

	(void)state;
	assert_int_equal(usage_help(&all, CMD_NONE), 0);
	assert_int_equal(usage_help(&fetch, CMD_FETCH), 0);
	assert_int_equal(usage_help(&convert, CMD_CONVERT), 0);
	assert_int_equal(usage_man(&man), 0);
	assert_int_equal(buf_addc(&all, 0) | buf_addc(&fetch, 0) | buf_addc(&convert, 0) |
				 buf_addc(&man, 0),
			 0);
	for (int i = 0; i < OPT_COUNT; i++) {
		const struct options_row *r = &options_table[i];
		char roff[64];
		size_t n = 0;

		for (const char *c = r->name; *c && n + 3 < sizeof(roff); c++) {
			if (*c == '-')
				roff[n++] = '\\';
			roff[n++] = *c;
		}
		roff[n] = '\0';
		if (r->flags & OPTIONS_HIDDEN)
			continue;
		assert_true(lists(all.data, r));
		assert_int_equal(lists(fetch.data, r), !!(r->commands & OPTIONS_FETCH));
		assert_int_equal(lists(convert.data, r), !!(r->commands & OPTIONS_CONVERT));
		assert_non_null(strstr(man.data, roff));
	}
	assert_null(strstr(all.data, "--help-man"));
	assert_non_null(strstr(man.data, USAGE_MAN_BEGIN));
	assert_non_null(strstr(convert.data, "media_file"));
	buf_free(&all);
	buf_free(&fetch);
	buf_free(&convert);
	buf_free(&man);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_rows_are_well_formed),
		cmocka_unit_test(test_every_row_parses),
		cmocka_unit_test(test_values_land_in_their_fields),
		cmocka_unit_test(test_a_shown_default_is_the_value_a_run_takes),
		cmocka_unit_test(test_short_and_equals_forms),
		cmocka_unit_test(test_files_dash_and_double_dash),
		cmocka_unit_test(test_no_prefix_abbreviations),
		cmocka_unit_test(test_suggestions),
		cmocka_unit_test(test_options_of_the_other_command),
		cmocka_unit_test(test_repeated_single_value_options),
		cmocka_unit_test(test_local_format_numbers),
		cmocka_unit_test(test_output_extensions),
		cmocka_unit_test(test_numbers_in_range),
		cmocka_unit_test(test_an_empty_path_is_a_usage_error),
		cmocka_unit_test(test_two_options_naming_one_file_are_a_usage_error),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_help_and_man_come_from_the_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
