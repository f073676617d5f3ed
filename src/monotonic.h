/*
 * monotonic: the one clock for durations (timeouts, progress, the run's
 * seconds): CLOCK_MONOTONIC, which no change of the wall clock moves.
 * Dates and file names use the wall clock (log.c, report.c) instead.
 */
#ifndef WAEXPORT_MONOTONIC_H
#define WAEXPORT_MONOTONIC_H

#include <time.h>

/* Seconds since some fixed moment of this boot. */
static inline double monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The same, in whole milliseconds. */
static inline long long monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
