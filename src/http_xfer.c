/*
 * A transfer and the loop that drives them all (http_impl.h): one easy
 * handle set up once and reused, started and cancelled in the multi, and
 * http_pump, which only marks the transfers that ended; their owners
 * (http_pages.c, http_download.c) collect them.
 */
#include "http.h"
#include "http_impl.h"
#include "monotonic.h"
#include "version.h"

#include <string.h>
#include <strings.h>

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
	ok &= curl_easy_setopt(c, CURLOPT_USERAGENT, "waexport/" WAEXPORT_VERSION) == CURLE_OK;
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

long long http_pumped_ms(const struct http *h)
{
	return h->pumped_ms + (h->pump_began_ms ? monotonic_ms() - h->pump_began_ms : 0);
}

static int pump(struct http *h, int timeout_ms, struct err *e)
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

int http_pump(struct http *h, int timeout_ms, struct err *e)
{
	int rc;

	h->pump_began_ms = monotonic_ms();
	rc = pump(h, timeout_ms, e);
	h->pumped_ms = http_pumped_ms(h);
	h->pump_began_ms = 0;
	return rc;
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

/* A Retry-After above this is waited only this long (SPEC §5.5: up to 5 minutes). */
#define RETRY_AFTER_CAP 300.0

double xfer_retry_after(struct xfer *x)
{
	struct curl_header *h;
	curl_off_t ra = 0;
	const char *v;

	/* libcurl 7.88 answers a negative number for an HTTP date in the past. */
	if (curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		return (double)ra > RETRY_AFTER_CAP ? RETRY_AFTER_CAP : (double)ra;
	/* Seconds too many for libcurl's integer come back as 0: the longest wait, not none. */
	if (curl_easy_header(x->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return 0;
	v = h->value + strspn(h->value, " \t");
	if (!*v || v[strspn(v, "0123456789")] || !v[strspn(v, "0")])
		return 0;
	return RETRY_AFTER_CAP;
}
