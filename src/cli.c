#include "cli.h"
#include "cli_value.h"
#include "outpath.h"
#include "samefile.h"
#include "suggest.h"
#include "tz.h"
#include "usage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The state of one walk over argv. */
struct parser {
	struct options *o;
	unsigned bit;                 /* the command's OPTIONS_* bit */
	const char *given[OPT_COUNT]; /* the value each single-value option got */
	int done;                     /* --help or --version seen: stop */
};

/* ---------------------------------------------------------------- messages */

static int missing_value(struct parser *p, const struct options_row *r, const char *shown,
			 struct err *e)
{
	return err_set(e, ERR_USAGE, "%s needs a value (%s; see 'waexport %s --help')", shown,
		       r->arg, options_command_name(p->o->cmd));
}

static int unknown_short(struct parser *p, const char *arg, char letter, struct err *e)
{
	char letters[64];

	usage_list_letters(letters, sizeof(letters));
	return err_set(e, ERR_USAGE,
		       "unknown option '-%c'%s%s%s; the short options are %s (see "
		       "'waexport %s --help')",
		       letter, arg[2] ? " in '" : "", arg[2] ? arg : "", arg[2] ? "'" : "", letters,
		       options_command_name(p->o->cmd));
}

/* ---------------------------------------------------------------- options */

/* The commands in bits, for a message: 'fetch' and 'convert'. */
static const char *commands_named(unsigned bits, char *out, size_t size)
{
	size_t n = 0, left = 0;

	for (size_t i = 0; i < options_ncommands; i++)
		left += (options_commands[i].bit & bits) != 0;
	out[0] = '\0';
	for (size_t i = 0; i < options_ncommands && n < size; i++) {
		if (!(options_commands[i].bit & bits))
			continue;
		left--;
		n += (size_t)snprintf(out + n, size - n, "'%s'%s", options_commands[i].name,
				      left > 1 ? ", "
				      : left   ? " and "
					       : "");
	}
	return out;
}

/* One option and its value (NULL for a flag): the checks every row shares. */
static int take(struct parser *p, const struct options_row *r, const char *shown, const char *v,
		struct err *e)
{
	char names[64];

	if (!(r->commands & p->bit))
		return err_set(e, ERR_USAGE, "%s is an option of %s, not of '%s'", shown,
			       commands_named(r->commands, names, sizeof(names)),
			       options_command_name(p->o->cmd));
	if (r->kind != OPTIONS_FLAG && !(r->flags & OPTIONS_REPEAT)) {
		if (p->given[r->id])
			return err_set(e, ERR_USAGE,
				       "%s given twice ('%s', then '%s'); it takes one "
				       "value",
				       shown, p->given[r->id], v);
		p->given[r->id] = v;
	}
	if (cli_value_apply(p->o, r, v, e))
		return -1;
	/* --help, --version and --help-man turn the command into one without options: stop. */
	p->done = options_command_bit(p->o->cmd) != p->bit;
	return 0;
}

static int unknown_option(struct parser *p, const char *arg, size_t len, struct err *e)
{
	const char *names[4];
	const char *cmd = options_command_name(p->o->cmd);
	char hint[256];
	size_t n = suggest_option(arg + 2, len - 2, p->bit, names, 4);

	if (!n) /* perhaps another command's option */
		n = suggest_option(arg + 2, len - 2, OPTIONS_ALL, names, 4);
	suggest_phrase(hint, sizeof(hint), names, n, "--");
	return err_set(e, ERR_USAGE, "unknown option '%.*s'%s (see 'waexport %s --help')", (int)len,
		       arg, hint, cmd);
}

/* "--name", "--name=value" or "--name value" (argv[*i] and perhaps the next). */
static int long_option(struct parser *p, int argc, char **argv, int *i, struct err *e)
{
	const char *arg = argv[*i], *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct options_row *r = options_find(arg + 2, len - 2);
	char shown[64];

	if (!r)
		return unknown_option(p, arg, len, e);
	snprintf(shown, sizeof(shown), "--%s", r->name);
	if (r->kind == OPTIONS_FLAG) {
		if (eq)
			return err_set(e, ERR_USAGE, "%s takes no value ('%s')", shown, arg);
		return take(p, r, shown, NULL, e);
	}
	if (eq)
		return take(p, r, shown, eq + 1, e);
	if (*i + 1 >= argc)
		return missing_value(p, r, shown, e);
	return take(p, r, shown, argv[++*i], e);
}

/* "-q", "-o PATH", "-oPATH", "-qo PATH". */
static int short_options(struct parser *p, int argc, char **argv, int *i, struct err *e)
{
	const char *arg = argv[*i];

	for (const char *c = arg + 1; *c && !p->done; c++) {
		const struct options_row *r = options_find_letter(*c);
		char shown[3] = { '-', *c, '\0' };

		if (!r)
			return unknown_short(p, arg, *c, e);
		if (r->kind == OPTIONS_FLAG) {
			if (take(p, r, shown, NULL, e))
				return -1;
			continue;
		}
		if (c[1])
			return take(p, r, shown, c + 1, e);
		if (*i + 1 >= argc)
			return missing_value(p, r, shown, e);
		return take(p, r, shown, argv[++*i], e);
	}
	return 0;
}

/* ---------------------------------------------------------------- commands */

/* An option before the command: --help, --version and --help-man belong there. */
static int global_option(struct options *o, const char *arg, struct err *e)
{
	const char *names[4];
	char hint[128], cmds[64];
	size_t len = strcspn(arg + 2, "=");
	const struct options_row *r = arg[1] == '-' ? options_find(arg + 2, len)
				      : !arg[2]     ? options_find_letter(arg[1])
						    : NULL;

	usage_list_commands(cmds, sizeof(cmds));
	if (r && (r->id == OPT_HELP || r->id == OPT_VERSION || r->id == OPT_HELP_MAN)) {
		o->cmd = r->id == OPT_HELP      ? CMD_HELP
			 : r->id == OPT_VERSION ? CMD_VERSION
						: CMD_MAN;
		return 0;
	}
	if (r)
		return err_set(e, ERR_USAGE, "--%s goes after the command: waexport %s --%s ...",
			       r->name, r->commands == OPTIONS_FETCH ? "fetch" : "COMMAND",
			       r->name);
	hint[0] = '\0';
	if (arg[1] == '-')
		suggest_phrase(hint, sizeof(hint), names,
			       suggest_option(arg + 2, len, OPTIONS_ALL, names, 4), "--");
	return err_set(e, ERR_USAGE,
		       "unknown option '%s'%s (a command comes first, one of %s; "
		       "see 'waexport --help')",
		       arg, hint, cmds);
}

static int unknown_command(const char *arg, struct err *e)
{
	const char *names[4];
	char hint[128], cmds[64];

	usage_list_commands(cmds, sizeof(cmds));
	suggest_phrase(hint, sizeof(hint), names, suggest_command(arg, strlen(arg), names, 4), "");
	return err_set(e, ERR_USAGE,
		       "unknown command '%s'%s (the commands are %s; see 'waexport "
		       "--help')",
		       arg, hint, cmds);
}

/* argv[1]: a command, help [COMMAND], or an option that needs none (--help, --version). */
static int parse_command(struct options *o, int argc, char **argv, struct err *e)
{
	const char *a = argv[1];
	const struct options_command *c;

	if (a[0] == '-' && a[1] && global_option(o, a, e))
		return -1;
	if (!strcmp(a, "help"))
		o->cmd = CMD_HELP;
	if (o->cmd == CMD_HELP && argc > 2) {
		c = options_find_command(argv[2]);
		if (!c)
			return unknown_command(argv[2], e);
		o->help_for = c->cmd;
	}
	if (o->cmd != CMD_NONE)
		return 0;
	c = options_find_command(a);
	if (!c)
		return unknown_command(a, e);
	o->cmd = c->cmd;
	return 0;
}

/*
 * The day {date} names, read once, so the paths compared here are the ones
 * the run writes, also across midnight. A bad --tz leaves it empty: the run
 * refuses the zone before it writes anything.
 */
static void set_today(struct options *o)
{
	struct tz *z;
	struct err ignored;

	o->today[0] = '\0';
	if (tz_open(&z, o->tz, &ignored))
		return;
	if (tz_date(z, (long long)time(NULL), o->today))
		o->today[0] = '\0';
	tz_free(z);
}

/*
 * {from}, {to} (with one --to) and {date} expand in the other paths a run
 * writes as they do in -o: one cron line per account, each with its own
 * metrics file, state or log. Left as they were, every account's metrics
 * went to one file named '{from}.prom'. {chat} has no value there.
 */
static int expand_paths(struct options *o, struct err *e)
{
	const char **path[] = { &o->metrics_file, &o->log_file, &o->state, &o->media_dir };
	static const char *const name[] = { "--metrics-file", "--log-file", "--state",
					    "--media-dir" };
	struct outpath_vars v = { .from = o->cmd == CMD_FETCH ? o->from : NULL,
				  .to = o->nto == 1 ? o->to[0] : NULL,
				  .date = o->today,
				  .no_to = o->nto > 1 };

	for (size_t i = 0; i < sizeof(path) / sizeof(*path) && o->today[0]; i++) {
		if (!*path[i] || !strchr(*path[i], '{'))
			continue;
		v.option = name[i];
		if (outpath_expand(*path[i], &v, &o->expanded[i], e))
			return -1;
		*path[i] = o->expanded[i];
	}
	return 0;
}

/* What only the whole command line can tell. */
static int check_together(struct options *o, struct err *e)
{
	int rc;

	if (o->lookback && !o->state)
		return err_set(e, ERR_USAGE,
			       "--lookback goes with --state (it widens the window behind "
			       "the checkpoint)");
	if (o->cmd == CMD_SCHEMA) {
		if (o->nfiles)
			return err_set(e, ERR_USAGE, "schema takes no file arguments ('%s')",
				       o->files[0]);
		if (!o->dialect)
			return err_set(e, ERR_USAGE,
				       "schema needs --dialect NAME: postgres, duckdb, "
				       "sqlite, bigquery, clickhouse or jsonschema");
		if (o->format && !strcmp(o->format, "xlsx")) /* SPEC §4.8: csv|ndjson */
			return err_set(e, ERR_USAGE,
				       "schema describes the rows of a CSV or NDJSON file "
				       "(--format csv or ndjson); a workbook is not for loaders");
		return 0;
	}
	if (o->cmd == CMD_FETCH) {
		if (o->nfiles)
			return err_set(e, ERR_USAGE,
				       "fetch takes no file arguments ('%s'); did you mean "
				       "-o %s?",
				       o->files[0], o->files[0]);
		if (!o->from)
			return err_set(e, ERR_USAGE,
				       "fetch needs --from NUMBER, the account to export "
				       "(see 'waexport fetch --help')");
	}
	if (!o->format && strcmp(o->output, "-") && outpath_check_extension(o->output, e))
		return -1;
	set_today(o);
	if (expand_paths(o, e))
		return -1;
	rc = samefile_check_options(o, o->today, e);
	o->paths_clash = rc && e->kind == ERR_USAGE;
	return rc;
}

/*
 * The table's defaults (options_row.def) go through the parser as if given,
 * so help and run cannot disagree; the rest are what "not given" means.
 */
static int set_defaults(struct options *o, struct err *e)
{
	memset(o, 0, sizeof(*o));
	o->output = "-";
	o->gzip = -1;
	o->gzip_level = 6;
	o->progress = -1;
	for (int i = 0; i < OPT_COUNT; i++)
		if (options_table[i].def &&
		    cli_value_apply(o, &options_table[i], options_table[i].def, e))
			return -1;
	return 0;
}

int cli_parse(struct options *o, int argc, char **argv, struct err *e)
{
	struct parser p;
	int only_files = 0;

	if (set_defaults(o, e))
		return -1;
	if (argc < 2)
		return err_set(e, ERR_USAGE, "no command given; try 'waexport --help'");
	if (parse_command(o, argc, argv, e))
		return -1;
	if (o->cmd != CMD_FETCH && o->cmd != CMD_CONVERT && o->cmd != CMD_SCHEMA)
		return 0;
	memset(&p, 0, sizeof(p));
	p.o = o;
	p.bit = options_command_bit(o->cmd);
	o->files = calloc((size_t)argc, sizeof(*o->files));
	if (!o->files)
		return err_nomem(e);
	for (int i = 2; i < argc && !p.done; i++) {
		const char *a = argv[i];
		int rc = 0;

		if (only_files || a[0] != '-' || !a[1])
			o->files[o->nfiles++] = argv[i]; /* "-" is standard input */
		else if (!strcmp(a, "--"))
			only_files = 1;
		else if (a[1] == '-')
			rc = long_option(&p, argc, argv, &i, e);
		else
			rc = short_options(&p, argc, argv, &i, e);
		if (rc)
			return -1;
	}
	return p.done ? 0 : check_together(o, e);
}

void cli_free(struct options *o)
{
	free(o->to);
	o->to = NULL;
	free(o->files);
	o->files = NULL;
	for (size_t i = 0; i < sizeof(o->expanded) / sizeof(*o->expanded); i++) {
		free(o->expanded[i]);
		o->expanded[i] = NULL;
	}
}
