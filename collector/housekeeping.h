/*
 * housekeeping.h - one timer thread that runs periodic tasks: TSDB
 * maintenance (chunk flushing, WAL checkpoints, retention) now, aggregation
 * flushes later. Tasks run one after another, never concurrently with
 * themselves; a slow task delays the others rather than piling up.
 */
#ifndef ML_HOUSEKEEPING_H
#define ML_HOUSEKEEPING_H

#include <stddef.h>
#include <stdint.h>

struct ml_housekeeping;

struct ml_periodic_task {
	const char *name;       /* for logs */
	uint64_t interval_ms;
	/* Runs with the current unix time in ms; returns 0 or an ML_E* code (logged). */
	int (*run)(void *ctx, int64_t now_ms);
	void *ctx;
};

/* Starts the thread with n tasks (copied). NULL on failure. */
struct ml_housekeeping *ml_housekeeping_start(const struct ml_periodic_task *tasks, size_t n);
/* Wakes the thread, waits for a running task to finish, joins. Accepts NULL. */
void ml_housekeeping_stop(struct ml_housekeeping *hk);

#endif
