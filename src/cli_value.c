#include "cli_value.h"
#include "columns.h"
#include "contact.h"

#include <stdlib.h>
#include <string.h>

static int parse_number(const struct options_row *r, const char *s, long *out, struct err *e)
{
	char *end;
	long v;

	if (!*s || *s == ' ' || *s == '+')
		goto bad;
	v = strtol(s, &end, 10);
	if (*end || v < r->lo || v > r->hi)
		goto bad;
	*out = v;
	return 0;
bad:
	return err_set(e, ERR_USAGE, "--%s '%s': expected a whole number from %ld to %ld", r->name,
		       s, r->lo, r->hi);
}

static int check_from(const char *v, struct err *e)
{
	if (contact_check_international("from", v, e))
		return -1;
	if (!contact_is_account(v))
		return err_set(e, ERR_USAGE,
			       "--from '%s': expected the account number, 8-15 digits, "
			       "international, without '+' (e.g. 972501234567)",
			       v);
	return 0;
}

static int add_to(struct options *o, const char *v, struct err *e)
{
	const char **t;

	if (contact_check_international("to", v, e))
		return -1;
	if (!contact_is_valid(v))
		return err_set(e, ERR_USAGE,
			       "--to '%s': expected a number (international digits, "
			       "no '+') or a hidden-number id such as IL.1605856887361213",
			       v);
	for (size_t i = 0; i < o->nto; i++)
		if (!strcmp(o->to[i], v))
			return 0; /* a contact named twice is walked once (a list with a repeat) */
	t = realloc(o->to, (o->nto + 1) * sizeof(*t));
	if (!t)
		return err_nomem(e);
	o->to = t;
	o->to[o->nto++] = v;
	return 0;
}

static int set_choice(const char *opt, const char *v, const char *a, const char *b, int *index,
		      struct err *e)
{
	if (strcmp(v, a) && strcmp(v, b))
		return err_set(e, ERR_USAGE, "--%s '%s': expected %s or %s", opt, v, a, b);
	*index = !strcmp(v, b);
	return 0;
}

/* The checks of the text values that are stored as they are (0: none for this row). */
static int check_text(const struct options_row *r, const char *v, struct err *e)
{
	int ndjson;

	switch (r->id) {
	case OPT_OUTPUT:
		if (!*v)
			return err_set(e, ERR_USAGE,
				       "-o needs a file name ('-' for standard output)");
		return 0;
	case OPT_FORMAT:
		if (strcmp(v, "xlsx") && set_choice(r->name, v, "csv", "ndjson", &ndjson, e))
			return err_set(e, ERR_USAGE, "--format '%s': expected csv, ndjson or xlsx",
				       v);
		return 0;
	case OPT_FROM: return check_from(v, e);
	case OPT_MANIFEST:
		if (!*v || !strcmp(v, "-"))
			return err_set(e, ERR_USAGE,
				       "--manifest needs a file name (it is written "
				       "atomically, never to standard output)");
		return 0;
	case OPT_LOG_FILE:
		if (!*v || !strcmp(v, "-"))
			return err_set(e, ERR_USAGE,
				       "--log-file needs a file name (stderr already gets "
				       "every line)");
		return 0;
	case OPT_METRICS_FILE:
		if (!strcmp(v, "-"))
			return err_set(
				e, ERR_USAGE,
				"--metrics-file needs a file name (it is written "
				"atomically for a collector to read, never to standard output)");
		return 0;
	case OPT_DIALECT:
		if (column_dialect_find(v) < 0)
			return err_set(e, ERR_USAGE,
				       "--dialect '%s': expected postgres, duckdb, sqlite, "
				       "bigquery, clickhouse or jsonschema",
				       v);
		return 0;
	default: return 0;
	}
}

/*
 * Where each row's value goes, once checked (v is NULL for a flag, n its
 * number). No default case: a row added to the table without an action here
 * is a compiler warning (-Wswitch), so an error at build time.
 */
static int store(struct options *o, const struct options_row *r, const char *v, long n,
		 struct err *e)
{
	switch (r->id) {
	case OPT_OUTPUT: o->output = v; return 0;
	case OPT_FORMAT: o->format = v; return 0;
	case OPT_GZIP: o->gzip = 1; return 0;
	case OPT_GZIP_LEVEL:
		o->gzip_level = (int)n;
		o->gzip = 1;
		return 0;
	case OPT_TZ: o->tz = v; return 0;
	case OPT_EXCEL: o->excel = 1; return 0;
	case OPT_ORDER: return set_choice(r->name, v, "oldest", "newest", &o->order_newest, e);
	case OPT_COLUMNS: o->columns = v; return 0;
	case OPT_QUIET: o->quiet = 1; return 0;
	case OPT_PROGRESS: o->progress = 1; return 0;
	case OPT_THREADS: o->threads = (int)n; return 0;
	case OPT_FROM: o->from = v; return 0;
	case OPT_TO: return add_to(o, v, e);
	case OPT_URL: o->url = v; return 0;
	case OPT_API_KEY_FILE: o->api_key_file = v; return 0;
	case OPT_CACERT: o->cacert = v; return 0;
	case OPT_CONCURRENCY: o->concurrency = (int)n; return 0;
	case OPT_RETRIES: o->retries = (int)n; return 0;
	case OPT_TIMEOUT: o->timeout = (int)n; return 0;
	case OPT_SINCE: o->since = v; return 0;
	case OPT_UNTIL: o->until = v; return 0;
	case OPT_MAX_PAGES: o->max_pages = n; return 0;
	case OPT_SAVE_RAW: o->save_raw = v; return 0;
	case OPT_STATE: o->state = v; return 0;
	case OPT_LOOKBACK: o->lookback = v; return 0;
	case OPT_METRICS_FILE: o->metrics_file = v; return 0;
	case OPT_MEDIA_DIR: o->media_dir = v; return 0;
	case OPT_MANIFEST: o->manifest = v; return 0;
	case OPT_CREATE_DIRS: o->create_dirs = 1; return 0;
	case OPT_LOG_FILE: o->log_file = v; return 0;
	case OPT_DIALECT: o->dialect = v; return 0;
	case OPT_TABLE: o->table = v; return 0;
	case OPT_HELP:
		o->help_for = o->cmd;
		o->cmd = CMD_HELP;
		return 0;
	case OPT_VERSION: o->cmd = CMD_VERSION; return 0;
	case OPT_HELP_MAN: o->cmd = CMD_MAN; return 0;
	case OPT_API_KEY:
		return err_set(e, ERR_USAGE,
			       "there is no --api-key option: a key on the command "
			       "line is visible to every user through the process list; put it in "
			       "$WAEXPORT_API_KEY or in a file named by --api-key-file");
	case OPT_COUNT: break;
	}
	return err_set(e, ERR_SOFTWARE, "option table row %d has no action", (int)r->id);
}

int cli_value_apply(struct options *o, const struct options_row *r, const char *v, struct err *e)
{
	long n = 0;

	if (r->kind == OPTIONS_NUMBER && parse_number(r, v, &n, e))
		return -1;
	if (r->kind == OPTIONS_TEXT && check_text(r, v, e))
		return -1;
	/* An unset shell variable ("--save-raw $RAW") would otherwise fail late,
	 * after the outputs were committed. */
	if ((r->flags & OPTIONS_PATH) && !*v)
		return err_set(e, ERR_USAGE, "--%s: the path is empty (an unset shell variable?)",
			       r->name);
	return store(o, r, v, n, e);
}
