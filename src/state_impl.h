/*
 * What the parts of the state module share; not part of its interface
 * (state.h). state.c answers the run; state_cps.c keeps the checkpoints in memory;
 * state_file.c is the file-system side (links, lock, reading, atomic
 * replace, never through a link: SPEC §5.6); state_format.c turns bytes into
 * checkpoints and back, on plain memory, so the parser can be tested and
 * fuzzed without files.
 *
 * Version 2, written since issue 13, checks itself:
 *     waexport-state 2
 *     FROM  TO|*  EPOCH  [UNIQUE...]        a checkpoint (TAB-separated)
 *     +  EPOCH|-  UNIQUE                    its head, one line per message,
 *                                           in API order (page 1 first)
 *     crc32 XXXXXXXX BYTES                  of every byte before this line
 * TO and the uniques are server bytes, escaped so that no byte can break a
 * line or a field: a backslash is written "\\", a byte below 0x20 or 0x7f
 * as "\xHH" (lowercase hex), and a TO that is literally "*" as "\x2a". The
 * last line carries the CRC-32 (zlib's) of everything before it and that
 * byte count, so a file that was cut (at any byte), extended or edited is
 * recognised and refused. CRC-32 guards against accidents (a truncated copy,
 * a full disk, a hand edit), not against someone who forges a matching line
 * on purpose: whoever can write the state file can also write a valid one.
 *
 * Version 1 (still read, rewritten as 2 on the next commit) had no head, no
 * escaping and no end marker:
 *     waexport-state 1
 *     FROM  TO|*  EPOCH  UNIQUE [UNIQUE...]
 * Its uniques were written raw, so one holding a TAB read back as two, and a
 * cut at a line end or inside the last field read as a valid smaller file.
 */
#ifndef WAEXPORT_STATE_IMPL_H
#define WAEXPORT_STATE_IMPL_H

#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "state.h"

/* A file larger than this is not a state file (ERR_DATA before it is read whole). */
#define STATE_FORMAT_MAX_BYTES (256u << 20)

/* The checkpoints of one state, in file order. Zero-initialised is empty. */
struct state_cps {
	struct checkpoint *cp;
	size_t n, cap;
};

/* ---- state_cps.c: the checkpoints in memory */

/* A new zeroed checkpoint at the end of l. -1 on no memory. */
int state_cps_add(struct state_cps *l, struct checkpoint **out);

/* The checkpoint for from/to (to NULL: the whole account), or NULL. */
struct checkpoint *state_cps_find(const struct state_cps *l, const char *from, const char *to);

/* len bytes of s, NUL-terminated, malloc'd; NULL on no memory. */
char *state_copy_bytes(const char *s, size_t len);

/* Append a copy of u (len bytes) to c's uniques. -1 on no memory. */
int state_cp_add_unique(struct checkpoint *c, const char *u, size_t len);

/* Append one message to c's head (the caller keeps nhead < STATE_HEAD_MAX). -1 on no memory. */
int state_cp_add_head(struct checkpoint *c, const char *u, size_t len, long long ts, int ts_ok);

/* Free what c holds and zero it (c itself stays in its list). */
void state_cp_free(struct checkpoint *c);
void state_cps_free(struct state_cps *l);

/* ---- state_format.c: the bytes */

/*
 * Decode a whole file (data, len bytes) into out, which the caller frees with
 * state_cps_free even on failure. name is the file as the user named it, for
 * messages. ERR_DATA naming the file and saying what to do; ERR_SOFTWARE on
 * no memory.
 */
int state_format_parse(const char *data, size_t len, const char *name, struct state_cps *out,
		       struct err *e);

/* Append the version-2 encoding of l to out. -1 on no memory. */
int state_format_write(struct buf *out, const struct state_cps *l);

/* ---- state_file.c: the file system. path is the user's name, for messages. */

/* The file path names after following symlinks (it need not exist yet); *real malloc'd. */
int state_file_resolve(const char *path, char **real, struct err *e);

/* Create and flock REAL.lock, never through a link; *fd stays open while locked. */
int state_file_lock(const char *path, const char *real, int *fd, struct err *e);

/* The whole of real into data; a missing file leaves data empty and sets *missing. */
int state_file_read(const char *path, const char *real, struct buf *data, int *missing,
		    struct err *e);

#endif
