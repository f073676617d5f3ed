/*
 * cli: the command line (SPEC §2) → struct options. Parsing only: it checks
 * every value it can check alone and reports usage errors through
 * struct err; main.c prints the help text and owns the exit code.
 */
#ifndef WAEXPORT_CLI_H
#define WAEXPORT_CLI_H

#include <stddef.h>

#include "err.h"

enum command { CMD_NONE, CMD_FETCH, CMD_CONVERT, CMD_HELP, CMD_VERSION };

struct options {
	enum command cmd;
	enum command help_for;      /* with CMD_HELP: which command's help */

	/* output (both commands) */
	const char *output;         /* "-" for stdout */
	const char *format;         /* NULL: from the output's extension */
	int gzip;                   /* -1: from the extension */
	int gzip_level;
	const char *tz;
	int excel;
	int order_newest;
	const char *columns;        /* NULL: all */
	int quiet;
	int progress;               /* -1: when stderr is a TTY */

	/* fetch */
	const char *from;
	const char **to;
	size_t nto;
	const char *url;
	const char *api_key_file;
	int concurrency;
	int retries;
	int timeout;
	const char *since, *until;
	long max_pages;             /* 0: no limit */
	const char *save_raw;
	const char *cacert;
	const char *state;
	const char *lookback;
	const char *metrics_file;
	const char *media_dir;

	/* convert */
	char **files;
	size_t nfiles;
};

/* Fill opts from argv. -1 with e (ERR_USAGE) on a bad command line. */
int cli_parse(struct options *opts, int argc, char **argv, struct err *e);
void cli_free(struct options *opts);

/* The text of --help for a command (CMD_NONE: the overview). */
const char *cli_help(enum command cmd);

#define WAEXPORT_VERSION "0.1.0"

#endif
