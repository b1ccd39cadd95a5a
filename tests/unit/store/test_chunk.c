/*
 * test_chunk.c - Gorilla chunk codec round trips, bit-exact.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "model/sample.h"
#include "store/chunk.h"

static uint64_t bits(double v)
{
	uint64_t b;
	memcpy(&b, &v, 8);
	return b;
}

static double fromb(uint64_t b)
{
	double v;
	memcpy(&v, &b, 8);
	return v;
}

/* Encodes n samples, decodes them and checks every timestamp and value bit. */
static size_t roundtrip(const int64_t *ts, const double *vs, size_t n)
{
	struct ml_chunk_enc e;
	ml_chunk_enc_init(&e);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(ml_chunk_enc_append(&e, ts[i], vs[i]), 0, "append %zu", i);
	size_t len;
	const uint8_t *p = ml_chunk_enc_bytes(&e, &len);
	struct ml_chunk_it it;
	cr_assert_eq(ml_chunk_it_init(&it, p, len), 0);
	cr_assert_eq(ml_chunk_it_count(&it), n);
	for (size_t i = 0; i < n; i++) {
		int64_t t;
		double v;
		cr_assert_eq(ml_chunk_it_next(&it, &t, &v), 1, "sample %zu", i);
		cr_assert_eq(t, ts[i], "sample %zu: t %lld != %lld", i, (long long)t, (long long)ts[i]);
		cr_assert_eq(bits(v), bits(vs[i]), "sample %zu: value bits differ", i);
	}
	int64_t t;
	double v;
	cr_assert_eq(ml_chunk_it_next(&it, &t, &v), 0);
	ml_chunk_enc_free(&e);
	return len;
}

Test(chunk, one_sample)
{
	int64_t t = 1700000000000;
	double v = 42.5;
	roundtrip(&t, &v, 1);
}

Test(chunk, special_values)
{
	int64_t ts[8];
	double vs[8] = {NAN, INFINITY, -INFINITY, fromb(ML_STALE_NAN_BITS), 0.0, -0.0,
			fromb(ML_STALE_NAN_BITS), 1e-310};
	for (int i = 0; i < 8; i++)
		ts[i] = 1000 + i * 15000;
	roundtrip(ts, vs, 8);
}

Test(chunk, regular_and_irregular_timestamps)
{
	enum { N = 300 };
	int64_t ts[N];
	double vs[N];
	uint32_t x = 12345; /* fixed-seed LCG */
	int64_t t = 1700000000000;
	for (int i = 0; i < N; i++) {
		x = x * 1103515245u + 12345u;
		t += (i < 100) ? 15000 : (int64_t)(x % 70000) + 1; /* regular, then jittered */
		ts[i] = t;
		vs[i] = (i % 3) ? (double)(i * 7) : (double)(x % 1000) / 7.0;
	}
	size_t len = roundtrip(ts, vs, N);
	cr_assert_lt(len, (size_t)N * 16, "no compression at all: %zu bytes", len);
}

Test(chunk, equal_values_compress_well)
{
	enum { N = 120 };
	int64_t ts[N];
	double vs[N];
	for (int i = 0; i < N; i++) {
		ts[i] = 1700000000000 + i * 15000;
		vs[i] = 1.0;
	}
	size_t len = roundtrip(ts, vs, N);
	/* 16 bytes for the first sample, 20 bits for the first delta, then 2 bits per sample. */
	cr_assert_leq(len, 2 + 16 + 3 + N / 4 + 1, "%zu bytes", len);
}

Test(chunk, huge_and_negative_deltas)
{
	int64_t ts[] = {INT64_MIN, -5000000000000, -1, 0, 1, 1000000, 1000001, INT64_MAX - 1, INT64_MAX};
	double vs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
	roundtrip(ts, vs, sizeof(ts) / sizeof(ts[0]));
}

Test(chunk, counter_like_values)
{
	enum { N = 1000 };
	int64_t ts[N];
	double vs[N];
	double c = 0;
	for (int i = 0; i < N; i++) {
		ts[i] = 1700000000000 + i * 15000 + (i % 7);
		c += (double)(i % 13);
		vs[i] = c;
	}
	size_t len = roundtrip(ts, vs, N);
	cr_assert_lt(len, (size_t)N * 6, "counter chunk too big: %zu bytes", len);
}

Test(chunk, truncated_input_is_corrupt_not_a_crash)
{
	struct ml_chunk_enc e;
	ml_chunk_enc_init(&e);
	for (int i = 0; i < 50; i++)
		ml_chunk_enc_append(&e, i * 1000 + (i * i) % 17, i * 1.5);
	size_t len;
	const uint8_t *p = ml_chunk_enc_bytes(&e, &len);
	for (size_t cut = 0; cut < len; cut++) {
		struct ml_chunk_it it;
		int rc = ml_chunk_it_init(&it, p, cut);
		int64_t t;
		double v;
		int n = 0;
		while (rc >= 0 && (rc = ml_chunk_it_next(&it, &t, &v)) == 1)
			n++;
		cr_assert(rc == ML_ECORRUPT, "cut at %zu: rc %d after %d samples", cut, rc, n);
	}
	ml_chunk_enc_free(&e);
}
