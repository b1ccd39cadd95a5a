/*
 * zipkin_api.h - Zipkin's v2 query API (what Grafana's Zipkin data source and
 * the Zipkin UI call), answered from the trace store; and Zipkin v2 JSON
 * rendering of spans.
 *
 * Handlers take ctx = struct ml_app *. Errors are text/plain with the HTTP
 * status, as Zipkin's server answers them.
 */
#ifndef ML_EXPORTERS_ZIPKIN_API_H
#define ML_EXPORTERS_ZIPKIN_API_H

#include "core/buf.h"
#include "http/router.h"
#include "model/span.h"

/* GET /api/v2/services */
void ml_zipkin_services(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v2/spans?serviceName= */
void ml_zipkin_spans(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v2/remoteServices?serviceName= */
void ml_zipkin_remote_services(const struct ml_http_request *req, struct ml_http_response *resp,
			       void *ctx);
/* GET /api/v2/traces?serviceName=&spanName=&annotationQuery=&minDuration=&maxDuration=&endTs=&lookback=&limit= */
void ml_zipkin_traces(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v2/trace/{traceId}  (prefix route "/api/v2/trace/") */
void ml_zipkin_trace(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v2/traceMany?traceIds=a,b,c */
void ml_zipkin_trace_many(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v2/dependencies?endTs=&lookback=  (milliseconds) */
void ml_zipkin_dependencies(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx);

/* Appends one span as a Zipkin v2 JSON object. */
void ml_zipkin_span_json(struct ml_buf *out, const struct ml_span *span);

#endif
