#include "input.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define READ_CHUNK (256u * 1024u)

/*
 * A stop flag set by another thread or a signal handler: read atomically,
 * so the read is not a data race (ThreadSanitizer).
 */
static inline int stop_set(const volatile int *stop)
{
	return stop && __atomic_load_n(stop, __ATOMIC_RELAXED);
}

struct reader {
	int fd;
	const char *name;
	int gzip;                 /* -1 undecided, 0 plain, 1 gzip */
	int eof;                  /* read(2) said end of file */
	int done;                 /* no more decoded bytes */
	z_stream z;
	int z_ready;
	unsigned char raw[READ_CHUNK];
	size_t raw_len, raw_pos;
	unsigned long long *bytes_in;
	const volatile int *stop; /* a signal arrived: give up a blocked read */
};

static int read_raw(struct reader *rd, struct err *e)
{
	ssize_t n;

	do
		n = read(rd->fd, rd->raw, sizeof(rd->raw));
	while (n < 0 && errno == EINTR && !stop_set(rd->stop));
	if (n < 0 && errno == EINTR)
		return err_set(e, ERR_INTERRUPTED, "interrupted");
	if (n < 0)
		return err_set(e, ERR_IO, "%s: read failed: %s", rd->name, strerror(errno));
	rd->raw_len = (size_t)n;
	rd->raw_pos = 0;
	*rd->bytes_in += (unsigned long long)n;
	if (n == 0)
		rd->eof = 1;
	return 0;
}

/* Append up to READ_CHUNK decoded bytes to b; sets rd->done after the last. */
static int fill(struct reader *rd, struct buf *b, struct err *e)
{
	if (rd->raw_pos == rd->raw_len && !rd->eof && read_raw(rd, e))
		return -1;
	if (rd->gzip < 0) {
		rd->gzip = rd->raw_len - rd->raw_pos >= 2 && rd->raw[rd->raw_pos] == 0x1f &&
			   rd->raw[rd->raw_pos + 1] == 0x8b;
		if (rd->gzip) {
			if (inflateInit2(&rd->z, 15 + 16) != Z_OK)
				return err_set(e, ERR_SOFTWARE, "%s: cannot initialise zlib", rd->name);
			rd->z_ready = 1;
		}
	}
	if (!rd->gzip) {
		size_t n = rd->raw_len - rd->raw_pos;

		if (buf_add(b, rd->raw + rd->raw_pos, n))
			return err_nomem(e);
		rd->raw_pos = rd->raw_len;
		rd->done = rd->eof;
		return 0;
	}
	if (buf_reserve(b, READ_CHUNK))
		return err_nomem(e);
	for (;;) {
		size_t produced;
		int zr;

		if (rd->raw_pos == rd->raw_len && !rd->eof && read_raw(rd, e))
			return -1;
		rd->z.next_in = rd->raw + rd->raw_pos;
		rd->z.avail_in = (uInt)(rd->raw_len - rd->raw_pos);
		rd->z.next_out = (unsigned char *)buf_tail(b);
		rd->z.avail_out = READ_CHUNK;
		zr = inflate(&rd->z, Z_NO_FLUSH);
		rd->raw_pos = rd->raw_len - rd->z.avail_in;
		produced = READ_CHUNK - rd->z.avail_out;
		b->len += produced;
		if (zr == Z_STREAM_END) {
			/* RFC 1952 §2.2: members may follow one another. */
			if (rd->raw_pos == rd->raw_len && !rd->eof && read_raw(rd, e))
				return -1;
			if (rd->raw_pos == rd->raw_len) {
				rd->done = 1;
				return 0;
			}
			if (rd->raw[rd->raw_pos] != 0x1f)
				return err_data(e, -1, "unexpected bytes after the gzip data");
			inflateReset(&rd->z);
		} else if (zr != Z_OK && zr != Z_BUF_ERROR) {
			return err_data(e, -1, "corrupt gzip data (%s)",
					rd->z.msg ? rd->z.msg : "inflate failed");
		} else if (!produced && rd->raw_pos == rd->raw_len && rd->eof) {
			return err_data(e, -1, "gzip data ends early (truncated file?)");
		}
		if (produced)
			return 0;
	}
}

static int only_ws(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
			return 0;
	return 1;
}

/* The read loop: values end at a line end, and jsmn resumes across lines. */
static int read_pages(struct reader *rd, struct page *pg, input_page_fn on_page, void *ctx,
		      const volatile int *stop, struct err *e)
{
	struct buf b = BUF_INIT;
	size_t start = 0, scan = 0;
	unsigned long long base = 0;   /* file offset of b.data[0] */
	unsigned long page_no = 0;
	int rc = -1, begun = 0;

	page_reset(pg);
	for (;;) {
		char *nl = scan < b.len ? memchr(b.data + scan, '\n', b.len - scan) : NULL;
		size_t end;
		int final = 0, r;

		if (stop_set(stop)) {
			err_set(e, ERR_INTERRUPTED, "interrupted");
			goto out;
		}
		if (nl) {
			end = (size_t)(nl - b.data) + 1;
		} else if (!rd->done) {
			/* Keep only the unfinished value, then read on. */
			if (start) {
				memmove(b.data, b.data + start, b.len - start);
				b.len -= start;
				scan -= start;
				base += start;
				start = 0;
			}
			if (fill(rd, &b, e)) {
				if (e->kind == ERR_DATA && e->offset < 0)
					e->offset = (long long)(base + b.len);
				goto out;
			}
			continue;
		} else {
			end = b.len;
			final = 1;
		}
		if (!begun && only_ws(b.data + start, end - start)) {
			start = scan = end;
			if (final)
				break;
			continue;
		}
		begun = 1;
		r = page_parse(pg, b.data + start, end - start, final, e);
		if (r == PAGE_MORE) {
			scan = end;
			continue;
		}
		if (r < 0) {
			if (e->offset >= 0)
				e->offset += (long long)(base + start);
			goto out;
		}
		page_no++;
		if (on_page(ctx, pg, b.data + start, end - start, page_no, e)) {
			if (e->kind == ERR_DATA && e->offset >= 0)
				e->offset += (long long)(base + start);
			goto out;
		}
		page_reset(pg);
		begun = 0;
		start = scan = end;
		if (final)
			break;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

static int open_input(struct reader *rd, const char *path, unsigned long long *bytes_in,
		      const volatile int *stop, struct err *e)
{
	int is_stdin = !strcmp(path, "-");

	memset(rd, 0, sizeof(*rd));
	rd->name = is_stdin ? "standard input" : path;
	rd->gzip = -1;
	rd->bytes_in = bytes_in;
	rd->stop = stop;
	rd->fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	if (rd->fd < 0)
		return err_set(e, ERR_USAGE, "%s: cannot open: %s", path, strerror(errno));
	return 0;
}

/* One file is read at a time: its reader (256 KiB) lives here, not on the stack. */
static struct reader rd_storage;

int input_read(const char *path, struct page *pg, input_page_fn on_page, void *ctx,
	       unsigned long long *bytes_in, const volatile int *stop, struct err *e)
{
	struct reader *rd = &rd_storage;
	int is_stdin = !strcmp(path, "-");
	int rc;

	if (open_input(rd, path, bytes_in, stop, e))
		return -1;
	rc = read_pages(rd, pg, on_page, ctx, stop, e);
	if (rd->z_ready)
		inflateEnd(&rd->z);
	if (!is_stdin)
		close(rd->fd);
	if (rc && e->kind == ERR_DATA) {
		if (e->offset >= 0)
			err_prefix(e, "%s: byte %lld: ", rd->name, e->offset);
		else
			err_prefix(e, "%s: ", rd->name);
	} else if (rc && e->kind != ERR_IO && e->kind != ERR_INTERRUPTED &&
		   strncmp(e->msg, rd->name, strlen(rd->name))) {
		err_prefix(e, "%s: ", rd->name);
	}
	return rc;
}

/*
 * Backward reading. The API pages newest first, one page per line in what
 * --save-raw writes, so reading a file's lines from its end gives the
 * history oldest first: --order oldest can then write rows straight to the
 * output, with no spool to turn around at the end. Only regular files can be
 * read this way, and only when every value is one line: the first line that
 * is not a whole value (pretty-printed JSON, damage) stops the read (the
 * feed says INPUT_NOT_LINES), and the caller reads forward instead, which
 * also reports real damage at its true place.
 */
#include <sys/stat.h>

#define BACK_CHUNK (1u << 20)

int input_backward_ok(char *const *files, size_t nfiles)
{
	for (size_t i = 0; i < nfiles; i++) {
		unsigned char magic[2];
		struct stat st;
		int fd, ok;

		/* stat first: opening a FIFO would wait for its writer, then cut it off. */
		if (!strcmp(files[i], "-") || stat(files[i], &st) || !S_ISREG(st.st_mode))
			return 0;
		fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		ok = fd >= 0 && !fstat(fd, &st) && S_ISREG(st.st_mode) &&
		     !(pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b);
		if (fd >= 0)
			close(fd);
		if (!ok)
			return 0;
	}
	return 1;
}

/*
 * Prepend the bytes before file offset *lo to b[0..*end): BACK_CHUNK, or as
 * many as b holds already when that is more, so a very long line is read in
 * steps that double (each byte moved a bounded number of times).
 */
static int read_before(struct reader *rd, struct buf *b, size_t *end, unsigned long long *lo,
		       struct err *e)
{
	size_t step = *end > BACK_CHUNK ? *end : BACK_CHUNK;
	size_t n = *lo < step ? (size_t)*lo : step;
	size_t got = 0;

	b->len = *end;
	if (buf_reserve(b, n))
		return err_nomem(e);
	memmove(b->data + n, b->data, *end);
	while (got < n) {
		ssize_t r = pread(rd->fd, b->data + got, n - got, (off_t)(*lo - n + got));

		if (r < 0 && errno == EINTR && !stop_set(rd->stop))
			continue;
		if (r < 0 && errno == EINTR)
			return err_set(e, ERR_INTERRUPTED, "interrupted");
		if (r < 0)
			return err_set(e, ERR_IO, "%s: read failed: %s", rd->name, strerror(errno));
		if (r == 0) /* the file shrank under us */
			return err_set(e, ERR_DATA, "%s: changed while being read", rd->name);
		got += (size_t)r;
	}
	*rd->bytes_in += n;
	*lo -= n;
	*end += n;
	b->len = *end;
	return 0;
}

static int read_lines_backward(struct reader *rd, input_line_fn on_line, void *ctx,
			       struct err *e)
{
	struct buf b = BUF_INIT;   /* file bytes [lo, lo + end) not yet handed out */
	struct stat st;
	unsigned long long lo;
	size_t end = 0, searched = 0; /* b[0..searched) is known to hold no line end */
	int rc = -1;

	if (fstat(rd->fd, &st))
		return err_set(e, ERR_IO, "%s: %s", rd->name, strerror(errno));
	lo = (unsigned long long)st.st_size;
	for (;;) {
		const char *nl = NULL;
		size_t start;
		int r;

		if (stop_set(rd->stop)) {
			err_set(e, ERR_INTERRUPTED, "interrupted");
			goto out;
		}
		/* The line ending at end: its own '\n' (end - 1) is not where it starts. */
		if (end > 1 && end - 1 > searched)
			nl = memrchr(b.data + searched, '\n', end - 1 - searched);
		if (!nl && lo > 0) {
			size_t before = end;

			if (read_before(rd, &b, &end, &lo, e))
				goto out;
			/* Only the new bytes can hold the line start. */
			nl = memrchr(b.data, '\n', end - before);
			if (!nl) {
				searched = end - 1; /* none before the line's own end either */
				continue;
			}
		}
		start = nl ? (size_t)(nl - b.data) + 1 : 0;
		searched = 0;
		if (end > start && !only_ws(b.data + start, end - start)) {
			r = on_line(ctx, b.data + start, end - start, e);
			if (r) {
				rc = r < 0 ? -1 : 0;
				goto out;
			}
		}
		end = start;
		if (!end && !lo)
			break;
	}
	rc = 0;
out:
	buf_free(&b);
	return rc;
}

int input_read_backward(const char *path, input_line_fn on_line, void *ctx,
			unsigned long long *bytes_in, const volatile int *stop, struct err *e)
{
	struct reader *rd = &rd_storage;
	int rc;

	if (open_input(rd, path, bytes_in, stop, e))
		return -1;
	rc = read_lines_backward(rd, on_line, ctx, e);
	close(rd->fd);
	if (rc < 0 && e->kind != ERR_IO && e->kind != ERR_INTERRUPTED &&
	    strncmp(e->msg, rd->name, strlen(rd->name)))
		err_prefix(e, "%s: ", rd->name);
	return rc;
}

/* ---- the reader thread ---- */

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

/*
 * Pages in the ring, and how many must be ready (or free) before a waiting
 * side is woken: waking per page would cost a futex round trip each.
 */
#define FEED_SLOTS 16
#define FEED_WAKE (FEED_SLOTS / 2)

/*
 * Reading backward, a slot is handed over as soon as its line is read
 * (RAW), and tokenized by whichever thread claims it first: the reader,
 * FEED_AHEAD lines behind the one it reads, or the consumer when it gets
 * there first. Reading forward, slots are handed over READY.
 */
enum slot_state {
	SLOT_READY,       /* parsed and extracted */
	SLOT_RAW,         /* the line only: to be claimed */
	SLOT_CLAIMED,     /* being parsed */
	SLOT_NOT_LINES,   /* the line is not one whole value */
	SLOT_NOMEM,
};

struct feed_slot {
	struct page *pg;
	struct buf body;
	const char *file;
	int state;        /* enum slot_state; moves by atomic operations */
};

struct input_feed {
	char **files;
	size_t nfiles;
	const char *current_file;
	struct page *scratch;        /* the page input_read parses into */
	struct feed_slot slot[FEED_SLOTS];
	unsigned long long head, tail; /* slots filled: [tail, head); see load_count */
	unsigned long long parsed;   /* reader: slots before this are claimed or done */
	int stopped;                 /* reader: a line was not a whole value */
	int consumed;                /* the consumer holds slot tail */
	int reader_waits, consumer_waits; /* a side sleeps (or is about to) */
	int done;                    /* the reader finished (ok or error) */
	int failed;
	int backward;
	struct err err;
	volatile int cancel;
	pthread_t thread;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned long long bytes;
};

static void on_wake(int signo)
{
	(void)signo; /* only to make a blocked read(2) return EINTR */
}

/*
 * head and tail move without the mutex: each has one writer, and a page is
 * handed over by a store of head (taken back by a store of tail) that the
 * other side loads before it touches the slot. The mutex and the condition
 * variable are only for sleeping. A side sets its *_waits flag under the
 * mutex and then checks once more before it sleeps; the other side stores
 * its count and then loads that flag (all sequentially consistent), so one
 * of the two always sees the other and no wake-up is lost.
 */
static inline unsigned long long load_count(const unsigned long long *v)
{
	return __atomic_load_n(v, __ATOMIC_SEQ_CST);
}

static inline void store_count(unsigned long long *v, unsigned long long x)
{
	__atomic_store_n(v, x, __ATOMIC_SEQ_CST);
}

static inline int load_flag(const int *v)
{
	return __atomic_load_n(v, __ATOMIC_SEQ_CST);
}

static inline void store_flag(int *v, int x)
{
	__atomic_store_n(v, x, __ATOMIC_SEQ_CST);
}

/*
 * A futex wake-up costs the waking thread some 30 us on a virtual machine
 * (measured here), longer than a page takes (~20 us). So a side that finds
 * the ring full (or empty) first watches the other side's count for about
 * a page's time, and sleeps only if that was not enough: in a steady run
 * neither side sleeps, and neither has to wake the other. Longer spins
 * (50, 200 us) only burned CPU when the host stalled the other thread.
 * spin_until returns 1 once ok(f) holds, 0 when the time is up.
 */
#define SPIN_NS 20000

static unsigned long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static int spin_until(int (*ok)(struct input_feed *), struct input_feed *f)
{
	unsigned long long until = 0;

	for (unsigned i = 1;; i++) {
		if (ok(f))
			return 1;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
		if ((i & 63) == 0) {
			unsigned long long t = now_ns();

			if (!until)
				until = t + SPIN_NS;
			else if (t > until)
				return 0;
		}
	}
}

/*
 * After the spin, a side naps a few times, each nap twice as long (50 us
 * to 0.8 ms), and looks again: only then does it ask to be woken. A nap
 * costs the side that waits, the one with time to spare; a wake-up costs
 * the side that works. Measured (1M messages): futex calls 4,400 -> 2,000,
 * kernel samples (pvm_irq_enable) of the converting thread 331-382 ->
 * 204-207 and of the reader 226-257 -> 115-137.
 */
#define NAP_FIRST_NS 50000L
#define NAP_LAST_NS 800000L

static int nap_until(int (*ok)(struct input_feed *), struct input_feed *f)
{
	for (long ns = NAP_FIRST_NS; ns <= NAP_LAST_NS; ns *= 2) {
		struct timespec ts = { 0, ns };

		nanosleep(&ts, NULL);
		if (ok(f))
			return 1;
	}
	return 0;
}

/* The reader may fill slot head: the consumer holds slot tail until its next call. */
static int has_room(struct input_feed *f)
{
	return f->head - load_count(&f->tail) < FEED_SLOTS - 1;
}

static int load_state(const struct feed_slot *s)
{
	return __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);
}

/* The consumer may take slot tail: it is filled, and the reader is not parsing it. */
static int has_page(struct input_feed *f)
{
	return load_count(&f->head) != f->tail &&
	       load_state(&f->slot[f->tail % FEED_SLOTS]) != SLOT_CLAIMED;
}

static int has_page_or_end(struct input_feed *f)
{
	return has_page(f) || load_flag(&f->done);
}

static int has_room_or_stop(struct input_feed *f)
{
	return has_room(f) || stop_set(&f->cancel);
}

/*
 * The sleeper set its flag under the mutex and sleeps without letting go of
 * it in between: once we have held the mutex, it sleeps. Woken after the
 * unlock, it does not find the mutex taken and sleep on that instead.
 */
static void wake(struct input_feed *f)
{
	pthread_mutex_lock(&f->mu);
	pthread_mutex_unlock(&f->mu);
	pthread_cond_broadcast(&f->cv);
}

/* Wait until slot head is free (the reader). */
static int wait_room(struct input_feed *f, struct err *e)
{
	if (!has_room(f) && !spin_until(has_room, f) && !nap_until(has_room_or_stop, f)) {
		pthread_mutex_lock(&f->mu);
		store_flag(&f->reader_waits, 1);
		while (!has_room(f) && !stop_set(&f->cancel))
			pthread_cond_wait(&f->cv, &f->mu);
		store_flag(&f->reader_waits, 0);
		pthread_mutex_unlock(&f->mu);
	}
	return stop_set(&f->cancel) ? err_set(e, ERR_INTERRUPTED, "interrupted") : 0;
}

/* Slot head, once free, with a copy of the body; NULL with e set. */
static struct feed_slot *fill_slot(struct input_feed *f, const char *body, size_t len,
				   struct err *e)
{
	struct feed_slot *s;

	if (wait_room(f, e))
		return NULL;
	s = &f->slot[f->head % FEED_SLOTS];
	s->body.len = 0;
	if (buf_add(&s->body, body, len)) {
		err_nomem(e);
		return NULL;
	}
	return s;
}

/* Slot head is filled: hand it over. */
static void publish(struct input_feed *f, struct feed_slot *s, int state)
{
	s->file = f->current_file;
	__atomic_store_n(&s->state, state, __ATOMIC_SEQ_CST);
	store_count(&f->head, f->head + 1);
	if (load_flag(&f->consumer_waits) && f->head - load_count(&f->tail) >= FEED_WAKE)
		wake(f);
}

/* Reading forward: the page was parsed to find where it ends. */
static int feed_page(void *ctx, struct page *pg, const char *body, size_t len,
		     unsigned long page_no, struct err *e)
{
	struct input_feed *f = ctx;
	struct feed_slot *s;

	(void)page_no;
	if (!(s = fill_slot(f, body, len, e)))
		return -1;
	page_swap(s->pg, pg);
	/* Extraction here, too: it balances the reader's work against the writers'. */
	if (page_extract_handoff(s->pg, s->body.data))
		return err_nomem(e);
	publish(f, s, SLOT_READY);
	return 0;
}

/*
 * Parse and extract a claimed slot; handoff for the reader (see
 * page_extract_handoff). Returns the slot's new state.
 */
static int parse_slot(struct feed_slot *s, int handoff)
{
	struct err ignored = { .kind = ERR_NONE, .offset = -1 };

	page_reset(s->pg);
	if (page_parse(s->pg, s->body.data, s->body.len, 1, &ignored) != PAGE_DONE)
		return SLOT_NOT_LINES;
	if (handoff ? page_extract_handoff(s->pg, s->body.data) : page_extract(s->pg, s->body.data))
		return SLOT_NOMEM;
	return SLOT_READY;
}

static int claim(struct feed_slot *s)
{
	int raw = SLOT_RAW;

	return __atomic_compare_exchange_n(&s->state, &raw, SLOT_CLAIMED, 0, __ATOMIC_SEQ_CST,
					   __ATOMIC_SEQ_CST);
}

/* The reader parses the slots it filled before `upto` that the consumer has not taken. */
static void parse_upto(struct input_feed *f, unsigned long long upto)
{
	for (; f->parsed < upto; f->parsed++) {
		struct feed_slot *s = &f->slot[f->parsed % FEED_SLOTS];
		int state;

		if (!claim(s))
			continue;
		state = parse_slot(s, 1);
		__atomic_store_n(&s->state, state, __ATOMIC_SEQ_CST);
		if (state == SLOT_NOT_LINES)
			f->stopped = 1;
		if (load_flag(&f->consumer_waits))
			wake(f);
	}
}

/*
 * Reading backward: hand the line over unparsed, and parse the slots
 * FEED_AHEAD lines behind it. Whichever thread comes first parses a page:
 * the consumer, when it catches up, takes up to FEED_AHEAD pages itself,
 * so when the host slows the reader's core the other core does its work
 * (1 to 7% of the pages of a 1M-message convert). Alternating runs, 1M
 * messages: on a noisy host median 0.66 -> 0.58 s (11 runs), on a quiet
 * one 0.46 -> 0.45 s (15 runs).
 */
#define FEED_AHEAD 4

static int feed_line(void *ctx, const char *line, size_t len, struct err *e)
{
	struct input_feed *f = ctx;
	struct feed_slot *s;

	if (!has_room(f))
		parse_upto(f, f->head); /* while the consumer works: then wait */
	if (f->stopped)
		return 1;
	if (!(s = fill_slot(f, line, len, e)))
		return -1;
	publish(f, s, SLOT_RAW);
	if (f->head > FEED_AHEAD)
		parse_upto(f, f->head - FEED_AHEAD);
	return f->stopped;
}

static void *feed_main(void *arg)
{
	struct input_feed *f = arg;
	struct err e = { .kind = ERR_NONE, .offset = -1 };
	int rc = 0;

	for (size_t k = 0; k < f->nfiles && !rc && !f->stopped; k++) {
		size_t i = f->backward ? f->nfiles - 1 - k : k;

		f->current_file = strcmp(f->files[i], "-") ? f->files[i] : "standard input";
		rc = f->backward ? input_read_backward(f->files[i], feed_line, f, &f->bytes, &f->cancel, &e)
				 : input_read(f->files[i], f->scratch, feed_page, f, &f->bytes,
					      &f->cancel, &e);
	}
	if (!stop_set(&f->cancel))
		parse_upto(f, f->head); /* the last line read; the pages before an error */
	pthread_mutex_lock(&f->mu);
	store_flag(&f->done, 1);
	f->failed = rc != 0;
	f->err = e;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int input_feed_start(struct input_feed **out, char **files, size_t nfiles, int backward,
		     struct err *e)
{
	struct input_feed *f = calloc(1, sizeof(*f));
	struct sigaction sa;
	sigset_t all, old;

	if (!f)
		return err_nomem(e);
	f->files = files;
	f->nfiles = nfiles;
	f->backward = backward;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	int ok = (f->scratch = page_new()) != NULL;

	for (int i = 0; i < FEED_SLOTS; i++)
		ok &= (f->slot[i].pg = page_new()) != NULL;
	if (!ok) {
		input_feed_stop(f);
		return err_nomem(e);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR2, &sa, NULL); /* no SA_RESTART */
	/* The reader takes no signal but SIGUSR2, which input_feed_stop sends it. */
	sigfillset(&all);
	sigdelset(&all, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	f->started = pthread_create(&f->thread, NULL, feed_main, f) == 0;
	if (f->started)
		pthread_setname_np(f->thread, "waexport-read"); /* for top -H and perf */
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!f->started) {
		input_feed_stop(f);
		return err_set(e, ERR_SOFTWARE, "cannot start the reader thread");
	}
	*out = f;
	return 0;
}

int input_feed_next(struct input_feed *f, struct page **pg, const char **body,
		    const char **file, const volatile int *stop, struct err *e)
{
	struct feed_slot *s;
	int state;

	if (f->consumed) {
		store_count(&f->tail, f->tail + 1); /* give the previous page back */
		f->consumed = 0;
		if (load_flag(&f->reader_waits) &&
		    FEED_SLOTS - (load_count(&f->head) - f->tail) >= FEED_WAKE)
			wake(f);
	}
	if (stop_set(stop))
		return err_set(e, ERR_INTERRUPTED, "interrupted");
again:
	if (!has_page(f) && !spin_until(has_page, f) &&
	    (!nap_until(has_page_or_end, f) || !has_page(f))) {
		pthread_mutex_lock(&f->mu);
		store_flag(&f->consumer_waits, 1);
		while (!has_page(f) && !f->done && !stop_set(stop)) {
			struct timespec ts;

			/* Wake now and then: a signal does not end a condition wait. */
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&f->cv, &f->mu, &ts);
		}
		store_flag(&f->consumer_waits, 0);
		if (stop_set(stop)) {
			pthread_mutex_unlock(&f->mu);
			return err_set(e, ERR_INTERRUPTED, "interrupted");
		}
		if (load_count(&f->head) == f->tail) {
			int failed = f->failed;

			if (failed)
				*e = f->err;
			pthread_mutex_unlock(&f->mu);
			return failed ? -1 : 0;
		}
		pthread_mutex_unlock(&f->mu);
	}
	s = &f->slot[f->tail % FEED_SLOTS];
	state = load_state(s);
	/* The reader may have claimed it since has_page looked: then wait for it. */
	if (state == SLOT_CLAIMED || (state == SLOT_RAW && !claim(s)))
		goto again;
	if (state == SLOT_RAW) { /* caught up with the reader: parse it here */
		state = parse_slot(s, 0);
		__atomic_store_n(&s->state, state, __ATOMIC_SEQ_CST);
	}
	if (state == SLOT_NOT_LINES)
		return INPUT_NOT_LINES; /* every page before was delivered */
	if (state == SLOT_NOMEM)
		return err_nomem(e);
	/*
	 * Ask for this page's lines all at once, and for the next page's when
	 * it is ready too. The reader's core wrote them; fetched together they
	 * arrive together, where the first reads would each wait in turn. This
	 * page again even when it was the next one last time: measured (perf
	 * samples, 5 runs each), the next page alone or this page alone leave
	 * decoding at ~1,050 samples, both 811, the thread at 2,700 -> 2,410.
	 * Likely the CPU drops prefetches beyond the misses it can track, and
	 * the second request catches what the first lost.
	 */
	page_prefetch(s->pg, s->body.data, s->body.len);
	if (load_count(&f->head) - f->tail >= 2) {
		const struct feed_slot *n = &f->slot[(f->tail + 1) % FEED_SLOTS];

		if (load_state(n) == SLOT_READY)
			page_prefetch(n->pg, n->body.data, n->body.len);
	}
	f->consumed = 1;
	*pg = s->pg;
	*body = s->body.data;
	*file = s->file;
	return 1;
}

unsigned long long input_feed_bytes(const struct input_feed *f)
{
	return f->bytes;
}

void input_feed_stop(struct input_feed *f)
{
	if (!f)
		return;
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		__atomic_store_n(&f->cancel, 1, __ATOMIC_RELAXED);
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		/* A reader blocked in read(2) on a pipe or terminal: wake it. */
		while (1) {
			int done;

			pthread_mutex_lock(&f->mu);
			done = f->done;
			pthread_mutex_unlock(&f->mu);
			if (done)
				break;
			pthread_kill(f->thread, SIGUSR2);
			usleep(10000);
		}
		pthread_join(f->thread, NULL);
	}
	for (int i = 0; i < FEED_SLOTS; i++) {
		page_free(f->slot[i].pg);
		buf_free(&f->slot[i].body);
	}
	page_free(f->scratch);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}
