/*
 * cli_value: what each row of the option table (options.c) does with its
 * value. It checks what a value can get wrong on its own (a number's range,
 * a phone number, a choice of words, a file name that cannot be '-') and
 * stores it in struct options. The walk over argv, the rules of repetition
 * and of which command takes which option, and the checks that need the
 * whole command line stay in cli.c.
 */
#ifndef WAEXPORT_CLI_VALUE_H
#define WAEXPORT_CLI_VALUE_H

#include "err.h"
#include "options.h"

/*
 * Check v (NULL for a flag) against row r and store it in o; -1 with e
 * (ERR_USAGE) when it is refused. --help, --version and --help-man turn
 * o->cmd into CMD_HELP, CMD_VERSION or CMD_MAN: the parser stops there.
 * The strings stay borrowed from argv; --to grows o->to (freed by cli_free).
 */
int cli_value_apply(struct options *o, const struct options_row *r, const char *v, struct err *e);

#endif
