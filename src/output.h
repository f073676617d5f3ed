/*
 * output: what one output is, as the command line and its path say (SPEC
 * §2, §4): format (by --format, else by extension), the CSV dialect, gzip,
 * a workbook, the columns, the order, and the combinations that make no
 * sense (usage errors, exit 64): output_plan opens nothing.
 * output_clear_family clears what killed runs left beside its files.
 */
#ifndef WAEXPORT_OUTPUT_H
#define WAEXPORT_OUTPUT_H

#include "err.h"
#include "options.h"
#include "outpath.h"
#include "pipeline.h"
#include "tz.h"

/*
 * The format of the output at path (OUTPATH_CSV, _NDJSON or _XLSX, outpath.h):
 * --format, else the extension; *gzip: --gzip, else ".gz".
 */
int output_format(const struct options *o, const char *path, int *gzip);

/*
 * When --format or --gzip write other than path's extension says (ndjson in
 * a .csv, gzip data in a name without .gz), the sentence that says so into
 * why, and 1: readers that go by the name would misread the file. 0 when
 * they agree, or the name has no known extension.
 */
int output_name_disagrees(const struct options *o, const char *path, char *why, size_t size);

/*
 * --state, under its lock: the temporary files that killed runs left for
 * path (NULL: sink.c does it), at once, and for the other files of the
 * template tmpl (other days' {date}, other chats) once two days old, if no
 * run holds them. Another day's wait: a run on another state file with the
 * same template (which the README advises against) may have staged one for
 * a commit plan its next run will finish.
 */
void output_clear_family(const char *tmpl, const char *path, const struct outpath_vars *vars);

/* The pipeline options of the output at path (expanded but for {chat}). */
int output_opts(const struct options *o, struct tz *tz, const char *path, struct pipeline_opts *po,
		struct err *e);

#endif
