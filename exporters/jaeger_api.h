/*
 * jaeger_api.h - Jaeger's HTTP query API (the one the Jaeger UI and
 * Grafana's Jaeger data source call), answered from the trace store.
 *
 * Every handler takes ctx = struct ml_app * and answers Jaeger's JSON
 * envelope {"data": ..., "total": n, "limit": 0, "offset": 0, "errors": null};
 * errors as {"data": null, "errors": [{"code": 400, "msg": "..."}]} with the
 * same HTTP status.
 */
#ifndef ML_EXPORTERS_JAEGER_API_H
#define ML_EXPORTERS_JAEGER_API_H

#include "http/router.h"

/* GET /api/services */
void ml_jaeger_services(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/services/{service}/operations  (prefix route "/api/services/") */
void ml_jaeger_service_operations(const struct ml_http_request *req, struct ml_http_response *resp,
				  void *ctx);
/* GET /api/operations?service=&spanKind= */
void ml_jaeger_operations(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/traces?service=&operation=&tags=&minDuration=&maxDuration=&start=&end=&lookback=&limit= */
void ml_jaeger_search(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/traces/{traceID}  (prefix route "/api/traces/") */
void ml_jaeger_trace(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/dependencies?endTs=&lookback=  (milliseconds) */
void ml_jaeger_dependencies(const struct ml_http_request *req, struct ml_http_response *resp,
			    void *ctx);

#endif
