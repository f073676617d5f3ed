/*
 * JSON text → tokens (json.h): jsmn over a body the pre-scan (json_scan.h)
 * has passed, then the strict checks jsmn leaves to its users (json_check.c,
 * LIBRARY-NOTES §1).
 */
#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS
#include <jsmn.h> /* before json.h, which then takes the declarations as they are */

#include "json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int json_init(struct json *j)
{
	memset(j, 0, sizeof(*j));
	j->blocks = 1;
	j->tok_cap = 1024;
	j->tok = malloc(j->tok_cap * sizeof(*j->tok));
	if (!j->tok)
		return -1;
	json_reset(j);
	return 0;
}

void json_free(struct json *j)
{
	free(j->tok);
	j->tok = NULL;
}

void json_drop_tokens(struct json *j)
{
	free(j->tok);
	j->tok = NULL;
	j->tok_cap = 0;
	j->ntok = 0;
}

void json_reset(struct json *j)
{
	jsmn_init(&j->parser);
	j->ntok = 0;
	j->flat = 0;
	json_scan_reset(&j->scan);
}

int json_skip(const struct json *j, int i)
{
	int pending = 1;

	while (pending && i < j->ntok) {
		pending += j->tok[i].size - 1;
		i++;
	}
	return i;
}

static int grow_tokens(struct json *j, size_t n, struct err *e)
{
	jsmntok_t *t;

	if (n <= j->tok_cap)
		return 0;
	t = realloc(j->tok, n * sizeof(*t));
	if (!t)
		return err_nomem(e);
	j->tok = t;
	j->tok_cap = n;
	return 0;
}

/* jsmn over the whole body, the token array grown up to the token limit. */
static int tokenize(struct json *j, const char *body, size_t len, struct err *e)
{
	int r;

	/* Real pages take about one token per 10 bytes: most bodies need no second call. */
	if (grow_tokens(j, len / 8 + 16 < JSON_MAX_TOKENS ? len / 8 + 16 : JSON_MAX_TOKENS, e))
		return -1;
	for (;;) {
		/*
		 * On a copy in a local: jsmn then keeps its position in registers.
		 * In *j it must store it after every byte, since writes to the
		 * tokens (ints too) could change it as far as the compiler knows.
		 */
		jsmn_parser p = j->parser;

		r = jsmn_parse(&p, body, len, j->tok, (unsigned)j->tok_cap);
		j->parser = p;
		if (r != JSMN_ERROR_NOMEM)
			break;
		/* jsmn resumes where it stopped (LIBRARY-NOTES §1). */
		if (j->tok_cap >= JSON_MAX_TOKENS)
			return err_data(e, (long long)j->parser.pos,
					"more than %u JSON values in one body "
					"(the token limit)",
					JSON_MAX_TOKENS);
		if (grow_tokens(j,
				2 * j->tok_cap < JSON_MAX_TOKENS ? 2 * j->tok_cap : JSON_MAX_TOKENS,
				e))
			return -1;
	}
	if (r == JSMN_ERROR_INVAL)
		return err_data(e, (long long)j->parser.pos, "invalid JSON");
	if (r == JSMN_ERROR_PART || (r > 0 && j->tok[0].end < 0))
		return err_data(e, (long long)len, "JSON ends early (truncated?)");
	if (r == 0)
		return err_data(e, (long long)j->scan.root_start, "invalid JSON");
	j->ntok = r;
	if (j->tok[0].type == JSMN_ARRAY && j->tok[0].size > (int)JSON_MAX_ELEMENTS)
		return err_data(e, j->tok[0].start,
				"more than %u elements in one array (the "
				"per-page element limit)",
				JSON_MAX_ELEMENTS);
	return 0;
}

int json_parse(struct json *j, const char *body, size_t len, int final, struct err *e)
{
	if (json_scan(&j->scan, j->blocks, body, len, e))
		return -1;
	if (j->scan.root_start == SIZE_MAX) {
		/* Nothing but white space: a page with nothing in it, once there is no more. */
		j->ntok = 0;
		return final ? JSON_DONE : JSON_MORE;
	}
	if (!j->scan.root_end && !final)
		return JSON_MORE;
	if (tokenize(j, body, len, e))
		return -1;
	for (size_t p = (size_t)j->tok[0].end; p < len; p++)
		if (!json_is_space(body[p]))
			return err_data(e, (long long)p, "unexpected data after the JSON value");
	return json_check(j, body, e) ? -1 : JSON_DONE;
}
