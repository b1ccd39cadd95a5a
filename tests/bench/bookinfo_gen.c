/*
 * bookinfo_gen.c - the Bookinfo trace generator of the benchmarks (see
 * bookinfo_gen.h for the topology, the span shapes and the epoch replay).
 *
 * Spans are produced as calls complete (children before parents, as Envoy
 * reports them), queued per sidecar, and encoded when a sidecar's queue is
 * full. While encoding, every place that an epoch rewrites (ids,
 * timestamps, x-request-id) is recorded as a patch: for Zipkin JSON the
 * writer knows the offsets; for OTLP the body is packed by protobuf-c and
 * the fields are then located in span order (each span starts with its
 * trace_id, field 1, so a forward search from the previous span's trace id
 * finds exactly this span's fields; ids are random 64/128-bit values).
 */
#include "bookinfo_gen.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

enum patch_kind {
	P_TRACE_BIN = 1, /* 16 raw bytes */
	P_SPAN_BIN,      /* 8 raw bytes */
	P_TIME_BIN,      /* fixed64 little-endian unix ns */
	P_TRACE_HEX,     /* 32 lowercase hex digits */
	P_SPAN_HEX,      /* 16 lowercase hex digits */
	P_TIME_DEC16,    /* 16 decimal digits, unix µs */
	P_GUID,          /* 36-char UUID text */
};

enum workload_id { W_GW, W_PP, W_DETAILS, W_REV1, W_REV2, W_REV3, W_RATINGS, W_COUNT };

/* What differs between Bookinfo's workloads; sizes are what Bookinfo answers. */
static const struct workload {
	const char *app, *version, *ns, *service;
	const char *route;    /* span name of calls into this workload (Envoy decorator) */
	const char *url;      /* http.url of calls into it */
	const char *out_ua;   /* user agent of its own outgoing calls */
	const char *upstream; /* outbound cluster of calls into it */
	uint32_t resp_size, resp_var;
	uint32_t self_min_us, self_mean_us; /* own processing time: min + exponential */
	uint16_t port;
} wl[W_COUNT] = {
    [W_GW] = {"istio-ingressgateway", "", "istio-system", "istio-ingressgateway.istio-system", NULL,
              NULL, NULL, NULL, 0, 0, 150, 300, 8080},
    [W_PP] = {"productpage", "v1", "default", "productpage.default",
              "productpage.default.svc.cluster.local:9080/productpage",
              "http://bookinfo.example.com/productpage", "python-requests/2.31.0",
              "outbound|9080||productpage.default.svc.cluster.local", 5183, 160, 3000, 6000, 9080},
    [W_DETAILS] = {"details", "v1", "default", "details.default",
                   "details.default.svc.cluster.local:9080/*", "http://details:9080/details/0",
                   NULL, "outbound|9080||details.default.svc.cluster.local", 178, 0, 600, 1200,
                   9080},
    [W_REV1] = {"reviews", "v1", "default", "reviews.default",
                "reviews.default.svc.cluster.local:9080/*", "http://reviews:9080/reviews/0",
                "Apache-CXF/3.1.18", "outbound|9080||reviews.default.svc.cluster.local", 295, 0,
                2000, 4000, 9080},
    [W_REV2] = {"reviews", "v2", "default", "reviews.default",
                "reviews.default.svc.cluster.local:9080/*", "http://reviews:9080/reviews/0",
                "Apache-CXF/3.1.18", "outbound|9080||reviews.default.svc.cluster.local", 358, 0,
                2000, 4000, 9080},
    [W_REV3] = {"reviews", "v3", "default", "reviews.default",
                "reviews.default.svc.cluster.local:9080/*", "http://reviews:9080/reviews/0",
                "Apache-CXF/3.1.18", "outbound|9080||reviews.default.svc.cluster.local", 375, 0,
                2000, 4000, 9080},
    [W_RATINGS] = {"ratings", "v1", "default", "ratings.default",
                   "ratings.default.svc.cluster.local:9080/*", "http://ratings:9080/ratings/0",
                   NULL, "outbound|9080||ratings.default.svc.cluster.local", 48, 0, 400, 800, 9080},
};

static const char *const browser_ua[] = {
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.1 Safari/605.1.15",
    "curl/8.5.0",
};
static const char *const zones[] = {"us-central1-a", "us-central1-b", "us-central1-c"};

#define MAX_TAGS 24
#define TEXT_CAP 1024

/* A span before encoding; tag values are NUL-terminated inside text. */
struct gspan {
	uint8_t trace_id[16], span_id[8], parent_id[8];
	bool has_parent, error;
	uint8_t kind; /* 2 SERVER, 3 CLIENT (OTLP numbering) */
	uint64_t start_us, end_us;
	const char *name;
	char guid[37];
	uint32_t n_tags;
	const char *keys[MAX_TAGS];
	uint16_t voff[MAX_TAGS];
	uint16_t vlen[MAX_TAGS];
	char text[TEXT_CAP];
	uint16_t text_len;
};

struct pod {
	char name[64];
	char ip[32];
	char node_id[160];
	const char *zone;
	enum workload_id w;
};

struct queue {
	struct gspan *spans;
	uint32_t n, cap;
};

struct gen {
	struct ml_bench_gen_options o;
	uint64_t rng;
	struct pod *pods;
	struct queue *queues;
	uint32_t n_pods;
	struct ml_bench_pool *pool;
	size_t items_cap;
	struct ml_arena *arena; /* protobuf-c structs of one body */
	struct ml_buf out;
	bool failed;
	/* the trace being generated */
	uint8_t trace_id[16];
	char guid[37];
	const char *ua;
	char client_ip[32];
};

uint64_t ml_bench_mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t rnd(struct gen *g)
{
	g->rng += 0x9e3779b97f4a7c15ULL;
	return ml_bench_mix64(g->rng);
}

static double rnd_unit(struct gen *g)
{
	return (double)(rnd(g) >> 11) * (1.0 / 9007199254740992.0);
}

/* min + exponential(mean), in µs. */
static uint64_t rnd_time(struct gen *g, uint32_t min, uint32_t mean)
{
	return min + (uint64_t)(-log(1.0 - rnd_unit(g)) * mean);
}

static void rnd_bytes(struct gen *g, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rnd(g);
		for (size_t j = 0; j < 8 && i + j < n; j++)
			out[i + j] = (uint8_t)(v >> (8 * j));
	}
}

void ml_bench_gen_defaults(struct ml_bench_gen_options *o)
{
	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->start_ns = 1700000000000000000ULL;
	o->spans_per_request = 100;
	o->replicas = 3;
	o->error_rate = 0.02;
	o->trace_gap_us = 200;
	o->format = ML_BENCH_OTLP_PROTO;
}

uint32_t ml_bench_sidecars(const struct ml_bench_gen_options *o)
{
	return W_COUNT * o->replicas;
}

const char *ml_bench_sidecar_service(const struct ml_bench_gen_options *o, uint32_t i)
{
	return wl[(i / o->replicas) % W_COUNT].service;
}

const char *ml_bench_format_path(enum ml_bench_format f)
{
	return f == ML_BENCH_ZIPKIN_JSON ? "/api/v2/spans" : "/v1/traces";
}

const char *ml_bench_format_content_type(enum ml_bench_format f)
{
	return f == ML_BENCH_ZIPKIN_JSON ? "application/json" : "application/x-protobuf";
}

/* ---- span construction ---------------------------------------------------- */

static void tag(struct gen *g, struct gspan *s, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void tag(struct gen *g, struct gspan *s, const char *key, const char *fmt, ...)
{
	va_list ap;
	size_t room = TEXT_CAP - s->text_len;

	if (s->n_tags == MAX_TAGS) {
		g->failed = true;
		return;
	}
	va_start(ap, fmt);
	int n = vsnprintf(s->text + s->text_len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		g->failed = true;
		return;
	}
	s->keys[s->n_tags] = key;
	s->voff[s->n_tags] = s->text_len;
	s->vlen[s->n_tags] = (uint16_t)n;
	s->n_tags++;
	s->text_len = (uint16_t)(s->text_len + n + 1);
}

static const char *tag_value(const struct gspan *s, uint32_t i)
{
	return s->text + s->voff[i];
}

static int pool_push(struct gen *g, const uint8_t *body, size_t len, uint32_t n_spans,
                     uint32_t sidecar, struct ml_bench_patch *patches, size_t n_patches);
static int flush(struct gen *g, uint32_t sidecar);

static struct gspan *span_new(struct gen *g, uint32_t pod)
{
	struct queue *q = &g->queues[pod];

	if (q->n == q->cap) {
		uint32_t cap = q->cap ? q->cap * 2 : 16;
		if (cap > g->o.spans_per_request)
			cap = g->o.spans_per_request;
		struct gspan *p = ml_realloc(q->spans, (size_t)cap * sizeof(*p));
		if (p == NULL) {
			g->failed = true;
			return NULL;
		}
		q->spans = p;
		q->cap = cap;
	}
	struct gspan *s = &q->spans[q->n];
	memset(s, 0, offsetof(struct gspan, text));
	s->text_len = 0;
	return s;
}

/* The span is complete: count it and flush the sidecar if its queue is full. */
static void span_done(struct gen *g, uint32_t pod)
{
	struct queue *q = &g->queues[pod];
	if (q->spans[q->n].error)
		g->pool->n_error_spans++;
	q->n++;
	g->pool->n_spans++;
	if (q->n >= g->o.spans_per_request && flush(g, pod) != 0)
		g->failed = true;
}

/* The tags Envoy and Istio put on every span of a pod. */
static void common_tags(struct gen *g, struct gspan *s, const struct pod *p,
                        enum workload_id target, int status, bool conn_fail, const char *peer,
                        uint32_t resp_size)
{
	const struct workload *w = &wl[p->w];
	bool server = s->kind == 2;

	tag(g, s, "node_id", "%s", p->node_id);
	tag(g, s, "zone", "%s", p->zone);
	tag(g, s, "component", "proxy");
	tag(g, s, "guid:x-request-id", "%s", g->guid);
	tag(g, s, "http.url", "%s", wl[target].url);
	tag(g, s, "http.method", "GET");
	tag(g, s, "http.protocol", "HTTP/1.1");
	tag(g, s, "downstream_cluster", "-");
	tag(g, s, "user_agent", "%s", g->ua);
	tag(g, s, "peer.address", "%s", peer);
	tag(g, s, "request_size", "0");
	tag(g, s, "response_size", "%u", resp_size);
	tag(g, s, "http.status_code", "%d", status);
	tag(g, s, "response_flags", "%s", conn_fail ? "UF,URX" : "-");
	if (server && p->w != W_GW) {
		tag(g, s, "upstream_cluster", "inbound|%u||", w->port);
		tag(g, s, "upstream_cluster.name", "inbound|%u||", w->port);
		tag(g, s, "upstream_address", "%s:%u", p->ip, w->port);
	} else {
		tag(g, s, "upstream_cluster", "%s", wl[target].upstream);
		tag(g, s, "upstream_cluster.name", "%s", wl[target].upstream);
		if (!conn_fail)
			tag(g, s, "upstream_address", "10.96.%u.%u:%u", (unsigned)target + 1,
			    (unsigned)(target * 7 + 3), wl[target].port);
	}
	tag(g, s, "istio.canonical_service", "%s", w->app);
	tag(g, s, "istio.canonical_revision", "%s", w->version[0] ? w->version : "latest");
	tag(g, s, "istio.mesh_id", "cluster.local");
	tag(g, s, "istio.namespace", "%s", w->ns);
	tag(g, s, "istio.cluster_id", "Kubernetes");
	if (status >= 500 || status == 0) {
		tag(g, s, "error", "true");
		s->error = true;
	}
}

static uint32_t pick_pod(struct gen *g, enum workload_id w)
{
	return (uint32_t)w * g->o.replicas + (uint32_t)(rnd(g) % g->o.replicas);
}

static uint64_t call(struct gen *g, uint32_t from, const uint8_t *parent, enum workload_id target,
                     uint64_t start, int *status);

/*
 * The inbound side of a request at pod `pod`: its children calls, then the
 * SERVER span. parent: the caller's client span id (NULL: the trace root).
 * fail_status != 0: the application fails at once with that status.
 */
static uint64_t serve(struct gen *g, uint32_t pod, const uint8_t *parent, const char *peer,
                      uint64_t start, int fail_status, int *status)
{
	const struct pod *p = &g->pods[pod];
	const struct workload *w = &wl[p->w];
	uint8_t id[8];
	uint64_t cur = start + rnd_time(g, 50, 100);
	int st = 200, child_st = 200;
	enum workload_id route = p->w == W_GW ? W_PP : p->w;

	rnd_bytes(g, id, 8);
	if (fail_status) {
		st = fail_status;
		cur += rnd_time(g, 100, 400);
	} else {
		switch (p->w) {
		case W_GW:
			cur = call(g, pod, id, W_PP, cur, &child_st);
			st = child_st; /* the gateway passes the answer through */
			break;
		case W_PP: {
			cur += rnd_time(g, w->self_min_us / 2, w->self_mean_us / 2);
			cur = call(g, pod, id, W_DETAILS, cur, &child_st);
			cur += rnd_time(g, 100, 300);
			static const enum workload_id rev[] = {W_REV1, W_REV2, W_REV3};
			cur = call(g, pod, id, rev[rnd(g) % 3], cur, &child_st);
			cur += rnd_time(g, w->self_min_us / 2, w->self_mean_us / 2);
			break; /* productpage degrades gracefully: 200 whatever its backends said */
		}
		case W_REV2:
		case W_REV3:
			cur += rnd_time(g, w->self_min_us / 2, w->self_mean_us / 2);
			cur = call(g, pod, id, W_RATINGS, cur, &child_st);
			cur += rnd_time(g, w->self_min_us / 2, w->self_mean_us / 2);
			break;
		default:
			cur += rnd_time(g, w->self_min_us, w->self_mean_us);
			break;
		}
	}
	uint64_t end = cur + rnd_time(g, 30, 60);
	uint32_t resp =
	    st >= 500 ? 95
	              : (route == W_PP ? wl[W_PP].resp_size + (uint32_t)(rnd(g) % wl[W_PP].resp_var)
	                               : w->resp_size);

	struct gspan *s = span_new(g, pod);
	if (s == NULL)
		return end;
	memcpy(s->trace_id, g->trace_id, 16);
	memcpy(s->span_id, id, 8);
	if (parent) {
		memcpy(s->parent_id, parent, 8);
		s->has_parent = true;
	}
	s->kind = 2;
	s->start_us = start;
	s->end_us = end;
	s->name = wl[route].route;
	memcpy(s->guid, g->guid, 37);
	common_tags(g, s, p, route, st, false, peer, resp);
	span_done(g, pod);
	*status = st;
	return end;
}

/* An outbound call from pod `from` to a pod of `target`: the CLIENT span and the callee's side. */
static uint64_t call(struct gen *g, uint32_t from, const uint8_t *parent, enum workload_id target,
                     uint64_t start, int *status)
{
	const struct pod *p = &g->pods[from];
	uint32_t to = pick_pod(g, target);
	uint8_t id[8];
	uint64_t end;
	int st = 200;
	bool fail = rnd_unit(g) < g->o.error_rate;
	bool conn_fail = fail && rnd(g) % 4 == 0;
	const char *saved_ua = g->ua;
	uint32_t resp;

	rnd_bytes(g, id, 8);
	if (conn_fail) {
		/* Envoy retried, found no healthy upstream: 503 UF,URX, no server span. */
		end = start + rnd_time(g, 500, 1000);
		st = 503;
		resp = 19;
	} else {
		uint64_t net = rnd_time(g, 80, 150);
		if (p->w != W_GW && wl[p->w].out_ua)
			g->ua = wl[p->w].out_ua;
		end = serve(g, to, id, p->ip, start + net, fail ? 503 : 0, &st);
		g->ua = saved_ua;
		end += rnd_time(g, 80, 150);
		resp =
		    st >= 500 ? 95 : (target == W_PP ? wl[W_PP].resp_size : wl[target].resp_size);
	}

	struct gspan *s = span_new(g, from);
	if (s == NULL)
		return end;
	memcpy(s->trace_id, g->trace_id, 16);
	memcpy(s->span_id, id, 8);
	memcpy(s->parent_id, parent, 8);
	s->has_parent = true;
	s->kind = 3;
	s->start_us = start;
	s->end_us = end;
	s->name = wl[target].route;
	memcpy(s->guid, g->guid, 37);
	common_tags(g, s, p, target, st, conn_fail, p->ip, resp);
	span_done(g, from);
	*status = st;
	return end;
}

/* Generates one whole trace starting at start_us; returns when its last span ends. */
static uint64_t new_trace(struct gen *g, uint64_t start_us)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t u[16];
	int st;

	rnd_bytes(g, g->trace_id, 16);
	rnd_bytes(g, u, 16);
	u[6] = (uint8_t)((u[6] & 0x0f) | 0x40); /* UUID v4, as Envoy generates x-request-id */
	u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
	size_t k = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			g->guid[k++] = '-';
		g->guid[k++] = hex[u[i] >> 4];
		g->guid[k++] = hex[u[i] & 15];
	}
	g->guid[36] = '\0';
	g->ua = browser_ua[rnd(g) % 3];
	snprintf(g->client_ip, sizeof(g->client_ip), "203.0.113.%u", (unsigned)(rnd(g) % 250 + 1));
	uint64_t end = serve(g, pick_pod(g, W_GW), NULL, g->client_ip, start_us, 0, &st);
	g->pool->n_traces++;
	return end;
}

/* ---- encoding ------------------------------------------------------------- */

static int add_patch(struct ml_bench_patch **v, size_t *n, size_t *cap, size_t off, uint8_t kind)
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		struct ml_bench_patch *p = ml_realloc(*v, c * sizeof(*p));
		if (p == NULL)
			return -1;
		*v = p;
		*cap = c;
	}
	(*v)[*n].off = (uint32_t)off;
	(*v)[*n].kind = kind;
	(*n)++;
	return 0;
}

static void put_hex(struct ml_buf *b, const uint8_t *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t *o = ml_buf_reserve(b, 2 * n);
	if (o == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		o[2 * i] = (uint8_t)hex[p[i] >> 4];
		o[2 * i + 1] = (uint8_t)hex[p[i] & 15];
	}
	b->len += 2 * n;
}

/* Zipkin v2 JSON as Envoy writes it (string tags, no remoteEndpoint, 128-bit ids). */
static int encode_zipkin(struct gen *g, uint32_t sidecar, struct ml_bench_patch **patches,
                         size_t *n_patches, size_t *cap)
{
	const struct queue *q = &g->queues[sidecar];
	const struct pod *p = &g->pods[sidecar];
	struct ml_buf *b = &g->out;

	ml_buf_clear(b);
	ml_buf_putc(b, '[');
	for (uint32_t i = 0; i < q->n; i++) {
		const struct gspan *s = &q->spans[i];
		if (i)
			ml_buf_putc(b, ',');
		ml_buf_puts(b, "{\"traceId\":\"");
		if (add_patch(patches, n_patches, cap, b->len, P_TRACE_HEX))
			return -1;
		put_hex(b, s->trace_id, 16);
		ml_buf_puts(b, "\",\"id\":\"");
		if (add_patch(patches, n_patches, cap, b->len, P_SPAN_HEX))
			return -1;
		put_hex(b, s->span_id, 8);
		if (s->has_parent) {
			ml_buf_puts(b, "\",\"parentId\":\"");
			if (add_patch(patches, n_patches, cap, b->len, P_SPAN_HEX))
				return -1;
			put_hex(b, s->parent_id, 8);
		}
		ml_buf_printf(b, "\",\"kind\":\"%s\",\"name\":\"%s\",\"timestamp\":",
		              s->kind == 2 ? "SERVER" : "CLIENT", s->name);
		if (add_patch(patches, n_patches, cap, b->len, P_TIME_DEC16))
			return -1;
		ml_buf_printf(b, "%016llu,\"duration\":%llu", (unsigned long long)s->start_us,
		              (unsigned long long)(s->end_us - s->start_us));
		ml_buf_printf(
		    b, ",\"localEndpoint\":{\"serviceName\":\"%s\",\"ipv4\":\"%s\"},\"tags\":{",
		    wl[p->w].service, p->ip);
		for (uint32_t t = 0; t < s->n_tags; t++) {
			ml_buf_printf(b, "%s\"%s\":\"", t ? "," : "", s->keys[t]);
			if (strcmp(s->keys[t], "guid:x-request-id") == 0 &&
			    add_patch(patches, n_patches, cap, b->len, P_GUID))
				return -1;
			ml_buf_append(b, tag_value(s, t), s->vlen[t]);
			ml_buf_putc(b, '"');
		}
		ml_buf_puts(b, "}}");
	}
	ml_buf_putc(b, ']');
	return ml_buf_ok(b) ? 0 : -1;
}

static const uint8_t *find(const uint8_t *hay, size_t len, size_t from, const void *needle,
                           size_t n)
{
	if (from > len)
		return NULL;
	return memmem(hay + from, len - from, needle, n);
}

static void le64_put(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* OTLP ExportTraceServiceRequest: one ResourceSpans (service.name) with one ScopeSpans. */
static int encode_otlp(struct gen *g, uint32_t sidecar, struct ml_bench_patch **patches,
                       size_t *n_patches, size_t *cap)
{
	const struct queue *q = &g->queues[sidecar];
	struct ml_arena *a = g->arena;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
	    OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
	    OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT;
	Opentelemetry__Proto__Resource__V1__Resource res =
	    OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
	    OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
	    OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	Opentelemetry__Proto__Common__V1__KeyValue svc =
	    OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__AnyValue svc_v =
	    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
	Opentelemetry__Proto__Common__V1__KeyValue *res_attrs[1] = {&svc};
	Opentelemetry__Proto__Trace__V1__ResourceSpans *rsp[1] = {&rs};
	Opentelemetry__Proto__Trace__V1__ScopeSpans *ssp[1] = {&ss};

	ml_arena_reset(a);
	svc.key = "service.name";
	svc.value = &svc_v;
	svc_v.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	svc_v.string_value = (char *)wl[g->pods[sidecar].w].service;
	res.n_attributes = 1;
	res.attributes = res_attrs;
	scope.name = "envoy";
	rs.resource = &res;
	rs.n_scope_spans = 1;
	rs.scope_spans = ssp;
	ss.scope = &scope;
	req.n_resource_spans = 1;
	req.resource_spans = rsp;

	Opentelemetry__Proto__Trace__V1__Span **spans = ml_arena_calloc(a, q->n, sizeof(*spans));
	if (spans == NULL)
		return -1;
	for (uint32_t i = 0; i < q->n; i++) {
		const struct gspan *s = &q->spans[i];
		Opentelemetry__Proto__Trace__V1__Span *o = ml_arena_alloc(a, sizeof(*o));
		Opentelemetry__Proto__Common__V1__KeyValue *kv =
		    ml_arena_alloc(a, s->n_tags * sizeof(*kv));
		Opentelemetry__Proto__Common__V1__AnyValue *av =
		    ml_arena_alloc(a, s->n_tags * sizeof(*av));
		Opentelemetry__Proto__Common__V1__KeyValue **kvp =
		    ml_arena_alloc(a, s->n_tags * sizeof(*kvp));
		Opentelemetry__Proto__Trace__V1__Status *st = ml_arena_alloc(a, sizeof(*st));
		if (o == NULL || kv == NULL || av == NULL || kvp == NULL || st == NULL)
			return -1;
		opentelemetry__proto__trace__v1__span__init(o);
		o->trace_id.data = (uint8_t *)s->trace_id;
		o->trace_id.len = 16;
		o->span_id.data = (uint8_t *)s->span_id;
		o->span_id.len = 8;
		if (s->has_parent) {
			o->parent_span_id.data = (uint8_t *)s->parent_id;
			o->parent_span_id.len = 8;
		}
		o->name = (char *)s->name;
		o->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)s->kind;
		o->start_time_unix_nano = s->start_us * 1000;
		o->end_time_unix_nano = s->end_us * 1000;
		for (uint32_t t = 0; t < s->n_tags; t++) {
			opentelemetry__proto__common__v1__key_value__init(&kv[t]);
			opentelemetry__proto__common__v1__any_value__init(&av[t]);
			kv[t].key = (char *)s->keys[t];
			kv[t].value = &av[t];
			av[t].value_case =
			    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
			av[t].string_value = (char *)tag_value(s, t);
			kvp[t] = &kv[t];
		}
		o->n_attributes = s->n_tags;
		o->attributes = kvp;
		if (s->error) {
			opentelemetry__proto__trace__v1__status__init(st);
			st->code =
			    OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
			o->status = st;
		}
		spans[i] = o;
	}
	ss.n_spans = q->n;
	ss.spans = spans;

	size_t len =
	    opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(
	        &req);
	ml_buf_clear(&g->out);
	uint8_t *body = ml_buf_reserve(&g->out, len);
	if (body == NULL)
		return -1;
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, body);
	g->out.len = len;

	size_t cursor = 0;
	for (uint32_t i = 0; i < q->n; i++) {
		const struct gspan *s = &q->spans[i];
		uint8_t pat[9];
		const uint8_t *t = find(body, len, cursor, s->trace_id, 16);
		if (t == NULL)
			return -1;
		size_t at = (size_t)(t - body);
		cursor = at + 16;
		const uint8_t *sid = find(body, len, cursor, s->span_id, 8);
		const uint8_t *pid =
		    s->has_parent ? find(body, len, cursor, s->parent_id, 8) : body;
		pat[0] = 0x39; /* field 7 start_time_unix_nano, wire type fixed64 */
		le64_put(pat + 1, s->start_us * 1000);
		const uint8_t *ts = find(body, len, cursor, pat, 9);
		pat[0] = 0x41; /* field 8 end_time_unix_nano */
		le64_put(pat + 1, s->end_us * 1000);
		const uint8_t *te = find(body, len, cursor, pat, 9);
		const uint8_t *gu = find(body, len, cursor, s->guid, 36);
		if (sid == NULL || pid == NULL || ts == NULL || te == NULL || gu == NULL)
			return -1;
		if (add_patch(patches, n_patches, cap, at, P_TRACE_BIN) ||
		    add_patch(patches, n_patches, cap, (size_t)(sid - body), P_SPAN_BIN) ||
		    (s->has_parent &&
		     add_patch(patches, n_patches, cap, (size_t)(pid - body), P_SPAN_BIN)) ||
		    add_patch(patches, n_patches, cap, (size_t)(ts - body) + 1, P_TIME_BIN) ||
		    add_patch(patches, n_patches, cap, (size_t)(te - body) + 1, P_TIME_BIN) ||
		    add_patch(patches, n_patches, cap, (size_t)(gu - body), P_GUID))
			return -1;
	}
	return 0;
}

static int pool_push(struct gen *g, const uint8_t *body, size_t len, uint32_t n_spans,
                     uint32_t sidecar, struct ml_bench_patch *patches, size_t n_patches)
{
	struct ml_bench_pool *p = g->pool;

	if (p->n == g->items_cap) {
		size_t c = g->items_cap ? g->items_cap * 2 : 64;
		struct ml_bench_payload *v = ml_realloc(p->items, c * sizeof(*v));
		if (v == NULL)
			return -1;
		p->items = v;
		g->items_cap = c;
	}
	uint8_t *copy = ml_malloc(len);
	if (copy == NULL)
		return -1;
	memcpy(copy, body, len);
	p->items[p->n] = (struct ml_bench_payload){copy, len, n_spans, sidecar, patches, n_patches};
	p->n++;
	p->bytes += len;
	return 0;
}

static int flush(struct gen *g, uint32_t sidecar)
{
	struct queue *q = &g->queues[sidecar];
	struct ml_bench_patch *patches = NULL;
	size_t n_patches = 0, cap = 0;
	int rc;

	if (q->n == 0)
		return 0;
	if (g->o.format == ML_BENCH_ZIPKIN_JSON)
		rc = encode_zipkin(g, sidecar, &patches, &n_patches, &cap);
	else
		rc = encode_otlp(g, sidecar, &patches, &n_patches, &cap);
	if (rc != 0)
		goto fail;
	if (pool_push(g, g->out.data, g->out.len, q->n, sidecar, patches, n_patches) != 0)
		goto fail;
	q->n = 0;
	return 0;
fail:
	ml_free(patches);
	return -1;
}

static void init_pods(struct gen *g)
{
	static const char alnum[] = "bcdfghjklmnpqrstvwxz2456789";
	for (uint32_t i = 0; i < g->n_pods; i++) {
		struct pod *p = &g->pods[i];
		const struct workload *w;
		char hash[11], suffix[6];

		p->w = (enum workload_id)(i / g->o.replicas);
		w = &wl[p->w];
		for (int k = 0; k < 10; k++)
			hash[k] = alnum[rnd(g) % (sizeof(alnum) - 1)];
		hash[10] = '\0';
		for (int k = 0; k < 5; k++)
			suffix[k] = alnum[rnd(g) % (sizeof(alnum) - 1)];
		suffix[5] = '\0';
		if (w->version[0])
			snprintf(p->name, sizeof(p->name), "%s-%s-%s-%s", w->app, w->version, hash,
			         suffix);
		else
			snprintf(p->name, sizeof(p->name), "%s-%s-%s", w->app, hash, suffix);
		snprintf(p->ip, sizeof(p->ip), "10.244.%u.%u", i % 3 + 1, i / 3 + 10);
		snprintf(p->node_id, sizeof(p->node_id), "%s~%s~%s.%s~%s.svc.cluster.local",
		         p->w == W_GW ? "router" : "sidecar", p->ip, p->name, w->ns, w->ns);
		p->zone = zones[i % 3];
	}
}

struct ml_bench_pool *ml_bench_pool_build(const struct ml_bench_gen_options *o, uint64_t min_spans)
{
	struct gen g;
	struct ml_bench_pool *pool = NULL;

	memset(&g, 0, sizeof(g));
	if (o->spans_per_request == 0 || o->replicas == 0 || o->replicas > 1000 ||
	    o->error_rate < 0 || o->error_rate > 1)
		return NULL;
	g.o = *o;
	g.rng = o->seed;
	g.n_pods = ml_bench_sidecars(o);
	g.pods = ml_calloc(g.n_pods, sizeof(*g.pods));
	g.queues = ml_calloc(g.n_pods, sizeof(*g.queues));
	g.arena = ml_arena_create(1 << 20);
	pool = ml_calloc(1, sizeof(*pool));
	if (g.pods == NULL || g.queues == NULL || g.arena == NULL || pool == NULL)
		goto fail;
	g.pool = pool;
	pool->opt = *o;
	pool->keys[0] = rnd(&g);
	pool->keys[1] = rnd(&g);
	init_pods(&g);

	uint64_t t0 = o->start_ns / 1000, t = t0, last_end = t0;
	while (pool->n_spans < min_spans && !g.failed) {
		uint64_t end = new_trace(&g, t);
		if (end > last_end)
			last_end = end;
		t += rnd_time(&g, 1, o->trace_gap_us ? o->trace_gap_us : 1);
	}
	for (uint32_t i = 0; i < g.n_pods && !g.failed; i++)
		if (flush(&g, i) != 0)
			g.failed = true;
	if (g.failed)
		goto fail;
	/* The next epoch starts one gap after the pool's last span ended. */
	pool->span_ns = (last_end - t0 + o->trace_gap_us) * 1000;
	for (uint32_t i = 0; i < g.n_pods; i++)
		ml_free(g.queues[i].spans);
	ml_free(g.queues);
	ml_free(g.pods);
	ml_arena_destroy(g.arena);
	ml_buf_free(&g.out);
	return pool;
fail:
	if (g.queues)
		for (uint32_t i = 0; i < g.n_pods; i++)
			ml_free(g.queues[i].spans);
	ml_free(g.queues);
	ml_free(g.pods);
	ml_arena_destroy(g.arena);
	ml_buf_free(&g.out);
	ml_bench_pool_destroy(pool);
	return NULL;
}

void ml_bench_pool_destroy(struct ml_bench_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		ml_free(p->items[i].body);
		ml_free(p->items[i].patches);
	}
	ml_free(p->items);
	ml_free(p);
}

/* ---- epoch replay ---------------------------------------------------------- */

static int hexval(uint8_t c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

static void xor_hex(uint8_t *p, size_t digits, const uint8_t *key)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < digits; i++) {
		int k = (i & 1) ? key[i / 2] & 15 : key[i / 2] >> 4;
		p[i] = (uint8_t)hex[hexval(p[i]) ^ k];
	}
}

void ml_bench_pool_render(const struct ml_bench_pool *p, size_t i, uint64_t epoch, uint8_t *out)
{
	const struct ml_bench_payload *pl = &p->items[i];
	uint8_t kt[16] = {0}, ks[8] = {0}, kg[16] = {0};
	uint64_t shift_ns = epoch * p->span_ns;

	memcpy(out, pl->body, pl->len);
	if (epoch == 0)
		return;
	for (int j = 0; j < 2; j++) {
		uint64_t a = ml_bench_mix64(p->keys[0] ^ (epoch * 4 + (uint64_t)j));
		uint64_t b = ml_bench_mix64(p->keys[1] ^ (epoch * 4 + (uint64_t)j));
		le64_put(kt + 8 * j, a);
		le64_put(kg + 8 * j, b);
	}
	le64_put(ks, ml_bench_mix64(p->keys[0] ^ (epoch * 4 + 2)));
	/* Keep the UUID's version nibble ('4') and variant bits. */
	kg[6] &= 0x0f;
	kg[8] &= 0x3f;

	for (size_t k = 0; k < pl->n_patches; k++) {
		uint8_t *q = out + pl->patches[k].off;
		switch (pl->patches[k].kind) {
		case P_TRACE_BIN:
			for (int j = 0; j < 16; j++)
				q[j] ^= kt[j];
			break;
		case P_SPAN_BIN:
			for (int j = 0; j < 8; j++)
				q[j] ^= ks[j];
			break;
		case P_TIME_BIN:
			le64_put(q, le64_get(q) + shift_ns);
			break;
		case P_TRACE_HEX:
			xor_hex(q, 32, kt);
			break;
		case P_SPAN_HEX:
			xor_hex(q, 16, ks);
			break;
		case P_TIME_DEC16: {
			uint64_t v = 0;
			for (int j = 0; j < 16; j++)
				v = v * 10 + (uint64_t)(q[j] - '0');
			v += shift_ns / 1000;
			for (int j = 15; j >= 0; j--) {
				q[j] = (uint8_t)('0' + v % 10);
				v /= 10;
			}
			break;
		}
		case P_GUID: {
			/* 8-4-4-4-12 hex groups: XOR the 32 digits with kg, skipping dashes. */
			uint8_t digits[32];
			size_t n = 0;
			for (int j = 0; j < 36; j++)
				if (q[j] != '-')
					digits[n++] = q[j];
			xor_hex(digits, 32, kg);
			n = 0;
			for (int j = 0; j < 36; j++)
				if (q[j] != '-')
					q[j] = digits[n++];
			break;
		}
		default:
			break;
		}
	}
}

int ml_bench_pool_first_trace_id(const struct ml_bench_pool *p, size_t i, const uint8_t *rendered,
                                 uint8_t out[16])
{
	const struct ml_bench_payload *pl = &p->items[i];

	for (size_t k = 0; k < pl->n_patches; k++) {
		const uint8_t *q = rendered + pl->patches[k].off;
		if (pl->patches[k].kind == P_TRACE_BIN) {
			memcpy(out, q, 16);
			return 0;
		}
		if (pl->patches[k].kind == P_TRACE_HEX) {
			for (int j = 0; j < 16; j++)
				out[j] = (uint8_t)(hexval(q[2 * j]) << 4 | hexval(q[2 * j + 1]));
			return 0;
		}
	}
	return -1;
}
