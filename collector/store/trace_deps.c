/*
 * trace_deps.c - dependency links that straddle two compactions.
 *
 * A block counts the parent -> child links inside each of its traces. Envoy's
 * client and server halves of a call come from two proxies, seconds apart,
 * so under load one half can be compacted into block N and the other into
 * N + 1. Each block therefore lists its orphans (spans whose caller it does
 * not hold) and its callers (every span by key); the store keeps the last
 * compacted block's callers and still-open orphans here, and each new block
 * closes its orphans against the carried callers and the carried orphans
 * against its own callers. A link is counted once, in the hour of the child's
 * start; orphans older than one block boundary are given up (a parent that
 * arrives two compactions later is not linked), and a restart forgets the
 * carry.
 */
#include "store/trace_store_internal.h"

#include "core/alloc.h"
#include "core/arena.h"

#include <string.h>
#include <xxhash.h>

/* The first caller with key, or with want_client the client with it; NULL if none. */
static const struct ml_block_caller *find(const struct ml_block_caller *v, size_t n, uint64_t key,
					  bool want_client)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == n || v[lo].key != key)
		return NULL;
	/* Clients sort first among equal keys. */
	return want_client && !v[lo].client ? NULL : &v[lo];
}

/* The caller of o among v: the client half sharing its id, else its parent. */
static const struct ml_block_caller *caller_of(const struct ml_block_orphan *o,
					       const struct ml_block_caller *v, size_t n)
{
	const struct ml_block_caller *p = NULL;
	if (o->client_key != 0)
		p = find(v, n, o->client_key, true);
	if (p == NULL && o->parent_key != 0)
		p = find(v, n, o->parent_key, false);
	return p;
}

static int add_link(struct ml_block_build *b, const struct ml_block_orphan *o,
		    const struct ml_block_caller *p)
{
	if (ml_str_eq(p->service, o->service))
		return 0;
	if (ml_grow(&b->deps, &b->cap_deps, b->n_deps + 1, sizeof(*b->deps)) != 0)
		return ML_ENOMEM;
	struct ml_block_dep *d = &b->deps[b->n_deps++];
	d->hour = o->hour;
	d->parent = p->service;
	d->child = o->service;
	d->calls = 1;
	d->errors = o->error ? 1 : 0;
	return 0;
}

int ml_dep_carry_link(const struct ml_dep_carry *c, struct ml_block_build *b, bool *closed)
{
	size_t before = b->n_deps;
	int rc = 0;
	for (size_t i = 0; i < b->n_orphans && rc == 0; i++) {
		const struct ml_block_caller *p = caller_of(&b->orphans[i], c->callers, c->n_callers);
		closed[i] = p != NULL;
		if (p != NULL)
			rc = add_link(b, &b->orphans[i], p);
	}
	for (size_t i = 0; i < c->n_orphans && rc == 0; i++) {
		const struct ml_block_caller *p = caller_of(&c->orphans[i], b->callers, b->n_callers);
		if (p != NULL)
			rc = add_link(b, &c->orphans[i], p);
	}
	if (rc == 0 && b->n_deps != before)
		b->n_deps = ml_block_merge_deps(b->deps, b->n_deps);
	return rc;
}

/* Service names of the new carry, each copied once. */
struct interner {
	struct ml_arena *arena;
	struct ml_str *slots;
	uint64_t *hashes;
	size_t cap, n;
};

static int intern(struct interner *in, struct ml_str s, struct ml_str *out)
{
	if (2 * (in->n + 1) > in->cap) {
		size_t cap = in->cap ? in->cap * 2 : 64;
		struct ml_str *slots = ml_calloc(cap, sizeof(*slots));
		uint64_t *hashes = ml_calloc(cap, sizeof(*hashes));
		if (slots == NULL || hashes == NULL) {
			ml_free(slots);
			ml_free(hashes);
			return ML_ENOMEM;
		}
		for (size_t i = 0; i < in->cap; i++) {
			if (in->slots[i].p == NULL)
				continue;
			size_t j = in->hashes[i] & (cap - 1);
			while (slots[j].p != NULL)
				j = (j + 1) & (cap - 1);
			slots[j] = in->slots[i];
			hashes[j] = in->hashes[i];
		}
		ml_free(in->slots);
		ml_free(in->hashes);
		in->slots = slots;
		in->hashes = hashes;
		in->cap = cap;
	}
	uint64_t h = XXH3_64bits(s.p, s.n);
	size_t j = h & (in->cap - 1);
	for (; in->slots[j].p != NULL; j = (j + 1) & (in->cap - 1)) {
		if (in->hashes[j] == h && ml_str_eq(in->slots[j], s)) {
			*out = in->slots[j];
			return 0;
		}
	}
	char *copy = ml_arena_strndup(in->arena, s.p ? s.p : "", s.n);
	if (copy == NULL)
		return ML_ENOMEM;
	in->slots[j] = ml_str_make(copy, s.n);
	in->hashes[j] = h;
	in->n++;
	*out = in->slots[j];
	return 0;
}

int ml_dep_carry_make(struct ml_dep_carry *out, const struct ml_block_build *b, const bool *closed)
{
	struct ml_dep_carry next = {0};
	struct interner in = {0};
	int rc = ML_ENOMEM;
	size_t open = 0;
	for (size_t i = 0; i < b->n_orphans; i++)
		open += !closed[i];
	next.strings = in.arena = ml_arena_create(0);
	next.callers = ml_malloc((b->n_callers ? b->n_callers : 1) * sizeof(*next.callers));
	next.orphans = ml_malloc((open ? open : 1) * sizeof(*next.orphans));
	if (next.strings == NULL || next.callers == NULL || next.orphans == NULL)
		goto fail;
	for (size_t i = 0; i < b->n_callers; i++) {
		next.callers[i] = b->callers[i];
		if ((rc = intern(&in, b->callers[i].service, &next.callers[i].service)) != 0)
			goto fail;
	}
	next.n_callers = b->n_callers;
	for (size_t i = 0; i < b->n_orphans; i++) {
		if (closed[i])
			continue;
		struct ml_block_orphan *o = &next.orphans[next.n_orphans++];
		*o = b->orphans[i];
		if ((rc = intern(&in, b->orphans[i].service, &o->service)) != 0)
			goto fail;
	}
	*out = next;
	rc = 0;
	goto done;
fail:
	ml_dep_carry_free(&next);
done:
	ml_free(in.slots);
	ml_free(in.hashes);
	return rc;
}

void ml_dep_carry_free(struct ml_dep_carry *c)
{
	ml_free(c->callers);
	ml_free(c->orphans);
	if (c->strings != NULL)
		ml_arena_destroy(c->strings);
	memset(c, 0, sizeof(*c));
}
