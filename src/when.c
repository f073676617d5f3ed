#include "when.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int when_duration(const char *opt, const char *s, long long *out, struct err *e)
{
	long long total = 0;
	const char *p = s;

	if (!strcmp(s, "0")) {
		*out = 0;
		return 0;
	}
	if (!*p)
		goto bad;
	while (*p) {
		long long n = 0, unit;

		if (!isdigit((unsigned char)*p))
			goto bad;
		while (isdigit((unsigned char)*p)) {
			if (n > 100000000)
				goto bad;
			n = n * 10 + (*p++ - '0');
		}
		switch (*p++) {
		case 's': unit = 1; break;
		case 'm': unit = 60; break;
		case 'h': unit = 3600; break;
		case 'd': unit = 86400; break;
		case 'w': unit = 7 * 86400; break;
		default: goto bad;
		}
		total += n * unit;
	}
	*out = total;
	return 0;
bad:
	return err_set(e, ERR_USAGE, "%s '%s': expected a duration such as 90s, 45m, 36h, 7d or 2w",
		       opt, s);
}

/* Days from 1970-01-01 to y-m-d (H. Hinnant's days_from_civil). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

/*
 * How far from a wall time the offsets before and after a change are looked
 * up: more than the largest change plus offset (Apia's 24 h jump at -10 h:
 * 38 h), less than half the shortest time between two changes (Freetown
 * 1939: 3.99 days).
 */
#define CHANGE_REACH (40 * 3600)

/*
 * Local wall time in zone z → epoch. Around a change of offset a wall time
 * may happen twice (the clock goes back: the first is taken) or never (it
 * goes forward: the time is read with the offset before the change, so
 * midnight of a day that starts at 01:00 is that 01:00). This is Python's
 * fold=0, in every zone alike.
 */
static long long from_local(struct tz *z, long long local)
{
	long before = tz_offset(z, local - CHANGE_REACH),
	     after = tz_offset(z, local + CHANGE_REACH);
	long long early = local - before, late = local - after;
	int early_ok = early + tz_offset(z, early) == local,
	    late_ok = late + tz_offset(z, late) == local;

	if (early_ok && late_ok)
		return early < late ? early : late;
	if (late_ok)
		return late;
	return early;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

/* Exactly n digits at s (sscanf's %2d would take " 5" and "-1"): 1 and their value. */
static int fixed_digits(const char *s, int n, int *out)
{
	*out = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		*out = *out * 10 + (s[i] - '0');
	}
	return 1;
}

static int all_digits(const char *s)
{
	return *s && strspn(s, "0123456789") == strlen(s);
}

/* The longest epoch accepted: 11 digits reach the year 5138. */
#define EPOCH_DIGITS_MAX 11

/*
 * Digits only: epoch seconds, of any length up to EPOCH_DIGITS_MAX, except
 * eight digits that read as a date (20240501): far likelier a date typed
 * without its dashes than a time in August 1970, so that is refused with
 * the form that works.
 */
static int epoch_seconds(const char *opt, const char *s, long long *out, struct err *e)
{
	size_t len = strlen(s);
	int y, mo, d;

	if (len > EPOCH_DIGITS_MAX)
		return err_set(e, ERR_USAGE, "%s '%s': more digits than epoch seconds have", opt,
			       s);
	if (len == 8 && sscanf(s, "%4d%2d%2d", &y, &mo, &d) == 3 && y >= 1900 && y <= 2199 &&
	    mo >= 1 && mo <= 12 && d >= 1 && d <= days_in_month(y, mo))
		return err_set(e, ERR_USAGE,
			       "%s '%s': a date is written %04d-%02d-%02d (digits alone are "
			       "epoch seconds)",
			       opt, s, y, mo, d);
	*out = 0;
	for (const char *p = s; *p; p++)
		*out = *out * 10 + (*p - '0');
	return 0;
}

int when_parse(const char *opt, const char *s, struct tz *z, long long now, long long *out,
	       struct err *e)
{
	int y, mo, d, h = 0, mi = 0, sec = 0, oh = 0, om = 0, round_up = 0;
	char sign = 0;
	long long local;
	const char *rest;

	if (all_digits(s))
		return epoch_seconds(opt, s, out, e);
	if (isdigit((unsigned char)s[0]) && strchr("smhdw", s[strlen(s) - 1]) && !strchr(s, '-')) {
		long long back = 0;

		if (when_duration(opt, s, &back, e))
			return -1;
		*out = now - back;
		return 0;
	}
	if (!fixed_digits(s, 4, &y) || s[4] != '-' || !fixed_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !fixed_digits(s + 8, 2, &d))
		goto bad;
	rest = s + 10;
	if (*rest == 'T' || *rest == ' ') {
		if (!fixed_digits(rest + 1, 2, &h) || rest[3] != ':' ||
		    !fixed_digits(rest + 4, 2, &mi))
			goto bad;
		rest += 6;
		if (*rest == ':') {
			if (!fixed_digits(rest + 1, 2, &sec))
				goto bad;
			rest += 3;
			/* A fraction: messages are whole seconds, so [since, until) starts at the next one. */
			if (*rest == '.' && isdigit((unsigned char)rest[1])) {
				int frac = 0;

				for (rest++; isdigit((unsigned char)*rest); rest++)
					frac |= *rest != '0';
				round_up = frac;
			}
		}
		if (*rest == 'Z') {
			sign = 'Z';
			rest++;
		} else if (*rest == '+' || *rest == '-') {
			sign = *rest;
			if (!fixed_digits(rest + 1, 2, &oh) || rest[3] != ':' ||
			    !fixed_digits(rest + 4, 2, &om))
				goto bad;
			rest += 6;
		}
	}
	if (*rest || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 60 || oh > 14 || om > 59)
		goto bad;
	local = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec +
		round_up;
	if (sign == 'Z')
		*out = local;
	else if (sign)
		*out = local - (sign == '+' ? 1 : -1) * (oh * 3600 + om * 60);
	else
		*out = from_local(z, local);
	return 0;
bad:
	return err_set(e, ERR_USAGE,
		       "%s '%s': expected YYYY-MM-DD, an ISO 8601 time such as "
		       "2024-05-01T08:00:00+03:00, epoch seconds, or a duration such as 36h or 7d",
		       opt, s);
}
