#include "tz.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Years 1..9999, the range ISO 8601 writes without extension. */
#define T_MIN (-62135596800LL)
#define T_MAX 253402300799LL

struct tz {
	int utc;
	long long hour; /* cached hour bucket (t / 3600), or LLONG_MIN */
	long offset;    /* offset valid for the whole cached hour */
	long long day;  /* cached local day (days since 1970), or LLONG_MIN */
	char date[10];  /* its "YYYY-MM-DD" */
};

/* Where glibc looks for zone files. */
static const char *zone_dir(void)
{
	const char *dir = getenv("TZDIR");

	return dir && *dir ? dir : "/usr/share/zoneinfo";
}

/*
 * Files of the zone directory that are no IANA zone name: the host's zone
 * ("localtime": output would follow the host), glibc's rule file, and
 * the "right/" zones, whose clocks count leap seconds the API's epoch does
 * not (every time 27 s early). Odd spellings ("./x", "a//b") are refused too.
 */
static int iana_name(const char *name)
{
	return strcmp(name, "localtime") && strcmp(name, "posixrules") &&
	       strncmp(name, "right/", 6) && strncmp(name, "./", 2) && !strstr(name, "/./") &&
	       !strstr(name, "//");
}

static int zone_file_ok(const char *name)
{
	char path[PATH_MAX], magic[4];
	int fd, ok;

	if (!*name || name[0] == '/' || strstr(name, "..") || strlen(name) > 200 ||
	    !iana_name(name))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", zone_dir(), name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ok = read(fd, magic, 4) == 4 && !memcmp(magic, "TZif", 4);
	close(fd);
	return ok;
}

int tz_open(struct tz **out, const char *name, struct err *e)
{
	struct tz *z;
	int utc = !strcmp(name, "UTC") || !strcmp(name, "Etc/UTC") || !strcmp(name, "Z");

	if (!utc && !zone_file_ok(name)) {
		if (!zone_file_ok("UTC"))
			return err_set(e, ERR_USAGE,
				       "--tz '%s': no time zone database in %s (install the "
				       "tzdata package, or set TZDIR); --tz UTC needs none",
				       name, zone_dir());
		return err_set(e, ERR_USAGE,
			       "--tz '%s': unknown time zone; use an IANA name such as "
			       "Asia/Jerusalem or UTC (see %s)",
			       name, zone_dir());
	}
	z = calloc(1, sizeof(*z));
	if (!z)
		return err_nomem(e);
	z->utc = utc;
	z->hour = LLONG_MIN;
	z->day = LLONG_MIN;
	if (!utc) {
		/* A leading ':' makes glibc read the zone file, never a POSIX rule. */
		char tzvar[256];

		snprintf(tzvar, sizeof(tzvar), ":%s", name);
		if (setenv("TZ", tzvar, 1)) {
			free(z);
			return err_nomem(e);
		}
		tzset();
	}
	*out = z;
	return 0;
}

struct tz *tz_copy(const struct tz *z)
{
	struct tz *c = malloc(sizeof(*c));

	if (!c)
		return NULL;
	*c = *z;
	c->hour = LLONG_MIN;
	c->day = LLONG_MIN;
	return c;
}

void tz_free(struct tz *z)
{
	free(z);
}

static long offset_at(long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!localtime_r(&tt, &tm))
		return 0;
	return tm.tm_gmtoff;
}

long tz_offset(struct tz *z, long long t)
{
	long long hour;
	long a, b;

	if (z->utc)
		return 0;
	hour = t >= 0 ? t / 3600 : -((-t + 3599) / 3600);
	if (hour == z->hour)
		return z->offset;
	a = offset_at(hour * 3600);
	b = offset_at(hour * 3600 + 3599);
	if (a != b)
		return offset_at(t); /* a transition inside this hour: no caching */
	z->hour = hour;
	z->offset = a;
	return a;
}

/* Days since 1970-01-01 → civil date (H. Hinnant's algorithm, proleptic Gregorian). */
static void civil_from_days(long long days, long long *y, unsigned *m, unsigned *d)
{
	long long zd = days + 719468;
	long long era = (zd >= 0 ? zd : zd - 146096) / 146097;
	unsigned doe = (unsigned)(zd - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;

	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

static inline void put2(char *p, unsigned v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

size_t tz_format(struct tz *z, long long t, enum tz_style style, char *out)
{
	long off;
	long long local, days, secs, y;
	unsigned m, d;
	char *p = out;

	if (t < T_MIN || t > T_MAX)
		return 0;
	off = tz_offset(z, t);
	/*
	 * Local mean time (most zones before ~1900) has offsets with seconds,
	 * which RFC 3339, the JSON Schema's date-time, and loaders refuse: where
	 * the offset is written it is rounded to the minute and the wall time
	 * follows it, so the instant is still exact. The spreadsheet form writes
	 * no offset and keeps the true local time.
	 */
	if (off % 60 && style == TZ_ISO8601)
		off = (off >= 0 ? off + 30 : off - 30) / 60 * 60;
	local = t + off;
	days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	secs = local - days * 86400;
	if (days != z->day) {
		/* Messages come in time order: most share their day with the one before. */
		civil_from_days(days, &y, &m, &d);
		if (y < 1 || y > 9999)
			return 0;
		put2(z->date, (unsigned)(y / 100));
		put2(z->date + 2, (unsigned)(y % 100));
		z->date[4] = '-';
		put2(z->date + 5, m);
		z->date[7] = '-';
		put2(z->date + 8, d);
		z->day = days;
	}
	memcpy(p, z->date, 10);
	p[10] = style == TZ_SPREADSHEET ? ' ' : 'T';
	put2(p + 11, (unsigned)(secs / 3600));
	p[13] = ':';
	put2(p + 14, (unsigned)(secs / 60 % 60));
	p[16] = ':';
	put2(p + 17, (unsigned)(secs % 60));
	p += 19;
	if (style == TZ_SPREADSHEET)
		return (size_t)(p - out);
	if (off == 0) {
		*p++ = 'Z';
		return (size_t)(p - out);
	}
	*p++ = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	put2(p, (unsigned)(off / 3600));
	p[2] = ':';
	put2(p + 3, (unsigned)(off / 60 % 60));
	p += 5;
	return (size_t)(p - out);
}

int tz_date(struct tz *z, long long t, char out[11])
{
	char tmp[TZ_FORMAT_MAX];

	if (!tz_format(z, t, TZ_SPREADSHEET, tmp))
		return -1;
	memcpy(out, tmp, 10);
	out[10] = '\0';
	return 0;
}
