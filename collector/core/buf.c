/*
 * buf.c - growable buffer and bounds-checked reader; see buf.h.
 */
#include "core/buf.h"
#include "core/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ml_buf_free(struct ml_buf *b)
{
	ml_free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->oom = false;
}

uint8_t *ml_buf_reserve(struct ml_buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (n == 0)
		n = 1; /* never hand out NULL + 0 for an empty buffer */
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return NULL;
			}
			cap *= 2;
		}
		uint8_t *d = ml_realloc(b->data, cap);
		if (d == NULL) {
			b->oom = true;
			return NULL;
		}
		b->data = d;
		b->cap = cap;
	}
	return b->data + b->len;
}

void ml_buf_append(struct ml_buf *b, const void *p, size_t n)
{
	uint8_t *d = ml_buf_reserve(b, n);
	if (d == NULL)
		return;
	if (n)
		memcpy(d, p, n);
	b->len += n;
}

void ml_buf_putc(struct ml_buf *b, char c)
{
	uint8_t *d = ml_buf_reserve(b, 1);
	if (d == NULL)
		return;
	*d = (uint8_t)c;
	b->len++;
}

void ml_buf_puts(struct ml_buf *b, const char *s)
{
	ml_buf_append(b, s, strlen(s));
}

void ml_buf_printf(struct ml_buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char tmp[256];
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
		return;
	}
	if ((size_t)n < sizeof(tmp)) {
		ml_buf_append(b, tmp, (size_t)n);
		return;
	}
	uint8_t *d = ml_buf_reserve(b, (size_t)n + 1);
	if (d == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf((char *)d, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void ml_buf_put_uvarint(struct ml_buf *b, uint64_t v)
{
	uint8_t *d = ml_buf_reserve(b, 10);
	if (d == NULL)
		return;
	size_t i = 0;
	while (v >= 0x80) {
		d[i++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	d[i++] = (uint8_t)v;
	b->len += i;
}

void ml_buf_put_svarint(struct ml_buf *b, int64_t v)
{
	ml_buf_put_uvarint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void ml_buf_put_be64(struct ml_buf *b, uint64_t v)
{
	uint8_t *d = ml_buf_reserve(b, 8);
	if (d == NULL)
		return;
	ml_be64_put(d, v);
	b->len += 8;
}

void ml_buf_put_be32(struct ml_buf *b, uint32_t v)
{
	uint8_t *d = ml_buf_reserve(b, 4);
	if (d == NULL)
		return;
	ml_be32_put(d, v);
	b->len += 4;
}

uint8_t *ml_buf_steal(struct ml_buf *b, size_t *len)
{
	uint8_t *d = b->data;
	if (len != NULL)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return d;
}

uint64_t ml_read_uvarint(struct ml_reader *r)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (r->p >= r->end) {
			r->bad = true;
			return 0;
		}
		uint8_t c = *r->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
	}
	r->bad = true;
	return 0;
}

int64_t ml_read_svarint(struct ml_reader *r)
{
	uint64_t u = ml_read_uvarint(r);
	return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

const uint8_t *ml_read_bytes(struct ml_reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *p = r->p;
	r->p += n;
	return p;
}

uint64_t ml_read_be64(struct ml_reader *r)
{
	const uint8_t *p = ml_read_bytes(r, 8);
	return p ? ml_be64_get(p) : 0;
}

uint32_t ml_read_be32(struct ml_reader *r)
{
	const uint8_t *p = ml_read_bytes(r, 4);
	return p ? ml_be32_get(p) : 0;
}
