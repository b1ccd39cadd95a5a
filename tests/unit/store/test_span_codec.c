/*
 * test_span_codec.c - the binary span encoding: every field survives a round
 * trip in both flavours, streams shrink repeated strings, and corrupt input
 * is rejected with ML_ECORRUPT instead of crashing.
 */
#include "store_fixtures.h"

#include "core/alloc.h"
#include "core/buf.h"
#include "core/error.h"
#include "store/span_codec.h"

static struct ml_arena *arena;

static void setup(void)
{
	arena = ml_arena_create(0);
}

static void teardown(void)
{
	ml_arena_destroy(arena);
}

TestSuite(span_codec, .init = setup, .fini = teardown);

Test(span_codec, standalone_round_trip_keeps_every_field)
{
	struct ml_span in, out;
	struct ml_buf buf = ML_BUF_INIT;
	struct ml_span_enc e;
	struct ml_span_dec d;
	fx_full_span(arena, &in, 1);
	cr_assert_eq(ml_span_enc_init(&e, &buf, false), 0);
	ml_span_encode(&e, &in);
	cr_assert(ml_buf_ok(&buf));
	ml_span_dec_init(&d, buf.data, buf.len, false, true);
	cr_assert_eq(ml_span_decode(&d, arena, &out), 0);
	cr_assert(ml_span_dec_done(&d));
	/* copy mode: nothing points into the encoding any more */
	memset(buf.data, 0xee, buf.len);
	fx_assert_span_eq(&in, &out);
	ml_span_dec_free(&d);
	ml_span_enc_free(&e);
	ml_buf_free(&buf);
}

Test(span_codec, minimal_span_round_trip)
{
	struct ml_resource res = {ML_STR("svc"), {NULL, 0}, {NULL, 0}, {NULL, 0}};
	struct ml_span in, out;
	memset(&in, 0, sizeof(in));
	in.resource = &res;
	in.start_ns = 5;
	in.end_ns = 5;
	struct ml_buf buf = ML_BUF_INIT;
	struct ml_span_enc e;
	struct ml_span_dec d;
	ml_span_enc_init(&e, &buf, false);
	ml_span_encode(&e, &in);
	ml_span_dec_init(&d, buf.data, buf.len, false, false);
	cr_assert_eq(ml_span_decode(&d, arena, &out), 0);
	fx_assert_span_eq(&in, &out);
	cr_assert_lt(buf.len, 40, "a bare span takes %zu bytes", buf.len);
	ml_span_dec_free(&d);
	ml_span_enc_free(&e);
	ml_buf_free(&buf);
}

Test(span_codec, stream_round_trip_and_string_table)
{
	struct ml_span_batch b;
	uint64_t rng = 42;
	ml_span_batch_init(&b, arena);
	for (int t = 0; t < 20; t++)
		fx_envoy_trace(&b, &rng, (uint64_t)t, 1700000000000000000ULL + (uint64_t)t * 1000000);
	struct ml_span full;
	fx_full_span(arena, &full, 9);
	*ml_span_batch_add(&b) = full;

	struct ml_buf sbuf = ML_BUF_INIT, abuf = ML_BUF_INIT;
	struct ml_span_enc se, ae;
	cr_assert_eq(ml_span_enc_init(&se, &sbuf, true), 0);
	ml_span_enc_init(&ae, &abuf, false);
	for (size_t i = 0; i < b.n; i++) {
		ml_span_encode(&se, &b.spans[i]);
		ml_span_encode(&ae, &b.spans[i]);
	}
	cr_assert(ml_buf_ok(&sbuf));
	/* the table turns repeated tag keys and values into back-references */
	cr_assert_lt(sbuf.len * 3, abuf.len, "stream %zu bytes vs standalone %zu", sbuf.len, abuf.len);

	struct ml_span_dec d;
	ml_span_dec_init(&d, sbuf.data, sbuf.len, true, false);
	for (size_t i = 0; i < b.n; i++) {
		struct ml_span out;
		cr_assert_eq(ml_span_decode(&d, arena, &out), 0, "span %zu", i);
		fx_assert_span_eq(&b.spans[i], &out);
	}
	cr_assert(ml_span_dec_done(&d));
	ml_span_dec_free(&d);

	/* after a reset the stream starts again from scratch */
	ml_span_enc_reset(&se);
	ml_buf_clear(&sbuf);
	ml_span_encode(&se, &b.spans[3]);
	ml_span_dec_init(&d, sbuf.data, sbuf.len, true, false);
	struct ml_span out;
	cr_assert_eq(ml_span_decode(&d, arena, &out), 0);
	fx_assert_span_eq(&b.spans[3], &out);
	ml_span_dec_free(&d);
	ml_span_enc_free(&se);
	ml_span_enc_free(&ae);
	ml_buf_free(&sbuf);
	ml_buf_free(&abuf);
}

static int decode_all(const uint8_t *p, size_t n, bool stream)
{
	struct ml_span_dec d;
	struct ml_arena *a = ml_arena_create(0);
	int rc = 0;
	ml_span_dec_init(&d, p, n, stream, false);
	while (rc == 0 && !ml_span_dec_done(&d)) {
		struct ml_span s;
		rc = ml_span_decode(&d, a, &s);
	}
	ml_span_dec_free(&d);
	ml_arena_destroy(a);
	return rc;
}

Test(span_codec, corrupt_input_is_rejected)
{
	struct ml_span in[3];
	struct ml_buf buf = ML_BUF_INIT;
	struct ml_span_enc e;
	for (int i = 0; i < 3; i++)
		fx_full_span(arena, &in[i], (uint64_t)i);
	ml_span_enc_init(&e, &buf, true);
	for (int i = 0; i < 3; i++)
		ml_span_encode(&e, &in[i]);
	cr_assert_eq(decode_all(buf.data, buf.len, true), 0);

	/* every truncation fails cleanly */
	size_t truncated_ok = 0;
	for (size_t n = 0; n < buf.len; n++)
		if (decode_all(buf.data, n, true) == 0)
			truncated_ok++;
	/* only cuts exactly between spans decode (0, 1 and 2 whole spans) */
	cr_assert_leq(truncated_ok, 3);

	/* flipped bytes: never a crash, and a bad flag set or length is caught */
	uint8_t *copy = ml_malloc(buf.len);
	uint64_t rng = 7;
	size_t rejected = 0;
	for (int round = 0; round < 3000; round++) {
		memcpy(copy, buf.data, buf.len);
		size_t at = fx_rand(&rng) % buf.len;
		copy[at] ^= (uint8_t)(1 + fx_rand(&rng) % 255);
		if (decode_all(copy, buf.len, true) == ML_ECORRUPT)
			rejected++;
	}
	cr_assert_gt(rejected, 100);

	/* a flags varint with unknown bits, and a string reference out of range */
	uint8_t bad_flags[] = {0xff, 0xff, 0x03};
	cr_assert_eq(decode_all(bad_flags, sizeof(bad_flags), true), ML_ECORRUPT);
	uint8_t bad_ref[64] = {0x09};
	memset(bad_ref + 1, 0x11, 24);
	bad_ref[25] = (50 << 1) | 1; /* name: reference 50 in an empty table */
	cr_assert_eq(decode_all(bad_ref, 26, true), ML_ECORRUPT);
	/* a huge length */
	uint8_t huge[40] = {0x09};
	memset(huge + 1, 0x22, 24);
	memcpy(huge + 25, "\xff\xff\xff\xff\x0f", 5);
	cr_assert_eq(decode_all(huge, 30, false), ML_ECORRUPT);
	ml_free(copy);
	ml_span_enc_free(&e);
	ml_buf_free(&buf);
}

Test(span_codec, attribute_text_and_error_flag)
{
	char buf[64];
	struct ml_attr a = {ML_STR("k"), ML_VAL_INT, {.i = -42}};
	cr_assert(ml_str_eq_cstr(ml_attr_text(&a, buf, sizeof(buf)), "-42"));
	a.type = ML_VAL_DOUBLE;
	a.v.d = 0.1;
	cr_assert(ml_str_eq_cstr(ml_attr_text(&a, buf, sizeof(buf)), "0.1"));
	a.type = ML_VAL_BOOL;
	a.v.b = true;
	cr_assert(ml_str_eq_cstr(ml_attr_text(&a, buf, sizeof(buf)), "true"));
	a.type = ML_VAL_BYTES;
	a.v.s = ml_str_make("\x01\xab", 2);
	cr_assert(ml_str_eq_cstr(ml_attr_text(&a, buf, sizeof(buf)), "01ab"));

	struct ml_span s;
	memset(&s, 0, sizeof(s));
	cr_assert_not(ml_span_is_error(&s));
	struct ml_attr e = {ML_STR("error"), ML_VAL_STRING, {.s = ML_STR("true")}};
	s.attrs.items = &e;
	s.attrs.n = 1;
	cr_assert(ml_span_is_error(&s));
	s.attrs.n = 0;
	s.status_code = ML_STATUS_ERROR;
	cr_assert(ml_span_is_error(&s));
}
