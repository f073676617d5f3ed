/*
 * columns: the one table of SPEC §4.1's columns — each column's name, what
 * its CSV cell and NDJSON value hold, whether it can be empty/null, and its
 * type in every dialect `waexport schema` speaks (SPEC §4.8). The writers
 * (names, --columns, the default set) and the schema printer read this
 * table, so the header a file carries and the table a loader creates cannot
 * disagree. Static data only: nothing here allocates.
 */
#ifndef WAEXPORT_COLUMNS_H
#define WAEXPORT_COLUMNS_H

#include <stddef.h>

/* SPEC §4.1 columns, in their default order. */
enum column {
	COL_UNIQUE,
	COL_TIMESTAMP,
	COL_TIME,
	COL_DIRECTION,
	COL_DIRECTION_CODE,
	COL_FROM,
	COL_TO,
	COL_TYPE,
	COL_STATE,
	COL_STATE_CODE,
	COL_REASON,
	COL_MESSAGE,
	COL_MEDIA_FILE,
	COL_COUNT
};

/* The kind of value a column holds, whatever the format. */
enum column_kind {
	COLUMN_TEXT,    /* text as is (ids keep their leading zeros) */
	COLUMN_INTEGER, /* a whole number (epoch seconds, raw codes) */
	COLUMN_TIME,    /* ISO 8601 with the --tz offset; empty/null when unknown */
};

/* The dialects of `waexport schema`, in the order --help lists them. */
enum column_dialect {
	DIALECT_POSTGRES,
	DIALECT_DUCKDB,
	DIALECT_SQLITE,
	DIALECT_BIGQUERY,
	DIALECT_CLICKHOUSE,
	DIALECT_JSONSCHEMA,
	DIALECT_COUNT
};

/* The longest column name, in bytes (direction_code); a unit test holds every name to it. */
#define COLUMN_NAME_MAX 14

struct column_info {
	const char *name;
	size_t name_len;
	enum column_kind kind;
	int nullable;                        /* may be empty (CSV) or null (NDJSON) */
	const char *csv;                     /* what the CSV cell holds (for docs) */
	const char *json_type;               /* JSON Schema "type" of the NDJSON value */
	const char *type[DIALECT_COUNT - 1]; /* SQL/BigQuery type per dialect (not jsonschema) */
};

const struct column_info *column_info(enum column c);

/* The column of a name (exact, len bytes), or -1. */
int column_find(const char *name, size_t len);

/* "unique, timestamp, ..., media_file": for messages. */
const char *column_list(void);

/* The dialect of a name (exact), or -1; and its name. */
int column_dialect_find(const char *name);
const char *column_dialect_name(enum column_dialect d);

#endif
