/*
 * test_span_metrics.c - collector/aggregate/span_metrics.c: Tempo's names,
 * labels and seconds buckets by default; the OpenTelemetry connector's
 * names, labels and millisecond buckets with "otel"; the per-family series
 * cap drops and counts.
 */
#include <criterion/criterion.h>

#include "aggregate/span_metrics.h"
#include "agg_fixtures.h"

static struct ml_arena *arena;
static struct ml_span_batch batch;
static struct ml_registry *reg;

static void setup(void)
{
	arena = ml_arena_create(0);
	ml_span_batch_init(&batch, arena);
	reg = ml_registry_create();
}

static void teardown(void)
{
	ml_registry_destroy(reg);
	ml_arena_destroy(arena);
}

TestSuite(span_metrics, .init = setup, .fini = teardown);

Test(span_metrics, tempo_names_labels_and_buckets)
{
	struct ml_err err;
	struct ml_span_metrics *m = ml_span_metrics_create(reg, ML_SPAN_METRICS_TEMPO, 0, &err);
	cr_assert_not_null(m, "%s", err.msg);
	fx_span(&batch, "ratings", ML_SPAN_KIND_SERVER, 1, 1, 9, 30, ML_STATUS_UNSET);
	fx_span(&batch, "ratings", ML_SPAN_KIND_SERVER, 2, 2, 9, 3, ML_STATUS_UNSET);
	fx_span(&batch, "ratings", ML_SPAN_KIND_SERVER, 3, 3, 9, 5, ML_STATUS_ERROR);
	fx_span(&batch, "reviews", ML_SPAN_KIND_CLIENT, 3, 4, 9, 7, ML_STATUS_OK);
	for (size_t i = 0; i < batch.n; i++)
		cr_assert_eq(ml_span_metrics_record(m, &batch.spans[i]), 0);

	const char *ok[] = {"ratings", "GET /items", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"};
	const char *bad[] = {"ratings", "GET /items", "SPAN_KIND_SERVER", "STATUS_CODE_ERROR"};
	const char *cl[] = {"reviews", "GET /items", "SPAN_KIND_CLIENT", "STATUS_CODE_OK"};
	cr_assert_eq(fx_value(reg, "traces_spanmetrics_calls_total", ok), 2);
	cr_assert_eq(fx_value(reg, "traces_spanmetrics_calls_total", bad), 1);
	cr_assert_eq(fx_value(reg, "traces_spanmetrics_calls_total", cl), 1);
	/* buckets 0.002, 0.004, 0.008, 0.016, 0.032, ...: 3 ms in le=0.004, 30 ms in le=0.032 */
	struct fx_find h = fx_hist(reg, "traces_spanmetrics_latency", ok, 1);
	cr_assert_eq(h.count, 2);
	cr_assert_float_eq(h.sum, 0.033, 1e-9);
	cr_assert_eq(h.bucket_value, 1, "le=0.004 holds the 3 ms span only");
	cr_assert_eq(fx_hist(reg, "traces_spanmetrics_latency", ok, 3).bucket_value, 1);
	cr_assert_eq(fx_hist(reg, "traces_spanmetrics_latency", ok, 4).bucket_value, 2);
	cr_assert_eq(fx_hist(reg, "traces_spanmetrics_latency", ok, 14).bucket_value, 2);
	struct ml_family *f = ml_registry_find(reg, "traces_spanmetrics_latency");
	cr_assert_not_null(f);
	cr_assert_null(ml_registry_find(reg, "traces_span_metrics_calls_total"));
	ml_span_metrics_destroy(m);
}

Test(span_metrics, otel_connector_names_and_milliseconds)
{
	struct ml_err err;
	struct ml_span_metrics *m = ml_span_metrics_create(reg, ML_SPAN_METRICS_OTEL, 0, &err);
	cr_assert_not_null(m, "%s", err.msg);
	fx_span(&batch, "cart", ML_SPAN_KIND_INTERNAL, 1, 1, 0, 30, ML_STATUS_UNSET);
	cr_assert_eq(ml_span_metrics_record(m, &batch.spans[0]), 0);
	const char *v[] = {"cart", "GET /items", "SPAN_KIND_INTERNAL", "STATUS_CODE_UNSET"};
	cr_assert_eq(fx_value(reg, "traces_span_metrics_calls_total", v), 1);
	/* buckets 2, 4, 6, 8, 10, 50 ms: 30 ms is above le=10 (index 4), within le=50 (index 5) */
	struct fx_find h = fx_hist(reg, "traces_span_metrics_duration_milliseconds", v, 4);
	cr_assert_eq(h.bucket_value, 0);
	cr_assert_float_eq(h.sum, 30.0, 1e-6);
	cr_assert_eq(fx_hist(reg, "traces_span_metrics_duration_milliseconds", v, 5).bucket_value,
	             1);
	cr_assert_null(ml_registry_find(reg, "traces_spanmetrics_calls_total"));
	ml_span_metrics_destroy(m);
}

Test(span_metrics, series_cap_drops_and_counts)
{
	struct ml_err err;
	struct ml_span_metrics *m = ml_span_metrics_create(reg, ML_SPAN_METRICS_TEMPO, 2, &err);
	cr_assert_not_null(m, "%s", err.msg);
	fx_span(&batch, "a", ML_SPAN_KIND_SERVER, 1, 1, 9, 1, 0);
	fx_span(&batch, "b", ML_SPAN_KIND_SERVER, 1, 2, 9, 1, 0);
	fx_span(&batch, "c", ML_SPAN_KIND_SERVER, 1, 3, 9, 1, 0);
	fx_span(&batch, "a", ML_SPAN_KIND_SERVER, 1, 4, 9, 1, 0);
	cr_assert_eq(ml_span_metrics_record(m, &batch.spans[0]), 0);
	cr_assert_eq(ml_span_metrics_record(m, &batch.spans[1]), 0);
	cr_assert_eq(ml_span_metrics_record(m, &batch.spans[2]), 2,
	             "a third series is over the cap");
	cr_assert_eq(ml_span_metrics_record(m, &batch.spans[3]), 0, "existing series still count");
	cr_assert_eq(fx_children(reg, "traces_spanmetrics_calls_total"), 2);
	const char *a[] = {"a", "GET /items", "SPAN_KIND_SERVER", "STATUS_CODE_UNSET"};
	cr_assert_eq(fx_value(reg, "traces_spanmetrics_calls_total", a), 2);
	ml_span_metrics_destroy(m);
}

Test(span_metrics, naming_flag_values)
{
	enum ml_span_metrics_naming n;
	cr_assert_eq(ml_span_metrics_parse_naming("tempo", &n), 0);
	cr_assert_eq(n, ML_SPAN_METRICS_TEMPO);
	cr_assert_eq(ml_span_metrics_parse_naming("otel", &n), 0);
	cr_assert_eq(n, ML_SPAN_METRICS_OTEL);
	cr_assert_eq(ml_span_metrics_parse_naming("Tempo", &n), ML_EINVAL);
	cr_assert_eq(ml_span_metrics_parse_naming("", &n), ML_EINVAL);
}

/* A batch with more distinct series than the per-call cache, interleaved, counts as one by one. */
Test(span_metrics, batch_counts_as_span_by_span)
{
	struct ml_err err;
	struct ml_registry *one = ml_registry_create();
	struct ml_span_metrics *mb = ml_span_metrics_create(reg, ML_SPAN_METRICS_TEMPO, 0, &err);
	struct ml_span_metrics *m1 = ml_span_metrics_create(one, ML_SPAN_METRICS_TEMPO, 0, &err);
	cr_assert_not_null(mb);
	cr_assert_not_null(m1);
	static const char *svc[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"};
	for (int i = 0; i < 200; i++) {
		struct ml_span *s = fx_span(&batch, svc[(i * 7) % 11], (uint8_t)(2 + i % 2), 1,
		                            (uint64_t)i + 1, 9, (double)(i % 40), (uint8_t)(i % 3));
		if (i % 5 == 0)
			s->name = ML_STR("POST /cart");
	}
	cr_assert_eq(ml_span_metrics_record_batch(mb, batch.spans, batch.n), 0);
	for (size_t i = 0; i < batch.n; i++)
		ml_span_metrics_record(m1, &batch.spans[i]);
	cr_assert_eq(fx_children(reg, "traces_spanmetrics_calls_total"),
	             fx_children(one, "traces_spanmetrics_calls_total"));
	cr_assert_gt(fx_children(reg, "traces_spanmetrics_calls_total"), 8);
	for (size_t k = 0; k < 11; k++) {
		const char *v[] = {svc[k], NULL, NULL, NULL};
		cr_assert_eq(fx_value(reg, "traces_spanmetrics_calls_total", v),
		             fx_value(one, "traces_spanmetrics_calls_total", v), "%s", svc[k]);
		struct fx_find a = fx_hist(reg, "traces_spanmetrics_latency", v, 3);
		struct fx_find b = fx_hist(one, "traces_spanmetrics_latency", v, 3);
		cr_assert_eq(a.count, b.count);
		cr_assert_eq(a.bucket_value, b.bucket_value);
		cr_assert_float_eq(a.sum, b.sum, 1e-9);
	}
	const char *a0[] = {"a", NULL, NULL, NULL};
	cr_assert_gt(fx_value(reg, "traces_spanmetrics_calls_total", a0), 0);
	ml_span_metrics_destroy(mb);
	ml_span_metrics_destroy(m1);
	ml_registry_destroy(one);
}
