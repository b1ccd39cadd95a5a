/*
 * test_otlp_metrics.c - OTLP metrics -> Prometheus series: every data type
 * and temporality, the name/label translation table, resource and scope
 * labels, target_info, the delta accumulator's start-time rules and bound,
 * exponential histogram conversion, partial success responses, and the
 * protobuf encoding.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/otel_prom_names.h"
#include "ingest/otlp_metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

static struct ml_arena *arena;
static struct ml_sample_batch batch;
static struct ml_err err;
static struct ml_ingest_report report;
static struct ml_delta_accumulator *acc;

static void setup(void)
{
	arena = ml_arena_create(0);
	ml_sample_batch_init(&batch, arena);
	memset(&err, 0, sizeof(err));
	acc = ml_delta_accumulator_create(64);
}
static void teardown(void)
{
	ml_delta_accumulator_destroy(acc);
	ml_arena_destroy(arena);
}

TestSuite(otlp_metrics, .init = setup, .fini = teardown);

static int decode_json(const char *json)
{
	ml_arena_reset(arena);
	ml_sample_batch_init(&batch, arena);
	return ml_otlp_metrics_decode_json((const uint8_t *)json, strlen(json), acc, &batch, &report,
					   &err);
}

static const char *lv(const struct ml_series_samples *s, const char *name)
{
	static char buf[4][256];
	static int k;
	for (uint32_t i = 0; i < s->n_labels; i++) {
		if (ml_str_eq_cstr(s->labels[i].name, name)) {
			k = (k + 1) % 4;
			snprintf(buf[k], sizeof(buf[k]), "%.*s", (int)s->labels[i].value.n,
				 s->labels[i].value.p);
			return buf[k];
		}
	}
	return NULL;
}

/* The series with __name__ = name (and label l = v, if l is given). */
static const struct ml_series_samples *find(const char *name, const char *l, const char *v)
{
	for (size_t i = 0; i < batch.n; i++) {
		const char *n = lv(&batch.series[i], "__name__");
		if (n == NULL || strcmp(n, name) != 0)
			continue;
		if (l == NULL)
			return &batch.series[i];
		const char *x = lv(&batch.series[i], l);
		if (x != NULL && strcmp(x, v) == 0)
			return &batch.series[i];
	}
	return NULL;
}

static double val(const char *name, const char *l, const char *v)
{
	const struct ml_series_samples *s = find(name, l, v);
	cr_assert_not_null(s, "no series %s{%s=%s}", name, l ? l : "", v ? v : "");
	return s->samples[0].v;
}

/* ------------------------------------------------------------------ names */

static const char *mname(const char *name, const char *unit, enum ml_otel_kind k)
{
	static char buf[256];
	struct ml_str out;
	cr_assert_eq(ml_otel_metric_name(arena, ml_str_make(name, strlen(name)),
					 ml_str_make(unit, strlen(unit)), k, &out),
		     0);
	snprintf(buf, sizeof(buf), "%.*s", (int)out.n, out.p);
	return buf;
}

Test(otlp_metrics, metric_name_translation_table)
{
	static const struct {
		const char *name, *unit;
		enum ml_otel_kind kind;
		const char *want;
	} t[] = {
		{"http.server.duration", "ms", ML_OTEL_HISTOGRAM, "http_server_duration_milliseconds"},
		{"http.server.request.duration", "s", ML_OTEL_HISTOGRAM, "http_server_request_duration_seconds"},
		{"system.filesystem.usage", "By", ML_OTEL_GAUGE, "system_filesystem_usage_bytes"},
		{"system.network.io", "By", ML_OTEL_COUNTER, "system_network_io_bytes_total"},
		{"system.network.dropped", "{packets}", ML_OTEL_COUNTER, "system_network_dropped_total"},
		{"system.network.dropped", "packets", ML_OTEL_GAUGE, "system_network_dropped_packets"},
		{"system.memory.utilization", "1", ML_OTEL_GAUGE, "system_memory_utilization_ratio"},
		{"requests.count", "1", ML_OTEL_COUNTER, "requests_count_total"},
		{"queue.size", "1", ML_OTEL_UPDOWN, "queue_size"},
		{"cpu.time", "%", ML_OTEL_GAUGE, "cpu_time_percent"},
		{"net.throughput", "By/s", ML_OTEL_GAUGE, "net_throughput_bytes_per_second"},
		{"events", "{event}/min", ML_OTEL_GAUGE, "events_per_min"},
		{"events", "{event}/s", ML_OTEL_COUNTER, "events_per_second_total"},
		{"latency_seconds", "s", ML_OTEL_HISTOGRAM, "latency_seconds"},
		{"requests_total", "", ML_OTEL_COUNTER, "requests_total"},
		{"total.requests", "", ML_OTEL_COUNTER, "requests_total"},
		{"(lambda).function.executions(#)", "", ML_OTEL_GAUGE, "lambda_function_executions"},
		{"2xx.responses", "", ML_OTEL_COUNTER, "_2xx_responses_total"},
		{"mem", "MiBy", ML_OTEL_GAUGE, "mem_mebibytes"},
		{"temp", "Cel", ML_OTEL_GAUGE, "temp_celsius"},
		{"rpc.duration", "us", ML_OTEL_SUMMARY, "rpc_duration_microseconds"},
		{"...", "", ML_OTEL_GAUGE, ""},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_str_eq(mname(t[i].name, t[i].unit, t[i].kind), t[i].want, "%s [%s]",
				 t[i].name, t[i].unit);
}

Test(otlp_metrics, label_name_translation)
{
	static const char *t[][2] = {
		{"http.method", "http_method"}, {"0day", "key_0day"},  {"_x", "key_x"},
		{"__x", "__x"},                 {"a-b c", "a_b_c"},    {"gr\xc3\xb6\xc3\x9f" "e", "gr__e"},
		{"ok_name", "ok_name"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ml_str out;
		cr_assert_eq(ml_otel_label_name(arena, ml_str_make(t[i][0], strlen(t[i][0])), &out), 0);
		cr_expect(ml_str_eq_cstr(out, t[i][1]), "%s -> %.*s", t[i][0], (int)out.n, out.p);
	}
}

Test(otlp_metrics, prometheus_float_format)
{
	static const struct {
		double v;
		const char *want;
	} t[] = {
		{0.005, "0.005"}, {1, "1"},           {2.5, "2.5"},         {1e6, "1000000"},
		{3600000, "3600000"}, {-0.25, "-0.25"}, {0, "0"},          {1e-7, "0.0000001"},
		{0.1, "0.1"},     {123456.789, "123456.789"}, {INFINITY, "+Inf"}, {-INFINITY, "-Inf"},
		{NAN, "NaN"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[400];
		ml_prom_format_float(t[i].v, buf, sizeof(buf));
		cr_expect_str_eq(buf, t[i].want);
	}
	char buf[400];
	ml_prom_format_float(1e300, buf, sizeof(buf));
	cr_expect_eq(strlen(buf), 301);
	cr_expect_eq(strtod(buf, NULL), 1e300);
}

/* ------------------------------------------------------------ data types */

#define RES                                                                                          \
	"{\"resource\":{\"attributes\":["                                                            \
	"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"checkout\"}},"                      \
	"{\"key\":\"service.namespace\",\"value\":{\"stringValue\":\"shop\"}},"                     \
	"{\"key\":\"service.instance.id\",\"value\":{\"stringValue\":\"pod-1\"}},"                  \
	"{\"key\":\"k8s.pod.name\",\"value\":{\"stringValue\":\"checkout-abc\"}}]},"                \
	"\"scopeMetrics\":[{\"scope\":{\"name\":\"io.meter\",\"version\":\"1.2\"},\"metrics\":["
#define END "]}]}"

Test(otlp_metrics, gauge_with_resource_scope_and_target_info)
{
	const char *j = "{\"resourceMetrics\":[" RES
			"{\"name\":\"process.cpu.utilization\",\"unit\":\"1\",\"description\":\"CPU\","
			"\"gauge\":{\"dataPoints\":[{\"attributes\":[{\"key\":\"cpu.state\",\"value\":"
			"{\"stringValue\":\"user\"}},{\"key\":\"core\",\"value\":{\"intValue\":\"3\"}},"
			"{\"key\":\"hot\",\"value\":{\"boolValue\":true}}],"
			"\"timeUnixNano\":\"1700000000123456789\",\"asDouble\":0.25}]}}" END "]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	cr_assert_eq(report.accepted, 1);
	cr_assert_eq(report.rejected, 0);
	const struct ml_series_samples *s = find("process_cpu_utilization_ratio", NULL, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(s->samples[0].t_ms, 1700000000123LL);
	cr_assert_eq(s->samples[0].v, 0.25);
	cr_assert_str_eq(lv(s, "job"), "shop/checkout");
	cr_assert_str_eq(lv(s, "instance"), "pod-1");
	cr_assert_str_eq(lv(s, "otel_scope_name"), "io.meter");
	cr_assert_str_eq(lv(s, "otel_scope_version"), "1.2");
	cr_assert_str_eq(lv(s, "cpu_state"), "user");
	cr_assert_str_eq(lv(s, "core"), "3");
	cr_assert_str_eq(lv(s, "hot"), "true");
	cr_assert_null(lv(s, "k8s_pod_name"), "resource attributes go to target_info only");
	cr_assert_eq(s->n_labels, 8);

	const struct ml_series_samples *ti = find("target_info", NULL, NULL);
	cr_assert_not_null(ti);
	cr_assert_eq(ti->samples[0].v, 1.0);
	cr_assert_eq(ti->samples[0].t_ms, 1700000000123LL);
	cr_assert_str_eq(lv(ti, "k8s_pod_name"), "checkout-abc");
	cr_assert_str_eq(lv(ti, "job"), "shop/checkout");
	cr_assert_str_eq(lv(ti, "instance"), "pod-1");
	cr_assert_null(lv(ti, "service_name"));
	cr_assert_eq(ti->n_labels, 4);

	cr_assert_geq(batch.n_meta, 1);
	cr_assert(ml_str_eq_cstr(batch.meta[0].family, "process_cpu_utilization_ratio"));
	cr_assert_eq(batch.meta[0].type, ML_METRIC_GAUGE);
	cr_assert(ml_str_eq_cstr(batch.meta[0].help, "CPU"));
}

Test(otlp_metrics, cumulative_and_nonmonotonic_sums)
{
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":["
			"{\"name\":\"http.requests\",\"sum\":{\"aggregationTemporality\":2,\"isMonotonic\":true,"
			"\"dataPoints\":[{\"timeUnixNano\":\"2000000000\",\"asInt\":\"42\"}]}},"
			"{\"name\":\"queue.depth\",\"unit\":\"1\",\"sum\":{\"aggregationTemporality\":"
			"\"AGGREGATION_TEMPORALITY_CUMULATIVE\",\"isMonotonic\":false,"
			"\"dataPoints\":[{\"timeUnixNano\":\"2000000000\",\"asInt\":-3}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	cr_assert_eq(report.accepted, 2);
	cr_assert_eq(val("http_requests_total", NULL, NULL), 42.0);
	cr_assert_eq(val("queue_depth", NULL, NULL), -3.0);
	cr_assert_eq(find("http_requests_total", NULL, NULL)->samples[0].t_ms, 2000);
	cr_assert_null(find("target_info", NULL, NULL), "no resource attributes, no target_info");
	cr_assert_eq(batch.meta[0].type, ML_METRIC_COUNTER);
	cr_assert_eq(batch.meta[1].type, ML_METRIC_GAUGE);
}

static const char *delta_sum(const char *start, const char *end, const char *v)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"jobs\","
		 "\"sum\":{\"aggregationTemporality\":1,\"isMonotonic\":true,\"dataPoints\":[{"
		 "\"attributes\":[{\"key\":\"q\",\"value\":{\"stringValue\":\"a\"}}],"
		 "\"startTimeUnixNano\":\"%s\",\"timeUnixNano\":\"%s\",\"asInt\":\"%s\"}]}}]}]}]}",
		 start, end, v);
	return buf;
}

Test(otlp_metrics, delta_sum_accumulates_across_requests)
{
	cr_assert_eq(decode_json(delta_sum("1000000000", "2000000000", "5")), 0, "%s", err.msg);
	cr_assert_eq(val("jobs_total", NULL, NULL), 5.0);
	cr_assert_eq(decode_json(delta_sum("2000000000", "3000000000", "7")), 0);
	cr_assert_eq(val("jobs_total", NULL, NULL), 12.0, "contiguous: continues");
	cr_assert_eq(decode_json(delta_sum("0", "4000000000", "1")), 0);
	cr_assert_eq(val("jobs_total", NULL, NULL), 13.0, "no start time: continues");
	cr_assert_eq(decode_json(delta_sum("5000000000", "6000000000", "2")), 0);
	cr_assert_eq(val("jobs_total", NULL, NULL), 2.0, "gap: resets");
	cr_assert_eq(decode_json(delta_sum("6000000000", "7000000000", "3")), 0);
	cr_assert_eq(val("jobs_total", NULL, NULL), 5.0);
	cr_assert_eq(decode_json(delta_sum("6500000000", "7500000000", "4")), 0);
	cr_assert_eq(val("jobs_total", NULL, NULL), 4.0, "overlap: resets");
	cr_assert_eq(ml_delta_accumulator_size(acc), 1);
}

Test(otlp_metrics, delta_without_accumulator_is_rejected_with_partial_success)
{
	const char *j = delta_sum("1000000000", "2000000000", "5");
	cr_assert_eq(ml_otlp_metrics_decode_json((const uint8_t *)j, strlen(j), NULL, &batch, &report,
						 &err),
		     0);
	cr_assert_eq(report.accepted, 0);
	cr_assert_eq(report.rejected, 1);
	cr_assert_str_eq(report.first_reject,
			 "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0] (jobs): "
			 "delta temporality needs an accumulator");
	cr_assert_eq(batch.n, 0);

	struct ml_buf b = ML_BUF_INIT;
	ml_otlp_metrics_response_json(&report, &b);
	ml_buf_putc(&b, '\0');
	cr_assert_str_eq((const char *)b.data,
			 "{\"partialSuccess\":{\"rejectedDataPoints\":\"1\",\"errorMessage\":"
			 "\"resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[0] (jobs): "
			 "delta temporality needs an accumulator\"}}");
	ml_buf_clear(&b);
	ml_otlp_metrics_response_proto(&report, &b);
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceResponse *r =
		opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__unpack(
			NULL, b.len, b.data);
	cr_assert_not_null(r);
	cr_assert_not_null(r->partial_success);
	cr_assert_eq(r->partial_success->rejected_data_points, 1);
	cr_assert(strstr(r->partial_success->error_message, "needs an accumulator") != NULL);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_response__free_unpacked(r, NULL);

	struct ml_ingest_report ok = {1, 0, ""};
	ml_buf_clear(&b);
	ml_otlp_metrics_response_proto(&ok, &b);
	cr_assert_eq(b.len, 0, "no partial_success when nothing was rejected");
	ml_otlp_metrics_response_json(&ok, &b);
	cr_assert_eq(b.len, 2);
	cr_assert_eq(memcmp(b.data, "{}", 2), 0);
	ml_buf_free(&b);
}

static const char *hist(int temporality, const char *start, const char *end, const char *counts,
			const char *count, const char *sum)
{
	static char buf[1024];
	snprintf(buf, sizeof(buf),
		 "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"http.server.duration\","
		 "\"unit\":\"ms\",\"histogram\":{\"aggregationTemporality\":%d,\"dataPoints\":[{"
		 "\"startTimeUnixNano\":\"%s\",\"timeUnixNano\":\"%s\",\"count\":\"%s\",\"sum\":%s,"
		 "\"bucketCounts\":[%s],\"explicitBounds\":[0.005,1,2.5,1000000]}]}}]}]}]}",
		 temporality, start, end, count, sum, counts);
	return buf;
}

#define H "http_server_duration_milliseconds"

Test(otlp_metrics, histogram_buckets_sum_count)
{
	cr_assert_eq(decode_json(hist(2, "1", "3000000000", "\"1\",2,\"3\",4,5", "15", "123.5")), 0,
		     "%s", err.msg);
	cr_assert_eq(report.accepted, 1);
	cr_assert_eq(batch.n, 7);
	cr_assert_eq(val(H "_bucket", "le", "0.005"), 1.0);
	cr_assert_eq(val(H "_bucket", "le", "1"), 3.0);
	cr_assert_eq(val(H "_bucket", "le", "2.5"), 6.0);
	cr_assert_eq(val(H "_bucket", "le", "1000000"), 10.0);
	cr_assert_eq(val(H "_bucket", "le", "+Inf"), 15.0);
	cr_assert_eq(val(H "_sum", NULL, NULL), 123.5);
	cr_assert_eq(val(H "_count", NULL, NULL), 15.0);
	cr_assert(ml_str_eq_cstr(batch.meta[0].family, H));
	cr_assert_eq(batch.meta[0].type, ML_METRIC_HISTOGRAM);
}

Test(otlp_metrics, delta_histogram_accumulates)
{
	cr_assert_eq(decode_json(hist(1, "1000", "2000", "1,1,1,1,1", "5", "10")), 0, "%s", err.msg);
	cr_assert_eq(decode_json(hist(1, "2000", "3000", "0,2,0,0,1", "3", "4")), 0, "%s", err.msg);
	cr_assert_eq(val(H "_bucket", "le", "0.005"), 1.0);
	cr_assert_eq(val(H "_bucket", "le", "1"), 4.0);
	cr_assert_eq(val(H "_bucket", "le", "+Inf"), 8.0);
	cr_assert_eq(val(H "_sum", NULL, NULL), 14.0);
	cr_assert_eq(val(H "_count", NULL, NULL), 8.0);
}

Test(otlp_metrics, histogram_invalid_points_are_rejected_alone)
{
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"h\","
			"\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":["
			"{\"timeUnixNano\":\"5000000\",\"count\":\"1\",\"bucketCounts\":[1,0],\"explicitBounds\":[1,2]},"
			"{\"timeUnixNano\":\"5000000\",\"count\":\"1\",\"bucketCounts\":[1,0,0],\"explicitBounds\":[2,1]},"
			"{\"count\":\"1\",\"bucketCounts\":[1],\"explicitBounds\":[]},"
			"{\"timeUnixNano\":\"5000000\",\"count\":\"2\",\"sum\":3}]}},"
			"{\"name\":\"u\",\"histogram\":{\"dataPoints\":[{\"timeUnixNano\":\"1\"}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	cr_assert_eq(report.rejected, 4);
	cr_assert_eq(report.accepted, 1);
	cr_assert_str_eq(report.first_reject,
			 "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0] (h): "
			 "2 bucket_counts for 2 explicit_bounds, expected 3");
	/* The valid point without buckets: +Inf, _sum, _count only. */
	cr_assert_eq(batch.n, 3);
	cr_assert_eq(val("h_bucket", "le", "+Inf"), 2.0);
	cr_assert_eq(val("h_sum", NULL, NULL), 3.0);
	cr_assert_eq(val("h_count", NULL, NULL), 2.0);
}

/* NaN is no bucket bound: the point is rejected with the place named, the request goes on. */
Test(otlp_metrics, nan_histogram_bound_is_rejected)
{
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"h\","
			"\"histogram\":{\"aggregationTemporality\":2,\"dataPoints\":["
			"{\"timeUnixNano\":\"5000000\",\"count\":\"1\",\"bucketCounts\":[1,0,0],\"explicitBounds\":[1,\"NaN\"]},"
			"{\"timeUnixNano\":\"5000000\",\"count\":\"2\",\"sum\":3}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	cr_assert_eq(report.rejected, 1);
	cr_assert_eq(report.accepted, 1);
	cr_assert_str_eq(report.first_reject,
			 "resourceMetrics[0].scopeMetrics[0].metrics[0].histogram.dataPoints[0] (h): "
			 "explicit_bounds are not strictly increasing at 1");
	cr_assert_eq(val("h_count", NULL, NULL), 2.0);
}

Test(otlp_metrics, exponential_histogram_to_classic_buckets)
{
	/* scale 0: base 2. positive offset 0: (1,2]=3, (2,4]=4; negative offset 1: [-4,-2)=2; zero 1. */
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"lat\",\"unit\":\"s\","
			"\"exponentialHistogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{"
			"\"timeUnixNano\":\"1000000\",\"count\":\"10\",\"sum\":7.5,\"scale\":0,"
			"\"zeroCount\":\"1\",\"positive\":{\"offset\":0,\"bucketCounts\":[\"3\",\"4\"]},"
			"\"negative\":{\"offset\":1,\"bucketCounts\":[\"2\"]}}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	cr_assert_eq(report.accepted, 1, "%s", report.first_reject);
	cr_assert_eq(val("lat_seconds_bucket", "le", "-2"), 2.0);
	cr_assert_eq(val("lat_seconds_bucket", "le", "0"), 3.0);
	cr_assert_eq(val("lat_seconds_bucket", "le", "2"), 6.0);
	cr_assert_eq(val("lat_seconds_bucket", "le", "4"), 10.0);
	cr_assert_eq(val("lat_seconds_bucket", "le", "+Inf"), 10.0);
	cr_assert_eq(val("lat_seconds_sum", NULL, NULL), 7.5);
	cr_assert_eq(val("lat_seconds_count", NULL, NULL), 10.0);
	cr_assert_eq(batch.n, 7);

	/* scale 1: base sqrt(2); index 2 upper bound = 2^(3/2). */
	const char *j2 = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"x\","
			 "\"exponentialHistogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{"
			 "\"timeUnixNano\":\"1000000\",\"count\":\"1\",\"scale\":1,"
			 "\"positive\":{\"offset\":2,\"bucketCounts\":[1]}}]}},"
			 "{\"name\":\"y\",\"exponentialHistogram\":{\"aggregationTemporality\":2,\"dataPoints\":[{"
			 "\"timeUnixNano\":\"1000000\",\"scale\":21}]}}]}]}]}";
	cr_assert_eq(decode_json(j2), 0, "%s", err.msg);
	char le[64];
	ml_prom_format_float(pow(2, 1.5), le, sizeof(le));
	cr_assert_eq(val("x_bucket", "le", le), 1.0);
	cr_assert_eq(report.rejected, 1);
	cr_assert(strstr(report.first_reject, "scale 21 is outside [-10, 20]") != NULL);
}

Test(otlp_metrics, summary)
{
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"rpc.latency\","
			"\"unit\":\"s\",\"summary\":{\"dataPoints\":[{\"timeUnixNano\":\"1000000\","
			"\"count\":\"4\",\"sum\":2.5,\"quantileValues\":[{\"quantile\":0.5,\"value\":0.4},"
			"{\"quantile\":0.99,\"value\":1.1}]}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	cr_assert_eq(val("rpc_latency_seconds", "quantile", "0.5"), 0.4);
	cr_assert_eq(val("rpc_latency_seconds", "quantile", "0.99"), 1.1);
	cr_assert_eq(val("rpc_latency_seconds_sum", NULL, NULL), 2.5);
	cr_assert_eq(val("rpc_latency_seconds_count", NULL, NULL), 4.0);
	cr_assert_eq(batch.meta[0].type, ML_METRIC_SUMMARY);
}

Test(otlp_metrics, no_recorded_value_is_a_staleness_marker)
{
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":"
			"{\"dataPoints\":[{\"timeUnixNano\":\"1000000\",\"flags\":1}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	uint64_t bits;
	double v = val("g", NULL, NULL);
	memcpy(&bits, &v, sizeof(bits));
	cr_assert_eq(bits, ML_STALE_NAN_BITS);
}

Test(otlp_metrics, colliding_attribute_names_are_joined)
{
	const char *j = "{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\",\"gauge\":"
			"{\"dataPoints\":[{\"timeUnixNano\":\"1000000\",\"asDouble\":1,\"attributes\":["
			"{\"key\":\"a_b\",\"value\":{\"stringValue\":\"2\"}},"
			"{\"key\":\"a.b\",\"value\":{\"stringValue\":\"1\"}},"
			"{\"key\":\"empty\",\"value\":{\"stringValue\":\"\"}},"
			"{\"key\":\"d\",\"value\":{\"doubleValue\":0.5}}]}]}}]}]}]}";
	cr_assert_eq(decode_json(j), 0, "%s", err.msg);
	const struct ml_series_samples *s = find("g", NULL, NULL);
	cr_assert_str_eq(lv(s, "a_b"), "1;2"); /* ordered by the original keys "a.b" < "a_b" */
	cr_assert_null(lv(s, "empty"));
	cr_assert_str_eq(lv(s, "d"), "0.5");
	cr_assert_eq(s->n_labels, 3);
}

Test(otlp_metrics, structural_errors_fail_the_request)
{
	cr_assert_eq(decode_json("{\"resourceMetrics\":[{\"scopeMetrics\":{}}]}"), ML_EINVAL);
	cr_assert(strstr(err.msg, "resourceMetrics[0].scopeMetrics") != NULL, "%s", err.msg);
	cr_assert_eq(decode_json("[1,2"), ML_EINVAL);
	cr_assert_eq(decode_json("{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":[{\"name\":\"g\","
				 "\"gauge\":{\"dataPoints\":[{\"timeUnixNano\":\"x\"}]}}]}]}]}"),
		     ML_EINVAL);
	cr_assert(strstr(err.msg, "dataPoints[0].timeUnixNano") != NULL, "%s", err.msg);
	const uint8_t junk[] = {0x0a, 0x7f};
	cr_assert_eq(ml_otlp_metrics_decode_proto(junk, sizeof(junk), acc, &batch, &report, &err),
		     ML_EINVAL);
}

/* ---------------------------------------------------------------- proto */

Test(otlp_metrics, protobuf_request)
{
	Opentelemetry__Proto__Common__V1__AnyValue sv = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	sv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	sv.string_value = (char *)"frontend";
	Opentelemetry__Proto__Common__V1__KeyValue kv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
	kv.key = (char *)"service.name";
	kv.value = &sv;
	Opentelemetry__Proto__Common__V1__KeyValue *kvs[] = {&kv};
	Opentelemetry__Proto__Resource__V1__Resource res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	res.n_attributes = 1;
	res.attributes = kvs;

	Opentelemetry__Proto__Metrics__V1__NumberDataPoint dp = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
	dp.time_unix_nano = 1700000000000000000ULL;
	dp.value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT;
	dp.as_int = 9;
	Opentelemetry__Proto__Metrics__V1__NumberDataPoint *dps[] = {&dp};
	Opentelemetry__Proto__Metrics__V1__Sum sum = OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
	sum.n_data_points = 1;
	sum.data_points = dps;
	sum.is_monotonic = 1;
	sum.aggregation_temporality = OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE;
	Opentelemetry__Proto__Metrics__V1__Metric m = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
	m.name = (char *)"rpc.server.calls";
	m.data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
	m.sum = &sum;
	Opentelemetry__Proto__Metrics__V1__Metric *ms[] = {&m};
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics sm = OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
	sm.n_metrics = 1;
	sm.metrics = ms;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sms[] = {&sm};
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics rm = OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
	rm.resource = &res;
	rm.n_scope_metrics = 1;
	rm.scope_metrics = sms;
	Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rms[] = {&rm};
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
	req.n_resource_metrics = 1;
	req.resource_metrics = rms;

	uint8_t buf[1024];
	size_t n = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, buf);
	cr_assert_eq(ml_otlp_metrics_decode_proto(buf, n, acc, &batch, &report, &err), 0, "%s", err.msg);
	cr_assert_eq(report.accepted, 1);
	const struct ml_series_samples *s = find("rpc_server_calls_total", NULL, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(s->samples[0].v, 9.0);
	cr_assert_eq(s->samples[0].t_ms, 1700000000000LL);
	cr_assert_str_eq(lv(s, "job"), "frontend");
	cr_assert_null(lv(s, "instance"));
	cr_assert_null(find("target_info", NULL, NULL), "service.name alone: no target_info");

	/* Delta in proto too, and an unspecified temporality is rejected. */
	sum.aggregation_temporality = 0;
	n = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(&req, buf);
	cr_assert_eq(ml_otlp_metrics_decode_proto(buf, n, acc, &batch, &report, &err), 0);
	cr_assert_eq(report.rejected, 1);
	cr_assert(strstr(report.first_reject, "metrics[0].sum.dataPoints[0] (rpc.server.calls): "
					      "aggregation_temporality is unspecified") != NULL,
		  "%s", report.first_reject);
}

/* ---------------------------------------------------------- accumulator */

Test(otlp_metrics, accumulator_rules_and_bound)
{
	struct ml_delta_accumulator *a = ml_delta_accumulator_create(4);
	cr_assert_not_null(a);
	double v[3] = {1, 2, 3};
	bool reset;
	cr_assert_eq(ml_delta_accumulator_add(a, 1, 10, 20, v, 3, &reset), 0);
	cr_assert(reset);
	double w[3] = {1, 1, 1};
	cr_assert_eq(ml_delta_accumulator_add(a, 1, 20, 30, w, 3, &reset), 0);
	cr_assert_not(reset);
	cr_assert_eq(w[0], 2.0);
	cr_assert_eq(w[2], 4.0);
	double x[2] = {5, 5};
	cr_assert_eq(ml_delta_accumulator_add(a, 1, 30, 40, x, 2, &reset), 0);
	cr_assert(reset, "layout change resets");
	cr_assert_eq(x[0], 5.0);
	cr_assert_eq(ml_delta_accumulator_add(a, 1, 0, 0, x, 0, NULL), ML_EINVAL);

	/* Over the bound: older series are forgotten, the size stays at 4. */
	for (uint64_t k = 100; k < 110; k++) {
		double y = 1;
		cr_assert_eq(ml_delta_accumulator_add(a, k, 0, 1, &y, 1, NULL), 0);
	}
	cr_assert_eq(ml_delta_accumulator_size(a), 4);
	double z = 1;
	cr_assert_eq(ml_delta_accumulator_add(a, 109, 1, 2, &z, 1, &reset), 0);
	cr_assert_not(reset, "the most recent series is still remembered");
	cr_assert_eq(z, 2.0);
	z = 1;
	cr_assert_eq(ml_delta_accumulator_add(a, 100, 1, 2, &z, 1, &reset), 0);
	cr_assert(reset, "an evicted series starts over");
	ml_delta_accumulator_destroy(a);
	ml_delta_accumulator_destroy(NULL);
}
