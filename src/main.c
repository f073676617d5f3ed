/*
 * main: the process — command line, signals, and the exit code (SPEC §3:
 * every non-zero exit says on one stderr line what failed and what to do).
 * run.c wires the stages together: source (files, or fetch's pages) →
 * pool workers (page → writer's rows → gzip chunk, batch.h) → select →
 * order | route → sink (pipeline.h: why rows are made before the decision).
 */
#include "buf.h"
#include "cli.h"
#include "digest.h"
#include "err.h"
#include "http.h"
#include "log.h"
#include "samefile.h"
#include "run.h"
#include "schema.h"
#include "sink.h"
#include "printable.h"
#include "usage.h"
#include "version.h"
#include "xlsx.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

/* One line on stderr, with whatever came from outside made printable (SPEC §5.6). */
static void print_error(const struct err *e)
{
	char shown[sizeof(e->msg) * 4];

	printable(shown, sizeof(shown), e->msg, strlen(e->msg));
	log_line(stderr, "waexport: %s", shown);
}

/*
 * SPEC §5.6: fetch holds the API key in memory, and a core file would keep
 * it on disk. No core, and not dumpable (no ptrace attach from another user).
 */
static void no_core_dumps(void)
{
	struct rlimit none = { 0, 0 };

	(void)setrlimit(RLIMIT_CORE, &none);
	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

/*
 * The soft limit on open files up to the hard one: a run that finishes one
 * file per chat keeps each locked until all are renamed (fsutil_hold), and
 * the soft limit (often 1024) is only there for programs that use select().
 */
static void files_limit_up(void)
{
	struct rlimit rl;

	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static volatile sig_atomic_t got_signal;
static volatile int stop_flag; /* what the stages poll */

static void on_signal(int signo)
{
	got_signal = signo;
	stop_flag = 1;
}

/*
 * The signals that end a run as cleanly as SIGTERM (exit 128 + the number,
 * no temporary file left): the terminal's and the supervisor's, and those
 * whose default would kill the run where it stands (a timer's SIGALRM, a
 * stray SIGUSR1, the soft CPU limit's SIGXCPU).
 */
static const struct {
	int signo;
	const char *name;
} ends_run[] = {
	{ SIGINT, "SIGINT" },   { SIGTERM, "SIGTERM" }, { SIGHUP, "SIGHUP" },
	{ SIGALRM, "SIGALRM" }, { SIGUSR1, "SIGUSR1" }, { SIGUSR2, "SIGUSR2" },
	{ SIGXCPU, "SIGXCPU" },
};

#define N_ENDS_RUN (sizeof(ends_run) / sizeof(ends_run[0]))

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/*
	 * No SA_RESTART: a blocked read returns EINTR and the run can end. A
	 * hang-up (an ssh session that drops) ends the run as cleanly as SIGTERM.
	 * A signal the parent set to be ignored stays ignored: nohup, and `&` in
	 * a script for SIGINT.
	 */
	for (size_t i = 0; i < N_ENDS_RUN; i++) {
		struct sigaction old;

		if (sigaction(ends_run[i].signo, NULL, &old) == 0 && old.sa_handler != SIG_IGN)
			sigaction(ends_run[i].signo, &sa, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit (ulimit -f, LimitFSIZE=): the write fails with EFBIG, 74, cleaned up. */
	signal(SIGXFSZ, SIG_IGN);
}

/*
 * A descriptor 0, 1 or 2 that was closed (`>&-`, some supervisors) would be
 * taken by the first file the run opens, and the CSV or the warnings would
 * land in a lock file or an output. Each gets /dev/null opened the other
 * way round, so that using it fails (EBADF: a write to stdout is an I/O
 * error, 74) instead of going anywhere.
 */
static void keep_standard_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		int got;

		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		got = open("/dev/null", fd == 0 ? O_WRONLY : O_RDONLY);
		if (got != fd) { /* not even /dev/null: better not to run at all */
			if (got >= 0)
				close(got);
			_exit(70);
		}
	}
}

static const char *signal_name(int signo)
{
	for (size_t i = 0; i < N_ENDS_RUN; i++)
		if (ends_run[i].signo == signo)
			return ends_run[i].name;
	return "a signal";
}

static int exit_code(const struct err *e)
{
	switch (e->kind) {
	case ERR_NONE: return 0;
	case ERR_USAGE: return 64;
	case ERR_DATA: return 65;
	case ERR_NOINPUT: return 66;
	case ERR_UNAVAILABLE: return 69;
	case ERR_SOFTWARE: return 70;
	case ERR_CANTCREAT: return 73;
	case ERR_IO: return 74;
	case ERR_LOCKED: return 75;
	case ERR_REFUSED: return 77;
	case ERR_INTERRUPTED: return 128 + (e->signo ? e->signo : SIGINT);
	}
	return 70;
}

/* text to standard output; 74 with the line SPEC §3 asks for when it cannot go there. */
static int to_stdout(const char *p, size_t n)
{
	if (fwrite(p, 1, n, stdout) == n && !fflush(stdout))
		return 0;
	log_line(stderr, "waexport: standard output: write failed: %s",
		 strerror(errno ? errno : EIO));
	return 74;
}

/* --help, or the man page's options (--help-man): both rendered from the option table. */
static int print_usage(const struct options *opts)
{
	struct buf text = BUF_INIT;
	int rc = 0;

	if (opts->cmd == CMD_MAN ? usage_man(&text) : usage_help(&text, opts->help_for)) {
		fputs("waexport: out of memory\n", stderr);
		rc = 70;
		goto out;
	}
	rc = to_stdout(text.data, text.len);
out:
	buf_free(&text);
	return rc;
}

/*
 * waexport schema (SPEC §4.8): the writer options fetch/convert would use
 * with the same --format, --columns and --media-dir, rendered for a loader.
 * Without --format, jsonschema describes NDJSON and the SQL dialects CSV
 * (what a path without an extension gets); the types are the same.
 * Returns the exit code, the error line said.
 */
static int print_schema(const struct options *opts, struct err *e)
{
	struct writer_opts w = { 0 };
	struct schema_opts so = { .writer = &w, .table = opts->table };
	struct buf text = BUF_INIT;
	int rc = -1;

	so.dialect = (enum column_dialect)column_dialect_find(opts->dialect);
	w.format = so.dialect == DIALECT_JSONSCHEMA ? WRITER_NDJSON : WRITER_CSV;
	if (opts->format)
		w.format = strcmp(opts->format, "ndjson") ? WRITER_CSV : WRITER_NDJSON;
	if (opts->columns) {
		if (writer_parse_columns(&w, opts->columns, e) ||
		    writer_check_media(&w, opts->media_dir != NULL, e))
			goto out;
	} else {
		writer_default_columns(&w, opts->media_dir != NULL);
		w.extras = 1;
	}
	if (schema_render(&text, &so, e))
		goto out;
	rc = to_stdout(text.data, text.len);
out:
	buf_free(&text);
	if (rc < 0) {
		rc = exit_code(e);
		fprintf(stderr, "waexport: %s\n", e->msg);
	}
	return rc;
}

/* --log-file: the account (or "convert") that prefixes every line there. */
static int open_log(const struct options *opts, struct err *e)
{
	char who[64];

	if (!opts->log_file || (opts->cmd != CMD_FETCH && opts->cmd != CMD_CONVERT))
		return 0;
	if (opts->cmd == CMD_FETCH)
		snprintf(who, sizeof(who), "from=%s", opts->from);
	else
		snprintf(who, sizeof(who), "convert");
	return log_open(opts->log_file, who, opts->create_dirs, e);
}

/* The value of option `name` as argv gives it (`--name V` or `--name=V`), or NULL. */
static const char *raw_option(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);

	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (strncmp(argv[i], name, n))
			continue;
		if (argv[i][n] == '=')
			return argv[i] + n + 1;
		if (!argv[i][n] && i + 1 < argc)
			return argv[i + 1];
	}
	return NULL;
}

/*
 * A usage error is logged too, when the command line names a log file: a
 * typo in a cron line must leave its trace where the operator looks. The
 * parse stopped at the error, so the log file and the account are taken
 * from argv as given (a template stays unexpanded: then nothing is
 * logged); a log that cannot be opened changes nothing.
 */
static void log_usage_error(int argc, char **argv)
{
	const char *path = raw_option(argc, argv, "--log-file"),
		   *from = raw_option(argc, argv, "--from");
	char who[64];
	struct err ignored;

	if (!path || !*path || argc < 2 || (strcmp(argv[1], "fetch") && strcmp(argv[1], "convert")))
		return;
	/* '-' is refused, and a template is known only once the line parses: no such file. */
	if (!strcmp(path, "-") || strchr(path, '{'))
		return;
	/* Never into a file the line names otherwise (-o, an input): that may be the error. */
	for (int i = 2; i < argc; i++)
		if (argv[i] != path && strcmp(argv[i], "-") && samefile_same(argv[i], path))
			return;
	if (!strcmp(argv[1], "convert"))
		snprintf(who, sizeof(who), "convert");
	else if (from && *from && strlen(from) <= 15 && strspn(from, "0123456789") == strlen(from))
		snprintf(who, sizeof(who), "from=%s", from);
	else
		snprintf(who, sizeof(who), "from=?");
	log_open(path, who, 0, &ignored);
}

/* fetch or convert: the run, its one error line and its metrics. Returns the exit code. */
static int run_command(struct options *opts, struct err *e)
{
	struct run *r = run_new(opts, &stop_flag);
	int rc = r ? run_execute(r, e) : err_nomem(e);

	if (rc) {
		if (got_signal) {
			int to_stdout = !opts->output || !strcmp(opts->output, "-");

			e->kind = ERR_INTERRUPTED;
			e->signo = got_signal;
			snprintf(e->msg, sizeof(e->msg), "interrupted by %s; %s",
				 signal_name(got_signal),
				 to_stdout ? "what reached standard output is incomplete"
					   : "nothing was written (any previous output is "
					     "untouched)");
		}
		/*
		 * The reader closed our stdout (| head): end quietly, like cat. A
		 * pipe named as a file is 74 (SPEC §3: "broken pipe to a file").
		 */
		if (err_broken_pipe(e)) {
			rc = 141;
		} else {
			print_error(e);
			rc = exit_code(e);
		}
	}
	if (r && opts->metrics_file)
		run_write_metrics(r, rc);
	run_free(r);
	return rc;
}

int main(int argc, char **argv)
{
	struct options opts;
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	int rc;

	keep_standard_fds();
	install_signals();
	if (cli_parse(&opts, argc, argv, &e)) {
		if (!opts.paths_clash) /* the log file may be one of the two, once expanded */
			log_usage_error(argc, argv);
		print_error(&e);
		cli_free(&opts);
		return exit_code(&e);
	}
	if (open_log(&opts, &e)) {
		print_error(&e);
		cli_free(&opts);
		return exit_code(&e);
	}
	/* Only fetch talks to the network: convert skips TLS's start-up. */
	if (opts.cmd == CMD_FETCH)
		no_core_dumps();
	files_limit_up();
	if (opts.cmd == CMD_FETCH && http_global_init(&e)) {
		print_error(&e);
		rc = exit_code(&e);
		goto out;
	}
	if (opts.cmd == CMD_HELP || opts.cmd == CMD_MAN) {
		rc = print_usage(&opts);
		goto out;
	}
	if (opts.cmd == CMD_VERSION) {
		char v[256];
		int n = snprintf(v, sizeof(v),
				 "waexport %s (libcurl/%s, zlib/%s, jsmn/1.1.0, libcsv/3.0.3, "
				 "libxlsxwriter/%s, OpenSSL/%s)\n",
				 WAEXPORT_VERSION, http_curl_version(), zlibVersion(),
				 xlsx_library_version(), digest_library_version());

		rc = to_stdout(v, n > 0 && (size_t)n < sizeof(v) ? (size_t)n : strlen(v));
		goto out;
	}
	if (opts.cmd == CMD_SCHEMA) {
		rc = print_schema(&opts, &e);
		goto out;
	}
	rc = run_command(&opts, &e);
	if (opts.cmd == CMD_FETCH)
		http_global_cleanup();
out:
	log_close();
	cli_free(&opts);
	return rc;
}
