/*
 * flags.h - meshlens's command-line flags, in Prometheus's style
 * (--web.listen-address=host:port, --storage.path=./data), from one table
 * that also prints --help and docs/FLAGS.md.
 */
#ifndef ML_FLAGS_H
#define ML_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

#define ML_MAX_LISTEN 8

struct ml_config {
	const char *listen[ML_MAX_LISTEN];
	size_t n_listen;
	const char *storage_path;
	uint64_t retention_ms;
	uint64_t storage_max_bytes;
	const char *log_level;
	unsigned web_threads;
	uint64_t max_request_bytes;
	uint64_t max_decompressed_bytes;
	uint64_t query_lookback_ms;     /* --query.lookback-delta */
	uint64_t query_timeout_ms;      /* --query.timeout */
	uint64_t query_max_samples;     /* --query.max-samples */
	unsigned query_max_concurrency; /* --query.max-concurrency */
	bool aggregation_disabled;         /* --aggregation.disabled */
	uint64_t aggregation_interval_ms;  /* --aggregation.interval */
	const char *aggregation_span_metrics_names; /* --aggregation.span-metrics-names: tempo|otel */
	uint64_t aggregation_sg_wait_ms;   /* --aggregation.service-graph.wait */
	uint64_t aggregation_sg_max_edges; /* --aggregation.service-graph.max-edges */
	uint64_t aggregation_max_series;   /* --aggregation.max-series */
	bool show_help;
	bool show_version;
};

/*
 * Fills cfg with defaults, then applies argv. Returns 0, or ML_EINVAL with
 * a message naming the flag in err. Strings point into argv or static data.
 */
int ml_flags_parse(int argc, char **argv, struct ml_config *cfg, struct ml_err *err);
/* Prints the --help text (from the flag table). */
void ml_flags_usage(FILE *out);
/* Prints the flag table as a Markdown table (docs/FLAGS.md is generated from it). */
void ml_flags_markdown(FILE *out);

#endif
