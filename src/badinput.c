#include "badinput.h"
#include "jsontext.h"

#include <stdio.h>
#include <string.h>

/*
 * Whether a body that is not a page looks like waexport's own output:
 * "NDJSON" for an object whose first key is "unique", "CSV" for a header row
 * that starts "unique,timestamp" (a byte-order mark before either is fine),
 * else NULL.
 */
static const char *own_output(const char *p, size_t n)
{
	static const char key[] = "\"unique\"", head[] = "unique,timestamp";
	size_t i = json_bom_len(p, n);

	if (n - i >= sizeof(head) - 1 && !memcmp(p + i, head, sizeof(head) - 1))
		return "CSV";
	if (i == n || p[i] != '{')
		return NULL;
	for (i++; i < n && json_is_space(p[i]); i++)
		;
	return n - i >= sizeof(key) - 1 && !memcmp(p + i, key, sizeof(key) - 1) ? "NDJSON" : NULL;
}

int badinput_explain(struct err *e, const char *p, size_t n, const char *where,
		     unsigned long long file_off)
{
	const char *own = own_output(p, n);
	size_t used = strlen(e->msg);

	/* Only the file's first body (after a byte-order mark) tells what the file is. */
	if (e->kind == ERR_DATA && file_off <= 3 && own)
		snprintf(e->msg + used, sizeof(e->msg) - used,
			 "; this looks like waexport's %s output; convert reads the API's pages, "
			 "e.g. from --save-raw",
			 own);
	if (e->kind == ERR_DATA && e->offset >= 0)
		return err_prefix(e, "%s: byte %llu: ", where,
				  file_off + (unsigned long long)e->offset);
	return err_prefix(e, "%s: ", where);
}
