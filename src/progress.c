#include "progress.h"

#include <time.h>

double progress_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void progress_init(struct progress *p, int live)
{
	p->live = live;
	p->start = p->last = progress_now();
	p->drawn = 0;
	p->to = stderr;
}

const char *progress_bytes(unsigned long long n, char *out, size_t size)
{
	if (n < 1000)
		snprintf(out, size, "%llu B", n);
	else if (n < 1000000)
		snprintf(out, size, "%.1f kB", (double)n / 1e3);
	else if (n < 1000000000)
		snprintf(out, size, "%.1f MB", (double)n / 1e6);
	else
		snprintf(out, size, "%.2f GB", (double)n / 1e9);
	return out;
}

void progress_update(struct progress *p, const struct progress_figures *f)
{
	double now;
	char bytes[32];

	if (!p->live)
		return;
	now = progress_now();
	if (now - p->last < 0.2)
		return;
	p->last = now;
	fprintf(p->to, "\r\033[K%llu pages, %llu messages, %.0f msg/s, %s of output",
		f->pages, f->messages, (double)f->messages / (now - p->start + 1e-9),
		progress_bytes(f->bytes, bytes, sizeof(bytes)));
	if (f->media)
		fprintf(p->to, ", %llu media files", f->media);
	if (f->retries)
		fprintf(p->to, ", %llu retries", f->retries);
	fflush(p->to);
	p->drawn = 1;
}

void progress_clear(struct progress *p)
{
	if (p->drawn) {
		fputs("\r\033[K", p->to);
		fflush(p->to);
		p->drawn = 0;
	}
}
