/*
 * otlp_common.h - pieces of OTLP decoding shared by the trace decoder and
 * the (future) metrics decoder: AnyValue / KeyValue / Resource /
 * InstrumentationScope into the span model's attribute types, from
 * protobuf-c messages and from the OTLP JSON mapping; a nesting check that
 * runs before protobuf-c unpacks untrusted bytes.
 *
 * AnyValue mapping (both encodings): string, bool, int, double and bytes
 * become the matching ml_val_type; an array_value or kvlist_value becomes
 * ML_VAL_JSON holding the OTLP JSON text of the whole AnyValue, e.g.
 * {"arrayValue":{"values":[{"stringValue":"a"},{"intValue":"1"}]}}, written
 * the same way whichever encoding it came in (ints as decimal strings,
 * bytes as base64, NaN/Infinity as strings). An AnyValue with nothing set
 * becomes an empty string.
 *
 * Every function allocates what it returns from the arena it is given (the
 * request's batch arena): no result needs freeing and none outlives the arena.
 * Error messages start with the JSON path of the offending value
 * ("resourceSpans[0].resource.attributes[2].value: ...") in both encodings.
 */
#ifndef ML_INGEST_OTLP_COMMON_H
#define ML_INGEST_OTLP_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "core/buf.h"
#include "core/error.h"
#include "ingest/json_util.h"
#include "model/span.h"
#include "opentelemetry/proto/common/v1/common.pb-c.h"
#include "opentelemetry/proto/resource/v1/resource.pb-c.h"

struct ml_arena;

/*
 * State shared by one decode call: the arena everything goes into, a scratch
 * buffer (heap; the caller frees it with ml_buf_free when the call ends) and
 * the current path for messages.
 */
struct ml_otlp_ctx {
	struct ml_arena *arena;
	struct ml_buf scratch;
	struct ml_json_path path;
	struct ml_err *err;
};

/*
 * Walks a protobuf message of len bytes with its descriptor and refuses
 * messages nested deeper than max_depth (protobuf-c's unpack recurses without
 * a bound, and AnyValue can nest arrays in arrays). Malformed wire data is left
 * for protobuf-c to report. Returns 0 or ML_EINVAL
 * "protobuf: messages nested deeper than N".
 */
int ml_otlp_proto_check_depth(const ProtobufCMessageDescriptor *desc, const uint8_t *body,
			      size_t len, unsigned max_depth, struct ml_err *err);

/*
 * KeyValues -> attrs (n <= max_attrs, else ML_ETOOBIG; keys and string values
 * at most ML_MAX_STRING_BYTES). ctx->path names the list ("...attributes").
 * Returns 0, ML_ETOOBIG, ML_EINVAL (JSON only: wrong types) or ML_ENOMEM.
 */
int ml_otlp_attrs_from_proto(struct ml_otlp_ctx *ctx,
			     Opentelemetry__Proto__Common__V1__KeyValue *const *kvs, size_t n,
			     size_t max_attrs, struct ml_attrs *out);
int ml_otlp_attrs_from_json(struct ml_otlp_ctx *ctx, const json_t *list, size_t max_attrs,
			    struct ml_attrs *out);

/*
 * Resource -> out->service_name and out->attrs (service.name, or
 * "unknown_service" when absent or not a string). r / obj may be NULL
 * (no resource). Scope fields are left alone.
 */
int ml_otlp_resource_from_proto(struct ml_otlp_ctx *ctx,
				const Opentelemetry__Proto__Resource__V1__Resource *r,
				struct ml_resource *out);
int ml_otlp_resource_from_json(struct ml_otlp_ctx *ctx, const json_t *obj,
			       struct ml_resource *out);

/* InstrumentationScope -> out->scope_name, out->scope_version (may be NULL). */
int ml_otlp_scope_from_proto(struct ml_otlp_ctx *ctx,
			     const Opentelemetry__Proto__Common__V1__InstrumentationScope *s,
			     struct ml_resource *out);
int ml_otlp_scope_from_json(struct ml_otlp_ctx *ctx, const json_t *obj, struct ml_resource *out);

/* Copies n bytes into the arena as a string, refusing more than ML_MAX_STRING_BYTES. */
int ml_otlp_str(struct ml_otlp_ctx *ctx, const char *p, size_t n, const char *key,
		struct ml_str *out);

/* Appends s as a JSON string literal (quotes and escapes) to b. */
void ml_otlp_json_quote(struct ml_buf *b, const char *s, size_t n);
/* Appends standard padded base64 of n bytes to b. */
void ml_otlp_base64(struct ml_buf *b, const uint8_t *p, size_t n);

#endif
