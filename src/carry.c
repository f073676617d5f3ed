#include "carry.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BLOCK (64 * 1024)

struct tail {
	int to;
	unsigned long long skip; /* bytes the kernel already copied */
	unsigned long long at;
};

/* carry_read's sink for the read-and-write fallback: what the kernel did not copy. */
static int write_rest(void *ctx, const void *p, size_t n)
{
	struct tail *t = ctx;
	size_t skip = t->at >= t->skip ? 0 : (size_t)(t->skip - t->at < n ? t->skip - t->at : n);

	t->at += n;
	return skip < n && fsutil_write_all(t->to, (const char *)p + skip, n - skip) ? -1 : 0;
}

int carry_copy(int from, int to, unsigned long long size)
{
	struct tail t = { to, 0, 0 };

	if (ioctl(to, FICLONE, from) == 0)
		return lseek(to, 0, SEEK_END) < 0 ? -1 : 0;
	while (t.skip < size) {
		loff_t off = (loff_t)t.skip;
		ssize_t n = copy_file_range(from, &off, to, NULL, size - t.skip, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* not offered here (EXDEV, ENOSYS, EINVAL...): read and write the rest */
		t.skip += (unsigned long long)n;
	}
	return t.skip < size ? carry_read(from, size, write_rest, &t) : 0;
}

int carry_read(int from, unsigned long long size, int (*fn)(void *ctx, const void *p, size_t n),
	       void *ctx)
{
	char tmp[BLOCK];

	for (unsigned long long done = 0; done < size;) {
		size_t want = size - done < sizeof(tmp) ? (size_t)(size - done) : sizeof(tmp);
		ssize_t r = pread(from, tmp, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r ? errno : EIO;
			return -1;
		}
		if (fn(ctx, tmp, (size_t)r))
			return -1; /* errno as fn left it */
		done += (unsigned long long)r;
	}
	return 0;
}
