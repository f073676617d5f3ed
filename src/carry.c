#include "carry.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/types.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BLOCK (64 * 1024)

int carry_copy(int from, int to, unsigned long long size)
{
	unsigned long long done = 0;
	char tmp[BLOCK];

	if (ioctl(to, FICLONE, from) == 0)
		return lseek(to, 0, SEEK_END) < 0 ? -1 : 0;
	while (done < size) {
		loff_t off = (loff_t)done;
		ssize_t n = copy_file_range(from, &off, to, NULL, size - done, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break; /* not offered here (EXDEV, ENOSYS, EINVAL...): read and write the rest */
		done += (unsigned long long)n;
	}
	while (done < size) {
		size_t want = size - done < sizeof(tmp) ? (size_t)(size - done) : sizeof(tmp);
		ssize_t r = pread(from, tmp, want, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			errno = r ? errno : EIO;
			return -1;
		}
		if (fsutil_write_all(to, tmp, (size_t)r))
			return -1;
		done += (unsigned long long)r;
	}
	return 0;
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
		if (fn(ctx, tmp, (size_t)r)) {
			errno = 0;
			return -1;
		}
		done += (unsigned long long)r;
	}
	return 0;
}
