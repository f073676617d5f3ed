/*
 * flush: a temporary output made durable as it grows, not all at the end.
 *
 * The final fsync of an output (SPEC §4.4) waits for every byte the disk
 * has not been told to keep. So as the file grows, every FLUSH_STEP bytes:
 * writeback of the new bytes is started (sync_file_range), and an fdatasync
 * is asked for through the kernel's asynchronous I/O (IOCB_CMD_FDSYNC, Linux
 * 4.18 and later), because on a virtual disk only a flush makes the host
 * keep what was written back. The kernel runs it on its own workers while we
 * go on writing; no thread of ours waits for it, and at most one is
 * outstanding. Best effort: where the kernel has no AIO, or refuses it for
 * this file, the final fsync does it all, as it would without this module.
 *
 * A flush owns its AIO context. A failed flush is not dropped: flush_wait
 * returns its errno before the final fsync, which may no longer see it.
 */
#ifndef WAEXPORT_FLUSH_H
#define WAEXPORT_FLUSH_H

#include <linux/aio_abi.h>

/* Bytes written between two writebacks and flushes. */
#define FLUSH_STEP (8ull << 20)

struct flush {
	int on; /* flush_open was called */
	int fd;
	unsigned long long synced; /* writeback started up to here */
	aio_context_t ctx;         /* 0: no asynchronous flushes */
	struct iocb cb;
	int pending; /* a flush was submitted and not yet reaped */
	int errnum;  /* the first failed flush's errno */
};

/* Start following fd, a regular file being written from its start. */
void flush_open(struct flush *f, int fd);

/* The file now holds size bytes: start writeback and a flush every FLUSH_STEP. */
void flush_grown(struct flush *f, unsigned long long size);

/* Wait for the flush still running: 0, or the errno of one that failed. */
int flush_wait(struct flush *f);

/* Release the context (waits for a flush still running). Harmless twice. */
void flush_close(struct flush *f);

#endif
