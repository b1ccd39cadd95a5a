/*
 * json_writer.h - appending JSON text to an ml_buf.
 *
 * Every exporter writes its JSON with these few functions; they only escape
 * and format, the caller writes the structure ('{', ',', ':') itself, which
 * keeps the hot response paths free of a DOM.
 */
#ifndef ML_EXPORTERS_JSON_WRITER_H
#define ML_EXPORTERS_JSON_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* A JSON string: quotes, escapes ("\"", "\\", control bytes as \u00XX); invalid UTF-8 bytes become U+FFFD. */
void ml_json_str(struct ml_buf *b, const char *s, size_t n);
void ml_json_cstr(struct ml_buf *b, const char *s);
/* "key": (string key + colon). */
void ml_json_key(struct ml_buf *b, const char *key);
void ml_json_u64(struct ml_buf *b, uint64_t v);
void ml_json_i64(struct ml_buf *b, int64_t v);
/* A finite double in shortest round-trip form; NaN/Inf as the strings "NaN", "+Inf", "-Inf". */
void ml_json_double(struct ml_buf *b, double v);
/* A finite v as the shortest %g text that reads back as v (out: at least 32 bytes). */
void ml_shortest_g(double v, char *out, size_t n);
/* Lowercase hex of n bytes, quoted. */
void ml_json_hex(struct ml_buf *b, const uint8_t *p, size_t n);
/* Standard base64 of n bytes, quoted. */
void ml_json_base64(struct ml_buf *b, const uint8_t *p, size_t n);

#endif
