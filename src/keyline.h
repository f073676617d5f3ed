/*
 * keyline: the top-level keys of an NDJSON file's first line, compared with
 * a run's columns as each one ends, so a run that adds to the file (SPEC
 * §4.4) can refuse one of other columns, as a CSV header is compared. The
 * text comes in pieces of any size (a gzip member inflated block by block);
 * strings may hold braces, quotes and escapes, and extra fields objects.
 * The first line's keys must be the columns, in order, and a key after them
 * no column's name (only an extra field's, which never is one: the NDJSON
 * writer prefixes those with api_). A keyline owns nothing.
 */
#ifndef WAEXPORT_KEYLINE_H
#define WAEXPORT_KEYLINE_H

#include <stddef.h>

#include "columns.h"

struct keyline {
	const enum column *columns; /* the run's, in order */
	size_t ncolumns;
	size_t seen; /* keys compared so far */
	int depth;   /* 1: inside the line's object */
	int in_string;
	int escaped;                    /* the byte before, in a string, was a backslash */
	int is_key;                     /* the string being read began where a key begins */
	int expect_key;                 /* the next string at depth 1 is a key */
	char name[COLUMN_NAME_MAX + 1]; /* the key's bytes (a longer one is no column's) */
	size_t len;
	int done; /* the verdict is known: the rest of the text does not matter */
	int bad;
};

/* A check of the columns[0..n) (kept by pointer: they must outlive k). */
void keyline_init(struct keyline *k, const enum column *columns, size_t n);

/* More of the text; 1 once the verdict is known (more text changes nothing). */
int keyline_take(struct keyline *k, const void *p, size_t n);

/* 1 once the verdict is known. */
int keyline_known(const struct keyline *k);

/*
 * 1 when the first line is not one of these columns (another key, one
 * missing, not an object). A first line that has not ended is not bad: the
 * caller sees a text without a line break.
 */
int keyline_bad(const struct keyline *k);

#endif
