#include "contact.h"

#include <string.h>

static int all_digits(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s);

	return n >= lo && n <= hi && strspn(s, "0123456789") == n;
}

/*
 * --from and --to take international numbers: the API knows 972501234567,
 * never the local 0501234567 or +972501234567, and answers such a number with
 * an empty history (exit 0, no messages), so it is refused here with the form
 * expected. The example assumes Israel, the API's home.
 */
int contact_check_international(const char *opt, const char *s, struct err *e)
{
	if (s[0] == '+' && all_digits(s + 1, 8, 15))
		return err_set(e, ERR_USAGE, "--%s '%s': write the number without '+': %s", opt, s,
			       s + 1);
	/* 00 is the international dialling prefix: what follows is the number already. */
	if (!strncmp(s, "00", 2) && s[2] != '0' && all_digits(s + 2, 8, 15))
		return err_set(e, ERR_USAGE,
			       "--%s '%s': write the number without the dialling prefix 00: %s",
			       opt, s, s + 2);
	if (s[0] == '0' && all_digits(s, 2, 20)) {
		size_t zeros = strspn(s, "0");

		return err_set(e, ERR_USAGE,
			       "--%s '%s' is a local-format number; the API expects "
			       "the international form: digits, no leading 0, no '+' (in Israel: "
			       "972%s)",
			       opt, s, s + zeros);
	}
	return 0;
}

/* A contact: digits, or a hidden-number id such as IL.1605856887361213. */
int contact_is_valid(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return all_digits(s, 5, 20);
	if (dot - s < 1 || dot - s > 8)
		return 0;
	for (const char *p = s; p < dot; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return 0;
	return all_digits(dot + 1, 1, 40);
}

int contact_is_account(const char *s)
{
	return all_digits(s, 8, 15);
}
