/*
 * pipeline: everything after the source that `convert` and `fetch` share,
 * for one output: page bodies go in newest first, as the API pages them;
 * the pool's workers parse them and format rows (batch.h); the pipeline, on
 * the caller's thread, takes the batches back in order and decides what is
 * written (select.h), then sends the rows on in --order: straight to the
 * output (newest), through the order spool (oldest, order.h), or to several
 * files ({chat}, or several --to merged by time: route.h).
 *
 * Rows are made before the decision, optimistically: a message dropped (a
 * page shift's repeat; under --state, what lies below the last run's head on
 * the night's last page) has its row left out, and that batch is deflated
 * again; the batches before it go out as they were made. One exception: with
 * --media-dir a row names its media file, known only once the selected
 * messages are downloaded, so those rows are made after the decision, on
 * the caller's thread (format_after_select).
 *
 *   source ─> [pool: batch_map] ─> select ─> order | route ─> out
 *
 * Memory stays flat whatever the history: the batches in flight, and the
 * spools on disk. A pipeline owns its batches, its select, and its output:
 * the sink, the order spool or the route; the pool is lent by the run.
 */
#ifndef WAEXPORT_PIPELINE_H
#define WAEXPORT_PIPELINE_H

#include "batch.h"
#include "err.h"
#include "sink.h"
#include "pool.h"
#include "record.h"
#include "select.h"
#include "source.h"
#include "warn.h"
#include "when.h"
#include "writer.h"

enum pipeline_order { ORDER_OLDEST, ORDER_NEWEST };

struct pipeline_opts {
	struct writer_opts writer;
	struct sink_opts out; /* path expanded but for {chat} */
	int split_chats;      /* the path holds {chat}: one file per conversation */
	int merge_segments;   /* several --to in one file: merged by time */
	enum pipeline_order order;
	struct when_window window; /* --since/--until */
	int format_after_select;   /* --media-dir: rows name the files downloaded */
	int create_dirs;           /* --create-dirs: each {chat} file's directory made */
};

struct pipeline_stats {
	unsigned long long pages;
	struct select_stats sel;
	size_t files;                  /* one, or one per chat once committed */
	unsigned long long bytes_out;  /* written to the file(s) */
	unsigned long long bytes_made; /* row bytes made so far, before gzip (the progress line) */
	int streams; /* rows go out as they come (standard output, newest first): never taken back */
};

/*
 * --media-dir (fetch): called with a page once its messages are selected
 * (keep[i] for element i), before their rows are made; sets files[i] to
 * the media_file of element i, or NULL.
 */
typedef batch_media_fn pipeline_media_fn;

struct pipeline;

/* Everything is opened now, so a bad path fails before any page. */
int pipeline_open(struct pipeline **out, const struct pipeline_opts *opts, struct pool *pool,
		  struct warn *warn, struct err *e);

void pipeline_set_media(struct pipeline *pl, pipeline_media_fn fn, void *ctx);

/* convert: called after every batch written (the progress line). */
void pipeline_set_progress(struct pipeline *pl, void (*fn)(void *ctx), void *ctx);
/* fetch, before each walk: the checkpoint select starts from (NULL: none; select.h). */
void pipeline_set_checkpoint(struct pipeline *pl, const struct select_checkpoint *cp);

/* fetch, after a walk: the next checkpoint select found in it, then forgotten (select.h). */
const struct select_next *pipeline_take_checkpoint(struct pipeline *pl);

/*
 * fetch: one page body, parsed, selected and written before this returns.
 * res says what the page held; *first (its first message, or NULL) is valid
 * until the next call. Bad data is ERR_DATA with the byte offset in the body.
 */
int pipeline_page(struct pipeline *pl, const char *body, size_t len, const char *where,
		  struct select_page *res, const struct record **first, struct err *e);

/*
 * convert: every body src gives, in parallel. Bad data names the file and
 * the byte offset. ERR_INTERRUPTED once *stop is set.
 */
int pipeline_source(struct pipeline *pl, struct source *src, const volatile int *stop,
		    struct err *e);

/* Several --to in one file: the next contact begins. */
void pipeline_segment_end(struct pipeline *pl);

/*
 * Write everything out to the temporary file(s), fsynced; nothing is in
 * place yet, so whatever fails next (the manifest, the state) leaves every
 * target as it was. Then pipeline_publish renames them into place.
 */
int pipeline_finish(struct pipeline *pl, struct err *e);
int pipeline_publish(struct pipeline *pl, struct err *e);

/* Free; without a successful commit, leave no trace. NULL is fine. */
void pipeline_close(struct pipeline *pl);

void pipeline_stats(const struct pipeline *pl, struct pipeline_stats *out);
/*
 * After pipeline_finish: fn for every file written, with its chat ({chat}
 * outputs, else NULL), for the manifest and the commit plan. Stops at the first non-zero return.
 */
typedef int (*pipeline_file_fn)(void *ctx, struct sink *file, const char *chat);
int pipeline_each_file(const struct pipeline *pl, pipeline_file_fn fn, void *ctx);

#endif
