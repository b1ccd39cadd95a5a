/*
 * fuzz_prom_text.c - libFuzzer target: Prometheus text 0.0.4 / OpenMetrics
 * bodies through ml_prom_text_parse. The first byte picks the format (bit 0:
 * OpenMetrics) and whether an extra label is added (bit 1); the rest is the
 * body. After a successful parse every series must carry a valid __name__
 * and valid, distinct label names; a failure must say why with a line
 * number. Seeds: corpus/fuzz_prom_text/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/otel_prom_names.h"
#include "ingest/prom_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	struct ml_arena *arena = ml_arena_create(0);
	if (arena == NULL)
		return 0;
	struct ml_sample_batch batch;
	struct ml_err err = {{0}};
	struct ml_label extra = {ML_STR("job"), ML_STR("fuzz")};
	struct ml_prom_text_opts o = {(data[0] & 1) != 0, 1000, &extra, (data[0] & 2) ? 1 : 0};
	ml_sample_batch_init(&batch, arena);
	int rc = ml_prom_text_parse(data + 1, size - 1, &o, &batch, &err);
	if (rc != 0) {
		if (strncmp(err.msg, "line ", 5) != 0 && rc != ML_ENOMEM)
			abort();
	} else {
		for (size_t i = 0; i < batch.n; i++) {
			struct ml_series_samples *s = &batch.series[i];
			bool has_name = false;
			if (s->n_samples != 1 || s->n_labels > ML_MAX_LABELS_PER_SERIES)
				abort();
			for (uint32_t k = 0; k < s->n_labels; k++) {
				struct ml_label *l = &s->labels[k];
				if (ml_str_eq_cstr(l->name, "__name__")) {
					has_name = true;
					if (!ml_prom_valid_metric_name(l->value.p, l->value.n))
						abort();
				} else if (!ml_prom_valid_label_name(l->name.p, l->name.n) ||
					   l->value.n == 0) {
					abort();
				}
			}
			if (!has_name || ml_prom_labels_sort(s->labels, s->n_labels) >= 0)
				abort();
		}
		volatile uint8_t sink = 0;
		for (size_t i = 0; i < batch.n_meta; i++)
			for (size_t k = 0; k < batch.meta[i].help.n; k++)
				sink ^= (uint8_t)batch.meta[i].help.p[k];
		(void)sink;
	}
	ml_arena_destroy(arena);
	return 0;
}
