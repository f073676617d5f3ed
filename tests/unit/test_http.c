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
 * What answer_pages asks for: `n` pages in flight of `total`, `timeout`
 * seconds each, answers of `size` bytes; the answer to page `late_page`
 * stops halfway for `late_ms`; the first answer is handed on `hold_ms` after
 * it came, the walk away from the loop meanwhile (`away`: writing to a slow
 * disk) or still driving it.
 */
struct answers {
	int n, total, timeout;
	long size, hold_ms;
	int away;
	int late_page;
	long late_ms;
};

static int write_zeros(int c, long n)
{
	static char zeros[1 << 16];

	while (n > 0) {
		ssize_t w = write(c, zeros, n < (long)sizeof(zeros) ? (size_t)n : sizeof(zeros));

		if (w <= 0)
			return -1;
		n -= w;
	}
	return 0;
}

/*
 * A loopback HTTP/1.1 server in a child process: every request on every
 * connection (one process each, keep-alive) is answered as p says.
 * libcurl pauses only such transfers, not file: ones. Returns its port.
 */
static void serve_connection(int c, const struct answers *p)
{
	char req[8192], head[128], late[32];
	size_t have = 0;

	snprintf(late, sizeof(late), "\"page\":%d}", p->late_page);
	for (;;) {
		ssize_t r = read(c, req + have, sizeof(req) - have);
		char *end, *cl;
		long body, half;

		if (r <= 0)
			return;
		have += (size_t)r;
		if (!(end = memmem(req, have, "\r\n\r\n", 4)))
			continue;
		cl = memmem(req, have, "Content-Length: ", 16);
		body = cl ? atol(cl + 16) : 0;
		if ((long)have < end + 4 - req + body)
			continue;
		half = memmem(end, (size_t)body + 4, late, strlen(late)) ? p->size / 2 : p->size;
		have = 0; /* one request at a time: the next starts afresh */
		snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %ld\r\n\r\n",
			 p->size);
		if (write(c, head, strlen(head)) < 0 || write_zeros(c, half))
			return;
		if (half < p->size &&
		    (usleep((useconds_t)p->late_ms * 1000) || write_zeros(c, p->size - half)))
			return;
	}
}

static pid_t serve(const struct answers *p, int *port)
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
			serve_connection(c, p);
			_exit(0);
		}
		if (c >= 0)
			close(c);
	}
}

static long long ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Pages answered as p says, each slot given the next page once its answer
 * is handed on (as the walk does): what the first refusal says, or "" when
 * all were answered; *most: the most the bodies held together at any time.
 */
static void answer_pages(const struct answers *p, char *said, size_t said_size, size_t *most)
{
	int n = p->n, total = p->total;
	struct http_opts o = { .timeout = p->timeout, .concurrency = n };
	struct err e = { .kind = ERR_NONE };
	char url[320];
	struct http_page_query q = { .url = url, .api_key = "k", .from = "972501234567" };
	struct walk_transport t;
	struct walk_answer a;
	struct http *h = NULL;
	int answered = 0, got = 0, started = n, port, held = -1; /* held: the slot handed on late */
	long long held_at = 0;
	pid_t server = serve(p, &port);
	unsigned done = 0; /* bit k: page k + 1 handed on */

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/getHistory", port);
	assert_int_equal(http_new(&h, &o, &e), 0);
	http_pages(h, &q, &t);
	for (int i = 0; i < n; i++)
		assert_int_equal(t.start(t.impl, i, (unsigned long)i + 1, &e), 0);
	said[0] = '\0';
	*most = 0;
	while (answered < total || held >= 0) {
		unsigned long needed = 1;
		int slot;

		if (held >= 0 && ms_now() - held_at >= p->hold_ms) {
			slot = held;
			held = -1;
			goto hand_on;
		}
		while (done & (1u << (needed - 1)))
			needed++;
		t.needed(t.impl, needed); /* as the walk: the lowest page not yet handed on */
		if ((got = t.next(t.impl, held >= 0 ? 50 : 1000, &a, &e)) < 0)
			break;
		*most = h->pages_held > *most ? h->pages_held : *most;
		if (!got)
			continue;
		if (a.outcome != WALK_ANSWERED)
			fprintf(stderr, "page answer: %s\n", a.why ? a.why : "");
		assert_int_equal(a.outcome, WALK_ANSWERED);
		assert_int_equal(a.len, (size_t)p->size);
		slot = a.slot;
		if (++answered == 1 && p->hold_ms && p->away) {
			usleep((useconds_t)p->hold_ms * 1000);
		} else if (answered == 1 && p->hold_ms) {
			held = slot;
			held_at = ms_now();
			continue;
		}
hand_on:
		done |= 1u << (h->pages[slot].page_no - 1);
		if (started < total)
			assert_int_equal(t.start(t.impl, slot, (unsigned long)++started, &e), 0);
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
	answer_pages(&(struct answers){ .n = 1, .total = 1, .timeout = 60, .size = 64 * MIB + 1 },
		     said, sizeof(said), &most);
	assert_non_null(strstr(said, "page 1: answer larger than the 67108864-byte limit"));
	answer_pages(&(struct answers){ .n = 4, .total = 8, .timeout = 60, .size = 40 * MIB }, said,
		     sizeof(said), &most);
	assert_string_equal(said, "");
	assert_true(most <= 128 * MIB + 64 * MIB);
	/* real pages: untouched */
	answer_pages(&(struct answers){ .n = 4, .total = 4, .timeout = 60, .size = 20 * 1000 },
		     said, sizeof(said), &most);
	assert_string_equal(said, "");
}

/*
 * A page that waits for the budget is not timed meanwhile: four answers of
 * 40 MiB, --timeout 3, and the first handed on 4 s after it came, the loop
 * driven all the while. The budget holds three; the fourth waits for the
 * first to be handed on. Counted, that wait timed it out (and each retry
 * waited the same), so pages of tens of MB failed the run whatever --retries.
 */
static void test_a_wait_for_the_budget_is_not_timed(void **state)
{
	char said[sizeof(((struct err *)0)->msg)];
	size_t most;

	(void)state;
	answer_pages(&(struct answers){ .n = 4,
					.total = 4,
					.timeout = 3,
					.size = 40 * MIB,
					.hold_ms = 4000 },
		     said, sizeof(said), &most);
	assert_string_equal(said, "");
	assert_true(most <= 128 * MIB + 64 * MIB);
}

/*
 * Nor is a page timed while the walk is away from the loop (writing what
 * it was handed to a slow disk): nothing is read then. --timeout 2; page 2
 * stops halfway for 3.5 s, the walk away for 3 s of them: 0.5 s of its
 * answer counts. On the wall clock it timed out as the walk came back.
 */
static void test_time_away_from_the_loop_is_not_timed(void **state)
{
	char said[sizeof(((struct err *)0)->msg)];
	size_t most;

	(void)state;
	answer_pages(&(struct answers){ .n = 2,
					.total = 2,
					.timeout = 2,
					.size = 1 * MIB,
					.hold_ms = 3000,
					.away = 1,
					.late_page = 2,
					.late_ms = 3500 },
		     said, sizeof(said), &most);
	assert_string_equal(said, "");
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
		cmocka_unit_test(test_time_away_from_the_loop_is_not_timed),
	};
	struct err e;
	int failed;

	if (http_global_init(&e))
		return 1;
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	http_global_cleanup();
	return failed;
}
