/*
 * Tests for exporters/jaeger_api.c: a real trace store in a temporary
 * directory is filled with hand-built multi-service traces (OTLP-like with
 * typed attributes, events and links; Zipkin-like with a shared span id),
 * then every handler is called with a hand-built request and its JSON is
 * parsed back with jansson, checking what the Jaeger UI and Grafana's Jaeger
 * data source read, and every error path.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/alloc.h"
#include "core/arena.h"
#include "exporters/jaeger_api.h"
#include "store/env.h"
#include "store/trace_store.h"

/* Fixed times: 2023-11-14T22:13:20Z, in µs. */
#define BASE_US 1700000000000000ULL
#define T1 "4bf92f3577b34da6a3ce929d0e0e4736"
#define T2 "463ac35c9f6413ad"
#define T3 "0af7651916cd43dd8448eb211c80319c"

static char dir[64];
static struct ml_store *store;
static struct ml_app app;
static uint64_t now_us; /* trace T3 is "recent": default time windows must find it */
static int last_status;  /* of the last call(), for assert_error(call(...), ...) */

/* ---- fixture ---------------------------------------------------------- */

static void set_id(uint8_t *out, size_t n, const char *hex)
{
	cr_assert_eq(ml_hex_decode(out, n, hex, strlen(hex)), 0, "bad test id %s", hex);
}

static struct ml_attr attr_str(const char *k, const char *v)
{
	struct ml_attr a = {.key = ml_str_make(k, strlen(k)), .type = ML_VAL_STRING};
	a.v.s = ml_str_make(v, strlen(v));
	return a;
}

static struct ml_attrs attrs1(struct ml_arena *a, struct ml_attr x)
{
	struct ml_attr *p = ml_arena_alloc(a, sizeof(*p));
	cr_assert_not_null(p);
	*p = x;
	return (struct ml_attrs){p, 1};
}

static struct ml_resource *resource(struct ml_arena *a, const char *service)
{
	struct ml_resource *r = ml_arena_calloc(a, 1, sizeof(*r));
	cr_assert_not_null(r);
	r->service_name = ml_str_make(service, strlen(service));
	r->attrs = attrs1(a, attr_str("service.name", service));
	return r;
}

static struct ml_span *add(struct ml_span_batch *b, const char *trace, const char *id,
			   const char *parent, const char *name, uint8_t kind,
			   const struct ml_resource *res, uint64_t start_us, uint64_t dur_us)
{
	struct ml_span *s = ml_span_batch_add(b);
	cr_assert_not_null(s);
	set_id(s->trace_id, 16, trace);
	set_id(s->span_id, 8, id);
	if (parent != NULL)
		set_id(s->parent_id, 8, parent);
	s->name = ml_str_make(name, strlen(name));
	s->kind = kind;
	s->resource = res;
	s->start_ns = start_us * 1000;
	s->end_ns = (start_us + dur_us) * 1000;
	s->flags = 1;
	return s;
}

static void push(struct ml_span_batch *b)
{
	struct ml_err err = {{0}};
	cr_assert_eq(ml_trace_store_append(app.traces, b, &err), 0, "append: %s", err.msg);
}

static void fill(void)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_span_batch b;
	struct ml_span *s;
	cr_assert_not_null(a);

	/* T1, OTLP: frontend server -> frontend client (ERROR) -> backend server. */
	ml_span_batch_init(&b, a);
	struct ml_resource *fe = resource(a, "frontend");
	fe->scope_name = ML_STR("io.otel.http");
	struct ml_resource *be = resource(a, "backend");
	s = add(&b, T1, "00f067aa0ba902b7", NULL, "GET /cart", ML_SPAN_KIND_SERVER, fe, BASE_US, 50000);
	s->attrs = attrs1(a, (struct ml_attr){.key = ML_STR("http.status_code"), .type = ML_VAL_INT, .v.i = 200});
	s->status_code = ML_STATUS_OK;
	s = add(&b, T1, "1111111111111111", "00f067aa0ba902b7", "GET /api/items", ML_SPAN_KIND_CLIENT,
		fe, BASE_US + 1000, 30000);
	s->status_code = ML_STATUS_ERROR;
	s->status_message = ML_STR("upstream reset");
	push(&b);
	/* The backend's half arrives in another batch, as from another process. */
	ml_span_batch_init(&b, a);
	s = add(&b, T1, "2222222222222222", "1111111111111111", "GET /api/items", ML_SPAN_KIND_SERVER,
		be, BASE_US + 2000, 25000);
	s->attrs = attrs1(a, attr_str("db.system", "postgres"));
	s->events = ml_arena_calloc(a, 1, sizeof(*s->events));
	s->events[0] = (struct ml_event){(BASE_US + 3000) * 1000, ML_STR("query start"),
					 attrs1(a, attr_str("db.statement", "SELECT 1"))};
	s->n_events = 1;
	s->links = ml_arena_calloc(a, 1, sizeof(*s->links));
	set_id(s->links[0].trace_id, 16, T3);
	set_id(s->links[0].span_id, 8, "b7ad6b7169203331");
	s->n_links = 1;
	push(&b);

	/* T2, Zipkin with shared span context: gateway client and details server share id c1. */
	ml_span_batch_init(&b, a);
	struct ml_resource *gw = resource(a, "gateway");
	struct ml_resource *de = resource(a, "details");
	s = add(&b, T2, "00000000000000a1", NULL, "ingress", ML_SPAN_KIND_SERVER, gw, BASE_US + 1000000, 10000);
	s->local = (struct ml_endpoint){ML_STR("gateway"), ML_STR("10.0.0.1"), ML_STR(""), 0};
	s = add(&b, T2, "00000000000000c1", "00000000000000a1", "egress details", ML_SPAN_KIND_CLIENT, gw,
		BASE_US + 1001000, 8000);
	s->local = (struct ml_endpoint){ML_STR("gateway"), ML_STR("10.0.0.1"), ML_STR(""), 0};
	s->remote = (struct ml_endpoint){ML_STR("details"), ML_STR(""), ML_STR(""), 9080};
	s->attrs = attrs1(a, attr_str("http.status_code", "500"));
	s = add(&b, T2, "00000000000000c1", "00000000000000a1", "details.default:9080/*",
		ML_SPAN_KIND_SERVER, de, BASE_US + 1002000, 6000);
	s->shared = true;
	s->local = (struct ml_endpoint){ML_STR("details"), ML_STR("10.0.0.2"), ML_STR(""), 9080};
	s->attrs = attrs1(a, attr_str("error", "true"));
	s->status_code = ML_STATUS_ERROR;
	push(&b);

	/* T3: a recent frontend trace. */
	ml_span_batch_init(&b, a);
	add(&b, T3, "b7ad6b7169203331", NULL, "GET /recent", ML_SPAN_KIND_SERVER, fe, now_us - 60000000, 1000);
	push(&b);
	ml_arena_destroy(a);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb, (void)flag, (void)ftw;
	return remove(path);
}

static void setup(void)
{
	struct ml_err err = {{0}};
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_us = (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000;

	strcpy(dir, "/tmp/ml_jaeger_api_XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	struct ml_store_options so = {.path = dir, .max_bytes = 1ULL << 30};
	store = ml_store_open(&so, &err);
	cr_assert_not_null(store, "store: %s", err.msg);
	struct ml_trace_store_options to;
	memset(&to, 0, sizeof(to));
	memset(&app, 0, sizeof(app));
	app.store = store;
	app.traces = ml_trace_store_open(store, &to, &err);
	cr_assert_not_null(app.traces, "trace store: %s", err.msg);
	fill();
}

static void teardown(void)
{
	ml_trace_store_close(app.traces);
	ml_store_close(store);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

TestSuite(jaeger_api, .init = setup, .fini = teardown);

/* ---- calling handlers ------------------------------------------------- */

/*
 * Calls handler h with path_rest and (name, value) parameter pairs ending
 * with NULL; returns the parsed body and the status in *status.
 */
static json_t *call(ml_http_handler h, const char *path_rest, int *status, ...)
{
	struct ml_http_param params[16];
	size_t n = 0;
	va_list ap;
	va_start(ap, status);
	for (const char *name; (name = va_arg(ap, const char *)) != NULL;) {
		cr_assert_lt(n, 16);
		params[n].name = name;
		params[n].value = va_arg(ap, const char *);
		n++;
	}
	va_end(ap);

	struct ml_http_request req;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/api/test";
	req.content_type = "";
	req.params = params;
	req.n_params = n;
	req.path_rest = path_rest;
	req.arena = ml_arena_create(0);
	cr_assert_not_null(req.arena);
	struct ml_http_response resp = {.status = 200, .content_type = "application/json"};

	h(&req, &resp, &app);

	json_error_t jerr;
	json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, &jerr);
	cr_assert_not_null(j, "invalid JSON (%s): %.*s", jerr.text, (int)resp.body.len,
			   (const char *)resp.body.data);
	cr_assert_str_eq(resp.content_type, "application/json");
	*status = resp.status;
	last_status = resp.status;
	ml_buf_free(&resp.body);
	ml_arena_destroy(req.arena);
	return j;
}

static const char *sget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_string(v), "field %s is not a string", k);
	return json_string_value(v);
}

/* The envelope of a success: data present, limit/offset 0, errors null. */
static json_t *ok_data(json_t *j, int status)
{
	cr_assert_eq(status, 200, "status %d: %s", status, json_dumps(j, JSON_COMPACT));
	cr_assert(json_is_null(json_object_get(j, "errors")));
	cr_assert_eq(json_integer_value(json_object_get(j, "limit")), 0);
	cr_assert_eq(json_integer_value(json_object_get(j, "offset")), 0);
	cr_assert(json_is_integer(json_object_get(j, "total")));
	return json_object_get(j, "data");
}

/*
 * An error answer of the last call: the status, data null, one error with
 * that code and a message containing needle.
 */
static void assert_error(json_t *j, int want, const char *needle)
{
	int status = last_status;
	cr_assert_eq(status, want, "status %d, want %d: %s", status, want, json_dumps(j, JSON_COMPACT));
	cr_assert(json_is_null(json_object_get(j, "data")));
	json_t *errs = json_object_get(j, "errors");
	cr_assert_eq(json_array_size(errs), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(errs, 0), "code")), want);
	const char *msg = sget(json_array_get(errs, 0), "msg");
	cr_assert(strstr(msg, needle) != NULL, "message \"%s\" lacks \"%s\"", msg, needle);
	json_decref(j);
}

static int str_array_eq(json_t *a, const char *const *want, size_t n)
{
	if (!json_is_array(a) || json_array_size(a) != n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(json_string_value(json_array_get(a, i)), want[i]) != 0)
			return 0;
	return 1;
}

/* Trace ids of a data array, in order, joined with ','. */
static const char *ids_of(json_t *data, char *buf, size_t cap)
{
	size_t i;
	json_t *t;
	buf[0] = '\0';
	json_array_foreach(data, i, t) {
		if (i)
			strncat(buf, ",", cap - strlen(buf) - 1);
		strncat(buf, sget(t, "traceID"), cap - strlen(buf) - 1);
	}
	return buf;
}

/* Every span: ids, integer times, typed tags, logs, and a process that exists. */
static void assert_trace_shape(json_t *t)
{
	json_t *procs = json_object_get(t, "processes");
	json_t *spans = json_object_get(t, "spans");
	size_t i;
	json_t *s;
	cr_assert(json_is_object(procs));
	cr_assert_gt(json_array_size(spans), 0);
	json_array_foreach(spans, i, s) {
		cr_assert_str_eq(sget(s, "traceID"), sget(t, "traceID"));
		cr_assert_eq(strlen(sget(s, "spanID")), 16);
		cr_assert(json_is_integer(json_object_get(s, "startTime")));
		cr_assert(json_is_integer(json_object_get(s, "duration")));
		cr_assert(json_is_integer(json_object_get(s, "flags")));
		cr_assert(json_is_array(json_object_get(s, "references")));
		cr_assert(json_is_array(json_object_get(s, "tags")));
		cr_assert(json_is_array(json_object_get(s, "logs")));
		cr_assert_not_null(json_object_get(procs, sget(s, "processID")), "span %zu: no process", i);
	}
}

static json_t *span_named(json_t *t, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(t, "spans"), i, s)
		if (strcmp(sget(s, "operationName"), name) == 0)
			return s;
	cr_assert_fail("no span %s", name);
	return NULL;
}

static json_t *tag(json_t *span, const char *key)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(span, "tags"), i, t)
		if (strcmp(sget(t, "key"), key) == 0)
			return t;
	return NULL;
}

static char us_buf[8][32];
static const char *us(int slot, uint64_t v)
{
	snprintf(us_buf[slot], sizeof(us_buf[slot]), "%llu", (unsigned long long)v);
	return us_buf[slot];
}

/* ---- services and operations ----------------------------------------- */

Test(jaeger_api, services_sorted)
{
	int st;
	json_t *j = call(ml_jaeger_services, "", &st, NULL);
	static const char *const want[] = {"backend", "details", "frontend", "gateway"};
	json_t *data = ok_data(j, st);
	cr_assert(str_array_eq(data, want, 4), "got %s", json_dumps(data, JSON_COMPACT));
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 4);
	json_decref(j);
}

Test(jaeger_api, store_not_open_is_503)
{
	int st;
	struct ml_trace_store *ts = app.traces;
	app.traces = NULL;
	json_t *j = call(ml_jaeger_services, "", &st, NULL);
	app.traces = ts;
	assert_error(j, 503, "not open");
}

Test(jaeger_api, service_operations_legacy)
{
	int st;
	json_t *j = call(ml_jaeger_service_operations, "frontend/operations", &st, NULL);
	static const char *const want[] = {"GET /api/items", "GET /cart", "GET /recent"};
	json_t *data = ok_data(j, st);
	cr_assert(str_array_eq(data, want, 3), "got %s", json_dumps(data, JSON_COMPACT));
	cr_assert_eq(json_integer_value(json_object_get(j, "total")), 3);
	json_decref(j);

	j = call(ml_jaeger_service_operations, "nosuch/operations", &st, NULL);
	cr_assert_eq(json_array_size(ok_data(j, st)), 0);
	json_decref(j);

	assert_error(call(ml_jaeger_service_operations, "frontend", &st, NULL), 404, "no such endpoint");
	assert_error(call(ml_jaeger_service_operations, "frontend/operationsx", &st, NULL), 404,
		     "/api/services/frontend/operationsx");
	assert_error(call(ml_jaeger_service_operations, "/operations", &st, NULL), 404, "no such endpoint");
}

Test(jaeger_api, operations_with_kind)
{
	int st;
	json_t *j = call(ml_jaeger_operations, "", &st, "service", "frontend", NULL);
	json_t *data = ok_data(j, st);
	cr_assert_eq(json_array_size(data), 3);
	cr_assert_str_eq(sget(json_array_get(data, 0), "name"), "GET /api/items");
	cr_assert_str_eq(sget(json_array_get(data, 0), "spanKind"), "client");
	cr_assert_str_eq(sget(json_array_get(data, 1), "name"), "GET /cart");
	cr_assert_str_eq(sget(json_array_get(data, 1), "spanKind"), "server");
	json_decref(j);

	j = call(ml_jaeger_operations, "", &st, "service", "frontend", "spanKind", "client", NULL);
	data = ok_data(j, st);
	cr_assert_eq(json_array_size(data), 1);
	cr_assert_str_eq(sget(json_array_get(data, 0), "name"), "GET /api/items");
	json_decref(j);

	assert_error(call(ml_jaeger_operations, "", &st, NULL), 400, "parameter 'service' is required");
	assert_error(call(ml_jaeger_operations, "", &st, "service", "frontend", "spanKind", "SERVER", NULL), 400, "'spanKind'");
}

/* ---- search ----------------------------------------------------------- */

Test(jaeger_api, search_by_service_and_window)
{
	int st;
	char buf[256];
	json_t *j = call(ml_jaeger_search, "", &st, "service", "frontend", "start", us(0, BASE_US - 1),
			 "end", us(1, BASE_US + 10000000), "limit", "20", NULL);
	json_t *data = ok_data(j, st);
	cr_assert_str_eq(ids_of(data, buf, sizeof(buf)), T1);
	json_t *t = json_array_get(data, 0);
	assert_trace_shape(t);
	cr_assert_eq(json_array_size(json_object_get(t, "spans")), 3, "the whole trace, both batches");
	cr_assert_eq(json_object_size(json_object_get(t, "processes")), 2);
	json_t *root = span_named(t, "GET /cart");
	cr_assert_eq(json_integer_value(json_object_get(root, "startTime")), (json_int_t)BASE_US);
	cr_assert_eq(json_integer_value(json_object_get(root, "duration")), 50000);
	cr_assert_eq(json_integer_value(json_object_get(tag(root, "http.status_code"), "value")), 200);
	cr_assert_str_eq(sget(tag(root, "http.status_code"), "type"), "int64");
	cr_assert_str_eq(sget(tag(root, "otel.scope.name"), "value"), "io.otel.http");
	json_t *be = NULL;
	size_t k;
	json_t *sp;
	json_array_foreach(json_object_get(t, "spans"), k, sp)
		if (strcmp(sget(sp, "spanID"), "2222222222222222") == 0)
			be = sp;
	cr_assert_not_null(be);
	cr_assert_str_eq(sget(be, "operationName"), "GET /api/items");
	json_t *refs = json_object_get(be, "references");
	cr_assert_eq(json_array_size(refs), 2);
	cr_assert_str_eq(sget(json_array_get(refs, 0), "refType"), "CHILD_OF");
	cr_assert_str_eq(sget(json_array_get(refs, 0), "spanID"), "1111111111111111");
	cr_assert_str_eq(sget(json_array_get(refs, 1), "refType"), "FOLLOWS_FROM");
	cr_assert_str_eq(sget(json_array_get(refs, 1), "traceID"), T3);
	json_t *log = json_array_get(json_object_get(be, "logs"), 0);
	cr_assert_eq(json_integer_value(json_object_get(log, "timestamp")), (json_int_t)(BASE_US + 3000));
	json_t *f = json_object_get(log, "fields");
	cr_assert_str_eq(sget(json_array_get(f, 0), "key"), "event");
	cr_assert_str_eq(sget(json_array_get(f, 0), "value"), "query start");
	cr_assert_str_eq(sget(json_array_get(f, 1), "value"), "SELECT 1");
	json_t *procs = json_object_get(t, "processes");
	cr_assert_str_eq(sget(json_object_get(procs, sget(be, "processID")), "serviceName"), "backend");
	cr_assert_str_eq(sget(json_object_get(procs, sget(root, "processID")), "serviceName"), "frontend");
	json_decref(j);
}

Test(jaeger_api, search_filters)
{
	int st;
	char buf[256];
	const char *s0 = us(0, BASE_US - 1), *e0 = us(1, BASE_US + 10000000);
	struct {
		const char *name, *value, *service, *want;
	} cases[] = {
		{"operation", "GET /cart", "frontend", T1},
		{"operation", "GET /nothing", "frontend", ""},
		{"tags", "{\"error\":\"true\"}", "frontend", T1},
		{"tags", "{\"error\":\"true\"}", "backend", ""},
		{"tags", "{\"http.status_code\":\"200\"}", "frontend", T1},
		{"tag", "db.system:postgres", "backend", T1},
		{"tag", "db.system:mysql", "backend", ""},
		{"tags", "{\"http.status_code\":\"500\"}", "gateway", T2},
		{"minDuration", "40ms", "frontend", T1},
		{"minDuration", "0.06s", "frontend", ""},
		{"maxDuration", "20ms", "backend", ""},
		{"maxDuration", "1h", "backend", T1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = call(ml_jaeger_search, "", &st, "service", cases[i].service, "start", s0, "end", e0,
				 cases[i].name, cases[i].value, NULL);
		json_t *data = ok_data(j, st);
		cr_assert_str_eq(ids_of(data, buf, sizeof(buf)), cases[i].want, "case %zu: %s=%s", i,
				 cases[i].name, cases[i].value);
		json_decref(j);
	}
}

Test(jaeger_api, search_default_window_and_lookback)
{
	int st;
	char buf[256];
	/* No start/end: the last 48 hours, which holds T3 but not the 2023 traces. */
	json_t *j = call(ml_jaeger_search, "", &st, "service", "frontend", NULL);
	cr_assert_str_eq(ids_of(ok_data(j, st), buf, sizeof(buf)), T3);
	json_decref(j);
	j = call(ml_jaeger_search, "", &st, "service", "frontend", "lookback", "2h", NULL);
	cr_assert_str_eq(ids_of(ok_data(j, st), buf, sizeof(buf)), T3);
	json_decref(j);
	/* T3 started a minute ago: a 30 s lookback misses it. */
	j = call(ml_jaeger_search, "", &st, "service", "frontend", "lookback", "30s", NULL);
	cr_assert_str_eq(ids_of(ok_data(j, st), buf, sizeof(buf)), "");
	json_decref(j);
	j = call(ml_jaeger_search, "", &st, "service", "frontend", "lookback", "2d", NULL);
	cr_assert_str_eq(ids_of(ok_data(j, st), buf, sizeof(buf)), T3);
	json_decref(j);
	/* lookback=custom (Grafana) and a lookback beside an explicit start are not read. */
	j = call(ml_jaeger_search, "", &st, "service", "frontend", "lookback", "custom", "start",
		 us(0, BASE_US - 1), "end", us(1, now_us), NULL);
	cr_assert_str_eq(ids_of(ok_data(j, st), buf, sizeof(buf)), T3 "," T1, "newest first");
	json_decref(j);
	j = call(ml_jaeger_search, "", &st, "service", "frontend", "lookback", "whenever", "start",
		 us(0, BASE_US - 1), "end", us(1, now_us), "limit", "1", NULL);
	cr_assert_str_eq(ids_of(ok_data(j, st), buf, sizeof(buf)), T3, "limit 1 keeps the newest");
	json_decref(j);
}

Test(jaeger_api, search_by_trace_ids)
{
	int st;
	char buf[256];
	json_t *j = call(ml_jaeger_search, "", &st, "traceID", T1, "traceID", "ffff0000ffff0000",
			 "traceID", "0000000000000000" T2, NULL);
	cr_assert_eq(st, 200);
	json_t *data = json_object_get(j, "data");
	cr_assert_str_eq(ids_of(data, buf, sizeof(buf)), T1 "," T2);
	json_t *errs = json_object_get(j, "errors");
	cr_assert_eq(json_array_size(errs), 1);
	cr_assert_str_eq(sget(json_array_get(errs, 0), "msg"), "trace not found");
	cr_assert_str_eq(sget(json_array_get(errs, 0), "traceID"), "ffff0000ffff0000");
	json_decref(j);
}

Test(jaeger_api, search_errors)
{
	int st;
	const char *s0 = us(0, BASE_US), *e0 = us(1, BASE_US + 1000);
	assert_error(call(ml_jaeger_search, "", &st, NULL), 400, "parameter 'service' is required");
	assert_error(call(ml_jaeger_search, "", &st, "service", "", "operation", "x", NULL), 400,
		     "parameter 'service' is required");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "minDuration", "x", NULL), 400, "unable to parse param 'minDuration': time: invalid duration \"x\"");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "maxDuration", "10", NULL), 400, "'maxDuration'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "minDuration", "2s",
			  "maxDuration", "1s", NULL), 400, "'maxDuration' should be greater than 'minDuration'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "start", "yesterday", NULL), 400, "unable to parse param 'start'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "end", "-5", NULL), 400,
		     "unable to parse param 'end'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "start", e0, "end", s0, NULL), 400, "'end'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "limit", "ten", NULL), 400,
		     "unable to parse param 'limit'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "limit", "99999999999", NULL), 400, "'limit'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "lookback", "soon", NULL), 400, "unable to parse param 'lookback'");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "tags", "{\"error\":", NULL), 400, "tags");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "tags", "[1]", NULL), 400,
		     "tags");
	assert_error(call(ml_jaeger_search, "", &st, "service", "frontend", "tag", "nocolon", NULL), 400,
		     "tag");
	assert_error(call(ml_jaeger_search, "", &st, "traceID", "xyz", NULL), 400,
		     "cannot parse traceID param");
}

/* ---- trace by id ------------------------------------------------------ */

Test(jaeger_api, trace_by_id)
{
	int st;
	json_t *j = call(ml_jaeger_trace, T1, &st, NULL);
	json_t *data = ok_data(j, st);
	cr_assert_eq(json_array_size(data), 1);
	cr_assert_str_eq(sget(json_array_get(data, 0), "traceID"), T1);
	assert_trace_shape(json_array_get(data, 0));
	json_decref(j);

	/* Upper case, and Grafana's start/end hints in ms (newer) or µs (older). */
	j = call(ml_jaeger_trace, "4BF92F3577B34DA6A3CE929D0E0E4736", &st, "start",
		 us(0, BASE_US / 1000 - 1000), "end", us(1, BASE_US / 1000 + 1000), NULL);
	cr_assert_eq(json_array_size(ok_data(j, st)), 1);
	json_decref(j);
	j = call(ml_jaeger_trace, T1, &st, "start", us(0, BASE_US - 1000000), "end",
		 us(1, BASE_US + 1000000), NULL);
	cr_assert_eq(json_array_size(ok_data(j, st)), 1);
	json_decref(j);
}

Test(jaeger_api, trace_by_id_zipkin_shared)
{
	int st;
	json_t *j = call(ml_jaeger_trace, "0000000000000000" T2, &st, NULL);
	json_t *t = json_array_get(ok_data(j, st), 0);
	cr_assert_str_eq(sget(t, "traceID"), T2, "a 64-bit id is shown with 16 digits");
	assert_trace_shape(t);
	json_t *client = span_named(t, "egress details");
	json_t *server = span_named(t, "details.default:9080/*");
	cr_assert_str_neq(sget(client, "spanID"), sget(server, "spanID"), "span ids are unique");
	cr_assert_str_eq(sget(json_array_get(json_object_get(server, "references"), 0), "spanID"),
			 "00000000000000c1", "the server half hangs under the client half");
	cr_assert(json_is_true(json_object_get(tag(server, "error"), "value")));
	cr_assert_str_eq(sget(tag(client, "peer.service"), "value"), "details");
	json_t *procs = json_object_get(t, "processes");
	json_t *p = json_object_get(procs, sget(server, "processID"));
	cr_assert_str_eq(sget(p, "serviceName"), "details");
	json_t *ptags = json_object_get(p, "tags");
	size_t i;
	json_t *kv;
	int has_ip = 0;
	json_array_foreach(ptags, i, kv)
		has_ip |= strcmp(sget(kv, "key"), "ip") == 0 && strcmp(sget(kv, "value"), "10.0.0.2") == 0;
	cr_assert(has_ip, "Zipkin local endpoint address as process tag ip");
	json_decref(j);
}

Test(jaeger_api, trace_by_id_errors)
{
	int st;
	json_t *j = call(ml_jaeger_trace, "ffffffffffffffff", &st, NULL);
	cr_assert_eq(st, 404);
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	cr_assert_str_eq(text, "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,"
			       "\"errors\":[{\"code\":404,\"msg\":\"trace not found\"}]}");
	free(text);
	json_decref(j);
	assert_error(call(ml_jaeger_trace, "not-hex", &st, NULL), 400, "cannot parse traceID");
	assert_error(call(ml_jaeger_trace, "", &st, NULL), 400, "cannot parse traceID");
	assert_error(call(ml_jaeger_trace, T1 "00", &st, NULL), 400, "cannot parse traceID");
	assert_error(call(ml_jaeger_trace, T1, &st, "start", "x", NULL), 400,
		     "unable to parse param 'start'");
}

/* ---- dependencies ----------------------------------------------------- */

static json_t *dep(json_t *data, const char *parent, const char *child)
{
	size_t i;
	json_t *d;
	json_array_foreach(data, i, d)
		if (strcmp(sget(d, "parent"), parent) == 0 && strcmp(sget(d, "child"), child) == 0)
			return d;
	return NULL;
}

Test(jaeger_api, dependencies)
{
	int st;
	const char *end_ms = us(0, BASE_US / 1000 + 3600000), *lookback_ms = us(1, 7200000);
	json_t *j = call(ml_jaeger_dependencies, "", &st, "endTs", end_ms, "lookback", lookback_ms, NULL);
	json_t *data = ok_data(j, st);
	json_t *fb = dep(data, "frontend", "backend");
	cr_assert_not_null(fb, "got %s", json_dumps(data, JSON_COMPACT));
	cr_assert_eq(json_integer_value(json_object_get(fb, "callCount")), 1);
	json_t *gd = dep(data, "gateway", "details");
	cr_assert_not_null(gd, "the Zipkin shared span pair is a link");
	cr_assert_eq(json_integer_value(json_object_get(gd, "callCount")), 1);
	cr_assert_null(dep(data, "frontend", "frontend"), "calls inside one service are no link");
	json_decref(j);

	j = call(ml_jaeger_dependencies, "", &st, "endTs", end_ms, "lookback", lookback_ms, "service",
		 "gateway", NULL);
	data = ok_data(j, st);
	cr_assert_eq(json_array_size(data), 1);
	cr_assert_not_null(dep(data, "gateway", "details"));
	json_decref(j);

	/* A window before any span. */
	j = call(ml_jaeger_dependencies, "", &st, "endTs", us(2, BASE_US / 1000 - 3600000), "lookback",
		 "60000", NULL);
	cr_assert_eq(json_array_size(ok_data(j, st)), 0);
	json_decref(j);

	assert_error(call(ml_jaeger_dependencies, "", &st, "endTs", "now", NULL), 400,
		     "unable to parse param 'endTs'");
	assert_error(call(ml_jaeger_dependencies, "", &st, "lookback", "1h", NULL), 400,
		     "unable to parse param 'lookback'");
}

/* Allocation failures anywhere in a search answer 5xx, or succeed whole. */
Test(jaeger_api, search_out_of_memory)
{
	struct ml_http_param params[] = {{"service", "frontend"}, {"start", "1"}, {"end", "9999999999999999"},
					 {"tags", "{\"error\":\"true\"}"}};
	int failures = 0;
	for (long n = 0; n < 40; n++) {
		struct ml_http_request req;
		memset(&req, 0, sizeof(req));
		req.method = "GET";
		req.path = "/api/traces";
		req.content_type = "";
		req.params = params;
		req.n_params = 4;
		req.path_rest = "";
		req.arena = ml_arena_create(256);
		cr_assert_not_null(req.arena);
		struct ml_http_response resp = {.status = 200, .content_type = "application/json"};
		ml_alloc_fail_after(n);
		ml_jaeger_search(&req, &resp, &app);
		ml_alloc_fail_after(-1);
		if (resp.status == 200) {
			json_t *j = json_loadb((const char *)resp.body.data, resp.body.len, 0, NULL);
			cr_assert_not_null(j, "fail after %ld: a 200 must carry complete JSON", n);
			json_decref(j);
		} else {
			cr_assert_geq(resp.status, 500, "fail after %ld: status %d", n, resp.status);
			failures++;
		}
		ml_buf_free(&resp.body);
		ml_arena_destroy(req.arena);
	}
	cr_assert_gt(failures, 0);
}
