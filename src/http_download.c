/*
 * Media downloads on the http loop (SPEC §5.4): plain GETs written to a
 * temporary file beside the final name and renamed into place only when
 * complete. While they run, http_pump also drives the page requests in
 * flight, which is what keeps a slow media host from timing out a page.
 */
#include "http_impl.h"
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long one wait of the download loop may last: the stop flag is read between waits. */
#define DL_WAIT_MS 200

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

/* Give free slots the next jobs not done; *next moves past what was handed out. */
static int dl_fill(struct http *h, struct http_download *jobs, size_t n, size_t *next, size_t *done,
		   struct err *e)
{
	for (int i = 0; i < h->o.concurrency && *next < n; i++) {
		if (h->dls[i].job)
			continue;
		while (*next < n && jobs[*next].done)
			++*next;
		if (*next == n)
			break;
		if (dl_start(h, &h->dls[i], &jobs[*next], e))
			return -1;
		if (jobs[*next].done)
			++*done; /* could not even start: counted as failed */
		++*next;
	}
	return 0;
}

int http_download(struct http *h, struct http_download *jobs, size_t n, struct err *e)
{
	size_t next = 0, done = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		if (jobs[i].done)
			done++;
	while (done < n) {
		if (h->o.stop && *h->o.stop) {
			err_set(e, ERR_INTERRUPTED, "interrupted");
			goto out;
		}
		if (dl_fill(h, jobs, n, &next, &done, e))
			goto out;
		if (done < n && http_pump(h, DL_WAIT_MS, e))
			goto out;
		for (int i = 0; i < h->o.concurrency; i++) {
			struct dl_slot *s = &h->dls[i];

			if (s->job && s->x.finished) {
				dl_finish(h, s);
				done++;
			}
		}
	}
	rc = 0;
out:
	for (int i = 0; i < h->o.concurrency; i++)
		dl_drop(h, &h->dls[i]); /* after a failure: no half file stays behind */
	return rc;
}
