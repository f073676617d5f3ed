/*
 * page: API bodies → records, with jsmn and the checks jsmn leaves to us
 * (page.h, SPEC §1, LIBRARY-NOTES §1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"
#include "page.h"
#include "page_fail.h"
#include "record.h"
#include "seen.h"
#include "json.h"
#include "text.h"

#include <time.h>

#define S(lit) (lit), (sizeof(lit) - 1)

static int setup(void **state)
{
	struct page *pg = page_new();

	if (!pg)
		return -1;
	*state = pg;
	return 0;
}

static int teardown(void **state)
{
	page_free(*state);
	return 0;
}

/* Parse body in one go (final) on a freshly reset page. */
static int parse(struct page *pg, const char *body, size_t len, struct err *e)
{
	page_reset(pg);
	memset(e, 0, sizeof(*e));
	e->offset = -2;
	return page_parse(pg, body, len, 1, e);
}

static void assert_field(const struct field *f, enum field_kind kind, const char *raw)
{
	assert_int_equal(f->kind, kind);
	if (raw) {
		assert_int_equal(f->len, strlen(raw));
		assert_memory_equal(f->p, raw, f->len);
	}
}

/* A compound field as canonical compact JSON, as the writers emit it. */
static void compact_of(const struct field *f, struct buf *out, unsigned *bad)
{
	out->len = 0;
	assert_int_equal(buf_reserve(out, TEXT_RECODE_MAX(f->len)), 0);
	out->len = text_json_compact(out->data, f->p, f->len, bad);
}

static const char normal_page[] =
	"[{\"unique\":\"m1\",\"timestamp\":\"1614198777\",\"direction\":\"1\","
	"\"from\":\"972501234567\",\"to\":\"972509876543\",\"type\":\"text\",\"state\":0,"
	"\"message\":\"\\u05e9\\u05dc\\u05d5\\u05dd \\ud83d\\ude00 http:\\/\\/x\"},\n"
	" {\"unique\":\"m2\",\"timestamp\":1614198700,\"direction\":2,\"from\":\"972509876543\","
	"\"to\":\"972501234567\",\"type\":\"file\",\"state\":\"1\",\"message\":\"hi\","
	"\"reason\":\"quota\"}]\n";

static void test_normal_page(void **state)
{
	struct page *pg = *state;
	struct err e;
	struct record r;
	long long v;

	assert_int_equal(parse(pg, S(normal_page), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 2);
	assert_int_equal(page_root_end(pg), sizeof(normal_page) - 2); /* before the final \n */

	assert_int_equal(page_record(pg, normal_page, 0, &r), 0);
	assert_int_equal(r.offset, 1);
	assert_int_equal(r.n_extra, 0);
	assert_field(&r.f[REC_UNIQUE], FIELD_STRING, "m1");
	assert_field(&r.f[REC_TIMESTAMP], FIELD_STRING, "1614198777");
	assert_field(&r.f[REC_DIRECTION], FIELD_STRING, "1");
	assert_field(&r.f[REC_FROM], FIELD_STRING, "972501234567");
	assert_field(&r.f[REC_TO], FIELD_STRING, "972509876543");
	assert_field(&r.f[REC_TYPE], FIELD_STRING, "text");
	assert_field(&r.f[REC_STATE], FIELD_NUMBER, "0");
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING,
		     "\\u05e9\\u05dc\\u05d5\\u05dd \\ud83d\\ude00 http:\\/\\/x");
	assert_field(&r.f[REC_REASON], FIELD_ABSENT, NULL);
	/* Spans point into the body itself (zero-copy). */
	assert_true(r.f[REC_UNIQUE].p == normal_page + strlen("[{\"unique\":\""));
	assert_int_equal(record_int(&r.f[REC_TIMESTAMP], &v), 0);
	assert_int_equal(v, 1614198777);

	assert_int_equal(page_record(pg, normal_page, 1, &r), 0);
	assert_int_equal(r.offset,
			 (size_t)(strstr(normal_page, "{\"unique\":\"m2\"") - normal_page));
	assert_field(&r.f[REC_UNIQUE], FIELD_STRING, "m2");
	assert_field(&r.f[REC_TIMESTAMP], FIELD_NUMBER, "1614198700");
	assert_field(&r.f[REC_DIRECTION], FIELD_NUMBER, "2");
	assert_field(&r.f[REC_TYPE], FIELD_STRING, "file");
	assert_field(&r.f[REC_STATE], FIELD_STRING, "1");
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, "hi");
	assert_field(&r.f[REC_REASON], FIELD_STRING, "quota");
	assert_int_equal(r.n_extra, 0);
}

static void test_empty_bodies(void **state)
{
	struct page *pg = *state;
	struct err e;

	assert_int_equal(parse(pg, S("[]"), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 0);
	assert_int_equal(parse(pg, S(" \r\n [ \n ] \r\n"), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 0);
	/* SPEC §1: an empty body counts as an empty page. */
	assert_int_equal(parse(pg, S(""), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 0);
	assert_int_equal(parse(pg, S(" \t\r\n  \n"), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 0);
	/* Not final: white space alone is not a page yet. */
	page_reset(pg);
	assert_int_equal(page_parse(pg, S("  \n"), 0, &e), PAGE_MORE);
}

/* The count of a page that had records must not leak into the next body. */
static void test_reset_between_bodies(void **state)
{
	struct page *pg = *state;
	struct err e;
	struct record r;
	static const char second[] = "[{\"unique\":\"only\"}]";

	assert_int_equal(parse(pg, S(normal_page), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 2);
	assert_int_equal(parse(pg, S("   "), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 0);
	assert_int_equal(parse(pg, S(normal_page), &e), PAGE_DONE);
	assert_int_equal(parse(pg, S("[]"), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 0);
	assert_int_equal(parse(pg, S(second), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 1);
	assert_int_equal(page_record(pg, second, 0, &r), 0);
	assert_field(&r.f[REC_UNIQUE], FIELD_STRING, "only");
	assert_field(&r.f[REC_MESSAGE], FIELD_ABSENT, NULL);
	/* A failed body leaves the page usable after a reset. */
	assert_int_equal(parse(pg, S("[1,"), &e), -1);
	assert_int_equal(parse(pg, S(second), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 1);
}

struct bad_case {
	const char *body;
	size_t len;
	long long offset; /* expected e.offset, or -1 for "any offset within the body" */
};

#define BAD(lit, off)                         \
	{                                     \
		(lit), sizeof(lit) - 1, (off) \
	}

/* What jsmn lets through and page.h promises to refuse. */
static void test_rejects_invalid_json(void **state)
{
	static const struct bad_case cases[] = {
		BAD("[{\"a\" \"b\"}]", -1), /* key without ':' */
		BAD("[{\"a\"}]", -1),       /* key of size 0 */
		BAD("[{\"a\":}]", -1),
		BAD("[{\"a\":1,\"b\"}]", -1),
		BAD("[01]", 1),
		BAD("[-]", 1),
		BAD("[1.]", 1),
		BAD("[1.e5]", 1),
		BAD("[1e]", 1),
		BAD("[1e+]", 1),
		BAD("[-01]", 1),
		BAD("[tru]", 1),
		BAD("[truee]", 1),
		BAD("[nul]", 1),
		BAD("[True]", -1),
		BAD("[{\"unique\":\"u\",\"timestamp\":0123}]", 27),
		BAD("[]x", 2),
		BAD("[] []", 3),
		BAD("[]\n[]\n", 3),
		BAD("{}{}", -1),
		BAD("[1]]", -1),
		BAD("x", 0),
		BAD("[\"a\\x\"]", -1), /* bad escape */
		BAD("[\"\\u12g4\"]", -1),
		/* Separators jsmn does not check. */
		BAD("[1 2]", 3),
		BAD("[1,,2]", 3),
		BAD("[,1]", 1),
		BAD("[1,]", -1),
		BAD("[\"a\"\"b\"]", 4),
		BAD("[{\"a\":1}{\"b\":2}]", 8),
		BAD("[{\"a\":1,}]", -1),
		BAD("[{,\"a\":1}]", 2),
		BAD("[{\"a\":1,,\"b\":2}]", -1),
		BAD("[{\"a\":[1,]}]", -1),
		BAD("[{\"a\":1 \"b\":2}]", -1),
		BAD("[{\"a\":1}] ,", -1),
		BAD("[{\"a\":1]}", -1),
		/* Compact arrays of flat objects take a fast path: the same refusals. */
		BAD("[{\"a\":[,]}]", -1),
		BAD("[{\"a\":{:}}]", -1),
		BAD("[{\"a\":[,,:]}]", -1),
		BAD("[{\"unique\":\"x\",\"timestamp\":1,\"a\":[,]}]", -1),
		BAD("[{\"a\":1},]", -1),
		BAD("[{\"a\":1},,{\"b\":2}]", -1),
		BAD("[{\"a\":1,\"b\":2,}]", -1),
		BAD("[{\"a\"::1}]", -1),
		BAD("[{\"a\":1:2}]", -1),
		BAD("[{\"a\":\"b\":1}]", 9),
		BAD("[{\"a\":\"b\":1,\"c\":2}]", -1),
		BAD("[{\"a\":{\"b\":\"c\":1}}]", 14),
		BAD("[\"a\":1]", 4),
		BAD("[{\"a\":01}]", 6),
		BAD("[{\"a\":tru}]", 6),
		BAD("[{\"a\":1}],", -1),
		BAD("[{\"a\":1}]]", -1),
		BAD("[1,\0 2]", 3), /* NUL between values */
		BAD("\0[]", 0),
		BAD("[]\0", 2),
	};
	struct page *pg = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct err e;
		int rc = parse(pg, cases[i].body, cases[i].len, &e);

		if (rc != -1 || e.kind != ERR_DATA ||
		    (cases[i].offset >= 0 ? e.offset != cases[i].offset
					  : e.offset < 0 || e.offset > (long long)cases[i].len))
			fprintf(stderr, "case %zu '%.*s': rc %d kind %d offset %lld msg '%s'\n", i,
				(int)cases[i].len, cases[i].body, rc, (int)e.kind, e.offset, e.msg);
		assert_int_equal(rc, -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_true(e.msg[0] != '\0');
		if (cases[i].offset >= 0)
			assert_int_equal(e.offset, cases[i].offset);
		else
			assert_in_range(e.offset, 0, cases[i].len);
	}
}

/* A NUL byte can never be completed by more input: not PAGE_MORE, even when not final. */
static void test_nul_byte_is_not_incomplete(void **state)
{
	struct page *pg = *state;
	struct err e;

	page_reset(pg);
	memset(&e, 0, sizeof(e));
	assert_int_equal(page_parse(pg, S("[1,\0 2]"), 0, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(e.offset, 3);

	/* Inside a string, final: the error is the NUL, not "truncated" at the end. */
	assert_int_equal(parse(pg, S("[\"a\0b\"]"), &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(e.offset, 3);

	/* Inside a string, not final: no more input can complete it. */
	page_reset(pg);
	memset(&e, 0, sizeof(e));
	assert_int_equal(page_parse(pg, S("[\"a\0b\"]\n"), 0, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(e.offset, 3);
}

static void test_accepts_valid_numbers_and_literals(void **state)
{
	static const char body[] =
		"[{\"a\":0,\"b\":-0,\"c\":1.5,\"d\":-12.25e+3,\"e\":1E-2,\"f\":true,\"g\":false,"
		"\"h\":null,\"i\":9223372036854775808,\"j\":[],\"k\":{}}]";
	struct page *pg = *state;
	struct err e;
	struct record r;

	assert_int_equal(parse(pg, S(body), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 1);
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_int_equal(r.n_extra, 11);
	assert_field(&r.extra[0].value, FIELD_NUMBER, "0");
	assert_field(&r.extra[1].value, FIELD_NUMBER, "-0");
	assert_field(&r.extra[2].value, FIELD_NUMBER, "1.5");
	assert_field(&r.extra[3].value, FIELD_NUMBER, "-12.25e+3");
	assert_field(&r.extra[4].value, FIELD_NUMBER, "1E-2");
	assert_field(&r.extra[5].value, FIELD_BOOL, "true");
	assert_field(&r.extra[6].value, FIELD_BOOL, "false");
	assert_int_equal(r.extra[7].value.kind, FIELD_ABSENT);
	assert_field(&r.extra[8].value, FIELD_NUMBER, "9223372036854775808");
	assert_field(&r.extra[9].value, FIELD_COMPOUND, "[]");
	assert_field(&r.extra[10].value, FIELD_COMPOUND, "{}");
	assert_field(&r.extra[10].key, FIELD_STRING, "k");
}

static void refused(struct page *pg, const char *body, size_t len, struct err *e)
{
	assert_int_equal(parse(pg, body, len, e), -1);
	if (e->kind != ERR_REFUSED)
		fprintf(stderr, "'%s': kind %d msg '%s'\n", body, (int)e->kind, e->msg);
	assert_int_equal(e->kind, ERR_REFUSED);
}

static void test_refusal_objects(void **state)
{
	struct page *pg = *state;
	struct err e;

	refused(pg, S("{\"status\":\"FAIL\",\"reason\":3}"), &e);
	assert_non_null(strstr(e.msg, "3"));
	assert_non_null(strstr(e.msg, "apiKey"));

	refused(pg, S("{\"status\": \"FAIL\", \"reason\": \"2\"}\n"), &e);
	assert_non_null(strstr(e.msg, "2"));
	assert_non_null(strstr(e.msg, "does not exist"));

	refused(pg, S("{\"status\":\"FAIL\",\"reason\":4}"), &e);
	assert_non_null(strstr(e.msg, "4"));
	assert_non_null(strstr(e.msg, "'to'"));

	refused(pg, S("{\"status\":\"FAIL\",\"reason\":99}"), &e);
	assert_non_null(strstr(e.msg, "99"));
	assert_null(strstr(e.msg, "apiKey"));

	refused(pg, S("{\"status\":\"FAIL\",\"reason\":\"99\"}"), &e);
	assert_non_null(strstr(e.msg, "99"));

	/* Other keys may come along, before and after, nested too. */
	refused(pg,
		S("{\"info\":{\"a\":[1,{\"reason\":2}],\"status\":\"OK\"},\"status\":\"FAIL\","
		  "\"more\":[\"x\"],\"reason\":3,\"tail\":null}"),
		&e);
	assert_non_null(strstr(e.msg, "apiKey"));

	/* FAIL without a reason is still a refusal. */
	refused(pg, S("{\"status\":\"FAIL\"}"), &e);

	/* Keys and values are compared as the text they stand for (escapes decoded). */
	refused(pg, S("{\"st\\u0061tus\":\"F\\u0041IL\",\"r\\u0065ason\":\"\\u0033\"}"), &e);
	assert_non_null(strstr(e.msg, "apiKey"));

	assert_non_null(page_fail_reason(2));
	assert_non_null(strstr(page_fail_reason(3), "apiKey"));
	assert_non_null(page_fail_reason(4));
	assert_null(page_fail_reason(0));
	assert_null(page_fail_reason(1));
	assert_null(page_fail_reason(99));
}

static void test_other_root_objects_are_data_errors(void **state)
{
	static const char *const bodies[] = {
		"{}",
		"{\"reason\":3}",
		"{\"status\":\"OK\",\"reason\":3}",
		"{\"status\":\"fail\",\"reason\":3}",
		"{\"status\":\"F\\u0041IL\\u0000\",\"reason\":3}",
		"{\"st\\u0061tuses\":\"FAIL\",\"reason\":3}",
		"{\"data\":{\"status\":\"FAIL\",\"reason\":3}}",
		"\"just a string\"",
	};
	struct page *pg = *state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct err e;

		assert_int_equal(parse(pg, bodies[i], strlen(bodies[i]), &e), -1);
		if (e.kind != ERR_DATA)
			fprintf(stderr, "'%s': kind %d\n", bodies[i], (int)e.kind);
		assert_int_equal(e.kind, ERR_DATA);
	}
}

static void test_truncated_body(void **state)
{
	static const char *const bodies[] = {
		"[",
		"[{\"unique\":\"m1\"",
		"[{\"unique\":\"m1\",\"message\":\"abc",
		"[{\"unique\":\"m1\",\"message\":\"abc\\",
		"[{\"unique\":\"m1\",\"message\":\"\\ud83",
		"[{\"unique\":\"m1\",\"state\":1",
		"[{\"unique\":\"m1\",\"state\":tr",
		"[{\"unique\":\"m1\"},",
		"{\"status\":\"FAIL\",",
	};
	struct page *pg = *state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct err e;
		size_t len = strlen(bodies[i]);

		/* Not final: wait for more. */
		page_reset(pg);
		assert_int_equal(page_parse(pg, bodies[i], len, 0, &e), PAGE_MORE);
		/* Final: ERR_DATA at the end of the body. */
		assert_int_equal(parse(pg, bodies[i], len, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_int_equal(e.offset, (long long)len);
	}
}

static void compare_records(struct page *a, const char *body_a, struct page *b, const char *body_b)
{
	assert_int_equal(page_count(a), page_count(b));
	for (size_t i = 0; i < page_count(a); i++) {
		struct record ra, rb;

		assert_int_equal(page_record(a, body_a, i, &ra), page_record(b, body_b, i, &rb));
		assert_int_equal(ra.offset, rb.offset);
		assert_int_equal(ra.n_extra, rb.n_extra);
		for (int k = 0; k < REC_NKEYS; k++) {
			assert_int_equal(ra.f[k].kind, rb.f[k].kind);
			if (ra.f[k].kind == FIELD_ABSENT)
				continue;
			assert_int_equal(ra.f[k].len, rb.f[k].len);
			assert_int_equal(ra.f[k].p - body_a, rb.f[k].p - body_b);
		}
	}
}

/* Records with the same fields, wherever their bytes are in the two bodies. */
static void same_fields(struct page *a, const char *body_a, struct page *b, const char *body_b)
{
	assert_int_equal(page_count(a), page_count(b));
	for (size_t i = 0; i < page_count(a); i++) {
		struct record ra, rb;

		assert_int_equal(page_record(a, body_a, i, &ra), 0);
		assert_int_equal(page_record(b, body_b, i, &rb), 0);
		assert_int_equal(ra.n_extra, rb.n_extra);
		assert_int_equal(ra.dup_keys, rb.dup_keys);
		assert_int_equal(ra.ts_ok, rb.ts_ok);
		assert_int_equal(ra.dir_ok, rb.dir_ok);
		assert_int_equal(ra.state_ok, rb.state_ok);
		assert_true(ra.ts == rb.ts && ra.dir == rb.dir && ra.state == rb.state);
		for (int k = 0; k < REC_NKEYS; k++) {
			assert_int_equal(ra.f[k].kind, rb.f[k].kind);
			assert_int_equal(ra.f[k].len, rb.f[k].len);
			if (ra.f[k].len)
				assert_memory_equal(ra.f[k].p, rb.f[k].p, ra.f[k].len);
		}
	}
}

/*
 * A compact page with the API's eight keys in the API's order takes
 * extract's fast path; the same messages spaced out, with a key escaped,
 * or with one key more or repeated take the general one. Same records.
 */
static void test_api_shape_fast_path(void **state)
{
	struct page *pg = *state, *other = page_new();
	struct err e;
	static const char api[] =
		"[{\"unique\":\"a1\",\"timestamp\":\"1614198777\",\"direction\":\"2\",\"from\":"
		"\"9725\",\"to\":\"9726\",\"type\":\"text\",\"state\":3,\"message\":\"hi "
		"\\u05e9\"},{\"unique\":\"a2\",\"timestamp\":1614198700,\"direction\":1,\"from\":"
		"\"x\",\"to\":\"y\",\"type\":\"image\",\"state\":null,\"message\":\"\"}]";
	static const char spaced[] =
		"[{\"unique\": \"a1\", \"timestamp\": \"1614198777\", \"direction\": \"2\", "
		"\"from\": \"9725\", \"to\": \"9726\", \"type\": \"text\", \"state\": 3, "
		"\"message\": \"hi \\u05e9\"}, {\"unique\": \"a2\", \"timestamp\": 1614198700, "
		"\"direction\": 1, \"from\": \"x\", \"to\": \"y\", \"type\": \"image\", "
		"\"state\": null, \"message\": \"\"}]";
	static const char escaped[] =
		"[{\"uniq\\u0075e\":\"a1\",\"timestamp\":\"1614198777\",\"direction\":\"2\","
		"\"from\":\"9725\",\"to\":\"9726\",\"type\":\"text\",\"state\":3,\"message\":\"hi "
		"\\u05e9\"},{\"unique\":\"a2\",\"timestamp\":1614198700,\"direction\":1,\"from\":"
		"\"x\",\"to\":\"y\",\"type\":\"image\",\"state\":null,\"message\":\"\"}]";
	static const char repeated[] =
		"[{\"unique\":\"a1\",\"timestamp\":\"1614198777\",\"direction\":\"2\",\"from\":"
		"\"9725\",\"to\":\"9726\",\"type\":\"text\",\"state\":3,\"unique\":\"a9\"}]";

	assert_non_null(other);
	assert_int_equal(parse(pg, S(api), &e), PAGE_DONE);
	assert_int_equal(parse(other, S(spaced), &e), PAGE_DONE);
	same_fields(pg, api, other, spaced);
	assert_int_equal(parse(other, S(escaped), &e), PAGE_DONE);
	same_fields(pg, api, other, escaped);

	/* Eight keys in order but one a repeat: the first wins, and it is counted. */
	assert_int_equal(parse(pg, S(repeated), &e), PAGE_DONE);
	{
		const struct record *r = page_rec(pg, repeated, 0);

		assert_non_null(r);
		assert_field(&r->f[REC_UNIQUE], FIELD_STRING, "a1");
		assert_int_equal(r->f[REC_MESSAGE].kind, FIELD_ABSENT);
		assert_int_equal(r->dup_keys, 1);
	}
	page_free(other);
}

static const char pretty_page[] =
	"[\n"
	"  {\n"
	"    \"unique\": \"p1\",\n"
	"    \"timestamp\": \"1614198777\",\n"
	"    \"direction\": \"1\",\n"
	"    \"message\": \"line \\u05e9\\ud83d\\ude00 \\\"quoted\\\" http:\\/\\/x\",\n"
	"    \"state\": 0,\n"
	"    \"ok\": true,\n"
	"    \"nested\": {\"a\": [1, 2.5, null, {\"b\": \"c\"}]}\n"
	"  },\n"
	"  {\n"
	"    \"unique\": \"p2\",\n"
	"    \"timestamp\": 1614198700,\n"
	"    \"direction\": 2,\n"
	"    \"state\": \"3\",\n"
	"    \"reason\": null\n"
	"  },\n"
	"  {\"unique\": \"p3\"},\n"
	"  {}\n"
	"]\n";

/* convert feeds a growing prefix, one line at a time (page.h). */
static void test_incremental_by_line(void **state)
{
	struct page *pg = *state, *whole = page_new();
	struct err e;
	size_t len = sizeof(pretty_page) - 1, end = 0;
	char *body = NULL;
	int rc = PAGE_MORE, calls = 0;

	assert_non_null(whole);
	assert_int_equal(parse(whole, S(pretty_page), &e), PAGE_DONE);
	assert_int_equal(page_count(whole), 4);

	page_reset(pg);
	while (end < len) {
		const char *nl = memchr(pretty_page + end, '\n', len - end);
		char *moved;

		end = (size_t)(nl - pretty_page) + 1;
		/* The body may move between calls, with the same bytes. */
		moved = malloc(end);
		assert_non_null(moved);
		memcpy(moved, pretty_page, end);
		free(body);
		body = moved;
		rc = page_parse(pg, body, end, 0, &e);
		calls++;
		if (end < len)
			assert_int_equal(rc, PAGE_MORE);
	}
	assert_int_equal(rc, PAGE_DONE);
	assert_int_equal(calls, 20);
	compare_records(pg, body, whole, pretty_page);
	free(body);
	page_free(whole);
}

/* Every prefix (not only line ends) is incomplete until the last byte. */
static void test_incremental_by_byte(void **state)
{
	struct page *pg = *state, *whole = page_new();
	struct err e;
	size_t len = sizeof(pretty_page) - 1;

	assert_non_null(whole);
	assert_int_equal(parse(whole, S(pretty_page), &e), PAGE_DONE);
	page_reset(pg);
	/* The root ends at the last ']' (len - 2); the final \n is white space. */
	for (size_t n = 1; n < len - 1; n++) {
		int rc = page_parse(pg, pretty_page, n, 0, &e);

		if (rc != PAGE_MORE)
			fprintf(stderr, "prefix %zu: rc %d (%s)\n", n, rc, e.msg);
		assert_int_equal(rc, PAGE_MORE);
	}
	assert_int_equal(page_parse(pg, pretty_page, len - 1, 0, &e), PAGE_DONE);
	compare_records(pg, pretty_page, whole, pretty_page);
	page_free(whole);
}

static void test_large_page_grows_tokens(void **state)
{
	enum { N = 20000 };
	struct page *pg = *state;
	struct buf b = BUF_INIT;
	struct err e;
	struct record r;
	char tmp[256];

	assert_int_equal(buf_addc(&b, '['), 0);
	for (int i = 0; i < N; i++) {
		int n = snprintf(tmp, sizeof(tmp),
				 "%s{\"unique\":\"u%d\",\"timestamp\":\"%d\",\"direction\":\"%d\","
				 "\"from\":\"1\",\"to\":\"2\",\"type\":\"text\",\"state\":%d,"
				 "\"message\":\"m %d\",\"x\":[%d,{\"y\":null}]}",
				 i ? "," : "", i, 1600000000 + i, 1 + i % 2, i % 4, i, i);

		assert_int_equal(buf_add(&b, tmp, (size_t)n), 0);
	}
	assert_int_equal(buf_adds(&b, "]\n"), 0);
	assert_int_equal(parse(pg, b.data, b.len, &e), PAGE_DONE);
	assert_int_equal(page_count(pg), N);
	for (int i = 0; i < N; i += N / 7 + 1) {
		long long v;

		snprintf(tmp, sizeof(tmp), "u%d", i);
		assert_int_equal(page_record(pg, b.data, (size_t)i, &r), 0);
		assert_field(&r.f[REC_UNIQUE], FIELD_STRING, tmp);
		assert_int_equal(record_int(&r.f[REC_TIMESTAMP], &v), 0);
		assert_int_equal(v, 1600000000 + i);
		assert_int_equal(r.n_extra, 1);
		assert_field(&r.extra[0].key, FIELD_STRING, "x");
		assert_int_equal(r.extra[0].value.kind, FIELD_COMPOUND);
	}
	assert_int_equal(page_record(pg, b.data, N - 1, &r), 0);
	snprintf(tmp, sizeof(tmp), "m %d", N - 1);
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, tmp);

	/* The grown token array is reused: a small page afterwards is fine. */
	assert_int_equal(parse(pg, S(normal_page), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 2);
	buf_free(&b);
}

static void test_type_drift_and_absent_fields(void **state)
{
	static const char body[] =
		"[{\"unique\":\"a\",\"timestamp\":1614198777,\"direction\":1,\"state\":\"2\"},"
		"{\"unique\":\"b\",\"timestamp\":\"1614198777\",\"direction\":\"2\",\"state\":3},"
		"{\"unique\":null,\"timestamp\":null,\"direction\":null,\"from\":null,\"to\":null,"
		"\"type\":null,\"state\":null,\"message\":null,\"reason\":null},"
		"{},"
		"{\"from\":972501234567,\"to\":true,\"reason\":5,\"message\":{\"k\":[1]},"
		"\"type\":[\"image\"]}]";
	struct page *pg = *state;
	struct err e;
	struct record r;
	long long v;

	assert_int_equal(parse(pg, S(body), &e), PAGE_DONE);
	assert_int_equal(page_count(pg), 5);

	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_field(&r.f[REC_TIMESTAMP], FIELD_NUMBER, "1614198777");
	assert_field(&r.f[REC_DIRECTION], FIELD_NUMBER, "1");
	assert_field(&r.f[REC_STATE], FIELD_STRING, "2");
	assert_int_equal(record_int(&r.f[REC_STATE], &v), 0);
	assert_int_equal(v, 2);

	assert_int_equal(page_record(pg, body, 1, &r), 0);
	assert_field(&r.f[REC_TIMESTAMP], FIELD_STRING, "1614198777");
	assert_field(&r.f[REC_DIRECTION], FIELD_STRING, "2");
	assert_field(&r.f[REC_STATE], FIELD_NUMBER, "3");

	/* null is absent, for every key; and it does not make an extra. */
	assert_int_equal(page_record(pg, body, 2, &r), 0);
	for (int k = 0; k < REC_NKEYS; k++)
		assert_int_equal(r.f[k].kind, FIELD_ABSENT);
	assert_int_equal(r.n_extra, 0);

	assert_int_equal(page_record(pg, body, 3, &r), 0);
	for (int k = 0; k < REC_NKEYS; k++)
		assert_int_equal(r.f[k].kind, FIELD_ABSENT);
	assert_int_equal(r.n_extra, 0);

	assert_int_equal(page_record(pg, body, 4, &r), 0);
	assert_field(&r.f[REC_FROM], FIELD_NUMBER, "972501234567");
	assert_field(&r.f[REC_TO], FIELD_BOOL, "true");
	assert_field(&r.f[REC_REASON], FIELD_NUMBER, "5");
	assert_field(&r.f[REC_MESSAGE], FIELD_COMPOUND, "{\"k\":[1]}");
	assert_field(&r.f[REC_TYPE], FIELD_COMPOUND, "[\"image\"]");
	assert_int_equal(r.f[REC_UNIQUE].kind, FIELD_ABSENT);
}

static void test_extras(void **state)
{
	static const char body[] =
		"[{\"unique\":\"a\",\"chat_name\":\"Dana\",\"message\":\"m\",\"time\":\"noon\","
		"\"n\":7,\"obj\":{\"a\":[1,\"\\u00e9\\/\"]},\"unique2\":\"x\"},"
		"{\"unique\":\"b\"}]";
	struct page *pg = *state;
	struct err e;
	struct record r;
	struct buf out = BUF_INIT;
	unsigned bad = 0;

	assert_int_equal(parse(pg, S(body), &e), PAGE_DONE);
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, "m");
	assert_int_equal(r.n_extra, 5);
	assert_field(&r.extra[0].key, FIELD_STRING, "chat_name");
	assert_field(&r.extra[0].value, FIELD_STRING, "Dana");
	assert_field(&r.extra[1].key, FIELD_STRING, "time");
	assert_field(&r.extra[1].value, FIELD_STRING, "noon");
	assert_field(&r.extra[2].key, FIELD_STRING, "n");
	assert_field(&r.extra[2].value, FIELD_NUMBER, "7");
	assert_field(&r.extra[3].key, FIELD_STRING, "obj");
	assert_field(&r.extra[3].value, FIELD_COMPOUND, "{\"a\":[1,\"\\u00e9\\/\"]}");
	assert_field(&r.extra[4].key, FIELD_STRING, "unique2");

	compact_of(&r.extra[3].value, &out, &bad);
	assert_int_equal(out.len, strlen("{\"a\":[1,\"\xC3\xA9/\"]}"));
	assert_memory_equal(out.data, "{\"a\":[1,\"\xC3\xA9/\"]}", out.len);
	assert_int_equal(bad, 0);

	/* The next record has no extras. */
	assert_int_equal(page_record(pg, body, 1, &r), 0);
	assert_int_equal(r.n_extra, 0);
	buf_free(&out);
}

/* Append n unknown fields ,"<prefix><i>":<i> to b. */
static void add_extras(struct buf *b, const char *prefix, int n)
{
	char tmp[64];

	for (int i = 0; i < n; i++) {
		snprintf(tmp, sizeof(tmp), ",\"%s%d\":%d", prefix, i, i);
		assert_int_equal(buf_adds(b, tmp), 0);
	}
}

/* Many extras: the page's extra array grows while a record is filled. */
static void test_many_extras(void **state)
{
	struct page *pg = *state;
	struct buf b = BUF_INIT;
	struct err e;
	struct record r;
	char tmp[64];

	assert_int_equal(buf_adds(&b, "[{\"unique\":\"u\""), 0);
	add_extras(&b, "k", 100);
	assert_int_equal(buf_adds(&b, ",\"message\":\"last\"}]"), 0);
	assert_int_equal(parse(pg, b.data, b.len, &e), PAGE_DONE);
	assert_int_equal(page_record(pg, b.data, 0, &r), 0);
	assert_int_equal(r.n_extra, 100);
	for (int i = 0; i < 100; i++) {
		snprintf(tmp, sizeof(tmp), "k%d", i);
		assert_field(&r.extra[i].key, FIELD_STRING, tmp);
		snprintf(tmp, sizeof(tmp), "%d", i);
		assert_field(&r.extra[i].value, FIELD_NUMBER, tmp);
	}
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, "last");
	buf_free(&b);
}

/* SPEC §5.7: a page is an array of message objects; any other element is bad data. */
static void test_non_object_elements(void **state)
{
	static const struct {
		const char *body;
		long long offset;
		const char *what;
	} cases[] = {
		{ "[1,\"x\",null,[],true]", 1, "element 0 is a number" },
		{ "[{\"unique\":\"u\"},\"s\"]", 16, "element 1 is a string" },
		{ "[{\"unique\":\"u\"},{},null]", 19, "element 2 is null" },
		{ "[{},[{\"unique\":\"in\"}]]", 4, "element 1 is an array" },
		{ "[ true ]", 2, "element 0 is a boolean" },
	};
	struct page *pg = *state;
	struct err e;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(pg, cases[i].body, strlen(cases[i].body), &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_int_equal(e.offset, cases[i].offset);
		if (!strstr(e.msg, cases[i].what))
			fprintf(stderr, "'%s': '%s'\n", cases[i].body, e.msg);
		assert_non_null(strstr(e.msg, cases[i].what));
		assert_int_equal(page_count(pg), 0);
	}
}

static void compact_is(struct page *pg, const char *body, size_t len, const char *want,
		       size_t want_len, unsigned want_bad)
{
	struct err e;
	struct record r;
	struct buf out = BUF_INIT;
	unsigned bad = 0;

	assert_int_equal(parse(pg, body, len, &e), PAGE_DONE);
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_int_equal(r.n_extra, 1);
	compact_of(&r.extra[0].value, &out, &bad);
	if (out.len != want_len || memcmp(out.data, want, want_len))
		fprintf(stderr, "got '%.*s'\nwant '%.*s'\n", (int)out.len, out.data, (int)want_len,
			want);
	assert_int_equal(out.len, want_len);
	assert_memory_equal(out.data, want, want_len);
	assert_int_equal(bad, want_bad);
	buf_free(&out);
}

static void test_compound_compact(void **state)
{
	struct page *pg = *state;

	compact_is(pg, S("[{\"x\": { \"a\" : [ 1 , \"\\u00e9\\/\" ] } }]"),
		   S("{\"a\":[1,\"\xC3\xA9/\"]}"), 0);
	compact_is(pg, S("[{\"x\":[true,false,null,-1.5e3,{},[]]}]"),
		   S("[true,false,null,-1.5e3,{},[]]"), 0);
	/* Keys are recoded too; broken text is replaced and counted. */
	compact_is(pg, S("[{\"x\":{\"k\\u00e9\\/\":\"\\ud83d\",\"\\u2028\":\"\\u0001\\n\"}}]"),
		   S("{\"k\xC3\xA9/\":\"\xEF\xBF\xBD\",\"\\u2028\":\"\\u0001\\n\"}"), 1);
	compact_is(pg, S("[{\"x\":12}]"), S("12"), 0);
}

static void nested(struct buf *b, int depth)
{
	assert_int_equal(buf_adds(b, "[{\"x\":"), 0);
	for (int i = 0; i < depth; i++)
		assert_int_equal(buf_addc(b, '['), 0);
	assert_int_equal(buf_adds(b, "\"deep\""), 0);
	for (int i = 0; i < depth; i++)
		assert_int_equal(buf_addc(b, ']'), 0);
	assert_int_equal(buf_adds(b, ",\"y\":1}]"), 0);
}

/* Nested values within the depth limit are kept whole; deeper bodies are refused. */
static void test_depth_limit(void **state)
{
	struct page *pg = *state;
	struct buf body = BUF_INIT, out = BUF_INIT;
	struct err e;
	struct record r;
	unsigned bad = 0;

	/* The page array and the message object take two of the levels. */
	nested(&body, JSON_MAX_DEPTH - 2);
	assert_int_equal(parse(pg, body.data, body.len, &e), PAGE_DONE);
	assert_int_equal(page_record(pg, body.data, 0, &r), 0);
	compact_of(&r.extra[0].value, &out, &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(out.len, (JSON_MAX_DEPTH - 2) * 2 + 6);
	assert_memory_equal(out.data, r.extra[0].value.p, out.len);
	assert_field(&r.extra[1].key, FIELD_STRING, "y");

	body.len = 0;
	nested(&body, JSON_MAX_DEPTH - 1);
	assert_int_equal(parse(pg, body.data, body.len, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	assert_int_equal(e.offset, 6 + JSON_MAX_DEPTH - 2); /* the bracket one level too deep */
	assert_non_null(strstr(e.msg, "depth limit"));
	buf_free(&body);
	buf_free(&out);
}

/* Parse a hostile body (final) and return the CPU seconds it took; it must be refused. */
static double refused_in(struct page *pg, const char *body, size_t len, const char *limit)
{
	struct err e;
	clock_t t0 = clock();

	assert_int_equal(parse(pg, body, len, &e), -1);
	assert_int_equal(e.kind, ERR_DATA);
	if (!strstr(e.msg, limit))
		fprintf(stderr, "want '%s': '%s'\n", limit, e.msg);
	assert_non_null(strstr(e.msg, limit));
	return (double)(clock() - t0) / CLOCKS_PER_SEC;
}

/* A body of n copies of unit inside open .. close. */
static void repeat(struct buf *b, const char *open, const char *unit, size_t n, const char *close)
{
	size_t u = strlen(unit);

	b->len = 0;
	assert_int_equal(buf_adds(b, open), 0);
	assert_int_equal(buf_reserve(b, u * n + strlen(close) + 1), 0);
	for (size_t i = 0; i < n; i++) {
		memcpy(b->data + b->len, unit, u);
		b->len += u;
	}
	assert_int_equal(buf_adds(b, close), 0);
}

/* SPEC §5.7: each limit refused during the scan or the parse, promptly, naming the limit. */
static void test_limits(void **state)
{
	struct page *pg = *state;
	struct buf b = BUF_INIT;
	char *big;

	/* 100k nested arrays: jsmn alone would take time quadratic in the depth. */
	repeat(&b, "", "[", 100000, "");
	assert_int_equal(buf_reserve(&b, 100000), 0);
	memset(b.data + b.len, ']', 100000);
	b.len += 100000;
	assert_true(refused_in(pg, b.data, b.len, "depth limit") < 0.5);

	repeat(&b, "[", "{},", JSON_MAX_ELEMENTS, "{}]");
	assert_true(refused_in(pg, b.data, b.len, "element limit") < 1.0);
	/* One element fewer is a page (of empty messages). */
	repeat(&b, "[", "{},", JSON_MAX_ELEMENTS - 1, "{}]");
	assert_int_equal(parse(pg, b.data, b.len, &(struct err){ 0 }), PAGE_DONE);
	assert_int_equal(page_count(pg), JSON_MAX_ELEMENTS);

	/* Values inside one element: only the token limit applies. */
	repeat(&b, "[[", "0,", JSON_MAX_TOKENS, "0]]");
	assert_true(refused_in(pg, b.data, b.len, "token limit") < 2.0);

	/* The byte limit is checked before any byte is read. */
	big = malloc((size_t)JSON_MAX_BODY + 1);
	assert_non_null(big);
	memset(big, ' ', (size_t)JSON_MAX_BODY + 1);
	big[0] = '[';
	assert_true(refused_in(pg, big, (size_t)JSON_MAX_BODY + 1, "64 MiB") < 0.5);
	free(big);
	buf_free(&b);
}

/* Raw control characters inside strings are invalid JSON; escaped ones are text. */
static void test_raw_control_characters(void **state)
{
	static const struct {
		const char *body;
		size_t len;
		long long offset;
	} cases[] = {
		{ S("[{\"message\":\"a\x01"
		    "b\"}]"),
		  14 },
		{ S("[{\"message\":\"tab\there\"}]"), 16 },
		{ S("[{\"mes\x1bsage\":\"x\"}]"), 6 },
		{ S("[{\"message\":\"a\\\x0a\"}]"), 15 }, /* a backslash before a raw line feed */
		{ S("[{\"unique\":\"12345678901234\x1f\"}]"),
		  26 }, /* found by the word-wide skip */
	};
	struct page *pg = *state;
	struct err e;
	struct record r;
	static const char ok[] = "[{\"message\":\"\\u0001\\t\\u001b\"}]";

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(parse(pg, cases[i].body, cases[i].len, &e), -1);
		assert_int_equal(e.kind, ERR_DATA);
		assert_int_equal(e.offset, cases[i].offset);
	}
	assert_non_null(strstr(e.msg, "control character"));
	assert_int_equal(parse(pg, S(ok), &e), PAGE_DONE);
	assert_int_equal(page_record(pg, ok, 0, &r), 0);
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, "\\u0001\\t\\u001b");
}

/* SPEC §5.7: a repeated key keeps its first value, known field or extra, and is counted. */
static void test_duplicate_keys(void **state)
{
	static const char body[] =
		"[{\"unique\":\"a\",\"unique\":\"b\",\"x\":1,\"message\":\"m\",\"x\":2,"
		"\"\\u0078\":3,\"messag\\u0065\":\"n\",\"y\":[1,{\"x\":1,\"x\":2}]},"
		"{\"unique\":\"c\",\"x\":9}]";
	struct page *pg = *state;
	struct err e;
	struct record r;

	assert_int_equal(parse(pg, S(body), &e), PAGE_DONE);
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_field(&r.f[REC_UNIQUE], FIELD_STRING, "a");
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, "m");
	assert_int_equal(r.n_extra, 2);
	assert_field(&r.extra[0].key, FIELD_STRING, "x");
	assert_field(&r.extra[0].value, FIELD_NUMBER, "1");
	assert_field(&r.extra[1].key, FIELD_STRING, "y");
	assert_int_equal(r.dup_keys, 4);
	assert_int_equal(page_record(pg, body, 1, &r), 0);
	assert_int_equal(r.dup_keys, 0);
	assert_int_equal(r.n_extra, 1);
	assert_field(&r.extra[0].value, FIELD_NUMBER, "9");
}

/*
 * A known key written with escapes is that key, however long the escaped form
 * (SPEC §4.1: text is decoded): "timestamp" escaped letter by letter is 54
 * bytes, the longest; "mess\u0061g\u0065" 17.
 */
static void test_escaped_known_keys(void **state)
{
	static const char body[] =
		"[{\"unique\":\"a\",\"\\u0074\\u0069\\u006d\\u0065\\u0073\\u0074\\u0061\\u006d"
		"\\u0070\":\"1614198777\",\"mess\\u0061g\\u0065\":\"m\",\"\\u0075\\u006e\\u0069q"
		"\\u0075\\u0065\":\"b\"}]";
	struct page *pg = *state;
	struct err e;
	struct record r;

	assert_int_equal(parse(pg, S(body), &e), PAGE_DONE);
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_field(&r.f[REC_TIMESTAMP], FIELD_STRING, "1614198777");
	assert_field(&r.f[REC_MESSAGE], FIELD_STRING, "m");
	assert_field(&r.f[REC_UNIQUE], FIELD_STRING, "a"); /* the escaped repeat is a repeat */
	assert_int_equal(r.n_extra, 0);
	assert_int_equal(r.dup_keys, 1);
}

/* Finding repeats is linear: a message with 200k distinct keys, and as many repeats. */
static void test_many_keys_linear(void **state)
{
	struct page *pg = *state;
	struct buf b = BUF_INIT;
	struct err e;
	struct record r;
	clock_t t0;

	assert_int_equal(buf_adds(&b, "[{\"unique\":\"u\""), 0);
	add_extras(&b, "k", 200000);
	add_extras(&b, "k", 200000);
	assert_int_equal(buf_adds(&b, "}]"), 0);
	t0 = clock();
	assert_int_equal(parse(pg, b.data, b.len, &e), PAGE_DONE);
	assert_int_equal(page_record(pg, b.data, 0, &r), 0);
	assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
	assert_int_equal(r.n_extra, 200000);
	assert_int_equal(r.dup_keys, 255); /* saturated */
	buf_free(&b);
}

/* Server text in a refusal is shown with its control characters escaped. */
static void test_refusal_text_is_escaped(void **state)
{
	static const char body[] = "{\"status\":\"FAIL\",\"reason\":\"x\xC2\x9B"
				   "31m\\u001b\"}";
	struct page *pg = *state;
	struct err e;

	assert_int_equal(parse(pg, S(body), &e), -1);
	assert_int_equal(e.kind, ERR_REFUSED);
	assert_non_null(strstr(e.msg, "'x\\xc2\\x9b31m\\u001b'"));
}

/* Extras belong to their own record when several records carry them. */
typedef int (*extract_fn)(struct page *pg, const char *body);

/* Extraction, plain or for a page handed to another thread: the same records. */
static void extras_per_record(struct page *pg, extract_fn extract)
{
	static const char body[] = "[{\"unique\":\"a\",\"x1\":1,\"x2\":2},"
				   "{\"unique\":\"b\"},"
				   "{\"y1\":\"s\",\"unique\":\"c\",\"y2\":[1],\"y3\":{}},"
				   "{\"z\":null}]";
	struct err e;
	struct record r;

	assert_int_equal(parse(pg, S(body), &e), PAGE_DONE);
	assert_int_equal(extract(pg, body), 0);
	assert_int_equal(extract(pg, body), 0); /* idempotent */
	/* Read out of order: records are independent. */
	assert_int_equal(page_record(pg, body, 2, &r), 0);
	assert_field(&r.f[REC_UNIQUE], FIELD_STRING, "c");
	assert_int_equal(r.n_extra, 3);
	assert_field(&r.extra[0].key, FIELD_STRING, "y1");
	assert_field(&r.extra[1].key, FIELD_STRING, "y2");
	assert_field(&r.extra[2].key, FIELD_STRING, "y3");
	assert_int_equal(page_record(pg, body, 0, &r), 0);
	assert_int_equal(r.n_extra, 2);
	assert_field(&r.extra[0].key, FIELD_STRING, "x1");
	assert_field(&r.extra[1].value, FIELD_NUMBER, "2");
	assert_int_equal(page_record(pg, body, 1, &r), 0);
	assert_int_equal(r.n_extra, 0);
	assert_int_equal(page_record(pg, body, 3, &r), 0);
	assert_int_equal(r.n_extra, 1);
	assert_field(&r.extra[0].key, FIELD_STRING, "z");
	assert_int_equal(r.extra[0].value.kind, FIELD_ABSENT);
	/* The codes are parsed once with the record. */
	assert_int_equal(parse(pg, S(normal_page), &e), PAGE_DONE);
	assert_int_equal(extract(pg, normal_page), 0);
	assert_int_equal(page_record(pg, normal_page, 1, &r), 0);
	assert_true(r.ts_ok && r.dir_ok && r.state_ok);
	assert_true(r.ts == 1614198700 && r.dir == 2 && r.state == 1);
	assert_int_equal(page_record(pg, normal_page, 0, &r), 0);
	assert_true(r.ts_ok && r.dir_ok && r.state_ok);
	assert_true(r.ts == 1614198777 && r.dir == 1 && r.state == 0);
}

static void test_extras_per_record(void **state)
{
	extras_per_record(*state, page_extract);
}

/* Extras that outgrow their array while the page is extracted. */
static void test_many_extras_in_one_page(void **state)
{
	struct page *pg = *state;
	struct buf b = BUF_INIT;
	struct err e;
	struct record r;
	char tmp[64];

	assert_int_equal(buf_adds(&b, "["), 0);
	for (int m = 0; m < 5; m++) {
		snprintf(tmp, sizeof(tmp), "%s{\"unique\":\"u%d\"", m ? "," : "", m);
		assert_int_equal(buf_adds(&b, tmp), 0);
		snprintf(tmp, sizeof(tmp), "k%d_", m);
		add_extras(&b, tmp, 30 * m);
		assert_int_equal(buf_adds(&b, ",\"timestamp\":\"1700000000\"}"), 0);
	}
	assert_int_equal(buf_adds(&b, "]"), 0);
	assert_int_equal(parse(pg, b.data, b.len, &e), PAGE_DONE);
	assert_int_equal(page_extract(pg, b.data), 0);
	for (int m = 0; m < 5; m++) {
		assert_int_equal(page_record(pg, b.data, (size_t)m, &r), 0);
		snprintf(tmp, sizeof(tmp), "u%d", m);
		assert_field(&r.f[REC_UNIQUE], FIELD_STRING, tmp);
		assert_true(r.ts_ok && r.ts == 1700000000);
		assert_int_equal(r.n_extra, 30 * m);
		assert_true(m ? r.extra != NULL : r.extra == NULL);
		for (int i = 0; i < 30 * m; i++) {
			snprintf(tmp, sizeof(tmp), "k%d_%d", m, i);
			assert_field(&r.extra[i].key, FIELD_STRING, tmp);
		}
	}
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_normal_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_between_bodies, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_invalid_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte_is_not_incomplete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accepts_valid_numbers_and_literals, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refusal_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_root_objects_are_data_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncated_body, setup, teardown),
		cmocka_unit_test_setup_teardown(test_api_shape_fast_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incremental_by_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_incremental_by_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_page_grows_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_type_drift_and_absent_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extras, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_extras, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_object_elements, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compound_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_depth_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw_control_characters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escaped_known_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_keys_linear, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusal_text_is_escaped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_extras_per_record, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_extras_in_one_page, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
