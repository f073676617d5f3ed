/*
 * The http session (http.h): libcurl's global set-up, the check of --url,
 * and http_new/http_free, which make the multi and the slots of the page
 * requests (http_pages.c) and of the media downloads (http_download.c).
 * Calls go one way: this file → those two → http_answer.c (a page's answer:
 * the memory budget, decoding, its timeout) and http_xfer.c (a transfer, the
 * loop).
 */
#include "http.h"
#include "http_impl.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/* Descriptors kept for the run's own files while media download (outputs, state, log...). */
#define HTTP_FD_RESERVE 16

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

static int clamp(long v, int n)
{
	return v < 1 ? 1 : v < n ? (int)v : n;
}

/*
 * How many pages and media files may be in flight at once, up to n each,
 * under RLIMIT_NOFILE (ulimit -n, a supervisor's limit): a download needs a
 * socket and a file, a page a socket (libcurl's cache of idle connections
 * is held to them too), and the run keeps some files of its own (outputs,
 * state, journal, log). A download that cannot create its file fails the
 * run (SPEC §5.4: the link would not come back): under a low limit fewer
 * pages, fewer downloads, never none.
 */
static void in_flight_room(struct http *h, int n)
{
	struct rlimit rl;
	long open_now = 0, room;
	DIR *d = opendir("/proc/self/fd");

	h->page_max = h->dl_max = n;
	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur == RLIM_INFINITY || !d) {
		if (d)
			closedir(d);
		return;
	}
	while (readdir(d))
		open_now++;
	closedir(d);
	room = (long)rl.rlim_cur - open_now - HTTP_FD_RESERVE;
	h->dl_max = clamp((room - n) / 2, n);
	h->page_max = clamp(room - 2L * h->dl_max, n);
}

int http_page_max(const struct http *h)
{
	return h->page_max;
}

int http_new(struct http **out, const struct http_opts *o, struct err *e)
{
	struct http *h = calloc(1, sizeof(*h));
	int n = o->concurrency > 0 ? o->concurrency : 1;

	if (!h)
		return err_nomem(e);
	h->o = *o;
	h->o.concurrency = n;
	in_flight_room(h, n);
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
	    curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)(h->page_max + h->dl_max)) ||
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
