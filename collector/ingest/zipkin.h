/*
 * zipkin.h - Zipkin v2 JSON span lists (POST /api/v2/spans), as Envoy and
 * the Zipkin exporters send them, decoded into the span model.
 *
 * Spec: zipkin2 API (zipkin-api/zipkin2-api.yaml), "Span" and "ListOfSpans".
 * Mapping: traceId (16 or 32 hex) -> trace_id (left-padded), id -> span_id,
 * parentId -> parent_id, kind -> kind, timestamp/duration (µs) ->
 * start_ns/end_ns, localEndpoint.serviceName -> resource service name (one
 * ml_resource per distinct local endpoint), tags -> string attributes,
 * annotations -> events, shared -> shared, tag "error" -> status ERROR
 * (its value becomes the status message unless empty or "true").
 *
 * Error handling as in otlp_trace.h: a span that is invalid on its own is
 * rejected alone and counted; a body that is not a JSON array of objects
 * fails as a whole.
 */
#ifndef ML_INGEST_ZIPKIN_H
#define ML_INGEST_ZIPKIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "ingest/otlp_trace.h"
#include "model/span.h"

int ml_zipkin_decode_json(const uint8_t *body, size_t len, struct ml_span_batch *batch,
			  struct ml_ingest_report *report, struct ml_err *err);

#endif
