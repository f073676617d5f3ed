#include "options.h"

#include <limits.h>
#include <string.h>

/*
 * One row per option. The help phrase is what `--help` shows (wrapped to the
 * terminal width by usage.c); the man page shows it as a sentence followed by
 * the detail. Defaults are stated here because this is the text people read.
 */
#define ROW(ident, nm, let, knd, cmds, grp) \
	.id = ident, .name = nm, .letter = let, .kind = knd, .commands = cmds, .group = grp

const struct options_row options_table[OPT_COUNT] = {
	[OPT_OUTPUT] = { ROW(OPT_OUTPUT, "output", 'o', OPTIONS_TEXT, OPTIONS_BOTH, GROUP_OUTPUT),
			 .flags = OPTIONS_PATH, .arg = "PATH",
			 .help = "output file, '-' for stdout (default); replaced only when the run succeeds. "
				 "{date} is YYYY-MM-DD in --tz, {chat} one file per conversation; with fetch "
				 "also {from}, and {to} for one file per --to. {from}, {to} and {date} "
				 "expand in the other paths too",
			 .detail =
				 "Values are sanitised so nothing can leave the target directory." },
	[OPT_FORMAT] = { ROW(OPT_FORMAT, "format", 0, OPTIONS_TEXT, OPTIONS_ALL, GROUP_OUTPUT),
			 .arg = "csv|ndjson|xlsx",
			 .help = "output format (default: from PATH's extension .csv .ndjson .jsonl, each "
				 "optionally .gz, or .xlsx; csv when PATH has no extension or is '-'; "
				 "schema describes csv or ndjson)",
			 .detail = "Any other extension without --format is a usage error." },
	[OPT_GZIP] = { ROW(OPT_GZIP, "gzip", 0, OPTIONS_FLAG, OPTIONS_BOTH, GROUP_OUTPUT),
		       .help = "gzip the output (on when PATH ends in .gz)" },
	[OPT_GZIP_LEVEL] = { ROW(OPT_GZIP_LEVEL, "gzip-level", 0, OPTIONS_NUMBER, OPTIONS_BOTH,
				 GROUP_OUTPUT),
			     .lo = 1, .hi = 9, .arg = "N",
			     .help = "gzip level 1-9 (default 6; implies --gzip)" },
	[OPT_TZ] = { ROW(OPT_TZ, "tz", 0, OPTIONS_TEXT, OPTIONS_BOTH, GROUP_OUTPUT), .arg = "ZONE",
		     .hint = "timezone time-zone zone",
		     .help = "IANA zone for the 'time' column, e.g. Asia/Jerusalem", .def = "UTC" },
	[OPT_EXCEL] = { ROW(OPT_EXCEL, "excel", 0, OPTIONS_FLAG, OPTIONS_BOTH, GROUP_OUTPUT),
			.help = "spreadsheet CSV: BOM, 'YYYY-MM-DD HH:MM:SS' times, formula-looking cells "
				"prefixed with '",
			.detail =
				"A cell is formula-looking when it starts with = + - @ TAB CR or LF." },
	[OPT_ORDER] = { ROW(OPT_ORDER, "order", 0, OPTIONS_TEXT, OPTIONS_BOTH, GROUP_OUTPUT),
			.arg = "oldest|newest", .help = "row order (default oldest: chronological)",
			.detail = "Memory stays flat either way." },
	[OPT_COLUMNS] = { ROW(OPT_COLUMNS, "columns", 0, OPTIONS_TEXT, OPTIONS_ALL, GROUP_OUTPUT),
			  .arg = "LIST",
			  .help = "columns to write, in this order, e.g. time,from,message "
				  "(media_file only with --media-dir)" },
	[OPT_QUIET] = { ROW(OPT_QUIET, "quiet", 'q', OPTIONS_FLAG, OPTIONS_BOTH, GROUP_OUTPUT),
			.help = "no warnings, no summary line on stderr (--log-file still gets them)" },
	[OPT_PROGRESS] = { ROW(OPT_PROGRESS, "progress", 0, OPTIONS_FLAG, OPTIONS_BOTH,
			       GROUP_OUTPUT),
			   .help = "show the live progress line even when not on a TTY",
			   .detail =
				   "The line shows pages, messages, rate, bytes written, how far back in time "
				   "the walk has come and the elapsed time; while a retry is waited for, why "
				   "and for how long (waiting 12 s: page 37 answered HTTP 429 (retry 2 of 5))." },
	[OPT_THREADS] = { ROW(OPT_THREADS, "threads", 0, OPTIONS_NUMBER, OPTIONS_BOTH,
			      GROUP_OUTPUT),
			  .lo = 1, .hi = 64, .arg = "N",
			  .help = "threads that parse, format and compress pages in parallel, the main "
				  "thread among them, 1-64 (default: the online CPUs, at most 8)",
			  .detail = "The output's order and bytes do not depend on N." },

	[OPT_FROM] = { ROW(OPT_FROM, "from", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_FETCH),
		       .arg = "NUMBER",
		       .help = "the account: 8-15 digits, international, no '+', no leading 0 "
			       "(e.g. 972501234567)",
		       .detail = "Required." },
	[OPT_TO] = { ROW(OPT_TO, "to", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_FETCH),
		     .flags = OPTIONS_REPEAT, .arg = "ID",
		     .help = "one contact (international digits, or a hidden-number id such as "
			     "IL.1605856887361213); repeatable; none = whole account" },
	[OPT_URL] = { ROW(OPT_URL, "url", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_FETCH),
		      .arg = "URL",
		      .help = "endpoint (default $WAEXPORT_URL, else the 99digital API)",
		      .detail =
			      "The 99digital API is https://api.99digital.co.il/whatsapp/v2/getHistory. "
			      "Plain http is allowed only to loopback hosts." },
	[OPT_API_KEY_FILE] = { ROW(OPT_API_KEY_FILE, "api-key-file", 0, OPTIONS_TEXT, OPTIONS_FETCH,
				   GROUP_FETCH),
			       .flags = OPTIONS_PATH, .arg = "PATH", .hint = "key-file keyfile",
			       .help = "file holding the API key (default $WAEXPORT_API_KEY)",
			       .detail =
				       "There is no option that takes the key itself: a key on the command line "
				       "is visible to every user through the process list." },
	[OPT_CACERT] = { ROW(OPT_CACERT, "cacert", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_FETCH),
			 .flags = OPTIONS_PATH, .arg = "FILE",
			 .help = "verify the server against this CA bundle instead of the system's" },
	[OPT_CONCURRENCY] = { ROW(OPT_CONCURRENCY, "concurrency", 0, OPTIONS_NUMBER, OPTIONS_FETCH,
				  GROUP_FETCH),
			      .lo = 1, .hi = 32, .arg = "N", .help = "pages in flight, 1-32",
			      .def = "4" },
	[OPT_RETRIES] = { ROW(OPT_RETRIES, "retries", 0, OPTIONS_NUMBER, OPTIONS_FETCH,
			      GROUP_FETCH),
			  .lo = 0, .hi = 100, .arg = "N",
			  .help = "retries per request after the first", .def = "5",
			  .detail =
				  "Timeouts, connection errors, truncated answers, HTTP 5xx and 429 are "
				  "retried with exponential backoff and jitter, honouring Retry-After up to "
				  "5 minutes." },
	[OPT_TIMEOUT] = { ROW(OPT_TIMEOUT, "timeout", 0, OPTIONS_NUMBER, OPTIONS_FETCH,
			      GROUP_FETCH),
			  .lo = 1, .hi = 3600, .arg = "S", .help = "seconds per request",
			  .def = "30",
			  .detail =
				  "A page request counts the time waexport reads the network: not "
				  "the time it spends writing what it was handed, nor a wait for "
				  "memory (the answers in flight share 128 MiB). A media download counts "
				  "every second." },
	[OPT_SINCE] = { ROW(OPT_SINCE, "since", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_FETCH),
			.arg = "T",
			.help = "keep messages at or after T: YYYY-MM-DD (midnight in --tz), ISO 8601, "
				"epoch seconds, or a duration back from now (36h, 7d)",
			.detail =
				"Paging stops once pages are older than --since. --since at or after "
				"--until is a usage error." },
	[OPT_UNTIL] = { ROW(OPT_UNTIL, "until", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_FETCH),
			.arg = "T", .help = "keep messages before T (same forms as --since)" },
	[OPT_MAX_PAGES] = { ROW(OPT_MAX_PAGES, "max-pages", 0, OPTIONS_NUMBER, OPTIONS_FETCH,
				GROUP_FETCH),
			    .lo = 1, .hi = LONG_MAX, .arg = "N", .help = "stop after N pages" },
	[OPT_SAVE_RAW] = { ROW(OPT_SAVE_RAW, "save-raw", 0, OPTIONS_TEXT, OPTIONS_FETCH,
			       GROUP_FETCH),
			   .flags = OPTIONS_PATH, .arg = "PATH",
			   .help = "also keep every raw page, one array per line (gzip when PATH ends in .gz); "
				   "'convert' reads it back",
			   .detail = "Placeholders as for --output." },

	[OPT_STATE] = { ROW(OPT_STATE, "state", 0, OPTIONS_TEXT, OPTIONS_FETCH, GROUP_NIGHTLY),
			.flags = OPTIONS_PATH, .arg = "PATH",
			.help = "checkpoint file: export only what is new since the last successful run "
				"(locked: a concurrent run exits 75)",
			.detail =
				"It is updated only after the output was committed, and locked (PATH.lock) "
				"for the whole run." },
	[OPT_LOOKBACK] = { ROW(OPT_LOOKBACK, "lookback", 0, OPTIONS_TEXT, OPTIONS_FETCH,
			       GROUP_NIGHTLY),
			   .arg = "DURATION",
			   .help = "with --state, also re-export this far behind the checkpoint to pick up "
				   "state changes (e.g. 2d; default 0)" },
	[OPT_METRICS_FILE] = { ROW(OPT_METRICS_FILE, "metrics-file", 0, OPTIONS_TEXT, OPTIONS_FETCH,
				   GROUP_NIGHTLY),
			       .flags = OPTIONS_PATH, .arg = "PATH",
			       .help = "write run metrics for node_exporter's textfile collector after every run, "
				       "success or failure",
			       .detail =
				       "The file is in the Prometheus text format and replaced atomically." },
	[OPT_MEDIA_DIR] = { ROW(OPT_MEDIA_DIR, "media-dir", 0, OPTIONS_TEXT,
				OPTIONS_FETCH | OPTIONS_SCHEMA, GROUP_NIGHTLY),
			    .flags = OPTIONS_PATH, .arg = "DIR",
			    .help = "download each media message's file into DIR as <unique>.<ext> before its "
				    "link expires (7 days); adds the media_file column",
			    .detail =
				    "Bytes other than letters, digits, _ - and . are written as %XX, so no "
				    "name leaves the directory; existing files are kept; at most 256 MiB a "
				    "file. A dead link is a warning." },
	[OPT_MANIFEST] = { ROW(OPT_MANIFEST, "manifest", 0, OPTIONS_TEXT, OPTIONS_BOTH,
			       GROUP_OUTPUT),
			   .flags = OPTIONS_PATH, .arg = "PATH",
			   .help = "after a successful run, write a JSON manifest of every file written (rows, "
				   "bytes, sha256, time range, chat) and the run's figures; placeholders as for -o",
			   .detail =
				   "It is written atomically with mode 0600 after the outputs are in place and "
				   "before --state moves; a failed run writes none and leaves the previous "
				   "one untouched." },
	[OPT_CREATE_DIRS] = { ROW(OPT_CREATE_DIRS, "create-dirs", 0, OPTIONS_FLAG, OPTIONS_BOTH,
				  GROUP_OUTPUT),
			      .hint = "mkdir makedirs create-dir",
			      .help = "create missing directories of every path the run writes (outputs and "
				      "each {chat}, {to}, {from}, {date} expansion, --save-raw, --state, "
				      "--metrics-file, --manifest, --log-file, the directories above "
				      "--media-dir), mode 0700; the media directory itself is made "
				      "when missing, with or without it",
			      .detail =
				      "Without it, a missing directory is exit 73 with a message that names it." },
	[OPT_LOG_FILE] = { ROW(OPT_LOG_FILE, "log-file", 0, OPTIONS_TEXT, OPTIONS_BOTH,
			       GROUP_OUTPUT),
			   .flags = OPTIONS_PATH, .arg = "PATH", .hint = "log logfile",
			   .help = "also append every line written to stderr (warnings, the error line, the "
				   "summary; not the progress line) to PATH, each prefixed with an RFC 3339 UTC "
				   "time and from=NUMBER (or 'convert'), even with --quiet",
			   .detail =
				   "PATH is opened in append mode (mode 0600) for every line and never "
				   "truncated, so concurrent runs, logrotate's copytruncate and "
				   "move-and-create all keep working; each line is one write." },

	[OPT_DIALECT] = { ROW(OPT_DIALECT, "dialect", 0, OPTIONS_TEXT, OPTIONS_SCHEMA,
			      GROUP_SCHEMA),
			  .arg = "NAME", .hint = "database db sql",
			  .help = "the loader: postgres, duckdb, sqlite, bigquery, clickhouse or jsonschema "
				  "(required)",
			  .detail =
				  "bigquery prints the field list 'bq load --schema' takes; jsonschema "
				  "the JSON Schema (2020-12) of one NDJSON line." },
	[OPT_TABLE] = { ROW(OPT_TABLE, "table", 0, OPTIONS_TEXT, OPTIONS_SCHEMA, GROUP_SCHEMA),
			.arg = "NAME",
			.help = "the table's name (default whatsapp_messages; schema.table allowed)" },

	[OPT_HELP] = { ROW(OPT_HELP, "help", 'h', OPTIONS_FLAG, OPTIONS_ALL, GROUP_GENERAL),
		       .help = "this help (after a command: that command's options)" },
	[OPT_VERSION] = { ROW(OPT_VERSION, "version", 'V', OPTIONS_FLAG, OPTIONS_ALL,
			      GROUP_GENERAL),
			  .help = "the version of waexport and of its libraries" },
	[OPT_HELP_MAN] = { ROW(OPT_HELP_MAN, "help-man", 0, OPTIONS_FLAG, OPTIONS_ALL,
			       GROUP_GENERAL),
			   .flags = OPTIONS_HIDDEN,
			   .help = "the OPTIONS sections of waexport.1, generated from this table" },
	[OPT_API_KEY] = { ROW(OPT_API_KEY, "api-key", 0, OPTIONS_TEXT, OPTIONS_BOTH, GROUP_FETCH),
			  .flags = OPTIONS_HIDDEN, .arg = "KEY",
			  .help = "refused: a key on the command line is visible to every user" },
};

const char *const options_group_title[GROUP_COUNT] = {
	[GROUP_OUTPUT] = "Output options",
	[GROUP_FETCH] = "Fetch options",
	[GROUP_NIGHTLY] = "Fetch options for nightly runs",
	[GROUP_SCHEMA] = "Schema options",
	[GROUP_GENERAL] = "General options",
};

const struct options_command options_commands[] = {
	{ CMD_FETCH, "fetch", OPTIONS_FETCH, "fetch --from NUMBER [--to ID]... [options]",
	  "page through getHistory for a number and write every message",
	  "Fetch every page of getHistory for an account (or some of its contacts)\n"
	  "and write every message once, in order.\n",
	  "  export WAEXPORT_API_KEY=...   # or --api-key-file ~/.config/waexport/key\n"
	  "  waexport fetch --from 972501234567 -o history.csv\n"
	  "  waexport fetch --from 972501234567 --to 972509876543 --since 7d -o week.ndjson.gz\n" },
	{ CMD_CONVERT, "convert", OPTIONS_CONVERT, "convert [options] [FILE...]",
	  "turn saved API responses (files or stdin) into the same output",
	  "Convert saved getHistory responses to CSV, NDJSON or xlsx. Each FILE holds one JSON\n"
	  "array, or one array per line (what 'fetch --save-raw' writes); .gz files are\n"
	  "read directly. No FILE, or '-', reads standard input.\n",
	  "  waexport convert -o chats.csv pages/*.json\n"
	  "  waexport convert --excel --tz Asia/Jerusalem -o chats.csv raw.jsonl.gz\n"
	  "  zcat raw.jsonl.gz | waexport convert --format ndjson > chats.ndjson\n" },
	{ CMD_SCHEMA, "schema", OPTIONS_SCHEMA,
	  "schema --dialect NAME [--format csv|ndjson] [--columns LIST] [--media-dir DIR] "
	  "[--table NAME]",
	  "print the table definition that matches the output, for a loader",
	  "Print to standard output the table definition (or JSON schema) that matches\n"
	  "exactly what fetch and convert write with the same --format, --columns and\n"
	  "--media-dir: 'unique' is the primary key, 'time' a zone-aware timestamp where\n"
	  "the database has one. The README shows how to load and merge a night's file.\n",
	  "  waexport schema --dialect postgres | psql -d warehouse\n"
	  "  waexport schema --dialect sqlite --columns unique,time,from,message\n"
	  "  waexport schema --dialect jsonschema > line.schema.json\n" },
};

const size_t options_ncommands = sizeof(options_commands) / sizeof(options_commands[0]);

const struct options_row *options_find(const char *name, size_t len)
{
	for (size_t i = 0; i < OPT_COUNT; i++) {
		const char *n = options_table[i].name;

		if (strlen(n) == len && !memcmp(n, name, len))
			return &options_table[i];
	}
	return NULL;
}

const struct options_row *options_find_letter(char letter)
{
	for (size_t i = 0; letter && i < OPT_COUNT; i++)
		if (options_table[i].letter == letter)
			return &options_table[i];
	return NULL;
}

const struct options_command *options_find_command(const char *name)
{
	for (size_t i = 0; i < options_ncommands; i++)
		if (!strcmp(options_commands[i].name, name))
			return &options_commands[i];
	return NULL;
}

unsigned options_command_bit(enum command cmd)
{
	for (size_t i = 0; i < options_ncommands; i++)
		if (options_commands[i].cmd == cmd)
			return options_commands[i].bit;
	return 0;
}

const char *options_bits_name(unsigned bits)
{
	for (size_t i = 0; i < options_ncommands; i++)
		if (options_commands[i].bit & bits)
			return options_commands[i].name;
	return "waexport";
}

const char *options_command_name(enum command cmd)
{
	return options_bits_name(options_command_bit(cmd));
}
