/*
 * suggest: "did you mean" for the command line (SPEC §2). Given what was
 * typed, it finds the nearest names in the option table (and the hints of
 * its rows: `--timezone` → `--tz`) or among the commands: those at the
 * smallest edit distance, and those the typed word begins (`--form` →
 * `--format`). It owns no memory: names point into the tables.
 */
#ifndef WAEXPORT_SUGGEST_H
#define WAEXPORT_SUGGEST_H

#include <stddef.h>

/*
 * Long options (without "--") of the given commands (OPTIONS_* bits) close
 * to typed[0..len): at the smallest Damerau-Levenshtein distance, when that
 * is at most a third of the length (at least 1, at most 2), then those typed
 * is a prefix of. Up to max names into names; returns how many.
 */
size_t suggest_option(const char *typed, size_t len, unsigned commands, const char **names,
		      size_t max);
/* The same for the command names. */
size_t suggest_command(const char *typed, size_t len, const char **names, size_t max);

/* "; did you mean --a or --b?" (each name after `dashes`) into out, or "". */
void suggest_phrase(char *out, size_t size, const char **names, size_t n, const char *dashes);

#endif
