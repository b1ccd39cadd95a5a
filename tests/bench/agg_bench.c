/*
 * agg_bench.c - what span aggregation costs per span, on one thread, with
 * nothing else in the way.
 *
 * Builds the same Bookinfo bodies as loadgen (bookinfo_gen, same flags and
 * seed), decodes each body (untimed) and times ml_aggregator_spans() over its
 * spans - span metrics, Istio's view of each span, pairing, Istio metrics
 * and service-graph edges - plus the expiry of lone halves at the end of
 * every pass over the pool (each pass carries new trace ids, so every pass
 * pairs and expires afresh, as live traffic does). The derived registry is
 * flushed into a temporary TSDB once per pass (timed separately: it is paid
 * per --aggregation.interval, not per span).
 *
 * Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not wall
 * time, so that other work on a shared machine does not count as ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aggregate/aggregator.h"
#include "bench_util.h"
#include "bookinfo_gen.h"
#include "core/arena.h"
#include "core/error.h"
#include "ingest/otlp_trace.h"
#include "ingest/zipkin.h"
#include "model/registry.h"
#include "model/span.h"
#include "store/env.h"
#include "store/tsdb.h"

static struct {
	const char *format;
	uint64_t spans_per_request;
	uint64_t seed;
	uint64_t replicas;
	double error_rate;
	uint64_t pool_spans;
	double seconds;
	const char *names;
} cfg = {
    .format = "otlp",
    .spans_per_request = 100,
    .seed = 1,
    .replicas = 3,
    .error_rate = 0.02,
    .pool_spans = 50000,
    .seconds = 3,
    .names = "tempo",
};

static const struct ml_bench_flag flags[] = {
    {"format", ML_BF_STR, &cfg.format, "otlp (protobuf) or zipkin (JSON)."},
    {"spans-per-request", ML_BF_U64, &cfg.spans_per_request, "Spans per body, as loadgen."},
    {"seed", ML_BF_U64, &cfg.seed, "Seed of the traffic, as loadgen."},
    {"replicas", ML_BF_U64, &cfg.replicas, "Pods per workload, as loadgen."},
    {"error-rate", ML_BF_F64, &cfg.error_rate, "Fraction of failing calls, as loadgen."},
    {"pool-spans", ML_BF_U64, &cfg.pool_spans, "Spans generated up front, as loadgen."},
    {"seconds", ML_BF_F64, &cfg.seconds, "How long to aggregate (after one warm-up pass)."},
    {"span-metrics-names", ML_BF_STR, &cfg.names, "tempo or otel."},
};

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct ml_bench_gen_options o;
	struct ml_bench_pool *pool = NULL;
	struct ml_arena *arena = NULL;
	struct ml_registry *derived = NULL, *self = NULL;
	struct ml_aggregator *agg = NULL;
	struct ml_store *st = NULL;
	struct ml_tsdb *db = NULL;
	uint8_t *body = NULL;
	char dir[64] = "";
	struct ml_err err = {{0}};
	int rc = 1;

	int pr =
	    ml_bench_flags_parse(flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
	                         "usage: agg_bench [flags]\n\n"
	                         "Aggregates loadgen's spans on one thread and prints ns/span.");
	if (pr != 0)
		return pr > 0 ? 0 : 2;
	enum ml_span_metrics_naming names;
	if (ml_span_metrics_parse_naming(cfg.names, &names) != 0) {
		fprintf(stderr, "--span-metrics-names: expected tempo or otel\n");
		return 2;
	}
	ml_bench_gen_defaults(&o);
	o.seed = cfg.seed;
	o.spans_per_request = (uint32_t)cfg.spans_per_request;
	o.replicas = (uint32_t)cfg.replicas;
	o.error_rate = cfg.error_rate;
	o.format = strcmp(cfg.format, "zipkin") == 0 ? ML_BENCH_ZIPKIN_JSON : ML_BENCH_OTLP_PROTO;
	pool = ml_bench_pool_build(&o, cfg.pool_spans);
	arena = ml_arena_create(0);
	body = pool ? malloc(pool->bytes) : NULL;
	if (pool == NULL || arena == NULL || body == NULL) {
		fprintf(stderr, "agg_bench: cannot generate the bodies\n");
		goto out;
	}
	snprintf(dir, sizeof(dir), "/tmp/meshlens-aggbench-XXXXXX");
	if (mkdtemp(dir) == NULL) {
		dir[0] = '\0';
		goto out;
	}
	struct ml_store_options so = {.path = dir, .max_bytes = 4ULL << 30};
	if ((st = ml_store_open(&so, &err)) == NULL ||
	    (db = ml_tsdb_open(st, NULL, &err)) == NULL) {
		fprintf(stderr, "agg_bench: %s\n", err.msg);
		goto out;
	}
	derived = ml_registry_create();
	self = ml_registry_create();
	struct ml_aggregator_options ao = {
	    .span_metrics_names = names,
	    .service_graph_wait_ms = 10000,
	    .service_graph_max_edges = 10000,
	    .max_series = 100000,
	};
	if (derived == NULL || self == NULL ||
	    (agg = ml_aggregator_create(derived, self, db, &ao, &err)) == NULL) {
		fprintf(stderr, "agg_bench: %s\n", err.msg);
		goto out;
	}

	double agg_s = 0, flush_s = 0;
	uint64_t spans = 0, passes = 0, flushes = 0;
	int64_t now = 1764000000000LL;
	for (uint64_t epoch = 0;; epoch++) {
		size_t off = 0;
		for (size_t i = 0; i < pool->n; i++) {
			ml_bench_pool_render(pool, i, epoch, body + off);
			off += pool->items[i].len;
		}
		off = 0;
		double pass_s = 0;
		uint64_t pass_spans = 0;
		for (size_t i = 0; i < pool->n; i++) {
			const struct ml_bench_payload *pl = &pool->items[i];
			struct ml_span_batch batch;
			struct ml_ingest_report rep;
			ml_arena_reset(arena);
			ml_span_batch_init(&batch, arena);
			memset(&rep, 0, sizeof(rep));
			int r =
			    o.format == ML_BENCH_OTLP_PROTO
			        ? ml_otlp_trace_decode_proto(body + off, pl->len, &batch, &rep,
			                                     &err)
			        : ml_zipkin_decode_json(body + off, pl->len, &batch, &rep, &err);
			off += pl->len;
			if (r != 0) {
				fprintf(stderr, "agg_bench: body %zu: %s\n", i, err.msg);
				goto out;
			}
			double t0 = cpu_now();
			ml_aggregator_spans(agg, &batch, now);
			pass_s += cpu_now() - t0;
			pass_spans += batch.n;
		}
		/* Lone halves (client spans of failed upstream connections, roots) leave. */
		now += 11000;
		double t0 = cpu_now();
		ml_aggregator_expire(agg, now);
		pass_s += cpu_now() - t0;
		t0 = cpu_now();
		if (ml_aggregator_flush(agg, now, &err) != 0) {
			fprintf(stderr, "agg_bench: flush: %s\n", err.msg);
			goto out;
		}
		double f = cpu_now() - t0;
		if (epoch == 0)
			continue; /* warm-up: series are created, caches filled */
		agg_s += pass_s;
		spans += pass_spans;
		flush_s += f;
		flushes++;
		passes++;
		if (agg_s >= cfg.seconds)
			break;
	}
	size_t series = 0;
	const char *fams[] = {"istio_requests_total",
	                      "istio_request_duration_milliseconds",
	                      "istio_request_bytes",
	                      "istio_response_bytes",
	                      "traces_service_graph_request_total",
	                      "traces_spanmetrics_calls_total",
	                      "traces_span_metrics_calls_total"};
	for (size_t i = 0; i < sizeof(fams) / sizeof(fams[0]); i++) {
		struct ml_family *f = ml_registry_find(derived, fams[i]);
		series += f ? ml_family_children(f) : 0;
	}
	printf("format          %s, pool %llu spans in %zu bodies, %llu passes\n", cfg.format,
	       (unsigned long long)pool->n_spans, pool->n, (unsigned long long)passes);
	printf("aggregation     %llu spans in %.2f CPU s on one thread: %.0f ns/span\n",
	       (unsigned long long)spans, agg_s, agg_s * 1e9 / (double)spans);
	printf("flush           %.1f ms per flush (%zu children in the main families)\n",
	       flush_s * 1e3 / (double)flushes, series);
	printf("RESULT format=%s spans=%llu seconds=%.3f ns_per_span=%.0f flush_ms=%.1f "
	       "children=%zu\n",
	       cfg.format, (unsigned long long)spans, agg_s, agg_s * 1e9 / (double)spans,
	       flush_s * 1e3 / (double)flushes, series);
	rc = 0;
out:
	ml_aggregator_destroy(agg);
	ml_registry_destroy(derived);
	ml_registry_destroy(self);
	ml_tsdb_close(db);
	ml_store_close(st);
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "agg_bench: could not remove %s\n", dir);
	}
	free(body);
	ml_arena_destroy(arena);
	ml_bench_pool_destroy(pool);
	return rc;
}
