/*
 * test_prom_expo.c - the Prometheus text format 0.0.4 and OpenMetrics 1.0.0
 * as written from a registry: HELP/TYPE, escaping, float formatting,
 * histograms, content negotiation as Prometheus's scraper asks, gzip, and
 * GET /metrics through the handler.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include <zlib.h>

#include "app.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "exporters/prom_expo.h"
#include "model/registry.h"

static const char *fmt(double v)
{
	static char buf[64];
	return ml_expo_format_double(v, buf, sizeof(buf));
}

Test(prom_expo, floats_as_prometheus_clients_write_them)
{
	cr_assert_str_eq(fmt(0), "0");
	cr_assert_str_eq(fmt(-0.0), "0");
	cr_assert_str_eq(fmt(1), "1");
	cr_assert_str_eq(fmt(-1), "-1");
	cr_assert_str_eq(fmt(1500000), "1500000");
	cr_assert_str_eq(fmt(1e14), "100000000000000");
	cr_assert_str_eq(fmt(0.25), "0.25");
	cr_assert_str_eq(fmt(0.1), "0.1");
	cr_assert_str_eq(fmt(1e-07), "1e-07");
	cr_assert_str_eq(fmt(123.456), "123.456");
	cr_assert_str_eq(fmt(1e300), "1e+300");
	cr_assert_str_eq(fmt(INFINITY), "+Inf");
	cr_assert_str_eq(fmt(-INFINITY), "-Inf");
	cr_assert_str_eq(fmt(NAN), "NaN");
}

/* Prometheus 2.42's scrape Accept header. */
#define PROM_ACCEPT                                                                                \
	"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"   \
	"q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"

Test(prom_expo, negotiation)
{
	cr_assert_eq(ml_expo_negotiate(NULL), ML_EXPO_TEXT);
	cr_assert_eq(ml_expo_negotiate(""), ML_EXPO_TEXT);
	cr_assert_eq(ml_expo_negotiate("*/*"), ML_EXPO_TEXT);
	cr_assert_eq(ml_expo_negotiate(PROM_ACCEPT), ML_EXPO_OPENMETRICS);
	cr_assert_eq(ml_expo_negotiate("application/openmetrics-text;version=1.0.0,text/plain;"
	                               "version=0.0.4;q=0.5,*/*;q=0.1"),
	             ML_EXPO_OPENMETRICS);
	cr_assert_eq(ml_expo_negotiate("application/openmetrics-text; version=1.0.0;q=0.5, "
	                               "text/plain;version=0.0.4;q=0.4, */*;q=0.1"),
	             ML_EXPO_OPENMETRICS);
	/* Prometheus with scrape_protocols preferring text. */
	cr_assert_eq(ml_expo_negotiate("text/plain;version=0.0.4;q=0.9,application/"
	                               "openmetrics-text;version=1.0.0;q=0.5"),
	             ML_EXPO_TEXT);
	/* A version we do not write is not OpenMetrics 1.0. */
	cr_assert_eq(ml_expo_negotiate("application/openmetrics-text;version=2.0.0"), ML_EXPO_TEXT);
	cr_assert_eq(ml_expo_negotiate("application/openmetrics-text;q=0"), ML_EXPO_TEXT);

	cr_assert(ml_expo_accepts_gzip("gzip"));
	cr_assert(ml_expo_accepts_gzip("deflate, gzip;q=1.0, *;q=0.5"));
	cr_assert(ml_expo_accepts_gzip("*"));
	cr_assert_not(ml_expo_accepts_gzip(NULL));
	cr_assert_not(ml_expo_accepts_gzip("identity"));
	cr_assert_not(ml_expo_accepts_gzip("gzip;q=0"));
	cr_assert_not(ml_expo_accepts_gzip("x-gzipper"));
}

static const double bounds[] = {0.005, 0.5, 1};

static struct ml_registry *sample_registry(void)
{
	struct ml_registry *r = ml_registry_create();
	struct ml_err err;
	struct ml_family *c =
	    ml_registry_add(r,
	                    &(struct ml_family_desc){.name = "meshlens_received_spans_total",
	                                             .type = ML_METRIC_COUNTER,
	                                             .help = "Spans \\ stored \"here\".",
	                                             .label_names = (const char *const[]){"format"},
	                                             .n_labels = 1},
	                    &err);
	cr_assert_not_null(c, "%s", err.msg);
	struct ml_str v = ML_STR("a\"b\\c\nd");
	ml_child_add(ml_family_child(c, &v), 3);
	struct ml_family *g = ml_registry_add(
	    r, &(struct ml_family_desc){.name = "queue_depth", .type = ML_METRIC_GAUGE}, &err);
	ml_child_set(ml_family_child(g, NULL), 0.5);
	struct ml_family *h =
	    ml_registry_add(r,
	                    &(struct ml_family_desc){.name = "latency_seconds",
	                                             .type = ML_METRIC_HISTOGRAM,
	                                             .help = "Latency.",
	                                             .label_names = (const char *const[]){"op"},
	                                             .n_labels = 1,
	                                             .buckets = bounds,
	                                             .n_buckets = 3},
	                    &err);
	struct ml_str op = ML_STR("read");
	struct ml_child *hc = ml_family_child(h, &op);
	ml_child_observe(hc, 0.001);
	ml_child_observe(hc, 0.75);
	ml_child_observe(hc, 2);
	ml_registry_add(r,
	                &(struct ml_family_desc){.name = "empty_total",
	                                         .type = ML_METRIC_COUNTER,
	                                         .help = "Nothing yet."},
	                &err);
	return r;
}

static char *write_all(struct ml_registry *r, enum ml_expo_format f)
{
	struct ml_buf b = ML_BUF_INIT;
	cr_assert_eq(ml_expo_write(&b, r, f), 0);
	ml_expo_finish(&b, f);
	ml_buf_putc(&b, '\0');
	return (char *)b.data;
}

Test(prom_expo, text_0_0_4)
{
	struct ml_registry *r = sample_registry();
	char *s = write_all(r, ML_EXPO_TEXT);
	cr_assert_str_eq(s, "# HELP meshlens_received_spans_total Spans \\\\ stored \"here\".\n"
	                    "# TYPE meshlens_received_spans_total counter\n"
	                    "meshlens_received_spans_total{format=\"a\\\"b\\\\c\\nd\"} 3\n"
	                    "# TYPE queue_depth gauge\n"
	                    "queue_depth 0.5\n"
	                    "# HELP latency_seconds Latency.\n"
	                    "# TYPE latency_seconds histogram\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"0.005\"} 1\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"0.5\"} 1\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"1\"} 2\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 3\n"
	                    "latency_seconds_sum{op=\"read\"} 2.751\n"
	                    "latency_seconds_count{op=\"read\"} 3\n"
	                    "# HELP empty_total Nothing yet.\n"
	                    "# TYPE empty_total counter\n");
	ml_free(s);
	ml_registry_destroy(r);
}

Test(prom_expo, openmetrics_1_0_0)
{
	struct ml_registry *r = sample_registry();
	char *s = write_all(r, ML_EXPO_OPENMETRICS);
	cr_assert_str_eq(s, "# HELP meshlens_received_spans Spans \\\\ stored \\\"here\\\".\n"
	                    "# TYPE meshlens_received_spans counter\n"
	                    "meshlens_received_spans_total{format=\"a\\\"b\\\\c\\nd\"} 3\n"
	                    "# TYPE queue_depth gauge\n"
	                    "queue_depth 0.5\n"
	                    "# HELP latency_seconds Latency.\n"
	                    "# TYPE latency_seconds histogram\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"0.005\"} 1\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"0.5\"} 1\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"1\"} 2\n"
	                    "latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 3\n"
	                    "latency_seconds_sum{op=\"read\"} 2.751\n"
	                    "latency_seconds_count{op=\"read\"} 3\n"
	                    "# HELP empty Nothing yet.\n"
	                    "# TYPE empty counter\n"
	                    "# EOF\n");
	ml_free(s);
	ml_registry_destroy(r);
}

static const char *header_of(const struct ml_http_response *resp, const char *name)
{
	for (size_t i = 0; i < resp->n_extra; i++)
		if (strcmp(resp->extra[i].name, name) == 0)
			return resp->extra[i].value;
	return NULL;
}

Test(prom_expo, metrics_handler_negotiates_and_gzips)
{
	struct ml_app app = {0};
	app.self = sample_registry();
	struct ml_arena *arena = ml_arena_create(4096);
	struct ml_http_header hdrs[] = {{"Accept", PROM_ACCEPT}, {"Accept-Encoding", "gzip"}};
	struct ml_http_request req = {
	    .method = "GET", .path = "/metrics", .headers = hdrs, .n_headers = 2, .arena = arena};
	struct ml_http_response resp = {.status = 200};
	ml_expo_metrics(&req, &resp, &app);
	cr_assert_eq(resp.status, 200);
	cr_assert_str_eq(resp.content_type,
	                 "application/openmetrics-text; version=1.0.0; charset=utf-8");
	cr_assert_str_eq(header_of(&resp, "Content-Encoding"), "gzip");
	/* gunzip and compare with the plain writer's output. */
	char out[8192];
	z_stream zs = {0};
	cr_assert_eq(inflateInit2(&zs, 15 + 16), Z_OK);
	zs.next_in = resp.body.data;
	zs.avail_in = (uInt)resp.body.len;
	zs.next_out = (Bytef *)out;
	zs.avail_out = sizeof(out) - 1;
	cr_assert_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
	out[zs.total_out] = 0;
	inflateEnd(&zs);
	char *want = write_all(app.self, ML_EXPO_OPENMETRICS);
	cr_assert_str_eq(out, want);
	ml_free(want);
	ml_buf_free(&resp.body);

	/* curl's default: plain text, no compression. */
	struct ml_http_header plain[] = {{"Accept", "*/*"}};
	req.headers = plain;
	req.n_headers = 1;
	resp = (struct ml_http_response){.status = 200};
	ml_expo_metrics(&req, &resp, &app);
	cr_assert_str_eq(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
	cr_assert_null(header_of(&resp, "Content-Encoding"));
	cr_assert(resp.body.len > 0 &&
	          memcmp(resp.body.data, "# HELP meshlens_received_spans_total", 36) == 0);
	ml_buf_free(&resp.body);
	ml_arena_destroy(arena);
	ml_registry_destroy(app.self);
}

/* A label value from a span that is not UTF-8 must not break the scrape. */
Test(prom_expo, invalid_utf8_label_values_are_replaced)
{
	struct ml_buf b = ML_BUF_INIT;
	/* a stray continuation byte, a truncated sequence, an overlong '/', then valid "é" */
	const char in[] = "a\x80"
			  "b\xe2\x82"
			  "c\xc0\xaf"
			  "d\xc3\xa9\\\"\n";
	ml_expo_put_label_value(&b, in, sizeof(in) - 1);
	const char want[] = "a\xef\xbf\xbd"
			    "b\xef\xbf\xbd\xef\xbf\xbd"
			    "c\xef\xbf\xbd\xef\xbf\xbd"
			    "d\xc3\xa9\\\\\\\"\\n";
	cr_assert_eq(b.len, sizeof(want) - 1, "%.*s", (int)b.len, (const char *)b.data);
	cr_assert(memcmp(b.data, want, b.len) == 0, "%.*s", (int)b.len, (const char *)b.data);
	ml_buf_free(&b);
}
