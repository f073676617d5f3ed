/*
 * Media downloads on the http loop (SPEC §5.4): plain GETs written to a
 * temporary file beside the final name and renamed into place only when
 * complete. While they run, http_pump also drives the page requests in
 * flight, which is what keeps a slow media host from timing out a page.
 *
 * The downloads of a page are a walk (walk.h) of their own: job j is its
 * page j + 1, so a download is retried exactly as a page request is
 * (SPEC §5.5: 5xx, 429, 408, timeouts and cut-off bodies; backoff with
 * jitter, Retry-After). Every other outcome is, to the walk, an answer: the
 * job records it and the caller decides (a dead link is a warning).
 */
#include "http_impl.h"
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The walk's transport over the download slots. */
struct dl_walk {
	struct http *h;
	struct http_download *jobs;
	size_t *job_of;       /* per slot: the job it holds */
	unsigned char *ready; /* per slot: a job that ended without a transfer */
	int tries;            /* a download's tries: the first and the retries */
};

static size_t on_file(char *p, size_t size, size_t n, void *arg)
{
	struct dl_slot *s = arg;
	size_t len = size * n;

	if (s->bytes + len > s->max) {
		s->x.too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (fsutil_write_all(s->fd, p, len)) {
		s->write_failed = errno ? errno : EIO;
		return CURL_WRITEFUNC_ERROR;
	}
	s->bytes += len;
	return len;
}

int dl_slot_init(struct http *h, struct dl_slot *s, struct err *e)
{
	CURL *c;
	int ok = 1;

	s->fd = -1;
	if (xfer_init(&s->x, &h->o, e))
		return -1;
	c = s->x.easy;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_file) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_WRITEDATA, s) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(c, CURLOPT_MAXREDIRS, 5L) == CURLE_OK;
	if (!ok)
		return err_set(e, ERR_SOFTWARE, "libcurl refused an option");
	return 0;
}

/* Forget the slot's job: an unfinished file is removed. */
static void dl_drop(struct http *h, struct dl_slot *s)
{
	xfer_cancel(h, &s->x);
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->tmp)
		unlink(s->tmp);
	free(s->tmp);
	s->tmp = NULL;
	s->job = NULL;
}

void dl_slot_free(struct http *h, struct dl_slot *s)
{
	dl_drop(h, s);
	curl_easy_cleanup(s->x.easy);
	s->x.easy = NULL;
}

static int dl_start(struct http *h, struct dl_slot *s, struct http_download *job, struct err *e)
{
	size_t len = strlen(job->url);

	/* libcurl takes no URL over 8 MB, and refusing it would end the run: this file fails. */
	if (len > HTTP_MEDIA_URL_MAX) {
		snprintf(job->why, sizeof(job->why),
			 "the link is %zu bytes long: no media link is (at most %u bytes taken)",
			 len, HTTP_MEDIA_URL_MAX);
		job->done = 1;
		return 0;
	}
	s->fd = fsutil_temp_beside(job->path, &s->tmp);
	if (s->fd < 0) {
		job->local = errno ? errno : EIO;
		snprintf(job->why, sizeof(job->why),
			 "cannot create a file in the media directory: %s", strerror(errno));
		job->done = 1;
		return 0;
	}
	s->job = job;
	s->bytes = 0;
	s->max = job->max_bytes;
	s->write_failed = 0;
	return xfer_start(h, &s->x, job->url, e);
}

/* The file is complete: on disk, then under its name. */
static void dl_commit(struct dl_slot *s, char *why, size_t size)
{
	int fd = s->fd, bad = fsync(fd), saved = errno;

	s->fd = -1; /* closed below whatever happens: never closed twice */
	if (close(fd) && !bad) {
		bad = 1;
		saved = errno;
	}
	if (bad)
		snprintf(why, size, "cannot write the file: %s", strerror(s->job->local = saved));
	else if (rename(s->tmp, s->job->path))
		snprintf(why, size, "cannot rename into place: %s",
			 strerror(s->job->local = errno));
}

/* Why a finished transfer left no file, or "" when it did. */
static void dl_verdict(struct dl_slot *s, char *why, size_t size)
{
	long status = 0;

	curl_easy_getinfo(s->x.easy, CURLINFO_RESPONSE_CODE, &status);
	why[0] = '\0';
	if (s->x.too_big)
		snprintf(why, size, "larger than %llu bytes; skipped", s->max);
	else if (s->write_failed)
		snprintf(why, size, "cannot write the file: %s",
			 strerror(s->job->local = s->write_failed));
	else if (s->x.rc != CURLE_OK)
		snprintf(why, size, "%s", xfer_why(&s->x));
	else if (status < 200 || status > 299)
		snprintf(why, size, "HTTP %ld%s", status,
			 status == 404 || status == 410 || status == 403
				 ? " (media links expire after 7 days)"
				 : "");
	else
		dl_commit(s, why, size);
}

static void dl_finish(struct http *h, struct dl_slot *s)
{
	struct http_download *job = s->job;

	dl_verdict(s, job->why, sizeof(job->why));
	job->ok = !job->why[0];
	job->bytes = s->bytes;
	job->done = 1;
	if (job->ok) {
		free(s->tmp); /* renamed: nothing to remove */
		s->tmp = NULL;
	}
	dl_drop(h, s);
}

/*
 * The host part of a link ("https://media.example:8443"), for
 * HTTP_HOST_GIVE_UP; without a user and password (user:pw@), which a
 * warning naming the host must not show.
 */
static struct dl_host *host_of(struct http *h, const char *url, int add)
{
	const char *scheme_end = strstr(url, "://");
	const char *auth = scheme_end ? scheme_end + 3 : url;
	size_t alen = strcspn(auth, "/?#");
	const char *user_end = memchr(auth, '@', alen);
	const char *host = user_end ? user_end + 1 : auth;
	char name[sizeof(h->hosts[0].name)];
	struct dl_host *d;

	snprintf(name, sizeof(name), "%.*s%.*s", (int)(auth - url), url, (int)(auth + alen - host),
		 host);
	for (unsigned i = 0; i < HTTP_HOSTS && i < h->nhosts; i++)
		if (!strcmp(h->hosts[i].name, name))
			return &h->hosts[i];
	if (!add)
		return NULL;
	d = &h->hosts[h->nhosts++ % HTTP_HOSTS];
	memcpy(d->name, name, sizeof(name));
	d->failed = 0;
	return d;
}

static int dlw_start(void *impl, int slot, unsigned long page_no, struct err *e)
{
	struct dl_walk *w = impl;
	struct http_download *job = &w->jobs[page_no - 1];
	struct dl_host *host = host_of(w->h, job->url, 0);

	w->job_of[slot] = page_no - 1;
	if (!job->done && host && host->failed >= HTTP_HOST_GIVE_UP) {
		size_t n = strlen(job->why); /* a retry: why the last try failed */

		snprintf(job->why + n, sizeof(job->why) - n,
			 "%snot tried%s: %s failed every try for the %d files before it",
			 n ? "; " : "", n ? " again" : "", host->name, host->failed);
		job->done = job->not_tried = 1;
		job->ok = 0;
	}
	if (!job->done && dl_start(w->h, &w->h->dls[slot], job, e))
		return -1;
	w->ready[slot] = (unsigned char)job->done; /* could not start: told at the next look */
	return 0;
}

/*
 * A finished download, in the walk's terms: a failure worth another try is
 * reported as such (the job is not done), anything else as a page answered.
 */
static void dlw_classify(struct dl_walk *w, struct dl_slot *s, struct walk_answer *a)
{
	struct http_download *job = s->job;
	long status = 0, hops = 0;
	CURLcode rc = s->x.rc;
	int transient;

	if (curl_easy_getinfo(s->x.easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		status = 0;
	if (curl_easy_getinfo(s->x.easy, CURLINFO_REDIRECT_COUNT, &hops) == CURLE_OK)
		job->redirected = hops > 0;
	a->retry_after = xfer_retry_after(&s->x);
	transient = rc != CURLE_OK ? xfer_transient(rc) && !s->x.too_big && !s->write_failed
				   : status == 408 || status == 429 || status >= 500;
	dl_finish(w->h, s);
	a->outcome = WALK_ANSWERED;
	a->status = 200;
	if (transient) {
		job->done = 0; /* asked again, or the run fails */
		a->outcome = rc == CURLE_OK ? WALK_ANSWERED : WALK_TRANSIENT;
		a->status = rc == CURLE_OK ? status : 0;
		a->why = job->why;
	}
}

/* Tell one slot whose job ended, if any: 1, else 0. */
static int dlw_take(struct dl_walk *w, struct walk_answer *a)
{
	for (int i = 0; i < w->h->o.concurrency; i++) {
		struct dl_slot *s = &w->h->dls[i];

		if (!w->ready[i] && !(s->job && s->x.finished))
			continue;
		a->slot = i;
		if (w->ready[i]) {
			w->ready[i] = 0;
			a->outcome = WALK_ANSWERED;
			a->status = 200;
		} else {
			dlw_classify(w, s, a);
		}
		return 1;
	}
	return 0;
}

static int dlw_next(void *impl, int timeout_ms, struct walk_answer *a, struct err *e)
{
	struct dl_walk *w = impl;

	if (dlw_take(w, a))
		return 1;
	return http_pump(w->h, timeout_ms, e) ? -1 : dlw_take(w, a);
}

static void dlw_cancel(void *impl, int slot)
{
	struct dl_walk *w = impl;

	dl_drop(w->h, &w->h->dls[slot]);
	w->ready[slot] = 0;
}

/*
 * A job done, in order. One that failed every try (body NULL) is not saved
 * and says so; the others go on: the walk ends after its last job (max_pages).
 */
static int dlw_page(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	struct dl_walk *w = ctx;
	struct http_download *job = &w->jobs[page_no - 1];
	size_t n = strlen(job->why);

	struct dl_host *host = job->not_tried ? NULL : host_of(w->h, job->url, 1);

	(void)len;
	(void)e;
	if (!body) {
		snprintf(job->why + n, sizeof(job->why) - n, " on each of %d tries", w->tries);
		job->done = 1;
		job->ok = 0;
	}
	/*
	 * Any answer (a dead link too) says the host is there; a failure on our
	 * side says nothing; a failure after a redirect is the other host's.
	 */
	if (host && !job->local)
		host->failed = body || job->redirected ? 0 : host->failed + 1;
	return WALK_MORE;
}

int http_download(struct http *h, struct http_download *jobs, size_t n,
		  const struct walk_opts *retry, struct walk_stats *stats, struct err *e)
{
	struct dl_walk w = { .h = h, .jobs = jobs };
	struct walk_opts wo = { .concurrency = h->dl_max,
				.retries = retry->retries,
				.retry_base = retry->retry_base,
				.max_pages = (long)n,
				.stop = h->o.stop,
				.keep_going = 1 };
	struct walk_transport t = {
		.impl = &w, .start = dlw_start, .next = dlw_next, .cancel = dlw_cancel
	};
	struct walk_stats st = { 0 };
	int rc = -1;

	if (!n)
		return 0;
	w.job_of = calloc((size_t)h->o.concurrency, sizeof(*w.job_of));
	w.ready = calloc((size_t)h->o.concurrency, sizeof(*w.ready));
	if (!w.job_of || !w.ready) {
		err_nomem(e);
		goto out;
	}
	w.tries = retry->retries + 1;
	rc = walk_run(&wo, &t, dlw_page, &w, &st, e);
	if (stats)
		stats->retries += st.retries;
out:
	for (int i = 0; i < h->o.concurrency; i++)
		dl_drop(h, &h->dls[i]); /* after a failure: no half file stays behind */
	free(w.job_of);
	free(w.ready);
	return rc;
}
