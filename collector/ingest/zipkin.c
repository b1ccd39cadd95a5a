/*
 * zipkin.c - decoding Zipkin v2 JSON span lists (POST /api/v2/spans) into
 * the span model; see zipkin.h for the mapping.
 *
 * Spec: zipkin-api zipkin2-api.yaml, "ListOfSpans" and "Span"; the sender
 * that matters most is Envoy's Zipkin tracer under Istio (HTTP_JSON, 128-bit
 * trace ids, string tags, CLIENT/SERVER kinds, shared context off).
 *
 * The body is parsed with jansson; every string a span keeps is copied into
 * the batch's arena so the document can be freed before returning. A span
 * that is wrong on its own (bad id, non-string tag, negative duration) is
 * rejected alone with a message naming its index and field; only a body that
 * is not a JSON array of objects fails the request. Deliberate choices:
 *   - names and service names are kept as sent (Zipkin's server lowercases
 *     them; Envoy sends "productpage.default" already lowercase);
 *   - a span without `timestamp` is rejected: the store indexes by time and
 *     Envoy always sends one;
 *   - `debug` is checked for type and otherwise ignored (the span model has
 *     no place for it and sampling is the sender's business here);
 *   - tags stay attributes even when they also set the status ("error",
 *     "otel.status_code"), so a span renders back with the tags it came with.
 */
#include "ingest/zipkin.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/arena.h"
#include "ingest/limits.h"

/* Quoted values in messages are cut to this many bytes. */
#define QUOTE_MAX 64

static int qlen(size_t n)
{
	return (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
}

static const char *type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	default: return "null";
	}
}

/*
 * Distinct local service names -> their ml_resource, an open-addressing
 * table in the arena so that a request with many services stays linear.
 */
struct svc_table {
	struct ml_resource **slots;
	size_t cap; /* power of two */
	size_t n;
};

static uint64_t fnv1a(const char *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (uint8_t)p[i];
		h *= 1099511628211ull;
	}
	return h;
}

static int svc_grow(struct svc_table *t, struct ml_arena *a)
{
	size_t cap = t->cap ? t->cap * 2 : 16;
	struct ml_resource **slots = ml_arena_calloc(a, cap, sizeof(*slots));
	if (slots == NULL)
		return ML_ENOMEM;
	for (size_t i = 0; i < t->cap; i++) {
		struct ml_resource *r = t->slots[i];
		if (r == NULL)
			continue;
		size_t j = fnv1a(r->service_name.p, r->service_name.n) & (cap - 1);
		while (slots[j] != NULL)
			j = (j + 1) & (cap - 1);
		slots[j] = r;
	}
	t->slots = slots;
	t->cap = cap;
	return 0;
}

/* The resource for service name (p, n), creating it; NULL on ENOMEM. p is copied. */
static const struct ml_resource *svc_get(struct svc_table *t, struct ml_arena *a, const char *p,
					 size_t n)
{
	if (t->n * 2 >= t->cap && svc_grow(t, a) != 0)
		return NULL;
	size_t j = fnv1a(p, n) & (t->cap - 1);
	while (t->slots[j] != NULL) {
		if (ml_str_eq(t->slots[j]->service_name, ml_str_make(p, n)))
			return t->slots[j];
		j = (j + 1) & (t->cap - 1);
	}
	struct ml_resource *r = ml_arena_calloc(a, 1, sizeof(*r));
	struct ml_attr *attr = ml_arena_calloc(a, 1, sizeof(*attr));
	char *name = ml_arena_strndup(a, p, n);
	if (r == NULL || attr == NULL || name == NULL)
		return NULL;
	r->service_name = ml_str_make(name, n);
	attr->key = ML_STR("service.name");
	attr->type = ML_VAL_STRING;
	attr->v.s = r->service_name;
	r->attrs.items = attr;
	r->attrs.n = 1;
	t->slots[j] = r;
	t->n++;
	return r;
}

/* Per-span decoding state: where messages go and what they are prefixed with. */
struct span_ctx {
	struct ml_arena *arena;
	size_t index;
	struct ml_err *err;
};

static int span_fail(struct span_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int span_fail(struct span_ctx *c, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return ml_err_set(c->err, ML_EINVAL, "span %zu: %s", c->index, msg);
}

/* A string member copied into the arena; absent or null leaves out empty. */
static int get_str(struct span_ctx *c, const json_t *obj, const char *key, const char *what,
		   struct ml_str *out)
{
	const json_t *v = json_object_get(obj, key);
	out->p = NULL;
	out->n = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return span_fail(c, "%s must be a string, got %s", what, type_name(v));
	size_t n = json_string_length(v);
	if (n > ML_MAX_STRING_BYTES)
		return span_fail(c, "%s is longer than %u bytes", what, ML_MAX_STRING_BYTES);
	char *p = ml_arena_strndup(c->arena, json_string_value(v), n);
	if (p == NULL)
		return ml_err_set(c->err, ML_ENOMEM, "out of memory decoding span %zu", c->index);
	*out = ml_str_make(p, n);
	return 0;
}

/*
 * A non-negative integer number of microseconds (Zipkin sends JSON integers;
 * an integral real such as 1.5e15 is accepted too). *present tells absence.
 */
static int get_micros(struct span_ctx *c, const json_t *obj, const char *key, uint64_t *out,
		      bool *present)
{
	const json_t *v = json_object_get(obj, key);
	*present = false;
	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return span_fail(c, "%s must not be negative, got %" JSON_INTEGER_FORMAT, key, i);
		*out = (uint64_t)i;
	} else if (json_is_real(v)) {
		double d = json_real_value(v);
		if (!(d >= 0 && d < 1.8e16) || d != (double)(uint64_t)d)
			return span_fail(c, "%s must be a non-negative integer (microseconds), got %.17g",
					 key, d);
		*out = (uint64_t)d;
	} else {
		return span_fail(c, "%s must be an integer number of microseconds, got %s", key,
				 type_name(v));
	}
	/* µs -> ns must not overflow (year 2554 is far enough). */
	if (*out > UINT64_MAX / 1000 / 2)
		return span_fail(c, "%s is out of range: %" PRIu64, key, *out);
	*present = true;
	return 0;
}

static int get_bool(struct span_ctx *c, const json_t *obj, const char *key, bool *out)
{
	const json_t *v = json_object_get(obj, key);
	*out = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return span_fail(c, "%s must be true or false, got %s", key, type_name(v));
	*out = json_is_true(v);
	return 0;
}

/* A hex id of exactly one of the allowed lengths (16 or 32 digits). */
static int get_id(struct span_ctx *c, const json_t *obj, const char *key, bool required,
		  bool allow32, uint8_t *out, size_t outlen, bool *present)
{
	const json_t *v = json_object_get(obj, key);
	*present = false;
	if (v == NULL || json_is_null(v)) {
		if (required)
			return span_fail(c, "%s is required", key);
		return 0;
	}
	if (!json_is_string(v))
		return span_fail(c, "%s must be a hex string, got %s", key, type_name(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (n != 16 && !(allow32 && n == 32))
		return span_fail(c, "%s must be %s hex digits, got %zu", key,
				 allow32 ? "16 or 32" : "16", n);
	if (ml_hex_decode(out, outlen, s, n) != 0)
		return span_fail(c, "%s must be hex digits, got \"%.*s\"", key, qlen(n), s);
	*present = true;
	return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static int get_endpoint(struct span_ctx *c, const json_t *obj, const char *key,
			struct ml_endpoint *ep, bool *has_service)
{
	const json_t *v = json_object_get(obj, key);
	char what[64];
	int rc;
	memset(ep, 0, sizeof(*ep));
	*has_service = false;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return span_fail(c, "%s must be an object, got %s", key, type_name(v));
	snprintf(what, sizeof(what), "%s.serviceName", key);
	if ((rc = get_str(c, v, "serviceName", what, &ep->service_name)) != 0)
		return rc;
	*has_service = ep->service_name.n > 0;
	snprintf(what, sizeof(what), "%s.ipv4", key);
	if ((rc = get_str(c, v, "ipv4", what, &ep->ipv4)) != 0)
		return rc;
	snprintf(what, sizeof(what), "%s.ipv6", key);
	if ((rc = get_str(c, v, "ipv6", what, &ep->ipv6)) != 0)
		return rc;
	const json_t *port = json_object_get(v, "port");
	if (port != NULL && !json_is_null(port)) {
		if (!json_is_integer(port) || json_integer_value(port) < 0 ||
		    json_integer_value(port) > 65535)
			return span_fail(c, "%s.port must be an integer 0-65535", key);
		ep->port = (uint16_t)json_integer_value(port);
	}
	return 0;
}

static int get_annotations(struct span_ctx *c, const json_t *obj, struct ml_span *s)
{
	const json_t *v = json_object_get(obj, "annotations");
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return span_fail(c, "annotations must be an array, got %s", type_name(v));
	size_t n = json_array_size(v);
	if (n == 0)
		return 0;
	if (n > ML_MAX_EVENTS_PER_SPAN)
		return span_fail(c, "more than %u annotations", ML_MAX_EVENTS_PER_SPAN);
	s->events = ml_arena_calloc(c->arena, n, sizeof(*s->events));
	if (s->events == NULL)
		return ml_err_set(c->err, ML_ENOMEM, "out of memory decoding span %zu", c->index);
	for (size_t i = 0; i < n; i++) {
		const json_t *a = json_array_get(v, i);
		char key[32];
		uint64_t ts;
		bool present;
		int rc;
		if (!json_is_object(a))
			return span_fail(c, "annotations[%zu] must be an object, got %s", i,
					 type_name(a));
		snprintf(key, sizeof(key), "annotations[%zu]", i);
		if ((rc = get_micros(c, a, "timestamp", &ts, &present)) != 0)
			return rc;
		if (!present)
			return span_fail(c, "%s.timestamp is required", key);
		snprintf(key, sizeof(key), "annotations[%zu].value", i);
		if ((rc = get_str(c, a, "value", key, &s->events[i].name)) != 0)
			return rc;
		if (s->events[i].name.p == NULL)
			return span_fail(c, "%s is required", key);
		s->events[i].time_ns = ts * 1000;
	}
	s->n_events = (uint32_t)n;
	return 0;
}

/* Tags: string -> string, kept as string attributes; "error" sets the status. */
static int get_tags(struct span_ctx *c, const json_t *obj, struct ml_span *s)
{
	const json_t *v = json_object_get(obj, "tags");
	const char *key;
	json_t *val;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return span_fail(c, "tags must be an object of strings, got %s", type_name(v));
	size_t n = json_object_size(v);
	if (n == 0)
		return 0;
	if (n > ML_MAX_ATTRS_PER_SPAN)
		return span_fail(c, "more than %u tags", ML_MAX_ATTRS_PER_SPAN);
	s->attrs.items = ml_arena_calloc(c->arena, n, sizeof(*s->attrs.items));
	if (s->attrs.items == NULL)
		return ml_err_set(c->err, ML_ENOMEM, "out of memory decoding span %zu", c->index);
	uint32_t i = 0;
	size_t kn;
	json_object_keylen_foreach((json_t *)v, key, kn, val) {
		if (kn == 0)
			return span_fail(c, "a tag has an empty key");
		if (kn > ML_MAX_STRING_BYTES)
			return span_fail(c, "a tag key is longer than %u bytes", ML_MAX_STRING_BYTES);
		if (!json_is_string(val))
			return span_fail(c, "tag \"%.*s\" must be a string, got %s", qlen(kn), key,
					 type_name(val));
		size_t vn = json_string_length(val);
		if (vn > ML_MAX_STRING_BYTES)
			return span_fail(c, "tag \"%.*s\" is longer than %u bytes", qlen(kn), key,
					 ML_MAX_STRING_BYTES);
		char *kp = ml_arena_strndup(c->arena, key, kn);
		char *vp = ml_arena_strndup(c->arena, json_string_value(val), vn);
		if (kp == NULL || vp == NULL)
			return ml_err_set(c->err, ML_ENOMEM, "out of memory decoding span %zu",
					  c->index);
		struct ml_attr *a = &s->attrs.items[i++];
		a->key = ml_str_make(kp, kn);
		a->type = ML_VAL_STRING;
		a->v.s = ml_str_make(vp, vn);
	}
	s->attrs.n = i;

	/* Status: Zipkin's convention is the presence of "error"; OpenTelemetry's
	 * Zipkin exporters also write otel.status_code. */
	const struct ml_attr *code = ml_attrs_find(&s->attrs, "otel.status_code");
	if (code != NULL) {
		if (ml_str_eq_cstr(code->v.s, "ERROR"))
			s->status_code = ML_STATUS_ERROR;
		else if (ml_str_eq_cstr(code->v.s, "OK"))
			s->status_code = ML_STATUS_OK;
	}
	const struct ml_attr *error = ml_attrs_find(&s->attrs, "error");
	if (error != NULL) {
		s->status_code = ML_STATUS_ERROR;
		if (error->v.s.n > 0 && !ml_str_eq_cstr(error->v.s, "true"))
			s->status_message = error->v.s;
	}
	return 0;
}

static int parse_kind(struct span_ctx *c, const json_t *obj, uint8_t *kind)
{
	static const struct {
		const char *name;
		uint8_t kind;
	} kinds[] = {
		{"CLIENT", ML_SPAN_KIND_CLIENT},
		{"SERVER", ML_SPAN_KIND_SERVER},
		{"PRODUCER", ML_SPAN_KIND_PRODUCER},
		{"CONSUMER", ML_SPAN_KIND_CONSUMER},
	};
	const json_t *v = json_object_get(obj, "kind");
	*kind = ML_SPAN_KIND_UNSPECIFIED;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return span_fail(c, "kind must be a string, got %s", type_name(v));
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (n == strlen(kinds[i].name) && strncasecmp(s, kinds[i].name, n) == 0) {
			*kind = kinds[i].kind;
			return 0;
		}
	}
	return span_fail(c, "kind must be CLIENT, SERVER, PRODUCER or CONSUMER, got \"%.*s\"",
			 qlen(n), s);
}

/* Decodes one span object into s. Returns 0, ML_EINVAL (reject this span) or ML_ENOMEM. */
static int decode_span(struct span_ctx *c, const json_t *obj, struct svc_table *svcs,
		       struct ml_span *s)
{
	bool present, has_service;
	uint64_t ts, dur;
	int rc;

	if ((rc = get_id(c, obj, "traceId", true, true, s->trace_id, 16, &present)) != 0)
		return rc;
	if (all_zero(s->trace_id, 16))
		return span_fail(c, "traceId must not be all zeros");
	if ((rc = get_id(c, obj, "id", true, false, s->span_id, 8, &present)) != 0)
		return rc;
	if (all_zero(s->span_id, 8))
		return span_fail(c, "id must not be all zeros");
	/* An all-zero parentId means "no parent", as Zipkin's own server reads it. */
	if ((rc = get_id(c, obj, "parentId", false, false, s->parent_id, 8, &present)) != 0)
		return rc;
	if ((rc = parse_kind(c, obj, &s->kind)) != 0)
		return rc;
	if ((rc = get_str(c, obj, "name", "name", &s->name)) != 0)
		return rc;
	if ((rc = get_micros(c, obj, "timestamp", &ts, &present)) != 0)
		return rc;
	if (!present)
		return span_fail(c, "timestamp is required (epoch microseconds)");
	if ((rc = get_micros(c, obj, "duration", &dur, &present)) != 0)
		return rc;
	s->start_ns = ts * 1000;
	s->end_ns = s->start_ns + dur * 1000;
	if ((rc = get_bool(c, obj, "shared", &s->shared)) != 0)
		return rc;
	bool debug;
	if ((rc = get_bool(c, obj, "debug", &debug)) != 0)
		return rc;
	if ((rc = get_endpoint(c, obj, "localEndpoint", &s->local, &has_service)) != 0)
		return rc;
	if ((rc = get_endpoint(c, obj, "remoteEndpoint", &s->remote, &has_service)) != 0)
		return rc;
	if ((rc = get_annotations(c, obj, s)) != 0)
		return rc;
	if ((rc = get_tags(c, obj, s)) != 0)
		return rc;

	struct ml_str svc = s->local.service_name.n > 0 ? s->local.service_name
							: ML_STR("unknown_service");
	s->resource = svc_get(svcs, c->arena, svc.p, svc.n);
	if (s->resource == NULL)
		return ml_err_set(c->err, ML_ENOMEM, "out of memory decoding span %zu", c->index);
	return 0;
}

int ml_zipkin_decode_json(const uint8_t *body, size_t len, struct ml_span_batch *batch,
			  struct ml_ingest_report *report, struct ml_err *err)
{
	json_t *root = NULL;
	json_error_t jerr;
	struct svc_table svcs = {NULL, 0, 0};
	int rc = 0;

	memset(report, 0, sizeof(*report));
	root = json_loadb((const char *)body, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &jerr);
	if (root == NULL) {
		rc = ml_err_set(err, ML_EINVAL, "invalid JSON at line %d column %d: %s", jerr.line,
				jerr.column, jerr.text);
		goto fail;
	}
	if (!json_is_array(root)) {
		rc = ml_err_set(err, ML_EINVAL, "expected a JSON array of spans, got %s",
				type_name(root));
		goto fail;
	}
	size_t n = json_array_size(root);
	if (n > ML_MAX_SPANS_PER_REQUEST) {
		rc = ml_err_set(err, ML_ETOOBIG, "%zu spans in one request, more than the limit of %u",
				n, ML_MAX_SPANS_PER_REQUEST);
		goto fail;
	}
	/* The whole-body check first, so that a bad element fails before any span is kept. */
	for (size_t i = 0; i < n; i++) {
		const json_t *obj = json_array_get(root, i);
		if (!json_is_object(obj)) {
			rc = ml_err_set(err, ML_EINVAL, "span %zu: expected a JSON object, got %s", i,
					type_name(obj));
			goto fail;
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ml_err span_err;
		struct span_ctx c = {batch->arena, i, &span_err};
		struct ml_span *s = ml_span_batch_add(batch);
		if (s == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory decoding span %zu", i);
			goto fail;
		}
		span_err.msg[0] = '\0';
		rc = decode_span(&c, json_array_get(root, i), &svcs, s);
		if (rc == ML_EINVAL) {
			batch->n--; /* drop the half-decoded span */
			if (report->rejected++ == 0)
				snprintf(report->first_reject, sizeof(report->first_reject), "%s",
					 span_err.msg);
			rc = 0;
			continue;
		}
		if (rc != 0) {
			ml_err_set(err, rc, "%s", span_err.msg);
			goto fail;
		}
		report->accepted++;
	}
fail:
	json_decref(root);
	return rc;
}
