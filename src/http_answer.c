/*
 * A page's answer as it arrives, for the page transport (http_pages.c): its
 * bytes into the slot's body, Content-Encoding undone (decode.h), under one
 * memory budget for all pages in flight, and its --timeout counted without
 * the waits that budget imposes.
 */
#include "http_impl.h"
#include "json_scan.h"

#include <stdio.h>
#include <string.h>

/*
 * What the bodies of all pages in flight may hold together (SPEC §5.7: memory
 * stays bounded whatever --concurrency). A per-page limit alone lets 32
 * endless answers cost 32 x 64 MiB; so every slot's allocation is charged to
 * one budget, twice a page's limit. An answer that would take more than is
 * left of it waits (libcurl pauses it) until others give theirs back, but
 * the page the walk hands on next never waits (walk.h: needed): the walk
 * hands pages on in order, so that one always lets it get on, and the
 * bodies stay under the budget plus that page. A page held but not yet
 * handed on stays charged: its bytes are still in memory. Compressed bytes
 * are inflated only when there is room for all they may become, so a
 * waiting answer holds one read of them in libcurl. Real pages (tens of kB
 * in buffers of tens of KiB) use a sliver of the budget at any concurrency.
 * The waits are not the server's doing: a page's --timeout runs on the
 * loop's clock (http_pumped_ms), less them (libcurl's would count both).
 */
#define BUDGET (2 * (size_t)JSON_MAX_BODY)

/* The capacity the body grows to for `want` bytes (buf_grow doubles from 256). */
static size_t grown_cap(size_t cap, size_t want)
{
	cap = cap ? cap : 256;
	while (cap < want)
		cap *= 2;
	return cap;
}

/* The slot's answer goes on (it was paused), its wait no longer counted. */
void answer_resume(struct page_slot *s)
{
	s->paused = 0;
	s->waited_ms += http_pumped_ms(s->h) - s->paused_at_ms;
	curl_easy_pause(s->x.easy, CURLPAUSE_CONT);
}

/*
 * Every waiting answer the budget now has room for goes on, and the page
 * the walk hands on next whatever it holds. Only those: one resumed without
 * room would be paused again at once, at every turn of the loop.
 */
void answer_resume_paused(struct http *h)
{
	for (int i = 0; i < h->o.concurrency; i++) {
		struct page_slot *s = &h->pages[i];

		if (s->paused &&
		    (s->page_no == h->page_needed || h->pages_held + s->more <= BUDGET))
			answer_resume(s);
	}
}

/*
 * A request that has run longer than --timeout, its waits for the budget
 * not counted, ends as libcurl would have ended it (a timeout: retried).
 */
void answer_time_out(struct http *h)
{
	long long now = http_pumped_ms(h), limit = (long long)h->o.timeout * 1000;

	for (int i = 0; i < h->o.concurrency; i++) {
		struct page_slot *s = &h->pages[i];
		long long ran = now - s->started_ms - s->waited_ms -
				(s->paused ? now - s->paused_at_ms : 0);

		if (!s->x.running || ran <= limit)
			continue;
		xfer_cancel(h, &s->x);
		if (s->paused)
			answer_resume(s);
		s->x.finished = 1;
		s->x.rc = CURLE_OPERATION_TIMEDOUT;
		snprintf(s->x.errbuf, sizeof(s->x.errbuf),
			 "Operation timed out after %lld milliseconds with %zu bytes received", ran,
			 s->body.len);
	}
}

/* Whether the budget lets the body grow by `more` now; if not, the answer waits. */
static int may_grow(struct page_slot *s, size_t more)
{
	if (s->h->pages_held + more <= BUDGET || s->page_no == s->h->page_needed)
		return 1;
	s->paused = 1;
	s->paused_at_ms = http_pumped_ms(s->h);
	s->more = more;
	return 0;
}

static size_t take_plain(struct page_slot *s, const char *p, size_t len)
{
	size_t want = s->body.len + len, old = s->body.cap;

	if (want > JSON_MAX_BODY) {
		s->x.too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (want > old) {
		if (!may_grow(s, grown_cap(old, want) - old))
			return CURL_WRITEFUNC_PAUSE; /* the same bytes come again once resumed */
		if (buf_reserve(&s->body, len))
			return CURL_WRITEFUNC_ERROR;
		s->h->pages_held += s->body.cap - old;
	}
	if (len)
		memcpy(s->body.data + s->body.len, p, len);
	s->body.len += len;
	return len;
}

/* Whether the answer is a page (2xx), not an error whose status decides what follows. */
static int is_page(struct page_slot *s)
{
	long status = 0;

	curl_easy_getinfo(s->x.easy, CURLINFO_RESPONSE_CODE, &status);
	return status >= 200 && status <= 299;
}

/* Compressed bytes, inflated only when the budget has room for all they may become. */
static size_t take_encoded(struct page_slot *s, const char *p, size_t len)
{
	size_t left = JSON_MAX_BODY - s->body.len + 1, max = DECODE_BOUND(len), old = s->body.cap;
	int rc;

	if (max > left)
		max = left; /* one byte past the limit tells the answer is too large */
	if (!may_grow(s, grown_cap(old, s->body.len + max) - old))
		return CURL_WRITEFUNC_PAUSE;
	rc = decode_more(&s->dec, p, len, &s->body, max, &s->dec_why);
	s->h->pages_held += s->body.cap - old;
	if ((rc == 1 && max == left) || s->body.len > JSON_MAX_BODY) {
		s->x.too_big = 1; /* (a stream may end on the byte past the limit) */
		return CURL_WRITEFUNC_ERROR;
	}
	if (rc == 1 || rc == -1) {
		if (!is_page(s)) { /* an error's body: its status decides, the rest is dropped */
			s->dec_failed = DEC_ERROR_BODY;
			return len;
		}
		s->dec_failed = DEC_CORRUPT;
		if (rc == 1)
			s->dec_why = "it inflates past what deflate can encode";
	}
	return rc ? CURL_WRITEFUNC_ERROR : len;
}

/* The answer's Content-Encoding, every header of it together. */
static enum decode_kind encoding_of(struct page_slot *s)
{
	enum decode_kind kind = DECODE_IDENTITY;
	struct curl_header *h;

	for (size_t i = 0;
	     curl_easy_header(s->x.easy, "Content-Encoding", i, CURLH_HEADER, -1, &h) == CURLHE_OK;
	     i++) {
		kind = decode_kind_add(kind, h->value);
		if (i + 1 >= h->amount)
			break;
	}
	return kind;
}

/* An answer's bytes, as its Content-Encoding (read with the first of them) says. */
size_t answer_body(char *p, size_t size, size_t n, void *arg)
{
	struct page_slot *s = arg;

	if (!s->dec_known) {
		enum decode_kind kind = encoding_of(s);

		if (kind == DECODE_OTHER) {
			/*
			 * Not asked for: a page cannot be read, but an error's
			 * body (a proxy's 503) is not read either: kept as it
			 * came, the status decides.
			 */
			if (is_page(s)) {
				s->dec_failed = DEC_NOT_ASKED;
				return CURL_WRITEFUNC_ERROR;
			}
			kind = DECODE_IDENTITY;
		}
		if (decode_start(&s->dec, kind))
			return CURL_WRITEFUNC_ERROR;
		s->dec_known = 1;
	}
	if (s->dec_failed == DEC_ERROR_BODY)
		return size * n;
	if (s->dec.kind == DECODE_IDENTITY)
		return take_plain(s, p, size * n);
	return take_encoded(s, p, size * n);
}

/* Give back a large body buffer (and its share of the budget), keep a small one. */
void answer_trim(struct page_slot *s, size_t keep)
{
	s->body.len = 0;
	if (s->body.cap <= keep)
		return;
	s->h->pages_held -= s->body.cap;
	buf_free(&s->body);
}

void answer_begin(struct page_slot *s)
{
	s->started_ms = http_pumped_ms(s->h);
	s->waited_ms = 0;
	s->dec_known = 0;
	s->dec_failed = DEC_OK;
	(void)decode_start(&s->dec, DECODE_IDENTITY); /* until its first bytes say otherwise */
}
