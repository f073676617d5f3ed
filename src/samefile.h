/*
 * samefile: whether two paths of one command line name the same file, so a
 * run never writes one of its files over another (an export replaced by its
 * manifest, log lines appended inside the CSV, convert's output over its own
 * input). Paths are compared as given, templates included: no placeholder is
 * expanded. Two paths name the same file when both exist with the same device
 * and inode (a hard link, a symbolic link), or when their canonical forms are
 * equal: the realpath of the existing parent directory and the last
 * component. A path whose parent does not exist yet is compared by its
 * normalised string (no "//", no "/./", made absolute from the working
 * directory). The module owns nothing past a call.
 */
#ifndef WAEXPORT_SAMEFILE_H
#define WAEXPORT_SAMEFILE_H

#include <stddef.h>

#include "err.h"
#include "options.h"

/* 1 when a and b name the same file, 0 when not, -1 on no memory. */
int samefile_same(const char *a, const char *b);

/* One path of a run, as the options name it. */
struct samefile_path {
	const char *option; /* for the message: "-o", "--state's journal" */
	const char *path;   /* as given; NULL: the option was not given */
	const char *suffix; /* appended to path (".journal"), or NULL */
	int input;          /* read, not written: compared with written paths only */
};

/*
 * 0 when no two of p[0..n) that are not both inputs name the same file;
 * otherwise -1 with e (ERR_USAGE) naming both options, or ERR_SOFTWARE on no
 * memory.
 */
int samefile_check(const struct samefile_path *p, size_t n, struct err *e);

/*
 * samefile_check over the paths a run of o writes (-o, --manifest, --save-raw,
 * --metrics-file, --state with its .journal and .lock, --log-file) and, for
 * convert, the files it reads. -o '-' is standard output: it clashes only
 * with --save-raw '-'; an input '-' is standard input and never clashes.
 */
int samefile_check_options(const struct options *o, struct err *e);

#endif
