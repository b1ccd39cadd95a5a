/*
 * prom_json.c - Prometheus HTTP API number formats; see prom_json.h.
 *
 * Sample values follow marshalPointJSON in Prometheus 2.42's
 * web/api/v1/api.go: strconv.AppendFloat(v, 'f', -1, 64), or 'e' when
 * |v| < 1e-6 or |v| >= 1e21 (and v != 0), as jsoniter does for floats.
 *
 * These run once per point of every answer (a dashboard's range query writes
 * hundreds of thousands), so integers, the usual counter and bucket values,
 * skip the float formatting, and the shortest round-trip digits take at most
 * three snprintf/strtod rounds instead of up to seventeen.
 */
#include "exporters/prom_json.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends the decimal digits of u. */
static void put_u64(struct ml_buf *b, uint64_t u)
{
	char tmp[24];
	size_t i = sizeof(tmp);
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	ml_buf_append(b, tmp + i, sizeof(tmp) - i);
}

void ml_prom_json_float_text(struct ml_buf *b, double v)
{
	/*
	 * Integers below 1e15 print exactly as their digits (FormatFloat 'f'
	 * gives no fraction and never an exponent under 1e21); -0 keeps its sign.
	 */
	if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v && !(v == 0 && signbit(v))) {
		int64_t i = (int64_t)v;
		if (i < 0) {
			ml_buf_putc(b, '-');
			put_u64(b, (uint64_t)0 - (uint64_t)i);
		} else {
			put_u64(b, (uint64_t)i);
		}
		return;
	}
	if (isnan(v)) {
		ml_buf_puts(b, "NaN");
		return;
	}
	if (isinf(v)) {
		ml_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/*
	 * Shortest digits that read back as v, in %e form: "d.ddde+XX". Every
	 * decimal of at most 15 significant digits survives a round trip through
	 * a double (DBL_DIG), and v lies within half an ulp of its shortest
	 * representation, which is less than half a unit of the 15th digit: so
	 * when one of at most 15 digits exists, v rounded to 15 digits is it,
	 * padded with zeros (stripped below). Else 16 digits if they read back
	 * (correctly rounded, hence the closest, as Go picks), else 17.
	 * Subnormals have fewer bits than that argument needs: full search.
	 */
	char e[40];
	for (int prec = fabs(v) < DBL_MIN ? 0 : 14; prec <= 16; prec++) {
		snprintf(e, sizeof(e), "%.*e", prec, v);
		if (strtod(e, NULL) == v)
			break;
	}
	char digits[24];
	size_t nd = 0;
	const char *p = e;
	if (*p == '-') {
		ml_buf_putc(b, '-');
		p++;
	}
	for (; *p && *p != 'e'; p++)
		if (*p >= '0' && *p <= '9' && nd < sizeof(digits))
			digits[nd++] = *p;
	int exp = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	double a = fabs(v);
	if (a != 0 && (a < 1e-6 || a >= 1e21)) {
		/* Go's 'e' form: "d.ddde+XX", at least two exponent digits. */
		ml_buf_putc(b, digits[0]);
		if (nd > 1) {
			ml_buf_putc(b, '.');
			ml_buf_append(b, digits + 1, nd - 1);
		}
		ml_buf_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return;
	}
	if (exp >= 0) {
		/* Integer part: the first exp+1 digits, padded with zeros. */
		for (int i = 0; i <= exp; i++)
			ml_buf_putc(b, (size_t)i < nd ? digits[i] : '0');
		if ((size_t)exp + 1 < nd) {
			ml_buf_putc(b, '.');
			ml_buf_append(b, digits + exp + 1, nd - (size_t)exp - 1);
		}
	} else {
		ml_buf_puts(b, "0.");
		for (int i = 0; i < -exp - 1; i++)
			ml_buf_putc(b, '0');
		ml_buf_append(b, digits, nd);
	}
}

void ml_prom_json_value(struct ml_buf *b, double v)
{
	ml_buf_putc(b, '"');
	ml_prom_json_float_text(b, v);
	ml_buf_putc(b, '"');
}

void ml_prom_json_time(struct ml_buf *b, int64_t t_ms)
{
	uint64_t u = t_ms < 0 ? (uint64_t)0 - (uint64_t)t_ms : (uint64_t)t_ms;
	if (t_ms < 0)
		ml_buf_putc(b, '-');
	put_u64(b, u / 1000);
	unsigned ms = (unsigned)(u % 1000);
	if (ms != 0) {
		char frac[4] = {'.', (char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
				(char)('0' + ms % 10)};
		ml_buf_append(b, frac, sizeof(frac));
	}
}
