#include "record.h"
#include "printable.h"
#include "text.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const key_names[REC_NKEYS] = {
	[REC_UNIQUE] = "unique",
	[REC_TIMESTAMP] = "timestamp",
	[REC_DIRECTION] = "direction",
	[REC_FROM] = "from",
	[REC_TO] = "to",
	[REC_TYPE] = "type",
	[REC_STATE] = "state",
	[REC_MESSAGE] = "message",
	[REC_REASON] = "reason",
};

int record_key_of(const char *name, size_t len)
{
	/* Dispatch on length then compare: this runs for every key of every message. */
	switch (len) {
	case 2: return !memcmp(name, "to", 2) ? REC_TO : -1;
	case 4:
		if (!memcmp(name, "from", 4))
			return REC_FROM;
		return !memcmp(name, "type", 4) ? REC_TYPE : -1;
	case 5: return !memcmp(name, "state", 5) ? REC_STATE : -1;
	case 6:
		if (!memcmp(name, "unique", 6))
			return REC_UNIQUE;
		return !memcmp(name, "reason", 6) ? REC_REASON : -1;
	case 7: return !memcmp(name, "message", 7) ? REC_MESSAGE : -1;
	case 9:
		if (!memcmp(name, "timestamp", 9))
			return REC_TIMESTAMP;
		return !memcmp(name, "direction", 9) ? REC_DIRECTION : -1;
	default: return -1;
	}
}

const char *record_key_name(enum record_key k)
{
	return key_names[k];
}

/*
 * A number with a fraction or an exponent (2.0, 1614198777.0 as PHP prints
 * a float, 1.5e9): its value, within 18 digits, when it is whole; when it
 * is not (1.5, 1e-3), the whole number below it if `floor` is set, -1
 * otherwise. -1 for anything that is not a number.
 */
static int real_number(const char *p, const char *end, int neg, int floor, long long *out)
{
	char digits[40]; /* room for trailing zeros; the value is held to 18 digits below */
	size_t nd = 0;
	long exp10 = 0, e = 0, held = (long)(end - p) + 100;
	int point = 0, any = 0, eneg = 0, cut = 0; /* cut: a digit not kept was not 0 */

	for (; p < end && ((*p >= '0' && *p <= '9') || *p == '.'); p++) {
		if (*p == '.') {
			/* JSON's grammar: digits on both sides of the point */
			if (point || !any || p + 1 == end || p[1] < '0' || p[1] > '9')
				return -1;
			point = 1;
			continue;
		}
		any = 1;
		if (*p == '0' && !nd) {
			exp10 -= point;
			continue; /* leading zeros */
		}
		if (nd == sizeof(digits)) {
			if (!point || !floor)
				return -1;
			cut |= *p != '0'; /* far past the point: it only decides the rounding */
			continue;
		}
		exp10 -= point;
		digits[nd++] = *p;
	}
	if (!any)
		return -1;
	if (p < end && (*p == 'e' || *p == 'E')) {
		if (++p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		if (p == end)
			return -1;
		/*
		 * Leading zeros can offset an exponent by no more than the text's
		 * length: past that the value is below 1 or far too large, and the
		 * exponent is held there (a long one costs no overflow).
		 */
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			if ((e = e * 10 + (*p - '0')) > held)
				e = held + 1;
		exp10 += eneg ? -e : e;
	}
	if (p != end)
		return -1;
	while (nd && digits[nd - 1] == '0') {
		nd--;
		exp10++;
	}
	if (!nd)
		exp10 = 0;
	if (exp10 < 0 || cut) {
		size_t drop = exp10 < 0 ? (size_t)-exp10 : 0;

		if (!floor)
			return -1;
		cut |= drop > 0; /* the last digit kept above is not 0 */
		nd = drop >= nd ? 0 : nd - drop;
		exp10 = 0;
	}
	if (nd + (size_t)exp10 > 18)
		return -1;
	*out = 0;
	for (size_t i = 0; i < nd; i++)
		*out = *out * 10 + (digits[i] - '0');
	for (long i = 0; i < exp10; i++)
		*out *= 10;
	if (neg)
		*out = -*out - cut; /* -1.5 lies in the second that starts at -2 */
	return 0;
}

static int field_number(const struct field *f, int floor, long long *out);

/*
 * A code or time sent as a string with escapes ("\u0031" is "1"): the string
 * decoded, then read as a number. Only reached once the plain digits failed,
 * so the usual message pays nothing for it.
 */
static int escaped_number(const struct field *f, int floor, long long *out)
{
	char small[TEXT_DECODE_MAX(64)], *buf = small;
	struct field text;
	unsigned bad = 0;
	int rc;

	if (f->len > 64 && !(buf = malloc(TEXT_DECODE_MAX(f->len))))
		return -1;
	/* Decoded, a number's text holds no escapes left to find. What decodes to
	 * other than digits (U+FFFD, a backslash) fails as any non-digit does. */
	text = (struct field){ buf, text_decode(buf, f->p, f->len, &bad), FIELD_NUMBER };
	rc = field_number(&text, floor, out);
	if (buf != small)
		free(buf);
	return rc;
}

/* Not plain digits: a real number, or a string with escapes decoded. */
static int other_number(const struct field *f, const char *end, int neg, int floor, long long *out)
{
	if (f->kind == FIELD_STRING && memchr(f->p, '\\', f->len))
		return escaped_number(f, floor, out);
	return real_number(f->p + neg, end, neg, floor, out);
}

/* record_int and record_epoch: `floor` takes a fraction off instead of refusing it. */
static int field_number(const struct field *f, int floor, long long *out)
{
	const char *p, *end;
	int neg = 0;
	unsigned long long v = 0, limit;

	if (f->kind != FIELD_STRING && f->kind != FIELD_NUMBER)
		return -1;
	p = f->p; /* an absent field has p == NULL: no arithmetic on it before this */
	end = p + f->len;
	if (p < end && *p == '-') {
		neg = 1;
		p++;
	}
	if (p == end)
		return -1;
	if (end - p <= 18) {
		/* Up to 18 digits cannot overflow: no check per digit (timestamps, codes). */
		for (; p < end; p++) {
			unsigned d = (unsigned)(*p - '0');

			if (d > 9)
				return other_number(f, end, neg, floor, out);
			v = v * 10 + d;
		}
		*out = neg ? -(long long)v : (long long)v;
		return 0;
	}
	limit = neg ? (unsigned long long)LLONG_MAX + 1 : (unsigned long long)LLONG_MAX;
	for (; p < end; p++) {
		unsigned d = (unsigned)(*p - '0');

		if (d > 9)
			return other_number(f, end, neg, floor, out);
		if (v > (limit - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = neg ? (long long)(0ULL - v) : (long long)v;
	return 0;
}

int record_int(const struct field *f, long long *out)
{
	return field_number(f, 0, out);
}

int record_epoch(const struct field *f, long long *out)
{
	return field_number(f, 1, out);
}

const char *record_direction_label(int known, long long code)
{
	if (known && code == DIRECTION_INCOMING)
		return "incoming";
	if (known && code == DIRECTION_OUTGOING)
		return "outgoing";
	return "unknown";
}

/*
 * SPEC §4.3. Codes 2 and 3 are inferred from the provider's
 * sent/delivered/read notifications, not documented: correct them here.
 */
static const char *const state_labels[] = {
	[0] = "failed",
	[1] = "sent",
	[2] = "delivered",
	[3] = "read",
};

const char *record_state_label(int direction_known, long long direction, int state_known,
			       long long state)
{
	if (direction_known && direction == DIRECTION_INCOMING)
		return NULL;
	if (state_known && state >= 0 &&
	    state < (long long)(sizeof(state_labels) / sizeof(state_labels[0])))
		return state_labels[state];
	return "unknown";
}

const char *record_unique_shown(const struct field *u, char *out, size_t size)
{
	/* The first 120 bytes as sent are more than a warning shows of it. */
	char decoded[TEXT_DECODE_MAX(120)];
	size_t n = 0, step;
	unsigned bad = 0;

	if (u->kind == FIELD_ABSENT) {
		snprintf(out, size, "(no unique)");
		return out;
	}
	/* Whole escapes only (a surrogate pair is two): a cut one would show as U+FFFD. */
	for (; n < u->len; n += step) {
		step = u->p[n] != '\\' || n + 1 == u->len ? 1 : u->p[n + 1] != 'u' ? 2 : 6;
		if (step == 6 && n + 12 <= u->len && (u->p[n + 2] | 0x20) == 'd' &&
		    memchr("89abAB", u->p[n + 3], 6))
			step = 12;
		if (n + step > 120)
			break;
	}
	if (n > u->len)
		n = u->len;
	if (u->kind == FIELD_STRING)
		n = text_decode(decoded, u->p, n, &bad);
	else
		memcpy(decoded, u->p, n);
	printable(out, size, decoded, n);
	return out;
}
