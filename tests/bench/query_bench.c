/*
 * query_bench.c - latency of the trace queries Grafana and the Jaeger UI
 * send, against a running meshlens that holds the benchmark's spans.
 *
 * Kinds of query, each sent --requests times one after another on one
 * keep-alive connection (a user waiting for a panel, not a load test):
 *   trace_by_id      GET /api/traces/<id>         (Jaeger; ids from loadgen --trace-ids-out)
 *   zipkin_trace     GET /api/v2/trace/<id>       (Zipkin)
 *   search_service   GET /api/traces?service=S&start&end&limit=20
 *   search_tag       ... &operation=O&tags={"error":"true"}
 *   search_duration  ... &minDuration=20ms
 * over the Bookinfo services in turn, within --lookback seconds of now.
 * A query counts as ok when the answer is 200 and (for trace by id) holds
 * spans; latency is from the first byte sent to the last byte received.
 * Prints a summary per kind and one "RESULT" line each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "core/alloc.h"
#include "core/buf.h"

static struct {
	const char *target;
	const char *trace_ids;
	uint64_t requests;
	uint64_t lookback;
	uint64_t limit;
	const char *kinds;
} cfg = {
    .target = "127.0.0.1:4318",
    .requests = 1000,
    .lookback = 3 * 3600,
    .limit = 20,
    .kinds = "trace_by_id,zipkin_trace,search_service,search_tag,search_duration",
};

static const struct ml_bench_flag flags[] = {
    {"target", ML_BF_STR, &cfg.target, "host:port of meshlens."},
    {"trace-ids", ML_BF_STR, &cfg.trace_ids,
     "File of hex trace ids, one per line (loadgen --trace-ids-out); needed for trace-by-id."},
    {"requests", ML_BF_U64, &cfg.requests, "Queries of each kind."},
    {"lookback", ML_BF_U64, &cfg.lookback, "Search window: the last this many seconds."},
    {"limit", ML_BF_U64, &cfg.limit, "limit= of the searches (Grafana sends 20)."},
    {"kinds", ML_BF_STR, &cfg.kinds, "Comma-separated kinds of query to run."},
};

static const char *const services[] = {"productpage.default", "reviews.default", "details.default",
                                       "ratings.default", "istio-ingressgateway.istio-system"};
static const char *const operations[] = {"productpage.default.svc.cluster.local:9080/productpage",
                                         "reviews.default.svc.cluster.local:9080/*",
                                         "details.default.svc.cluster.local:9080/*",
                                         "ratings.default.svc.cluster.local:9080/*",
                                         "productpage.default.svc.cluster.local:9080/productpage"};

/* Percent-encodes s for a query string. */
static void put_escaped(char *out, size_t cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t k = 0;
	for (; *s && k + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			out[k++] = (char)c;
		} else {
			out[k++] = '%';
			out[k++] = hex[c >> 4];
			out[k++] = hex[c & 15];
		}
	}
	out[k] = '\0';
}

static char (*ids)[33];
static size_t n_ids;

static int load_ids(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[128];
	size_t cap = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t n = strcspn(line, "\r\n");
		if (n != 32)
			continue;
		if (n_ids == cap) {
			cap = cap ? cap * 2 : 1024;
			char(*p)[33] = ml_realloc(ids, cap * sizeof(*p));
			if (p == NULL) {
				fclose(f);
				return -1;
			}
			ids = p;
		}
		memcpy(ids[n_ids], line, 32);
		ids[n_ids][32] = '\0';
		n_ids++;
	}
	fclose(f);
	return n_ids ? 0 : -1;
}

/* Builds the path of query i of a kind; -1 if the kind is unknown or needs ids we lack. */
static int make_path(const char *kind, uint64_t i, char *path, size_t cap)
{
	uint64_t now_us = (uint64_t)time(NULL) * 1000000ULL;
	uint64_t start_us = now_us - cfg.lookback * 1000000ULL;
	const char *svc = services[i % 5];
	char op[256];

	put_escaped(op, sizeof(op), operations[i % 5]);
	if (strcmp(kind, "trace_by_id") == 0 || strcmp(kind, "zipkin_trace") == 0) {
		if (n_ids == 0)
			return -1;
		/* stride through the file so that consecutive queries hit different data */
		const char *id = ids[(i * 7919) % n_ids];
		snprintf(path, cap, kind[0] == 't' ? "/api/traces/%s" : "/api/v2/trace/%s", id);
		return 0;
	}
	if (strcmp(kind, "search_service") == 0) {
		snprintf(path, cap, "/api/traces?service=%s&start=%llu&end=%llu&limit=%llu", svc,
		         (unsigned long long)start_us, (unsigned long long)now_us,
		         (unsigned long long)cfg.limit);
		return 0;
	}
	if (strcmp(kind, "search_tag") == 0) {
		snprintf(
		    path, cap,
		    "/api/traces?service=%s&operation=%s&tags=%%7B%%22error%%22%%3A%%22true%%22%%7D"
		    "&start=%llu&end=%llu&limit=%llu",
		    svc, op, (unsigned long long)start_us, (unsigned long long)now_us,
		    (unsigned long long)cfg.limit);
		return 0;
	}
	if (strcmp(kind, "search_duration") == 0) {
		snprintf(path, cap,
		         "/api/traces?service=%s&minDuration=20ms&start=%llu&end=%llu&limit=%llu",
		         svc, (unsigned long long)start_us, (unsigned long long)now_us,
		         (unsigned long long)cfg.limit);
		return 0;
	}
	return -1;
}

/* A 200 whose JSON has at least one span (Jaeger "spanID", Zipkin "id"). */
static int answered(const char *kind, int status, const struct ml_buf *b)
{
	if (status != 200)
		return 0;
	if (strncmp(kind, "search", 6) == 0)
		return 1; /* an empty result is a valid answer for a search */
	const char *needle = kind[0] == 't' ? "\"spanID\"" : "\"id\"";
	return b->len > 0 && memmem(b->data, b->len, needle, strlen(needle)) != NULL;
}

static int run_kind(const char *kind)
{
	struct ml_bench_conn c;
	struct ml_buf resp = ML_BUF_INIT;
	double *lat = ml_malloc(cfg.requests * sizeof(*lat));
	uint64_t ok = 0, errors = 0, bytes = 0, empty = 0;
	char path[1024];
	size_t n = 0;

	if (lat == NULL || ml_bench_conn_init(&c, cfg.target) != 0) {
		ml_free(lat);
		return -1;
	}
	if (make_path(kind, 0, path, sizeof(path)) != 0) {
		fprintf(stderr, "query_bench: unknown kind %s, or no --trace-ids for it\n", kind);
		ml_free(lat);
		return -1;
	}
	for (uint64_t i = 0; i < cfg.requests; i++) {
		int status = 0;
		make_path(kind, i, path, sizeof(path));
		double t0 = ml_bench_now();
		int rc = ml_bench_http(&c, "GET", path, NULL, NULL, 0, &status, &resp);
		double t1 = ml_bench_now();
		if (rc != 0) {
			errors++;
			continue;
		}
		lat[n++] = t1 - t0;
		bytes += resp.len;
		if (answered(kind, status, &resp))
			ok++;
		else if (status == 200)
			empty++;
		else
			errors++;
		if (i == 0 && status != 200)
			fprintf(stderr, "query_bench: %s: HTTP %d for %s: %.*s\n", kind, status,
			        path, (int)(resp.len < 300 ? resp.len : 300),
			        (const char *)resp.data);
	}
	ml_bench_sort(lat, n);
	double p50 = ml_bench_quantile_sorted(lat, n, 0.5) * 1e3;
	double p90 = ml_bench_quantile_sorted(lat, n, 0.9) * 1e3;
	double p99 = ml_bench_quantile_sorted(lat, n, 0.99) * 1e3;
	double pmax = n ? lat[n - 1] * 1e3 : 0;
	printf("%-16s %llu queries: %llu ok, %llu without spans, %llu errors; median %.2f ms, p90 "
	       "%.2f ms, "
	       "p99 %.2f ms, max %.2f ms; %.1f KB per answer\n",
	       kind, (unsigned long long)cfg.requests, (unsigned long long)ok,
	       (unsigned long long)empty, (unsigned long long)errors, p50, p90, p99, pmax,
	       n ? (double)bytes / (double)n / 1e3 : 0.0);
	printf("RESULT query=%s n=%llu ok=%llu empty=%llu errors=%llu p50_ms=%.3f p90_ms=%.3f "
	       "p99_ms=%.3f max_ms=%.3f\n",
	       kind, (unsigned long long)cfg.requests, (unsigned long long)ok,
	       (unsigned long long)empty, (unsigned long long)errors, p50, p90, p99, pmax);
	ml_bench_conn_free(&c);
	ml_buf_free(&resp);
	ml_free(lat);
	return errors ? 1 : 0;
}

int main(int argc, char **argv)
{
	int rc = 0;
	char kinds[512];

	int pr = ml_bench_flags_parse(
	    flags, sizeof(flags) / sizeof(flags[0]), argc, argv,
	    "usage: query_bench [flags]\n\n"
	    "Measures trace-by-id and trace search latency against a running meshlens.");
	if (pr != 0)
		return pr > 0 ? 0 : 2;
	if (cfg.requests == 0) {
		fprintf(stderr, "--requests must be > 0\n");
		return 2;
	}
	if (cfg.trace_ids && load_ids(cfg.trace_ids) != 0) {
		fprintf(stderr, "query_bench: no trace ids in %s\n", cfg.trace_ids);
		return 2;
	}
	snprintf(kinds, sizeof(kinds), "%s", cfg.kinds);
	for (char *save = NULL, *k = strtok_r(kinds, ",", &save); k;
	     k = strtok_r(NULL, ",", &save)) {
		int r = run_kind(k);
		if (r < 0)
			return 2;
		rc |= r;
	}
	ml_free(ids);
	return rc;
}
