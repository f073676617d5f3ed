/*
 * cli: the command line (SPEC §2) → struct options, read against the option
 * table of options.c. Options are matched by their exact names (no prefix
 * abbreviations); an unknown option or command is a usage error that
 * suggests the nearest names. Parsing only: it checks every value it can
 * check alone and reports usage errors through struct err; main.c prints
 * the help text (usage.c) and owns the exit code.
 */
#ifndef WAEXPORT_CLI_H
#define WAEXPORT_CLI_H

#include <stddef.h>

#include "err.h"
#include "options.h"

/* Fill opts from argv. -1 with e (ERR_USAGE) on a bad command line.
 * Call cli_free afterwards either way. */
int cli_parse(struct options *opts, int argc, char **argv, struct err *e);
void cli_free(struct options *opts);

#endif
