/*
 * test_prom_json.c - sample values as Go's FormatFloat(v, 'f', -1, 64) and
 * timestamps as Prometheus's MarshalTimestamp print them.
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

Test(prom_json, floats_as_go_f_minus_one)
{
	check_float(0, "0");
	check_float(-0.0, "-0");
	check_float(1, "1");
	check_float(-2.5, "-2.5");
	check_float(0.1, "0.1");
	check_float(1.0 / 3, "0.3333333333333333");
	check_float(1e6, "1000000");
	check_float(1.5e-7, "0.00000015");
	check_float(123456789.125, "123456789.125");
	check_float(1e21, "1000000000000000000000");
	/* The smallest denormal: "0." then 323 zeros then 5. */
	char tiny[330] = "0.";
	memset(tiny + 2, '0', 323);
	tiny[325] = '5';
	tiny[326] = '\0';
	check_float(5e-324, tiny);
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
