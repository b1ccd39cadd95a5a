/*
 * aggregator.h - spans become mesh metrics: the driver of collector/aggregate/.
 *
 * One struct ml_aggregator is created by main.c. The trace push handlers
 * hand it every batch the trace store has acknowledged (only committed
 * spans count); per span it
 *   - updates the span metrics at once (span_metrics.h),
 *   - gives CLIENT/PRODUCER and SERVER/CONSUMER spans to the pairing table
 *     (pairing.h) with Istio's view of them (istio.h); a complete pair - or
 *     a lone half whose wait is over - becomes Istio's standard metrics as
 *     both sidecars would report them and a service-graph edge
 *     (service_graph.h), Tempo's expiry edges included (a root server span
 *     alone -> an edge from "user"; a client span alone with peer.service,
 *     db.name, db.system or messaging.system -> an edge to that virtual node).
 * All these live in the derived registry (/metrics shows them). Every
 * --aggregation.interval, ml_aggregator_flush() appends every child of the
 * derived registry to the TSDB as cumulative samples at one timestamp, so
 * PromQL's rate() works on them as on any scraped target. On start,
 * ml_aggregator_restore() seeds the registry from the latest samples in the
 * TSDB, so counters continue across restarts instead of going back to zero.
 *
 * Its own health goes to the self registry: meshlens_service_graph_unpaired_edges,
 * meshlens_service_graph_expired_edges_total, meshlens_service_graph_dropped_edges_total,
 * meshlens_aggregation_dropped_series_total.
 *
 * Threads: ml_aggregator_spans may be called from any number of threads;
 * flush, expire and restore from one thread at a time (the housekeeping
 * thread, or main before the HTTP server starts).
 */
#ifndef ML_AGGREGATE_AGGREGATOR_H
#define ML_AGGREGATE_AGGREGATOR_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate/span_metrics.h"
#include "core/error.h"
#include "model/span.h"

struct ml_registry;
struct ml_tsdb;
struct ml_aggregator;

struct ml_aggregator_options {
	enum ml_span_metrics_naming span_metrics_names;
	int64_t service_graph_wait_ms;  /* 0 = 10 s */
	size_t service_graph_max_edges; /* 0 = 10000 */
	size_t max_series;              /* per family; 0 = unbounded */
	int64_t retention_ms;           /* how far back restore looks; 0 = all */
};

/*
 * Registers Istio's, the span metrics' and the service graph's families in
 * derived, and the aggregator's health metrics in self (may be NULL).
 * derived, self and tsdb (may be NULL: flush and restore do nothing) are not
 * owned and must outlive the aggregator. NULL with err set on failure.
 */
struct ml_aggregator *ml_aggregator_create(struct ml_registry *derived, struct ml_registry *self,
                                           struct ml_tsdb *tsdb,
                                           const struct ml_aggregator_options *o,
                                           struct ml_err *err);
/* Frees pending pairs without counting them. Accepts NULL. */
void ml_aggregator_destroy(struct ml_aggregator *a);

/* The current unix time in ms (CLOCK_REALTIME), for callers of ml_aggregator_spans. */
int64_t ml_aggregator_now_ms(void);

/*
 * Aggregates every span of b (read during the call only). a may be NULL
 * (aggregation off): nothing happens. Never fails: spans whose series could
 * not be created (max_series, ENOMEM) are counted in
 * meshlens_aggregation_dropped_series_total.
 */
void ml_aggregator_spans(struct ml_aggregator *a, const struct ml_span_batch *b, int64_t now_ms);

/* Hands out pending halves whose wait is over at now_ms (INT64_MAX: all). Returns how many. */
size_t ml_aggregator_expire(struct ml_aggregator *a, int64_t now_ms);

/*
 * Appends every child of the derived registry to the TSDB at now_ms (or 1 ms
 * after the previous flush if the clock did not advance): counters and
 * gauges as one series each, histograms as _bucket{le=...} (le as
 * Prometheus prints it: "0.5", "1", "+Inf"), _sum and _count; with metric
 * metadata (type, help). A counter or histogram series written for the
 * first time gets a 0 sample 1 ms before its first value (as Tempo's
 * metrics generator does), so rate() and increase() see its first requests. Returns 0, or the first
 * TSDB error (ML_EFULL, ML_EIO, ML_ESHUTDOWN, ML_ENOMEM) with a message in err.
 */
int ml_aggregator_flush(struct ml_aggregator *a, int64_t now_ms, struct ml_err *err);

/*
 * Seeds the derived registry from the TSDB: for every derived family, the
 * latest sample of each of its series within the retention window becomes
 * the child's value. Call once, before any span is aggregated. Series with
 * labels the family does not have are ignored. Returns 0 or ML_E* with err.
 */
int ml_aggregator_restore(struct ml_aggregator *a, int64_t now_ms, struct ml_err *err);

/* Shutdown: expires every pending half (each request counted once) and flushes. */
int ml_aggregator_shutdown(struct ml_aggregator *a, int64_t now_ms, struct ml_err *err);

/* struct ml_periodic_task runners (ctx = the aggregator): flush + expire, and expire only. */
int ml_aggregator_flush_task(void *ctx, int64_t now_ms);
int ml_aggregator_expire_task(void *ctx, int64_t now_ms);

#endif
