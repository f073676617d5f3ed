#include "walk.h"
#include "jsontext.h"
#include "monotonic.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BACKOFF_CAP 60.0
/* The longest the walk sleeps between looks at the stop flag. */
#define WAIT_MAX_MS 1000

enum slot_state { SLOT_IDLE, SLOT_RUNNING, SLOT_WAITING, SLOT_DONE };

struct slot {
	enum slot_state state;
	unsigned long page_no;
	int attempts;
	int reasked;       /* an empty answer was asked for again (confirm_empty) */
	double not_before; /* SLOT_WAITING: when to ask again */
	long status;       /* SLOT_WAITING: why (the HTTP status, 0: no answer) */
	char why[200];     /* SLOT_WAITING, no answer: the transport's words */
	const char *body;  /* SLOT_DONE: the transport's copy */
	size_t len;
};

struct walk {
	const struct walk_opts *o;
	const struct walk_transport *t;
	struct walk_stats *stats;
	struct slot *slots;
	int nslots;
	int in_flight;
	unsigned rng;
	unsigned long first, next_request, next_emit, window;
	int end;
	int told_wait;             /* on_wait was last called with a wait */
	unsigned long failed_page; /* the lowest page given up on, 0: none */
	struct err failed;         /* why */
};

static double now_s(const struct walk *w)
{
	return w->t->now ? w->t->now(w->t->impl) : monotonic_s();
}

static int start(struct walk *w, int i, struct err *e)
{
	struct slot *s = &w->slots[i];

	if (w->t->start(w->t->impl, i, s->page_no, e))
		return -1;
	s->state = SLOT_RUNNING;
	s->attempts++;
	w->stats->requests++;
	if (++w->in_flight > w->stats->max_in_flight)
		w->stats->max_in_flight = w->in_flight;
	return 0;
}

static unsigned next_rand(struct walk *w)
{
	w->rng = w->rng * 1103515245u + 12345u;
	return w->rng >> 8;
}

/* Seconds before try number attempts + 1: what the server asked, else full jitter. */
static double backoff(struct walk *w, const struct slot *s, const struct walk_answer *a)
{
	double cap, base = w->o->retry_base > 0 ? w->o->retry_base : 0.5;

	if (a->outcome == WALK_ANSWERED && (a->status == 429 || a->status == 503) &&
	    a->retry_after > 0)
		return a->retry_after;
	cap = base * pow(2.0, s->attempts - 1);
	if (cap > BACKOFF_CAP)
		cap = BACKOFF_CAP;
	return cap * (double)(next_rand(w) % 1000) / 1000.0;
}

/*
 * Page s cannot be had. The walk fails at the first page it cannot hand on,
 * not at the first that failed: an earlier page still asked for may end the
 * history (a short page) or fail too, and then that one is the page to name.
 * So the failure is kept, and walk_run ends with it once every page before
 * it is handed on; no new page is asked for meanwhile.
 */
static int give_up(struct walk *w, const struct slot *s, const struct err *why)
{
	if (!w->failed_page || s->page_no < w->failed_page) {
		w->failed_page = s->page_no;
		w->failed = *why;
	}
	return 0;
}

void walk_stats_add_requests(struct walk_stats *to, const struct walk_stats *from)
{
	to->requests += from->requests;
	to->retries += from->retries;
	to->reasked += from->reasked;
	if (from->max_in_flight > to->max_in_flight)
		to->max_in_flight = from->max_in_flight;
}

int walk_hand_on(walk_page_fn on_page, void *ctx, unsigned long page_no, const char *body,
		 size_t len, struct err *e)
{
	int verdict = on_page(ctx, page_no, body, len, e);

	if (verdict < 0 && (e->kind == ERR_DATA || e->kind == ERR_REFUSED))
		err_prefix(e, "page %lu: ", page_no);
	return verdict;
}

int walk_empty_page(const char *p, size_t n)
{
	size_t brackets = 0;

	for (size_t i = json_bom_len(p, n); i < n; i++) {
		if (json_is_space(p[i]))
			continue;
		if (!((p[i] == '[' && brackets == 0) || (p[i] == ']' && brackets == 1)))
			return 0;
		brackets++;
	}
	return brackets == 0 || brackets == 2;
}

/*
 * An empty page ends the history (SPEC §5.1), and one that ends it before
 * its time loses everything past it for good: under --state the checkpoint
 * moves past pages never exported. So with confirm_empty the page that
 * would end the walk with an empty answer is asked for again at once (not
 * a retry: it spends none of them), and only a second empty answer is
 * handed on. A history that really ends costs one request more; the empty
 * pages past it are cancelled with the rest.
 */
static int reask_empty(struct walk *w, int i, struct err *e)
{
	struct slot *s = &w->slots[i];

	if (!w->o->confirm_empty || s->reasked || !s->body || !walk_empty_page(s->body, s->len))
		return 0;
	s->reasked = 1;
	s->attempts--; /* start() counts this ask again; it is no retry */
	w->stats->reasked++;
	return start(w, i, e) ? -1 : 1;
}

/* A request finished: its page is done, waits for another try, or is given up on. */
static int answered(struct walk *w, const struct walk_answer *a, struct err *e)
{
	struct slot *s = &w->slots[a->slot];
	char status[200];
	const char *why = a->why ? a->why : "no answer";
	int retry;

	if (s->state != SLOT_RUNNING)
		return 0; /* cancelled: the transport promised not to, but be safe */
	w->in_flight--;
	if (a->outcome == WALK_ANSWERED && a->status >= 200 && a->status < 300) {
		s->state = SLOT_DONE;
		s->body = a->body ? a->body : "";
		s->len = a->len;
		return 0;
	}
	retry = a->outcome == WALK_TRANSIENT;
	if (a->outcome == WALK_ANSWERED) {
		retry = a->status == 408 || a->status == 429 || a->status >= 500;
		snprintf(status, sizeof(status), "server answered HTTP %ld%s", a->status,
			 a->status >= 300 && a->status < 400
				 ? " (a redirect: not followed, since the request carries the key; "
				   "give --url the address it points to)"
				 : "");
		why = status;
	}
	if (retry && s->attempts > w->o->retries && w->o->keep_going) {
		s->state = SLOT_DONE; /* handed on as given up */
		s->body = NULL;
		s->len = 0;
		return 0;
	}
	if (!retry || s->attempts > w->o->retries)
		s->state = SLOT_IDLE; /* the walk ends here: nothing to cancel */
	if (!retry) {
		err_set(e, ERR_UNAVAILABLE, "page %lu: %s; not retried%s", s->page_no, why,
			a->outcome == WALK_ANSWERED && a->status >= 400 && a->status < 500
				? " (a request the server will not take: check --url, the "
				  "API's address, and the key)"
				: "");
		return give_up(w, s, e);
	}
	if (s->attempts > w->o->retries) {
		if (s->attempts > 1)
			err_set(e, ERR_UNAVAILABLE,
				"page %lu: %s on each of %d tries; giving up "
				"(check the URL and the service, then run again)",
				s->page_no, why, s->attempts);
		else
			err_set(e, ERR_UNAVAILABLE,
				"page %lu: %s (--retries 0); giving up "
				"(check the URL and the service, then run again)",
				s->page_no, why);
		return give_up(w, s, e);
	}
	s->state = SLOT_WAITING;
	s->status = a->outcome == WALK_ANSWERED ? a->status : 0;
	snprintf(s->why, sizeof(s->why), "%s", why);
	s->not_before = now_s(w) + backoff(w, s, a);
	w->stats->retries++;
	return 0;
}

/* New pages while the window has room, then due retries; *wake: the next retry. */
static int start_due(struct walk *w, double *wake, struct err *e)
{
	const struct walk_opts *o = w->o;
	double now = now_s(w);

	*wake = now + WAIT_MAX_MS / 1000.0;
	while (!w->end && !w->failed_page && w->next_request < w->next_emit + w->window &&
	       (!o->max_pages || w->next_request - w->first < (unsigned long)o->max_pages)) {
		int i = (int)(w->next_request % (unsigned long)w->nslots);

		w->slots[i].page_no = w->next_request++;
		w->slots[i].attempts = 0;
		w->slots[i].reasked = 0;
		if (start(w, i, e))
			return -1;
	}
	for (int i = 0; i < w->nslots; i++) {
		struct slot *s = &w->slots[i];

		if (s->state != SLOT_WAITING || (w->failed_page && s->page_no > w->failed_page))
			continue;
		if (s->not_before <= now) {
			if (start(w, i, e))
				return -1;
		} else if (s->not_before < *wake) {
			*wake = s->not_before;
		}
	}
	return 0;
}

/* SPEC §6: the earliest page waiting for a retry, told to whoever draws the progress line. */
static void tell_wait(struct walk *w)
{
	const struct slot *first = NULL;
	struct walk_wait ww;

	if (!w->o->on_wait)
		return;
	for (int i = 0; i < w->nslots; i++)
		if (w->slots[i].state == SLOT_WAITING &&
		    (!first || w->slots[i].page_no < first->page_no))
			first = &w->slots[i];
	if (!first) {
		if (w->told_wait)
			w->o->on_wait(w->o->wait_ctx, NULL);
		w->told_wait = 0;
		return;
	}
	ww = (struct walk_wait){ .page_no = first->page_no,
				 .retry = first->attempts,
				 .retries = w->o->retries,
				 .status = first->status,
				 .why = first->why,
				 .left = first->not_before - now_s(w) };
	if (ww.left < 0)
		ww.left = 0;
	w->o->on_wait(w->o->wait_ctx, &ww);
	w->told_wait = 1;
}

static void cancel_all(struct walk *w)
{
	for (int i = 0; i < w->nslots; i++) {
		if (w->slots[i].state == SLOT_RUNNING) {
			w->t->cancel(w->t->impl, i);
			w->in_flight--;
		}
		w->slots[i].state = SLOT_IDLE;
	}
}

/* Hand on the finished pages in order. Returns how many, or -1. */
static int emit(struct walk *w, walk_page_fn on_page, void *ctx, struct err *e)
{
	const struct walk_opts *o = w->o;
	int emitted = 0;

	for (;;) {
		int i = (int)(w->next_emit % (unsigned long)w->nslots), verdict;
		struct slot *s = &w->slots[i];

		if (s->state != SLOT_DONE || s->page_no != w->next_emit)
			return emitted;
		if ((verdict = reask_empty(w, i, e)) != 0)
			return verdict < 0 ? -1 : emitted;
		w->stats->pages++;
		w->stats->bytes += s->len;
		if ((verdict = walk_hand_on(on_page, ctx, s->page_no, s->body, s->len, e)) < 0)
			return -1;
		s->state = SLOT_IDLE;
		w->next_emit++;
		emitted++;
		w->window = o->slow_start ? 2 * w->window : (unsigned long)w->nslots;
		if (w->window > (unsigned long)w->nslots)
			w->window = (unsigned long)w->nslots;
		if (verdict == WALK_END ||
		    (o->max_pages && w->next_emit - w->first >= (unsigned long)o->max_pages)) {
			w->stats->capped = verdict != WALK_END;
			w->end = 1;
			cancel_all(w); /* requests past the end: their answers are ignored */
			return emitted;
		}
	}
}

int walk_run(const struct walk_opts *o, const struct walk_transport *t, walk_page_fn on_page,
	     void *ctx, struct walk_stats *stats, struct err *e)
{
	unsigned long first = o->first_page ? o->first_page : 1;
	struct walk w = { .o = o,
			  .t = t,
			  .stats = stats,
			  .first = first,
			  .next_request = first,
			  .next_emit = first };
	int rc = -1;

	w.nslots = o->concurrency > 0 ? o->concurrency : 1;
	w.window = o->slow_start || o->first_alone ? 1 : (unsigned long)w.nslots;
	w.rng = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&w;
	w.slots = calloc((size_t)w.nslots, sizeof(*w.slots));
	if (!w.slots)
		return err_nomem(e);
	for (;;) {
		struct walk_answer a;
		double wake, now;
		int got, wait_ms;

		if (err_stopped(o->stop, e))
			goto out;
		if (start_due(&w, &wake, e))
			goto out;
		got = emit(&w, on_page, ctx, e);
		if (got < 0)
			goto out;
		if (w.end)
			break;
		if (w.failed_page && w.next_emit == w.failed_page) {
			*e = w.failed;
			goto out;
		}
		if (got)
			continue; /* a slot came free: ask for the next page before waiting */
		tell_wait(&w);
		now = now_s(&w);
		memset(&a, 0, sizeof(a));
		wait_ms = wake > now ? (int)((wake - now) * 1000) + 1 : 0;
		if (t->needed)
			t->needed(t->impl, w.next_emit);
		got = t->next(t->impl, wait_ms < WAIT_MAX_MS ? wait_ms : WAIT_MAX_MS, &a, e);
		if (got < 0 || (got && answered(&w, &a, e)))
			goto out;
	}
	rc = 0;
out:
	if (w.told_wait)
		o->on_wait(o->wait_ctx, NULL);
	cancel_all(&w);
	if (t->needed) /* nothing more: the answers it holds can go */
		t->needed(t->impl, ULONG_MAX);
	free(w.slots);
	return rc;
}
