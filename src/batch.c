#include "batch.h"
#include "seen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int batch_new(struct batch **out, const struct batch_opts *opts, struct err *e)
{
	struct batch *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b)
		return err_nomem(e);
	b->opts = opts;
	warn_collect(&b->warn);
	b->writer = writer_new(&opts->writer, &b->warn);
	if (!b->writer) {
		free(b);
		return err_nomem(e);
	}
	if (opts->gzip && opts->format && gz_deflater_new(&b->gz, opts->level, e)) {
		batch_free(b);
		return -1;
	}
	batch_reset(b);
	*out = b;
	return 0;
}

void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < BATCH_BODIES; i++)
		page_free(b->page[i]);
	writer_free(b->writer);
	warn_free_collector(&b->warn);
	gz_deflater_free(b->gz);
	buf_free(&b->bodies);
	buf_free(&b->rows);
	buf_free(&b->z);
	free(b->msg);
	free(b);
}

void batch_reset(struct batch *b)
{
	b->bodies.len = 0;
	b->n = b->parsed = 0;
	b->nmsg = b->formatted = 0;
	b->rows.len = b->z.len = 0;
	b->deflated = 0;
	b->crc = 0;
	b->err = (struct err){ .kind = ERR_NONE, .offset = -1 };
	warn_collect_reset(&b->warn);
	b->warn.where[0] = '\0';
	b->where_body = (unsigned)-1;
}

void batch_trim(struct batch *b)
{
	if (!b)
		return;
	writer_trim(b->writer, BATCH_KEEP);
	if (b->bodies.cap <= BATCH_KEEP && b->rows.cap <= BATCH_KEEP && b->z.cap <= BATCH_KEEP &&
	    b->msg_cap * sizeof(*b->msg) <= BATCH_KEEP)
		return;
	buf_free(&b->bodies);
	buf_free(&b->rows);
	buf_free(&b->z);
	free(b->msg);
	b->msg = NULL;
	b->msg_cap = b->nmsg = 0;
	for (size_t i = 0; i < BATCH_BODIES; i++) {
		page_free(b->page[i]); /* its records, as many as the page's messages */
		b->page[i] = NULL;
	}
	batch_reset(b);
}

int batch_add(struct batch *b, const char *body, size_t len, const char *where, struct err *e)
{
	struct batch_body *at = &b->body[b->n];

	if (b->n == BATCH_BODIES)
		return err_set(e, ERR_SOFTWARE, "a batch holds at most %d pages", BATCH_BODIES);
	at->off = b->bodies.len;
	at->len = len;
	at->file_off = 0;
	at->where = where;
	at->first_of_file = 0;
	if (buf_add(&b->bodies, body, len))
		return err_nomem(e);
	b->n++;
	return 0;
}

static int grow_msgs(struct batch *b, size_t more)
{
	size_t want = b->nmsg + more;
	struct batch_msg *m;

	if (want <= b->msg_cap)
		return 0;
	want = want < 2 * b->msg_cap ? 2 * b->msg_cap : want;
	m = realloc(b->msg, want * sizeof(*m));
	if (!m)
		return -1;
	b->msg = m;
	b->msg_cap = want;
	return 0;
}

/* Tokenize, check and extract body i; its messages join the batch's list. */
static int parse_body(struct batch *b, size_t i)
{
	const char *body = b->bodies.data + b->body[i].off;
	const struct batch_opts *o = b->opts;
	size_t n;

	if (!b->page[i] && !(b->page[i] = page_new()))
		return err_nomem(&b->err);
	page_reset(b->page[i]);
	if (page_parse(b->page[i], body, b->body[i].len, 1, &b->err) < 0)
		return -1;
	if (page_extract(b->page[i], body))
		return err_nomem(&b->err);
	page_drop_tokens(b->page[i]);
	n = page_count(b->page[i]);
	if (grow_msgs(b, n))
		return err_nomem(&b->err);
	for (size_t k = 0; k < n; k++) {
		const struct record *r = page_rec(b->page[i], body, k);
		struct batch_msg *m = &b->msg[b->nmsg];

		if (!r)
			return err_nomem(&b->err);
		m->r = r;
		m->key = 0;
		if (record_has_unique(r) &&
		    seen_key(r->f[REC_UNIQUE].p, r->f[REC_UNIQUE].len, &m->key))
			return err_nomem(&b->err);
		m->row_off = m->row_len = 0;
		m->body = (unsigned)i;
		m->when = (unsigned char)(r->ts_ok ? when_where(&o->window, r->ts) : WHEN_WITHIN);
		b->nmsg++;
	}
	return 0;
}

static int batch_format(struct batch *b, size_t m, const char *media_file, struct buf *out,
			struct err *e)
{
	struct batch_msg *msg = &b->msg[m];

	if (b->where_body != msg->body) {
		snprintf(b->warn.where, sizeof(b->warn.where), "%s", b->body[msg->body].where);
		b->where_body = msg->body;
	}
	warn_tag(&b->warn, (long)m);
	msg->row_off = out->len;
	if (writer_row(b->writer, msg->r, media_file, out))
		return err_nomem(e);
	msg->row_len = out->len - msg->row_off;
	return 0;
}

/* Every message within range, each body's rows in API order or all of them backwards. */
static int format_all(struct batch *b)
{
	for (size_t k = 0; k < b->nmsg; k++) {
		size_t m = b->opts->oldest_first ? b->nmsg - 1 - k : k;

		if (b->msg[m].when != WHEN_WITHIN)
			continue;
		if (batch_format(b, m, NULL, &b->rows, &b->err))
			return -1;
		b->formatted++;
	}
	return 0;
}

void batch_map(void *ctx, void *job)
{
	struct batch *b = job;

	(void)ctx;
	for (b->parsed = 0; b->parsed < b->n; b->parsed++) {
		b->first_msg[b->parsed] = b->nmsg;
		if (parse_body(b, b->parsed))
			return;
	}
	b->first_msg[b->n] = b->nmsg;
	if (!b->opts->format || format_all(b))
		return;
	if (b->gz && b->rows.len) {
		if (gz_deflate_chunk(b->gz, b->rows.data, b->rows.len, &b->z, &b->crc, &b->err))
			return;
		b->deflated = 1;
	}
}

int batch_kept_rows(const struct batch *b, const unsigned char *keep, struct buf *out,
		    struct err *e)
{
	for (size_t k = 0; k < b->nmsg; k++) {
		size_t m = b->opts->oldest_first && b->opts->format ? b->nmsg - 1 - k : k;

		if (keep[m] && buf_add(out, b->rows.data + b->msg[m].row_off, b->msg[m].row_len))
			return err_nomem(e);
	}
	return 0;
}

int batch_format_kept(struct batch *b, const unsigned char *keep, batch_media_fn media, void *ctx,
		      struct err *e)
{
	int oldest_first = b->opts->oldest_first;

	for (size_t k = 0; k < b->parsed; k++) {
		size_t i = oldest_first ? b->parsed - 1 - k : k, lo = b->first_msg[i],
		       hi = b->first_msg[i + 1];
		const char *const *files = NULL;

		if (media &&
		    media(ctx, b->page[i], b->bodies.data + b->body[i].off, keep + lo, &files, e))
			return -1;
		for (size_t j = 0; j < hi - lo; j++) {
			size_t m = oldest_first ? hi - 1 - j : lo + j;

			if (!keep[m])
				continue;
			if (batch_format(b, m, files ? files[m - lo] : NULL, &b->rows, e))
				return -1;
			b->formatted++;
		}
	}
	return 0;
}
