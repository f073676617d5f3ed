/*
 * schema: `waexport schema` (SPEC §4.8) — the table definition a loader
 * needs for exactly the columns fetch/convert write with the same output
 * options: SQL DDL for PostgreSQL, DuckDB, SQLite and ClickHouse, the JSON
 * field list `bq load --schema` takes, or the JSON Schema (2020-12) of one
 * NDJSON line. Every type comes from the column table (columns.h), the one
 * the writers read. Text only: the caller prints it.
 */
#ifndef WAEXPORT_SCHEMA_H
#define WAEXPORT_SCHEMA_H

#include "buf.h"
#include "columns.h"
#include "err.h"
#include "writer.h"

#define SCHEMA_DEFAULT_TABLE "whatsapp_messages"

struct schema_opts {
	enum column_dialect dialect;
	const struct writer_opts *writer; /* format, columns, extras */
	const char *table;                /* NULL: SCHEMA_DEFAULT_TABLE */
};

/*
 * Append the definition to out. ERR_USAGE for a table name that is not a
 * plain identifier (optionally schema.table) or a dialect that cannot
 * describe the format (jsonschema of CSV); -1 with e set.
 */
int schema_render(struct buf *out, const struct schema_opts *o, struct err *e);

#endif
