/*
 * alloc.c - allocation wrapper with a failure-injection hook for tests.
 */
#include "core/alloc.h"
#include "core/error.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

static atomic_long fail_after = -1;

static int should_fail(void)
{
	long n = atomic_load_explicit(&fail_after, memory_order_relaxed);
	if (n < 0)
		return 0;
	if (n == 0)
		return 1;
	atomic_fetch_sub_explicit(&fail_after, 1, memory_order_relaxed);
	return 0;
}

void ml_alloc_fail_after(long n)
{
	atomic_store(&fail_after, n);
}

void *ml_malloc(size_t n)
{
	return should_fail() ? NULL : malloc(n ? n : 1);
}

void *ml_calloc(size_t count, size_t size)
{
	return should_fail() ? NULL : calloc(count ? count : 1, size ? size : 1);
}

void *ml_realloc(void *p, size_t n)
{
	return should_fail() ? NULL : realloc(p, n ? n : 1);
}

int ml_grow(void *array_ptr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 16;
	while (nc < need) {
		if (nc > SIZE_MAX / 2)
			return ML_ENOMEM;
		nc *= 2;
	}
	if (elem != 0 && nc > SIZE_MAX / elem)
		return ML_ENOMEM;
	void *p;
	memcpy(&p, array_ptr, sizeof(p));
	unsigned char *g = ml_realloc(p, nc * elem);
	if (g == NULL)
		return ML_ENOMEM;
	memset(g + *cap * elem, 0, (nc - *cap) * elem);
	memcpy(array_ptr, &g, sizeof(g));
	*cap = nc;
	return 0;
}

void ml_free(void *p)
{
	free(p);
}

char *ml_strndup(const char *s, size_t n)
{
	char *d = ml_malloc(n + 1);
	if (d == NULL)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}
