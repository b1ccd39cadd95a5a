/*
 * Tests for collector/ingest/json_util.c: the bounded parse, member look-up
 * under both names, proto3-JSON integer/double reads at their limits, error
 * paths, and base64.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "core/arena.h"
#include "ingest/json_util.h"

static json_t *parse(const char *text, struct ml_err *err)
{
	int code;
	return ml_json_load((const uint8_t *)text, strlen(text), 8, err, &code);
}

Test(json_util, depth_counts_brackets_outside_strings_only)
{
	struct ml_err err;
	json_t *v = parse("{\"a\":\"[[[[[[[[[[[[[[[[\"}", &err);
	cr_assert_not_null(v, "%s", err.msg);
	json_decref(v);
	cr_assert_null(parse("[[[[[[[[[]]]]]]]]]", &err)); /* 9 deep, limit 8 */
	cr_assert_str_eq(err.msg, "json: nesting deeper than 8");
	v = parse("[[[[[[[[]]]]]]]]", &err); /* exactly 8 */
	cr_assert_not_null(v, "%s", err.msg);
	json_decref(v);
	/* an escaped quote does not end the string */
	v = parse("[\"\\\"[[[[[[[[[[\"]", &err);
	cr_assert_not_null(v, "%s", err.msg);
	json_decref(v);
}

Test(json_util, member_prefers_camel_then_snake_and_null_is_absent)
{
	struct ml_err err;
	json_t *o = parse("{\"traceId\":null,\"trace_id\":\"x\",\"spanId\":\"a\",\"span_id\":\"b\"}", &err);
	cr_assert_str_eq(json_string_value(ml_json_member(o, "traceId", "trace_id")), "x");
	cr_assert_str_eq(json_string_value(ml_json_member(o, "spanId", "span_id")), "a");
	cr_assert_null(ml_json_member(o, "name", NULL));
	cr_assert_null(ml_json_member(json_object_get(o, "spanId"), "a", NULL));
	json_decref(o);
}

Test(json_util, u64_and_i64_limits)
{
	struct ml_err err;
	struct ml_json_path path;
	uint64_t u;
	int64_t i;
	ml_json_path_init(&path);
	json_t *o = parse("[\"18446744073709551615\",\"18446744073709551616\",\"-9223372036854775808\","
			  "\"9223372036854775808\",\"\",\"+1\",1.0e3,1.5]",
			  &err);
	cr_assert_eq(ml_json_get_u64(json_array_get(o, 0), &u, &path, "x", &err), 0);
	cr_assert_eq(u, UINT64_MAX);
	cr_assert_eq(ml_json_get_u64(json_array_get(o, 1), &u, &path, "x", &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "x: expected a decimal string, got \"18446744073709551616\"");
	cr_assert_eq(ml_json_get_i64(json_array_get(o, 2), &i, &path, "x", &err), 0);
	cr_assert_eq(i, INT64_MIN);
	cr_assert_eq(ml_json_get_i64(json_array_get(o, 3), &i, &path, "x", &err), ML_EINVAL);
	cr_assert_eq(ml_json_get_u64(json_array_get(o, 4), &u, &path, "x", &err), ML_EINVAL);
	cr_assert_eq(ml_json_get_u64(json_array_get(o, 5), &u, &path, "x", &err), ML_EINVAL);
	cr_assert_eq(ml_json_get_u64(json_array_get(o, 6), &u, &path, "x", &err), 0);
	cr_assert_eq(u, 1000);
	cr_assert_eq(ml_json_get_u64(json_array_get(o, 7), &u, &path, "x", &err), ML_EINVAL);
	json_decref(o);
}

Test(json_util, double_accepts_the_proto3_special_strings)
{
	struct ml_err err;
	struct ml_json_path path;
	double d;
	ml_json_path_init(&path);
	json_t *o = parse("[\"NaN\",\"Infinity\",\"-Infinity\",\"2.5\",2,\"2.5x\"]", &err);
	cr_assert_eq(ml_json_get_double(json_array_get(o, 0), &d, &path, NULL, &err), 0);
	cr_assert(isnan(d));
	cr_assert_eq(ml_json_get_double(json_array_get(o, 1), &d, &path, NULL, &err), 0);
	cr_assert(isinf(d) && d > 0);
	cr_assert_eq(ml_json_get_double(json_array_get(o, 2), &d, &path, NULL, &err), 0);
	cr_assert(isinf(d) && d < 0);
	cr_assert_eq(ml_json_get_double(json_array_get(o, 3), &d, &path, NULL, &err), 0);
	cr_assert_eq(d, 2.5);
	cr_assert_eq(ml_json_get_double(json_array_get(o, 4), &d, &path, NULL, &err), 0);
	cr_assert_eq(d, 2.0);
	cr_assert_eq(ml_json_get_double(json_array_get(o, 5), &d, &path, NULL, &err), ML_EINVAL);
	cr_assert_str_eq(err.msg, "expected a number, got \"2.5x\"");
	json_decref(o);
}

Test(json_util, paths_push_pop_and_truncate)
{
	struct ml_json_path p;
	struct ml_err err;
	ml_json_path_init(&p);
	size_t m = ml_json_path_key(&p, "resourceSpans");
	ml_json_path_index(&p, 2);
	size_t m2 = ml_json_path_key(&p, "scopeSpans");
	cr_assert_str_eq(p.buf, "resourceSpans[2].scopeSpans");
	ml_json_path_pop(&p, m2);
	cr_assert_str_eq(p.buf, "resourceSpans[2]");
	ml_json_fail(&err, ML_EINVAL, &p, "name", "expected %s", "a string");
	cr_assert_str_eq(err.msg, "resourceSpans[2].name: expected a string");
	ml_json_path_pop(&p, m);
	cr_assert_str_eq(p.buf, "");
	for (int i = 0; i < 100; i++)
		ml_json_path_key(&p, "abcdefgh");
	cr_assert_eq(p.len, sizeof(p.buf) - 1);
	cr_assert_eq(strlen(p.buf), p.len);
}

Test(json_util, base64_padded_unpadded_and_url_safe)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_str s;
	cr_assert_eq(ml_base64_decode(a, "AP8Q", 4, &s), 0);
	cr_assert(s.n == 3 && memcmp(s.p, "\x00\xff\x10", 3) == 0);
	cr_assert_eq(ml_base64_decode(a, "aGk=", 4, &s), 0);
	cr_assert(s.n == 2 && memcmp(s.p, "hi", 2) == 0);
	cr_assert_eq(ml_base64_decode(a, "aGk", 3, &s), 0);
	cr_assert(s.n == 2 && memcmp(s.p, "hi", 2) == 0);
	cr_assert_eq(ml_base64_decode(a, "-_8", 3, &s), 0);
	cr_assert(s.n == 2 && (uint8_t)s.p[0] == 0xfb && (uint8_t)s.p[1] == 0xff);
	cr_assert_eq(ml_base64_decode(a, "", 0, &s), 0);
	cr_assert_eq(s.n, 0);
	cr_assert_eq(ml_base64_decode(a, "a", 1, &s), ML_EINVAL);
	cr_assert_eq(ml_base64_decode(a, "a*b=", 4, &s), ML_EINVAL);
	ml_arena_destroy(a);
}
