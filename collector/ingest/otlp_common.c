/*
 * otlp_common.c - OTLP AnyValue / KeyValue / Resource / InstrumentationScope
 * decoding shared by the OTLP trace and metrics decoders, in both encodings,
 * plus the pre-unpack nesting check for protobuf bodies.
 *
 * protobuf-c hands strings over as NUL-terminated char * without a length;
 * it wrote that NUL itself after copying the field's bytes, so strlen on them
 * is bounded by the field (an embedded NUL only shortens the string).
 */
#include "ingest/otlp_common.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/limits.h"

/* ---- nesting check ------------------------------------------------------ */

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;
}

/*
 * Returns false only when nesting is too deep; any malformation just ends the
 * walk of that message (protobuf-c will reject the same bytes when it unpacks).
 */
static bool depth_walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
		       const uint8_t *end, unsigned depth, unsigned max_depth)
{
	while (p < end) {
		uint64_t tag, len;
		if (!read_varint(&p, end, &tag))
			return true;
		switch (tag & 7) {
		case 0:
			if (!read_varint(&p, end, &len))
				return true;
			break;
		case 1:
			if ((size_t)(end - p) < 8)
				return true;
			p += 8;
			break;
		case 5:
			if ((size_t)(end - p) < 4)
				return true;
			p += 4;
			break;
		case 2: {
			if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p))
				return true;
			uint64_t num = tag >> 3;
			const ProtobufCFieldDescriptor *f =
				num <= UINT32_MAX
					? protobuf_c_message_descriptor_get_field(desc, (unsigned)num)
					: NULL;
			if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
				if (depth + 1 > max_depth)
					return false;
				if (!depth_walk(f->descriptor, p, p + len, depth + 1, max_depth))
					return false;
			}
			p += len;
			break;
		}
		default: /* groups and invalid wire types: protobuf-c decides */
			return true;
		}
	}
	return true;
}

int ml_otlp_proto_check_depth(const ProtobufCMessageDescriptor *desc, const uint8_t *body,
			      size_t len, unsigned max_depth, struct ml_err *err)
{
	if (!depth_walk(desc, body, body + len, 0, max_depth))
		return ml_err_set(err, ML_EINVAL, "protobuf: messages nested deeper than %u",
				  max_depth);
	return 0;
}

/* ---- JSON text writing (for array/kvlist values) ------------------------- */

void ml_otlp_json_quote(struct ml_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	ml_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': ml_buf_append(b, "\\\"", 2); break;
		case '\\': ml_buf_append(b, "\\\\", 2); break;
		case '\n': ml_buf_append(b, "\\n", 2); break;
		case '\r': ml_buf_append(b, "\\r", 2); break;
		case '\t': ml_buf_append(b, "\\t", 2); break;
		default:
			if (c < 0x20) {
				char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
				ml_buf_append(b, e, 6);
			} else {
				ml_buf_putc(b, (char)c);
			}
		}
	}
	ml_buf_putc(b, '"');
}

void ml_otlp_base64(struct ml_buf *b, const uint8_t *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
		ml_buf_append(b, o, 4);
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], '=', '='};
		ml_buf_append(b, o, 4);
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		char o[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], '='};
		ml_buf_append(b, o, 4);
	}
}

static void put_double(struct ml_buf *b, double d)
{
	if (isnan(d))
		ml_buf_puts(b, "\"NaN\"");
	else if (isinf(d))
		ml_buf_puts(b, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
	else
		ml_buf_printf(b, "%.17g", d);
}

/* The OTLP JSON of one AnyValue; depth is bounded by the caller's checks. */
static void any_json_proto(struct ml_buf *b, const Opentelemetry__Proto__Common__V1__AnyValue *v)
{
	if (v == NULL) {
		ml_buf_puts(b, "{}");
		return;
	}
	switch (v->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		ml_buf_puts(b, "{\"stringValue\":");
		ml_otlp_json_quote(b, v->string_value, v->string_value ? strlen(v->string_value) : 0);
		ml_buf_putc(b, '}');
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		ml_buf_puts(b, v->bool_value ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		ml_buf_printf(b, "{\"intValue\":\"%lld\"}", (long long)v->int_value);
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		ml_buf_puts(b, "{\"doubleValue\":");
		put_double(b, v->double_value);
		ml_buf_putc(b, '}');
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
		ml_buf_puts(b, "{\"bytesValue\":\"");
		ml_otlp_base64(b, v->bytes_value.data, v->bytes_value.len);
		ml_buf_puts(b, "\"}");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
		ml_buf_puts(b, "{\"arrayValue\":{\"values\":[");
		if (v->array_value != NULL)
			for (size_t i = 0; i < v->array_value->n_values; i++) {
				if (i)
					ml_buf_putc(b, ',');
				any_json_proto(b, v->array_value->values[i]);
			}
		ml_buf_puts(b, "]}}");
		break;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
		ml_buf_puts(b, "{\"kvlistValue\":{\"values\":[");
		if (v->kvlist_value != NULL)
			for (size_t i = 0; i < v->kvlist_value->n_values; i++) {
				const Opentelemetry__Proto__Common__V1__KeyValue *kv =
					v->kvlist_value->values[i];
				if (i)
					ml_buf_putc(b, ',');
				ml_buf_puts(b, "{\"key\":");
				ml_otlp_json_quote(b, kv->key, kv->key ? strlen(kv->key) : 0);
				ml_buf_puts(b, ",\"value\":");
				any_json_proto(b, kv->value);
				ml_buf_putc(b, '}');
			}
		ml_buf_puts(b, "]}}");
		break;
	default:
		ml_buf_puts(b, "{}");
	}
}

/* ---- shared helpers ----------------------------------------------------- */

int ml_otlp_str(struct ml_otlp_ctx *ctx, const char *p, size_t n, const char *key,
		struct ml_str *out)
{
	if (n > ML_MAX_STRING_BYTES)
		return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, key,
				    "string of %zu bytes is over the limit of %u", n,
				    ML_MAX_STRING_BYTES);
	if (n == 0) {
		*out = ml_str_make("", 0);
		return 0;
	}
	char *copy = ml_arena_strndup(ctx->arena, p, n);
	if (copy == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	*out = ml_str_make(copy, n);
	return 0;
}

static size_t cstrlen(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* Moves the scratch buffer's JSON text into the arena as an ML_VAL_JSON value. */
static int take_json(struct ml_otlp_ctx *ctx, struct ml_attr *a)
{
	if (!ml_buf_ok(&ctx->scratch))
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	a->type = ML_VAL_JSON;
	return ml_otlp_str(ctx, (const char *)ctx->scratch.data, ctx->scratch.len, NULL, &a->v.s);
}

static int any_from_proto(struct ml_otlp_ctx *ctx,
			  const Opentelemetry__Proto__Common__V1__AnyValue *v, struct ml_attr *a)
{
	a->type = ML_VAL_STRING;
	a->v.s = ml_str_make("", 0);
	if (v == NULL)
		return 0;
	switch (v->value_case) {
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
		return ml_otlp_str(ctx, v->string_value, cstrlen(v->string_value), NULL, &a->v.s);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
		a->type = ML_VAL_BOOL;
		a->v.b = v->bool_value != 0;
		return 0;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
		a->type = ML_VAL_INT;
		a->v.i = v->int_value;
		return 0;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
		a->type = ML_VAL_DOUBLE;
		a->v.d = v->double_value;
		return 0;
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
		a->type = ML_VAL_BYTES;
		return ml_otlp_str(ctx, (const char *)v->bytes_value.data, v->bytes_value.len, NULL,
				   &a->v.s);
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
	case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
		ml_buf_clear(&ctx->scratch);
		any_json_proto(&ctx->scratch, v);
		return take_json(ctx, a);
	default:
		return 0;
	}
}

static int too_many(struct ml_otlp_ctx *ctx, size_t n, size_t max)
{
	return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, NULL,
			    "%zu attributes is over the limit of %zu", n, max);
}

/* One key/value; with_path: name the "value" member in an error's path. */
static int attr_from_proto(struct ml_otlp_ctx *ctx,
			   const Opentelemetry__Proto__Common__V1__KeyValue *kv, struct ml_attr *a,
			   bool with_path)
{
	int rc = ml_otlp_str(ctx, kv->key, cstrlen(kv->key), "key", &a->key);
	if (rc != 0)
		return rc;
	size_t m2 = with_path ? ml_json_path_key(&ctx->path, "value") : 0;
	rc = any_from_proto(ctx, kv->value, a);
	if (with_path)
		ml_json_path_pop(&ctx->path, m2);
	return rc;
}

int ml_otlp_attrs_from_proto(struct ml_otlp_ctx *ctx,
			     Opentelemetry__Proto__Common__V1__KeyValue *const *kvs, size_t n,
			     size_t max_attrs, struct ml_attrs *out)
{
	out->items = NULL;
	out->n = 0;
	if (n == 0)
		return 0;
	if (n > max_attrs)
		return too_many(ctx, n, max_attrs);
	struct ml_attr *items = ml_arena_calloc(ctx->arena, n, sizeof(*items));
	if (items == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	/* The error path ("...attributes[3].value") is formatted only when an
	 * attribute fails: the conversion is then run again with the path in
	 * place, which sets the same error with its full location. */
	for (size_t i = 0; i < n; i++) {
		int rc = attr_from_proto(ctx, kvs[i], &items[i], false);
		if (rc != 0 && rc != ML_ENOMEM) {
			size_t mark = ml_json_path_index(&ctx->path, i);
			rc = attr_from_proto(ctx, kvs[i], &items[i], true);
			ml_json_path_pop(&ctx->path, mark);
		}
		if (rc != 0)
			return rc;
	}
	out->items = items;
	out->n = (uint32_t)n;
	return 0;
}

/* ---- JSON ---------------------------------------------------------------- */

/* AnyValue member names: lowerCamelCase and the proto names. */
static const struct {
	const char *camel, *snake;
} any_keys[] = {
	{"stringValue", "string_value"}, {"boolValue", "bool_value"},
	{"intValue", "int_value"},       {"doubleValue", "double_value"},
	{"bytesValue", "bytes_value"},   {"arrayValue", "array_value"},
	{"kvlistValue", "kvlist_value"},
};
enum { ANY_STRING, ANY_BOOL, ANY_INT, ANY_DOUBLE, ANY_BYTES, ANY_ARRAY, ANY_KVLIST, ANY_NONE };

/* Which member of the AnyValue oneof obj sets (the first found), and its value. */
static int any_which(const json_t *obj, json_t **val, const char **name)
{
	for (int k = 0; k < ANY_NONE; k++) {
		json_t *v = ml_json_member(obj, any_keys[k].camel, any_keys[k].snake);
		if (v != NULL) {
			*val = v;
			*name = any_keys[k].camel;
			return k;
		}
	}
	*val = NULL;
	*name = NULL;
	return ANY_NONE;
}

static int any_json_json(struct ml_otlp_ctx *ctx, const json_t *v);

/* Writes the canonical OTLP JSON of an ArrayValue/KeyValueList member. */
static int list_json_json(struct ml_otlp_ctx *ctx, const json_t *list, bool kv)
{
	struct ml_buf *b = &ctx->scratch;
	int rc = ml_json_expect_object(list, &ctx->path, NULL, ctx->err);
	if (rc != 0)
		return rc;
	json_t *values = ml_json_member(list, "values", NULL);
	ml_buf_puts(b, "{\"values\":[");
	if (values != NULL) {
		size_t mark = ml_json_path_key(&ctx->path, "values");
		if ((rc = ml_json_expect_array(values, &ctx->path, NULL, ctx->err)) != 0)
			return rc;
		for (size_t i = 0; i < json_array_size(values); i++) {
			const json_t *e = json_array_get(values, i);
			size_t m2 = ml_json_path_index(&ctx->path, i);
			if (i)
				ml_buf_putc(b, ',');
			if (kv) {
				if ((rc = ml_json_expect_object(e, &ctx->path, NULL, ctx->err)) != 0)
					return rc;
				json_t *key = ml_json_member(e, "key", NULL);
				if (key != NULL && !json_is_string(key))
					return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, "key",
							    "expected a string, got %s",
							    ml_json_type_name(key));
				ml_buf_puts(b, "{\"key\":");
				ml_otlp_json_quote(b, key ? json_string_value(key) : "",
						   key ? json_string_length(key) : 0);
				ml_buf_puts(b, ",\"value\":");
				size_t m3 = ml_json_path_key(&ctx->path, "value");
				rc = any_json_json(ctx, ml_json_member(e, "value", NULL));
				ml_json_path_pop(&ctx->path, m3);
				ml_buf_putc(b, '}');
			} else {
				rc = any_json_json(ctx, e);
			}
			if (rc != 0)
				return rc;
			ml_json_path_pop(&ctx->path, m2);
		}
		ml_json_path_pop(&ctx->path, mark);
	}
	ml_buf_puts(b, "]}");
	return 0;
}

static int any_json_json(struct ml_otlp_ctx *ctx, const json_t *v)
{
	struct ml_buf *b = &ctx->scratch;
	json_t *val;
	const char *name;
	int rc;

	if (v == NULL) {
		ml_buf_puts(b, "{}");
		return 0;
	}
	if ((rc = ml_json_expect_object(v, &ctx->path, NULL, ctx->err)) != 0)
		return rc;
	int k = any_which(v, &val, &name);
	switch (k) {
	case ANY_STRING:
		if (!json_is_string(val))
			return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, name,
					    "expected a string, got %s", ml_json_type_name(val));
		ml_buf_puts(b, "{\"stringValue\":");
		ml_otlp_json_quote(b, json_string_value(val), json_string_length(val));
		ml_buf_putc(b, '}');
		return 0;
	case ANY_BOOL: {
		bool x;
		if ((rc = ml_json_get_bool(val, &x, &ctx->path, name, ctx->err)) != 0)
			return rc;
		ml_buf_puts(b, x ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
		return 0;
	}
	case ANY_INT: {
		int64_t x;
		if ((rc = ml_json_get_i64(val, &x, &ctx->path, name, ctx->err)) != 0)
			return rc;
		ml_buf_printf(b, "{\"intValue\":\"%lld\"}", (long long)x);
		return 0;
	}
	case ANY_DOUBLE: {
		double x;
		if ((rc = ml_json_get_double(val, &x, &ctx->path, name, ctx->err)) != 0)
			return rc;
		ml_buf_puts(b, "{\"doubleValue\":");
		put_double(b, x);
		ml_buf_putc(b, '}');
		return 0;
	}
	case ANY_BYTES: {
		struct ml_str raw;
		if (!json_is_string(val))
			return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, name,
					    "expected a base64 string, got %s",
					    ml_json_type_name(val));
		rc = ml_base64_decode(ctx->arena, json_string_value(val), json_string_length(val),
				      &raw);
		if (rc == ML_ENOMEM)
			return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
		if (rc != 0)
			return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, name,
					    "expected a base64 string");
		ml_buf_puts(b, "{\"bytesValue\":\"");
		ml_otlp_base64(b, (const uint8_t *)raw.p, raw.n);
		ml_buf_puts(b, "\"}");
		return 0;
	}
	case ANY_ARRAY:
	case ANY_KVLIST: {
		ml_buf_puts(b, k == ANY_ARRAY ? "{\"arrayValue\":" : "{\"kvlistValue\":");
		size_t mark = ml_json_path_key(&ctx->path, name);
		rc = list_json_json(ctx, val, k == ANY_KVLIST);
		ml_json_path_pop(&ctx->path, mark);
		ml_buf_putc(b, '}');
		return rc;
	}
	default:
		ml_buf_puts(b, "{}");
		return 0;
	}
}

static int any_from_json(struct ml_otlp_ctx *ctx, const json_t *v, struct ml_attr *a)
{
	json_t *val;
	const char *name;
	int rc;

	a->type = ML_VAL_STRING;
	a->v.s = ml_str_make("", 0);
	if (v == NULL)
		return 0;
	if ((rc = ml_json_expect_object(v, &ctx->path, NULL, ctx->err)) != 0)
		return rc;
	switch (any_which(v, &val, &name)) {
	case ANY_STRING:
		return ml_json_get_str(val, ctx->arena, ML_MAX_STRING_BYTES, &a->v.s, &ctx->path, name,
				   ctx->err);
	case ANY_BOOL:
		a->type = ML_VAL_BOOL;
		return ml_json_get_bool(val, &a->v.b, &ctx->path, name, ctx->err);
	case ANY_INT:
		a->type = ML_VAL_INT;
		return ml_json_get_i64(val, &a->v.i, &ctx->path, name, ctx->err);
	case ANY_DOUBLE:
		a->type = ML_VAL_DOUBLE;
		return ml_json_get_double(val, &a->v.d, &ctx->path, name, ctx->err);
	case ANY_BYTES:
		a->type = ML_VAL_BYTES;
		if (!json_is_string(val))
			return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, name,
					    "expected a base64 string, got %s",
					    ml_json_type_name(val));
		if (json_string_length(val) / 4 * 3 > ML_MAX_STRING_BYTES + 3)
			return ml_json_fail(ctx->err, ML_ETOOBIG, &ctx->path, name,
					    "bytes value is over the limit of %u bytes",
					    ML_MAX_STRING_BYTES);
		rc = ml_base64_decode(ctx->arena, json_string_value(val), json_string_length(val),
				      &a->v.s);
		if (rc == ML_ENOMEM)
			return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
		if (rc != 0)
			return ml_json_fail(ctx->err, ML_EINVAL, &ctx->path, name,
					    "expected a base64 string");
		return 0;
	case ANY_ARRAY:
	case ANY_KVLIST:
		ml_buf_clear(&ctx->scratch);
		if ((rc = any_json_json(ctx, v)) != 0)
			return rc;
		return take_json(ctx, a);
	default:
		return 0;
	}
}

int ml_otlp_attrs_from_json(struct ml_otlp_ctx *ctx, const json_t *list, size_t max_attrs,
			    struct ml_attrs *out)
{
	int rc;

	out->items = NULL;
	out->n = 0;
	if (list == NULL)
		return 0;
	if ((rc = ml_json_expect_array(list, &ctx->path, NULL, ctx->err)) != 0)
		return rc;
	size_t n = json_array_size(list);
	if (n == 0)
		return 0;
	if (n > max_attrs)
		return too_many(ctx, n, max_attrs);
	struct ml_attr *items = ml_arena_calloc(ctx->arena, n, sizeof(*items));
	if (items == NULL)
		return ml_err_set(ctx->err, ML_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const json_t *kv = json_array_get(list, i);
		size_t mark = ml_json_path_index(&ctx->path, i);
		if ((rc = ml_json_expect_object(kv, &ctx->path, NULL, ctx->err)) != 0)
			return rc;
		json_t *key = ml_json_member(kv, "key", NULL);
		if (key != NULL)
			rc = ml_json_get_str(key, ctx->arena, ML_MAX_STRING_BYTES, &items[i].key,
					 &ctx->path, "key", ctx->err);
		else
			items[i].key = ml_str_make("", 0);
		if (rc == 0) {
			size_t m2 = ml_json_path_key(&ctx->path, "value");
			rc = any_from_json(ctx, ml_json_member(kv, "value", NULL), &items[i]);
			ml_json_path_pop(&ctx->path, m2);
		}
		if (rc != 0)
			return rc;
		ml_json_path_pop(&ctx->path, mark);
	}
	out->items = items;
	out->n = (uint32_t)n;
	return 0;
}

/* ---- resource and scope -------------------------------------------------- */

static void set_service_name(struct ml_resource *out)
{
	const struct ml_attr *a = ml_attrs_find(&out->attrs, "service.name");
	if (a != NULL && a->type == ML_VAL_STRING && a->v.s.n > 0)
		out->service_name = a->v.s;
	else
		out->service_name = ML_STR("unknown_service");
}

int ml_otlp_resource_from_proto(struct ml_otlp_ctx *ctx,
				const Opentelemetry__Proto__Resource__V1__Resource *r,
				struct ml_resource *out)
{
	int rc = 0;
	out->attrs.items = NULL;
	out->attrs.n = 0;
	if (r != NULL) {
		size_t mark = ml_json_path_key(&ctx->path, "resource");
		size_t m2 = ml_json_path_key(&ctx->path, "attributes");
		rc = ml_otlp_attrs_from_proto(ctx, r->attributes, r->n_attributes,
					      ML_MAX_ATTRS_PER_SPAN, &out->attrs);
		ml_json_path_pop(&ctx->path, m2);
		if (rc == 0)
			ml_json_path_pop(&ctx->path, mark);
	}
	set_service_name(out);
	return rc;
}

int ml_otlp_resource_from_json(struct ml_otlp_ctx *ctx, const json_t *obj,
			       struct ml_resource *out)
{
	int rc = 0;
	out->attrs.items = NULL;
	out->attrs.n = 0;
	if (obj != NULL) {
		size_t mark = ml_json_path_key(&ctx->path, "resource");
		rc = ml_json_expect_object(obj, &ctx->path, NULL, ctx->err);
		if (rc == 0) {
			size_t m2 = ml_json_path_key(&ctx->path, "attributes");
			rc = ml_otlp_attrs_from_json(ctx, ml_json_member(obj, "attributes", NULL),
						     ML_MAX_ATTRS_PER_SPAN, &out->attrs);
			ml_json_path_pop(&ctx->path, m2);
		}
		if (rc == 0)
			ml_json_path_pop(&ctx->path, mark);
	}
	set_service_name(out);
	return rc;
}

int ml_otlp_scope_from_proto(struct ml_otlp_ctx *ctx,
			     const Opentelemetry__Proto__Common__V1__InstrumentationScope *s,
			     struct ml_resource *out)
{
	int rc;
	out->scope_name = ml_str_make("", 0);
	out->scope_version = ml_str_make("", 0);
	if (s == NULL)
		return 0;
	size_t mark = ml_json_path_key(&ctx->path, "scope");
	rc = ml_otlp_str(ctx, s->name, cstrlen(s->name), "name", &out->scope_name);
	if (rc == 0)
		rc = ml_otlp_str(ctx, s->version, cstrlen(s->version), "version",
				 &out->scope_version);
	if (rc == 0)
		ml_json_path_pop(&ctx->path, mark);
	return rc;
}

int ml_otlp_scope_from_json(struct ml_otlp_ctx *ctx, const json_t *obj, struct ml_resource *out)
{
	int rc;
	out->scope_name = ml_str_make("", 0);
	out->scope_version = ml_str_make("", 0);
	if (obj == NULL)
		return 0;
	size_t mark = ml_json_path_key(&ctx->path, "scope");
	rc = ml_json_expect_object(obj, &ctx->path, NULL, ctx->err);
	json_t *name = ml_json_member(obj, "name", NULL);
	json_t *version = ml_json_member(obj, "version", NULL);
	if (rc == 0 && name != NULL)
		rc = ml_json_get_str(name, ctx->arena, ML_MAX_STRING_BYTES, &out->scope_name, &ctx->path,
				 "name", ctx->err);
	if (rc == 0 && version != NULL)
		rc = ml_json_get_str(version, ctx->arena, ML_MAX_STRING_BYTES, &out->scope_version,
				 &ctx->path, "version", ctx->err);
	if (rc == 0)
		ml_json_path_pop(&ctx->path, mark);
	return rc;
}
