/*
 * fuzz_mesh_side.c - libFuzzer target: what a span says about its side of a
 * request (ml_mesh_side_from_span) and Istio's metrics from it
 * (ml_istio_record), over spans decoded from Zipkin v2 JSON, where every
 * tag Envoy and Istio set (node_id, upstream_cluster, sizes, codes) is
 * attacker-controlled text. Each client side is recorded paired with the
 * next server side and alone; the registry is capped so a long run stays
 * bounded. Seeds: corpus/fuzz_mesh_side/ (Envoy Bookinfo spans).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "aggregate/istio.h"
#include "core/arena.h"
#include "ingest/zipkin.h"
#include "model/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ml_registry *reg;
static struct ml_istio *istio;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ml_err err = {{0}};
	if (istio == NULL) {
		reg = ml_registry_create();
		istio = reg ? ml_istio_create(reg, 1000, &err) : NULL;
		if (istio == NULL)
			abort();
	}
	struct ml_arena *arena = ml_arena_create(0);
	struct ml_span_batch batch;
	struct ml_ingest_report report;
	if (arena == NULL)
		return 0;
	ml_span_batch_init(&batch, arena);
	if (ml_zipkin_decode_json(data, size, &batch, &report, &err) == 0) {
		struct ml_mesh_side *client = NULL;
		for (size_t i = 0; i < batch.n; i++) {
			int nomem = 0;
			struct ml_mesh_side *m = ml_mesh_side_from_span(&batch.spans[i], &nomem);
			if (m == NULL)
				continue;
			if (ml_mesh_side_bytes(m) == 0)
				abort(); /* a side always holds its own strings */
			if (ml_mesh_side_is_client(m)) {
				ml_istio_record(istio, m, NULL);
				ml_mesh_side_free(client);
				client = m;
			} else {
				ml_istio_record(istio, client, m);
				ml_istio_record(istio, NULL, m);
				ml_mesh_side_free(m);
			}
		}
		ml_mesh_side_free(client);
	}
	ml_arena_destroy(arena);
	return 0;
}
