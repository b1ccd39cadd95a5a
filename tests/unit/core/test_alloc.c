/*
 * test_alloc.c - collector/core/alloc.c: the growable-array helper.
 */
#include <criterion/criterion.h>

#include <stdint.h>

#include "core/alloc.h"
#include "core/error.h"

Test(alloc, grow_doubles_zeroes_and_keeps_contents)
{
	uint32_t *a = NULL;
	size_t cap = 0;
	cr_assert_eq(ml_grow(&a, &cap, 1, sizeof(*a)), 0);
	cr_assert_eq(cap, 16);
	for (size_t i = 0; i < 16; i++) {
		cr_assert_eq(a[i], 0);
		a[i] = (uint32_t)i + 1;
	}
	cr_assert_eq(ml_grow(&a, &cap, 16, sizeof(*a)), 0);
	cr_assert_eq(cap, 16, "no growth when it fits");
	cr_assert_eq(ml_grow(&a, &cap, 100, sizeof(*a)), 0);
	cr_assert_eq(cap, 128);
	for (size_t i = 0; i < 16; i++)
		cr_assert_eq(a[i], i + 1);
	for (size_t i = 16; i < 128; i++)
		cr_assert_eq(a[i], 0);
	ml_free(a);
}

Test(alloc, grow_fails_cleanly)
{
	uint64_t *a = NULL;
	size_t cap = 0;
	cr_assert_eq(ml_grow(&a, &cap, 4, sizeof(*a)), 0);
	a[3] = 7;
	ml_alloc_fail_after(0);
	cr_assert_eq(ml_grow(&a, &cap, 1000, sizeof(*a)), ML_ENOMEM);
	ml_alloc_fail_after(-1);
	cr_assert_eq(cap, 16, "capacity unchanged");
	cr_assert_eq(a[3], 7, "contents unchanged");
	cr_assert_eq(ml_grow(&a, &cap, SIZE_MAX / 2, sizeof(*a)), ML_ENOMEM, "size overflow");
	ml_free(a);
}
