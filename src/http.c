#include "http.h"
#include "http_impl.h"
#include "buf.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A page body larger than this is refused (50 messages are ~20 kB). */
#define BODY_MAX (64u * 1024u * 1024u)
#define RETRY_AFTER_CAP 300.0

int http_global_init(struct err *e)
{
	if (curl_global_init(CURL_GLOBAL_ALL))
		return err_set(e, ERR_SOFTWARE, "cannot initialise libcurl");
	return 0;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

const char *http_curl_version(void)
{
	return curl_version_info(CURLVERSION_NOW)->version;
}

static int is_loopback(const char *host)
{
	if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") || !strcmp(host, "::1"))
		return 1;
	return !strncmp(host, "127.", 4) && strspn(host, "0123456789.") == strlen(host);
}

int http_check_url(const char *url, struct err *e)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (!u)
		return err_nomem(e);
	if (curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		rc = err_set(e, ERR_USAGE, "--url '%s': not a valid URL", url);
	} else if (!strcmp(scheme, "http") && !is_loopback(host)) {
		rc = err_set(e, ERR_USAGE, "--url '%s': plain http is allowed only to this machine "
			     "(127.0.0.1, localhost, ::1): the API key would travel in clear; use https",
			     url);
	} else if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		rc = err_set(e, ERR_USAGE, "--url '%s': only https (or http to this machine) is "
			     "supported", url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int http_limit_protocols(struct Curl_easy *easy, int str_rc)
{
	CURLcode rc = (CURLcode)str_rc;

	if (rc != CURLE_UNKNOWN_OPTION)
		return rc;
	/* Deprecated since 7.85, and the only way before it: the warning is for new code. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	rc = curl_easy_setopt(easy, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
	if (rc == CURLE_OK)
		rc = curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS,
				      (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#pragma GCC diagnostic pop
	return rc;
}

int xfer_init(struct xfer *x, const struct http_opts *o, struct err *e)
{
	CURL *c = curl_easy_init();
	long tmo = o->timeout;
	int ok = 1;

	x->easy = c;
	if (!c)
		return err_nomem(e);
	ok &= curl_easy_setopt(c, CURLOPT_PRIVATE, x) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_ERRORBUFFER, x->errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_TIMEOUT, tmo) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, tmo < 10 ? tmo : 10L) == CURLE_OK;
	ok &= http_limit_protocols(c, curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https")) ==
	      CURLE_OK;
	ok &= http_limit_protocols(c, curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR,
						       "http,https")) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, "waexport/" "0.1") == CURLE_OK;
	if (o->cacert)
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert) == CURLE_OK;
	if (!ok)
		return err_set(e, ERR_SOFTWARE, "libcurl refused an option (is it built with https?)");
	return 0;
}

/*
 * Point the handle at url and add it to the loop. A proxy from the
 * environment never sees a plain-http request (SPEC §5.6: it would read the
 * key in clear); https may still tunnel through one, as curl does.
 *
 * Over https a transfer waits for the host's first connection to say (in
 * its TLS handshake) whether it multiplexes, rather than open a connection
 * of its own. Plain http never multiplexes, but libcurl learns that only
 * from the first answer's headers: behind a slow first answer the others
 * would wait, and that wait counts against their timeout.
 */
int xfer_start(struct http *h, struct xfer *x, const char *url, struct err *e)
{
	int plain = !strncasecmp(url, "http://", 7);
	CURLMcode mc;

	x->errbuf[0] = '\0';
	x->too_big = 0;
	x->finished = 0;
	if (curl_easy_setopt(x->easy, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(x->easy, CURLOPT_PROXY, plain ? "" : NULL) != CURLE_OK ||
	    curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, plain ? 0L : 1L) != CURLE_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl refused a URL or proxy setting");
	mc = curl_multi_add_handle(h->multi, x->easy);
	if (mc != CURLM_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl: %s", curl_multi_strerror(mc));
	x->running = 1;
	return 0;
}

void xfer_cancel(struct http *h, struct xfer *x)
{
	if (x->running)
		curl_multi_remove_handle(h->multi, x->easy);
	x->running = 0;
	x->finished = 0;
}

/* The transfers that ended: out of the multi, marked for their owners to collect. */
static void collect(struct http *h)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_multi_remove_handle(h->multi, m->easy_handle);
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK || !x)
			continue; /* every handle here is ours and has its xfer: cannot happen */
		x->rc = m->data.result;
		x->running = 0;
		x->finished = 1;
	}
}

int http_pump(struct http *h, int timeout_ms, struct err *e)
{
	int still;
	CURLMcode mc = curl_multi_perform(h->multi, &still);

	collect(h);
	if (mc == CURLM_OK && timeout_ms > 0) {
		mc = curl_multi_poll(h->multi, NULL, 0, timeout_ms, NULL);
		if (mc == CURLM_OK || mc == CURLM_UNRECOVERABLE_POLL)
			mc = curl_multi_perform(h->multi, &still);
		collect(h);
	}
	if (mc != CURLM_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl: %s", curl_multi_strerror(mc));
	return 0;
}

const char *xfer_why(struct xfer *x)
{
	return x->errbuf[0] ? x->errbuf : curl_easy_strerror(x->rc);
}

int xfer_transient(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_BAD_CONTENT_ENCODING:
		return 1;
	default:
		return 0;
	}
}

int http_new(struct http **out, const struct http_opts *o, struct err *e)
{
	struct http *h = calloc(1, sizeof(*h));
	int n = o->concurrency > 0 ? o->concurrency : 1;

	if (!h)
		return err_nomem(e);
	h->o = *o;
	h->o.concurrency = n;
	h->multi = curl_multi_init();
	h->headers = curl_slist_append(NULL, "Content-Type: application/json");
	h->pages = calloc((size_t)n, sizeof(*h->pages));
	h->dls = calloc((size_t)n, sizeof(*h->dls));
	if (!h->multi || !h->headers || !h->pages || !h->dls) {
		err_nomem(e);
		goto fail;
	}
	for (int i = 0; i < n; i++)
		h->dls[i].fd = -1;
	/* Room on one host for every page and every media file at once: a page
	 * waiting for a connection a media file holds would count the wait
	 * against its timeout. */
	if (curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)(2 * n)) ||
	    curl_multi_setopt(h->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX)) {
		err_set(e, ERR_SOFTWARE, "libcurl refused a multi option");
		goto fail;
	}
	for (int i = 0; i < n; i++)
		if (page_slot_init(h, &h->pages[i], e) || dl_slot_init(h, &h->dls[i], e))
			goto fail;
	*out = h;
	return 0;
fail:
	http_free(h);
	return -1;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	for (int i = 0; h->pages && i < h->o.concurrency; i++) {
		struct page_slot *s = &h->pages[i];

		xfer_cancel(h, &s->x);
		curl_easy_cleanup(s->x.easy);
		buf_free(&s->body);
		/* The POST body holds the key: wipe it before it goes back to the heap. */
		if (s->post.data)
			memset(s->post.data, 0, s->post.cap);
		buf_free(&s->post);
	}
	for (int i = 0; h->dls && i < h->o.concurrency; i++)
		dl_slot_free(h, &h->dls[i]);
	free(h->pages);
	free(h->dls);
	curl_multi_cleanup(h->multi);
	curl_slist_free_all(h->headers);
	free(h);
}

/* ---- the walk's transport: getHistory POSTs, one slot per page in flight ---- */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct page_slot *s = arg;
	size_t len = size * n;

	if (s->body.len + len > BODY_MAX) {
		s->x.too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (buf_add(&s->body, p, len))
		return CURL_WRITEFUNC_ERROR;
	return len;
}

int page_slot_init(struct http *h, struct page_slot *s, struct err *e)
{
	CURL *c;
	int ok = 1;

	if (xfer_init(&s->x, &h->o, e))
		return -1;
	c = s->x.easy;
	ok &= curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, s) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers) == CURLE_OK;
	if (!ok)
		return err_set(e, ERR_SOFTWARE, "libcurl refused an option");
	return 0;
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

	s->body.len = 0;
	s->page_no = page_no;
	if (build_post(h->query, &s->post, page_no))
		return err_nomem(e);
	if (curl_easy_setopt(s->x.easy, CURLOPT_POSTFIELDS, s->post.data) != CURLE_OK ||
	    curl_easy_setopt(s->x.easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->post.len) !=
	    CURLE_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl refused a POST body");
	return xfer_start(h, &s->x, h->query->url, e);
}

/* What libcurl said about a finished page request, in the walk's terms. */
static void classify(struct page_slot *s, struct walk_answer *a)
{
	curl_off_t ra = 0;
	CURLcode rc = s->x.rc;

	if (rc == CURLE_OK) {
		a->outcome = WALK_ANSWERED;
		if (curl_easy_getinfo(s->x.easy, CURLINFO_RESPONSE_CODE, &a->status) != CURLE_OK)
			a->status = 0; /* no status: not a success, not retried */
		a->body = s->body.data ? s->body.data : "";
		a->len = s->body.len;
		/* libcurl 7.88 answers a negative number for an HTTP date in the past. */
		if (curl_easy_getinfo(s->x.easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
			a->retry_after = (double)ra > RETRY_AFTER_CAP ? RETRY_AFTER_CAP : (double)ra;
		return;
	}
	a->outcome = xfer_transient(rc) && !s->x.too_big ? WALK_TRANSIENT : WALK_FAILED;
	if (s->x.too_big)
		snprintf(s->why, sizeof(s->why), "answer larger than %u bytes", BODY_MAX);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		snprintf(s->why, sizeof(s->why), "%s (is the server's certificate signed by a CA "
			 "you trust? see --cacert)", xfer_why(&s->x));
	else
		snprintf(s->why, sizeof(s->why), "%s", xfer_why(&s->x));
	a->why = s->why;
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
			a->slot = i;
			classify(s, a);
			return 1;
		}
		if (!pass && http_pump(h, timeout_ms, e))
			return -1;
	}
	return 0;
}

static void pages_cancel(void *impl, int slot)
{
	struct http *h = impl;

	xfer_cancel(h, &h->pages[slot].x);
}

void http_pages(struct http *h, const struct http_page_query *q, struct walk_transport *t)
{
	h->query = q;
	memset(t, 0, sizeof(*t));
	t->impl = h;
	t->start = pages_start;
	t->next = pages_next;
	t->cancel = pages_cancel;
}
