/*
 * json: a body of JSON text → jsmn tokens, strictly and within bounds.
 *
 * The module owns jsmn (LIBRARY-NOTES §1) and is the one file that compiles
 * it, with JSMN_STRICT and JSMN_PARENT_LINKS. Before jsmn sees a body, one
 * linear pre-scan, resumable across a growing prefix of the same body,
 * enforces the SPEC §5.7 limits below and refuses what a scan can see and
 * jsmn lets through: NUL bytes and raw control characters inside strings.
 * It tells when the value is complete, so jsmn runs once per body, and its
 * depth limit keeps jsmn linear: jsmn closes each bracket by walking up the
 * parents of the last token, quadratic in the depth. The token limit caps
 * the token array as jsmn fills it; the element limit is checked before
 * any record is made. After jsmn, the checks it lacks
 * (separators, key sizes, numbers and literals in full) run over the tokens.
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

#include "err.h"

/* The limits, each named in the message of the refusal it causes. */
#define JSON_MAX_BODY (64u * 1024u * 1024u)  /* bytes in one body */
#define JSON_MAX_TOKENS (4u * 1024u * 1024u) /* keys and values: at most 80 MiB of tokens */
#define JSON_MAX_ELEMENTS (256u * 1024u)     /* values directly inside the root */
#define JSON_MAX_DEPTH 64u                   /* arrays and objects inside each other */

enum json_status { JSON_DONE = 0, JSON_MORE = 1 };

/* Where the pre-scan is in the body; all zero but root_start after json_reset. */
struct json_scan {
	size_t pos;        /* bytes scanned */
	size_t root_start; /* offset of the first byte that is not white space, or SIZE_MAX */
	size_t root_end;   /* just after the root array or object, once complete; else 0 */
	unsigned depth;
	unsigned char in_string, escaped;
};

struct json {
	int blocks; /* the pre-scan takes whole blocks (json_init); tests turn it off */
	jsmn_parser parser;
	jsmntok_t *tok;
	size_t tok_cap;
	int ntok; /* tokens of the parsed body */
	int flat; /* an array of flat objects: checked on the fast path */
	struct json_scan scan;
};

static inline int json_is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* 0, or -1 on ENOMEM. */
int json_init(struct json *j);
void json_free(struct json *j);
/* Forget the body: the next call starts a new one. */
void json_reset(struct json *j);
/* Give the token array back (its owner keeps only what it extracted); the next parse grows it again. */
void json_drop_tokens(struct json *j);

/*
 * Scan body[0..len) as far as it has not been scanned yet (len only grows
 * between resets). -1 with e set (ERR_DATA, the byte offset) on a limit or a
 * byte that no more input can make valid.
 */
int json_scan(struct json *j, const char *body, size_t len, struct err *e);

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

/* Index of the token after token i and its whole subtree. */
int json_skip(const struct json *j, int i);

#endif
