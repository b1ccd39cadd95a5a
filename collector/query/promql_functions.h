/*
 * promql_functions.h - the table of PromQL functions: names, argument
 * types and arity, as Prometheus 2.42 defines them (promql/parser/functions.go).
 * The parser checks calls against it; the evaluator implements each entry.
 */
#ifndef ML_QUERY_PROMQL_FUNCTIONS_H
#define ML_QUERY_PROMQL_FUNCTIONS_H

#include <stddef.h>

#include "query/promql_ast.h"

#define ML_FUNC_MAX_ARGS 5

struct ml_func {
	const char *name;
	enum ml_value_type arg_types[ML_FUNC_MAX_ARGS];
	int n_arg_types;
	/*
	 * 0: exactly n_arg_types arguments. > 0: the last argument type is
	 * optional and may repeat, up to n_arg_types + variadic - 1 arguments
	 * in all. -1: the last type repeats without bound (label_join).
	 */
	int variadic;
	enum ml_value_type return_type;
};

/* The function named (name, n), or NULL. */
const struct ml_func *ml_func_lookup(const char *name, size_t n);

#endif
