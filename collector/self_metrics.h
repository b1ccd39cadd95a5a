/*
 * self_metrics.h - meshlens's own health metrics (meshlens_*, process_*),
 * kept in the `self` registry of struct ml_app and exposed by GET /metrics.
 *
 * Every family is registered once at start by ml_self_metrics_register(), so
 * a scrape shows each of them (at zero) before anything happened. Values
 * come from three places:
 *   - counters the request paths bump (ml_self_ingest from ingest/handlers.c,
 *     ml_self_observe_query from exporters/prom_api.c);
 *   - hooks the store and the HTTP server call through their options
 *     (ml_self_on_commit, ml_self_on_request), so that those layers keep no
 *     dependency on the registry;
 *   - on_collect callbacks that read the process (/proc/self), the store
 *     (file size, write-queue depth) and the TSDB (active series) when
 *     scraped.
 * docs/METRICS.md lists every family with its labels and meaning.
 *
 * All functions accept a NULL registry and then do nothing (unit tests build
 * a struct ml_app without one).
 */
#ifndef ML_SELF_METRICS_H
#define ML_SELF_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct ml_app;
struct ml_registry;

/*
 * Registers every health family in app->self and the on_collect callbacks
 * that read app->store, app->tsdb and app->start_time_ns (any of them may be
 * NULL; the callbacks check again on every scrape). Returns 0 or ML_E* with
 * a message in err.
 */
int ml_self_metrics_register(struct ml_app *app, struct ml_err *err);

/* What an ingest request carried. */
enum ml_self_kind {
	ML_SELF_SPANS = 0,  /* meshlens_{received,rejected}_spans_total */
	ML_SELF_POINTS,     /* meshlens_{received,rejected}_metric_points_total (OTLP) */
	ML_SELF_SAMPLES,    /* meshlens_{received,rejected}_samples_total (remote write, text) */
};

/*
 * Counts one ingest request: accepted items (stored) under
 * meshlens_received_*_total{format}, rejected ones under
 * meshlens_rejected_*_total{format,reason}, the reason derived from the HTTP
 * status the request got (see ml_self_reason). format is one of the values
 * listed in docs/METRICS.md ("otlp_proto", "otlp_json", "zipkin",
 * "remote_write", "prometheus_text").
 */
void ml_self_ingest(struct ml_registry *self, enum ml_self_kind kind, const char *format,
		    uint64_t accepted, uint64_t rejected, int http_status);

/* Counts n rejected items under meshlens_rejected_*_total{format,reason}
 * with an explicit reason (the TSDB's "out_of_order", "duplicate",
 * "invalid_series"). */
void ml_self_reject(struct ml_registry *self, enum ml_self_kind kind, const char *format,
		    const char *reason, uint64_t n);

/* "invalid" (400 or a partial success), "too_large" (413), "unsupported"
 * (415), "overloaded" (429, 503), "storage_full" (507), "internal" (other). */
const char *ml_self_reason(int http_status);

/* meshlens_query_duration_seconds{endpoint}: one PromQL query's seconds. */
void ml_self_observe_query(struct ml_registry *self, const char *endpoint, double seconds);

/* Store hook (struct ml_store_options.on_commit); hook_ctx is the registry. */
void ml_self_on_commit(void *hook_ctx, double seconds, size_t ops);

/* HTTP hook (struct ml_http_options.on_request); hook_ctx is the registry. */
void ml_self_on_request(void *hook_ctx, const char *route_path, int status, double seconds);

#endif
