/* Tests for exporters/trace_params.c: the query parameters Jaeger and Zipkin share. */
#include <criterion/criterion.h>
#include <string.h>

#include "core/arena.h"
#include "exporters/trace_params.h"

static void assert_hex16(const uint8_t id[16], const char *want)
{
	char hex[33];
	ml_hex_encode(hex, id, 16);
	cr_assert_str_eq(hex, want);
}

Test(trace_params, trace_ids_of_any_length_are_left_padded)
{
	uint8_t id[16];
	struct ml_err err;
	cr_assert_eq(ml_trace_id_parse("4e441824ec2b6a44ffdc9bb9a6453df3", 32, id, &err), 0);
	assert_hex16(id, "4e441824ec2b6a44ffdc9bb9a6453df3");
	cr_assert_eq(ml_trace_id_parse("FFDC9BB9A6453DF3", 16, id, &err), 0);
	assert_hex16(id, "0000000000000000ffdc9bb9a6453df3");
	/* Jaeger drops leading zeros, so odd lengths happen. */
	cr_assert_eq(ml_trace_id_parse("abc", 3, id, &err), 0);
	assert_hex16(id, "00000000000000000000000000000abc");
	/* Only n bytes are read: the text after is ignored. */
	cr_assert_eq(ml_trace_id_parse("1fXXXX", 2, id, &err), 0);
	assert_hex16(id, "0000000000000000000000000000001f");
}

Test(trace_params, bad_trace_ids_say_why)
{
	uint8_t id[16];
	struct ml_err err;
	cr_assert_eq(ml_trace_id_parse("", 0, id, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "trace id must be 1 to 32 hex digits, got 0");
	cr_assert_eq(ml_trace_id_parse("4e441824ec2b6a44ffdc9bb9a6453df3ab", 34, id, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "trace id must be 1 to 32 hex digits, got 34");
	cr_assert_eq(ml_trace_id_parse("12g4", 4, id, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "trace id \"12g4\" has a non-hex character at position 2");
	cr_assert_eq(ml_trace_id_parse("0000", 4, id, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "trace id must not be all zeros");
}

Test(trace_params, unsigned_integers)
{
	uint64_t v;
	struct ml_err err;
	cr_assert_eq(ml_trace_param_u64("endTs", "1700000000000", 13, &v, &err), 0);
	cr_assert_eq(v, 1700000000000ull);
	cr_assert_eq(ml_trace_param_u64("limit", "18446744073709551615", 20, &v, &err), 0);
	cr_assert_eq(v, UINT64_MAX);
	cr_assert_eq(ml_trace_param_u64("limit", "18446744073709551616", 20, &v, &err), ML_EINVAL);
	cr_assert_eq(ml_trace_param_u64("limit", "-1", 2, &v, &err), ML_EINVAL);
	cr_assert_eq(ml_trace_param_u64("limit", "1.5", 3, &v, &err), ML_EINVAL);
	cr_assert_eq(ml_trace_param_u64("limit", "", 0, &v, &err), ML_EINVAL);
	cr_assert_eq(ml_trace_param_u64("limit", "ten", 3, &v, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "parameter limit: expected a non-negative integer, got \"ten\"");
}

static void assert_tag(const struct ml_tag_filter *t, const char *k, const char *v)
{
	cr_assert(ml_str_eq_cstr(t->key, k), "key \"%.*s\" != \"%s\"", (int)t->key.n, t->key.p, k);
	if (v == NULL) {
		cr_assert_null(t->value.p);
		cr_assert_eq(t->value.n, 0);
	} else {
		cr_assert_not_null(t->value.p);
		cr_assert(ml_str_eq_cstr(t->value, v), "value \"%.*s\" != \"%s\"", (int)t->value.n,
			  t->value.p, v);
	}
}

Test(trace_params, jaeger_tags_json_and_kv_accumulate)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_tag_filter *tags = NULL;
	size_t n = 0;
	struct ml_err err;
	const char *json = "{\"error\":\"true\",\"http.status_code\":500,\"ok\":false}";
	cr_assert_eq(ml_trace_tags_json(json, strlen(json), a, &tags, &n, &err), 0, "%s", err.msg);
	cr_assert_eq(ml_trace_tag_kv("http.url:http://x:9080/a", 24, a, &tags, &n, &err), 0);
	cr_assert_eq(n, 4);
	assert_tag(&tags[0], "error", "true");
	assert_tag(&tags[1], "http.status_code", "500");
	assert_tag(&tags[2], "ok", "false");
	assert_tag(&tags[3], "http.url", "http://x:9080/a");

	cr_assert_eq(ml_trace_tags_json("[1]", 3, a, &tags, &n, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "parameter tags: expected a JSON object") != NULL, "%s", err.msg);
	cr_assert_eq(ml_trace_tags_json("{\"a\":", 5, a, &tags, &n, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "parameter tags: invalid JSON") != NULL, "%s", err.msg);
	cr_assert_eq(ml_trace_tags_json("{\"a\":{}}", 8, a, &tags, &n, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "parameter tags: the value of \"a\" must be a string");
	cr_assert_eq(ml_trace_tag_kv("nocolon", 7, a, &tags, &n, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "parameter tag: expected key:value, got \"nocolon\"");
	cr_assert_eq(n, 4);
	ml_arena_destroy(a);
}

Test(trace_params, zipkin_annotation_query)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_tag_filter *tags = NULL;
	size_t n = 0;
	struct ml_err err;
	const char *q = "error and http.method=GET and  http.url = http://a/b=c  and ";
	cr_assert_eq(ml_trace_annotation_query(q, strlen(q), a, &tags, &n, &err), 0, "%s", err.msg);
	cr_assert_eq(n, 3);
	assert_tag(&tags[0], "error", NULL);
	assert_tag(&tags[1], "http.method", "GET");
	/* Split at the first '=': values may contain '='. */
	assert_tag(&tags[2], "http.url", "http://a/b=c");
	/* "and" inside a word is not a separator. */
	n = 0;
	q = "brand=sandy";
	cr_assert_eq(ml_trace_annotation_query(q, strlen(q), a, &tags, &n, &err), 0);
	cr_assert_eq(n, 1);
	assert_tag(&tags[0], "brand", "sandy");
	n = 0;
	cr_assert_eq(ml_trace_annotation_query("=x", 2, a, &tags, &n, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "parameter annotationQuery: a tag filter has an empty key");
	ml_arena_destroy(a);
}

Test(trace_params, filter_count_is_capped)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_tag_filter *tags = NULL;
	size_t n = 0;
	struct ml_err err;
	for (unsigned i = 0; i < ML_TRACE_MAX_TAG_FILTERS; i++)
		cr_assert_eq(ml_trace_tag_kv("k:v", 3, a, &tags, &n, &err), 0);
	cr_assert_eq(ml_trace_tag_kv("k:v", 3, a, &tags, &n, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "at most 64 tag filters per query");
	cr_assert_eq(n, ML_TRACE_MAX_TAG_FILTERS);
	ml_arena_destroy(a);
}
