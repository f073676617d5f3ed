/*
 * record: one message of a page, as spans into the page body (zero-copy),
 * and the labels SPEC §4.3 gives its codes. Filled by page_record; read by
 * the writers, which need nothing else: a compound value (object or array)
 * is its raw span, re-emitted with text_json_compact. Nothing here owns
 * memory: a record is valid until the page it came from is reset.
 */
#ifndef WAEXPORT_RECORD_H
#define WAEXPORT_RECORD_H

#include <stddef.h>

/* The messages of one full page of getHistory (SPEC §1): fewer end the history. */
#define API_PAGE_SIZE 50

enum field_kind {
	FIELD_ABSENT = 0, /* key missing, or JSON null */
	FIELD_STRING,     /* span is the raw string body, escapes undecoded */
	FIELD_NUMBER,     /* span is a valid JSON number */
	FIELD_BOOL,       /* span is true or false */
	FIELD_COMPOUND,   /* span is a whole object or array */
};

struct field {
	const char *p;
	size_t len;
	enum field_kind kind;
};

/* The keys SPEC §1 names, in the order the API documents them. */
enum record_key {
	REC_UNIQUE,
	REC_TIMESTAMP,
	REC_DIRECTION,
	REC_FROM,
	REC_TO,
	REC_TYPE,
	REC_STATE,
	REC_MESSAGE,
	REC_REASON,
	REC_NKEYS
};

/* The longest key name (timestamp, direction), and its longest escaped form (six bytes a letter). */
#define RECORD_KEY_MAX 9
#define RECORD_KEY_ESCAPED_MAX (6 * RECORD_KEY_MAX)

/* A field the SPEC does not name, carried through after the known keys. */
struct extra {
	struct field key;
	struct field value;
};

struct record {
	struct field f[REC_NKEYS];
	const struct extra *extra; /* owned by the page */
	size_t offset;             /* byte offset of the object in its body */
	/* The codes, parsed once with record_int, ts with record_epoch (valid when *_ok). */
	long long ts, dir, state;
	unsigned n_extra;
	unsigned char ts_ok, dir_ok, state_ok;
	unsigned char dup_keys; /* repeated keys dropped (the first copy kept), at most 255 */
};

/* Map a key name (raw, as in the body) to its record_key, or -1. */
int record_key_of(const char *name, size_t len);
const char *record_key_name(enum record_key k);

/*
 * Whether r has a unique that names it: present, not null, not "". A message
 * without one is written (with a warning) but never de-duplicated, matched
 * against a checkpoint's head or a journal, or remembered as either.
 */
static inline int record_has_unique(const struct record *r)
{
	return r->f[REC_UNIQUE].kind != FIELD_ABSENT && r->f[REC_UNIQUE].len;
}

/*
 * Integer value of a field that is a JSON integer or a string of decimal
 * digits (optional '-'), within 64 bits, or a number in either form whose
 * value is whole (2.0, 1.5e9). 0 on success, -1 otherwise.
 */
int record_int(const struct field *f, long long *out);

/*
 * The same for a timestamp, which may also carry a fraction of a second
 * (1614198777.5, as a number or a string): the second it lies in, the
 * whole number at or below it (SPEC §1: epoch seconds, a number accepted).
 */
int record_epoch(const struct field *f, long long *out);

/*
 * A message's unique as warnings show it: decoded as the file has it (so it
 * can be searched for there), made printable (printable.h), at most size - 1
 * bytes; "(no unique)" when absent. Returns out.
 */
const char *record_unique_shown(const struct field *u, char *out, size_t size);

/* SPEC §4.3 labels: the one table of codes and their meaning. */
#define DIRECTION_INCOMING 1
#define DIRECTION_OUTGOING 2
const char *record_direction_label(int known, long long code);
/* NULL for incoming messages (the state label stays empty for them). */
const char *record_state_label(int direction_known, long long direction, int state_known,
			       long long state);

#endif
