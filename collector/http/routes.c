/*
 * routes.c - the route table, and the few handlers that belong to no
 * other room: health, readiness and the embedded web UI's files.
 *
 * Order matters only for prefix routes: exact paths are listed before a
 * prefix that would also match them.
 */
#include "http/routes.h"

#include "app.h"
#include "exporters/jaeger_api.h"
#include "exporters/federate.h"
#include "exporters/prom_api.h"
#include "exporters/prom_expo.h"
#include "exporters/zipkin_api.h"
#include "http/ui_assets.h"
#include "ingest/handlers.h"

#include <string.h>

static void healthy(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)req;
	(void)ctx;
	ml_http_text(resp, 200, "meshlens is Healthy.");
}

static void ready(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)req;
	struct ml_app *app = ctx;
	if (app->ready)
		ml_http_text(resp, 200, "meshlens is Ready.");
	else
		ml_http_text(resp, 503, "meshlens is not ready.");
}

static const char *asset_type(const char *path)
{
	static const struct {
		const char *ext;
		const char *type;
	} types[] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
		     {".css", "text/css; charset=utf-8"}, {".svg", "image/svg+xml"},
		     {".json", "application/json"}, {".png", "image/png"}};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return "application/octet-stream";
}

/* GET / and /ui/...: the built-in web UI, embedded at build time. */
static void ui(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	(void)ctx;
	const char *path = req->path;
	if (strcmp(path, "/") == 0)
		path = "/index.html";
	else if (strncmp(path, "/ui/", 4) == 0)
		path += 3;
	for (const struct ml_ui_asset *a = ml_ui_assets; a->path != NULL; a++) {
		if (strcmp(a->path, path) == 0) {
			resp->status = 200;
			resp->content_type = asset_type(a->path);
			ml_buf_append(&resp->body, a->data, a->size);
			return;
		}
	}
	ml_http_text(resp, 404, "no such page: %s", req->path);
}

const struct ml_route ml_routes[] = {
	/* health */
	{"GET", "/-/healthy", false, ML_ROLE_PUBLIC, healthy, "Liveness: 200 while the process serves."},
	{"GET", "/-/ready", false, ML_ROLE_PUBLIC, ready, "Readiness: 200 once the store is open."},
	/* push */
	{"POST", "/v1/traces", false, ML_ROLE_PUSH, ml_ingest_otlp_traces,
	 "OTLP/HTTP traces, application/x-protobuf or application/json."},
	{"POST", "/api/v2/spans", false, ML_ROLE_PUSH, ml_ingest_zipkin_spans,
	 "Zipkin v2 JSON spans (what Envoy sends); answers 202."},
	{"POST", "/v1/metrics", false, ML_ROLE_PUSH, ml_ingest_otlp_metrics,
	 "OTLP/HTTP metrics, application/x-protobuf or application/json."},
	{"POST", "/api/v1/write", false, ML_ROLE_PUSH, ml_ingest_remote_write,
	 "Prometheus remote write 1.0 (snappy protobuf); answers 204."},
	{"POST", "/api/v1/import/prometheus", false, ML_ROLE_PUSH, ml_ingest_prom_text,
	 "Prometheus text exposition 0.0.4 or OpenMetrics text (?extra_label=name=value); answers 204."},
	/* Jaeger query API */
	{"GET", "/api/services", false, ML_ROLE_READ, ml_jaeger_services, "Jaeger: service names."},
	{"GET", "/api/services/", true, ML_ROLE_READ, ml_jaeger_service_operations,
	 "Jaeger: /api/services/{service}/operations."},
	{"GET", "/api/operations", false, ML_ROLE_READ, ml_jaeger_operations,
	 "Jaeger: operations with span kind (?service=&spanKind=)."},
	{"GET", "/api/traces", false, ML_ROLE_READ, ml_jaeger_search, "Jaeger: trace search."},
	{"GET", "/api/traces/", true, ML_ROLE_READ, ml_jaeger_trace, "Jaeger: /api/traces/{traceID}."},
	{"GET", "/api/dependencies", false, ML_ROLE_READ, ml_jaeger_dependencies,
	 "Jaeger: service dependency links (?endTs=&lookback= in ms)."},
	/* Zipkin v2 query API */
	{"GET", "/api/v2/services", false, ML_ROLE_READ, ml_zipkin_services, "Zipkin: service names."},
	{"GET", "/api/v2/spans", false, ML_ROLE_READ, ml_zipkin_spans,
	 "Zipkin: span names of a service (?serviceName=)."},
	{"GET", "/api/v2/remoteServices", false, ML_ROLE_READ, ml_zipkin_remote_services,
	 "Zipkin: remote service names of a service (?serviceName=)."},
	{"GET", "/api/v2/traces", false, ML_ROLE_READ, ml_zipkin_traces, "Zipkin: trace search."},
	{"GET", "/api/v2/trace/", true, ML_ROLE_READ, ml_zipkin_trace, "Zipkin: /api/v2/trace/{traceId}."},
	{"GET", "/api/v2/traceMany", false, ML_ROLE_READ, ml_zipkin_trace_many,
	 "Zipkin: several traces (?traceIds=a,b)."},
	{"GET", "/api/v2/dependencies", false, ML_ROLE_READ, ml_zipkin_dependencies,
	 "Zipkin: dependency links (?endTs=&lookback= in ms)."},
	/* Prometheus HTTP API */
	{"GET|POST", "/api/v1/query", false, ML_ROLE_READ, ml_prom_query,
	 "Prometheus: instant PromQL query (?query=&time=)."},
	{"GET|POST", "/api/v1/query_range", false, ML_ROLE_READ, ml_prom_query_range,
	 "Prometheus: range PromQL query (?query=&start=&end=&step=)."},
	{"GET|POST", "/api/v1/series", false, ML_ROLE_READ, ml_prom_series,
	 "Prometheus: series matching match[] (?start=&end=)."},
	{"GET|POST", "/api/v1/labels", false, ML_ROLE_READ, ml_prom_labels,
	 "Prometheus: label names (?match[]=&start=&end=&limit=)."},
	{"GET", "/api/v1/label/", true, ML_ROLE_READ, ml_prom_label_values,
	 "Prometheus: /api/v1/label/{name}/values."},
	{"GET", "/api/v1/metadata", false, ML_ROLE_READ, ml_prom_metadata,
	 "Prometheus: metric metadata (?metric=&limit=)."},
	{"GET", "/api/v1/status/buildinfo", false, ML_ROLE_READ, ml_prom_buildinfo,
	 "Prometheus: build information (version)."},
	{"GET", "/api/v1/status/runtimeinfo", false, ML_ROLE_READ, ml_prom_runtimeinfo,
	 "Prometheus: runtime information."},
	{"GET", "/api/v1/status/flags", false, ML_ROLE_READ, ml_prom_flags,
	 "Prometheus: the command-line flags."},
	{"GET", "/api/v1/rules", false, ML_ROLE_READ, ml_prom_rules, "Prometheus: rule groups (none)."},
	{"GET", "/api/v1/alerts", false, ML_ROLE_READ, ml_prom_alerts, "Prometheus: active alerts (none)."},
	{"GET|POST", "/api/v1/query_exemplars", false, ML_ROLE_READ, ml_prom_query_exemplars,
	 "Prometheus: exemplars (none stored yet)."},
	{"GET|POST", "/api/v1/format_query", false, ML_ROLE_READ, ml_prom_format_query,
	 "Prometheus: PromQL pretty-printed (?query=)."},
	/* Prometheus scrape */
	{"GET", "/metrics", false, ML_ROLE_READ, ml_expo_metrics,
	 "Prometheus scrape: derived mesh metrics and meshlens's own (text 0.0.4 or OpenMetrics, gzip)."},
	{"GET", "/federate", false, ML_ROLE_READ, ml_federate,
	 "Prometheus federation: latest sample of every series matching match[] (5 m lookback)."},
	/* web UI */
	{"GET", "/", false, ML_ROLE_PUBLIC, ui, "The built-in web UI."},
	{"GET", "/ui/", true, ML_ROLE_PUBLIC, ui, "The web UI's files."},
};

const size_t ml_routes_count = sizeof(ml_routes) / sizeof(ml_routes[0]);

void ml_routes_markdown(FILE *out)
{
	static const char *const roles[] = {"public", "push", "read"};
	fprintf(out, "| method | path | role | what |\n|---|---|---|---|\n");
	for (size_t i = 0; i < ml_routes_count; i++) {
		fputs("| ", out);
		/* "GET|POST" would split the Markdown table: escape the bar. */
		for (const char *m = ml_routes[i].method; *m; m++) {
			if (*m == '|')
				fputc('\\', out);
			fputc(*m, out);
		}
		fprintf(out, " | `%s%s` | %s | %s |\n", ml_routes[i].path, ml_routes[i].prefix ? "…" : "",
			roles[ml_routes[i].role], ml_routes[i].help);
	}
}
