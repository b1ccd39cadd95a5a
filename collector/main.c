/*
 * main.c - meshlens's entry point: flags, start-up in dependency order
 * (store, trace store, TSDB, housekeeping, HTTP), signal handling, and clean shutdown in the
 * reverse order (HTTP first, so in-flight pushes finish and are committed
 * before the store closes).
 */
#include "aggregate/aggregator.h"
#include "app.h"
#include "core/log.h"
#include "flags.h"
#include "housekeeping.h"
#include "http/routes.h"
#include "http/server.h"
#include "model/registry.h"
#include "self_metrics.h"
#include "ingest/otlp_metrics.h"
#include "exporters/prom_api.h"
#include "store/env.h"
#include "store/trace_store.h"
#include "store/tsdb.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int tsdb_maintain(void *ctx, int64_t now)
{
	struct ml_err err;
	int rc = ml_tsdb_maintain(ctx, now, &err);
	if (rc != 0)
		ml_log(ML_LOG_WARN, "msg=\"TSDB maintenance failed\" err=\"%s\"", err.msg);
	return rc;
}

/*
 * Hands memory that queries and ingest bursts freed back to the kernel. glibc
 * keeps freed heap in its arenas for reuse; after one large query_range the
 * resident size stayed hundreds of MiB above what meshlens holds (measured:
 * 305 MiB anonymous after a 10k-series query, 24 MiB after a trim).
 */
static int release_memory(void *ctx, int64_t now)
{
	(void)ctx;
	(void)now;
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	return 0;
}

int main(int argc, char **argv)
{
	struct ml_config cfg;
	struct ml_err err;
	struct ml_app app;
	struct ml_http_server *http = NULL;
	struct ml_housekeeping *hk = NULL;
	int status = 1;

	memset(&app, 0, sizeof(app));
	app.start_time_ns = now_ns();
#ifdef __GLIBC__
	/*
	 * Fewer malloc arenas than glibc's 8 a CPU: each HTTP worker thread would
	 * otherwise get its own, and the freed request buffers at the top of a
	 * thread's arena stay resident (malloc_trim does not trim them). After a
	 * 24 h remote-write burst: 299-452 MiB anonymous with glibc's default,
	 * 84-235 with 4 arenas, for the same CPU (docs/BENCHMARKS.md). An
	 * operator's MALLOC_ARENA_MAX or GLIBC_TUNABLES setting wins.
	 */
	const char *tunables = getenv("GLIBC_TUNABLES");
	if (getenv("MALLOC_ARENA_MAX") == NULL &&
	    (tunables == NULL || strstr(tunables, "arena_max") == NULL)) {
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
		mallopt(M_ARENA_MAX, ncpu > 2 ? (int)(2 * ncpu) : 4);
	}
#endif
	if (ml_flags_parse(argc, argv, &cfg, &err) != 0) {
		fprintf(stderr, "meshlens: %s\n", err.msg);
		return 2;
	}
	if (cfg.show_help) {
		ml_flags_usage(stdout);
		return 0;
	}
	if (cfg.show_version) {
		printf("meshlens, version %s\n", MESHLENS_VERSION);
		return 0;
	}
	enum ml_log_level level;
	if (ml_log_parse_level(cfg.log_level, &level) != 0) {
		fprintf(stderr, "meshlens: --log.level: expected debug, info, warn or error, got \"%s\"\n",
			cfg.log_level);
		return 2;
	}
	ml_log_set_level(level);
	enum ml_span_metrics_naming sm_names;
	if (ml_span_metrics_parse_naming(cfg.aggregation_span_metrics_names, &sm_names) != 0) {
		fprintf(stderr, "meshlens: --aggregation.span-metrics-names: expected tempo or otel, got \"%s\"\n",
			cfg.aggregation_span_metrics_names);
		return 2;
	}

	/* Signals are taken by sigwait below; every thread started later inherits the mask. */
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	ml_log(ML_LOG_INFO, "msg=\"starting meshlens\" version=%s storage_path=%s", MESHLENS_VERSION,
	       cfg.storage_path);
	app.self = ml_registry_create();
	app.derived = ml_registry_create();
	if (app.self == NULL || app.derived == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"out of memory\"");
		goto out;
	}
	if (ml_self_metrics_register(&app, &err) != 0) {
		ml_log(ML_LOG_ERROR, "msg=\"cannot register self metrics\" err=\"%s\"", err.msg);
		goto out;
	}
	struct ml_store_options sopt = {
		.path = cfg.storage_path,
		.max_bytes = cfg.storage_max_bytes,
		.on_commit = ml_self_on_commit,
		.hook_ctx = app.self,
	};
	app.store = ml_store_open(&sopt, &err);
	if (app.store == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"cannot open store\" err=\"%s\"", err.msg);
		goto out;
	}
	struct ml_trace_store_options topt = {
		.retention_ns = cfg.retention_ms * 1000000ULL,
	};
	app.traces = ml_trace_store_open(app.store, &topt, &err);
	if (app.traces == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"cannot open trace store\" err=\"%s\"", err.msg);
		goto out;
	}

	struct ml_tsdb_options dopt = {
		.retention_ms = (int64_t)cfg.retention_ms,
	};
	app.tsdb = ml_tsdb_open(app.store, &dopt, &err);
	if (app.tsdb == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"cannot open time-series store\" err=\"%s\"", err.msg);
		goto out;
	}
	app.deltas = ml_delta_accumulator_create(0);
	if (app.deltas == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"out of memory\"");
		goto out;
	}
	if (!cfg.aggregation_disabled) {
		struct ml_aggregator_options aopt = {
			.span_metrics_names = sm_names,
			.service_graph_wait_ms = (int64_t)cfg.aggregation_sg_wait_ms,
			.service_graph_max_edges = cfg.aggregation_sg_max_edges,
			.max_series = cfg.aggregation_max_series,
			.retention_ms = (int64_t)cfg.retention_ms,
		};
		app.agg = ml_aggregator_create(app.derived, app.self, app.tsdb, &aopt, &err);
		if (app.agg == NULL ||
		    ml_aggregator_restore(app.agg, ml_aggregator_now_ms(), &err) != 0) {
			ml_log(ML_LOG_ERROR, "msg=\"cannot start span aggregation\" err=\"%s\"", err.msg);
			/* No shutdown flush: unrestored counters written now would look like a reset. */
			ml_aggregator_destroy(app.agg);
			app.agg = NULL;
			goto out;
		}
	}
	/* Lone client/server halves are checked often enough to leave within a quarter of their wait. */
	uint64_t expire_ms = cfg.aggregation_sg_wait_ms / 4;
	expire_ms = expire_ms < 100 ? 100 : expire_ms > 1000 ? 1000 : expire_ms;
	const struct ml_periodic_task tasks[] = {
		{"tsdb_maintain", 10000, tsdb_maintain, app.tsdb},
		{"release_memory", 10000, release_memory, NULL},
		{"aggregation_flush", cfg.aggregation_interval_ms ? cfg.aggregation_interval_ms : 15000,
		 ml_aggregator_flush_task, app.agg},
		{"service_graph_expire", expire_ms, ml_aggregator_expire_task, app.agg},
	};
	/* The aggregation tasks come last and run only with aggregation on. */
	hk = ml_housekeeping_start(tasks, sizeof(tasks) / sizeof(tasks[0]) - (app.agg ? 0 : 2));
	if (hk == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"cannot start the housekeeping thread\"");
		goto out;
	}

	ml_prom_api_set_config(&cfg); /* for /api/v1/status/flags */
	struct ml_http_options hopt = {
		.listen = cfg.listen,
		.n_listen = cfg.n_listen,
		.threads = cfg.web_threads,
		.max_request_bytes = cfg.max_request_bytes,
		.max_decompressed_bytes = cfg.max_decompressed_bytes,
		.routes = ml_routes,
		.n_routes = ml_routes_count,
		.ctx = &app,
		.on_request = ml_self_on_request,
		.hook_ctx = app.self,
	};
	http = ml_http_server_start(&hopt, &err);
	if (http == NULL) {
		ml_log(ML_LOG_ERROR, "msg=\"cannot start HTTP server\" err=\"%s\"", err.msg);
		goto out;
	}
	app.ready = 1;
	ml_log(ML_LOG_INFO, "msg=\"meshlens is ready\"");

	int sig = 0;
	sigwait(&sigs, &sig);
	ml_log(ML_LOG_INFO, "msg=\"shutting down\" signal=%s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	app.ready = 0;
	status = 0;
out:
	ml_http_server_stop(http);
	ml_housekeeping_stop(hk);
	if (app.agg != NULL) {
		/* Pending halves are counted alone and everything is written before the store closes. */
		if (ml_aggregator_shutdown(app.agg, ml_aggregator_now_ms(), &err) != 0)
			ml_log(ML_LOG_WARN, "msg=\"last aggregation flush failed\" err=\"%s\"", err.msg);
		ml_aggregator_destroy(app.agg);
		app.agg = NULL;
	}
	ml_delta_accumulator_destroy(app.deltas);
	ml_tsdb_close(app.tsdb);
	ml_trace_store_close(app.traces);
	ml_store_close(app.store);
	ml_registry_destroy(app.derived);
	ml_registry_destroy(app.self);
	if (status == 0)
		ml_log(ML_LOG_INFO, "msg=\"stopped cleanly\"");
	return status;
}
