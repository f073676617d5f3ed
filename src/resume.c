#include "resume.h"
#include "fsutil.h"
#include "buf.h"
#include "page.h"
#include "record.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct resume {
	char *path; /* STATE.journal, or STATE.journal-TO */
	struct warn *warn;
	struct journal *j; /* appended to: a new journal, or (once marked) the old one's sequel */
	struct buf header; /* page 0: "from\tto" */
	struct page *pg;
	int usable;
	/* What the first read found: */
	int bad, header_ok;
	int ended; /* a record that is no page of messages: the failed run's last */
	const char *why;
	unsigned long long pages;      /* page records of the walk(s), in file order */
	unsigned long long covered;    /* messages from the newest to the oldest, both included */
	unsigned long long top;        /* where the newest was in the latest walk's numbering */
	unsigned long long next;       /* the page number the next record must have */
	size_t last_count;             /* messages on the latest page read */
	struct buf newest, oldest;     /* the journal's first and last uniques */
	unsigned long long good_bytes; /* the journal as read, without a torn tail */
	unsigned long long records;    /* page records read (marks and the header aside) */
	unsigned long long skip[16];   /* which of them ended a walk (a FAIL): never replayed */
	size_t nskip;
	/* The walk: */
	unsigned long long k;        /* messages above the newest one now */
	int marked;                  /* this run's sequel is being appended */
	unsigned long long appended; /* pages this run appended */
	unsigned long long replayed, seen;
	int told; /* the "resumed:" line was printed: a walk started over says it once */
	journal_record_fn fn;
	void *ctx;
	int stopped;       /* fn asked to stop */
	char dropped[512]; /* why this run could not keep its journal, told when it succeeds */
};

/* The page parsed into r->pg; its message count, or -1 (bad JSON: e set). */
static long parse(struct resume *r, const char *body, size_t len, struct err *e)
{
	page_reset(r->pg);
	if (page_parse(r->pg, body, len, 1, e) < 0 || page_extract(r->pg, body))
		return -1;
	return (long)page_count(r->pg);
}

static const struct field *unique_at(struct resume *r, const char *body, size_t i)
{
	const struct record *rec = page_rec(r->pg, body, i);

	return rec && rec->f[REC_UNIQUE].kind == FIELD_STRING && record_has_unique(rec)
		       ? &rec->f[REC_UNIQUE]
		       : NULL;
}

static int keep_unique(struct buf *b, const struct field *u)
{
	b->len = 0;
	return u ? buf_add(b, u->p, u->len) : 0;
}

/* A sequel's mark: where the newest message stood in the walk whose pages follow. */
static int scan_mark(struct resume *r, const char *body, size_t len)
{
	char digits[24];
	unsigned long long top;
	char *end;

	if (!r->pages || r->last_count < API_PAGE_SIZE || len >= sizeof(digits))
		return r->bad = 1;
	r->ended = 0; /* the record that ended the walk before (a FAIL) is left out */
	memcpy(digits, body, len);
	digits[len] = '\0';
	top = strtoull(digits, &end, 10);
	if (!len || *end || top > (1ull << 40))
		return r->bad = 1;
	/* The sequel starts at the page that held the oldest message then: it was checked. */
	r->top = top;
	r->next = (top + r->covered - 1) / API_PAGE_SIZE + 1;
	return 0;
}

/* The first read: counts, and the two uniques the plan needs. */
static int scan(void *ctx, unsigned long long page_no, const char *body, size_t len, struct err *e)
{
	struct resume *r = ctx;
	struct err pe = { .kind = ERR_NONE, .offset = -1 };
	long n;

	if (page_no == 0) {
		r->header_ok = r->pages == 0 && len == r->header.len &&
			       (!len || !memcmp(body, r->header.data, len));
		return 0;
	}
	if (r->bad)
		return 0;
	if (page_no == RESUME_MARK)
		return scan_mark(r, body, len), 0;
	r->records++;
	/* Pages 1, 2, 3 … (a sequel's from its mark on), each full but the last. */
	if (r->ended || page_no != r->next || (r->pages && r->last_count < API_PAGE_SIZE)) {
		r->bad = 1;
		return 0;
	}
	/*
	 * A body that is no page of messages (status FAIL, bad JSON) is journaled
	 * before it is judged, and it is what ended that run (77, 65): the pages
	 * before it are still a walk from page 1. It is never replayed.
	 */
	if ((n = parse(r, body, len, &pe)) < 0) {
		r->ended = 1;
		if (r->nskip < sizeof(r->skip) / sizeof(*r->skip))
			r->skip[r->nskip++] = r->records;
		else
			r->bad = 1;
		return 0;
	}
	if (!r->pages && n && keep_unique(&r->newest, unique_at(r, body, 0)))
		return err_nomem(e);
	if (n && keep_unique(&r->oldest, unique_at(r, body, (size_t)n - 1)))
		return err_nomem(e);
	r->pages++;
	r->next = page_no + 1;
	if (n)
		r->covered = (page_no - 1) * API_PAGE_SIZE + (unsigned long long)n - r->top;
	r->last_count = (size_t)n;
	return 0;
}

/* A journal that cannot be resumed from: say why, once, unless it was empty. */
static void judge(struct resume *r, const struct journal_report *rep)
{
	r->why = rep->tail == JOURNAL_CORRUPT       ? rep->why
		 : !r->header_ok                    ? "it is of another account or contact"
		 : r->bad                           ? "its pages are not a walk from page 1"
		 : !r->newest.len || !r->oldest.len ? "its pages hold no message to find again"
						    : NULL;
	r->usable = !r->why && r->pages > 0;
	if (r->why && rep->records > 1)
		warn_note(r->warn, "journal %s: not used (%s): a full walk", r->path, r->why);
	else if (r->usable && rep->tail == JOURNAL_TORN)
		warn_note(r->warn,
			  "journal %s: its last page was cut short (a kill mid-write); "
			  "resuming from the %llu pages before it",
			  r->path, r->pages);
}

/*
 * The journal cannot be written (a full disk, no room for the raw pages
 * beside the state): this run goes on without it, and removes what it
 * wrote, which the next run would resume from only to fail at the same
 * place again, every night. Only a failure of the file itself is taken so.
 * A warning says so if the run succeeds (a run that fails says one line).
 */
static int drop_journal(struct resume *r, struct err *e)
{
	if (e->kind != ERR_IO && e->kind != ERR_CANTCREAT)
		return -1;
	snprintf(r->dropped, sizeof(r->dropped), "%.*s", (int)sizeof(r->dropped) - 1, e->msg);
	journal_close(r->j);
	r->j = NULL;
	if (r->usable) /* resuming: the earlier runs' pages stay, as they were read */
		(void)truncate(r->path, (off_t)r->good_bytes);
	else
		(void)unlink(r->path);
	return 0;
}

int resume_open(struct resume **out, const char *state_path, const char *from, const char *to,
		int own, struct warn *w, struct err *e)
{
	struct resume *r = calloc(1, sizeof(*r));
	struct journal_report rep;

	*out = r;
	if (!r || !(r->pg = page_new()) || buf_adds(&r->header, from) ||
	    buf_addc(&r->header, '\t') || buf_adds(&r->header, to ? to : "*"))
		return err_nomem(e);
	own = own && to; /* --to values are digits (cli_value.c): a safe file name */
	if (!(r->path = malloc(strlen(state_path) + sizeof(".journal-") + (own ? strlen(to) : 0))))
		return err_nomem(e);
	sprintf(r->path, "%s.journal%s%s", state_path, own ? "-" : "", own ? to : "");
	r->warn = w;
	r->next = 1;
	if (journal_read(r->path, scan, r, &rep, e))
		return -1;
	if (!rep.missing)
		judge(r, &rep);
	r->good_bytes = rep.good_bytes;
	/* Resuming: open to append this run's sequel (a torn tail goes), written once marked. */
	if (r->usable)
		return journal_open(&r->j, r->path, r->good_bytes, e);
	/* No journal to resume from: this run keeps its own, from the start. */
	r->top = 0;
	if (journal_open(&r->j, r->path, 0, e) ||
	    journal_append(r->j, 0, r->header.data, r->header.len, e))
		return drop_journal(r, e);
	return 0;
}

void resume_clear_others(const char *state_path)
{
	char dir[4096];
	const char *slash = strrchr(state_path, '/');
	const char *base = slash ? slash + 1 : state_path;
	size_t blen = strlen(base);
	DIR *d;
	struct dirent *de;

	fsutil_dirname(state_path, dir, sizeof(dir));
	if (!(d = opendir(dir)))
		return;
	while ((de = readdir(d))) {
		const char *rest = de->d_name + blen;

		/* STATE.journal, or STATE.journal-TO (digits) */
		if (strncmp(de->d_name, base, blen) || strncmp(rest, ".journal", 8) ||
		    (rest[8] && (rest[8] != '-' || !rest[9] ||
				 strspn(rest + 9, "0123456789") != strlen(rest + 9))))
			continue;
		(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
}

void resume_pause(struct resume *r)
{
	journal_close(r->j);
	r->j = NULL;
}

int resume_usable(const struct resume *r)
{
	return r->usable;
}

static int append_mark(struct resume *r, unsigned long long top, struct err *e)
{
	char digits[24];

	snprintf(digits, sizeof(digits), "%llu", top);
	r->top = top;
	return journal_append(r->j, RESUME_MARK, digits, strlen(digits), e);
}

int resume_append(struct resume *r, unsigned long page_no, size_t grown, const char *body,
		  size_t len, struct err *e)
{
	if (!r->j || (r->usable && !r->marked))
		return 0; /* resuming: the pages before the mark are the journal's already */
	if ((grown && r->appended && append_mark(r, r->top + grown, e)) ||
	    journal_append(r->j, page_no, body, len, e))
		return drop_journal(r, e);
	r->appended++;
	return 0;
}

int resume_mark(struct resume *r, struct err *e)
{
	if (!r->usable || !r->j)
		return 0;
	r->marked = 1;
	return append_mark(r, r->k, e) ? drop_journal(r, e) : 0;
}

int resume_rewind(struct resume *r, struct err *e)
{
	if (!r->usable)
		return 0;
	journal_close(r->j);
	r->j = NULL;
	r->marked = 0;
	r->replayed = r->appended = 0;
	return journal_open(&r->j, r->path, r->good_bytes, e);
}

static int same(const struct field *u, const struct buf *b)
{
	return u && b->len && u->len == b->len && !memcmp(u->p, b->data, b->len);
}

int resume_seek(struct resume *r, unsigned long page_no, const char *body, size_t len,
		struct err *e)
{
	long n = parse(r, body, len, e);

	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++)
		if (same(unique_at(r, body, (size_t)i), &r->newest)) {
			r->k = (unsigned long long)(page_no - 1) * API_PAGE_SIZE +
			       (unsigned long long)i;
			return 1;
		}
	return 0;
}

/* The journal's oldest message, counted from the top of the history now. */
static unsigned long long oldest_at(const struct resume *r)
{
	return r->k + r->covered - 1;
}

unsigned long resume_check_page(const struct resume *r)
{
	return (unsigned long)(oldest_at(r) / API_PAGE_SIZE + 1);
}

int resume_verify(struct resume *r, const char *body, size_t len, struct err *e)
{
	size_t at = (size_t)(oldest_at(r) % API_PAGE_SIZE);
	long n = parse(r, body, len, e);

	if (n < 0)
		return -1;
	return (size_t)n > at && same(unique_at(r, body, at), &r->oldest);
}

/* Replay the page records the first read took (the good prefix) to the caller. */
static int replay_one(void *ctx, unsigned long long page_no, const char *body, size_t len,
		      struct err *e)
{
	struct resume *r = ctx;
	int rc;

	if (page_no == 0 || page_no == RESUME_MARK)
		return 0;
	r->records++;
	for (size_t i = 0; i < r->nskip; i++)
		if (r->skip[i] == r->records)
			return 0;
	if (++r->seen > r->pages)
		return 0;
	r->replayed++;
	rc = r->fn(r->ctx, page_no, body, len, e);
	if (rc > 0)
		r->stopped = 1;
	return rc;
}

int resume_replay(struct resume *r, journal_record_fn fn, void *ctx, struct err *e)
{
	struct journal_report rep;

	r->fn = fn;
	r->ctx = ctx;
	r->stopped = 0;
	r->seen = r->records = 0;
	if (journal_read(r->path, replay_one, r, &rep, e))
		return r->stopped ? 0 : -1;
	return 0;
}

int resume_finish(struct resume *r, struct err *e)
{
	if (r->dropped[0])
		warn_note(r->warn,
			  "%s; this run's pages were not journaled (had it failed, the next %s)",
			  r->dropped,
			  r->usable ? "would have gone on from the earlier run's pages"
				    : "would have started over");
	r->dropped[0] = '\0';
	journal_close(r->j);
	r->j = NULL;
	return journal_remove(r->path, e);
}

unsigned long long resume_pages(const struct resume *r)
{
	return r->replayed;
}

int resume_tell_once(struct resume *r)
{
	int first = !r->told;

	r->told = 1;
	return first;
}

void resume_free(struct resume *r)
{
	if (!r)
		return;
	journal_close(r->j);
	page_free(r->pg);
	buf_free(&r->header);
	buf_free(&r->newest);
	buf_free(&r->oldest);
	free(r->path);
	free(r);
}
