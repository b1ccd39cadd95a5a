/*
 * otel_prom_names.h - Prometheus naming rules shared by the metrics decoders:
 * validity of metric and label names, the OpenTelemetry -> Prometheus name
 * and label translation, and Prometheus's float formatting for "le" and
 * "quantile" label values.
 *
 * The translation implements "Prometheus and OpenMetrics Compatibility"
 * (opentelemetry-specification, compatibility/prometheus_and_openmetrics.md)
 * as the OpenTelemetry Collector's pkg/translator/prometheus does with name
 * normalisation on: the name is split into tokens at every character that is
 * not an ASCII letter or digit, the unit (UCUM) is appended as a word
 * ("ms" -> "milliseconds", "By" -> "bytes", "{packets}" dropped, "By/s" ->
 * "bytes_per_second"), "_total" is appended to monotonic sums and "_ratio" to
 * gauges of unit "1". docs/METRICS_INGEST.md has the full table.
 *
 * Everything here works on (pointer, length) strings and allocates only from
 * the caller's arena; nothing is thread-unsafe.
 */
#ifndef ML_INGEST_OTEL_PROM_NAMES_H
#define ML_INGEST_OTEL_PROM_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h" /* struct ml_str */

struct ml_arena;

/* Labels one series may carry (including __name__) in any metrics format. */
#define ML_MAX_LABELS_PER_SERIES 256u

/* What kind of OpenTelemetry metric a name is built for. */
enum ml_otel_kind {
	ML_OTEL_GAUGE = 0,     /* Gauge */
	ML_OTEL_COUNTER,       /* monotonic Sum: gets "_total" */
	ML_OTEL_UPDOWN,        /* non-monotonic Sum: a gauge, but no "_ratio" */
	ML_OTEL_HISTOGRAM,     /* Histogram and ExponentialHistogram */
	ML_OTEL_SUMMARY,       /* Summary */
};

/* [a-zA-Z_:][a-zA-Z0-9_:]* (the classic Prometheus metric name). */
bool ml_prom_valid_metric_name(const char *p, size_t n);
/* [a-zA-Z_][a-zA-Z0-9_]* (the classic Prometheus label name). */
bool ml_prom_valid_label_name(const char *p, size_t n);


struct ml_label;
/*
 * Sorts labels by name (bytewise) and returns the index of the first label
 * whose name equals its predecessor's after sorting, or -1 if all names are
 * distinct.
 */
long ml_prom_labels_sort(struct ml_label *labels, uint32_t n);

/*
 * Builds the Prometheus metric name for an OTLP metric of the given name,
 * unit (may be empty) and kind. The result is allocated in arena; it is
 * empty when the name has no letter or digit at all (the caller rejects
 * such a metric). Returns 0 or ML_ENOMEM.
 *   ("http.server.duration", "ms", HISTOGRAM) -> "http_server_duration_milliseconds"
 *   ("system.network.io", "By", COUNTER)      -> "system_network_io_bytes_total"
 *   ("cpu.utilization", "1", GAUGE)           -> "cpu_utilization_ratio"
 */
int ml_otel_metric_name(struct ml_arena *arena, struct ml_str name, struct ml_str unit,
			enum ml_otel_kind kind, struct ml_str *out);

/*
 * Builds the Prometheus label name for an OTLP attribute key: every
 * character that is not an ASCII letter or digit becomes '_'; a leading
 * digit gets "key_" in front; a single leading '_' gets "key" in front
 * ("__" prefixes are kept, as the Collector does). An empty key stays empty
 * (the caller drops it). Allocated in arena; 0 or ML_ENOMEM.
 *   "http.method" -> "http_method", "0day" -> "key_0day", "_x" -> "key_x"
 */
int ml_otel_label_name(struct ml_arena *arena, struct ml_str key, struct ml_str *out);

/*
 * Formats v as Prometheus writes "le" and "quantile" label values and as
 * its OTLP translator formats bucket bounds (Go's FormatFloat(v, 'f', -1)):
 * the shortest decimal that reads back as v, never in exponent notation;
 * "+Inf", "-Inf", "NaN" for the specials. 0.005 -> "0.005", 1e6 ->
 * "1000000", 2.5 -> "2.5", 1 -> "1". Writes a NUL-terminated string of at
 * most cap-1 bytes (cap >= 32 always suffices for |v| < 1e15 and
 * |v| >= 1e-12; larger or smaller magnitudes need up to 330) and returns
 * its length, or the length it would have had (as snprintf) if cap is too
 * small.
 */
size_t ml_prom_format_float(double v, char *buf, size_t cap);

/* The same, allocated in arena; 0 or ML_ENOMEM. */
int ml_prom_float_str(struct ml_arena *arena, double v, struct ml_str *out);

#endif
