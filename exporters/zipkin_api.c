/*
 * zipkin_api.c - Zipkin's v2 query API answered from the trace store, and
 * the Zipkin v2 JSON rendering of a span; see zipkin_api.h.
 *
 * Spec: zipkin-api zipkin2-api.yaml (GET /services, /spans, /remoteServices,
 * /traces, /trace/{traceId}, /traceMany, /dependencies) and the behaviour of
 * Zipkin's own server where the spec is silent: QueryRequest defaults
 * (lookback 86400000 ms, limit 10), `spanName=all` meaning any name, and
 * QueryRequest.test's semantics for /traces: a trace matches when, among the
 * spans of the requested service, some span has the span name, some span has
 * the remote service, every annotationQuery term is met by some span and some
 * span has a duration in range — not necessarily the same span. The store's
 * search is stricter (one span must meet everything), so it is asked only for
 * the service plus one criterion, which is a necessary condition, and the
 * traces it returns are filtered here, fetching more while too few survive.
 *
 * Rendering follows what Zipkin's JSON encoder writes: field order traceId,
 * parentId, id, kind, name, timestamp, duration, localEndpoint,
 * remoteEndpoint, annotations, tags, shared; absent and empty fields are
 * omitted. Spans that came in as OTLP get what OpenTelemetry's Zipkin
 * exporters give them: attributes as string tags, otel.status_code / error
 * for the status, otel.scope.name, and a remoteEndpoint derived from the
 * peer attributes.
 */
#include "exporters/zipkin_api.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "core/arena.h"
#include "exporters/json_writer.h"
#include "exporters/trace_params.h"
#include "store/trace_store.h"

/* Zipkin's QueryRequest defaults. */
#define ZIPKIN_DEFAULT_LOOKBACK_MS 86400000ull
#define ZIPKIN_DEFAULT_LIMIT 10u
/* Bounds that keep one query's memory and time reasonable. */
#define ZIPKIN_MAX_LIMIT 10000u
#define ZIPKIN_MAX_FETCH 20000u
#define ZIPKIN_MAX_TRACE_IDS 1000u

/* ---------------------------------------------------------------------------
 * Rendering
 */

static bool attrs_have(const struct ml_attrs *a, uint32_t upto, struct ml_str key)
{
	for (uint32_t i = 0; i < upto; i++)
		if (ml_str_eq(a->items[i].key, key))
			return true;
	return false;
}

/*
 * The text of a bool, int or double attribute into tmp (shortest round-trip
 * form for doubles, "NaN"/"Inf"/"-Inf" as Go's and Java's formatters write).
 */
static size_t scalar_text(const struct ml_attr *a, char *tmp, size_t size)
{
	switch (a->type) {
	case ML_VAL_BOOL:
		return (size_t)snprintf(tmp, size, "%s", a->v.b ? "true" : "false");
	case ML_VAL_INT:
		return (size_t)snprintf(tmp, size, "%" PRId64, a->v.i);
	default:
		if (isnan(a->v.d))
			return (size_t)snprintf(tmp, size, "NaN");
		if (isinf(a->v.d))
			return (size_t)snprintf(tmp, size, "%s", a->v.d > 0 ? "Inf" : "-Inf");
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(tmp, size, "%.*g", prec, a->v.d);
			if (strtod(tmp, NULL) == a->v.d)
				break;
		}
		return strlen(tmp);
	}
}

/* An attribute value as the JSON string Zipkin tags hold. */
static void put_attr_value(struct ml_buf *b, const struct ml_attr *a)
{
	char tmp[40];
	switch (a->type) {
	case ML_VAL_BOOL:
	case ML_VAL_INT:
	case ML_VAL_DOUBLE:
		ml_json_str(b, tmp, scalar_text(a, tmp, sizeof(tmp)));
		break;
	case ML_VAL_BYTES:
		ml_json_base64(b, (const uint8_t *)a->v.s.p, a->v.s.n);
		break;
	default: /* STRING, JSON */
		ml_json_str(b, a->v.s.p, a->v.s.n);
		break;
	}
}

/* Writes ,"key":"value" (or without the comma for the first tag). */
static void tag_sep(struct ml_buf *b, bool *first)
{
	if (*first)
		ml_buf_puts(b, ",\"tags\":{");
	else
		ml_buf_putc(b, ',');
	*first = false;
}

static const struct ml_attr *find_any(const struct ml_span *s, const char *key)
{
	const struct ml_attr *a = ml_attrs_find(&s->attrs, key);
	if (a == NULL && s->resource != NULL)
		a = ml_attrs_find(&s->resource->attrs, key);
	return a;
}

static void put_tags(struct ml_buf *b, const struct ml_span *s)
{
	bool first = true;
	for (uint32_t i = 0; i < s->attrs.n; i++) {
		const struct ml_attr *a = &s->attrs.items[i];
		if (attrs_have(&s->attrs, i, a->key))
			continue;
		tag_sep(b, &first);
		ml_json_str(b, a->key.p, a->key.n);
		ml_buf_putc(b, ':');
		put_attr_value(b, a);
	}
	/* Resource attributes other than service.name (OTLP spans): span attributes win. */
	const struct ml_attrs *ra = s->resource != NULL ? &s->resource->attrs : NULL;
	for (uint32_t i = 0; ra != NULL && i < ra->n; i++) {
		const struct ml_attr *a = &ra->items[i];
		if (ml_str_eq_cstr(a->key, "service.name") || attrs_have(&s->attrs, s->attrs.n, a->key) ||
		    attrs_have(ra, i, a->key))
			continue;
		tag_sep(b, &first);
		ml_json_str(b, a->key.p, a->key.n);
		ml_buf_putc(b, ':');
		put_attr_value(b, a);
	}
	/* Status as OpenTelemetry's Zipkin exporters write it; a Zipkin-native
	 * error (an "error" tag) is already there and needs nothing more. */
	bool has_error = find_any(s, "error") != NULL;
	if (s->status_code != ML_STATUS_UNSET && !(s->status_code == ML_STATUS_ERROR && has_error) &&
	    find_any(s, "otel.status_code") == NULL) {
		tag_sep(b, &first);
		ml_json_key(b, "otel.status_code");
		ml_json_cstr(b, s->status_code == ML_STATUS_ERROR ? "ERROR" : "OK");
	}
	if (s->status_code == ML_STATUS_ERROR && !has_error) {
		tag_sep(b, &first);
		ml_json_key(b, "error");
		if (s->status_message.n > 0)
			ml_json_str(b, s->status_message.p, s->status_message.n);
		else
			ml_json_cstr(b, "true");
	}
	if (s->resource != NULL && s->resource->scope_name.n > 0 &&
	    find_any(s, "otel.scope.name") == NULL) {
		tag_sep(b, &first);
		ml_json_key(b, "otel.scope.name");
		ml_json_str(b, s->resource->scope_name.p, s->resource->scope_name.n);
		if (s->resource->scope_version.n > 0 && find_any(s, "otel.scope.version") == NULL) {
			ml_buf_putc(b, ',');
			ml_json_key(b, "otel.scope.version");
			ml_json_str(b, s->resource->scope_version.p, s->resource->scope_version.n);
		}
	}
	if (!first)
		ml_buf_putc(b, '}');
}

static bool endpoint_empty(const struct ml_endpoint *e)
{
	return e->service_name.n == 0 && e->ipv4.n == 0 && e->ipv6.n == 0 && e->port == 0;
}

static void put_endpoint(struct ml_buf *b, const char *key, const struct ml_endpoint *e)
{
	bool first = true;
	ml_buf_putc(b, ',');
	ml_json_key(b, key);
	ml_buf_putc(b, '{');
	if (e->service_name.n > 0) {
		ml_json_key(b, "serviceName");
		ml_json_str(b, e->service_name.p, e->service_name.n);
		first = false;
	}
	if (e->ipv4.n > 0) {
		if (!first)
			ml_buf_putc(b, ',');
		ml_json_key(b, "ipv4");
		ml_json_str(b, e->ipv4.p, e->ipv4.n);
		first = false;
	}
	if (e->ipv6.n > 0) {
		if (!first)
			ml_buf_putc(b, ',');
		ml_json_key(b, "ipv6");
		ml_json_str(b, e->ipv6.p, e->ipv6.n);
		first = false;
	}
	if (e->port != 0) {
		if (!first)
			ml_buf_putc(b, ',');
		ml_json_key(b, "port");
		ml_json_u64(b, e->port);
	}
	ml_buf_putc(b, '}');
}

static struct ml_str attr_string(const struct ml_span *s, const char *key)
{
	const struct ml_attr *a = ml_attrs_find(&s->attrs, key);
	if (a != NULL && a->type == ML_VAL_STRING)
		return a->v.s;
	return ml_str_make(NULL, 0);
}

static uint16_t attr_port(const struct ml_span *s, const char *key)
{
	const struct ml_attr *a = ml_attrs_find(&s->attrs, key);
	if (a == NULL)
		return 0;
	if (a->type == ML_VAL_INT && a->v.i > 0 && a->v.i <= 65535)
		return (uint16_t)a->v.i;
	if (a->type == ML_VAL_STRING && a->v.s.n > 0 && a->v.s.n <= 5) {
		unsigned v = 0;
		for (size_t i = 0; i < a->v.s.n; i++) {
			if (a->v.s.p[i] < '0' || a->v.s.p[i] > '9')
				return 0;
			v = v * 10 + (unsigned)(a->v.s.p[i] - '0');
		}
		return v <= 65535 ? (uint16_t)v : 0;
	}
	return 0;
}

/*
 * The remote endpoint of a span that has none of its own, from the OTLP
 * peer attributes (old and new semantic conventions), as OpenTelemetry's
 * Zipkin exporters derive it.
 */
static struct ml_endpoint derive_remote(const struct ml_span *s)
{
	static const char *const names[] = {"peer.service", "server.address", "net.peer.name"};
	static const char *const addrs[] = {"net.sock.peer.addr", "network.peer.address",
					    "net.peer.ip"};
	static const char *const ports[] = {"server.port", "net.peer.port", "net.sock.peer.port",
					    "network.peer.port"};
	struct ml_endpoint e;
	memset(&e, 0, sizeof(e));
	for (size_t i = 0; i < 3 && e.service_name.n == 0; i++)
		e.service_name = attr_string(s, names[i]);
	for (size_t i = 0; i < 3; i++) {
		struct ml_str ip = attr_string(s, addrs[i]);
		if (ip.n == 0)
			continue;
		if (memchr(ip.p, ':', ip.n) != NULL)
			e.ipv6 = ip;
		else
			e.ipv4 = ip;
		break;
	}
	for (size_t i = 0; i < 4 && e.port == 0; i++)
		e.port = attr_port(s, ports[i]);
	return e;
}

/* The remote service name Zipkin would index for a span ("" if none). */
static struct ml_str remote_service(const struct ml_span *s)
{
	if (!endpoint_empty(&s->remote) || s->local.service_name.n > 0)
		return s->remote.service_name;
	return derive_remote(s).service_name;
}

static struct ml_str local_service(const struct ml_span *s)
{
	if (s->local.service_name.n > 0)
		return s->local.service_name;
	return s->resource != NULL ? s->resource->service_name : ml_str_make(NULL, 0);
}

void ml_zipkin_span_json(struct ml_buf *out, const struct ml_span *span)
{
	static const uint8_t zero8[8];
	const struct ml_span *s = span;

	ml_buf_puts(out, "{\"traceId\":");
	/* 16 hex digits when the id is a 64-bit one, as it was sent. */
	if (memcmp(s->trace_id, zero8, 8) == 0)
		ml_json_hex(out, s->trace_id + 8, 8);
	else
		ml_json_hex(out, s->trace_id, 16);
	if (ml_span_has_parent(s)) {
		ml_buf_puts(out, ",\"parentId\":");
		ml_json_hex(out, s->parent_id, 8);
	}
	ml_buf_puts(out, ",\"id\":");
	ml_json_hex(out, s->span_id, 8);
	const char *kind = ml_span_kind_zipkin((enum ml_span_kind)s->kind);
	if (kind != NULL) {
		ml_buf_puts(out, ",\"kind\":");
		ml_json_cstr(out, kind);
	}
	if (s->name.n > 0) {
		ml_buf_puts(out, ",\"name\":");
		ml_json_str(out, s->name.p, s->name.n);
	}
	ml_buf_puts(out, ",\"timestamp\":");
	ml_json_u64(out, s->start_ns / 1000);
	if (s->end_ns > s->start_ns) {
		/* Zipkin: "Durations of less than one are rounded up." */
		uint64_t d = (s->end_ns - s->start_ns) / 1000;
		ml_buf_puts(out, ",\"duration\":");
		ml_json_u64(out, d ? d : 1);
	}

	struct ml_endpoint local = s->local;
	local.service_name = local_service(s);
	if (!endpoint_empty(&local))
		put_endpoint(out, "localEndpoint", &local);
	if (!endpoint_empty(&s->remote)) {
		put_endpoint(out, "remoteEndpoint", &s->remote);
	} else if (s->local.service_name.n == 0) {
		/* No Zipkin endpoint at all: an OTLP span. */
		struct ml_endpoint remote = derive_remote(s);
		if (!endpoint_empty(&remote))
			put_endpoint(out, "remoteEndpoint", &remote);
	}

	if (s->n_events > 0) {
		ml_buf_puts(out, ",\"annotations\":[");
		for (uint32_t i = 0; i < s->n_events; i++) {
			if (i)
				ml_buf_putc(out, ',');
			ml_buf_puts(out, "{\"timestamp\":");
			ml_json_u64(out, s->events[i].time_ns / 1000);
			ml_buf_puts(out, ",\"value\":");
			ml_json_str(out, s->events[i].name.p, s->events[i].name.n);
			ml_buf_putc(out, '}');
		}
		ml_buf_putc(out, ']');
	}
	put_tags(out, s);
	if (s->shared)
		ml_buf_puts(out, ",\"shared\":true");
	ml_buf_putc(out, '}');
}

static void put_trace(struct ml_buf *out, const struct ml_trace *t)
{
	ml_buf_putc(out, '[');
	for (size_t i = 0; i < t->n; i++) {
		if (i)
			ml_buf_putc(out, ',');
		ml_zipkin_span_json(out, &t->spans[i]);
	}
	ml_buf_putc(out, ']');
}

/* ---------------------------------------------------------------------------
 * Handlers
 */

static struct ml_trace_store *store_of(void *ctx, struct ml_http_response *resp)
{
	struct ml_app *app = ctx;
	if (app == NULL || app->traces == NULL) {
		ml_http_text(resp, 503, "the trace store is not open");
		return NULL;
	}
	return app->traces;
}

static void store_error(struct ml_http_response *resp, const char *what, int rc)
{
	ml_http_text(resp, 500, "%s: %s", what, ml_strerror(rc));
}

static void finish_json(struct ml_http_response *resp)
{
	if (!ml_buf_ok(&resp->body)) {
		ml_http_text(resp, 500, "out of memory writing the response");
		return;
	}
	resp->status = 200;
	resp->content_type = "application/json";
}

static void put_str_array(struct ml_buf *b, const struct ml_str *v, size_t n)
{
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(b, ',');
		ml_json_str(b, v[i].p, v[i].n);
	}
	ml_buf_putc(b, ']');
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * An optional unsigned integer parameter; absent or empty gives def. On a
 * bad value answers 400 naming the parameter and returns ML_EINVAL.
 */
static int param_u64(const struct ml_http_request *req, struct ml_http_response *resp,
		     const char *name, uint64_t def, uint64_t max, uint64_t *out)
{
	struct ml_err err;
	const char *v = ml_http_param(req, name);
	*out = def;
	if (v == NULL || v[0] == '\0')
		return 0;
	if (ml_trace_param_u64(name, v, strlen(v), out, &err) != 0) {
		ml_http_text(resp, 400, "%s", err.msg);
		return ML_EINVAL;
	}
	if (*out > max) {
		ml_http_text(resp, 400, "parameter %s: %" PRIu64 " is larger than %" PRIu64, name,
			     *out, max);
		return ML_EINVAL;
	}
	return 0;
}

/* endTs and lookback (ms) -> [start_ns, end_ns]. */
static int time_range(const struct ml_http_request *req, struct ml_http_response *resp,
		      uint64_t *start_ns, uint64_t *end_ns)
{
	/* Milliseconds that still fit in nanoseconds. */
	const uint64_t max_ms = UINT64_MAX / 1000000u;
	uint64_t end_ms, lookback_ms;
	if (param_u64(req, resp, "endTs", now_ms(), max_ms, &end_ms) != 0 ||
	    param_u64(req, resp, "lookback", ZIPKIN_DEFAULT_LOOKBACK_MS, UINT64_MAX, &lookback_ms) != 0)
		return ML_EINVAL;
	uint64_t start_ms = lookback_ms < end_ms ? end_ms - lookback_ms : 0;
	*start_ns = start_ms * 1000000u;
	/* endTs is inclusive of its whole millisecond. */
	*end_ns = end_ms * 1000000u + 999999u;
	return 0;
}

static const char *required_service(const struct ml_http_request *req,
				    struct ml_http_response *resp)
{
	const char *svc = ml_http_param(req, "serviceName");
	if (svc == NULL || svc[0] == '\0') {
		ml_http_text(resp, 400, "serviceName is required");
		return NULL;
	}
	return svc;
}

void ml_zipkin_services(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	struct ml_str *names = NULL;
	size_t n = 0;
	if (ts == NULL)
		return;
	int rc = ml_trace_store_services(ts, req->arena, &names, &n);
	if (rc != 0) {
		store_error(resp, "listing services", rc);
		return;
	}
	put_str_array(&resp->body, names, n);
	finish_json(resp);
}

void ml_zipkin_spans(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	struct ml_operation *ops = NULL;
	size_t n = 0;
	if (ts == NULL)
		return;
	const char *svc = required_service(req, resp);
	if (svc == NULL)
		return;
	int rc = ml_trace_store_operations(ts, ml_str_make(svc, strlen(svc)), 0, req->arena, &ops,
					   &n);
	if (rc != 0) {
		store_error(resp, "listing span names", rc);
		return;
	}
	/* Sorted by name then kind: one name per run. Zipkin lists no empty name. */
	struct ml_buf *b = &resp->body;
	bool first = true;
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (ops[i].name.n == 0 || (i > 0 && ml_str_eq(ops[i].name, ops[i - 1].name)))
			continue;
		if (!first)
			ml_buf_putc(b, ',');
		ml_json_str(b, ops[i].name.p, ops[i].name.n);
		first = false;
	}
	ml_buf_putc(b, ']');
	finish_json(resp);
}

void ml_zipkin_remote_services(const struct ml_http_request *req, struct ml_http_response *resp,
			       void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	struct ml_str *names = NULL;
	size_t n = 0;
	if (ts == NULL)
		return;
	const char *svc = required_service(req, resp);
	if (svc == NULL)
		return;
	int rc = ml_trace_store_remote_services(ts, ml_str_make(svc, strlen(svc)), req->arena,
						&names, &n);
	if (rc != 0) {
		store_error(resp, "listing remote services", rc);
		return;
	}
	put_str_array(&resp->body, names, n);
	finish_json(resp);
}

/* Zipkin's /traces criteria, checked against whole traces (QueryRequest.test). */
struct zipkin_query {
	struct ml_str service;     /* n == 0: any */
	struct ml_str span_name;   /* n == 0: any */
	struct ml_str remote;      /* n == 0: any */
	struct ml_tag_filter *terms;
	size_t n_terms;
	uint64_t min_ns, max_ns;   /* max 0: no upper bound */
	bool has_duration;
};

static bool span_meets_term(const struct ml_span *s, const struct ml_tag_filter *t)
{
	const struct ml_attr *a = NULL;
	for (uint32_t i = 0; i < s->attrs.n; i++) {
		if (ml_str_eq(s->attrs.items[i].key, t->key)) {
			a = &s->attrs.items[i];
			break;
		}
	}
	if (t->value.p == NULL) {
		if (a != NULL)
			return true;
		for (uint32_t i = 0; i < s->n_events; i++)
			if (ml_str_eq(s->events[i].name, t->key))
				return true;
		/* An OTLP error status is Zipkin's "error" tag. */
		return s->status_code == ML_STATUS_ERROR && ml_str_eq_cstr(t->key, "error");
	}
	if (a == NULL)
		return false;
	if (a->type == ML_VAL_STRING || a->type == ML_VAL_JSON)
		return ml_str_eq(a->v.s, t->value);
	if (a->type == ML_VAL_BYTES)
		return false;
	/* Typed OTLP attributes compare as the text their tag renders to. */
	char tmp[40];
	size_t n = scalar_text(a, tmp, sizeof(tmp));
	return ml_str_eq(ml_str_make(tmp, n), t->value);
}

static bool trace_matches(const struct ml_trace *t, const struct zipkin_query *q)
{
	bool name_ok = q->span_name.n == 0, remote_ok = q->remote.n == 0;
	bool dur_ok = !q->has_duration;
	uint64_t met = 0; /* bit i: term i met (at most 64 terms) */
	for (size_t i = 0; i < t->n; i++) {
		const struct ml_span *s = &t->spans[i];
		/* The service constrains every other criterion. */
		if (q->service.n > 0 && !ml_str_eq(local_service(s), q->service))
			continue;
		if (!name_ok && ml_str_eq(s->name, q->span_name))
			name_ok = true;
		if (!remote_ok && ml_str_eq(remote_service(s), q->remote))
			remote_ok = true;
		for (size_t k = 0; k < q->n_terms; k++)
			if (!(met >> k & 1) && span_meets_term(s, &q->terms[k]))
				met |= 1ull << k;
		if (!dur_ok && s->end_ns > s->start_ns) {
			uint64_t d = s->end_ns - s->start_ns;
			dur_ok = d >= q->min_ns && (q->max_ns == 0 || d <= q->max_ns);
		}
	}
	uint64_t all = q->n_terms >= 64 ? ~0ull : (1ull << q->n_terms) - 1;
	return name_ok && remote_ok && dur_ok && met == all;
}

void ml_zipkin_traces(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	struct zipkin_query zq;
	struct ml_trace_query q;
	struct ml_err err;
	uint64_t min_us, max_us, limit;
	const char *v;

	if (ts == NULL)
		return;
	memset(&zq, 0, sizeof(zq));
	memset(&q, 0, sizeof(q));
	v = ml_http_param(req, "serviceName");
	if (v != NULL)
		zq.service = ml_str_make(v, strlen(v));
	v = ml_http_param(req, "spanName");
	if (v != NULL && strcmp(v, "all") != 0)
		zq.span_name = ml_str_make(v, strlen(v));
	v = ml_http_param(req, "remoteServiceName");
	if (v != NULL)
		zq.remote = ml_str_make(v, strlen(v));
	v = ml_http_param(req, "annotationQuery");
	if (v != NULL &&
	    ml_trace_annotation_query(v, strlen(v), req->arena, &zq.terms, &zq.n_terms, &err) != 0) {
		ml_http_text(resp, 400, "%s", err.msg);
		return;
	}
	/* Durations in µs that still fit in ns. */
	const uint64_t max_dur_us = UINT64_MAX / 1000u;
	if (param_u64(req, resp, "minDuration", 0, max_dur_us, &min_us) != 0 ||
	    param_u64(req, resp, "maxDuration", 0, max_dur_us, &max_us) != 0 ||
	    param_u64(req, resp, "limit", ZIPKIN_DEFAULT_LIMIT, ZIPKIN_MAX_LIMIT, &limit) != 0 ||
	    time_range(req, resp, &q.start_ns, &q.end_ns) != 0)
		return;
	if (limit == 0) {
		ml_http_text(resp, 400, "parameter limit: must be greater than zero");
		return;
	}
	if (max_us != 0 && max_us < min_us) {
		ml_http_text(resp, 400, "parameter maxDuration: %" PRIu64
			     " is smaller than minDuration %" PRIu64, max_us, min_us);
		return;
	}
	zq.min_ns = min_us * 1000u;
	zq.max_ns = max_us * 1000u;
	zq.has_duration = min_us != 0 || max_us != 0;

	/* The store gets the service and one more criterion (see the file header). */
	q.service = zq.service;
	if (zq.span_name.n > 0) {
		q.operation = zq.span_name;
	} else if (zq.has_duration) {
		q.min_duration_ns = zq.min_ns;
		q.max_duration_ns = zq.max_ns;
	} else {
		for (size_t k = 0; k < zq.n_terms; k++) {
			if (zq.terms[k].value.p != NULL) {
				q.tags = &zq.terms[k];
				q.n_tags = 1;
				break;
			}
		}
	}

	struct ml_trace *traces = NULL;
	const struct ml_trace **keep = NULL;
	size_t n = 0, n_keep = 0;
	size_t fetch = (size_t)limit;
	for (;;) {
		q.limit = fetch;
		int rc = ml_trace_store_search(ts, &q, req->arena, &traces, &n);
		if (rc != 0) {
			store_error(resp, "searching traces", rc);
			return;
		}
		keep = ml_arena_calloc(req->arena, n ? n : 1, sizeof(*keep));
		if (keep == NULL) {
			ml_http_text(resp, 500, "out of memory searching traces");
			return;
		}
		n_keep = 0;
		for (size_t i = 0; i < n && n_keep < limit; i++)
			if (trace_matches(&traces[i], &zq))
				keep[n_keep++] = &traces[i];
		/* Too few survived but the store may hold more: ask for more. */
		if (n_keep >= limit || n < fetch || fetch >= ZIPKIN_MAX_FETCH)
			break;
		fetch = fetch * 4 < ZIPKIN_MAX_FETCH ? fetch * 4 : ZIPKIN_MAX_FETCH;
	}

	struct ml_buf *b = &resp->body;
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n_keep; i++) {
		if (i)
			ml_buf_putc(b, ',');
		put_trace(b, keep[i]);
	}
	ml_buf_putc(b, ']');
	finish_json(resp);
}

/* A Zipkin trace id: exactly 16 or 32 hex digits. Answers 400 and returns ML_EINVAL otherwise. */
static int zipkin_trace_id(struct ml_http_response *resp, const char *s, size_t n, uint8_t out[16])
{
	struct ml_err err;
	if (n != 16 && n != 32) {
		ml_http_text(resp, 400, "traceId must be 16 or 32 hex digits, got %zu: \"%.*s\"", n,
			     (int)(n < 64 ? n : 64), s);
		return ML_EINVAL;
	}
	if (ml_trace_id_parse(s, n, out, &err) != 0) {
		ml_http_text(resp, 400, "%s", err.msg);
		return ML_EINVAL;
	}
	return 0;
}

void ml_zipkin_trace(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	struct ml_trace t;
	uint8_t id[16];
	if (ts == NULL)
		return;
	const char *s = req->path_rest != NULL ? req->path_rest : "";
	size_t n = strlen(s);
	if (zipkin_trace_id(resp, s, n, id) != 0)
		return;
	int rc = ml_trace_store_get(ts, id, 0, 0, req->arena, &t);
	if (rc == ML_ENOTFOUND) {
		ml_http_text(resp, 404, "trace %.*s not found", (int)n, s);
		return;
	}
	if (rc != 0) {
		store_error(resp, "reading trace", rc);
		return;
	}
	put_trace(&resp->body, &t);
	finish_json(resp);
}

void ml_zipkin_trace_many(const struct ml_http_request *req, struct ml_http_response *resp,
			  void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	uint8_t (*ids)[16] = NULL;
	size_t n_ids = 0;
	if (ts == NULL)
		return;
	const char *list = ml_http_param(req, "traceIds");
	if (list == NULL || list[0] == '\0') {
		ml_http_text(resp, 400, "traceIds is required: a comma-separated list of trace ids");
		return;
	}
	size_t len = strlen(list);
	ids = ml_arena_calloc(req->arena, ZIPKIN_MAX_TRACE_IDS, sizeof(*ids));
	if (ids == NULL) {
		ml_http_text(resp, 500, "out of memory reading traceIds");
		return;
	}
	for (size_t pos = 0; pos < len;) {
		const char *comma = memchr(list + pos, ',', len - pos);
		size_t end = comma ? (size_t)(comma - list) : len;
		uint8_t id[16];
		if (end > pos) {
			if (zipkin_trace_id(resp, list + pos, end - pos, id) != 0)
				return;
			bool dup = false;
			for (size_t k = 0; k < n_ids && !dup; k++)
				dup = memcmp(ids[k], id, 16) == 0;
			if (!dup) {
				if (n_ids == ZIPKIN_MAX_TRACE_IDS) {
					ml_http_text(resp, 400, "traceIds: at most %u trace ids",
						     ZIPKIN_MAX_TRACE_IDS);
					return;
				}
				memcpy(ids[n_ids++], id, 16);
			}
		}
		pos = end + 1;
	}
	if (n_ids == 0) {
		ml_http_text(resp, 400, "traceIds is required: a comma-separated list of trace ids");
		return;
	}
	struct ml_buf *b = &resp->body;
	bool first = true;
	ml_buf_putc(b, '[');
	for (size_t k = 0; k < n_ids; k++) {
		struct ml_trace t;
		int rc = ml_trace_store_get(ts, ids[k], 0, 0, req->arena, &t);
		if (rc == ML_ENOTFOUND)
			continue; /* Zipkin skips ids it does not have */
		if (rc != 0) {
			store_error(resp, "reading trace", rc);
			return;
		}
		if (!first)
			ml_buf_putc(b, ',');
		put_trace(b, &t);
		first = false;
	}
	ml_buf_putc(b, ']');
	finish_json(resp);
}

void ml_zipkin_dependencies(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx)
{
	struct ml_trace_store *ts = store_of(ctx, resp);
	struct ml_dependency *deps = NULL;
	size_t n = 0;
	uint64_t start_ns, end_ns;
	if (ts == NULL)
		return;
	if (time_range(req, resp, &start_ns, &end_ns) != 0)
		return;
	int rc = ml_trace_store_dependencies(ts, start_ns, end_ns, req->arena, &deps, &n);
	if (rc != 0) {
		store_error(resp, "computing dependencies", rc);
		return;
	}
	struct ml_buf *b = &resp->body;
	ml_buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			ml_buf_putc(b, ',');
		ml_buf_puts(b, "{\"parent\":");
		ml_json_str(b, deps[i].parent.p, deps[i].parent.n);
		ml_buf_puts(b, ",\"child\":");
		ml_json_str(b, deps[i].child.p, deps[i].child.n);
		ml_buf_puts(b, ",\"callCount\":");
		ml_json_u64(b, deps[i].call_count);
		/* Zipkin omits errorCount when it is zero. */
		if (deps[i].error_count > 0) {
			ml_buf_puts(b, ",\"errorCount\":");
			ml_json_u64(b, deps[i].error_count);
		}
		ml_buf_putc(b, '}');
	}
	ml_buf_putc(b, ']');
	finish_json(resp);
}
