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

#include "core/fmtfloat.h"

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
	/* encoding/json's choice: the exponent form below 1e-6 and from 1e21. */
	ml_float_put(b, v, -6, 21);
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
