/*
 * test_chunk.c - Gorilla chunk codec round trips, bit-exact.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
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
	/* The bulk decoder: everything, then the middle third by time. */
	struct ml_sample *out = calloc(n ? n : 1, sizeof(*out));
	size_t got;
	cr_assert_eq(ml_chunk_decode(p, len, INT64_MIN, INT64_MAX, out, &got), 0);
	cr_assert_eq(got, n);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(out[i].t_ms, ts[i], "bulk sample %zu", i);
		cr_assert_eq(bits(out[i].v), bits(vs[i]), "bulk sample %zu: value bits differ", i);
	}
	if (n >= 3) {
		size_t lo = n / 3, hi = 2 * n / 3;
		cr_assert_eq(ml_chunk_decode(p, len, ts[lo], ts[hi], out, &got), 0);
		cr_assert_eq(got, hi - lo + 1);
		cr_assert_eq(out[0].t_ms, ts[lo]);
		cr_assert_eq(out[got - 1].t_ms, ts[hi]);
	}
	free(out);
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

Test(chunk, bulk_decoder_rejects_truncation)
{
	struct ml_chunk_enc e;
	ml_chunk_enc_init(&e);
	for (int i = 0; i < 50; i++)
		ml_chunk_enc_append(&e, i * 1000 + (i * i) % 17, i * 1.5);
	size_t len, got;
	const uint8_t *p = ml_chunk_enc_bytes(&e, &len);
	struct ml_sample out[50];
	for (size_t cut = 0; cut < len; cut++)
		cr_assert_eq(ml_chunk_decode(p, cut, INT64_MIN, INT64_MAX, out, &got), ML_ECORRUPT,
		             "cut at %zu", cut);
	ml_chunk_enc_free(&e);
}

/*
 * Damaged chunks: both decoders give the same samples up to the damage and
 * then the same verdict, and never read outside the bytes (ASan run).
 */
Test(chunk, damaged_chunks_decode_alike)
{
	uint64_t seed = 42;
	for (int round = 0; round < 2000; round++) {
		struct ml_chunk_enc e;
		ml_chunk_enc_init(&e);
		int n = 1 + round % 120;
		for (int i = 0; i < n; i++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			double v = round % 3 == 0 ? (double)(seed >> 40) : fromb(seed) ;
			ml_chunk_enc_append(&e, (int64_t)i * 15000 + (int64_t)(seed % 7), v);
		}
		size_t len;
		const uint8_t *p0 = ml_chunk_enc_bytes(&e, &len);
		uint8_t *p = malloc(len);
		memcpy(p, p0, len);
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if (len > 2)
			p[2 + (seed >> 33) % (len - 2)] ^= (uint8_t)(1u << ((seed >> 20) % 8));
		struct ml_sample *out = calloc(65535, sizeof(*out));
		size_t got;
		int rb = ml_chunk_decode(p, len, INT64_MIN, INT64_MAX, out, &got);
		struct ml_chunk_it it;
		cr_assert_eq(ml_chunk_it_init(&it, p, len), 0);
		int64_t t;
		double v;
		size_t k = 0;
		int ri;
		while ((ri = ml_chunk_it_next(&it, &t, &v)) == 1) {
			if (rb == 0) {
				cr_assert(k < got, "round %d: more samples one by one", round);
				cr_assert_eq(out[k].t_ms, t, "round %d sample %zu", round, k);
				cr_assert_eq(bits(out[k].v), bits(v), "round %d sample %zu", round, k);
			}
			k++;
		}
		cr_assert_eq(ri == 0 ? 0 : ML_ECORRUPT, rb, "round %d: %d against %d", round, ri, rb);
		if (rb == 0)
			cr_assert_eq(k, got, "round %d", round);
		free(out);
		free(p);
		ml_chunk_enc_free(&e);
	}
}
