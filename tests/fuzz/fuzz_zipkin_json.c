/*
 * fuzz_zipkin_json.c - libFuzzer target: Zipkin v2 JSON span lists (POST /api/v2/spans)
 * through ml_zipkin_decode_json, with the decoder's promises checked afterwards
 * (fuzz_check.h). Seeds: corpus/fuzz_zipkin_json/.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/zipkin.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ml_arena *arena = ml_arena_create(0);
	struct ml_span_batch batch;
	struct ml_ingest_report report;
	struct ml_err err = {{0}};

	if (arena == NULL)
		return 0;
	ml_span_batch_init(&batch, arena);
	int rc = ml_zipkin_decode_json(data, size, &batch, &report, &err);
	ml_fuzz_check_batch(rc, &batch, &report, &err, false);
	ml_arena_destroy(arena);
	return 0;
}
