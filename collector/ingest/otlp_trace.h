/*
 * otlp_trace.h - OTLP/HTTP trace export requests (ExportTraceServiceRequest)
 * in protobuf and JSON, decoded into the span model; and the responses.
 *
 * Spec: opentelemetry-proto collector/trace/v1/trace_service.proto and the
 * OTLP/HTTP JSON mapping (hex trace/span ids, lowerCamelCase field names,
 * 64-bit integers as strings or numbers, enums as integers).
 *
 * A request is decoded as far as it is well-formed. A span that is invalid
 * on its own (trace id not 16 bytes, span id not 8 bytes, end before start)
 * is rejected alone and counted in the report (OTLP partial success); a body
 * that is not a valid message at all fails the whole request.
 */
#ifndef ML_INGEST_OTLP_TRACE_H
#define ML_INGEST_OTLP_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"
#include "model/span.h"

/* What happened to the spans of one request. */
struct ml_ingest_report {
	uint64_t accepted;
	uint64_t rejected;
	char first_reject[512]; /* why the first rejected span was rejected; "" if none */
};

/*
 * Decodes a protobuf ExportTraceServiceRequest of len bytes into batch
 * (initialised by the caller with ml_span_batch_init; every span, string and
 * attribute is allocated in batch->arena, including the protobuf-c message
 * itself). Returns 0 (even if some spans were rejected: see report), or
 * ML_EINVAL (not a valid message) / ML_ETOOBIG (over a cap in limits.h) /
 * ML_ENOMEM with a message in err.
 */
int ml_otlp_trace_decode_proto(const uint8_t *body, size_t len, struct ml_span_batch *batch,
			       struct ml_ingest_report *report, struct ml_err *err);

/* The same for the OTLP JSON encoding. */
int ml_otlp_trace_decode_json(const uint8_t *body, size_t len, struct ml_span_batch *batch,
			      struct ml_ingest_report *report, struct ml_err *err);

/*
 * ExportTraceServiceResponse: empty when nothing was rejected, else with
 * partial_success {rejected_spans, error_message}. Appended to out.
 */
void ml_otlp_trace_response_proto(const struct ml_ingest_report *report, struct ml_buf *out);
void ml_otlp_trace_response_json(const struct ml_ingest_report *report, struct ml_buf *out);

/*
 * google.rpc.Status {code, message} as OTLP/HTTP wants for 4xx/5xx bodies,
 * in protobuf or JSON. grpc_code: 3 INVALID_ARGUMENT, 8 RESOURCE_EXHAUSTED,
 * 14 UNAVAILABLE, 13 INTERNAL.
 */
void ml_otlp_status_proto(int grpc_code, const char *message, struct ml_buf *out);
void ml_otlp_status_json(int grpc_code, const char *message, struct ml_buf *out);

#endif
