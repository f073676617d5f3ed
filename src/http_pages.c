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
#include <time.h>

/*
 * What the bodies of all pages in flight may hold together (SPEC §5.7: memory
 * stays bounded whatever --concurrency). A per-page limit alone lets 32
 * endless answers cost 32 x 64 MiB; so every slot's allocation is charged to
 * one budget, twice a page's limit. An answer that would take more than is
 * left of it waits (libcurl pauses it) until others give theirs back, but
 * the page the walk hands on next never waits (walk.h: needed): the walk
 * hands pages on in order, so that one always lets it get on, and the
 * bodies stay under the budget plus that page. A page held but not yet handed on stays charged: its bytes are
 * still in memory. Real pages (tens of kB in buffers of tens of KiB) use a
 * sliver of it at any concurrency. The wait is not the server's doing: a
 * page's --timeout is counted here, without it (libcurl's would count it).
 */
#define BUDGET (2 * (size_t)JSON_MAX_BODY)
/* A slot keeps a buffer up to this size from page to page; a larger one is given back. */
#define SLOT_KEEP ((size_t)1 << 20)

/* The capacity the body grows to for `want` bytes (buf_grow doubles from 256). */
static size_t grown_cap(size_t cap, size_t want)
{
	cap = cap ? cap : 256;
	while (cap < want)
		cap *= 2;
	return cap;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The slot's answer goes on (it was paused), its wait no longer counted. */
static void resume(struct page_slot *s)
{
	s->paused = 0;
	s->waited_ms += now_ms() - s->paused_at_ms;
	curl_easy_pause(s->x.easy, CURLPAUSE_CONT);
}

/*
 * Every waiting answer the budget now has room for goes on, and the page
 * the walk hands on next whatever it holds. (Resumed at every turn of the
 * loop, one over the budget paused again at once: hundreds of times a page.)
 */
static void resume_paused(struct http *h)
{
	for (int i = 0; i < h->o.concurrency; i++) {
		struct page_slot *s = &h->pages[i];

		if (s->paused &&
		    (s->page_no == h->page_needed || h->pages_held + s->more <= BUDGET))
			resume(s);
	}
}

/*
 * A request that has run longer than --timeout, its waits for the budget
 * not counted, ends as libcurl would have ended it (a timeout: retried).
 */
static void time_out(struct http *h)
{
	long long now = now_ms(), limit = (long long)h->o.timeout * 1000;

	for (int i = 0; i < h->o.concurrency; i++) {
		struct page_slot *s = &h->pages[i];
		long long ran = now - s->started_ms - s->waited_ms -
				(s->paused ? now - s->paused_at_ms : 0);

		if (!s->x.running || ran <= limit)
			continue;
		xfer_cancel(h, &s->x);
		if (s->paused)
			resume(s);
		s->x.finished = 1;
		s->x.rc = CURLE_OPERATION_TIMEDOUT;
		snprintf(s->x.errbuf, sizeof(s->x.errbuf),
			 "Operation timed out after %lld milliseconds with %zu bytes received", ran,
			 s->body.len);
	}
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct page_slot *s = arg;
	size_t len = size * n, want = s->body.len + len, old = s->body.cap, more;

	if (want > JSON_MAX_BODY) {
		s->x.too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (want > old) {
		more = grown_cap(old, want) - old;
		if (s->h->pages_held + more > BUDGET && s->page_no != s->h->page_needed) {
			s->paused = 1;
			s->paused_at_ms = now_ms();
			s->more = more;
			return CURL_WRITEFUNC_PAUSE; /* the same bytes come again once resumed */
		}
		if (buf_reserve(&s->body, len))
			return CURL_WRITEFUNC_ERROR;
		s->h->pages_held += s->body.cap - old;
	}
	if (len)
		memcpy(s->body.data + s->body.len, p, len);
	s->body.len += len;
	return len;
}

/* Give back a large body buffer (and its share of the budget), keep a small one. */
static void trim_body(struct page_slot *s, size_t keep)
{
	s->body.len = 0;
	if (s->body.cap <= keep)
		return;
	s->h->pages_held -= s->body.cap;
	buf_free(&s->body);
}

int page_slot_init(struct http *h, struct page_slot *s, struct err *e)
{
	CURL *c;
	int ok = 1;

	s->h = h;
	if (xfer_init(&s->x, &h->o, e))
		return -1;
	c = s->x.easy;
	ok &= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	/*
	 * A paused answer (on_body) keeps in libcurl what it had already read,
	 * inflated: one read of gzip can be a thousand times its size. Reads of
	 * 1 KiB (libcurl's least) hold that to ~1 MiB a paused page; pages are
	 * tens of kB, so the reads cost nothing.
	 */
	ok &= curl_easy_setopt(c, CURLOPT_BUFFERSIZE, 1024L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT, 0L) == CURLE_OK; /* time_out() counts */
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
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
	if (s->h)
		trim_body(s, 0);
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

	trim_body(s, SLOT_KEEP);
	resume_paused(h); /* some of the budget may be free now */
	s->page_no = page_no;
	s->started_ms = now_ms();
	s->waited_ms = 0;
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
 * that begins as JSON must end as JSON does, or it was cut off.
 */
static int cut_off(const struct page_slot *s)
{
	const char *p = s->body.data, *end = p + s->body.len;
	struct curl_header *h;
	curl_off_t length = -1;
	long version = 0;

	if (curl_easy_getinfo(s->x.easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) != CURLE_OK ||
	    length >= 0 ||
	    curl_easy_getinfo(s->x.easy, CURLINFO_HTTP_VERSION, &version) != CURLE_OK ||
	    version >= CURL_HTTP_VERSION_2_0 ||
	    curl_easy_header(s->x.easy, "Transfer-Encoding", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
		return 0;
	p += json_bom_len(p, (size_t)(end - p));
	while (p < end && json_is_space(*p))
		p++;
	while (end > p && json_is_space(end[-1]))
		end--;
	return p < end && (*p == '[' || *p == '{') && end[-1] != ']' && end[-1] != '}';
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
		if (a->status < 200 || a->status > 299 || !cut_off(s))
			return;
		a->outcome = WALK_TRANSIENT;
		snprintf(
			s->why, sizeof(s->why),
			"the answer ended before its JSON did (no length was announced: cut off?)");
		a->why = s->why;
		return;
	}
	a->outcome = xfer_transient(rc) ? WALK_TRANSIENT : WALK_FAILED;
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
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
			a->slot = i;
			classify(s, a);
			return 1;
		}
		if (pass)
			break;
		resume_paused(h); /* a page below may have been handed on, or become the lowest */
		if (http_pump(h, timeout_ms, e))
			return -1;
		time_out(h);
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
			trim_body(&h->pages[i], SLOT_KEEP);
}

static void pages_cancel(void *impl, int slot)
{
	struct http *h = impl;
	struct page_slot *s = &h->pages[slot];

	xfer_cancel(h, &s->x);
	if (s->paused) /* out of the loop: nothing comes; the handle is used again */
		resume(s);
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
