/*
 * Tests for exporters/zipkin_api.c: Zipkin v2 JSON rendering (decode ->
 * render -> decode gives the same span; OTLP spans get Zipkin's tags and
 * endpoints) and the /api/v2 query handlers against a real trace store in a
 * temporary directory, with the JSON answers parsed back by jansson.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "core/arena.h"
#include "core/buf.h"
#include "exporters/zipkin_api.h"
#include "ingest/zipkin.h"
#include "store/env.h"
#include "store/trace_store.h"

/* ------------------------------------------------------------------------
 * Helpers
 */

struct decoded {
	struct ml_arena *arena;
	struct ml_span_batch batch;
	struct ml_ingest_report report;
};

static void decode(struct decoded *d, const char *json, size_t len)
{
	struct ml_err err;
	d->arena = ml_arena_create(0);
	cr_assert_not_null(d->arena);
	ml_span_batch_init(&d->batch, d->arena);
	int rc = ml_zipkin_decode_json((const uint8_t *)json, len, &d->batch, &d->report, &err);
	cr_assert_eq(rc, 0, "%s", err.msg);
	cr_assert_eq(d->report.rejected, 0, "%s", d->report.first_reject);
}

static json_t *parse(const struct ml_buf *b)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)b->data, b->len, JSON_DECODE_ANY, &jerr);
	cr_assert_not_null(j, "not JSON (%s): %.*s", jerr.text, (int)b->len, (const char *)b->data);
	return j;
}

static const char *jstr(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static void render_array(struct ml_buf *out, const struct ml_span *spans, size_t n)
{
	ml_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(out, ',');
		ml_zipkin_span_json(out, &spans[i]);
	}
	ml_buf_putc(out, ']');
	cr_assert(ml_buf_ok(out));
}

static bool attrs_equal(const struct ml_attrs *a, const struct ml_attrs *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++) {
		const struct ml_attr *x = &a->items[i];
		bool found = false;
		for (uint32_t j = 0; j < b->n && !found; j++)
			found = ml_str_eq(x->key, b->items[j].key) && x->type == b->items[j].type &&
				ml_str_eq(x->v.s, b->items[j].v.s);
		if (!found)
			return false;
	}
	return true;
}

static bool endpoints_equal(const struct ml_endpoint *a, const struct ml_endpoint *b)
{
	return ml_str_eq(a->service_name, b->service_name) && ml_str_eq(a->ipv4, b->ipv4) &&
	       ml_str_eq(a->ipv6, b->ipv6) && a->port == b->port;
}

static void assert_same_span(const struct ml_span *a, const struct ml_span *b, size_t i)
{
	cr_assert_eq(memcmp(a->trace_id, b->trace_id, 16), 0, "span %zu trace id", i);
	cr_assert_eq(memcmp(a->span_id, b->span_id, 8), 0, "span %zu id", i);
	cr_assert_eq(memcmp(a->parent_id, b->parent_id, 8), 0, "span %zu parent", i);
	cr_assert(ml_str_eq(a->name, b->name), "span %zu name", i);
	cr_assert_eq(a->kind, b->kind, "span %zu kind", i);
	cr_assert_eq(a->start_ns, b->start_ns, "span %zu start", i);
	cr_assert_eq(a->end_ns, b->end_ns, "span %zu end", i);
	cr_assert_eq(a->shared, b->shared, "span %zu shared", i);
	cr_assert_eq(a->status_code, b->status_code, "span %zu status", i);
	cr_assert(ml_str_eq(a->status_message, b->status_message), "span %zu status message", i);
	cr_assert(ml_str_eq(a->resource->service_name, b->resource->service_name), "span %zu svc", i);
	cr_assert(endpoints_equal(&a->local, &b->local), "span %zu localEndpoint", i);
	cr_assert(endpoints_equal(&a->remote, &b->remote), "span %zu remoteEndpoint", i);
	cr_assert(attrs_equal(&a->attrs, &b->attrs), "span %zu tags", i);
	cr_assert_eq(a->n_events, b->n_events, "span %zu annotations", i);
	for (uint32_t e = 0; e < a->n_events; e++) {
		cr_assert_eq(a->events[e].time_ns, b->events[e].time_ns);
		cr_assert(ml_str_eq(a->events[e].name, b->events[e].name));
	}
}

/* ------------------------------------------------------------------------
 * Fixture data: Bookinfo as Envoy under Istio reports it.
 *
 * Trace A (128-bit id, base time T = 1700000000 s): ingress into productpage,
 * productpage calls details (200) and reviews (503, error), reviews calls
 * ratings (503, error on both halves).
 * Trace B (64-bit id, T + 10 s): productpage calls details.
 */
#define TRACE_A "4e441824ec2b6a44ffdc9bb9a6453df3"
#define TRACE_B "00f067aa0ba902b7"
#define T_US 1700000000000000ull
#define T_MS 1700000000000ull

static const char BOOKINFO_A[] =
	"[{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000001\",\"kind\":\"SERVER\","
	"\"name\":\"productpage.default.svc.cluster.local:9080/productpage\","
	"\"timestamp\":1700000000000000,\"duration\":20000,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\",\"ipv4\":\"10.244.0.12\",\"port\":9080},"
	"\"tags\":{\"component\":\"proxy\",\"http.method\":\"GET\",\"http.status_code\":\"200\","
	"\"upstream_cluster\":\"inbound|9080||\",\"istio.canonical_service\":\"productpage\"}},"
	"{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000002\",\"parentId\":\"1000000000000001\","
	"\"kind\":\"CLIENT\",\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000001000,\"duration\":3000,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\",\"ipv4\":\"10.244.0.12\"},"
	"\"tags\":{\"component\":\"proxy\",\"http.method\":\"GET\",\"http.status_code\":\"200\","
	"\"upstream_cluster\":\"outbound|9080||details.default.svc.cluster.local\"}},"
	"{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000003\",\"parentId\":\"1000000000000002\","
	"\"kind\":\"SERVER\",\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000001500,\"duration\":2000,"
	"\"localEndpoint\":{\"serviceName\":\"details.default\",\"ipv4\":\"10.244.0.15\",\"port\":9080},"
	"\"tags\":{\"component\":\"proxy\",\"http.method\":\"GET\",\"http.status_code\":\"200\"}},"
	"{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000004\",\"parentId\":\"1000000000000001\","
	"\"kind\":\"CLIENT\",\"name\":\"reviews.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000005000,\"duration\":12000,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\",\"ipv4\":\"10.244.0.12\"},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"503\",\"error\":\"true\"}},"
	"{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000005\",\"parentId\":\"1000000000000004\","
	"\"kind\":\"SERVER\",\"name\":\"reviews.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000005500,\"duration\":11000,"
	"\"localEndpoint\":{\"serviceName\":\"reviews.default\",\"ipv4\":\"10.244.0.20\",\"port\":9080},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"503\",\"error\":\"true\"}},"
	"{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000006\",\"parentId\":\"1000000000000005\","
	"\"kind\":\"CLIENT\",\"name\":\"ratings.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000006000,\"duration\":9000,"
	"\"localEndpoint\":{\"serviceName\":\"reviews.default\",\"ipv4\":\"10.244.0.20\"},"
	"\"remoteEndpoint\":{\"serviceName\":\"ratings.default\",\"ipv4\":\"10.244.0.30\",\"port\":9080},"
	"\"annotations\":[{\"timestamp\":1700000000006100,\"value\":\"ws\"}],"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"503\",\"error\":\"true\"}},"
	"{\"traceId\":\"" TRACE_A "\",\"id\":\"1000000000000007\",\"parentId\":\"1000000000000006\","
	"\"kind\":\"SERVER\",\"name\":\"ratings.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000006500,\"duration\":8000,"
	"\"localEndpoint\":{\"serviceName\":\"ratings.default\",\"ipv6\":\"fd00::30\",\"port\":9080},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"503\","
	"\"error\":\"upstream connect error\"}}]";

static const char BOOKINFO_B[] =
	"[{\"traceId\":\"" TRACE_B "\",\"id\":\"2000000000000001\",\"kind\":\"SERVER\","
	"\"name\":\"productpage.default.svc.cluster.local:9080/productpage\","
	"\"timestamp\":1700000010000000,\"duration\":5000,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\"},"
	"\"tags\":{\"http.method\":\"POST\",\"http.status_code\":\"200\"}},"
	"{\"traceId\":\"" TRACE_B "\",\"id\":\"2000000000000002\",\"parentId\":\"2000000000000001\","
	"\"kind\":\"CLIENT\",\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000010001000,\"duration\":1000,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\"},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"200\"}},"
	"{\"traceId\":\"" TRACE_B "\",\"id\":\"2000000000000003\",\"parentId\":\"2000000000000002\","
	"\"kind\":\"SERVER\",\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000010001200,\"duration\":700,\"shared\":false,"
	"\"localEndpoint\":{\"serviceName\":\"details.default\"},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"200\"}}]";

/* ------------------------------------------------------------------------
 * Rendering
 */

Test(zipkin_render, decode_render_decode_gives_the_same_spans)
{
	const char *bodies[] = {BOOKINFO_A, BOOKINFO_B};
	for (size_t k = 0; k < 2; k++) {
		struct decoded a, b;
		struct ml_buf out = ML_BUF_INIT;
		decode(&a, bodies[k], strlen(bodies[k]));
		render_array(&out, a.batch.spans, a.batch.n);
		decode(&b, (const char *)out.data, out.len);
		cr_assert_eq(a.batch.n, b.batch.n);
		for (size_t i = 0; i < a.batch.n; i++)
			assert_same_span(&a.batch.spans[i], &b.batch.spans[i], i);
		ml_buf_free(&out);
		ml_arena_destroy(a.arena);
		ml_arena_destroy(b.arena);
	}
}

Test(zipkin_render, fields_as_zipkin_writes_them)
{
	struct decoded d;
	struct ml_buf out = ML_BUF_INIT;
	decode(&d, BOOKINFO_B, strlen(BOOKINFO_B));
	render_array(&out, d.batch.spans, d.batch.n);
	json_t *arr = parse(&out);
	cr_assert_eq(json_array_size(arr), 3);
	const json_t *root = json_array_get(arr, 0), *srv = json_array_get(arr, 2);
	/* A 64-bit trace id renders as 16 hex digits, as it was sent. */
	cr_assert_str_eq(jstr(root, "traceId"), TRACE_B);
	cr_assert_str_eq(jstr(root, "id"), "2000000000000001");
	cr_assert_null(json_object_get(root, "parentId"));
	cr_assert_str_eq(jstr(root, "kind"), "SERVER");
	cr_assert_eq(json_integer_value(json_object_get(root, "timestamp")), 1700000010000000);
	cr_assert_eq(json_integer_value(json_object_get(root, "duration")), 5000);
	cr_assert_str_eq(jstr(json_object_get(root, "localEndpoint"), "serviceName"),
			 "productpage.default");
	cr_assert_null(json_object_get(root, "remoteEndpoint"));
	cr_assert_null(json_object_get(root, "annotations"));
	cr_assert_null(json_object_get(root, "shared"));
	cr_assert_str_eq(jstr(json_object_get(root, "tags"), "http.method"), "POST");
	cr_assert_str_eq(jstr(srv, "parentId"), "2000000000000002");
	/* A non-error Zipkin span gets no status tags added. */
	cr_assert_eq(json_object_size(json_object_get(srv, "tags")), 2);
	json_decref(arr);
	ml_buf_free(&out);
	ml_arena_destroy(d.arena);
}

/* An OTLP span, as the OTLP decoder builds it: typed attributes, scope, no endpoints. */
Test(zipkin_render, otlp_span_gets_zipkin_tags_and_endpoints)
{
	struct ml_attr rattrs[] = {
		{ML_STR("service.name"), ML_VAL_STRING, {.s = ML_STR("checkout")}},
		{ML_STR("k8s.pod.name"), ML_VAL_STRING, {.s = ML_STR("checkout-7d9f")}},
		{ML_STR("http.method"), ML_VAL_STRING, {.s = ML_STR("resource-loses")}},
	};
	struct ml_resource res = {ML_STR("checkout"), {rattrs, 3}, ML_STR("io.opentelemetry.okhttp"),
				  ML_STR("1.2.0")};
	struct ml_attr attrs[] = {
		{ML_STR("http.method"), ML_VAL_STRING, {.s = ML_STR("GET")}},
		{ML_STR("http.status_code"), ML_VAL_INT, {.i = 502}},
		{ML_STR("retry"), ML_VAL_BOOL, {.b = true}},
		{ML_STR("ratio"), ML_VAL_DOUBLE, {.d = 0.25}},
		{ML_STR("peer.service"), ML_VAL_STRING, {.s = ML_STR("payments")}},
		{ML_STR("net.sock.peer.addr"), ML_VAL_STRING, {.s = ML_STR("2001:db8::7")}},
		{ML_STR("server.port"), ML_VAL_INT, {.i = 8443}},
	};
	struct ml_event ev = {1700000000000500000ull, ML_STR("retrying"), {NULL, 0}};
	struct ml_span s;
	memset(&s, 0, sizeof(s));
	for (int i = 0; i < 16; i++)
		s.trace_id[i] = (uint8_t)(0x10 + i);
	s.span_id[7] = 0x42;
	s.kind = ML_SPAN_KIND_CLIENT;
	s.name = ML_STR("POST /pay");
	s.start_ns = 1700000000000000000ull;
	s.end_ns = s.start_ns + 1500; /* 1.5 µs: rounds down to 1 */
	s.status_code = ML_STATUS_ERROR;
	s.status_message = ML_STR("bad gateway");
	s.resource = &res;
	s.attrs.items = attrs;
	s.attrs.n = 7;
	s.events = &ev;
	s.n_events = 1;

	struct ml_buf out = ML_BUF_INIT;
	ml_zipkin_span_json(&out, &s);
	json_t *j = parse(&out);
	cr_assert_str_eq(jstr(j, "traceId"), "101112131415161718191a1b1c1d1e1f");
	cr_assert_str_eq(jstr(j, "id"), "0000000000000042");
	cr_assert_str_eq(jstr(j, "kind"), "CLIENT");
	cr_assert_eq(json_integer_value(json_object_get(j, "duration")), 1);
	const json_t *local = json_object_get(j, "localEndpoint");
	cr_assert_str_eq(jstr(local, "serviceName"), "checkout");
	const json_t *remote = json_object_get(j, "remoteEndpoint");
	cr_assert_not_null(remote, "%.*s", (int)out.len, (const char *)out.data);
	cr_assert_str_eq(jstr(remote, "serviceName"), "payments");
	cr_assert_str_eq(jstr(remote, "ipv6"), "2001:db8::7");
	cr_assert_eq(json_integer_value(json_object_get(remote, "port")), 8443);
	const json_t *ann = json_array_get(json_object_get(j, "annotations"), 0);
	cr_assert_eq(json_integer_value(json_object_get(ann, "timestamp")), 1700000000000500);
	cr_assert_str_eq(jstr(ann, "value"), "retrying");

	const json_t *tags = json_object_get(j, "tags");
	/* Every value is a string; span attributes win over resource ones. */
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)tags, key, val)
		cr_assert(json_is_string(val), "tag %s is not a string", key);
	cr_assert_str_eq(jstr(tags, "http.method"), "GET");
	cr_assert_str_eq(jstr(tags, "http.status_code"), "502");
	cr_assert_str_eq(jstr(tags, "retry"), "true");
	cr_assert_str_eq(jstr(tags, "ratio"), "0.25");
	cr_assert_str_eq(jstr(tags, "k8s.pod.name"), "checkout-7d9f");
	cr_assert_null(json_object_get(tags, "service.name"));
	cr_assert_str_eq(jstr(tags, "otel.status_code"), "ERROR");
	cr_assert_str_eq(jstr(tags, "error"), "bad gateway");
	cr_assert_str_eq(jstr(tags, "otel.scope.name"), "io.opentelemetry.okhttp");
	cr_assert_str_eq(jstr(tags, "otel.scope.version"), "1.2.0");
	json_decref(j);

	/* INTERNAL has no Zipkin kind; an empty name and a zero duration are omitted. */
	s.kind = ML_SPAN_KIND_INTERNAL;
	s.name = ml_str_make(NULL, 0);
	s.end_ns = s.start_ns;
	s.status_code = ML_STATUS_OK;
	s.attrs.n = 1;
	s.n_events = 0;
	ml_buf_clear(&out);
	ml_zipkin_span_json(&out, &s);
	j = parse(&out);
	cr_assert_null(json_object_get(j, "kind"));
	cr_assert_null(json_object_get(j, "name"));
	cr_assert_null(json_object_get(j, "duration"));
	cr_assert_null(json_object_get(j, "remoteEndpoint"));
	cr_assert_null(json_object_get(j, "annotations"));
	tags = json_object_get(j, "tags");
	cr_assert_str_eq(jstr(tags, "otel.status_code"), "OK");
	cr_assert_null(json_object_get(tags, "error"));
	json_decref(j);
	ml_buf_free(&out);
}

/* ------------------------------------------------------------------------
 * Handlers against a real store
 */

static char dir[64];
static struct ml_store *store;
static struct ml_app app;
static struct ml_arena *req_arena;

static void push(const char *json)
{
	struct decoded d;
	struct ml_err err;
	decode(&d, json, strlen(json));
	cr_assert_eq(ml_trace_store_append(app.traces, &d.batch, &err), 0, "%s", err.msg);
	ml_arena_destroy(d.arena);
}

static void setup(void)
{
	struct ml_err err;
	snprintf(dir, sizeof(dir), "/tmp/meshlens-zipkin-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	struct ml_store_options so = {.path = dir, .max_bytes = 64u << 20};
	store = ml_store_open(&so, &err);
	cr_assert_not_null(store, "%s", err.msg);
	struct ml_trace_store_options to;
	memset(&to, 0, sizeof(to));
	memset(&app, 0, sizeof(app));
	app.store = store;
	app.traces = ml_trace_store_open(store, &to, &err);
	cr_assert_not_null(app.traces, "%s", err.msg);
	req_arena = ml_arena_create(0);
	push(BOOKINFO_A);
	push(BOOKINFO_B);
}

static void teardown(void)
{
	char cmd[128];
	ml_arena_destroy(req_arena);
	ml_trace_store_close(app.traces);
	ml_store_close(store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

/*
 * Calls a handler with "name=value" parameters (up to 8), returns the status;
 * the body is left in *resp (the caller frees it with ml_buf_free).
 */
static int call(ml_http_handler h, const char *path_rest, struct ml_http_response *resp,
		const char *const *params)
{
	struct ml_http_param ps[8];
	size_t n = 0;
	for (; params != NULL && params[n] != NULL; n++) {
		const char *eq = strchr(params[n], '=');
		cr_assert_not_null(eq);
		ps[n].name = ml_arena_strndup(req_arena, params[n], (size_t)(eq - params[n]));
		ps[n].value = eq + 1;
	}
	struct ml_http_request req;
	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.path = "/api/v2/test";
	req.content_type = "";
	req.params = ps;
	req.n_params = n;
	req.path_rest = path_rest;
	req.arena = req_arena;
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	h(&req, resp, &app);
	return resp->status;
}

static json_t *call_json(ml_http_handler h, const char *path_rest, const char *const *params)
{
	struct ml_http_response resp;
	int status = call(h, path_rest, &resp, params);
	cr_assert_eq(status, 200, "status %d: %.*s", status, (int)resp.body.len,
		     (const char *)resp.body.data);
	cr_assert_str_eq(resp.content_type, "application/json");
	json_t *j = parse(&resp.body);
	ml_buf_free(&resp.body);
	return j;
}

/* Asserts a 4xx/5xx text answer containing msg. */
static void call_fails(ml_http_handler h, const char *path_rest, const char *const *params,
		       int want_status, const char *msg)
{
	struct ml_http_response resp;
	int status = call(h, path_rest, &resp, params);
	cr_assert_eq(status, want_status, "status %d: %.*s", status, (int)resp.body.len,
		     (const char *)resp.body.data);
	cr_assert(strncmp(resp.content_type, "text/plain", 10) == 0);
	ml_buf_putc(&resp.body, '\0');
	cr_assert(strstr((const char *)resp.body.data, msg) != NULL, "got \"%s\", want \"%s\"",
		  (const char *)resp.body.data, msg);
	ml_buf_free(&resp.body);
}

static void assert_strings(const json_t *arr, const char *const *want, size_t n)
{
	cr_assert(json_is_array(arr));
	cr_assert_eq(json_array_size(arr), n, "got %zu strings", json_array_size(arr));
	for (size_t i = 0; i < n; i++)
		cr_assert_str_eq(json_string_value(json_array_get(arr, i)), want[i]);
}

/* The set of trace ids (first span's traceId) of a /traces answer, in order, comma-joined. */
static void trace_ids(const json_t *arr, char *out, size_t size)
{
	out[0] = '\0';
	cr_assert(json_is_array(arr));
	for (size_t i = 0; i < json_array_size(arr); i++) {
		const json_t *t = json_array_get(arr, i);
		cr_assert(json_is_array(t) && json_array_size(t) > 0);
		const char *id = jstr(json_array_get(t, 0), "traceId");
		for (size_t k = 1; k < json_array_size(t); k++)
			cr_assert_str_eq(jstr(json_array_get(t, k), "traceId"), id);
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? "," : "", id);
	}
}

#define P(...) ((const char *const[]){__VA_ARGS__, NULL})
#define WINDOW "endTs=1700000100000", "lookback=3600000"

TestSuite(zipkin_api, .init = setup, .fini = teardown);

Test(zipkin_api, services_sorted)
{
	json_t *j = call_json(ml_zipkin_services, NULL, NULL);
	assert_strings(j, (const char *const[]){"details.default", "productpage.default",
						"ratings.default", "reviews.default"},
		       4);
	json_decref(j);
}

Test(zipkin_api, span_names_deduplicated_across_kinds)
{
	json_t *j = call_json(ml_zipkin_spans, NULL, P("serviceName=productpage.default"));
	assert_strings(j, (const char *const[]){"details.default.svc.cluster.local:9080/*",
						"productpage.default.svc.cluster.local:9080/productpage",
						"reviews.default.svc.cluster.local:9080/*"},
		       3);
	json_decref(j);
	j = call_json(ml_zipkin_spans, NULL, P("serviceName=nobody"));
	assert_strings(j, NULL, 0);
	json_decref(j);
	call_fails(ml_zipkin_spans, NULL, NULL, 400, "serviceName is required");
	call_fails(ml_zipkin_spans, NULL, P("serviceName="), 400, "serviceName is required");
}

Test(zipkin_api, remote_services)
{
	json_t *j = call_json(ml_zipkin_remote_services, NULL, P("serviceName=reviews.default"));
	assert_strings(j, (const char *const[]){"ratings.default"}, 1);
	json_decref(j);
	call_fails(ml_zipkin_remote_services, NULL, NULL, 400, "serviceName is required");
}

Test(zipkin_api, traces_by_service_and_span_name_newest_first)
{
	char ids[256];
	json_t *j = call_json(ml_zipkin_traces, NULL, P("serviceName=productpage.default", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_B "," TRACE_A);
	/* Whole traces come back: trace A has all seven spans. */
	cr_assert_eq(json_array_size(json_array_get(j, 1)), 7);
	json_decref(j);

	j = call_json(ml_zipkin_traces, NULL, P("serviceName=reviews.default", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_A);
	json_decref(j);

	j = call_json(ml_zipkin_traces, NULL,
		      P("serviceName=productpage.default", "spanName=all", "limit=1", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_B);
	json_decref(j);

	j = call_json(ml_zipkin_traces, NULL,
		      P("serviceName=details.default",
			"spanName=reviews.default.svc.cluster.local:9080/*", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, "");
	json_decref(j);

	/* No service: every trace in the window. */
	j = call_json(ml_zipkin_traces, NULL, P(WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_B "," TRACE_A);
	json_decref(j);
}

Test(zipkin_api, traces_annotation_query_and_durations)
{
	char ids[256];
	json_t *j = call_json(ml_zipkin_traces, NULL, P("annotationQuery=error", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_A);
	json_decref(j);

	j = call_json(ml_zipkin_traces, NULL, P("annotationQuery=http.method=POST", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_B);
	json_decref(j);

	/* A bare term also matches an annotation value. */
	j = call_json(ml_zipkin_traces, NULL, P("annotationQuery=ws", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_A);
	json_decref(j);

	/* Zipkin semantics: the criteria may be met by different spans of the service
	 * (the details call is fine, the reviews call has the error). */
	j = call_json(ml_zipkin_traces, NULL,
		      P("serviceName=productpage.default",
			"spanName=details.default.svc.cluster.local:9080/*",
			"annotationQuery=error and http.status_code=200", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_A);
	json_decref(j);

	/* ...but only spans of that service count. */
	j = call_json(ml_zipkin_traces, NULL,
		      P("serviceName=details.default", "annotationQuery=error", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, "");
	json_decref(j);

	/* Durations in µs: only trace A has a span of 10 ms or more. */
	j = call_json(ml_zipkin_traces, NULL, P("minDuration=10000", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_A);
	json_decref(j);
	j = call_json(ml_zipkin_traces, NULL,
		      P("serviceName=details.default", "minDuration=500", "maxDuration=1000", WINDOW));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_B);
	json_decref(j);

	/* The time window: endTs before trace B leaves only A. */
	j = call_json(ml_zipkin_traces, NULL, P("endTs=1700000005000", "lookback=60000"));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, TRACE_A);
	json_decref(j);
}

Test(zipkin_api, traces_default_window_is_the_last_day)
{
	char ids[256], body[1024];
	/* The fixture is from 2023: outside the default window (now - 1 day). */
	json_t *j = call_json(ml_zipkin_traces, NULL, NULL);
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, "");
	json_decref(j);

	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t us = (uint64_t)now.tv_sec * 1000000u - 60000000u; /* a minute ago */
	snprintf(body, sizeof(body),
		 "[{\"traceId\":\"aaaaaaaaaaaaaaaa\",\"id\":\"3000000000000001\",\"kind\":\"SERVER\","
		 "\"name\":\"recent\",\"timestamp\":%llu,\"duration\":10,"
		 "\"localEndpoint\":{\"serviceName\":\"productpage.default\"}}]",
		 (unsigned long long)us);
	push(body);
	j = call_json(ml_zipkin_traces, NULL, P("serviceName=productpage.default"));
	trace_ids(j, ids, sizeof(ids));
	cr_assert_str_eq(ids, "aaaaaaaaaaaaaaaa");
	json_decref(j);
}

Test(zipkin_api, traces_bad_parameters_are_400_naming_them)
{
	call_fails(ml_zipkin_traces, NULL, P("limit=ten"), 400, "parameter limit");
	call_fails(ml_zipkin_traces, NULL, P("limit=0"), 400, "parameter limit");
	call_fails(ml_zipkin_traces, NULL, P("minDuration=-5"), 400, "parameter minDuration");
	call_fails(ml_zipkin_traces, NULL, P("endTs=yesterday"), 400, "parameter endTs");
	call_fails(ml_zipkin_traces, NULL, P("lookback=1h"), 400, "parameter lookback");
	call_fails(ml_zipkin_traces, NULL, P("minDuration=100", "maxDuration=50"), 400,
		   "parameter maxDuration");
	call_fails(ml_zipkin_traces, NULL, P("annotationQuery==x"), 400,
		   "parameter annotationQuery");
}

Test(zipkin_api, trace_by_id)
{
	json_t *j = call_json(ml_zipkin_trace, TRACE_A, NULL);
	cr_assert_eq(json_array_size(j), 7);
	/* Sorted by start time: the ingress span first. */
	cr_assert_str_eq(jstr(json_array_get(j, 0), "id"), "1000000000000001");
	const json_t *ratings = json_array_get(j, 6);
	cr_assert_str_eq(jstr(ratings, "id"), "1000000000000007");
	cr_assert_str_eq(jstr(json_object_get(ratings, "localEndpoint"), "ipv6"), "fd00::30");
	cr_assert_str_eq(jstr(json_object_get(ratings, "tags"), "error"), "upstream connect error");
	json_decref(j);

	/* A 64-bit id is found as sent, upper case, or padded to 32 digits. */
	const char *forms[] = {TRACE_B, "00F067AA0BA902B7", "0000000000000000" TRACE_B};
	for (size_t i = 0; i < 3; i++) {
		j = call_json(ml_zipkin_trace, forms[i], NULL);
		cr_assert_eq(json_array_size(j), 3, "form %zu", i);
		cr_assert_str_eq(jstr(json_array_get(j, 0), "traceId"), TRACE_B);
		json_decref(j);
	}

	call_fails(ml_zipkin_trace, "ffffffffffffffffffffffffffffffff", NULL, 404, "not found");
	call_fails(ml_zipkin_trace, "abc", NULL, 400, "16 or 32 hex digits, got 3");
	call_fails(ml_zipkin_trace, "4e441824ec2b6a44ffdc9bb9a6453dfz", NULL, 400, "non-hex");
	call_fails(ml_zipkin_trace, "", NULL, 400, "16 or 32 hex digits, got 0");
}

Test(zipkin_api, trace_many_skips_missing)
{
	json_t *j = call_json(ml_zipkin_trace_many, NULL,
			      P("traceIds=" TRACE_A ",ffffffffffffffff," TRACE_B "," TRACE_A));
	cr_assert_eq(json_array_size(j), 2);
	cr_assert_str_eq(jstr(json_array_get(json_array_get(j, 0), 0), "traceId"), TRACE_A);
	cr_assert_str_eq(jstr(json_array_get(json_array_get(j, 1), 0), "traceId"), TRACE_B);
	json_decref(j);
	j = call_json(ml_zipkin_trace_many, NULL, P("traceIds=ffffffffffffffff"));
	cr_assert_eq(json_array_size(j), 0);
	json_decref(j);
	call_fails(ml_zipkin_trace_many, NULL, NULL, 400, "traceIds is required");
	call_fails(ml_zipkin_trace_many, NULL, P("traceIds=,"), 400, "traceIds is required");
	call_fails(ml_zipkin_trace_many, NULL, P("traceIds=" TRACE_A ",xyz"), 400,
		   "16 or 32 hex digits, got 3");
}

static const json_t *find_link(const json_t *deps, const char *parent, const char *child)
{
	for (size_t i = 0; i < json_array_size(deps); i++) {
		const json_t *d = json_array_get(deps, i);
		if (strcmp(jstr(d, "parent"), parent) == 0 && strcmp(jstr(d, "child"), child) == 0)
			return d;
	}
	return NULL;
}

Test(zipkin_api, dependencies)
{
	json_t *j = call_json(ml_zipkin_dependencies, NULL, P(WINDOW));
	cr_assert_eq(json_array_size(j), 3, "%zu links", json_array_size(j));
	const json_t *pd = find_link(j, "productpage.default", "details.default");
	const json_t *pr = find_link(j, "productpage.default", "reviews.default");
	const json_t *rr = find_link(j, "reviews.default", "ratings.default");
	cr_assert(pd && pr && rr);
	cr_assert_eq(json_integer_value(json_object_get(pd, "callCount")), 2);
	/* errorCount is omitted when zero, as Zipkin does. */
	cr_assert_null(json_object_get(pd, "errorCount"));
	cr_assert_eq(json_integer_value(json_object_get(pr, "callCount")), 1);
	cr_assert_eq(json_integer_value(json_object_get(pr, "errorCount")), 1);
	cr_assert_eq(json_integer_value(json_object_get(rr, "errorCount")), 1);
	json_decref(j);

	/* A window that holds only trace A. */
	j = call_json(ml_zipkin_dependencies, NULL, P("endTs=1700000005000", "lookback=60000"));
	pd = find_link(j, "productpage.default", "details.default");
	cr_assert_not_null(pd);
	cr_assert_eq(json_integer_value(json_object_get(pd, "callCount")), 1);
	json_decref(j);

	call_fails(ml_zipkin_dependencies, NULL, P("endTs=soon"), 400, "parameter endTs");
}

Test(zipkin_api, no_store_is_503)
{
	struct ml_app none;
	struct ml_http_response resp;
	struct ml_http_request req;
	memset(&none, 0, sizeof(none));
	memset(&req, 0, sizeof(req));
	memset(&resp, 0, sizeof(resp));
	req.arena = req_arena;
	ml_zipkin_services(&req, &resp, &none);
	cr_assert_eq(resp.status, 503);
	ml_buf_free(&resp.body);
}
