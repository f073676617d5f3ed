#include "schema.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/*
 * A name that needs no quoting in any dialect, so it can be pasted into a
 * command line and into every loader's syntax: [A-Za-z_][A-Za-z0-9_]*, with
 * at most one '.' between two such parts (schema.table).
 */
static int plain_name(const char *s)
{
	int dots = 0, start = 1;

	for (const char *p = s; *p; p++) {
		int alpha = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '_';

		if (*p == '.') {
			if (start || ++dots > 1)
				return 0;
			start = 1;
		} else if (alpha || (!start && *p >= '0' && *p <= '9')) {
			start = 0;
		} else {
			return 0;
		}
	}
	return *s && !start && strlen(s) <= 128;
}

/*
 * Words PostgreSQL reserves (its keyword appendix: "reserved"), which SQLite
 * and DuckDB refuse as bare names too, with the few the other loaders add: a
 * table named so needs quotes in every statement that names it, the
 * README's recipes included.
 */
static const char *const reserved[] = {
	"all",
	"analyse",
	"analyze",
	"and",
	"any",
	"array",
	"as",
	"asc",
	"asymmetric",
	"between",
	"both",
	"by",
	"case",
	"cast",
	"check",
	"collate",
	"column",
	"constraint",
	"create",
	"cross",
	"current_date",
	"current_time",
	"current_timestamp",
	"current_user",
	"default",
	"deferrable",
	"delete",
	"desc",
	"distinct",
	"do",
	"drop",
	"else",
	"end",
	"except",
	"exists",
	"false",
	"fetch",
	"for",
	"foreign",
	"from",
	"full",
	"grant",
	"group",
	"having",
	"in",
	"index",
	"initially",
	"inner",
	"insert",
	"intersect",
	"into",
	"is",
	"join",
	"key",
	"lateral",
	"leading",
	"left",
	"like",
	"limit",
	"localtime",
	"natural",
	"not",
	"null",
	"offset",
	"on",
	"only",
	"or",
	"order",
	"outer",
	"placing",
	"primary",
	"references",
	"returning",
	"right",
	"select",
	"session_user",
	"set",
	"some",
	"symmetric",
	"table",
	"then",
	"to",
	"trailing",
	"true",
	"union",
	"unique",
	"update",
	"user",
	"using",
	"values",
	"variadic",
	"when",
	"where",
	"window",
	"with",
};

/* A part of the name (up to '.' or the end) that is a reserved word, or NULL. */
static const char *reserved_part(const char *s, size_t *len)
{
	for (const char *p = s; *p; p = *p ? p + 1 : p) {
		size_t n = strcspn(p, ".");

		for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
			if (strlen(reserved[i]) == n && !strncasecmp(p, reserved[i], n)) {
				*len = n;
				return p;
			}
		p += n;
	}
	return NULL;
}

static int has_unique(const struct writer_opts *w)
{
	for (size_t i = 0; i < w->ncolumns; i++)
		if (w->columns[i] == COL_UNIQUE)
			return 1;
	return 0;
}

/*
 * SQL: every column name quoted (unique, from, to, time and type are
 * keywords somewhere); `unique` the primary key, or ClickHouse's sorting key
 * of a ReplacingMergeTree, whose merges keep the last row inserted per key.
 */
static int render_sql(struct buf *out, const struct schema_opts *o, const char *table)
{
	const struct writer_opts *w = o->writer;
	int ch = o->dialect == DIALECT_CLICKHOUSE, pk = has_unique(w);
	char q = ch ? '`' : '"';

	if (buf_addf(out, "CREATE TABLE IF NOT EXISTS %s (\n", table))
		return -1;
	for (size_t i = 0; i < w->ncolumns; i++) {
		const struct column_info *c = column_info(w->columns[i]);
		const char *type = c->type[o->dialect];
		int key = w->columns[i] == COL_UNIQUE;
		const char *end = i + 1 < w->ncolumns ? "," : "";

		if (ch && c->nullable &&
		    buf_addf(out, "    %c%s%c Nullable(%s)%s\n", q, c->name, q, type, end))
			return -1;
		/* SQLite alone lets a TEXT key be NULL: such rows would never merge. */
		if ((!ch || !c->nullable) &&
		    buf_addf(out, "    %c%s%c %s%s%s\n", q, c->name, q, type,
			     key && o->dialect == DIALECT_SQLITE ? " PRIMARY KEY NOT NULL"
			     : key && !ch                        ? " PRIMARY KEY"
			     : !c->nullable && !ch               ? " NOT NULL"
								 : "",
			     end))
			return -1;
	}
	if (ch)
		return buf_addf(out, ")\nENGINE = ReplacingMergeTree\nORDER BY %s;\n",
				pk ? "`unique`" : "tuple()");
	return buf_addf(out, ");\n");
}

/* The field list of `bq load --schema` (a JSON array). */
static int render_bigquery(struct buf *out, const struct writer_opts *w)
{
	if (buf_addf(out, "["))
		return -1;
	for (size_t i = 0; i < w->ncolumns; i++) {
		const struct column_info *c = column_info(w->columns[i]);

		/* A message without unique is written with a null one (json_property). */
		int may_be_null = c->nullable || w->columns[i] == COL_UNIQUE;

		if (buf_addf(out, "%s\n  {\"name\": \"%s\", \"type\": \"%s\", \"mode\": \"%s\"}",
			     i ? "," : "", c->name, c->type[DIALECT_BIGQUERY],
			     may_be_null ? "NULLABLE" : "REQUIRED"))
			return -1;
	}
	return buf_addf(out, "\n]\n");
}

/* One property of an NDJSON line: its JSON type, null where the writer may write null. */
static int json_property(struct buf *out, enum column col, int last)
{
	const struct column_info *c = column_info(col);
	const char *extra = "";

	if (col == COL_TIME)
		extra = ", \"format\": \"date-time\"";
	else if (col == COL_DIRECTION)
		extra = ", \"enum\": [\"incoming\", \"outgoing\", \"unknown\"]";
	/* SPEC §4.1: a timestamp or code that is not an integer keeps its raw text */
	if (col == COL_TIMESTAMP || col == COL_DIRECTION_CODE || col == COL_STATE_CODE)
		return buf_addf(out,
				"    \"%s\": {\"type\": [\"integer\", \"string\", \"null\"]}%s\n",
				c->name, last ? "" : ",");
	/* A message the API sent without one has a null unique: the line is still written. */
	if (c->nullable || col == COL_UNIQUE)
		return buf_addf(out, "    \"%s\": {\"type\": [\"%s\", \"null\"]%s}%s\n", c->name,
				c->json_type, extra, last ? "" : ",");
	return buf_addf(out, "    \"%s\": {\"type\": \"%s\"%s}%s\n", c->name, c->json_type, extra,
			last ? "" : ",");
}

/* JSON Schema 2020-12 of one line: every selected key present; extras allowed when written. */
static int render_jsonschema(struct buf *out, const struct writer_opts *w, const char *table)
{
	if (buf_addf(
		    out,
		    "{\n  \"$schema\": \"https://json-schema.org/draft/2020-12/schema\",\n"
		    "  \"title\": \"%s\",\n  \"description\": \"One line of waexport NDJSON output "
		    "(SPEC 4.1)\",\n  \"type\": \"object\",\n  \"properties\": {\n",
		    table))
		return -1;
	for (size_t i = 0; i < w->ncolumns; i++)
		if (json_property(out, w->columns[i], i + 1 == w->ncolumns))
			return -1;
	if (buf_addf(out, "  },\n  \"required\": ["))
		return -1;
	for (size_t i = 0; i < w->ncolumns; i++)
		if (buf_addf(out, "%s\"%s\"", i ? ", " : "", column_info(w->columns[i])->name))
			return -1;
	return buf_addf(out, "],\n  \"additionalProperties\": %s\n}\n",
			w->extras ? "true" : "false");
}

int schema_render(struct buf *out, const struct schema_opts *o, struct err *e)
{
	const char *table = o->table ? o->table : SCHEMA_DEFAULT_TABLE, *word;
	size_t wlen;
	int rc;

	if (!plain_name(table))
		return err_set(e, ERR_USAGE,
			       "--table '%s': expected a plain name such as "
			       "whatsapp_messages or raw.whatsapp_messages (letters, digits, _; "
			       "not starting with a digit)",
			       table);
	if ((word = reserved_part(table, &wlen)))
		return err_set(
			e, ERR_USAGE,
			"--table '%s': '%.*s' is a reserved word in SQL, which every "
			"statement would have to quote; choose another name, e.g. %.*s_messages",
			table, (int)wlen, word, (int)wlen, word);
	if (o->dialect == DIALECT_JSONSCHEMA && o->writer->format != WRITER_NDJSON)
		return err_set(e, ERR_USAGE,
			       "--dialect jsonschema describes one NDJSON line; "
			       "it goes with --format ndjson (or no --format)");
	switch (o->dialect) {
	case DIALECT_BIGQUERY: rc = render_bigquery(out, o->writer); break;
	case DIALECT_JSONSCHEMA: rc = render_jsonschema(out, o->writer, table); break;
	default: rc = render_sql(out, o, table); break;
	}
	return rc ? err_nomem(e) : 0;
}
