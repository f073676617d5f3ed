/*
 * page: one API response body → messages, with jsmn and without trees.
 *
 * The page owns a jsmn parser and one token array kept across bodies (grown
 * on JSMN_ERROR_NOMEM, and jsmn resumes where it stopped: LIBRARY-NOTES §1).
 * page_parse may be fed a growing prefix of the same body (convert reads a
 * line at a time) and says PAGE_MORE until the value is complete. It checks
 * what jsmn lets through: key sizes, numbers and literals in full, and that
 * the root ends where the body does. A refusal object from the API
 * ({"status":"FAIL","reason":N}) is reported as ERR_REFUSED.
 *
 * Records (record.h) are spans into the body: the body must stay in place
 * (or move with the same bytes) until the next page_reset.
 */
#ifndef WAEXPORT_PAGE_H
#define WAEXPORT_PAGE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "record.h"

/* Bodies larger than this are refused: jsmn offsets are int. */
#define PAGE_MAX_BODY (1024u * 1024u * 1024u)

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
 * A body of only white space is an empty page.
 */
int page_parse(struct page *pg, const char *body, size_t len, int final, struct err *e);

/* Exchange two pages' whole state (O(1)): hands a parsed page to another owner. */
void page_swap(struct page *a, struct page *b);

/*
 * Ask the cache for a page's records and body[0..len), to be read soon (a
 * hint: nothing is read now). The consumer does it for the next page in the
 * ring, which the other core wrote: the first touch of each line would
 * otherwise wait for it, and the lines of the next slot are where the
 * hardware's own prefetcher cannot guess.
 */
void page_prefetch(const struct page *pg, const char *body, size_t len);

/* Extract every record now (page_record does it on first use otherwise). -1 on ENOMEM. */
int page_extract(struct page *pg, const char *body);

/*
 * The same, for a page another thread will read next: the records are
 * written past this core's cache (see put_record in page.c) and fenced.
 */
int page_extract_handoff(struct page *pg, const char *body);

/* Number of array elements in the parsed page. */
size_t page_count(const struct page *pg);

/* Byte offset just after the root value. */
size_t page_root_end(const struct page *pg);

/*
 * Fill r with element i (in page order, newest first). The first call
 * extracts every record of the page once; later calls copy. Returns 0, 1
 * when the element is not an object (the caller skips it and warns), or -1
 * on ENOMEM.
 */
int page_record(struct page *pg, const char *body, size_t i, struct record *r);

/* The same record in place, without a copy (NULL on ENOMEM or when not an object). */
const struct record *page_rec(struct page *pg, const char *body, size_t i);

/*
 * Append the value of token `tok` as canonical compact JSON (strings
 * recoded, numbers and literals as they are). *bad counts replacements.
 */
int page_value_json(const struct page *pg, const char *body, int tok, struct buf *out,
		    unsigned *bad);

/* What an API refusal's reason code means (SPEC §1), or NULL. */
const char *page_fail_reason(long long code);

#endif
