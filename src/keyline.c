#include "keyline.h"

#include <string.h>

void keyline_init(struct keyline *k, const enum column *columns, size_t n)
{
	memset(k, 0, sizeof(*k));
	k->columns = columns;
	k->ncolumns = n;
}

/* The line (its object) ended: every column must have been seen. */
static void line_ended(struct keyline *k)
{
	k->bad = k->seen < k->ncolumns;
	k->done = 1;
}

/* A key ended: the next of the columns, or after them none at all. */
static void key_ended(struct keyline *k)
{
	int col = k->len <= COLUMN_NAME_MAX ? column_find(k->name, k->len) : -1;

	if (k->seen < k->ncolumns) {
		k->bad = col != (int)k->columns[k->seen++];
		k->done = k->bad;
	} else {
		k->bad = col >= 0; /* after the columns, only an extra field's key */
		k->done = 1;
	}
}

/* One byte outside a string. */
static void syntax(struct keyline *k, unsigned char b)
{
	switch (b) {
	case '"':
		k->in_string = 1;
		k->is_key = k->depth == 1 && k->expect_key;
		k->expect_key = 0;
		k->len = 0;
		return;
	case '{':
	case '[':
		k->bad = k->depth == 0 && b == '[';
		k->expect_key = k->depth++ == 0;
		break;
	case ',': k->expect_key = k->depth == 1; break;
	case '}':
	case ']':
		if (--k->depth <= 0)
			line_ended(k);
		return;
	case '\n': line_ended(k); return;
	default: k->bad = k->depth == 0 && b != ' ' && b != '\t' && b != '\r'; break;
	}
	k->done = k->bad;
}

/* One byte inside a string. */
static void string_byte(struct keyline *k, unsigned char b)
{
	if (k->escaped) {
		k->escaped = 0;
	} else if (b == '"') {
		k->in_string = 0;
		if (k->is_key)
			key_ended(k);
		return;
	} else if (b == '\n') {
		k->bad = k->done =
			1; /* JSON has no raw line break in a string: not a line of ours */
		return;
	} else if (b == '\\') {
		k->escaped = 1;
		k->len = COLUMN_NAME_MAX + 1; /* no column's name needs an escape */
		return;
	}
	if (k->is_key && k->len <= COLUMN_NAME_MAX)
		k->name[k->len++] = (char)b;
}

int keyline_take(struct keyline *k, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n && !k->done; i++) {
		if (k->in_string)
			string_byte(k, s[i]);
		else
			syntax(k, s[i]);
	}
	return k->done;
}

int keyline_bad(const struct keyline *k)
{
	return k->bad;
}

int keyline_known(const struct keyline *k)
{
	return k->done;
}
