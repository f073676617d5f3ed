/*
 * version: waexport's version, the one place every text that names it takes
 * it from (--version, the manifest, the workbook's properties, the HTTP
 * User-Agent).
 */
#ifndef WAEXPORT_VERSION_H
#define WAEXPORT_VERSION_H

#define WAEXPORT_VERSION "0.1.0"

#endif
