/*
 * fuzz_otlp_metrics.c - libFuzzer target: OTLP metrics export requests
 * (POST /v1/metrics). First byte bit 0: JSON (1) or protobuf (0); the rest
 * is the body. One small delta accumulator lives across inputs, so that
 * state carried between requests (and its eviction) is fuzzed too. After a
 * decode: a failure says why; a success has a report that adds up, series
 * whose label names are valid Prometheus names, and responses that encode.
 * Seeds: corpus/fuzz_otlp_metrics/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/otel_prom_names.h"
#include "ingest/otlp_metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ml_delta_accumulator *acc;
	if (acc == NULL && (acc = ml_delta_accumulator_create(32)) == NULL)
		abort();
	if (size < 1)
		return 0;
	struct ml_arena *arena = ml_arena_create(0);
	if (arena == NULL)
		abort();
	struct ml_sample_batch batch;
	struct ml_ingest_report report;
	struct ml_err err = {{0}};
	ml_sample_batch_init(&batch, arena);
	int rc = (data[0] & 1)
			 ? ml_otlp_metrics_decode_json(data + 1, size - 1, acc, &batch, &report, &err)
			 : ml_otlp_metrics_decode_proto(data + 1, size - 1, acc, &batch, &report, &err);
	if (rc != 0) {
		if (err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL)
			abort();
	} else {
		if ((report.rejected == 0) != (report.first_reject[0] == '\0'))
			abort();
		if (report.accepted > 0 && batch.n == 0)
			abort();
		for (size_t i = 0; i < batch.n; i++) {
			struct ml_series_samples *s = &batch.series[i];
			bool has_name = false;
			if (s->n_samples != 1)
				abort();
			for (uint32_t k = 0; k < s->n_labels; k++) {
				struct ml_label *l = &s->labels[k];
				if (!ml_prom_valid_label_name(l->name.p, l->name.n))
					abort();
				if (ml_str_eq_cstr(l->name, "__name__")) {
					has_name = true;
					if (!ml_prom_valid_metric_name(l->value.p, l->value.n))
						abort();
				}
				volatile uint8_t sink = 0;
				for (size_t b = 0; b < l->value.n; b++)
					sink ^= (uint8_t)l->value.p[b];
				(void)sink;
			}
			if (!has_name || ml_prom_labels_sort(s->labels, s->n_labels) >= 0)
				abort();
		}
		struct ml_buf out = ML_BUF_INIT;
		ml_otlp_metrics_response_proto(&report, &out);
		ml_otlp_metrics_response_json(&report, &out);
		if (!ml_buf_ok(&out))
			abort();
		ml_buf_free(&out);
	}
	ml_arena_destroy(arena);
	return 0;
}
