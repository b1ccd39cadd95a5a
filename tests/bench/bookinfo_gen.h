/*
 * bookinfo_gen.h - synthetic service-mesh trace traffic for the benchmarks.
 *
 * Simulates the Envoy sidecars of Istio's Bookinfo sample:
 *
 *     istio-ingressgateway -> productpage -> details
 *                                         -> reviews v1 | v2 | v3 -> ratings (v2, v3)
 *
 * Every hop produces a CLIENT span in the caller's sidecar and a SERVER span
 * (parentId = the client span) in the callee's sidecar, with the tags Envoy
 * and Istio put on them (node_id, zone, component, guid:x-request-id,
 * http.*, downstream_cluster, user_agent, peer.address, request_size,
 * response_size, response_flags, upstream_cluster, istio.*). A fraction of
 * the calls fail (5xx and error=true; some as upstream connection failures
 * with response_flags UF,URX and no server span). Each sidecar (one per pod,
 * --replicas pods per workload) buffers only its own spans and flushes them
 * as one request body of spans_per_request spans, so a trace reaches the
 * collector in pieces from several senders, as it does from a real mesh.
 *
 * Bodies are OTLP ExportTraceServiceRequest protobuf (one ResourceSpans per
 * sidecar, packed with protobuf-c) or Zipkin v2 JSON arrays. Everything is
 * derived from the seed and start time: the same options give the same bytes.
 *
 * Encoding millions of spans would cost the load generator as much CPU as
 * the collector spends decoding them, so the generator builds a pool of
 * complete traces once, and ml_bench_pool_render() replays the pool any
 * number of times ("epochs"): epoch e rewrites every trace id, span id,
 * parent id and x-request-id with an epoch key (XOR, so parent links stay
 * intact) and shifts every timestamp by e times the pool's time span. Every
 * epoch therefore carries new, unique traces with the same shape.
 */
#ifndef ML_BENCH_BOOKINFO_GEN_H
#define ML_BENCH_BOOKINFO_GEN_H

#include <stddef.h>
#include <stdint.h>

enum ml_bench_format {
	ML_BENCH_OTLP_PROTO = 0,  /* POST /v1/traces, application/x-protobuf */
	ML_BENCH_ZIPKIN_JSON = 1, /* POST /api/v2/spans, application/json */
};

struct ml_bench_gen_options {
	uint64_t seed;
	uint64_t start_ns;          /* start of the first trace, unix ns */
	uint32_t spans_per_request; /* a sidecar flushes at this many spans (>= 1) */
	uint32_t replicas;          /* pods per workload (>= 1) */
	double error_rate;          /* fraction of calls that fail, 0..1 */
	uint32_t trace_gap_us;      /* mean simulated time between trace starts */
	enum ml_bench_format format;
};

/* Sets the defaults: 100 spans per request, 3 replicas, 2 % errors, 200 µs gap, OTLP. */
void ml_bench_gen_defaults(struct ml_bench_gen_options *o);

/* One place in a body that changes from epoch to epoch (see the file header). */
struct ml_bench_patch {
	uint32_t off;
	uint8_t kind; /* enum in bookinfo_gen.c */
};

/* One request body: the spans of one sidecar. */
struct ml_bench_payload {
	uint8_t *body;
	size_t len;
	uint32_t n_spans;
	uint32_t sidecar; /* index of the sending pod */
	struct ml_bench_patch *patches;
	size_t n_patches;
};

struct ml_bench_pool {
	struct ml_bench_gen_options opt;
	struct ml_bench_payload *items;
	size_t n;
	uint64_t n_spans;
	uint64_t n_traces;
	uint64_t n_error_spans; /* spans with error=true / status ERROR */
	uint64_t bytes;         /* sum of body lengths */
	uint64_t span_ns;       /* simulated time covered; epoch e shifts times by e * span_ns */
	uint64_t keys[2];       /* per-pool secret mixed into the epoch keys */
};

/*
 * Generates whole traces until at least min_spans spans exist, then flushes
 * every sidecar, so the pool holds only complete traces. NULL on ENOMEM or
 * invalid options. Free with ml_bench_pool_destroy.
 */
struct ml_bench_pool *ml_bench_pool_build(const struct ml_bench_gen_options *o, uint64_t min_spans);
void ml_bench_pool_destroy(struct ml_bench_pool *p);

/*
 * Writes payload i as sent in epoch `epoch` into out (pool->items[i].len
 * bytes). Epoch 0 is the body as generated. Thread-safe: reads the pool only.
 */
void ml_bench_pool_render(const struct ml_bench_pool *p, size_t i, uint64_t epoch, uint8_t *out);

/*
 * The trace id of the first span of payload i as rendered into `rendered`
 * (any epoch), into out. Returns 0, or -1 if the payload has no span.
 */
int ml_bench_pool_first_trace_id(const struct ml_bench_pool *p, size_t i, const uint8_t *rendered,
                                 uint8_t out[16]);

/* Number of sidecars (pods) and the service name of sidecar i ("reviews.default"). */
uint32_t ml_bench_sidecars(const struct ml_bench_gen_options *o);
const char *ml_bench_sidecar_service(const struct ml_bench_gen_options *o, uint32_t i);

/* Where a body in this format is POSTed and its Content-Type. */
const char *ml_bench_format_path(enum ml_bench_format f);
const char *ml_bench_format_content_type(enum ml_bench_format f);

/* A small deterministic PRNG (splitmix64) shared by the bench tools. */
uint64_t ml_bench_mix64(uint64_t x);

#endif
