/*
 * contact: the numbers and ids the API takes (SPEC §2): an account is 8-15
 * international digits; a contact is such a number or a hidden-number id
 * (IL.1605856887361213); a local-format or '+' number is refused with the
 * form expected.
 */
#ifndef WAEXPORT_CONTACT_H
#define WAEXPORT_CONTACT_H

#include "err.h"

/* --from: 8-15 digits. */
int contact_is_account(const char *s);

/* --to: digits, or letters, a dot and digits. */
int contact_is_valid(const char *s);

/* ERR_USAGE, showing the international form, for a local-format or '+' number; else 0. */
int contact_check_international(const char *opt, const char *s, struct err *e);

#endif
