/*
 * json_writer.c - JSON escaping and number formatting; see json_writer.h.
 */
#include "exporters/json_writer.h"
#include "core/fmtfloat.h"
#include "model/labels.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ml_json_str(struct ml_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	ml_buf_putc(b, '"');
	size_t run = 0; /* start of the pending run of bytes copied verbatim */
	size_t i = 0;
	while (i < n) {
		unsigned char c = p[i];
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		size_t l = c >= 0x80 ? ml_utf8_seq_len((const char *)p + i, n - i) : 0;
		if (l > 0) {
			i += l;
			continue;
		}
		ml_buf_append(b, p + run, i - run);
		switch (c) {
		case '"': ml_buf_puts(b, "\\\""); break;
		case '\\': ml_buf_puts(b, "\\\\"); break;
		case '\n': ml_buf_puts(b, "\\n"); break;
		case '\r': ml_buf_puts(b, "\\r"); break;
		case '\t': ml_buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20)
				ml_buf_printf(b, "\\u%04x", c);
			else
				ml_buf_puts(b, "\xef\xbf\xbd"); /* invalid UTF-8 byte */
		}
		i++;
		run = i;
	}
	ml_buf_append(b, p + run, n - run);
	ml_buf_putc(b, '"');
}

void ml_json_cstr(struct ml_buf *b, const char *s)
{
	ml_json_str(b, s, strlen(s));
}

void ml_json_key(struct ml_buf *b, const char *key)
{
	ml_json_cstr(b, key);
	ml_buf_putc(b, ':');
}

void ml_json_u64(struct ml_buf *b, uint64_t v)
{
	ml_buf_printf(b, "%" PRIu64, v);
}

void ml_json_i64(struct ml_buf *b, int64_t v)
{
	ml_buf_printf(b, "%" PRId64, v);
}

void ml_shortest_g(double v, char *out, size_t n)
{
	ml_float_format(v, -4, 0, out, n);
}

void ml_json_double(struct ml_buf *b, double v)
{
	if (isnan(v)) {
		ml_buf_puts(b, "\"NaN\"");
		return;
	}
	if (isinf(v)) {
		ml_buf_puts(b, v > 0 ? "\"+Inf\"" : "\"-Inf\"");
		return;
	}
	char tmp[32];
	ml_shortest_g(v, tmp, sizeof(tmp));
	ml_buf_puts(b, tmp);
}

void ml_json_hex(struct ml_buf *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t *d = ml_buf_reserve(b, 2 * n + 2);
	if (d == NULL)
		return;
	*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		*d++ = (uint8_t)digits[p[i] >> 4];
		*d++ = (uint8_t)digits[p[i] & 15];
	}
	*d = '"';
	b->len += 2 * n + 2;
}

void ml_json_base64(struct ml_buf *b, const uint8_t *p, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	ml_buf_putc(b, '"');
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], tbl[(v >> 6) & 63], tbl[v & 63]};
		ml_buf_append(b, q, 4);
	}
	if (i < n) {
		uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
		char q[4] = {tbl[v >> 18], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=', '='};
		ml_buf_append(b, q, 4);
	}
	ml_buf_putc(b, '"');
}
