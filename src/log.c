#include "log.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 8192

static char *log_path;
static char log_who[64];
static int log_failed;                /* said once on stderr */
static void (*log_before)(void *ctx); /* clears the live progress line */
static void *log_before_ctx;

void log_before_lines(void (*fn)(void *ctx), void *ctx)
{
	log_before = fn;
	log_before_ctx = ctx;
}

static int append(const char *line, size_t len)
{
	int fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	int rc;

	if (fd < 0)
		return -1;
	rc = fsutil_write_all(fd, line, len);
	if (close(fd))
		rc = -1;
	return rc;
}

int log_open(const char *path, const char *who, int create_dirs, struct err *e)
{
	int fd;

	if (fsutil_need_parent(path, create_dirs, "--log-file", e))
		return -1;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0)
		return err_set(e, ERR_CANTCREAT, "--log-file %s: cannot open it for appending: %s",
			       path, strerror(errno));
	close(fd);
	free(log_path);
	if (!(log_path = strdup(path)))
		return err_nomem(e);
	snprintf(log_who, sizeof(log_who), "%s", who);
	log_failed = 0;
	return 0;
}

int log_enabled(void)
{
	return log_path != NULL;
}

void log_line(FILE *to, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	struct timespec now;
	struct tm tm;
	size_t n, len;
	va_list ap;

	if (!to && !log_path)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "%s ", log_who);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	len = n + strlen(line + n);
	line[len++] = '\n';
	if (to) {
		if (log_before)
			log_before(log_before_ctx);
		fwrite(line + n, 1, len - n, to);
		fflush(to);
	}
	if (!log_path || append(line, len) == 0 || log_failed)
		return;
	log_failed = 1;
	fprintf(stderr, "waexport: --log-file %s: cannot append: %s (lines go to stderr only)\n",
		log_path, strerror(errno));
}

void log_close(void)
{
	free(log_path);
	log_path = NULL;
}
