/*
 * span.c - helpers for the span model: batches, attribute look-up, hex ids,
 * kind names.
 */
#include "model/span.h"
#include "core/arena.h"
#include "core/error.h"

void ml_span_batch_init(struct ml_span_batch *b, struct ml_arena *arena)
{
	b->arena = arena;
	b->spans = NULL;
	b->n = 0;
	b->cap = 0;
}

struct ml_span *ml_span_batch_add(struct ml_span_batch *b)
{
	if (b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		struct ml_span *s = ml_arena_calloc(b->arena, cap, sizeof(*s));
		if (s == NULL)
			return NULL;
		if (b->n)
			memcpy(s, b->spans, b->n * sizeof(*s));
		b->spans = s;
		b->cap = cap;
	}
	struct ml_span *s = &b->spans[b->n++];
	memset(s, 0, sizeof(*s));
	return s;
}

const struct ml_attr *ml_attrs_find(const struct ml_attrs *a, const char *key)
{
	for (uint32_t i = 0; i < a->n; i++)
		if (ml_str_eq_cstr(a->items[i].key, key))
			return &a->items[i];
	return NULL;
}

void ml_hex_encode(char *out, const uint8_t *in, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ml_hex_decode(uint8_t *out, size_t outlen, const char *text, size_t n)
{
	if (n % 2 != 0 || n > 2 * outlen)
		return ML_EINVAL;
	size_t pad = outlen - n / 2;
	memset(out, 0, pad);
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return ML_EINVAL;
		out[pad + i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

const char *ml_span_kind_otlp_name(enum ml_span_kind k)
{
	static const char *const names[] = {
		"SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
		"SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"};
	return (unsigned)k < 6 ? names[k] : names[0];
}

const char *ml_span_kind_lower(enum ml_span_kind k)
{
	static const char *const names[] = {"", "internal", "server", "client", "producer", "consumer"};
	return (unsigned)k < 6 ? names[k] : "";
}

const char *ml_span_kind_zipkin(enum ml_span_kind k)
{
	static const char *const names[] = {NULL, NULL, "SERVER", "CLIENT", "PRODUCER", "CONSUMER"};
	return (unsigned)k < 6 ? names[k] : NULL;
}
