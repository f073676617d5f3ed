#include "outpath.h"
#include "buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A character outpath_sanitize keeps. */
static int safe_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-' || c == '+';
}

void outpath_sanitize(const char *value, char *out, size_t size)
{
	size_t n = 0;
	int only_dots = 1;

	for (const char *p = value; *p && n + 1 < size; p++) {
		char c = *p;

		out[n++] = safe_char(c) ? c : '_';
		if (c != '.')
			only_dots = 0;
	}
	out[n] = '\0';
	if (!n || only_dots)
		snprintf(out, size, "_");
}

int outpath_family(const char *tmpl, const struct outpath_vars *v, char **out, struct err *e)
{
	struct outpath_vars any = *v;

	any.date = OUTPATH_ANY_DATE;
	any.chat = NULL;
	any.keep_chat = 1;
	return outpath_expand(tmpl, &any, out, e);
}

int outpath_matches(const char *family, const char *name)
{
	static const char date[] = OUTPATH_ANY_DATE, chat[] = "{chat}";

	if (!strncmp(family, date, sizeof(date) - 1)) {
		for (size_t i = 0; i < sizeof(date) - 1; i++)
			if (date[i] == '-' ? name[i] != '-' : !(name[i] >= '0' && name[i] <= '9'))
				return 0;
		return outpath_matches(family + sizeof(date) - 1, name + sizeof(date) - 1);
	}
	if (!strncmp(family, chat, sizeof(chat) - 1)) { /* one safe character or more */
		for (size_t i = 0; safe_char(name[i]); i++)
			if (outpath_matches(family + sizeof(chat) - 1, name + i + 1))
				return 1;
		return 0;
	}
	if (*family != *name)
		return 0;
	return !*family || outpath_matches(family + 1, name + 1);
}

int outpath_uses(const char *tmpl, const char *placeholder)
{
	return strstr(tmpl, placeholder) != NULL;
}

int outpath_expand(const char *tmpl, const struct outpath_vars *v, char **out, struct err *e)
{
	struct buf b = BUF_INIT;
	const char *p = tmpl, *opt = v->option ? v->option : "-o", *open = NULL;
	size_t n = 0;

	while (*p) {
		const char *close, *value = NULL;
		char safe[256];

		open = strchr(p, '{');
		if (!open) {
			if (buf_adds(&b, p))
				goto nomem;
			break;
		}
		if (buf_add(&b, p, (size_t)(open - p)))
			goto nomem;
		close = strchr(open, '}');
		n = close ? (size_t)(close - open + 1) : 0;
		if (n == 6 && !memcmp(open, "{from}", 6)) {
			if (!(value = v->from))
				goto only_fetch;
		} else if (n == 4 && !memcmp(open, "{to}", 4)) {
			value = v->to ? v->to : "all";
			if (!v->from)
				goto only_fetch;
			if (v->no_to)
				goto no_value;
		} else if (n == 6 && !memcmp(open, "{date}", 6)) {
			value = v->date;
		} else if (n == 6 && !memcmp(open, "{chat}", 6) && (v->keep_chat || v->chat)) {
			if (v->keep_chat) {
				if (buf_add(&b, open, n))
					goto nomem;
				p = open + n;
				continue;
			}
			value = v->chat;
		} else if (n == 6 && !memcmp(open, "{chat}", 6)) {
			goto no_value;
		} else {
			buf_free(&b);
			return err_set(e, ERR_USAGE,
				       "%s %s: unknown placeholder '%.*s'; the placeholders "
				       "are {from}, {to}, {chat} and {date}",
				       opt, tmpl, close ? (int)n : 1, open);
		}
		outpath_sanitize(value, safe, sizeof(safe));
		if (buf_adds(&b, safe))
			goto nomem;
		p = open + n;
	}
	if (buf_addc(&b, '\0'))
		goto nomem;
	*out = b.data;
	return 0;
only_fetch:
	buf_free(&b);
	return err_set(e, ERR_USAGE, "%s %s: %.*s is known only to fetch", opt, tmpl, (int)n, open);
no_value:
	buf_free(&b);
	return err_set(e, ERR_USAGE,
		       "%s %s: %.*s has no single value here (it names one file for the whole run)",
		       opt, tmpl, (int)n, open);
nomem:
	buf_free(&b);
	return err_nomem(e);
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && !strncasecmp(s + n - k, suffix, k);
}

void outpath_infer(const char *path, int *format, int *gzip)
{
	size_t n = strlen(path);

	*gzip = ends_with(path, n, ".gz");
	if (*gzip)
		n -= 3;
	if (format)
		*format = ends_with(path, n, ".ndjson") || ends_with(path, n, ".jsonl")
				  ? OUTPATH_NDJSON
			  : ends_with(path, n, ".xlsx") ? OUTPATH_XLSX
							: OUTPATH_CSV;
}

/* The name's length without a final .gz. */
static size_t without_gz(const char *name)
{
	size_t n = strlen(name);

	return n > 3 && ends_with(name, n, ".gz") ? n - 3 : n;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

int outpath_known_extension(const char *path)
{
	const char *name = base_name(path);
	size_t n = without_gz(name);

	return ends_with(name, n, ".csv") || ends_with(name, n, ".ndjson") ||
	       ends_with(name, n, ".jsonl") || ends_with(name, n, ".xlsx");
}

int outpath_check_extension(const char *path, struct err *e)
{
	const char *name = base_name(path), *dot;
	size_t n = without_gz(name);

	if (outpath_known_extension(path))
		return 0;
	dot = memrchr(name, '.', n);
	/* No extension (a leading dot only starts a hidden name): CSV, as documented. */
	if (!dot || dot == name || memchr(dot, '{', n - (size_t)(dot - name)))
		return 0;
	return err_set(
		e, ERR_USAGE,
		"-o %s: unknown extension '%.*s'; the formats written are "
		".csv, .ndjson and .jsonl, each optionally .gz, and .xlsx (or choose one with "
		"--format csv|ndjson|xlsx)",
		path, (int)(n - (size_t)(dot - name)), dot);
}
