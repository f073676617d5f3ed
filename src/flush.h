/*
 * flush: a temporary output made durable as it grows, not all at the end.
 *
 * The final fsync of an output (SPEC §4.4) waits for every byte the disk
 * has not been told to keep. So as the file grows, every FLUSH_STEP bytes:
 * writeback of the new bytes is started (sync_file_range), and an fdatasync
 * runs on a worker of its own (a one-worker pool, pool.h), because on a
 * virtual disk only a flush makes the host keep what was written back. The
 * writer goes on meanwhile; at most one fdatasync is outstanding, and the
 * worker is made when the file first reaches FLUSH_STEP, so small outputs
 * (one per chat with {chat}) never start a thread. Best effort: where the
 * file refuses fdatasync (EINVAL) or no thread can be made, the final fsync
 * does it all, as it would without this module.
 *
 * (The kernel's own AIO fdsync would do it without a thread, but releasing
 * its context waits for an RCU grace period at the end of every large
 * output: docs/performance.md.)
 *
 * A flush owns its worker. A failed flush is not dropped: flush_wait
 * returns its errno before the final fsync, which may no longer see it.
 */
#ifndef WAEXPORT_FLUSH_H
#define WAEXPORT_FLUSH_H

/* Bytes written between two writebacks and flushes. */
#define FLUSH_STEP (8ull << 20)

struct pool;

/* One fdatasync, as the worker runs it. */
struct flush_job {
	int fd;
	int errnum; /* 0, or fdatasync's errno */
};

struct flush {
	int on; /* flush_open was called */
	int fd;
	unsigned long long synced; /* writeback started up to here */
	struct pool *pool;         /* the worker; NULL until the first step */
	struct flush_job job;
	int pending; /* job was submitted and not yet taken back */
	int refused; /* no more flushes: the file refuses them, or no thread */
	int errnum;  /* the first failed flush's errno */
};

/* Start following fd, a regular file being written from its start. */
void flush_open(struct flush *f, int fd);

/* The file now holds size bytes: start writeback and a flush every FLUSH_STEP. */
void flush_grown(struct flush *f, unsigned long long size);

/* Wait for the flush still running: 0, or the errno of one that failed. */
int flush_wait(struct flush *f);

/* Stop the worker (waits for a flush still running). Harmless twice. */
void flush_close(struct flush *f);

#endif
