/*
 * json_scan: the pre-scan of a body of JSON text, before jsmn sees it
 * (json.h). One linear pass, resumable across a growing prefix of the same
 * body, enforces the SPEC §5.7 limits below and refuses what a scan can see
 * and jsmn lets through: NUL bytes, raw control characters inside strings,
 * a backslash outside them. It tells when the root value is complete, so
 * jsmn runs once per body, and its depth limit keeps jsmn linear: jsmn
 * closes each bracket by walking up the parents of the last token,
 * quadratic in the depth. It owns nothing but the state it is given.
 */
#ifndef WAEXPORT_JSON_SCAN_H
#define WAEXPORT_JSON_SCAN_H

#include <stddef.h>

#include "err.h"
#include "jsontext.h"

/* The limits the scan enforces (and JSON_MAX_BODY), each named in the refusal it causes. */
#define JSON_MAX_DEPTH 64u /* arrays and objects inside each other */

/* Where the pre-scan is in the body; all zero but root_start after json_scan_reset. */
struct json_scan {
	size_t pos;        /* bytes scanned */
	size_t root_start; /* offset of the first byte that is not white space, or SIZE_MAX */
	size_t root_end;   /* just after the root array or object, once complete; else 0 */
	unsigned depth;
	unsigned char in_string, escaped;
};

/* Forget the body: the next scan starts a new one. */
void json_scan_reset(struct json_scan *s);

/*
 * Scan body[0..len) as far as it has not been scanned yet (len only grows
 * between resets), whole 64-byte blocks at a time when `blocks` is set (the
 * bytes one at a time otherwise: the same result, which tests compare). -1
 * with e set (ERR_DATA, the byte offset) on a limit or a byte that no more
 * input can make valid.
 */
int json_scan(struct json_scan *s, int blocks, const char *body, size_t len, struct err *e);

#endif
