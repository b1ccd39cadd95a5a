/*
 * promql_eval.h - evaluating a parsed PromQL expression over the TSDB.
 *
 * The evaluator implements Prometheus 2.42's semantics for float samples
 * (promql/engine.go and promql/functions.go): every node is evaluated for all
 * steps of the query at once (an instant query is a range query with one
 * step), vector selectors take the newest sample in [t - lookback, t] that is
 * not a staleness marker, range selectors take the samples in [t - range, t],
 * subqueries evaluate their inner expression at absolute multiples of their
 * step, and binary operators, aggregations and functions follow Prometheus
 * down to their error texts. docs/PROMQL.md lists what is supported and the
 * few places where meshlens differs.
 *
 * Usage:
 *     struct ml_promql_expr *e = ml_promql_parse(q, n, &err);
 *     struct ml_promql_result *r;
 *     int rc = ml_promql_eval_range(db, e->root, start, end, step, NULL, &r, &err);
 *     ... walk r->series ...
 *     ml_promql_result_destroy(r);
 *
 * Threads: one evaluation runs on the calling thread; any number may run at
 * once on one TSDB. The expression tree is not changed, but its regex
 * matchers carry PCRE2 match data (query/matcher.h), so one parsed
 * expression is evaluated by one thread at a time.
 */
#ifndef ML_QUERY_PROMQL_EVAL_H
#define ML_QUERY_PROMQL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "model/labels.h"
#include "model/sample.h"
#include "query/promql_ast.h"

struct ml_tsdb;
struct ml_arena;

/* Engine options; a zero field takes the default given. */
struct ml_promql_opts {
	int64_t lookback_delta_ms; /* 0 = 5 min (--query.lookback-delta) */
	int64_t max_samples;       /* 0 = 50,000,000 (--query.max-samples) */
	int64_t timeout_ms;        /* 0 = no timeout (--query.timeout, Prometheus: 2 min) */
	int64_t no_step_subquery_interval_ms; /* step of `x[5m:]`; 0 = 60 s (global evaluation
	                                         interval) */
};

/*
 * Return codes of the evaluation functions, and what Prometheus's HTTP API
 * answers for each (ml_promql_error_type / ml_promql_http_status):
 *   ML_EINVAL           execution error, e.g. "vector cannot contain metrics
 *                       with the same labelset"           -> 422 "execution"
 *   ML_ETOOBIG          "query processing would load too many samples into
 *                       memory in query execution"        -> 422 "execution"
 *   ML_PROMQL_ETIMEOUT  "query timed out in expression evaluation"
 *                                                          -> 503 "timeout"
 *   ML_EIO, ML_ECORRUPT the store failed                   -> 500 "internal"
 *   ML_ENOMEM                                              -> 500 "internal"
 * ML_PROMQL_ETIMEOUT is ML_ETIMEOUT (core/error.h), named for this use.
 */
#define ML_PROMQL_ETIMEOUT ML_ETIMEOUT

/* "execution", "timeout", "internal" or "bad_data" (for ML_EUNSUPP). */
const char *ml_promql_error_type(int rc);
/* 422, 503, 500 or 400, as above. */
int ml_promql_http_status(int rc);

/* One series of a result. */
struct ml_promql_series {
	/*
	 * The label set in the canonical encoding of model/labels.h, sorted by
	 * name (walk it with ml_labels_iter_init / ml_labels_next). May be
	 * empty (n == 0), e.g. for sum(x) or a scalar in a range query. Unlike
	 * a stored series it need not contain __name__.
	 */
	struct ml_labels labels;
	/* Points sorted by time; values may be NaN or ±Inf (never a staleness marker). */
	const struct ml_sample *points;
	size_t n_points;
};

/*
 * The answer, shaped as Prometheus's HTTP API returns it:
 *   instant query:
 *     ML_TYPE_VECTOR  series[i] has exactly one point, at t_ms; the order is
 *                     the evaluation's (Prometheus does not sort vectors;
 *                     sort() / sort_desc() / topk() order them);
 *     ML_TYPE_SCALAR  scalar at t_ms (no series);
 *     ML_TYPE_STRING  string at t_ms (no series);
 *     ML_TYPE_MATRIX  a range or subquery selected at t_ms: series with their
 *                     raw points, in store order (sorted by labels).
 *   range query:
 *     ML_TYPE_MATRIX  always (a scalar expression gives one series with no
 *                     labels); series sorted by labels as Prometheus does;
 *                     steps without a value have no point.
 * Everything lives in arena and is freed by ml_promql_result_destroy.
 */
struct ml_promql_result {
	enum ml_value_type type;
	int64_t t_ms;
	double scalar;
	struct ml_str string;
	struct ml_promql_series *series;
	size_t n_series;
	uint64_t samples_total; /* samples loaded during evaluation (stats) */
	struct ml_arena *arena;
};

/*
 * Evaluates root at t_ms (an instant query). root comes from ml_promql_parse
 * and is only read. opts may be NULL. On success *out is a result to free
 * with ml_promql_result_destroy; on failure *out is NULL and err says why
 * (codes above).
 */
int ml_promql_eval_instant(struct ml_tsdb *db, const struct ml_node *root, int64_t t_ms,
                           const struct ml_promql_opts *opts, struct ml_promql_result **out,
                           struct ml_err *err);

/*
 * Evaluates root at start_ms, start_ms + step_ms, ... up to end_ms (a range
 * query). The expression must be of type scalar or instant vector, else
 * ML_EINVAL "invalid expression type \"range vector\" for range query, must
 * be Scalar or instant Vector"; step_ms > 0 and end_ms >= start_ms, else
 * ML_EINVAL. The result is always a matrix.
 */
int ml_promql_eval_range(struct ml_tsdb *db, const struct ml_node *root, int64_t start_ms,
                         int64_t end_ms, int64_t step_ms, const struct ml_promql_opts *opts,
                         struct ml_promql_result **out, struct ml_err *err);

/* Frees a result and everything it points to. Accepts NULL. */
void ml_promql_result_destroy(struct ml_promql_result *r);

#endif
