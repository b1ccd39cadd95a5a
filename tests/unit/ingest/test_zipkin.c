/*
 * Tests for collector/ingest/zipkin.c: Zipkin v2 JSON as Envoy sends it under
 * Istio (Bookinfo: productpage -> details, reviews -> ratings), the shared
 * span variant, 64-bit trace ids, and every per-span rejection with its
 * message.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/zipkin.h"

/* Envoy's Zipkin tracer under Istio: 128-bit ids, shared context off. */
static const char BOOKINFO[] =
	"[{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"a1b2c3d4e5f60718\","
	"\"parentId\":\"0f0e0d0c0b0a0908\",\"kind\":\"CLIENT\","
	"\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000123456,\"duration\":2345,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\",\"ipv4\":\"10.244.0.12\"},"
	"\"tags\":{\"node_id\":\"sidecar~10.244.0.12~productpage-v1-6b746f74dc-9stvs.default~default.svc.cluster.local\","
	"\"zone\":\"\",\"component\":\"proxy\",\"guid:x-request-id\":\"3b1a1a2c-6f1e-9a8e-b0b7-0f6d1c2e3a4b\","
	"\"http.url\":\"http://details:9080/details/0\",\"http.method\":\"GET\",\"http.protocol\":\"HTTP/1.1\","
	"\"downstream_cluster\":\"-\",\"user_agent\":\"python-requests/2.28.1\",\"request_size\":\"0\","
	"\"response_size\":\"178\",\"http.status_code\":\"200\",\"response_flags\":\"-\","
	"\"upstream_cluster\":\"outbound|9080||details.default.svc.cluster.local\","
	"\"upstream_cluster.name\":\"outbound|9080||details.default.svc.cluster.local\","
	"\"peer.address\":\"10.244.0.12\",\"upstream_address\":\"10.244.0.15:9080\","
	"\"istio.canonical_service\":\"productpage\",\"istio.canonical_revision\":\"v1\","
	"\"istio.mesh_id\":\"cluster.local\",\"istio.namespace\":\"default\"}},"
	"{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"b2c3d4e5f6071829\","
	"\"parentId\":\"a1b2c3d4e5f60718\",\"kind\":\"SERVER\","
	"\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000124000,\"duration\":1200,"
	"\"localEndpoint\":{\"serviceName\":\"details.default\",\"ipv4\":\"10.244.0.15\",\"port\":9080},"
	"\"tags\":{\"component\":\"proxy\",\"http.method\":\"GET\",\"http.status_code\":\"200\","
	"\"upstream_cluster\":\"inbound|9080||\",\"istio.canonical_service\":\"details\"}},"
	"{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"c3d4e5f607182930\","
	"\"parentId\":\"0f0e0d0c0b0a0907\",\"kind\":\"CLIENT\","
	"\"name\":\"ratings.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000130000,\"duration\":5000,"
	"\"localEndpoint\":{\"serviceName\":\"reviews.default\",\"ipv4\":\"10.244.0.20\"},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"503\",\"error\":\"true\","
	"\"response_flags\":\"UF\"}},"
	"{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"d4e5f60718293041\","
	"\"parentId\":\"c3d4e5f607182930\",\"kind\":\"SERVER\","
	"\"name\":\"ratings.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000131000,\"duration\":3000,"
	"\"localEndpoint\":{\"serviceName\":\"ratings.default\",\"ipv6\":\"fd00::14\",\"port\":9080},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"503\"}},"
	"{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"e5f6071829304152\","
	"\"parentId\":\"0f0e0d0c0b0a0906\",\"kind\":\"CLIENT\","
	"\"name\":\"details.default.svc.cluster.local:9080/*\","
	"\"timestamp\":1700000000140000,\"duration\":900,"
	"\"localEndpoint\":{\"serviceName\":\"productpage.default\",\"ipv4\":\"10.244.0.12\"},"
	"\"tags\":{\"http.method\":\"GET\",\"http.status_code\":\"200\"}}]";

struct decoded {
	struct ml_arena *arena;
	struct ml_span_batch batch;
	struct ml_ingest_report report;
	struct ml_err err;
	int rc;
};

static void decode(struct decoded *d, const char *json)
{
	memset(d, 0, sizeof(*d));
	d->arena = ml_arena_create(0);
	cr_assert_not_null(d->arena);
	ml_span_batch_init(&d->batch, d->arena);
	d->rc = ml_zipkin_decode_json((const uint8_t *)json, strlen(json), &d->batch, &d->report,
				      &d->err);
}

static void done(struct decoded *d)
{
	ml_arena_destroy(d->arena);
}

static const char *attr(const struct ml_span *s, const char *key)
{
	static char buf[512];
	const struct ml_attr *a = ml_attrs_find(&s->attrs, key);
	if (a == NULL)
		return NULL;
	cr_assert_eq(a->type, ML_VAL_STRING);
	snprintf(buf, sizeof(buf), "%.*s", (int)a->v.s.n, a->v.s.p);
	return buf;
}

static void assert_str(struct ml_str s, const char *want)
{
	cr_assert(ml_str_eq_cstr(s, want), "got \"%.*s\", want \"%s\"", (int)s.n, s.p, want);
}

static void assert_hex(const uint8_t *p, size_t n, const char *want)
{
	char hex[40];
	ml_hex_encode(hex, p, n);
	cr_assert_str_eq(hex, want);
}

Test(zipkin_decode, envoy_bookinfo_batch)
{
	struct decoded d;
	decode(&d, BOOKINFO);
	cr_assert_eq(d.rc, 0, "%s", d.err.msg);
	cr_assert_eq(d.report.accepted, 5);
	cr_assert_eq(d.report.rejected, 0);
	cr_assert_str_eq(d.report.first_reject, "");
	cr_assert_eq(d.batch.n, 5);

	const struct ml_span *c = &d.batch.spans[0], *s = &d.batch.spans[1];
	assert_hex(c->trace_id, 16, "4e441824ec2b6a44ffdc9bb9a6453df3");
	assert_hex(c->span_id, 8, "a1b2c3d4e5f60718");
	assert_hex(c->parent_id, 8, "0f0e0d0c0b0a0908");
	cr_assert_eq(c->kind, ML_SPAN_KIND_CLIENT);
	assert_str(c->name, "details.default.svc.cluster.local:9080/*");
	cr_assert_eq(c->start_ns, 1700000000123456000ull);
	cr_assert_eq(c->end_ns, 1700000000123456000ull + 2345000ull);
	assert_str(c->resource->service_name, "productpage.default");
	assert_str(c->local.service_name, "productpage.default");
	assert_str(c->local.ipv4, "10.244.0.12");
	cr_assert_eq(c->local.port, 0);
	cr_assert_eq(c->remote.service_name.n, 0);
	cr_assert_not(c->shared);
	cr_assert_eq(c->status_code, ML_STATUS_UNSET);
	cr_assert_eq(c->attrs.n, 21);
	cr_assert_str_eq(attr(c, "upstream_cluster"), "outbound|9080||details.default.svc.cluster.local");
	cr_assert_str_eq(attr(c, "istio.canonical_service"), "productpage");
	cr_assert_str_eq(attr(c, "zone"), "");
	cr_assert_str_eq(attr(c, "http.status_code"), "200");

	/* Istio: the server span has a new id whose parent is the client span. */
	cr_assert_eq(s->kind, ML_SPAN_KIND_SERVER);
	cr_assert_eq(memcmp(s->parent_id, c->span_id, 8), 0);
	assert_str(s->resource->service_name, "details.default");
	cr_assert_eq(s->local.port, 9080);

	/* The resource attributes carry service.name. */
	const struct ml_attr *sn = ml_attrs_find(&s->resource->attrs, "service.name");
	cr_assert_not_null(sn);
	assert_str(sn->v.s, "details.default");

	/* One resource per distinct local service: spans 0 and 4 share one. */
	cr_assert_eq(d.batch.spans[0].resource, d.batch.spans[4].resource);
	cr_assert_neq(d.batch.spans[0].resource, d.batch.spans[1].resource);
	cr_assert_neq(d.batch.spans[2].resource, d.batch.spans[3].resource);
	assert_str(d.batch.spans[3].local.ipv6, "fd00::14");
	done(&d);
}

Test(zipkin_decode, error_tag_sets_status_but_5xx_alone_does_not)
{
	struct decoded d;
	decode(&d, BOOKINFO);
	cr_assert_eq(d.rc, 0, "%s", d.err.msg);
	/* reviews' client span: Envoy set error=true on the 503. */
	cr_assert_eq(d.batch.spans[2].status_code, ML_STATUS_ERROR);
	cr_assert_eq(d.batch.spans[2].status_message.n, 0);
	/* ratings' server span: 503 without an error tag stays UNSET. */
	cr_assert_eq(d.batch.spans[3].status_code, ML_STATUS_UNSET);
	done(&d);

	decode(&d, "[{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"a1b2c3d4e5f60718\","
		   "\"timestamp\":1700000000000000,\"tags\":{\"error\":\"upstream connect timeout\"}}]");
	cr_assert_eq(d.rc, 0, "%s", d.err.msg);
	cr_assert_eq(d.batch.spans[0].status_code, ML_STATUS_ERROR);
	assert_str(d.batch.spans[0].status_message, "upstream connect timeout");
	/* The tag stays, so the span renders back with it. */
	cr_assert_str_eq(attr(&d.batch.spans[0], "error"), "upstream connect timeout");
	done(&d);
}

Test(zipkin_decode, shared_span_and_64bit_trace_id)
{
	/* Envoy's default (shared context on): the server half reuses the client's id. */
	struct decoded d;
	decode(&d, "[{\"traceId\":\"ffdc9bb9a6453df3\",\"id\":\"5af7183fb1d4cf5f\","
		   "\"parentId\":\"6b221d5bc9e6496c\",\"kind\":\"CLIENT\",\"name\":\"get /details/0\","
		   "\"timestamp\":1700000000000000,\"duration\":400,"
		   "\"localEndpoint\":{\"serviceName\":\"productpage.default\"}},"
		   "{\"traceId\":\"FFDC9BB9A6453DF3\",\"id\":\"5AF7183FB1D4CF5F\","
		   "\"parentId\":\"6b221d5bc9e6496c\",\"kind\":\"SERVER\",\"name\":\"get /details/0\","
		   "\"timestamp\":1700000000000100,\"duration\":200,\"shared\":true,\"debug\":true,"
		   "\"localEndpoint\":{\"serviceName\":\"details.default\"}}]");
	cr_assert_eq(d.rc, 0, "%s", d.err.msg);
	cr_assert_eq(d.batch.n, 2);
	const struct ml_span *c = &d.batch.spans[0], *s = &d.batch.spans[1];
	/* 64-bit ids are left-padded to 16 bytes; hex case does not matter. */
	assert_hex(c->trace_id, 16, "0000000000000000ffdc9bb9a6453df3");
	cr_assert_eq(memcmp(c->trace_id, s->trace_id, 16), 0);
	cr_assert_eq(memcmp(c->span_id, s->span_id, 8), 0);
	cr_assert_not(c->shared);
	cr_assert(s->shared);
	cr_assert_eq(s->kind, ML_SPAN_KIND_SERVER);
	done(&d);
}

Test(zipkin_decode, annotations_optional_fields_and_defaults)
{
	struct decoded d;
	decode(&d, "[{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"a1b2c3d4e5f60718\","
		   "\"parentId\":\"0000000000000000\",\"timestamp\":1700000000000000,"
		   "\"remoteEndpoint\":{\"serviceName\":\"mysql\",\"ipv4\":\"10.0.0.9\",\"port\":3306},"
		   "\"annotations\":[{\"timestamp\":1700000000000010,\"value\":\"ws\"},"
		   "{\"timestamp\":1700000000000020,\"value\":\"wr\"}]}]");
	cr_assert_eq(d.rc, 0, "%s", d.err.msg);
	const struct ml_span *s = &d.batch.spans[0];
	/* No kind: unspecified; no duration: 0; zero parent: a root; no local endpoint: unknown_service. */
	cr_assert_eq(s->kind, ML_SPAN_KIND_UNSPECIFIED);
	cr_assert_eq(s->end_ns, s->start_ns);
	cr_assert_not(ml_span_has_parent(s));
	cr_assert_eq(s->name.n, 0);
	assert_str(s->resource->service_name, "unknown_service");
	assert_str(s->remote.service_name, "mysql");
	assert_str(s->remote.ipv4, "10.0.0.9");
	cr_assert_eq(s->remote.port, 3306);
	cr_assert_eq(s->n_events, 2);
	cr_assert_eq(s->events[0].time_ns, 1700000000000010000ull);
	assert_str(s->events[0].name, "ws");
	assert_str(s->events[1].name, "wr");
	done(&d);
}

Test(zipkin_decode, empty_array_is_zero_spans)
{
	struct decoded d;
	decode(&d, " [ ] ");
	cr_assert_eq(d.rc, 0);
	cr_assert_eq(d.batch.n, 0);
	cr_assert_eq(d.report.accepted, 0);
	cr_assert_eq(d.report.rejected, 0);
	done(&d);
}

Test(zipkin_decode, body_that_is_not_an_array_of_objects_fails_whole)
{
	static const struct {
		const char *body;
		const char *msg;
	} cases[] = {
		{"{\"traceId\":\"4e441824ec2b6a44\"}", "expected a JSON array of spans, got object"},
		{"\"spans\"", "expected a JSON array of spans, got string"},
		{"[{\"traceId\":", "invalid JSON"},
		{"", "invalid JSON"},
		{"[{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"a1b2c3d4e5f60718\","
		 "\"timestamp\":1},42]",
		 "span 1: expected a JSON object, got number"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoded d;
		decode(&d, cases[i].body);
		cr_assert_eq(d.rc, ML_EINVAL, "case %zu", i);
		cr_assert(strstr(d.err.msg, cases[i].msg) != NULL, "case %zu: got \"%s\", want \"%s\"",
			  i, d.err.msg, cases[i].msg);
		done(&d);
	}
}

Test(zipkin_decode, each_invalid_span_is_rejected_alone_with_its_reason)
{
	static const char good[] =
		"{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"a1b2c3d4e5f60718\","
		"\"kind\":\"SERVER\",\"name\":\"ok\",\"timestamp\":1700000000000000,\"duration\":5,"
		"\"localEndpoint\":{\"serviceName\":\"details.default\"}}";
#define TID "\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\","
#define SID "\"id\":\"a1b2c3d4e5f60718\","
#define TS "\"timestamp\":1700000000000000"
	static const struct {
		const char *span;
		const char *msg;
	} cases[] = {
		{"{" TID "\"id\":\"a1b2c3d\"," TS "}", "span 1: id must be 16 hex digits, got 7"},
		{"{" TID TS "}", "span 1: id is required"},
		{"{" TID "\"id\":42," TS "}", "span 1: id must be a hex string, got number"},
		{"{" TID "\"id\":\"a1b2c3d4e5f6071z\"," TS "}",
		 "span 1: id must be hex digits, got \"a1b2c3d4e5f6071z\""},
		{"{" TID "\"id\":\"0000000000000000\"," TS "}", "span 1: id must not be all zeros"},
		{"{\"traceId\":\"4e441824ec2b6a44ffdc\"," SID TS "}",
		 "span 1: traceId must be 16 or 32 hex digits, got 20"},
		{"{" SID TS "}", "span 1: traceId is required"},
		{"{\"traceId\":\"00000000000000000000000000000000\"," SID TS "}",
		 "span 1: traceId must not be all zeros"},
		{"{" TID SID "\"parentId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\"," TS "}",
		 "span 1: parentId must be 16 hex digits, got 32"},
		{"{" TID SID "\"kind\":\"INTERNAL\"," TS "}",
		 "span 1: kind must be CLIENT, SERVER, PRODUCER or CONSUMER, got \"INTERNAL\""},
		{"{" TID SID "\"name\":7," TS "}", "span 1: name must be a string, got number"},
		{"{" TID SID "\"timestamp\":\"1700000000000000\"}",
		 "span 1: timestamp must be an integer number of microseconds, got string"},
		{"{" TID SID "\"timestamp\":-1}", "span 1: timestamp must not be negative, got -1"},
		{"{" TID SID "\"timestamp\":1.5}",
		 "span 1: timestamp must be a non-negative integer (microseconds), got 1.5"},
		{"{" TID SID "\"duration\":10}", "span 1: timestamp is required (epoch microseconds)"},
		{"{" TID SID TS ",\"duration\":-5}", "span 1: duration must not be negative, got -5"},
		{"{" TID SID TS ",\"duration\":\"5\"}",
		 "span 1: duration must be an integer number of microseconds, got string"},
		{"{" TID SID TS ",\"tags\":{\"http.status_code\":200}}",
		 "span 1: tag \"http.status_code\" must be a string, got number"},
		{"{" TID SID TS ",\"tags\":{\"error\":true}}",
		 "span 1: tag \"error\" must be a string, got boolean"},
		{"{" TID SID TS ",\"tags\":[\"a\"]}",
		 "span 1: tags must be an object of strings, got array"},
		{"{" TID SID TS ",\"annotations\":{}}",
		 "span 1: annotations must be an array, got object"},
		{"{" TID SID TS ",\"annotations\":[{\"timestamp\":1}]}",
		 "span 1: annotations[0].value is required"},
		{"{" TID SID TS ",\"annotations\":[{\"value\":\"cs\"}]}",
		 "span 1: annotations[0].timestamp is required"},
		{"{" TID SID TS ",\"localEndpoint\":{\"serviceName\":\"a\",\"port\":70000}}",
		 "span 1: localEndpoint.port must be an integer 0-65535"},
		{"{" TID SID TS ",\"localEndpoint\":\"productpage\"}",
		 "span 1: localEndpoint must be an object, got string"},
		{"{" TID SID TS ",\"remoteEndpoint\":{\"serviceName\":1}}",
		 "span 1: remoteEndpoint.serviceName must be a string, got number"},
		{"{" TID SID TS ",\"shared\":\"yes\"}", "span 1: shared must be true or false, got string"},
		{"{" TID SID TS ",\"debug\":1}", "span 1: debug must be true or false, got number"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[2048];
		snprintf(body, sizeof(body), "[%s,%s,%s]", good, cases[i].span, good);
		struct decoded d;
		decode(&d, body);
		cr_assert_eq(d.rc, 0, "case %zu: %s", i, d.err.msg);
		cr_assert_eq(d.report.accepted, 2, "case %zu", i);
		cr_assert_eq(d.report.rejected, 1, "case %zu", i);
		cr_assert_str_eq(d.report.first_reject, cases[i].msg, "case %zu", i);
		/* The good spans around it are kept intact. */
		cr_assert_eq(d.batch.n, 2, "case %zu", i);
		assert_str(d.batch.spans[1].name, "ok");
		assert_str(d.batch.spans[1].resource->service_name, "details.default");
		done(&d);
	}
#undef TID
#undef SID
#undef TS
}

Test(zipkin_decode, first_reject_is_the_first_of_several)
{
	struct decoded d;
	decode(&d, "[{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"abc\",\"timestamp\":1},"
		   "{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"timestamp\":1}]");
	cr_assert_eq(d.rc, 0);
	cr_assert_eq(d.report.accepted, 0);
	cr_assert_eq(d.report.rejected, 2);
	cr_assert_str_eq(d.report.first_reject, "span 0: id must be 16 hex digits, got 3");
	cr_assert_eq(d.batch.n, 0);
	done(&d);
}

Test(zipkin_decode, strings_with_nul_and_unicode_keep_their_length)
{
	struct decoded d;
	decode(&d, "[{\"traceId\":\"4e441824ec2b6a44ffdc9bb9a6453df3\",\"id\":\"a1b2c3d4e5f60718\","
		   "\"timestamp\":1,\"name\":\"a\\u0000b\","
		   "\"tags\":{\"k\":\"caf\\u00e9\"}}]");
	cr_assert_eq(d.rc, 0, "%s", d.err.msg);
	const struct ml_span *s = &d.batch.spans[0];
	cr_assert_eq(s->name.n, 3);
	cr_assert_eq(memcmp(s->name.p, "a\0b", 3), 0);
	const struct ml_attr *a = ml_attrs_find(&s->attrs, "k");
	cr_assert_not_null(a);
	cr_assert_eq(a->v.s.n, 5);
	done(&d);
}
