/*
 * alloc.h - the one allocation wrapper of meshlens.
 *
 * All heap memory goes through these functions so that tests can make the
 * n-th allocation fail (ml_alloc_fail_after) and check that every error path
 * cleans up. They behave as malloc/calloc/realloc/free/strndup.
 */
#ifndef ML_CORE_ALLOC_H
#define ML_CORE_ALLOC_H

#include <stddef.h>

void *ml_malloc(size_t n);
void *ml_calloc(size_t count, size_t size);
void *ml_realloc(void *p, size_t n);
void ml_free(void *p);
/*
 * Room for at least need elements of elem bytes in the growable array whose
 * pointer is at array_ptr (a T **), capacity *cap: doubles from 16, zeroes
 * the new room. 0, or ML_ENOMEM with the array unchanged.
 */
int ml_grow(void *array_ptr, size_t *cap, size_t need, size_t elem);
/* Copies n bytes of s and a NUL; the caller frees with ml_free. */
char *ml_strndup(const char *s, size_t n);

/*
 * Test hook: after n more successful allocations every allocation fails,
 * until called again with a negative n (the default, never fail).
 */
void ml_alloc_fail_after(long n);

#endif
