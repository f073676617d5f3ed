/*
 * schema: every dialect of `waexport schema` (SPEC §4.8) from the column
 * table — the key, the zone-aware time, integers and text ids, --columns,
 * media_file, the table name, and what is refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "buf.h"
#include "columns.h"
#include "schema.h"
#include "writer.h"

static char text[8192];

/* Render; 0 or the error kind. The text lands in `text`. */
static int render(enum column_dialect d, const char *columns, int media, int ndjson,
		  const char *table)
{
	struct writer_opts w = { .format = ndjson ? WRITER_NDJSON : WRITER_CSV };
	struct schema_opts o = { .dialect = d, .writer = &w, .table = table };
	struct err e = { .kind = ERR_NONE };
	struct buf out = BUF_INIT;
	int rc;

	if (columns)
		assert_int_equal(writer_parse_columns(&w, columns, &e), 0);
	else {
		writer_default_columns(&w, media);
		w.extras = 1;
	}
	rc = schema_render(&out, &o, &e);
	text[0] = '\0';
	if (!rc) {
		assert_true(out.len < sizeof(text));
		memcpy(text, out.data, out.len);
		text[out.len] = '\0';
	}
	buf_free(&out);
	return rc ? (int)e.kind : 0;
}

static void test_postgres_key_time_and_integers(void **state)
{
	(void)state;
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, NULL), 0);
	assert_non_null(strstr(text, "CREATE TABLE IF NOT EXISTS whatsapp_messages (\n"));
	assert_non_null(strstr(text, "\"unique\" text PRIMARY KEY,"));
	assert_non_null(strstr(text, "\"time\" timestamptz,"));
	assert_non_null(strstr(text, "\"timestamp\" bigint,"));
	assert_non_null(strstr(text, "\"state_code\" bigint,"));
	assert_non_null(strstr(text, "\"from\" text,"));
	assert_null(strstr(text, "media_file"));
	assert_non_null(strstr(text, "\"message\" text\n);\n"));
}

static void test_every_sql_dialect_follows_the_column_table(void **state)
{
	(void)state;
	assert_int_equal(render(DIALECT_DUCKDB, NULL, 0, 0, NULL), 0);
	assert_non_null(strstr(text, "\"time\" TIMESTAMPTZ,"));
	assert_non_null(strstr(text, "\"unique\" VARCHAR PRIMARY KEY,"));
	assert_int_equal(render(DIALECT_SQLITE, NULL, 0, 0, NULL), 0);
	assert_non_null(strstr(text, "\"timestamp\" INTEGER,"));
	assert_non_null(strstr(text, "\"time\" TEXT,"));
	assert_non_null(strstr(text, "\"unique\" TEXT PRIMARY KEY NOT NULL,"));
	assert_int_equal(render(DIALECT_CLICKHOUSE, NULL, 0, 0, NULL), 0);
	assert_non_null(strstr(text, "`time` Nullable(DateTime64(0, 'UTC')),"));
	assert_non_null(strstr(text, "ENGINE = ReplacingMergeTree\nORDER BY `unique`;"));
	/* Each column once, in the order the writers write them. */
	for (int c = 0; c + 1 < COL_COUNT - 1; c++) {
		char a[40], b[40];

		snprintf(a, sizeof(a), "`%s`", column_info((enum column)c)->name);
		snprintf(b, sizeof(b), "`%s`", column_info((enum column)(c + 1))->name);
		assert_true(strstr(text, a) < strstr(text, b));
	}
}

static void test_columns_and_media_dir_choose_the_columns(void **state)
{
	(void)state;
	assert_int_equal(render(DIALECT_POSTGRES, "time,from,message", 0, 0, NULL), 0);
	assert_null(strstr(text, "PRIMARY KEY"));
	assert_null(strstr(text, "\"unique\""));
	assert_true(strstr(text, "\"time\"") < strstr(text, "\"from\""));
	assert_int_equal(render(DIALECT_CLICKHOUSE, "time,message", 0, 0, NULL), 0);
	assert_non_null(strstr(text, "ORDER BY tuple();"));
	assert_int_equal(render(DIALECT_SQLITE, NULL, 1, 0, NULL), 0);
	assert_non_null(strstr(text, "\"media_file\" TEXT\n"));
}

static void test_bigquery_is_the_field_list_bq_load_takes(void **state)
{
	(void)state;
	assert_int_equal(render(DIALECT_BIGQUERY, "unique,timestamp,time,direction", 0, 1, NULL),
			 0);
	/* unique may be null (a message sent without one), as the JSON schema says: NULLABLE */
	assert_string_equal(
		text,
		"[\n  {\"name\": \"unique\", \"type\": \"STRING\", \"mode\": \"NULLABLE\"},\n"
		"  {\"name\": \"timestamp\", \"type\": \"INTEGER\", \"mode\": \"NULLABLE\"},\n"
		"  {\"name\": \"time\", \"type\": \"TIMESTAMP\", \"mode\": \"NULLABLE\"},\n"
		"  {\"name\": \"direction\", \"type\": \"STRING\", \"mode\": \"REQUIRED\"}\n]\n");
}

static void test_jsonschema_describes_one_ndjson_line(void **state)
{
	(void)state;
	assert_int_equal(render(DIALECT_JSONSCHEMA, NULL, 0, 1, NULL), 0);
	assert_non_null(
		strstr(text, "\"$schema\": \"https://json-schema.org/draft/2020-12/schema\""));
	/* what NDJSON writes for a message sent without an id, or with a code that is no integer */
	assert_non_null(strstr(text, "\"unique\": {\"type\": [\"string\", \"null\"]}"));
	assert_non_null(
		strstr(text, "\"state_code\": {\"type\": [\"integer\", \"string\", \"null\"]}"));
	assert_non_null(strstr(text, "\"additionalProperties\": true"));
	assert_int_equal(render(DIALECT_JSONSCHEMA, "unique,time", 0, 1, NULL), 0);
	assert_non_null(strstr(text, "\"required\": [\"unique\", \"time\"]"));
	assert_non_null(strstr(text, "\"additionalProperties\": false"));
	/* A CSV row is no JSON object. */
	assert_int_equal(render(DIALECT_JSONSCHEMA, NULL, 0, 0, NULL), ERR_USAGE);
}

static void test_table_names(void **state)
{
	(void)state;
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "raw.chats_2"), 0);
	assert_non_null(strstr(text, "CREATE TABLE IF NOT EXISTS raw.chats_2 (\n"));
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "x; DROP TABLE y"), ERR_USAGE);
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "1abc"), ERR_USAGE);
	/* A reserved word would need quotes in every statement that names the table. */
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "order"), ERR_USAGE);
	assert_int_equal(render(DIALECT_SQLITE, NULL, 0, 0, "raw.User"), ERR_USAGE);
	assert_int_equal(render(DIALECT_DUCKDB, NULL, 0, 0, "select.chats"), ERR_USAGE);
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "raw.orders"), 0);
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "user_log.to_do"), 0);
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "a.b.c"), ERR_USAGE);
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, "a."), ERR_USAGE);
	assert_int_equal(render(DIALECT_POSTGRES, NULL, 0, 0, ""), ERR_USAGE);
}

static void test_names_come_from_one_table(void **state)
{
	(void)state;
	for (int c = 0; c < COL_COUNT; c++) {
		const char *n = column_info((enum column)c)->name;

		assert_string_equal(writer_column_name((enum column)c), n);
		assert_int_equal(column_find(n, strlen(n)), c);
		assert_non_null(strstr(column_list(), n));
	}
	assert_int_equal(column_find("tim", 3), -1);
	for (int d = 0; d < DIALECT_COUNT; d++)
		assert_int_equal(column_dialect_find(column_dialect_name((enum column_dialect)d)),
				 d);
	assert_int_equal(column_dialect_find("mysql"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postgres_key_time_and_integers),
		cmocka_unit_test(test_every_sql_dialect_follows_the_column_table),
		cmocka_unit_test(test_columns_and_media_dir_choose_the_columns),
		cmocka_unit_test(test_bigquery_is_the_field_list_bq_load_takes),
		cmocka_unit_test(test_jsonschema_describes_one_ndjson_line),
		cmocka_unit_test(test_table_names),
		cmocka_unit_test(test_names_come_from_one_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
