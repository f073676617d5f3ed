/*
 * when: the times a user types for --since/--until (SPEC §2): a date
 * (YYYY-MM-DD, midnight in --tz), an ISO 8601 time (with Z or an offset;
 * without one it is read in --tz), epoch seconds, or a duration back from
 * now (90s, 45m, 36h, 7d, 2w).
 */
#ifndef WAEXPORT_WHEN_H
#define WAEXPORT_WHEN_H

#include "err.h"
#include "tz.h"

/* --since/--until as epoch seconds: messages in [since, until) are kept. */
struct when_window {
	int has_since, has_until;
	long long since, until;
};

/* Where a message at ts lies against w: before --since, within, or at or after --until. */
enum when_where { WHEN_BEFORE, WHEN_WITHIN, WHEN_AFTER };

static inline enum when_where when_where(const struct when_window *w, long long ts)
{
	if (w->has_since && ts < w->since)
		return WHEN_BEFORE;
	return w->has_until && ts >= w->until ? WHEN_AFTER : WHEN_WITHIN;
}

/* Parse s into epoch seconds. ERR_USAGE naming `opt` on a bad value. */
int when_parse(const char *opt, const char *s, struct tz *z, long long now, long long *out,
	       struct err *e);

/* Parse a duration ("7d", "36h", "0") into seconds. */
int when_duration(const char *opt, const char *s, long long *out, struct err *e);

#endif
