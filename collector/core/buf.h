/*
 * buf.h - a growable byte buffer for building responses and encodings.
 *
 * Appends never fail silently: the first failed growth sets buf->oom and
 * later appends become no-ops, so a builder can append freely and check
 * ml_buf_ok() once at the end. The buffer owns its memory (ml_buf_free).
 */
#ifndef ML_CORE_BUF_H
#define ML_CORE_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ml_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	bool oom;
};

#define ML_BUF_INIT {NULL, 0, 0, false}

void ml_buf_free(struct ml_buf *b);
/* Forgets the content, keeps the memory. */
static inline void ml_buf_clear(struct ml_buf *b) { b->len = 0; b->oom = false; }
static inline bool ml_buf_ok(const struct ml_buf *b) { return !b->oom; }
/* Makes room for n more bytes; returns a pointer to them or NULL on ENOMEM. */
uint8_t *ml_buf_reserve(struct ml_buf *b, size_t n);
void ml_buf_append(struct ml_buf *b, const void *p, size_t n);
void ml_buf_putc(struct ml_buf *b, char c);
void ml_buf_puts(struct ml_buf *b, const char *s);
void ml_buf_printf(struct ml_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Unsigned LEB128 varint and zigzag signed varint. */
void ml_buf_put_uvarint(struct ml_buf *b, uint64_t v);
void ml_buf_put_svarint(struct ml_buf *b, int64_t v);
/* Big-endian fixed-width integers (sortable keys). */
void ml_buf_put_be64(struct ml_buf *b, uint64_t v);
void ml_buf_put_be32(struct ml_buf *b, uint32_t v);
/* Takes the memory out of the buffer; the caller frees it with ml_free. */
uint8_t *ml_buf_steal(struct ml_buf *b, size_t *len);

/* Reading side: a cursor over (pointer, length) that never reads past the end. */
struct ml_reader {
	const uint8_t *p;
	const uint8_t *end;
	bool bad; /* set on the first out-of-bounds or malformed read */
};

static inline struct ml_reader ml_reader_make(const void *p, size_t n)
{
	struct ml_reader r = {(const uint8_t *)p, (const uint8_t *)p + n, false};
	return r;
}
uint64_t ml_read_uvarint(struct ml_reader *r);
int64_t ml_read_svarint(struct ml_reader *r);
uint64_t ml_read_be64(struct ml_reader *r);
uint32_t ml_read_be32(struct ml_reader *r);
/* Returns a pointer to the next n bytes and advances, or NULL (and bad) if short. */
const uint8_t *ml_read_bytes(struct ml_reader *r, size_t n);

/* Big-endian helpers for fixed buffers (LMDB keys). */
static inline void ml_be64_put(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}
static inline uint64_t ml_be64_get(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}
static inline void ml_be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline uint32_t ml_be32_get(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif
