/*
 * test_istio.c - what a span says about its side of a request
 * (ml_mesh_side_from_span) and the Istio standard metrics recorded from
 * client/server pairs (ml_istio_record), checked label by label through a
 * registry walk: Envoy-shaped Bookinfo spans (shared and separate span ids,
 * 5xx with response flags, gRPC, no response), OpenTelemetry SDK spans with
 * Kubernetes resource attributes, unpaired clients and servers.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "aggregate/istio.h"
#include "core/alloc.h"
#include "model/registry.h"

#define S(k, val)                                                                                  \
	{                                                                                          \
		.key = ML_STR(k), .type = ML_VAL_STRING, .v.s = ML_STR(val)                        \
	}
#define I(k, x)                                                                                    \
	{                                                                                          \
		.key = ML_STR(k), .type = ML_VAL_INT, .v.i = (x)                                   \
	}
#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* ---- spans ------------------------------------------------------------- */

/* Zipkin spans from Envoy: the resource is only the local serviceName. */
static struct ml_attr productpage_res_attrs[] = {S("service.name", "productpage.default")};
static const struct ml_resource productpage_res = {
    .service_name = ML_STR("productpage.default"),
    .attrs = {productpage_res_attrs, N(productpage_res_attrs)},
};
static struct ml_attr reviews_res_attrs[] = {S("service.name", "reviews.default")};
static const struct ml_resource reviews_res = {
    .service_name = ML_STR("reviews.default"),
    .attrs = {reviews_res_attrs, N(reviews_res_attrs)},
};

/* productpage-v1's sidecar, outbound to reviews (Istio shape, shared context off). */
static struct ml_attr pp_client_ok[] = {
    S("node_id",
      "sidecar~10.44.0.7~productpage-v1-6b746f74dc-9stvs.default~default.svc.cluster.local"),
    S("zone", "us-east1-b"),
    S("component", "proxy"),
    S("guid:x-request-id", "5e0ab1c6-4e8c-9c1a-a0b5-9d1b0d5fa6c4"),
    S("http.url", "http://reviews:9080/reviews/0"),
    S("http.method", "GET"),
    S("downstream_cluster", "-"),
    S("user_agent", "python-requests/2.25.1"),
    S("http.protocol", "HTTP/1.1"),
    S("peer.address", "10.44.0.7"),
    S("request_size", "0"),
    S("response_size", "295"),
    S("upstream_cluster", "outbound|9080||reviews.default.svc.cluster.local"),
    S("upstream_cluster.name", "outbound|9080||reviews.default.svc.cluster.local"),
    S("upstream_address", "10.44.0.12:9080"),
    S("http.status_code", "200"),
    S("response_flags", "-"),
    S("istio.canonical_revision", "v1"),
    S("istio.canonical_service", "productpage"),
    S("istio.mesh_id", "cluster.local"),
    S("istio.namespace", "default"),
    S("istio.cluster_id", "Kubernetes"),
};

/* reviews-v2's sidecar, inbound. */
static struct ml_attr rv_server_ok[] = {
    S("node_id",
      "sidecar~10.44.0.12~reviews-v2-5f9dbcd669-x7k2p.default~default.svc.cluster.local"),
    S("component", "proxy"),
    S("http.url", "http://reviews:9080/reviews/0"),
    S("http.method", "GET"),
    S("http.protocol", "HTTP/1.1"),
    S("downstream_cluster", "-"),
    S("peer.address", "10.44.0.7"),
    S("request_size", "0"),
    S("response_size", "295"),
    S("upstream_cluster", "inbound|9080||"),
    S("http.status_code", "200"),
    S("response_flags", "-"),
    S("istio.canonical_revision", "v2"),
    S("istio.canonical_service", "reviews"),
    S("istio.mesh_id", "cluster.local"),
    S("istio.namespace", "default"),
    S("istio.cluster_id", "Kubernetes"),
};

static struct ml_span span(uint8_t kind, const struct ml_resource *res, struct ml_attr *attrs,
                           uint32_t n, const char *name, uint64_t dur_us)
{
	struct ml_span s;
	memset(&s, 0, sizeof(s));
	s.kind = kind;
	s.resource = res;
	s.attrs.items = attrs;
	s.attrs.n = n;
	s.name = ml_str_make(name, strlen(name));
	s.start_ns = 1764121800000000000ULL;
	s.end_ns = s.start_ns + dur_us * 1000;
	s.local.service_name = res->service_name;
	return s;
}

static struct ml_mesh_side *side(const struct ml_span *s)
{
	int nomem = -1;
	struct ml_mesh_side *m = ml_mesh_side_from_span(s, &nomem);
	cr_assert_not_null(m);
	cr_assert_eq(nomem, 0);
	return m;
}

static void expect_field(const struct ml_mesh_side *m, enum ml_mesh_field f, const char *want)
{
	struct ml_str got = ml_mesh_side_get(m, f);
	cr_assert(ml_str_eq_cstr(got, want), "field %d: got \"%.*s\", want \"%s\"", (int)f,
	          (int)got.n, got.p, want);
}

/* Expects all ML_MESH_FIELD_COUNT fields, in enum order. */
static void expect_fields(const struct ml_mesh_side *m, const char *const want[ML_MESH_FIELD_COUNT])
{
	for (int i = 0; i < ML_MESH_FIELD_COUNT; i++)
		expect_field(m, (enum ml_mesh_field)i, want[i]);
}

/* ---- registry walk ----------------------------------------------------- */

struct child {
	char family[64];
	char labels[1400];
	double value;
	uint64_t buckets[32];
	size_t n_buckets;
	uint64_t count;
	double sum;
};

struct walk {
	struct child c[32];
	int n;
	char all[16384]; /* every child, for failure messages */
	size_t all_len;
};

static int visit(void *ctx, const struct ml_family_desc *f, const struct ml_child_value *v)
{
	struct walk *w = ctx;
	if (v == NULL)
		return 0;
	cr_assert_lt(w->n, 32);
	struct child *c = &w->c[w->n++];
	snprintf(c->family, sizeof(c->family), "%s", f->name);
	size_t len = 0;
	for (size_t i = 0; i < f->n_labels; i++)
		len += (size_t)snprintf(c->labels + len, sizeof(c->labels) - len, "%s%s=%.*s",
		                        i ? "," : "", f->label_names[i], (int)v->label_values[i].n,
		                        v->label_values[i].p);
	c->value = v->value;
	c->n_buckets = f->n_buckets;
	for (size_t i = 0; i < f->n_buckets && i < 32; i++)
		c->buckets[i] = v->buckets[i];
	c->count = v->count;
	c->sum = v->sum;
	w->all_len += (size_t)snprintf(w->all + w->all_len, sizeof(w->all) - w->all_len, "%s{%s}\n",
	                               c->family, c->labels);
	return 0;
}

/* The labels of one report as the walk prints them, from its four parts. */
static void line(char *out, size_t cap, const char *reporter, const char *const src[8],
                 const char *const dst[8], const char *const svc[3], const char *const facts[5])
{
	snprintf(
	    out, cap,
	    "reporter=%s,source_workload=%s,source_workload_namespace=%s,source_principal=%s,"
	    "source_app=%s,source_version=%s,source_canonical_service=%s,source_canonical_revision="
	    "%s,"
	    "source_cluster=%s,destination_workload=%s,destination_workload_namespace=%s,"
	    "destination_principal=%s,destination_app=%s,destination_version=%s,destination_"
	    "service=%s,"
	    "destination_service_name=%s,destination_service_namespace=%s,"
	    "destination_canonical_service=%s,destination_canonical_revision=%s,destination_"
	    "cluster=%s,"
	    "request_protocol=%s,response_flags=%s,connection_security_policy=%s,response_code=%s,"
	    "grpc_response_status=%s",
	    reporter, src[0], src[1], src[2], src[3], src[4], src[5], src[6], src[7], dst[0],
	    dst[1], dst[2], dst[3], dst[4], svc[0], svc[1], svc[2], dst[5], dst[6], dst[7],
	    facts[0], facts[1], facts[2], facts[3], facts[4]);
}

static const struct child *find(const struct walk *w, const char *family, const char *labels)
{
	for (int i = 0; i < w->n; i++)
		if (strcmp(w->c[i].family, family) == 0 && strcmp(w->c[i].labels, labels) == 0)
			return &w->c[i];
	cr_assert_fail("no %s{%s}\nchildren:\n%s", family, labels, w->all);
	return NULL;
}

/*
 * Asserts that one report exists in all four families: the counter at
 * `count`, each histogram with `count` observations and the given sums.
 */
static void expect_report(const struct walk *w, const char *labels, double count, double dur_sum,
                          double req_sum, double resp_sum)
{
	const struct child *c = find(w, "istio_requests_total", labels);
	cr_assert_eq(c->value, count, "requests %g", c->value);
	c = find(w, "istio_request_duration_milliseconds", labels);
	cr_assert_eq(c->count, (uint64_t)count);
	cr_assert_float_eq(c->sum, dur_sum, 1e-9);
	c = find(w, "istio_request_bytes", labels);
	cr_assert_eq(c->count, (uint64_t)count);
	cr_assert_float_eq(c->sum, req_sum, 1e-9);
	c = find(w, "istio_response_bytes", labels);
	cr_assert_eq(c->count, (uint64_t)count);
	cr_assert_float_eq(c->sum, resp_sum, 1e-9);
}

static void expect_buckets(const struct child *c, const uint64_t *want, size_t n)
{
	cr_assert_eq(c->n_buckets, n);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(c->buckets[i], want[i], "%s bucket %zu: %llu, want %llu", c->family, i,
		             (unsigned long long)c->buckets[i], (unsigned long long)want[i]);
}

struct fixture {
	struct ml_registry *r;
	struct ml_istio *istio;
	struct walk w;
};

static void fx_init(struct fixture *fx, size_t max_series)
{
	struct ml_err err = {{0}};
	memset(fx, 0, sizeof(*fx));
	fx->r = ml_registry_create();
	cr_assert_not_null(fx->r);
	fx->istio = ml_istio_create(fx->r, max_series, &err);
	cr_assert_not_null(fx->istio, "%s", err.msg);
}

static void fx_walk(struct fixture *fx)
{
	memset(&fx->w, 0, sizeof(fx->w));
	cr_assert_eq(ml_registry_walk(fx->r, visit, &fx->w), 0);
}

static void fx_fini(struct fixture *fx)
{
	ml_istio_destroy(fx->istio);
	ml_registry_destroy(fx->r);
}

/* Identities as the eight source_ / destination_ values, in field order. */
#define PRODUCTPAGE_V1                                                                             \
	{                                                                                          \
		"productpage-v1", "default", "unknown", "productpage", "v1", "productpage", "v1",  \
		    "Kubernetes"                                                                   \
	}
#define REVIEWS_V2                                                                                 \
	{                                                                                          \
		"reviews-v2", "default", "unknown", "reviews", "v2", "reviews", "v2", "Kubernetes" \
	}
#define UNKNOWN_PEER                                                                               \
	{                                                                                          \
		"unknown", "unknown", "unknown", "unknown", "unknown", "unknown", "latest",        \
		    "unknown"                                                                      \
	}
#define REVIEWS_SVC                                                                                \
	{                                                                                          \
		"reviews.default.svc.cluster.local", "reviews", "default"                          \
	}
#define HTTP_200                                                                                   \
	{                                                                                          \
		"http", "-", "unknown", "200", ""                                                  \
	}

/* ---- ml_mesh_side_from_span -------------------------------------------- */

Test(mesh_side, envoy_client_span)
{
	struct ml_span s = span(ML_SPAN_KIND_CLIENT, &productpage_res, pp_client_ok,
	                        N(pp_client_ok), "reviews.default.svc.cluster.local:9080/*", 12500);
	struct ml_mesh_side *m = side(&s);
	static const char *const want[ML_MESH_FIELD_COUNT] = {
	    "productpage-v1",
	    "default",
	    "unknown",
	    "productpage",
	    "v1",
	    "productpage",
	    "v1",
	    "Kubernetes",
	    "reviews.default.svc.cluster.local",
	    "reviews",
	    "default",
	    "http",
	    "200",
	    "",
	    "-",
	    "unknown",
	    "10.44.0.7",
	    "10.44.0.7",
	};
	expect_fields(m, want);
	cr_assert(ml_mesh_side_is_client(m));
	cr_assert_eq(ml_mesh_side_kind(m), ML_SPAN_KIND_CLIENT);
	cr_assert_float_eq(ml_mesh_side_duration_ms(m), 12.5, 1e-9);
	cr_assert_float_eq(ml_mesh_side_request_bytes(m), 0, 1e-9);
	cr_assert_float_eq(ml_mesh_side_response_bytes(m), 295, 1e-9);
	/* One allocation, strings inline: small and bounded. */
	size_t b = ml_mesh_side_bytes(m);
	cr_assert_gt(b, 150);
	cr_assert_lt(b, 600, "%zu bytes", b);
	ml_mesh_side_free(m);
}

Test(mesh_side, envoy_server_span_names_its_service_from_the_route)
{
	struct ml_span s = span(ML_SPAN_KIND_SERVER, &reviews_res, rv_server_ok, N(rv_server_ok),
	                        "reviews.default.svc.cluster.local:9080/*", 10000);
	struct ml_mesh_side *m = side(&s);
	static const char *const want[ML_MESH_FIELD_COUNT] = {
	    "reviews-v2", "default",    "unknown",
	    "reviews",    "v2",         "reviews",
	    "v2",         "Kubernetes", "reviews.default.svc.cluster.local",
	    "reviews",    "default",    "http",
	    "200",        "",           "-",
	    "unknown",    "10.44.0.12", "10.44.0.7",
	};
	expect_fields(m, want);
	cr_assert_not(ml_mesh_side_is_client(m));
	cr_assert_not(ml_mesh_side_dest_is_guess(m));
	ml_mesh_side_free(m);

	/* Envoy's fallback name "ingress": the Host of http.url, qualified in the server's
	 * namespace. */
	s.name = ML_STR("ingress");
	m = side(&s);
	expect_field(m, ML_MESH_DEST_SERVICE, "reviews.default.svc.cluster.local");
	expect_field(m, ML_MESH_DEST_SERVICE_NAME, "reviews");
	ml_mesh_side_free(m);

	/* Shared span (Envoy's default context): the same side. */
	s.name = ML_STR("reviews.default.svc.cluster.local:9080/*");
	s.shared = true;
	memset(s.span_id, 0xc1, 8);
	m = side(&s);
	expect_fields(m, want);
	ml_mesh_side_free(m);
}

Test(mesh_side, internal_and_unspecified_spans_are_no_side)
{
	struct ml_span s =
	    span(ML_SPAN_KIND_INTERNAL, &reviews_res, rv_server_ok, N(rv_server_ok), "x", 1);
	int nomem = -1;
	cr_assert_null(ml_mesh_side_from_span(&s, &nomem));
	cr_assert_eq(nomem, 0);
	s.kind = ML_SPAN_KIND_UNSPECIFIED;
	cr_assert_null(ml_mesh_side_from_span(&s, &nomem));
	cr_assert_eq(nomem, 0);
	s.kind = ML_SPAN_KIND_PRODUCER;
	struct ml_mesh_side *m = side(&s);
	cr_assert(ml_mesh_side_is_client(m));
	ml_mesh_side_free(m);
	s.kind = ML_SPAN_KIND_CONSUMER;
	m = side(&s);
	cr_assert_not(ml_mesh_side_is_client(m));
	ml_mesh_side_free(m);
}

Test(mesh_side, out_of_memory_is_reported)
{
	struct ml_span s =
	    span(ML_SPAN_KIND_CLIENT, &productpage_res, pp_client_ok, N(pp_client_ok), "x", 1);
	int nomem = 0;
	ml_alloc_fail_after(0);
	struct ml_mesh_side *m = ml_mesh_side_from_span(&s, &nomem);
	ml_alloc_fail_after(-1);
	cr_assert_null(m);
	cr_assert_eq(nomem, 1);
}

/* The workload a pod belongs to, from k8s.pod.name alone. */
static void expect_workload_of_pod(const char *pod, const char *want)
{
	struct ml_attr ra[] = {
	    {.key = ML_STR("k8s.pod.name"), .type = ML_VAL_STRING, .v.s = {pod, strlen(pod)}}};
	struct ml_resource res = {.service_name = ML_STR("svc"), .attrs = {ra, 1}};
	struct ml_span s = span(ML_SPAN_KIND_SERVER, &res, NULL, 0, "GET /", 1);
	struct ml_mesh_side *m = side(&s);
	expect_field(m, ML_MESH_WORKLOAD, want);
	ml_mesh_side_free(m);
}

Test(mesh_side, workload_from_pod_name)
{
	expect_workload_of_pod("reviews-v2-5f9dbcd669-x7k2p", "reviews-v2"); /* Deployment */
	expect_workload_of_pod("istio-ingressgateway-7d6b9c8f5b-m2xz8", "istio-ingressgateway");
	expect_workload_of_pod("fluent-bit-x7k2p", "fluent-bit"); /* DaemonSet */
	expect_workload_of_pod("mysql-0", "mysql");               /* StatefulSet */
	expect_workload_of_pod("web-12", "web");
	expect_workload_of_pod("ratings-v1-abcde",
	                       "ratings-v1-abcde"); /* vowels: not a generated suffix */
	expect_workload_of_pod("reviews-v2-x7k2p", "reviews-v2"); /* "v2" is too short for a hash */
	expect_workload_of_pod("standalone", "standalone");
	expect_workload_of_pod("-x7k2p", "-x7k2p");
}

/* OpenTelemetry SDK spans with the k8s resource attributes the OTel operator sets. */
static struct ml_attr cart_res_attrs[] = {
    S("service.name", "cart"),
    S("service.version", "1.4.2"),
    S("k8s.namespace.name", "shop"),
    S("k8s.deployment.name", "cart"),
    S("k8s.replicaset.name", "cart-7d4b9c8f6d"),
    S("k8s.pod.name", "cart-7d4b9c8f6d-q8x2z"),
    S("k8s.pod.ip", "10.1.4.7"),
    S("k8s.cluster.name", "prod-eu"),
    S("telemetry.sdk.language", "go"),
};
static const struct ml_resource cart_res = {
    .service_name = ML_STR("cart"),
    .attrs = {cart_res_attrs, N(cart_res_attrs)},
};
static struct ml_attr inventory_res_attrs[] = {
    S("service.name", "inventory"),
    S("k8s.namespace.name", "shop"),
    S("k8s.pod.name", "inventory-0"),
};
static const struct ml_resource inventory_res = {
    .service_name = ML_STR("inventory"),
    .attrs = {inventory_res_attrs, N(inventory_res_attrs)},
};
static struct ml_attr cart_client_attrs[] = {
    S("http.request.method", "POST"),
    S("server.address", "inventory"),
    I("server.port", 8080),
    S("url.full", "http://inventory:8080/reserve"),
    I("http.response.status_code", 201),
    I("http.request.body.size", 1500),
    I("http.response.body.size", 42),
    S("network.protocol.version", "1.1"),
};
static struct ml_attr inventory_server_attrs[] = {
    S("http.request.method", "POST"),
    S("url.path", "/reserve"),
    S("url.scheme", "http"),
    S("server.address", "inventory"),
    I("server.port", 8080),
    I("http.response.status_code", 201),
    S("network.peer.address", "10.1.4.7"),
};

Test(mesh_side, otel_sdk_spans)
{
	struct ml_span s = span(ML_SPAN_KIND_CLIENT, &cart_res, cart_client_attrs,
	                        N(cart_client_attrs), "POST", 3000);
	struct ml_mesh_side *m = side(&s);
	static const char *const want_client[ML_MESH_FIELD_COUNT] = {
	    "cart",      "shop",     "unknown",
	    "cart",      "1.4.2",    "cart",
	    "1.4.2",     "prod-eu",  "inventory.shop.svc.cluster.local",
	    "inventory", "shop",     "http",
	    "201",       "",         "-",
	    "unknown",   "10.1.4.7", "",
	};
	expect_fields(m, want_client);
	cr_assert_float_eq(ml_mesh_side_request_bytes(m), 1500, 1e-9);
	cr_assert_float_eq(ml_mesh_side_response_bytes(m), 42, 1e-9);
	ml_mesh_side_free(m);

	s = span(ML_SPAN_KIND_SERVER, &inventory_res, inventory_server_attrs,
	         N(inventory_server_attrs), "POST /reserve", 2000);
	m = side(&s);
	static const char *const want_server[ML_MESH_FIELD_COUNT] = {
	    "inventory", "shop",    "unknown",
	    "inventory", "unknown", "inventory",
	    "latest",    "unknown", "inventory.shop.svc.cluster.local",
	    "inventory", "shop",    "http",
	    "201",       "",        "-",
	    "unknown",   "",        "10.1.4.7",
	};
	expect_fields(m, want_server);
	ml_mesh_side_free(m);
}

Test(mesh_side, otel_fallbacks_and_external_hosts)
{
	/* No service.name (the SDK's "unknown_service:..."): canonical service from the workload.
	 */
	struct ml_attr ra[] = {S("service.name", "unknown_service:java"),
	                       S("k8s.namespace.name", "batch"), S("k8s.statefulset.name", "kafka"),
	                       S("k8s.pod.name", "kafka-2")};
	struct ml_resource res = {.service_name = ML_STR("unknown_service:java"),
	                          .attrs = {ra, N(ra)}};
	struct ml_attr a[] = {S("server.address", "api.stripe.com"), I("server.port", 443),
	                      I("http.response.status_code", 402),
	                      S("http.request.method", "POST")};
	struct ml_span s = span(ML_SPAN_KIND_CLIENT, &res, a, N(a), "POST", 1000);
	s.local.service_name = ML_STR("");
	struct ml_mesh_side *m = side(&s);
	expect_field(m, ML_MESH_WORKLOAD, "kafka");
	expect_field(m, ML_MESH_NAMESPACE, "batch");
	expect_field(m, ML_MESH_APP, "unknown");
	expect_field(m, ML_MESH_CANONICAL_SERVICE, "kafka");
	expect_field(m, ML_MESH_CANONICAL_REVISION, "latest");
	expect_field(m, ML_MESH_DEST_SERVICE, "api.stripe.com");
	expect_field(m, ML_MESH_DEST_SERVICE_NAME, "api.stripe.com");
	expect_field(m, ML_MESH_DEST_SERVICE_NAMESPACE, "unknown");
	expect_field(m, ML_MESH_RESPONSE_CODE, "402");
	ml_mesh_side_free(m);

	/* A PRODUCER span with nothing HTTP about it, and a "<svc>.<ns>.svc" host. */
	struct ml_attr b[] = {S("messaging.system", "kafka"),
	                      S("server.address", "broker.infra.svc:9092"),
	                      S("peer.service", "kafka")};
	s = span(ML_SPAN_KIND_PRODUCER, &res, b, N(b), "orders publish", 1000);
	m = side(&s);
	expect_field(m, ML_MESH_PROTOCOL, "tcp");
	expect_field(m, ML_MESH_RESPONSE_CODE, "0");
	expect_field(m, ML_MESH_DEST_SERVICE, "broker.infra.svc.cluster.local");
	expect_field(m, ML_MESH_DEST_SERVICE_NAME, "broker");
	expect_field(m, ML_MESH_DEST_SERVICE_NAMESPACE, "infra");
	ml_mesh_side_free(m);

	/* Server span with no host at all: Istio falls back to the canonical service. */
	s = span(ML_SPAN_KIND_SERVER, &inventory_res, NULL, 0, "handler", 1000);
	m = side(&s);
	expect_field(m, ML_MESH_DEST_SERVICE, "inventory");
	expect_field(m, ML_MESH_DEST_SERVICE_NAME, "inventory");
	expect_field(m, ML_MESH_DEST_SERVICE_NAMESPACE, "shop");
	cr_assert(ml_mesh_side_dest_is_guess(m));
	ml_mesh_side_free(m);
}

Test(mesh_side, grpc_codes)
{
	/* Envoy gRPC span: grpc.* tags, HTTP 200, grpc-status 14 in trailers. */
	struct ml_attr a[] = {
	    S("node_id",
	      "sidecar~10.44.0.9~ratings-v1-7d9d7c6b6f-2kq4n.default~default.svc.cluster.local"),
	    S("upstream_cluster", "outbound|9090||ratings.default.svc.cluster.local"),
	    S("http.protocol", "HTTP/2"),
	    S("http.status_code", "200"),
	    S("grpc.path", "/ratings.Ratings/Get"),
	    S("grpc.content_type", "application/grpc"),
	    S("grpc.status_code", "14"),
	    S("response_flags", "-"),
	};
	struct ml_span s = span(ML_SPAN_KIND_CLIENT, &reviews_res, a, N(a), "ratings:9090/*", 800);
	struct ml_mesh_side *m = side(&s);
	expect_field(m, ML_MESH_PROTOCOL, "grpc");
	expect_field(m, ML_MESH_RESPONSE_CODE, "200");
	expect_field(m, ML_MESH_GRPC_STATUS, "14");
	expect_field(m, ML_MESH_WORKLOAD, "ratings-v1");
	expect_field(m, ML_MESH_APP, "reviews"); /* the span's service name, "reviews.default" */
	ml_mesh_side_free(m);

	/* No grpc-status: Envoy infers it from the HTTP status (503 -> UNAVAILABLE). */
	a[3] = (struct ml_attr)S("http.status_code", "503");
	a[6] = (struct ml_attr)S("grpc.timeout", "5s");
	s = span(ML_SPAN_KIND_CLIENT, &reviews_res, a, N(a), "ratings:9090/*", 800);
	m = side(&s);
	expect_field(m, ML_MESH_RESPONSE_CODE, "503");
	expect_field(m, ML_MESH_GRPC_STATUS, "14");
	ml_mesh_side_free(m);

	/* ... and no response at all: code 0, no gRPC status. */
	a[3] = (struct ml_attr)S("http.status_code", "0");
	m = side(&s);
	expect_field(m, ML_MESH_RESPONSE_CODE, "0");
	expect_field(m, ML_MESH_GRPC_STATUS, "");
	ml_mesh_side_free(m);

	/* The stats form of the cluster name names the same service. */
	a[1] = (struct ml_attr)S("upstream_cluster",
	                         "outbound_.9090_.v1_.ratings.default.svc.cluster.local");
	m = side(&s);
	expect_field(m, ML_MESH_DEST_SERVICE, "ratings.default.svc.cluster.local");
	expect_field(m, ML_MESH_DEST_SERVICE_NAME, "ratings");
	ml_mesh_side_free(m);
	/* Istio's catch-all clusters name the service; the host comes from the request. */
	a[1] = (struct ml_attr)S("upstream_cluster", "PassthroughCluster");
	a[2] = (struct ml_attr)S("http.url", "http://api.github.com:443/repos");
	m = side(&s);
	expect_field(m, ML_MESH_DEST_SERVICE, "api.github.com");
	expect_field(m, ML_MESH_DEST_SERVICE_NAME, "PassthroughCluster");
	expect_field(m, ML_MESH_DEST_SERVICE_NAMESPACE, "unknown");
	ml_mesh_side_free(m);

	/* SDK gRPC span: no HTTP status, rpc.grpc.status_code as an int. */
	struct ml_attr b[] = {S("rpc.system", "grpc"), S("rpc.service", "ratings.Ratings"),
	                      I("rpc.grpc.status_code", 5), S("server.address", "ratings")};
	s = span(ML_SPAN_KIND_CLIENT, &cart_res, b, N(b), "ratings.Ratings/Get", 800);
	m = side(&s);
	expect_field(m, ML_MESH_PROTOCOL, "grpc");
	expect_field(m, ML_MESH_RESPONSE_CODE, "200");
	expect_field(m, ML_MESH_GRPC_STATUS, "5");
	expect_field(m, ML_MESH_DEST_SERVICE, "ratings.shop.svc.cluster.local");
	ml_mesh_side_free(m);
}

Test(mesh_side, hostile_values)
{
	char big[400];
	memset(big, 'w', sizeof(big));
	struct ml_attr a[] = {
	    {.key = ML_STR("k8s.deployment.name"),
	     .type = ML_VAL_STRING,
	     .v.s = {big, sizeof(big)}},
	    {.key = ML_STR("server.address"), .type = ML_VAL_STRING, .v.s = {big, 200}},
	    S("node_id", "sidecar~~"),                 /* too few parts: ignored */
	    S("http.status_code", "20x"),              /* not a number */
	    S("request_size", "99999999999999999999"), /* too long for a number */
	    I("response_size", -5),
	    S("upstream_cluster", "outbound|9080||"), /* no host */
	    S("k8s.namespace.name", ""),
	};
	struct ml_attr ra[] = {
	    S("k8s.cluster.name", "eu\xff"), S("service.version", "v\xed\xa0\x80"),
	    S("istio.canonical_service", "caf\xc3\xa9"), S("k8s.pod.ip", "\xc0\xaf")};
	struct ml_resource res = {.service_name = ML_STR("x"), .attrs = {ra, N(ra)}};
	struct ml_span s = span(ML_SPAN_KIND_CLIENT, &res, a, N(a), "x", 1);
	s.end_ns = s.start_ns - 1; /* end before start */
	struct ml_mesh_side *m = side(&s);
	expect_field(m, ML_MESH_WORKLOAD, "unknown");
	expect_field(m, ML_MESH_NAMESPACE, "unknown");
	expect_field(m, ML_MESH_RESPONSE_CODE, "0");
	/* Not UTF-8 (a stray byte, a surrogate, an overlong '/'): unknown; UTF-8 kept. */
	expect_field(m, ML_MESH_CLUSTER, "unknown");
	expect_field(m, ML_MESH_VERSION, "unknown");
	expect_field(m, ML_MESH_CANONICAL_REVISION, "latest");
	expect_field(m, ML_MESH_CANONICAL_SERVICE, "caf\xc3\xa9");
	expect_field(m, ML_MESH_ADDRESS, "");
	/* 200 + "." + ns does not apply (no namespace): the host as is. */
	cr_assert_eq(ml_mesh_side_get(m, ML_MESH_DEST_SERVICE).n, 200);
	cr_assert_float_eq(ml_mesh_side_request_bytes(m), 0, 1e-9);
	cr_assert_float_eq(ml_mesh_side_response_bytes(m), 0, 1e-9);
	cr_assert_float_eq(ml_mesh_side_duration_ms(m), 0, 1e-9);
	cr_assert_eq(ml_mesh_side_get(m, ML_MESH_FIELD_COUNT).n, 0);
	ml_mesh_side_free(m);
}

/* ---- ml_istio_record ----------------------------------------------------- */

static const double envoy_bounds[] = {0.5,   1,      5,      10,      25,     50,    100,
                                      250,   500,    1000,   2500,    5000,   10000, 30000,
                                      60000, 300000, 600000, 1800000, 3600000};

Test(istio, families_buckets_and_label_order)
{
	struct fixture fx;
	fx_init(&fx, 0);
	const char *names[] = {"istio_requests_total", "istio_request_duration_milliseconds",
	                       "istio_request_bytes", "istio_response_bytes"};
	for (int i = 0; i < 4; i++) {
		struct ml_family *f = ml_registry_find(fx.r, names[i]);
		cr_assert_not_null(f, "%s", names[i]);
		const struct ml_family_desc *d = ml_family_describe(f);
		cr_assert_eq(d->type, i == 0 ? ML_METRIC_COUNTER : ML_METRIC_HISTOGRAM);
		cr_assert_eq(d->n_labels, 25);
		cr_assert_str_eq(d->label_names[0], "reporter");
		cr_assert_str_eq(d->label_names[14], "destination_service");
		cr_assert_str_eq(d->label_names[24], "grpc_response_status");
		if (i > 0) {
			cr_assert_eq(d->n_buckets, 19);
			for (int j = 0; j < 19; j++)
				cr_assert_eq(d->buckets[j], envoy_bounds[j]);
		}
	}
	/* Created twice on one registry (a restart of the aggregator): the same families. */
	struct ml_err err = {{0}};
	struct ml_istio *again = ml_istio_create(fx.r, 0, &err);
	cr_assert_not_null(again, "%s", err.msg);
	ml_istio_destroy(again);
	ml_istio_destroy(NULL);
	fx_fini(&fx);
}

Test(istio, bookinfo_pair_reports_twice_with_both_identities)
{
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span cs =
	    span(ML_SPAN_KIND_CLIENT, &productpage_res, pp_client_ok, N(pp_client_ok),
	         "reviews.default.svc.cluster.local:9080/*", 12500);
	struct ml_span ss = span(ML_SPAN_KIND_SERVER, &reviews_res, rv_server_ok, N(rv_server_ok),
	                         "reviews.default.svc.cluster.local:9080/*", 10000);
	struct ml_mesh_side *c = side(&cs), *s = side(&ss);
	cr_assert_eq(ml_istio_record(fx.istio, c, s), 0);
	/* The shared-span variant of the same hop: the server span reuses the client's id. */
	ss.shared = true;
	memcpy(ss.span_id, cs.span_id, 8);
	struct ml_mesh_side *s2 = side(&ss);
	cr_assert_eq(ml_istio_record(fx.istio, c, s2), 0);
	fx_walk(&fx);
	cr_assert_eq(fx.w.n, 8, "two reports x four families:\n%s", fx.w.all);

	char want[1400];
	const char *pp[8] = PRODUCTPAGE_V1, *rv[8] = REVIEWS_V2, *svc[3] = REVIEWS_SVC,
	           *f200[5] = HTTP_200;
	line(want, sizeof(want), "source", pp, rv, svc, f200);
	expect_report(&fx.w, want, 2, 25, 0, 590);
	const struct child *h = find(&fx.w, "istio_request_duration_milliseconds", want);
	/* 12.5 ms twice: first in le=25. */
	const uint64_t dur[19] = {0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
	expect_buckets(h, dur, 19);
	h = find(&fx.w, "istio_request_bytes", want);
	const uint64_t zero[19] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
	expect_buckets(h, zero, 19);
	h = find(&fx.w, "istio_response_bytes", want);
	const uint64_t b295[19] = {0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
	expect_buckets(h, b295, 19);

	line(want, sizeof(want), "destination", pp, rv, svc, f200);
	expect_report(&fx.w, want, 2, 20, 0, 590);
	h = find(&fx.w, "istio_request_duration_milliseconds", want);
	const uint64_t dur10[19] = {0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
	expect_buckets(h, dur10, 19);

	ml_mesh_side_free(c);
	ml_mesh_side_free(s);
	ml_mesh_side_free(s2);
	fx_fini(&fx);
}

Test(istio, upstream_failure_without_a_server_span)
{
	/* reviews-v2 unreachable: productpage's sidecar answers 503 UF itself. */
	struct ml_attr a[N(pp_client_ok)];
	memcpy(a, pp_client_ok, sizeof(a));
	for (uint32_t i = 0; i < N(a); i++) {
		if (ml_str_eq_cstr(a[i].key, "http.status_code"))
			a[i].v.s = ML_STR("503");
		if (ml_str_eq_cstr(a[i].key, "response_flags"))
			a[i].v.s = ML_STR("UF");
		if (ml_str_eq_cstr(a[i].key, "response_size"))
			a[i].v.s = ML_STR("91");
	}
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span cs = span(ML_SPAN_KIND_CLIENT, &productpage_res, a, N(a),
	                         "reviews.default.svc.cluster.local:9080/*", 1200);
	struct ml_mesh_side *c = side(&cs);
	cr_assert_eq(ml_istio_record(fx.istio, c, NULL), 0);
	fx_walk(&fx);
	cr_assert_eq(fx.w.n, 4, "%s", fx.w.all);
	char want[1400];
	const char *pp[8] = PRODUCTPAGE_V1, *un[8] = UNKNOWN_PEER, *svc[3] = REVIEWS_SVC;
	const char *uf[5] = {"http", "UF", "unknown", "503", ""};
	line(want, sizeof(want), "source", pp, un, svc, uf);
	expect_report(&fx.w, want, 1, 1.2, 0, 91);
	ml_mesh_side_free(c);
	fx_fini(&fx);
}

Test(istio, retries_exhausted_pair_each_side_reports_its_own_code)
{
	/* The server answered 503; the client's sidecar retried and gave up (URX). */
	struct ml_attr ca[N(pp_client_ok)], sa[N(rv_server_ok)];
	memcpy(ca, pp_client_ok, sizeof(ca));
	memcpy(sa, rv_server_ok, sizeof(sa));
	for (uint32_t i = 0; i < N(ca); i++) {
		if (ml_str_eq_cstr(ca[i].key, "http.status_code"))
			ca[i].v.s = ML_STR("503");
		if (ml_str_eq_cstr(ca[i].key, "response_flags"))
			ca[i].v.s = ML_STR("URX");
	}
	for (uint32_t i = 0; i < N(sa); i++)
		if (ml_str_eq_cstr(sa[i].key, "http.status_code"))
			sa[i].v.s = ML_STR("503");
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span cs = span(ML_SPAN_KIND_CLIENT, &productpage_res, ca, N(ca),
	                         "reviews.default.svc.cluster.local:9080/*", 30000);
	struct ml_span ss = span(ML_SPAN_KIND_SERVER, &reviews_res, sa, N(sa),
	                         "reviews.default.svc.cluster.local:9080/*", 2000);
	struct ml_mesh_side *c = side(&cs), *s = side(&ss);
	cr_assert_eq(ml_istio_record(fx.istio, c, s), 0);
	fx_walk(&fx);
	char want[1400];
	const char *pp[8] = PRODUCTPAGE_V1, *rv[8] = REVIEWS_V2, *svc[3] = REVIEWS_SVC;
	const char *urx[5] = {"http", "URX", "unknown", "503", ""};
	const char *f503[5] = {"http", "-", "unknown", "503", ""};
	line(want, sizeof(want), "source", pp, rv, svc, urx);
	expect_report(&fx.w, want, 1, 30, 0, 295);
	line(want, sizeof(want), "destination", pp, rv, svc, f503);
	expect_report(&fx.w, want, 1, 2, 0, 295);
	ml_mesh_side_free(c);
	ml_mesh_side_free(s);
	fx_fini(&fx);
}

Test(istio, unpaired_server_reports_an_unknown_source)
{
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span ss = span(ML_SPAN_KIND_SERVER, &reviews_res, rv_server_ok, N(rv_server_ok),
	                         "reviews.default.svc.cluster.local:9080/*", 10000);
	struct ml_mesh_side *s = side(&ss);
	cr_assert_eq(ml_istio_record(fx.istio, NULL, s), 0);
	cr_assert_eq(ml_istio_record(fx.istio, NULL, NULL), 0);
	fx_walk(&fx);
	cr_assert_eq(fx.w.n, 4, "%s", fx.w.all);
	char want[1400];
	const char *un[8] = UNKNOWN_PEER, *rv[8] = REVIEWS_V2, *svc[3] = REVIEWS_SVC,
	           *f200[5] = HTTP_200;
	line(want, sizeof(want), "destination", un, rv, svc, f200);
	expect_report(&fx.w, want, 1, 10, 0, 295);
	ml_mesh_side_free(s);
	fx_fini(&fx);
}

Test(istio, otel_pair_and_service_fallback_from_the_peer)
{
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span cs = span(ML_SPAN_KIND_CLIENT, &cart_res, cart_client_attrs,
	                         N(cart_client_attrs), "POST", 3000);
	/* The server span names no host: its report takes the client's service. */
	struct ml_attr sa[] = {S("http.request.method", "POST"),
	                       I("http.response.status_code", 201)};
	struct ml_span ss =
	    span(ML_SPAN_KIND_SERVER, &inventory_res, sa, N(sa), "POST /reserve", 2000);
	struct ml_mesh_side *c = side(&cs), *s = side(&ss);
	cr_assert_eq(ml_istio_record(fx.istio, c, s), 0);
	fx_walk(&fx);
	char want[1400];
	const char *cart[8] = {"cart",  "shop", "unknown", "cart",
	                       "1.4.2", "cart", "1.4.2",   "prod-eu"};
	const char *inv[8] = {"inventory", "shop",      "unknown", "inventory",
	                      "unknown",   "inventory", "latest",  "unknown"};
	const char *svc[3] = {"inventory.shop.svc.cluster.local", "inventory", "shop"};
	const char *f201[5] = {"http", "-", "unknown", "201", ""};
	line(want, sizeof(want), "source", cart, inv, svc, f201);
	expect_report(&fx.w, want, 1, 3, 1500, 42);
	line(want, sizeof(want), "destination", cart, inv, svc, f201);
	expect_report(&fx.w, want, 1, 2, 0, 0);
	ml_mesh_side_free(c);
	ml_mesh_side_free(s);
	fx_fini(&fx);
}

Test(istio, grpc_pair)
{
	struct ml_attr ca[] = {
	    S("node_id",
	      "sidecar~10.44.0.12~reviews-v2-5f9dbcd669-x7k2p.default~default.svc.cluster.local"),
	    S("istio.canonical_service", "reviews"),
	    S("istio.canonical_revision", "v2"),
	    S("istio.cluster_id", "Kubernetes"),
	    S("upstream_cluster", "outbound|9090||ratings.default.svc.cluster.local"),
	    S("http.status_code", "200"),
	    S("grpc.status_code", "0"),
	    S("response_flags", "-"),
	    S("request_size", "12"),
	    S("response_size", "30"),
	};
	struct ml_attr sa[] = {
	    S("node_id",
	      "sidecar~10.44.0.20~ratings-v1-7d9d7c6b6f-2kq4n.default~default.svc.cluster.local"),
	    S("istio.canonical_service", "ratings"),
	    S("istio.canonical_revision", "v1"),
	    S("istio.cluster_id", "Kubernetes"),
	    S("upstream_cluster", "inbound|9090||"),
	    S("http.url", "http://ratings.default.svc.cluster.local:9090/ratings.Ratings/Get"),
	    S("http.status_code", "200"),
	    S("grpc.status_code", "0"),
	    S("response_flags", "-"),
	    S("request_size", "12"),
	    S("response_size", "30"),
	};
	static struct ml_attr rres[] = {S("service.name", "ratings.default")};
	static const struct ml_resource ratings_res = {.service_name = ML_STR("ratings.default"),
	                                               .attrs = {rres, 1}};
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span cs = span(ML_SPAN_KIND_CLIENT, &reviews_res, ca, N(ca),
	                         "ratings.default.svc.cluster.local:9090/*", 700);
	struct ml_span ss = span(ML_SPAN_KIND_SERVER, &ratings_res, sa, N(sa), "ingress", 400);
	struct ml_mesh_side *c = side(&cs), *s = side(&ss);
	cr_assert_eq(ml_istio_record(fx.istio, c, s), 0);
	fx_walk(&fx);
	char want[1400];
	const char *rv[8] = REVIEWS_V2;
	const char *rt[8] = {"ratings-v1", "default", "unknown", "ratings",
	                     "v1",         "ratings", "v1",      "Kubernetes"};
	const char *svc[3] = {"ratings.default.svc.cluster.local", "ratings", "default"};
	const char *ok[5] = {"grpc", "-", "unknown", "200", "0"};
	line(want, sizeof(want), "source", rv, rt, svc, ok);
	expect_report(&fx.w, want, 1, 0.7, 12, 30);
	line(want, sizeof(want), "destination", rv, rt, svc, ok);
	expect_report(&fx.w, want, 1, 0.4, 12, 30);
	const struct child *h = find(&fx.w, "istio_request_duration_milliseconds", want);
	const uint64_t d04[19] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
	expect_buckets(h, d04, 19);
	ml_mesh_side_free(c);
	ml_mesh_side_free(s);
	fx_fini(&fx);
}

Test(istio, max_series_drops_are_counted)
{
	struct fixture fx;
	fx_init(&fx, 1);
	struct ml_span cs =
	    span(ML_SPAN_KIND_CLIENT, &productpage_res, pp_client_ok, N(pp_client_ok), "x", 1000);
	struct ml_span ss =
	    span(ML_SPAN_KIND_SERVER, &reviews_res, rv_server_ok, N(rv_server_ok), "x", 1000);
	struct ml_mesh_side *c = side(&cs), *s = side(&ss);
	/* The source report fills every family's single slot, the destination report is dropped. */
	cr_assert_eq(ml_istio_record(fx.istio, c, s), 4);
	cr_assert_eq(ml_istio_record(fx.istio, c, NULL),
	             4); /* unknown destination: another series */
	cr_assert_eq(ml_istio_record(fx.istio, c, s), 4);
	fx_walk(&fx);
	cr_assert_eq(fx.w.n, 4, "%s", fx.w.all);
	cr_assert_eq(fx.w.c[0].value, 2);
	ml_mesh_side_free(c);
	ml_mesh_side_free(s);
	fx_fini(&fx);
}

Test(istio, gateways_report_only_as_source)
{
	/* istio-ingressgateway: its inbound SERVER span and its CLIENT span to productpage. */
	struct ml_attr ga[] = {
	    S("node_id", "router~10.44.0.5~istio-ingressgateway-5d8f7f6b6c-q2x7w.istio-system~"
	                 "istio-system.svc."
	                 "cluster.local"),
	    S("istio.canonical_service", "istio-ingressgateway"),
	    S("istio.canonical_revision", "latest"),
	    S("istio.namespace", "istio-system"),
	    S("istio.cluster_id", "Kubernetes"),
	    S("http.url", "http://bookinfo.example.com/productpage"),
	    S("upstream_cluster", "outbound|9080||productpage.default.svc.cluster.local"),
	    S("http.status_code", "200"),
	    S("response_flags", "-"),
	    S("response_size", "5293"),
	};
	struct ml_attr pa[] = {
	    S("node_id", "sidecar~10.44.0.7~productpage-v1-6b746f74dc-9stvs.default~default.svc."
	                 "cluster.local"),
	    S("istio.canonical_service", "productpage"),
	    S("istio.canonical_revision", "v1"),
	    S("istio.namespace", "default"),
	    S("istio.cluster_id", "Kubernetes"),
	    S("upstream_cluster", "inbound|9080||"),
	    S("http.status_code", "200"),
	    S("response_flags", "-"),
	    S("response_size", "5293"),
	};
	static struct ml_attr gres[] = {S("service.name", "istio-ingressgateway.istio-system")};
	static const struct ml_resource gw_res = {
	    .service_name = ML_STR("istio-ingressgateway.istio-system"), .attrs = {gres, 1}};
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span g1 = span(ML_SPAN_KIND_SERVER, &gw_res, ga, N(ga),
	                         "productpage.default.svc.cluster.local:9080/productpage", 48000);
	struct ml_span g2 = span(ML_SPAN_KIND_CLIENT, &gw_res, ga, N(ga),
	                         "productpage.default.svc.cluster.local:9080/productpage", 47000);
	struct ml_span p1 = span(ML_SPAN_KIND_SERVER, &productpage_res, pa, N(pa),
	                         "productpage.default.svc.cluster.local:9080/productpage", 46000);
	struct ml_mesh_side *s1 = side(&g1), *c2 = side(&g2), *s2 = side(&p1);
	cr_assert(ml_mesh_side_is_gateway(s1));
	cr_assert(ml_mesh_side_is_gateway(c2));
	cr_assert_not(ml_mesh_side_is_gateway(s2));
	expect_field(c2, ML_MESH_WORKLOAD, "istio-ingressgateway");
	expect_field(c2, ML_MESH_APP, "istio-ingressgateway");
	/* The request from outside: no report at all. */
	cr_assert_eq(ml_istio_record(fx.istio, NULL, s1), 0);
	fx_walk(&fx);
	cr_assert_eq(fx.w.n, 0, "%s", fx.w.all);
	/* The forwarded request: the gateway as source, productpage's sidecar as destination. */
	cr_assert_eq(ml_istio_record(fx.istio, c2, s2), 0);
	fx_walk(&fx);
	cr_assert_eq(fx.w.n, 8, "%s", fx.w.all);
	char want[1400];
	const char *gw[8] = {
	    "istio-ingressgateway", "istio-system", "unknown",   "istio-ingressgateway", "unknown",
	    "istio-ingressgateway", "latest",       "Kubernetes"};
	const char *pp[8] = PRODUCTPAGE_V1;
	const char *svc[3] = {"productpage.default.svc.cluster.local", "productpage", "default"};
	const char *f200[5] = HTTP_200;
	line(want, sizeof(want), "source", gw, pp, svc, f200);
	expect_report(&fx.w, want, 1, 47, 0, 5293);
	line(want, sizeof(want), "destination", gw, pp, svc, f200);
	expect_report(&fx.w, want, 1, 46, 0, 5293);
	ml_mesh_side_free(s1);
	ml_mesh_side_free(c2);
	ml_mesh_side_free(s2);
	fx_fini(&fx);
}

/* ---- concurrency ------------------------------------------------------- */

struct worker {
	struct ml_istio *istio;
	const struct ml_mesh_side *c[3], *s[3];
};

static void *work(void *arg)
{
	struct worker *w = arg;
	for (int i = 0; i < 3000; i++)
		ml_istio_record(w->istio, w->c[i % 3], w->s[i % 3]);
	return NULL;
}

Test(istio, concurrent_records_are_all_counted)
{
	struct fixture fx;
	fx_init(&fx, 0);
	struct ml_span cs =
	    span(ML_SPAN_KIND_CLIENT, &productpage_res, pp_client_ok, N(pp_client_ok),
	         "reviews.default.svc.cluster.local:9080/*", 12500);
	struct ml_span ss = span(ML_SPAN_KIND_SERVER, &reviews_res, rv_server_ok, N(rv_server_ok),
	                         "reviews.default.svc.cluster.local:9080/*", 10000);
	struct ml_span os = span(ML_SPAN_KIND_CLIENT, &cart_res, cart_client_attrs,
	                         N(cart_client_attrs), "POST", 3000);
	struct ml_mesh_side *c = side(&cs), *s = side(&ss), *o = side(&os);
	/* Label-set shapes: a pair (2 reports), a lone client, a lone server, another client. */
	struct worker w = {fx.istio, {c, c, NULL}, {s, NULL, s}};
	struct worker w2 = {fx.istio, {o, c, NULL}, {NULL, s, s}};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, work, i % 2 ? &w2 : &w), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	fx_walk(&fx);
	/* Each worker records each of its three shapes 1000 times. */
	double total = 0;
	for (int i = 0; i < fx.w.n; i++)
		if (strcmp(fx.w.c[i].family, "istio_requests_total") == 0)
			total += fx.w.c[i].value;
	/* w: 2000 + 1000 + 1000 reports; w2: 1000 + 2000 + 1000; two workers of each. */
	cr_assert_eq(total, 2 * 4000 + 2 * 4000, "%g", total);
	char want[1400];
	const char *pp[8] = PRODUCTPAGE_V1, *rv[8] = REVIEWS_V2, *svc[3] = REVIEWS_SVC,
	           *f200[5] = HTTP_200;
	line(want, sizeof(want), "source", pp, rv, svc, f200);
	expect_report(&fx.w, want, 2 * 1000 + 2 * 1000, 4000 * 12.5, 0, 4000 * 295);
	ml_mesh_side_free(c);
	ml_mesh_side_free(s);
	ml_mesh_side_free(o);
	fx_fini(&fx);
}
