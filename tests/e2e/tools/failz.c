/*
 * An LD_PRELOAD shim for tests: the Nth call of zlib's deflateInit2_
 * (FAILZ_AT, by default the first) answers Z_MEM_ERROR, as it does when
 * its allocation fails. Every other call goes to the real zlib.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <zlib.h>

typedef int (*deflate_init2_fn)(z_streamp, int, int, int, int, int, const char *, int);

int deflateInit2_(z_streamp strm, int level, int method, int window_bits, int mem_level,
		  int strategy, const char *version, int stream_size)
{
	static int calls;
	const char *at = getenv("FAILZ_AT");
	deflate_init2_fn real = (deflate_init2_fn)dlsym(RTLD_NEXT, "deflateInit2_");

	if (__atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST) == (at ? atoi(at) : 1))
		return Z_MEM_ERROR;
	return real(strm, level, method, window_bits, mem_level, strategy, version, stream_size);
}
