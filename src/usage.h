/*
 * usage: the text people read about the command line, rendered from the one
 * option table (options.c): `--help` (the overview, or one command's
 * options) and the OPTIONS sections of the man page (`waexport --help-man`,
 * spliced into waexport.1 by `make man`). It renders into a buffer; main.c
 * prints it.
 */
#ifndef WAEXPORT_USAGE_H
#define WAEXPORT_USAGE_H

#include "buf.h"
#include "options.h"

/* Append the --help text of cmd (CMD_NONE: the overview, every option) to out.
 * 0, or -1 when out cannot grow. */
int usage_help(struct buf *out, enum command cmd);

/* Append the man page's OPTIONS sections (roff), between the marker lines
 * USAGE_MAN_BEGIN and USAGE_MAN_END, to out. 0, or -1 when out cannot grow. */
int usage_man(struct buf *out);

/* For messages, from the tables: "fetch and convert", "-o, -q, -h and -V". */
void usage_list_commands(char *out, size_t size);
void usage_list_letters(char *out, size_t size);

#define USAGE_MAN_BEGIN \
	".\\\" BEGIN OPTIONS: generated from src/options.c by 'make man'; edit the table"
#define USAGE_MAN_END ".\\\" END OPTIONS"

#endif
