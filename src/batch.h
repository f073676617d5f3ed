/*
 * batch: the pool's job — a run of page bodies in API order, and everything
 * a worker makes of them: every page tokenized, checked and extracted into
 * records, the rows of the messages within --since/--until formatted by the
 * batch's own writer, and, for a gzip output, those rows deflated as one
 * independent chunk (gz.h). What must be decided in order (duplicates, the
 * checkpoint, where rows go) is the consumer's (pipeline.c): it reads the
 * batch's messages and rows once the pool hands the batch back.
 *
 * A batch owns its bodies, pages, writer, deflater and warnings; batches are
 * recycled, so the buffers stop growing once they fit the largest batch.
 * Warnings go to the batch's own collector (warn.h) and reach the run's
 * stderr in input order when the consumer merges them.
 */
#ifndef WAEXPORT_BATCH_H
#define WAEXPORT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "gz.h"
#include "page.h"
#include "record.h"
#include "warn.h"
#include "when.h"
#include "writer.h"

/* A batch goes to a worker once it holds this much input, or this many bodies. */
#define BATCH_BYTES (128u * 1024)
#define BATCH_BODIES 64

/* What the workers do with a batch; shared, read-only while they run. */
struct batch_opts {
	struct writer_opts writer;
	int format;       /* workers format rows; else the consumer formats what it keeps */
	int oldest_first; /* --order oldest: the batch's rows made last message first */
	int gzip, level;  /* with format: rows deflated into one chunk */
	struct when_window window; /* rows only for the messages within it */
};

struct batch_body {
	size_t off, len;             /* in the batch's bodies */
	unsigned long long file_off; /* where the body starts in its file (convert) */
	const char *where;           /* "FILE" or "page N", for messages; owned by the caller */
	int first_of_file;           /* convert: the first body of an input file */
};

/* One message of the batch, in API order. */
struct batch_msg {
	const struct record *r;  /* in its page; valid until the batch is reset */
	uint64_t key;            /* seen_key of its unique; 0: it has none */
	size_t row_off, row_len; /* its row in rows (row_len 0: not formatted) */
	unsigned body;           /* which body it came from */
	unsigned char when;      /* enum when_where: within --since/--until, or not */
};

struct batch {
	const struct batch_opts *opts;
	struct buf bodies;
	struct batch_body body[BATCH_BODIES];
	struct page *page[BATCH_BODIES];
	size_t n;      /* bodies */
	size_t parsed; /* bodies parsed: < n when body[parsed] failed */
	struct err err;
	struct batch_msg *msg;
	size_t nmsg, msg_cap;
	size_t first_msg[BATCH_BODIES + 1]; /* body i's messages: [first_msg[i], first_msg[i+1]) */
	struct buf rows;                    /* formatted rows, in output order */
	size_t formatted;                   /* messages with a row */
	struct buf z;                       /* rows deflated (gzip with format) */
	uint32_t crc;
	int deflated;
	struct writer *writer;
	struct gz_deflater *gz;
	struct warn warn;    /* a collector: merged into the run's by the consumer */
	unsigned where_body; /* the body warn.where names */
};

int batch_new(struct batch **out, const struct batch_opts *opts, struct err *e);
void batch_free(struct batch *b);

/* Empty the batch for new bodies (its buffers and pages are kept). */
void batch_reset(struct batch *b);

/*
 * After the consumer is done with it: a batch that held far more than a
 * batch (a page of tens of MB, which a server may send) gives its memory
 * back, so the ring of batches never keeps one such page each (SPEC §5.7).
 */
#define BATCH_KEEP (1u << 20)
void batch_trim(struct batch *b); /* NULL is fine */

/*
 * Bytes of bodies a consumer hands to the pool at once: ~100 batches of
 * ordinary pages, or one of the largest a server may send (a few huge ones
 * would fill all the memory a pool of batches was sized for).
 */
#define BATCH_INFLIGHT_MAX (16u << 20)

/* Append one body (fetch: a page the walk received). -1 on ENOMEM. */
int batch_add(struct batch *b, const char *body, size_t len, const char *where, struct err *e);

/* The pool's map function: parse, extract, format, deflate (see above). */
void batch_map(void *ctx, void *job);

/* The rows of the messages with keep[m] set, in the order the batch made them, onto out. */
int batch_kept_rows(const struct batch *b, const unsigned char *keep, struct buf *out,
		    struct err *e);

/*
 * fetch: make the rows of the messages with keep[m] set, now that they are
 * chosen; media (may be NULL) names each page's media files first.
 */
typedef int (*batch_media_fn)(void *ctx, struct page *pg, const char *body,
			      const unsigned char *keep, const char *const **files, struct err *e);
int batch_format_kept(struct batch *b, const unsigned char *keep, batch_media_fn media, void *ctx,
		      struct err *e);

#endif
