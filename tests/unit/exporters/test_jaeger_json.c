/*
 * Tests for exporters/jaeger_json.c: traces built by hand (OTLP-like with
 * typed attributes, events and links; Zipkin-like with shared span ids) are
 * rendered and parsed back with jansson, checking every field the Jaeger UI
 * and Grafana's Jaeger data source read.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/buf.h"
#include "exporters/jaeger_json.h"

static struct ml_arena *arena;

static void setup(void)
{
	arena = ml_arena_create(0);
	cr_assert_not_null(arena);
}

static void teardown(void)
{
	ml_arena_destroy(arena);
}

TestSuite(jaeger_json, .init = setup, .fini = teardown);

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

static struct ml_attr attr_int(const char *k, int64_t v)
{
	struct ml_attr a = {.key = ml_str_make(k, strlen(k)), .type = ML_VAL_INT};
	a.v.i = v;
	return a;
}

static json_t *render(const struct ml_trace *t)
{
	struct ml_buf b = ML_BUF_INIT;
	json_error_t jerr;
	cr_assert_eq(ml_jaeger_trace_json(&b, t, arena), 0);
	cr_assert(ml_buf_ok(&b));
	json_t *j = json_loadb((const char *)b.data, b.len, 0, &jerr);
	cr_assert_not_null(j, "invalid JSON (%s): %.*s", jerr.text, (int)b.len, (const char *)b.data);
	ml_buf_free(&b);
	return j;
}

static const char *sget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_string(v), "field %s is not a string", k);
	return json_string_value(v);
}

static json_int_t iget(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	cr_assert(json_is_integer(v), "field %s is not an integer", k);
	return json_integer_value(v);
}

/* The tag with this key; asserts there is exactly one. */
static json_t *tag(json_t *tags, const char *key)
{
	json_t *found = NULL;
	size_t i;
	json_t *t;
	cr_assert(json_is_array(tags));
	json_array_foreach(tags, i, t) {
		if (strcmp(sget(t, "key"), key) == 0) {
			cr_assert_null(found, "tag %s appears twice", key);
			found = t;
		}
	}
	return found;
}

static json_t *span_by_name(json_t *trace, const char *name)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(trace, "spans"), i, s)
		if (strcmp(sget(s, "operationName"), name) == 0)
			return s;
	cr_assert_fail("no span %s", name);
	return NULL;
}

/* Every span's processID names an entry of processes (Grafana needs it). */
static void assert_processes_complete(json_t *trace)
{
	json_t *procs = json_object_get(trace, "processes");
	size_t i;
	json_t *s;
	cr_assert(json_is_object(procs));
	json_array_foreach(json_object_get(trace, "spans"), i, s) {
		json_t *p = json_object_get(procs, sget(s, "processID"));
		cr_assert_not_null(p, "span %zu has processID %s not in processes", i, sget(s, "processID"));
		cr_assert(json_is_string(json_object_get(p, "serviceName")));
		cr_assert(json_is_array(json_object_get(p, "tags")));
	}
}

Test(jaeger_json, trace_id_width)
{
	uint8_t id[16];
	struct ml_buf b = ML_BUF_INIT;
	set_id(id, 16, "00000000000000000123456789abcdef");
	ml_jaeger_trace_id_json(&b, id);
	ml_buf_putc(&b, ' ');
	set_id(id, 16, "0000000000000001000000000000000f");
	ml_jaeger_trace_id_json(&b, id);
	cr_assert_eq(b.len, 18 + 1 + 34);
	cr_assert(memcmp(b.data, "\"0123456789abcdef\" \"0000000000000001000000000000000f\"", b.len) == 0,
		  "got %.*s", (int)b.len, (const char *)b.data);
	ml_buf_free(&b);
}

/* An OTLP-like trace of two services with every attribute type, events and links. */
Test(jaeger_json, otlp_trace)
{
	struct ml_attr res_a_attrs[] = {attr_str("service.name", "frontend"), attr_str("host.name", "h1"),
					attr_int("process.pid", 42)};
	struct ml_attr res_a2_attrs[] = {attr_str("service.name", "frontend"), attr_str("host.name", "h1"),
					 attr_int("process.pid", 42)};
	struct ml_attr res_b_attrs[] = {attr_str("service.name", "backend")};
	struct ml_resource res_a = {ML_STR("frontend"), {res_a_attrs, 3}, ML_STR("io.otel.http"), ML_STR("1.2")};
	/* Same content, another batch: must be the same process. */
	struct ml_resource res_a2 = {ML_STR("frontend"), {res_a2_attrs, 3}, ML_STR(""), ML_STR("")};
	struct ml_resource res_b = {ML_STR("backend"), {res_b_attrs, 1}, ML_STR(""), ML_STR("")};

	static const uint8_t blob[] = {0, 1, 2, 0xff};
	struct ml_attr root_attrs[8] = {attr_str("http.method", "GET"), attr_int("http.status_code", 200),
					attr_int("big", (int64_t)1 << 60)};
	root_attrs[3] = (struct ml_attr){.key = ML_STR("ratio"), .type = ML_VAL_DOUBLE, .v.d = 0.25};
	root_attrs[4] = (struct ml_attr){.key = ML_STR("cached"), .type = ML_VAL_BOOL, .v.b = true};
	root_attrs[5] = (struct ml_attr){.key = ML_STR("blob"), .type = ML_VAL_BYTES,
					 .v.s = ml_str_make((const char *)blob, sizeof(blob))};
	root_attrs[6] = (struct ml_attr){.key = ML_STR("list"), .type = ML_VAL_JSON, .v.s = ML_STR("[1,2]")};
	root_attrs[7] = attr_str("utf8", "caf\xc3\xa9 \"q\"");
	struct ml_attr ev1_attrs[] = {attr_str("cache.key", "u:1")};
	struct ml_attr ev2_attrs[] = {attr_str("event", "from-attr")};
	struct ml_event events[] = {
		{1700000000124000000ULL, ML_STR("cache miss"), {ev1_attrs, 1}},
		{1700000000125000999ULL, ML_STR("named"), {ev2_attrs, 1}},
	};
	struct ml_attr child_attrs[] = {attr_str("error", "false"), attr_str("peer.service", "backend")};
	struct ml_link links[1];
	memset(links, 0, sizeof(links));
	set_id(links[0].trace_id, 16, "000000000000000000000000000000aa");
	set_id(links[0].span_id, 8, "00000000000000bb");

	struct ml_span spans[3];
	memset(spans, 0, sizeof(spans));
	for (int i = 0; i < 3; i++)
		set_id(spans[i].trace_id, 16, "4bf92f3577b34da6a3ce929d0e0e4736");
	/* root: frontend server */
	set_id(spans[0].span_id, 8, "00f067aa0ba902b7");
	spans[0].name = ML_STR("GET /");
	spans[0].kind = ML_SPAN_KIND_SERVER;
	spans[0].status_code = ML_STATUS_OK;
	spans[0].flags = 0x101; /* sampled, plus OTLP's has-is-remote bit */
	spans[0].start_ns = 1700000000123456789ULL;
	spans[0].end_ns = spans[0].start_ns + 5500000;
	spans[0].resource = &res_a;
	spans[0].attrs = (struct ml_attrs){root_attrs, 8};
	spans[0].events = events;
	spans[0].n_events = 2;
	/* child: frontend client with an error and a link */
	set_id(spans[1].span_id, 8, "1111111111111111");
	set_id(spans[1].parent_id, 8, "00f067aa0ba902b7");
	spans[1].name = ML_STR("call backend");
	spans[1].kind = ML_SPAN_KIND_CLIENT;
	spans[1].status_code = ML_STATUS_ERROR;
	spans[1].status_message = ML_STR("boom");
	spans[1].start_ns = 1700000000124000000ULL;
	spans[1].end_ns = 1700000000127000000ULL;
	spans[1].resource = &res_a2;
	spans[1].attrs = (struct ml_attrs){child_attrs, 2};
	spans[1].links = links;
	spans[1].n_links = 1;
	/* grandchild: backend server, internal details */
	set_id(spans[2].span_id, 8, "2222222222222222");
	set_id(spans[2].parent_id, 8, "1111111111111111");
	spans[2].name = ML_STR("handle");
	spans[2].kind = ML_SPAN_KIND_SERVER;
	spans[2].trace_state = ML_STR("vendor=x");
	spans[2].dropped_attrs = 3;
	spans[2].start_ns = 1700000000124500000ULL;
	spans[2].end_ns = 1700000000126000000ULL;
	spans[2].resource = &res_b;

	struct ml_trace t = {.spans = spans, .n = 3};
	memcpy(t.trace_id, spans[0].trace_id, 16);
	json_t *j = render(&t);

	cr_assert_str_eq(sget(j, "traceID"), "4bf92f3577b34da6a3ce929d0e0e4736");
	cr_assert(json_is_null(json_object_get(j, "warnings")));
	cr_assert_eq(json_array_size(json_object_get(j, "spans")), 3);
	cr_assert_eq(json_object_size(json_object_get(j, "processes")), 2,
		     "two services, identical resources merged");
	assert_processes_complete(j);

	json_t *root = span_by_name(j, "GET /");
	cr_assert_str_eq(sget(root, "traceID"), "4bf92f3577b34da6a3ce929d0e0e4736");
	cr_assert_str_eq(sget(root, "spanID"), "00f067aa0ba902b7");
	cr_assert_eq(json_array_size(json_object_get(root, "references")), 0);
	cr_assert_eq(iget(root, "startTime"), 1700000000123456LL);
	cr_assert_eq(iget(root, "duration"), 5500);
	cr_assert_eq(iget(root, "flags"), 1);
	cr_assert(json_is_null(json_object_get(root, "warnings")));
	json_t *tags = json_object_get(root, "tags");
	cr_assert_str_eq(sget(tag(tags, "http.method"), "type"), "string");
	cr_assert_str_eq(sget(tag(tags, "http.method"), "value"), "GET");
	cr_assert_str_eq(sget(tag(tags, "http.status_code"), "type"), "int64");
	cr_assert_eq(iget(tag(tags, "http.status_code"), "value"), 200);
	cr_assert_str_eq(sget(tag(tags, "big"), "value"), "1152921504606846976",
			 "int64 beyond 2^53 goes as a string, as Jaeger does");
	cr_assert_str_eq(sget(tag(tags, "ratio"), "type"), "float64");
	cr_assert_float_eq(json_real_value(json_object_get(tag(tags, "ratio"), "value")), 0.25, 1e-12);
	cr_assert_str_eq(sget(tag(tags, "cached"), "type"), "bool");
	cr_assert(json_is_true(json_object_get(tag(tags, "cached"), "value")));
	cr_assert_str_eq(sget(tag(tags, "blob"), "type"), "binary");
	cr_assert_str_eq(sget(tag(tags, "blob"), "value"), "AAEC/w==");
	cr_assert_str_eq(sget(tag(tags, "list"), "type"), "string");
	cr_assert_str_eq(sget(tag(tags, "list"), "value"), "[1,2]");
	cr_assert_str_eq(sget(tag(tags, "utf8"), "value"), "caf\xc3\xa9 \"q\"");
	cr_assert_str_eq(sget(tag(tags, "span.kind"), "value"), "server");
	cr_assert_str_eq(sget(tag(tags, "otel.status_code"), "value"), "OK");
	cr_assert_null(tag(tags, "error"));
	cr_assert_str_eq(sget(tag(tags, "otel.scope.name"), "value"), "io.otel.http");
	cr_assert_str_eq(sget(tag(tags, "otel.scope.version"), "value"), "1.2");
	json_t *logs = json_object_get(root, "logs");
	cr_assert_eq(json_array_size(logs), 2);
	json_t *log0 = json_array_get(logs, 0);
	cr_assert_eq(iget(log0, "timestamp"), 1700000000124000LL);
	json_t *f0 = json_object_get(log0, "fields");
	cr_assert_eq(json_array_size(f0), 2);
	cr_assert_str_eq(sget(json_array_get(f0, 0), "key"), "event");
	cr_assert_str_eq(sget(json_array_get(f0, 0), "value"), "cache miss");
	cr_assert_str_eq(sget(tag(f0, "cache.key"), "value"), "u:1");
	json_t *f1 = json_object_get(json_array_get(logs, 1), "fields");
	cr_assert_eq(iget(json_array_get(logs, 1), "timestamp"), 1700000000125000LL);
	cr_assert_str_eq(sget(tag(f1, "event"), "value"), "from-attr",
			 "an \"event\" attribute wins over the event name");

	json_t *child = span_by_name(j, "call backend");
	json_t *refs = json_object_get(child, "references");
	cr_assert_eq(json_array_size(refs), 2);
	cr_assert_str_eq(sget(json_array_get(refs, 0), "refType"), "CHILD_OF");
	cr_assert_str_eq(sget(json_array_get(refs, 0), "spanID"), "00f067aa0ba902b7");
	cr_assert_str_eq(sget(json_array_get(refs, 0), "traceID"), "4bf92f3577b34da6a3ce929d0e0e4736");
	cr_assert_str_eq(sget(json_array_get(refs, 1), "refType"), "FOLLOWS_FROM");
	cr_assert_str_eq(sget(json_array_get(refs, 1), "traceID"), "00000000000000aa");
	cr_assert_str_eq(sget(json_array_get(refs, 1), "spanID"), "00000000000000bb");
	cr_assert_eq(iget(child, "duration"), 3000);
	tags = json_object_get(child, "tags");
	cr_assert_str_eq(sget(tag(tags, "error"), "type"), "bool", "status ERROR overrides error=\"false\"");
	cr_assert(json_is_true(json_object_get(tag(tags, "error"), "value")));
	cr_assert_str_eq(sget(tag(tags, "otel.status_code"), "value"), "ERROR");
	cr_assert_str_eq(sget(tag(tags, "otel.status_description"), "value"), "boom");
	cr_assert_str_eq(sget(tag(tags, "span.kind"), "value"), "client");
	cr_assert_null(tag(tags, "otel.scope.name"), "res_a2 has no scope");
	cr_assert_str_eq(sget(child, "processID"), sget(root, "processID"));

	json_t *gc = span_by_name(j, "handle");
	tags = json_object_get(gc, "tags");
	cr_assert_str_eq(sget(tag(tags, "w3c.tracestate"), "value"), "vendor=x");
	cr_assert_eq(iget(tag(tags, "otel.dropped_attributes_count"), "value"), 3);
	cr_assert_null(tag(tags, "otel.status_code"), "status UNSET has no tag");
	cr_assert_str_neq(sget(gc, "processID"), sget(root, "processID"));
	cr_assert_eq(json_array_size(json_object_get(gc, "logs")), 0);

	json_t *pa = json_object_get(json_object_get(j, "processes"), sget(root, "processID"));
	cr_assert_str_eq(sget(pa, "serviceName"), "frontend");
	json_t *ptags = json_object_get(pa, "tags");
	cr_assert_eq(json_array_size(ptags), 2, "service.name is not repeated as a tag");
	cr_assert_str_eq(sget(tag(ptags, "host.name"), "value"), "h1");
	cr_assert_eq(iget(tag(ptags, "process.pid"), "value"), 42);
	json_t *pb = json_object_get(json_object_get(j, "processes"), sget(gc, "processID"));
	cr_assert_str_eq(sget(pb, "serviceName"), "backend");
	json_decref(j);
}

/*
 * Zipkin with shared span context: the server half reuses the client's span
 * id. Jaeger gives it a fresh id (the first unused one counting from 1) and
 * makes it the client's child; the server's own children follow it.
 */
Test(jaeger_json, zipkin_shared_span_ids)
{
	struct ml_resource gw = {ML_STR("gateway"), {NULL, 0}, ML_STR(""), ML_STR("")};
	struct ml_resource details = {ML_STR("details"), {NULL, 0}, ML_STR(""), ML_STR("")};
	struct ml_span s[4];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 4; i++) {
		set_id(s[i].trace_id, 16, "463ac35c9f6413ad");
		s[i].start_ns = 1700000000000000000ULL + (uint64_t)i * 1000000;
		s[i].end_ns = s[i].start_ns + 500000;
	}
	set_id(s[0].span_id, 8, "0000000000000001"); /* id 1 is taken: the new id must be 2 */
	s[0].name = ML_STR("ingress");
	s[0].kind = ML_SPAN_KIND_SERVER;
	s[0].resource = &gw;
	s[0].local = (struct ml_endpoint){ML_STR("gateway"), ML_STR("10.0.0.1"), ML_STR(""), 0};

	set_id(s[1].span_id, 8, "00000000000000c1");
	set_id(s[1].parent_id, 8, "0000000000000001");
	s[1].name = ML_STR("egress details");
	s[1].kind = ML_SPAN_KIND_CLIENT;
	s[1].resource = &gw;
	s[1].local = s[0].local;
	s[1].remote = (struct ml_endpoint){ML_STR("details"), ML_STR("10.0.0.2"), ML_STR(""), 9080};

	set_id(s[2].span_id, 8, "00000000000000c1");
	set_id(s[2].parent_id, 8, "0000000000000001");
	s[2].name = ML_STR("details.default.svc:9080/*");
	s[2].kind = ML_SPAN_KIND_SERVER;
	s[2].shared = true;
	s[2].resource = &details;
	s[2].local = (struct ml_endpoint){ML_STR("details"), ML_STR("10.0.0.2"), ML_STR(""), 9080};

	set_id(s[3].span_id, 8, "00000000000000d1");
	set_id(s[3].parent_id, 8, "00000000000000c1");
	s[3].name = ML_STR("db query");
	s[3].kind = ML_SPAN_KIND_CLIENT;
	s[3].resource = &details;
	s[3].local = (struct ml_endpoint){ML_STR("details"), ML_STR("10.0.0.3"), ML_STR(""), 0};

	struct ml_trace t = {.spans = s, .n = 4};
	memcpy(t.trace_id, s[0].trace_id, 16);
	json_t *j = render(&t);

	cr_assert_str_eq(sget(j, "traceID"), "463ac35c9f6413ad", "64-bit ids stay 16 hex digits");
	assert_processes_complete(j);
	cr_assert_eq(json_object_size(json_object_get(j, "processes")), 3,
		     "gateway@10.0.0.1, details@10.0.0.2, details@10.0.0.3");

	json_t *client = span_by_name(j, "egress details");
	json_t *server = span_by_name(j, "details.default.svc:9080/*");
	json_t *db = span_by_name(j, "db query");
	cr_assert_str_eq(sget(client, "spanID"), "00000000000000c1");
	cr_assert_str_eq(sget(server, "spanID"), "0000000000000002");
	json_t *sref = json_object_get(server, "references");
	cr_assert_eq(json_array_size(sref), 1);
	cr_assert_str_eq(sget(json_array_get(sref, 0), "spanID"), "00000000000000c1");
	cr_assert_str_eq(sget(json_array_get(json_object_get(db, "references"), 0), "spanID"),
			 "0000000000000002", "the server's child follows the renamed server span");
	cr_assert_str_eq(sget(json_array_get(json_object_get(client, "references"), 0), "spanID"),
			 "0000000000000001");

	json_t *ctags = json_object_get(client, "tags");
	cr_assert_str_eq(sget(tag(ctags, "peer.service"), "value"), "details");
	cr_assert_str_eq(sget(tag(ctags, "peer.ipv4"), "value"), "10.0.0.2");
	cr_assert_eq(iget(tag(ctags, "peer.port"), "value"), 9080);

	json_t *procs = json_object_get(j, "processes");
	json_t *pgw = json_object_get(procs, sget(client, "processID"));
	cr_assert_str_eq(sget(pgw, "serviceName"), "gateway");
	cr_assert_str_eq(sget(tag(json_object_get(pgw, "tags"), "ip"), "value"), "10.0.0.1");
	json_t *pdb = json_object_get(procs, sget(db, "processID"));
	cr_assert_str_eq(sget(pdb, "serviceName"), "details");
	cr_assert_str_eq(sget(tag(json_object_get(pdb, "tags"), "ip"), "value"), "10.0.0.3");
	cr_assert_str_neq(sget(db, "processID"), sget(server, "processID"));
	json_decref(j);
}

/* Without a client twin, duplicate ids are left alone (only Jaeger's case is adjusted). */
Test(jaeger_json, duplicate_ids_without_client_unchanged)
{
	struct ml_resource r = {ML_STR("svc"), {NULL, 0}, ML_STR(""), ML_STR("")};
	struct ml_span s[2];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 2; i++) {
		set_id(s[i].trace_id, 16, "0af7651916cd43dd8448eb211c80319c");
		set_id(s[i].span_id, 8, "b7ad6b7169203331");
		s[i].kind = ML_SPAN_KIND_SERVER;
		s[i].name = ML_STR("op");
		s[i].resource = &r;
		s[i].start_ns = 2000;
		s[i].end_ns = 1000; /* end before start must not wrap around */
	}
	struct ml_trace t = {.spans = s, .n = 2};
	memcpy(t.trace_id, s[0].trace_id, 16);
	json_t *j = render(&t);
	size_t i;
	json_t *sp;
	json_array_foreach(json_object_get(j, "spans"), i, sp) {
		cr_assert_str_eq(sget(sp, "spanID"), "b7ad6b7169203331");
		cr_assert_eq(iget(sp, "duration"), 0);
		cr_assert_eq(iget(sp, "startTime"), 2);
		cr_assert_str_eq(sget(sp, "processID"), "p1");
	}
	json_decref(j);
}

/* Running out of memory is an error code, never a crash or a partial success. */
Test(jaeger_json, out_of_memory)
{
	struct ml_resource r = {ML_STR("svc"), {NULL, 0}, ML_STR(""), ML_STR("")};
	struct ml_span s[64];
	memset(s, 0, sizeof(s));
	for (int i = 0; i < 64; i++) {
		set_id(s[i].trace_id, 16, "0af7651916cd43dd8448eb211c80319c");
		s[i].span_id[7] = (uint8_t)(i + 1);
		s[i].kind = i % 2 ? ML_SPAN_KIND_CLIENT : ML_SPAN_KIND_SERVER;
		s[i].name = ML_STR("op");
		s[i].resource = &r;
	}
	s[1].span_id[7] = 1; /* a shared id: the renaming path allocates too */
	struct ml_trace t = {.spans = s, .n = 64};
	memcpy(t.trace_id, s[0].trace_id, 16);
	int failures = 0;
	for (long n = 0; n < 8; n++) {
		struct ml_arena *small = ml_arena_create(512);
		struct ml_buf b = ML_BUF_INIT;
		cr_assert_not_null(small);
		ml_alloc_fail_after(n);
		int rc = ml_jaeger_trace_json(&b, &t, small);
		ml_alloc_fail_after(-1);
		if (rc != 0) {
			cr_assert_eq(rc, ML_ENOMEM);
			failures++;
		} else if (ml_buf_ok(&b)) {
			json_t *j = json_loadb((const char *)b.data, b.len, 0, NULL);
			cr_assert_not_null(j, "a success must be complete JSON");
			json_decref(j);
		}
		ml_buf_free(&b);
		ml_arena_destroy(small);
	}
	cr_assert_gt(failures, 0, "the injected failures were seen");
}

/* A span without a resource still gets a process, so Grafana can draw it. */
Test(jaeger_json, span_without_resource)
{
	struct ml_span s;
	memset(&s, 0, sizeof(s));
	set_id(s.trace_id, 16, "0af7651916cd43dd8448eb211c80319c");
	set_id(s.span_id, 8, "b7ad6b7169203331");
	s.name = ML_STR("op");
	struct ml_trace t = {.spans = &s, .n = 1};
	memcpy(t.trace_id, s.trace_id, 16);
	json_t *j = render(&t);
	assert_processes_complete(j);
	json_t *p = json_object_get(json_object_get(j, "processes"), "p1");
	cr_assert_str_eq(sget(p, "serviceName"), "unknown_service");
	json_decref(j);
}
