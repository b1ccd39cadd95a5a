/*
 * prom_api.h - the Prometheus HTTP API endpoints that need no PromQL
 * evaluation (series, label names and values, metadata, status pages,
 * rules/alerts/exemplars placeholders, format_query), and the two query
 * endpoints that hand PromQL to the evaluator (query/promql_eval.h).
 *
 * Every handler takes ctx = struct ml_app *, accepts GET (and POST where
 * Prometheus does: query parameters and form bodies both arrive in
 * req->params) and answers with
 * Prometheus's JSON envelope: {"status":"success","data":...} or
 * {"status":"error","errorType":"bad_data","error":"..."} with 400
 * (bad_data), 422 (execution), 503 (timeout) or 500 (internal).
 * Spec: Prometheus docs "HTTP API" (querying/api.md) and web/api/v1/api.go.
 */
#ifndef ML_EXPORTERS_PROM_API_H
#define ML_EXPORTERS_PROM_API_H

#include <stdint.h>

#include "core/buf.h"
#include "http/router.h"

struct ml_config;
struct ml_matcher;
struct ml_promql_expr;

#define ML_PROM_MAX_MATCH 64 /* match[] parameters per request */

/* The match[] selectors of a request, parsed. */
struct ml_prom_selectors {
	struct ml_promql_expr *expr[ML_PROM_MAX_MATCH];
	struct ml_matcher **m[ML_PROM_MAX_MATCH]; /* pointer arrays in the request arena */
	size_t n_m[ML_PROM_MAX_MATCH];
	size_t n;
};

/*
 * Parses every match[] of req as Prometheus's ParseMetricSelector does: a
 * vector selector with at least one non-empty matcher. Returns 0, or
 * ML_EINVAL / ML_ENOMEM with msg (msg_size bytes) saying why, the text after
 * pfx (Prometheus's /api/v1/series puts `invalid parameter "match[]": `
 * there). s holds nothing to free after a failure; else ml_prom_selectors_fini.
 */
int ml_prom_selectors_parse(const struct ml_http_request *req, struct ml_prom_selectors *s,
			    const char *pfx, char *msg, size_t msg_size);
void ml_prom_selectors_fini(struct ml_prom_selectors *s);

/*
 * Gives /api/v1/status/flags and runtimeinfo the parsed flags. cfg must
 * outlive every request (main's config does); NULL leaves them empty.
 * Call once before the server starts.
 */
void ml_prom_api_set_config(const struct ml_config *cfg);

/*
 * --query.lookback-delta in ms (5 minutes before ml_prom_api_set_config or
 * with NULL), for every reader that picks "the latest sample" as PromQL does
 * (/federate, as in Prometheus).
 */
int64_t ml_prom_api_lookback_ms(void);

/*
 * The two query endpoints run under the --query.* limits: at most
 * --query.max-concurrency evaluations at once (others wait for a slot until
 * their deadline: 503 "query timed out in query queue"), a deadline of
 * --query.timeout lowered by the timeout= parameter (Prometheus duration or
 * float seconds), --query.lookback-delta and --query.max-samples.
 */
/* GET|POST /api/v1/query?query=&time=&timeout=  (instant query; time defaults to now) */
void ml_prom_query(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET|POST /api/v1/query_range?query=&start=&end=&step=&timeout=  (step: seconds or a duration) */
void ml_prom_query_range(const struct ml_http_request *req, struct ml_http_response *resp,
			 void *ctx);
/* GET|POST /api/v1/series?match[]=&start=&end= */
void ml_prom_series(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET|POST /api/v1/labels?match[]=&start=&end=&limit= */
void ml_prom_labels(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v1/label/<name>/values (prefix route "/api/v1/label/") */
void ml_prom_label_values(const struct ml_http_request *req, struct ml_http_response *resp,
			  void *ctx);
/* GET /api/v1/metadata?metric=&limit= */
void ml_prom_metadata(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v1/status/buildinfo */
void ml_prom_buildinfo(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v1/status/runtimeinfo */
void ml_prom_runtimeinfo(const struct ml_http_request *req, struct ml_http_response *resp,
			 void *ctx);
/* GET /api/v1/status/flags */
void ml_prom_flags(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v1/rules: {"groups":[]} (meshlens evaluates no rules) */
void ml_prom_rules(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET /api/v1/alerts: {"alerts":[]} */
void ml_prom_alerts(const struct ml_http_request *req, struct ml_http_response *resp, void *ctx);
/* GET|POST /api/v1/query_exemplars: [] (no exemplars stored yet) */
void ml_prom_query_exemplars(const struct ml_http_request *req, struct ml_http_response *resp,
			     void *ctx);
/* GET|POST /api/v1/format_query?query= */
void ml_prom_format_query(const struct ml_http_request *req, struct ml_http_response *resp,
			  void *ctx);

/*
 * Parses a Prometheus API timestamp: unix seconds with optional decimals
 * ("1700000000.123") or RFC3339 ("2023-11-14T22:13:20.123Z", offsets allowed),
 * into unix ms in *out. Returns 0 or ML_EINVAL.
 */
int ml_prom_parse_time(const char *s, int64_t *out);

#endif
