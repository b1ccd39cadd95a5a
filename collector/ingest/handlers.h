/*
 * handlers.h - the HTTP push endpoints: they pick the decoder by content
 * type, decode into a per-request arena, hand the batch to the store and
 * answer only once it is durable.
 */
#ifndef ML_INGEST_HANDLERS_H
#define ML_INGEST_HANDLERS_H

#include "http/router.h"

/* POST /v1/traces: OTLP/HTTP, application/x-protobuf or application/json. ctx = struct ml_app *. */
void ml_ingest_otlp_traces(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* POST /api/v2/spans: Zipkin v2 JSON; answers 202. */
void ml_ingest_zipkin_spans(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);

/* POST /v1/metrics: OTLP/HTTP metrics, protobuf or JSON. */
void ml_ingest_otlp_metrics(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* POST /api/v1/write: Prometheus remote write 1.0 (snappy protobuf); answers 204. */
void ml_ingest_remote_write(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* POST /api/v1/import/prometheus: text exposition 0.0.4 or OpenMetrics text; answers 204. */
void ml_ingest_prom_text(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);

#endif
