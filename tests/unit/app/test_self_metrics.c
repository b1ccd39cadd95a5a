/*
 * test_self_metrics.c - meshlens's health families: registered at start with
 * known label values at zero, counted by the ingest/query helpers and the
 * store and HTTP hooks, process_* read from /proc at scrape time.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/alloc.h"
#include "exporters/prom_expo.h"
#include "model/registry.h"
#include "self_metrics.h"

static char *scrape(struct ml_registry *r)
{
	struct ml_buf b = ML_BUF_INIT;
	cr_assert_eq(ml_expo_write(&b, r, ML_EXPO_TEXT), 0);
	ml_buf_putc(&b, '\0');
	return (char *)b.data;
}

/* The value of the sample line that starts with `series ` (-1 if absent). */
static double value(const char *text, const char *series)
{
	size_t n = strlen(series);
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

/* Fills *app in place: the collect callbacks keep its address. */
static void app_with_self(struct ml_app *out)
{
	struct ml_app app;
	memset(&app, 0, sizeof(app));
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	app.start_time_ns = (uint64_t)ts.tv_sec * 1000000000ULL;
	app.self = ml_registry_create();
	*out = app;
	struct ml_err err;
	cr_assert_eq(ml_self_metrics_register(out, &err), 0, "%s", err.msg);
}

Test(self_metrics, registered_at_start_with_zeros)
{
	static struct ml_app app;
	app_with_self(&app);
	char *t = scrape(app.self);
	cr_assert_eq(value(t, "meshlens_received_spans_total{format=\"zipkin\"}"), 0);
	cr_assert_eq(value(t, "meshlens_received_spans_total{format=\"otlp_proto\"}"), 0);
	cr_assert_eq(value(t, "meshlens_received_samples_total{format=\"remote_write\"}"), 0);
	cr_assert_eq(value(t, "meshlens_write_queue_depth"), 0);
	cr_assert_eq(value(t, "meshlens_commit_duration_seconds_count"), 0);
	cr_assert(strstr(t, "# TYPE meshlens_http_request_duration_seconds histogram\n"));
	cr_assert(strstr(t, "meshlens_build_info{version=\"" MESHLENS_VERSION "\",revision=\""),
	          "%s", t);
	cr_assert(value(t, "process_resident_memory_bytes") > 0);
	cr_assert(value(t, "process_open_fds") >= 3);
	cr_assert(value(t, "process_max_fds") > 0);
	cr_assert_eq(value(t, "process_start_time_seconds"),
	             (double)(app.start_time_ns / 1000000000ULL));
	/* A second registration of the same families is harmless (same shapes). */
	struct ml_err err;
	cr_assert_eq(ml_self_metrics_register(&app, &err), 0, "%s", err.msg);
	ml_free(t);
	ml_registry_destroy(app.self);
}

Test(self_metrics, ingest_query_commit_and_request_counts)
{
	static struct ml_app app;
	app_with_self(&app);
	ml_self_ingest(app.self, ML_SELF_SPANS, "zipkin", 5, 2, 400);
	ml_self_ingest(app.self, ML_SELF_SPANS, "otlp_json", 0, 7, 503);
	ml_self_ingest(app.self, ML_SELF_SAMPLES, "remote_write", 100, 0, 204);
	ml_self_reject(app.self, ML_SELF_SAMPLES, "remote_write", "out_of_order", 3);
	ml_self_reject(app.self, ML_SELF_SAMPLES, "remote_write", "duplicate",
	               0); /* no child for 0 */
	ml_self_observe_query(app.self, "query_range", 0.02);
	ml_self_on_commit(app.self, 0.003, 4);
	ml_self_on_commit(app.self, 0.0004, 1);
	ml_self_on_request(app.self, "/api/v2/spans", 202, 0.007);
	ml_self_on_request(app.self, "/api/v2/spans", 202, 0.2);
	ml_self_on_request(app.self, "/api/v2/spans", 400, 0.001);
	/* NULL registries (unit tests of handlers) are accepted. */
	ml_self_ingest(NULL, ML_SELF_SPANS, "zipkin", 1, 1, 400);
	ml_self_on_request(NULL, "/x", 200, 1);

	char *t = scrape(app.self);
	cr_assert_eq(value(t, "meshlens_received_spans_total{format=\"zipkin\"}"), 5);
	cr_assert_eq(
	    value(t, "meshlens_rejected_spans_total{format=\"zipkin\",reason=\"invalid\"}"), 2);
	cr_assert_eq(
	    value(t, "meshlens_rejected_spans_total{format=\"otlp_json\",reason=\"overloaded\"}"),
	    7);
	cr_assert_eq(value(t, "meshlens_received_spans_total{format=\"otlp_json\"}"), 0);
	cr_assert_eq(value(t, "meshlens_received_samples_total{format=\"remote_write\"}"), 100);
	cr_assert_eq(
	    value(
	        t,
	        "meshlens_rejected_samples_total{format=\"remote_write\",reason=\"out_of_order\"}"),
	    3);
	cr_assert_null(strstr(t, "reason=\"duplicate\""));
	cr_assert_eq(value(t, "meshlens_query_duration_seconds_count{endpoint=\"query_range\"}"),
	             1);
	cr_assert_eq(
	    value(t,
	          "meshlens_query_duration_seconds_bucket{endpoint=\"query_range\",le=\"0.01\"}"),
	    0);
	cr_assert_eq(
	    value(t,
	          "meshlens_query_duration_seconds_bucket{endpoint=\"query_range\",le=\"0.025\"}"),
	    1);
	cr_assert_eq(value(t, "meshlens_commit_duration_seconds_count"), 2);
	cr_assert_eq(value(t, "meshlens_commit_duration_seconds_bucket{le=\"0.0005\"}"), 1);
	cr_assert_eq(value(t, "meshlens_committed_writes_total"), 5);
	cr_assert_eq(value(t,
	                   "meshlens_http_request_duration_seconds_count{handler=\"/api/v2/spans\","
	                   "code=\"202\"}"),
	             2);
	cr_assert_eq(
	    value(t, "meshlens_http_request_duration_seconds_bucket{handler=\"/api/v2/spans\","
	             "code=\"202\",le=\"0.01\"}"),
	    1);
	cr_assert_eq(value(t,
	                   "meshlens_http_request_duration_seconds_count{handler=\"/api/v2/spans\","
	                   "code=\"400\"}"),
	             1);
	ml_free(t);
	ml_registry_destroy(app.self);
}

Test(self_metrics, reasons_from_status)
{
	cr_assert_str_eq(ml_self_reason(400), "invalid");
	cr_assert_str_eq(ml_self_reason(413), "too_large");
	cr_assert_str_eq(ml_self_reason(415), "unsupported");
	cr_assert_str_eq(ml_self_reason(503), "overloaded");
	cr_assert_str_eq(ml_self_reason(507), "storage_full");
	cr_assert_str_eq(ml_self_reason(500), "internal");
}
