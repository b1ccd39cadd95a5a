/*
 * promql_ast.c - types and names of syntax tree nodes, and the printer that
 * reproduces Prometheus's String() of each node (format_query).
 */
#include "query/promql_ast.h"
#include "core/alloc.h"
#include "core/fmtfloat.h"
#include "query/promql_functions.h"
#include "query/promql_parse.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *ml_value_type_name(enum ml_value_type t)
{
	switch (t) {
	case ML_TYPE_SCALAR: return "scalar";
	case ML_TYPE_VECTOR: return "instant vector";
	case ML_TYPE_MATRIX: return "range vector";
	case ML_TYPE_STRING: return "string";
	default: return "none";
	}
}

const char *ml_op_name(enum ml_op op)
{
	static const char *const names[] = {
		[ML_OP_NONE] = "", [ML_OP_ADD] = "+", [ML_OP_SUB] = "-", [ML_OP_MUL] = "*",
		[ML_OP_DIV] = "/", [ML_OP_MOD] = "%", [ML_OP_POW] = "^", [ML_OP_ATAN2] = "atan2",
		[ML_OP_EQL] = "==", [ML_OP_NEQ] = "!=", [ML_OP_GTR] = ">", [ML_OP_LSS] = "<",
		[ML_OP_GTE] = ">=", [ML_OP_LTE] = "<=", [ML_OP_AND] = "and", [ML_OP_OR] = "or",
		[ML_OP_UNLESS] = "unless", [ML_AGG_SUM] = "sum", [ML_AGG_AVG] = "avg",
		[ML_AGG_COUNT] = "count", [ML_AGG_MIN] = "min", [ML_AGG_MAX] = "max",
		[ML_AGG_GROUP] = "group", [ML_AGG_STDDEV] = "stddev", [ML_AGG_STDVAR] = "stdvar",
		[ML_AGG_TOPK] = "topk", [ML_AGG_BOTTOMK] = "bottomk",
		[ML_AGG_COUNT_VALUES] = "count_values", [ML_AGG_QUANTILE] = "quantile",
	};
	return (unsigned)op < sizeof(names) / sizeof(names[0]) ? names[op] : "";
}

bool ml_op_is_comparison(enum ml_op op)
{
	return op >= ML_OP_EQL && op <= ML_OP_LTE;
}

bool ml_op_is_set(enum ml_op op)
{
	return op == ML_OP_AND || op == ML_OP_OR || op == ML_OP_UNLESS;
}

enum ml_value_type ml_node_type(const struct ml_node *n)
{
	switch (n->kind) {
	case ML_NODE_NUMBER: return ML_TYPE_SCALAR;
	case ML_NODE_STRING: return ML_TYPE_STRING;
	case ML_NODE_VECTOR_SELECTOR: return ML_TYPE_VECTOR;
	case ML_NODE_MATRIX_SELECTOR: return ML_TYPE_MATRIX;
	case ML_NODE_SUBQUERY: return ML_TYPE_MATRIX;
	case ML_NODE_PAREN: return ml_node_type(n->u.paren);
	case ML_NODE_UNARY: return ml_node_type(n->u.unary.expr);
	case ML_NODE_BINARY: {
		enum ml_value_type l = ml_node_type(n->u.binary.lhs), r = ml_node_type(n->u.binary.rhs);
		return l == ML_TYPE_SCALAR && r == ML_TYPE_SCALAR ? ML_TYPE_SCALAR : ML_TYPE_VECTOR;
	}
	case ML_NODE_AGGREGATE: return ML_TYPE_VECTOR;
	case ML_NODE_CALL: return n->u.call.func->return_type;
	default: return ML_TYPE_NONE;
	}
}

void ml_promql_format_duration(int64_t ms, struct ml_buf *out)
{
	if (ms == 0) {
		ml_buf_puts(out, "0s");
		return;
	}
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"y", 365LL * 86400000}, {"w", 7LL * 86400000}, {"d", 86400000},
		     {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
	/* Prometheus's model.Duration prints the largest units first, skipping zeros. */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		int64_t v = ms / units[i].ms;
		if (v > 0) {
			ml_buf_printf(out, "%lld%s", (long long)v, units[i].unit);
			ms -= v * units[i].ms;
		}
	}
}

void ml_format_go_float(double v, struct ml_buf *out)
{
	if (isnan(v)) {
		ml_buf_puts(out, "NaN");
		return;
	}
	if (isinf(v)) {
		ml_buf_puts(out, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/*
	 * Go's strconv.FormatFloat(v, 'g', -1, 64), which fmt.Sprint uses: the
	 * shortest digits that read back as v, in exponent form when the decimal
	 * exponent is < -4 or >= 6 ("1e+06", "1.5e-05"), else plain ("123456").
	 */
	ml_float_put(out, v, -4, 6);
}

/* Go's %q of a string: double quotes, \" \\ and control bytes escaped. */
static void go_quote(const char *s, size_t n, struct ml_buf *out)
{
	ml_buf_putc(out, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': ml_buf_puts(out, "\\\""); break;
		case '\\': ml_buf_puts(out, "\\\\"); break;
		case '\n': ml_buf_puts(out, "\\n"); break;
		case '\r': ml_buf_puts(out, "\\r"); break;
		case '\t': ml_buf_puts(out, "\\t"); break;
		case '\a': ml_buf_puts(out, "\\a"); break;
		case '\b': ml_buf_puts(out, "\\b"); break;
		case '\f': ml_buf_puts(out, "\\f"); break;
		case '\v': ml_buf_puts(out, "\\v"); break;
		default:
			if (c < 0x20 || c == 0x7f)
				ml_buf_printf(out, "\\x%02x", c);
			else
				ml_buf_putc(out, (char)c);
		}
	}
	ml_buf_putc(out, '"');
}

static void str_list(const struct ml_str_list *l, struct ml_buf *out)
{
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			ml_buf_puts(out, ", ");
		ml_buf_append(out, l->items[i].p, l->items[i].n);
	}
}

static void at_offset(enum ml_at_kind at, int64_t at_ms, int64_t offset_ms, struct ml_buf *out)
{
	if (at == ML_AT_TIME)
		ml_buf_printf(out, " @ %.3f", (double)at_ms / 1000.0);
	else if (at == ML_AT_START)
		ml_buf_puts(out, " @ start()");
	else if (at == ML_AT_END)
		ml_buf_puts(out, " @ end()");
	if (offset_ms > 0) {
		ml_buf_puts(out, " offset ");
		ml_promql_format_duration(offset_ms, out);
	} else if (offset_ms < 0) {
		ml_buf_puts(out, " offset -");
		ml_promql_format_duration(-offset_ms, out);
	}
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* name{sorted matchers} without @ and offset (Prometheus sorts the matcher texts). */
static void selector_body(const struct ml_node *n, struct ml_buf *out)
{
	ml_buf_append(out, n->u.vs.name.p, n->u.vs.name.n);
	size_t k = 0;
	char **texts = ml_calloc(n->u.vs.n_matchers ? n->u.vs.n_matchers : 1, sizeof(*texts));
	if (texts == NULL) {
		out->oom = true;
		return;
	}
	for (size_t i = 0; i < n->u.vs.n_matchers; i++) {
		const struct ml_matcher *m = &n->u.vs.matchers[i];
		if (n->u.vs.name.n > 0 && m->type == ML_MATCH_EQ && strcmp(m->name, "__name__") == 0 &&
		    m->value_len == n->u.vs.name.n && memcmp(m->value, n->u.vs.name.p, m->value_len) == 0)
			continue;
		struct ml_buf t = ML_BUF_INIT;
		ml_buf_append(&t, m->name, m->name_len);
		ml_buf_puts(&t, ml_match_type_str(m->type));
		go_quote(m->value, m->value_len, &t);
		ml_buf_putc(&t, '\0');
		if (!ml_buf_ok(&t)) {
			out->oom = true;
			ml_buf_free(&t);
			continue;
		}
		texts[k++] = (char *)ml_buf_steal(&t, NULL);
	}
	if (k > 0) {
		qsort(texts, k, sizeof(*texts), cmp_str);
		ml_buf_putc(out, '{');
		for (size_t i = 0; i < k; i++) {
			if (i)
				ml_buf_putc(out, ',');
			ml_buf_puts(out, texts[i]);
		}
		ml_buf_putc(out, '}');
	}
	for (size_t i = 0; i < k; i++)
		ml_free(texts[i]);
	ml_free(texts);
}

/* A subquery's "[range:step]", then @ and offset. */
static void subquery_suffix(const struct ml_node *n, struct ml_buf *out)
{
	ml_buf_putc(out, '[');
	ml_promql_format_duration(n->u.sq.range_ms, out);
	ml_buf_putc(out, ':');
	if (n->u.sq.step_ms > 0)
		ml_promql_format_duration(n->u.sq.step_ms, out);
	ml_buf_putc(out, ']');
	at_offset(n->u.sq.at, n->u.sq.at_ms, n->u.sq.offset_ms, out);
}

/* A binary operator with bool and its vector matching: "+ on (a) group_left (b)". */
static void binary_op(const struct ml_node *n, struct ml_buf *out)
{
	ml_buf_puts(out, ml_op_name(n->u.binary.op));
	if (n->u.binary.return_bool)
		ml_buf_puts(out, " bool");
	const struct ml_vector_matching *vm = n->u.binary.matching;
	if (vm != NULL && (vm->labels.n > 0 || vm->on)) {
		ml_buf_puts(out, vm->on ? " on (" : " ignoring (");
		str_list(&vm->labels, out);
		ml_buf_putc(out, ')');
		if (vm->card == ML_CARD_MANY_TO_ONE || vm->card == ML_CARD_ONE_TO_MANY) {
			ml_buf_puts(out, vm->card == ML_CARD_MANY_TO_ONE ? " group_left (" : " group_right (");
			str_list(&vm->include, out);
			ml_buf_putc(out, ')');
		}
	}
}

/* An aggregation's operator and grouping: "sum", "sum by (a) ", "sum without (a) ". */
static void agg_op(const struct ml_node *n, struct ml_buf *out)
{
	ml_buf_puts(out, ml_op_name(n->u.agg.op));
	if (n->u.agg.without) {
		ml_buf_puts(out, " without (");
		str_list(&n->u.agg.grouping, out);
		ml_buf_puts(out, ") ");
	} else if (n->u.agg.grouping.n > 0) {
		ml_buf_puts(out, " by (");
		str_list(&n->u.agg.grouping, out);
		ml_buf_puts(out, ") ");
	}
}

void ml_promql_format(const struct ml_node *n, struct ml_buf *out)
{
	switch (n->kind) {
	case ML_NODE_NUMBER:
		ml_format_go_float(n->u.number, out);
		break;
	case ML_NODE_STRING:
		go_quote(n->u.string.p, n->u.string.n, out);
		break;
	case ML_NODE_VECTOR_SELECTOR:
		selector_body(n, out);
		at_offset(n->u.vs.at, n->u.vs.at_ms, n->u.vs.offset_ms, out);
		break;
	case ML_NODE_MATRIX_SELECTOR: {
		const struct ml_node *vs = n->u.ms.vs;
		selector_body(vs, out);
		ml_buf_putc(out, '[');
		ml_promql_format_duration(n->u.ms.range_ms, out);
		ml_buf_putc(out, ']');
		at_offset(vs->u.vs.at, vs->u.vs.at_ms, vs->u.vs.offset_ms, out);
		break;
	}
	case ML_NODE_SUBQUERY:
		ml_promql_format(n->u.sq.expr, out);
		subquery_suffix(n, out);
		break;
	case ML_NODE_PAREN:
		ml_buf_putc(out, '(');
		ml_promql_format(n->u.paren, out);
		ml_buf_putc(out, ')');
		break;
	case ML_NODE_UNARY:
		ml_buf_puts(out, ml_op_name(n->u.unary.op));
		ml_promql_format(n->u.unary.expr, out);
		break;
	case ML_NODE_BINARY: {
		ml_promql_format(n->u.binary.lhs, out);
		ml_buf_putc(out, ' ');
		binary_op(n, out);
		ml_buf_putc(out, ' ');
		ml_promql_format(n->u.binary.rhs, out);
		break;
	}
	case ML_NODE_AGGREGATE:
		agg_op(n, out);
		ml_buf_putc(out, '(');
		if (n->u.agg.param != NULL) {
			ml_promql_format(n->u.agg.param, out);
			ml_buf_puts(out, ", ");
		}
		ml_promql_format(n->u.agg.expr, out);
		ml_buf_putc(out, ')');
		break;
	case ML_NODE_CALL:
		ml_buf_puts(out, n->u.call.func->name);
		ml_buf_putc(out, '(');
		for (size_t i = 0; i < n->u.call.n_args; i++) {
			if (i)
				ml_buf_puts(out, ", ");
			ml_promql_format(n->u.call.args[i], out);
		}
		ml_buf_putc(out, ')');
		break;
	default:
		break;
	}
}

/* ---- the prettifier (format_query) ---------------------------------------------
 *
 * Prometheus 2.42's Node.Pretty: a node whose one-line text is longer than 100
 * characters is split, its children one level deeper (two spaces a level),
 * each of them split only if it is itself too long. Selectors and literals are
 * never split; a subquery that fits is printed without its indent, as
 * Prometheus does.
 */

#define PRETTY_MAX_LINE 100

static bool needs_split(const struct ml_node *n)
{
	struct ml_buf b = ML_BUF_INIT;
	ml_promql_format(n, &b);
	bool split = b.len > PRETTY_MAX_LINE;
	ml_buf_free(&b);
	return split;
}

static void indent(int level, struct ml_buf *out)
{
	for (int i = 0; i < level; i++)
		ml_buf_puts(out, "  ");
}

static void pretty(const struct ml_node *n, int level, struct ml_buf *out)
{
	switch (n->kind) {
	case ML_NODE_SUBQUERY:
		if (!needs_split(n)) {
			ml_promql_format(n, out);
			return;
		}
		pretty(n->u.sq.expr, level, out);
		subquery_suffix(n, out);
		return;
	case ML_NODE_UNARY: {
		/* The operand at the same level, its surrounding white space trimmed. */
		struct ml_buf child = ML_BUF_INIT;
		pretty(n->u.unary.expr, level, &child);
		size_t a = 0, b = child.len;
		while (a < b && (child.data[a] == ' ' || child.data[a] == '\n'))
			a++;
		while (b > a && (child.data[b - 1] == ' ' || child.data[b - 1] == '\n'))
			b--;
		indent(level, out);
		ml_buf_puts(out, ml_op_name(n->u.unary.op));
		ml_buf_append(out, child.data + a, b - a);
		ml_buf_free(&child);
		return;
	}
	case ML_NODE_BINARY:
		if (!needs_split(n))
			break;
		/* No indent of its own: the operands carry theirs. */
		pretty(n->u.binary.lhs, level + 1, out);
		ml_buf_putc(out, '\n');
		indent(level, out);
		binary_op(n, out);
		ml_buf_putc(out, '\n');
		pretty(n->u.binary.rhs, level + 1, out);
		return;
	case ML_NODE_AGGREGATE:
		if (!needs_split(n))
			break;
		indent(level, out);
		agg_op(n, out);
		ml_buf_puts(out, "(\n");
		if (n->u.agg.param != NULL) {
			pretty(n->u.agg.param, level + 1, out);
			ml_buf_puts(out, ",\n");
		}
		pretty(n->u.agg.expr, level + 1, out);
		ml_buf_putc(out, '\n');
		indent(level, out);
		ml_buf_putc(out, ')');
		return;
	case ML_NODE_CALL:
		if (!needs_split(n))
			break;
		indent(level, out);
		ml_buf_puts(out, n->u.call.func->name);
		ml_buf_puts(out, "(\n");
		for (size_t i = 0; i < n->u.call.n_args; i++) {
			if (i)
				ml_buf_puts(out, ",\n");
			pretty(n->u.call.args[i], level + 1, out);
		}
		ml_buf_putc(out, '\n');
		indent(level, out);
		ml_buf_putc(out, ')');
		return;
	case ML_NODE_PAREN:
		if (!needs_split(n))
			break;
		indent(level, out);
		ml_buf_puts(out, "(\n");
		pretty(n->u.paren, level + 1, out);
		ml_buf_putc(out, '\n');
		indent(level, out);
		ml_buf_putc(out, ')');
		return;
	default:
		break;
	}
	indent(level, out);
	ml_promql_format(n, out);
}

void ml_promql_pretty(const struct ml_node *n, struct ml_buf *out)
{
	pretty(n, 0, out);
}
