/*
 * fuzz_otlp_trace_proto.c - libFuzzer target: OTLP protobuf trace export requests (POST /v1/traces, application/x-protobuf)
 * through ml_otlp_trace_decode_proto, with the decoder's promises checked afterwards
 * (fuzz_check.h). Seeds: corpus/fuzz_otlp_trace_proto/.
 */
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "ingest/otlp_trace.h"
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
	int rc = ml_otlp_trace_decode_proto(data, size, &batch, &report, &err);
	ml_fuzz_check_batch(rc, &batch, &report, &err, true);
	ml_arena_destroy(arena);
	return 0;
}
