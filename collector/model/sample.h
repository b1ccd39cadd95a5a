/*
 * sample.h - the metric sample model every metrics format is normalised into.
 *
 * OTLP metrics, Prometheus remote write and the text exposition formats all
 * decode into a struct ml_sample_batch: a list of series, each a label set
 * (with __name__) and its samples. The TSDB appends such a batch in one
 * durable write. Strings are (pointer, length) pairs in the batch's arena.
 */
#ifndef ML_MODEL_SAMPLE_H
#define ML_MODEL_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "model/span.h" /* struct ml_str */

struct ml_arena;

struct ml_label {
	struct ml_str name;
	struct ml_str value;
};

struct ml_sample {
	int64_t t_ms; /* unix milliseconds, as Prometheus */
	double v;     /* ML_STALE_NAN marks staleness */
};

/* Prometheus's staleness marker: the NaN with this exact bit pattern. */
#define ML_STALE_NAN_BITS 0x7ff0000000000002ULL

struct ml_series_samples {
	struct ml_label *labels; /* __name__ included; need not be sorted */
	uint32_t n_labels;
	struct ml_sample *samples;
	uint32_t n_samples;
};

/* Prometheus metric type, for /api/v1/metadata. */
enum ml_metric_type {
	ML_METRIC_UNKNOWN = 0,
	ML_METRIC_COUNTER,
	ML_METRIC_GAUGE,
	ML_METRIC_HISTOGRAM,
	ML_METRIC_SUMMARY,
	ML_METRIC_GAUGEHISTOGRAM,
	ML_METRIC_INFO,
	ML_METRIC_STATESET,
};

struct ml_metric_meta {
	struct ml_str family; /* metric family name (without _bucket/_sum/_count) */
	uint8_t type;         /* enum ml_metric_type */
	struct ml_str help;
	struct ml_str unit;
};

struct ml_sample_batch {
	struct ml_arena *arena;
	struct ml_series_samples *series;
	size_t n, cap;
	struct ml_metric_meta *meta;
	size_t n_meta, cap_meta;
};

void ml_sample_batch_init(struct ml_sample_batch *b, struct ml_arena *arena);
/*
 * Appends a series with room for n_labels labels and n_samples samples
 * (both zeroed, counts set), or NULL on ENOMEM. Memory is in the arena.
 */
struct ml_series_samples *ml_sample_batch_add(struct ml_sample_batch *b, uint32_t n_labels,
					      uint32_t n_samples);
/* Appends metadata; NULL on ENOMEM. */
struct ml_metric_meta *ml_sample_batch_add_meta(struct ml_sample_batch *b);

#endif
