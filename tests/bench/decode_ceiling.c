/*
 * decode_ceiling.c - how fast one core turns request bodies into spans,
 * with nothing else in the way: the "decode-only ceiling" that durable
 * ingest throughput is compared against.
 *
 * Builds the same bodies as loadgen (bookinfo_gen, same flags and seed) and
 * decodes them in a loop, single-threaded, with meshlens's own decoders
 * (ml_otlp_trace_decode_proto or ml_zipkin_decode_json) into one arena that
 * is reset per body, exactly as a request handler does. Every decode must
 * accept every span; a rejected span or failed body makes the run fail
 * (exit 3), so this also checks that the generator's bodies are valid.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "bookinfo_gen.h"
#include "core/arena.h"
#include "core/error.h"
#include "ingest/otlp_trace.h"
#include "ingest/zipkin.h"
#include "model/span.h"

static struct {
	const char *format;
	uint64_t spans_per_request;
	uint64_t seed;
	uint64_t replicas;
	double error_rate;
	uint64_t pool_spans;
	double seconds;
	uint64_t epochs;
} cfg = {
    .format = "otlp",
    .spans_per_request = 100,
    .seed = 1,
    .replicas = 3,
    .error_rate = 0.02,
    .pool_spans = 50000,
    .seconds = 3,
    .epochs = 0,
};

static const struct ml_bench_flag flags[] = {
    {"format", ML_BF_STR, &cfg.format, "otlp (protobuf) or zipkin (JSON)."},
    {"spans-per-request", ML_BF_U64, &cfg.spans_per_request, "Spans per body, as loadgen."},
    {"seed", ML_BF_U64, &cfg.seed, "Seed of the traffic, as loadgen."},
    {"replicas", ML_BF_U64, &cfg.replicas, "Pods per workload, as loadgen."},
    {"error-rate", ML_BF_F64, &cfg.error_rate, "Fraction of failing calls, as loadgen."},
    {"pool-spans", ML_BF_U64, &cfg.pool_spans, "Spans generated up front, as loadgen."},
    {"seconds", ML_BF_F64, &cfg.seconds, "How long to decode (after one warm-up pass)."},
    {"epochs", ML_BF_U64, &cfg.epochs,
     "Decode exactly this many passes over the pool instead of --seconds (0 = use --seconds)."},
};

int main(int argc, char **argv)
{
	struct ml_bench_gen_options o;
	struct ml_bench_pool *pool = NULL;
	struct ml_arena *arena = NULL;
	uint8_t *body = NULL;
	uint64_t spans = 0, bytes = 0, bodies = 0, bad = 0;
	int rc = 1;
	enum ml_bench_format fmt;

	int pr = ml_bench_flags_parse(
	    flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
	    "usage: decode_ceiling [flags]\n\n"
	    "Decodes loadgen's request bodies in a loop on one thread and prints spans/s.");
	if (pr != 0)
		return pr > 0 ? 0 : 2;
	if (strcmp(cfg.format, "otlp") == 0)
		fmt = ML_BENCH_OTLP_PROTO;
	else if (strcmp(cfg.format, "zipkin") == 0)
		fmt = ML_BENCH_ZIPKIN_JSON;
	else {
		fprintf(stderr, "--format: expected otlp or zipkin, got \"%s\"\n", cfg.format);
		return 2;
	}
	ml_bench_gen_defaults(&o);
	o.seed = cfg.seed;
	o.spans_per_request = (uint32_t)cfg.spans_per_request;
	o.replicas = (uint32_t)cfg.replicas;
	o.error_rate = cfg.error_rate;
	o.format = fmt;
	pool = ml_bench_pool_build(&o, cfg.pool_spans);
	arena = ml_arena_create(0);
	if (pool == NULL || arena == NULL) {
		fprintf(stderr, "decode_ceiling: cannot generate the bodies\n");
		goto out;
	}
	/* Every pass renders the whole pool with fresh ids first (untimed), then decodes it
	 * (timed). */
	body = malloc(pool->bytes);
	if (body == NULL)
		goto out;
	double el = 0;
	for (uint64_t epoch = 0;; epoch++) {
		size_t off = 0;
		for (size_t i = 0; i < pool->n; i++) {
			ml_bench_pool_render(pool, i, epoch, body + off);
			off += pool->items[i].len;
		}
		double t0 = ml_bench_now();
		off = 0;
		for (size_t i = 0; i < pool->n; i++) {
			const struct ml_bench_payload *pl = &pool->items[i];
			struct ml_span_batch batch;
			struct ml_ingest_report rep;
			struct ml_err err;
			int r;

			ml_arena_reset(arena);
			ml_span_batch_init(&batch, arena);
			memset(&rep, 0, sizeof(rep));
			err.msg[0] = '\0';
			if (fmt == ML_BENCH_OTLP_PROTO)
				r = ml_otlp_trace_decode_proto(body + off, pl->len, &batch, &rep,
				                               &err);
			else
				r = ml_zipkin_decode_json(body + off, pl->len, &batch, &rep, &err);
			off += pl->len;
			if (r != 0 || rep.rejected != 0 || rep.accepted != pl->n_spans ||
			    batch.n != pl->n_spans) {
				if (bad == 0)
					fprintf(stderr,
					        "decode_ceiling: body %zu (epoch %llu): rc %d, "
					        "%llu accepted, %llu rejected of %u: %s%s\n",
					        i, (unsigned long long)epoch, r,
					        (unsigned long long)rep.accepted,
					        (unsigned long long)rep.rejected, pl->n_spans,
					        rep.first_reject, err.msg);
				bad++;
			}
			spans += epoch > 0 ? batch.n : 0;
		}
		/* Pass 0 is a warm-up (caches, arena blocks) and is not counted. */
		if (epoch == 0)
			continue;
		el += ml_bench_now() - t0;
		bytes += pool->bytes;
		bodies += pool->n;
		if (cfg.epochs ? epoch >= cfg.epochs : el >= cfg.seconds)
			break;
	}
	printf("format          %s, %llu spans/request, pool %llu spans in %zu bodies\n",
	       cfg.format, (unsigned long long)cfg.spans_per_request,
	       (unsigned long long)pool->n_spans, pool->n);
	printf("decoded         %llu spans, %llu bodies, %.1f MB in %.2f s on one thread\n",
	       (unsigned long long)spans, (unsigned long long)bodies, (double)bytes / 1e6, el);
	printf("ceiling         %.0f spans/s, %.1f MB/s, %.0f ns/span\n", (double)spans / el,
	       (double)bytes / 1e6 / el, el * 1e9 / (double)spans);
	printf("RESULT format=%s spans=%llu seconds=%.3f spans_per_s=%.0f mb_per_s=%.1f "
	       "bytes_per_span=%.1f bad_bodies=%llu\n",
	       cfg.format, (unsigned long long)spans, el, (double)spans / el,
	       (double)bytes / 1e6 / el, (double)bytes / (double)spans, (unsigned long long)bad);
	rc = bad ? 3 : 0;
out:
	free(body);
	ml_arena_destroy(arena);
	ml_bench_pool_destroy(pool);
	return rc;
}
