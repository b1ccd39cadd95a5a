/*
 * test_prom_text.c - the text exposition 0.0.4 / OpenMetrics parser:
 * samples, labels, escapes, timestamps, metadata, the OpenMetrics rules
 * (# EOF, _created, exemplars), extra labels, and every error message.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/otel_prom_names.h"
#include "ingest/prom_text.h"

static struct ml_arena *arena;
static struct ml_sample_batch batch;
static struct ml_err err;

static void setup(void)
{
	arena = ml_arena_create(0);
	ml_sample_batch_init(&batch, arena);
	memset(&err, 0, sizeof(err));
}
static void teardown(void) { ml_arena_destroy(arena); }

TestSuite(prom_text, .init = setup, .fini = teardown);

static int parse_opts(const char *text, bool om, const struct ml_label *extra, uint32_t n_extra)
{
	struct ml_prom_text_opts o = {om, 1000, extra, n_extra};
	return ml_prom_text_parse((const uint8_t *)text, strlen(text), &o, &batch, &err);
}
static int parse(const char *text) { return parse_opts(text, false, NULL, 0); }
static int parse_om(const char *text) { return parse_opts(text, true, NULL, 0); }

/* Value of label name in series i, or NULL (as a static copy). */
static const char *label(size_t i, const char *name)
{
	static char buf[256];
	const struct ml_series_samples *s = &batch.series[i];
	for (uint32_t k = 0; k < s->n_labels; k++) {
		if (ml_str_eq_cstr(s->labels[k].name, name)) {
			snprintf(buf, sizeof(buf), "%.*s", (int)s->labels[k].value.n, s->labels[k].value.p);
			return buf;
		}
	}
	return NULL;
}

static void expect_error(const char *text, bool om, const char *msg)
{
	int rc = parse_opts(text, om, NULL, 0);
	cr_assert_eq(rc, ML_EINVAL, "rc %d for %s", rc, text);
	cr_assert_str_eq(err.msg, msg);
}

Test(prom_text, simple_samples_and_default_time)
{
	cr_assert_eq(parse("up 1\nhttp_requests_total{method=\"get\",code=\"200\"} 1027 1395066363000\n"), 0);
	cr_assert_eq(batch.n, 2);
	cr_assert_str_eq(label(0, "__name__"), "up");
	cr_assert_eq(batch.series[0].n_labels, 1);
	cr_assert_eq(batch.series[0].samples[0].t_ms, 1000);
	cr_assert_eq(batch.series[0].samples[0].v, 1.0);
	cr_assert_str_eq(label(1, "__name__"), "http_requests_total");
	cr_assert_str_eq(label(1, "method"), "get");
	cr_assert_str_eq(label(1, "code"), "200");
	cr_assert_eq(batch.series[1].samples[0].t_ms, 1395066363000LL);
	cr_assert_eq(batch.series[1].samples[0].v, 1027.0);
}

Test(prom_text, special_values)
{
	cr_assert_eq(parse("a +Inf\nb -Inf\nc NaN\nd -1.5e-3\ne 0x10\nf Inf\n"), 0);
	cr_assert_eq(batch.n, 6);
	cr_assert(isinf(batch.series[0].samples[0].v) && batch.series[0].samples[0].v > 0);
	cr_assert(isinf(batch.series[1].samples[0].v) && batch.series[1].samples[0].v < 0);
	cr_assert(isnan(batch.series[2].samples[0].v));
	cr_assert_float_eq(batch.series[3].samples[0].v, -0.0015, 1e-12);
	cr_assert_eq(batch.series[4].samples[0].v, 16.0);
	cr_assert(isinf(batch.series[5].samples[0].v));
}

Test(prom_text, escapes_in_label_values_and_help)
{
	cr_assert_eq(parse("# HELP m A \\\\ backslash\\nand \\\" quote\n"
			   "m{path=\"C:\\\\dir\",msg=\"say \\\"hi\\\"\\nbye\",odd=\"a\\tb\"} 1\n"),
		     0);
	cr_assert_str_eq(label(0, "path"), "C:\\dir");
	cr_assert_str_eq(label(0, "msg"), "say \"hi\"\nbye");
	cr_assert_str_eq(label(0, "odd"), "a\\tb"); /* unknown escapes are kept, as Prometheus */
	cr_assert_eq(batch.n_meta, 1);
	/* 0.0.4 HELP knows only \\ and \n. */
	cr_assert_eq(batch.meta[0].help.n, strlen("A \\ backslash\nand \\\" quote"));
	cr_assert_eq(memcmp(batch.meta[0].help.p, "A \\ backslash\nand \\\" quote", batch.meta[0].help.n), 0);
}

Test(prom_text, comments_blank_lines_whitespace_trailing_comma)
{
	cr_assert_eq(parse("# just a comment\n\n   \n\tm{ a = \"1\" , b=\"2\", } \t 3 \t 42\r\nn{} 4\n"), 0);
	cr_assert_eq(batch.n, 2);
	cr_assert_str_eq(label(0, "a"), "1");
	cr_assert_str_eq(label(0, "b"), "2");
	cr_assert_eq(batch.series[0].samples[0].v, 3.0);
	cr_assert_eq(batch.series[0].samples[0].t_ms, 42);
	cr_assert_eq(batch.series[1].n_labels, 1);
}

Test(prom_text, empty_label_value_is_dropped)
{
	cr_assert_eq(parse("m{a=\"\",b=\"x\"} 1\n"), 0);
	cr_assert_null(label(0, "a"));
	cr_assert_str_eq(label(0, "b"), "x");
}

Test(prom_text, no_trailing_newline)
{
	cr_assert_eq(parse("m 5"), 0);
	cr_assert_eq(batch.n, 1);
	cr_assert_eq(batch.series[0].samples[0].v, 5.0);
}

Test(prom_text, metadata_help_type_merge)
{
	cr_assert_eq(parse("# HELP rpc_duration_seconds RPC latency.\n"
			   "# TYPE rpc_duration_seconds summary\n"
			   "rpc_duration_seconds{quantile=\"0.5\"} 0.01\n"
			   "# TYPE x gauge\n# TYPE y untyped\n"),
		     0);
	cr_assert_eq(batch.n_meta, 3);
	cr_assert(ml_str_eq_cstr(batch.meta[0].family, "rpc_duration_seconds"));
	cr_assert(ml_str_eq_cstr(batch.meta[0].help, "RPC latency."));
	cr_assert_eq(batch.meta[0].type, ML_METRIC_SUMMARY);
	cr_assert_eq(batch.meta[1].type, ML_METRIC_GAUGE);
	cr_assert_eq(batch.meta[2].type, ML_METRIC_UNKNOWN);
}

Test(prom_text, openmetrics_counter_created_unit_exemplar_eof)
{
	cr_assert_eq(parse_om("# TYPE foo counter\n"
			      "# UNIT foo seconds\n"
			      "# HELP foo A \\\"quoted\\\" help.\n"
			      "foo_total{a=\"b\"} 17.0 1520879607.789 # {trace_id=\"abc\"} 1.0 1520879607.7\n"
			      "foo_created{a=\"b\"} 1520430000.123\n"
			      "# TYPE g gauge\n"
			      "g_created 5\n"
			      "# EOF\n"),
		     0);
	cr_assert_eq(batch.n, 2); /* foo_created skipped; g_created is an ordinary gauge sample */
	cr_assert_str_eq(label(0, "__name__"), "foo_total");
	cr_assert_eq(batch.series[0].samples[0].t_ms, 1520879607789LL);
	cr_assert_eq(batch.series[0].samples[0].v, 17.0);
	cr_assert_str_eq(label(1, "__name__"), "g_created");
	cr_assert_eq(batch.series[1].samples[0].t_ms, 1000); /* default */
	cr_assert_eq(batch.meta[0].type, ML_METRIC_COUNTER);
	cr_assert(ml_str_eq_cstr(batch.meta[0].unit, "seconds"));
	cr_assert(ml_str_eq_cstr(batch.meta[0].help, "A \"quoted\" help."));
}

Test(prom_text, openmetrics_types)
{
	cr_assert_eq(parse_om("# TYPE a info\na_info{v=\"1\"} 1\n# TYPE b stateset\n# TYPE c gaugehistogram\n"
			      "# TYPE d unknown\n# EOF"),
		     0);
	cr_assert_eq(batch.meta[0].type, ML_METRIC_INFO);
	cr_assert_eq(batch.meta[1].type, ML_METRIC_STATESET);
	cr_assert_eq(batch.meta[2].type, ML_METRIC_GAUGEHISTOGRAM);
	cr_assert_eq(batch.meta[3].type, ML_METRIC_UNKNOWN);
}

Test(prom_text, extra_labels_replace_body_labels)
{
	struct ml_label extra[2];
	cr_assert_eq(ml_prom_text_extra_label(arena, "job=import", 10, &extra[0], &err), 0);
	cr_assert_eq(ml_prom_text_extra_label(arena, "env=a=b", 7, &extra[1], &err), 0);
	cr_assert(ml_str_eq_cstr(extra[1].value, "a=b"));
	cr_assert_eq(parse_opts("m{job=\"body\",x=\"1\"} 1\n", false, extra, 2), 0);
	cr_assert_eq(batch.series[0].n_labels, 4);
	cr_assert_str_eq(label(0, "job"), "import");
	cr_assert_str_eq(label(0, "env"), "a=b");
	cr_assert_str_eq(label(0, "x"), "1");
}

Test(prom_text, extra_label_errors)
{
	struct ml_label l;
	cr_assert_eq(ml_prom_text_extra_label(arena, "novalue", 7, &l, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "extra_label \"novalue\": expected name=value");
	cr_assert_eq(ml_prom_text_extra_label(arena, "0a=b", 4, &l, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "extra_label \"0a=b\": label name \"0a\" is invalid");
	cr_assert_eq(ml_prom_text_extra_label(arena, "__name__=x", 10, &l, &err), ML_EINVAL);
}

Test(prom_text, content_type)
{
	const char *om = "application/openmetrics-text; version=1.0.0; charset=utf-8";
	cr_assert(ml_prom_text_is_openmetrics(om, strlen(om)));
	cr_assert(ml_prom_text_is_openmetrics("Application/OpenMetrics-Text", 28));
	cr_assert_not(ml_prom_text_is_openmetrics("text/plain; version=0.0.4", 25));
	cr_assert_not(ml_prom_text_is_openmetrics("application/openmetrics-textx", 29));
}

Test(prom_text, errors_name_the_line)
{
	expect_error("ok 1\nm{a 1}\n", false, "line 2: expected '=' after label name");
	expect_error("m{a=1}\n", false, "line 1: expected '\"' to start the value of label \"a\"");
	expect_error("m{a=\"1\n", false, "line 1: unterminated value of label \"a\"");
	expect_error("m{a=\"1\" b=\"2\"} 1\n", false, "line 1: expected ',' or '}' after label value");
	expect_error("m{a=\"1\",a=\"2\"} 1\n", false, "line 1: duplicate label name \"a\"");
	expect_error("m{__name__=\"x\"} 1\n", false, "line 1: duplicate label name \"__name__\"");
	expect_error("m{,} 1\n", false, "line 1: expected label name, got ','");
	expect_error("m{a=\"1\"\n", false, "line 1: expected ',' or '}' after label value");
	expect_error("m{a=\"1\",\n", false, "line 1: expected label name or '}'");
	expect_error("m {a=\"1\"} 1\n", false, "line 1: invalid value \"{a=\"1\"}\"");
	expect_error("m\n", false, "line 1: expected a value after the metric name");
	expect_error("m abc\n", false, "line 1: invalid value \"abc\"");
	expect_error("m nan(1)\n", false, "line 1: invalid value \"nan(1)\"");
	expect_error("m 1 12.5\n", false, "line 1: invalid timestamp \"12.5\"");
	expect_error("m 1 2 3\n", false, "line 1: unexpected text \"3\" after the sample");
	expect_error("m-x 1\n", false, "line 1: invalid character '-' in metric name");
	expect_error("0m 1\n", false, "line 1: expected a metric name, got '0'");
	expect_error("# TYPE m countr\n", false, "line 1: unknown metric type \"countr\"");
	expect_error("# TYPE m info\n", false, "line 1: unknown metric type \"info\"");
	expect_error("# HELP\n", false, "line 1: # HELP needs a metric name");
	expect_error("m{a=\"\xff\"} 1\n", false, "line 1: value of label \"a\" is not valid UTF-8");
}

Test(prom_text, openmetrics_errors)
{
	expect_error("m 1\n", true, "line 1: missing \"# EOF\" at the end of the body");
	expect_error("# EOF\nm 1\n", true, "line 2: content after # EOF");
	expect_error("m 1 abc\n# EOF\n", true, "line 1: invalid timestamp \"abc\"");
	expect_error("m 1 Inf\n# EOF\n", true, "line 1: invalid timestamp \"Inf\"");
	/* A 0.0.4 body does not allow an exemplar. */
	expect_error("m 1 # {a=\"b\"} 1\n", false, "line 1: unexpected text \"# {a=\"b\"} 1\" after the sample");
}

Test(prom_text, too_many_labels_and_long_line)
{
	char *text = malloc(ML_PROM_TEXT_MAX_LINE + 100);
	cr_assert_not_null(text);
	size_t o = 0;
	o += (size_t)sprintf(text + o, "m{");
	for (int i = 0; i < (int)ML_MAX_LABELS_PER_SERIES; i++)
		o += (size_t)sprintf(text + o, "l%d=\"v\",", i);
	sprintf(text + o, "} 1\n");
	char msg[64];
	snprintf(msg, sizeof(msg), "line 1: more than %u labels", ML_MAX_LABELS_PER_SERIES - 1);
	expect_error(text, false, msg);

	memset(text, 'a', ML_PROM_TEXT_MAX_LINE + 1);
	strcpy(text + ML_PROM_TEXT_MAX_LINE + 1, " 1\n");
	snprintf(msg, sizeof(msg), "line 1: longer than %u bytes", ML_PROM_TEXT_MAX_LINE);
	expect_error(text, false, msg);
	free(text);
}

Test(prom_text, body_is_not_read_past_its_length)
{
	/* "m 12" with length 3 is "m 1": the parser must stop at the length. */
	struct ml_prom_text_opts o = {false, 0, NULL, 0};
	cr_assert_eq(ml_prom_text_parse((const uint8_t *)"m 12", 3, &o, &batch, &err), 0);
	cr_assert_eq(batch.series[0].samples[0].v, 1.0);
}
