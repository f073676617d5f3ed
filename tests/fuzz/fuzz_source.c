/*
 * libFuzzer harness: convert's reader (source.c + boundary.c) on arbitrary
 * files (issue 14 item 4).
 *
 * The first byte of an input chooses how it is read, the rest is the data:
 *   bit 0    gzip it first (one member, or two with bit 4), as --save-raw
 *            writes; without it the bytes are the file as they are (which
 *            may start with the gzip magic: the harness inflates such a file
 *            itself to know what the reader must see, and whether it must
 *            fail)
 *   bit 1-2  `want` of each source_fill call: 1, 13, 4096 or 1 MiB bytes
 *   bit 3    two files: the data split where the second byte says
 *   bit 5    one body per call (max 1) instead of 64
 *   bit 6    the destination buffer is not emptied between calls
 *
 * What must hold (each a __builtin_trap() when broken):
 *   - every body is the very bytes of its (decompressed) file at its
 *     file_off, is not empty, starts with a byte that is not white space,
 *     and is at most JSON_MAX_BODY long;
 *   - bodies come in file order, do not overlap, and what lies between
 *     them (and before the first, after the last) is white space, but for
 *     a UTF-8 byte-order mark at offset 0: the bodies tile the input's
 *     non-blank bytes in order;
 *   - the reader fails (ERR_DATA) exactly when a file is gzip data that
 *     zlib cannot inflate whole (corrupt, cut, or followed by bytes that
 *     are not another member); the bodies before the failure still hold;
 *   - the reader ends: it returns 0 within a bound of calls, and the bytes
 *     read (source_bytes) are the sizes of the files on disk.
 *
 * The files live in one directory made at start-up (TMPDIR, default /tmp)
 * and are rewritten for each input. Build and run: scripts/fuzz.sh.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "jsontext.h"
#include "source.h"
#include "warn.h"

#define CHECK(cond)                                                                               \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "fuzz_source: invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                                 \
			__builtin_trap();                                                         \
		}                                                                                 \
	} while (0)

#define MAX_BODIES 64

static char dir[256];
static char path[2][300];

static void cleanup(void)
{
	unlink(path[0]);
	unlink(path[1]);
	rmdir(dir);
}

static void setup_once(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "%s/fuzz_source.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path[0], sizeof(path[0]), "%s/a", dir);
	snprintf(path[1], sizeof(path[1]), "%s/b", dir);
	atexit(cleanup);
}

/* data as one or two gzip members (split in the middle), appended to out. */
static void gzip_into(struct buf *out, const uint8_t *data, size_t len, int members)
{
	size_t half = members == 2 ? len / 2 : len;

	for (int m = 0; m < members; m++) {
		const uint8_t *p = m ? data + half : data;
		size_t n = m ? len - half : half;
		z_stream z;

		memset(&z, 0, sizeof(z));
		CHECK(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
		CHECK(buf_reserve(out, deflateBound(&z, (uLong)n)) == 0);
		z.next_in = (Bytef *)(uintptr_t)p;
		z.avail_in = (uInt)n;
		z.next_out = (Bytef *)buf_tail(out);
		z.avail_out = (uInt)(out->cap - out->len);
		CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
		out->len += z.total_out;
		deflateEnd(&z);
	}
}

/*
 * The oracle for a raw file with the gzip magic: inflate it whole into out,
 * members one after the other (RFC 1952 §2.2). 0 when it is valid gzip, -1
 * when not (out then holds what inflated before the damage).
 */
static int gunzip_into(struct buf *out, const uint8_t *data, size_t len)
{
	z_stream z;
	int zr = Z_OK, rc = -1;

	memset(&z, 0, sizeof(z));
	CHECK(inflateInit2(&z, 15 + 16) == Z_OK);
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	for (;;) {
		CHECK(buf_reserve(out, 65536) == 0);
		z.next_out = (Bytef *)buf_tail(out);
		z.avail_out = (uInt)(out->cap - out->len);
		zr = inflate(&z, Z_NO_FLUSH);
		out->len = out->cap - z.avail_out;
		if (zr == Z_STREAM_END) {
			if (!z.avail_in) {
				rc = 0;
				break;
			}
			if (*z.next_in != 0x1f)
				break;
			CHECK(inflateReset(&z) == Z_OK);
		} else if (zr != Z_OK) {
			break; /* Z_BUF_ERROR here: the input ended inside a member */
		}
	}
	inflateEnd(&z);
	return rc;
}

static void write_file(const char *p, const void *data, size_t len)
{
	FILE *f = fopen(p, "wb");

	CHECK(f != NULL);
	CHECK(!len || fwrite(data, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

static int is_ws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Bytes [from, to) of file content c are white space (a BOM allowed at 0). */
static void check_blank(const uint8_t *c, size_t from, size_t to)
{
	if (from == 0 && to >= 3 && !memcmp(c, "\xef\xbb\xbf", 3))
		from = 3;
	for (size_t i = from; i < to; i++)
		CHECK(is_ws(c[i]));
}

struct expect {
	const uint8_t *content[2]; /* what source must see in each file, decompressed */
	size_t len[2];
	size_t disk[2]; /* bytes on disk */
	unsigned nfiles;
	int bad;      /* a file is gzip data zlib cannot inflate whole */
	unsigned cur; /* the file of the next body */
	size_t at;    /* where the last body ended in it */
};

static void check_body(struct expect *x, const struct buf *dst, const struct source_body *b)
{
	const uint8_t *c;

	CHECK(b->file < x->nfiles && b->file >= x->cur);
	while (x->cur < b->file) { /* files passed over: their rest is blank */
		check_blank(x->content[x->cur], x->at, x->len[x->cur]);
		x->cur++;
		x->at = 0;
	}
	c = x->content[b->file];
	CHECK(b->len > 0 && b->len <= JSON_MAX_BODY);
	CHECK(b->off + b->len <= dst->len);
	CHECK(b->file_off >= x->at && b->file_off + b->len <= x->len[b->file]);
	CHECK(!memcmp(dst->data + b->off, c + b->file_off, b->len));
	CHECK(!is_ws((uint8_t)dst->data[b->off]));
	check_blank(c, x->at, (size_t)b->file_off);
	x->at = (size_t)b->file_off + b->len;
}

/* Read every body; 0 when the input was read to its end, 1 on an allowed error. */
static int read_all(struct expect *x, char **files, size_t want, size_t max, int keep)
{
	struct source *s = NULL;
	struct source_body bodies[MAX_BODIES];
	struct buf dst = BUF_INIT;
	struct warn w;
	struct err e;
	volatile int stop = 0;
	size_t calls = 0, bound = 16;
	int got, failed = 0;

	for (unsigned i = 0; i < x->nfiles; i++)
		bound += 4 * x->len[i] + 4;
	memset(&e, 0, sizeof(e));
	warn_init(&w, 1);
	CHECK(source_open(&s, files, x->nfiles, &stop, &w, &e) == 0);
	for (;;) {
		if (!keep)
			dst.len = 0;
		got = source_fill(s, &dst, want, bodies, max, &e);
		CHECK(++calls <= bound);
		if (got < 0) {
			CHECK(x->bad && e.kind == ERR_DATA);
			failed = 1;
			break;
		}
		CHECK((size_t)got <= max);
		if (!got)
			break;
		for (int k = 0; k < got; k++)
			check_body(x, &dst, &bodies[k]);
	}
	CHECK(failed || !x->bad);
	if (!failed) {
		for (; x->cur < x->nfiles; x->cur++, x->at = 0)
			check_blank(x->content[x->cur], x->at, x->len[x->cur]);
		CHECK(source_bytes(s) == x->disk[0] + (x->nfiles > 1 ? x->disk[1] : 0));
	}
	source_close(s);
	buf_free(&dst);
	return failed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t wants[4] = { 1, 13, 4096, 1u << 20 };
	struct buf gz[2] = { BUF_INIT, BUF_INIT };
	struct expect x;
	char *files[2];
	unsigned flags;
	size_t split;

	if (!size)
		return 0;
	setup_once();
	flags = data[0];
	data++;
	size--;
	memset(&x, 0, sizeof(x));
	x.nfiles = flags & 8 ? 2 : 1;
	split = x.nfiles == 2 && size ? data[0] % (size + 1) : size;
	for (unsigned i = 0; i < x.nfiles; i++) {
		x.content[i] = i ? data + split : data;
		x.len[i] = i ? size - split : split;
		if (flags & 1) {
			gzip_into(&gz[i], x.content[i], x.len[i], flags & 16 ? 2 : 1);
			write_file(path[i], gz[i].data, gz[i].len);
			x.disk[i] = gz[i].len;
		} else {
			write_file(path[i], x.content[i], x.len[i]);
			x.disk[i] = x.len[i];
			if (x.len[i] >= 2 && x.content[i][0] == 0x1f && x.content[i][1] == 0x8b) {
				x.bad |= gunzip_into(&gz[i], x.content[i], x.len[i]) != 0;
				x.content[i] = (const uint8_t *)gz[i].data;
				x.len[i] = gz[i].len;
			}
		}
		files[i] = path[i];
	}
	read_all(&x, files, wants[(flags >> 1) & 3], flags & 32 ? 1 : MAX_BODIES, flags & 64);
	buf_free(&gz[0]);
	buf_free(&gz[1]);
	return 0;
}
