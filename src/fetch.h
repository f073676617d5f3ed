/*
 * fetch: every page of getHistory for one account/contact over libcurl's
 * multi interface (SPEC §5.1, §5.5, §5.6).
 *
 * Up to `concurrency` pages are in flight on reused connections (HTTP/2
 * multiplexed where the server offers it); bodies are handed on strictly in
 * page order through on_page, which parses them and says whether the
 * history goes on. Transient failures are retried with exponential backoff
 * and full jitter, honouring Retry-After (capped at 5 minutes). fetch knows
 * nothing about JSON or output formats; the API key lives only in the POST
 * bodies and is never put in a message.
 */
#ifndef WAEXPORT_FETCH_H
#define WAEXPORT_FETCH_H

#include <stddef.h>

#include "err.h"

struct fetch_opts {
	const char *url;
	const char *api_key;
	const char *from;
	const char *to;              /* NULL: the whole account */
	int concurrency;             /* 1..32 */
	int retries;                 /* tries after the first */
	int timeout;                 /* seconds per request */
	long max_pages;              /* 0: no limit */
	const char *cacert;          /* NULL: the system bundle */
	const volatile int *stop;    /* set by a signal: give up at once */
	double retry_base;           /* first backoff in seconds (default 0.5) */
	int slow_start;              /* start with one page in flight, double per page:
	                                a nightly run that ends on page 1 asks once */
};

struct fetch_stats {
	unsigned long long pages;    /* bodies handed on */
	unsigned long long requests;
	unsigned long long retries;
	unsigned long long bytes;    /* body bytes received */
	int max_in_flight;
};

enum fetch_verdict { FETCH_MORE = 0, FETCH_END = 1 };

/* Called in page order. Returns FETCH_MORE, FETCH_END, or -1 with e set. */
typedef int (*fetch_page_fn)(void *ctx, unsigned long page_no, const char *body, size_t len,
			     struct err *e);

/*
 * Load libcurl (it is opened, not linked: see fetch.c) and initialise it.
 * Call before any other thread starts, and fetch_global_cleanup at exit.
 */
int fetch_global_init(struct err *e);
void fetch_global_cleanup(void);

/* libcurl's version, loading it if need be; "none" when it cannot be loaded. */
const char *fetch_curl_version(void);

/*
 * Check a URL before anything connects: https, or http only to a loopback
 * host (SPEC §5.6). ERR_USAGE otherwise.
 */
int fetch_check_url(const char *url, struct err *e);

int fetch_run(const struct fetch_opts *opts, fetch_page_fn on_page, void *ctx,
	      struct fetch_stats *stats, struct err *e);

/*
 * Media downloads (SPEC §5.4) on the same machinery: up to `concurrency`
 * files at once on reused connections, each written to a temporary file in
 * its directory and renamed into place only when complete.
 */
struct fetch_download {
	const char *url;
	const char *path;               /* final file name */
	unsigned long long max_bytes;   /* larger files are abandoned */
	int done, ok;
	unsigned long long bytes;
	char why[320];                  /* why it failed */
};

struct fetch_downloader;

int fetch_downloader_new(struct fetch_downloader **out, const struct fetch_opts *o, struct err *e);
void fetch_downloader_free(struct fetch_downloader *d);

/*
 * Download every job not already done. A job that fails is marked (ok 0,
 * why set) and the others go on; -1 only for an interruption or a libcurl
 * failure.
 */
int fetch_download(struct fetch_downloader *d, struct fetch_download *jobs, size_t n, struct err *e);

#endif
