/*
 * span_metrics.h - request rate, errors and duration per service, span name,
 * span kind and status, from every span: what Grafana's and Jaeger's
 * "monitor" views query.
 *
 * Two namings, chosen once at start (--aggregation.span-metrics-names):
 *   tempo (default): Grafana Tempo's metrics generator,
 *     traces_spanmetrics_calls_total (counter) and
 *     traces_spanmetrics_latency (histogram, seconds, Tempo's default
 *     buckets 0.002 s doubling 14 times), labels service, span_name,
 *     span_kind, status_code;
 *   otel: the OpenTelemetry Collector's spanmetrics connector as Prometheus
 *     sees it, traces_span_metrics_calls_total and
 *     traces_span_metrics_duration_milliseconds (the connector's default
 *     buckets 2 .. 15000 ms), labels service_name, span_name, span_kind,
 *     status_code.
 * Both write span_kind as SPAN_KIND_SERVER ... and status_code as
 * STATUS_CODE_UNSET | STATUS_CODE_OK | STATUS_CODE_ERROR.
 *
 * Threads: ml_span_metrics_record may be called from any number of threads
 * (the registry's children are thread-safe).
 */
#ifndef ML_AGGREGATE_SPAN_METRICS_H
#define ML_AGGREGATE_SPAN_METRICS_H

#include <stddef.h>

#include "core/error.h"
#include "model/span.h"

struct ml_registry;
struct ml_span_metrics;

enum ml_span_metrics_naming {
	ML_SPAN_METRICS_TEMPO = 0,
	ML_SPAN_METRICS_OTEL = 1,
};

/* "tempo" or "otel" -> *out. Returns 0 or ML_EINVAL. */
int ml_span_metrics_parse_naming(const char *s, enum ml_span_metrics_naming *out);

/*
 * Registers the two families in r (not owned; must outlive the result).
 * max_series caps each family's children (0 = unbounded). NULL with err set
 * on failure (a family of the same name but another shape exists, ENOMEM).
 */
struct ml_span_metrics *ml_span_metrics_create(struct ml_registry *r,
                                               enum ml_span_metrics_naming naming,
                                               size_t max_series, struct ml_err *err);
/* Accepts NULL. The families stay in the registry. */
void ml_span_metrics_destroy(struct ml_span_metrics *m);

/*
 * Counts span s (one call, one duration observation) under its service
 * (s->resource->service_name), name, kind and status. Returns how many
 * series updates were dropped (0..2) because a family was at max_series
 * or out of memory.
 */
size_t ml_span_metrics_record(struct ml_span_metrics *m, const struct ml_span *s);

/*
 * The same for spans[0..n): spans of one request mostly share their labels
 * (one sidecar, a few routes), so a few recently used series are looked up
 * once per call instead of once per span. Returns the dropped updates.
 */
size_t ml_span_metrics_record_batch(struct ml_span_metrics *m, const struct ml_span *spans,
                                    size_t n);

#endif
