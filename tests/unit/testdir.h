/*
 * testdir: a scratch directory for unit tests that touch files — made
 * under $TMPDIR (or /tmp) and removed with its files afterwards.
 */
#ifndef WAEXPORT_TESTDIR_H
#define WAEXPORT_TESTDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Make dir (size bytes) as TMPDIR/<name>.XXXXXX. 0, or -1. */
static inline int testdir_make(char *dir, size_t size, const char *name)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, size, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name);
	return mkdtemp(dir) ? 0 : -1;
}

/* Remove the files in dir (no subdirectories are made), then dir. */
static inline void testdir_remove(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char p[1024];

	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

#endif
