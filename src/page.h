/*
 * page: one API response body → records, without trees.
 *
 * The page reads the tokens of json.h (strict JSON, within the SPEC §5.7
 * limits) as the API's shape: an array of message objects, each element an
 * object (anything else is bad data naming the element), or the refusal
 * object {"status":"FAIL","reason":N}, reported as ERR_REFUSED. It
 * extracts each message into a record (record.h) with the known fields and
 * the extras; a key repeated in a message keeps its first value and marks
 * the record (dup_keys) for the writer's warning.
 *
 * page_parse takes a whole body; given a prefix of one (final == 0), it says
 * PAGE_MORE until the value is complete, the limits holding as the bytes
 * arrive (the page fuzzer holds prefixes and wholes to one answer). Records
 * are spans into the body: the body must stay in place (or move with the
 * same bytes) until the next page_reset. A page is confined to one thread.
 * It owns its tokens, records and extras; the body is the caller's.
 */
#ifndef WAEXPORT_PAGE_H
#define WAEXPORT_PAGE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "record.h"

enum page_status { PAGE_DONE = 0, PAGE_MORE = 1 };

struct page;

struct page *page_new(void);
void page_free(struct page *pg);

/* Forget the previous body; the next page_parse starts a new one. */
void page_reset(struct page *pg);

/*
 * Tokenize body[0..len). With final == 0 an incomplete value returns
 * PAGE_MORE (call again with a longer prefix of the same body); with final
 * set it is an error. Returns PAGE_DONE, PAGE_MORE or -1 with e filled
 * (ERR_DATA with the byte offset in the body, ERR_REFUSED for a FAIL object).
 * The limits and strict checks of json.h apply as the bytes arrive.
 * A body of only white space is an empty page.
 */
int page_parse(struct page *pg, const char *body, size_t len, int final, struct err *e);

/* Extract every record now (page_record does it on first use otherwise). -1 on ENOMEM. */
int page_extract(struct page *pg, const char *body);

/*
 * After page_extract the records need no tokens: a page kept for its
 * records (a batch waiting for the consumer) gives their memory back.
 */
void page_drop_tokens(struct page *pg);

/* Number of array elements in the parsed page. */
size_t page_count(const struct page *pg);

/* Byte offset just after the root value. */
size_t page_root_end(const struct page *pg);

/*
 * Fill r with element i (in page order, newest first). The first call
 * extracts every record of the page once; later calls copy. Returns 0, or
 * -1 on ENOMEM (every element is an object: page_parse refuses others).
 */
int page_record(struct page *pg, const char *body, size_t i, struct record *r);

/* The same record in place, without a copy (NULL on ENOMEM). */
const struct record *page_rec(struct page *pg, const char *body, size_t i);

#endif
