/*
 * http: the parts of http.h that need no server. The URL rules of SPEC §5.6,
 * and the protocol limit on a libcurl older than 7.85: such a libcurl
 * refuses CURLOPT_PROTOCOLS_STR, which this one cannot be made to do, so the
 * refusal is handed to http_limit_protocols by hand and the handle must then
 * still refuse every scheme but http and https. The size limits of page
 * answers (SPEC §5.7) are driven with file: URLs, allowed for those tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http.h"
#include "http_impl.h"
#include "testdir.h"

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* What a transfer of file:///dev/null ends with, after `limit` prepared the handle. */
static CURLcode fetch_a_file(int limit, CURLcode forced)
{
	CURL *c = curl_easy_init();
	CURLcode rc;

	assert_non_null(c);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard), CURLE_OK);
	if (limit)
		assert_int_equal(http_limit_protocols(c, forced), CURLE_OK);
	assert_int_equal(curl_easy_setopt(c, CURLOPT_URL, "file:///dev/null"), CURLE_OK);
	rc = curl_easy_perform(c);
	curl_easy_cleanup(c);
	return rc;
}

static void test_old_libcurl_refusing_protocols_str_gets_the_bitmask(void **state)
{
	(void)state;
	assert_int_equal(fetch_a_file(0, CURLE_OK), CURLE_OK); /* file: works unless limited */
	assert_int_equal(fetch_a_file(1, CURLE_UNKNOWN_OPTION), CURLE_UNSUPPORTED_PROTOCOL);
}

static void test_other_answers_pass_through(void **state)
{
	CURL *c = curl_easy_init();

	(void)state;
	assert_non_null(c);
	assert_int_equal(http_limit_protocols(c, CURLE_OK), CURLE_OK);
	assert_int_equal(http_limit_protocols(c, CURLE_BAD_FUNCTION_ARGUMENT),
			 CURLE_BAD_FUNCTION_ARGUMENT);
	curl_easy_cleanup(c);
	/* CURLE_OK from the _STR option: the handle was limited by it, not touched again. */
	assert_int_equal(fetch_a_file(1, CURLE_OK), CURLE_OK);
}

/*
 * A transfer that ends in the loop's first step is handed over at once:
 * curl_multi_poll with nothing left to watch sleeps its whole timeout, and
 * the page walk then lost a second whenever every page in flight had
 * arrived (a fetch of 400 pages at 0 ms latency took 0.2 s or 3 s). A file:
 * URL is refused by the protocol limit, so it ends in that first step. The
 * bound is a hang's, not a speed's: 10 s asked, the test fails past 5 s.
 */
static void test_a_finished_transfer_is_not_waited_for(void **state)
{
	struct http_opts o = { .timeout = 5, .concurrency = 1 };
	struct err e = { .kind = ERR_NONE };
	struct http *h = NULL;
	struct timespec t0, t1;

	(void)state;
	assert_int_equal(http_global_init(&e), 0);
	assert_int_equal(http_new(&h, &o, &e), 0);
	assert_int_equal(xfer_start(h, &h->pages[0].x, "file:///dev/null", &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(http_pump(h, 10000, &e), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(h->pages[0].x.finished);
	assert_int_equal(h->pages[0].x.rc, CURLE_UNSUPPORTED_PROTOCOL);
	assert_true(t1.tv_sec - t0.tv_sec < 5);
	http_free(h);
	http_global_cleanup();
}

static void test_url_rules(void **state)
{
	static const struct {
		const char *url;
		int ok;
	} cases[] = {
		{ "https://api.99digital.co.il/whatsapp/v2/getHistory", 1 },
		{ "http://127.0.0.1:8080/getHistory", 1 },
		{ "http://localhost/getHistory", 1 },
		{ "http://[::1]:9/getHistory", 1 },
		{ "http://api.99digital.co.il/getHistory", 0 },
		{ "http://127.0.0.1.evil.example/getHistory", 0 },
		{ "ftp://127.0.0.1/getHistory", 0 },
		{ "not a url", 0 },
	};
	struct err e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(http_check_url(cases[i].url, &e), cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			assert_int_equal(e.kind, ERR_USAGE);
	}
}

#define MIB (1024L * 1024L)

/*
 * A loopback HTTP/1.1 server in a child process: every request on every
 * connection (one process each, keep-alive) is answered with `size` bytes.
 * libcurl pauses only such transfers, not file: ones. Returns its port.
 */
static void serve_connection(int c, long size)
{
	static char zeros[1 << 16];
	char req[8192], head[128];
	size_t have = 0;

	for (;;) {
		ssize_t r = read(c, req + have, sizeof(req) - have);
		char *end, *cl;
		long body, left;

		if (r <= 0)
			return;
		have += (size_t)r;
		if (!(end = memmem(req, have, "\r\n\r\n", 4)))
			continue;
		cl = memmem(req, have, "Content-Length: ", 16);
		body = cl ? atol(cl + 16) : 0;
		if ((long)have < end + 4 - req + body)
			continue;
		have = 0; /* one request at a time: the next starts afresh */
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n",
			 size);
		if (write(c, head, strlen(head)) < 0)
			return;
		for (left = size; left > 0;) {
			ssize_t w =
				write(c, zeros,
				      left < (long)sizeof(zeros) ? (size_t)left : sizeof(zeros));
			if (w <= 0)
				return;
			left -= w;
		}
	}
}

static pid_t serve(long size, int *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	pid_t pid;

	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 16), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	pid = fork();
	assert_true(pid >= 0);
	if (pid) {
		close(l);
		return pid;
	}
	/* A failed assertion skips the kill: the server must not outlive the test. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(l, NULL, NULL);

		if (c >= 0 && fork() == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			serve_connection(c, size);
			_exit(0);
		}
		if (c >= 0)
			close(c);
	}
}

/*
 * Answers of `size` bytes (from serve) to `total` pages, `n` in flight,
 * each slot given the next page once its answer is in (as the walk does),
 * `timeout` seconds each, the first answer handed on after `hold_ms` (a
 * slow writer): what the first refusal says, or "" when all were answered;
 * *most: the most the bodies held together at any time.
 */
struct answers {
	int n, total, timeout;
	long size, hold_ms;
};

static void answer_pages(const struct answers *p, char *said, size_t said_size, size_t *most)
{
	int n = p->n, total = p->total;
	long size = p->size;
	struct http_opts o = { .timeout = p->timeout, .concurrency = n };
	struct err e = { .kind = ERR_NONE };
	char url[320];
	struct http_page_query q = { .url = url, .api_key = "k", .from = "972501234567" };
	struct walk_transport t;
	struct walk_answer a;
	struct http *h = NULL;
	int answered = 0, got = 0, started = n, port;
	pid_t server = serve(size, &port);

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/getHistory", port);
	assert_int_equal(http_new(&h, &o, &e), 0);
	http_pages(h, &q, &t);
	for (int i = 0; i < n; i++)
		assert_int_equal(t.start(t.impl, i, (unsigned long)i + 1, &e), 0);
	said[0] = '\0';
	*most = 0;
	unsigned done = 0; /* bit k: page k + 1 answered */

	while (answered < total) {
		unsigned long needed = 1;

		while (done & (1u << (needed - 1)))
			needed++;
		t.needed(t.impl, needed); /* as the walk: the lowest page not yet handed on */
		if ((got = t.next(t.impl, 1000, &a, &e)) < 0)
			break;
		*most = h->pages_held > *most ? h->pages_held : *most;
		if (!got)
			continue;
		if (a.outcome != WALK_ANSWERED)
			fprintf(stderr, "page answer: %s\n", a.why ? a.why : "");
		assert_int_equal(a.outcome, WALK_ANSWERED);
		assert_int_equal(a.len, (size_t)size);
		done |= 1u << (h->pages[a.slot].page_no - 1);
		if (++answered == 1 && p->hold_ms)
			usleep((useconds_t)p->hold_ms * 1000);
		if (answered < total && started < total)
			assert_int_equal(t.start(t.impl, a.slot, (unsigned long)++started, &e), 0);
	}
	if (got < 0) {
		assert_int_equal(e.kind, ERR_DATA);
		snprintf(said, said_size, "%s", e.msg);
	}
	http_free(h);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
}

/*
 * SPEC §5.7: a page past 64 MiB is bad data (65), not a transport failure
 * (it was 69), and the bodies of all pages in flight share one budget of
 * 128 MiB: answers of 40 MiB (64 MiB of buffer each) wait for room, all but
 * the lowest page running, so at most the budget and one page are held.
 * Each slot on its own limit once let 32 of them take 2 GiB; then such
 * answers failed the run (65) at --concurrency 4 and more.
 */
static void test_page_answers_are_bounded_alone_and_together(void **state)
{
	char said[sizeof(((struct err *)0)->msg)];
	size_t most;

	(void)state;
	answer_pages(&(struct answers){ 1, 1, 60, 64 * MIB + 1, 0 }, said, sizeof(said), &most);
	assert_non_null(strstr(said, "page 1: answer larger than the 67108864-byte limit"));
	answer_pages(&(struct answers){ 4, 8, 60, 40 * MIB, 0 }, said, sizeof(said), &most);
	assert_string_equal(said, "");
	assert_true(most <= 128 * MIB + 64 * MIB);
	/* real pages: untouched */
	answer_pages(&(struct answers){ 4, 4, 60, 20 * 1000, 0 }, said, sizeof(said), &most);
	assert_string_equal(said, "");
}

/*
 * A page that waits for the budget is not timed meanwhile: four answers of
 * 40 MiB, --timeout 3, and a writer that takes 4 s over the first. The
 * budget holds three; the fourth waits for the first to be handed on.
 * Counted, that wait timed it out (and each retry waited the same), so
 * pages of tens of MB behind a slow disk failed the run whatever --retries.
 */
static void test_a_wait_for_the_budget_is_not_timed(void **state)
{
	char said[sizeof(((struct err *)0)->msg)];
	size_t most;

	(void)state;
	answer_pages(&(struct answers){ 4, 4, 3, 40 * MIB, 4000 }, said, sizeof(said), &most);
	assert_string_equal(said, "");
	assert_true(most <= 128 * MIB + 64 * MIB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_libcurl_refusing_protocols_str_gets_the_bitmask),
		cmocka_unit_test(test_other_answers_pass_through),
		cmocka_unit_test(test_url_rules),
		cmocka_unit_test(test_a_finished_transfer_is_not_waited_for),
		cmocka_unit_test(test_page_answers_are_bounded_alone_and_together),
		cmocka_unit_test(test_a_wait_for_the_budget_is_not_timed),
	};
	struct err e;
	int failed;

	if (http_global_init(&e))
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	http_global_cleanup();
	return failed;
}
