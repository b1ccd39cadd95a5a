/*
 * test_prom_json.c - sample values as Prometheus's marshalPointJSON (Go's
 * FormatFloat 'f' -1, 'e' -1 below 1e-6 and from 1e21) and timestamps as
 * Prometheus's MarshalTimestamp print them.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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

/*
 * The shortest digits, found the slow way: the first precision of %e that
 * reads back as v (what ml_prom_json_float_text did before its fast paths).
 */
static void shortest_slow(double v, char *out, size_t n)
{
	for (int prec = 0; prec <= 16; prec++) {
		snprintf(out, n, "%.*e", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/* The digits and exponent of ml_prom_json_float_text's answer, as %e would give them. */
static void shortest_fast(double v, char *out, size_t n)
{
	struct ml_buf b = {0};
	ml_prom_json_float_text(&b, v);
	ml_buf_putc(&b, '\0');
	double back = strtod((const char *)b.data, NULL);
	cr_assert(back == v || (v == 0 && back == 0), "%s does not read back as %.17g",
		  (const char *)b.data, v);
	/* Count significant digits of the answer and print v with as many. */
	int sig = 0;
	bool lead = true;
	int trailing_zeros = 0;
	for (const char *p = (const char *)b.data; *p && *p != 'e'; p++) {
		if (*p < '0' || *p > '9')
			continue;
		if (lead && *p == '0')
			continue;
		lead = false;
		sig++;
		trailing_zeros = *p == '0' ? trailing_zeros + 1 : 0;
	}
	/* Integer answers print trailing zeros of the integer part: not significant. */
	sig -= trailing_zeros;
	if (sig < 1)
		sig = 1;
	snprintf(out, n, "%.*e", sig - 1, v);
	ml_buf_free(&b);
}

/* Fixed-seed doubles of every magnitude and a few digit counts: same digits as the slow search. */
Test(prom_json, shortest_digits_match_the_exhaustive_search)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char slow[64], fast[64];
	for (int i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v;
		switch (i % 4) {
		case 0: { /* any finite bit pattern */
			uint64_t bits = x & ~(0x7ffULL << 52);
			bits |= (uint64_t)((x >> 20) % 2046 + 1) << 52;
			memcpy(&v, &bits, sizeof(v));
			break;
		}
		case 1: /* rates: small ratios */
			v = (double)(x % 100000) / (double)(x % 997 + 1);
			break;
		case 2: /* few digits, any scale */
			v = (double)(x % 1000) * pow(10, (double)((int)(x >> 32) % 40 - 20));
			break;
		case 3:
			if (i % 8 == 3) { /* subnormals */
				uint64_t bits = x & ((1ULL << 52) - 1);
				memcpy(&v, &bits, sizeof(v));
				break;
			}
			/* fall through */
		default: /* integers, negative too */
			v = (double)(int64_t)(x % 2000000000000000ULL) - 1e15;
			break;
		}
		shortest_slow(v, slow, sizeof(slow));
		shortest_fast(v, fast, sizeof(fast));
		cr_assert_str_eq(fast, slow, "v = %.17g", v);
	}
}

Test(prom_json, integers_take_the_fast_path_exactly)
{
	check_float(2400, "2400");
	check_float(-17, "-17");
	check_float(999999999999999, "999999999999999");
	check_float(1e15, "1000000000000000");
	check_float(9007199254740993.0, "9007199254740992");
	check_float(1e20, "100000000000000000000");
	check_time(1700000000010LL, "1700000000.010");
	check_time(1700000000100LL, "1700000000.100");
	check_time(999, "0.999");
}
