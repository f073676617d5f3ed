/*
 * What the CSV, NDJSON and xlsx writers share inside the writer stage; not part
 * of the stage's interface (writer.h).
 */
#ifndef WAEXPORT_WRITER_IMPL_H
#define WAEXPORT_WRITER_IMPL_H

#include "writer.h"

/* A record's computed values, worked out once per row. */
struct row {
	long long ts, dir, state;
	int ts_ok, dir_ok, state_ok;
	const char *dir_label;
	const char *state_label; /* NULL: empty (incoming message) */
	char time[TZ_FORMAT_MAX];
	size_t time_len; /* 0: no usable time */
};

struct writer_ops {
	int (*begin)(struct writer *w, struct buf *out);
	int (*row)(struct writer *w, const struct record *r, const struct row *row,
		   const char *media_file, struct buf *out);
};

/* An NDJSON key as the row writes it: '{' or ',' then "name": */
struct writer_key {
	char s[COLUMN_NAME_MAX + 5];
	size_t len;
};

struct writer {
	struct writer_opts opts;
	const struct writer_ops *ops;
	struct writer_key key[COL_COUNT]; /* NDJSON: the key of the i-th column written */
	struct warn *warn;
	struct buf scratch;
	struct buf json; /* a compound value, compacted (writer_compound) */
};

extern const struct writer_ops writer_csv_ops;
extern const struct writer_ops writer_ndjson_ops;
extern const struct writer_ops writer_xlsx_ops;

void writer_prepare(struct writer *w, const struct record *r, struct row *row);
/* The integer v that field f holds (record_int), as decimal digits. */
int writer_put_int(struct buf *out, const struct field *f, long long v);
/*
 * A compound field (object or array) as canonical compact JSON, in w->json:
 * valid until the next call. -1 on ENOMEM.
 */
int writer_compound(struct writer *w, const struct field *f, unsigned *bad);
void writer_warn(struct writer *w, const struct record *r, const char *what);
void writer_warn_bad_text(struct writer *w, const struct record *r, unsigned bad);

#endif
