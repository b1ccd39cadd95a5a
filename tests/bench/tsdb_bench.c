/*
 * tsdb_bench.c - append throughput, head bytes per active series and bytes
 * per sample on disk for mesh-like series (Istio standard metrics labels).
 *
 *     tsdb_bench [series=100000] [scrapes=30] [dir=/tmp/ml_tsdb_bench]
 *
 * Every scrape appends one sample to every series, in batches of 1000 series
 * (the size of a typical remote-write request), 15 s apart with a few ms of
 * jitter; values are counters growing by small pseudo-random steps (fixed
 * seed). After the appends, maintenance flushes every chunk to LMDB and the
 * stored bytes are divided by the samples.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/arena.h"
#include "store/env.h"
#include "store/tsdb.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *workloads[] = {"productpage-v1", "reviews-v1", "reviews-v2", "reviews-v3",
				  "ratings-v1", "details-v1", "istio-ingressgateway", "mongodb-v1"};
static const char *codes[] = {"200", "201", "204", "301", "400", "404", "500", "503"};

int main(int argc, char **argv)
{
	size_t nseries = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
	size_t scrapes = argc > 2 ? strtoul(argv[2], NULL, 10) : 30;
	const char *dir = argc > 3 ? argv[3] : "/tmp/ml_tsdb_bench";
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s && mkdir -p %s", dir, dir);
	if (system(cmd) != 0)
		return 1;
	struct ml_err err = {{0}};
	struct ml_store_options so = {.path = dir};
	struct ml_store *st = ml_store_open(&so, &err);
	if (st == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	struct ml_tsdb_options to = {.cold_after_ms = -1};
	struct ml_tsdb *db = ml_tsdb_open(st, &to, &err);
	if (db == NULL) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	/* label values per series, built once */
	char (*pod)[32] = calloc(nseries, 32);
	for (size_t i = 0; i < nseries; i++)
		snprintf(pod[i], 32, "pod-%zx-%zu", i * 2654435761u % 0xfffff, i);
	double *val = calloc(nseries, sizeof(double));
	uint32_t x = 42;
	int64_t t0 = 1700000000000LL;
	uint64_t samples = 0;
	double t_append = 0, head_bytes_per_series = 0;
	struct ml_arena *a = ml_arena_create(1 << 20);
	for (size_t sc = 0; sc < scrapes; sc++) {
		for (size_t base = 0; base < nseries; base += 1000) {
			ml_arena_reset(a);
			struct ml_sample_batch b;
			ml_sample_batch_init(&b, a);
			size_t end = base + 1000 < nseries ? base + 1000 : nseries;
			for (size_t i = base; i < end; i++) {
				struct ml_series_samples *s = ml_sample_batch_add(&b, 12, 1);
				struct ml_label *l = s->labels;
				l[0] = (struct ml_label){ML_STR("__name__"), ML_STR("istio_requests_total")};
				l[1] = (struct ml_label){ML_STR("reporter"), i & 1 ? ML_STR("source") : ML_STR("destination")};
				const char *sw = workloads[i % 8], *dw = workloads[(i / 8) % 8];
				l[2] = (struct ml_label){ML_STR("source_workload"), ml_str_make(sw, strlen(sw))};
				l[3] = (struct ml_label){ML_STR("source_workload_namespace"), ML_STR("bookinfo")};
				l[4] = (struct ml_label){ML_STR("destination_workload"), ml_str_make(dw, strlen(dw))};
				l[5] = (struct ml_label){ML_STR("destination_workload_namespace"), ML_STR("bookinfo")};
				l[6] = (struct ml_label){ML_STR("destination_service"), ML_STR("reviews.bookinfo.svc.cluster.local")};
				const char *code = codes[(i / 64) % 8];
				l[7] = (struct ml_label){ML_STR("response_code"), ml_str_make(code, 3)};
				l[8] = (struct ml_label){ML_STR("request_protocol"), ML_STR("http")};
				l[9] = (struct ml_label){ML_STR("connection_security_policy"), ML_STR("mutual_tls")};
				l[10] = (struct ml_label){ML_STR("pod"), ml_str_make(pod[i], strlen(pod[i]))};
				l[11] = (struct ml_label){ML_STR("job"), ML_STR("envoy-stats")};
				x = x * 1103515245u + 12345u;
				val[i] += (double)((x >> 16) % 20);
				s->samples[0].t_ms = t0 + (int64_t)sc * 15000 + (int64_t)((x >> 8) % 5);
				s->samples[0].v = val[i];
			}
			struct ml_tsdb_report rep;
			double t1 = now_s();
			if (ml_tsdb_append(db, &b, &rep, &err) != 0 || rep.samples_rejected) {
				fprintf(stderr, "append: %s %s\n", err.msg, rep.first_error.msg);
				return 1;
			}
			t_append += now_s() - t1;
			samples += rep.samples_accepted;
		}
		if (sc == scrapes - 1 || sc == 9) {
			struct ml_tsdb_stats s;
			ml_tsdb_stats(db, &s);
			head_bytes_per_series = (double)s.head_bytes / (double)s.head_series;
			printf("after %zu scrapes: head %llu series, %.0f bytes/series (%llu samples in head)\n",
			       sc + 1, (unsigned long long)s.head_series, head_bytes_per_series,
			       (unsigned long long)s.head_samples);
		}
	}
	printf("append: %llu samples in %.2f s = %.0f samples/s (1000 series per call, one thread)\n",
	       (unsigned long long)samples, t_append, (double)samples / t_append);
	double t1 = now_s();
	if (ml_tsdb_maintain(db, t0 + (int64_t)scrapes * 15000 + 3 * 3600 * 1000, &err) != 0) {
		fprintf(stderr, "maintain: %s\n", err.msg);
		return 1;
	}
	struct ml_tsdb_stats s;
	ml_tsdb_stats(db, &s);
	struct ml_store_stats ss;
	ml_store_stats(st, &ss);
	printf("flush of everything: %.2f s; %llu chunks, %llu bytes = %.2f bytes/sample in chunk values; "
	       "WAL records left %llu; data.mdb %llu bytes (%.1f bytes/sample incl. index and free pages)\n",
	       now_s() - t1, (unsigned long long)s.stored_chunks, (unsigned long long)s.stored_chunk_bytes,
	       (double)s.stored_chunk_bytes / (double)samples, (unsigned long long)s.wal_records,
	       (unsigned long long)ss.file_bytes, (double)ss.file_bytes / (double)samples);
	ml_arena_destroy(a);
	ml_tsdb_close(db);
	ml_store_close(st);
	free(pod);
	free(val);
	return 0;
}
