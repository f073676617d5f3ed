#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_FORMAT = 256, OPT_GZIP, OPT_GZIP_LEVEL, OPT_TZ, OPT_EXCEL, OPT_ORDER, OPT_COLUMNS,
	OPT_PROGRESS, OPT_FROM, OPT_TO, OPT_URL, OPT_API_KEY_FILE, OPT_CONCURRENCY, OPT_RETRIES,
	OPT_TIMEOUT, OPT_SINCE, OPT_UNTIL, OPT_MAX_PAGES, OPT_SAVE_RAW, OPT_STATE, OPT_LOOKBACK,
	OPT_METRICS_FILE, OPT_MEDIA_DIR, OPT_CACERT, OPT_VERSION,
	OPT_API_KEY,
};

static const struct option output_options[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "gzip", no_argument, NULL, OPT_GZIP },
	{ "gzip-level", required_argument, NULL, OPT_GZIP_LEVEL },
	{ "tz", required_argument, NULL, OPT_TZ },
	{ "excel", no_argument, NULL, OPT_EXCEL },
	{ "order", required_argument, NULL, OPT_ORDER },
	{ "columns", required_argument, NULL, OPT_COLUMNS },
	{ "quiet", no_argument, NULL, 'q' },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	/* fetch only */
	{ "from", required_argument, NULL, OPT_FROM },
	{ "to", required_argument, NULL, OPT_TO },
	{ "url", required_argument, NULL, OPT_URL },
	{ "api-key-file", required_argument, NULL, OPT_API_KEY_FILE },
	{ "api-key", required_argument, NULL, OPT_API_KEY },
	{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "max-pages", required_argument, NULL, OPT_MAX_PAGES },
	{ "save-raw", required_argument, NULL, OPT_SAVE_RAW },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "lookback", required_argument, NULL, OPT_LOOKBACK },
	{ "metrics-file", required_argument, NULL, OPT_METRICS_FILE },
	{ "media-dir", required_argument, NULL, OPT_MEDIA_DIR },
	{ "cacert", required_argument, NULL, OPT_CACERT },
	{ NULL, 0, NULL, 0 },
};

static const char help_overview[] =
	"Usage: waexport fetch   --from NUMBER [--to ID]... [options]\n"
	"       waexport convert [options] [FILE...]\n"
	"       waexport --help | --version\n"
	"\n"
	"Export the WhatsApp chat history kept by the 99digital WhatsApp API to CSV,\n"
	"NDJSON or gzip files, with decoded times and readable labels.\n"
	"\n"
	"Commands:\n"
	"  fetch      page through getHistory for a number and write every message\n"
	"  convert    turn saved API responses (files or stdin) into the same output\n"
	"\n"
	"'waexport fetch --help' and 'waexport convert --help' list the options.\n"
	"The API key comes from $WAEXPORT_API_KEY or --api-key-file, never the command line.\n";

#define OUTPUT_HELP \
	"Output:\n" \
	"  -o, --output PATH       output file, '-' for stdout (default); replaced only\n" \
	"                          when the run succeeds. {date} is YYYY-MM-DD in --tz,\n" \
	"                          {chat} one file per conversation; with fetch also\n" \
	"                          {from}, and {to} for one file per --to\n" \
	"      --format csv|ndjson output format (default: from PATH's extension\n" \
	"                          .csv .ndjson .jsonl, optionally .gz; else csv)\n" \
	"      --gzip              gzip the output (on when PATH ends in .gz)\n" \
	"      --gzip-level N      gzip level 1-9 (default 6; implies --gzip)\n" \
	"      --tz ZONE           IANA zone for the 'time' column (default UTC),\n" \
	"                          e.g. Asia/Jerusalem\n" \
	"      --excel             spreadsheet CSV: BOM, 'YYYY-MM-DD HH:MM:SS' times,\n" \
	"                          formula-looking cells prefixed with '\n" \
	"      --order oldest|newest  row order (default oldest: chronological)\n" \
	"      --columns LIST      columns to write, in this order, e.g. time,from,message\n" \
	"  -q, --quiet             no warnings, no summary line\n" \
	"      --progress          show the live progress line even when not on a TTY\n" \
	"  -h, --help              this help\n" \
	"\n" \
	"Columns: unique timestamp time direction direction_code from to type state\n" \
	"         state_code reason message (media_file with fetch --media-dir)\n"

static const char help_convert[] =
	"Usage: waexport convert [options] [FILE...]\n"
	"\n"
	"Convert saved getHistory responses to CSV or NDJSON. Each FILE holds one JSON\n"
	"array, or one array per line (what 'fetch --save-raw' writes); .gz files are\n"
	"read directly. No FILE, or '-', reads standard input.\n"
	"\n"
	OUTPUT_HELP
	"\n"
	"Examples:\n"
	"  waexport convert -o chats.csv pages/*.json\n"
	"  waexport convert --excel --tz Asia/Jerusalem -o chats.csv raw.jsonl.gz\n"
	"  zcat raw.jsonl.gz | waexport convert --format ndjson > chats.ndjson\n";

static const char help_fetch[] =
	"Usage: waexport fetch --from NUMBER [--to ID]... [options]\n"
	"\n"
	"Fetch every page of getHistory for an account (or some of its contacts)\n"
	"and write every message once, in order.\n"
	"\n"
	"Fetch:\n"
	"      --from NUMBER       the account: 8-15 digits, international, no '+'\n"
	"      --to ID             one contact (digits, or a hidden-number id such as\n"
	"                          IL.1605856887361213); repeatable; none = whole account\n"
	"      --url URL           endpoint (default $WAEXPORT_URL, else the 99digital API)\n"
	"      --api-key-file PATH file holding the API key (default $WAEXPORT_API_KEY)\n"
	"      --cacert FILE       verify the server against this CA bundle\n"
	"      --concurrency N     pages in flight, 1-32 (default 4)\n"
	"      --retries N         retries per request after the first (default 5)\n"
	"      --timeout S         seconds per request (default 30)\n"
	"      --since T           keep messages at or after T: YYYY-MM-DD, ISO 8601,\n"
	"                          epoch seconds, or a duration back from now (36h, 7d)\n"
	"      --until T           keep messages before T (same forms)\n"
	"      --max-pages N       stop after N pages\n"
	"      --save-raw PATH     also keep every raw page, one array per line\n"
	"                          (gzip when PATH ends in .gz); 'convert' reads it back\n"
	"\n"
	"Nightly runs:\n"
	"      --state PATH        checkpoint file: export only what is new since the last\n"
	"                          successful run (locked: a concurrent run exits 75)\n"
	"      --lookback DUR      with --state, also re-export this far behind the\n"
	"                          checkpoint to pick up state changes (e.g. 2d)\n"
	"      --metrics-file PATH write run metrics for node_exporter's textfile collector\n"
	"                          after every run, success or failure\n"
	"      --media-dir DIR     download each media message's file into DIR as\n"
	"                          <unique>.<ext> before its link expires (7 days);\n"
	"                          adds the media_file column\n"
	"\n"
	OUTPUT_HELP
	"\n"
	"Examples:\n"
	"  export WAEXPORT_API_KEY=...   # or --api-key-file ~/.config/waexport/key\n"
	"  waexport fetch --from 972501234567 -o history.csv\n"
	"  waexport fetch --from 972501234567 --to 972509876543 --since 7d -o week.ndjson.gz\n";

const char *cli_help(enum command cmd)
{
	switch (cmd) {
	case CMD_FETCH: return help_fetch;
	case CMD_CONVERT: return help_convert;
	default: return help_overview;
	}
}

static int parse_int(const char *opt, const char *s, long lo, long hi, long *out, struct err *e)
{
	char *end;
	long v;

	if (!*s || *s == ' ' || *s == '+')
		goto bad;
	v = strtol(s, &end, 10);
	if (*end || v < lo || v > hi)
		goto bad;
	*out = v;
	return 0;
bad:
	return err_set(e, ERR_USAGE, "%s '%s': expected a whole number from %ld to %ld", opt, s, lo, hi);
}

static int valid_digits(const char *s, size_t lo, size_t hi)
{
	size_t n = strlen(s);

	if (n < lo || n > hi)
		return 0;
	return strspn(s, "0123456789") == n;
}

/* A contact: digits, or a hidden-number id such as IL.1605856887361213. */
static int valid_contact(const char *s)
{
	const char *dot = strchr(s, '.');

	if (!dot)
		return valid_digits(s, 5, 20);
	if (dot - s < 1 || dot - s > 8)
		return 0;
	for (const char *p = s; p < dot; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')))
			return 0;
	return valid_digits(dot + 1, 1, 40);
}

static const char *command_name(enum command c)
{
	return c == CMD_FETCH ? "fetch" : "convert";
}

int cli_parse(struct options *o, int argc, char **argv, struct err *e)
{
	long v;
	int c;

	memset(o, 0, sizeof(*o));
	o->output = "-";
	o->gzip = -1;
	o->gzip_level = 6;
	o->tz = "UTC";
	o->progress = -1;
	o->concurrency = 4;
	o->retries = 5;
	o->timeout = 30;

	if (argc < 2)
		return err_set(e, ERR_USAGE, "no command given; try 'waexport --help'");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		o->cmd = CMD_HELP;
		o->help_for = argc > 2 && !strcmp(argv[2], "fetch") ? CMD_FETCH
			      : argc > 2 && !strcmp(argv[2], "convert") ? CMD_CONVERT : CMD_NONE;
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		o->cmd = CMD_VERSION;
		return 0;
	}
	if (!strcmp(argv[1], "fetch"))
		o->cmd = CMD_FETCH;
	else if (!strcmp(argv[1], "convert"))
		o->cmd = CMD_CONVERT;
	else
		return err_set(e, ERR_USAGE, "unknown command '%s'; the commands are fetch and convert "
			       "(try 'waexport --help')", argv[1]);

	opterr = 0;
	optind = 2;
	int li = -1;

	while ((c = getopt_long(argc, argv, ":o:qh", output_options, &li)) != -1) {
		int fetch_only = c >= OPT_FROM && c <= OPT_CACERT;

		if (fetch_only && o->cmd != CMD_FETCH)
			return err_set(e, ERR_USAGE, "--%s is an option of 'fetch', not of '%s'",
				       output_options[li].name, command_name(o->cmd));
		li = -1;
		switch (c) {
		case 'o':
			if (!*optarg)
				return err_set(e, ERR_USAGE, "-o needs a file name ('-' for standard output)");
			o->output = optarg;
			break;
		case 'q': o->quiet = 1; break;
		case 'h':
			o->help_for = o->cmd;
			o->cmd = CMD_HELP;
			return 0;
		case OPT_VERSION: o->cmd = CMD_VERSION; return 0;
		case OPT_FORMAT:
			if (strcmp(optarg, "csv") && strcmp(optarg, "ndjson"))
				return err_set(e, ERR_USAGE, "--format '%s': expected csv or ndjson", optarg);
			o->format = optarg;
			break;
		case OPT_GZIP: o->gzip = 1; break;
		case OPT_GZIP_LEVEL:
			if (parse_int("--gzip-level", optarg, 1, 9, &v, e))
				return -1;
			o->gzip_level = (int)v;
			o->gzip = 1;
			break;
		case OPT_TZ: o->tz = optarg; break;
		case OPT_EXCEL: o->excel = 1; break;
		case OPT_ORDER:
			if (!strcmp(optarg, "newest"))
				o->order_newest = 1;
			else if (!strcmp(optarg, "oldest"))
				o->order_newest = 0;
			else
				return err_set(e, ERR_USAGE, "--order '%s': expected oldest or newest", optarg);
			break;
		case OPT_COLUMNS: o->columns = optarg; break;
		case OPT_PROGRESS: o->progress = 1; break;
		case OPT_FROM:
			if (!valid_digits(optarg, 8, 15))
				return err_set(e, ERR_USAGE, "--from '%s': expected the account number, 8-15 "
					       "digits, international, without '+' (e.g. 972501234567)", optarg);
			o->from = optarg;
			break;
		case OPT_TO: {
			const char **t;

			if (!valid_contact(optarg))
				return err_set(e, ERR_USAGE, "--to '%s': expected a number (digits, no '+') "
					       "or a hidden-number id such as IL.1605856887361213", optarg);
			t = realloc(o->to, (o->nto + 1) * sizeof(*t));
			if (!t)
				return err_nomem(e);
			o->to = t;
			o->to[o->nto++] = optarg;
			break;
		}
		case OPT_URL: o->url = optarg; break;
		case OPT_API_KEY_FILE: o->api_key_file = optarg; break;
		case OPT_API_KEY:
			return err_set(e, ERR_USAGE, "there is no --api-key option: a key on the command "
				       "line is visible to every user through the process list; put it in "
				       "$WAEXPORT_API_KEY or in a file named by --api-key-file");
		case OPT_CONCURRENCY:
			if (parse_int("--concurrency", optarg, 1, 32, &v, e))
				return -1;
			o->concurrency = (int)v;
			break;
		case OPT_RETRIES:
			if (parse_int("--retries", optarg, 0, 100, &v, e))
				return -1;
			o->retries = (int)v;
			break;
		case OPT_TIMEOUT:
			if (parse_int("--timeout", optarg, 1, 3600, &v, e))
				return -1;
			o->timeout = (int)v;
			break;
		case OPT_SINCE: o->since = optarg; break;
		case OPT_UNTIL: o->until = optarg; break;
		case OPT_MAX_PAGES:
			if (parse_int("--max-pages", optarg, 1, LONG_MAX, &v, e))
				return -1;
			o->max_pages = v;
			break;
		case OPT_SAVE_RAW: o->save_raw = optarg; break;
		case OPT_CACERT: o->cacert = optarg; break;
		case OPT_STATE: o->state = optarg; break;
		case OPT_LOOKBACK: o->lookback = optarg; break;
		case OPT_METRICS_FILE: o->metrics_file = optarg; break;
		case OPT_MEDIA_DIR: o->media_dir = optarg; break;
		case ':':
			return err_set(e, ERR_USAGE, "%s needs a value (see 'waexport %s --help')",
				       argv[optind - 1], command_name(o->cmd));
		default:
			return err_set(e, ERR_USAGE, "unknown option '%s' (see 'waexport %s --help')",
				       argv[optind - 1], command_name(o->cmd));
		}
	}
	o->files = argv + optind;
	o->nfiles = (size_t)(argc - optind);
	if (o->lookback && !o->state)
		return err_set(e, ERR_USAGE, "--lookback goes with --state (it widens the window behind "
			       "the checkpoint)");
	if (o->cmd == CMD_FETCH) {
		if (o->nfiles)
			return err_set(e, ERR_USAGE, "fetch takes no file arguments ('%s'); did you mean "
				       "-o %s?", o->files[0], o->files[0]);
		if (!o->from)
			return err_set(e, ERR_USAGE, "fetch needs --from NUMBER, the account to export "
				       "(see 'waexport fetch --help')");
	}
	return 0;
}

void cli_free(struct options *o)
{
	free(o->to);
	o->to = NULL;
}
