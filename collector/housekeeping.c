/*
 * housekeeping.c - the timer thread of housekeeping.h.
 */
#include "housekeeping.h"

#include "core/alloc.h"
#include "core/error.h"
#include "core/log.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define ML_MAX_TASKS 16

struct ml_housekeeping {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool stop;
	struct ml_periodic_task tasks[ML_MAX_TASKS];
	int64_t next_ms[ML_MAX_TASKS];
	size_t n;
};

static int64_t now_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *loop(void *arg)
{
	struct ml_housekeeping *hk = arg;
	pthread_mutex_lock(&hk->mu);
	while (!hk->stop) {
		int64_t mono = now_ms(CLOCK_MONOTONIC);
		int64_t wake = mono + 60000;
		for (size_t i = 0; i < hk->n; i++) {
			if (hk->next_ms[i] <= mono) {
				pthread_mutex_unlock(&hk->mu);
				int rc = hk->tasks[i].run(hk->tasks[i].ctx, now_ms(CLOCK_REALTIME));
				if (rc != 0)
					ml_log(ML_LOG_WARN, "msg=\"periodic task failed\" task=%s err=\"%s\"",
					       hk->tasks[i].name, ml_strerror(rc));
				pthread_mutex_lock(&hk->mu);
				mono = now_ms(CLOCK_MONOTONIC);
				hk->next_ms[i] = mono + (int64_t)hk->tasks[i].interval_ms;
				if (hk->stop)
					break;
			}
			if (hk->next_ms[i] < wake)
				wake = hk->next_ms[i];
		}
		if (hk->stop)
			break;
		/* pthread_cond_timedwait wants CLOCK_REALTIME unless told otherwise. */
		int64_t delay = wake - now_ms(CLOCK_MONOTONIC);
		if (delay <= 0)
			continue;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		int64_t ns = ts.tv_nsec + (delay % 1000) * 1000000;
		ts.tv_sec += delay / 1000 + ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		pthread_cond_timedwait(&hk->cond, &hk->mu, &ts);
	}
	pthread_mutex_unlock(&hk->mu);
	return NULL;
}

struct ml_housekeeping *ml_housekeeping_start(const struct ml_periodic_task *tasks, size_t n)
{
	if (n > ML_MAX_TASKS)
		return NULL;
	struct ml_housekeeping *hk = ml_calloc(1, sizeof(*hk));
	if (hk == NULL)
		return NULL;
	memcpy(hk->tasks, tasks, n * sizeof(*tasks));
	hk->n = n;
	int64_t mono = now_ms(CLOCK_MONOTONIC);
	for (size_t i = 0; i < n; i++)
		hk->next_ms[i] = mono + (int64_t)tasks[i].interval_ms;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&hk->cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&hk->mu, NULL);
	if (pthread_create(&hk->thread, NULL, loop, hk) != 0) {
		pthread_cond_destroy(&hk->cond);
		pthread_mutex_destroy(&hk->mu);
		ml_free(hk);
		return NULL;
	}
	return hk;
}

void ml_housekeeping_stop(struct ml_housekeeping *hk)
{
	if (hk == NULL)
		return;
	pthread_mutex_lock(&hk->mu);
	hk->stop = true;
	pthread_cond_signal(&hk->cond);
	pthread_mutex_unlock(&hk->mu);
	pthread_join(hk->thread, NULL);
	pthread_cond_destroy(&hk->cond);
	pthread_mutex_destroy(&hk->mu);
	ml_free(hk);
}
