/*
 * store_fixtures.h - spans for the store tests: a span with every field set,
 * a deep comparison, Envoy-like mesh traces (what Istio sidecars send over
 * Zipkin: 8 spans per trace, ~20 string tags) and a temporary store.
 * Randomness is a fixed-seed xorshift, never the clock.
 */
#ifndef ML_TESTS_STORE_FIXTURES_H
#define ML_TESTS_STORE_FIXTURES_H

#include <criterion/criterion.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/arena.h"
#include "model/span.h"
#include "store/env.h"
#include "store/trace_store.h"

static inline uint64_t fx_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static inline struct ml_str fx_str(struct ml_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline struct ml_str fx_str(struct ml_arena *a, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return ml_str_make(ml_arena_strndup(a, buf, (size_t)n), (size_t)n);
}

static inline void fx_id(uint8_t *out, size_t n, uint64_t v)
{
	memset(out, 0, n);
	for (size_t i = 0; i < 8 && i < n; i++)
		out[n - 1 - i] = (uint8_t)(v >> (8 * i));
	if (n > 8)
		out[0] = 0xab; /* 128-bit ids */
}

static inline void fx_attr_s(struct ml_attr *a, struct ml_str k, struct ml_str v)
{
	a->key = k;
	a->type = ML_VAL_STRING;
	a->v.s = v;
}

/* A span using every field of the model. */
static inline void fx_full_span(struct ml_arena *a, struct ml_span *s, uint64_t n)
{
	struct ml_resource *res = ml_arena_calloc(a, 1, sizeof(*res));
	res->service_name = ML_STR("checkout");
	res->scope_name = ML_STR("io.opentelemetry.grpc");
	res->scope_version = ML_STR("1.2.3");
	res->attrs.n = 2;
	res->attrs.items = ml_arena_calloc(a, 2, sizeof(struct ml_attr));
	fx_attr_s(&res->attrs.items[0], ML_STR("service.name"), ML_STR("checkout"));
	res->attrs.items[1].key = ML_STR("host.cpus");
	res->attrs.items[1].type = ML_VAL_INT;
	res->attrs.items[1].v.i = -4;

	memset(s, 0, sizeof(*s));
	fx_id(s->trace_id, 16, 1000 + n);
	fx_id(s->span_id, 8, 2000 + n);
	fx_id(s->parent_id, 8, 3000 + n);
	s->name = fx_str(a, "GET /cart/%llu", (unsigned long long)n);
	s->kind = ML_SPAN_KIND_CLIENT;
	s->status_code = ML_STATUS_ERROR;
	s->shared = true;
	s->flags = 0x301;
	s->start_ns = 1700000000123456789ULL + n;
	s->end_ns = s->start_ns + 1234567;
	s->status_message = ML_STR("upstream reset");
	s->trace_state = ML_STR("rojo=00f067aa0ba902b7");
	s->resource = res;
	s->attrs.n = 6;
	s->attrs.items = ml_arena_calloc(a, 6, sizeof(struct ml_attr));
	fx_attr_s(&s->attrs.items[0], ML_STR("http.url"), ML_STR("http://cart:8080/cart"));
	s->attrs.items[1].key = ML_STR("retry");
	s->attrs.items[1].type = ML_VAL_BOOL;
	s->attrs.items[1].v.b = true;
	s->attrs.items[2].key = ML_STR("http.status_code");
	s->attrs.items[2].type = ML_VAL_INT;
	s->attrs.items[2].v.i = 503;
	s->attrs.items[3].key = ML_STR("ratio");
	s->attrs.items[3].type = ML_VAL_DOUBLE;
	s->attrs.items[3].v.d = 0.1;
	s->attrs.items[4].key = ML_STR("raw");
	s->attrs.items[4].type = ML_VAL_BYTES;
	s->attrs.items[4].v.s = ml_str_make("\x00\x01\xff", 3);
	s->attrs.items[5].key = ML_STR("list");
	s->attrs.items[5].type = ML_VAL_JSON;
	s->attrs.items[5].v.s = ML_STR("[{\"intValue\":\"1\"}]");
	s->n_events = 2;
	s->events = ml_arena_calloc(a, 2, sizeof(struct ml_event));
	s->events[0].time_ns = s->start_ns + 10;
	s->events[0].name = ML_STR("cs");
	s->events[1].time_ns = s->start_ns - 5; /* before start: allowed by OTLP */
	s->events[1].name = ML_STR("exception");
	s->events[1].attrs.n = 1;
	s->events[1].attrs.items = ml_arena_calloc(a, 1, sizeof(struct ml_attr));
	fx_attr_s(&s->events[1].attrs.items[0], ML_STR("exception.message"), ML_STR("boom"));
	s->n_links = 1;
	s->links = ml_arena_calloc(a, 1, sizeof(struct ml_link));
	fx_id(s->links[0].trace_id, 16, 77);
	fx_id(s->links[0].span_id, 8, 78);
	s->links[0].trace_state = ML_STR("k=v");
	s->links[0].attrs.n = 1;
	s->links[0].attrs.items = ml_arena_calloc(a, 1, sizeof(struct ml_attr));
	fx_attr_s(&s->links[0].attrs.items[0], ML_STR("link.kind"), ML_STR("follows"));
	s->local.service_name = ML_STR("checkout");
	s->local.ipv4 = ML_STR("10.0.0.7");
	s->local.port = 8080;
	s->remote.service_name = ML_STR("cart");
	s->remote.ipv6 = ML_STR("fe80::1");
	s->remote.port = 9090;
	s->dropped_attrs = 3;
	s->dropped_events = 4;
	s->dropped_links = 5;
}

static inline void fx_assert_str(struct ml_str a, struct ml_str b, const char *what)
{
	cr_assert(ml_str_eq(a, b), "%s: '%.*s' != '%.*s'", what, (int)a.n, a.p ? a.p : "", (int)b.n,
		  b.p ? b.p : "");
}

static inline void fx_assert_attrs(const struct ml_attrs *a, const struct ml_attrs *b)
{
	cr_assert_eq(a->n, b->n, "attribute count %u != %u", a->n, b->n);
	for (uint32_t i = 0; i < a->n; i++) {
		const struct ml_attr *x = &a->items[i], *y = &b->items[i];
		fx_assert_str(x->key, y->key, "attr key");
		cr_assert_eq(x->type, y->type);
		switch (x->type) {
		case ML_VAL_BOOL: cr_assert_eq(x->v.b, y->v.b); break;
		case ML_VAL_INT: cr_assert_eq(x->v.i, y->v.i); break;
		case ML_VAL_DOUBLE: cr_assert_eq(memcmp(&x->v.d, &y->v.d, 8), 0); break;
		default: fx_assert_str(x->v.s, y->v.s, "attr value"); break;
		}
	}
}

static inline void fx_assert_endpoint(const struct ml_endpoint *a, const struct ml_endpoint *b)
{
	fx_assert_str(a->service_name, b->service_name, "endpoint service");
	fx_assert_str(a->ipv4, b->ipv4, "ipv4");
	fx_assert_str(a->ipv6, b->ipv6, "ipv6");
	cr_assert_eq(a->port, b->port);
}

/* Every field of two spans is equal. */
static inline void fx_assert_span_eq(const struct ml_span *a, const struct ml_span *b)
{
	cr_assert_eq(memcmp(a->trace_id, b->trace_id, 16), 0, "trace id");
	cr_assert_eq(memcmp(a->span_id, b->span_id, 8), 0, "span id");
	cr_assert_eq(memcmp(a->parent_id, b->parent_id, 8), 0, "parent id");
	fx_assert_str(a->name, b->name, "name");
	cr_assert_eq(a->kind, b->kind);
	cr_assert_eq(a->status_code, b->status_code);
	cr_assert_eq(a->shared, b->shared);
	cr_assert_eq(a->flags, b->flags);
	cr_assert_eq(a->start_ns, b->start_ns);
	cr_assert_eq(a->end_ns, b->end_ns);
	fx_assert_str(a->status_message, b->status_message, "status message");
	fx_assert_str(a->trace_state, b->trace_state, "trace state");
	fx_assert_str(a->resource->service_name, b->resource->service_name, "service");
	fx_assert_str(a->resource->scope_name, b->resource->scope_name, "scope");
	fx_assert_str(a->resource->scope_version, b->resource->scope_version, "scope version");
	fx_assert_attrs(&a->resource->attrs, &b->resource->attrs);
	fx_assert_attrs(&a->attrs, &b->attrs);
	cr_assert_eq(a->n_events, b->n_events);
	for (uint32_t i = 0; i < a->n_events; i++) {
		cr_assert_eq(a->events[i].time_ns, b->events[i].time_ns);
		fx_assert_str(a->events[i].name, b->events[i].name, "event name");
		fx_assert_attrs(&a->events[i].attrs, &b->events[i].attrs);
	}
	cr_assert_eq(a->n_links, b->n_links);
	for (uint32_t i = 0; i < a->n_links; i++) {
		cr_assert_eq(memcmp(a->links[i].trace_id, b->links[i].trace_id, 16), 0);
		cr_assert_eq(memcmp(a->links[i].span_id, b->links[i].span_id, 8), 0);
		fx_assert_str(a->links[i].trace_state, b->links[i].trace_state, "link trace state");
		fx_assert_attrs(&a->links[i].attrs, &b->links[i].attrs);
	}
	fx_assert_endpoint(&a->local, &b->local);
	fx_assert_endpoint(&a->remote, &b->remote);
	cr_assert_eq(a->dropped_attrs, b->dropped_attrs);
	cr_assert_eq(a->dropped_events, b->dropped_events);
	cr_assert_eq(a->dropped_links, b->dropped_links);
}

/* ---- Envoy-like mesh traffic ------------------------------------------ */

static const char *const fx_services[] = {
	"istio-ingressgateway.istio-system", "productpage.default", "reviews.default",
	"ratings.default", "details.default", "cart.shop", "checkout.shop", "payment.shop",
};
#define FX_N_SERVICES 8
#define FX_PODS_PER_SERVICE 3

/*
 * Appends one trace of 8 spans to batch: a gateway and three hops, each hop a
 * CLIENT span in the caller's sidecar and a SERVER span in the callee's, as
 * Istio's Zipkin tracer sends them (tags only, string values).
 */
static inline void fx_envoy_trace(struct ml_span_batch *b, uint64_t *rng, uint64_t trace_no,
				  uint64_t start_ns)
{
	struct ml_arena *a = b->arena;
	uint8_t tid[16];
	for (int i = 0; i < 16; i += 8) {
		uint64_t r = fx_rand(rng);
		memcpy(tid + i, &r, 8);
	}
	struct ml_str guid = fx_str(a, "%08llx-%04llx-4%03llx-a%03llx-%012llx",
				    (unsigned long long)(fx_rand(rng) & 0xffffffff),
				    (unsigned long long)(fx_rand(rng) & 0xffff),
				    (unsigned long long)(fx_rand(rng) & 0xfff),
				    (unsigned long long)(fx_rand(rng) & 0xfff),
				    (unsigned long long)(fx_rand(rng) & 0xffffffffffffULL));
	int chain[5];
	chain[0] = 0;
	chain[1] = 1 + (int)(trace_no % 2) * 4; /* productpage or cart */
	for (int i = 2; i < 5; i++)
		chain[i] = (chain[i - 1] + 1 + (int)(fx_rand(rng) % 2)) % FX_N_SERVICES;
	uint8_t parent[8] = {0};
	uint64_t t = start_ns;
	uint64_t dur = 20000000 + fx_rand(rng) % 30000000;
	for (int hop = 0; hop < 4; hop++) {
		int from = chain[hop], to = chain[hop + 1];
		/* Both sidecars of a hop see the same request: url, sizes, status. */
		const char *host = fx_services[to];
		int hl = (int)(strchr(host, '.') - host);
		struct ml_str url = fx_str(a, "http://%.*s:9080/api/v1/items/%llu", hl, host,
					   (unsigned long long)(fx_rand(rng) % 1000));
		struct ml_str req_size = fx_str(a, "%d", (int)(fx_rand(rng) % 2000));
		struct ml_str resp_size = fx_str(a, "%d", (int)(fx_rand(rng) % 20000));
		bool err = fx_rand(rng) % 50 == 0;
		int client_pod = (int)(fx_rand(rng) % FX_PODS_PER_SERVICE);
		int server_pod = (int)(fx_rand(rng) % FX_PODS_PER_SERVICE);
		struct ml_str client_addr = fx_str(a, "10.1.%d.%d:%d", from, 10 + client_pod,
						   30000 + (int)(fx_rand(rng) % 30000));
		struct ml_str server_addr = fx_str(a, "10.1.%d.%d:9080", to, 10 + server_pod);
		for (int side = 0; side < 2; side++) {
			struct ml_span *s = ml_span_batch_add(b);
			int svc = side == 0 ? from : to;
			int pod = side == 0 ? client_pod : server_pod;
			struct ml_resource *res = ml_arena_calloc(a, 1, sizeof(*res));
			res->service_name = ml_str_make(fx_services[svc], strlen(fx_services[svc]));
			res->attrs.n = 1;
			res->attrs.items = ml_arena_calloc(a, 1, sizeof(struct ml_attr));
			fx_attr_s(&res->attrs.items[0], ML_STR("service.name"), res->service_name);
			s->resource = res;
			memcpy(s->trace_id, tid, 16);
			uint64_t sid = fx_rand(rng);
			memcpy(s->span_id, &sid, 8);
			memcpy(s->parent_id, parent, 8);
			memcpy(parent, s->span_id, 8);
			s->kind = side == 0 ? ML_SPAN_KIND_CLIENT : ML_SPAN_KIND_SERVER;
			s->start_ns = t / 1000 * 1000; /* Zipkin: microseconds */
			s->end_ns = s->start_ns + dur / 1000 * 1000;
			t += 100000 + fx_rand(rng) % 400000;
			dur = dur * 8 / 10;
			s->name = fx_str(a, "%.*s.svc.cluster.local:9080/*", hl, host);
			s->local.service_name = res->service_name;
			s->local.ipv4 = fx_str(a, "10.1.%d.%d", svc, 10 + pod);
			if (err)
				s->status_code = ML_STATUS_ERROR;
			uint32_t n = 0;
			struct ml_attr *at = ml_arena_calloc(a, 24, sizeof(*at));
			const char *ns = strchr(fx_services[svc], '.') + 1;
			int nl = (int)(strchr(fx_services[svc], '.') - fx_services[svc]);
			fx_attr_s(&at[n++], ML_STR("node_id"),
				  fx_str(a, "sidecar~10.1.%d.%d~%.*s-v1-7d4b9c8f5-%05d.%s~%s.svc.cluster.local", svc,
					 10 + pod, nl, fx_services[svc], 10000 + svc * 7 + pod, ns, ns));
			fx_attr_s(&at[n++], ML_STR("zone"), ML_STR("us-east1-b"));
			fx_attr_s(&at[n++], ML_STR("component"), ML_STR("proxy"));
			fx_attr_s(&at[n++], ML_STR("guid:x-request-id"), guid);
			fx_attr_s(&at[n++], ML_STR("http.url"), url);
			fx_attr_s(&at[n++], ML_STR("http.method"), ML_STR("GET"));
			fx_attr_s(&at[n++], ML_STR("http.protocol"), ML_STR("HTTP/1.1"));
			fx_attr_s(&at[n++], ML_STR("downstream_cluster"), ML_STR("-"));
			fx_attr_s(&at[n++], ML_STR("user_agent"), ML_STR("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"));
			/* the client sees the server's address, the server the client's */
			fx_attr_s(&at[n++], ML_STR("peer.address"), side == 0 ? server_addr : client_addr);
			fx_attr_s(&at[n++], ML_STR("request_size"), req_size);
			fx_attr_s(&at[n++], ML_STR("response_size"), resp_size);
			fx_attr_s(&at[n++], ML_STR("http.status_code"), err ? ML_STR("503") : ML_STR("200"));
			fx_attr_s(&at[n++], ML_STR("response_flags"), err ? ML_STR("UF") : ML_STR("-"));
			fx_attr_s(&at[n++], ML_STR("upstream_cluster"),
				  side == 0 ? fx_str(a, "outbound|9080||%.*s.svc.cluster.local", hl, host)
					    : ML_STR("inbound|9080||"));
			fx_attr_s(&at[n++], ML_STR("upstream_cluster.name"),
				  side == 0 ? fx_str(a, "outbound|9080||%.*s.svc.cluster.local", hl, host)
					    : ML_STR("inbound|9080||"));
			fx_attr_s(&at[n++], ML_STR("istio.canonical_service"), fx_str(a, "%.*s", nl, fx_services[svc]));
			fx_attr_s(&at[n++], ML_STR("istio.canonical_revision"), ML_STR("v1"));
			fx_attr_s(&at[n++], ML_STR("istio.mesh_id"), ML_STR("cluster.local"));
			fx_attr_s(&at[n++], ML_STR("istio.namespace"), ml_str_make(ns, strlen(ns)));
			fx_attr_s(&at[n++], ML_STR("upstream_address"),
				  side == 0 ? server_addr : fx_str(a, "127.0.0.6:9080"));
			if (err)
				fx_attr_s(&at[n++], ML_STR("error"), ML_STR("true"));
			s->attrs.items = at;
			s->attrs.n = n;
		}
	}
}

/* A fresh directory per test, removed by fx_rmdir. */
static inline void fx_tmpdir(char *out, size_t n)
{
	snprintf(out, n, "/tmp/meshlens-store-XXXXXX");
	cr_assert_not_null(mkdtemp(out));
}

static inline void fx_rmdir(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

#endif
