/*
 * The checks jsmn leaves to its users (json.h, LIBRARY-NOTES §1): the
 * separators between tokens, every object key a string with one value,
 * every primitive a number in full or a literal. The shape the API sends
 * takes a fast path.
 */
#include "json.h"
#include "jsontext.h"

#include <string.h>

/* RFC 8259 §6 number grammar, in full (jsmn accepts `01`, `-`, `1.`). */
static int valid_number(const char *p, size_t len)
{
	const char *end = p + len;

	if (p < end && *p == '-')
		p++;
	if (p == end)
		return 0;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (p < end && *p == '.') {
		if (++p == end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p == end;
}

/* A primitive token's text: a number in full, or one of the three literals. */
static int valid_primitive(const char *p, size_t len)
{
	if (len == 4 && (!memcmp(p, "true", 4) || !memcmp(p, "null", 4)))
		return 1;
	if (len == 5 && !memcmp(p, "false", 5))
		return 1;
	return valid_number(p, len);
}

static int is_container(const jsmntok_t *t)
{
	return t->type == JSMN_OBJECT || t->type == JSMN_ARRAY;
}

/* Where a token's text ends, closing quote included. */
static int token_after(const jsmntok_t *t)
{
	return is_container(t) ? t->start + 1 : t->end + (t->type == JSMN_STRING);
}

static int skip_ws(const char *body, int p, int end)
{
	while (p < end && json_is_space(body[p]))
		p++;
	return p;
}

/*
 * The bytes between token i and token i + 1 (or the root's end when next is
 * -1) must be what RFC 8259 puts there: after a key, ':'; after a container's
 * opening bracket, nothing; otherwise the closing brackets of every container
 * that ends here, then ',' before a sibling. jsmn does not check this: it
 * takes `[1 2]`, `[1,,2]` and `{"a":1,}`.
 */
static int check_gap_slow(const struct json *j, const char *body, int i, int next, struct err *e)
{
	const jsmntok_t *t = &j->tok[i];
	int p = token_after(t);
	int end =
		next >= 0 ? j->tok[next].start - (j->tok[next].type == JSMN_STRING) : j->tok[0].end;
	int parent = next >= 0 ? j->tok[next].parent : -1;

	if (next >= 0 && parent == i) {
		p = skip_ws(body, p, end);
		if (t->type == JSMN_STRING) { /* a key and its value */
			if (p >= end || body[p] != ':')
				return err_data(e, p, "expected ':' after an object key");
			p = skip_ws(body, p + 1, end);
		}
		return p == end ? 0 : err_data(e, p, "unexpected '%c' in JSON", body[p]);
	}
	/* Close every container from token i up to the next token's parent. */
	for (int x = i; x != parent && x >= 0; x = j->tok[x].parent) {
		if (!is_container(&j->tok[x]))
			continue;
		p = skip_ws(body, p, end);
		if (p >= end || body[p] != (j->tok[x].type == JSMN_OBJECT ? '}' : ']'))
			return err_data(e, p < end ? p : end, "expected '%c' or ','",
					j->tok[x].type == JSMN_OBJECT ? '}' : ']');
		p++;
	}
	p = skip_ws(body, p, end);
	if (next >= 0) {
		if (p >= end || body[p] != ',')
			return err_data(e, p, "expected ',' between values");
		p = skip_ws(body, p + 1, end);
	}
	if (p != end)
		return err_data(e, p, "unexpected '%c' in JSON", body[p]);
	return 0;
}

/*
 * The common gaps, compact as the API sends them (`":"`, `","`, nothing after
 * an opening bracket), are recognised here; anything else takes the full
 * check above.
 */
static inline int check_gap(const struct json *j, const char *body, int i, int next, struct err *e)
{
	const jsmntok_t *t = &j->tok[i];

	if (next >= 0) {
		const jsmntok_t *n = &j->tok[next];
		int p = token_after(t), end = n->start - (n->type == JSMN_STRING);

		if (n->parent == i) {
			if (t->type == JSMN_STRING ? end - p == 1 && body[p] == ':' : p == end)
				return 0;
		} else if (!is_container(t) && end - p == 1 && body[p] == ',' &&
			   (t->parent == n->parent ||
			    (t->parent >= 0 && j->tok[t->parent].parent == n->parent &&
			     j->tok[t->parent].type == JSMN_STRING))) {
			return 0;
		}
	}
	return check_gap_slow(j, body, i, next, e);
}

/*
 * What jsmn lets through (LIBRARY-NOTES §1): the separators between tokens,
 * every object key a string with exactly one value, every primitive a real
 * number or literal.
 */
/* Key sizes and primitives of token i (the structure jsmn does not check). */
static inline int check_token(const struct json *j, const char *body, int i, struct err *e)
{
	const jsmntok_t *t = &j->tok[i];
	int parent = t->parent;

	if (parent >= 0 && j->tok[parent].type == JSMN_OBJECT &&
	    (t->type != JSMN_STRING || t->size != 1))
		return err_data(e, t->start - (t->type == JSMN_STRING),
				"object key without a value");
	if (parent >= 0 && j->tok[parent].type == JSMN_STRING && j->tok[parent].size != 1)
		return err_data(e, t->start, "object key with more than one value");
	/* jsmn makes any string before a ':' a key, even a value ({"a":"b":1}, ["a":1]). */
	if (t->type == JSMN_STRING && t->size && (parent < 0 || j->tok[parent].type != JSMN_OBJECT))
		return err_data(e, t->end + 1, "':' after a value (only an object key takes one)");
	if (t->type == JSMN_PRIMITIVE &&
	    !valid_primitive(body + t->start, (size_t)(t->end - t->start)))
		return err_data(e, t->start, "invalid JSON value '%.*s'",
				t->end - t->start > 20 ? 20 : t->end - t->start, body + t->start);
	return 0;
}

/*
 * One pass over the tokens. Token i - 1 is checked after the gap behind
 * token i, so a missing separator is reported where it is missing rather
 * than as the odd key sizes it makes jsmn produce.
 */
static int check_tokens(const struct json *j, const char *body, struct err *e)
{
	for (int i = 0; i < j->ntok; i++) {
		if (check_gap(j, body, i, i + 1 < j->ntok ? i + 1 : -1, e))
			return -1;
		if (i > 0 && check_token(j, body, i - 1, e))
			return -1;
	}
	return j->ntok > 0 ? check_token(j, body, j->ntok - 1, e) : 0;
}

/*
 * The shape the API sends — an array of flat objects, compact — checked and
 * no token left unchecked in one tight pass: every separator exactly where
 * it belongs, every key a string with one scalar value (a nested value,
 * even an empty one, takes the general check). Returns 1 when the
 * page has that shape and is valid, 0 when it has not (or is not valid):
 * then the general check decides, and names what is wrong.
 */
static int flat_array(struct json *j, const char *body)
{
	const jsmntok_t *t = j->tok;
	int n = j->ntok, i = 1, pos = t[0].start + 1; /* where the next value must begin */
	size_t nelem = (size_t)t[0].size;

	if (t[0].type != JSMN_ARRAY)
		return 0;
	for (size_t k = 0; k < nelem; k++) {
		int obj = i, q;

		if (i >= n || t[i].type != JSMN_OBJECT || t[i].start != pos || t[i].parent != 0)
			return 0;
		q = pos + 1;
		i++;
		for (int m = 0; m < t[obj].size; m++, i += 2) {
			const jsmntok_t *key = &t[i], *val = &t[i + 1];
			int after, end;

			if (i + 1 >= n || key->type != JSMN_STRING || key->size != 1 ||
			    key->start != q + 1 || key->parent != obj)
				return 0;
			after = key->end + 1;
			/* Scalars only: jsmn makes no token for a ',' or ':' inside `[,]` or `{:}`. */
			if (body[after] != ':' || is_container(val) || val->size != 0 ||
			    val->parent != i ||
			    val->start - (val->type == JSMN_STRING) != after + 1)
				return 0;
			if (val->type == JSMN_PRIMITIVE &&
			    !valid_primitive(body + val->start, (size_t)(val->end - val->start)))
				return 0;
			end = val->end + (val->type == JSMN_STRING);
			if (m + 1 < t[obj].size) {
				if (body[end] != ',')
					return 0;
				end++;
			}
			q = end;
		}
		if (body[q] != '}' || t[obj].end != q + 1)
			return 0;
		pos = q + 1;
		if (k + 1 < nelem) {
			if (body[pos] != ',')
				return 0;
			pos++;
		}
	}
	if (i != n || body[pos] != ']' || t[0].end != pos + 1)
		return 0;
	return 1;
}

int json_check(struct json *j, const char *body, struct err *e)
{
	j->flat = flat_array(j, body);
	return j->flat ? 0 : check_tokens(j, body, e);
}
