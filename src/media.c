#include "media.h"
#include "buf.h"
#include "fsutil.h"
#include "hash.h"
#include "text.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct media {
	char *dir;
	struct warn *warn;
	struct walk_opts retry;   /* its retries and retry_base */
	struct walk_stats *stats; /* the run's: downloads' retries count there */
	struct http_download *jobs;
	size_t *job_elem; /* the page element of each job */
	size_t jobs_cap;
	const char **files; /* per element */
	size_t files_cap;
	struct buf names;                               /* "unique.ext\0" per element with media */
	struct buf paths;                               /* "DIR/unique.ext\0" per job */
	struct buf urls;                                /* decoded links per job */
	unsigned long long downloaded, present, failed; /* the manifest's figures */
};

int media_open(struct media **out, const char *dir, const struct walk_opts *retry,
	       struct walk_stats *stats, struct warn *w, struct err *e)
{
	struct media *m = calloc(1, sizeof(*m));
	struct stat st;

	if (!m || !(m->dir = strdup(dir))) {
		free(m);
		return err_nomem(e);
	}
	m->warn = w;
	m->retry = *retry;
	m->stats = stats;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		media_close(m);
		return err_set(e, ERR_CANTCREAT, "--media-dir %s: cannot create it: %s", dir,
			       strerror(errno));
	}
	if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		media_close(m);
		return err_set(e, ERR_CANTCREAT, "--media-dir %s: not a directory", dir);
	}
	/* Downloads a killed run left half done (SIGKILL: it could not remove them). */
	fsutil_remove_old_temps(dir, MEDIA_TEMP_AGE, NULL, NULL);
	*out = m;
	return 0;
}

void media_close(struct media *m)
{
	if (!m)
		return;
	free(m->jobs);
	free(m->job_elem);
	free(m->files);
	buf_free(&m->names);
	buf_free(&m->paths);
	buf_free(&m->urls);
	free(m->dir);
	free(m);
}

unsigned long long media_downloaded(const struct media *m)
{
	return m->downloaded;
}

unsigned long long media_present(const struct media *m)
{
	return m->present;
}

unsigned long long media_failed(const struct media *m)
{
	return m->failed;
}

/*
 * The first decoded bytes of a string field (at most HEAD_RAW raw bytes, 10
 * characters even when every one is escaped) into out: a type or a link's
 * scheme is compared as the text it stands for ("t\u0065xt" is "text").
 */
#define HEAD_RAW 60
static size_t field_head(const struct field *f, char out[TEXT_DECODE_MAX(HEAD_RAW)])
{
	unsigned bad = 0;

	return text_decode(out, f->p, f->len < HEAD_RAW ? f->len : HEAD_RAW, &bad);
}

static int field_is(const struct field *f, const char *s)
{
	char head[TEXT_DECODE_MAX(HEAD_RAW)];
	size_t n = strlen(s);

	if (f->kind != FIELD_STRING)
		return 0;
	if (!memchr(f->p, '\\', f->len))
		return f->len == n && !memcmp(f->p, s, n);
	return f->len <= HEAD_RAW && field_head(f, head) == n && !memcmp(head, s, n);
}

/* Job j's unique, as a warning shows it (record_unique_shown), into out. */
static const char *job_unique(const struct media *m, struct page *pg, const char *body, size_t j,
			      char *out, size_t size)
{
	struct record r;

	return page_record(pg, body, m->job_elem[j], &r)
		       ? "?"
		       : record_unique_shown(&r.f[REC_UNIQUE], out, size);
}

/*
 * The downloads' outcome: counted when saved, else a warning and no file
 * name, also for a host that failed every try: one file must not hold back
 * every night's export (--lookback has a later night try it again). A
 * failure on this side (disk full, permissions) is ERR_IO instead (SPEC
 * §5.4): the run must fail before the checkpoint moves past the message,
 * since its link expires and the file could never be fetched again.
 */
static int count_downloads(struct media *m, struct page *pg, const char *body, size_t njobs,
			   struct err *e)
{
	for (size_t j = 0; j < njobs; j++) {
		char shown[64];
		const char *u;

		if (m->jobs[j].ok) {
			m->downloaded++;
			continue;
		}
		u = job_unique(m, pg, body, j, shown, sizeof(shown));
		if (m->jobs[j].local)
			return err_set(e, ERR_IO, "--media-dir %s: message %s: media not saved: %s",
				       m->dir, u, m->jobs[j].why);
		m->failed++;
		warn_note(m->warn, "message %s: media not saved: %s", u, m->jobs[j].why);
		m->files[m->job_elem[j]] = NULL;
	}
	return 0;
}

/* A media message: a link that is not plain text (SPEC §5.4). */
static int is_media(const struct record *r)
{
	const struct field *msg = &r->f[REC_MESSAGE], *type = &r->f[REC_TYPE];
	char head[TEXT_DECODE_MAX(HEAD_RAW)];
	size_t n;

	if (msg->kind != FIELD_STRING || field_is(type, "text") || field_is(type, "chat") ||
	    field_is(type, "location"))
		return 0;
	n = field_head(msg, head);
	return (n > 8 && !memcmp(head, "https:", 6)) || (n > 7 && !memcmp(head, "http:", 5));
}

/* The extension: from the link's last path segment if it looks like one, else by type. */
static void extension(const char *url, const struct field *type, char *out, size_t size)
{
	const char *end = url + strcspn(url, "?#"), *slash = url, *dot = NULL;
	size_t n;

	for (const char *p = url; p < end; p++) {
		if (*p == '/')
			slash = p;
		else if (*p == '.')
			dot = p;
	}
	if (dot && dot > slash && (n = (size_t)(end - dot - 1)) >= 1 && n <= 8) {
		size_t i;

		for (i = 0; i < n; i++) {
			char c = dot[1 + i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9')))
				break;
			out[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
		}
		if (i == n) {
			out[n] = '\0';
			return;
		}
	}
	snprintf(out, size, "%s",
		 field_is(type, "image")                            ? "jpg"
		 : field_is(type, "video")                          ? "mp4"
		 : field_is(type, "audio") || field_is(type, "ptt") ? "ogg"
		 : field_is(type, "sticker")                        ? "webp"
								    : "bin");
}

/*
 * A file name for a unique, one to one: [A-Za-z0-9_-] as they are, a dot
 * too except in front, everything else as %XX. An id longer than 60 bytes
 * keeps its first 60 and a 64-bit hash of the whole (uniques are 20 hex
 * digits; two long ids would have to collide in the hash to meet).
 */
static void escape_name(const char *s, size_t n, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		int plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '-' || (c == '.' && i > 0);

		if (plain) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	if (!o)
		snprintf(out, size, "%%");
}

/* "~" and a 64-bit hash in hex: what a long or changed id ends with. */
#define MEDIA_HASH_CHARS 17

/*
 * Append "~<hash of the raw id>" to safe, first cutting safe (never inside a
 * %XX) so that it, the hash, a dot and an extension of ext_len bytes fit one
 * file name (NAME_MAX): an id of invalid bytes escapes each to %EF%BF%BD, and
 * a name the file system refuses would fail every night (SPEC §5.4: a hash
 * where names would be too long). A hashed name has a "~", which escaping
 * never writes, so it cannot meet an unhashed one.
 */
static void add_hash(char *safe, size_t size, size_t ext_len, const struct field *u)
{
	size_t room = NAME_MAX - 1 - ext_len - MEDIA_HASH_CHARS, len = strlen(safe);

	if (len > room) {
		len = room;
		if (len >= 1 && safe[len - 1] == '%')
			len -= 1;
		else if (len >= 2 && safe[len - 2] == '%')
			len -= 2;
		safe[len] = '\0';
	}
	snprintf(safe + len, size - len, "~%016llx", (unsigned long long)hash_bytes(u->p, u->len));
}

/* Element i's media link and file name, appended to the page's buffers; 0 if none. */
static int describe(struct media *m, const struct record *r, size_t *url_at, size_t *name_at)
{
	const struct field *u = &r->f[REC_UNIQUE], *msg = &r->f[REC_MESSAGE];
	char raw[200], safe[620], ext[16];
	unsigned bad = 0;
	size_t k;

	if (!is_media(r) || u->kind != FIELD_STRING || !u->len)
		return 0;
	*url_at = m->urls.len;
	if (buf_reserve(&m->urls, TEXT_DECODE_MAX(msg->len) + 1))
		return -1;
	m->urls.len += text_decode(buf_tail(&m->urls), msg->p, msg->len, &bad);
	m->urls.data[m->urls.len++] = '\0';
	k = text_decode(raw, u->p, u->len < 60 ? u->len : 60, &bad);
	escape_name(raw, k, safe, sizeof(safe)); /* nothing can leave DIR */
	extension(m->urls.data + *url_at, &r->f[REC_TYPE], ext, sizeof(ext));
	/*
	 * A long id: its first part, then a hash of all of it. So too an id that
	 * decoding changed (NUL, a lone surrogate: U+FFFD), which would otherwise
	 * share its name with another (SPEC §5.4: built from the raw bytes), and
	 * a name too long for the file system.
	 */
	if (u->len > 60 || bad || strlen(safe) + 1 + strlen(ext) > NAME_MAX)
		add_hash(safe, sizeof(safe), strlen(ext), u);
	*name_at = m->names.len;
	if (buf_adds(&m->names, safe) || buf_addc(&m->names, '.') || buf_adds(&m->names, ext) ||
	    buf_addc(&m->names, '\0'))
		return -1;
	return 1;
}

/* Room for a page of n messages: their file names and download jobs. 0, or -1. */
static int grow_page(struct media *m, size_t n)
{
	const char **f;
	struct http_download *j;
	size_t *je;

	if (n <= m->files_cap)
		return 0;
	f = realloc(m->files, n * sizeof(*f));
	if (f)
		m->files = f;
	j = realloc(m->jobs, n * sizeof(*j));
	if (j)
		m->jobs = j;
	je = realloc(m->job_elem, n * sizeof(*je));
	if (je)
		m->job_elem = je;
	if (!f || !j || !je)
		return -1;
	m->files_cap = n;
	return 0;
}

int media_page(struct media *m, struct http *h, struct page *pg, const char *body,
	       const unsigned char *wanted, const char *const **files, struct err *e)
{
	size_t n = page_count(pg), njobs = 0;
	size_t *url_at = NULL, *name_at = NULL;
	struct record r;
	int rc = -1;

	if (grow_page(m, n))
		return err_nomem(e);
	url_at = calloc(n ? n : 1, sizeof(*url_at));
	name_at = calloc(n ? n : 1, sizeof(*name_at));
	if (!url_at || !name_at)
		goto nomem;
	m->names.len = m->urls.len = m->paths.len = 0;
	for (size_t i = 0; i < n; i++) {
		int d = (!wanted || wanted[i]) && page_record(pg, body, i, &r) == 0
				? describe(m, &r, &url_at[i], &name_at[i])
				: 0;

		if (d < 0)
			goto nomem;
		if (!d)
			name_at[i] = (size_t)-1;
	}
	/* The buffers are complete: now pointers into them stay valid. */
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		char path[4096];

		m->files[i] = name_at[i] == (size_t)-1 ? NULL : m->names.data + name_at[i];
		if (!m->files[i])
			continue;
		snprintf(path, sizeof(path), "%s/%s", m->dir, m->files[i]);
		if (!stat(path, &st) && S_ISREG(st.st_mode)) { /* a directory is no saved file */
			m->present++;
			continue; /* already saved by an earlier run */
		}
		memset(&m->jobs[njobs], 0, sizeof(m->jobs[njobs]));
		m->jobs[njobs].url = m->urls.data + url_at[i];
		m->jobs[njobs].max_bytes = MEDIA_MAX_BYTES;
		m->job_elem[njobs++] = i;
	}
	for (size_t j = 0; j < njobs; j++) {
		size_t at = m->paths.len;

		if (buf_adds(&m->paths, m->dir) || buf_addc(&m->paths, '/') ||
		    buf_adds(&m->paths, m->files[m->job_elem[j]]) || buf_addc(&m->paths, '\0'))
			goto nomem;
		name_at[j] = at; /* reused: where job j's path starts */
	}
	for (size_t j = 0; j < njobs; j++)
		m->jobs[j].path = m->paths.data + name_at[j];
	if (njobs && http_download(h, m->jobs, njobs, &m->retry, m->stats, e))
		goto out;
	if (count_downloads(m, pg, body, njobs, e))
		goto out;
	*files = m->files;
	rc = 0;
	goto out;
nomem:
	err_nomem(e);
out:
	free(url_at);
	free(name_at);
	return rc;
}
