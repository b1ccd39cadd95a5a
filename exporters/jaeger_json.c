/*
 * jaeger_json.c - a trace in Jaeger's UI JSON model; see jaeger_json.h.
 *
 * The mapping follows Jaeger's OTLP -> Jaeger translation (OpenTelemetry
 * "OpenTelemetry to Jaeger Transformation"): span kind -> tag "span.kind",
 * status -> "otel.status_code" / "otel.status_description" and, for ERROR,
 * the boolean tag "error"; the instrumentation scope -> "otel.scope.name" /
 * "otel.scope.version"; trace state -> "w3c.tracestate"; events -> logs with
 * the event name in field "event"; the parent -> the first CHILD_OF
 * reference, links -> FOLLOWS_FROM references after it. Processes are the
 * distinct resources of the trace (service name + resource attributes, and
 * for Zipkin spans the local endpoint's address as tag "ip"), numbered p1,
 * p2, ... in order of first use.
 *
 * Jaeger's query service also runs "adjusters" before answering; the one the
 * UI cannot do without is the span id uniquifier (Zipkin clients that share
 * one span id between the client and the server half of a call): it is
 * reproduced here, with the same id choice (the smallest unused ids counting
 * up from 1), so that a trace reads the same as from Jaeger.
 */
#include "exporters/jaeger_json.h"

#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "exporters/json_writer.h"

/* JavaScript's Number.MAX_SAFE_INTEGER: larger int64 tags are sent as strings (as Jaeger does). */
#define JS_MAX_SAFE_INTEGER (((int64_t)1 << 53) - 1)

void ml_jaeger_trace_id_json(struct ml_buf *out, const uint8_t id[16])
{
	static const uint8_t zero[8];
	if (memcmp(id, zero, 8) == 0)
		ml_json_hex(out, id + 8, 8);
	else
		ml_json_hex(out, id, 16);
}

/* What a span without a resource (a contract breach upstream) is shown as. */
static const struct ml_resource unknown_resource = {{"unknown_service", 15}, {NULL, 0}, {"", 0}, {"", 0}};

static const struct ml_resource *res_of(const struct ml_span *s)
{
	return s->resource != NULL ? s->resource : &unknown_resource;
}

/* ---- tags ------------------------------------------------------------- */

/*
 * Writes `,` before every element but the first of a JSON array whose
 * elements are written one by one.
 */
static void sep(struct ml_buf *b, int *first)
{
	if (*first)
		*first = 0;
	else
		ml_buf_putc(b, ',');
}

static void kv_head(struct ml_buf *b, const char *key, size_t keylen, const char *type)
{
	ml_buf_puts(b, "{\"key\":");
	ml_json_str(b, key, keylen);
	ml_buf_puts(b, ",\"type\":\"");
	ml_buf_puts(b, type);
	ml_buf_puts(b, "\",\"value\":");
}

static void kv_str(struct ml_buf *b, int *first, const char *key, const char *v, size_t vn)
{
	sep(b, first);
	kv_head(b, key, strlen(key), "string");
	ml_json_str(b, v, vn);
	ml_buf_putc(b, '}');
}

static void kv_bool(struct ml_buf *b, int *first, const char *key, int v)
{
	sep(b, first);
	kv_head(b, key, strlen(key), "bool");
	ml_buf_puts(b, v ? "true}" : "false}");
}

static void kv_i64(struct ml_buf *b, int *first, const char *key, int64_t v)
{
	sep(b, first);
	kv_head(b, key, strlen(key), "int64");
	ml_json_i64(b, v);
	ml_buf_putc(b, '}');
}

/* One attribute as a typed Jaeger key-value. */
static void kv_attr(struct ml_buf *b, int *first, const struct ml_attr *a)
{
	sep(b, first);
	switch (a->type) {
	case ML_VAL_BOOL:
		kv_head(b, a->key.p, a->key.n, "bool");
		ml_buf_puts(b, a->v.b ? "true" : "false");
		break;
	case ML_VAL_INT:
		kv_head(b, a->key.p, a->key.n, "int64");
		if (a->v.i > JS_MAX_SAFE_INTEGER || a->v.i < -(JS_MAX_SAFE_INTEGER)) {
			ml_buf_putc(b, '"');
			ml_json_i64(b, a->v.i);
			ml_buf_putc(b, '"');
		} else {
			ml_json_i64(b, a->v.i);
		}
		break;
	case ML_VAL_DOUBLE:
		kv_head(b, a->key.p, a->key.n, "float64");
		ml_json_double(b, a->v.d);
		break;
	case ML_VAL_BYTES:
		/* Go's encoding/json writes []byte as base64, and so does Jaeger. */
		kv_head(b, a->key.p, a->key.n, "binary");
		ml_json_base64(b, (const uint8_t *)a->v.s.p, a->v.s.n);
		break;
	case ML_VAL_JSON: /* arrays and maps: their JSON text, as the OTLP translator does */
	case ML_VAL_STRING:
	default:
		kv_head(b, a->key.p, a->key.n, "string");
		ml_json_str(b, a->v.s.p, a->v.s.n);
		break;
	}
	ml_buf_putc(b, '}');
}

static int attrs_have(const struct ml_attrs *a, const char *key)
{
	return ml_attrs_find(a, key) != NULL;
}

static void span_tags(struct ml_buf *b, const struct ml_span *s)
{
	const struct ml_resource *r = res_of(s);
	int first = 1;
	int is_error = s->status_code == ML_STATUS_ERROR;

	ml_buf_puts(b, "\"tags\":[");
	for (uint32_t i = 0; i < s->attrs.n; i++) {
		/* Status ERROR overrides a span's own "error" attribute (one key, one value). */
		if (is_error && ml_str_eq_cstr(s->attrs.items[i].key, "error"))
			continue;
		kv_attr(b, &first, &s->attrs.items[i]);
	}
	if (r->scope_name.n > 0 && !attrs_have(&s->attrs, "otel.scope.name"))
		kv_str(b, &first, "otel.scope.name", r->scope_name.p, r->scope_name.n);
	if (r->scope_version.n > 0 && !attrs_have(&s->attrs, "otel.scope.version"))
		kv_str(b, &first, "otel.scope.version", r->scope_version.p, r->scope_version.n);
	if (s->kind != ML_SPAN_KIND_UNSPECIFIED && !attrs_have(&s->attrs, "span.kind")) {
		const char *k = ml_span_kind_lower((enum ml_span_kind)s->kind);
		if (k[0] != '\0')
			kv_str(b, &first, "span.kind", k, strlen(k));
	}
	if (s->status_code == ML_STATUS_OK)
		kv_str(b, &first, "otel.status_code", "OK", 2);
	else if (is_error)
		kv_str(b, &first, "otel.status_code", "ERROR", 5);
	if (s->status_message.n > 0)
		kv_str(b, &first, "otel.status_description", s->status_message.p, s->status_message.n);
	if (is_error)
		kv_bool(b, &first, "error", 1);
	if (s->trace_state.n > 0)
		kv_str(b, &first, "w3c.tracestate", s->trace_state.p, s->trace_state.n);
	/* Zipkin's remoteEndpoint, as Jaeger's Zipkin translation names it. */
	if (s->remote.service_name.n > 0 && !attrs_have(&s->attrs, "peer.service"))
		kv_str(b, &first, "peer.service", s->remote.service_name.p, s->remote.service_name.n);
	if (s->remote.ipv4.n > 0 && !attrs_have(&s->attrs, "peer.ipv4"))
		kv_str(b, &first, "peer.ipv4", s->remote.ipv4.p, s->remote.ipv4.n);
	if (s->remote.ipv6.n > 0 && !attrs_have(&s->attrs, "peer.ipv6"))
		kv_str(b, &first, "peer.ipv6", s->remote.ipv6.p, s->remote.ipv6.n);
	if (s->remote.port != 0 && !attrs_have(&s->attrs, "peer.port"))
		kv_i64(b, &first, "peer.port", s->remote.port);
	/* OpenTelemetry's mapping to non-OTLP formats: dropped counts as tags. */
	if (s->dropped_attrs)
		kv_i64(b, &first, "otel.dropped_attributes_count", s->dropped_attrs);
	if (s->dropped_events)
		kv_i64(b, &first, "otel.dropped_events_count", s->dropped_events);
	if (s->dropped_links)
		kv_i64(b, &first, "otel.dropped_links_count", s->dropped_links);
	ml_buf_putc(b, ']');
}

static void span_logs(struct ml_buf *b, const struct ml_span *s)
{
	ml_buf_puts(b, "\"logs\":[");
	for (uint32_t e = 0; e < s->n_events; e++) {
		const struct ml_event *ev = &s->events[e];
		int first = 1;
		if (e)
			ml_buf_putc(b, ',');
		ml_buf_puts(b, "{\"timestamp\":");
		ml_json_u64(b, ev->time_ns / 1000);
		ml_buf_puts(b, ",\"fields\":[");
		/* An attribute named "event" takes precedence over the event's name. */
		if (ev->name.n > 0 && !attrs_have(&ev->attrs, "event"))
			kv_str(b, &first, "event", ev->name.p, ev->name.n);
		for (uint32_t i = 0; i < ev->attrs.n; i++)
			kv_attr(b, &first, &ev->attrs.items[i]);
		ml_buf_puts(b, "]}");
	}
	ml_buf_putc(b, ']');
}

/* ---- processes -------------------------------------------------------- */

struct proc {
	const struct ml_span *span; /* the first span of this process: its resource and local endpoint */
	struct ml_str ip;
	uint64_t hash;
};

/* The Zipkin local endpoint address a process is tagged with ("ip"), or empty. */
static struct ml_str local_ip(const struct ml_span *s)
{
	if (s->local.ipv4.n > 0)
		return s->local.ipv4;
	return s->local.ipv6;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *c = p;
	for (size_t i = 0; i < n; i++) {
		h ^= c[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t proc_hash(const struct ml_resource *r, struct ml_str ip)
{
	uint64_t h = 14695981039346656037ULL;
	h = fnv(h, r->service_name.p, r->service_name.n);
	h = fnv(h, "\0", 1);
	for (uint32_t i = 0; i < r->attrs.n; i++) {
		const struct ml_attr *a = &r->attrs.items[i];
		h = fnv(h, a->key.p, a->key.n);
		h = fnv(h, &a->type, 1);
		switch (a->type) {
		case ML_VAL_BOOL: h = fnv(h, &a->v.b, sizeof(a->v.b)); break;
		case ML_VAL_INT: h = fnv(h, &a->v.i, sizeof(a->v.i)); break;
		case ML_VAL_DOUBLE: h = fnv(h, &a->v.d, sizeof(a->v.d)); break;
		default: h = fnv(h, a->v.s.p, a->v.s.n); break;
		}
	}
	h = fnv(h, "\0", 1);
	return fnv(h, ip.p, ip.n);
}

static int attr_eq(const struct ml_attr *a, const struct ml_attr *b)
{
	if (a->type != b->type || !ml_str_eq(a->key, b->key))
		return 0;
	switch (a->type) {
	case ML_VAL_BOOL: return a->v.b == b->v.b;
	case ML_VAL_INT: return a->v.i == b->v.i;
	case ML_VAL_DOUBLE: return memcmp(&a->v.d, &b->v.d, sizeof(double)) == 0;
	default: return ml_str_eq(a->v.s, b->v.s);
	}
}

static int res_eq(const struct ml_resource *a, const struct ml_resource *b)
{
	if (a == b)
		return 1;
	if (!ml_str_eq(a->service_name, b->service_name) || a->attrs.n != b->attrs.n)
		return 0;
	for (uint32_t i = 0; i < a->attrs.n; i++)
		if (!attr_eq(&a->attrs.items[i], &b->attrs.items[i]))
			return 0;
	return 1;
}

/* The process table of one trace: an open-addressing hash of struct proc indexes. */
struct procs {
	struct proc *items;
	size_t n;
	uint32_t *slots; /* index + 1; 0 = empty */
	size_t mask;
};

static int procs_init(struct procs *p, size_t n_spans, struct ml_arena *arena)
{
	size_t cap = 16;
	while (cap < 2 * n_spans)
		cap <<= 1;
	p->items = ml_arena_calloc(arena, n_spans, sizeof(*p->items));
	p->slots = ml_arena_calloc(arena, cap, sizeof(*p->slots));
	p->n = 0;
	p->mask = cap - 1;
	return p->items != NULL && p->slots != NULL ? 0 : ML_ENOMEM;
}

/* The process number (0-based) of span s, adding its process when new. */
static size_t procs_get(struct procs *p, const struct ml_span *s)
{
	struct ml_str ip = local_ip(s);
	uint64_t h = proc_hash(res_of(s), ip);
	size_t i = (size_t)h & p->mask;
	while (p->slots[i] != 0) {
		struct proc *q = &p->items[p->slots[i] - 1];
		if (q->hash == h && ml_str_eq(q->ip, ip) && res_eq(res_of(q->span), res_of(s)))
			return p->slots[i] - 1;
		i = (i + 1) & p->mask;
	}
	/* Never full: at most n_spans processes in 2 * n_spans slots. */
	p->items[p->n].span = s;
	p->items[p->n].ip = ip;
	p->items[p->n].hash = h;
	p->slots[i] = (uint32_t)(p->n + 1);
	return p->n++;
}

static void process_json(struct ml_buf *b, const struct proc *p)
{
	const struct ml_resource *r = res_of(p->span);
	int first = 1;
	ml_buf_puts(b, "{\"serviceName\":");
	ml_json_str(b, r->service_name.p, r->service_name.n);
	ml_buf_puts(b, ",\"tags\":[");
	for (uint32_t i = 0; i < r->attrs.n; i++) {
		/* service.name is the serviceName already. */
		if (ml_str_eq_cstr(r->attrs.items[i].key, "service.name"))
			continue;
		kv_attr(b, &first, &r->attrs.items[i]);
	}
	if (p->ip.n > 0 && !attrs_have(&r->attrs, "ip"))
		kv_str(b, &first, "ip", p->ip.p, p->ip.n);
	ml_buf_puts(b, "]}");
}

/* ---- span ids --------------------------------------------------------- */

struct id_ref {
	uint8_t id[8];
	uint32_t idx;
};

static int id_ref_cmp(const void *a, const void *b)
{
	const struct id_ref *x = a, *y = b;
	int c = memcmp(x->id, y->id, 8);
	if (c)
		return c;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int id_cmp(const void *key, const void *elem)
{
	return memcmp(key, ((const struct id_ref *)elem)->id, 8);
}

static void id_increment(uint8_t id[8])
{
	for (int i = 7; i >= 0; i--)
		if (++id[i] != 0)
			break;
}

/*
 * The ids the spans are shown with: id[i] and parent[i] (has_parent[i]).
 * Equal to the stored ids except for Zipkin shared spans: a SERVER span whose
 * id is also a CLIENT span's id gets the next unused id (counting up from 1,
 * as Jaeger's SpanIDUniquifier does) and the shared id as its parent; spans
 * whose parent was the shared id then hang under the server span.
 */
struct span_ids {
	uint8_t (*id)[8];
	uint8_t (*parent)[8];
	uint8_t *has_parent;
};

static int span_ids_make(const struct ml_trace *t, struct ml_arena *arena, struct span_ids *out)
{
	size_t n = t->n;
	struct id_ref *sorted = NULL, *renamed = NULL;
	size_t n_renamed = 0;
	uint8_t *rename = NULL;

	out->id = ml_arena_alloc(arena, n * sizeof(*out->id));
	out->parent = ml_arena_alloc(arena, n * sizeof(*out->parent));
	out->has_parent = ml_arena_calloc(arena, n, 1);
	sorted = ml_arena_alloc(arena, n * sizeof(*sorted));
	rename = ml_arena_calloc(arena, n, 1);
	if (out->id == NULL || out->parent == NULL || out->has_parent == NULL || sorted == NULL ||
	    rename == NULL)
		return ML_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct ml_span *s = &t->spans[i];
		memcpy(out->id[i], s->span_id, 8);
		memcpy(out->parent[i], s->parent_id, 8);
		out->has_parent[i] = ml_span_has_parent(s);
		memcpy(sorted[i].id, s->span_id, 8);
		sorted[i].idx = (uint32_t)i;
	}
	qsort(sorted, n, sizeof(*sorted), id_ref_cmp);

	/* Which server spans share their id with a client span? */
	for (size_t g = 0; g < n;) {
		size_t e = g + 1;
		int has_client = t->spans[sorted[g].idx].kind == ML_SPAN_KIND_CLIENT;
		while (e < n && memcmp(sorted[e].id, sorted[g].id, 8) == 0) {
			has_client |= t->spans[sorted[e].idx].kind == ML_SPAN_KIND_CLIENT;
			e++;
		}
		if (has_client && e - g > 1)
			for (size_t k = g; k < e; k++)
				if (t->spans[sorted[k].idx].kind == ML_SPAN_KIND_SERVER) {
					rename[sorted[k].idx] = 1;
					n_renamed++;
				}
		g = e;
	}
	if (n_renamed == 0)
		return 0;

	renamed = ml_arena_alloc(arena, n_renamed * sizeof(*renamed));
	if (renamed == NULL)
		return ML_ENOMEM;
	uint8_t next[8] = {0};
	size_t r = 0;
	for (size_t i = 0; i < n; i++) {
		if (!rename[i])
			continue;
		/* Fewer than 2^64 - 1 ids are in use, so this finds one. */
		do
			id_increment(next);
		while (bsearch(next, sorted, n, sizeof(*sorted), id_cmp) != NULL);
		memcpy(renamed[r].id, out->id[i], 8); /* old id, with ... */
		renamed[r].idx = (uint32_t)i;          /* ... the span that now has a new one */
		r++;
		memcpy(out->parent[i], out->id[i], 8);
		out->has_parent[i] = 1;
		memcpy(out->id[i], next, 8);
	}
	qsort(renamed, n_renamed, sizeof(*renamed), id_ref_cmp);
	for (size_t i = 0; i < n; i++) {
		if (!out->has_parent[i])
			continue;
		const struct id_ref *m =
			bsearch(out->parent[i], renamed, n_renamed, sizeof(*renamed), id_cmp);
		if (m != NULL && memcmp(out->id[m->idx], out->id[i], 8) != 0)
			memcpy(out->parent[i], out->id[m->idx], 8);
	}
	return 0;
}

/* ---- the trace -------------------------------------------------------- */

int ml_jaeger_trace_json(struct ml_buf *out, const struct ml_trace *t, struct ml_arena *arena)
{
	struct span_ids ids;
	struct procs procs;
	size_t *pid = NULL;
	int rc;

	rc = span_ids_make(t, arena, &ids);
	if (rc)
		goto fail;
	rc = procs_init(&procs, t->n, arena);
	if (rc)
		goto fail;
	pid = ml_arena_alloc(arena, t->n * sizeof(*pid));
	if (pid == NULL) {
		rc = ML_ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < t->n; i++)
		pid[i] = procs_get(&procs, &t->spans[i]);

	ml_buf_puts(out, "{\"traceID\":");
	ml_jaeger_trace_id_json(out, t->trace_id);
	ml_buf_puts(out, ",\"spans\":[");
	for (size_t i = 0; i < t->n; i++) {
		const struct ml_span *s = &t->spans[i];
		if (i)
			ml_buf_putc(out, ',');
		ml_buf_puts(out, "{\"traceID\":");
		ml_jaeger_trace_id_json(out, s->trace_id);
		ml_buf_puts(out, ",\"spanID\":");
		ml_json_hex(out, ids.id[i], 8);
		ml_buf_puts(out, ",\"operationName\":");
		ml_json_str(out, s->name.p, s->name.n);
		ml_buf_puts(out, ",\"references\":[");
		int first = 1;
		if (ids.has_parent[i]) {
			sep(out, &first);
			ml_buf_puts(out, "{\"refType\":\"CHILD_OF\",\"traceID\":");
			ml_jaeger_trace_id_json(out, s->trace_id);
			ml_buf_puts(out, ",\"spanID\":");
			ml_json_hex(out, ids.parent[i], 8);
			ml_buf_putc(out, '}');
		}
		for (uint32_t l = 0; l < s->n_links; l++) {
			sep(out, &first);
			ml_buf_puts(out, "{\"refType\":\"FOLLOWS_FROM\",\"traceID\":");
			ml_jaeger_trace_id_json(out, s->links[l].trace_id);
			ml_buf_puts(out, ",\"spanID\":");
			ml_json_hex(out, s->links[l].span_id, 8);
			ml_buf_putc(out, '}');
		}
		ml_buf_puts(out, "],\"startTime\":");
		ml_json_u64(out, s->start_ns / 1000);
		ml_buf_puts(out, ",\"duration\":");
		ml_json_u64(out, s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1000 : 0);
		/* W3C trace flags (sampled = 1) are the low byte of OTLP Span.flags. */
		ml_buf_puts(out, ",\"flags\":");
		ml_json_u64(out, s->flags & 0xffu);
		ml_buf_puts(out, ",\"processID\":\"p");
		ml_json_u64(out, pid[i] + 1);
		ml_buf_puts(out, "\",");
		span_tags(out, s);
		ml_buf_putc(out, ',');
		span_logs(out, s);
		ml_buf_puts(out, ",\"warnings\":null}");
	}
	ml_buf_puts(out, "],\"processes\":{");
	for (size_t p = 0; p < procs.n; p++) {
		if (p)
			ml_buf_putc(out, ',');
		ml_buf_puts(out, "\"p");
		ml_json_u64(out, p + 1);
		ml_buf_puts(out, "\":");
		process_json(out, &procs.items[p]);
	}
	ml_buf_puts(out, "},\"warnings\":null}");
	return 0;
fail:
	return rc;
}
