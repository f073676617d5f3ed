#include "output.h"
#include "fsutil.h"
#include "outpath.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OLD_TEMP_AGE (2 * 86400)

static int of_family(void *family, const char *name)
{
	return outpath_matches(family, name);
}

void output_clear_family(const char *tmpl, const char *path, const struct outpath_vars *vars)
{
	char *family = NULL, dir[PATH_MAX];
	const char *base;
	struct err e;

	if (path)
		fsutil_remove_stale_temps(path, NULL, NULL);
	if (!tmpl || !strcmp(tmpl, "-") || outpath_family(tmpl, vars, &family, &e))
		return;
	base = strrchr(family, '/');
	fsutil_dirname(family, dir, sizeof(dir));
	/* Only beside this run's file: a template whose directories vary is left alone. */
	if (!strstr(dir, OUTPATH_ANY_DATE) && !strstr(dir, "{chat}"))
		fsutil_remove_old_temps(dir, OLD_TEMP_AGE, of_family,
					(void *)(base ? base + 1 : family));
	free(family);
}

int output_format(const struct options *o, const char *path, int *gzip)
{
	int format = OUTPATH_CSV, gz = 0;

	if (strcmp(path, "-"))
		outpath_infer(path, &format, &gz);
	if (o->format)
		format = !strcmp(o->format, "ndjson") ? OUTPATH_NDJSON
			 : !strcmp(o->format, "xlsx") ? OUTPATH_XLSX
						      : OUTPATH_CSV;
	*gzip = o->gzip >= 0 ? o->gzip : gz;
	return format;
}

int output_name_disagrees(const struct options *o, const char *path, char *why, size_t size)
{
	static const char *const says[] = { "CSV", "NDJSON", "an xlsx workbook" };
	int named, named_gz, gz, format;

	if (!strcmp(path, "-") || !outpath_known_extension(path))
		return 0;
	outpath_infer(path, &named, &named_gz);
	format = output_format(o, path, &gz);
	if (format != named)
		snprintf(why, size, "-o %s: the name says %s, but --format %s writes %s", path,
			 says[named], o->format, says[format]);
	else if (gz && !named_gz)
		snprintf(why, size,
			 "-o %s: --gzip (or --gzip-level) writes gzip data under a name "
			 "without .gz (readers that go by the name will not unpack it)",
			 path);
	else
		return 0;
	return 1;
}

int output_opts(const struct options *o, struct tz *tz, const char *path, struct pipeline_opts *po,
		struct err *e)
{
	int gz, format = output_format(o, path, &gz), ndjson, xlsx;

	memset(po, 0, sizeof(*po));
	ndjson = format == OUTPATH_NDJSON;
	xlsx = format == OUTPATH_XLSX;
	po->writer.format = ndjson ? WRITER_NDJSON : xlsx ? WRITER_XLSX : WRITER_CSV;
	po->writer.excel = o->excel;
	po->writer.tz = tz;
	if (o->excel && ndjson)
		return err_set(e, ERR_USAGE,
			       "--excel is a CSV dialect; it does not apply to NDJSON");
	/* SPEC §4.6: a workbook is typed and compressed already. */
	if (xlsx && o->excel)
		return err_set(e, ERR_USAGE,
			       "--excel is a CSV dialect; an xlsx workbook has typed "
			       "cells and needs no spreadsheet tricks (drop --excel)");
	if (xlsx && (gz || o->gzip > 0))
		return err_set(e, ERR_USAGE,
			       "%s: an xlsx workbook is a zip file already; --gzip, "
			       "--gzip-level and .xlsx.gz do not apply",
			       path);
	if (o->columns) {
		if (writer_parse_columns(&po->writer, o->columns, e) ||
		    writer_check_media(&po->writer, o->media_dir != NULL, e))
			return -1;
	} else {
		writer_default_columns(&po->writer, o->media_dir != NULL);
		po->writer.extras = 1;
	}
	po->out.path = path;
	po->out.gzip = gz;
	po->out.level = o->gzip_level;
	po->out.csv = po->writer.format == WRITER_CSV;
	po->out.append = o->cmd == CMD_FETCH && o->state; /* SPEC §4.4: add, never replace */
	/* SPEC §4.7: each file's SHA-256 as it is written (route.c: by the caller for {chat}). */
	po->out.digest = o->manifest ? SINK_DIGEST_BESIDE : SINK_DIGEST_NONE;
	if (po->writer.format != WRITER_CSV) { /* the CSV header is the head instead */
		memcpy(po->out.columns, po->writer.columns, sizeof(po->out.columns));
		po->out.ncolumns = po->writer.ncolumns;
	}
	if (xlsx) {
		/* --state: a workbook cannot be added to, so an existing one is refused (SPEC §4.4). */
		po->out.xlsx = 1;
		po->out.append = o->state != NULL;
		po->out.media_dir = o->media_dir;
	}
	po->format_after_select = o->media_dir != NULL;
	po->order = o->order_newest ? ORDER_NEWEST : ORDER_OLDEST;
	po->create_dirs = o->create_dirs;
	return 0;
}
