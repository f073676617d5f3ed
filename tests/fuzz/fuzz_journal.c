/*
 * libFuzzer harness: the resumable run's journal reader (journal.c) on
 * arbitrary files (issue 14 item 4).
 *
 * The first byte of an input chooses, the rest is the file:
 *   bit 0  the harness seals the records it finds: each record header gets
 *          its right header CRC (so the fuzzer reaches lengths, pages and
 *          bodies without forging CRC-32s), and with bit 1 clear each body
 *          that fits in the file its right body CRC too
 *   bit 2  the file starts with the journal's first line, put there by the
 *          harness
 *
 * What must hold (each a __builtin_trap() when broken):
 *   - journal_read never fails on a regular file, never crashes, and while
 *     it reads never holds more than four times the file's size plus 4 MiB
 *     of heap (counted by sanitizer malloc hooks): a header that claims a
 *     long body must not make it allocate what the file does not hold;
 *   - the records it yields are those an independent reader finds: in file
 *     order, each body the file's bytes with a matching body CRC, and the
 *     header CRC right; the report's count, good_bytes, tail (CLEAN, TORN,
 *     CORRUPT) and bad_offset agree with that reader;
 *   - journal_open(good_bytes) then one journal_append gives a journal
 *     read back CLEAN with one record more, the new one last.
 *
 * The file lives in a directory made at start-up (TMPDIR, default /tmp).
 * Build and run: scripts/fuzz.sh.
 */
#include <sanitizer/allocator_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "journal.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_journal: invariant failed at %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                                                  \
			__builtin_trap();                                                          \
		}                                                                                  \
	} while (0)

#define MAGIC "waexport-journal 1\n"
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define HEADER_LEN 28
#define MAX_RECORDS 4096

static char dir[256];
static char path[300];

/* Heap held, counted while `counting` is set (libFuzzer's own use is not). */
static volatile int counting;
static volatile size_t live, peak;

static void on_malloc(const volatile void *p, size_t n)
{
	(void)p;
	if (!counting)
		return;
	live += n;
	if (live > peak)
		peak = live;
}

static void on_free(const volatile void *p)
{
	size_t n;

	if (!counting || !p)
		return;
	n = __sanitizer_get_allocated_size((const void *)p);
	live = live > n ? live - n : 0;
}

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

static void setup_once(void)
{
	const char *tmp = getenv("TMPDIR");

	if (dir[0])
		return;
	snprintf(dir, sizeof(dir), "%s/fuzz_journal.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/journal", dir);
	atexit(cleanup);
	CHECK(__sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0);
}

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t crc(const uint8_t *p, size_t n)
{
	return (uint32_t)crc32_z(0, p, n);
}

/* Give the records found in f their right CRCs (bodies too when `bodies`). */
static void seal(uint8_t *f, size_t len, int bodies)
{
	size_t pos = MAGIC_LEN;

	while (pos + HEADER_LEN <= len && !memcmp(f + pos, "WJR1", 4)) {
		uint64_t n = get_le(f + pos + 12, 8);

		put_le(f + pos + 20, crc(f + pos, 20), 4);
		if (n > len - pos - HEADER_LEN)
			break;
		if (bodies)
			put_le(f + pos + 24, crc(f + pos + HEADER_LEN, (size_t)n), 4);
		pos += HEADER_LEN + (size_t)n;
	}
}

/* What an independent reader of the format (journal.h) finds in f. */
struct oracle {
	size_t nrec;
	size_t off[MAX_RECORDS]; /* where each record's body starts */
	struct journal_report rep;
};

static void oracle_read(const uint8_t *f, size_t len, struct oracle *o)
{
	size_t pos = MAGIC_LEN;
	enum journal_tail tail = JOURNAL_CLEAN;

	memset(o, 0, sizeof(*o));
	if (len < MAGIC_LEN || memcmp(f, MAGIC, MAGIC_LEN)) {
		o->rep.tail = len < MAGIC_LEN && (!len || !memcmp(f, MAGIC, len)) ? JOURNAL_TORN
										  : JOURNAL_CORRUPT;
		return;
	}
	while (pos < len) {
		const uint8_t *h = f + pos;
		uint64_t n;

		if (len - pos < HEADER_LEN) {
			tail = JOURNAL_TORN;
			break;
		}
		n = get_le(h + 12, 8);
		if (memcmp(h, "WJR1", 4) || get_le(h + 20, 4) != crc(h, 20) ||
		    n > JOURNAL_MAX_BODY) {
			tail = JOURNAL_CORRUPT;
			break;
		}
		if (n > len - pos - HEADER_LEN) {
			tail = JOURNAL_TORN;
			break;
		}
		if (get_le(h + 24, 4) != crc(h + HEADER_LEN, (size_t)n)) {
			tail = pos + HEADER_LEN + n < len ? JOURNAL_CORRUPT : JOURNAL_TORN;
			break;
		}
		CHECK(o->nrec < MAX_RECORDS);
		o->off[o->nrec++] = pos + HEADER_LEN;
		pos += HEADER_LEN + (size_t)n;
	}
	o->rep.records = o->nrec;
	o->rep.good_bytes = pos;
	o->rep.tail = tail;
	o->rep.bad_offset = tail == JOURNAL_CLEAN ? 0 : pos;
}

struct seen {
	const uint8_t *file;
	size_t len;
	const struct oracle *o;
	size_t n;
};

static int on_record(void *ctx, unsigned long long page, const char *body, size_t len,
		     struct err *e)
{
	struct seen *s = ctx;
	const uint8_t *h;

	(void)e;
	CHECK(s->n < s->o->nrec);
	h = s->file + s->o->off[s->n] - HEADER_LEN;
	CHECK(page == get_le(h + 4, 8) && len == get_le(h + 12, 8));
	CHECK(!memcmp(body, s->file + s->o->off[s->n], len));
	CHECK(get_le(h + 20, 4) == crc(h, 20));
	CHECK(get_le(h + 24, 4) == crc((const uint8_t *)body, len));
	CHECK(body[len] == '\0');
	s->n++;
	return 0;
}

static void write_file(const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	CHECK(f != NULL);
	CHECK(!len || fwrite(data, 1, len, f) == len);
	CHECK(fclose(f) == 0);
}

/* Append one record after the good prefix; read back, it comes last and clean. */
static void check_append(const struct oracle *o)
{
	static const char body[] = "[{\"unique\":\"appended\"}]";
	struct journal *j = NULL;
	struct journal_report rep;
	struct err e;

	memset(&e, 0, sizeof(e));
	CHECK(journal_open(&j, path, o->rep.good_bytes, &e) == 0);
	CHECK(journal_append(j, 7, body, sizeof(body) - 1, &e) == 0);
	journal_close(j);
	CHECK(journal_read(path, NULL, NULL, &rep, &e) == 0);
	CHECK(rep.tail == JOURNAL_CLEAN && !rep.missing);
	CHECK(rep.records == (o->rep.good_bytes >= MAGIC_LEN ? o->rep.records : 0) + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct journal_report rep;
	struct oracle *o = malloc(sizeof(*o));
	struct seen s;
	struct buf file = BUF_INIT;
	struct err e;
	unsigned flags;
	int rc;

	CHECK(o != NULL);
	if (!size)
		goto done;
	setup_once();
	flags = data[0];
	if (flags & 4)
		CHECK(buf_add(&file, MAGIC, MAGIC_LEN) == 0);
	CHECK(buf_add(&file, data + 1, size - 1) == 0);
	if (flags & 1)
		seal((uint8_t *)file.data, file.len, !(flags & 2));
	write_file((const uint8_t *)file.data, file.len);
	oracle_read((const uint8_t *)file.data, file.len, o);

	s = (struct seen){ (const uint8_t *)file.data, file.len, o, 0 };
	memset(&e, 0, sizeof(e));
	live = peak = 0;
	counting = 1;
	rc = journal_read(path, on_record, &s, &rep, &e);
	counting = 0;
	CHECK(peak <= 4 * file.len + (4u << 20));
	CHECK(rc == 0 && !rep.missing);
	CHECK(s.n == o->nrec && rep.records == o->rep.records);
	CHECK(rep.tail == o->rep.tail);
	CHECK(rep.tail == JOURNAL_CLEAN ? !rep.why : rep.why && rep.why[0]);
	CHECK(rep.good_bytes == o->rep.good_bytes && rep.bad_offset == o->rep.bad_offset);
	check_append(o);
done:
	buf_free(&file);
	free(o);
	return 0;
}
