#include "metrics.h"
#include "buf.h"
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LAST_SUCCESS "waexport_last_success_timestamp_seconds"

/* The previous file's last-success time for this account, or -1. */
static double previous_success(const char *path, const char *label)
{
	FILE *f = fopen(path, "r");
	char line[512];
	double v = -1;
	size_t n = strlen(label);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, LAST_SUCCESS, sizeof(LAST_SUCCESS) - 1) &&
		    !strncmp(line + sizeof(LAST_SUCCESS) - 1, label, n))
			v = strtod(line + sizeof(LAST_SUCCESS) - 1 + n, NULL);
	fclose(f);
	return v;
}

static int metric(struct buf *b, const char *name, const char *help, const char *type,
		  const char *label, double value)
{
	char num[64];

	snprintf(num, sizeof(num), "%.17g", value);
	return buf_adds(b, "# HELP ") || buf_adds(b, name) || buf_addc(b, ' ') ||
	       buf_adds(b, help) || buf_adds(b, "\n# TYPE ") || buf_adds(b, name) ||
	       buf_addc(b, ' ') || buf_adds(b, type) || buf_addc(b, '\n') || buf_adds(b, name) ||
	       buf_adds(b, label) || buf_addc(b, ' ') || buf_adds(b, num) || buf_addc(b, '\n');
}

int metrics_write(const char *path, const struct metrics *m, struct err *e)
{
	struct buf b = BUF_INIT;
	char label[96];
	const char *step;
	double last_ok;
	int rc = -1, bad = 0;

	/* The account number is digits only (checked by cli): no label escaping needed. */
	snprintf(label, sizeof(label), "{from=\"%s\"}", m->from ? m->from : "");
	last_ok = m->exit_code == 0 ? m->end_time : previous_success(path, label);
	bad |= metric(&b, "waexport_last_run_timestamp_seconds", "Unix time the last run ended.",
		      "gauge", label, m->end_time);
	/* 0 before any success: an alert on its age then fires for a job that never worked. */
	bad |= metric(&b, LAST_SUCCESS, "Unix time the last successful run ended (0: none yet).",
		      "gauge", label, last_ok >= 0 ? last_ok : 0);
	bad |= metric(&b, "waexport_exit_code", "Exit code of the last run (0 is success).",
		      "gauge", label, m->exit_code);
	bad |= metric(&b, "waexport_messages_written", "Messages written by the last run.", "gauge",
		      label, (double)m->messages);
	bad |= metric(&b, "waexport_pages_fetched", "Pages fetched by the last run.", "gauge",
		      label, (double)m->pages);
	bad |= metric(&b, "waexport_retries", "Requests retried in the last run.", "gauge", label,
		      (double)m->retries);
	bad |= metric(&b, "waexport_duplicates_dropped",
		      "Duplicate messages dropped in the last run.", "gauge", label,
		      (double)m->duplicates);
	bad |= metric(&b, "waexport_warnings", "Warnings in the last run.", "gauge", label,
		      (double)m->warnings);
	bad |= metric(&b, "waexport_media_downloaded", "Media files downloaded by the last run.",
		      "gauge", label, (double)m->media);
	bad |= metric(&b, "waexport_run_duration_seconds", "Wall time of the last run.", "gauge",
		      label, m->duration);
	if (bad) {
		err_nomem(e);
		goto out;
	}
	/* node_exporter runs as another user: metrics are not secret. */
	if (fsutil_replace(path, b.data, b.len, 0644, &step)) {
		err_set(e, ERR_IO, "--metrics-file %s: cannot replace it (%s failed): %s", path,
			step, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}
