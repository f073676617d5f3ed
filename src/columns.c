#include "columns.h"

#include <string.h>

/*
 * Types per dialect, in enum column_dialect order (jsonschema uses
 * json_type). Every integer is 64-bit: the API's codes and times are parsed
 * as such, so a narrower type could refuse a row the file holds. `time` is
 * zone-aware wherever the dialect has such a type: PostgreSQL and DuckDB
 * keep the instant (shown in the session's zone), BigQuery TIMESTAMP is an
 * instant, ClickHouse DateTime64 stores UTC; SQLite has no time type, so the
 * ISO 8601 text with its offset is kept as written.
 */
#define TEXT_TYPES "text", "VARCHAR", "TEXT", "STRING", "String"
#define INT_TYPES "bigint", "BIGINT", "INTEGER", "INTEGER", "Int64"
#define TIME_TYPES "timestamptz", "TIMESTAMPTZ", "TEXT", "TIMESTAMP", "DateTime64(0, 'UTC')"

/* A name and its length, so writers never measure it per row. */
#define NAME(s) s, sizeof(s) - 1

static const struct column_info columns[COL_COUNT] = {
	[COL_UNIQUE] = { NAME("unique"), COLUMN_TEXT, 0, "as is", "string", { TEXT_TYPES } },
	[COL_TIMESTAMP] = { NAME("timestamp"),
			    COLUMN_INTEGER,
			    1,
			    "epoch seconds",
			    "integer",
			    { INT_TYPES } },
	[COL_TIME] = { NAME("time"),
		       COLUMN_TIME,
		       1,
		       "ISO 8601 in --tz with offset",
		       "string",
		       { TIME_TYPES } },
	[COL_DIRECTION] = { NAME("direction"),
			    COLUMN_TEXT,
			    0,
			    "incoming/outgoing/unknown",
			    "string",
			    { TEXT_TYPES } },
	[COL_DIRECTION_CODE] = { NAME("direction_code"),
				 COLUMN_INTEGER,
				 1,
				 "raw code",
				 "integer",
				 { INT_TYPES } },
	[COL_FROM] = { NAME("from"), COLUMN_TEXT, 1, "as is", "string", { TEXT_TYPES } },
	[COL_TO] = { NAME("to"), COLUMN_TEXT, 1, "as is", "string", { TEXT_TYPES } },
	[COL_TYPE] = { NAME("type"), COLUMN_TEXT, 1, "as is", "string", { TEXT_TYPES } },
	[COL_STATE] = { NAME("state"), COLUMN_TEXT, 1, "label", "string", { TEXT_TYPES } },
	[COL_STATE_CODE] = { NAME("state_code"),
			     COLUMN_INTEGER,
			     1,
			     "raw code",
			     "integer",
			     { INT_TYPES } },
	[COL_REASON] = { NAME("reason"),
			 COLUMN_TEXT,
			 1,
			 "as is, empty when absent",
			 "string",
			 { TEXT_TYPES } },
	[COL_MESSAGE] = { NAME("message"),
			  COLUMN_TEXT,
			  1,
			  "decoded text",
			  "string",
			  { TEXT_TYPES } },
	[COL_MEDIA_FILE] = { NAME("media_file"),
			     COLUMN_TEXT,
			     1,
			     "path of the downloaded file",
			     "string",
			     { TEXT_TYPES } },
};

static const char *const dialects[DIALECT_COUNT] = {
	[DIALECT_POSTGRES] = "postgres",     [DIALECT_DUCKDB] = "duckdb",
	[DIALECT_SQLITE] = "sqlite",         [DIALECT_BIGQUERY] = "bigquery",
	[DIALECT_CLICKHOUSE] = "clickhouse", [DIALECT_JSONSCHEMA] = "jsonschema",
};

const struct column_info *column_info(enum column c)
{
	return &columns[c];
}

int column_find(const char *name, size_t len)
{
	for (int c = 0; c < COL_COUNT; c++)
		if (strlen(columns[c].name) == len && !memcmp(columns[c].name, name, len))
			return c;
	return -1;
}

const char *column_list(void)
{
	return "unique, timestamp, time, direction, direction_code, from, to, type, state, "
	       "state_code, reason, message, media_file";
}

int column_dialect_find(const char *name)
{
	for (int d = 0; d < DIALECT_COUNT; d++)
		if (!strcmp(dialects[d], name))
			return d;
	return -1;
}

const char *column_dialect_name(enum column_dialect d)
{
	return dialects[d];
}
