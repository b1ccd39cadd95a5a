/*
 * test_prom_api.c - the Prometheus HTTP API endpoints without evaluation,
 * against a real store and TSDB in a temporary directory: series, label
 * names and values, metadata, status pages, format_query, time parsing and
 * every error answer (status code, errorType and message).
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "core/arena.h"
#include "exporters/prom_api.h"
#include "flags.h"
#include "store/env.h"
#include "store/tsdb.h"

#define T0 1700000000000LL /* 2023-11-14T22:13:20Z */

static char dir[64];
static struct ml_app app;

/* Appends one sample of "name,l1=v1,l2=v2" at t. */
static void append1(const char *series, int64_t t, double v)
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
	struct ml_series_samples *s = ml_sample_batch_add(&b, nl, 1);
	memcpy(s->labels, ls, nl * sizeof(*ls));
	s->samples[0].t_ms = t;
	s->samples[0].v = v;
	struct ml_metric_meta *m = ml_sample_batch_add_meta(&b);
	m->family = ls[0].value;
	m->type = strstr(series, "_total") ? ML_METRIC_COUNTER : ML_METRIC_GAUGE;
	m->help = ML_STR("help text");
	m->unit = ML_STR("");
	struct ml_tsdb_report rep;
	struct ml_err err = {{0}};
	cr_assert_eq(ml_tsdb_append(app.tsdb, &b, &rep, &err), 0, "%s", err.msg);
	cr_assert_eq(rep.samples_accepted, 1, "%s", rep.first_error.msg);
	ml_arena_destroy(a);
}

static void setup(void)
{
	struct ml_err err = {{0}};
	strcpy(dir, "/tmp/ml_promapi_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	memset(&app, 0, sizeof(app));
	struct ml_store_options so = {.path = dir, .max_bytes = 1ULL << 30};
	app.store = ml_store_open(&so, &err);
	cr_assert_not_null(app.store, "%s", err.msg);
	app.tsdb = ml_tsdb_open(app.store, NULL, &err);
	cr_assert_not_null(app.tsdb, "%s", err.msg);
	app.start_time_ns = (uint64_t)T0 * 1000000u;
	append1("up,job=api,instance=a:1", T0, 1);
	append1("up,job=web,instance=b:1", T0 + 60000, 0);
	append1("http_requests_total,job=api,code=200", T0 + 120000, 5);
}

static void teardown(void)
{
	ml_tsdb_close(app.tsdb);
	ml_store_close(app.store);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
	ml_prom_api_set_config(NULL);
}

TestSuite(prom_api, .init = setup, .fini = teardown);

/*
 * Calls h with parameters given as name, value pairs (NULL-terminated) and
 * returns the parsed JSON body; *status gets the HTTP status.
 */
static json_t *call(ml_http_handler h, const char *path_rest, int *status, ...)
{
	struct ml_http_param params[16];
	size_t n = 0;
	va_list ap;
	va_start(ap, status);
	const char *name;
	while ((name = va_arg(ap, const char *)) != NULL) {
		params[n].name = name;
		params[n].value = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);
	struct ml_arena *a = ml_arena_create(0);
	struct ml_http_request req = {.method = "GET", .path = "/api/v1/x", .content_type = "",
				      .params = params, .n_params = n, .path_rest = path_rest,
				      .arena = a};
	struct ml_http_response resp = {.status = 200};
	h(&req, &resp, &app);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
	cr_assert_not_null(j, "not JSON (%s): %.*s", jerr.text, (int)resp.body.len,
			   (const char *)resp.body.data);
	cr_assert_str_eq(resp.content_type, "application/json");
	*status = resp.status;
	ml_buf_free(&resp.body);
	ml_arena_destroy(a);
	return j;
}

static void assert_error(json_t *j, int status, int want_status, const char *type, const char *msg)
{
	cr_assert_eq(status, want_status, "status %d: %s", status,
		     json_string_value(json_object_get(j, "error")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "error");
	cr_assert_str_eq(json_string_value(json_object_get(j, "errorType")), type);
	const char *got = json_string_value(json_object_get(j, "error"));
	cr_assert_not_null(got);
	cr_assert(strstr(got, msg) != NULL, "error \"%s\" lacks \"%s\"", got, msg);
}

static json_t *data_of(json_t *j, int status)
{
	cr_assert_eq(status, 200, "status %d: %s", status,
		     json_string_value(json_object_get(j, "error")));
	cr_assert_str_eq(json_string_value(json_object_get(j, "status")), "success");
	json_t *d = json_object_get(j, "data");
	cr_assert_not_null(d);
	return d;
}

/* The JSON array of strings as one comma-joined string. */
static void joined(json_t *arr, char *out, size_t size)
{
	out[0] = '\0';
	cr_assert(json_is_array(arr));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (i)
			strncat(out, ",", size - strlen(out) - 1);
		strncat(out, json_string_value(json_array_get(arr, i)), size - strlen(out) - 1);
	}
}

Test(prom_api, series_by_selector)
{
	int st;
	json_t *j = call(ml_prom_series, NULL, &st, "match[]", "up{job=\"api\"}", NULL);
	json_t *d = data_of(j, st);
	cr_assert_eq(json_array_size(d), 1);
	json_t *s = json_array_get(d, 0);
	cr_assert_str_eq(json_string_value(json_object_get(s, "__name__")), "up");
	cr_assert_str_eq(json_string_value(json_object_get(s, "job")), "api");
	cr_assert_str_eq(json_string_value(json_object_get(s, "instance")), "a:1");
	cr_assert_eq(json_object_size(s), 3);
	json_decref(j);
}

Test(prom_api, series_union_of_match_params_sorted_and_unique)
{
	int st;
	json_t *j = call(ml_prom_series, NULL, &st, "match[]", "up", "match[]",
			 "{job=\"api\"}", NULL);
	json_t *d = data_of(j, st);
	/* up{api}, up{web}, http_requests_total{api}; up{api} only once. */
	cr_assert_eq(json_array_size(d), 3);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "__name__")),
			 "http_requests_total");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 1), "job")), "api");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 2), "job")), "web");
	json_decref(j);
}

Test(prom_api, series_time_range_unix_and_rfc3339)
{
	int st;
	/* Only up{web} has a sample at or after T0+60s. */
	json_t *j = call(ml_prom_series, NULL, &st, "match[]", "up", "start", "1700000060",
			 "end", "2023-11-14T22:14:30.5Z", NULL);
	json_t *d = data_of(j, st);
	cr_assert_eq(json_array_size(d), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(d, 0), "job")), "web");
	json_decref(j);
	/* Before any sample: empty list, not an error. */
	j = call(ml_prom_series, NULL, &st, "match[]", "up", "start", "1000", "end", "1000.5", NULL);
	d = data_of(j, st);
	cr_assert(json_is_array(d));
	cr_assert_eq(json_array_size(d), 0);
	json_decref(j);
}

Test(prom_api, series_errors)
{
	int st;
	json_t *j = call(ml_prom_series, NULL, &st, NULL);
	assert_error(j, st, 400, "bad_data", "no match[] parameter provided");
	json_decref(j);
	j = call(ml_prom_series, NULL, &st, "match[]", "up{job=", NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"match[]\": ");
	json_decref(j);
	j = call(ml_prom_series, NULL, &st, "match[]", "sum(up)", NULL);
	assert_error(j, st, 400, "bad_data", "not a vector selector");
	json_decref(j);
	j = call(ml_prom_series, NULL, &st, "match[]", "up", "start", "yesterday", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid parameter \"start\": Invalid time value for 'start': cannot parse "
		     "\"yesterday\" to a valid timestamp");
	json_decref(j);
	/* End before start selects nothing, as Prometheus's querier does. */
	j = call(ml_prom_series, NULL, &st, "match[]", "up", "start", "20", "end", "10", NULL);
	cr_assert_eq(json_array_size(data_of(j, st)), 0);
	json_decref(j);
	j = call(ml_prom_series, NULL, &st, "match[]", "{job=~\".*\"}", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid parameter \"match[]\": match[] must contain at least one non-empty "
		     "matcher");
	json_decref(j);
}

Test(prom_api, label_names)
{
	int st;
	char s[256];
	json_t *j = call(ml_prom_labels, NULL, &st, NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "__name__,code,instance,job");
	json_decref(j);
	j = call(ml_prom_labels, NULL, &st, "match[]", "up", NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "__name__,instance,job");
	json_decref(j);
	j = call(ml_prom_labels, NULL, &st, "match[]", "up{job=\"web\"}", "match[]",
		 "http_requests_total", NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "__name__,code,instance,job");
	json_decref(j);
	j = call(ml_prom_labels, NULL, &st, "limit", "2", NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "__name__,code");
	json_decref(j);
	j = call(ml_prom_labels, NULL, &st, "limit", "many", NULL);
	assert_error(j, st, 400, "bad_data", "limit must be a number");
	json_decref(j);
	j = call(ml_prom_labels, NULL, &st, "end", "x", NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"end\"");
	json_decref(j);
}

Test(prom_api, label_values)
{
	int st;
	char s[256];
	json_t *j = call(ml_prom_label_values, "job/values", &st, NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "api,web");
	json_decref(j);
	j = call(ml_prom_label_values, "__name__/values", &st, NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "http_requests_total,up");
	json_decref(j);
	j = call(ml_prom_label_values, "job/values", &st, "match[]", "http_requests_total", NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "api");
	json_decref(j);
	j = call(ml_prom_label_values, "job/values", &st, "start", "1700000060", NULL);
	joined(data_of(j, st), s, sizeof(s));
	cr_assert_str_eq(s, "api,web"); /* http_requests_total{job=api} is at T0+120s */
	json_decref(j);
	j = call(ml_prom_label_values, "nosuch/values", &st, NULL);
	cr_assert_eq(json_array_size(data_of(j, st)), 0);
	json_decref(j);
}

Test(prom_api, label_values_errors)
{
	int st;
	json_t *j = call(ml_prom_label_values, "1job/values", &st, NULL);
	assert_error(j, st, 400, "bad_data", "invalid label name: \"1job\"");
	json_decref(j);
	j = call(ml_prom_label_values, "a-b/values", &st, NULL);
	assert_error(j, st, 400, "bad_data", "invalid label name: \"a-b\"");
	json_decref(j);
	/* Not .../values: Prometheus's router answers a plain-text 404. */
	struct ml_arena *a = ml_arena_create(0);
	struct ml_http_request req = {.method = "GET", .path = "/api/v1/label/job", .content_type = "",
				      .path_rest = "job", .arena = a};
	struct ml_http_response resp = {.status = 200};
	ml_prom_label_values(&req, &resp, &app);
	cr_assert_eq(resp.status, 404);
	cr_assert_eq(resp.body.len, strlen("404 page not found\n"));
	cr_assert(memcmp(resp.body.data, "404 page not found\n", resp.body.len) == 0);
	ml_buf_free(&resp.body);
	ml_arena_destroy(a);
	j = call(ml_prom_label_values, "job/values", &st, "match[]", "rate(up[5m])", NULL);
	assert_error(j, st, 400, "bad_data", "not a vector selector");
	json_decref(j);
}

Test(prom_api, metadata)
{
	int st;
	json_t *j = call(ml_prom_metadata, NULL, &st, NULL);
	json_t *d = data_of(j, st);
	cr_assert_eq(json_object_size(d), 2);
	json_t *m = json_array_get(json_object_get(d, "http_requests_total"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "type")), "counter");
	cr_assert_str_eq(json_string_value(json_object_get(m, "help")), "help text");
	cr_assert_str_eq(json_string_value(json_object_get(m, "unit")), "");
	m = json_array_get(json_object_get(d, "up"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(m, "type")), "gauge");
	json_decref(j);
	j = call(ml_prom_metadata, NULL, &st, "metric", "up", NULL);
	d = data_of(j, st);
	cr_assert_eq(json_object_size(d), 1);
	cr_assert_not_null(json_object_get(d, "up"));
	json_decref(j);
	j = call(ml_prom_metadata, NULL, &st, "limit", "1", NULL);
	cr_assert_eq(json_object_size(data_of(j, st)), 1);
	json_decref(j);
	j = call(ml_prom_metadata, NULL, &st, "limit", "1x", NULL);
	assert_error(j, st, 400, "bad_data", "limit must be a number");
	json_decref(j);
}

Test(prom_api, buildinfo_has_version_and_no_features)
{
	int st;
	json_t *j = call(ml_prom_buildinfo, NULL, &st, NULL);
	json_t *d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "version")), MESHLENS_VERSION);
	cr_assert_str_eq(json_string_value(json_object_get(d, "goVersion")), "");
	cr_assert_null(json_object_get(d, "features"));
	json_decref(j);
}

Test(prom_api, runtimeinfo_and_flags)
{
	int st;
	json_t *j = call(ml_prom_runtimeinfo, NULL, &st, NULL);
	json_t *d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "startTime")),
			 "2023-11-14T22:13:20.000Z");
	json_decref(j);

	struct ml_config cfg = {0};
	cfg.listen[0] = "localhost:4318";
	cfg.listen[1] = ":9090";
	cfg.n_listen = 2;
	cfg.storage_path = "/var/lib/meshlens";
	cfg.retention_ms = 7ULL * 86400000;
	cfg.log_level = "debug";
	cfg.web_threads = 16;
	ml_prom_api_set_config(&cfg);
	j = call(ml_prom_flags, NULL, &st, NULL);
	d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "web.listen-address")),
			 "localhost:4318,:9090");
	cr_assert_str_eq(json_string_value(json_object_get(d, "storage.path")), "/var/lib/meshlens");
	cr_assert_str_eq(json_string_value(json_object_get(d, "storage.retention")), "1w");
	cr_assert_str_eq(json_string_value(json_object_get(d, "log.level")), "debug");
	cr_assert_str_eq(json_string_value(json_object_get(d, "web.threads")), "16");
	json_decref(j);
	j = call(ml_prom_runtimeinfo, NULL, &st, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(data_of(j, st), "storageRetention")),
			 "1w");
	json_decref(j);
}

Test(prom_api, rules_alerts_exemplars)
{
	int st;
	json_t *j = call(ml_prom_rules, NULL, &st, NULL);
	cr_assert_eq(json_array_size(json_object_get(data_of(j, st), "groups")), 0);
	cr_assert(json_is_array(json_object_get(data_of(j, st), "groups")));
	json_decref(j);
	j = call(ml_prom_alerts, NULL, &st, NULL);
	cr_assert(json_is_array(json_object_get(data_of(j, st), "alerts")));
	json_decref(j);
	j = call(ml_prom_query_exemplars, NULL, &st, "query", "up", NULL);
	json_t *d = data_of(j, st);
	cr_assert(json_is_array(d));
	cr_assert_eq(json_array_size(d), 0);
	json_decref(j);
	j = call(ml_prom_query_exemplars, NULL, &st, "query", "up{", NULL);
	assert_error(j, st, 400, "bad_data", "parse error");
	json_decref(j);
	j = call(ml_prom_query_exemplars, NULL, &st, NULL);
	assert_error(j, st, 400, "bad_data", "1:1: parse error: no expression found in input");
	json_decref(j);
	j = call(ml_prom_query_exemplars, NULL, &st, "query", "up", "start", "20", "end", "10", NULL);
	assert_error(j, st, 400, "bad_data", "end timestamp must not be before start timestamp");
	json_decref(j);
}

Test(prom_api, format_query)
{
	int st;
	json_t *j = call(ml_prom_format_query, NULL, &st, "query",
			 "sum  by(job)(rate(http_requests_total{code= \"200\"}[5m]))", NULL);
	cr_assert_str_eq(json_string_value(data_of(j, st)),
			 "sum by (job) (rate(http_requests_total{code=\"200\"}[5m]))");
	json_decref(j);
	j = call(ml_prom_format_query, NULL, &st, "query", "sum(", NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"query\": 1:");
	json_decref(j);
}

Test(prom_api, parse_time)
{
	int64_t t;
	cr_assert_eq(ml_prom_parse_time("1700000000", &t), 0);
	cr_assert_eq(t, T0);
	cr_assert_eq(ml_prom_parse_time("1700000000.123", &t), 0);
	cr_assert_eq(t, T0 + 123);
	cr_assert_eq(ml_prom_parse_time("-1.5", &t), 0);
	cr_assert_eq(t, -1500);
	cr_assert_eq(ml_prom_parse_time("2023-11-14T22:13:20Z", &t), 0);
	cr_assert_eq(t, T0);
	cr_assert_eq(ml_prom_parse_time("2023-11-14T22:13:20.25Z", &t), 0);
	cr_assert_eq(t, T0 + 250);
	cr_assert_eq(ml_prom_parse_time("2023-11-15T00:13:20+02:00", &t), 0);
	cr_assert_eq(t, T0);
	cr_assert_eq(ml_prom_parse_time("", &t), ML_EINVAL);
	cr_assert_eq(ml_prom_parse_time("2023-11-14", &t), ML_EINVAL);
	cr_assert_eq(ml_prom_parse_time("2023-11-14T22:13:20", &t), ML_EINVAL);
	cr_assert_eq(ml_prom_parse_time("2023-13-14T22:13:20Z", &t), ML_EINVAL);
	cr_assert_eq(ml_prom_parse_time("1e300", &t), ML_EINVAL);
	cr_assert_eq(ml_prom_parse_time("NaN", &t), ML_EINVAL);
	cr_assert_eq(ml_prom_parse_time("12abc", &t), ML_EINVAL);
}

/* --- /api/v1/query and /api/v1/query_range ------------------------------- */

Test(prom_api, instant_query_vector)
{
	int st;
	json_t *j = call(ml_prom_query, NULL, &st, "query", "up", "time", "1700000060.5", NULL);
	json_t *d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "vector");
	json_t *res = json_object_get(d, "result");
	cr_assert_eq(json_array_size(res), 2);
	for (size_t i = 0; i < 2; i++) {
		json_t *s = json_array_get(res, i);
		const char *job = json_string_value(json_object_get(json_object_get(s, "metric"), "job"));
		json_t *v = json_object_get(s, "value");
		cr_assert_eq(json_array_size(v), 2);
		cr_assert_float_eq(json_real_value(json_array_get(v, 0)), 1700000060.5, 1e-6);
		cr_assert_str_eq(json_string_value(json_array_get(v, 1)),
				 strcmp(job, "api") == 0 ? "1" : "0");
	}
	json_decref(j);
	/* Values as Go formats them: no exponent, shortest digits. */
	j = call(ml_prom_query, NULL, &st, "query", "http_requests_total * 200000 + 0.25", "time",
		 "1700000120", NULL);
	d = data_of(j, st);
	json_t *s = json_array_get(json_object_get(d, "result"), 0);
	cr_assert_null(json_object_get(json_object_get(s, "metric"), "__name__"));
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(s, "value"), 1)),
			 "1000000.25");
	cr_assert_eq(json_integer_value(json_array_get(json_object_get(s, "value"), 0)),
		     1700000120);
	json_decref(j);
}

Test(prom_api, instant_query_scalar_string_matrix)
{
	int st;
	json_t *j = call(ml_prom_query, NULL, &st, "query", "1/0", "time", "100", NULL);
	json_t *d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "scalar");
	json_t *r = json_object_get(d, "result");
	cr_assert_eq(json_integer_value(json_array_get(r, 0)), 100);
	cr_assert_str_eq(json_string_value(json_array_get(r, 1)), "+Inf");
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "\"hello\"", "time", "100", NULL);
	d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "string");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(d, "result"), 1)), "hello");
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "up{job=\"web\"}[5m]", "time", "1700000100",
		 NULL);
	d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "matrix");
	json_t *vals = json_object_get(json_array_get(json_object_get(d, "result"), 0), "values");
	cr_assert_eq(json_array_size(vals), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(vals, 0), 0)), 1700000060);
	json_decref(j);
}

Test(prom_api, instant_query_errors)
{
	int st;
	json_t *j = call(ml_prom_query, NULL, &st, "query", "sum(up", NULL);
	assert_error(j, st, 400, "bad_data", "parse error");
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "up", "time", "noon", NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"time\"");
	json_decref(j);
	/* Two series with the same labels once __name__ is dropped: execution error. */
	append1("down,job=api,instance=a:1", T0, 1);
	j = call(ml_prom_query, NULL, &st, "query", "{job=\"api\",instance=\"a:1\"} * 2", "time",
		 "1700000000", NULL);
	assert_error(j, st, 422, "execution", "same labelset");
	json_decref(j);
}

Test(prom_api, range_query_matrix)
{
	int st;
	json_t *j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "1700000000",
			 "end", "2023-11-14T22:15:20Z", "step", "1m", NULL);
	json_t *d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "resultType")), "matrix");
	json_t *res = json_object_get(d, "result");
	cr_assert_eq(json_array_size(res), 2);
	/* Sorted by labels: instance a:1 (job api) first; 3 steps, both within lookback. */
	json_t *api = json_array_get(res, 0);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(api, "metric"), "job")),
			 "api");
	json_t *vals = json_object_get(api, "values");
	cr_assert_eq(json_array_size(vals), 3);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(vals, 2), 0)), 1700000120);
	cr_assert_str_eq(json_string_value(json_array_get(json_array_get(vals, 2), 1)), "1");
	/* up{web} starts at T0+60s: two points. */
	cr_assert_eq(json_array_size(json_object_get(json_array_get(res, 1), "values")), 2);
	json_decref(j);
	/* step in seconds with decimals */
	j = call(ml_prom_query_range, NULL, &st, "query", "time()", "start", "10", "end", "11",
		 "step", "0.5", NULL);
	d = data_of(j, st);
	vals = json_object_get(json_array_get(json_object_get(d, "result"), 0), "values");
	cr_assert_eq(json_array_size(vals), 3);
	cr_assert_str_eq(json_string_value(json_array_get(json_array_get(vals, 1), 1)), "10.5");
	json_decref(j);
}

Test(prom_api, range_query_errors)
{
	int st;
	json_t *j = call(ml_prom_query_range, NULL, &st, "query", "up", "end", "10", "step", "1",
			 NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"start\"");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "10", "step", "1", NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"end\"");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "10", "end", "5", "step",
		 "1", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid parameter \"end\": end timestamp must not be before start time");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "10", "end", "20", "step",
		 "fast", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid parameter \"step\": cannot parse \"fast\" to a valid duration");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "10", "end", "20", "step",
		 "0", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid parameter \"step\": zero or negative query resolution step widths are "
		     "not accepted. Try a positive integer");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "10", "end", "20", "step",
		 "-1", NULL);
	assert_error(j, st, 400, "bad_data", "zero or negative");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "0", "end", "11001",
		 "step", "1", NULL);
	assert_error(j, st, 400, "bad_data",
		     "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing "
		     "the query resolution (?step=XX)");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "0", "end", "11000",
		 "step", "1", NULL);
	data_of(j, st);
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up[5m]", "start", "10", "end", "20",
		 "step", "1", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid expression type \"range vector\" for range query, must be Scalar or "
		     "instant Vector");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up +", "start", "10", "end", "20",
		 "step", "1", NULL);
	assert_error(j, st, 400, "bad_data", "parse error");
	json_decref(j);
}

/* The --query.* flags and the timeout= parameter reach the evaluator. */
Test(prom_api, query_limits)
{
	int st;
	struct ml_config cfg = {0};
	cfg.query_max_samples = 1;
	cfg.query_max_concurrency = 2;
	ml_prom_api_set_config(&cfg);
	cr_assert_eq(ml_prom_api_lookback_ms(), 5 * 60000); /* 0 = Prometheus's default */
	/* Two series of up at T0 + 60 s: over one sample. */
	json_t *j = call(ml_prom_query, NULL, &st, "query", "up", "time", "1700000060", NULL);
	assert_error(j, st, 422, "execution",
		     "query processing would load too many samples into memory in query execution");
	json_decref(j);
	cfg.query_max_samples = 1000;
	cfg.query_lookback_ms = 30000;
	cr_assert_eq(ml_prom_api_lookback_ms(), 30000);
	/* Lookback 30 s: up{job="api"} (at T0) is not seen at T0 + 60 s, up{job="web"} is. */
	j = call(ml_prom_query, NULL, &st, "query", "up", "time", "1700000060", NULL);
	cr_assert_eq(json_array_size(json_object_get(data_of(j, st), "result")), 1);
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "up", "timeout", "soon", NULL);
	assert_error(j, st, 400, "bad_data",
		     "invalid parameter \"timeout\": cannot parse \"soon\" to a valid duration");
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "up", "timeout", "1e999", NULL);
	assert_error(j, st, 400, "bad_data", "invalid parameter \"timeout\"");
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "up", "timeout", "0", NULL);
	assert_error(j, st, 503, "timeout", "query timed out in query execution");
	json_decref(j);
	j = call(ml_prom_query_range, NULL, &st, "query", "up", "start", "10", "end", "20", "step",
		 "1", "timeout", "-3", NULL);
	assert_error(j, st, 503, "timeout", "query timed out in query execution");
	json_decref(j);
	/*
	 * A subquery of a week at 1 s takes a second or more: its deadline of
	 * 50 ms passes during the evaluation, not before it.
	 */
	cfg.query_max_samples = 0; /* Prometheus's default */
	j = call(ml_prom_query, NULL, &st, "query", "count_over_time(vector(1)[7d:1s])", "time",
		 "1700000000", "timeout", "50ms", NULL);
	assert_error(j, st, 503, "timeout", "query timed out in expression evaluation");
	json_decref(j);
	j = call(ml_prom_query, NULL, &st, "query", "1", "timeout", "1m", NULL);
	data_of(j, st);
	json_decref(j);
	j = call(ml_prom_flags, NULL, &st, NULL);
	json_t *d = data_of(j, st);
	cr_assert_str_eq(json_string_value(json_object_get(d, "query.lookback-delta")), "30s");
	cr_assert_str_eq(json_string_value(json_object_get(d, "query.max-samples")), "0");
	cr_assert_str_eq(json_string_value(json_object_get(d, "query.max-concurrency")), "2");
	json_decref(j);
}
