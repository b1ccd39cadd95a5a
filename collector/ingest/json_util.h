/*
 * json_util.h - jansson helpers shared by the JSON ingest decoders (OTLP
 * JSON, Zipkin v2 JSON, OTLP metrics JSON).
 *
 * They do the three things every JSON decoder needs and gets wrong alone:
 * parse untrusted bytes with a nesting bound, say *where* a value had the
 * wrong type ("resourceSpans[0].scopeSpans[0].spans[2].startTimeUnixNano:
 * expected a decimal string, got object"), and copy strings into the
 * request's arena so that nothing points into the jansson document after
 * it is freed.
 */
#ifndef ML_INGEST_JSON_UTIL_H
#define ML_INGEST_JSON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "model/span.h"

struct ml_arena;

/*
 * Parses len bytes of JSON (any value at the top level; NUL bytes inside
 * strings allowed; duplicate keys: the last wins). Refuses documents nested
 * deeper than max_depth arrays/objects before jansson sees them, so a
 * "[[[[..." body cannot exhaust the stack. Returns a new reference the
 * caller releases with json_decref, or NULL with err set:
 * ML_EINVAL "json: <what> at line L column C" or "json: nesting deeper than N".
 * *code (may be NULL) receives ML_EINVAL, or ML_ENOMEM when jansson ran out
 * of memory.
 */
json_t *ml_json_load(const uint8_t *body, size_t len, unsigned max_depth, struct ml_err *err,
		     int *code);

/* "object", "array", "string", "number", "boolean" or "null". */
const char *ml_json_type_name(const json_t *v);

/*
 * A path for messages, built as the decoder descends:
 * "resourceSpans[0].scopeSpans[1].spans[3]". Fixed size; an overlong path is
 * truncated (the message stays readable), never overflowed.
 */
struct ml_json_path {
	char buf[256];
	size_t len;
};

static inline void ml_json_path_init(struct ml_json_path *p)
{
	p->buf[0] = '\0';
	p->len = 0;
}
/* Appends ".key" (or "key" at the root) and returns the old length for pop. */
size_t ml_json_path_key(struct ml_json_path *p, const char *key);
/* Appends "[i]" and returns the old length. */
size_t ml_json_path_index(struct ml_json_path *p, size_t i);
/* Restores the length returned by a push. */
static inline void ml_json_path_pop(struct ml_json_path *p, size_t old_len)
{
	p->len = old_len;
	p->buf[old_len] = '\0';
}

/*
 * Looks a member up under its lowerCamelCase name, else its snake_case name
 * (snake may be NULL). NULL when obj is not an object or neither is present.
 * A member whose value is JSON null counts as absent, as in proto3 JSON.
 */
json_t *ml_json_member(const json_t *obj, const char *camel, const char *snake);

/*
 * Typed reads. Each fails with ML_EINVAL and a message
 * "<path>[.<key>]: expected <what>, got <type>" (key may be NULL).
 */

/* Copies a JSON string into arena; ML_ETOOBIG over max_bytes. */
int ml_json_get_str(const json_t *v, struct ml_arena *arena, size_t max_bytes, struct ml_str *out,
		const struct ml_json_path *path, const char *key, struct ml_err *err);
/*
 * A proto3 JSON 64-bit integer: a decimal string ("1700000000000000000") or
 * a JSON integer. Unsigned: negative values are refused.
 */
int ml_json_get_u64(const json_t *v, uint64_t *out, const struct ml_json_path *path, const char *key,
		struct ml_err *err);
int ml_json_get_i64(const json_t *v, int64_t *out, const struct ml_json_path *path, const char *key,
		struct ml_err *err);
/* A number (integer or real) or one of the strings "NaN", "Infinity", "-Infinity". */
int ml_json_get_double(const json_t *v, double *out, const struct ml_json_path *path, const char *key,
		   struct ml_err *err);
/* true/false. */
int ml_json_get_bool(const json_t *v, bool *out, const struct ml_json_path *path, const char *key,
		 struct ml_err *err);
/* Requires an array / object; returns 0 or ML_EINVAL naming the path. */
int ml_json_expect_array(const json_t *v, const struct ml_json_path *path, const char *key,
			 struct ml_err *err);
int ml_json_expect_object(const json_t *v, const struct ml_json_path *path, const char *key,
			  struct ml_err *err);

/* Sets err to "<path>[.<key>]: <message>" and returns code. */
int ml_json_fail(struct ml_err *err, int code, const struct ml_json_path *path, const char *key,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * Standard base64 (RFC 4648, with or without padding; the URL-safe alphabet
 * is accepted too, as proto3 JSON parsers do). Decodes into arena. ML_EINVAL
 * on a bad character or length.
 */
int ml_base64_decode(struct ml_arena *arena, const char *text, size_t n, struct ml_str *out);

#endif
