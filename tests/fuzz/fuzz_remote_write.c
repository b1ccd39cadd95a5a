/*
 * fuzz_remote_write.c - libFuzzer target: remote write bodies through
 * ml_remote_write_decode. First byte 0: the rest is the body as sent
 * (snappy + protobuf, exercising the snappy checks); 1: the rest is a raw
 * WriteRequest that the target snappy-compresses first, so that the fuzzer
 * reaches the protobuf and validation code. Successful decodes must hold
 * only series with a valid __name__ and valid, distinct, sorted label
 * names. Seeds: corpus/fuzz_remote_write/.
 */
#include <snappy-c.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/otel_prom_names.h"
#include "ingest/remote_write.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const uint8_t *body = data + 1;
	size_t len = size - 1;
	char *comp = NULL;
	if (data[0] == 1) {
		size_t cl = snappy_max_compressed_length(len);
		comp = malloc(cl);
		if (comp == NULL || snappy_compress((const char *)body, len, comp, &cl) != SNAPPY_OK)
			abort();
		body = (const uint8_t *)comp;
		len = cl;
	}
	struct ml_arena *arena = ml_arena_create(0);
	if (arena == NULL)
		abort();
	struct ml_sample_batch batch;
	struct ml_err err = {{0}};
	struct ml_remote_write_stats st;
	ml_sample_batch_init(&batch, arena);
	int rc = ml_remote_write_decode(body, len, 1u << 20, &batch, &st, &err);
	if (rc != 0) {
		if (err.msg[0] == '\0')
			abort();
	} else {
		if (st.series != batch.n)
			abort();
		for (size_t i = 0; i < batch.n; i++) {
			struct ml_series_samples *s = &batch.series[i];
			bool has_name = false;
			for (uint32_t k = 0; k < s->n_labels; k++) {
				if (!ml_prom_valid_label_name(s->labels[k].name.p, s->labels[k].name.n))
					abort();
				has_name |= ml_str_eq_cstr(s->labels[k].name, "__name__");
			}
			if (!has_name || s->n_samples == 0 ||
			    ml_prom_labels_sort(s->labels, s->n_labels) >= 0)
				abort();
		}
	}
	ml_arena_destroy(arena);
	free(comp);
	return 0;
}
