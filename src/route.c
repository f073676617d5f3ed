#include "route.h"
#include "fsutil.h"
#include "outpath.h"
#include "hash.h"
#include "split.h"
#include "text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The spool's prefix of every row: sort time, own time, whether it has one. */
#define ROUTE_PREFIX (2 * sizeof(long long) + 1)

struct route {
	struct route_opts o;
	struct split *split;
	struct sink **files; /* finished, waiting to be renamed together */
	size_t nfiles;
	size_t *file_chat; /* {chat}: files[k] holds the split's chat file_chat[k] */
	struct buf name;   /* the chat of the current row, decoded */
	struct buf row;    /* merge: the row behind its time */
	unsigned segment;
	long long segment_ts; /* merge: the last valid time of this segment */
	unsigned long long made, bytes_out;
};

int route_open(struct route **out, const struct route_opts *o, struct err *e)
{
	struct route *rt;
	char dir[4096];

	*out = NULL;
	if (o->chats && !strcmp(o->path, "-"))
		return err_set(e, ERR_USAGE, "{chat} needs a file name in -o, not standard output");
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return err_nomem(e);
	rt->o = *o;
	if (strchr(o->path, '/'))
		fsutil_fixed_dir(o->path, dir, sizeof(dir)); /* not inside a {chat} directory */
	else
		snprintf(dir, sizeof(dir), "%s", strcmp(o->path, "-") ? "." : fsutil_tmpdir());
	if (split_open(&rt->split, dir, e)) {
		free(rt);
		return -1;
	}
	*out = rt;
	return 0;
}

/*
 * Whether id ends like a hashed name ("-" and 16 lowercase hex digits): such
 * an id is hashed too, so no id is used as is where another id's hashed name
 * could be, and the mapping stays one-to-one.
 */
static int looks_hashed(const char *id, size_t len)
{
	if (len < 17 || id[len - 17] != '-')
		return 0;
	for (size_t i = len - 16; i < len; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return 0;
	return 1;
}

/* The file-name form of a chat id (route.h) into out (size > ROUTE_NAME_MAX + 18). */
static void route_chat_name(const char *id, size_t len, char *out, size_t size)
{
	size_t n = 0;
	int safe = len <= ROUTE_NAME_MAX &&
		   !(len == sizeof(ROUTE_NO_CHAT) - 1 && !memcmp(id, ROUTE_NO_CHAT, len)),
	    dots = 1;

	if (!len) {
		snprintf(out, size, "%s", ROUTE_NO_CHAT);
		return;
	}
	for (size_t i = 0; i < len; i++) {
		char c = id[i];
		int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '+';

		safe &= ok;
		dots &= c == '.';
		if (n + 1 < size && n < ROUTE_NAME_MAX - 17)
			out[n++] = ok ? c : '_';
	}
	if (safe && !dots && !looks_hashed(id, len) && len < size) {
		memcpy(out, id, len);
		out[len] = '\0';
		return;
	}
	snprintf(out + n, size - n, "-%016llx", (unsigned long long)hash_bytes(id, len));
}

/* SPEC §4.5: a message's chat is its counterpart. */
static int chat_of(struct route *rt, const struct record *r, struct err *e)
{
	const struct field *f =
		&r->f[r->dir_ok && r->dir == DIRECTION_INCOMING ? REC_FROM : REC_TO];
	unsigned bad = 0;

	rt->name.len = 0;
	/* No counterpart: the empty id, which no counterpart sent has (route.h). */
	if (buf_reserve(&rt->name, TEXT_DECODE_MAX(f->len) + 1))
		return err_nomem(e);
	if (f->kind == FIELD_ABSENT || f->kind == FIELD_COMPOUND || !f->len)
		return 0;
	if (f->kind == FIELD_STRING)
		rt->name.len = text_decode(rt->name.data, f->p, f->len, &bad);
	else
		memcpy(rt->name.data, f->p, rt->name.len = f->len);
	return 0;
}

int route_add(struct route *rt, const struct record *r, const char *row, size_t len, struct err *e)
{
	char name[16];
	long long ts, own;

	rt->made += len;
	/*
	 * Every spooled row is [sort time][own time][has own time][row]: the sort
	 * time merges --to segments (a row without a time stays beside its
	 * neighbours), the own time is counted into the file's manifest figures
	 * at commit. Any 64-bit value is a time a message may carry, so whether
	 * it has one is a byte of its own, not a value set aside.
	 */
	if (r->ts_ok)
		rt->segment_ts = r->ts;
	ts = rt->segment_ts;
	own = r->ts_ok ? r->ts : 0;
	rt->row.len = 0;
	if (buf_add(&rt->row, &ts, sizeof(ts)) || buf_add(&rt->row, &own, sizeof(own)) ||
	    buf_addc(&rt->row, r->ts_ok ? 1 : 0) || buf_add(&rt->row, row, len))
		return err_nomem(e);
	if (rt->o.chats)
		return chat_of(rt, r, e) || split_add(rt->split, rt->name.data, rt->name.len,
						      rt->row.data, rt->row.len, e)
			       ? -1
			       : 0;
	snprintf(name, sizeof(name), "%u", rt->segment);
	return split_add(rt->split, name, strlen(name), rt->row.data, rt->row.len, e);
}

void route_segment_end(struct route *rt)
{
	rt->segment++;
}

/* A new file: its output opened (with its head, sink.h). */
static int open_file(struct route *rt, const char *path, struct sink **f, struct err *e)
{
	struct sink_opts oo = rt->o.out;

	oo.path = path;
	if (oo.digest) /* many files at once: hashed by the caller, not a worker each */
		oo.digest = SINK_DIGEST_CALLER;
	return fsutil_need_parent(path, rt->o.create_dirs, "-o", e) || sink_open(f, &oo, e) ? -1
											    : 0;
}

static int add_file(struct route *rt, struct sink *f, struct err *e)
{
	struct sink **grown = realloc(rt->files, (rt->nfiles + 1) * sizeof(*grown));

	if (!grown) {
		sink_close(f);
		return err_nomem(e);
	}
	rt->files = grown;
	rt->files[rt->nfiles++] = f;
	return 0;
}

/* A spooled row (see route_add) into its file, counted. */
static int emit_row(void *ctx, const char *row, size_t len, struct err *e)
{
	long long own;

	memcpy(&own, row + sizeof(long long), sizeof(own));
	sink_count_row(ctx, row[2 * sizeof(long long)], own);
	return sink_write(ctx, row + ROUTE_PREFIX, len - ROUTE_PREFIX, e);
}

/* A signal: SPEC §5.7 wants the run ended within a second, not after every file. */
static int stopped(const struct route *rt, struct err *e)
{
	return err_stopped(rt->o.out.stop, e);
}

/* Each chat's file written and finished, chat order[0] first. */
static int finish_chats_in(struct route *rt, const size_t *order, size_t n, struct err *e)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		struct outpath_vars v = { 0 };
		const char *chat = split_chat(rt->split, i);
		char name[ROUTE_NAME_MAX + 24], *path = NULL;
		struct sink *f = NULL;
		int rc;

		if (stopped(rt, e))
			return -1;
		route_chat_name(chat, strlen(chat), name, sizeof(name));
		v.chat = name;
		if (outpath_expand(rt->o.path, &v, &path, e))
			return -1;
		rc = open_file(rt, path, &f, e);
		free(path);
		if (rc || add_file(rt, f, e))
			return -1;
		if (split_read_chat(rt->split, i, rt->o.oldest, emit_row, f, e) ||
		    sink_finish(f, e))
			return -1;
		rt->bytes_out += sink_figures(f)->out;
	}
	return 0;
}

static int by_chat(const void *a, const void *b, void *split)
{
	return strcmp(split_chat(split, *(const size_t *)a), split_chat(split, *(const size_t *)b));
}

/*
 * Files are opened in the order of their chats' ids, not as the chats came:
 * two runs adding to the same files then take them in one order, so one
 * never waits for a file the other holds while holding one it waits for
 * (a run that finds another adding to its file waits, then gives up: sink.h).
 */
static int finish_chats(struct route *rt, struct err *e)
{
	size_t n = split_count(rt->split), *order = malloc((n ? n : 1) * sizeof(*order));

	if (!order)
		return err_nomem(e);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	qsort_r(order, n, sizeof(*order), by_chat, rt->split);
	rt->file_chat = order;
	return finish_chats_in(rt, order, n, e);
}

/* The next row of segment i into row[i] (NULL at its end). */
static int advance(struct split_cursor *c, const char **row, size_t *len, struct err *e)
{
	int got = split_cursor_next(c, row, len, e);

	if (got < 0)
		return -1;
	if (!got)
		*row = NULL;
	return 0;
}

/* Several --to in one file: each segment is in order; take the next row by time. */
static int merge_segments(struct route *rt, struct sink *f, struct err *e)
{
	size_t k = split_count(rt->split);
	struct split_cursor **cur = calloc(k + 1, sizeof(*cur));
	const char **row = calloc(k + 1, sizeof(*row));
	size_t *len = calloc(k + 1, sizeof(*len));
	int oldest = rt->o.oldest, rc = -1;

	if (!cur || !row || !len) {
		err_nomem(e);
		goto out;
	}
	/* Segments were added in --to order: chat i is segment i. */
	for (size_t i = 0; i < k; i++)
		if (split_cursor_open(rt->split, i, oldest, &cur[i], e) ||
		    advance(cur[i], &row[i], &len[i], e))
			goto out;
	for (;;) {
		size_t best = k;
		long long bt = 0, t;

		for (size_t i = 0; i < k; i++) {
			if (!row[i])
				continue;
			memcpy(&t, row[i], sizeof(t));
			if (best == k || (oldest ? t < bt : t > bt)) {
				best = i;
				bt = t;
			}
		}
		if (best == k)
			break;
		if (stopped(rt, e) || emit_row(f, row[best], len[best], e) ||
		    advance(cur[best], &row[best], &len[best], e))
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; cur && i < k; i++)
		split_cursor_close(cur[i]);
	free(cur);
	free(row);
	free(len);
	return rc;
}

static int finish_merge(struct route *rt, struct err *e)
{
	struct sink *f = NULL;

	if (open_file(rt, rt->o.path, &f, e) || add_file(rt, f, e) || merge_segments(rt, f, e) ||
	    sink_finish(f, e))
		return -1;
	rt->bytes_out += sink_figures(f)->out;
	return 0;
}

int route_finish(struct route *rt, struct err *e)
{
	return split_scatter(rt->split, rt->o.out.stop, e) ||
			       (rt->o.chats ? finish_chats(rt, e) : finish_merge(rt, e))
		       ? -1
		       : 0;
}

int route_publish(struct route *rt, struct err *e)
{
	for (size_t i = 0; i < rt->nfiles; i++)
		if (sink_publish(rt->files[i], e))
			return -1;
	return 0;
}

void route_close(struct route *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->nfiles; i++)
		sink_close(rt->files[i]);
	free(rt->files);
	free(rt->file_chat);
	split_close(rt->split);
	buf_free(&rt->name);
	buf_free(&rt->row);
	free(rt);
}

int route_each_file(const struct route *rt,
		    int (*fn)(void *ctx, struct sink *file, const char *chat), void *ctx)
{
	for (size_t i = 0; i < rt->nfiles; i++)
		if (fn(ctx, rt->files[i],
		       rt->o.chats ? split_chat(rt->split, rt->file_chat[i]) : NULL))
			return -1;
	return 0;
}

size_t route_files(const struct route *rt)
{
	return rt->nfiles;
}

unsigned long long route_bytes_out(const struct route *rt)
{
	return rt->bytes_out;
}

unsigned long long route_bytes_made(const struct route *rt)
{
	return rt->made;
}
