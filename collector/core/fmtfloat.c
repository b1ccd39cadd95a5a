/*
 * fmtfloat.c - shortest round-trip digits of a double.
 *
 * One printf at 17 significant digits, which always reads back. Every
 * decimal of at most 15 significant digits survives a round trip through a
 * double (DBL_DIG), and v lies within half an ulp of its shortest decimal,
 * which is less than half a unit of the 15th digit: so when a decimal of at
 * most 15 digits reads back as v, v rounded to 15 digits is it (padded with
 * zeros). Else 16 digits if v rounded to 16 reads back (the closest, as Go
 * picks), else the 17. The rounding to 15 and 16 digits is done on the 17
 * printed digits; that is v's correct rounding except when the dropped
 * digits are exactly "5", "50": then printf rounds v itself. Subnormals have
 * fewer bits than this argument needs: they search every precision.
 */
#include "core/fmtfloat.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits printf's "%.*e" text (d.ddde±XX, maybe signed) into digits and exponent. */
static size_t split_e(const char *e, char *digits, int *exp)
{
	size_t nd = 0;
	const char *p = e;
	if (*p == '-')
		p++;
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && nd < ML_FLOAT_DIGITS - 1)
			digits[nd++] = *p;
	digits[nd] = '\0';
	*exp = *p == 'e' ? atoi(p + 1) : 0;
	return nd;
}

/* Whether the digits with exponent exp (and sign) read back as v. */
static int reads_back(const char *digits, size_t nd, int exp, int neg, double v)
{
	char t[40];
	size_t k = 0;
	if (neg)
		t[k++] = '-';
	t[k++] = digits[0];
	t[k++] = '.';
	memcpy(t + k, digits + 1, nd - 1);
	k += nd - 1;
	snprintf(t + k, sizeof(t) - k, "e%d", exp);
	return strtod(t, NULL) == v;
}

/* The 17 digits d17 (exponent exp17) rounded to p digits into out; 0 when it is a tie. */
static int round_digits(const char *d17, int exp17, size_t p, char *out, int *exp)
{
	if (d17[p] == '5') {
		size_t i = p + 1;
		while (d17[i] == '0')
			i++;
		if (d17[i] == '\0')
			return 0;
	}
	memcpy(out, d17, p);
	out[p] = '\0';
	*exp = exp17;
	if (d17[p] >= '5') {
		size_t i = p;
		while (i > 0 && out[i - 1] == '9')
			out[--i] = '0';
		if (i == 0) { /* 999... -> 1000... */
			out[0] = '1';
			(*exp)++;
		} else {
			out[i - 1]++;
		}
	}
	return 1;
}

static size_t strip_zeros(char *digits, size_t nd)
{
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	return nd;
}

size_t ml_float_digits(double v, char digits[ML_FLOAT_DIGITS], int *exp, int *neg)
{
	char e[48];
	*neg = signbit(v) != 0;
	if (v == 0) {
		digits[0] = '0';
		digits[1] = '\0';
		*exp = 0;
		return 1;
	}
	if (fabs(v) < DBL_MIN) {
		for (int prec = 0; prec <= 16; prec++) {
			snprintf(e, sizeof(e), "%.*e", prec, v);
			if (strtod(e, NULL) == v)
				break;
		}
		return strip_zeros(digits, split_e(e, digits, exp));
	}
	char d17[ML_FLOAT_DIGITS];
	int exp17;
	snprintf(e, sizeof(e), "%.16e", v);
	split_e(e, d17, &exp17);
	for (size_t p = 15; p <= 16; p++) {
		size_t nd = p;
		if (!round_digits(d17, exp17, p, digits, exp)) {
			snprintf(e, sizeof(e), "%.*e", (int)p - 1, v);
			nd = split_e(e, digits, exp);
		}
		if (reads_back(digits, nd, *exp, *neg, v))
			return strip_zeros(digits, nd);
	}
	memcpy(digits, d17, sizeof(d17));
	*exp = exp17;
	return strip_zeros(digits, strlen(digits));
}

void ml_float_put(struct ml_buf *b, double v, int emin, int emax)
{
	char d[ML_FLOAT_DIGITS];
	int exp, neg;
	size_t nd = ml_float_digits(v, d, &exp, &neg);
	if (emax == 0)
		emax = (int)nd;
	if (neg)
		ml_buf_putc(b, '-');
	if (exp < emin || exp >= emax) {
		ml_buf_putc(b, d[0]);
		if (nd > 1) {
			ml_buf_putc(b, '.');
			ml_buf_append(b, d + 1, nd - 1);
		}
		ml_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
	} else if (exp >= 0) {
		/* The first exp+1 digits, padded with zeros, then the rest after a point. */
		for (int i = 0; i <= exp; i++)
			ml_buf_putc(b, (size_t)i < nd ? d[i] : '0');
		if ((size_t)exp + 1 < nd) {
			ml_buf_putc(b, '.');
			ml_buf_append(b, d + exp + 1, nd - (size_t)exp - 1);
		}
	} else {
		ml_buf_puts(b, "0.");
		for (int i = 0; i < -exp - 1; i++)
			ml_buf_putc(b, '0');
		ml_buf_append(b, d, nd);
	}
}

void ml_float_format(double v, int emin, int emax, char *out, size_t n)
{
	struct ml_buf b = ML_BUF_INIT;
	ml_float_put(&b, v, emin, emax);
	snprintf(out, n, "%.*s", ml_buf_ok(&b) ? (int)b.len : 0, b.data ? (const char *)b.data : "");
	ml_buf_free(&b);
}
