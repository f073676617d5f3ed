/*
 * page_fail: a page whose root is an object (page.c). The API answers a
 * request it refuses with {"status":"FAIL","reason":N}; any other object
 * is not a page.
 */
#ifndef WAEXPORT_PAGE_FAIL_H
#define WAEXPORT_PAGE_FAIL_H

#include "err.h"
#include "json.h"

/* What an API refusal's reason code means (SPEC §1), or NULL. */
const char *page_fail_reason(long long code);

/* Always -1: ERR_REFUSED with the reason for a refusal, else ERR_DATA. */
int page_root_object(const struct json *j, const char *body, struct err *e);

#endif
