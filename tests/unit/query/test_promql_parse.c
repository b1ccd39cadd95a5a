/*
 * Tests for collector/query/promql_parse.c, promql_lex.c and promql_ast.c:
 * queries print back as Prometheus 2.42's format_query prints them, and bad
 * queries fail with Prometheus's messages.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "core/buf.h"
#include "query/promql_parse.h"

static void check_format(const char *q, const char *want)
{
	struct ml_err err;
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), &err);
	cr_assert_not_null(e, "%s: %s", q, err.msg);
	struct ml_buf b = ML_BUF_INIT;
	ml_promql_format(e->root, &b);
	ml_buf_putc(&b, '\0');
	cr_assert_str_eq((char *)b.data, want, "format of %s", q);
	/* Printing is a fixed point: the printed form parses to the same text. */
	struct ml_promql_expr *e2 = ml_promql_parse((char *)b.data, b.len - 1, &err);
	cr_assert_not_null(e2, "reparse of %s: %s", b.data, err.msg);
	struct ml_buf b2 = ML_BUF_INIT;
	ml_promql_format(e2->root, &b2);
	ml_buf_putc(&b2, '\0');
	cr_assert_str_eq((char *)b2.data, want);
	ml_buf_free(&b);
	ml_buf_free(&b2);
	ml_promql_expr_destroy(e);
	ml_promql_expr_destroy(e2);
}

static void check_error(const char *q, const char *want_substr)
{
	struct ml_err err;
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), &err);
	cr_assert_null(e, "%s should not parse", q);
	cr_assert(strstr(err.msg, want_substr) != NULL, "%s: got \"%s\", want \"%s\"", q, err.msg,
		  want_substr);
	cr_assert(strstr(err.msg, "parse error") != NULL, "%s: %s", q, err.msg);
}

Test(promql_parse, selectors_and_modifiers)
{
	check_format("up", "up");
	check_format("http_requests_total{job=\"api\", code=~\"5..\",}",
		     "http_requests_total{code=~\"5..\",job=\"api\"}");
	check_format("{__name__=\"up\"}", "{__name__=\"up\"}");
	check_format("foo offset 5m", "foo offset 5m");
	check_format("foo offset -5m", "foo offset -5m");
	check_format("foo[90m] offset 1h", "foo[1h30m] offset 1h");
	check_format("foo @ 100", "foo @ 100.000");
	check_format("foo[5m] @ end()", "foo[5m] @ end()");
	check_format("rate(foo[5m:1m])", "rate(foo[5m:1m])");
	check_format("max_over_time(rate(foo[1m])[10m:])", "max_over_time(rate(foo[1m])[10m:])");
	check_format("istio:requests:rate5m", "istio:requests:rate5m");
	check_format("foo{on=\"x\", by=\"y\"}", "foo{by=\"y\",on=\"x\"}");
}

Test(promql_parse, operators_precedence_and_modifiers)
{
	check_format("a + b * c", "a + b * c");
	check_format("(a + b) * c", "(a + b) * c");
	check_format("-2^2", "-2 ^ 2");
	check_format("2 ^ 3 ^ 2", "2 ^ 3 ^ 2");
	check_format("-1", "-1");
	check_format("a > bool 1", "a > bool 1");
	check_format("a / on(x) group_left(y) b", "a / on (x) group_left (y) b");
	check_format("a * ignoring(code) group_right b", "a * ignoring (code) group_right () b");
	check_format("foo OR bar AND baz", "foo or bar and baz");
	check_format("a unless on() b", "a unless on () b");
	check_format("1e6", "1e+06");
	check_format("0x1F + 010", "31 + 8");
	check_format("1 + Inf - NaN", "1 + +Inf - NaN");
	check_format("a atan2 b", "a atan2 b");
	check_format("vector(1) or on () vector(0)", "vector(1) or on () vector(0)");
}

Test(promql_parse, aggregations_and_functions)
{
	check_format("sum(rate(http_requests_total{job=\"api\"}[5m])) by (handler)",
		     "sum by (handler) (rate(http_requests_total{job=\"api\"}[5m]))");
	check_format("sum by (le, source_app) (rate(x_bucket[1m]))",
		     "sum by (le, source_app) (rate(x_bucket[1m]))");
	check_format("SUM WITHOUT (a,b,) (x)", "sum without (a, b) (x)");
	check_format("topk(5, foo)", "topk(5, foo)");
	check_format("count_values(\"value\", foo)", "count_values(\"value\", foo)");
	check_format("quantile(0.9, foo)", "quantile(0.9, foo)");
	check_format("histogram_quantile(0.95, sum(rate(b_bucket[5m])) by (le))",
		     "histogram_quantile(0.95, sum by (le) (rate(b_bucket[5m])))");
	check_format("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")",
		     "label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")");
	check_format("label_join(up, \"x\", \",\", \"a\", \"b\", \"c\")",
		     "label_join(up, \"x\", \",\", \"a\", \"b\", \"c\")");
	check_format("round(x, 0.01)", "round(x, 0.01)");
	check_format("day_of_week()", "day_of_week()");
	check_format("time() - timestamp(up)", "time() - timestamp(up)");
	/* Kiali's style: space before the range, uppercase OR, a trailing comma. */
	check_format("round(sum(rate(istio_requests_total{reporter=\"source\",} [600s])) by (app) > 0,0.001) OR vector(0)",
		     "round(sum by (app) (rate(istio_requests_total{reporter=\"source\"}[10m])) > 0, 0.001) or vector(0)");
	check_format("# a comment\nsum(up) # another\n", "sum(up)");
}

Test(promql_parse, errors_read_like_prometheus)
{
	check_error("", "no expression found in input");
	check_error("sum(x) by", "unexpected end of input");
	check_error("rate(foo)",
		    "expected type range vector in call to function \"rate\", got instant vector");
	check_error("{a=\"\"}", "vector selector must contain at least one non-empty matcher");
	check_error("1 > 2", "comparisons between scalars must use BOOL modifier");
	check_error("foo and 1", "set operator \"and\" not allowed in binary scalar expression");
	check_error("nosuch(x)", "unknown function with name \"nosuch\"");
	check_error("foo{a=\"b\"", "unexpected end of input");
	check_error("foo offset 1m offset 2m", "offset may not be set multiple times");
	check_error("(foo)[5m]", "ranges only allowed for vector selectors");
	check_error("foo + bool bar", "bool modifier can only be used on comparison operators");
	check_error("topk(foo)", "wrong number of arguments for aggregate expression");
	check_error("sum(foo[5m])", "expected type instant vector in aggregation expression");
	check_error("foo{a=~\"(\"}", "(");
	check_error("round()", "expected at least 1 argument(s) in call to \"round\", got 0");
	check_error("foo{__name__=\"bar\"}", "metric name must not be set twice");
	check_error("1 +", "unexpected end of input");
	check_error("foo bar", "unexpected identifier \"bar\"");
	check_error("3x", "bad number or duration syntax");
	check_error("\"unterminated", "unterminated quoted string");
	check_error("sum(x)\n  by", "2:");
	/* Every zero duration, as Prometheus 2.42 answers them (positions included). */
	check_error("rate(up[0s])", "1:9: parse error: duration must be greater than 0");
	check_error("up[1m:0s]", "1:7: parse error: duration must be greater than 0");
	check_error("up[0s:1m]", "1:4: parse error: duration must be greater than 0");
	check_error("up offset 0s", "1:11: parse error: duration must be greater than 0");
}

static void check_exact(const char *q, const char *want)
{
	struct ml_err err;
	struct ml_promql_expr *e = ml_promql_parse(q, strlen(q), &err);
	cr_assert_null(e, "%s should not parse", q);
	cr_expect_str_eq(err.msg, want, "for %s", q);
}

/* Texts and positions exactly as Prometheus 2.42 answered these queries. */
Test(promql_parse, error_texts_are_prometheus_s)
{
	/* Semantic errors at the start of the offending node. */
	check_exact("x[5m] + 1", "1:1: parse error: binary expression must contain only scalar and instant vector types");
	check_exact("x + (a[5m] + 1)", "1:6: parse error: binary expression must contain only scalar and instant vector types");
	check_exact("x + on(a) y[5m]", "1:11: parse error: binary expression must contain only scalar and instant vector types");
	check_exact("1 and 1", "1:1: parse error: set operator \"and\" not allowed in binary scalar expression");
	check_exact("x and ignoring(i) group_left y", "1:1: parse error: no grouping allowed for \"and\" operation");
	check_exact("1 + on(a) x", "1:1: parse error: vector matching only allowed between instant vectors");
	check_exact("x[5m] @ 1 @ 2", "1:1: parse error: @ <timestamp> may not be set multiple times");
	check_exact("x[5m:] offset 1m offset 1m", "1:1: parse error: offset may not be set multiple times");
	check_exact("(x) @ 1", "1:1: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
	check_exact("x + (sum(x) @ 1)", "1:6: parse error: @ modifier must be preceded by an instant vector selector or range vector selector or a subquery");
	check_exact("topk(x)", "1:1: parse error: wrong number of arguments for aggregate expression provided, expected 2, got 1");
	check_exact("x{__name__=\"y\"}", "1:1: parse error: metric name must not be set twice: \"x\" or \"y\"");
	check_exact("-\"a\"", "1:1: parse error: unary expression only allowed on expressions of type scalar or instant vector, got \"string\"");
	check_exact("\"a\"[5m:]", "1:1: parse error: subquery is only allowed on instant vector, got string instead");
	/* The lexer's errors. */
	check_exact("sum(", "1:5: parse error: unclosed left parenthesis");
	check_exact("1 + )", "1:6: parse error: unexpected right parenthesis ')'");
	check_exact("x[5m", "1:5: parse error: unclosed left bracket");
	check_exact("x ]", "1:3: parse error: unexpected right bracket ']'");
	check_exact("x{a=\"b\",", "1:9: parse error: unexpected end of input inside braces");
	check_exact("x{{", "1:3: parse error: unexpected left brace '{'");
	check_exact("x}", "1:2: parse error: unexpected character: '}'");
	check_exact("x{1a=\"b\"}", "1:3: parse error: unexpected character inside braces: '1'");
	check_exact("x{a!b}", "1:4: parse error: unexpected character after '!' inside braces: 'b'");
	check_exact("x =~ y", "1:3: parse error: unexpected character after '=': '~'");
	check_exact("x[5m:5m:]", "1:8: parse error: unexpected colon ':'");
	check_exact("x[5m:1m x]", "1:9: parse error: unexpected colon 'x'");
	check_exact("x[-1m]", "1:3: parse error: missing unit character in duration");
	check_exact("x[1y1y]", "1:3: parse error: bad duration syntax: \"1y1\"");
	check_exact("x{a=\"\\q\"}", "1:5: parse error: unknown escape sequence U+0071 'q'");
	/* Items as Prometheus prints them. */
	check_exact("1 +* 2", "1:4: parse error: unexpected <op:*>");
	check_exact("atan2(x, 5)", "1:1: parse error: unexpected <op:atan2>");
	check_exact("sum without(a) by(b) (x)", "1:16: parse error: unexpected <by> in aggregation");
	check_exact("sum by(a, \"x\") (x)", "1:11: parse error: unexpected string \"\\\"x\\\"\" in grouping opts, expected label");
	check_exact("1 123456789012", "1:3: parse error: unexpected number \"1234567890\"...");
	check_exact("x offset", "1:9: parse error: unexpected end of input in offset, expected duration");
	check_exact("x @ foo", "1:5: parse error: unexpected identifier \"foo\" in @, expected timestamp");
	check_exact("x @ 1e400", "1:5: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": value out of range");
	check_exact("1e", "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e\": invalid syntax");
	/* Regex errors: Go's text alone. */
	check_exact("x{a=~\"(\"}", "1:3: parse error: error parsing regexp: missing closing ): `^(?:()$`");
	check_exact("x{a=~\"a)|(b\"}", "1:3: parse error: error parsing regexp: unexpected ): `a)|(b`");
}
