/*
 * body.c - request body decoding: Content-Encoding removal with a hard cap
 * on the decoded size (a few KiB of gzip can inflate to gigabytes), and
 * form/query string parsing.
 */
#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"
#include "http/server.h"

#include <string.h>
#include <strings.h>
#include <snappy-c.h>
#include <zlib.h>
#include <zstd.h>

static int inflate_body(const uint8_t *in, size_t len, size_t max, int window_bits,
			struct ml_buf *out, struct ml_err *err)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, window_bits) != Z_OK)
		return ml_err_set(err, ML_ENOMEM, "gzip: cannot initialise decoder");
	int rc = 0;
	zs.next_in = (Bytef *)(uintptr_t)in;
	zs.avail_in = (uInt)len;
	for (;;) {
		uint8_t *dst = ml_buf_reserve(out, 64 * 1024);
		if (dst == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory decompressing the body");
			goto done;
		}
		zs.next_out = dst;
		zs.avail_out = 64 * 1024;
		int z = inflate(&zs, Z_NO_FLUSH);
		out->len += 64 * 1024 - zs.avail_out;
		if (out->len > max) {
			rc = ml_err_set(err, ML_ETOOBIG,
					"decompressed body exceeds the limit of %zu bytes", max);
			goto done;
		}
		if (z == Z_STREAM_END)
			break;
		if (z == Z_BUF_ERROR && zs.avail_in == 0) {
			rc = ml_err_set(err, ML_EINVAL, "gzip: body is truncated");
			goto done;
		}
		if (z != Z_OK) {
			rc = ml_err_set(err, ML_EINVAL, "gzip: corrupt stream (%s)",
					zs.msg ? zs.msg : "invalid data");
			goto done;
		}
	}
done:
	inflateEnd(&zs);
	return rc;
}

static int zstd_body(const uint8_t *in, size_t len, size_t max, struct ml_buf *out,
		     struct ml_err *err)
{
	ZSTD_DStream *ds = ZSTD_createDStream();
	if (ds == NULL)
		return ml_err_set(err, ML_ENOMEM, "zstd: cannot initialise decoder");
	int rc = 0;
	ZSTD_inBuffer ib = {in, len, 0};
	size_t last = 1;
	while (ib.pos < ib.size || last != 0) {
		uint8_t *dst = ml_buf_reserve(out, 64 * 1024);
		if (dst == NULL) {
			rc = ml_err_set(err, ML_ENOMEM, "out of memory decompressing the body");
			goto done;
		}
		ZSTD_outBuffer ob = {dst, 64 * 1024, 0};
		size_t before = ib.pos;
		last = ZSTD_decompressStream(ds, &ob, &ib);
		if (ZSTD_isError(last)) {
			rc = ml_err_set(err, ML_EINVAL, "zstd: corrupt stream (%s)",
					ZSTD_getErrorName(last));
			goto done;
		}
		out->len += ob.pos;
		if (out->len > max) {
			rc = ml_err_set(err, ML_ETOOBIG,
					"decompressed body exceeds the limit of %zu bytes", max);
			goto done;
		}
		if (ib.pos == ib.size && ob.pos == 0 && before == ib.pos && last != 0) {
			rc = ml_err_set(err, ML_EINVAL, "zstd: body is truncated");
			goto done;
		}
	}
done:
	ZSTD_freeDStream(ds);
	return rc;
}

/* Snappy block format, as Prometheus remote write uses it (Content-Encoding: snappy). */
static int snappy_body(const uint8_t *in, size_t len, size_t max, struct ml_buf *out,
		       struct ml_err *err)
{
	size_t n;
	if (snappy_uncompressed_length((const char *)in, len, &n) != SNAPPY_OK)
		return ml_err_set(err, ML_EINVAL, "snappy: corrupt input");
	if (n > max)
		return ml_err_set(err, ML_ETOOBIG,
				  "decompressed body exceeds the limit of %zu bytes (snappy header says %zu)",
				  max, n);
	uint8_t *dst = ml_buf_reserve(out, n ? n : 1);
	if (dst == NULL)
		return ml_err_set(err, ML_ENOMEM, "out of memory decompressing the body");
	size_t got = n;
	if (snappy_uncompress((const char *)in, len, (char *)dst, &got) != SNAPPY_OK || got != n)
		return ml_err_set(err, ML_EINVAL, "snappy: corrupt input");
	out->len += got;
	return 0;
}

int ml_http_decode_body(const char *encoding, const uint8_t *in, size_t len, size_t max,
			uint8_t **out, size_t *out_len, struct ml_err *err)
{
	struct ml_buf b = ML_BUF_INIT;
	int rc;
	*out = NULL;
	*out_len = 0;
	if (encoding == NULL || *encoding == '\0' || strcasecmp(encoding, "identity") == 0) {
		if (len > max)
			return ml_err_set(err, ML_ETOOBIG, "body exceeds the limit of %zu bytes", max);
		ml_buf_append(&b, in, len);
		rc = ml_buf_ok(&b) ? 0 : ml_err_set(err, ML_ENOMEM, "out of memory");
	} else if (strcasecmp(encoding, "gzip") == 0 || strcasecmp(encoding, "x-gzip") == 0) {
		rc = inflate_body(in, len, max, 16 + MAX_WBITS, &b, err);
	} else if (strcasecmp(encoding, "deflate") == 0) {
		rc = inflate_body(in, len, max, MAX_WBITS, &b, err);
	} else if (strcasecmp(encoding, "zstd") == 0) {
		rc = zstd_body(in, len, max, &b, err);
	} else if (strcasecmp(encoding, "snappy") == 0) {
		rc = snappy_body(in, len, max, &b, err);
	} else {
		return ml_err_set(err, ML_EUNSUPP,
				  "unsupported Content-Encoding \"%.64s\": use gzip, deflate, zstd, snappy or identity",
				  encoding);
	}
	if (rc != 0) {
		ml_buf_free(&b);
		return rc;
	}
	*out = ml_buf_steal(&b, out_len);
	return 0;
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

/* Percent-decodes s[0..n) ('+' is a space) into a NUL-terminated arena string. */
static char *url_decode(struct ml_arena *arena, const char *s, size_t n)
{
	char *d = ml_arena_alloc(arena, n + 1);
	if (d == NULL)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			d[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			d[o++] = (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]));
			i += 2;
		} else {
			d[o++] = s[i];
		}
	}
	d[o] = '\0';
	return d;
}

int ml_http_parse_form(struct ml_arena *arena, const char *s, size_t len,
		       struct ml_http_param **params, size_t *n)
{
	size_t count = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '&')
			count++;
	count++;
	struct ml_http_param *p = ml_arena_calloc(arena, *n + count, sizeof(*p));
	if (p == NULL)
		return ML_ENOMEM;
	if (*n)
		memcpy(p, *params, *n * sizeof(*p));
	size_t k = *n;
	size_t start = 0;
	while (start <= len) {
		size_t end = start;
		while (end < len && s[end] != '&')
			end++;
		if (end > start) {
			size_t eq = start;
			while (eq < end && s[eq] != '=')
				eq++;
			p[k].name = url_decode(arena, s + start, eq - start);
			p[k].value = eq < end ? url_decode(arena, s + eq + 1, end - eq - 1)
					      : url_decode(arena, "", 0);
			if (p[k].name == NULL || p[k].value == NULL)
				return ML_ENOMEM;
			k++;
		}
		start = end + 1;
	}
	*params = p;
	*n = k;
	return 0;
}
