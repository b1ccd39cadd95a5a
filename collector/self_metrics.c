/*
 * self_metrics.c - the families of meshlens's own health metrics, their
 * registration, the hooks the store and HTTP server call, and the scrape-time
 * readers of /proc/self, the store and the TSDB (see self_metrics.h).
 *
 * The process_* families follow client_golang's process collector: CPU
 * seconds are utime + stime of /proc/self/stat, memory from its vsize and rss
 * fields, open fds counted in /proc/self/fd, max fds the soft RLIMIT_NOFILE.
 */
#include "self_metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "app.h"
#include "model/registry.h"
#include "store/env.h"
#include "store/tsdb.h"

#ifndef MESHLENS_REVISION
#define MESHLENS_REVISION "unknown"
#endif

/* client_golang's DefBuckets: request latencies from 5 ms to 10 s. */
static const double latency_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
/* An LMDB commit with its fsync: from half a millisecond to seconds on a slow disk. */
static const double commit_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                        0.05,   0.1,   0.25,   0.5,   1,    2.5};

static const char *const l_format[] = {"format"};
static const char *const l_format_reason[] = {"format", "reason"};
static const char *const l_handler_code[] = {"handler", "code"};
static const char *const l_endpoint[] = {"endpoint"};
static const char *const l_build[] = {"version", "revision", "compiler"};

/* Known label values, created at start so that they show as 0. */
static const char *const span_formats[] = {"otlp_proto", "otlp_json", "zipkin"};
static const char *const point_formats[] = {"otlp_proto", "otlp_json"};
static const char *const sample_formats[] = {"remote_write", "prometheus_text"};

static const char *const received_names[] = {"meshlens_received_spans_total",
                                             "meshlens_received_metric_points_total",
                                             "meshlens_received_samples_total"};
static const char *const rejected_names[] = {"meshlens_rejected_spans_total",
                                             "meshlens_rejected_metric_points_total",
                                             "meshlens_rejected_samples_total"};

#define N(a) (sizeof(a) / sizeof((a)[0]))
/* Handlers x codes seen: routes are fixed, codes few; the bound guards a bug. */
#define ML_SELF_MAX_HTTP_CHILDREN 2000

static const struct ml_family_desc families[] = {
    {.name = "meshlens_build_info",
     .type = ML_METRIC_GAUGE,
     .help = "A metric with a constant '1' value labeled by the version, revision and compiler "
             "meshlens was built with.",
     .label_names = l_build,
     .n_labels = N(l_build)},
    {.name = "meshlens_received_spans_total",
     .type = ML_METRIC_COUNTER,
     .help = "Spans accepted and stored, by wire format.",
     .label_names = l_format,
     .n_labels = 1},
    {.name = "meshlens_rejected_spans_total",
     .type = ML_METRIC_COUNTER,
     .help = "Spans not stored, by wire format and reason.",
     .label_names = l_format_reason,
     .n_labels = 2},
    {.name = "meshlens_received_metric_points_total",
     .type = ML_METRIC_COUNTER,
     .help = "OTLP metric data points accepted and stored, by wire format.",
     .label_names = l_format,
     .n_labels = 1},
    {.name = "meshlens_rejected_metric_points_total",
     .type = ML_METRIC_COUNTER,
     .help =
         "OTLP metric data points (or TSDB samples of them) not stored, by wire format and reason.",
     .label_names = l_format_reason,
     .n_labels = 2},
    {.name = "meshlens_received_samples_total",
     .type = ML_METRIC_COUNTER,
     .help = "Samples accepted and stored from remote write and text import.",
     .label_names = l_format,
     .n_labels = 1},
    {.name = "meshlens_rejected_samples_total",
     .type = ML_METRIC_COUNTER,
     .help = "Samples from remote write and text import not stored, by reason.",
     .label_names = l_format_reason,
     .n_labels = 2},
    {.name = "meshlens_http_request_duration_seconds",
     .type = ML_METRIC_HISTOGRAM,
     .help = "Seconds spent in the handler of an HTTP request, by route and status code.",
     .label_names = l_handler_code,
     .n_labels = 2,
     .buckets = latency_buckets,
     .n_buckets = N(latency_buckets),
     .max_children = ML_SELF_MAX_HTTP_CHILDREN},
    {.name = "meshlens_query_duration_seconds",
     .type = ML_METRIC_HISTOGRAM,
     .help = "Seconds spent parsing and evaluating a PromQL query, by API endpoint.",
     .label_names = l_endpoint,
     .n_labels = 1,
     .buckets = latency_buckets,
     .n_buckets = N(latency_buckets)},
    {.name = "meshlens_write_queue_depth",
     .type = ML_METRIC_GAUGE,
     .help = "Write requests waiting for the store's writer thread."},
    {.name = "meshlens_commit_duration_seconds",
     .type = ML_METRIC_HISTOGRAM,
     .help = "Seconds one group commit of the store took (mdb_txn_commit with its fsync).",
     .buckets = commit_buckets,
     .n_buckets = N(commit_buckets)},
    {.name = "meshlens_committed_writes_total",
     .type = ML_METRIC_COUNTER,
     .help = "Write requests committed by the store (several per group commit)."},
    {.name = "meshlens_storage_bytes",
     .type = ML_METRIC_GAUGE,
     .help = "Size of the LMDB data file on disk in bytes."},
    {.name = "meshlens_tsdb_active_series",
     .type = ML_METRIC_GAUGE,
     .help = "Time series held in the TSDB's in-memory head."},
    {.name = "process_cpu_seconds_total",
     .type = ML_METRIC_COUNTER,
     .help = "Total user and system CPU time spent in seconds."},
    {.name = "process_resident_memory_bytes",
     .type = ML_METRIC_GAUGE,
     .help = "Resident memory size in bytes."},
    {.name = "process_virtual_memory_bytes",
     .type = ML_METRIC_GAUGE,
     .help = "Virtual memory size in bytes."},
    {.name = "process_open_fds",
     .type = ML_METRIC_GAUGE,
     .help = "Number of open file descriptors."},
    {.name = "process_max_fds",
     .type = ML_METRIC_GAUGE,
     .help = "Maximum number of open file descriptors."},
    {.name = "process_start_time_seconds",
     .type = ML_METRIC_GAUGE,
     .help = "Start time of the process since unix epoch in seconds."},
};

static void set_only(struct ml_registry *r, const char *name, double v)
{
	struct ml_family *f = ml_registry_find(r, name);
	if (f)
		ml_child_set(ml_family_child(f, NULL), v);
}

/* On process_cpu_seconds_total, walked first of the process_* families: sets them all. */
static void collect_process(void *ctx, struct ml_family *f)
{
	struct ml_app *app = ctx;
	struct ml_registry *r = app->self;
	(void)f;
	char buf[1024];
	FILE *fp = fopen("/proc/self/stat", "r");
	if (fp) {
		size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
		fclose(fp);
		buf[n] = 0;
		/* Fields after the command name, which is in parentheses and may hold spaces. */
		char *p = strrchr(buf, ')');
		unsigned long utime = 0, stime = 0, vsize = 0;
		long rss = 0;
		if (p &&
		    sscanf(p + 2,
		           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d "
		           "%*d %*d %*u %lu %ld",
		           &utime, &stime, &vsize, &rss) == 4) {
			double tck = (double)sysconf(_SC_CLK_TCK);
			set_only(r, "process_cpu_seconds_total", (double)(utime + stime) / tck);
			set_only(r, "process_virtual_memory_bytes", (double)vsize);
			set_only(r, "process_resident_memory_bytes",
			         (double)rss * (double)sysconf(_SC_PAGESIZE));
		}
	}
	DIR *d = opendir("/proc/self/fd");
	if (d) {
		long n = 0;
		struct dirent *e;
		while ((e = readdir(d)) != NULL)
			if (e->d_name[0] != '.')
				n++;
		closedir(d);
		set_only(r, "process_open_fds", (double)(n - 1)); /* not the one opendir holds */
	}
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		set_only(r, "process_max_fds",
		         rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur);
	set_only(r, "process_start_time_seconds", (double)app->start_time_ns / 1e9);
}

static void collect_store(void *ctx, struct ml_family *f)
{
	struct ml_app *app = ctx;
	(void)f;
	if (app->store == NULL)
		return;
	struct ml_store_stats st;
	ml_store_stats(app->store, &st);
	set_only(app->self, "meshlens_write_queue_depth", (double)st.queue_depth);
	set_only(app->self, "meshlens_storage_bytes", (double)st.file_bytes);
}

static void collect_tsdb(void *ctx, struct ml_family *f)
{
	struct ml_app *app = ctx;
	struct ml_tsdb_stats ts;
	if (app->tsdb != NULL && ml_tsdb_stats(app->tsdb, &ts) == 0)
		ml_child_set(ml_family_child(f, NULL), (double)ts.head_series);
}

static int precreate(struct ml_registry *r, const char *name, const char *const *values, size_t n)
{
	struct ml_family *f = ml_registry_find(r, name);
	for (size_t i = 0; f && i < n; i++) {
		struct ml_str v = ml_str_make(values[i], strlen(values[i]));
		if (ml_family_child(f, &v) == NULL)
			return ML_ENOMEM;
	}
	return 0;
}

int ml_self_metrics_register(struct ml_app *app, struct ml_err *err)
{
	struct ml_registry *r = app->self;
	if (r == NULL)
		return 0;
	for (size_t i = 0; i < N(families); i++)
		if (ml_registry_add(r, &families[i], err) == NULL)
			return ML_EINVAL;
	struct ml_str build[] = {
		ML_STR(MESHLENS_VERSION),
		ML_STR(MESHLENS_REVISION),
#if defined(__clang__)
		ML_STR("clang " __clang_version__)
#elif defined(__GNUC__)
		ML_STR("gcc " __VERSION__)
#else
		ML_STR("unknown")
#endif
	};
	ml_child_set(ml_family_child(ml_registry_find(r, "meshlens_build_info"), build), 1);
	/* Families without labels get their one child now, so they show at 0. */
	for (size_t i = 0; i < N(families); i++)
		if (families[i].n_labels == 0 &&
		    ml_family_child(ml_registry_find(r, families[i].name), NULL) == NULL)
			return ml_err_set(err, ML_ENOMEM, "self metrics: out of memory");
	int rc = precreate(r, received_names[ML_SELF_SPANS], span_formats, N(span_formats));
	if (rc == 0)
		rc = precreate(r, received_names[ML_SELF_POINTS], point_formats, N(point_formats));
	if (rc == 0)
		rc = precreate(r, received_names[ML_SELF_SAMPLES], sample_formats,
		               N(sample_formats));
	if (rc != 0)
		return ml_err_set(err, rc, "self metrics: out of memory");
	ml_family_on_collect(ml_registry_find(r, "meshlens_write_queue_depth"), collect_store, app);
	ml_family_on_collect(ml_registry_find(r, "meshlens_tsdb_active_series"), collect_tsdb, app);
	ml_family_on_collect(ml_registry_find(r, "process_cpu_seconds_total"), collect_process,
	                     app);
	return 0;
}

const char *ml_self_reason(int s)
{
	switch (s) {
	case 200:
	case 202:
	case 204:
	case 400:
		return "invalid";
	case 413:
		return "too_large";
	case 415:
		return "unsupported";
	case 429:
	case 503:
		return "overloaded";
	case 507:
		return "storage_full";
	default:
		return "internal";
	}
}

void ml_self_reject(struct ml_registry *self, enum ml_self_kind kind, const char *format,
                    const char *reason, uint64_t n)
{
	if (self == NULL || kind > ML_SELF_SAMPLES || n == 0)
		return;
	struct ml_str v[2] = {ml_str_make(format, strlen(format)),
	                      ml_str_make(reason, strlen(reason))};
	struct ml_family *f = ml_registry_find(self, rejected_names[kind]);
	if (f)
		ml_child_add(ml_family_child(f, v), (double)n);
}

void ml_self_ingest(struct ml_registry *self, enum ml_self_kind kind, const char *format,
                    uint64_t accepted, uint64_t rejected, int http_status)
{
	if (self == NULL || kind > ML_SELF_SAMPLES)
		return;
	if (accepted) {
		struct ml_str v = ml_str_make(format, strlen(format));
		struct ml_family *f = ml_registry_find(self, received_names[kind]);
		if (f)
			ml_child_add(ml_family_child(f, &v), (double)accepted);
	}
	ml_self_reject(self, kind, format, ml_self_reason(http_status), rejected);
}

void ml_self_observe_query(struct ml_registry *self, const char *endpoint, double seconds)
{
	if (self == NULL)
		return;
	struct ml_family *f = ml_registry_find(self, "meshlens_query_duration_seconds");
	struct ml_str v = ml_str_make(endpoint, strlen(endpoint));
	if (f)
		ml_child_observe(ml_family_child(f, &v), seconds);
}

void ml_self_on_commit(void *hook_ctx, double seconds, size_t ops)
{
	struct ml_registry *r = hook_ctx;
	if (r == NULL)
		return;
	struct ml_family *f = ml_registry_find(r, "meshlens_commit_duration_seconds");
	if (f)
		ml_child_observe(ml_family_child(f, NULL), seconds);
	f = ml_registry_find(r, "meshlens_committed_writes_total");
	if (f)
		ml_child_add(ml_family_child(f, NULL), (double)ops);
}

void ml_self_on_request(void *hook_ctx, const char *route_path, int status, double seconds)
{
	struct ml_registry *r = hook_ctx;
	if (r == NULL)
		return;
	struct ml_family *f = ml_registry_find(r, "meshlens_http_request_duration_seconds");
	char code[16];
	int n = snprintf(code, sizeof(code), "%d", status);
	struct ml_str v[2] = {ml_str_make(route_path, strlen(route_path)),
	                      ml_str_make(code, (size_t)n)};
	if (f)
		ml_child_observe(ml_family_child(f, v), seconds);
}
