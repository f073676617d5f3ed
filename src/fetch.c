#include "fetch.h"
#include "buf.h"
#include "text.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A page body larger than this is refused (50 messages are ~20 kB). */
#define BODY_MAX (64u * 1024u * 1024u)
#define RETRY_AFTER_CAP 300.0
#define BACKOFF_CAP 60.0

enum slot_state { SLOT_IDLE, SLOT_RUNNING, SLOT_WAITING, SLOT_DONE };

struct slot {
	CURL *easy;
	enum slot_state state;
	unsigned long page_no;
	int attempts;
	double not_before;          /* SLOT_WAITING: monotonic time to retry */
	struct buf body;
	struct buf post;            /* the request body: holds the key */
	char errbuf[CURL_ERROR_SIZE];
	int too_big;
};

struct fetcher {
	const struct fetch_opts *opts;
	CURLM *multi;
	struct curl_slist *headers;
	struct slot *slots;
	int nslots;
	int running;                /* handles in the multi */
	struct fetch_stats *stats;
	unsigned rng;
};

/*
 * libcurl is opened the first time a command needs it, not linked: only
 * fetch talks to the network, and loading libcurl with the thirty-odd
 * libraries it depends on (TLS, HTTP/2, SSH, LDAP, Kerberos...) cost every
 * run 13 ms and 6 MiB of memory before convert read a byte (a hello-world
 * linked with and without -lcurl). waexport is still built against
 * libcurl's header (pkg-config --cflags libcurl); the functions it calls
 * come from libcurl.so.4, the library's stable name, through this table.
 * The variadic setopt/getinfo calls lose curl's compile-time type check
 * this way: pass long, pointers and curl_off_t exactly as the option says.
 */
static struct {
	void *lib;
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *easy);
	const char *(*easy_strerror)(CURLcode code);
	void (*free)(void *p);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_add_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *easy);
	CURLMcode (*multi_perform)(CURLM *multi, int *running);
	CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd extra[], unsigned n,
				int timeout_ms, int *numfds);
	CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
	CURLMcode (*multi_setopt)(CURLM *multi, CURLMoption option, ...);
	CURLMcode (*multi_cleanup)(CURLM *multi);
	const char *(*multi_strerror)(CURLMcode code);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
	CURLU *(*url)(void);
	void (*url_cleanup)(CURLU *u);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart what, char **part, unsigned flags);
	CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned flags);
	curl_version_info_data *(*version_info)(CURLversion age);
	int ready;                  /* global_init done */
} C;

static int load(void *lib, const char *name, void *fn, size_t size)
{
	void *sym = dlsym(lib, name);

	if (!sym || size != sizeof(sym))
		return -1;
	memcpy(fn, &sym, size); /* POSIX: a function's address may pass through void * */
	return 0;
}

#define LOAD(f) load(lib, "curl_" #f, &C.f, sizeof(C.f))

static int open_libcurl(struct err *e)
{
	void *lib;

	if (C.lib)
		return 0;
	lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return err_set(e, ERR_SOFTWARE, "fetch needs libcurl, which cannot be loaded (%s); "
			       "install it (Debian: apt-get install libcurl4)", dlerror());
	if (LOAD(global_init) || LOAD(global_cleanup) || LOAD(easy_init) ||
	    LOAD(easy_setopt) || LOAD(easy_getinfo) || LOAD(easy_cleanup) ||
	    LOAD(easy_strerror) || LOAD(free) || LOAD(multi_init) || LOAD(multi_add_handle) ||
	    LOAD(multi_remove_handle) || LOAD(multi_perform) || LOAD(multi_poll) ||
	    LOAD(multi_info_read) || LOAD(multi_setopt) || LOAD(multi_cleanup) ||
	    LOAD(multi_strerror) || LOAD(slist_append) || LOAD(slist_free_all) || LOAD(url) ||
	    LOAD(url_cleanup) || LOAD(url_get) || LOAD(url_set) || LOAD(version_info)) {
		dlclose(lib);
		return err_set(e, ERR_SOFTWARE, "libcurl.so.4 lacks a function waexport needs "
			       "(libcurl 7.66 or newer is required)");
	}
	C.lib = lib;
	return 0;
}

const char *fetch_curl_version(void)
{
	struct err e;

	return open_libcurl(&e) ? "none" : C.version_info(CURLVERSION_NOW)->version;
}

int fetch_global_init(struct err *e)
{
	if (open_libcurl(e))
		return -1;
	if (C.global_init(CURL_GLOBAL_ALL))
		return err_set(e, ERR_SOFTWARE, "cannot initialise libcurl");
	C.ready = 1;
	return 0;
}

void fetch_global_cleanup(void)
{
	if (C.ready)
		C.global_cleanup();
	C.ready = 0;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int is_loopback(const char *host)
{
	if (!strcmp(host, "localhost") || !strcmp(host, "[::1]") || !strcmp(host, "::1"))
		return 1;
	return !strncmp(host, "127.", 4) && strspn(host, "0123456789.") == strlen(host);
}

int fetch_check_url(const char *url, struct err *e)
{
	CURLU *u = C.url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;

	if (!u)
		return err_nomem(e);
	if (C.url_set(u, CURLUPART_URL, url, 0) ||
	    C.url_get(u, CURLUPART_SCHEME, &scheme, 0) ||
	    C.url_get(u, CURLUPART_HOST, &host, 0)) {
		rc = err_set(e, ERR_USAGE, "--url '%s': not a valid URL", url);
	} else if (!strcmp(scheme, "http") && !is_loopback(host)) {
		rc = err_set(e, ERR_USAGE, "--url '%s': plain http is allowed only to this machine "
			     "(127.0.0.1, localhost, ::1): the API key would travel in clear; use https",
			     url);
	} else if (strcmp(scheme, "https") && strcmp(scheme, "http")) {
		rc = err_set(e, ERR_USAGE, "--url '%s': only https (or http to this machine) is "
			     "supported", url);
	}
	C.free(scheme);
	C.free(host);
	C.url_cleanup(u);
	return rc;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct slot *s = arg;
	size_t len = size * n;

	if (s->body.len + len > BODY_MAX) {
		s->too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (buf_add(&s->body, p, len))
		return CURL_WRITEFUNC_ERROR;
	return len;
}

/* {"apiKey":"…","from":"…","to":"…","page":N}, strings JSON-escaped. */
static int build_post(struct fetcher *f, struct slot *s)
{
	const struct fetch_opts *o = f->opts;
	struct buf *b = &s->post;
	size_t klen = strlen(o->api_key);

	b->len = 0;
	if (buf_adds(b, "{\"apiKey\":\"") || buf_reserve(b, TEXT_RECODE_MAX(klen)))
		return -1;
	b->len += text_json_escape(buf_tail(b), o->api_key, klen);
	if (buf_adds(b, "\",\"from\":\"") || buf_adds(b, o->from) || buf_addc(b, '"'))
		return -1;
	if (o->to && (buf_adds(b, ",\"to\":\"") || buf_adds(b, o->to) || buf_addc(b, '"')))
		return -1;
	return buf_adds(b, ",\"page\":") || buf_add_i64(b, (long long)s->page_no) || buf_addc(b, '}');
}

/* An easy handle with what every transfer shares: timeouts, TLS, no signals. */
static CURL *new_easy(const struct fetch_opts *o, char *errbuf, void *private, struct err *e)
{
	CURL *c = C.easy_init();
	long tmo = o->timeout;
	int ok = 1;

	if (!c) {
		err_nomem(e);
		return NULL;
	}
	ok &= C.easy_setopt(c, CURLOPT_PRIVATE, private) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_PIPEWAIT, 1L) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_TIMEOUT, tmo) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, tmo < 10 ? tmo : 10L) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_USERAGENT, "waexport/" "0.1") == CURLE_OK;
	if (o->cacert)
		ok &= C.easy_setopt(c, CURLOPT_CAINFO, o->cacert) == CURLE_OK;
	if (!ok) {
		C.easy_cleanup(c);
		err_set(e, ERR_SOFTWARE, "libcurl refused an option (is it built with https?)");
		return NULL;
	}
	return c;
}

static int setup_easy(struct fetcher *f, struct slot *s, struct err *e)
{
	CURL *c = new_easy(f->opts, s->errbuf, s, e);
	int ok = 1;

	if (!c)
		return -1;
	s->easy = c;
	ok &= C.easy_setopt(c, CURLOPT_URL, f->opts->url) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_WRITEDATA, s) == CURLE_OK;
	ok &= C.easy_setopt(c, CURLOPT_HTTPHEADER, f->headers) == CURLE_OK;
	if (!ok)
		return err_set(e, ERR_SOFTWARE, "libcurl refused an option");
	return 0;
}

static int start(struct fetcher *f, struct slot *s, struct err *e)
{
	CURLMcode mc;

	s->body.len = 0;
	s->errbuf[0] = '\0';
	s->too_big = 0;
	if (build_post(f, s))
		return err_nomem(e);
	C.easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->post.data);
	C.easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)s->post.len);
	mc = C.multi_add_handle(f->multi, s->easy);
	if (mc != CURLM_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl: %s", C.multi_strerror(mc));
	s->state = SLOT_RUNNING;
	s->attempts++;
	f->running++;
	f->stats->requests++;
	if (f->running > f->stats->max_in_flight)
		f->stats->max_in_flight = f->running;
	return 0;
}

static void stop_slot(struct fetcher *f, struct slot *s)
{
	if (s->state == SLOT_RUNNING) {
		C.multi_remove_handle(f->multi, s->easy);
		f->running--;
	}
	s->state = SLOT_IDLE;
	s->attempts = 0;
	s->body.len = 0;
}

static int transient(CURLcode rc)
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

static unsigned next_rand(struct fetcher *f)
{
	f->rng = f->rng * 1103515245u + 12345u;
	return f->rng >> 8;
}

/* Seconds to wait before try number `attempts + 1`: Retry-After, else full jitter. */
static double backoff(struct fetcher *f, struct slot *s, long status)
{
	curl_off_t ra = -1;
	double cap, base = f->opts->retry_base > 0 ? f->opts->retry_base : 0.5;

	/* libcurl 7.88 gives a negative value for a past HTTP date: that, or no
	 * header at all, falls through to the jittered backoff. */
	if ((status == 429 || status == 503) &&
	    C.easy_getinfo(s->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
		return (double)ra > RETRY_AFTER_CAP ? RETRY_AFTER_CAP : (double)ra;
	cap = base * pow(2.0, s->attempts - 1);
	if (cap > BACKOFF_CAP)
		cap = BACKOFF_CAP;
	return cap * (double)(next_rand(f) % 1000) / 1000.0;
}

static const char *describe(struct slot *s, CURLcode rc, char *tmp, size_t size)
{
	if (s->too_big)
		snprintf(tmp, size, "answer larger than %u bytes", BODY_MAX);
	else
		snprintf(tmp, size, "%s", s->errbuf[0] ? s->errbuf : C.easy_strerror(rc));
	return tmp;
}

/* A transfer ended: done, scheduled for retry, or the run fails. */
static int finished(struct fetcher *f, struct slot *s, CURLcode rc, struct err *e)
{
	long status = 0;
	char why[CURL_ERROR_SIZE + 64];
	int retry;

	C.multi_remove_handle(f->multi, s->easy);
	f->running--;
	C.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	if (rc == CURLE_OK && status >= 200 && status < 300) {
		s->state = SLOT_DONE;
		f->stats->bytes += s->body.len;
		return 0;
	}
	if (rc == CURLE_OK) {
		retry = status == 408 || status == 429 || status >= 500;
		snprintf(why, sizeof(why), "server answered HTTP %ld", status);
	} else {
		retry = transient(rc) && !s->too_big;
		describe(s, rc, why, sizeof(why));
	}
	if (!retry) {
		if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
			return err_set(e, ERR_UNAVAILABLE, "page %lu: %s (is the server's certificate "
				       "signed by a CA you trust? see --cacert)", s->page_no, why);
		return err_set(e, ERR_UNAVAILABLE, "page %lu: %s; not retried", s->page_no, why);
	}
	if (s->attempts > f->opts->retries)
		return err_set(e, ERR_UNAVAILABLE, "page %lu: %s on each of %d tries; giving up "
			       "(check the URL and the service, then run again)", s->page_no, why,
			       s->attempts);
	s->state = SLOT_WAITING;
	s->not_before = now_s() + backoff(f, s, status);
	f->stats->retries++;
	return 0;
}

static int drain_messages(struct fetcher *f, struct err *e)
{
	CURLMsg *m;
	int left;

	while ((m = C.multi_info_read(f->multi, &left))) {
		struct slot *s;

		if (m->msg != CURLMSG_DONE)
			continue;
		C.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
		if (finished(f, s, m->data.result, e))
			return -1;
	}
	return 0;
}

static int init_fetcher(struct fetcher *f, const struct fetch_opts *o, struct fetch_stats *stats,
			struct err *e)
{
	memset(f, 0, sizeof(*f));
	f->opts = o;
	f->stats = stats;
	f->nslots = o->concurrency;
	f->rng = (unsigned)time(NULL) ^ (unsigned)(size_t)f;
	f->multi = C.multi_init();
	f->headers = C.slist_append(NULL, "Content-Type: application/json");
	f->slots = calloc((size_t)f->nslots, sizeof(*f->slots));
	if (!f->multi || !f->headers || !f->slots)
		return err_nomem(e);
	C.multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)f->nslots);
	C.multi_setopt(f->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
	for (int i = 0; i < f->nslots; i++)
		if (setup_easy(f, &f->slots[i], e))
			return -1;
	return 0;
}

static void free_fetcher(struct fetcher *f)
{
	for (int i = 0; f->slots && i < f->nslots; i++) {
		struct slot *s = &f->slots[i];

		if (s->easy) {
			stop_slot(f, s);
			C.easy_cleanup(s->easy);
		}
		buf_free(&s->body);
		/* The POST body holds the key: wipe it before it goes back to the heap. */
		if (s->post.data)
			memset(s->post.data, 0, s->post.cap);
		buf_free(&s->post);
	}
	free(f->slots);
	if (f->multi)
		C.multi_cleanup(f->multi);
	C.slist_free_all(f->headers);
}

int fetch_run(const struct fetch_opts *o, fetch_page_fn on_page, void *ctx,
	      struct fetch_stats *stats, struct err *e)
{
	struct fetcher f;
	unsigned long next_request = 1, next_emit = 1, window;
	int end = 0, rc = -1, emitted;

	if (init_fetcher(&f, o, stats, e))
		goto out;
	window = o->slow_start ? 1 : (unsigned long)f.nslots;
	for (;;) {
		double now = now_s(), wake = now + 1.0;
		int still;
		CURLMcode mc;

		if (o->stop && *o->stop) {
			err_set(e, ERR_INTERRUPTED, "interrupted");
			goto out;
		}
		/* New pages while there is room in the window, then due retries. */
		while (!end && next_request < next_emit + window &&
		       (!o->max_pages || next_request <= (unsigned long)o->max_pages)) {
			struct slot *s = &f.slots[next_request % (unsigned long)f.nslots];

			s->page_no = next_request++;
			s->attempts = 0;
			if (start(&f, s, e))
				goto out;
		}
		for (int i = 0; i < f.nslots; i++) {
			struct slot *s = &f.slots[i];

			if (s->state != SLOT_WAITING)
				continue;
			if (s->not_before <= now) {
				if (start(&f, s, e))
					goto out;
			} else if (s->not_before < wake) {
				wake = s->not_before;
			}
		}
		mc = C.multi_perform(f.multi, &still);
		if (mc != CURLM_OK) {
			err_set(e, ERR_SOFTWARE, "libcurl: %s", C.multi_strerror(mc));
			goto out;
		}
		if (drain_messages(&f, e))
			goto out;
		/* Hand on finished pages in order. */
		emitted = 0;
		for (;;) {
			struct slot *s = &f.slots[next_emit % (unsigned long)f.nslots];
			int verdict;

			if (s->state != SLOT_DONE || s->page_no != next_emit)
				break;
			stats->pages++;
			verdict = on_page(ctx, s->page_no, s->body.data ? s->body.data : "", s->body.len, e);
			if (verdict < 0) {
				if (e->kind == ERR_DATA || e->kind == ERR_REFUSED)
					err_prefix(e, "page %lu: ", s->page_no);
				goto out;
			}
			s->state = SLOT_IDLE;
			next_emit++;
			emitted = 1;
			if (window < (unsigned long)f.nslots)
				window *= 2;
			if (window > (unsigned long)f.nslots)
				window = (unsigned long)f.nslots;
			if (verdict == FETCH_END || (o->max_pages && next_emit > (unsigned long)o->max_pages)) {
				end = 1;
				/* Requests past the end: abort them, ignore their answers. */
				for (int i = 0; i < f.nslots; i++)
					stop_slot(&f, &f.slots[i]);
				break;
			}
		}
		if (end) {
			rc = 0;
			goto out;
		}
		if (emitted)
			continue; /* a slot came free: start the next request before waiting */
		now = now_s();
		mc = C.multi_poll(f.multi, NULL, 0,
				     (int)(wake > now ? (wake - now) * 1000 + 1 : 0), NULL);
		if (mc != CURLM_OK && mc != CURLM_UNRECOVERABLE_POLL) {
			err_set(e, ERR_SOFTWARE, "libcurl: %s", C.multi_strerror(mc));
			goto out;
		}
	}
out:
	free_fetcher(&f);
	return rc;
}

/* ---- media downloads (SPEC §5.4) ---- */

#include "fsutil.h"

#include <errno.h>
#include <unistd.h>

struct dl_slot {
	CURL *easy;
	struct fetch_download *job;
	int fd;
	char *tmp;
	unsigned long long bytes, max;
	int too_big, write_failed;
	char errbuf[CURL_ERROR_SIZE];
};

struct fetch_downloader {
	struct fetch_opts opts;
	CURLM *multi;
	struct dl_slot *slots;
	int nslots;
};

static size_t on_file(char *p, size_t size, size_t n, void *arg)
{
	struct dl_slot *s = arg;
	size_t len = size * n;

	if (s->bytes + len > s->max) {
		s->too_big = 1;
		return CURL_WRITEFUNC_ERROR;
	}
	if (fsutil_write_all(s->fd, p, len)) {
		s->write_failed = errno ? errno : EIO;
		return CURL_WRITEFUNC_ERROR;
	}
	s->bytes += len;
	return len;
}

int fetch_downloader_new(struct fetch_downloader **out, const struct fetch_opts *o, struct err *e)
{
	struct fetch_downloader *d = calloc(1, sizeof(*d));

	if (!d)
		return err_nomem(e);
	d->opts = *o;
	d->nslots = o->concurrency;
	d->multi = C.multi_init();
	d->slots = calloc((size_t)d->nslots, sizeof(*d->slots));
	if (!d->multi || !d->slots) {
		fetch_downloader_free(d);
		return err_nomem(e);
	}
	C.multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)d->nslots);
	for (int i = 0; i < d->nslots; i++) {
		struct dl_slot *s = &d->slots[i];
		int ok = 1;

		s->fd = -1;
		s->easy = new_easy(o, s->errbuf, s, e);
		if (!s->easy) {
			fetch_downloader_free(d);
			return -1;
		}
		ok &= C.easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, on_file) == CURLE_OK;
		ok &= C.easy_setopt(s->easy, CURLOPT_WRITEDATA, s) == CURLE_OK;
		ok &= C.easy_setopt(s->easy, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK;
		ok &= C.easy_setopt(s->easy, CURLOPT_MAXREDIRS, 5L) == CURLE_OK;
		ok &= C.easy_setopt(s->easy, CURLOPT_ACCEPT_ENCODING, NULL) == CURLE_OK;
		if (!ok) {
			fetch_downloader_free(d);
			return err_set(e, ERR_SOFTWARE, "libcurl refused an option");
		}
	}
	*out = d;
	return 0;
}

void fetch_downloader_free(struct fetch_downloader *d)
{
	if (!d)
		return;
	for (int i = 0; d->slots && i < d->nslots; i++) {
		struct dl_slot *s = &d->slots[i];

		if (s->job)
			C.multi_remove_handle(d->multi, s->easy);
		if (s->fd >= 0)
			close(s->fd);
		if (s->tmp)
			unlink(s->tmp);
		free(s->tmp);
		if (s->easy)
			C.easy_cleanup(s->easy);
	}
	free(d->slots);
	if (d->multi)
		C.multi_cleanup(d->multi);
	free(d);
}

static int dl_start(struct fetch_downloader *d, struct dl_slot *s, struct fetch_download *job,
		    struct err *e)
{
	s->fd = fsutil_temp_beside(job->path, &s->tmp);
	if (s->fd < 0) {
		snprintf(job->why, sizeof(job->why), "cannot create a file in the media directory: %s",
			 strerror(errno));
		job->done = 1;
		return 0;
	}
	s->job = job;
	s->bytes = 0;
	s->max = job->max_bytes;
	s->too_big = s->write_failed = 0;
	s->errbuf[0] = '\0';
	C.easy_setopt(s->easy, CURLOPT_URL, job->url);
	if (C.multi_add_handle(d->multi, s->easy) != CURLM_OK)
		return err_set(e, ERR_SOFTWARE, "libcurl: cannot add a transfer");
	return 0;
}

static void dl_finish(struct fetch_downloader *d, struct dl_slot *s, CURLcode rc)
{
	struct fetch_download *job = s->job;
	long status = 0;
	int ok;

	C.multi_remove_handle(d->multi, s->easy);
	C.easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
	ok = rc == CURLE_OK && status >= 200 && status < 300;
	if (ok && (fsync(s->fd) || close(s->fd))) {
		s->fd = -1;
		ok = 0;
		snprintf(job->why, sizeof(job->why), "cannot write the file: %s", strerror(errno));
	} else if (!ok) {
		if (s->too_big)
			snprintf(job->why, sizeof(job->why), "larger than %llu bytes; skipped", s->max);
		else if (s->write_failed)
			snprintf(job->why, sizeof(job->why), "cannot write the file: %s",
				 strerror(s->write_failed));
		else if (rc == CURLE_OK)
			snprintf(job->why, sizeof(job->why), "HTTP %ld%s", status,
				 status == 404 || status == 410 || status == 403 ?
				 " (media links expire after 7 days)" : "");
		else
			snprintf(job->why, sizeof(job->why), "%s",
				 s->errbuf[0] ? s->errbuf : C.easy_strerror(rc));
	}
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (ok && rename(s->tmp, job->path)) {
		ok = 0;
		snprintf(job->why, sizeof(job->why), "cannot rename into place: %s", strerror(errno));
	}
	if (!ok)
		unlink(s->tmp);
	free(s->tmp);
	s->tmp = NULL;
	job->ok = ok;
	job->bytes = s->bytes;
	job->done = 1;
	s->job = NULL;
}

int fetch_download(struct fetch_downloader *d, struct fetch_download *jobs, size_t n, struct err *e)
{
	size_t next = 0, done = 0;

	for (size_t i = 0; i < n; i++)
		if (jobs[i].done)
			done++;
	while (done < n) {
		CURLMsg *m;
		int still, left;

		if (d->opts.stop && *d->opts.stop)
			return err_set(e, ERR_INTERRUPTED, "interrupted");
		for (int i = 0; i < d->nslots && next < n; i++) {
			if (d->slots[i].job)
				continue;
			while (next < n && jobs[next].done)
				next++;
			if (next == n)
				break;
			if (dl_start(d, &d->slots[i], &jobs[next], e))
				return -1;
			if (jobs[next].done)
				done++; /* could not even start: counted as failed */
			next++;
		}
		if (C.multi_perform(d->multi, &still) != CURLM_OK)
			return err_set(e, ERR_SOFTWARE, "libcurl: multi perform failed");
		while ((m = C.multi_info_read(d->multi, &left))) {
			struct dl_slot *s;

			if (m->msg != CURLMSG_DONE)
				continue;
			C.easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
			dl_finish(d, s, m->data.result);
			done++;
		}
		if (done < n)
			C.multi_poll(d->multi, NULL, 0, 200, NULL);
	}
	return 0;
}
