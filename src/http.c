#include "http.h"
#include "http_impl.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
		rc = err_set(
			e, ERR_USAGE,
			"--url '%s': plain http is allowed only to this machine "
			"(127.0.0.1, localhost, ::1): the API key would travel in clear; use https",
			url);
	} else if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		rc = err_set(e, ERR_USAGE,
			     "--url '%s': only https (or http to this machine) is "
			     "supported",
			     url);
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
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT,
			       "waexport/"
			       "0.1") == CURLE_OK;
	if (o->cacert)
		ok &= curl_easy_setopt(c, CURLOPT_CAINFO, o->cacert) == CURLE_OK;
	if (!ok)
		return err_set(e, ERR_SOFTWARE,
			       "libcurl refused an option (is it built with https?)");
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

/* The transfers that ended: out of the multi, marked for their owners to collect. How many. */
static int collect(struct http *h)
{
	CURLMsg *m;
	int left, ended = 0;

	while ((m = curl_multi_info_read(h->multi, &left))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_multi_remove_handle(h->multi, m->easy_handle);
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK ||
		    !x)
			continue; /* every handle here is ours and has its xfer: cannot happen */
		x->rc = m->data.result;
		x->running = 0;
		x->finished = 1;
		ended++;
	}
	return ended;
}

int http_pump(struct http *h, int timeout_ms, struct err *e)
{
	int still;
	CURLMcode mc = curl_multi_perform(h->multi, &still);

	/*
	 * A transfer that ended here goes to its owner at once: curl_multi_poll
	 * with nothing left to watch sleeps its whole timeout (the walk's 1 s).
	 */
	if (collect(h) == 0 && mc == CURLM_OK && timeout_ms > 0) {
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
	case CURLE_BAD_CONTENT_ENCODING: return 1;
	default: return 0;
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
	for (int i = 0; h->pages && i < h->o.concurrency; i++)
		page_slot_free(h, &h->pages[i]);
	for (int i = 0; h->dls && i < h->o.concurrency; i++)
		dl_slot_free(h, &h->dls[i]);
	free(h->pages);
	free(h->dls);
	curl_multi_cleanup(h->multi);
	curl_slist_free_all(h->headers);
	free(h);
}
