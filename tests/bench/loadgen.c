/*
 * loadgen.c - a load generator that plays the sidecars of a Bookinfo-like
 * mesh against a meshlens (or any OTLP/HTTP or Zipkin v2 receiver).
 *
 * One thread per keep-alive connection (--connections), each POSTing
 * request bodies built by bookinfo_gen (one sidecar's spans per request)
 * as fast as the server answers, or paced to a fixed --rate of spans per
 * second shared by all connections. Runs for --duration seconds or until
 * --spans spans were sent. A span counts as acknowledged when its request
 * got a 2xx (minus OTLP partial_success.rejected_spans). Latency is from
 * the first byte sent to the last byte of the answer. Everything sent is
 * determined by --seed and --start-time.
 *
 * Prints a human summary and one machine-readable line starting "RESULT".
 */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "bookinfo_gen.h"
#include "core/alloc.h"
#include "core/buf.h"
#include "model/span.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

static struct {
	const char *target;
	const char *format;
	uint64_t connections;
	uint64_t spans_per_request;
	uint64_t rate;
	uint64_t duration;
	uint64_t spans;
	uint64_t seed;
	uint64_t replicas;
	double error_rate;
	uint64_t pool_spans;
	uint64_t start_time;
	const char *trace_ids_out;
	uint64_t trace_ids_count;
} cfg = {
    .target = "127.0.0.1:4318",
    .format = "otlp",
    .connections = 16,
    .spans_per_request = 100,
    .duration = 10,
    .seed = 1,
    .replicas = 3,
    .error_rate = 0.02,
    .pool_spans = 50000,
    .trace_ids_count = 1000,
};

static const struct ml_bench_flag flags[] = {
    {"target", ML_BF_STR, &cfg.target, "host:port of the receiver."},
    {"format", ML_BF_STR, &cfg.format,
     "otlp (protobuf, POST /v1/traces) or zipkin (JSON, POST /api/v2/spans)."},
    {"connections", ML_BF_U64, &cfg.connections, "Keep-alive connections, one thread each."},
    {"spans-per-request", ML_BF_U64, &cfg.spans_per_request,
     "Spans a sidecar buffers before it sends them in one request."},
    {"rate", ML_BF_U64, &cfg.rate,
     "Spans per second over all connections; 0 = as fast as possible."},
    {"duration", ML_BF_U64, &cfg.duration, "Seconds to run (ignored when --spans is given)."},
    {"spans", ML_BF_U64, &cfg.spans, "Stop after sending this many spans (0 = use --duration)."},
    {"seed", ML_BF_U64, &cfg.seed, "Seed of the traffic: the same seed sends the same bytes."},
    {"replicas", ML_BF_U64, &cfg.replicas, "Pods (sidecars) per Bookinfo workload."},
    {"error-rate", ML_BF_F64, &cfg.error_rate, "Fraction of calls that fail (5xx, error=true)."},
    {"pool-spans", ML_BF_U64, &cfg.pool_spans,
     "Spans generated up front and replayed with fresh ids and times."},
    {"start-time", ML_BF_U64, &cfg.start_time,
     "Unix seconds of the first trace; 0 = one hour ago (rounded to the minute)."},
    {"trace-ids-out", ML_BF_STR, &cfg.trace_ids_out,
     "Write a sample of acknowledged trace ids (hex, one per line) to this file."},
    {"trace-ids-count", ML_BF_U64, &cfg.trace_ids_count, "How many trace ids to write."},
};

static struct ml_bench_pool *pool;
static enum ml_bench_format fmt;
static double t_start, t_deadline;
static size_t max_body;

static atomic_uint_fast64_t next_req; /* requests claimed */
static atomic_uint_fast64_t spans_claimed;
static atomic_uint_fast64_t spans_sent, spans_acked, spans_rejected, bytes_sent;
static atomic_uint_fast64_t req_ok, req_failed, conn_errors;
static atomic_uint_fast64_t status_count[600];

struct worker {
	pthread_t th;
	double *lat; /* seconds, one per answered request */
	size_t n_lat, cap_lat;
	uint8_t (*ids)[16]; /* first trace id of each acknowledged request, in claim order */
	uint64_t *id_seq;
	size_t n_ids, cap_ids;
	int failed;
};

static int push_latency(struct worker *w, double v)
{
	if (w->n_lat == w->cap_lat) {
		size_t c = w->cap_lat ? w->cap_lat * 2 : 4096;
		double *p = ml_realloc(w->lat, c * sizeof(*p));
		if (p == NULL)
			return -1;
		w->lat = p;
		w->cap_lat = c;
	}
	w->lat[w->n_lat++] = v;
	return 0;
}

static int push_id(struct worker *w, size_t i, const uint8_t *body, uint64_t seq)
{
	uint8_t id[16];

	if (ml_bench_pool_first_trace_id(pool, i, body, id) != 0)
		return 0;
	if (w->n_ids == w->cap_ids) {
		size_t c = w->cap_ids ? w->cap_ids * 2 : 1024;
		uint8_t(*p)[16] = ml_realloc(w->ids, c * sizeof(*p));
		uint64_t *q = ml_realloc(w->id_seq, c * sizeof(*q));
		if (p)
			w->ids = p;
		if (q)
			w->id_seq = q;
		if (p == NULL || q == NULL)
			return -1;
		w->cap_ids = c;
	}
	memcpy(w->ids[w->n_ids], id, 16);
	w->id_seq[w->n_ids++] = seq;
	return 0;
}

/* Spans rejected according to an OTLP ExportTraceServiceResponse body. */
static uint64_t otlp_rejected(const struct ml_buf *resp)
{
	uint64_t n = 0;
	if (resp->len == 0)
		return 0;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *r =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
	        NULL, resp->len, resp->data);
	if (r == NULL)
		return 0;
	if (r->partial_success && r->partial_success->rejected_spans > 0)
		n = (uint64_t)r->partial_success->rejected_spans;
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
	    r, NULL);
	return n;
}

static void sleep_until(double t)
{
	double now = ml_bench_now();
	if (t <= now)
		return;
	struct timespec ts;
	double d = t - now;
	ts.tv_sec = (time_t)d;
	ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
	nanosleep(&ts, NULL);
}

static void *run_worker(void *arg)
{
	struct worker *w = arg;
	struct ml_bench_conn c;
	struct ml_buf resp = ML_BUF_INIT;
	uint8_t *body = ml_malloc(max_body);
	const char *path = ml_bench_format_path(fmt);
	const char *ctype = ml_bench_format_content_type(fmt);

	if (body == NULL || ml_bench_conn_init(&c, cfg.target) != 0) {
		w->failed = 1;
		ml_free(body);
		return NULL;
	}
	for (;;) {
		uint64_t k = atomic_fetch_add(&next_req, 1);
		size_t i = (size_t)(k % pool->n);
		uint64_t epoch = k / pool->n;
		const struct ml_bench_payload *pl = &pool->items[i];
		uint64_t before = atomic_fetch_add(&spans_claimed, pl->n_spans);

		if (cfg.spans && before >= cfg.spans)
			break;
		if (cfg.rate)
			sleep_until(t_start + (double)before / (double)cfg.rate);
		if (!cfg.spans && ml_bench_now() >= t_deadline)
			break;
		ml_bench_pool_render(pool, i, epoch, body);

		int status = 0;
		double t0 = ml_bench_now();
		int rc = ml_bench_http(&c, "POST", path, ctype, body, pl->len, &status, &resp);
		double t1 = ml_bench_now();
		if (rc != -2) {
			atomic_fetch_add(&spans_sent, pl->n_spans);
			atomic_fetch_add(&bytes_sent, pl->len);
		}
		if (rc != 0) {
			atomic_fetch_add(&conn_errors, 1);
			if (rc != -2)
				atomic_fetch_add(&req_failed, 1);
			/* a refused or reset connection: do not spin */
			struct timespec ts = {0, 10000000};
			nanosleep(&ts, NULL);
			continue;
		}
		if (push_latency(w, t1 - t0) != 0)
			w->failed = 1;
		atomic_fetch_add(&status_count[status >= 100 && status < 600 ? status : 0], 1);
		if (status >= 200 && status < 300) {
			uint64_t rej = fmt == ML_BENCH_OTLP_PROTO ? otlp_rejected(&resp) : 0;
			if (rej > pl->n_spans)
				rej = pl->n_spans;
			atomic_fetch_add(&spans_acked, pl->n_spans - rej);
			atomic_fetch_add(&spans_rejected, rej);
			atomic_fetch_add(&req_ok, 1);
			if (cfg.trace_ids_out && push_id(w, i, body, k) != 0)
				w->failed = 1;
		} else {
			atomic_fetch_add(&req_failed, 1);
		}
	}
	ml_bench_conn_free(&c);
	ml_buf_free(&resp);
	ml_free(body);
	return NULL;
}

struct entry {
	uint64_t seq;
	uint8_t id[16];
};

static int cmp_entry(const void *a, const void *b)
{
	uint64_t x = ((const struct entry *)a)->seq, y = ((const struct entry *)b)->seq;
	return (x > y) - (x < y);
}

/* Writes trace_ids_count ids spread evenly over everything acknowledged, in send order. */
static int write_trace_ids(struct worker *ws, size_t nw)
{
	size_t total = 0, k = 0;
	for (size_t i = 0; i < nw; i++)
		total += ws[i].n_ids;
	if (total == 0)
		return 0;
	struct entry *all = ml_malloc(total * sizeof(*all));
	if (all == NULL)
		return -1;
	for (size_t i = 0; i < nw; i++)
		for (size_t j = 0; j < ws[i].n_ids; j++) {
			all[k].seq = ws[i].id_seq[j];
			memcpy(all[k].id, ws[i].ids[j], 16);
			k++;
		}
	qsort(all, total, sizeof(*all), cmp_entry);
	FILE *f = fopen(cfg.trace_ids_out, "w");
	if (f == NULL) {
		ml_free(all);
		return -1;
	}
	size_t want = cfg.trace_ids_count < total ? (size_t)cfg.trace_ids_count : total;
	for (size_t i = 0; i < want; i++) {
		char hex[33];
		ml_hex_encode(hex, all[i * total / want].id, 16);
		fprintf(f, "%s\n", hex);
	}
	fclose(f);
	ml_free(all);
	return 0;
}

int main(int argc, char **argv)
{
	struct ml_bench_gen_options o;
	struct worker *ws = NULL;
	double *lat = NULL;
	int rc = 1;

	signal(SIGPIPE, SIG_IGN);
	int pr = ml_bench_flags_parse(
	    flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
	    "usage: loadgen [flags]\n\n"
	    "Sends Bookinfo-shaped Envoy spans to a trace receiver and reports\n"
	    "throughput and acknowledgement latency.");
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
	if (cfg.connections == 0 || cfg.connections > 4096 || cfg.spans_per_request == 0 ||
	    cfg.replicas == 0 || (cfg.spans == 0 && cfg.duration == 0)) {
		fprintf(stderr, "--connections, --spans-per-request, --replicas and one of "
		                "--duration/--spans must be > 0\n");
		return 2;
	}
	if (cfg.start_time == 0)
		cfg.start_time = ((uint64_t)time(NULL) - 3600) / 60 * 60;

	ml_bench_gen_defaults(&o);
	o.seed = cfg.seed;
	o.start_ns = cfg.start_time * 1000000000ULL;
	o.spans_per_request = (uint32_t)cfg.spans_per_request;
	o.replicas = (uint32_t)cfg.replicas;
	o.error_rate = cfg.error_rate;
	o.format = fmt;
	double tg = ml_bench_now();
	pool = ml_bench_pool_build(&o, cfg.pool_spans);
	if (pool == NULL) {
		fprintf(stderr,
		        "loadgen: cannot generate the traffic (out of memory or bad options)\n");
		return 1;
	}
	for (size_t i = 0; i < pool->n; i++)
		if (pool->items[i].len > max_body)
			max_body = pool->items[i].len;
	fprintf(stderr,
	        "loadgen: pool of %llu spans in %llu traces, %zu requests, %.1f bytes/span, %.2f%% "
	        "error spans, built in %.2f s\n",
	        (unsigned long long)pool->n_spans, (unsigned long long)pool->n_traces, pool->n,
	        (double)pool->bytes / (double)pool->n_spans,
	        100.0 * (double)pool->n_error_spans / (double)pool->n_spans, ml_bench_now() - tg);

	ws = ml_calloc(cfg.connections, sizeof(*ws));
	if (ws == NULL)
		goto out;
	t_start = ml_bench_now();
	t_deadline = t_start + (double)cfg.duration;
	size_t started = 0;
	for (; started < cfg.connections; started++)
		if (pthread_create(&ws[started].th, NULL, run_worker, &ws[started]) != 0)
			break;
	/* progress every 10 s on stderr, for long loads */
	double last_report = 0;
	for (;;) {
		struct timespec ts = {0, 200000000};
		nanosleep(&ts, NULL);
		double now = ml_bench_now();
		bool done =
		    cfg.spans ? atomic_load(&spans_claimed) >= cfg.spans : now >= t_deadline;
		if (done)
			break;
		if (now - t_start - last_report >= 10) {
			last_report = now - t_start;
			fprintf(stderr, "loadgen: %.0f s: %llu spans acknowledged (%.0f/s)\n",
			        last_report, (unsigned long long)atomic_load(&spans_acked),
			        (double)atomic_load(&spans_acked) / last_report);
		}
	}
	for (size_t i = 0; i < started; i++)
		pthread_join(ws[i].th, NULL);
	double elapsed = ml_bench_now() - t_start;

	size_t n_lat = 0;
	for (size_t i = 0; i < started; i++)
		n_lat += ws[i].n_lat;
	lat = ml_malloc((n_lat ? n_lat : 1) * sizeof(*lat));
	if (lat == NULL)
		goto out;
	n_lat = 0;
	int worker_failed = 0;
	for (size_t i = 0; i < started; i++) {
		memcpy(lat + n_lat, ws[i].lat, ws[i].n_lat * sizeof(*lat));
		n_lat += ws[i].n_lat;
		worker_failed |= ws[i].failed;
	}
	ml_bench_sort(lat, n_lat);
	double p50 = ml_bench_quantile_sorted(lat, n_lat, 0.5) * 1e3;
	double p90 = ml_bench_quantile_sorted(lat, n_lat, 0.9) * 1e3;
	double p99 = ml_bench_quantile_sorted(lat, n_lat, 0.99) * 1e3;
	double pmax = n_lat ? lat[n_lat - 1] * 1e3 : 0;
	uint64_t sent = atomic_load(&spans_sent), acked = atomic_load(&spans_acked);
	uint64_t non2xx = 0;
	for (int s = 0; s < 600; s++)
		if (s < 200 || s >= 300)
			non2xx += atomic_load(&status_count[s]);

	printf("target          %s (%s, POST %s)\n", cfg.target, cfg.format,
	       ml_bench_format_path(fmt));
	printf("connections     %llu, %llu spans/request, seed %llu, %s\n",
	       (unsigned long long)cfg.connections, (unsigned long long)cfg.spans_per_request,
	       (unsigned long long)cfg.seed, cfg.rate ? "fixed rate" : "as fast as possible");
	printf("elapsed         %.2f s\n", elapsed);
	printf("spans sent      %llu (%llu requests, %.1f MB, %.1f bytes/span)\n",
	       (unsigned long long)sent,
	       (unsigned long long)(atomic_load(&req_ok) + atomic_load(&req_failed)),
	       (double)atomic_load(&bytes_sent) / 1e6,
	       sent ? (double)atomic_load(&bytes_sent) / (double)sent : 0.0);
	printf("spans acked     %llu (%llu rejected in partial success)\n",
	       (unsigned long long)acked, (unsigned long long)atomic_load(&spans_rejected));
	printf("non-2xx         %llu, connection errors %llu\n", (unsigned long long)non2xx,
	       (unsigned long long)atomic_load(&conn_errors));
	for (int s = 0; s < 600; s++) {
		uint64_t n = atomic_load(&status_count[s]);
		if (n && (s < 200 || s >= 300))
			printf("  HTTP %d: %llu\n", s, (unsigned long long)n);
	}
	printf("throughput      %.0f spans/s acknowledged, %.1f MB/s\n", (double)acked / elapsed,
	       (double)atomic_load(&bytes_sent) / 1e6 / elapsed);
	printf("ack latency     median %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms (%zu "
	       "requests)\n",
	       p50, p90, p99, pmax, n_lat);
	printf("RESULT format=%s connections=%llu spans_per_request=%llu elapsed_s=%.3f "
	       "spans_sent=%llu "
	       "spans_acked=%llu non2xx=%llu conn_errors=%llu bytes_sent=%llu spans_per_s=%.0f "
	       "lat_p50_ms=%.3f lat_p90_ms=%.3f lat_p99_ms=%.3f\n",
	       cfg.format, (unsigned long long)cfg.connections,
	       (unsigned long long)cfg.spans_per_request, elapsed, (unsigned long long)sent,
	       (unsigned long long)acked, (unsigned long long)non2xx,
	       (unsigned long long)atomic_load(&conn_errors),
	       (unsigned long long)atomic_load(&bytes_sent), (double)acked / elapsed, p50, p90,
	       p99);
	if (cfg.trace_ids_out && write_trace_ids(ws, started) != 0) {
		fprintf(stderr, "loadgen: cannot write %s\n", cfg.trace_ids_out);
		goto out;
	}
	if (worker_failed) {
		fprintf(stderr, "loadgen: a connection thread ran out of memory\n");
		goto out;
	}
	rc = acked == sent && sent > 0 ? 0 : 3;
out:
	if (ws)
		for (size_t i = 0; i < cfg.connections; i++) {
			ml_free(ws[i].lat);
			ml_free(ws[i].ids);
			ml_free(ws[i].id_seq);
		}
	ml_free(ws);
	ml_free(lat);
	ml_bench_pool_destroy(pool);
	return rc;
}
