/*
 * outpath: the -o template (SPEC §2, §4.5). Expands {from}, {to}, {date}, {chat}
 * with values made safe for a file name (nothing can climb out of the
 * target directory), and tells the format and compression a path implies.
 */
#ifndef WAEXPORT_OUTPATH_H
#define WAEXPORT_OUTPATH_H

#include <stddef.h>

#include "err.h"

struct outpath_vars {
	const char *from;   /* NULL: not available (convert) */
	const char *to;     /* NULL: whole account */
	const char *date;   /* YYYY-MM-DD */
	const char *chat;   /* one conversation's id */
	int keep_chat;      /* leave {chat} in place (expanded later, per chat) */
	int no_to;          /* {to} has no single value (several --to, one file) */
	const char *option; /* the option the template came from, for messages (NULL: -o) */
};

/* Expand tmpl into a new string (*out, caller frees). ERR_USAGE on a bad template. */
int outpath_expand(const char *tmpl, const struct outpath_vars *v, char **out, struct err *e);

/*
 * The files of every day and chat a template names for v (v->date and
 * v->chat ignored): *out is the template expanded with OUTPATH_ANY_DATE for
 * {date} and {chat} kept, for outpath_matches. Caller frees.
 */
#define OUTPATH_ANY_DATE "YYYY-MM-DD"
int outpath_family(const char *tmpl, const struct outpath_vars *v, char **out, struct err *e);

/* Whether name is one of family's files: OUTPATH_ANY_DATE any date, {chat} any chat. */
int outpath_matches(const char *family, const char *name);

/* Does the template use this placeholder (e.g. "{to}")? */
int outpath_uses(const char *tmpl, const char *placeholder);

enum outpath_format { OUTPATH_CSV, OUTPATH_NDJSON, OUTPATH_XLSX };

/* Format (enum outpath_format; format may be NULL) and gzip implied by a path's extension
 * (.csv .ndjson .jsonl .xlsx, + .gz, in any case; .xlsx.gz is for the caller to refuse). */
void outpath_infer(const char *path, int *format, int *gzip);

/* Does the file name end in an extension of a format written (.csv .ndjson .jsonl .xlsx, + .gz)? */
int outpath_known_extension(const char *path);

/*
 * Without --format, the output's extension names its format (SPEC §2): 0 when
 * it is one written (.csv .ndjson .jsonl, each optionally .gz; .xlsx) or when the
 * file name has none; -1 with ERR_USAGE naming the known ones otherwise
 * (`-o out.json` would get CSV inside). A placeholder as the extension
 * (`out.{date}`) is left alone.
 */
int outpath_check_extension(const char *path, struct err *e);

/* Copy value into out (size bytes) keeping [A-Za-z0-9._+-] and replacing
 * the rest with '_'; a value of only dots becomes '_'. */
void outpath_sanitize(const char *value, char *out, size_t size);

#endif
