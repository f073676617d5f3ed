/*
 * The walk's transport over the http loop: getHistory POSTs, one slot per
 * page in flight (walk.h). A slot keeps its easy handle, its answer buffer
 * and its request body from page to page; the body holds the API key and
 * is wiped before it is freed. What libcurl reports becomes the walk's
 * answered, transient or failed; retries and order are the walk's.
 */
#include "http_impl.h"
#include "json_scan.h"
#include "buf.h"
#include "text.h"

#include <stdio.h>
#include <string.h>

/* A slot keeps a buffer up to this size from page to page; a larger one is given back. */
#define SLOT_KEEP ((size_t)1 << 20)

int page_slot_init(struct http *h, struct page_slot *s, struct err *e)
{
	CURL *c;
	int ok = 1;

	s->h = h;
	if (xfer_init(&s->x, &h->o, e))
		return -1;
	c = s->x.easy;
	/*
	 * Compressed answers are asked for and inflated here (decode.h), not
	 * by libcurl: a paused answer then holds one read of raw bytes in
	 * libcurl, not all that read inflates to (up to 1032 times as much for
	 * deflate, more for encodings not asked for).
	 */
	ok &= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "gzip, deflate") == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT, 0L) == CURLE_OK; /* answer_time_out counts */
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, answer_body) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, s) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers) == CURLE_OK;
	if (!ok)
		return err_set(e, ERR_SOFTWARE, "libcurl refused an option");
	return 0;
}

void page_slot_free(struct http *h, struct page_slot *s)
{
	xfer_cancel(h, &s->x);
	curl_easy_cleanup(s->x.easy);
	decode_end(&s->dec);
	if (s->h)
		answer_trim(s, 0);
	/* The POST body holds the key: wipe it before it goes back to the heap. */
	if (s->post.data)
		memset(s->post.data, 0, s->post.cap);
	buf_free(&s->post);
}

/* {"apiKey":"…","from":"…","to":"…","page":N}, strings JSON-escaped. */
static int build_post(const struct http_page_query *q, struct buf *b, unsigned long page_no)
{
	size_t klen = strlen(q->api_key);

	b->len = 0;
	if (buf_adds(b, "{\"apiKey\":\"") || buf_reserve(b, TEXT_RECODE_MAX(klen)))
		return -1;
	b->len += text_json_escape(buf_tail(b), q->api_key, klen);
	if (buf_adds(b, "\",\"from\":\"") || buf_adds(b, q->from) || buf_addc(b, '"'))
		return -1;
	if (q->to && (buf_adds(b, ",\"to\":\"") || buf_adds(b, q->to) || buf_addc(b, '"')))
		return -1;
	return buf_adds(b, ",\"page\":") || buf_add_i64(b, (long long)page_no) || buf_addc(b, '}');
}

static int pages_start(void *impl, int slot, unsigned long page_no, struct err *e)
{
	struct http *h = impl;
	struct page_slot *s = &h->pages[slot];

	answer_trim(s, SLOT_KEEP);
	answer_resume_paused(h); /* some of the budget may be free now */
	s->page_no = page_no;
	answer_begin(s);
	if (build_post(h->query, &s->post, page_no))
		return err_nomem(e);
	if (curl_easy_setopt(s->x.easy, CURLOPT_POSTFIELDS, s->post.data) != CURLE_OK ||
	    curl_easy_setopt(s->x.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->post.len) !=
		    CURLE_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl refused a POST body");
	return xfer_start(h, &s->x, h->query->url, e);
}

/*
 * SPEC §5.5: a truncated body is retried. libcurl knows a body was cut when
 * its length was told (Content-Length, chunks, HTTP/2 frames); an HTTP/1
 * answer that ends where the connection closes tells nothing. There, a body
 * that begins as JSON must end as JSON does, or it was cut off: its root
 * array or object closed (the pre-scan's word; a cut after some inner `}`
 * or `]` is no end). A body the scan refuses is not called cut: the page
 * stage names what is wrong with it.
 */
static int cut_off(const struct page_slot *s)
{
	const char *p = s->body.data, *end = p + s->body.len;
	struct curl_header *h;
	curl_off_t length = -1;
	long version = 0;
	struct json_scan scan;
	struct err ignored;

	if (curl_easy_getinfo(s->x.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK ||
	    length >= 0 ||
	    curl_easy_getinfo(s->x.easy, CURLINFO_HTTP_VERSION, &version) != CURLE_OK ||
	    version >= CURL_HTTP_VERSION_2_0 ||
	    curl_easy_header(s->x.easy, "Transfer-Encoding", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		return 0;
	p += json_bom_len(p, (size_t)(end - p));
	while (p < end && json_is_space(*p))
		p++;
	if (p == end || (*p != '[' && *p != '{'))
		return 0;
	json_scan_reset(&scan);
	return !json_scan(&scan, 1, p, (size_t)(end - p), &ignored) && !scan.root_end;
}

/* What libcurl said about a finished page request, in the walk's terms. */
static void classify(struct page_slot *s, struct walk_answer *a)
{
	CURLcode rc = s->x.rc;

	if (rc == CURLE_OK) {
		a->outcome = WALK_ANSWERED;
		if (curl_easy_getinfo(s->x.easy, CURLINFO_RESPONSE_CODE, &a->status) != CURLE_OK)
			a->status = 0; /* no status: not a success, not retried */
		a->body = s->body.data ? s->body.data : "";
		a->len = s->body.len;
		a->retry_after = xfer_retry_after(&s->x);
		if (a->status >= 200 && a->status <= 299 && !decode_complete(&s->dec))
			snprintf(s->why, sizeof(s->why),
				 "the compressed answer ended before its compressed data did "
				 "(cut off?)");
		else if (a->status >= 200 && a->status <= 299 && cut_off(s))
			snprintf(s->why, sizeof(s->why),
				 "the answer ended before its JSON did (no length was announced: "
				 "cut off?)");
		else
			return;
		a->outcome = WALK_TRANSIENT;
		a->why = s->why;
		return;
	}
	a->outcome =
		xfer_transient(rc) || s->dec_failed == DEC_CORRUPT ? WALK_TRANSIENT : WALK_FAILED;
	if (s->dec_failed == DEC_CORRUPT)
		snprintf(s->why, sizeof(s->why), "the answer's compressed data is corrupt: %s",
			 s->dec_why);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		snprintf(s->why, sizeof(s->why),
			 "%s (is the server's certificate signed by a CA "
			 "you trust? see --cacert)",
			 xfer_why(&s->x));
	else if (rc == CURLE_OUT_OF_MEMORY) /* libcurl's word for a header line past 100 kB, too */
		snprintf(s->why, sizeof(s->why),
			 "%s (a header line over libcurl's 100 kB limit says so too: "
			 "not an answer of the API)",
			 xfer_why(&s->x));
	else
		snprintf(s->why, sizeof(s->why), "%s", xfer_why(&s->x));
	a->why = s->why;
}

/*
 * An answer refused for its size is bad data (SPEC §5.7, exit 65 as convert
 * gives for the same body), not a transport failure: asking again would only
 * cost the same memory again.
 */
static int refuse_size(const struct page_slot *s, struct err *e)
{
	return err_set(e, ERR_DATA,
		       "page %lu: answer larger than the %u-byte limit (64 MiB); a page "
		       "of 50 messages is tens of kB: not a page of messages, not retried",
		       s->page_no, JSON_MAX_BODY);
}

/* An answer in an encoding waexport did not ask for cannot be read, now or on a retry. */
static int refuse_encoding(const struct page_slot *s, struct err *e)
{
	struct curl_header *h = NULL;
	const char *v = "?";

	if (curl_easy_header(s->x.easy, "Content-Encoding", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		v = h->value;
	else
		h = NULL;
	return err_set(e, ERR_DATA,
		       "page %lu: the API answered in Content-Encoding \"%.64s\"%s, which waexport "
		       "did not ask for (it asks for gzip or deflate, once) and cannot read: not "
		       "retried",
		       s->page_no, v, h && h->amount > 1 ? " (and more)" : "");
}

static int pages_next(void *impl, int timeout_ms, struct walk_answer *a, struct err *e)
{
	struct http *h = impl;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < h->o.concurrency; i++) {
			struct page_slot *s = &h->pages[i];

			if (!s->x.finished)
				continue;
			s->x.finished = 0;
			if (s->x.too_big)
				return refuse_size(s, e);
			if (s->dec_failed == DEC_NOT_ASKED)
				return refuse_encoding(s, e);
			a->slot = i;
			classify(s, a);
			return 1;
		}
		if (pass)
			break;
		answer_resume_paused(
			h); /* a page below may have been handed on, or become the lowest */
		if (http_pump(h, timeout_ms, e))
			return -1;
		answer_time_out(h);
	}
	return 0;
}

static void pages_needed(void *impl, unsigned long page_no)
{
	struct http *h = impl;

	h->page_needed = page_no;
	for (int i = 0; i < h->o.concurrency;
	     i++) /* pages below it are handed on: their bodies go */
		if (h->pages[i].page_no < page_no && !h->pages[i].x.running)
			answer_trim(&h->pages[i], SLOT_KEEP);
}

static void pages_cancel(void *impl, int slot)
{
	struct http *h = impl;
	struct page_slot *s = &h->pages[slot];

	xfer_cancel(h, &s->x);
	if (s->paused) /* out of the loop: nothing comes; the handle is used again */
		answer_resume(s);
}

void http_pages(struct http *h, const struct http_page_query *q, struct walk_transport *t)
{
	h->query = q;
	memset(t, 0, sizeof(*t));
	t->impl = h;
	t->start = pages_start;
	t->next = pages_next;
	t->cancel = pages_cancel;
	t->needed = pages_needed;
}
