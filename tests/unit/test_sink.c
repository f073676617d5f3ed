/*
 * out: atomic file output (SPEC §4.4), stdout, gzip as one member mixing
 * the output's own deflate stream with chunks deflated elsewhere, append
 * under --state (a new member for gzip), and write errors. Every test works
 * in its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "testdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "err.h"
#include "gz.h"
#include "sink.h"
#include "testgz.h"

struct fx {
	char dir[256];
	char path[512];
	char mnt[256]; /* a small tmpfs, when a test mounted one */
};

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (!fx || testdir_make(fx->dir, sizeof(fx->dir), "test_sink"))
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv", fx->dir);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->mnt[0]) {
		umount2(fx->mnt, MNT_DETACH);
		testdir_remove(fx->mnt);
	}
	testdir_remove(fx->dir);
	free(fx);
	return 0;
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);
	char tmp[65536];
	ssize_t n;

	assert_true(fd >= 0);
	b->len = 0;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		assert_int_equal(buf_add(b, tmp, (size_t)n), 0);
	assert_int_equal(n, 0);
	close(fd);
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
}

static mode_t file_mode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* Rows a file can be added to: the last one whole (make_rows may cut it). */
static void whole_rows(struct buf *b, size_t n, unsigned long seed)
{
	make_rows(b, n, seed);
	b->data[b->len - 1] = '\n';
}

static struct sink *open_out(const char *path, int gzip, int append)
{
	struct sink_opts o = { .path = path, .gzip = gzip, .level = 6, .append = append };
	struct sink *s = NULL;
	struct err e;

	memset(&e, 0, sizeof(e));
	if (sink_open(&s, &o, &e))
		fprintf(stderr, "sink_open(%s): %s\n", path, e.msg);
	assert_non_null(s);
	return s;
}

static void commit(struct sink *s)
{
	struct err e;

	memset(&e, 0, sizeof(e));
	if (sink_commit(s, &e))
		fprintf(stderr, "sink_commit: %s\n", e.msg);
	assert_int_equal(e.kind, ERR_NONE);
	sink_close(s);
}

/* The file is exactly one gzip member holding want; gzip -t and Python agree. */
static void check_gzip_file(const char *path, const struct buf *want, int members)
{
	struct buf file = BUF_INIT, plain = BUF_INIT, all = BUF_INIT;
	size_t at = 0;
	char cmd[1024];

	read_file(path, &file);
	for (int i = 0; i < members; i++) {
		gunzip_member(&file, &at, &plain);
		assert_int_equal(buf_add(&all, plain.data, plain.len), 0);
	}
	assert_int_equal(at, file.len);
	assert_int_equal(all.len, want->len);
	assert_memory_equal(all.data, want->data, want->len);
	snprintf(
		cmd, sizeof(cmd),
		"gzip -t '%s' && /usr/bin/python3 -c 'import gzip,sys;"
		"sys.exit(0 if len(gzip.decompress(open(sys.argv[1],\"rb\").read()))==%zu else 1)' '%s'",
		path, want->len, path);
	assert_int_equal(system(cmd), 0);
	buf_free(&file);
	buf_free(&plain);
	buf_free(&all);
}

static void test_commit_makes_file_visible(void **state)
{
	struct fx *fx = *state;
	mode_t old = umask(0);
	struct sink *s = open_out(fx->path, 0, 0);
	struct buf got = BUF_INIT;
	struct err e;

	umask(old);
	assert_int_equal(sink_write(s, "a,b\r\n", 5, &e), 0);
	/* Until the commit only the temporary file exists, beside the target. */
	assert_int_equal(access(fx->path, F_OK), -1);
	assert_int_equal(count_entries(fx->dir), 1);
	commit(s);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 5);
	assert_memory_equal(got.data, "a,b\r\n", 5);
	/* New files are 0600 whatever the umask. */
	assert_int_equal(file_mode(fx->path), 0600);
	assert_int_equal(count_entries(fx->dir), 1);
	buf_free(&got);
}

/* Without append, an existing file is replaced and keeps its mode. */
static void test_replace_keeps_mode(void **state)
{
	struct fx *fx = *state;
	struct buf got = BUF_INIT;
	struct sink *s;
	struct err e;

	write_file(fx->path, "old\n", 4, 0644);
	s = open_out(fx->path, 0, 0);
	assert_int_equal(sink_figures(s)->appending, 0);
	assert_int_equal(sink_write(s, "new\n", 4, &e), 0);
	commit(s);
	read_file(fx->path, &got);
	assert_int_equal(got.len, 4);
	assert_memory_equal(got.data, "new\n", 4);
	assert_int_equal(file_mode(fx->path), 0644);
	buf_free(&got);
}

static void test_close_without_commit_leaves_target(void **state)
{
	struct fx *fx = *state;
	struct buf data = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	struct sink *s;
	struct err e;

	make_rows(&data, 3u << 20, 1);
	for (int gzip = 0; gzip < 2; gzip++) {
		/* A file this kind of run could add to: plain, or one gzip member. */
		s = open_out(fx->path, gzip, 0);
		assert_int_equal(sink_write(s, "precious\r\n", 10, &e), 0);
		commit(s);
		assert_int_equal(chmod(fx->path, 0640), 0);
		read_file(fx->path, &want);
		for (int append = 0; append < 2; append++) {
			s = open_out(fx->path, gzip, append);
			assert_int_equal(sink_write(s, data.data, data.len, &e), 0);
			sink_close(s);
			read_file(fx->path, &got);
			assert_int_equal(got.len, want.len);
			assert_memory_equal(got.data, want.data, want.len);
			assert_int_equal(file_mode(fx->path), 0640);
			assert_int_equal(count_entries(fx->dir), 1);
		}
	}
	buf_free(&data);
	buf_free(&want);
	buf_free(&got);
}

static void test_finish_then_publish(void **state)
{
	struct fx *fx = *state;
	struct sink *s = open_out(fx->path, 0, 0);
	struct err e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_write(s, "x\n", 2, &e), 0);
	assert_int_equal(sink_publish(s, &e), -1);
	assert_int_equal(e.kind, ERR_SOFTWARE);
	assert_int_equal(sink_finish(s, &e), 0);
	/* Finished, fsynced, not yet visible. */
	assert_int_equal(access(fx->path, F_OK), -1);
	assert_int_equal(sink_publish(s, &e), 0);
	assert_int_equal(access(fx->path, F_OK), 0);
	assert_int_equal(sink_figures(s)->in, 2);
	assert_int_equal(sink_figures(s)->out, 2);
	sink_close(s);
	assert_int_equal(count_entries(fx->dir), 1);
}

/* Point fd 1 at fd `to` for a while; returns what to give stdout_back. */
static int stdout_to(int to)
{
	int saved;

	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(to, STDOUT_FILENO), STDOUT_FILENO);
	return saved;
}

static void stdout_back(int saved)
{
	assert_int_equal(dup2(saved, STDOUT_FILENO), STDOUT_FILENO);
	close(saved);
}

/* "-" is stdout: bytes arrive there, nothing is created, stdout stays open. */
static void test_stdout_gzip(void **state)
{
	struct fx *fx = *state;
	struct buf data = BUF_INIT;
	int fd = open(fx->path, O_WRONLY | O_CREAT | O_EXCL, 0600), saved;
	struct sink *s;
	struct err e;
	int rc_write, rc_commit;

	assert_true(fd >= 0);
	make_rows(&data, 1u << 20, 2);
	saved = stdout_to(fd);
	s = open_out("-", 1, 1);
	rc_write = sink_write(s, data.data, data.len, &e);
	rc_commit = sink_commit(s, &e);
	assert_int_equal(sink_figures(s)->appending, 0);
	sink_close(s);
	/* Still open after the close: the output does not own stdout. */
	assert_true(fcntl(STDOUT_FILENO, F_GETFD) >= 0);
	stdout_back(saved);
	close(fd);
	assert_int_equal(rc_write, 0);
	assert_int_equal(rc_commit, 0);
	check_gzip_file(fx->path, &data, 1);
	assert_int_equal(count_entries(fx->dir), 1);
	buf_free(&data);
}

/* A reader that closed our stdout is a broken pipe, told apart from other errors. */
static void test_stdout_broken_pipe(void **state)
{
	void (*old)(int) = signal(SIGPIPE, SIG_IGN);
	int p[2], saved, rc;
	struct sink *s;
	struct err e;

	(void)state;
	assert_int_equal(pipe(p), 0);
	close(p[0]);
	saved = stdout_to(p[1]);
	s = open_out(NULL, 0, 0);
	memset(&e, 0, sizeof(e));
	rc = sink_write(s, "row\n", 4, &e);
	if (!rc)
		rc = sink_commit(s, &e);
	sink_close(s);
	stdout_back(saved);
	close(p[1]);
	signal(SIGPIPE, old);
	assert_int_equal(rc, -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_true(err_broken_pipe(&e));
	assert_non_null(strstr(e.msg, "standard output"));
}

static void gzip_round_trip(struct fx *fx, size_t n)
{
	struct buf data = BUF_INIT, file = BUF_INIT;
	struct sink *s;
	struct err e;

	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	make_rows(&data, n, 3);
	s = open_out(fx->path, 1, 0);
	/* Cut anyhow, as writers do. */
	for (size_t off = 0, k = 1; off < data.len; off += k, k = k * 3 + 1) {
		if (k > data.len - off)
			k = data.len - off;
		assert_int_equal(sink_write(s, data.data + off, k, &e), 0);
	}
	assert_int_equal(sink_finish(s, &e), 0);
	assert_int_equal(sink_publish(s, &e), 0);
	assert_int_equal(sink_figures(s)->in, n);
	read_file(fx->path, &file);
	assert_int_equal(sink_figures(s)->out, file.len);
	sink_close(s);
	check_gzip_file(fx->path, &data, 1);
	assert_int_equal(count_entries(fx->dir), 1);
	buf_free(&data);
	buf_free(&file);
}

static void test_gzip_round_trip(void **state)
{
	gzip_round_trip(*state, 0);
	gzip_round_trip(*state, 100);
	gzip_round_trip(*state, 5u << 20);
}

/*
 * Chunks deflated on their own (as the workers do) and handed over last
 * first make one member that reads back as the text last first.
 */
static void test_deflated_chunks_in_reverse(void **state)
{
	static const size_t sizes[] = { 1000, 1, 300000, 0, 4096, 2u << 20, 77 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	struct fx *fx = *state;
	struct gz_deflater *d = NULL;
	struct buf text = BUF_INIT, want = BUF_INIT, z = BUF_INIT;
	size_t start[N + 1] = { 0 };
	struct sink *s;
	struct err e;

	for (size_t i = 0; i < N; i++)
		start[i + 1] = start[i] + sizes[i];
	make_rows(&text, start[N], 4);
	assert_int_equal(gz_deflater_new(&d, 6, &e), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	s = open_out(fx->path, 1, 0);
	for (size_t i = N; i-- > 0;) {
		uint32_t crc;

		z.len = 0;
		assert_int_equal(gz_deflate_chunk(d, text.data + start[i], sizes[i], &z, &crc, &e),
				 0);
		assert_int_equal(sink_write_deflated(s, z.data, z.len, crc, sizes[i], &e), 0);
		assert_int_equal(buf_add(&want, text.data + start[i], sizes[i]), 0);
	}
	assert_int_equal(sink_figures(s)->in, start[N]);
	commit(s);
	check_gzip_file(fx->path, &want, 1);
	gz_deflater_free(d);
	buf_free(&text);
	buf_free(&want);
	buf_free(&z);
}

/*
 * Plain bytes, a foreign chunk, then the same plain bytes again: the
 * output's own stream must not refer back across the chunk (its window
 * never held the chunk's text), nor may the CRC or length miss either part.
 */
static void test_mix_write_and_deflated(void **state)
{
	struct fx *fx = *state;
	struct gz_deflater *d = NULL;
	struct buf head = BUF_INIT, other = BUF_INIT, want = BUF_INIT, z = BUF_INIT;
	struct sink *s;
	struct err e;
	uint32_t crc;

	make_rows(&head, 20000, 5);
	make_rows(&other, 20000, 6);
	assert_int_equal(gz_deflater_new(&d, 6, &e), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	s = open_out(fx->path, 1, 0);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(sink_write(s, head.data, head.len, &e), 0);
		assert_int_equal(buf_add(&want, head.data, head.len), 0);
		z.len = 0;
		assert_int_equal(gz_deflate_chunk(d, other.data, other.len, &z, &crc, &e), 0);
		assert_int_equal(sink_write_deflated(s, z.data, z.len, crc, other.len, &e), 0);
		/* Two foreign chunks in a row need no flush between them. */
		assert_int_equal(sink_write_deflated(s, z.data, z.len, crc, other.len, &e), 0);
		assert_int_equal(buf_add(&want, other.data, other.len), 0);
		assert_int_equal(buf_add(&want, other.data, other.len), 0);
	}
	assert_int_equal(sink_write(s, head.data, 10, &e), 0);
	assert_int_equal(buf_add(&want, head.data, 10), 0);
	commit(s);
	check_gzip_file(fx->path, &want, 1);
	gz_deflater_free(d);
	buf_free(&head);
	buf_free(&other);
	buf_free(&want);
	buf_free(&z);
}

static void test_deflated_needs_gzip(void **state)
{
	struct fx *fx = *state;
	struct sink *s = open_out(fx->path, 0, 0);
	struct err e;

	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_write_deflated(s, "\x00\x00\xff\xff", 4, 0, 0, &e), -1);
	assert_int_equal(e.kind, ERR_SOFTWARE);
	sink_close(s);
	assert_int_equal(count_entries(fx->dir), 0);
}

/* SPEC §4.4 under --state: the run's rows go after the file's own, mode kept. */
static void test_append_plain(void **state)
{
	struct fx *fx = *state;
	struct buf old = BUF_INIT, add = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	struct sink *s;
	struct err e;

	/* Large enough for the copy to take several rounds. */
	whole_rows(&old, 3u << 20, 7);
	whole_rows(&add, 100000, 8);
	write_file(fx->path, old.data, old.len, 0640);
	s = open_out(fx->path, 0, 1);
	assert_int_equal(sink_figures(s)->appending, 1);
	assert_int_equal(sink_figures(s)->carried, old.len);
	assert_int_equal(sink_write(s, add.data, add.len, &e), 0);
	commit(s);
	assert_int_equal(buf_add(&want, old.data, old.len), 0);
	assert_int_equal(buf_add(&want, add.data, add.len), 0);
	read_file(fx->path, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	assert_int_equal(file_mode(fx->path), 0640);
	assert_int_equal(count_entries(fx->dir), 1);

	/* A run with nothing new leaves the bytes as they were. */
	s = open_out(fx->path, 0, 1);
	commit(s);
	read_file(fx->path, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	buf_free(&old);
	buf_free(&add);
	buf_free(&want);
	buf_free(&got);
}

/* In a child: copy_file_range refused (EXDEV), as on file systems that lack it. */
static void refuse_copy_file_range(void)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_copy_file_range, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EXDEV & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		_exit(2);
}

/* Without shared extents or copy_file_range the bytes are read and written. */
static void test_append_by_read_and_write(void **state)
{
	struct fx *fx = *state;
	struct buf old = BUF_INIT, got = BUF_INIT;
	int status;
	pid_t pid;

	whole_rows(&old, 200000, 14);
	write_file(fx->path, old.data, old.len, 0640);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sink_opts o = { .path = fx->path, .gzip = 0, .level = 6, .append = 1 };
		struct sink *s = NULL;
		struct err e;

		refuse_copy_file_range();
		/* A probe: the filter is in place. */
		if (syscall(__NR_copy_file_range, -1, NULL, -1, NULL, 1, 0) != -1 || errno != EXDEV)
			_exit(3);
		_exit(sink_open(&s, &o, &e) || !sink_figures(s)->appending ||
				      sink_write(s, "end\n", 4, &e) || sink_commit(s, &e)
			      ? 4
			      : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == 2)
		skip(); /* no seccomp here */
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(buf_add(&old, "end\n", 4), 0);
	read_file(fx->path, &got);
	assert_int_equal(got.len, old.len);
	assert_memory_equal(got.data, old.data, old.len);
	assert_int_equal(file_mode(fx->path), 0640);
	assert_int_equal(count_entries(fx->dir), 1);
	buf_free(&old);
	buf_free(&got);
}

/* Nothing to append to: a missing or empty target is written from the start. */
static void test_append_to_missing_or_empty(void **state)
{
	struct fx *fx = *state;
	struct sink *s = open_out(fx->path, 0, 1);
	struct err e;

	assert_int_equal(sink_figures(s)->appending, 0);
	assert_int_equal(sink_write(s, "h\r\n", 3, &e), 0);
	commit(s);
	assert_int_equal(file_mode(fx->path), 0600);
	write_file(fx->path, "", 0, 0604);
	s = open_out(fx->path, 1, 1);
	assert_int_equal(sink_figures(s)->appending, 0);
	assert_int_equal(sink_figures(s)->carried, 0);
	sink_close(s);
	assert_int_equal(file_mode(fx->path), 0604);
	assert_int_equal(count_entries(fx->dir), 1);
}

/* A .gz target gets a second member; every gzip reader reads both. */
static void test_append_gzip_new_member(void **state)
{
	struct fx *fx = *state;
	struct gz_deflater *d = NULL;
	struct buf one = BUF_INIT, two = BUF_INIT, want = BUF_INIT, z = BUF_INIT;
	struct sink *s;
	struct err e;
	uint32_t crc;

	whole_rows(&one, 200000, 9);
	make_rows(&two, 300000, 10);
	snprintf(fx->path, sizeof(fx->path), "%s/out.ndjson.gz", fx->dir);
	s = open_out(fx->path, 1, 1);
	assert_int_equal(sink_figures(s)->appending, 0);
	assert_int_equal(sink_write(s, one.data, one.len, &e), 0);
	commit(s);
	assert_int_equal(chmod(fx->path, 0660), 0);

	assert_int_equal(gz_deflater_new(&d, 6, &e), 0);
	assert_int_equal(gz_deflate_chunk(d, two.data, two.len, &z, &crc, &e), 0);
	s = open_out(fx->path, 1, 1);
	assert_int_equal(sink_figures(s)->appending, 1);
	assert_int_equal(sink_write_deflated(s, z.data, z.len, crc, two.len, &e), 0);
	assert_int_equal(sink_write(s, "tail\r\n", 6, &e), 0);
	commit(s);
	assert_int_equal(buf_add(&want, one.data, one.len), 0);
	assert_int_equal(buf_add(&want, two.data, two.len), 0);
	assert_int_equal(buf_add(&want, "tail\r\n", 6), 0);
	check_gzip_file(fx->path, &want, 2);
	assert_int_equal(file_mode(fx->path), 0660);
	assert_int_equal(count_entries(fx->dir), 1);

	/* A quiet run adds no empty member: the bytes stay as they were. */
	read_file(fx->path, &one);
	s = open_out(fx->path, 1, 1);
	assert_int_equal(sink_write(s, "", 0, &e), 0);
	commit(s);
	read_file(fx->path, &two);
	assert_int_equal(two.len, one.len);
	assert_memory_equal(two.data, one.data, one.len);
	gz_deflater_free(d);
	buf_free(&one);
	buf_free(&two);
	buf_free(&want);
	buf_free(&z);
}

/* An append run whose target's text must start with head (CSV), digest or not. */
static int open_append(const char *path, int gzip, const char *head, int digest, struct sink **s,
		       struct err *e)
{
	struct sink_opts o = { .path = path,
			       .gzip = gzip,
			       .level = 6,
			       .append = 1,
			       .head = head,
			       .head_len = head ? strlen(head) : 0,
			       .csv = head != NULL, /* a CSV header: the tests' CSV files */
			       .digest = digest ? SINK_DIGEST_CALLER : SINK_DIGEST_NONE };

	memset(e, 0, sizeof(*e));
	return sink_open(s, &o, e);
}

/*
 * A target rows cannot follow is refused (73), whether its bytes are read
 * whole (digest, gzip) or only at its ends: named, why, what to do; the file
 * as it was and no temporary file left.
 */
static void refused(struct fx *fx, int gzip, const char *head, const char *why)
{
	struct buf before = BUF_INIT, after = BUF_INIT;

	read_file(fx->path, &before);
	for (int digest = 0; digest < 2; digest++) {
		struct sink *s = NULL;
		struct err e;

		assert_int_equal(open_append(fx->path, gzip, head, digest, &s, &e), -1);
		assert_null(s);
		assert_int_equal(e.kind, ERR_CANTCREAT);
		assert_non_null(strstr(e.msg, fx->path));
		assert_non_null(strstr(e.msg, "exists but cannot be added to: "));
		if (!strstr(e.msg, why))
			fail_msg("\"%s\" does not say \"%s\"", e.msg, why);
		assert_non_null(strstr(e.msg, "move it aside"));
		assert_non_null(
			strstr(e.msg, gzip ? "'history-{date}.csv.gz'" : "'history-{date}.csv'"));
		read_file(fx->path, &after);
		assert_int_equal(after.len, before.len);
		assert_memory_equal(after.data, before.data, before.len);
		assert_int_equal(count_entries(fx->dir), 1);
	}
	buf_free(&before);
	buf_free(&after);
}

/* The target holds text as one gzip member. */
static void write_gz(const char *path, const char *text, size_t n)
{
	struct sink *s = open_out(path, 1, 0);
	struct err e;

	assert_int_equal(sink_write(s, text, n, &e), 0);
	commit(s);
}

/* A line cut short takes the first new row into it: refused, CSV or NDJSON, plain or gzip. */
static void test_append_refuses_no_final_newline(void **state)
{
	struct fx *fx = *state;
	static const char csv[] = "a,b\r\n1,2\r\n3,";

	write_file(fx->path, csv, strlen(csv), 0600);
	refused(fx, 0, "a,b\r\n", "it does not end with a line break");
	write_file(fx->path, "{\"a\":1}\n{\"a\":", 13, 0600);
	refused(fx, 0, NULL, "it does not end with a line break");
	write_file(fx->path, "a,b", 3, 0600); /* the head itself, cut short */
	refused(fx, 0, NULL, "it does not end with a line break");
	assert_int_equal(unlink(fx->path), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	write_gz(fx->path, csv, strlen(csv));
	refused(fx, 1, "a,b\r\n", "it does not end with a line break");
}

/*
 * A CSV file cut inside a quoted cell, just after a line break that cell
 * holds, ends with a line break too: the next row would land inside the
 * cell. Refused by its quotes, plain or gzip; one whose quoted line breaks
 * and "" escapes all close is added to.
 */
static void test_append_refuses_csv_cut_inside_quotes(void **state)
{
	struct fx *fx = *state;
	static const char cut[] = "a,b\r\n1,\"say \"\"hi\"\"\r\nthere\"\r\n2,\"line one\r\n";
	static const char whole[] = "a,b\r\n1,\"say \"\"hi\"\"\r\nthere\"\r\n";
	struct sink *s = NULL;
	struct err e;

	write_file(fx->path, cut, strlen(cut), 0600);
	refused(fx, 0, "a,b\r\n", "it ends inside a quoted cell");
	write_file(fx->path, whole, strlen(whole), 0600);
	assert_int_equal(open_append(fx->path, 0, "a,b\r\n", 0, &s, &e), 0);
	assert_int_equal(sink_figures(s)->appending, 1);
	commit(s);
	assert_int_equal(unlink(fx->path), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	write_gz(fx->path, cut, strlen(cut));
	refused(fx, 1, "a,b\r\n", "it ends inside a quoted cell");
}

/* A gzip file cut short or damaged would hide every member after it. */
static void test_append_refuses_truncated_gzip(void **state)
{
	struct fx *fx = *state;
	struct buf rows = BUF_INIT, z = BUF_INIT;

	whole_rows(&rows, 300000, 15);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	write_gz(fx->path, rows.data, rows.len);
	read_file(fx->path, &z);
	for (size_t cut = 1; cut < z.len; cut += z.len / 3) {
		write_file(fx->path, z.data, cut, 0600);
		refused(fx, 1, NULL, "it is not a complete gzip file");
	}
	write_file(fx->path, z.data, z.len - 1, 0600); /* the trailer's last byte gone */
	refused(fx, 1, NULL, "it is not a complete gzip file");
	z.data[z.len / 2] ^= 0x55; /* damaged inside: a bad block or CRC */
	write_file(fx->path, z.data, z.len, 0600);
	refused(fx, 1, NULL, "it is not a complete gzip file");
	z.data[z.len / 2] ^= 0x55;
	assert_int_equal(buf_add(&z, "junk", 4), 0); /* not a member after the member */
	write_file(fx->path, z.data, z.len, 0600);
	refused(fx, 1, NULL, "it is not a complete gzip file");
	write_file(fx->path, rows.data, rows.len, 0600); /* plain text where gzip goes */
	refused(fx, 1, NULL, "it is not gzip, and this run writes gzip");
	buf_free(&rows);
	buf_free(&z);
}

/* Members one after the other (earlier runs) are a file to add to; digest of it all. */
static void test_append_accepts_gzip_members(void **state)
{
	struct fx *fx = *state;
	static const char *head = "a,b\r\n";
	struct buf one = BUF_INIT, want = BUF_INIT;

	whole_rows(&one, 200000, 16);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	assert_int_equal(buf_add(&want, head, strlen(head)), 0);
	write_gz(fx->path, head, strlen(head));
	for (int run = 0; run < 3; run++) {
		struct sink *s = NULL;
		struct err e;

		assert_int_equal(open_append(fx->path, 1, head, run == 2, &s, &e), 0);
		assert_int_equal(sink_figures(s)->appending, 1);
		assert_int_equal(sink_write(s, one.data, one.len, &e), 0);
		commit(s);
		assert_int_equal(buf_add(&want, one.data, one.len), 0);
	}
	check_gzip_file(fx->path, &want, 4);
	buf_free(&one);
	buf_free(&want);
}

/* Rows of one layout under another's header: refused, BOM or not, plain or gzip. */
static void test_append_refuses_other_header(void **state)
{
	struct fx *fx = *state;
	static const char bom[] = "\xEF\xBB\xBF"
				  "a,b\r\n1,2\r\n";

	write_file(fx->path, "a,b\r\n1,2\r\n", 10, 0600);
	refused(fx, 0, "a,c\r\n", "its first line is not the CSV header this run writes");
	refused(fx, 0, "a,b,c\r\n", "its first line is not the CSV header this run writes");
	refused(fx, 0,
		"\xEF\xBB\xBF"
		"a,b\r\n",
		"its first line is not the CSV header this run writes");
	write_file(fx->path, bom, strlen(bom), 0600);
	refused(fx, 0, "a,b\r\n", "its first line is not the CSV header this run writes");
	write_file(fx->path, "a,\r\n", 4, 0600); /* shorter than the head */
	refused(fx, 0, "a,b\r\n", "its first line is not the CSV header this run writes");
	assert_int_equal(unlink(fx->path), 0);
	snprintf(fx->path, sizeof(fx->path), "%s/out.csv.gz", fx->dir);
	write_gz(fx->path, bom, strlen(bom));
	refused(fx, 1, "a,b\r\n", "its first line is not the CSV header this run writes");
	write_gz(fx->path, "", 0); /* an empty member: no header at all */
	refused(fx, 1, "a,b\r\n", "its first line is not the CSV header this run writes");
}

/* The head this run writes, BOM and all: accepted, and the caller leaves it out. */
static void test_append_same_header(void **state)
{
	struct fx *fx = *state;
	static const char head[] = "\xEF\xBB\xBF"
				   "a,b\r\n";
	struct buf want = BUF_INIT, got = BUF_INIT;

	assert_int_equal(buf_add(&want, head, strlen(head)), 0);
	assert_int_equal(buf_add(&want, "1,2\r\n", 5), 0);
	write_file(fx->path, want.data, want.len, 0600);
	for (int digest = 0; digest < 2; digest++) {
		struct sink *s = NULL;
		struct err e;

		assert_int_equal(open_append(fx->path, 0, head, digest, &s, &e), 0);
		assert_int_equal(sink_figures(s)->appending, 1);
		assert_int_equal(sink_figures(s)->carried, want.len);
		assert_int_equal(sink_write(s, "3,4\r\n", 5, &e), 0);
		assert_int_equal(sink_finish(s, &e), 0);
		assert_int_equal(sink_figures(s)->have_sha256, digest);
		commit(s);
		assert_int_equal(buf_add(&want, "3,4\r\n", 5), 0);
	}
	read_file(fx->path, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	buf_free(&want);
	buf_free(&got);
}

/* A file that is not added to opens with the head (sink_opts.head), written by the sink. */
static void test_head_opens_a_new_file(void **state)
{
	struct fx *fx = *state;
	static const char head[] = "\xEF\xBB\xBF"
				   "a,b\r\n";
	struct buf want = BUF_INIT, got = BUF_INIT;
	struct sink *s = NULL;
	struct err e;

	assert_int_equal(open_append(fx->path, 0, head, 0, &s, &e), 0); /* no target yet */
	assert_int_equal(sink_figures(s)->appending, 0);
	assert_int_equal(sink_write(s, "1,2\r\n", 5, &e), 0);
	commit(s);
	assert_int_equal(buf_add(&want, head, strlen(head)), 0);
	assert_int_equal(buf_add(&want, "1,2\r\n", 5), 0);
	read_file(fx->path, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	buf_free(&want);
	buf_free(&got);
}

/* -o through a symlink writes the file it points to and keeps the link. */
static void test_symlinked_target(void **state)
{
	struct fx *fx = *state;
	struct buf got = BUF_INIT;
	struct sink *s;
	struct err e;
	struct stat st;
	char real[600], link[600];

	snprintf(real, sizeof(real), "%s/real.csv", fx->dir);
	snprintf(link, sizeof(link), "%s/link.csv", fx->dir);
	write_file(real, "old\n", 4, 0640);
	assert_int_equal(symlink("real.csv", link), 0);
	s = open_out(link, 0, 1);
	assert_int_equal(sink_write(s, "new\n", 4, &e), 0);
	commit(s);
	assert_int_equal(lstat(link, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	read_file(real, &got);
	assert_int_equal(got.len, 8);
	assert_memory_equal(got.data, "old\nnew\n", 8);
	assert_int_equal(file_mode(real), 0640);
	assert_int_equal(count_entries(fx->dir), 2);
	buf_free(&got);
}

/* /dev/full is written in place and fails every write with ENOSPC: exit 74. */
static void dev_full(size_t n, int gzip)
{
	struct buf data = BUF_INIT;
	struct sink *s = open_out("/dev/full", gzip, 0);
	struct err e;
	int rc;

	make_rows(&data, n, 11);
	memset(&e, 0, sizeof(e));
	rc = sink_write(s, data.data, data.len, &e);
	if (!rc)
		rc = sink_commit(s, &e);
	sink_close(s);
	assert_int_equal(rc, -1);
	assert_int_equal(e.kind, ERR_IO);
	assert_int_equal(e.errnum, ENOSPC);
	assert_non_null(strstr(e.msg, "/dev/full"));
	assert_false(err_broken_pipe(&e));
	buf_free(&data);
}

static void test_dev_full(void **state)
{
	(void)state;
	dev_full(10, 0);
	dev_full(6u << 20, 0);
	dev_full(10, 1);
	dev_full(6u << 20, 1);
}

/*
 * A real full file system (a 1 MiB tmpfs, where the test may mount one):
 * the temporary file fills it, the run fails with 74, the target keeps its
 * bytes and no temporary file is left, appending or not.
 */
static void test_full_file_system(void **state)
{
	struct fx *fx = *state;
	struct buf old = BUF_INIT, data = BUF_INIT, got = BUF_INIT;
	char path[600];

	assert_int_equal(testdir_make(fx->mnt, sizeof(fx->mnt), "test_sink_tmpfs"), 0);
	if (mount("tmpfs", fx->mnt, "tmpfs", 0, "size=1m")) {
		testdir_remove(fx->mnt);
		fx->mnt[0] = '\0';
		skip();
	}
	snprintf(path, sizeof(path), "%s/out.csv", fx->mnt);
	whole_rows(&old, 300000, 12);
	make_rows(&data, 2u << 20, 13);
	write_file(path, old.data, old.len, 0640);
	for (int append = 0; append < 2; append++) {
		struct sink *s = open_out(path, 0, append);
		struct err e;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = sink_write(s, data.data, data.len, &e);
		if (!rc)
			rc = sink_commit(s, &e);
		sink_close(s);
		assert_int_equal(rc, -1);
		assert_int_equal(e.kind, ERR_IO);
		assert_int_equal(e.errnum, ENOSPC);
		read_file(path, &got);
		assert_int_equal(got.len, old.len);
		assert_memory_equal(got.data, old.data, old.len);
		assert_int_equal(count_entries(fx->mnt), 1);
	}
	buf_free(&old);
	buf_free(&data);
	buf_free(&got);
}

static void test_cannot_create(void **state)
{
	struct fx *fx = *state;
	struct sink_opts o = { .path = NULL, .gzip = 0, .level = 6 };
	struct sink *s = (struct sink *)&o;
	struct err e;
	char path[600];

	snprintf(path, sizeof(path), "%s/missing/out.csv", fx->dir);
	o.path = path;
	memset(&e, 0, sizeof(e));
	assert_int_equal(sink_open(&s, &o, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	assert_non_null(strstr(e.msg, path));
	assert_null(s);
	/* A directory is not a file. */
	o.path = fx->dir;
	assert_int_equal(sink_open(&s, &o, &e), -1);
	assert_int_equal(e.kind, ERR_CANTCREAT);
	/* A bad level leaves no temporary file behind. */
	o.path = fx->path;
	o.gzip = 1;
	o.level = 10;
	assert_int_equal(sink_open(&s, &o, &e), -1);
	assert_null(s);
	assert_int_equal(count_entries(fx->dir), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_commit_makes_file_visible),
		T(test_replace_keeps_mode),
		T(test_close_without_commit_leaves_target),
		T(test_finish_then_publish),
		T(test_stdout_gzip),
		T(test_stdout_broken_pipe),
		T(test_gzip_round_trip),
		T(test_deflated_chunks_in_reverse),
		T(test_mix_write_and_deflated),
		T(test_deflated_needs_gzip),
		T(test_append_plain),
		T(test_append_by_read_and_write),
		T(test_append_to_missing_or_empty),
		T(test_append_gzip_new_member),
		T(test_append_refuses_no_final_newline),
		T(test_append_refuses_csv_cut_inside_quotes),
		T(test_append_refuses_truncated_gzip),
		T(test_append_accepts_gzip_members),
		T(test_append_refuses_other_header),
		T(test_append_same_header),
		T(test_head_opens_a_new_file),
		T(test_symlinked_target),
		T(test_dev_full),
		T(test_full_file_system),
		T(test_cannot_create),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
