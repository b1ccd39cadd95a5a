/*
 * arena.c - bump allocator; see arena.h for the contract.
 *
 * Blocks form a singly linked list. A request larger than a quarter of the
 * block size gets a block of its own so that big protobuf byte fields do not
 * waste the tail of the current block.
 */
#include "core/arena.h"
#include "core/alloc.h"

#include <stdint.h>
#include <string.h>

#define ML_ARENA_ALIGN 16
#define ML_ARENA_DEFAULT_BLOCK (64 * 1024)

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	_Alignas(ML_ARENA_ALIGN) unsigned char data[];
};

struct ml_arena {
	struct arena_block *head;
	size_t block_size;
	size_t total;
	ProtobufCAllocator pb;
};

static struct arena_block *block_new(size_t size)
{
	struct arena_block *b = ml_malloc(sizeof(*b) + size);
	if (b == NULL)
		return NULL;
	b->next = NULL;
	b->size = size;
	b->used = 0;
	return b;
}

struct ml_arena *ml_arena_create(size_t block_size)
{
	struct ml_arena *a = ml_calloc(1, sizeof(*a));
	if (a == NULL)
		return NULL;
	a->block_size = block_size ? block_size : ML_ARENA_DEFAULT_BLOCK;
	return a;
}

void ml_arena_destroy(struct ml_arena *a)
{
	if (a == NULL)
		return;
	struct arena_block *b = a->head;
	while (b != NULL) {
		struct arena_block *next = b->next;
		ml_free(b);
		b = next;
	}
	ml_free(a);
}

void ml_arena_reset(struct ml_arena *a)
{
	if (a == NULL || a->head == NULL)
		return;
	/* Keep the oldest block (last in the list): it has the standard size. */
	struct arena_block *b = a->head, *keep = NULL;
	while (b != NULL) {
		struct arena_block *next = b->next;
		if (next == NULL)
			keep = b;
		else
			ml_free(b);
		b = next;
	}
	keep->used = 0;
	a->head = keep;
	a->total = 0;
}

void *ml_arena_alloc(struct ml_arena *a, size_t n)
{
	size_t need = (n + ML_ARENA_ALIGN - 1) & ~(size_t)(ML_ARENA_ALIGN - 1);
	if (need < n)
		return NULL;
	struct arena_block *b = a->head;
	if (b == NULL || b->size - b->used < need) {
		if (need > a->block_size / 4) {
			/* Oversized: a dedicated block, linked behind the head so
			 * that the head's free tail stays usable. */
			struct arena_block *big = block_new(need);
			if (big == NULL)
				return NULL;
			big->used = need;
			if (b == NULL) {
				a->head = big;
			} else {
				big->next = b->next;
				b->next = big;
			}
			a->total += need;
			return big->data;
		}
		b = block_new(a->block_size);
		if (b == NULL)
			return NULL;
		b->next = a->head;
		a->head = b;
	}
	void *p = b->data + b->used;
	b->used += need;
	a->total += need;
	return p;
}

void *ml_arena_calloc(struct ml_arena *a, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		return NULL;
	void *p = ml_arena_alloc(a, count * size);
	if (p != NULL)
		memset(p, 0, count * size);
	return p;
}

char *ml_arena_strndup(struct ml_arena *a, const char *s, size_t n)
{
	char *d = ml_arena_alloc(a, n + 1);
	if (d == NULL)
		return NULL;
	if (n)
		memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

size_t ml_arena_used(const struct ml_arena *a)
{
	return a->total;
}

static void *pb_alloc(void *ctx, size_t n)
{
	return ml_arena_alloc(ctx, n);
}

static void pb_free(void *ctx, void *p)
{
	(void)ctx;
	(void)p;
}

ProtobufCAllocator *ml_arena_protobuf_allocator(struct ml_arena *a)
{
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
	return &a->pb;
}
