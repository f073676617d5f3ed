/*
 * options: the one table of the command line (SPEC §2), as curl's tool keeps
 * one row per option. A row says the option's long and short name, whether
 * it takes a value (and its name and range), which commands take it, and its
 * help text. The parser (cli.c), --help and the man page (usage.c) all read
 * this table, so they cannot disagree. The module also owns struct options,
 * the settings of one run that the parser fills from argv.
 */
#ifndef WAEXPORT_OPTIONS_H
#define WAEXPORT_OPTIONS_H

#include <stddef.h>

enum command { CMD_NONE, CMD_FETCH, CMD_CONVERT, CMD_SCHEMA, CMD_HELP, CMD_VERSION, CMD_MAN };

struct options {
	enum command cmd;
	enum command help_for; /* with CMD_HELP: which command's help */

	/* output (both commands) */
	const char *output; /* "-" for stdout */
	const char *format; /* NULL: from the output's extension */
	int gzip;           /* -1: from the extension */
	int gzip_level;
	const char *tz;
	int excel;
	int order_newest;
	const char *columns; /* NULL: all */
	int quiet;
	int progress; /* -1: when stderr is a TTY */
	int threads;  /* 0: the online CPUs, at most 8 (the run resolves it) */

	/* fetch */
	const char *from;
	const char **to; /* owned (the array, not the strings) */
	size_t nto;
	const char *url;
	const char *api_key_file;
	int concurrency;
	int retries;
	int timeout;
	const char *since, *until;
	long max_pages; /* 0: no limit */
	const char *save_raw;
	const char *cacert;
	const char *state;
	const char *lookback;
	const char *metrics_file;
	const char *media_dir;
	const char *manifest; /* --manifest PATH (fetch, convert) */
	int create_dirs;      /* --create-dirs: make missing directories (mode 0700) */
	const char *log_file; /* --log-file PATH: stderr's lines appended there too */
	char today[11];       /* what {date} names, fixed once at parse; "": --tz is bad */
	char *expanded[4];    /* the paths below -o whose placeholders were expanded (owned) */
	int paths_clash;      /* the parse stopped at two paths naming one file */

	/* schema */
	const char *dialect;
	const char *table; /* NULL: whatsapp_messages */

	/* convert */
	char **files; /* owned (the array, not the strings) */
	size_t nfiles;
};

/* What a row sets; also its index in options_table. */
enum options_id {
	OPT_OUTPUT,
	OPT_FORMAT,
	OPT_GZIP,
	OPT_GZIP_LEVEL,
	OPT_TZ,
	OPT_EXCEL,
	OPT_ORDER,
	OPT_COLUMNS,
	OPT_QUIET,
	OPT_PROGRESS,
	OPT_THREADS,
	OPT_FROM,
	OPT_TO,
	OPT_URL,
	OPT_API_KEY_FILE,
	OPT_CACERT,
	OPT_CONCURRENCY,
	OPT_RETRIES,
	OPT_TIMEOUT,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_MAX_PAGES,
	OPT_SAVE_RAW,
	OPT_STATE,
	OPT_LOOKBACK,
	OPT_METRICS_FILE,
	OPT_MEDIA_DIR,
	OPT_MANIFEST,
	OPT_CREATE_DIRS,
	OPT_LOG_FILE,
	OPT_DIALECT,
	OPT_TABLE,
	OPT_HELP,
	OPT_VERSION,
	OPT_HELP_MAN,
	OPT_API_KEY,
	OPT_COUNT
};

/* Which commands take an option: a set of these bits. */
#define OPTIONS_FETCH 1u
#define OPTIONS_CONVERT 2u
#define OPTIONS_BOTH (OPTIONS_FETCH | OPTIONS_CONVERT)
#define OPTIONS_SCHEMA 4u
#define OPTIONS_ALL (OPTIONS_BOTH | OPTIONS_SCHEMA)

enum options_kind {
	OPTIONS_FLAG,   /* no value */
	OPTIONS_TEXT,   /* a value, checked where it is used */
	OPTIONS_NUMBER, /* a whole number from lo to hi */
};

/* The sections of --help and of the man page, in their order. */
enum options_group {
	GROUP_FETCH,
	GROUP_NIGHTLY,
	GROUP_OUTPUT,
	GROUP_SCHEMA,
	GROUP_GENERAL,
	GROUP_COUNT
};

#define OPTIONS_REPEAT 1u /* may be given more than once (each value kept) */
#define OPTIONS_HIDDEN 2u /* parsed, but not in --help, the man page or suggestions */
#define OPTIONS_PATH 4u   /* the value names a file or directory: never empty */

struct options_row {
	enum options_id id;
	const char *name; /* the long name, without "--" */
	char letter;      /* the short name, or 0 */
	enum options_kind kind;
	unsigned commands; /* OPTIONS_FETCH | OPTIONS_CONVERT */
	unsigned flags;    /* OPTIONS_REPEAT | OPTIONS_HIDDEN | OPTIONS_PATH */
	enum options_group group;
	long lo, hi;        /* OPTIONS_NUMBER: the range */
	const char *arg;    /* the value's name in help ("PATH"), NULL for a flag */
	const char *help;   /* one phrase for --help, lower case, no final stop */
	const char *def;    /* the value a run takes without the option, parsed as if
			       given and shown after help as "(default …)"; NULL: none */
	const char *detail; /* more sentences for the man page, or NULL */
	const char *hint;   /* names people try instead ("timezone"): suggested, never accepted */
};

/* A command and the text of its help. */
struct options_command {
	enum command cmd;
	const char *name;
	unsigned bit;         /* OPTIONS_FETCH, OPTIONS_CONVERT or OPTIONS_SCHEMA */
	const char *usage;    /* the synopsis after "waexport " */
	const char *summary;  /* one line for the overview */
	const char *about;    /* the paragraph under the usage line */
	const char *examples; /* lines of examples, each ending in \n */
};

extern const struct options_row options_table[OPT_COUNT];
extern const struct options_command options_commands[];
extern const size_t options_ncommands;
extern const char *const options_group_title[GROUP_COUNT];

/* The row of a long name (exact match), or NULL. */
const struct options_row *options_find(const char *name, size_t len);
/* The row of a short name, or NULL. */
const struct options_row *options_find_letter(char letter);
/* The command of a name (exact), or NULL. */
const struct options_command *options_find_command(const char *name);
/* The command bit of cmd (0 for anything but fetch, convert and schema). */
unsigned options_command_bit(enum command cmd);
/* The name of the first command in bits ("fetch", "convert", "schema"), for messages. */
const char *options_bits_name(unsigned bits);
/* "fetch", "convert" or "schema" (for messages). */
const char *options_command_name(enum command cmd);

#endif
