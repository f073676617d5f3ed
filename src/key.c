#include "key.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define KEY_MAX 4096

static int read_file(const char *file, struct warn *warn, struct buf *key, struct err *e)
{
	FILE *f = fopen(file, "r");
	struct stat st;
	char chunk[KEY_MAX];
	size_t n;
	int rc = 0;

	if (!f)
		return err_set(e, ERR_USAGE, "--api-key-file %s: cannot read: %s", file,
			       strerror(errno));
	if (fstat(fileno(f), &st))
		memset(&st, 0, sizeof(st)); /* the read below says what is wrong */
	if (S_ISDIR(st.st_mode)) {
		fclose(f);
		return err_set(e, ERR_USAGE,
			       "--api-key-file %s is a directory; give the file that holds the key",
			       file);
	}
	if (st.st_mode & 077)
		warn_note(warn, "--api-key-file %s is readable by other users; run 'chmod 600 %s'",
			  file, file);
	while (!rc && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (key->len + n > KEY_MAX || buf_add(key, chunk, n))
			rc = err_set(e, ERR_USAGE, "--api-key-file %s: too large for a key", file);
	if (!rc && ferror(f))
		rc = err_set(e, ERR_USAGE, "--api-key-file %s: cannot read: %s", file,
			     strerror(errno));
	fclose(f);
	memset(chunk, 0, sizeof(chunk));
	return rc;
}

int key_load(const char *file, struct warn *warn, struct buf *key, struct err *e)
{
	const char *env = getenv("WAEXPORT_API_KEY");

	key->len = 0;
	if (file) {
		if (read_file(file, warn, key, e))
			return -1;
	} else if (env && buf_adds(key, env)) {
		return err_nomem(e);
	}
	while (key->len && strchr(" \t\r\n", key->data[key->len - 1]))
		key->len--;
	if (buf_addc(key, '\0'))
		return err_nomem(e);
	key->len--;
	if (!key->len) {
		if (file)
			return err_set(e, ERR_USAGE, "--api-key-file %s holds no key", file);
		return err_set(e, ERR_USAGE,
			       "no API key: set WAEXPORT_API_KEY or use --api-key-file PATH");
	}
	if (strpbrk(key->data, "\r\n"))
		return err_set(e, ERR_USAGE,
			       "the API key holds a line break; put only the key in the file");
	return 0;
}

void key_wipe(struct buf *key)
{
	if (key->data)
		memset(key->data, 0, key->cap);
	buf_free(key);
}
