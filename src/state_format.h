/*
 * state_format: the bytes of a --state file (SPEC §5.3), and the checkpoint
 * list they decode into. state.c owns the file (lock, links, atomic
 * replace); this module only turns bytes into checkpoints and back, so the
 * parser can be tested and fuzzed on plain memory.
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
#ifndef WAEXPORT_STATE_FORMAT_H
#define WAEXPORT_STATE_FORMAT_H

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

/*
 * Decode a whole file (data, len bytes) into out, which the caller frees with
 * state_cps_free even on failure. name is the file as the user named it, for
 * messages. ERR_DATA naming the file and saying what to do; ERR_SOFTWARE on
 * no memory.
 */
int state_format_parse(const char *data, size_t len, const char *name,
		       struct state_cps *out, struct err *e);

/* Append the version-2 encoding of l to out. -1 on no memory. */
int state_format_write(struct buf *out, const struct state_cps *l);

/* A new zeroed checkpoint at the end of l. -1 on no memory. */
int state_cps_add(struct state_cps *l, struct checkpoint **out);

/* The checkpoint for from/to (to NULL: the whole account), or NULL. */
struct checkpoint *state_cps_find(const struct state_cps *l, const char *from, const char *to);

/* Append a copy of u (NUL-terminated) to c's uniques. -1 on no memory. */
int state_cp_add_unique(struct checkpoint *c, const char *u);

/* Replace c's head by a copy of the first STATE_HEAD_MAX of head. -1 on no memory. */
int state_cp_set_head(struct checkpoint *c, const struct state_head *head, size_t nhead);

/* Free what c holds and zero it. */
void state_cp_free(struct checkpoint *c);

void state_cps_free(struct state_cps *l);

#endif
