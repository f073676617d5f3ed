/*
 * route: rows that go to more than one file, or to one file in another order
 * than they come — one file per conversation ({chat} in -o, SPEC §4.5), or
 * several --to contacts in one file, merged by time. Rows are spooled (split.h)
 * as they come, so the number of chats is not bounded by file descriptors,
 * and at commit every file is written whole, then all are renamed into place.
 *
 * A chat's file name is its id when the id is a safe file name of at most
 * ROUTE_NAME_MAX bytes that does not itself end like a hashed name ("-" and
 * 16 lowercase hex digits); otherwise the id made safe and shortened, followed
 * by "-" and a hash of the id's bytes (SPEC §5.7). Names used as is never end
 * like a hashed name and hashed names always do, so two ids never share a
 * file, and the name of a chat does not depend on which other chats the run
 * met first. A message without a counterpart (absent, null, "", an object or
 * an array) goes to the chat named ROUTE_NO_CHAT; an id that is that word
 * takes the hashed form, so the two never share a file.
 *
 * A route owns its spool (split.h) and the finished files until they are
 * renamed together; rows are copied in, never kept by reference.
 */
#ifndef WAEXPORT_ROUTE_H
#define WAEXPORT_ROUTE_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "sink.h"
#include "record.h"

#define ROUTE_NAME_MAX 100
#define ROUTE_NO_CHAT "unknown"

struct route_opts {
	const char *path;     /* the -o path, {chat} not yet expanded */
	struct sink_opts out; /* gzip, level, append (the path is the route's) */
	int chats;            /* one file per chat; else one file, segments merged by time */
	int oldest;           /* rows oldest first (they come newest first) */
	int create_dirs;      /* --create-dirs: make each file's missing directories */
};

struct route;

/* Every file opens with o->out.head (sink.h), left out when appending. */
int route_open(struct route **out, const struct route_opts *o, struct err *e);

/* One row, for the chat of r (chats) or the current segment (merge). */
int route_add(struct route *rt, const struct record *r, const char *row, size_t len, struct err *e);

/* Merge: the rows that follow belong to the next --to contact. */
void route_segment_end(struct route *rt);

/* Write every file out to its temporary file (none is in place yet). */
int route_finish(struct route *rt, struct err *e);
/* Then rename them all into place. */
int route_publish(struct route *rt, struct err *e);

/* Free; files not committed leave no trace. NULL is fine. */
void route_close(struct route *rt);

/* After route_finish: fn for every file, with its chat (NULL when merged). */
int route_each_file(const struct route *rt,
		    int (*fn)(void *ctx, struct sink *file, const char *chat), void *ctx);

size_t route_files(const struct route *rt);
unsigned long long route_bytes_out(const struct route *rt);
unsigned long long route_bytes_made(const struct route *rt);

#endif
