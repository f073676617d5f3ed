/*
 * pipeline: everything after the page stage that `convert` and `fetch`
 * share — de-duplication by `unique` (SPEC §5.2), row order, the writer and
 * the output file. Pages go in newest first, as the API pages them; rows
 * come out in --order. For `oldest`, each page's rows are formatted
 * oldest-first and batched; batches go to the sink's reverse mode, which
 * spools (and compresses) them and writes them last first at commit:
 * memory stays flat whatever the size of the history.
 */
#ifndef WAEXPORT_PIPELINE_H
#define WAEXPORT_PIPELINE_H

#include "err.h"
#include "page.h"
#include "sink.h"
#include "warn.h"
#include "writer.h"

enum pipeline_order { ORDER_OLDEST, ORDER_NEWEST };

struct pipeline_opts {
	struct writer_opts writer;
	struct sink_opts sink;          /* path already expanded (but {chat}) */
	int split_chats;                /* sink.path holds {chat}: one file per conversation */
	int merge_segments;             /* several --to in one file: merged by time at commit */
	enum pipeline_order order;
	int has_since, has_until;       /* keep times in [since, until) */
	long long since, until;
};

struct pipeline_stats {
	unsigned long long pages;
	unsigned long long messages;    /* rows written */
	unsigned long long duplicates;  /* dropped as already written */
	unsigned long long skipped;     /* array elements that are not objects */
	unsigned long long filtered;    /* outside --since/--until */
	unsigned long long checkpointed; /* exported by an earlier run (--state) */
};

/* What one page contributed (fetch uses it for the loop guard of §5.2). */
struct pipeline_page_result {
	size_t records;
	size_t fresh;                   /* written: not seen before, not filtered */
	size_t repeated;                /* already written earlier in this run */
	int has_oldest;
	long long oldest;               /* the page's oldest timestamp */
};

/*
 * --state (SPEC §5.3): what an earlier run exported is skipped — messages
 * before floor, and at exactly skip_ts those whose unique is listed.
 */
struct pipeline_checkpoint {
	long long floor;
	long long skip_ts;
	char *const *skip;
	size_t nskip;
};

/* The newest message this segment wrote: the next checkpoint. */
struct pipeline_newest {
	int have;
	long long ts;
	char **uniques;             /* raw uniques written at ts (owned by the pipeline) */
	size_t cap;
	size_t nuniques;
};

struct pipeline;

int pipeline_open(struct pipeline **out, const struct pipeline_opts *opts, struct warn *warn,
		  struct err *e);

/* Feed one parsed page (body is the text page_parse saw): select, then write. */
int pipeline_page(struct pipeline *pl, struct page *pg, const char *body,
		  struct pipeline_page_result *res, struct err *e);

/*
 * pipeline_page in two steps, for work that only the written messages need
 * (media downloads): pipeline_select decides which elements are written
 * (pipeline_selected: one flag per element), pipeline_write writes them.
 */
int pipeline_select(struct pipeline *pl, struct page *pg, const char *body,
		    struct pipeline_page_result *res, struct err *e);
const unsigned char *pipeline_selected(const struct pipeline *pl);
int pipeline_write(struct pipeline *pl, struct page *pg, const char *body, struct err *e);

/* media_file per page element for the next pipeline_page (NULL: none). */
void pipeline_set_media(struct pipeline *pl, const char *const *files);

/* Skip what a checkpoint covers, from the next page on (NULL: nothing). */
void pipeline_set_checkpoint(struct pipeline *pl, const struct pipeline_checkpoint *cp);

/* The newest message written since the last call, and forget it. */
const struct pipeline_newest *pipeline_take_newest(struct pipeline *pl);

/*
 * End a segment (one --to contact sharing a file with others): with
 * --order oldest, write out what is spooled so each contact's block is
 * chronological, in the order the contacts were given.
 */
int pipeline_segment_end(struct pipeline *pl, struct err *e);

/* Write everything out and move the file into place. */
int pipeline_commit(struct pipeline *pl, struct err *e);

/* Free pl; without a successful commit, leave no trace. NULL is fine. */
void pipeline_close(struct pipeline *pl);

const struct pipeline_stats *pipeline_stats(const struct pipeline *pl);
/* Files the pipeline writes (one, or one per conversation once committed). */
size_t pipeline_files(const struct pipeline *pl);
unsigned long long pipeline_bytes_out(const struct pipeline *pl);
/* Output bytes produced so far, before compression (for the progress line). */
unsigned long long pipeline_bytes_made(const struct pipeline *pl);

#endif
