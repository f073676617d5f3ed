/*
 * walk: the page walk of getHistory (SPEC §5.1, §5.5). Pages 1, 2, 3 … are
 * requested with up to `concurrency` in flight and handed on strictly in
 * page order through a callback that says whether the history goes on;
 * requests past the end are cancelled and their answers ignored. Transient
 * failures are retried with exponential backoff and full jitter, or after
 * the wait a 429/503 asked for in Retry-After. A walk fails at the first
 * page it cannot hand on: a later page that fails first waits for the pages
 * before it, which may end the history or be the page the error names.
 *
 * The walk owns the order, the retries and the statistics, and nothing of
 * HTTP: it drives a transport, a small struct of function pointers that
 * http_pages.c (pages) and http_download.c (media) implement over libcurl
 * and tests/unit/test_walk.c scripts. Page p
 * always travels in transport slot p % concurrency, so at most `concurrency`
 * bodies are held at once.
 */
#ifndef WAEXPORT_WALK_H
#define WAEXPORT_WALK_H

#include <stddef.h>

#include "err.h"

/*
 * A wait before a retry (a backoff, or the Retry-After the server asked
 * for), for the progress line (SPEC §6): the walk itself prints nothing.
 */
struct walk_wait {
	unsigned long page_no;
	int retry; /* the coming try is retry `retry` of `retries` */
	int retries;
	long status;     /* the HTTP status that caused it, 0: no answer */
	const char *why; /* with status 0: what went wrong (the transport's words) */
	double left;     /* seconds until the retry */
};

/* Called while the walk waits (about once a second), and with NULL once it no longer does. */
typedef void (*walk_wait_fn)(void *ctx, const struct walk_wait *w);

struct walk_opts {
	int concurrency; /* 1..32: pages in flight, and transport slots */
	int retries;     /* tries after the first */
	long max_pages;  /* 0: no limit; counted from first_page */
	unsigned long
		first_page; /* the first page asked (0: page 1); a resumed walk starts later */
	double retry_base;  /* first backoff in seconds (0: 0.5) */
	int slow_start;     /* one page in flight at first, doubled per page:
	                                a nightly run that ends on page 1 asks once */
	int first_alone;    /* the first page alone in flight, then `concurrency`: every other
			    page is answered after it (probe.h compares with its head) */
	const volatile int *stop; /* set by a signal: give up within a second */
	walk_wait_fn on_wait;     /* NULL: nobody is told */
	void *wait_ctx;
	int keep_going;    /* a page that failed every try goes to on_page with body NULL
			   and the walk goes on (downloads), instead of ending it */
	int confirm_empty; /* an empty page (SPEC §1: no body, or []) is asked once more before
			      it goes on: a proxy's one empty answer must not end the history */
};

struct walk_stats {
	unsigned long long pages; /* bodies handed on */
	unsigned long long requests;
	unsigned long long retries;
	unsigned long long reasked; /* empty pages asked once more (confirm_empty) */
	unsigned long long bytes;   /* body bytes handed on */
	int max_in_flight;
	int capped; /* the walk stopped at max_pages, not at the history's end */
};

enum walk_verdict { WALK_MORE = 0, WALK_END = 1 };

/*
 * Called in page order. Returns WALK_MORE, WALK_END, or -1 with e set.
 * body is NULL for a page given up on (keep_going).
 */
typedef int (*walk_page_fn)(void *ctx, unsigned long page_no, const char *body, size_t len,
			    struct err *e);

enum walk_outcome {
	WALK_ANSWERED,  /* the server answered: see status */
	WALK_TRANSIENT, /* no answer, worth another try (timeout, reset…) */
	WALK_FAILED,    /* no answer, and trying again will not help */
};

/* A finished request, as the transport reports it. */
struct walk_answer {
	int slot;
	enum walk_outcome outcome;
	long status;      /* WALK_ANSWERED: the HTTP status */
	const char *body; /* valid until the slot is started or cancelled again */
	size_t len;
	double retry_after; /* seconds the server asked to wait, 0: none */
	const char *why;    /* not answered: what went wrong, for a message */
};

struct walk_transport {
	void *impl;
	/* Send the request for page_no in `slot` (idle or finished). */
	int (*start)(void *impl, int slot, unsigned long page_no, struct err *e);
	/*
	 * Wait at most timeout_ms for a request to finish. 1: *a describes one
	 * (each finished request is reported once); 0: none finished; -1: e set.
	 */
	int (*next)(void *impl, int timeout_ms, struct walk_answer *a, struct err *e);
	/* Abort the slot's request, if any; its answer is never reported. */
	void (*cancel)(void *impl, int slot);
	/* Monotonic seconds; NULL: CLOCK_MONOTONIC (tests bring their own clock). */
	double (*now)(void *impl);
	/*
	 * NULL, or told before each next() the page the walk hands on next (it
	 * waits for it): the answers of the pages below are no longer looked at.
	 * ULONG_MAX when the walk ends.
	 */
	void (*needed)(void *impl, unsigned long page_no);
};

/*
 * A walk run for a look or a stretch, into the walk's figures: its requests,
 * retries, re-asked pages and most in flight (its pages count where taken).
 */
void walk_stats_add_requests(struct walk_stats *to, const struct walk_stats *from);

/* SPEC §1: no body, or an empty array (JSON white space around it), is an empty page. */
int walk_empty_page(const char *body, size_t len);

/*
 * A page handed on: on_page's verdict, its error (SPEC §3: bad data or a
 * refusal) prefixed with the page's number, as every walk hands pages on.
 */
int walk_hand_on(walk_page_fn on_page, void *ctx, unsigned long page_no, const char *body,
		 size_t len, struct err *e);

int walk_run(const struct walk_opts *o, const struct walk_transport *t, walk_page_fn on_page,
	     void *ctx, struct walk_stats *stats, struct err *e);

#endif
