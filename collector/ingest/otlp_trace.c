/*
 * otlp_trace.c - OTLP/HTTP trace export requests, protobuf and JSON, into
 * the span model; ExportTraceServiceResponse and google.rpc.Status bodies.
 *
 * Spec: opentelemetry-proto collector/trace/v1 and trace/v1, and the OTLP
 * specification's JSON mapping (hex ids, lowerCamelCase names with the
 * proto names also accepted, 64-bit integers as strings or numbers, enums as
 * integers or their names, unknown fields ignored).
 *
 * Both decoders follow the same rules so that one request means the same in
 * either encoding: a span whose ids or times are invalid is rejected alone
 * (OTLP partial success) with a message naming it by its JSON path; anything
 * that makes the message itself invalid (bad wire data, a value of the wrong
 * JSON type) or crosses a cap in limits.h fails the whole request.
 */
#include "ingest/otlp_trace.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/json_util.h"
#include "ingest/limits.h"
#include "ingest/otlp_common.h"
#include "google/rpc/status.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

/* Returned internally when a span is rejected alone (report updated). */
#define SPAN_REJECTED 1

static const char *const kind_names[] = {
	"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
	"SPAN_KIND_CLIENT",      "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER",
};
static const char *const status_names[] = {
	"STATUS_CODE_UNSET",
	"STATUS_CODE_OK",
	"STATUS_CODE_ERROR",
};

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Records a per-span rejection: the first message is kept, all are counted. */
static int reject(struct ml_otlp_ctx *ctx, struct ml_ingest_report *report, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int reject(struct ml_otlp_ctx *ctx, struct ml_ingest_report *report, const char *fmt, ...)
{
	if (report->rejected++ == 0) {
		char why[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
		snprintf(report->first_reject, sizeof(report->first_reject), "%.250s: %.250s",
			 ctx->path.buf, why);
	}
	return SPAN_REJECTED;
}

/*
 * Checks one id against the OTLP rules; returns NULL or the reason.
 * want: 16 or 8 bytes; may_be_empty: parent_span_id.
 */
static const char *id_problem(size_t n, const uint8_t *p, size_t want, bool may_be_empty)
{
	if (n == 0 && may_be_empty)
		return NULL;
	if (n != want)
		return "length";
	if (!may_be_empty && all_zero(p, n))
		return "zero";
	return NULL;
}

static int check_id(struct ml_otlp_ctx *ctx, struct ml_ingest_report *report, const char *field,
		    const uint8_t *p, size_t n, size_t want, bool may_be_empty)
{
	const char *why = id_problem(n, p, want, may_be_empty);
	if (why == NULL)
		return 0;
	if (why[0] == 'l')
		return reject(ctx, report, "%s must be %zu bytes, got %zu", field, want, n);
	return reject(ctx, report, "%s must not be all zero", field);
}

static uint8_t clamp_kind(long k)
{
	return (k >= 0 && k <= ML_SPAN_KIND_CONSUMER) ? (uint8_t)k : ML_SPAN_KIND_UNSPECIFIED;
}

static uint8_t clamp_status(long c)
{
	return (c >= 0 && c <= ML_STATUS_ERROR) ? (uint8_t)c : ML_STATUS_UNSET;
}

static size_t cstrlen(const char *s)
{
	return s != NULL ? strlen(s) : 0; /* protobuf-c terminates what it unpacked */
}

static void decode_begin(struct ml_otlp_ctx *ctx, struct ml_span_batch *batch,
			 struct ml_ingest_report *report, struct ml_err *err)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->arena = batch->arena;
	ctx->err = err;
	ml_json_path_init(&ctx->path);
	memset(report, 0, sizeof(*report));
}

/* ---- protobuf ------------------------------------------------------------ */

typedef Opentelemetry__Proto__Trace__V1__Span pb_span;

static int events_from_proto(struct ml_otlp_ctx *ctx, const pb_span *s, struct ml_span *out)
{
	if (s->n_events == 0)
		return 0;
	if (s->n_events > ML_MAX_EVENTS_PER_SPAN)
		return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, "events",
				    "%zu events is over the limit of %u", s->n_events,
				    ML_MAX_EVENTS_PER_SPAN);
	out->events = ml_arena_calloc(ctx->arena, s->n_events, sizeof(*out->events));
	if (out->events == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	size_t mark = ml_json_path_key(&ctx->path, "events");
	for (size_t i = 0; i < s->n_events; i++) {
		const Opentelemetry__Proto__Trace__V1__Span__Event *e = s->events[i];
		struct ml_event *ev = &out->events[i];
		size_t m2 = ml_json_path_index(&ctx->path, i);
		int rc = ml_otlp_str(ctx, e->name, cstrlen(e->name), "name", &ev->name);
		if (rc == 0) {
			size_t m3 = ml_json_path_key(&ctx->path, "attributes");
			rc = ml_otlp_attrs_from_proto(ctx, e->attributes, e->n_attributes,
						      ML_MAX_ATTRS_PER_SPAN, &ev->attrs);
			ml_json_path_pop(&ctx->path, m3);
		}
		if (rc != 0)
			return rc;
		ev->time_ns = e->time_unix_nano;
		ml_json_path_pop(&ctx->path, m2);
	}
	ml_json_path_pop(&ctx->path, mark);
	out->n_events = (uint32_t)s->n_events;
	return 0;
}

static int links_from_proto(struct ml_otlp_ctx *ctx, const pb_span *s, struct ml_span *out)
{
	if (s->n_links == 0)
		return 0;
	if (s->n_links > ML_MAX_LINKS_PER_SPAN)
		return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, "links",
				    "%zu links is over the limit of %u", s->n_links,
				    ML_MAX_LINKS_PER_SPAN);
	out->links = ml_arena_calloc(ctx->arena, s->n_links, sizeof(*out->links));
	if (out->links == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	size_t mark = ml_json_path_key(&ctx->path, "links");
	for (size_t i = 0; i < s->n_links; i++) {
		const Opentelemetry__Proto__Trace__V1__Span__Link *l = s->links[i];
		struct ml_link *lk = &out->links[i];
		size_t m2 = ml_json_path_index(&ctx->path, i);
		memcpy(lk->trace_id, l->trace_id.data, 16); /* lengths checked before */
		memcpy(lk->span_id, l->span_id.data, 8);
		int rc = ml_otlp_str(ctx, l->trace_state, cstrlen(l->trace_state), "traceState",
				     &lk->trace_state);
		if (rc == 0) {
			size_t m3 = ml_json_path_key(&ctx->path, "attributes");
			rc = ml_otlp_attrs_from_proto(ctx, l->attributes, l->n_attributes,
						      ML_MAX_ATTRS_PER_SPAN, &lk->attrs);
			ml_json_path_pop(&ctx->path, m3);
		}
		if (rc != 0)
			return rc;
		ml_json_path_pop(&ctx->path, m2);
	}
	ml_json_path_pop(&ctx->path, mark);
	out->n_links = (uint32_t)s->n_links;
	return 0;
}

/* The per-span checks of the OTLP spec; SPAN_REJECTED or 0. */
static int validate_proto(struct ml_otlp_ctx *ctx, struct ml_ingest_report *report,
			  const pb_span *s)
{
	int r;
	if ((r = check_id(ctx, report, "trace_id", s->trace_id.data, s->trace_id.len, 16, false)))
		return r;
	if ((r = check_id(ctx, report, "span_id", s->span_id.data, s->span_id.len, 8, false)))
		return r;
	if ((r = check_id(ctx, report, "parent_span_id", s->parent_span_id.data,
			  s->parent_span_id.len, 8, true)))
		return r;
	if (s->end_time_unix_nano < s->start_time_unix_nano)
		return reject(ctx, report,
			      "end_time_unix_nano %llu is before start_time_unix_nano %llu",
			      (unsigned long long)s->end_time_unix_nano,
			      (unsigned long long)s->start_time_unix_nano);
	for (size_t i = 0; i < s->n_links; i++) {
		const Opentelemetry__Proto__Trace__V1__Span__Link *l = s->links[i];
		char field[48];
		snprintf(field, sizeof(field), "links[%zu].trace_id", i);
		if ((r = check_id(ctx, report, field, l->trace_id.data, l->trace_id.len, 16, false)))
			return r;
		snprintf(field, sizeof(field), "links[%zu].span_id", i);
		if ((r = check_id(ctx, report, field, l->span_id.data, l->span_id.len, 8, false)))
			return r;
	}
	return 0;
}

static int span_from_proto(struct ml_otlp_ctx *ctx, struct ml_span_batch *batch,
			   struct ml_ingest_report *report, const struct ml_resource *res,
			   const pb_span *s)
{
	int rc = validate_proto(ctx, report, s);
	if (rc != 0)
		return rc;
	struct ml_span *out = ml_span_batch_add(batch);
	if (out == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	memcpy(out->trace_id, s->trace_id.data, 16);
	memcpy(out->span_id, s->span_id.data, 8);
	if (s->parent_span_id.len == 8)
		memcpy(out->parent_id, s->parent_span_id.data, 8);
	out->resource = res;
	out->kind = clamp_kind(s->kind);
	out->flags = s->flags;
	out->start_ns = s->start_time_unix_nano;
	out->end_ns = s->end_time_unix_nano;
	out->dropped_attrs = s->dropped_attributes_count;
	out->dropped_events = s->dropped_events_count;
	out->dropped_links = s->dropped_links_count;
	out->local.service_name = res->service_name;
	if ((rc = ml_otlp_str(ctx, s->name, cstrlen(s->name), "name", &out->name)) != 0)
		return rc;
	if ((rc = ml_otlp_str(ctx, s->trace_state, cstrlen(s->trace_state), "traceState",
			      &out->trace_state)) != 0)
		return rc;
	if (s->status != NULL) {
		out->status_code = clamp_status(s->status->code);
		size_t mark = ml_json_path_key(&ctx->path, "status");
		rc = ml_otlp_str(ctx, s->status->message, cstrlen(s->status->message), "message",
				 &out->status_message);
		if (rc != 0)
			return rc;
		ml_json_path_pop(&ctx->path, mark);
	}
	size_t mark = ml_json_path_key(&ctx->path, "attributes");
	rc = ml_otlp_attrs_from_proto(ctx, s->attributes, s->n_attributes, ML_MAX_ATTRS_PER_SPAN,
				      &out->attrs);
	if (rc != 0)
		return rc;
	ml_json_path_pop(&ctx->path, mark);
	if ((rc = events_from_proto(ctx, s, out)) != 0)
		return rc;
	return links_from_proto(ctx, s, out);
}

int ml_otlp_trace_decode_proto(const uint8_t *body, size_t len, struct ml_span_batch *batch,
			       struct ml_ingest_report *report, struct ml_err *err)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *req = NULL;
	struct ml_otlp_ctx ctx;
	int rc;

	decode_begin(&ctx, batch, report, err);
	rc = ml_otlp_proto_check_depth(
		&opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
		body, len, ML_MAX_JSON_DEPTH, err);
	if (rc != 0)
		goto fail;
	ProtobufCAllocator *alloc = ml_arena_protobuf_allocator(batch->arena);
	if (alloc == NULL) {
		rc = ml_err_set(err, ML_ENOMEM, "out of memory");
		goto fail;
	}
	req = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		alloc, len, body);
	if (req == NULL) {
		rc = ml_err_set(err, ML_EINVAL,
				"protobuf: %zu bytes are not a valid ExportTraceServiceRequest "
				"(truncated or malformed)",
				len);
		goto fail;
	}

	size_t total = 0;
	for (size_t r = 0; r < req->n_resource_spans; r++)
		for (size_t s = 0; s < req->resource_spans[r]->n_scope_spans; s++)
			total += req->resource_spans[r]->scope_spans[s]->n_spans;
	if (total > ML_MAX_SPANS_PER_REQUEST) {
		rc = ml_err_set(err, ML_ETOOBIG, "%zu spans is over the limit of %u per request",
				total, ML_MAX_SPANS_PER_REQUEST);
		goto fail;
	}

	for (size_t r = 0; r < req->n_resource_spans; r++) {
		const Opentelemetry__Proto__Trace__V1__ResourceSpans *rs = req->resource_spans[r];
		struct ml_resource base = {0};
		size_t m_r = ml_json_path_key(&ctx.path, "resourceSpans");
		ml_json_path_index(&ctx.path, r);
		if ((rc = ml_otlp_resource_from_proto(&ctx, rs->resource, &base)) != 0)
			goto fail;
		for (size_t s = 0; s < rs->n_scope_spans; s++) {
			const Opentelemetry__Proto__Trace__V1__ScopeSpans *ss = rs->scope_spans[s];
			size_t m_s = ml_json_path_key(&ctx.path, "scopeSpans");
			ml_json_path_index(&ctx.path, s);
			struct ml_resource *res = ml_arena_alloc(batch->arena, sizeof(*res));
			if (res == NULL) {
				rc = ml_err_set(err, ML_ENOMEM, "out of memory");
				goto fail;
			}
			*res = base;
			if ((rc = ml_otlp_scope_from_proto(&ctx, ss->scope, res)) != 0)
				goto fail;
			for (size_t i = 0; i < ss->n_spans; i++) {
				size_t m_i = ml_json_path_key(&ctx.path, "spans");
				ml_json_path_index(&ctx.path, i);
				rc = span_from_proto(&ctx, batch, report, res, ss->spans[i]);
				if (rc < 0)
					goto fail;
				if (rc == 0)
					report->accepted++;
				ml_json_path_pop(&ctx.path, m_i);
			}
			ml_json_path_pop(&ctx.path, m_s);
		}
		ml_json_path_pop(&ctx.path, m_r);
	}
	ml_buf_free(&ctx.scratch);
	return 0;
fail:
	ml_buf_free(&ctx.scratch);
	batch->n = 0;
	report->accepted = 0;
	return rc;
}

/* ---- JSON ----------------------------------------------------------------- */

/* A uint32 field (counts, flags) from a JSON integer or decimal string. */
static int json_u32(struct ml_otlp_ctx *ctx, const json_t *obj, const char *camel,
		    const char *snake, uint32_t *out)
{
	json_t *v = ml_json_member(obj, camel, snake);
	uint64_t x;
	*out = 0;
	if (v == NULL)
		return 0;
	int rc = ml_json_get_u64(v, &x, &ctx->path, camel, ctx->err);
	if (rc != 0)
		return rc;
	if (x > UINT32_MAX)
		return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, camel,
				    "%llu does not fit in 32 bits", (unsigned long long)x);
	*out = (uint32_t)x;
	return 0;
}

static int json_time(struct ml_otlp_ctx *ctx, const json_t *obj, const char *camel,
		     const char *snake, uint64_t *out)
{
	json_t *v = ml_json_member(obj, camel, snake);
	*out = 0;
	return v == NULL ? 0 : ml_json_get_u64(v, out, &ctx->path, camel, ctx->err);
}

/* An optional string member copied into the arena ("" when absent). */
static int json_opt_str(struct ml_otlp_ctx *ctx, const json_t *obj, const char *camel,
			const char *snake, struct ml_str *out)
{
	json_t *v = ml_json_member(obj, camel, snake);
	*out = ml_str_make("", 0);
	return v == NULL ? 0
			 : ml_json_get_str(v, ctx->arena, ML_MAX_STRING_BYTES, out, &ctx->path, camel,
				       ctx->err);
}

/* An enum given as an integer or by name (names[0..n-1]). */
static int json_enum(struct ml_otlp_ctx *ctx, const json_t *obj, const char *key,
		     const char *const *names, size_t n, long *out)
{
	json_t *v = ml_json_member(obj, key, NULL);
	*out = 0;
	if (v == NULL)
		return 0;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		*out = (i < 0 || i > 1000) ? -1 : (long)i;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);
		for (size_t i = 0; i < n; i++)
			if (strlen(names[i]) == len && memcmp(names[i], s, len) == 0) {
				*out = (long)i;
				return 0;
			}
		return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, key,
				    "unknown value \"%.64s\"", s);
	}
	return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, key,
			    "expected an integer or an enum name, got %s", ml_json_type_name(v));
}

/*
 * Reads a hex id member into out (up to 16 bytes); *n gets the byte length
 * (0 when absent). A member that is not hex is a per-span problem (like a
 * wrong length), reported through *bad; a member that is not a string is a
 * malformed message.
 */
static int json_hex_id(struct ml_otlp_ctx *ctx, const json_t *obj, const char *camel,
		       const char *snake, uint8_t out[16], size_t *n, bool *bad)
{
	json_t *v = ml_json_member(obj, camel, snake);
	*n = 0;
	*bad = false;
	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, camel,
				    "expected a hex string, got %s", ml_json_type_name(v));
	size_t len = json_string_length(v);
	if (len % 2 != 0 || len > 32 || ml_hex_decode(out, len / 2, json_string_value(v), len) != 0) {
		*bad = true;
		*n = len;
		return 0;
	}
	*n = len / 2;
	return 0;
}

/* Checks one JSON id: 0, SPAN_REJECTED, or a negative whole-request error. */
static int json_check_id(struct ml_otlp_ctx *ctx, struct ml_ingest_report *report,
			 const json_t *obj, const char *camel, const char *snake, const char *field,
			 size_t want, bool may_be_empty, uint8_t out[16])
{
	size_t n;
	bool bad;
	int rc = json_hex_id(ctx, obj, camel, snake, out, &n, &bad);
	if (rc != 0)
		return rc;
	if (bad)
		return reject(ctx, report, "%s must be %zu bytes of hex, got \"%.40s\"", field,
			      want, json_string_value(ml_json_member(obj, camel, snake)));
	return check_id(ctx, report, field, out, n, want, may_be_empty);
}

static int events_from_json(struct ml_otlp_ctx *ctx, const json_t *list, struct ml_span *out)
{
	int rc;
	if (list == NULL)
		return 0;
	if ((rc = ml_json_expect_array(list, &ctx->path, "events", ctx->err)) != 0)
		return rc;
	size_t n = json_array_size(list);
	if (n == 0)
		return 0;
	if (n > ML_MAX_EVENTS_PER_SPAN)
		return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, "events",
				    "%zu events is over the limit of %u", n, ML_MAX_EVENTS_PER_SPAN);
	out->events = ml_arena_calloc(ctx->arena, n, sizeof(*out->events));
	if (out->events == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	size_t mark = ml_json_path_key(&ctx->path, "events");
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(list, i);
		struct ml_event *ev = &out->events[i];
		size_t m2 = ml_json_path_index(&ctx->path, i);
		if ((rc = ml_json_expect_object(e, &ctx->path, NULL, ctx->err)) != 0 ||
		    (rc = json_time(ctx, e, "timeUnixNano", "time_unix_nano", &ev->time_ns)) != 0 ||
		    (rc = json_opt_str(ctx, e, "name", NULL, &ev->name)) != 0)
			return rc;
		size_t m3 = ml_json_path_key(&ctx->path, "attributes");
		rc = ml_otlp_attrs_from_json(ctx, ml_json_member(e, "attributes", NULL),
					     ML_MAX_ATTRS_PER_SPAN, &ev->attrs);
		if (rc != 0)
			return rc;
		ml_json_path_pop(&ctx->path, m3);
		ml_json_path_pop(&ctx->path, m2);
	}
	ml_json_path_pop(&ctx->path, mark);
	out->n_events = (uint32_t)n;
	return 0;
}

/* Links: ids were validated by the caller (validate_json). */
static int links_from_json(struct ml_otlp_ctx *ctx, const json_t *list, struct ml_span *out)
{
	int rc;
	size_t n = list != NULL ? json_array_size(list) : 0;
	if (n == 0)
		return 0;
	out->links = ml_arena_calloc(ctx->arena, n, sizeof(*out->links));
	if (out->links == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	size_t mark = ml_json_path_key(&ctx->path, "links");
	for (size_t i = 0; i < n; i++) {
		const json_t *l = json_array_get(list, i);
		struct ml_link *lk = &out->links[i];
		uint8_t id[16];
		size_t idn;
		bool bad;
		size_t m2 = ml_json_path_index(&ctx->path, i);
		json_hex_id(ctx, l, "traceId", "trace_id", id, &idn, &bad);
		memcpy(lk->trace_id, id, 16);
		json_hex_id(ctx, l, "spanId", "span_id", id, &idn, &bad);
		memcpy(lk->span_id, id, 8);
		if ((rc = json_opt_str(ctx, l, "traceState", "trace_state", &lk->trace_state)) != 0)
			return rc;
		size_t m3 = ml_json_path_key(&ctx->path, "attributes");
		rc = ml_otlp_attrs_from_json(ctx, ml_json_member(l, "attributes", NULL),
					     ML_MAX_ATTRS_PER_SPAN, &lk->attrs);
		if (rc != 0)
			return rc;
		ml_json_path_pop(&ctx->path, m3);
		ml_json_path_pop(&ctx->path, m2);
	}
	ml_json_path_pop(&ctx->path, mark);
	out->n_links = (uint32_t)n;
	return 0;
}

/*
 * The per-span checks, JSON side: ids (into out) and times. Returns 0,
 * SPAN_REJECTED or a negative whole-request error (wrong JSON types).
 */
static int validate_json(struct ml_otlp_ctx *ctx, struct ml_ingest_report *report,
			 const json_t *s, struct ml_span *out)
{
	uint8_t id[16];
	int rc;

	if ((rc = json_check_id(ctx, report, s, "traceId", "trace_id", "trace_id", 16, false,
				out->trace_id)) != 0)
		return rc;
	if ((rc = json_check_id(ctx, report, s, "spanId", "span_id", "span_id", 8, false, id)) != 0)
		return rc;
	memcpy(out->span_id, id, 8);
	memset(id, 0, sizeof(id));
	if ((rc = json_check_id(ctx, report, s, "parentSpanId", "parent_span_id",
				"parent_span_id", 8, true, id)) != 0)
		return rc;
	memcpy(out->parent_id, id, 8);
	if ((rc = json_time(ctx, s, "startTimeUnixNano", "start_time_unix_nano",
			    &out->start_ns)) != 0 ||
	    (rc = json_time(ctx, s, "endTimeUnixNano", "end_time_unix_nano", &out->end_ns)) != 0)
		return rc;
	if (out->end_ns < out->start_ns)
		return reject(ctx, report,
			      "end_time_unix_nano %llu is before start_time_unix_nano %llu",
			      (unsigned long long)out->end_ns, (unsigned long long)out->start_ns);

	json_t *links = ml_json_member(s, "links", NULL);
	if (links == NULL)
		return 0;
	if ((rc = ml_json_expect_array(links, &ctx->path, "links", ctx->err)) != 0)
		return rc;
	if (json_array_size(links) > ML_MAX_LINKS_PER_SPAN)
		return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, "links",
				    "%zu links is over the limit of %u", json_array_size(links),
				    ML_MAX_LINKS_PER_SPAN);
	for (size_t i = 0; i < json_array_size(links); i++) {
		const json_t *l = json_array_get(links, i);
		char field[48];
		size_t mark = ml_json_path_key(&ctx->path, "links");
		ml_json_path_index(&ctx->path, i);
		if ((rc = ml_json_expect_object(l, &ctx->path, NULL, ctx->err)) != 0)
			return rc;
		ml_json_path_pop(&ctx->path, mark);
		snprintf(field, sizeof(field), "links[%zu].trace_id", i);
		if ((rc = json_check_id(ctx, report, l, "traceId", "trace_id", field, 16, false,
					id)) != 0)
			return rc;
		snprintf(field, sizeof(field), "links[%zu].span_id", i);
		if ((rc = json_check_id(ctx, report, l, "spanId", "span_id", field, 8, false, id)) !=
		    0)
			return rc;
	}
	return 0;
}

static int span_from_json(struct ml_otlp_ctx *ctx, struct ml_span_batch *batch,
			  struct ml_ingest_report *report, const struct ml_resource *res,
			  const json_t *s)
{
	struct ml_span tmp;
	long e;
	int rc;

	memset(&tmp, 0, sizeof(tmp));
	if ((rc = ml_json_expect_object(s, &ctx->path, NULL, ctx->err)) != 0)
		return rc;
	if ((rc = validate_json(ctx, report, s, &tmp)) != 0)
		return rc;
	tmp.resource = res;
	tmp.local.service_name = res->service_name;
	if ((rc = json_opt_str(ctx, s, "name", NULL, &tmp.name)) != 0 ||
	    (rc = json_opt_str(ctx, s, "traceState", "trace_state", &tmp.trace_state)) != 0 ||
	    (rc = json_u32(ctx, s, "flags", NULL, &tmp.flags)) != 0 ||
	    (rc = json_u32(ctx, s, "droppedAttributesCount", "dropped_attributes_count",
			   &tmp.dropped_attrs)) != 0 ||
	    (rc = json_u32(ctx, s, "droppedEventsCount", "dropped_events_count",
			   &tmp.dropped_events)) != 0 ||
	    (rc = json_u32(ctx, s, "droppedLinksCount", "dropped_links_count",
			   &tmp.dropped_links)) != 0)
		return rc;
	if ((rc = json_enum(ctx, s, "kind", kind_names, 6, &e)) != 0)
		return rc;
	tmp.kind = clamp_kind(e);
	json_t *status = ml_json_member(s, "status", NULL);
	if (status != NULL) {
		size_t mark = ml_json_path_key(&ctx->path, "status");
		if ((rc = ml_json_expect_object(status, &ctx->path, NULL, ctx->err)) != 0 ||
		    (rc = json_enum(ctx, status, "code", status_names, 3, &e)) != 0 ||
		    (rc = json_opt_str(ctx, status, "message", NULL, &tmp.status_message)) != 0)
			return rc;
		tmp.status_code = clamp_status(e);
		ml_json_path_pop(&ctx->path, mark);
	}
	size_t mark = ml_json_path_key(&ctx->path, "attributes");
	rc = ml_otlp_attrs_from_json(ctx, ml_json_member(s, "attributes", NULL),
				     ML_MAX_ATTRS_PER_SPAN, &tmp.attrs);
	if (rc != 0)
		return rc;
	ml_json_path_pop(&ctx->path, mark);
	if ((rc = events_from_json(ctx, ml_json_member(s, "events", NULL), &tmp)) != 0 ||
	    (rc = links_from_json(ctx, ml_json_member(s, "links", NULL), &tmp)) != 0)
		return rc;

	struct ml_span *out = ml_span_batch_add(batch);
	if (out == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	*out = tmp;
	return 0;
}

/* Looks up the scope list under its current name, else the pre-1.0 one. */
static json_t *scope_list(const json_t *rs, bool *legacy)
{
	json_t *v = ml_json_member(rs, "scopeSpans", "scope_spans");
	*legacy = false;
	if (v == NULL) {
		v = ml_json_member(rs, "instrumentationLibrarySpans",
				   "instrumentation_library_spans");
		*legacy = v != NULL;
	}
	return v;
}

int ml_otlp_trace_decode_json(const uint8_t *body, size_t len, struct ml_span_batch *batch,
			      struct ml_ingest_report *report, struct ml_err *err)
{
	json_t *root = NULL;
	struct ml_otlp_ctx ctx;
	size_t total = 0;
	int rc;

	decode_begin(&ctx, batch, report, err);
	root = ml_json_load(body, len, ML_MAX_JSON_DEPTH, err, &rc);
	if (root == NULL)
		goto fail;
	if ((rc = ml_json_expect_object(root, NULL, NULL, err)) != 0)
		goto fail;
	json_t *rss = ml_json_member(root, "resourceSpans", "resource_spans");
	if (rss != NULL && (rc = ml_json_expect_array(rss, NULL, "resourceSpans", err)) != 0)
		goto fail;
	for (size_t r = 0; rss != NULL && r < json_array_size(rss); r++) {
		const json_t *rs = json_array_get(rss, r);
		struct ml_resource base = {0};
		bool legacy;
		size_t m_r = ml_json_path_key(&ctx.path, "resourceSpans");
		ml_json_path_index(&ctx.path, r);
		if ((rc = ml_json_expect_object(rs, &ctx.path, NULL, err)) != 0)
			goto fail;
		if ((rc = ml_otlp_resource_from_json(&ctx, ml_json_member(rs, "resource", NULL),
						     &base)) != 0)
			goto fail;
		json_t *sss = scope_list(rs, &legacy);
		const char *sname = legacy ? "instrumentationLibrarySpans" : "scopeSpans";
		if (sss != NULL && (rc = ml_json_expect_array(sss, &ctx.path, sname, err)) != 0)
			goto fail;
		for (size_t s = 0; sss != NULL && s < json_array_size(sss); s++) {
			const json_t *ss = json_array_get(sss, s);
			size_t m_s = ml_json_path_key(&ctx.path, sname);
			ml_json_path_index(&ctx.path, s);
			if ((rc = ml_json_expect_object(ss, &ctx.path, NULL, err)) != 0)
				goto fail;
			struct ml_resource *res = ml_arena_alloc(batch->arena, sizeof(*res));
			if (res == NULL) {
				rc = ml_err_set(err, ML_ENOMEM, "out of memory");
				goto fail;
			}
			*res = base;
			json_t *scope = ml_json_member(ss, legacy ? "instrumentationLibrary" : "scope",
						       legacy ? "instrumentation_library" : NULL);
			if ((rc = ml_otlp_scope_from_json(&ctx, scope, res)) != 0)
				goto fail;
			json_t *spans = ml_json_member(ss, "spans", NULL);
			if (spans == NULL)
				goto next_scope;
			if ((rc = ml_json_expect_array(spans, &ctx.path, "spans", err)) != 0)
				goto fail;
			total += json_array_size(spans);
			if (total > ML_MAX_SPANS_PER_REQUEST) {
				rc = ml_err_set(err, ML_ETOOBIG,
						"more than %u spans in one request",
						ML_MAX_SPANS_PER_REQUEST);
				goto fail;
			}
			for (size_t i = 0; i < json_array_size(spans); i++) {
				size_t m_i = ml_json_path_key(&ctx.path, "spans");
				ml_json_path_index(&ctx.path, i);
				rc = span_from_json(&ctx, batch, report, res, json_array_get(spans, i));
				if (rc < 0)
					goto fail;
				if (rc == 0)
					report->accepted++;
				ml_json_path_pop(&ctx.path, m_i);
			}
		next_scope:
			ml_json_path_pop(&ctx.path, m_s);
		}
		ml_json_path_pop(&ctx.path, m_r);
	}
	json_decref(root);
	ml_buf_free(&ctx.scratch);
	return 0;
fail:
	json_decref(root);
	ml_buf_free(&ctx.scratch);
	batch->n = 0;
	report->accepted = 0;
	return rc;
}

/* ---- responses ------------------------------------------------------------ */

static void pack_into(const ProtobufCMessage *m, struct ml_buf *out)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *d = ml_buf_reserve(out, n);
	if (d == NULL)
		return;
	out->len += protobuf_c_message_pack(m, d);
}

/* JSON-quotes a NUL-terminated message of ours. */
static void put_json_str(struct ml_buf *out, const char *s)
{
	ml_otlp_json_quote(out, s, strlen(s));
}

void ml_otlp_trace_response_proto(const struct ml_ingest_report *report, struct ml_buf *out)
{
	if (report == NULL || report->rejected == 0)
		return;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
	char msg[sizeof(report->first_reject)];
	snprintf(msg, sizeof(msg), "%s", report->first_reject);
	ps.rejected_spans = (int64_t)report->rejected;
	ps.error_message = msg;
	resp.partial_success = &ps;
	pack_into(&resp.base, out);
}

void ml_otlp_trace_response_json(const struct ml_ingest_report *report, struct ml_buf *out)
{
	char msg[sizeof(report->first_reject)];
	if (report == NULL || report->rejected == 0) {
		ml_buf_puts(out, "{}");
		return;
	}
	snprintf(msg, sizeof(msg), "%s", report->first_reject);
	ml_buf_printf(out, "{\"partialSuccess\":{\"rejectedSpans\":\"%llu\",\"errorMessage\":",
		      (unsigned long long)report->rejected);
	put_json_str(out, msg);
	ml_buf_puts(out, "}}");
}

void ml_otlp_status_proto(int grpc_code, const char *message, struct ml_buf *out)
{
	Google__Rpc__Status st = GOOGLE__RPC__STATUS__INIT;
	st.code = grpc_code;
	st.message = (char *)(message != NULL ? message : "");
	pack_into(&st.base, out);
}

void ml_otlp_status_json(int grpc_code, const char *message, struct ml_buf *out)
{
	ml_buf_printf(out, "{\"code\":%d,\"message\":", grpc_code);
	put_json_str(out, message != NULL ? message : "");
	ml_buf_putc(out, '}');
}
