/*
 * http: everything waexport asks of libcurl. It owns libcurl's global
 * setup, the URL rules of SPEC §5.6 (https, or plain http to this machine
 * only, never through a proxy), the easy handles and how they are
 * configured (timeouts, TLS, --cacert, compression, allowed protocols, size
 * caps), and one multi handle per run whose loop drives page requests and
 * media downloads together: while media download, page transfers go on, so
 * a slow media host never times out a page (SPEC §5.4).
 *
 * Page requests reach the walk through its transport interface (walk.h):
 * http classifies what libcurl reports (answered, transient, failed) and
 * clamps Retry-After; the walk decides about retries and order. The API key
 * lives only in the POST bodies, is wiped when they are freed, and is never
 * put in a message.
 */
#ifndef WAEXPORT_HTTP_H
#define WAEXPORT_HTTP_H

#include <stddef.h>

#include "err.h"
#include "walk.h"

/* curl_global_init: call once, before any other thread starts; cleanup at exit. */
int http_global_init(struct err *e);
void http_global_cleanup(void);
const char *http_curl_version(void);

/*
 * Check a URL before anything connects: https, or http only to a loopback
 * host (SPEC §5.6). ERR_USAGE otherwise.
 */
int http_check_url(const char *url, struct err *e);

/*
 * Limit an easy handle to http and https. `str_rc` is what libcurl answered
 * when CURLOPT_PROTOCOLS_STR was set: a libcurl older than 7.85 refuses that
 * option (CURLE_UNKNOWN_OPTION) and gets the older bitmask options instead.
 * Returns a CURLcode. Public so that a unit test can force the refusal.
 */
struct Curl_easy;
int http_limit_protocols(struct Curl_easy *easy, int str_rc);

struct http_opts {
	int timeout; /* seconds per transfer: a media file's, or a page's on the loop's clock less
			its waits for the memory budget (http_answer.c) */
	const char *cacert;       /* NULL: the system bundle */
	int concurrency;          /* 1..32: pages, and media files, at once */
	const volatile int *stop; /* set by a signal: downloads give up within a second */
};

struct http;

int http_new(struct http **out, const struct http_opts *o, struct err *e);

/*
 * The pages a walk may have in flight: o.concurrency, or fewer when the
 * descriptor limit leaves no room for them and a media download beside.
 */
int http_page_max(const struct http *h);
void http_free(struct http *h);

/* What one page request asks getHistory for; the strings are borrowed. */
struct http_page_query {
	const char *url;
	const char *api_key;
	const char *from;
	const char *to; /* NULL: the whole account */
};

/*
 * Fill *t with the transport of a walk that POSTs q with {"page": N} (up to
 * `concurrency` slots). q must outlive the walk; one walk at a time.
 */
void http_pages(struct http *h, const struct http_page_query *q, struct walk_transport *t);

/*
 * Media downloads (SPEC §5.4): up to `concurrency` files at once, each
 * written to a temporary file in its directory and renamed into place only
 * when complete, while page requests in flight go on.
 */
/* A longer media link is not one (real ones are some hundred bytes): that file fails. */
#define HTTP_MEDIA_URL_MAX (64u * 1024)

struct http_download {
	const char *url;
	const char *path;             /* final file name */
	unsigned long long max_bytes; /* larger files are abandoned */
	int done, ok;
	int local;      /* errno of a failure on this side (disk, rights), or 0 */
	int not_tried;  /* its host failed every try for the files before it (why says so) */
	int redirected; /* the last try was sent on elsewhere: its failure is not its host's */
	unsigned long long bytes;
	char why[320]; /* why it failed */
};

/*
 * A media host that failed every try for this many files in a row (down, or
 * refusing us) is not asked for the rest of the run: each would cost every
 * retry's wait (minutes a file), a night of them hours.
 */
#define HTTP_HOST_GIVE_UP 3

/*
 * Download every job not already done. A 5xx, 429, 408, timeout or cut-off
 * body is retried as a page request is (SPEC §5.5: retry's retries and
 * retry_base; the retries are added to *stats, which may be NULL). A job
 * that fails otherwise, or on every try, is marked (ok 0, why set) and the
 * others go on; once a host has failed every try for HTTP_HOST_GIVE_UP jobs
 * in a row (this call or an earlier one), its other jobs are marked without
 * a request (not_tried). -1 for an interruption or a libcurl failure.
 */
int http_download(struct http *h, struct http_download *jobs, size_t n,
		  const struct walk_opts *retry, struct walk_stats *stats, struct err *e);

#endif
