/*
 * journal: pages kept on disk as they arrive (journal.h). Records come back
 * in order and whole; a journal torn at every offset of its last record
 * gives the records before it and a TORN report, and can be appended to
 * again; a corrupt record in the middle ends the good prefix there; the
 * file is never opened through a link.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "err.h"
#include "journal.h"

#define NREC 5

struct fx {
	char dir[256];
	char path[512];
	long off[NREC + 1]; /* where each record starts; off[NREC] is the file size */
};

/* Record i's body: of different sizes, with NULs and newlines, the second empty. */
static size_t body_of(int i, char *out)
{
	size_t n = i == 1 ? 0 : (size_t)(37 * i + 3);

	for (size_t k = 0; k < n; k++)
		out[k] = (char)(k % 7 == 0 ? '\0' : k % 5 == 0 ? '\n' : 'a' + (k + (size_t)i) % 26);
	return n;
}

struct seen {
	int n;
	unsigned long long pages[64];
	int stop_at; /* fail at this record (-1: never) */
};

static int on_record(void *ctx, unsigned long long page, const char *body, size_t len,
		     struct err *e)
{
	struct seen *s = ctx;
	char want[512];
	size_t n = body_of(s->n, want);

	if (s->n == s->stop_at)
		return err_set(e, ERR_SOFTWARE, "stop");
	assert_int_equal(len, n);
	assert_memory_equal(body, want, n);
	assert_int_equal(body[len], '\0');
	s->pages[s->n++] = page;
	return 0;
}

static void write_journal(struct fx *fx)
{
	struct journal *j = NULL;
	struct err e = { 0 };
	char body[512];
	struct stat sb;

	assert_int_equal(journal_open(&j, fx->path, 0, &e), 0);
	for (int i = 0; i < NREC; i++) {
		assert_int_equal(stat(fx->path, &sb), 0);
		fx->off[i] = (long)sb.st_size;
		assert_int_equal(journal_append(j, (unsigned long long)(100 + i), body,
						body_of(i, body), &e),
				 0);
	}
	journal_close(j);
	assert_int_equal(stat(fx->path, &sb), 0);
	fx->off[NREC] = (long)sb.st_size;
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || testdir_make(fx->dir, sizeof(fx->dir), "test_journal"))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/state.journal", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	testdir_remove(fx->dir);
	free(fx);
	return 0;
}

static struct journal_report read_back(const char *path, struct seen *s)
{
	struct journal_report rep;
	struct err e = { 0 };

	memset(s, 0, sizeof(*s));
	s->stop_at = -1;
	assert_int_equal(journal_read(path, on_record, s, &rep, &e), 0);
	assert_int_equal(rep.records, (unsigned long long)s->n);
	return rep;
}

static void test_records_come_back_in_order_and_whole(void **state)
{
	struct fx *fx = *state;
	struct journal_report rep;
	struct seen s;

	write_journal(fx);
	rep = read_back(fx->path, &s);
	assert_int_equal(s.n, NREC);
	for (int i = 0; i < NREC; i++)
		assert_int_equal(s.pages[i], 100 + i);
	assert_int_equal(rep.tail, JOURNAL_CLEAN);
	assert_int_equal(rep.good_bytes, fx->off[NREC]);
	assert_int_equal(rep.missing, 0);
}

static void test_torn_at_every_offset_of_the_last_record(void **state)
{
	struct fx *fx = *state;
	struct journal_report rep;
	struct journal *j = NULL;
	struct err e = { 0 };
	char body[512];
	struct seen s;

	write_journal(fx);
	for (long k = fx->off[NREC - 1]; k < fx->off[NREC]; k++) {
		write_journal(fx);
		assert_int_equal(truncate(fx->path, k), 0);
		rep = read_back(fx->path, &s);
		assert_int_equal(s.n, NREC - 1);
		assert_int_equal(rep.good_bytes, fx->off[NREC - 1]);
		assert_int_equal(rep.tail, k == fx->off[NREC - 1] ? JOURNAL_CLEAN : JOURNAL_TORN);
		if (rep.tail == JOURNAL_TORN) {
			assert_int_equal(rep.bad_offset, fx->off[NREC - 1]);
			assert_non_null(rep.why);
		}
		/* The run goes on: the torn tail goes and the record is written again. */
		assert_int_equal(journal_open(&j, fx->path, rep.good_bytes, &e), 0);
		assert_int_equal(journal_append(j, 100 + NREC - 1, body, body_of(NREC - 1, body),
						&e),
				 0);
		journal_close(j);
		rep = read_back(fx->path, &s);
		assert_int_equal(s.n, NREC);
		assert_int_equal(rep.tail, JOURNAL_CLEAN);
	}
}

static void test_a_corrupt_middle_record_ends_the_good_prefix(void **state)
{
	struct fx *fx = *state;
	struct journal_report rep;
	struct seen s;

	/* Every byte of record 2, header and page: records 0 and 1 are kept. */
	write_journal(fx);
	for (long k = fx->off[2]; k < fx->off[3]; k++) {
		unsigned char c;
		int fd;

		write_journal(fx);
		fd = open(fx->path, O_RDWR);
		assert_true(fd >= 0);
		assert_int_equal(pread(fd, &c, 1, k), 1);
		c ^= 0x10;
		assert_int_equal(pwrite(fd, &c, 1, k), 1);
		close(fd);
		rep = read_back(fx->path, &s);
		assert_int_equal(s.n, 2);
		assert_int_equal(rep.tail, JOURNAL_CORRUPT);
		assert_int_equal(rep.bad_offset, fx->off[2]);
		assert_int_equal(rep.good_bytes, fx->off[2]);
	}
}

static void test_missing_empty_and_foreign_files(void **state)
{
	struct fx *fx = *state;
	struct journal_report rep;
	struct seen s;
	int fd;

	rep = read_back(fx->path, &s);
	assert_int_equal(rep.missing, 1);
	assert_int_equal(rep.tail, JOURNAL_CLEAN);

	fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	close(fd);
	rep = read_back(fx->path, &s);
	assert_int_equal(rep.tail, JOURNAL_TORN); /* died as it began */
	assert_int_equal(rep.good_bytes, 0);

	fd = open(fx->path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "waexport-state 2\nxxxxxxxxxx", 27), 27);
	close(fd);
	rep = read_back(fx->path, &s);
	assert_int_equal(rep.tail, JOURNAL_CORRUPT);
	assert_int_equal(s.n, 0);
	assert_int_equal(rep.good_bytes, 0);
}

static void test_a_failing_callback_stops_the_read(void **state)
{
	struct fx *fx = *state;
	struct journal_report rep;
	struct err e = { 0 };
	struct seen s = { 0 };

	write_journal(fx);
	s.stop_at = 3;
	assert_int_equal(journal_read(fx->path, on_record, &s, &rep, &e), -1);
	assert_int_equal(e.kind, ERR_SOFTWARE);
	assert_int_equal(s.n, 3);
}

static void test_never_through_a_link(void **state)
{
	struct fx *fx = *state;
	struct journal *j = NULL;
	struct err e = { 0 };
	char victim[600], buf[16];
	int fd;

	snprintf(victim, sizeof(victim), "%s/victim", fx->dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0644);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	assert_int_equal(symlink(victim, fx->path), 0);
	assert_int_equal(journal_open(&j, fx->path, 0, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT); /* a person must remove it: 73 */
	fd = open(victim, O_RDONLY);
	assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	close(fd);
	assert_memory_equal(buf, "keep", 4);
	/* Removing after a good run; a second remove is fine too. */
	assert_int_equal(journal_remove(fx->path, &e), 0);
	assert_int_equal(journal_remove(fx->path, &e), 0);
	assert_int_equal(access(victim, F_OK), 0);
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#ifdef UNDER_ASAN
/* A limit on the address space cannot work under ASan: it bounds one allocation instead. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "max_allocation_size_mb=256:allocator_may_return_null=1";
}
#endif

/* The process's address space now (/proc/self/statm, pages), in bytes; 0 if unknown. */
static rlim_t address_space(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long pages = 0;

	if (f && fscanf(f, "%lu", &pages) != 1)
		pages = 0;
	if (f)
		fclose(f);
	return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/*
 * Found by fuzz_journal: a record header (its CRC right) that claims a body
 * of JOURNAL_MAX_BODY in a file of a few bytes made the reader allocate the
 * whole claim first. Read in a child whose address space has 256 MiB to
 * spare (under ASan: where no allocation may exceed 256 MiB), it is now a
 * torn tail, not an allocation failure.
 */
static void test_a_header_claiming_a_long_body_allocates_what_the_file_holds(void **state)
{
	struct fx *fx = *state;
	unsigned char rec[28 + 10] = "WJR1";
	uint64_t len = JOURNAL_MAX_BODY;
	struct rlimit rl;
	pid_t pid;
	int fd, status = -1;

	for (int i = 0; i < 8; i++) {
		rec[4 + i] = (unsigned char)(i == 0 ? 9 : 0);
		rec[12 + i] = (unsigned char)(len >> (8 * i));
	}
	for (int i = 0; i < 4; i++)
		rec[20 + i] = (unsigned char)(crc32(0, rec, 20) >> (8 * i));
	memset(rec + 28, 'x', 10);
	fd = open(fx->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "waexport-journal 1\n", 19), 19);
	assert_int_equal(write(fd, rec, sizeof(rec)), (ssize_t)sizeof(rec));
	close(fd);

	rl.rlim_cur = rl.rlim_max = address_space() + (256u << 20);
	assert_true(rl.rlim_cur > (256u << 20));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct journal_report rep;
		struct err e = { 0 };

#ifndef UNDER_ASAN
		if (setrlimit(RLIMIT_AS, &rl))
			_exit(2);
#endif
		if (journal_read(fx->path, NULL, NULL, &rep, &e) || rep.tail != JOURNAL_TORN ||
		    rep.records || rep.good_bytes != 19)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_records_come_back_in_order_and_whole, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_at_every_offset_of_the_last_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_corrupt_middle_record_ends_the_good_prefix,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_empty_and_foreign_files, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_a_failing_callback_stops_the_read, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_never_through_a_link, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_a_header_claiming_a_long_body_allocates_what_the_file_holds, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
