/*
 * Tests for collector/ingest/otlp_trace.c (and the otlp_common / json_util
 * pieces it uses): OTLP protobuf requests built with the generated protobuf-c
 * structs, OTLP JSON as the OpenTelemetry JS SDK's JSON exporter writes it,
 * every per-span rejection, malformed bodies, caps, and the response bodies.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "ingest/limits.h"
#include "ingest/otlp_trace.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__ScopeSpans ScopeSpans;
typedef Opentelemetry__Proto__Trace__V1__ResourceSpans ResourceSpans;
typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest Request;

static struct ml_arena *arena;
static struct ml_span_batch batch;
static struct ml_ingest_report report;
static struct ml_err err;

static void setup(void)
{
	arena = ml_arena_create(0);
	cr_assert_not_null(arena);
	ml_span_batch_init(&batch, arena);
	memset(&report, 0, sizeof(report));
	err.msg[0] = '\0';
}

static void teardown(void)
{
	ml_arena_destroy(arena);
}

TestSuite(otlp_proto, .init = setup, .fini = teardown);
TestSuite(otlp_json, .init = setup, .fini = teardown);
TestSuite(otlp_response);

/* ---- builders for protobuf requests ---------------------------------------- */

static uint8_t TRACE[16] = {0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
			    0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c};
static uint8_t SPAN[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74};
static uint8_t PARENT[8] = {0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73};
static uint8_t ZERO[16];

static ProtobufCBinaryData bin(uint8_t *p, size_t n)
{
	ProtobufCBinaryData b = {n, p};
	return b;
}

static void any_str(AnyValue *v, char *s)
{
	opentelemetry__proto__common__v1__any_value__init(v);
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = s;
}

static void kv_init(KeyValue *kv, char *key, AnyValue *v)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	kv->key = key;
	kv->value = v;
}

/* A valid span with the given ids (NULL parent = root). */
static void span_init(Span *s, char *name)
{
	opentelemetry__proto__trace__v1__span__init(s);
	s->trace_id = bin(TRACE, 16);
	s->span_id = bin(SPAN, 8);
	s->name = name;
	s->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
	s->start_time_unix_nano = 1700000000000000000ull;
	s->end_time_unix_nano = 1700000000250000000ull;
}

/* Packs one ResourceSpans holding the given scopes; caller frees. */
static uint8_t *pack_request(ResourceSpans **rs, size_t n_rs, size_t *len)
{
	Request req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	req.n_resource_spans = n_rs;
	req.resource_spans = rs;
	*len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
	uint8_t *buf = malloc(*len + 1);
	cr_assert_not_null(buf);
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, buf);
	return buf;
}

/* One resource, one scope, the given spans. */
static uint8_t *pack_spans(Span **spans, size_t n, size_t *len)
{
	static ScopeSpans ss;
	static ScopeSpans *ssp[1];
	static ResourceSpans rs;
	static ResourceSpans *rsp[1];
	opentelemetry__proto__trace__v1__scope_spans__init(&ss);
	ss.spans = spans;
	ss.n_spans = n;
	ssp[0] = &ss;
	opentelemetry__proto__trace__v1__resource_spans__init(&rs);
	rs.scope_spans = ssp;
	rs.n_scope_spans = 1;
	rsp[0] = &rs;
	return pack_request(rsp, 1, len);
}

static int decode_proto(const uint8_t *buf, size_t len)
{
	return ml_otlp_trace_decode_proto(buf, len, &batch, &report, &err);
}

static int decode_json(const char *text)
{
	return ml_otlp_trace_decode_json((const uint8_t *)text, strlen(text), &batch, &report,
					 &err);
}

static void assert_str(struct ml_str s, const char *want)
{
	cr_assert(ml_str_eq_cstr(s, want), "got \"%.*s\", want \"%s\"", (int)s.n, s.p, want);
}

/* ---- protobuf ------------------------------------------------------------- */

Test(otlp_proto, every_field_of_a_full_request)
{
	/* resource: service.name + one attribute of each AnyValue kind */
	AnyValue v_svc, v_int, v_bool, v_dbl, v_bytes, v_arr, v_kv, a0, a1, k0;
	KeyValue r_kv[7], kvl_item;
	KeyValue *r_kvp[7];
	AnyValue *arr_items[2] = {&a0, &a1};
	KeyValue *kvl_items[1] = {&kvl_item};
	Opentelemetry__Proto__Common__V1__ArrayValue arr =
		OPENTELEMETRY__PROTO__COMMON__V1__ARRAY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__KeyValueList kvl =
		OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE_LIST__INIT;
	uint8_t raw[3] = {0x00, 0xff, 0x10};

	any_str(&v_svc, "checkout");
	opentelemetry__proto__common__v1__any_value__init(&v_int);
	v_int.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	v_int.int_value = -42;
	opentelemetry__proto__common__v1__any_value__init(&v_bool);
	v_bool.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE;
	v_bool.bool_value = 1;
	opentelemetry__proto__common__v1__any_value__init(&v_dbl);
	v_dbl.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE;
	v_dbl.double_value = 0.25;
	opentelemetry__proto__common__v1__any_value__init(&v_bytes);
	v_bytes.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE;
	v_bytes.bytes_value = bin(raw, 3);
	any_str(&a0, "a\"b");
	opentelemetry__proto__common__v1__any_value__init(&a1);
	a1.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
	a1.int_value = 7;
	arr.values = arr_items;
	arr.n_values = 2;
	opentelemetry__proto__common__v1__any_value__init(&v_arr);
	v_arr.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
	v_arr.array_value = &arr;
	any_str(&k0, "v");
	kv_init(&kvl_item, "k", &k0);
	kvl.values = kvl_items;
	kvl.n_values = 1;
	opentelemetry__proto__common__v1__any_value__init(&v_kv);
	v_kv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE;
	v_kv.kvlist_value = &kvl;
	kv_init(&r_kv[0], "service.name", &v_svc);
	kv_init(&r_kv[1], "i", &v_int);
	kv_init(&r_kv[2], "b", &v_bool);
	kv_init(&r_kv[3], "d", &v_dbl);
	kv_init(&r_kv[4], "raw", &v_bytes);
	kv_init(&r_kv[5], "arr", &v_arr);
	kv_init(&r_kv[6], "map", &v_kv);
	for (int i = 0; i < 7; i++)
		r_kvp[i] = &r_kv[i];
	Opentelemetry__Proto__Resource__V1__Resource res =
		OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	res.attributes = r_kvp;
	res.n_attributes = 7;

	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
		OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	scope.name = "io.opentelemetry.http";
	scope.version = "1.2.3";

	/* span with attributes, an event, a link and an error status */
	Span s;
	span_init(&s, "GET /cart");
	s.parent_span_id = bin(PARENT, 8);
	s.trace_state = "vendor=x";
	s.flags = 0x301;
	s.dropped_attributes_count = 2;
	s.dropped_events_count = 3;
	s.dropped_links_count = 4;
	AnyValue sv;
	KeyValue skv;
	KeyValue *skvp[1] = {&skv};
	any_str(&sv, "/cart");
	kv_init(&skv, "http.route", &sv);
	s.attributes = skvp;
	s.n_attributes = 1;
	Opentelemetry__Proto__Trace__V1__Span__Event ev =
		OPENTELEMETRY__PROTO__TRACE__V1__SPAN__EVENT__INIT;
	Opentelemetry__Proto__Trace__V1__Span__Event *evp[1] = {&ev};
	ev.time_unix_nano = 1700000000100000000ull;
	ev.name = "exception";
	ev.attributes = skvp;
	ev.n_attributes = 1;
	s.events = evp;
	s.n_events = 1;
	Opentelemetry__Proto__Trace__V1__Span__Link lk =
		OPENTELEMETRY__PROTO__TRACE__V1__SPAN__LINK__INIT;
	Opentelemetry__Proto__Trace__V1__Span__Link *lkp[1] = {&lk};
	uint8_t ltrace[16], lspan[8];
	memset(ltrace, 0xab, 16);
	memset(lspan, 0xcd, 8);
	lk.trace_id = bin(ltrace, 16);
	lk.span_id = bin(lspan, 8);
	lk.trace_state = "k=v";
	lk.attributes = skvp;
	lk.n_attributes = 1;
	s.links = lkp;
	s.n_links = 1;
	Opentelemetry__Proto__Trace__V1__Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
	st.message = "upstream reset";
	s.status = &st;

	Span *sp[1] = {&s};
	ScopeSpans ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	ScopeSpans *ssp[1] = {&ss};
	ss.scope = &scope;
	ss.spans = sp;
	ss.n_spans = 1;
	ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	ResourceSpans *rsp[1] = {&rs};
	rs.resource = &res;
	rs.scope_spans = ssp;
	rs.n_scope_spans = 1;
	size_t len;
	uint8_t *buf = pack_request(rsp, 1, &len);

	cr_assert_eq(decode_proto(buf, len), 0, "%s", err.msg);
	free(buf);
	cr_assert_eq(report.accepted, 1);
	cr_assert_eq(report.rejected, 0);
	cr_assert_str_eq(report.first_reject, "");
	cr_assert_eq(batch.n, 1);
	const struct ml_span *o = &batch.spans[0];
	cr_assert_arr_eq(o->trace_id, TRACE, 16);
	cr_assert_arr_eq(o->span_id, SPAN, 8);
	cr_assert_arr_eq(o->parent_id, PARENT, 8);
	cr_assert(ml_span_has_parent(o));
	assert_str(o->name, "GET /cart");
	cr_assert_eq(o->kind, ML_SPAN_KIND_SERVER);
	cr_assert_eq(o->status_code, ML_STATUS_ERROR);
	assert_str(o->status_message, "upstream reset");
	assert_str(o->trace_state, "vendor=x");
	cr_assert_eq(o->flags, 0x301);
	cr_assert_eq(o->start_ns, 1700000000000000000ull);
	cr_assert_eq(o->end_ns, 1700000000250000000ull);
	cr_assert_eq(o->dropped_attrs, 2);
	cr_assert_eq(o->dropped_events, 3);
	cr_assert_eq(o->dropped_links, 4);
	cr_assert_eq(o->attrs.n, 1);
	assert_str(o->attrs.items[0].key, "http.route");
	assert_str(o->attrs.items[0].v.s, "/cart");

	cr_assert_eq(o->n_events, 1);
	cr_assert_eq(o->events[0].time_ns, 1700000000100000000ull);
	assert_str(o->events[0].name, "exception");
	cr_assert_eq(o->events[0].attrs.n, 1);
	cr_assert_eq(o->n_links, 1);
	cr_assert_arr_eq(o->links[0].trace_id, ltrace, 16);
	cr_assert_arr_eq(o->links[0].span_id, lspan, 8);
	assert_str(o->links[0].trace_state, "k=v");
	cr_assert_eq(o->links[0].attrs.n, 1);

	const struct ml_resource *r = o->resource;
	cr_assert_not_null(r);
	assert_str(r->service_name, "checkout");
	assert_str(o->local.service_name, "checkout");
	assert_str(r->scope_name, "io.opentelemetry.http");
	assert_str(r->scope_version, "1.2.3");
	cr_assert_eq(r->attrs.n, 7);
	const struct ml_attr *a = ml_attrs_find(&r->attrs, "i");
	cr_assert(a && a->type == ML_VAL_INT && a->v.i == -42);
	a = ml_attrs_find(&r->attrs, "b");
	cr_assert(a && a->type == ML_VAL_BOOL && a->v.b);
	a = ml_attrs_find(&r->attrs, "d");
	cr_assert(a && a->type == ML_VAL_DOUBLE && a->v.d == 0.25);
	a = ml_attrs_find(&r->attrs, "raw");
	cr_assert(a && a->type == ML_VAL_BYTES && a->v.s.n == 3 && memcmp(a->v.s.p, raw, 3) == 0);
	a = ml_attrs_find(&r->attrs, "arr");
	cr_assert(a && a->type == ML_VAL_JSON);
	assert_str(a->v.s, "{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\\\"b\"},{\"intValue\":\"7\"}]}}");
	a = ml_attrs_find(&r->attrs, "map");
	cr_assert(a && a->type == ML_VAL_JSON);
	assert_str(a->v.s, "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}]}}");
}

Test(otlp_proto, no_resource_means_unknown_service_and_root_span)
{
	Span s;
	Span *sp[1] = {&s};
	span_init(&s, "root");
	size_t len;
	uint8_t *buf = pack_spans(sp, 1, &len);
	cr_assert_eq(decode_proto(buf, len), 0, "%s", err.msg);
	free(buf);
	cr_assert_eq(batch.n, 1);
	assert_str(batch.spans[0].resource->service_name, "unknown_service");
	assert_str(batch.spans[0].resource->scope_name, "");
	cr_assert(!ml_span_has_parent(&batch.spans[0]));
	cr_assert_eq(batch.spans[0].status_code, ML_STATUS_UNSET);
}

Test(otlp_proto, empty_body_is_an_empty_request)
{
	cr_assert_eq(decode_proto((const uint8_t *)"", 0), 0, "%s", err.msg);
	cr_assert_eq(batch.n, 0);
	cr_assert_eq(report.accepted, 0);
	cr_assert_eq(report.rejected, 0);
}

Test(otlp_proto, unknown_kind_and_status_values_become_unspecified)
{
	Span s;
	Span *sp[1] = {&s};
	span_init(&s, "x");
	s.kind = 9;
	Opentelemetry__Proto__Trace__V1__Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
	st.code = 7;
	s.status = &st;
	size_t len;
	uint8_t *buf = pack_spans(sp, 1, &len);
	cr_assert_eq(decode_proto(buf, len), 0, "%s", err.msg);
	free(buf);
	cr_assert_eq(batch.spans[0].kind, ML_SPAN_KIND_UNSPECIFIED);
	cr_assert_eq(batch.spans[0].status_code, ML_STATUS_UNSET);
}

/* One invalid span among valid ones; the rejection message names it by path. */
struct bad_case {
	const char *what;
	void (*spoil)(Span *s);
	const char *msg;
};

static uint8_t short7[7] = {1, 2, 3, 4, 5, 6, 7};
static uint8_t three[3] = {1, 2, 3};
static Opentelemetry__Proto__Trace__V1__Span__Link bad_link;
static Opentelemetry__Proto__Trace__V1__Span__Link *bad_linkp[1] = {&bad_link};

static void trace7(Span *s) { s->trace_id = bin(short7, 7); }
static void trace0(Span *s) { s->trace_id = bin(ZERO, 0); }
static void tracez(Span *s) { s->trace_id = bin(ZERO, 16); }
static void span3(Span *s) { s->span_id = bin(three, 3); }
static void spanz(Span *s) { s->span_id = bin(ZERO, 8); }
static void parent3(Span *s) { s->parent_span_id = bin(three, 3); }
static void backwards(Span *s) { s->end_time_unix_nano = s->start_time_unix_nano - 1; }
static void badlink(Span *s)
{
	opentelemetry__proto__trace__v1__span__link__init(&bad_link);
	bad_link.trace_id = bin(TRACE, 16);
	bad_link.span_id = bin(three, 3);
	s->links = bad_linkp;
	s->n_links = 1;
}

static const struct bad_case bad_cases[] = {
	{"short trace id", trace7, "trace_id must be 16 bytes, got 7"},
	{"missing trace id", trace0, "trace_id must be 16 bytes, got 0"},
	{"zero trace id", tracez, "trace_id must not be all zero"},
	{"short span id", span3, "span_id must be 8 bytes, got 3"},
	{"zero span id", spanz, "span_id must not be all zero"},
	{"short parent id", parent3, "parent_span_id must be 8 bytes, got 3"},
	{"end before start", backwards,
	 "end_time_unix_nano 1699999999999999999 is before start_time_unix_nano 1700000000000000000"},
	{"bad link", badlink, "links[0].span_id must be 8 bytes, got 3"},
};

Test(otlp_proto, each_invalid_span_is_rejected_alone)
{
	for (size_t c = 0; c < sizeof(bad_cases) / sizeof(bad_cases[0]); c++) {
		Span good1, bad, good2;
		Span *sp[3] = {&good1, &bad, &good2};
		span_init(&good1, "a");
		span_init(&bad, "b");
		span_init(&good2, "c");
		bad_cases[c].spoil(&bad);
		size_t len;
		uint8_t *buf = pack_spans(sp, 3, &len);
		ml_arena_reset(arena);
		ml_span_batch_init(&batch, arena);
		cr_assert_eq(decode_proto(buf, len), 0, "%s: %s", bad_cases[c].what, err.msg);
		free(buf);
		cr_assert_eq(report.accepted, 2, "%s", bad_cases[c].what);
		cr_assert_eq(report.rejected, 1, "%s", bad_cases[c].what);
		cr_assert_eq(batch.n, 2);
		assert_str(batch.spans[0].name, "a");
		assert_str(batch.spans[1].name, "c");
		char want[512];
		snprintf(want, sizeof(want), "resourceSpans[0].scopeSpans[0].spans[1]: %s",
			 bad_cases[c].msg);
		cr_assert_str_eq(report.first_reject, want, "%s", bad_cases[c].what);
	}
}

Test(otlp_proto, first_reject_names_resource_scope_and_span)
{
	Span spans[6];
	Span *s0[2] = {&spans[0], &spans[1]};
	Span *s1[4] = {&spans[2], &spans[3], &spans[4], &spans[5]};
	for (int i = 0; i < 6; i++)
		span_init(&spans[i], "s");
	spans[5].trace_id = bin(short7, 7); /* scopeSpans[1].spans[3] */
	ScopeSpans a = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	ScopeSpans b = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	ScopeSpans *ssp[2] = {&a, &b};
	a.spans = s0;
	a.n_spans = 2;
	b.spans = s1;
	b.n_spans = 4;
	ResourceSpans rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	ResourceSpans *rsp[1] = {&rs};
	rs.scope_spans = ssp;
	rs.n_scope_spans = 2;
	size_t len;
	uint8_t *buf = pack_request(rsp, 1, &len);
	cr_assert_eq(decode_proto(buf, len), 0, "%s", err.msg);
	free(buf);
	cr_assert_eq(report.accepted, 5);
	cr_assert_eq(report.rejected, 1);
	cr_assert_str_eq(report.first_reject,
			 "resourceSpans[0].scopeSpans[1].spans[3]: trace_id must be 16 bytes, got 7");
}

Test(otlp_proto, every_truncation_fails_as_a_whole)
{
	Span s;
	Span *sp[1] = {&s};
	span_init(&s, "GET /");
	size_t len;
	uint8_t *buf = pack_spans(sp, 1, &len);
	for (size_t cut = 1; cut < len; cut++) {
		ml_arena_reset(arena);
		ml_span_batch_init(&batch, arena);
		cr_assert_eq(decode_proto(buf, cut), ML_EINVAL, "cut at %zu of %zu", cut, len);
		cr_assert(strncmp(err.msg, "protobuf: ", 10) == 0, "%s", err.msg);
		cr_assert_eq(batch.n, 0);
	}
	free(buf);
}

Test(otlp_proto, garbage_fails_as_a_whole)
{
	static const uint8_t junk[][6] = {
		{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, /* field 1, length far past the end */
		{0x0f, 0x01, 0x02, 0x03, 0x04, 0x05}, /* wire type 7 does not exist */
		{0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* field number 0 */
	};
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		cr_assert_eq(decode_proto(junk[i], 6), ML_EINVAL, "case %zu", i);
		cr_assert(strstr(err.msg, "ExportTraceServiceRequest") != NULL, "%s", err.msg);
	}
	const char *text = "{\"resourceSpans\":[]}";
	cr_assert_eq(decode_proto((const uint8_t *)text, strlen(text)), ML_EINVAL);
}

/* Arrays nested in arrays: refused before protobuf-c recurses into them. */
Test(otlp_proto, deep_nesting_is_refused)
{
	enum { DEPTH = 200 };
	static AnyValue vals[DEPTH];
	static Opentelemetry__Proto__Common__V1__ArrayValue arrs[DEPTH];
	static AnyValue *slots[DEPTH];
	for (int i = 0; i < DEPTH; i++) {
		opentelemetry__proto__common__v1__any_value__init(&vals[i]);
		opentelemetry__proto__common__v1__array_value__init(&arrs[i]);
		if (i + 1 < DEPTH) {
			slots[i] = &vals[i + 1];
			arrs[i].values = &slots[i];
			arrs[i].n_values = 1;
		}
		vals[i].value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE;
		vals[i].array_value = &arrs[i];
	}
	KeyValue kv;
	KeyValue *kvp[1] = {&kv};
	kv_init(&kv, "deep", &vals[0]);
	Span s;
	Span *sp[1] = {&s};
	span_init(&s, "x");
	s.attributes = kvp;
	s.n_attributes = 1;
	size_t len;
	uint8_t *buf = pack_spans(sp, 1, &len);
	cr_assert_eq(decode_proto(buf, len), ML_EINVAL);
	cr_assert_str_eq(err.msg, "protobuf: messages nested deeper than 64");
	free(buf);
}

Test(otlp_proto, caps_fail_the_request_with_413)
{
	/* attributes per span */
	static KeyValue kvs[ML_MAX_ATTRS_PER_SPAN + 1];
	static KeyValue *kvp[ML_MAX_ATTRS_PER_SPAN + 1];
	AnyValue v;
	any_str(&v, "v");
	for (size_t i = 0; i <= ML_MAX_ATTRS_PER_SPAN; i++) {
		kv_init(&kvs[i], "k", &v);
		kvp[i] = &kvs[i];
	}
	Span s;
	Span *sp[1] = {&s};
	span_init(&s, "x");
	s.attributes = kvp;
	s.n_attributes = ML_MAX_ATTRS_PER_SPAN + 1;
	size_t len;
	uint8_t *buf = pack_spans(sp, 1, &len);
	cr_assert_eq(decode_proto(buf, len), ML_ETOOBIG);
	cr_assert_str_eq(err.msg,
			 "resourceSpans[0].scopeSpans[0].spans[0].attributes: 1025 attributes is "
			 "over the limit of 1024");
	cr_assert_eq(batch.n, 0);
	free(buf);

	/* one string over 64 KiB */
	char *big = malloc(ML_MAX_STRING_BYTES + 2);
	memset(big, 'x', ML_MAX_STRING_BYTES + 1);
	big[ML_MAX_STRING_BYTES + 1] = '\0';
	span_init(&s, big);
	buf = pack_spans(sp, 1, &len);
	ml_arena_reset(arena);
	ml_span_batch_init(&batch, arena);
	cr_assert_eq(decode_proto(buf, len), ML_ETOOBIG);
	cr_assert_str_eq(err.msg, "resourceSpans[0].scopeSpans[0].spans[0].name: string of 65537 "
				  "bytes is over the limit of 65536");
	free(buf);
	free(big);

	/* events per span */
	static Opentelemetry__Proto__Trace__V1__Span__Event evs[ML_MAX_EVENTS_PER_SPAN + 1];
	static Opentelemetry__Proto__Trace__V1__Span__Event *evp[ML_MAX_EVENTS_PER_SPAN + 1];
	for (size_t i = 0; i <= ML_MAX_EVENTS_PER_SPAN; i++) {
		opentelemetry__proto__trace__v1__span__event__init(&evs[i]);
		evp[i] = &evs[i];
	}
	span_init(&s, "x");
	s.events = evp;
	s.n_events = ML_MAX_EVENTS_PER_SPAN + 1;
	buf = pack_spans(sp, 1, &len);
	ml_arena_reset(arena);
	ml_span_batch_init(&batch, arena);
	cr_assert_eq(decode_proto(buf, len), ML_ETOOBIG);
	cr_assert(strstr(err.msg, "1025 events is over the limit of 1024") != NULL, "%s", err.msg);
	free(buf);
}

Test(otlp_proto, too_many_spans_fail_the_request)
{
	size_t n = ML_MAX_SPANS_PER_REQUEST + 1;
	Span *spans = calloc(n, sizeof(*spans));
	Span **sp = calloc(n, sizeof(*sp));
	for (size_t i = 0; i < n; i++) {
		span_init(&spans[i], "");
		sp[i] = &spans[i];
	}
	size_t len;
	uint8_t *buf = pack_spans(sp, n, &len);
	cr_assert_eq(decode_proto(buf, len), ML_ETOOBIG);
	cr_assert_str_eq(err.msg, "100001 spans is over the limit of 100000 per request");
	cr_assert_eq(batch.n, 0);
	free(buf);
	free(sp);
	free(spans);
}

/* ---- JSON ------------------------------------------------------------------ */

/* As the OpenTelemetry JS SDK's OTLPTraceExporter (http, JSON) writes a request. */
static const char *JS_SDK_REQUEST =
	"{\"resourceSpans\":[{\"resource\":{\"attributes\":["
	"{\"key\":\"service.name\",\"value\":{\"stringValue\":\"frontend\"}},"
	"{\"key\":\"telemetry.sdk.language\",\"value\":{\"stringValue\":\"nodejs\"}},"
	"{\"key\":\"process.pid\",\"value\":{\"intValue\":4242}}],"
	"\"droppedAttributesCount\":0},"
	"\"scopeSpans\":[{\"scope\":{\"name\":\"@opentelemetry/instrumentation-http\","
	"\"version\":\"0.52.1\"},"
	"\"spans\":[{\"traceId\":\"5B8EFFF798038103D269B633813FC60C\","
	"\"spanId\":\"eee19b7ec3c1b174\",\"parentSpanId\":\"eee19b7ec3c1b173\","
	"\"name\":\"GET\",\"kind\":3,"
	"\"startTimeUnixNano\":\"1700000000000000000\","
	"\"endTimeUnixNano\":\"1700000000250000000\","
	"\"attributes\":[{\"key\":\"http.method\",\"value\":{\"stringValue\":\"GET\"}},"
	"{\"key\":\"http.status_code\",\"value\":{\"intValue\":200}},"
	"{\"key\":\"sampled\",\"value\":{\"boolValue\":true}},"
	"{\"key\":\"ratio\",\"value\":{\"doubleValue\":0.5}},"
	"{\"key\":\"tags\",\"value\":{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\\\"b\"},"
	"{\"intValue\":\"7\"}]}}},"
	"{\"key\":\"map\",\"value\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":"
	"{\"stringValue\":\"v\"}}]}}},"
	"{\"key\":\"blob\",\"value\":{\"bytesValue\":\"AP8Q\"}}],"
	"\"droppedAttributesCount\":1,"
	"\"events\":[{\"attributes\":[],\"name\":\"socket.connect\","
	"\"timeUnixNano\":\"1700000000100000000\",\"droppedAttributesCount\":0}],"
	"\"droppedEventsCount\":2,"
	"\"status\":{\"code\":2,\"message\":\"ECONNRESET\"},"
	"\"links\":[{\"traceId\":\"abababababababababababababababab\",\"spanId\":\"cdcdcdcdcdcdcdcd\","
	"\"attributes\":[],\"droppedAttributesCount\":0}],"
	"\"droppedLinksCount\":3,\"flags\":257}]}]}]}";

Test(otlp_json, js_sdk_request_every_field)
{
	cr_assert_eq(decode_json(JS_SDK_REQUEST), 0, "%s", err.msg);
	cr_assert_eq(report.accepted, 1);
	cr_assert_eq(report.rejected, 0);
	cr_assert_eq(batch.n, 1);
	const struct ml_span *o = &batch.spans[0];
	cr_assert_arr_eq(o->trace_id, TRACE, 16);
	cr_assert_arr_eq(o->span_id, SPAN, 8);
	cr_assert_arr_eq(o->parent_id, PARENT, 8);
	assert_str(o->name, "GET");
	cr_assert_eq(o->kind, ML_SPAN_KIND_CLIENT);
	cr_assert_eq(o->start_ns, 1700000000000000000ull);
	cr_assert_eq(o->end_ns, 1700000000250000000ull);
	cr_assert_eq(o->status_code, ML_STATUS_ERROR);
	assert_str(o->status_message, "ECONNRESET");
	cr_assert_eq(o->flags, 257);
	cr_assert_eq(o->dropped_attrs, 1);
	cr_assert_eq(o->dropped_events, 2);
	cr_assert_eq(o->dropped_links, 3);
	cr_assert_eq(o->attrs.n, 7);
	const struct ml_attr *a = ml_attrs_find(&o->attrs, "http.status_code");
	cr_assert(a && a->type == ML_VAL_INT && a->v.i == 200);
	a = ml_attrs_find(&o->attrs, "sampled");
	cr_assert(a && a->type == ML_VAL_BOOL && a->v.b);
	a = ml_attrs_find(&o->attrs, "ratio");
	cr_assert(a && a->type == ML_VAL_DOUBLE && a->v.d == 0.5);
	a = ml_attrs_find(&o->attrs, "blob");
	cr_assert(a && a->type == ML_VAL_BYTES && a->v.s.n == 3 &&
		  memcmp(a->v.s.p, "\x00\xff\x10", 3) == 0);
	/* the same text as the protobuf decoder writes for the same values */
	a = ml_attrs_find(&o->attrs, "tags");
	cr_assert(a && a->type == ML_VAL_JSON);
	assert_str(a->v.s, "{\"arrayValue\":{\"values\":[{\"stringValue\":\"a\\\"b\"},{\"intValue\":\"7\"}]}}");
	a = ml_attrs_find(&o->attrs, "map");
	assert_str(a->v.s, "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"stringValue\":\"v\"}}]}}");
	cr_assert_eq(o->n_events, 1);
	assert_str(o->events[0].name, "socket.connect");
	cr_assert_eq(o->events[0].time_ns, 1700000000100000000ull);
	cr_assert_eq(o->n_links, 1);
	cr_assert_eq(o->links[0].trace_id[0], 0xab);
	cr_assert_eq(o->links[0].span_id[7], 0xcd);
	assert_str(o->resource->service_name, "frontend");
	assert_str(o->resource->scope_name, "@opentelemetry/instrumentation-http");
	assert_str(o->resource->scope_version, "0.52.1");
	a = ml_attrs_find(&o->resource->attrs, "process.pid");
	cr_assert(a && a->type == ML_VAL_INT && a->v.i == 4242);
}

Test(otlp_json, proto_field_names_enum_names_and_numbers)
{
	const char *text =
		"{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{"
		"\"trace_id\":\"5b8efff798038103d269b633813fc60c\",\"span_id\":\"eee19b7ec3c1b174\","
		"\"parent_span_id\":\"\",\"name\":\"q\",\"kind\":\"SPAN_KIND_SERVER\","
		"\"start_time_unix_nano\":1700000000000000000,\"end_time_unix_nano\":1700000000000000001,"
		"\"status\":{\"code\":\"STATUS_CODE_OK\"},\"unknownField\":{\"x\":[1,2]}}]}]}]}";
	cr_assert_eq(decode_json(text), 0, "%s", err.msg);
	cr_assert_eq(batch.n, 1);
	const struct ml_span *o = &batch.spans[0];
	cr_assert_eq(o->kind, ML_SPAN_KIND_SERVER);
	cr_assert_eq(o->status_code, ML_STATUS_OK);
	cr_assert(!ml_span_has_parent(o));
	cr_assert_eq(o->end_ns, 1700000000000000001ull);
	assert_str(o->resource->service_name, "unknown_service");
}

Test(otlp_json, strings_outlive_the_json_document)
{
	cr_assert_eq(decode_json(JS_SDK_REQUEST), 0, "%s", err.msg);
	/* the jansson document is gone; the arena copies must still read right */
	char *junk = malloc(4096);
	memset(junk, 'Z', 4096);
	free(junk);
	assert_str(batch.spans[0].attrs.items[0].v.s, "GET");
	assert_str(batch.spans[0].resource->service_name, "frontend");
}

static const char *span_with(char *out, size_t n, const char *fields)
{
	snprintf(out, n,
		 "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":"
		 "\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
		 "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"20\",\"name\":\"ok\"},"
		 "{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
		 "\"startTimeUnixNano\":\"10\",\"endTimeUnixNano\":\"20\",%s}]}]}]}",
		 fields);
	return out;
}

Test(otlp_json, invalid_ids_and_times_reject_the_span_alone)
{
	static const struct {
		const char *fields, *msg;
	} cases[] = {
		{"\"traceId\":\"5b8efff798038103d269b633813f\"", "trace_id must be 16 bytes, got 14"},
		{"\"traceId\":\"\"", "trace_id must be 16 bytes, got 0"},
		{"\"traceId\":\"00000000000000000000000000000000\"", "trace_id must not be all zero"},
		{"\"traceId\":\"5b8efff798038103d269b633813fc60cff\"",
		 "trace_id must be 16 bytes of hex, got \"5b8efff798038103d269b633813fc60cff\""},
		{"\"traceId\":\"zz8efff798038103d269b633813fc60c\"",
		 "trace_id must be 16 bytes of hex, got \"zz8efff798038103d269b633813fc60c\""},
		{"\"spanId\":\"eee19b7ec3c1b1\"", "span_id must be 8 bytes, got 7"},
		{"\"spanId\":\"eee19b7ec3c1b17\"", "span_id must be 8 bytes of hex, got \"eee19b7ec3c1b17\""},
		{"\"parentSpanId\":\"0102\"", "parent_span_id must be 8 bytes, got 2"},
		{"\"endTimeUnixNano\":\"9\"", "end_time_unix_nano 9 is before start_time_unix_nano 10"},
		{"\"links\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"00\"}]",
		 "links[0].span_id must be 8 bytes, got 1"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		ml_arena_reset(arena);
		ml_span_batch_init(&batch, arena);
		cr_assert_eq(decode_json(span_with(text, sizeof(text), cases[i].fields)), 0,
			     "case %zu: %s", i, err.msg);
		cr_assert_eq(report.accepted, 1, "case %zu", i);
		cr_assert_eq(report.rejected, 1, "case %zu", i);
		cr_assert_eq(batch.n, 1);
		char want[512];
		snprintf(want, sizeof(want), "resourceSpans[0].scopeSpans[0].spans[1]: %s",
			 cases[i].msg);
		cr_assert_str_eq(report.first_reject, want, "case %zu", i);
	}
}

Test(otlp_json, wrong_types_fail_the_request_and_name_the_path)
{
	static const struct {
		const char *fields, *msg;
	} cases[] = {
		{"\"startTimeUnixNano\":{}",
		 "resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano: expected a decimal "
		 "string, got object"},
		{"\"startTimeUnixNano\":\"12x\"",
		 "resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano: expected a decimal "
		 "string, got \"12x\""},
		{"\"startTimeUnixNano\":-5",
		 "resourceSpans[0].scopeSpans[0].spans[1].startTimeUnixNano: expected a "
		 "non-negative integer, got -5"},
		{"\"name\":5", "resourceSpans[0].scopeSpans[0].spans[1].name: expected a string, got number"},
		{"\"traceId\":[]",
		 "resourceSpans[0].scopeSpans[0].spans[1].traceId: expected a hex string, got array"},
		{"\"kind\":\"SERVER\"",
		 "resourceSpans[0].scopeSpans[0].spans[1].kind: unknown value \"SERVER\""},
		{"\"kind\":true",
		 "resourceSpans[0].scopeSpans[0].spans[1].kind: expected an integer or an enum name, "
		 "got boolean"},
		{"\"status\":{\"code\":\"STATUS_CODE_BROKEN\"}",
		 "resourceSpans[0].scopeSpans[0].spans[1].status.code: unknown value "
		 "\"STATUS_CODE_BROKEN\""},
		{"\"attributes\":{}",
		 "resourceSpans[0].scopeSpans[0].spans[1].attributes: expected an array, got object"},
		{"\"attributes\":[{\"key\":\"k\",\"value\":{\"intValue\":\"seven\"}}]",
		 "resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.intValue: expected a "
		 "decimal string, got \"seven\""},
		{"\"attributes\":[{\"key\":1,\"value\":{}}]",
		 "resourceSpans[0].scopeSpans[0].spans[1].attributes[0].key: expected a string, got "
		 "number"},
		{"\"attributes\":[{\"key\":\"k\",\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":1}]}}}]",
		 "resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.arrayValue.values[0]."
		 "boolValue: expected a boolean, got number"},
		{"\"attributes\":[{\"key\":\"k\",\"value\":{\"bytesValue\":\"!!\"}}]",
		 "resourceSpans[0].scopeSpans[0].spans[1].attributes[0].value.bytesValue: expected a "
		 "base64 string"},
		{"\"events\":[{\"timeUnixNano\":true}]",
		 "resourceSpans[0].scopeSpans[0].spans[1].events[0].timeUnixNano: expected a decimal "
		 "string, got boolean"},
		{"\"flags\":4294967296",
		 "resourceSpans[0].scopeSpans[0].spans[1].flags: 4294967296 does not fit in 32 bits"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[1024];
		ml_arena_reset(arena);
		ml_span_batch_init(&batch, arena);
		cr_assert_eq(decode_json(span_with(text, sizeof(text), cases[i].fields)), ML_EINVAL,
			     "case %zu", i);
		cr_assert_str_eq(err.msg, cases[i].msg, "case %zu", i);
		cr_assert_eq(batch.n, 0, "case %zu", i);
		cr_assert_eq(report.accepted, 0, "case %zu", i);
	}
}

Test(otlp_json, structure_errors)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{"[]", "expected an object, got array"},
		{"{\"resourceSpans\":{}}", "resourceSpans: expected an array, got object"},
		{"{\"resourceSpans\":[1]}", "resourceSpans[0]: expected an object, got number"},
		{"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":\"x\"}]}]}",
		 "resourceSpans[0].scopeSpans[0].spans: expected an array, got string"},
		{"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"a\",\"value\":"
		 "{\"doubleValue\":\"fast\"}}]}}]}",
		 "resourceSpans[0].resource.attributes[0].value.doubleValue: expected a number, got "
		 "\"fast\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(decode_json(cases[i].text), ML_EINVAL, "case %zu", i);
		cr_assert_str_eq(err.msg, cases[i].msg, "case %zu", i);
	}
}

Test(otlp_json, not_json_and_too_deep)
{
	cr_assert_eq(decode_json("{\"resourceSpans\":[{]}"), ML_EINVAL);
	cr_assert(strncmp(err.msg, "json: ", 6) == 0, "%s", err.msg);
	cr_assert(strstr(err.msg, "line 1") != NULL, "%s", err.msg);
	cr_assert_eq(decode_json(""), ML_EINVAL);

	char deep[300];
	size_t n = 0;
	for (int i = 0; i < 100; i++)
		deep[n++] = '[';
	for (int i = 0; i < 100; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	cr_assert_eq(decode_json(deep), ML_EINVAL);
	cr_assert_str_eq(err.msg, "json: nesting deeper than 64");
}

Test(otlp_json, nul_bytes_in_strings_are_kept)
{
	const char *text =
		"{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
		"\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\","
		"\"name\":\"a\\u0000b\"}]}]}]}";
	cr_assert_eq(decode_json(text), 0, "%s", err.msg);
	cr_assert_eq(batch.spans[0].name.n, 3);
	cr_assert(memcmp(batch.spans[0].name.p, "a\0b", 3) == 0);
}

Test(otlp_json, legacy_instrumentation_library_spans)
{
	const char *text =
		"{\"resourceSpans\":[{\"instrumentationLibrarySpans\":[{\"instrumentationLibrary\":"
		"{\"name\":\"old\",\"version\":\"0.1\"},\"spans\":[{"
		"\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":\"eee19b7ec3c1b174\"}]}]}]}";
	cr_assert_eq(decode_json(text), 0, "%s", err.msg);
	cr_assert_eq(batch.n, 1);
	assert_str(batch.spans[0].resource->scope_name, "old");
	assert_str(batch.spans[0].resource->scope_version, "0.1");
}

Test(otlp_json, too_many_attributes_is_413)
{
	struct ml_buf b = ML_BUF_INIT;
	ml_buf_puts(&b, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
	for (unsigned i = 0; i <= ML_MAX_ATTRS_PER_SPAN; i++)
		ml_buf_printf(&b, "%s{\"key\":\"k%u\",\"value\":{\"intValue\":1}}", i ? "," : "", i);
	ml_buf_puts(&b, "]}}]}");
	cr_assert_eq(ml_otlp_trace_decode_json(b.data, b.len, &batch, &report, &err), ML_ETOOBIG);
	cr_assert_str_eq(err.msg, "resourceSpans[0].resource.attributes: 1025 attributes is over "
				  "the limit of 1024");
	ml_buf_free(&b);
}

/* ---- responses -------------------------------------------------------------- */

Test(otlp_response, nothing_rejected)
{
	struct ml_ingest_report r = {.accepted = 3};
	struct ml_buf b = ML_BUF_INIT;
	ml_otlp_trace_response_proto(&r, &b);
	cr_assert_eq(b.len, 0);
	ml_otlp_trace_response_json(&r, &b);
	cr_assert_eq(b.len, 2);
	cr_assert(memcmp(b.data, "{}", 2) == 0);
	ml_buf_free(&b);
}

Test(otlp_response, partial_success)
{
	struct ml_ingest_report r = {.accepted = 1, .rejected = 3};
	snprintf(r.first_reject, sizeof(r.first_reject),
		 "resourceSpans[0].scopeSpans[0].spans[1]: trace_id must be 16 bytes, got \"7\"");
	struct ml_buf b = ML_BUF_INIT;
	ml_otlp_trace_response_proto(&r, &b);
	cr_assert_gt(b.len, 0);
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse *resp =
		opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
			NULL, b.len, b.data);
	cr_assert_not_null(resp);
	cr_assert_not_null(resp->partial_success);
	cr_assert_eq(resp->partial_success->rejected_spans, 3);
	cr_assert_str_eq(resp->partial_success->error_message, r.first_reject);
	opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
		resp, NULL);

	ml_buf_clear(&b);
	ml_otlp_trace_response_json(&r, &b);
	ml_buf_putc(&b, '\0');
	cr_assert_str_eq((const char *)b.data,
			 "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":"
			 "\"resourceSpans[0].scopeSpans[0].spans[1]: trace_id must be 16 bytes, "
			 "got \\\"7\\\"\"}}");
	ml_buf_free(&b);
}

Test(otlp_response, status_bodies)
{
	struct ml_buf b = ML_BUF_INIT;
	ml_otlp_status_proto(3, "json: bad\nthing", &b);
	Google__Rpc__Status *st = google__rpc__status__unpack(NULL, b.len, b.data);
	cr_assert_not_null(st);
	cr_assert_eq(st->code, 3);
	cr_assert_str_eq(st->message, "json: bad\nthing");
	cr_assert_eq(st->n_details, 0);
	google__rpc__status__free_unpacked(st, NULL);

	ml_buf_clear(&b);
	ml_otlp_status_json(8, "too \"big\"\t\x01", &b);
	ml_buf_putc(&b, '\0');
	cr_assert_str_eq((const char *)b.data,
			 "{\"code\":8,\"message\":\"too \\\"big\\\"\\t\\u0001\"}");
	ml_buf_free(&b);
}
