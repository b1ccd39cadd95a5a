/* Tests for collector/core/arena.c and buf.c. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/alloc.h"
#include "core/arena.h"
#include "core/buf.h"

Test(arena, alignment_and_big_blocks)
{
	struct ml_arena *a = ml_arena_create(1024);
	cr_assert_not_null(a);
	for (int i = 1; i < 100; i++) {
		void *p = ml_arena_alloc(a, (size_t)i);
		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p % 16, 0);
		memset(p, 0xab, (size_t)i);
	}
	char *big = ml_arena_alloc(a, 100000);
	cr_assert_not_null(big);
	memset(big, 1, 100000);
	/* The head block keeps serving small allocations after a big one. */
	cr_assert_not_null(ml_arena_alloc(a, 8));
	cr_assert_geq(ml_arena_used(a), 100000);
	ml_arena_reset(a);
	cr_assert_eq(ml_arena_used(a), 0);
	cr_assert_not_null(ml_arena_strndup(a, "abc", 3));
	ml_arena_destroy(a);
	ml_arena_destroy(NULL);
}

Test(arena, calloc_overflow_is_refused)
{
	struct ml_arena *a = ml_arena_create(0);
	cr_assert_null(ml_arena_calloc(a, SIZE_MAX / 2, 4));
	ml_arena_destroy(a);
}

Test(arena, allocation_failure_is_reported)
{
	struct ml_arena *a = ml_arena_create(1024);
	ml_alloc_fail_after(0);
	cr_assert_null(ml_arena_alloc(a, 10));
	ml_alloc_fail_after(-1);
	cr_assert_not_null(ml_arena_alloc(a, 10));
	ml_arena_destroy(a);
}

Test(buf, varints_round_trip_and_reader_bounds)
{
	struct ml_buf b = ML_BUF_INIT;
	const uint64_t u[] = {0, 1, 127, 128, 300, UINT64_MAX};
	const int64_t s[] = {0, -1, 1, INT64_MIN, INT64_MAX};
	for (size_t i = 0; i < 6; i++)
		ml_buf_put_uvarint(&b, u[i]);
	for (size_t i = 0; i < 5; i++)
		ml_buf_put_svarint(&b, s[i]);
	ml_buf_put_be64(&b, 0x0102030405060708ULL);
	cr_assert(ml_buf_ok(&b));
	struct ml_reader r = ml_reader_make(b.data, b.len);
	for (size_t i = 0; i < 6; i++)
		cr_assert_eq(ml_read_uvarint(&r), u[i]);
	for (size_t i = 0; i < 5; i++)
		cr_assert_eq(ml_read_svarint(&r), s[i]);
	cr_assert_eq(ml_read_be64(&r), 0x0102030405060708ULL);
	cr_assert_not(r.bad);
	ml_read_be32(&r);
	cr_assert(r.bad, "reading past the end must mark the reader bad");
	ml_buf_free(&b);
}

Test(buf, printf_longer_than_stack_buffer)
{
	struct ml_buf b = ML_BUF_INIT;
	char big[1000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ml_buf_printf(&b, "<%s>", big);
	cr_assert_eq(b.len, 1001);
	cr_assert_eq(b.data[0], '<');
	cr_assert_eq(b.data[1000], '>');
	ml_buf_free(&b);
}
