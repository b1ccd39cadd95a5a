/*
 * test_fmtfloat.c - shortest round-trip digits (collector/core/fmtfloat.c)
 * against a search over every precision, and the printed forms against what
 * Go's strconv prints.
 */
#include <criterion/criterion.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/fmtfloat.h"

/* The reference: the first precision whose correctly rounded digits read back. */
static void search(double v, char *digits, int *exp)
{
	char e[48];
	for (int prec = 0; prec <= 16; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec, v);
		if (strtod(e, NULL) == v)
			break;
	}
	size_t nd = 0;
	const char *p = e + (e[0] == '-');
	for (; *p != 'e'; p++)
		if (*p != '.')
			digits[nd++] = *p;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	*exp = atoi(p + 1);
}

static void check(double v)
{
	char want[32], got[ML_FLOAT_DIGITS];
	int we, ge, neg;
	search(v, want, &we);
	size_t n = ml_float_digits(v, got, &ge, &neg);
	cr_assert_str_eq(got, want, "%.17g: digits", v);
	cr_assert_eq(n, strlen(want), "%.17g: count", v);
	cr_assert_eq(ge, we, "%.17g: exponent %d, want %d", v, ge, we);
	cr_assert_eq(neg, signbit(v) != 0, "%.17g: sign", v);
}

Test(fmtfloat, digits_equal_the_full_search)
{
	static const double fixed[] = {1,      0.1,    0.3,   1.0 / 3,     2.0 / 3,      1e21,
	                               1e22,   1e-6,   1e-7,  123456789.0, 8.536666666666667,
	                               5e-324, 1e-310, DBL_MIN, DBL_MAX,   -0.0,         -2.5,
	                               9007199254740993.0, 0.1 + 0.2, 1e15 + 0.3, 100};
	for (size_t i = 0; i < sizeof(fixed) / sizeof(*fixed); i++)
		if (fixed[i] != 0)
			check(fixed[i]);
	/* Random bit patterns (all exponents) and random rates (short decimals / ratios). */
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		double v;
		memcpy(&v, &x, sizeof(v));
		if (isfinite(v) && v != 0)
			check(v);
		check((double)(x % 100000) / (double)(1 + (x >> 40) % 977));
		check((double)(x % 1000000) / 1000.0 + 1);
	}
}

static void put(double v, int emin, int emax, const char *want)
{
	struct ml_buf b = ML_BUF_INIT;
	ml_float_put(&b, v, emin, emax);
	cr_assert_eq(b.len, strlen(want), "%.17g: got %.*s, want %s", v, (int)b.len, b.data, want);
	cr_assert(memcmp(b.data, want, b.len) == 0, "%.17g: got %.*s, want %s", v, (int)b.len,
	          b.data, want);
	ml_buf_free(&b);
}

Test(fmtfloat, printed_as_go_prints)
{
	/* strconv.FormatFloat(v, 'g', -1, 64) */
	put(1e6, -4, 6, "1e+06");
	put(123456, -4, 6, "123456");
	put(1234567, -4, 6, "1.234567e+06");
	put(1.5e-5, -4, 6, "1.5e-05");
	put(0.0001, -4, 6, "0.0001");
	put(-0.0, -4, 6, "-0");
	put(1e100, -4, 6, "1e+100");
	/* strconv.FormatFloat(v, 'f', -1, 64) */
	put(1e21, ML_FLOAT_PLAIN, "1000000000000000000000");
	put(1.5e25, ML_FLOAT_PLAIN, "15000000000000000000000000");
	put(0.000123, ML_FLOAT_PLAIN, "0.000123");
	put(8.536666666666667, ML_FLOAT_PLAIN, "8.536666666666667");
	put(-2.5, ML_FLOAT_PLAIN, "-2.5");
	/* C's %g with the fewest digits */
	put(100, -4, 0, "1e+02");
	put(1234567, -4, 0, "1234567");
	put(0.1, -4, 0, "0.1");
}
