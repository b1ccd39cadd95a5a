/*
 * promql_parse.h - parsing PromQL into a syntax tree, and printing it back.
 *
 * The grammar, precedence and type checks are Prometheus 2.42's
 * (promql/parser/generated_parser.y and parse.go): `or` < `and`/`unless` <
 * comparisons < `+ -` < `* / % atan2` < `^` (right-associative); unary
 * minus binds like `*`; offset, @, [range] and [range:step] bind tightest.
 * Errors read like Prometheus's: "1:14: parse error: unexpected <by>".
 */
#ifndef ML_QUERY_PROMQL_PARSE_H
#define ML_QUERY_PROMQL_PARSE_H

#include <stddef.h>

#include "core/buf.h"
#include "core/error.h"
#include "query/promql_ast.h"

/* A parsed expression: the tree, its arena and the matchers it owns. */
struct ml_promql_expr {
	struct ml_arena *arena;
	struct ml_node *root;
	struct ml_matcher **matchers; /* every matcher in the tree, to free their regexes */
	size_t n_matchers, cap_matchers;
};

/*
 * Parses q[0..n). Returns the expression (free with ml_promql_expr_destroy)
 * or NULL with Prometheus-style message in err (ML_EINVAL) or ML_ENOMEM.
 */
struct ml_promql_expr *ml_promql_parse(const char *q, size_t n, struct ml_err *err);
void ml_promql_expr_destroy(struct ml_promql_expr *e);

/* Prints the tree on one line as Prometheus's String() does. */
void ml_promql_format(const struct ml_node *n, struct ml_buf *out);
/* Prints it split over lines as Prometheus's prettifier does (what /api/v1/format_query returns). */
void ml_promql_pretty(const struct ml_node *n, struct ml_buf *out);

/* Prometheus's duration text for ms ("1h30m", "5m", "1d", "500ms"; "0s" for 0). */
void ml_promql_format_duration(int64_t ms, struct ml_buf *out);
/* A float as Go's strconv.FormatFloat(v, 'g', -1, 64) prints it ("1e+06", "0.5", "NaN", "+Inf"). */
void ml_format_go_float(double v, struct ml_buf *out);

#endif
