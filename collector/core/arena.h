/*
 * arena.h - a bump allocator for per-request memory.
 *
 * Decoding a request allocates many small objects that all die together when
 * the request is answered. An arena hands them out from large blocks and frees
 * everything at once in ml_arena_destroy (or ml_arena_reset), which is both
 * faster than malloc/free per object and impossible to leak piecemeal.
 *
 * Memory returned by an arena is valid until ml_arena_reset or
 * ml_arena_destroy of that arena; it must never be passed to ml_free.
 * An arena is not thread-safe: one arena, one thread at a time.
 */
#ifndef ML_CORE_ARENA_H
#define ML_CORE_ARENA_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

struct ml_arena;

/* block_size: size of each underlying block (0 = 64 KiB). NULL on ENOMEM. */
struct ml_arena *ml_arena_create(size_t block_size);
/* Frees the arena and everything allocated from it. Accepts NULL. */
void ml_arena_destroy(struct ml_arena *a);
/* Forgets all allocations but keeps the first block for reuse. */
void ml_arena_reset(struct ml_arena *a);

/* 16-byte aligned memory of n bytes, or NULL on ENOMEM. */
void *ml_arena_alloc(struct ml_arena *a, size_t n);
/* Zeroed memory for count objects of size bytes, or NULL (also on overflow). */
void *ml_arena_calloc(struct ml_arena *a, size_t count, size_t size);
/* Copies n bytes and appends a NUL. */
char *ml_arena_strndup(struct ml_arena *a, const char *s, size_t n);
/* Bytes handed out so far (for caps and metrics). */
size_t ml_arena_used(const struct ml_arena *a);

/*
 * A ProtobufCAllocator that allocates from this arena; its free is a no-op.
 * Pass it to protobuf-c's *_unpack and never call *_free_unpacked on the
 * result: the message dies with the arena. The struct lives in the arena.
 */
ProtobufCAllocator *ml_arena_protobuf_allocator(struct ml_arena *a);

#endif
