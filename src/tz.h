/*
 * tz: decoded time in an IANA zone (SPEC §4.1 `time`, §4.2 --excel form).
 *
 * glibc's localtime_r gives the zone's offset with DST right; calling it per
 * message is slow, so the offset is cached per hour (no zone changes its
 * offset twice within an hour) and the calendar fields are computed here.
 * One zone per process: tz_open sets TZ for the process. A struct tz holds
 * its caches, so each thread formats with its own (tz_copy).
 */
#ifndef WAEXPORT_TZ_H
#define WAEXPORT_TZ_H

#include <stddef.h>

#include "err.h"

struct tz;

/* Room for the longest string tz_format writes ("9999-12-31T23:59:59+14:00"), with a margin. */
#define TZ_FORMAT_MAX 40

/* Open zone `name` ("UTC" or an IANA name under the zoneinfo directory). */
int tz_open(struct tz **out, const char *name, struct err *e);
/* The same zone with caches of its own, for another thread. NULL on ENOMEM. */
struct tz *tz_copy(const struct tz *z);
void tz_free(struct tz *z);

enum tz_style { TZ_ISO8601, TZ_SPREADSHEET };

/*
 * Write the time of epoch second t in the zone: ISO 8601 with offset
 * (2021-02-24T22:32:57+02:00, or ...Z at offset 0; an offset with seconds,
 * before ~1900, rounded to the minute) or, for spreadsheets,
 * "2021-02-24 22:32:57". Returns the length, or 0 when t is outside years
 * 1..9999 (the caller leaves the cell empty and warns).
 */
size_t tz_format(struct tz *z, long long t, enum tz_style style, char *out);

/* The local date of t as YYYY-MM-DD into out[11]; 0 on success. */
int tz_date(struct tz *z, long long t, char out[11]);

/* Offset from UTC in seconds at t (east positive). */
long tz_offset(struct tz *z, long long t);

#endif
