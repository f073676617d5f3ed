#include "usage.h"
#include "writer.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define HELP_WIDTH 79
#define HELP_INDENT 26 /* where the help phrases start */

static const char overview[] =
	"Export the WhatsApp chat history kept by the 99digital WhatsApp API to CSV,\n"
	"NDJSON or gzip files, with decoded times and readable labels.\n";

static const char key_note[] =
	"The API key comes from $WAEXPORT_API_KEY or --api-key-file, never the command line.\n";

static int add_spaces(struct buf *out, size_t n)
{
	while (n--)
		if (buf_addc(out, ' '))
			return -1;
	return 0;
}

/* Words of text from column col on, wrapped at HELP_WIDTH under indent. */
static int add_wrapped(struct buf *out, const char *text, size_t col, size_t indent)
{
	const char *p = text;

	while (*p) {
		size_t word = strcspn(p, " ");

		if (col > indent && col + 1 + word > HELP_WIDTH) {
			if (buf_addc(out, '\n') || add_spaces(out, indent))
				return -1;
			col = indent;
		} else if (col > indent) {
			if (buf_addc(out, ' '))
				return -1;
			col++;
		}
		if (buf_add(out, p, word))
			return -1;
		col += word;
		p += word;
		p += strspn(p, " ");
	}
	return buf_addc(out, '\n');
}

/* The row's help phrase, with its default when it has one (buf: room for it). */
static const char *help_of(const struct options_row *r, char *buf, size_t size)
{
	if (!r->def)
		return r->help;
	snprintf(buf, size, "%s (default %s)", r->help, r->def);
	return buf;
}

/* "  -o, --output PATH       output file, ..." */
static int add_row(struct buf *out, const struct options_row *r)
{
	char left[64];
	int n = snprintf(left, sizeof(left), "  %c%c%s--%s%s%s", r->letter ? '-' : ' ',
			 r->letter ? r->letter : ' ', r->letter ? ", " : "  ", r->name,
			 r->arg ? " " : "", r->arg ? r->arg : "");
	size_t len = n > 0 ? (size_t)n : 0;

	if (buf_adds(out, left))
		return -1;
	if (len + 1 > HELP_INDENT) {
		if (buf_addc(out, '\n'))
			return -1;
		len = 0;
	}
	if (add_spaces(out, HELP_INDENT - len))
		return -1;
	char help[512];

	return add_wrapped(out, help_of(r, help, sizeof(help)), HELP_INDENT, HELP_INDENT);
}

static int shown(const struct options_row *r, unsigned bit)
{
	return !(r->flags & OPTIONS_HIDDEN) && (r->commands & bit);
}

/* One section: its title, then its rows that the commands in bit take. */
static int add_group(struct buf *out, enum options_group g, unsigned bit)
{
	unsigned only = OPTIONS_ALL;
	int any = 0;

	for (size_t i = 0; i < OPT_COUNT; i++) {
		const struct options_row *r = &options_table[i];

		if (r->group == g && shown(r, bit)) {
			any = 1;
			only &= r->commands;
		}
	}
	if (!any)
		return 0;
	/* In the overview, a section that one command alone takes says so. */
	if (buf_adds(out, "\n") || buf_adds(out, options_group_title[g]))
		return -1;
	if (bit == OPTIONS_ALL && (only == OPTIONS_FETCH || only == OPTIONS_SCHEMA) &&
	    (buf_adds(out, " (") || buf_adds(out, options_bits_name(only)) ||
	     buf_adds(out, " only)")))
		return -1;
	if (buf_adds(out, ":\n"))
		return -1;
	for (size_t i = 0; i < OPT_COUNT; i++)
		if (options_table[i].group == g && shown(&options_table[i], bit) &&
		    add_row(out, &options_table[i]))
			return -1;
	return 0;
}

/* The names --columns takes, from the writer's table of SPEC §4.1. */
static int add_columns(struct buf *out)
{
	struct buf names = BUF_INIT;
	int rc = -1;

	for (int c = 0; c < COL_COUNT; c++)
		if (buf_adds(&names, writer_column_name((enum column)c)) || buf_addc(&names, ' '))
			goto out;
	if (buf_adds(&names, "(media_file with fetch --media-dir)") || buf_addc(&names, '\0'))
		goto out;
	if (buf_adds(out, "\nColumns (for --columns, in their default order):\n  "))
		goto out;
	rc = add_wrapped(out, names.data, 2, 2);
out:
	buf_free(&names);
	return rc;
}

static int add_overview(struct buf *out)
{
	if (buf_adds(out, "Usage:"))
		return -1;
	for (size_t i = 0; i < options_ncommands; i++)
		if (buf_adds(out, i ? "       waexport " : " waexport ") ||
		    buf_adds(out, options_commands[i].usage) || buf_addc(out, '\n'))
			return -1;
	if (buf_adds(out, "       waexport --help | --version\n\n") || buf_adds(out, overview) ||
	    buf_adds(out, "\nCommands:\n"))
		return -1;
	for (size_t i = 0; i < options_ncommands; i++) {
		char line[128];

		snprintf(line, sizeof(line), "  %-10s %s\n", options_commands[i].name,
			 options_commands[i].summary);
		if (buf_adds(out, line))
			return -1;
	}
	for (int g = 0; g < GROUP_COUNT; g++)
		if (add_group(out, (enum options_group)g, OPTIONS_ALL))
			return -1;
	if (add_columns(out))
		return -1;
	return buf_adds(out, "\n'waexport COMMAND --help' (fetch, convert, schema) shows one "
			     "command's options.\n") ||
	       buf_adds(out, key_note);
}

int usage_help(struct buf *out, enum command cmd)
{
	const struct options_command *c = NULL;

	for (size_t i = 0; i < options_ncommands; i++)
		if (options_commands[i].cmd == cmd)
			c = &options_commands[i];
	if (!c)
		return add_overview(out);
	if (buf_adds(out, "Usage: waexport ") || buf_adds(out, c->usage) || buf_adds(out, "\n\n") ||
	    buf_adds(out, c->about))
		return -1;
	for (int g = 0; g < GROUP_COUNT; g++)
		if (add_group(out, (enum options_group)g, c->bit))
			return -1;
	if (add_columns(out) || buf_adds(out, "\nExamples:\n") || buf_adds(out, c->examples))
		return -1;
	return cmd == CMD_FETCH ? buf_adds(out, "\n") || buf_adds(out, key_note) : 0;
}

void usage_list_commands(char *out, size_t size)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < options_ncommands && used < size; i++) {
		int w = snprintf(out + used, size - used, "%s%s",
				 i == 0                       ? ""
				 : i + 1 == options_ncommands ? " and "
							      : ", ",
				 options_commands[i].name);

		used += w > 0 ? (size_t)w : 0;
	}
}

void usage_list_letters(char *out, size_t size)
{
	size_t used = 0, n = 0, total = 0;

	for (size_t i = 0; i < OPT_COUNT; i++)
		total += options_table[i].letter != 0;
	out[0] = '\0';
	for (size_t i = 0; i < OPT_COUNT && used < size; i++) {
		int w;

		if (!options_table[i].letter)
			continue;
		w = snprintf(out + used, size - used, "%s-%c",
			     n == 0           ? ""
			     : n + 1 == total ? " and "
					      : ", ",
			     options_table[i].letter);
		used += w > 0 ? (size_t)w : 0;
		n++;
	}
}

/* ---------------------------------------------------------------- the man page */

/* text in roff: hyphens as \-, apostrophes as \(aq, backslashes as \e. */
static int add_roff(struct buf *out, const char *text, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *esc = text[i] == '-'    ? "\\-"
				  : text[i] == '\'' ? "\\(aq"
				  : text[i] == '\\' ? "\\e"
						    : NULL;

		if (esc ? buf_adds(out, esc) : buf_addc(out, text[i]))
			return -1;
	}
	return 0;
}

static int add_man_row(struct buf *out, const struct options_row *r)
{
	char buf[512];
	const char *help = help_of(r, buf, sizeof(buf));
	char first = (char)toupper((unsigned char)help[0]);

	if (buf_adds(out, ".TP\n"))
		return -1;
	if (r->letter &&
	    (buf_adds(out, "\\fB\\-") || buf_addc(out, r->letter) || buf_adds(out, "\\fR, ")))
		return -1;
	if (buf_adds(out, "\\fB\\-\\-") || add_roff(out, r->name, strlen(r->name)) ||
	    buf_adds(out, "\\fR"))
		return -1;
	if (r->arg && (buf_adds(out, " \\fI") || add_roff(out, r->arg, strlen(r->arg)) ||
		       buf_adds(out, "\\fR")))
		return -1;
	if (buf_addc(out, '\n') || buf_addc(out, first) ||
	    add_roff(out, help + 1, strlen(help + 1)) || buf_addc(out, '.'))
		return -1;
	if (r->detail && (buf_addc(out, ' ') || add_roff(out, r->detail, strlen(r->detail))))
		return -1;
	return buf_addc(out, '\n');
}

int usage_man(struct buf *out)
{
	if (buf_adds(out, USAGE_MAN_BEGIN "\n"))
		return -1;
	for (int g = 0; g < GROUP_COUNT; g++) {
		const char *title = options_group_title[g];

		if (buf_adds(out, ".SH "))
			return -1;
		for (const char *t = title; *t; t++)
			if (buf_addc(out, (char)toupper((unsigned char)*t)))
				return -1;
		if (buf_addc(out, '\n'))
			return -1;
		for (size_t i = 0; i < OPT_COUNT; i++)
			if (options_table[i].group == (enum options_group)g &&
			    shown(&options_table[i], OPTIONS_ALL) &&
			    add_man_row(out, &options_table[i]))
				return -1;
	}
	return buf_adds(out, USAGE_MAN_END "\n");
}
