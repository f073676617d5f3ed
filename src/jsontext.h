/*
 * jsontext: the bytes around a JSON text that every reader of bodies treats
 * alike: white space (RFC 8259: space, tab, LF, CR), the UTF-8 byte-order
 * mark some servers and editors put first (skipped, SPEC §5.7), and the
 * largest body read whole (SPEC §5.7: a body beyond it is refused, so memory
 * stays bounded whatever a server or file sends). Owns nothing.
 */
#ifndef WAEXPORT_JSONTEXT_H
#define WAEXPORT_JSONTEXT_H

#include <stddef.h>
#include <string.h>

#define JSON_MAX_BODY (64u * 1024u * 1024u) /* bytes in one body */

static inline int json_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 3 when p[0..n) starts with a UTF-8 byte-order mark, else 0. */
static inline size_t json_bom_len(const char *p, size_t n)
{
	return n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3) ? 3 : 0;
}

#endif
