/*
 * sink_impl.h: what sink.c (writing, finishing, publishing) and
 * sink_target.c (opening the target: its temporary file, and the bytes an
 * appended file carries) share: the struct behind struct sink. Nothing
 * outside sink.
 */
#ifndef WAEXPORT_SINK_IMPL_H
#define WAEXPORT_SINK_IMPL_H

#include "buf.h"
#include "carry.h"
#include "flush.h"
#include "gz.h"
#include "sink.h"

struct sink {
	int fd;
	int is_stdout;
	int in_place; /* writing the target itself (not a regular file) */
	int finished, committed;
	char *target;             /* final path */
	char *tmp;                /* temporary path, NULL when none */
	struct gz_member gz;      /* gzip: the member being written (gz.open set) */
	struct xlsx *x;           /* a workbook: everything goes there */
	const volatile int *stop; /* opts.stop */
	struct buf pend;          /* bytes on their way to fd */
	struct sink_figures fig;
	struct flush flush;     /* a temporary file made durable as it grows */
	struct digest *md;      /* opts.digest: what reaches the file, carried bytes first */
	char *given;            /* the path as given (the manifest's) */
	struct carry_want last; /* with carry_last (older_after): the target's bytes, after ours */
	int carry_last;
	enum column columns[COL_COUNT]; /* last.columns: opts.columns, which may not outlive open */
	int held; /* finished, not yet renamed: the temporary file's lock (fsutil.h), or -1 */
};

/* An I/O failure on the sink's file, in the user's words (ERR_IO; ENOMEM: ERR_NOMEM). */
int sink_io_error(struct sink *s, int errnum, const char *what, struct err *e);

/* The target of o opened: its temporary file made, an appended file's bytes checked or carried. */
int sink_open_target(struct sink *s, const struct sink_opts *o, struct err *e);

/* Append mode: a non-empty target's bytes carried over (to < 0: only checked). */
int sink_carry_target(struct sink *s, int to, struct err *e);

/* The manifest's digest as a carry_want fn: carried bytes are summed too. */
int sink_sum_bytes(void *md, const void *p, size_t n, struct err *e);

#endif
