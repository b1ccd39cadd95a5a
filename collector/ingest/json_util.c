/*
 * json_util.c - jansson helpers for the JSON ingest decoders: bounded parse,
 * error paths, typed reads following the proto3 JSON mapping, base64.
 *
 * Wire data is never scanned with strlen: jansson gives string lengths
 * (json_string_length) and we keep them, so NUL bytes inside strings are
 * data, not terminators.
 */
#include "ingest/json_util.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"

/*
 * Counts array/object nesting outside strings. jansson's own bound is a
 * compile-time 2048 and it recurses; ours is the caller's (limits.h), and
 * checking first costs one pass over bytes that are in cache anyway.
 */
static bool depth_ok(const uint8_t *p, size_t n, unsigned max_depth)
{
	unsigned depth = 0;
	bool in_str = false, esc = false;

	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == '[' || c == '{') {
			if (++depth > max_depth)
				return false;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return true;
}

json_t *ml_json_load(const uint8_t *body, size_t len, unsigned max_depth, struct ml_err *err,
		     int *code)
{
	json_error_t jerr;
	json_t *root = NULL;

	if (code != NULL)
		*code = ML_EINVAL;
	if (!depth_ok(body, len, max_depth)) {
		ml_err_set(err, ML_EINVAL, "json: nesting deeper than %u", max_depth);
		return NULL;
	}
	root = json_loadb((const char *)body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			if (code != NULL)
				*code = ML_ENOMEM;
			ml_err_set(err, ML_ENOMEM, "json: out of memory");
		} else {
			ml_err_set(err, ML_EINVAL, "json: %s at line %d column %d", jerr.text,
				   jerr.line, jerr.column);
		}
		return NULL;
	}
	return root;
}

const char *ml_json_type_name(const json_t *v)
{
	if (v == NULL)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT: return "object";
	case JSON_ARRAY: return "array";
	case JSON_STRING: return "string";
	case JSON_INTEGER:
	case JSON_REAL: return "number";
	case JSON_TRUE:
	case JSON_FALSE: return "boolean";
	case JSON_NULL: return "null";
	}
	return "unknown";
}

static size_t path_append(struct ml_json_path *p, const char *s)
{
	size_t old = p->len;
	size_t room = sizeof(p->buf) - 1 - p->len;
	size_t n = strnlen(s, room);

	memcpy(p->buf + p->len, s, n);
	p->len += n;
	p->buf[p->len] = '\0';
	return old;
}

size_t ml_json_path_key(struct ml_json_path *p, const char *key)
{
	size_t old = p->len;
	if (p->len > 0)
		path_append(p, ".");
	path_append(p, key);
	return old;
}

size_t ml_json_path_index(struct ml_json_path *p, size_t i)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "[%zu]", i);
	return path_append(p, tmp);
}

json_t *ml_json_member(const json_t *obj, const char *camel, const char *snake)
{
	json_t *v;

	if (obj == NULL || !json_is_object(obj))
		return NULL;
	v = json_object_get(obj, camel);
	if ((v == NULL || json_is_null(v)) && snake != NULL)
		v = json_object_get(obj, snake);
	if (v != NULL && json_is_null(v))
		return NULL;
	return v;
}

int ml_json_fail(struct ml_err *err, int code, const struct ml_json_path *path, const char *key,
		 const char *fmt, ...)
{
	char what[384];
	va_list ap;

	if (err == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	const char *p = path != NULL ? path->buf : "";
	const char *dot = (key != NULL && p[0] != '\0') ? "." : "";
	snprintf(err->msg, sizeof(err->msg), "%.200s%s%.60s%s%.240s", p, dot, key != NULL ? key : "",
		 (p[0] != '\0' || key != NULL) ? ": " : "", what);
	return code;
}

static int wrong_type(const json_t *v, const char *expected, const struct ml_json_path *path,
		      const char *key, struct ml_err *err)
{
	return ml_json_fail(err, ML_EINVAL, path, key, "expected %s, got %s", expected,
			    ml_json_type_name(v));
}

int ml_json_get_str(const json_t *v, struct ml_arena *arena, size_t max_bytes, struct ml_str *out,
		const struct ml_json_path *path, const char *key, struct ml_err *err)
{
	if (v == NULL || !json_is_string(v))
		return wrong_type(v, "a string", path, key, err);
	size_t n = json_string_length(v);
	if (n > max_bytes)
		return ml_json_fail(err, ML_ETOOBIG, path, key,
				    "string of %zu bytes is over the limit of %zu", n, max_bytes);
	if (n == 0) {
		*out = ml_str_make("", 0);
		return 0;
	}
	char *copy = ml_arena_strndup(arena, json_string_value(v), n);
	if (copy == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory");
	*out = ml_str_make(copy, n);
	return 0;
}

/* Parses [-]digits of exactly n bytes; rejects empty, signs when !allow_neg, overflow. */
static bool parse_decimal(const char *s, size_t n, bool allow_neg, bool *neg, uint64_t *mag)
{
	size_t i = 0;
	uint64_t v = 0;

	*neg = false;
	if (n > 0 && s[0] == '-' && allow_neg) {
		*neg = true;
		i = 1;
	}
	if (i == n)
		return false;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*mag = v;
	return true;
}

int ml_json_get_u64(const json_t *v, uint64_t *out, const struct ml_json_path *path, const char *key,
		struct ml_err *err)
{
	bool neg;
	uint64_t mag;

	if (v != NULL && json_is_string(v)) {
		if (!parse_decimal(json_string_value(v), json_string_length(v), false, &neg, &mag))
			return ml_json_fail(err, ML_EINVAL, path, key,
					    "expected a decimal string, got \"%.40s\"",
					    json_string_value(v));
		*out = mag;
		return 0;
	}
	if (v != NULL && json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return ml_json_fail(err, ML_EINVAL, path, key,
					    "expected a non-negative integer, got %lld", (long long)i);
		*out = (uint64_t)i;
		return 0;
	}
	if (v != NULL && json_is_real(v)) {
		/* Some JavaScript encoders write 1.7e18-style numbers; accept integral ones. */
		double d = json_real_value(v);
		if (d >= 0 && d < 18446744073709551616.0 && floor(d) == d) {
			*out = (uint64_t)d;
			return 0;
		}
		return ml_json_fail(err, ML_EINVAL, path, key,
				    "expected a non-negative integer, got %g", d);
	}
	return wrong_type(v, "a decimal string", path, key, err);
}

int ml_json_get_i64(const json_t *v, int64_t *out, const struct ml_json_path *path, const char *key,
		struct ml_err *err)
{
	bool neg;
	uint64_t mag;

	if (v != NULL && json_is_string(v)) {
		if (!parse_decimal(json_string_value(v), json_string_length(v), true, &neg, &mag) ||
		    mag > (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX))
			return ml_json_fail(err, ML_EINVAL, path, key,
					    "expected a decimal string, got \"%.40s\"",
					    json_string_value(v));
		*out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
		return 0;
	}
	if (v != NULL && json_is_integer(v)) {
		*out = (int64_t)json_integer_value(v);
		return 0;
	}
	if (v != NULL && json_is_real(v)) {
		double d = json_real_value(v);
		if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && floor(d) == d) {
			*out = (int64_t)d;
			return 0;
		}
		return ml_json_fail(err, ML_EINVAL, path, key, "expected an integer, got %g", d);
	}
	return wrong_type(v, "a decimal string", path, key, err);
}

int ml_json_get_double(const json_t *v, double *out, const struct ml_json_path *path, const char *key,
		   struct ml_err *err)
{
	if (v != NULL && json_is_number(v)) {
		*out = json_number_value(v);
		return 0;
	}
	if (v != NULL && json_is_string(v)) {
		const char *s = json_string_value(v);
		size_t n = json_string_length(v);
		if (n == 3 && memcmp(s, "NaN", 3) == 0) {
			*out = NAN;
			return 0;
		}
		if (n == 8 && memcmp(s, "Infinity", 8) == 0) {
			*out = INFINITY;
			return 0;
		}
		if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
			*out = -INFINITY;
			return 0;
		}
		/* proto3 JSON also allows a number in a string: "1.5". */
		char tmp[64];
		if (n > 0 && n < sizeof(tmp) && memchr(s, '\0', n) == NULL) {
			char *end;
			memcpy(tmp, s, n);
			tmp[n] = '\0';
			double d = strtod(tmp, &end);
			if (end == tmp + n) {
				*out = d;
				return 0;
			}
		}
		return ml_json_fail(err, ML_EINVAL, path, key, "expected a number, got \"%.40s\"",
				    s);
	}
	return wrong_type(v, "a number", path, key, err);
}

int ml_json_get_bool(const json_t *v, bool *out, const struct ml_json_path *path, const char *key,
		 struct ml_err *err)
{
	if (v == NULL || !json_is_boolean(v))
		return wrong_type(v, "a boolean", path, key, err);
	*out = json_is_true(v);
	return 0;
}

int ml_json_expect_array(const json_t *v, const struct ml_json_path *path, const char *key,
			 struct ml_err *err)
{
	if (v == NULL || !json_is_array(v))
		return wrong_type(v, "an array", path, key, err);
	return 0;
}

int ml_json_expect_object(const json_t *v, const struct ml_json_path *path, const char *key,
			  struct ml_err *err)
{
	if (v == NULL || !json_is_object(v))
		return wrong_type(v, "an object", path, key, err);
	return 0;
}

static int b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int ml_base64_decode(struct ml_arena *arena, const char *text, size_t n, struct ml_str *out)
{
	while (n > 0 && text[n - 1] == '=')
		n--;
	if (n % 4 == 1)
		return ML_EINVAL;
	size_t outlen = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	uint8_t *dst = ml_arena_alloc(arena, outlen + 1);
	if (dst == NULL)
		return ML_ENOMEM;
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		int v = b64val(text[i]);
		if (v < 0)
			return ML_EINVAL;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			dst[o++] = (uint8_t)(acc >> bits);
		}
	}
	dst[o] = 0;
	*out = ml_str_make((const char *)dst, o);
	return 0;
}
