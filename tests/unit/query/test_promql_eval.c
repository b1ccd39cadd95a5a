/*
 * Tests for collector/query/promql_eval.c, promql_binop.c, promql_agg.c and
 * promql_funcs_eval.c: queries over a real store and TSDB in a temporary
 * directory, with expected values worked out by hand from Prometheus 2.42's
 * formulas (engine.go, functions.go, quantile.go).
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "model/labels.h"
#include "query/promql_eval.h"
#include "query/promql_parse.h"
#include "store/env.h"
#include "store/tsdb.h"

/* A multiple of one minute, so subquery steps line up with T0. */
#define T0 (28333333LL * 60000)
#define S(x) ((int64_t)(x)*1000)

static char dir[64];
static struct ml_store *st;
static struct ml_tsdb *db;

/* Appends "name,l1=v1,..." with samples t[i], v[i]. */
static void add(const char *series, const int64_t *t, const double *v, size_t n)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_sample_batch b;
	ml_sample_batch_init(&b, a);
	char *copy = ml_arena_strndup(a, series, strlen(series));
	struct ml_label ls[16];
	uint32_t nl = 0;
	char *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (nl == 0 && eq == NULL) {
			ls[nl].name = ML_STR("__name__");
			ls[nl].value = ml_str_make(tok, strlen(tok));
		} else {
			*eq = 0;
			ls[nl].name = ml_str_make(tok, strlen(tok));
			ls[nl].value = ml_str_make(eq + 1, strlen(eq + 1));
		}
		nl++;
	}
	struct ml_series_samples *s = ml_sample_batch_add(&b, nl, (uint32_t)n);
	memcpy(s->labels, ls, nl * sizeof(*ls));
	for (size_t i = 0; i < n; i++) {
		s->samples[i].t_ms = t[i];
		s->samples[i].v = v[i];
	}
	struct ml_tsdb_report rep;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_append(db, &b, &rep, &err), 0, "%s", err.msg);
	cr_assert_eq(rep.samples_rejected, 0, "%s: %s", series, rep.first_error.msg);
	ml_arena_destroy(a);
}

/* Samples every 15 s from T0 with the given values. */
static void add15(const char *series, const double *v, size_t n)
{
	int64_t t[64];
	for (size_t i = 0; i < n; i++)
		t[i] = T0 + S(15 * i);
	add(series, t, v, n);
}

static double stale(void)
{
	uint64_t b = ML_STALE_NAN_BITS;
	double d;
	memcpy(&d, &b, sizeof(d));
	return d;
}

static void load(void)
{
	/* A counter with a reset between 60 s and 75 s. */
	add15("http_requests_total,job=api,instance=a", (double[]){0, 10, 20, 30, 40, 5, 15}, 7);
	/* A counter that starts late and small: rate's zero-point clamp. */
	add("c2,job=api", (int64_t[]){T0 + S(40), T0 + S(50), T0 + S(60)}, (double[]){1, 2, 3}, 3);
	/* Gauges: temp{room=a} = k at T0 + 15k s; temp{room=b} = 10. */
	double ramp[13], ten[13];
	for (int k = 0; k < 13; k++) {
		ramp[k] = k;
		ten[k] = 10;
	}
	add15("temp,room=a", ramp, 13);
	add15("temp,room=b", ten, 13);
	add15("temp2,room=a", ten, 5);
	/* A classic histogram at T0 + 60 s. */
	add("lat_bucket,le=0.1,svc=x", (int64_t[]){T0 + S(60)}, (double[]){10}, 1);
	add("lat_bucket,le=0.5,svc=x", (int64_t[]){T0 + S(60)}, (double[]){30}, 1);
	add("lat_bucket,le=1,svc=x", (int64_t[]){T0 + S(60)}, (double[]){40}, 1);
	add("lat_bucket,le=+Inf,svc=x", (int64_t[]){T0 + S(60)}, (double[]){50}, 1);
	add("noinf_bucket,le=0.1", (int64_t[]){T0 + S(60)}, (double[]){10}, 1);
	add("noinf_bucket,le=1", (int64_t[]){T0 + S(60)}, (double[]){20}, 1);
	/* A target that went away: a staleness marker at 30 s. */
	add15("up,job=x", (double[]){1, 1, stale()}, 3);
	/* One lone sample, for lookback expiry. */
	add("old,job=x", (int64_t[]){T0}, (double[]){7}, 1);
	/* topk ties. */
	add("x,i=1", (int64_t[]){T0}, (double[]){1}, 1);
	add("x,i=2", (int64_t[]){T0}, (double[]){3}, 1);
	add("x,i=3", (int64_t[]){T0}, (double[]){3}, 1);
	add("x,i=4", (int64_t[]){T0}, (double[]){2}, 1);
	/* Vector matching. */
	add("a,x=1,y=p", (int64_t[]){T0}, (double[]){1}, 1);
	add("a,x=1,y=q", (int64_t[]){T0}, (double[]){2}, 1);
	add("b,x=1", (int64_t[]){T0}, (double[]){10}, 1);
	add("c,x=1,z=zz", (int64_t[]){T0}, (double[]){100}, 1);
}

static void setup(void)
{
	strcpy(dir, "/tmp/ml_peval_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	struct ml_err err = {{0}};
	struct ml_store_options so = {.path = dir, .max_bytes = 1ULL << 30};
	st = ml_store_open(&so, &err);
	cr_assert_not_null(st, "%s", err.msg);
	db = ml_tsdb_open(st, NULL, &err);
	cr_assert_not_null(db, "%s", err.msg);
	load();
}

static void teardown(void)
{
	ml_tsdb_close(db);
	ml_store_close(st);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(promql_eval, .init = setup, .fini = teardown);

static struct ml_promql_opts opts;

static int run(const char *q, int64_t start, int64_t end, int64_t step, struct ml_promql_result **r,
               struct ml_err *err)
{
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), err);
	cr_assert_not_null(e, "%s: %s", q, err->msg);
	int rc = step == 0 ? ml_promql_eval_instant(db, e->root, start, &opts, r, err)
	                   : ml_promql_eval_range(db, e->root, start, end, step, &opts, r, err);
	ml_promql_expr_destroy(e);
	return rc;
}

static struct ml_promql_result *instant(const char *q, int64_t t)
{
	struct ml_err err = {{0}};
	struct ml_promql_result *r;
	cr_assert_eq(run(q, t, t, 0, &r, &err), 0, "%s: %s", q, err.msg);
	return r;
}

static struct ml_promql_result *range(const char *q, int64_t start, int64_t end, int64_t step)
{
	struct ml_err err = {{0}};
	struct ml_promql_result *r;
	cr_assert_eq(run(q, start, end, step, &r, &err), 0, "%s: %s", q, err.msg);
	return r;
}

/* A series' labels as a="x",b="y" (every label, __name__ included). */
static void fmt(struct ml_labels ls, char *out, size_t n)
{
	struct ml_labels_iter it;
	struct ml_str name, value;
	size_t len = 0;
	out[0] = 0;
	ml_labels_iter_init(&it, ls);
	while (ml_labels_next(&it, &name, &value))
		len += (size_t)snprintf(out + len, n - len, "%s%.*s=\"%.*s\"", len ? "," : "",
		                        (int)name.n, name.p, (int)value.n, value.p);
}

/* The value of the vector element with labels want, or fails. */
static double value_of(const struct ml_promql_result *r, const char *want)
{
	char buf[512];
	for (size_t i = 0; i < r->n_series; i++) {
		fmt(r->series[i].labels, buf, sizeof(buf));
		if (strcmp(buf, want) == 0) {
			cr_assert_eq(r->series[i].n_points, 1);
			return r->series[i].points[0].v;
		}
	}
	cr_assert_fail("no series %s among %zu", want, r->n_series);
	return NAN;
}

static void assert_near(double got, double want, const char *what)
{
	cr_assert(got == want || fabs(got - want) <= 1e-9 * fmax(1, fabs(want)),
	          "%s: got %.17g, want %.17g", what, got, want);
}

/* Instant query with exactly one element, with labels want and value v. */
static void check1(const char *q, int64_t t, const char *want, double v)
{
	struct ml_promql_result *r = instant(q, t);
	cr_assert_eq(r->type, ML_TYPE_VECTOR, "%s", q);
	cr_assert_eq(r->n_series, 1, "%s: %zu series", q, r->n_series);
	assert_near(value_of(r, want), v, q);
	cr_assert_eq(r->series[0].points[0].t_ms, t);
	ml_promql_result_destroy(r);
}

static void check_empty(const char *q, int64_t t)
{
	struct ml_promql_result *r = instant(q, t);
	cr_assert_eq(r->n_series, 0, "%s: want no series, got %zu", q, r->n_series);
	ml_promql_result_destroy(r);
}

static void check_scalar(const char *q, int64_t t, double v)
{
	struct ml_promql_result *r = instant(q, t);
	cr_assert_eq(r->type, ML_TYPE_SCALAR, "%s", q);
	if (isnan(v))
		cr_assert(isnan(r->scalar), "%s: %g", q, r->scalar);
	else
		assert_near(r->scalar, v, q);
	ml_promql_result_destroy(r);
}

static void check_error(const char *q, int64_t t, int code, const char *substr)
{
	struct ml_err err = {{0}};
	struct ml_promql_result *r = NULL;
	int rc = run(q, t, t, 0, &r, &err);
	cr_assert_eq(rc, code, "%s: rc %d (%s)", q, rc, err.msg);
	cr_assert_null(r);
	cr_assert(strstr(err.msg, substr) != NULL, "%s: got \"%s\", want \"%s\"", q, err.msg,
	          substr);
}

Test(promql_eval, vector_selector_lookback_and_staleness)
{
	check1("temp{room=\"a\"}", T0 + S(20), "__name__=\"temp\",room=\"a\"", 1);
	check1("up", T0 + S(20), "__name__=\"up\",job=\"x\"", 1);
	/* The staleness marker at 30 s ends the series at once, not after 5 minutes. */
	check_empty("up", T0 + S(40));
	/* 2.42's lookback includes a sample exactly 5 minutes old, not one older. */
	check1("old", T0 + S(300), "__name__=\"old\",job=\"x\"", 7);
	check_empty("old", T0 + S(300) + 1);
	check_empty("old", T0 - 1);
	opts.lookback_delta_ms = S(60);
	check_empty("old", T0 + S(61));
	opts.lookback_delta_ms = 0;
}

Test(promql_eval, offset_and_at)
{
	check1("temp{room=\"a\"} offset 1m", T0 + S(90), "__name__=\"temp\",room=\"a\"", 2);
	char q[128];
	snprintf(q, sizeof(q), "temp{room=\"a\"} @ %lld", (long long)(T0 + S(45)) / 1000);
	check1(q, T0 + S(180), "__name__=\"temp\",room=\"a\"", 3);
	/* @ holds for every step of a range query. */
	struct ml_promql_result *r = range(q, T0, T0 + S(60), S(30));
	cr_assert_eq(r->n_series, 1);
	cr_assert_eq(r->series[0].n_points, 3);
	for (size_t i = 0; i < 3; i++) {
		cr_assert_eq(r->series[0].points[i].t_ms, T0 + S(30 * i));
		cr_assert_eq(r->series[0].points[i].v, 3);
	}
	ml_promql_result_destroy(r);
	/* @ end() in a range query is the query's end. */
	r = range("temp{room=\"a\"} @ end()", T0, T0 + S(60), S(60));
	cr_assert_eq(r->series[0].n_points, 2);
	cr_assert_eq(r->series[0].points[0].v, 4);
	ml_promql_result_destroy(r);
}

Test(promql_eval, rate_increase_extrapolation)
{
	const char *ls = "instance=\"a\",job=\"api\"";
	/* Samples cover [T0, T0+60s] exactly: 40 over 60 s. */
	check1("rate(http_requests_total[1m])", T0 + S(60), ls, 40.0 / 60);
	/* A reset: 20,30,40,5,15 -> 15 - 20 + 40 = 35. */
	check1("increase(http_requests_total[1m])", T0 + S(90), ls, 35);
	check1("resets(http_requests_total[2m])", T0 + S(90), ls, 1);
	/* Window [10s, 70s]: samples 15..60 s, 30 over 45 s, extrapolated 5 s and 10 s: 40. */
	check1("increase(http_requests_total[1m])", T0 + S(70), ls, 40);
	/* delta does not treat the drop as a reset. */
	check1("delta(http_requests_total[1m])", T0 + S(90), ls, -5);
	/*
	 * c2 = 1,2,3 at 40,50,60 s over [0,60]: the start gap (40 s) is over the
	 * threshold (11 s) but the zero point is 10 s before the first sample, so
	 * it extrapolates by 10 s: 2 * 30/20 = 3 (not 2.5).
	 */
	check1("increase(c2[1m])", T0 + S(60), "job=\"api\"", 3);
	/* irate/idelta use the last two samples; irate's reset takes the new value. */
	check1("irate(http_requests_total[1m])", T0 + S(75), ls, 5.0 / 15);
	check1("idelta(http_requests_total[1m])", T0 + S(75), ls, -35);
	/* One sample in range: no result. */
	check_empty("rate(http_requests_total[10s])", T0 + S(20));
}

Test(promql_eval, over_time_functions)
{
	const char *a = "room=\"a\"";
	/* [T0, T0+60s] holds 0,1,2,3,4 (both ends included in 2.42). */
	check1("count_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 5);
	check1("sum_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 10);
	check1("avg_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 2);
	check1("min_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 0);
	check1("max_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 4);
	check1("stdvar_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 2);
	check1("stddev_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, sqrt(2));
	check1("quantile_over_time(0.25, temp{room=\"a\"}[1m])", T0 + S(60), a, 1);
	check1("changes(temp{room=\"a\"}[1m])", T0 + S(60), a, 4);
	check1("present_over_time(temp{room=\"a\"}[1m])", T0 + S(60), a, 1);
	/* last_over_time keeps the metric name. */
	check1("last_over_time(temp{room=\"a\"}[1m])", T0 + S(70), "__name__=\"temp\",room=\"a\"",
	       4);
	/* One sample per 15 s: slope 1/15; predicted 60 s after the step: 4 + 4. */
	check1("deriv(temp{room=\"a\"}[1m])", T0 + S(60), a, 1.0 / 15);
	check1("predict_linear(temp{room=\"a\"}[1m], 60)", T0 + S(60), a, 8);
	/* A straight line smooths to itself. */
	check1("holt_winters(temp{room=\"a\"}[1m], 0.5, 0.5)", T0 + S(60), a, 4);
	check_error("holt_winters(temp{room=\"a\"}[1m], 1, 0.5)", T0 + S(60), ML_EINVAL,
	            "invalid smoothing factor. Expected: 0 < sf < 1, got: 1.000000");
	check1("absent_over_time(nosuch{job=\"j\"}[1m])", T0, "job=\"j\"", 1);
	check_empty("absent_over_time(temp[1m])", T0 + S(60));
}

Test(promql_eval, subqueries_align_to_absolute_steps)
{
	const char *a = "room=\"a\"";
	/* Inner steps T0, T0+60, T0+120: 0 + 4 + 8. */
	check1("sum_over_time(temp{room=\"a\"}[2m:1m])", T0 + S(120), a, 12);
	check1("count_over_time(temp{room=\"a\"}[2m:1m])", T0 + S(120), a, 3);
	/* At 130 s the window starts at 10 s: the first step is T0+60. */
	check1("sum_over_time(temp{room=\"a\"}[2m:1m])", T0 + S(130), a, 12);
	check1("count_over_time(temp{room=\"a\"}[2m:1m])", T0 + S(130), a, 2);
	/* No step: the default 1 m; with an offset the window moves back. */
	check1("count_over_time(temp{room=\"a\"}[2m:])", T0 + S(120), a, 3);
	check1("max_over_time(temp{room=\"a\"}[1m:1m] offset 1m)", T0 + S(120), a, 4);
	/* A subquery on its own in an instant query is a matrix of its steps. */
	struct ml_promql_result *r = instant("temp{room=\"a\"}[2m:1m]", T0 + S(120));
	cr_assert_eq(r->type, ML_TYPE_MATRIX);
	cr_assert_eq(r->n_series, 1);
	cr_assert_eq(r->series[0].n_points, 3);
	cr_assert_eq(r->series[0].points[2].t_ms, T0 + S(120));
	cr_assert_eq(r->series[0].points[2].v, 8);
	ml_promql_result_destroy(r);
	/* Rate of a subquery of a counter. */
	check1("max_over_time(rate(http_requests_total[1m])[30s:15s])", T0 + S(60),
	       "instance=\"a\",job=\"api\"", 40.0 / 60);
}

Test(promql_eval, matrix_selector_instant)
{
	struct ml_promql_result *r = instant("temp{room=\"a\"}[30s]", T0 + S(30));
	cr_assert_eq(r->type, ML_TYPE_MATRIX);
	cr_assert_eq(r->n_series, 1);
	cr_assert_eq(r->series[0].n_points, 3); /* 0, 15 and 30 s */
	cr_assert_eq(r->series[0].points[0].t_ms, T0);
	ml_promql_result_destroy(r);
	/* Staleness markers are dropped from ranges. */
	r = instant("up[1m]", T0 + S(60));
	cr_assert_eq(r->series[0].n_points, 2);
	ml_promql_result_destroy(r);
}

Test(promql_eval, arithmetic_and_comparisons)
{
	check_scalar("1 + 2 * 3", T0, 7);
	check_scalar("2 ^ 3 ^ 2", T0, 512);
	check_scalar("7 % -3", T0, 1);
	check_scalar("-7 % 3", T0, -1);
	check_scalar("1 / 0", T0, INFINITY);
	check_scalar("-1 / 0", T0, -INFINITY);
	check_scalar("0 / 0", T0, NAN);
	check_scalar("1 > bool 2", T0, 0);
	check_scalar("2 >= bool 2", T0, 1);
	check_scalar("1 atan2 1", T0, M_PI / 4);
	/* Arithmetic drops the name; a filter keeps it; bool drops it. */
	check1("temp{room=\"a\"} * 2", T0 + S(60), "room=\"a\"", 8);
	check1("temp > 5", T0 + S(60), "__name__=\"temp\",room=\"b\"", 10);
	check1("5 < temp", T0 + S(60), "__name__=\"temp\",room=\"b\"", 10);
	check1("temp{room=\"a\"} > bool 5", T0 + S(60), "room=\"a\"", 0);
	check1("temp{room=\"a\"} / 0", T0 + S(60), "room=\"a\"", INFINITY);
	check1("-temp{room=\"a\"}", T0 + S(60), "room=\"a\"", -4);
	/* atan2 keeps the name (it is not in Prometheus's list). */
	check1("temp{room=\"b\"} atan2 0", T0, "__name__=\"temp\",room=\"b\"", M_PI / 2);
	/* Vector-vector: same labels apart from the name. */
	check1("temp{room=\"a\"} - temp2", T0 + S(60), "room=\"a\"", -6);
	check1("temp2 == temp", T0 + S(150), "__name__=\"temp2\",room=\"a\"", 10);
}

Test(promql_eval, vector_matching)
{
	check_error("a * on(x) b", T0, ML_EINVAL,
	            "multiple matches for labels: many-to-one matching must be explicit "
	            "(group_left/group_right)");
	check_error("b * on(x) a", T0, ML_EINVAL,
	            "found duplicate series for the match group {x=\"1\"} on the right hand-side "
	            "of the operation: [{__name__=\"a\", x=\"1\", y=\"q\"}, {__name__=\"a\", "
	            "x=\"1\", y=\"p\"}];many-to-many matching not allowed: matching labels must be "
	            "unique on one side");
	check_error("a * on(x) group_right b", T0, ML_EINVAL,
	            "on the left hand-side of the operation");
	struct ml_promql_result *r = instant("a * on(x) group_left b", T0);
	cr_assert_eq(r->n_series, 2);
	assert_near(value_of(r, "x=\"1\",y=\"p\""), 10, "p");
	assert_near(value_of(r, "x=\"1\",y=\"q\""), 20, "q");
	ml_promql_result_destroy(r);
	r = instant("b / on(x) group_right a", T0);
	assert_near(value_of(r, "x=\"1\",y=\"q\""), 5, "group_right");
	ml_promql_result_destroy(r);
	/* group_left(z) copies z from the one side. */
	r = instant("a + on(x) group_left(z) c", T0);
	assert_near(value_of(r, "x=\"1\",y=\"p\",z=\"zz\""), 101, "include");
	ml_promql_result_destroy(r);
	/* One-to-one with on(): only the on labels stay. */
	check1("b + on(x) c", T0, "x=\"1\"", 110);
	check1("b + ignoring(z) c", T0, "x=\"1\"", 110);
	check_empty("b + c", T0);
	/* Set operators. */
	r = instant("a and on(x) b", T0);
	cr_assert_eq(r->n_series, 2);
	ml_promql_result_destroy(r);
	check_empty("a unless on(x) b", T0);
	r = instant("a or b", T0);
	cr_assert_eq(r->n_series, 3);
	/* or keeps the left side first, then what the right adds. */
	char buf[256];
	fmt(r->series[2].labels, buf, sizeof(buf));
	cr_assert_str_eq(buf, "__name__=\"b\",x=\"1\"");
	ml_promql_result_destroy(r);
	check1("b or on(x) a", T0, "__name__=\"b\",x=\"1\"", 10);
	/* Dropping the name can make two series equal. */
	check_error("{__name__=~\"temp|temp2\", room=\"a\"} * 2", T0, ML_EINVAL,
	            "vector cannot contain metrics with the same labelset");
	check_error("rate({__name__=~\"temp|temp2\", room=\"a\"}[1m])", T0 + S(60), ML_EINVAL,
	            "vector cannot contain metrics with the same labelset");
}

Test(promql_eval, aggregations)
{
	int64_t t = T0 + S(60); /* temp: a = 4, b = 10 */
	check1("sum(temp)", t, "", 14);
	check1("avg(temp)", t, "", 7);
	check1("count(temp)", t, "", 2);
	check1("max(temp)", t, "", 10);
	check1("min(temp)", t, "", 4);
	check1("group(temp)", t, "", 1);
	check1("stddev(temp)", t, "", 3);
	check1("stdvar(temp)", t, "", 9);
	check1("quantile(0.5, temp)", t, "", 7);
	check1("quantile(-1, temp)", t, "", -INFINITY);
	check1("quantile(2, temp)", t, "", INFINITY);
	check1("sum by (room) (temp{room=\"a\"})", t, "room=\"a\"", 4);
	/* without drops the name too. */
	check1("sum without (instance) (http_requests_total)", t, "job=\"api\"", 40);
	check1("sum by (__name__) (temp)", t, "__name__=\"temp\"", 14);
	struct ml_promql_result *r = instant("count_values(\"v\", temp)", t);
	cr_assert_eq(r->n_series, 2);
	assert_near(value_of(r, "v=\"4\""), 1, "v=4");
	assert_near(value_of(r, "v=\"10\""), 1, "v=10");
	ml_promql_result_destroy(r);
	check1("count_values(\"v\", temp{room=\"a\"} / 8)", t, "v=\"0.5\"", 1);
	check1("count_values(\"v\", temp{room=\"a\"} * 1e21)", t, "v=\"4000000000000000000000\"",
	       1);
	check_error("count_values(\"0x\", temp)", t, ML_EINVAL, "invalid label name \"0x\"");
	check1("avg(temp{room=\"a\"} / 0)", t, "", INFINITY);
}

Test(promql_eval, topk_bottomk_ties_and_order)
{
	/* Go's heap on 1,3,3,2: the two 3s in input order. */
	struct ml_promql_result *r = instant("topk(2, x)", T0);
	cr_assert_eq(r->n_series, 2);
	char buf[128];
	fmt(r->series[0].labels, buf, sizeof(buf));
	cr_assert_str_eq(buf, "__name__=\"x\",i=\"2\"");
	fmt(r->series[1].labels, buf, sizeof(buf));
	cr_assert_str_eq(buf, "__name__=\"x\",i=\"3\"");
	ml_promql_result_destroy(r);
	r = instant("topk(3, x)", T0);
	cr_assert_eq(r->n_series, 3);
	const char *want[] = {"__name__=\"x\",i=\"2\"", "__name__=\"x\",i=\"3\"",
	                      "__name__=\"x\",i=\"4\""};
	for (int i = 0; i < 3; i++) {
		fmt(r->series[i].labels, buf, sizeof(buf));
		cr_assert_str_eq(buf, want[i]);
	}
	ml_promql_result_destroy(r);
	check1("bottomk(1, x)", T0, "__name__=\"x\",i=\"1\"", 1);
	check_empty("topk(0, x)", T0);
	check_error("topk(scalar(nosuch), x)", T0, ML_EINVAL, "Scalar value NaN overflows int64");
	/* sort / sort_desc order the vector; range queries sort by labels instead. */
	r = instant("sort_desc(x)", T0);
	cr_assert_eq(r->n_series, 4);
	cr_assert_eq(r->series[0].points[0].v, 3);
	cr_assert_eq(r->series[3].points[0].v, 1);
	ml_promql_result_destroy(r);
	r = instant("sort(x)", T0);
	cr_assert_eq(r->series[0].points[0].v, 1);
	cr_assert_eq(r->series[1].points[0].v, 2);
	ml_promql_result_destroy(r);
}

Test(promql_eval, histogram_quantile)
{
	int64_t t = T0 + S(60); /* buckets 0.1:10 0.5:30 1:40 +Inf:50 */
	check1("histogram_quantile(0.5, lat_bucket)", t, "svc=\"x\"", 0.4);
	check1("histogram_quantile(0.05, lat_bucket)", t, "svc=\"x\"", 0.025);
	/* In the +Inf bucket: the highest finite bound. */
	check1("histogram_quantile(0.9, lat_bucket)", t, "svc=\"x\"", 1);
	check1("histogram_quantile(-0.5, lat_bucket)", t, "svc=\"x\"", -INFINITY);
	check1("histogram_quantile(1.5, lat_bucket)", t, "svc=\"x\"", INFINITY);
	struct ml_promql_result *r = instant("histogram_quantile(0.5, noinf_bucket)", t);
	cr_assert_eq(r->n_series, 1);
	cr_assert(isnan(r->series[0].points[0].v));
	ml_promql_result_destroy(r);
	/* The usual form: sum by (le) of rates. */
	check1("histogram_quantile(0.5, sum by (le) (lat_bucket))", t, "", 0.4);
}

Test(promql_eval, label_functions)
{
	int64_t t = T0 + S(60);
	check1("label_replace(temp{room=\"a\"}, \"r2\", \"x-$1\", \"room\", \"(.*)\")", t,
	       "__name__=\"temp\",r2=\"x-a\",room=\"a\"", 4);
	/* $1x names a group "1x", which does not exist: empty, so no label. */
	check1("label_replace(temp{room=\"a\"}, \"r2\", \"$1x\", \"room\", \"(.*)\")", t,
	       "__name__=\"temp\",room=\"a\"", 4);
	check1("label_replace(temp{room=\"a\"}, \"r2\", \"${1}x\", \"room\", \"(?P<n>.*)\")", t,
	       "__name__=\"temp\",r2=\"ax\",room=\"a\"", 4);
	check1("label_replace(temp{room=\"a\"}, \"r2\", \"$n$$\", \"room\", \"(?P<n>.*)\")", t,
	       "__name__=\"temp\",r2=\"a$\",room=\"a\"", 4);
	/* The regex is anchored: "b" does not match "ab". */
	check1("label_replace(temp{room=\"a\"}, \"r2\", \"y\", \"__name__\", \"em\")", t,
	       "__name__=\"temp\",room=\"a\"", 4);
	check_error("label_replace(temp, \"1bad\", \"y\", \"room\", \"(.*)\")", t, ML_EINVAL,
	            "invalid destination label name in label_replace(): 1bad");
	check_error("label_replace(temp, \"ok\", \"y\", \"room\", \"(\")", t, ML_EINVAL,
	            "invalid regular expression in label_replace(): (");
	check1("label_join(temp{room=\"a\"}, \"j\", \"-\", \"room\", \"__name__\")", t,
	       "__name__=\"temp\",j=\"a-temp\",room=\"a\"", 4);
}

Test(promql_eval, other_functions)
{
	int64_t t = T0 + S(60);
	check1("absent(nosuch{job=\"j\", a=~\"y\"})", t, "job=\"j\"", 1);
	check_empty("absent(temp)", t);
	check_scalar("scalar(temp{room=\"a\"})", t, 4);
	check_scalar("scalar(temp)", t, NAN);
	check1("vector(3)", t, "", 3);
	check_scalar("time()", t, (double)t / 1000);
	check1("timestamp(temp{room=\"a\"})", T0 + S(70), "room=\"a\"",
	       (double)(T0 + S(60)) / 1000);
	check1("round(vector(2.5))", t, "", 3);
	check1("round(vector(-2.5))", t, "", -2);
	check1("round(vector(1.234), 0.1)", t, "", 1.2);
	check1("clamp(temp{room=\"b\"}, 1, 5)", t, "room=\"b\"", 5);
	check1("clamp_min(temp{room=\"a\"}, 6)", t, "room=\"a\"", 6);
	check1("clamp_max(temp{room=\"a\"}, 2)", t, "room=\"a\"", 2);
	check_empty("clamp(temp, 5, 1)", t);
	check1("sgn(-temp{room=\"a\"})", t, "room=\"a\"", -1);
	check1("sqrt(vector(16))", t, "", 4);
	check1("ln(vector(0))", t, "", -INFINITY);
	check1("log2(vector(8))", t, "", 3);
	check1("abs(vector(-2))", t, "", 2);
	check1("deg(vector(pi()))", t, "", 180);
	/* 1970-01-01 05:01 UTC was a Thursday. */
	check1("hour(vector(18060))", t, "", 5);
	check1("minute(vector(18060))", t, "", 1);
	check1("day_of_week(vector(18060))", t, "", 4);
	check1("days_in_month(vector(86400 * 40))", t, "", 28);
	check1("year(vector(0))", t, "", 1970);
	check1("month()", 0, "", 1);
	check_empty("histogram_count(temp)", t);
}

Test(promql_eval, range_queries)
{
	struct ml_promql_result *r = range("temp", T0, T0 + S(60), S(15));
	cr_assert_eq(r->type, ML_TYPE_MATRIX);
	cr_assert_eq(r->n_series, 2);
	char buf[128];
	fmt(r->series[0].labels, buf, sizeof(buf));
	cr_assert_str_eq(buf, "__name__=\"temp\",room=\"a\"");
	cr_assert_eq(r->series[0].n_points, 5);
	for (size_t i = 0; i < 5; i++) {
		cr_assert_eq(r->series[0].points[i].t_ms, T0 + S(15 * i));
		cr_assert_eq(r->series[0].points[i].v, (double)i);
	}
	ml_promql_result_destroy(r);
	/* A scalar: one series without labels. */
	r = range("1 + 1", T0, T0 + S(30), S(10));
	cr_assert_eq(r->n_series, 1);
	cr_assert_eq(r->series[0].labels.n, 0);
	cr_assert_eq(r->series[0].n_points, 4);
	ml_promql_result_destroy(r);
	/* The series ends at its staleness marker. */
	r = range("up", T0, T0 + S(60), S(10));
	cr_assert_eq(r->series[0].n_points, 3); /* 0, 10, 20 s */
	ml_promql_result_destroy(r);
	/* Steps without a value have no point; rate over the reset. */
	r = range("increase(http_requests_total[1m])", T0 + S(60), T0 + S(90), S(30));
	cr_assert_eq(r->series[0].n_points, 2);
	assert_near(r->series[0].points[0].v, 40, "60 s");
	assert_near(r->series[0].points[1].v, 35, "90 s");
	ml_promql_result_destroy(r);
	/* Range-vector results are not allowed in range queries. */
	struct ml_err err = {{0}};
	cr_assert_eq(run("temp[1m]", T0, T0 + S(60), S(15), &r, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "invalid expression type \"range vector\" for range query") !=
	          NULL);
}

Test(promql_eval, limits_samples_and_timeout)
{
	struct ml_err err = {{0}};
	struct ml_promql_result *r = NULL;
	opts.max_samples = 3;
	cr_assert_eq(run("temp", T0, T0 + S(60), S(15), &r, &err), ML_ETOOBIG);
	cr_assert_str_eq(
	    err.msg, "query processing would load too many samples into memory in query execution");
	cr_assert_eq(ml_promql_http_status(ML_ETOOBIG), 422);
	opts.max_samples = 0;
	/* A million steps cannot finish in a millisecond. */
	opts.timeout_ms = 1;
	int rc = run("vector(1) + 1", 0, 1000000000LL, 1000, &r, &err);
	cr_assert_eq(rc, ML_PROMQL_ETIMEOUT, "%d %s", rc, err.msg);
	cr_assert_str_eq(err.msg, "query timed out in expression evaluation");
	cr_assert_str_eq(ml_promql_error_type(rc), "timeout");
	cr_assert_eq(ml_promql_http_status(rc), 503);
	opts.timeout_ms = 0;
}

Test(promql_eval, string_result)
{
	struct ml_promql_result *r = instant("\"hello\"", T0);
	cr_assert_eq(r->type, ML_TYPE_STRING);
	cr_assert_eq(r->string.n, 5);
	cr_assert_eq(memcmp(r->string.p, "hello", 5), 0);
	cr_assert_eq(r->t_ms, T0);
	ml_promql_result_destroy(r);
}

/*
 * Two results are the same: series in the same order, equal labels and points,
 * values equal but for rounding (a binary expression's output is ordered by
 * first step, so the two ways may add a step's elements in another order).
 */
static void assert_same(const struct ml_promql_result *a, const struct ml_promql_result *b,
                        const char *q)
{
	cr_assert_eq(a->n_series, b->n_series, "%s: %zu series against %zu", q, a->n_series,
	             b->n_series);
	for (size_t i = 0; i < a->n_series; i++) {
		const struct ml_promql_series *x = &a->series[i], *y = &b->series[i];
		char lx[256], ly[256];
		fmt(x->labels, lx, sizeof(lx));
		fmt(y->labels, ly, sizeof(ly));
		cr_assert_str_eq(lx, ly, "%s: series %zu", q, i);
		cr_assert_eq(x->n_points, y->n_points, "%s: %s: %zu points against %zu", q, lx,
		             x->n_points, y->n_points);
		for (size_t j = 0; j < x->n_points; j++) {
			cr_assert_eq(x->points[j].t_ms, y->points[j].t_ms, "%s: %s", q, lx);
			double u = x->points[j].v, v = y->points[j].v;
			cr_assert(u == v || (isnan(u) && isnan(v)) ||
			              fabs(u - v) <= 1e-12 * fmax(fabs(u), fabs(v)),
			          "%s: %s at %lld: %.17g against %.17g", q, lx,
			          (long long)x->points[j].t_ms, x->points[j].v, y->points[j].v);
		}
	}
}

/*
 * sum, avg, count, min, max, group, stddev and stdvar of a selector or a range
 * function fold series by series into per-step groups (promql_agg.c); "* 1"
 * makes the argument a binary expression, which goes the step-by-step way.
 * Both must give the same series, order, points and values, with gaps,
 * NaN, infinities, a staleness marker, a counter reset, and groups whose
 * series come from the store in another order than their first steps.
 */
Test(promql_eval, folding_aggregations_equal_stepwise)
{
	double inf = INFINITY;
	/* Stored first, but its first sample is at 45 s: group c comes after b at the steps. */
	add("fz,g=c,i=5", (int64_t[]){T0 + S(45), T0 + S(60), T0 + S(75), T0 + S(90)},
	    (double[]){5, 5, 5, 5}, 4);
	add15("fz,g=b,i=1", (double[]){5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, 12);
	add("fz,g=a,i=2", (int64_t[]){T0 + S(30), T0 + S(45), T0 + S(60), T0 + S(105), T0 + S(120)},
	    (double[]){5, 7, NAN, 2, 1}, 5);
	add("fz,g=a,i=3", (int64_t[]){T0, T0 + S(15), T0 + S(60), T0 + S(75), T0 + S(90)},
	    (double[]){1e308, 1e308, inf, -inf, 3}, 5);
	add("fz,g=c,i=4", (int64_t[]){T0 + S(15), T0 + S(30), T0 + S(45), T0 + S(90)},
	    (double[]){10, 20, stale(), 4}, 4);
	static const char *ops[] = {"sum", "avg", "count", "min", "max", "group", "stddev", "stdvar"};
	static const char *args[] = {"fz", "rate(fz[1m])", "max_over_time(fz[45s])",
	                             "fz offset 15s", "fz{g=~\"b|c\"}"};
	static const char *grouping[] = {"", " by (g)", " without (i)", " by (i, g)"};
	char q1[256], q2[256];
	for (size_t o = 0; o < sizeof(ops) / sizeof(*ops); o++)
		for (size_t a = 0; a < sizeof(args) / sizeof(*args); a++)
			for (size_t g = 0; g < sizeof(grouping) / sizeof(*grouping); g++)
				for (int topk = 0; topk < 2; topk++) {
					const char *pre = topk ? "topk(1, " : "", *post = topk ? ")" : "";
					snprintf(q1, sizeof(q1), "%s%s%s (%s)%s", pre, ops[o], grouping[g],
					         args[a], post);
					snprintf(q2, sizeof(q2), "%s%s%s (%s * 1)%s", pre, ops[o],
					         grouping[g], args[a], post);
					struct ml_promql_result *r1 = range(q1, T0, T0 + S(200), S(10));
					struct ml_promql_result *r2 = range(q2, T0, T0 + S(200), S(10));
					assert_same(r1, r2, q1);
					ml_promql_result_destroy(r1);
					ml_promql_result_destroy(r2);
					for (int64_t t = T0; t <= T0 + S(120); t += S(30)) {
						r1 = instant(q1, t);
						r2 = instant(q2, t);
						assert_same(r1, r2, q1);
						ml_promql_result_destroy(r1);
						ml_promql_result_destroy(r2);
					}
				}
	/* Two series that are one after rate() drops the name: the same error both ways. */
	add15("fy1,k=v", (double[]){1, 2, 3}, 3);
	add15("fy2,k=v", (double[]){1, 2, 3}, 3);
	check_error("sum(rate({__name__=~\"fy.\"}[1m]))", T0 + S(30), ML_EINVAL,
	            "vector cannot contain metrics with the same labelset");
	check_error("sum(rate({__name__=~\"fy.\"}[1m]) * 1)", T0 + S(30), ML_EINVAL,
	            "vector cannot contain metrics with the same labelset");
	/* The sample limit counts the argument's point and the result's: 2 > 1. */
	opts.max_samples = 1;
	check_error("sum(fz{g=\"b\"})", T0 + S(30), ML_ETOOBIG, "too many samples");
	opts.max_samples = 0;
}
