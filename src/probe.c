#include "probe.h"
#include "batch.h"
#include "jsontext.h"

#include <string.h>

struct probe {
	const char *first;
	size_t len;
	struct buf *now;
	int grew;
};

/* Page 1 through the page stage like every page (a batch of one, on this thread). */
static int lead(struct probe *p, const char *body, size_t len, struct err *e)
{
	static const struct batch_opts parse_only = { .format = 0 };
	struct batch *b = NULL;
	const struct field *u;
	size_t n = json_bom_len(body, len); /* skipped here too; the page itself warns of it */
	int rc = -1;

	if (batch_new(&b, &parse_only, e) || batch_add(b, body + n, len - n, "page 1", e))
		goto out;
	batch_map(NULL, b);
	if (b->parsed < b->n) {
		*e = b->err;
		goto out;
	}
	p->grew = 0;
	if (p->now)
		p->now->len = 0;
	if (b->nmsg) {
		u = &b->msg[0].r->f[REC_UNIQUE];
		p->grew = u->kind != FIELD_STRING || u->len != p->len ||
			  (u->len && memcmp(u->p, p->first, u->len));
		if (p->now && u->kind == FIELD_STRING && buf_add(p->now, u->p, u->len)) {
			err_nomem(e);
			goto out;
		}
	}
	rc = 0;
out:
	batch_free(b);
	return rc;
}

static int on_probe(void *ctx, unsigned long page_no, const char *body, size_t len, struct err *e)
{
	(void)page_no;
	return lead(ctx, body, len, e) ? -1 : WALK_END;
}

int probe_lead(const char *body, size_t len, struct buf *now, struct err *e)
{
	struct probe p = { NULL, 0, now, 0 };

	if (!lead(&p, body, len, e))
		return 0;
	if (e->kind == ERR_DATA || e->kind == ERR_REFUSED)
		err_prefix(e, "page 1: ");
	return -1;
}

int probe_page_one(const struct walk_opts *walk, const struct walk_transport *t, const char *first,
		   size_t len, struct buf *now, struct walk_stats *stats, struct err *e)
{
	struct walk_opts wo = *walk;
	struct walk_stats st = { 0 };
	struct probe p = { first, len, now, 0 };

	wo.concurrency = 1;
	wo.first_page = 1;
	wo.max_pages = 1;
	wo.slow_start = 0;
	if (walk_run(&wo, t, on_probe, &p, &st, e))
		return -1;
	walk_stats_add_requests(stats, &st);
	return p.grew;
}
