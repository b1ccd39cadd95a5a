/*
 * test_prom_json.c - sample values as Prometheus's marshalPointJSON (Go's
 * FormatFloat 'f' -1, 'e' -1 below 1e-6 and from 1e21) and timestamps as
 * Prometheus's MarshalTimestamp print them.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <string.h>

#include "exporters/prom_json.h"

static void check_float(double v, const char *want)
{
	struct ml_buf b = {0};
	ml_prom_json_float_text(&b, v);
	ml_buf_putc(&b, '\0');
	cr_assert_str_eq((const char *)b.data, want, "%.17g", v);
	ml_buf_free(&b);
}

static void check_time(int64_t t, const char *want)
{
	struct ml_buf b = {0};
	ml_prom_json_time(&b, t);
	ml_buf_putc(&b, '\0');
	cr_assert_str_eq((const char *)b.data, want);
	ml_buf_free(&b);
}

Test(prom_json, floats_as_prometheus_marshals_them)
{
	check_float(0, "0");
	check_float(-0.0, "-0");
	check_float(1, "1");
	check_float(-2.5, "-2.5");
	check_float(0.1, "0.1");
	check_float(1.0 / 3, "0.3333333333333333");
	check_float(1e6, "1000000");
	check_float(0.000001, "0.000001");
	check_float(1.5e-7, "1.5e-07");
	check_float(-1e-9, "-1e-09");
	check_float(123456789.125, "123456789.125");
	check_float(999999999999999900000.0, "999999999999999900000");
	check_float(1e21, "1e+21");
	check_float(8.751606726979459e+244, "8.751606726979459e+244");
	check_float(1.7976931348623157e308, "1.7976931348623157e+308");
	check_float(5e-324, "5e-324");
	check_float(NAN, "NaN");
	check_float(INFINITY, "+Inf");
	check_float(-INFINITY, "-Inf");
}

Test(prom_json, value_is_quoted)
{
	struct ml_buf b = {0};
	ml_prom_json_value(&b, 42.25);
	cr_assert_eq(b.len, 7);
	cr_assert(memcmp(b.data, "\"42.25\"", 7) == 0);
	ml_buf_free(&b);
}

Test(prom_json, timestamps_in_seconds)
{
	check_time(1700000000000LL, "1700000000");
	check_time(1700000000500LL, "1700000000.500");
	check_time(1700000000007LL, "1700000000.007");
	check_time(0, "0");
	check_time(-1500, "-1.500");
	check_time(-5, "-0.005");
}
