/* Tests for collector/http/body.c: Content-Encoding removal with caps, form parsing. */
#include <criterion/criterion.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "http/server.h"

static size_t gzip(const void *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t len = zs.total_out;
	deflateEnd(&zs);
	return len;
}

Test(body, gzip_and_zstd_round_trip)
{
	const char *text = "hello meshlens hello meshlens hello meshlens";
	uint8_t z[256], *out;
	size_t zn = gzip(text, strlen(text), z, sizeof(z)), n;
	struct ml_err err;
	cr_assert_eq(ml_http_decode_body("gzip", z, zn, 1024, &out, &n, &err), 0);
	cr_assert_eq(n, strlen(text));
	cr_assert_eq(memcmp(out, text, n), 0);
	ml_free(out);

	size_t zs = ZSTD_compress(z, sizeof(z), text, strlen(text), 3);
	cr_assert_eq(ml_http_decode_body("zstd", z, zs, 1024, &out, &n, &err), 0);
	cr_assert_eq(n, strlen(text));
	cr_assert_eq(memcmp(out, text, n), 0);
	ml_free(out);

	cr_assert_eq(ml_http_decode_body(NULL, (const uint8_t *)text, 5, 1024, &out, &n, &err), 0);
	cr_assert_eq(n, 5);
	ml_free(out);
}

Test(body, decompression_bomb_is_capped)
{
	static uint8_t zeros[1 << 20];
	static uint8_t z[1 << 16];
	size_t zn = gzip(zeros, sizeof(zeros), z, sizeof(z));
	cr_assert_lt(zn, 4096, "a megabyte of zeros compresses to a few KiB");
	uint8_t *out;
	size_t n;
	struct ml_err err;
	cr_assert_eq(ml_http_decode_body("gzip", z, zn, 64 * 1024, &out, &n, &err), ML_ETOOBIG);
	cr_assert(strstr(err.msg, "65536") != NULL, "message names the limit: %s", err.msg);
	size_t zs = ZSTD_compress(z, sizeof(z), zeros, sizeof(zeros), 3);
	cr_assert_eq(ml_http_decode_body("zstd", z, zs, 64 * 1024, &out, &n, &err), ML_ETOOBIG);
}

Test(body, corrupt_truncated_and_unknown)
{
	uint8_t z[256], *out;
	size_t n;
	struct ml_err err;
	const char *text = "some text that will be compressed and then cut short";
	size_t zn = gzip(text, strlen(text), z, sizeof(z));
	cr_assert_eq(ml_http_decode_body("gzip", z, zn / 2, 1024, &out, &n, &err), ML_EINVAL);
	cr_assert(strstr(err.msg, "gzip") != NULL);
	cr_assert_eq(ml_http_decode_body("gzip", (const uint8_t *)"not gzip at all", 15, 1024, &out,
					 &n, &err),
		     ML_EINVAL);
	cr_assert_eq(ml_http_decode_body("zstd", (const uint8_t *)"not zstd at all", 15, 1024, &out,
					 &n, &err),
		     ML_EINVAL);
	cr_assert_eq(ml_http_decode_body("br", z, zn, 1024, &out, &n, &err), ML_EUNSUPP);
	cr_assert(strstr(err.msg, "\"br\"") != NULL, "message names the encoding: %s", err.msg);
}

Test(body, form_parsing_decodes_and_keeps_repeats)
{
	struct ml_arena *a = ml_arena_create(0);
	struct ml_http_param *p = NULL;
	size_t n = 0;
	const char *form = "query=sum%28rate%28x%5B5m%5D%29%29&match[]=up&match[]=a+b&empty=&flag&bad=%zz";
	cr_assert_eq(ml_http_parse_form(a, form, strlen(form), &p, &n), 0);
	cr_assert_eq(n, 6);
	cr_assert_str_eq(p[0].name, "query");
	cr_assert_str_eq(p[0].value, "sum(rate(x[5m]))");
	cr_assert_str_eq(p[1].value, "up");
	cr_assert_str_eq(p[2].name, "match[]");
	cr_assert_str_eq(p[2].value, "a b");
	cr_assert_str_eq(p[3].value, "");
	cr_assert_str_eq(p[4].name, "flag");
	cr_assert_str_eq(p[5].value, "%zz");
	ml_arena_destroy(a);
}
