/*
 * promql_ast.h - the syntax tree of a PromQL expression.
 *
 * Produced by ml_promql_parse (promql_parse.h), printed back by
 * ml_promql_format (the /api/v1/format_query endpoint), walked by the
 * evaluator. Every node and string lives in the arena given to the parser;
 * nothing is freed separately.
 *
 * Semantics follow Prometheus 2.42 (promql/parser/ast.go); names of node
 * kinds and fields follow it so that the two can be read side by side.
 */
#ifndef ML_QUERY_PROMQL_AST_H
#define ML_QUERY_PROMQL_AST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/span.h" /* struct ml_str */
#include "query/matcher.h"

enum ml_value_type {
	ML_TYPE_NONE = 0,
	ML_TYPE_SCALAR,
	ML_TYPE_VECTOR,   /* instant vector */
	ML_TYPE_MATRIX,   /* range vector */
	ML_TYPE_STRING,
};

const char *ml_value_type_name(enum ml_value_type t); /* "scalar", "instant vector", ... */

enum ml_node_kind {
	ML_NODE_NUMBER,
	ML_NODE_STRING,
	ML_NODE_VECTOR_SELECTOR,
	ML_NODE_MATRIX_SELECTOR,
	ML_NODE_SUBQUERY,
	ML_NODE_PAREN,
	ML_NODE_UNARY,
	ML_NODE_BINARY,
	ML_NODE_AGGREGATE,
	ML_NODE_CALL,
	ML_NODE_STEP_INVARIANT, /* reserved for the evaluator's wrapping */
};

/* Operators; the order inside each group matters to nothing but printing. */
enum ml_op {
	ML_OP_NONE = 0,
	/* arithmetic */
	ML_OP_ADD, ML_OP_SUB, ML_OP_MUL, ML_OP_DIV, ML_OP_MOD, ML_OP_POW, ML_OP_ATAN2,
	/* comparison */
	ML_OP_EQL, ML_OP_NEQ, ML_OP_GTR, ML_OP_LSS, ML_OP_GTE, ML_OP_LTE,
	/* set */
	ML_OP_AND, ML_OP_OR, ML_OP_UNLESS,
	/* aggregation */
	ML_AGG_SUM, ML_AGG_AVG, ML_AGG_COUNT, ML_AGG_MIN, ML_AGG_MAX, ML_AGG_GROUP,
	ML_AGG_STDDEV, ML_AGG_STDVAR, ML_AGG_TOPK, ML_AGG_BOTTOMK, ML_AGG_COUNT_VALUES,
	ML_AGG_QUANTILE,
};

const char *ml_op_name(enum ml_op op); /* "+", "and", "sum", "atan2", ... */
bool ml_op_is_comparison(enum ml_op op);
bool ml_op_is_set(enum ml_op op);

/* The @ modifier: none, a fixed time, or start()/end() of the query. */
enum ml_at_kind { ML_AT_NONE = 0, ML_AT_TIME, ML_AT_START, ML_AT_END };

enum ml_card { ML_CARD_ONE_TO_ONE = 0, ML_CARD_MANY_TO_ONE, ML_CARD_ONE_TO_MANY, ML_CARD_MANY_TO_MANY };

struct ml_str_list {
	struct ml_str *items;
	size_t n;
};

struct ml_vector_matching {
	enum ml_card card;
	bool on;                       /* on(...) rather than ignoring(...) */
	bool has_modifier;             /* on/ignoring was written (even empty) */
	struct ml_str_list labels;     /* the on/ignoring list */
	struct ml_str_list include;    /* group_left/group_right extra labels */
};

struct ml_func; /* promql_functions.h */

struct ml_node {
	enum ml_node_kind kind;
	uint32_t pos;                  /* byte offset in the query, for errors */
	union {
		double number;
		struct ml_str string;      /* unquoted value */
		struct {
			struct ml_str name;    /* metric name, may be empty */
			struct ml_matcher *matchers; /* includes __name__="name" when named */
			size_t n_matchers;
			int64_t offset_ms;
			enum ml_at_kind at;
			int64_t at_ms;
			/* set by the evaluator: */
			int64_t start_ms, end_ms;
		} vs;
		struct {
			struct ml_node *vs;    /* an ML_NODE_VECTOR_SELECTOR */
			int64_t range_ms;
		} ms;
		struct {
			struct ml_node *expr;
			int64_t range_ms;
			int64_t step_ms;       /* 0 = the default (global evaluation interval) */
			int64_t offset_ms;
			enum ml_at_kind at;
			int64_t at_ms;
		} sq;
		struct ml_node *paren;
		struct {
			enum ml_op op;         /* ML_OP_ADD or ML_OP_SUB */
			struct ml_node *expr;
		} unary;
		struct {
			enum ml_op op;
			struct ml_node *lhs, *rhs;
			bool return_bool;
			struct ml_vector_matching *matching; /* NULL unless both sides are vectors */
		} binary;
		struct {
			enum ml_op op;
			struct ml_node *expr;
			struct ml_node *param; /* topk k, quantile q, count_values label */
			struct ml_str_list grouping;
			bool without;
			bool has_grouping;     /* by/without was written (even empty) */
		} agg;
		struct {
			const struct ml_func *func;
			struct ml_node **args;
			size_t n_args;
		} call;
	} u;
};

/* The type an expression evaluates to. */
enum ml_value_type ml_node_type(const struct ml_node *n);

#endif
