/*
 * trace_params.h - the query parameters the Jaeger and Zipkin query APIs
 * share: trace ids, unsigned integers (times, durations, limits) and tag
 * filters in the three syntaxes clients send them in.
 *
 * Every parser takes (pointer, length) of untrusted text, never reads past
 * it, and on failure returns ML_EINVAL with a message in err that names the
 * parameter and quotes (a bounded prefix of) what was wrong, ready to be the
 * body of a 400 answer.
 *
 * Tag filters are appended to a caller-held (array, count) pair that lives in
 * the request arena: start with tags = NULL, n = 0 and call the parsers as
 * often as needed (Jaeger sends `tags=` once and `tag=` repeatedly). The
 * strings of every filter are copied into the arena.
 */
#ifndef ML_EXPORTERS_TRACE_PARAMS_H
#define ML_EXPORTERS_TRACE_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "store/trace_store.h"

struct ml_arena;

/* Most tag filters one query may carry (each costs a scan in the store). */
#define ML_TRACE_MAX_TAG_FILTERS 64u

/*
 * A trace id: 1 to 32 hex digits, either case, left-padded with zeros to 16
 * bytes (Jaeger drops leading zeros; Zipkin's 64-bit ids are 16 digits).
 * The all-zero id is invalid (W3C trace context, OTLP). Returns 0 or
 * ML_EINVAL ("trace id must be 1 to 32 hex digits, got 40").
 */
int ml_trace_id_parse(const char *s, size_t n, uint8_t out[16], struct ml_err *err);

/*
 * A decimal unsigned integer parameter (no sign, no spaces, no fraction),
 * as Zipkin's endTs/lookback/minDuration and Jaeger's start/end/limit are.
 * name is only used in the message. Returns 0 or ML_EINVAL
 * ("parameter limit: expected a non-negative integer, got \"ten\"").
 */
int ml_trace_param_u64(const char *name, const char *s, size_t n, uint64_t *out,
		       struct ml_err *err);

/*
 * Jaeger's `tags` parameter: a JSON object of key -> value, values strings
 * (numbers and booleans are accepted and compared as their JSON text, which
 * is what the Jaeger UI's search box produces for `http.status_code=500`).
 */
int ml_trace_tags_json(const char *s, size_t n, struct ml_arena *arena,
		       struct ml_tag_filter **tags, size_t *n_tags, struct ml_err *err);

/* Jaeger's legacy repeated `tag=key:value` parameter (split at the first ':'). */
int ml_trace_tag_kv(const char *s, size_t n, struct ml_arena *arena, struct ml_tag_filter **tags,
		    size_t *n_tags, struct ml_err *err);

/*
 * Zipkin's annotationQuery: terms separated by " and ", each "key=value"
 * (the tag key has that value) or a bare "key" (appended with value
 * {NULL, 0}: in Zipkin a bare term matches a tag key or an annotation value,
 * which the caller checks). Empty terms are ignored.
 */
int ml_trace_annotation_query(const char *s, size_t n, struct ml_arena *arena,
			      struct ml_tag_filter **tags, size_t *n_tags, struct ml_err *err);

#endif
