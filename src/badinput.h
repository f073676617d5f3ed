/*
 * badinput: what convert says when an input is not the API's pages, so that
 * a user can act on it: the error prefixed with the file and the byte offset
 * in that file (SPEC §3), and, when the file's first body looks like
 * waexport's own output, a hint that convert reads the API's pages
 * (SPEC §2). It owns nothing: it only reads the body and amends the error.
 */
#ifndef WAEXPORT_BADINPUT_H
#define WAEXPORT_BADINPUT_H

#include <stddef.h>

#include "err.h"

/*
 * e, the failure of the body p[0..n) that starts at file_off in the file
 * named where, named for the user. Returns -1 (the caller's failure).
 */
int badinput_explain(struct err *e, const char *p, size_t n, const char *where,
		     unsigned long long file_off);

#endif
