/*
 * The inside of the http module, shared by its five files and nothing else:
 * http.c (libcurl set-up, the session's slots), http_pages.c (page
 * requests), http_answer.c (a page's answer as it arrives), http_download.c
 * (media files) and http_xfer.c (a transfer, the loop); calls go one way, in
 * that order. A transfer (struct xfer) is one easy
 * handle reused request after request; the loop (http_pump) only marks
 * transfers finished, and their owner (the page transport or the
 * downloader) collects them, so whichever of the two is waiting drives the
 * other's transfers too.
 */
#ifndef WAEXPORT_HTTP_IMPL_H
#define WAEXPORT_HTTP_IMPL_H

#include "http.h"
#include "buf.h"
#include "decode.h"

#include <curl/curl.h>

struct xfer {
	CURL *easy;
	char errbuf[CURL_ERROR_SIZE];
	int running;  /* in the multi */
	int finished; /* ended, not yet collected by its owner */
	CURLcode rc;  /* how it ended */
	int too_big;  /* the write callback refused more bytes */
};

struct page_slot {
	struct xfer x;
	struct http *h; /* whose budget the body counts against */
	unsigned long page_no;
	int paused;  /* its answer waits: the slots together hold the budget (http_answer.c) */
	size_t more; /* what it waits for room for */
	/* --timeout on the loop's clock (http_pumped_ms), less the waits for the budget */
	long long started_ms, paused_at_ms, waited_ms;
	struct buf body;
	struct decode dec; /* the answer's Content-Encoding, undone as it comes */
	int dec_known;     /* dec is this answer's (its first bytes have come) */
	enum {
		DEC_OK,
		DEC_CORRUPT,    /* dec_why says how: retried like a cut answer */
		DEC_NOT_ASKED,  /* a page in an encoding not asked for: refused */
		DEC_ERROR_BODY, /* an error's body, not read on: its status decides */
	} dec_failed;
	const char *dec_why;
	struct buf post; /* the request body: holds the key */
	char why[CURL_ERROR_SIZE + 96];
};

struct dl_slot {
	struct xfer x;
	struct http_download *job;
	int fd;
	char *tmp;
	unsigned long long bytes, max;
	int write_failed; /* the errno of a failed write */
};

#define HTTP_HOSTS 16 /* media hosts remembered for HTTP_HOST_GIVE_UP; the oldest makes room */

struct dl_host {
	char name[256]; /* scheme://host:port as the link has it, cut at 255 bytes */
	int failed;     /* files in a row that failed every try */
};

struct http {
	struct http_opts o;
	CURLM *multi;
	struct curl_slist *headers;
	struct page_slot *pages; /* o.concurrency of each */
	struct dl_slot *dls;
	int page_max; /* pages at once: o.concurrency, or what the descriptor limit leaves room for */
	int dl_max;   /* downloads at once: likewise */
	struct dl_host hosts[HTTP_HOSTS];
	unsigned nhosts; /* hosts seen: hosts[nhosts % HTTP_HOSTS] is the next to reuse */
	const struct http_page_query *query;
	/* time spent in http_pump, and when the one running began (http_xfer.c) */
	long long pumped_ms, pump_began_ms;
	size_t pages_held;         /* bytes allocated by all page bodies together (http_answer.c) */
	unsigned long page_needed; /* the page the walk hands on next: never paused */
};

/* http_xfer.c */
int xfer_init(struct xfer *x, const struct http_opts *o, struct err *e);
int xfer_start(struct http *h, struct xfer *x, const char *url, struct err *e);
void xfer_cancel(struct http *h, struct xfer *x);
const char *xfer_why(struct xfer *x);
int xfer_transient(CURLcode rc);
/* SPEC §5.5: the seconds the answer's Retry-After asks for, at most 5 minutes; 0: none. */
double xfer_retry_after(struct xfer *x);
/*
 * Drive every transfer, waiting at most timeout_ms for something to happen;
 * no wait when a transfer ended in the first step.
 */
int http_pump(struct http *h, int timeout_ms, struct err *e);
/*
 * The loop's clock (ms): time spent in http_pump, the only time transfers
 * are read. A page request's --timeout runs on it: while the walk writes what
 * it was handed, or waits for a disk, nothing is read and no server is slow.
 */
long long http_pumped_ms(const struct http *h);

/* http_pages.c */
int page_slot_init(struct http *h, struct page_slot *s, struct err *e);
void page_slot_free(struct http *h, struct page_slot *s);

/* http_answer.c: a page's answer, as libcurl hands it on (its write callback is answer_body). */
void answer_begin(struct page_slot *s); /* a request starts: its clock, a new answer */
size_t answer_body(char *p, size_t size, size_t n, void *slot);
void answer_resume(struct page_slot *s); /* a paused answer goes on */
/* Resume every paused answer the budget now has room for, and the page the walk needs. */
void answer_resume_paused(struct http *h);
/* End, as a timeout, each request past --timeout (its budget waits not counted). */
void answer_time_out(struct http *h);
/* Empty the body; give its buffer (and its share of the budget) back if over keep bytes. */
void answer_trim(struct page_slot *s, size_t keep);

/* http_download.c */
int dl_slot_init(struct http *h, struct dl_slot *s, struct err *e);
void dl_slot_free(struct http *h, struct dl_slot *s);

#endif
