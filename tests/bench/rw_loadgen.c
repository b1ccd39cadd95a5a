/*
 * rw_loadgen.c - a Prometheus remote-write 1.0 load generator for the
 * metrics-path benchmark (tests/bench/metrics_bench.sh): mesh-like series
 * (Istio standard metrics of Bookinfo-style workloads), sent to meshlens or
 * to a real Prometheus with --web.enable-remote-write-receiver, the same
 * bytes to both.
 *
 * Requests are shaped like Prometheus's queue manager sends them: one
 * snappy-compressed prometheus.WriteRequest of --samples-per-request
 * samples (2000 by default, its max_samples_per_send), Content-Encoding:
 * snappy, X-Prometheus-Remote-Write-Version: 0.1.0, several concurrent
 * senders. The series are cut into blocks of consecutive series; each block
 * belongs to one sender, which sends it round by round, so that every
 * series' samples arrive in time order (as the queue manager's sharding by
 * series does). A round is one scrape of every series (--interval-ms
 * apart); with --samples-per-series > 1 a request carries that many
 * consecutive scrapes of fewer series (a backfill).
 *
 * Series i lives on "pod" i / 200; within a pod, series 0-39 are
 * istio_requests_total (8 source workloads x 5 response codes), 40-179
 * istio_request_duration_milliseconds_bucket (10 combinations x 14 `le`),
 * 180-189 _sum and _count, 190-199 gauges (per upstream `cluster`). Values: counters grow by
 * pseudo-random steps whose size depends on the series (busy, slow, mostly
 * idle), _sum grows by fractional milliseconds, gauges random-walk over
 * small integers. Timestamps are exact multiples of the interval plus a
 * per-pod phase, with a 3-40 ms jitter on 2 % of scrapes (Prometheus aligns
 * scrape timestamps within 2 ms, so most of its samples are exactly on the
 * interval). Everything comes from a fixed seed: two runs with the same
 * flags send the same bytes.
 *
 * By default every request body is built before the clock starts
 * (--prebuild 1), so the generator's CPU during the timed part is only
 * sending. Rounds before --warmup-rounds are timed separately: they create
 * the series.
 *
 * Output: one line per phase, "key=value" pairs (see print_phase).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <snappy-c.h>

#include "bench_util.h"
#include "core/buf.h"

#define SERIES_PER_POD 200

/* --- flags ------------------------------------------------------------------ */

static const char *f_target = "127.0.0.1:9090";
static const char *f_path = "/api/v1/write";
static uint64_t f_series = 100000;
static uint64_t f_rounds = 10;
static uint64_t f_warmup = 1;
static uint64_t f_first_round = 0;
static uint64_t f_spr = 2000;
static uint64_t f_sps = 1;
static uint64_t f_conns = 8;
static uint64_t f_interval = 15000;
static uint64_t f_t0 = 0;
static uint64_t f_seed = 1;
static int f_prebuild = 1;
static uint64_t f_retries = 50;
static uint64_t f_pid = 0;

static const struct ml_bench_flag flags[] = {
	{"target", ML_BF_STR, &f_target, "host:port of meshlens or Prometheus"},
	{"path", ML_BF_STR, &f_path, "remote-write path"},
	{"series", ML_BF_U64, &f_series, "active series (a multiple of the series per request)"},
	{"rounds", ML_BF_U64, &f_rounds, "scrapes of every series to send (including warm-up)"},
	{"first-round", ML_BF_U64, &f_first_round,
	 "index of the first round (its timestamp is t0 + first-round x interval)"},
	{"warmup-rounds", ML_BF_U64, &f_warmup, "rounds timed separately (series creation)"},
	{"samples-per-request", ML_BF_U64, &f_spr, "samples per request (Prometheus: max_samples_per_send)"},
	{"samples-per-series", ML_BF_U64, &f_sps,
	 "consecutive scrapes of a series in one request (1 = live; more = backfill)"},
	{"connections", ML_BF_U64, &f_conns, "concurrent senders, one keep-alive connection each"},
	{"interval-ms", ML_BF_U64, &f_interval, "scrape interval"},
	{"t0-ms", ML_BF_U64, &f_t0, "timestamp of round 0 (unix ms); 0 = now - rounds x interval"},
	{"seed", ML_BF_U64, &f_seed, "seed of the values and jitter"},
	{"prebuild", ML_BF_BOOL, &f_prebuild, "build every body before sending (1) or while sending (0)"},
	{"retries", ML_BF_U64, &f_retries, "retries of a request answered 429 or 5xx (10 ms apart)"},
	{"pid", ML_BF_U64, &f_pid, "server process: its CPU seconds per phase are reported (0 = none)"},
};

/* --- series ------------------------------------------------------------------ */

static const char *workloads[] = {"productpage-v1", "reviews-v1",  "reviews-v2", "reviews-v3",
				  "ratings-v1",     "details-v1",  "istio-ingressgateway", "mongodb-v1"};
static const char *services[] = {"productpage", "reviews", "reviews", "reviews",
				 "ratings",     "details", "istio-ingressgateway", "mongodb"};
static const char *codes[] = {"200", "404", "500", "503", "201"};
static const char *les[] = {"1",    "5",    "10",   "25",    "50",    "100",   "250",
			    "500",  "1000", "2500", "5000", "10000", "30000", "+Inf"};

struct series {
	uint8_t *labels; /* protobuf: repeated Label (field 1 of TimeSeries), encoded */
	uint32_t labels_len;
	uint8_t kind;    /* 0 counter, 1 fractional counter (_sum), 2 gauge */
	uint8_t busy;    /* step scale */
	double v;
	uint64_t rng;
};

static struct series *g_series;
static int64_t g_phase_per_pod_max = 14000;

static uint64_t splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void put_tag(struct ml_buf *b, unsigned field, unsigned wt)
{
	ml_buf_put_uvarint(b, (uint64_t)(field << 3 | wt));
}

static void put_label(struct ml_buf *b, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	size_t inner = 1 + (nl < 128 ? 1 : 2) + nl + 1 + (vl < 128 ? 1 : 2) + vl;
	put_tag(b, 1, 2);
	ml_buf_put_uvarint(b, inner);
	put_tag(b, 1, 2);
	ml_buf_put_uvarint(b, nl);
	ml_buf_append(b, name, nl);
	put_tag(b, 2, 2);
	ml_buf_put_uvarint(b, vl);
	ml_buf_append(b, value, vl);
}

/* Builds series i's label set (sorted by name, as Prometheus sends them). */
static void build_series(uint64_t i, struct series *s, struct ml_buf *b)
{
	uint64_t pod = i / SERIES_PER_POD, j = i % SERIES_PER_POD;
	char name[64], podname[64], inst[64], le[16] = "";
	const char *src = workloads[j % 8], *code = "200";
	uint64_t dst_i = (pod * 7 + 3) % 8;
	int busy = 1;
	s->kind = 0;
	if (j < 40) {
		snprintf(name, sizeof(name), "istio_requests_total");
		code = codes[(j / 8) % 5];
		busy = code[0] == '2' && code[2] == '0' ? 3 : (code[0] == '5' ? 0 : 1);
	} else if (j < 180) {
		uint64_t combo = (j - 40) / 14, b_i = (j - 40) % 14;
		snprintf(name, sizeof(name), "istio_request_duration_milliseconds_bucket");
		src = workloads[combo % 8];
		code = combo < 8 ? "200" : "503";
		snprintf(le, sizeof(le), "%s", les[b_i]);
		busy = combo >= 8 ? 0 : (b_i < 3 ? 1 : (b_i < 6 ? 2 : 3));
	} else if (j < 190) {
		src = workloads[(j - 180) / 2 % 8];
		snprintf(name, sizeof(name), (j & 1) ? "istio_request_duration_milliseconds_count"
						     : "istio_request_duration_milliseconds_sum");
		s->kind = (j & 1) ? 0 : 1;
		busy = 3;
	} else {
		snprintf(name, sizeof(name), j < 195 ? "envoy_cluster_upstream_cx_active"
						     : "envoy_server_memory_allocated");
		s->kind = 2;
		busy = j < 195 ? 1 : 3;
	}
	snprintf(podname, sizeof(podname), "%s-%05llx-%llu", services[dst_i],
		 (unsigned long long)((pod * 2654435761u) & 0xfffff), (unsigned long long)pod);
	snprintf(inst, sizeof(inst), "10.%llu.%llu.%llu:15090", (unsigned long long)(pod >> 16 & 255),
		 (unsigned long long)(pod >> 8 & 255), (unsigned long long)(pod & 255));
	ml_buf_clear(b);
	/* Sorted by name. */
	put_label(b, "__name__", name);
	if (s->kind == 2) {
		char cl[64];
		snprintf(cl, sizeof(cl), "outbound|9080||%s.bookinfo.svc.cluster.local", workloads[j % 8]);
		put_label(b, "cluster", cl);
	}
	if (s->kind != 2)
		put_label(b, "connection_security_policy", "mutual_tls");
	if (s->kind != 2) {
		put_label(b, "destination_service", "reviews.bookinfo.svc.cluster.local");
		put_label(b, "destination_workload", workloads[dst_i]);
		put_label(b, "destination_workload_namespace", "bookinfo");
	}
	put_label(b, "instance", inst);
	put_label(b, "job", "envoy-stats");
	if (le[0])
		put_label(b, "le", le);
	put_label(b, "namespace", "bookinfo");
	put_label(b, "pod", podname);
	if (s->kind != 2) {
		put_label(b, "reporter", (pod & 1) ? "source" : "destination");
		put_label(b, "request_protocol", "http");
		put_label(b, "response_code", code);
		put_label(b, "source_workload", src);
		put_label(b, "source_workload_namespace", "bookinfo");
	}
	s->labels = malloc(b->len);
	if (s->labels == NULL) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	memcpy(s->labels, b->data, b->len);
	s->labels_len = (uint32_t)b->len;
	s->busy = (uint8_t)busy;
	s->rng = f_seed * 0x100000001b3ULL + i;
	s->v = s->kind == 2 ? (double)(splitmix(&s->rng) % 50) : 0;
	if (s->kind == 2 && busy == 3)
		s->v = 52428800 + (double)(splitmix(&s->rng) % 1048576) * 8;
}

/* The next value of s (one scrape later). */
static double step(struct series *s)
{
	uint64_t r = splitmix(&s->rng);
	switch (s->kind) {
	case 0:
		/* busy 3: every scrape 1-200; 2: 70 %, 0-20; 1: 30 %, 1-3; 0: 2 %, 1 */
		if (s->busy == 3)
			s->v += (double)(1 + r % 200);
		else if (s->busy == 2 && r % 10 < 7)
			s->v += (double)((r >> 8) % 21);
		else if (s->busy == 1 && r % 10 < 3)
			s->v += (double)(1 + (r >> 8) % 3);
		else if (s->busy == 0 && r % 100 < 2)
			s->v += 1;
		break;
	case 1:
		s->v += (double)(r % 200000) / 1000.0 * 37.0;
		break;
	default:
		if (s->busy == 3) {
			if (r % 4 == 0)
				s->v += (double)((int64_t)((r >> 8) % 65536) - 32768) * 8;
		} else if (r % 5 == 0) {
			s->v += (r >> 8) & 1 ? 1 : (s->v > 0 ? -1 : 1);
		}
		break;
	}
	return s->v;
}

/* --- request bodies ---------------------------------------------------------- */

struct body {
	uint8_t *p;
	size_t n;
};

static uint64_t g_blocks;       /* series blocks */
static uint64_t g_block_series; /* series per block */
static uint64_t g_steps;        /* requests per block (rounds / samples per series) */

static void put_double(struct ml_buf *b, double v)
{
	uint8_t x[8];
	memcpy(x, &v, 8); /* little-endian hosts only, like protobuf's fixed64 */
	ml_buf_append(b, x, 8);
}

static int64_t sample_time(uint64_t i, uint64_t round)
{
	uint64_t pod = i / SERIES_PER_POD;
	int64_t t = (int64_t)f_t0 + (int64_t)(round * f_interval) +
		    (int64_t)((pod * 7919) % (uint64_t)g_phase_per_pod_max);
	uint64_t h = (pod * 0x9e3779b97f4a7c15ULL) ^ (round * 0xbf58476d1ce4e5b9ULL) ^ f_seed;
	h ^= h >> 31;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 29;
	if (h % 100 < 2)
		t += 3 + (int64_t)((h >> 16) % 38);
	return t;
}

/*
 * Builds the body of block blk, step st (rounds st*sps .. +sps) into raw
 * and compresses it into out (malloc'ed).
 */
static int build_body(uint64_t blk, uint64_t st, struct ml_buf *raw, struct ml_buf *ts, struct body *out)
{
	ml_buf_clear(raw);
	for (uint64_t k = 0; k < g_block_series; k++) {
		uint64_t i = blk * g_block_series + k;
		struct series *s = &g_series[i];
		ml_buf_clear(ts);
		ml_buf_append(ts, s->labels, s->labels_len);
		for (uint64_t r = 0; r < f_sps; r++) {
			uint64_t round = f_first_round + st * f_sps + r;
			double v = step(s);
			int64_t t = sample_time(i, round);
			/* Sample { double value = 1; int64 timestamp = 2; } */
			struct ml_buf sb = ML_BUF_INIT;
			put_tag(&sb, 1, 1);
			put_double(&sb, v);
			put_tag(&sb, 2, 0);
			ml_buf_put_uvarint(&sb, (uint64_t)t);
			put_tag(ts, 2, 2);
			ml_buf_put_uvarint(ts, sb.len);
			ml_buf_append(ts, sb.data, sb.len);
			ml_buf_free(&sb);
		}
		put_tag(raw, 1, 2);
		ml_buf_put_uvarint(raw, ts->len);
		ml_buf_append(raw, ts->data, ts->len);
	}
	if (!ml_buf_ok(raw) || !ml_buf_ok(ts))
		return -1;
	size_t cap = snappy_max_compressed_length(raw->len);
	out->p = malloc(cap);
	if (out->p == NULL)
		return -1;
	out->n = cap;
	if (snappy_compress((const char *)raw->data, raw->len, (char *)out->p, &out->n) != SNAPPY_OK)
		return -1;
	return 0;
}

/* --- senders ------------------------------------------------------------------- */

struct phase {
	uint64_t step_from, step_to; /* [from, to) */
};

struct sender {
	pthread_t th;
	unsigned id;
	struct phase ph;
	struct body *bodies; /* prebuilt: [blk * g_steps + st] */
	/* results */
	uint64_t requests, samples, failed, retries, bytes;
	double *lat;
	size_t n_lat, cap_lat;
	char first_error[256];
};

static const char *CT = "application/x-protobuf\r\nContent-Encoding: snappy\r\n"
			"X-Prometheus-Remote-Write-Version: 0.1.0";

static void *sender_main(void *arg)
{
	struct sender *sd = arg;
	struct ml_bench_conn c;
	struct ml_buf resp = ML_BUF_INIT, raw = ML_BUF_INIT, ts = ML_BUF_INIT;
	if (ml_bench_conn_init(&c, f_target) != 0) {
		snprintf(sd->first_error, sizeof(sd->first_error), "bad --target");
		return NULL;
	}
	for (uint64_t st = sd->ph.step_from; st < sd->ph.step_to; st++) {
		for (uint64_t blk = sd->id; blk < g_blocks; blk += f_conns) {
			struct body b, *bp;
			if (sd->bodies) {
				bp = &sd->bodies[blk * g_steps + st];
			} else {
				if (build_body(blk, st, &raw, &ts, &b) != 0) {
					snprintf(sd->first_error, sizeof(sd->first_error), "out of memory");
					goto out;
				}
				bp = &b;
			}
			int status = 0;
			bool ok = false;
			for (uint64_t attempt = 0; attempt <= f_retries; attempt++) {
				double t1 = ml_bench_now();
				int rc = ml_bench_http(&c, "POST", f_path, CT, bp->p, bp->n, &status, &resp);
				double dt = ml_bench_now() - t1;
				if (rc == 0 && status / 100 == 2) {
					if (sd->n_lat == sd->cap_lat) {
						sd->cap_lat = sd->cap_lat ? sd->cap_lat * 2 : 1024;
						sd->lat = realloc(sd->lat, sd->cap_lat * sizeof(double));
						if (sd->lat == NULL)
							abort();
					}
					sd->lat[sd->n_lat++] = dt;
					ok = true;
					break;
				}
				if (sd->first_error[0] == 0)
					snprintf(sd->first_error, sizeof(sd->first_error), "rc=%d status=%d %.*s", rc,
						 status, (int)(resp.len > 180 ? 180 : resp.len),
						 resp.data ? (const char *)resp.data : "");
				if (rc == -2 || (rc == 0 && status != 429 && status / 100 != 5))
					break;
				sd->retries++;
				usleep(10000);
			}
			sd->requests++;
			sd->bytes += bp->n;
			if (ok)
				sd->samples += g_block_series * f_sps;
			else
				sd->failed++;
			if (!sd->bodies)
				free(b.p);
		}
	}
out:
	ml_bench_conn_free(&c);
	ml_buf_free(&resp);
	ml_buf_free(&raw);
	ml_buf_free(&ts);
	return NULL;
}

/* CPU seconds (user + system) of process pid so far; -1 if unknown. */
static double proc_cpu(uint64_t pid)
{
	char path[64], buf[1024];
	if (pid == 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%llu/stat", (unsigned long long)pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* Fields after the command name (which may hold spaces) start after the last ')'. */
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static void print_phase(const char *name, struct sender *sd, double secs, double cpu)
{
	uint64_t req = 0, samples = 0, failed = 0, retries = 0, bytes = 0;
	size_t nl = 0;
	const char *first = "";
	for (uint64_t i = 0; i < f_conns; i++) {
		req += sd[i].requests;
		samples += sd[i].samples;
		failed += sd[i].failed;
		retries += sd[i].retries;
		bytes += sd[i].bytes;
		nl += sd[i].n_lat;
		if (!first[0] && sd[i].first_error[0])
			first = sd[i].first_error;
	}
	double *all = calloc(nl ? nl : 1, sizeof(double));
	size_t k = 0;
	for (uint64_t i = 0; i < f_conns; i++)
		for (size_t j = 0; j < sd[i].n_lat; j++)
			all[k++] = sd[i].lat[j];
	ml_bench_sort(all, nl);
	printf("phase=%s requests=%llu failed=%llu retries=%llu samples=%llu seconds=%.3f "
	       "samples_per_s=%.0f body_bytes=%llu p50_ms=%.3f p99_ms=%.3f server_cpu_s=%.2f "
	       "server_cpu_us_per_sample=%.2f first_error=\"%s\"\n",
	       name, (unsigned long long)req, (unsigned long long)failed, (unsigned long long)retries,
	       (unsigned long long)samples, secs, secs > 0 ? (double)samples / secs : 0,
	       (unsigned long long)bytes, ml_bench_quantile_sorted(all, nl, 0.5) * 1e3,
	       ml_bench_quantile_sorted(all, nl, 0.99) * 1e3, cpu, samples ? cpu / (double)samples * 1e6 : 0,
	       first);
	fflush(stdout);
	free(all);
}

static int run_phase(const char *name, struct phase ph, struct body *bodies)
{
	struct sender *sd = calloc(f_conns, sizeof(*sd));
	if (sd == NULL)
		return -1;
	double c1 = proc_cpu(f_pid);
	double t1 = ml_bench_now();
	for (uint64_t i = 0; i < f_conns; i++) {
		sd[i].id = (unsigned)i;
		sd[i].ph = ph;
		sd[i].bodies = bodies;
		if (pthread_create(&sd[i].th, NULL, sender_main, &sd[i]) != 0) {
			fprintf(stderr, "pthread_create failed\n");
			exit(1);
		}
	}
	for (uint64_t i = 0; i < f_conns; i++)
		pthread_join(sd[i].th, NULL);
	double secs = ml_bench_now() - t1;
	double c2 = proc_cpu(f_pid);
	print_phase(name, sd, secs, c1 >= 0 && c2 >= 0 ? c2 - c1 : 0);
	int bad = 0;
	for (uint64_t i = 0; i < f_conns; i++) {
		bad |= sd[i].failed != 0;
		free(sd[i].lat);
	}
	free(sd);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc = ml_bench_flags_parse(flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
				      "rw_loadgen [flags]: Prometheus remote-write load (see the file header)");
	if (rc != 0)
		return rc < 0 ? 2 : 0;
	if (f_sps == 0 || f_spr % f_sps != 0 || f_series % (f_spr / f_sps) != 0 || f_rounds % f_sps != 0 ||
	    f_conns == 0 || f_warmup % f_sps != 0) {
		fprintf(stderr, "rw_loadgen: --samples-per-request must be a multiple of --samples-per-series, "
				"--series a multiple of their quotient, --rounds and --warmup-rounds multiples "
				"of --samples-per-series\n");
		return 2;
	}
	if (f_t0 == 0) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
		f_t0 = (uint64_t)(ms - (int64_t)((f_first_round + f_rounds) * f_interval) - g_phase_per_pod_max);
	}
	if (g_phase_per_pod_max > (int64_t)f_interval)
		g_phase_per_pod_max = (int64_t)f_interval;
	g_block_series = f_spr / f_sps;
	g_blocks = f_series / g_block_series;
	g_steps = f_rounds / f_sps;
	if (f_conns > g_blocks)
		f_conns = g_blocks;

	double t1 = ml_bench_now();
	g_series = calloc(f_series, sizeof(*g_series));
	struct ml_buf b = ML_BUF_INIT, raw = ML_BUF_INIT, ts = ML_BUF_INIT;
	if (g_series == NULL)
		return 1;
	for (uint64_t i = 0; i < f_series; i++)
		build_series(i, &g_series[i], &b);
	/* Values advance one scrape per step() call; the rounds before first-round are skipped. */
	for (uint64_t i = 0; i < f_series && f_first_round; i++)
		for (uint64_t r = 0; r < f_first_round; r++)
			step(&g_series[i]);
	struct body *bodies = NULL;
	uint64_t total_bytes = 0;
	if (f_prebuild) {
		bodies = calloc(g_blocks * g_steps, sizeof(*bodies));
		if (bodies == NULL)
			return 1;
		/* Step by step across blocks, so each series' values advance in time order. */
		for (uint64_t st = 0; st < g_steps; st++)
			for (uint64_t blk = 0; blk < g_blocks; blk++) {
				if (build_body(blk, st, &raw, &ts, &bodies[blk * g_steps + st]) != 0) {
					fprintf(stderr, "rw_loadgen: out of memory building bodies\n");
					return 1;
				}
				total_bytes += bodies[blk * g_steps + st].n;
			}
	}
	printf("phase=build series=%llu rounds=%llu requests=%llu samples_per_request=%llu "
	       "senders=%llu t0_ms=%llu prebuilt_bytes=%llu seconds=%.3f\n",
	       (unsigned long long)f_series, (unsigned long long)f_rounds,
	       (unsigned long long)(g_blocks * g_steps), (unsigned long long)f_spr,
	       (unsigned long long)f_conns, (unsigned long long)f_t0, (unsigned long long)total_bytes,
	       ml_bench_now() - t1);
	fflush(stdout);
	ml_buf_free(&b);
	ml_buf_free(&raw);
	ml_buf_free(&ts);

	int bad = 0;
	uint64_t warm_steps = f_warmup / f_sps;
	if (warm_steps > g_steps)
		warm_steps = g_steps;
	if (warm_steps)
		bad |= run_phase("create", (struct phase){0, warm_steps}, bodies);
	if (warm_steps < g_steps)
		bad |= run_phase("steady", (struct phase){warm_steps, g_steps}, bodies);
	return bad;
}
