/*
 * err: the error context every fallible function fills. A function that
 * fails returns -1 and describes what failed in a `struct err`; callers add
 * what they know (page, file, byte offset) with err_prefix and pass it up.
 * Only main.c turns an error kind into an exit code (SPEC §3).
 */
#ifndef WAEXPORT_ERR_H
#define WAEXPORT_ERR_H

enum err_kind {
	ERR_NONE = 0,
	ERR_USAGE,       /* 64: bad option, number, date, missing key */
	ERR_DATA,        /* 65: invalid JSON or unexpected shape */
	ERR_NOINPUT,     /* 66: an input file cannot be opened or read */
	ERR_UNAVAILABLE, /* 69: API unreachable or failing after retries */
	ERR_SOFTWARE,    /* 70: out of memory, internal failure */
	ERR_CANTCREAT,   /* 73: output file could not be created */
	ERR_IO,          /* 74: write error */
	ERR_LOCKED,      /* 75: --state lock held, or the output being added to, by another run */
	ERR_REFUSED,     /* 77: API answered status FAIL */
	ERR_INTERRUPTED, /* 128 + signo: SIGHUP 129, SIGINT 130, SIGTERM 143 */
};

struct err {
	enum err_kind kind;
	int signo;        /* with ERR_INTERRUPTED; SIGPIPE: an ERR_IO of stdout, its reader gone */
	int errnum;       /* the errno behind an ERR_IO/ERR_CANTCREAT, or 0 */
	long long offset; /* byte offset of bad data in its body, or -1 */
	char msg[8192];   /* room for two paths of PATH_MAX and what to do */
};

/* Set kind and message; returns -1 so callers can `return err_set(...)`. */
int err_set(struct err *e, enum err_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend context ("page 37: ") to the message already set. Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_nomem(struct err *e);
/* A signal set *stop (stop may be NULL): e is ERR_INTERRUPTED and -1; else 0. */
int err_stopped(const volatile int *stop, struct err *e);
/* ERR_DATA at a byte offset; the message itself does not repeat the offset. */
int err_data(struct err *e, long long offset, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/*
 * The kind a failed file operation calls for (SPEC §3): a permission or a
 * path a person must fix (EACCES, EROFS, ENOENT, ...) is ERR_CANTCREAT, 73;
 * anything else (a full disk, a quota, the device) ERR_IO, 74: worth another
 * try later.
 */
enum err_kind err_file_kind(int errnum);
/* err_set with err_file_kind(errnum), and errnum kept in e. Returns -1. */
int err_file(struct err *e, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Was the error the reader of our standard output going away (| head)? */
int err_broken_pipe(const struct err *e);

#endif
