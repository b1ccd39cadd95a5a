/*
 * trace_params.c - parsing of the query parameters shared by the Jaeger and
 * Zipkin query APIs; see trace_params.h.
 */
#include "exporters/trace_params.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/limits.h"

/* How much of a bad value a message quotes. */
#define QUOTE_MAX 64

static int quote_len(size_t n)
{
	return (int)(n < QUOTE_MAX ? n : QUOTE_MAX);
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

int ml_trace_id_parse(const char *s, size_t n, uint8_t out[16], struct ml_err *err)
{
	uint8_t id[16] = {0};
	if (n == 0 || n > 32)
		return ml_err_set(err, ML_EINVAL, "trace id must be 1 to 32 hex digits, got %zu", n);
	/* Digits fill from the right: digit n-1 is the low nibble of byte 15. */
	for (size_t i = 0; i < n; i++) {
		int v = hexval(s[n - 1 - i]);
		if (v < 0)
			return ml_err_set(err, ML_EINVAL,
					  "trace id \"%.*s\" has a non-hex character at position %zu",
					  quote_len(n), s, n - 1 - i);
		id[15 - i / 2] |= (uint8_t)(i % 2 ? v << 4 : v);
	}
	static const uint8_t zero[16];
	if (memcmp(id, zero, 16) == 0)
		return ml_err_set(err, ML_EINVAL, "trace id must not be all zeros");
	memcpy(out, id, 16);
	return 0;
}

int ml_trace_param_u64(const char *name, const char *s, size_t n, uint64_t *out,
		       struct ml_err *err)
{
	uint64_t v = 0;
	if (n == 0 || n > 20)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			goto fail;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			goto fail;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
fail:
	return ml_err_set(err, ML_EINVAL, "parameter %s: expected a non-negative integer, got \"%.*s\"",
			  name, quote_len(n), s);
}

/* Appends one filter, copying key and value (value NULL: key only). */
static int tag_append(struct ml_arena *arena, struct ml_tag_filter **tags, size_t *n_tags,
		      const char *k, size_t kn, const char *v, size_t vn, struct ml_err *err)
{
	if (*n_tags >= ML_TRACE_MAX_TAG_FILTERS)
		return ml_err_set(err, ML_EINVAL, "at most %u tag filters per query",
				  ML_TRACE_MAX_TAG_FILTERS);
	if (kn == 0)
		return ml_err_set(err, ML_EINVAL, "a tag filter has an empty key");
	if (kn > ML_MAX_STRING_BYTES || vn > ML_MAX_STRING_BYTES)
		return ml_err_set(err, ML_EINVAL, "tag filter \"%.*s\" is longer than %u bytes",
				  quote_len(kn), k, ML_MAX_STRING_BYTES);
	/* Arena arrays cannot grow in place: copy into one slot larger. */
	struct ml_tag_filter *t = ml_arena_calloc(arena, *n_tags + 1, sizeof(*t));
	char *key = ml_arena_strndup(arena, k, kn);
	char *val = v != NULL ? ml_arena_strndup(arena, v, vn) : NULL;
	if (t == NULL || key == NULL || (v != NULL && val == NULL))
		return ml_err_set(err, ML_ENOMEM, "out of memory parsing tag filters");
	if (*n_tags)
		memcpy(t, *tags, *n_tags * sizeof(*t));
	t[*n_tags].key = ml_str_make(key, kn);
	t[*n_tags].value = ml_str_make(val, val != NULL ? vn : 0);
	*tags = t;
	(*n_tags)++;
	return 0;
}

int ml_trace_tags_json(const char *s, size_t n, struct ml_arena *arena,
		       struct ml_tag_filter **tags, size_t *n_tags, struct ml_err *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	int rc = 0;
	const char *key;
	json_t *val;

	root = json_loadb(s, n, JSON_ALLOW_NUL, &jerr);
	if (root == NULL) {
		rc = ml_err_set(err, ML_EINVAL, "parameter tags: invalid JSON at position %d: %s",
				jerr.position, jerr.text);
		goto fail;
	}
	if (!json_is_object(root)) {
		rc = ml_err_set(err, ML_EINVAL,
				"parameter tags: expected a JSON object of strings, got \"%.*s\"",
				quote_len(n), s);
		goto fail;
	}
	size_t kn;
	json_object_keylen_foreach(root, key, kn, val) {
		char text[64];
		const char *v;
		size_t vn;
		if (json_is_string(val)) {
			v = json_string_value(val);
			vn = json_string_length(val);
		} else if (json_is_integer(val)) {
			vn = (size_t)snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT,
					      json_integer_value(val));
			v = text;
		} else if (json_is_boolean(val)) {
			v = json_is_true(val) ? "true" : "false";
			vn = strlen(v);
		} else if (json_is_real(val)) {
			vn = (size_t)snprintf(text, sizeof(text), "%.17g", json_real_value(val));
			v = text;
		} else {
			rc = ml_err_set(err, ML_EINVAL,
					"parameter tags: the value of \"%.*s\" must be a string",
					quote_len(kn), key);
			goto fail;
		}
		rc = tag_append(arena, tags, n_tags, key, kn, v, vn, err);
		if (rc)
			goto fail;
	}
fail:
	json_decref(root);
	return rc;
}

int ml_trace_tag_kv(const char *s, size_t n, struct ml_arena *arena, struct ml_tag_filter **tags,
		    size_t *n_tags, struct ml_err *err)
{
	const char *colon = memchr(s, ':', n);
	if (colon == NULL)
		return ml_err_set(err, ML_EINVAL,
				  "parameter tag: expected key:value, got \"%.*s\"", quote_len(n), s);
	size_t kn = (size_t)(colon - s);
	return tag_append(arena, tags, n_tags, s, kn, colon + 1, n - kn - 1, err);
}

static void trim(const char **s, size_t *n)
{
	while (*n > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Finds " and " (Zipkin's separator) in s; returns its offset or n. */
static size_t find_and(const char *s, size_t n)
{
	static const char sep[] = " and ";
	const size_t l = sizeof(sep) - 1;
	for (size_t i = 0; i + l <= n; i++)
		if (memcmp(s + i, sep, l) == 0)
			return i;
	return n;
}

int ml_trace_annotation_query(const char *s, size_t n, struct ml_arena *arena,
			      struct ml_tag_filter **tags, size_t *n_tags, struct ml_err *err)
{
	size_t pos = 0;
	while (pos < n) {
		size_t len = find_and(s + pos, n - pos);
		const char *term = s + pos;
		size_t tn = len;
		pos += len < n - pos ? len + 5 : len;
		trim(&term, &tn);
		if (tn == 0)
			continue;
		const char *eq = memchr(term, '=', tn);
		int rc;
		if (eq == NULL) {
			rc = tag_append(arena, tags, n_tags, term, tn, NULL, 0, err);
		} else {
			const char *k = term, *v = eq + 1;
			size_t kn = (size_t)(eq - term), vn = tn - kn - 1;
			trim(&k, &kn);
			trim(&v, &vn);
			rc = tag_append(arena, tags, n_tags, k, kn, v, vn, err);
		}
		if (rc) {
			ml_err_prefix(err, "parameter annotationQuery: ");
			return rc;
		}
	}
	return 0;
}
