/*
 * otlp_metrics.h - OTLP/HTTP metrics export requests
 * (ExportMetricsServiceRequest) in protobuf and JSON, translated into
 * Prometheus series (struct ml_sample_batch); the responses; and the delta
 * accumulator that turns OTLP delta sums and histograms into the cumulative
 * counters Prometheus queries expect.
 *
 * Spec: opentelemetry-proto collector/metrics/v1/metrics_service.proto,
 * metrics/v1/metrics.proto, the OTLP JSON mapping, and "Prometheus and
 * OpenMetrics Compatibility" (opentelemetry-specification) for the
 * translation. docs/METRICS_INGEST.md lists every mapping rule:
 *   Gauge                        -> gauge  <name>[_<unit>][_ratio]
 *   Sum monotonic cumulative     -> counter <name>[_<unit>]_total
 *   Sum monotonic delta          -> the same, accumulated across requests
 *   Sum non-monotonic            -> gauge (delta ones accumulated as well)
 *   Histogram                    -> <name>_bucket{le}, _sum, _count
 *   ExponentialHistogram         -> the same with classic bucket bounds
 *   Summary                      -> <name>{quantile}, _sum, _count
 * Labels: point attributes (sanitised), otel_scope_name/otel_scope_version,
 * job (service.namespace/service.name) and instance (service.instance.id);
 * the other resource attributes go to one target_info{job,instance,...} = 1
 * series per resource. Exemplars are ignored.
 *
 * A request is decoded as far as it is well-formed. A data point that is
 * invalid on its own (no timestamp, bucket counts that do not match the
 * bounds, a delta point without an accumulator) is rejected alone and
 * counted in the report (OTLP partial success: rejected_data_points); a body
 * that is not a valid message fails the whole request.
 */
#ifndef ML_INGEST_OTLP_METRICS_H
#define ML_INGEST_OTLP_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "ingest/otlp_trace.h" /* struct ml_ingest_report */
#include "model/sample.h"

/* Buckets one histogram data point may have (explicit, or after converting an exponential one). */
#define ML_OTLP_MAX_BUCKETS 1024u
/* Data points one request may carry. */
#define ML_OTLP_MAX_POINTS_PER_REQUEST 1000000u
/* ExponentialHistogram scales accepted (the OTLP data model's range). */
#define ML_OTLP_EXP_SCALE_MIN (-10)
#define ML_OTLP_EXP_SCALE_MAX 20

/*
 * The delta accumulator: state that survives requests, owned by the caller
 * (the application keeps one for its lifetime and passes it to every
 * decode). It maps a series key (a 64-bit hash of the translated metric name,
 * its label set and, for histograms, its bucket bounds) to the running
 * cumulative values of that series, and turns each delta point into the
 * cumulative point Prometheus wants.
 *
 * Start-time rules, for a delta point (start, end] of a known series whose
 * last accepted point ended at last_end:
 *   start == last_end (contiguous)       -> continues: totals += deltas
 *   start == 0 (sender gave no start)    -> continues as well
 *   start >  last_end (a gap: intervals
 *     were lost, or the sender restarted) -> resets: totals = deltas
 *   start <  last_end (an overlap: a
 *     replay or a second writer)          -> resets: totals = deltas
 *   a different number of values (the
 *     bucket layout changed)              -> resets
 * A reset shows in Prometheus as a counter reset, which rate() and
 * increase() handle; continuing over a gap would hide lost data instead.
 *
 * Bounded: at most max_series series are remembered; beyond that the least
 * recently *used* series (CLOCK approximation) is forgotten and its next
 * point starts over as a reset. Thread-safe: every call takes an internal
 * mutex, so request handler threads may share one accumulator.
 */
struct ml_delta_accumulator;

/* Values one accumulated series may hold (buckets + sum + count). */
#define ML_DELTA_MAX_VALUES (ML_OTLP_MAX_BUCKETS + 3u)

/* max_series: cap on remembered series (0 = 100000). NULL on ENOMEM. */
struct ml_delta_accumulator *ml_delta_accumulator_create(size_t max_series);
/* Frees the accumulator and its state. Accepts NULL. */
void ml_delta_accumulator_destroy(struct ml_delta_accumulator *acc);

/*
 * Adds the n deltas in vals to the series key (rules above) and overwrites
 * vals with the series' cumulative totals. *reset (may be NULL) tells
 * whether the series (re)started with this point. Returns 0, ML_EINVAL
 * (n == 0 or n > ML_DELTA_MAX_VALUES) or ML_ENOMEM (vals then unchanged).
 */
int ml_delta_accumulator_add(struct ml_delta_accumulator *acc, uint64_t key, uint64_t start_ns,
			     uint64_t end_ns, double *vals, size_t n, bool *reset);
/* Series currently remembered. */
size_t ml_delta_accumulator_size(struct ml_delta_accumulator *acc);

/*
 * Decodes a protobuf ExportMetricsServiceRequest of len bytes into batch
 * (initialised by the caller with ml_sample_batch_init; every series, label
 * string and the protobuf-c message itself are allocated in batch->arena).
 * acc may be NULL: delta points are then rejected ("delta temporality needs
 * an accumulator"). report->accepted / rejected count data points (an
 * accepted histogram point becomes many series); report->first_reject says
 * why the first rejected point was rejected, with its path.
 *
 * Returns 0 (even if some points were rejected: see report), or ML_EINVAL
 * (not a valid message) / ML_ETOOBIG (over a cap) / ML_ENOMEM, with err set.
 * On error the batch holds an unspecified part of the request: discard it.
 * Accumulator state touched by points decoded before a failure is kept
 * (those deltas were seen); a client retrying the same request will then
 * overlap and reset the series, which is the safe direction.
 */
int ml_otlp_metrics_decode_proto(const uint8_t *body, size_t len, struct ml_delta_accumulator *acc,
				 struct ml_sample_batch *batch, struct ml_ingest_report *report,
				 struct ml_err *err);

/* The same for the OTLP JSON encoding. */
int ml_otlp_metrics_decode_json(const uint8_t *body, size_t len, struct ml_delta_accumulator *acc,
				struct ml_sample_batch *batch, struct ml_ingest_report *report,
				struct ml_err *err);

/*
 * ExportMetricsServiceResponse: empty when nothing was rejected, else with
 * partial_success {rejected_data_points = 1, error_message = 2}. Appended to
 * out (check ml_buf_ok).
 */
void ml_otlp_metrics_response_proto(const struct ml_ingest_report *report, struct ml_buf *out);
void ml_otlp_metrics_response_json(const struct ml_ingest_report *report, struct ml_buf *out);

#endif
