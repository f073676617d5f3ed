#include "manifest.h"
#include "buf.h"
#include "version.h"
#include "digest.h"
#include "fsutil.h"
#include "text.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int merge_file(struct manifest_file *f, const struct sink *file, struct err *e)
{
	const struct sink_figures *fig = sink_figures(file);
	const struct sink_rows *r = &fig->rows;

	if (!fig->have_sha256)
		return err_set(e, ERR_SOFTWARE, "%s: no checksum for the manifest", f->path);
	digest_hex(fig->sha256, f->sha256);
	f->rows_added = r->rows;
	f->rows += r->rows;
	f->bytes = fig->carried + fig->out;
	if (r->have_ts) {
		if (!f->have_ts || r->ts_min < f->ts_min)
			f->ts_min = r->ts_min;
		if (!f->have_ts || r->ts_max > f->ts_max)
			f->ts_max = r->ts_max;
		f->have_ts = 1;
	}
	return 0;
}

int manifest_add(struct manifest *m, const struct sink *file, const char *chat, struct err *e)
{
	struct manifest_file *grown = realloc(m->files, (m->nfiles + 1) * sizeof(*grown));
	struct manifest_file *f;

	if (!grown)
		return err_nomem(e);
	m->files = grown;
	f = &m->files[m->nfiles];
	memset(f, 0, sizeof(*f));
	f->path = strdup(sink_figures(file)->path);
	f->chat = chat ? strdup(chat) : NULL;
	if (!f->path || (chat && !f->chat)) {
		free(f->path);
		free(f->chat);
		return err_nomem(e);
	}
	m->nfiles++;
	/* SPEC §4.4's add-after rule: rows, bytes and sum describe the whole file. */
	f->appended = sink_figures(file)->appending;
	if (f->appended &&
	    manifest_scan(f->path, sink_figures(file)->carried, m->ndjson, m->gzip, f, e))
		return -1;
	return merge_file(f, file, e);
}

/* ---------------------------------------------------------------- JSON */

/* A JSON string, escaped as the NDJSON rows are (text.h), or null for NULL. */
static int add_str(struct buf *out, const char *s)
{
	size_t len;

	if (!s)
		return buf_adds(out, "null");
	len = strlen(s);
	if (buf_reserve(out, TEXT_RECODE_MAX(len) + 2))
		return -1;
	out->data[out->len++] = '"';
	out->len += text_json_escape(buf_tail(out), s, len);
	out->data[out->len++] = '"';
	return 0;
}

static int add_time(struct buf *out, long long t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	char s[32];

	if (!gmtime_r(&tt, &tm) || !strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm))
		return buf_adds(out, "null");
	return add_str(out, s);
}

static int add_opt_int(struct buf *out, int have, long long v)
{
	return have ? buf_addf(out, "%lld", v) : buf_adds(out, "null");
}

static int add_file(struct buf *out, const struct manifest_file *f, int last)
{
	if (buf_adds(out, "    {\"path\": ") || add_str(out, f->path) ||
	    buf_addf(out,
		     ", \"rows\": %llu, \"bytes\": %llu, \"sha256\": \"%s\", \"first_timestamp\": ",
		     f->rows, f->bytes, f->sha256) ||
	    add_opt_int(out, f->have_ts && !f->ts_unknown, f->ts_min) ||
	    buf_adds(out, ", \"last_timestamp\": ") ||
	    add_opt_int(out, f->have_ts && !f->ts_unknown, f->ts_max) ||
	    buf_adds(out, ", \"chat\": ") || add_str(out, f->chat) ||
	    buf_addf(out, ", \"appended\": %s", f->appended ? "true" : "false"))
		return -1;
	if (f->appended && buf_addf(out, ", \"rows_added\": %llu", f->rows_added))
		return -1;
	return buf_adds(out, last ? "}\n" : "},\n");
}

static int render(struct buf *out, const struct manifest *m, const struct manifest_run *r)
{
	if (buf_addf(out, "{\n  \"tool\": \"waexport\",\n  \"version\": \"%s\",\n  \"command\": ",
		     WAEXPORT_VERSION) ||
	    add_str(out, r->command) || buf_adds(out, ",\n  \"from\": ") || add_str(out, r->from) ||
	    buf_adds(out, ",\n  \"to\": ["))
		return -1;
	for (size_t i = 0; i < r->nto; i++)
		if ((i && buf_adds(out, ", ")) || add_str(out, r->to[i]))
			return -1;
	if (buf_adds(out, "],\n  \"started\": ") || add_time(out, r->started) ||
	    buf_adds(out, ",\n  \"finished\": ") || add_time(out, r->finished) ||
	    buf_adds(out, ",\n  \"format\": ") || add_str(out, r->format) ||
	    buf_addf(out, ",\n  \"gzip\": %s,\n  \"tz\": ", r->gzip ? "true" : "false") ||
	    add_str(out, r->tz) ||
	    buf_addf(
		    out,
		    ",\n  \"messages_written\": %llu,\n  \"pages_fetched\": %llu,\n"
		    "  \"duplicates_dropped\": %llu,\n  \"retries\": %llu,\n  \"warnings\": %llu,\n"
		    "  \"media\": {\"downloaded\": %llu, \"present\": %llu, \"failed\": %llu},\n"
		    "  \"checkpoint_before\": ",
		    r->messages, r->pages, r->duplicates, r->retries, r->warnings,
		    r->media_downloaded, r->media_present, r->media_failed) ||
	    add_opt_int(out, r->have_before, r->checkpoint_before) ||
	    buf_adds(out, ",\n  \"checkpoint_after\": ") ||
	    add_opt_int(out, r->have_after, r->checkpoint_after) ||
	    buf_adds(out, ",\n  \"files\": [\n"))
		return -1;
	for (size_t i = 0; i < m->nfiles; i++)
		if (add_file(out, &m->files[i], i + 1 == m->nfiles))
			return -1;
	return buf_adds(out, "  ]\n}\n");
}

static int file_error(const char *path, const char *step, struct err *e)
{
	return err_set(e, !strcmp(step, "write") ? ERR_IO : ERR_CANTCREAT,
		       "--manifest %s: %s failed: %s", path, step, strerror(errno));
}

int manifest_stage(const struct manifest *m, const char *path, const struct manifest_run *run,
		   struct fsutil_staged *s, struct err *e)
{
	struct buf text = BUF_INIT;
	const char *step;
	int rc = 0;

	s->tmp = NULL;
	if (render(&text, m, run))
		rc = err_nomem(e);
	else if (fsutil_stage(path, text.data, text.len, 0600, s, &step))
		rc = file_error(path, step, e);
	buf_free(&text);
	return rc;
}

int manifest_publish(struct fsutil_staged *s, struct err *e)
{
	const char *step;

	return fsutil_publish(s, &step) ? file_error(s->path, step, e) : 0;
}

int manifest_write(const struct manifest *m, const char *path, const struct manifest_run *run,
		   struct err *e)
{
	struct fsutil_staged s;

	if (manifest_stage(m, path, run, &s, e))
		return -1;
	if (!manifest_publish(&s, e))
		return 0;
	fsutil_unstage(&s); /* a failed rename leaves the file staged */
	return -1;
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->nfiles; i++) {
		free(m->files[i].path);
		free(m->files[i].chat);
	}
	free(m->files);
	m->files = NULL;
	m->nfiles = 0;
}

void manifest_check_age(struct warn *w, const char *who, long long written_at, int has_ts,
			long long ts, long long now)
{
	const long long limit = MANIFEST_CHECKPOINT_WARN_DAYS * 86400LL;

	if (now - written_at > limit)
		warn_note(w,
			  "%sthe last successful export was %lld days ago: the API keeps messages "
			  "for one year, so messages older than that may be deleted before they "
			  "are exported; check why the nightly job stopped",
			  who, (now - written_at) / 86400);
	else if (has_ts && now - ts > limit)
		warn_note(w,
			  "%sthe checkpoint is %lld days old (the newest message it exported): "
			  "the API keeps messages for one year, so messages sent since then may "
			  "be deleted before they are exported (nothing is at risk if the account "
			  "was quiet)",
			  who, (now - ts) / 86400);
}
