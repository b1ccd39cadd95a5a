/*
 * app.h - the handles a request handler may use.
 *
 * One struct ml_app is built by main.c and passed as the ctx of every route
 * handler. It is a list of the long-lived components, each behind its own
 * module interface; handlers reach nothing else.
 */
#ifndef ML_APP_H
#define ML_APP_H

#include <stdint.h>

struct ml_store;
struct ml_trace_store;
struct ml_tsdb;
struct ml_delta_accumulator;
struct ml_registry;
struct ml_aggregator;

struct ml_app {
	struct ml_store *store;        /* the LMDB environment and its writer */
	struct ml_trace_store *traces; /* spans */
	struct ml_tsdb *tsdb;          /* time series */
	struct ml_delta_accumulator *deltas; /* OTLP delta -> cumulative state */
	struct ml_registry *derived;   /* span aggregates (Istio, span metrics, service graph); /metrics and the flush read it */
	struct ml_registry *self;      /* meshlens's own health metrics (meshlens_*, process_*) */
	struct ml_aggregator *agg;     /* spans -> derived; NULL when aggregation is off */
	uint64_t start_time_ns;        /* process start, for /metrics and status */
	volatile int ready;            /* 1 once every component is open (/-/ready) */
};

#endif
