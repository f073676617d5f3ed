/*
 * key: the API key, from --api-key-file or $WAEXPORT_API_KEY (never an
 * option: SPEC §2). The key lives in one buffer the caller wipes and frees.
 */
#ifndef WAEXPORT_KEY_H
#define WAEXPORT_KEY_H

#include "buf.h"
#include "err.h"
#include "warn.h"

/* Read the key into key (NUL-terminated). ERR_USAGE when there is none or it is malformed. */
int key_load(const char *file, struct warn *warn, struct buf *key, struct err *e);

/* Wipe and free. */
void key_wipe(struct buf *key);

#endif
