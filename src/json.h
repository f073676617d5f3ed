/*
 * json: a body of JSON text → jsmn tokens, strictly and within bounds.
 *
 * The module owns jsmn (LIBRARY-NOTES §1) and is the one file that compiles
 * it, with JSMN_STRICT and JSMN_PARENT_LINKS. Before jsmn sees a body, the
 * pre-scan (json_scan.h) enforces the limits a scan can and tells when the
 * value is complete, so jsmn runs once per body. The token limit caps the
 * token array as jsmn fills it; the element limit is checked before any
 * record is made. After jsmn, the checks it lacks (separators, key sizes,
 * numbers and literals in full) run over the tokens.
 *
 * The tokens are jsmn's own, declared here with JSMN_HEADER for the page
 * stage to walk: page.c and json_check.c include this header, nothing else.
 */
#ifndef WAEXPORT_JSON_H
#define WAEXPORT_JSON_H

#ifndef JSMN_H /* json.c has included jsmn.h already, with its definitions */
#define JSMN_HEADER
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h>
#endif

#include <stddef.h>
#include <string.h>

#include "err.h"
#include "json_scan.h"

/* The limits after the scan's, each named in the message of the refusal it causes. */
#define JSON_MAX_TOKENS (4u * 1024u * 1024u) /* keys and values: at most 80 MiB of tokens */
#define JSON_MAX_ELEMENTS (256u * 1024u)     /* values directly inside the root */

enum json_status { JSON_DONE = 0, JSON_MORE = 1 };

struct json {
	int blocks; /* the pre-scan takes whole blocks (json_init); tests turn it off */
	jsmn_parser parser;
	jsmntok_t *tok;
	size_t tok_cap;
	int ntok; /* tokens of the parsed body */
	int flat; /* an array of flat objects: checked on the fast path */
	struct json_scan scan;
};

/* 0, or -1 on ENOMEM. */
int json_init(struct json *j);
void json_free(struct json *j);
/* Forget the body: the next call starts a new one. */
void json_reset(struct json *j);
/* Give the token array back (its owner keeps only what it extracted); the next parse grows it again. */
void json_drop_tokens(struct json *j);

/*
 * Tokenize and check body[0..len). With final == 0 an incomplete value is
 * JSON_MORE; with final set it is an error. JSON_DONE with ntok == 0 for
 * white space only (final). -1 with e set (ERR_DATA with the offset).
 */
int json_parse(struct json *j, const char *body, size_t len, int final, struct err *e);

/*
 * The checks jsmn lacks, over the tokens of a whole body (json_check.c);
 * json_parse runs them. Sets j->flat. 0, or -1 with e set (ERR_DATA).
 */
int json_check(struct json *j, const char *body, struct err *e);

/* Is token t's text exactly s? (A string token's text is without its quotes.) */
static inline int json_token_is(const char *body, const jsmntok_t *t, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(t->end - t->start) == n && !memcmp(body + t->start, s, n);
}

/* Index of the token after token i and its whole subtree. */
int json_skip(const struct json *j, int i);

#endif
