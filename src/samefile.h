/*
 * samefile: whether two paths of one command line name the same file, so a
 * run never writes one of its files over another (an export replaced by its
 * manifest, log lines appended inside the CSV, convert's output over its own
 * input, the API key file overwritten). Templates are compared as the run
 * expands them ({date}, {from}, {to}). Two paths name the same file when both
 * exist with the same device and inode (a hard link, a symbolic link), or when
 * their canonical forms are equal: the last component's symbolic links
 * followed (also to a file not made yet), then the realpath of the existing
 * parent directory and the last component. A path whose parent does not exist
 * yet is compared by its normalised string (no "//", no "/./", made absolute
 * from the working directory). {chat} in -o has no value before the run: the
 * -o pattern clashes with every path it could become, {chat} standing for any
 * name. The module owns nothing past a call.
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
	int chats;          /* -o: a {chat} in path stands for any chat's name */
};

/*
 * 0 when no two of p[0..n) that are not both inputs name the same file;
 * otherwise -1 with e (ERR_USAGE) naming both options, or ERR_SOFTWARE on no
 * memory.
 */
int samefile_check(const struct samefile_path *p, size_t n, struct err *e);

/*
 * samefile_check over the paths a run of o writes (-o, one per --to when it
 * says {to}; --manifest, --save-raw, --metrics-file, --state with its
 * .journal and .lock, --log-file, --media-dir) and the files it reads
 * (--api-key-file, --cacert, convert's inputs), templates expanded with
 * today (YYYY-MM-DD in --tz; NULL or "": left as written). -o '-' is
 * standard output: it clashes only with --save-raw '-'; an input '-' is
 * standard input and never clashes.
 */
int samefile_check_options(const struct options *o, const char *today, struct err *e);

#endif
